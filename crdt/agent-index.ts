/**
 * The materialised registry: every agent by id, plus secondary indexes by capability, health, host and
 * zone in plain Maps of Sets, maintained from the host documents' change events. Reads never touch Yjs.
 *
 * Agent ids are global. If two hosts claim one id (a concurrent registration), every replica picks the
 * same winner, the host with the smallest id; the others are shadowed and promoted if the winner leaves.
 */
import { compileQuery, sortRecords } from './query.js'
import type { AgentRecord } from './agent-view.js'
import type { QueryCriteria, QueryResult } from './types.js'

type SetIndex = Map<string, Set<AgentRecord>>

function addTo (index: SetIndex, key: string | undefined, r: AgentRecord): void {
  if (key === undefined) return
  let s = index.get(key)
  if (s === undefined) { s = new Set(); index.set(key, s) }
  s.add(r)
}

function removeFrom (index: SetIndex, key: string | undefined, r: AgentRecord): void {
  if (key === undefined) return
  const s = index.get(key)
  if (s === undefined) return
  s.delete(r)
  if (s.size === 0) index.delete(key)
}

export type IndexChange =
  | { kind: 'joined', agent: AgentRecord }
  | { kind: 'updated', agent: AgentRecord, previous: AgentRecord }
  | { kind: 'left', agent: AgentRecord }

export class AgentIndex {
  private readonly byId = new Map<string, AgentRecord>()
  /** Losing claims of contested ids: id -> host -> record. */
  private readonly shadows = new Map<string, Map<string, AgentRecord>>()
  private readonly byCapability: SetIndex = new Map()
  private readonly byHealth: SetIndex = new Map()
  private readonly byHost: SetIndex = new Map()
  private readonly byZone: SetIndex = new Map()
  /** Compound index capability + zone: the common "who can do X near me" query costs O(k). */
  private readonly byCapZone: SetIndex = new Map()
  private readonly limits: { queryResultsMax: number, whereClausesMax: number }

  constructor (limits: { queryResultsMax: number, whereClausesMax: number }) {
    this.limits = limits
  }

  get size (): number {
    return this.byId.size
  }

  get (id: string): AgentRecord | undefined {
    return this.byId.get(id)
  }

  /** The winning record of `id` if it is `host`'s, or `host`'s shadowed claim. */
  claimOf (id: string, host: string): AgentRecord | undefined {
    const w = this.byId.get(id)
    if (w !== undefined && w.host === host) return w
    return this.shadows.get(id)?.get(host)
  }

  /** Records of one host (winners only). */
  ofHost (host: string): ReadonlySet<AgentRecord> {
    return this.byHost.get(host) ?? new Set()
  }

  hosts (): string[] {
    return [...this.byHost.keys()]
  }

  values (): IterableIterator<AgentRecord> {
    return this.byId.values()
  }

  withCapability (capability: string): ReadonlySet<AgentRecord> {
    return this.byCapability.get(capability) ?? new Set()
  }

  private indexRecord (r: AgentRecord): void {
    this.byId.set(r.id, r)
    for (const c of r.capabilities) {
      addTo(this.byCapability, c, r)
      if (r.zone !== undefined) addTo(this.byCapZone, c + '\u0000' + r.zone, r)
    }
    addTo(this.byHealth, r.health, r)
    addTo(this.byHost, r.host, r)
    addTo(this.byZone, r.zone, r)
  }

  private unindexRecord (r: AgentRecord): void {
    this.byId.delete(r.id)
    for (const c of r.capabilities) {
      removeFrom(this.byCapability, c, r)
      if (r.zone !== undefined) removeFrom(this.byCapZone, c + '\u0000' + r.zone, r)
    }
    removeFrom(this.byHealth, r.health, r)
    removeFrom(this.byHost, r.host, r)
    removeFrom(this.byZone, r.zone, r)
  }

