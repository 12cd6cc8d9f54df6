/**
 * The materialised registry: every agent by id, plus secondary indexes by capability, health, host and
 * zone, maintained from the host documents' change events. Reads never touch Yjs. The indexes whose sets
 * grow to every agent (health, host, zone) hold {@link RecordSet}s: an update that keeps a record's key
 * replaces it in place there (no removal and re-insertion into a set of up to every agent). The many small
 * capability and capability -> zone sets are plain Sets (a Map per key would cost ~70 B per agent more).
 *
 * Agent ids are global. If several hosts claim one id, every replica shows the same owner: the earliest
 * claim by the claim time its host signed (`claimedAt`), then the smallest host id; the other claims are
 * shadows, promoted in the same order when the owner lets the id go. See crdt/README.md, "Who owns an
 * agent id", for why and for the limits of the rule.
 */
import { compileQuery, sortRecords } from './query.js'
import type { Predicate } from './query.js'
import type { AgentRecord } from './agent-view.js'
import type { Health, QueryCriteria, QueryResult } from './types.js'

/**
 * The winning records of one index key, by id (an index holds one record per id): iterable like a set of
 * records, in insertion order; a record replaced under the same id keeps its place.
 */
export class RecordSet implements Iterable<AgentRecord> {
  readonly byId = new Map<string, AgentRecord>()

  get size (): number {
    return this.byId.size
  }

  has (r: AgentRecord): boolean {
    return this.byId.get(r.id) === r
  }

  [Symbol.iterator] (): IterableIterator<AgentRecord> {
    return this.byId.values()
  }
}

const NONE = new RecordSet()
const NO_RECORDS: ReadonlySet<AgentRecord> = new Set()

type SetIndex = Map<string, RecordSet>
type PlainSetIndex = Map<string, Set<AgentRecord>>

function addToSet (index: PlainSetIndex, key: string, r: AgentRecord): void {
  let s = index.get(key)
  if (s === undefined) { s = new Set(); index.set(key, s) }
  s.add(r)
}

function removeFromSet (index: PlainSetIndex, key: string, r: AgentRecord): void {
  const s = index.get(key)
  if (s === undefined) return
  s.delete(r)
  if (s.size === 0) index.delete(key)
}

/** Adds `r` under `key`, or replaces the record of its id there in place. */
function addTo (index: SetIndex, key: string | undefined, r: AgentRecord): void {
  if (key === undefined) return
  let s = index.get(key)
  if (s === undefined) { s = new RecordSet(); index.set(key, s) }
  s.byId.set(r.id, r)
}

function removeFrom (index: SetIndex, key: string | undefined, id: string): void {
  if (key === undefined) return
  const s = index.get(key)
  if (s === undefined) return
  s.byId.delete(id)
  if (s.size === 0) index.delete(key)
}

/** Moves the record of `r.id` from `oldKey` to `newKey`, or replaces it in place when the key is the same. */
function move (index: SetIndex, oldKey: string | undefined, newKey: string | undefined, r: AgentRecord): void {
  if (oldKey !== newKey) removeFrom(index, oldKey, r.id)
  addTo(index, newKey, r)
}


/**
 * True when claim `a` owns the id before claim `b`: the earlier claim time (a claim written by an older
 * peer, without one, ranks by its write time), then the smaller host id. Every replica orders the same
 * signed values, so every replica that holds the same documents picks the same owner.
 */
export function claimsBefore (a: AgentRecord, b: AgentRecord): boolean {
  const ta = a.claimedAt ?? a.updatedAt
  const tb = b.claimedAt ?? b.updatedAt
  return ta < tb || (ta === tb && a.host < b.host)
}

/** A claim of an id that another host already claims: the owner, every claim (owner first), who lost it. */
export interface ContestReport {
  id: string
  winner: AgentRecord
  claims: AgentRecord[]
  /** The previous owner's host, when this claim (or a changed claim) took the id from it. */
  displaced?: string
}

