/**
 * Partition episodes (FEATURES I5), pure: no clock, no I/O. {@link HealTracker} is fed the lease table's
 * view of the hosts, the registry's agent changes and the proposals that ended indefinite, each with the
 * time it happened; it opens an episode when hosts become unreachable, tracks what happens during it, and
 * says when the episode is healed and caught up ({@link HealTracker.due}). The functions below turn an
 * episode and the merged state into the report's parts. peers/health/heals.ts binds it to a live peer.
 *
 * Episode rules:
 * - it opens when a host's lease expires while none is open; its start is the last time this peer heard
 *   that host (the cut happened after it), its other side that host;
 * - every host lost while it is open joins the other side (with its own times); this side is every host
 *   reachable when it opened (this peer included), plus hosts first heard during it before any other-side
 *   host returned; hosts first heard after a return came with the heal and count as the other side;
 * - it heals when every other-side host is reachable again or was pruned, at least one returned; it is
 *   due once each returned host is caught up (its heartbeat after the return shows no lag) or
 *   `catchUpMsMax` after the last return (then `caughtUp: false`); while the whole other side is pruned
 *   (a partition longer than the prune grace, or hosts that died) it waits `goneMsMax` for one of them to
 *   be heard again (a new lease), then closes without a report;
 * - changes made while no episode is open are kept (the last {@link HEAL_LIMITS.recentMax}) and replayed
 *   into an episode that opens, from its start: a lease expires `leaseMs` after the cut. A registration or
 *   an update counts by its write time (its host's clock), a removal by when this peer saw it: a write
 *   older than the start that arrives late (gossip, anti-entropy) is the state before the episode.
 */
import { compareHlc } from '../../crdt/hlc.js'
import type { HlcTime } from '../../crdt/hlc.js'
import { HEAL_LIMITS, boundedValue } from './heal-types.js'
import type { AgentChange, HealSide, LostHost, VariableOutcome, VariableWrite } from './heal-types.js'

/** One host as the lease table shows it. */
export interface HostView {
  host: string
  reachable: boolean
  /** When this peer last heard it (ms). */
  lastHeardAt: number
}

/** An agent's state before the episode touched it: its descriptor's write time, or null when absent. */
interface TrackedAgent {
  host: string
  before: number | null
  /** The last change seen was a prune (the host's documents dropped here, not a removal by the host). */
  pruned: boolean
  /** When this peer saw the last change. */
  seenAt: number
}

/** What the tracker is told of an agent change (registry events). */
export interface AgentEvent {
  id: string
  host: string
  /** The descriptor's `updatedAt` before the change, null when the agent was absent. */
  before: number | null
  /** The change was a prune of the host's documents. */
  pruned: boolean
  /**
   * The new descriptor's write time (its host's clock), when the change has one (a registration or an
   * update): a write older than the episode's start that reaches this peer late is the state before the
   * episode, not a change of it.
   */
  writtenAt?: number
}

type Recent<I> = { at: number, agent: AgentEvent } | { at: number, indefinite: I }

export interface HealTrackerLimits {
  agentsTrackedMax: number
  strongWritesMax: number
  recentMax: number
}

export class Episode<I> {
  /** When the first lease expired here. */
  readonly detectedAt: number
  /** The last time the first lost host was heard (the earliest such time of the other side). */
  start: number
  /** Other-side hosts (lost during the episode). */
  readonly other = new Map<string, LostHost & { gone: boolean, goneAt?: number }>()
  /** Hosts first heard after a return: they came with the heal. */
  readonly joinedWithHeal = new Set<string>()
  /** This side: reachable when the episode opened (self included), or first heard during it before a return. */
  readonly thisSide = new Set<string>()
  readonly agents = new Map<string, TrackedAgent>()
  agentsTruncated = 0
  readonly indefinite: I[] = []
  indefiniteTruncated = 0
  firstReturnAt: number | undefined