  /** Inserts or replaces `host`'s claim of `r.id`. Returns the visible change, if any. */
  upsert (r: AgentRecord): IndexChange | undefined {
    const current = this.byId.get(r.id)
    if (current === undefined) {
      this.indexRecord(r)
      return { kind: 'joined', agent: r }
    }
    if (current.host === r.host) {
      this.unindexRecord(current)
      this.indexRecord(r)
      return { kind: 'updated', agent: r, previous: current }
    }
    // Contested id: the smallest host id wins on every replica.
    let sh = this.shadows.get(r.id)
    if (r.host < current.host) {
      this.unindexRecord(current)
      if (sh === undefined) { sh = new Map(); this.shadows.set(r.id, sh) }
      sh.set(current.host, current)
      sh.delete(r.host)
      this.indexRecord(r)
      return { kind: 'updated', agent: r, previous: current }
    }
    if (sh === undefined) { sh = new Map(); this.shadows.set(r.id, sh) }
    sh.set(r.host, r)
    return undefined
  }

  /** Removes `host`'s claim of `id`. Returns the visible change, if any. */
  remove (id: string, host: string): IndexChange | undefined {
    const current = this.byId.get(id)
    const sh = this.shadows.get(id)
    if (current === undefined || current.host !== host) {
      sh?.delete(host)
      if (sh !== undefined && sh.size === 0) this.shadows.delete(id)
      return undefined
    }
    this.unindexRecord(current)
    if (sh !== undefined && sh.size > 0) {
      let best: AgentRecord | undefined
      for (const r of sh.values()) if (best === undefined || r.host < best.host) best = r
      sh.delete(best!.host)
      if (sh.size === 0) this.shadows.delete(id)
      this.indexRecord(best!)
      return { kind: 'updated', agent: best!, previous: current }
    }
    return { kind: 'left', agent: current }
  }

  query (criteria: QueryCriteria, now: number): QueryResult {
    const q = compileQuery(criteria, this.limits)
    // Candidates: the smallest index set among the indexed criteria; a full scan only with none. The
    // criterion the source implies is not checked again per record (touching records costs cache misses).
    let source: Iterable<AgentRecord> = this.byId.values()
    let best = Number.POSITIVE_INFINITY
    let impliedCap: string | undefined
    let impliesZone = false
    let impliesHealth = false
    let impliesHost = false
    const consider = (s: ReadonlySet<AgentRecord> | undefined, cap: string | undefined, zone: boolean, health: boolean, host: boolean): void => {
      const size = s?.size ?? 0
      if (size >= best) return
      best = size
      source = s ?? []
      impliedCap = cap
      impliesZone = zone
      impliesHealth = health
      impliesHost = host
    }
    for (const c of q.capabilities) {
      consider(this.byCapability.get(c), c, false, false, false)
      if (q.zone !== undefined) consider(this.byCapZone.get(c + '\u0000' + q.zone), c, true, false, false)
    }
    if (q.health !== undefined && q.health.length === 1) consider(this.byHealth.get(q.health[0]!), undefined, false, true, false)
    if (q.host !== undefined) consider(this.byHost.get(q.host), undefined, false, false, true)
    if (q.zone !== undefined) consider(this.byZone.get(q.zone), undefined, true, false, false)
    const caps = impliedCap === undefined ? q.capabilities : q.capabilities.filter(c => c !== impliedCap)
    const zone = impliesZone ? undefined : q.zone
    const health = impliesHealth ? undefined : q.health
    const host = impliesHost ? undefined : q.host
    const where = q.where
    const reachableOnly = q.reachableOnly
    const match = (r: AgentRecord): boolean => {
      if (zone !== undefined && r.zone !== zone) return false
      if (host !== undefined && r.host !== host) return false
      if (health !== undefined && !health.includes(r.health)) return false
      for (let i = 0; i < caps.length; i++) if (!r.capabilities.includes(caps[i]!)) return false
      if (reachableOnly && !r.hostState.reachable) return false
      for (let i = 0; i < where.length; i++) if (!where[i]!(r)) return false
      return true
    }
    const out: AgentRecord[] = []
    let truncated = false
    if (q.order === undefined) {
      for (const r of source) {
        if (!match(r)) continue
        if (out.length === q.limit) { truncated = true; break }
        out.push(r)
      }
    } else {
      for (const r of source) if (match(r)) out.push(r)
      sortRecords(out, q.order)
      if (out.length > q.limit) { truncated = true; out.length = q.limit }
    }
    let oldest = 0
    for (const r of out) {
      const s = r.hostState.silentMs()
      if (s > oldest) oldest = s
    }
    return { agents: out, truncated, freshness: { asOf: now, oldestHostSilentMs: oldest } }
  }
}