export type IndexChange =
  | { kind: 'joined', agent: AgentRecord }
  | { kind: 'updated', agent: AgentRecord, previous: AgentRecord }
  | { kind: 'left', agent: AgentRecord }

export class AgentIndex {
  private readonly byId = new Map<string, AgentRecord>()
  /** Losing claims of contested ids: id -> host -> record. */
  private readonly shadows = new Map<string, Map<string, AgentRecord>>()
  /** By capability (and capability -> zone, health, host and zone): read and written only after {@link settle} (see {@link deferred}). */
  private readonly byCapability: PlainSetIndex = new Map()
  private readonly byHealth: SetIndex = new Map()
  private readonly byHost: SetIndex = new Map()
  private readonly byZone: SetIndex = new Map()
  /**
   * Records of a bulk insert ({@link insertClaim}) indexed by id but not yet by capability, capability ->
   * zone, health, host and zone: {@link settle} adds them there, in order, before anything reads or changes
   * those indexes, so they read exactly as if each had been added at once. A late joiner's 100k agents are
   * then synced without ~700k set insertions on the way (the peer makes them in slices on later turns; a
   * query by any indexed criterion, or the first change, pays what is left). Bounded by the index itself:
   * every deferred record is a winner in {@link byId}, and the first change to any record settles them all.
   */
  private deferred: AgentRecord[] = []
  /** How many of {@link deferred} are settled already ({@link settleSome}). */
  private deferredAt = 0
  /** Hosts with {@link deferred} records not settled yet, and how many (a host with none has no entry). */
  private readonly deferredHosts = new Map<string, number>()
  /** Compound index capability -> zone: the common "who can do X near me" query costs O(k). */
  private readonly byCapZone = new Map<string, PlainSetIndex>()
  private readonly limits: { queryResultsMax: number, whereClausesMax: number }
  /** Called when a host claims an id another host claims (or a changed claim changes the owner). */
  private readonly onContest: (report: ContestReport) => void

  constructor (limits: { queryResultsMax: number, whereClausesMax: number }, onContest: (report: ContestReport) => void = () => {}) {
    this.limits = limits
    this.onContest = onContest
  }

  /** Ids claimed by more than one host now. */
  get contestedCount (): number {
    return this.shadows.size
  }