  constructor (detectedAt: number, start: number) {
    this.detectedAt = detectedAt
    this.start = start
  }

  sideOf (host: string): HealSide {
    return this.other.has(host) || this.joinedWithHeal.has(host) ? 'other' : 'this'
  }

  /** When connectivity was back: the last return (ms); undefined while a host is still out or none returned. */
  get end (): number | undefined {
    let end: number | undefined
    for (const h of this.other.values()) {
      if (h.returnedAt !== undefined) end = Math.max(end ?? 0, h.returnedAt)
      else if (!h.gone) return undefined
    }
    return end
  }
}

/** What {@link HealTracker.due} decided. */
export type Due<I> =
  | { kind: 'report', episode: Episode<I>, end: number, caughtUp: boolean }
  | { kind: 'closed', episode: Episode<I> }

export class HealTracker<I> {
  private readonly self: string
  private readonly limits: HealTrackerLimits
  /** Hosts as last seen (reachable or not); bounded by the lease table it mirrors. */
  private readonly known = new Map<string, boolean>()
  /** The last `recentMax` changes: a ring, oldest at {@link recentStart} once full (a late joiner's 100k `agent:joined` pass through it). */
  private readonly recent: Array<Recent<I>> = []
  private recentStart = 0
  private current: Episode<I> | undefined
  /** Episodes closed without a report (everyone on the other side pruned). */
  closedUnreported = 0

  constructor (self: string, limits: Partial<HealTrackerLimits> = {}) {
    this.self = self
    this.limits = {
      agentsTrackedMax: limits.agentsTrackedMax ?? HEAL_LIMITS.agentsTrackedMax,
      strongWritesMax: limits.strongWritesMax ?? HEAL_LIMITS.strongWritesMax,
      recentMax: limits.recentMax ?? HEAL_LIMITS.recentMax
    }
  }

  /** The open episode, if any. */
  get episode (): Episode<I> | undefined {
    return this.current
  }

  /**
   * The lease table's hosts now (every remote host it holds: one missing was pruned). Opens an episode
   * on the first expiry, records losses, returns and new hosts. `heardAt` corrects a lost host's
   * last-heard time (the lease's moves forward over this peer's own stalls; the arrival of its last
   * heartbeat does not).
   */
  observeHosts (hosts: Iterable<HostView>, now: number, heardAt?: (host: string, leaseHeardAt: number) => number): void {
    const seen = new Set<string>()
    for (const h of hosts) {
      if (h.host === this.self) continue
      seen.add(h.host)
      const was = this.known.get(h.host)
      this.known.set(h.host, h.reachable)
      if (was === h.reachable) continue
      if (!h.reachable) this.lost(heardAt === undefined ? h : { ...h, lastHeardAt: heardAt(h.host, h.lastHeardAt) }, now)
      else this.back(h.host, was === undefined, now)
    }
    for (const host of [...this.known.keys()]) {
      if (seen.has(host)) continue
      this.known.delete(host)
      const o = this.current?.other.get(host)
      if (o !== undefined && o.returnedAt === undefined && !o.gone) { o.gone = true; o.goneAt = now }
    }
  }

  private lost (h: HostView, now: number): void {
    let e = this.current
    if (e === undefined) {
      e = new Episode<I>(now, h.lastHeardAt)
      this.current = e
      e.thisSide.add(this.self)
      for (const [host, reachable] of this.known) if (reachable && host !== h.host) e.thisSide.add(host)
      const n = this.recent.length
      for (let i = 0; i < n; i++) {
        const r = this.recent[(this.recentStart + i) % n]!
        if (r.at < e.start) continue
        if ('agent' in r) this.trackAgent(e, r.agent, r.at)
        else this.keepIndefinite(e, r.indefinite)
      }
      this.recent.length = 0
      this.recentStart = 0
    }
    e.start = Math.min(e.start, h.lastHeardAt)
    e.thisSide.delete(h.host)
    e.joinedWithHeal.delete(h.host)
    const prev = e.other.get(h.host)
    e.other.set(h.host, { host: h.host, lastHeardAt: Math.min(prev?.lastHeardAt ?? h.lastHeardAt, h.lastHeardAt), lostAt: now, gone: false })
  }

  private back (host: string, isNew: boolean, now: number): void {
    const e = this.current
    if (e === undefined) return
    const o = e.other.get(host)
    if (o !== undefined) {
      o.returnedAt = now
      o.gone = false
      delete o.goneAt
      e.firstReturnAt ??= now
      return
    }
    if (!isNew || e.thisSide.has(host)) return
    if (e.firstReturnAt === undefined) e.thisSide.add(host)
    else e.joinedWithHeal.add(host)
  }

  /** An agent changed (a registry event) at `now`. */
  agentChanged (ev: AgentEvent, now: number): void {
    const e = this.current
    if (e !== undefined) { this.trackAgent(e, ev, now); return }
    this.remember({ at: ev.writtenAt ?? now, agent: ev })
  }

  /** A proposal of this peer ended indefinite at `now`. */
  indefinite (rec: I, now: number): void {
    const e = this.current
    if (e !== undefined) { this.keepIndefinite(e, rec); return }
    this.remember({ at: now, indefinite: rec })
  }

  private remember (r: Recent<I>): void {
    const max = this.limits.recentMax
    if (this.recent.length < max) { this.recent.push(r); return }
    if (max === 0) return
    this.recent[this.recentStart] = r
    this.recentStart = (this.recentStart + 1) % max
  }

  private trackAgent (e: Episode<I>, ev: AgentEvent, now: number): void {
    const t = e.agents.get(ev.id)
    if (ev.writtenAt !== undefined && ev.writtenAt < e.start) {
      // A write from before the episode arriving late: the state before the episode, not a change.
      if (t !== undefined) { t.before = ev.writtenAt; t.pruned = false; t.seenAt = now }
      return
    }
    if (t !== undefined) {
      t.pruned = ev.pruned
      t.seenAt = now
      // Another host's claim of the same id: the first host's history is what the report compares.
      return
    }
    if (e.agents.size >= this.limits.agentsTrackedMax) { e.agentsTruncated++; return }
    e.agents.set(ev.id, { host: ev.host, before: ev.before, pruned: ev.pruned, seenAt: now })
  }

  private keepIndefinite (e: Episode<I>, rec: I): void {
    if (e.indefinite.length >= this.limits.strongWritesMax) { e.indefiniteTruncated++; return }
    e.indefinite.push(rec)
  }

  /**
   * Whether the open episode is over: `report` once healed and caught up (`caughtUp(host, returnedAt)`
   * for every returned host, or `catchUpMsMax` after the last return), `closed` when its whole other side
   * was pruned `goneMsMax` ago and none came back. The episode is then forgotten (the caller reports it).
   */
  due (now: number, caughtUp: (host: string, since: number) => boolean, bounds: { catchUpMsMax: number, goneMsMax: number }): Due<I> | undefined {
    const e = this.current
    if (e === undefined) return undefined
    const hosts = [...e.other.values()]
    if (hosts.some(h => h.returnedAt === undefined && !h.gone)) return undefined
    const returned = hosts.filter(h => h.returnedAt !== undefined)
    if (returned.length === 0) {
      if (hosts.some(h => now - (h.goneAt ?? now) < bounds.goneMsMax)) return undefined
      this.current = undefined
      this.closedUnreported++
      return { kind: 'closed', episode: e }
    }
    const end = Math.max(...returned.map(h => h.returnedAt!))
    const all = returned.every(h => caughtUp(h.host, h.returnedAt!))
    if (!all && now - end < bounds.catchUpMsMax) return undefined
    this.current = undefined
    return { kind: 'report', episode: e, end, caughtUp: all }
  }
}