  /** Every claim of `id`, the owner first, then in ownership order. */
  claims (id: string): AgentRecord[] {
    const w = this.byId.get(id)
    if (w === undefined) return []
    const sh = this.shadows.get(id)
    if (sh === undefined) return [w]
    return [w, ...[...sh.values()].sort((a, b) => claimsBefore(a, b) ? -1 : 1)]
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

  /**
   * Records of one host (winners only). Settles the deferred records only when some are this host's: the
   * peer reads its own host's records at every heartbeat (its load), which must not make a joiner's 100k
   * deferred entries of another host at once.
   */
  ofHost (host: string): RecordSet {
    if (this.deferredHosts.has(host)) this.settle()
    return this.byHost.get(host) ?? NONE
  }

  /** `ofHost(host).size`, without settling the deferred records (the health report counts every host's each period). */
  countOfHost (host: string): number {
    return (this.byHost.get(host)?.size ?? 0) + (this.deferredHosts.get(host) ?? 0)
  }

  hosts (): string[] {
    this.settle()
    return [...this.byHost.keys()]
  }

  /** Adds the {@link deferred} records to the health, host and zone indexes (in the order they were inserted). */
  private settle (): void {
    if (this.deferred.length > 0) this.settleSome(this.deferred.length)
  }

  /**
   * Settles up to `max` of the {@link deferred} records, oldest first (the peer spreads the work over
   * event-loop turns after a bulk attach, so the first read finds little or nothing left). Returns how many
   * are left.
   */
  settleSome (max: number): number {
    const rs = this.deferred
    const end = Math.min(rs.length, this.deferredAt + Math.max(0, max))
    let host: string | undefined
    let settled = 0
    for (let i = this.deferredAt; i < end; i++) {
      const r = rs[i]!
      this.indexCaps(r)
      addTo(this.byHealth, r.hostHealth, r)
      addTo(this.byHost, r.host, r)
      addTo(this.byZone, r.zone, r)
      // Counted down per run of one host's records (a document's records come in one run).
      if (r.host !== host) {
        if (host !== undefined) this.countSettled(host, settled)
        host = r.host
        settled = 0
      }
      settled++
    }
    if (host !== undefined) this.countSettled(host, settled)
    this.deferredAt = end
    if (end < rs.length) return rs.length - end
    this.deferred = []
    this.deferredAt = 0
    this.deferredHosts.clear()
    return 0
  }

  /** `n` deferred records of `host` are settled: counted off {@link deferredHosts} (gone at 0). */
  private countSettled (host: string, n: number): void {
    const left = this.deferredHosts.get(host)! - n
    if (left > 0) this.deferredHosts.set(host, left)
    else this.deferredHosts.delete(host)
  }

  values (): IterableIterator<AgentRecord> {
    return this.byId.values()
  }

  withCapability (capability: string): ReadonlySet<AgentRecord> {
    this.settle()
    return this.byCapability.get(capability) ?? NO_RECORDS
  }

  private indexCaps (r: AgentRecord): void {
    for (const c of r.capabilities) {
      addToSet(this.byCapability, c, r)
      if (r.zone !== undefined) {
        let z = this.byCapZone.get(c)
        if (z === undefined) { z = new Map(); this.byCapZone.set(c, z) }
        addToSet(z, r.zone, r)
      }
    }
  }

  private unindexCaps (r: AgentRecord): void {
    for (const c of r.capabilities) {
      removeFromSet(this.byCapability, c, r)
      if (r.zone !== undefined) {
        const z = this.byCapZone.get(c)
        if (z === undefined) continue
        removeFromSet(z, r.zone, r)
        if (z.size === 0) this.byCapZone.delete(c)
      }
    }
  }

  private indexRecord (r: AgentRecord): void {
    this.settle()
    this.byId.set(r.id, r)
    this.indexCaps(r)
    addTo(this.byHealth, r.hostHealth, r)
    addTo(this.byHost, r.host, r)
    addTo(this.byZone, r.zone, r)
  }

  private unindexRecord (r: AgentRecord): void {
    this.settle()
    this.byId.delete(r.id)
    this.unindexCaps(r)
    removeFrom(this.byHealth, r.hostHealth, r.id)
    removeFrom(this.byHost, r.host, r.id)
    removeFrom(this.byZone, r.zone, r.id)
  }

  /** The indexed record of `old.id` (old) becomes `r`: replaced in place under the health, host and zone keys that stay, moved elsewhere. */
  private replaceRecord (old: AgentRecord, r: AgentRecord): void {
    this.settle()
    this.byId.set(r.id, r)
    this.unindexCaps(old)
    this.indexCaps(r)
    move(this.byHealth, old.hostHealth, r.hostHealth, r)
    move(this.byHost, old.host, r.host, r)
    move(this.byZone, old.zone, r.zone, r)
  }

  /**
   * True when `host` has no claim in the index (no winner and, since no id is contested, no shadow):
   * then {@link insertClaim} may add its claims without looking for a previous one.
   */
  holdsNothingOf (host: string): boolean {
    return this.shadows.size === 0 && !this.byHost.has(host) && !this.deferredHosts.has(host)
  }

  /**
   * Adds a claim of `r.host`, which must hold no claim of `r.id` (see {@link holdsNothingOf}): the bulk
   * path of a host document attached whole. An unclaimed id is indexed straight away (no winner means no
   * shadows either); a claimed one goes through {@link upsert} (a contest).
   */
  insertClaim (r: AgentRecord): IndexChange | undefined {
    if (this.byId.has(r.id)) return this.upsert(r)
    // indexRecord, its capability, health, host and zone entries deferred (see deferred).
    this.byId.set(r.id, r)
    this.deferred.push(r)
    this.deferredHosts.set(r.host, (this.deferredHosts.get(r.host) ?? 0) + 1)
    return { kind: 'joined', agent: r }
  }

  /** Inserts or replaces `host`'s claim of `r.id`. Returns the visible change, if any. */
  upsert (r: AgentRecord): IndexChange | undefined {
    const current = this.byId.get(r.id)
    if (current === undefined) {
      this.indexRecord(r)
      // (No winner has no shadows either: a removed winner's best shadow takes its place.)
      r.claimants = 1 + (this.shadows.get(r.id)?.size ?? 0)
      return { kind: 'joined', agent: r }
    }
    let sh = this.shadows.get(r.id)
    const sameHost = current.host === r.host
    const newClaimant = !sameHost && sh?.has(r.host) !== true
    // The claims of the id after this one: the other hosts' claims, then the best of them owns the id.
    if (!sameHost) {
      if (sh === undefined) { sh = new Map(); this.shadows.set(r.id, sh) }
      sh.set(r.host, r)
    }
    const contenders = sameHost ? r : current
    let best = contenders
    if (sh !== undefined) for (const c of sh.values()) if (claimsBefore(c, best)) best = c
    let change: IndexChange | undefined
    if (best === contenders) {
      if (sameHost) {
        this.replaceRecord(current, r)
        change = { kind: 'updated', agent: r, previous: current }
      }
    } else {
      // Another claim owns the id now: the previous owner's (current) claim becomes a shadow.
      sh!.delete(best.host)
      sh!.set(contenders.host, contenders)
      this.replaceRecord(current, best)
      change = { kind: 'updated', agent: best, previous: current }
    }
    this.count(r.id)
    const owner = this.byId.get(r.id)!
    if (newClaimant || owner.host !== current.host) {
      this.onContest({ id: r.id, winner: owner, claims: this.claims(r.id), ...(owner.host !== current.host ? { displaced: current.host } : {}) })
    }
    return change
  }

  /** Removes `host`'s claim of `id`. Returns the visible change, if any. */
  remove (id: string, host: string): IndexChange | undefined {
    const current = this.byId.get(id)
    const sh = this.shadows.get(id)
    if (current === undefined || current.host !== host) {
      sh?.delete(host)
      if (sh !== undefined && sh.size === 0) this.shadows.delete(id)
      this.count(id)
      return undefined
    }
    if (sh !== undefined && sh.size > 0) {
      let best: AgentRecord | undefined
      for (const r of sh.values()) if (best === undefined || claimsBefore(r, best)) best = r
      sh.delete(best!.host)
      if (sh.size === 0) this.shadows.delete(id)
      this.replaceRecord(current, best!)
      this.count(id)
      return { kind: 'updated', agent: best!, previous: current }
    }
    this.unindexRecord(current)
    return { kind: 'left', agent: current }
  }

  /** Records on every claim of `id` how many hosts claim it. */
  private count (id: string): void {
    const w = this.byId.get(id)
    if (w === undefined) return
    const sh = this.shadows.get(id)
    const n = 1 + (sh?.size ?? 0)
    w.claimants = n
    if (sh !== undefined) for (const r of sh.values()) r.claimants = n
  }

  query (criteria: QueryCriteria, now: number): QueryResult {
    const q = compileQuery(criteria, this.limits)
    // Every candidate source but the full scan is an index a bulk insert defers (see deferred).
    if (q.capabilities.length > 0 || q.health !== undefined || q.host !== undefined || q.zone !== undefined) this.settle()
    // Candidates: the smallest index set among the indexed criteria; a full scan only with none. The
    // criterion the source implies is not checked again per record (touching records costs cache misses).
    let source: ReadonlySet<AgentRecord> | RecordSet | undefined
    let best = Number.POSITIVE_INFINITY
    let impliedCap: string | undefined
    let impliesZone = false
    let impliesHost = false
    const caps = q.capabilities
    for (let i = 0; i < caps.length; i++) {
      const c = caps[i]!
      let s = this.byCapability.get(c)
      let size = s?.size ?? 0
      if (size < best) { best = size; source = s ?? NONE; impliedCap = c; impliesZone = false; impliesHost = false }
      if (q.zone !== undefined) {
        s = this.byCapZone.get(c)?.get(q.zone)
        size = s?.size ?? 0
        if (size < best) { best = size; source = s ?? NONE; impliedCap = c; impliesZone = true; impliesHost = false }
      }
    }
    // The index holds the health hosts wrote; a record's `health` is `unhealthy` while its host is
    // unreachable. So `healthy` / `degraded` take their index set as candidates and check each record's
    // `health` again (the host's liveness); `unhealthy` has no index set (its agents include every agent of
    // an unreachable host) and is checked on the candidates of the other criteria.
    if (q.health !== undefined && q.health.length === 1 && q.health[0] !== 'unhealthy') {
      const s = this.byHealth.get(q.health[0]!)
      const size = s?.size ?? 0
      if (size < best) { best = size; source = s ?? NONE; impliedCap = undefined; impliesZone = false; impliesHost = false }
    }
    if (q.host !== undefined) {
      const s = this.byHost.get(q.host)
      const size = s?.size ?? 0
      if (size < best) { best = size; source = s ?? NONE; impliedCap = undefined; impliesZone = false; impliesHost = true }
    }
    if (q.zone !== undefined) {
      const s = this.byZone.get(q.zone)
      const size = s?.size ?? 0
      if (size < best) { best = size; source = s ?? NONE; impliedCap = undefined; impliesZone = true; impliesHost = false }
    }
    const m: Matcher = {
      caps: impliedCap === undefined ? caps : caps.length === 1 ? NO_STRINGS : caps.filter(c => c !== impliedCap),
      zone: impliesZone ? undefined : q.zone,
      host: impliesHost ? undefined : q.host,
      health: q.health,
      reachableOnly: q.reachableOnly,
      where: q.where
    }
    // Nothing left to check per record (the common "capability X, first N" query): no call per record.
    const checkNone = m.caps.length === 0 && m.zone === undefined && m.host === undefined && m.health === undefined && !m.reachableOnly && m.where.length === 0
    const out: AgentRecord[] = []
    let truncated = false
    const from = source ?? this.byId.values()
    if (q.order === undefined) {
      for (const r of from) {
        if (!checkNone && !matches(m, r)) continue
        if (out.length === q.limit) { truncated = true; break }
        out.push(r)
      }
    } else {
      for (const r of from) if (checkNone || matches(m, r)) out.push(r)
      sortRecords(out, q.order)
      if (out.length > q.limit) { truncated = true; out.length = q.limit }
    }
    // Freshness: each host's silence once (records of one host share its state).
    let oldest = 0
    let over: Set<string> | undefined
    let last: AgentRecord['hostState'] | undefined
    for (let i = 0; i < out.length; i++) {
      const st = out[i]!.hostState
      if (st === last) continue
      last = st
      const s = st.silentMs()
      if (s > oldest) oldest = s
      if (st.overQuota) (over ??= new Set()).add(st.host)
    }
    return { agents: out, truncated, freshness: { asOf: now, oldestHostSilentMs: oldest, overQuotaHosts: over?.size ?? 0 } }
  }
}

const NO_STRINGS: string[] = []

/** What a query checks on each candidate: the criteria its candidate source does not imply. */
interface Matcher {
  caps: readonly string[]
  zone: string | undefined
  host: string | undefined
  health: readonly Health[] | undefined
  reachableOnly: boolean
  where: readonly Predicate[]
}

function matches (m: Matcher, r: AgentRecord): boolean {
  if (m.zone !== undefined && r.zone !== m.zone) return false
  if (m.host !== undefined && r.host !== m.host) return false
  if (m.health !== undefined && !m.health.includes(r.health)) return false
  const caps = m.caps
  for (let i = 0; i < caps.length; i++) if (!r.capabilities.includes(caps[i]!)) return false
  if (m.reachableOnly && !r.hostState.reachable) return false
  const where = m.where
  for (let i = 0; i < where.length; i++) if (!where[i]!(r)) return false
  return true
}