/**
 * The agent changes of an episode: each tracked agent's state before the episode against `current` (its
 * descriptor's host and write time now, undefined when absent). Prunes are not removals (the host did not
 * remove anything); an agent back as it was is no change; a descriptor written (by its host's clock)
 * outside `span` is no change of the episode (an old one that reached this peer late, or one made after
 * the heal). Sorted by side, then time, then id.
 */
export function agentChanges<I> (e: Episode<I>, current: (id: string, host: string) => number | undefined, span: { start: number, end: number }, now: number): AgentChange[] {
  const out: AgentChange[] = []
  for (const [id, t] of e.agents) {
    const after = current(id, t.host)
    const side = e.sideOf(t.host)
    if (after !== undefined && (after < span.start || after > span.end)) continue
    if (t.before === null && after !== undefined) out.push({ id, host: t.host, side, change: 'registered', at: after })
    else if (t.before !== null && after === undefined && !t.pruned) out.push({ id, host: t.host, side, change: 'removed', at: Math.min(t.seenAt, now) })
    else if (t.before !== null && after !== undefined && after !== t.before) out.push({ id, host: t.host, side, change: 'changed', at: after })
  }
  out.sort((a, b) => a.side !== b.side ? (a.side === 'this' ? -1 : 1) : a.at !== b.at ? a.at - b.at : a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  return out
}

/** A contribution as the variables store holds it. */
export interface ContributionView {
  host: string
  value: unknown
  time: HlcTime
}

/**
 * What became of eventual variable `name` over the span `[start, end]`: the contributions stamped within
 * it are the episode's writes (each host's last); undefined when there are none. `value` is the merged
 * value now; `merge` the rule (`lww`, `max`, `min` name a winning contribution).
 */
export function variableOutcome (
  name: string,
  merge: string | null,
  contributions: readonly ContributionView[],
  value: unknown,
  span: { start: number, end: number },
  sideOf: (host: string) => HealSide,
  writesMax: number = HEAL_LIMITS.writesPerVariableMax
): VariableOutcome | undefined {
  const within = contributions.filter(c => c.time[0] >= span.start && c.time[0] <= span.end)
  if (within.length === 0) return undefined
  within.sort((a, b) => a.host < b.host ? -1 : a.host > b.host ? 1 : 0)
  const sides = new Set(within.map(c => sideOf(c.host)))
  const writes: VariableWrite[] = within.slice(0, writesMax).map(c => ({ host: c.host, side: sideOf(c.host), value: boundedValue(c.value), time: [c.time[0], c.time[1]] }))
  const w = winnerOf(merge, contributions)
  return {
    name,
    merge,
    kind: sides.size > 1 ? 'conflict' : 'one-sided',
    writes,
    writesTruncated: within.length > writesMax,
    value: boundedValue(value),
    winner: w === undefined ? null : { host: w.host, side: sideOf(w.host), duringEpisode: within.includes(w) }
  }
}

/** The contribution a single-winner rule picks (as crdt/variables.ts merges), else undefined. */
export function winnerOf (merge: string | null, cs: readonly ContributionView[]): ContributionView | undefined {
  if (cs.length === 0 || (merge !== 'lww' && merge !== 'max' && merge !== 'min')) return undefined
  let best: ContributionView | undefined
  for (const c of cs) {
    if (best === undefined) { best = c; continue }
    if (merge === 'lww') {
      const o = compareHlc(c.time, best.time)
      if (o > 0 || (o === 0 && c.host > best.host)) best = c
    } else {
      const a = c.value as number
      const b = best.value as number
      if ((merge === 'max' ? a > b : a < b) || (a === b && c.host < best.host)) best = c
    }
  }
  return best
}

/** Conflicts first, then by name; at most `max`. */
export function orderOutcomes (list: VariableOutcome[], max: number): { entries: VariableOutcome[], truncated: number } {
  list.sort((a, b) => a.kind !== b.kind ? (a.kind === 'conflict' ? -1 : 1) : a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
  return { entries: list.slice(0, max), truncated: Math.max(0, list.length - max) }
}
