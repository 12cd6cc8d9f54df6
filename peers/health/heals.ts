/**
 * Partition and heal reports (FEATURES I5) on a live peer: `peer.heals()` and the `heal:reported` event.
 *
 * Every `pollMs` the service reads the lease table (which hosts are reachable) into a
 * {@link HealTracker} (heal-episode.ts: when an episode opens, who is on which side, when it is due),
 * which also gets the registry's agent changes and the commands this peer proposed that ended indefinite
 * (`raft:indefinite`). When an episode is healed and caught up, the report is made from the merged state:
 *
 * - agents: each agent changed during the episode, its state before against its state now;
 * - eventual variables: every contribution stamped within the span (each host's last write), a conflict
 *   when both sides wrote, with the value merged now and the contribution that won;
 * - strong writes: each indefinite command's fate, settled through its Raft session (heal-fate.ts);
 * - auctions and tasks that were open at some point of the span (log times; the Raft replica on members,
 *   the client path elsewhere).
 *
 * @example
 * ```ts
 * peer.on('heal:reported', (r) => console.log(r.sides, r.variables.entries))
 * const [latest] = peer.heals()
 * ```
 */
import { TypedEmitter } from '../../src/base/events.js'
import type { Logger } from '../../src/base/log.js'
import type { ReplicatedRegistry } from '../../crdt/registry.js'
import type { Replica } from '../../crdt/replica.js'
import type { VariableStore } from '../../crdt/variables.js'
import { isHlcTime } from '../../crdt/hlc.js'
import type { AuctionState } from '../../protocols/market/types.js'
import type { TaskView } from '../../protocols/tasks/types.js'
import { TASK_STATES } from '../../protocols/tasks/machine.js'
import type { PeerSyncHealth } from '../sync/health.js'
import type { RaftService } from '../raft/service.js'
import type { TaskInfo, TaskListFilter } from '../agents/types.js'
import { HealTracker, agentChanges, orderOutcomes, variableOutcome } from './heal-episode.js'
import type { Episode } from './heal-episode.js'
import { SETTLE_NOOP, describeCommand, sameBytes, settleFate } from './heal-fate.js'
import { HEAL_LIMITS, boundedValue } from './heal-types.js'
import type { AuctionAcross, Bounded, HealReport, HostList, StrongCommandSummary, StrongWriteFate, TaskAcross, VariableOutcome } from './heal-types.js'

export * from './heal-types.js'

/** A command that ended indefinite, as the episode keeps it until its fate is settled (its summary, not its bytes). */
interface Indefinite {
  session: { clientId: string, seq: number }
  command: StrongCommandSummary
  /** The command was the settling no-op itself. */
  noop: boolean
  proposedAt: number
  endedAt: number
  error: { code: string, reason: string }
}

export interface HealEventMap extends Record<string, unknown> {
  'heal:reported': HealReport
}

export interface HealComponents {
  self: string
  registry: ReplicatedRegistry
  variables: VariableStore
  replica: Replica
  syncHealth: () => PeerSyncHealth[]
  /** The peer's Raft service, when it runs one (it may start later). */
  raft: () => RaftService | undefined
  /** Auctions and tasks through the client path, for a peer outside the Raft group. */
  economy: { auctions: () => Promise<string[]>, auction: (id: string) => Promise<AuctionState | undefined> }
  tasks: { list: (filter: TaskListFilter) => Promise<TaskInfo[]> }
  log: Logger
}

export interface HealInit {
  /** How often the lease table is read (ms). Default 500. */
  pollMs?: number
  /** Longest wait for the returned hosts' data after the heal; the report is then made with `caughtUp: false` (ms). Default 30000. */
  catchUpMsMax?: number
  /** How long an episode whose other side was pruned whole waits for one of its hosts to come back (ms). Default 600000. */
  goneMsMax?: number
  /** Bound of each strong write's settlement (a read point, then a no-op) (ms). Default 10000. */
  settleTimeoutMs?: number
  /** Wall clock (ms). Default Date.now. */
  now?: () => number
}

export interface HealStats {
  /** Polls of the lease table. */
  polls: number
  /** Episodes opened, reports made, episodes closed without a report (their other side all pruned). */
  episodes: number
  reports: number
  closedUnreported: number
  /** Reports that failed to build (logged). */
  failures: number
}

const POLL_MS_DEFAULT = 500
const CATCH_UP_MS_DEFAULT = 30_000
const SETTLE_TIMEOUT_MS_DEFAULT = 10_000
const GONE_MS_DEFAULT = 600_000
/** Pages of task ids read per state on a member (of `listPageMax` ids each). */
const TASK_PAGES_MAX = 100

export class PeerHeals extends TypedEmitter<HealEventMap> {
  readonly stats: HealStats = { polls: 0, episodes: 0, reports: 0, closedUnreported: 0, failures: 0 }
  private readonly c: HealComponents
  private readonly pollMs: number
  private readonly catchUpMsMax: number
  private readonly goneMsMax: number
  private readonly settleTimeoutMs: number
  private readonly now: () => number
  private readonly tracker: HealTracker<Indefinite>
  /** Reports, newest first (at most reportsMax). */
  private readonly reports: HealReport[] = []
  private seq = 0
  private timer: ReturnType<typeof setInterval> | undefined
  private offs: Array<() => void> = []
  private raftOff: (() => void) | undefined
  private raftWatched: RaftService | undefined
  private building: Promise<void> | undefined
  /** Aborted by stop(): a report being built settles no more writes and is dropped. */
  private run: AbortController | undefined

  constructor (components: HealComponents, init: HealInit = {}) {
    super()
    this.c = components
    this.pollMs = init.pollMs ?? POLL_MS_DEFAULT
    this.catchUpMsMax = init.catchUpMsMax ?? CATCH_UP_MS_DEFAULT
    this.goneMsMax = init.goneMsMax ?? GONE_MS_DEFAULT
    this.settleTimeoutMs = init.settleTimeoutMs ?? SETTLE_TIMEOUT_MS_DEFAULT
    this.now = init.now ?? Date.now
    this.tracker = new HealTracker<Indefinite>(components.self)
  }

  /** The reports this peer made, newest first (at most {@link HEAL_LIMITS.reportsMax}). */
  list (): HealReport[] {
    return [...this.reports]
  }

  /** Whether an episode is open now (hosts lost and not all back and caught up). */
  get open (): boolean {
    return this.tracker.episode !== undefined
  }

  start (): void {
    if (this.timer !== undefined) return
    this.run = new AbortController()
    const r = this.c.registry
    this.offs.push(
      r.on('agent:joined', (e) => { this.tracker.agentChanged({ id: e.agent.id, host: e.agent.host, before: null, pruned: false, writtenAt: e.agent.updatedAt }, this.now()) }),
      r.on('agent:updated', (e) => { this.tracker.agentChanged({ id: e.agent.id, host: e.previous.host, before: e.previous.updatedAt, pruned: false, writtenAt: e.agent.updatedAt }, this.now()) }),
      r.on('agent:left', (e) => { this.tracker.agentChanged({ id: e.agent.id, host: e.agent.host, before: e.agent.updatedAt, pruned: e.reason === 'pruned' }, this.now()) })
    )
    this.timer = setInterval(() => { this.poll() }, this.pollMs)
    this.timer.unref?.()
    this.poll()
  }

  /**
   * Stops (idempotent). A report being built is dropped (its settlements could wait on a Raft group this
   * peer is leaving); the open episode, if any, is kept for a restart.
   */
  async stop (): Promise<void> {
    if (this.timer === undefined) return
    clearInterval(this.timer)
    this.timer = undefined
    this.run?.abort()
    this.run = undefined
    for (const off of this.offs.splice(0)) off()
    this.raftOff?.()
    this.raftOff = undefined
    this.raftWatched = undefined
  }

  private watchRaft (): void {
    const raft = this.c.raft()
    if (raft === this.raftWatched) return
    this.raftOff?.()
    this.raftWatched = raft
    this.raftOff = raft?.on('raft:indefinite', (e) => {
      const details = (e.error as { details?: { reason?: unknown } }).details
      this.tracker.indefinite({
        session: e.session,
        command: describeCommand(e.command),
        noop: sameBytes(e.command, SETTLE_NOOP),
        proposedAt: e.proposedAt,
        endedAt: this.now(),
        error: { code: 'ERR_INDEFINITE', reason: typeof details?.reason === 'string' ? details.reason.slice(0, 200) : e.error.message.slice(0, 200) }
      }, this.now())
    })
  }

  /** One look at the lease table; makes the report of an episode that is due. */
  private poll (): void {
    this.stats.polls++
    this.watchRaft()
    const now = this.now()
    const hadEpisode = this.tracker.episode
    const hosts = this.c.registry.leases.hostsKnown().map(h => ({ host: h.host, reachable: h.reachable, lastHeardAt: h.lastHeardAt }))
    let beats: Map<string, number | undefined> | undefined
    this.tracker.observeHosts(hosts, now, (host, leaseHeardAt) => {
      beats ??= new Map(this.c.syncHealth().map(h => [h.peerId, h.lastHeartbeatAt]))
      return Math.min(leaseHeardAt, beats.get(host) ?? leaseHeardAt)
    })
    const e = this.tracker.episode
    if (e !== undefined && e !== hadEpisode) {
      this.stats.episodes++
      this.c.log.info('partition episode opened', { other: [...e.other.keys()], start: e.start })
    }
    if (e === undefined || this.building !== undefined) return
    let health: Map<string, PeerSyncHealth> | undefined
    const caughtUp = (host: string, since: number): boolean => {
      health ??= new Map(this.c.syncHealth().map(h => [h.peerId, h]))
      const h = health.get(host)
      return h !== undefined && h.lag === 0 && (h.lastHeartbeatAt ?? 0) >= since
    }
    const due = this.tracker.due(now, caughtUp, { catchUpMsMax: this.catchUpMsMax, goneMsMax: this.goneMsMax })
    if (due === undefined) return
    if (due.kind === 'closed') {
      this.stats.closedUnreported++
      this.c.log.info('partition episode closed without a report: no host of the other side came back', { other: [...due.episode.other.keys()] })
      return
    }
    const signal = this.run!.signal
    const building = this.report(due.episode, due.end, due.caughtUp, signal)
      .then((r) => {
        if (signal.aborted) return
        this.reports.unshift(r)
        if (this.reports.length > HEAL_LIMITS.reportsMax) this.reports.length = HEAL_LIMITS.reportsMax
        this.stats.reports++
        this.c.log.info('partition healed', { seq: r.seq, other: r.sides.other.count, conflicts: r.variables.conflicts, strongWrites: r.strongWrites.entries.length })
        this.emit('heal:reported', r)
      }, (err: Error) => {
        this.stats.failures++
        this.c.log.warn('the heal report failed', { error: err.message })
      })
      .finally(() => { if (this.building === building) this.building = undefined })
    this.building = building
  }

  /** Builds the report of a healed episode from the merged state. */
  private async report (e: Episode<Indefinite>, end: number, caughtUp: boolean, signal: AbortSignal): Promise<HealReport> {
    const span = { start: e.start, end }
    const now = this.now()
    const other = [...e.other.keys(), ...e.joinedWithHeal]
    const agents = agentChanges(e, (id, host) => this.c.registry.index.claimOf(id, host)?.updatedAt, span, now)
    const variables = this.variables(e, span)
    const strongWrites = await this.strongWrites(e, signal)
    const crossing = await this.crossing(span)
    const lost = [...e.other.values()].slice(0, HEAL_LIMITS.hostsListedMax).map(h => ({
      host: h.host, lastHeardAt: h.lastHeardAt, lostAt: h.lostAt, ...(h.returnedAt !== undefined ? { returnedAt: h.returnedAt } : {})
    }))
    return {
      seq: ++this.seq,
      peer: this.c.self,
      span: { start: span.start, end: span.end, ms: Math.max(0, span.end - span.start) },
      detectedAt: e.detectedAt,
      reportedAt: this.now(),
      sides: { this: hostList([...e.thisSide]), other: hostList(other) },
      lost,
      caughtUp,
      agents: { entries: agents.slice(0, HEAL_LIMITS.agentChangesMax), truncated: Math.max(0, agents.length - HEAL_LIMITS.agentChangesMax) + e.agentsTruncated },
      variables,
      strongWrites,
      ...crossing
    }
  }

  /** Eventual variables with contributions stamped within the span (a bounded scan of every host's document). */
  private variables (e: Episode<Indefinite>, span: { start: number, end: number }): HealReport['variables'] {
    const names = new Set<string>()
    let scanned = 0
    let scanTruncated = false
    scan: for (const d of this.c.replica.all('var')) {
      for (const [name, raw] of d.doc.getMap<unknown>('vars')) {
        if (++scanned > HEAL_LIMITS.contributionsScannedMax) { scanTruncated = true; break scan }
        const t = (raw as { t?: unknown } | null)?.t
        if (isHlcTime(t) && t[0] >= span.start && t[0] <= span.end) names.add(name)
      }
    }
    const outcomes: VariableOutcome[] = []
    for (const name of names) {
      const merge = this.c.variables.mergeOf(name) ?? null
      let value: unknown = null
      try { value = this.c.variables.read(name).value } catch { /* a custom merge this peer has not declared: no value here */ }
      const cs = merge === null ? [] : this.c.variables.contributionsOf(name, merge)
      const o = variableOutcome(name, merge, cs, value, span, (h) => e.sideOf(h))
      if (o !== undefined) outcomes.push(o)
    }
    const conflicts = outcomes.filter(o => o.kind === 'conflict').length
    return { ...orderOutcomes(outcomes, HEAL_LIMITS.variablesMax), conflicts, oneSided: outcomes.length - conflicts, scanTruncated }
  }

  /** Settles each indefinite command's fate, one at a time (each bounded by `settleTimeoutMs`). */
  private async strongWrites (e: Episode<Indefinite>, signal: AbortSignal): Promise<Bounded<StrongWriteFate>> {
    const entries: StrongWriteFate[] = []
    for (const w of e.indefinite) {
      const raft = this.c.raft()
      const fate = signal.aborted
        ? { fate: 'unknown' as const, reason: 'the peer stopped' }
        : raft === undefined ? { fate: 'unknown' as const, reason: 'this peer left the Raft group' } : await settleFate(raft, w.session, w.noop, this.settleTimeoutMs)
      entries.push({ command: w.command, proposedAt: w.proposedAt, endedAt: w.endedAt, error: w.error, ...fate })
    }
    return { entries, truncated: e.indefiniteTruncated }
  }

  /** Auctions and tasks open at some point of the span. */
  private async crossing (span: { start: number, end: number }): Promise<Pick<HealReport, 'auctions' | 'tasks'>> {
    const across = (from: number, to: number | undefined): boolean => from <= span.end && (to === undefined || to >= span.start)
    const auctions: AuctionAcross[] = []
    const tasks: TaskAcross[] = []
    let auctionsAvailable = true
    let tasksAvailable = true
    let tasksTruncated = 0
    const app = this.c.raft()?.app
    const ids = await this.auctionIds(app).catch(() => { auctionsAvailable = false; return [] })
    for (const id of ids.slice(-HEAL_LIMITS.auctionsExaminedMax).reverse()) {
      const a = app !== undefined ? parse<AuctionState>(app.read(`econ:auction:${id}`)) : await this.c.economy.auction(id).catch(() => undefined)
      if (a === undefined) continue
      const closed = a.status !== 'open' && a.status !== 'reveal' && a.status !== 'closed'
      if (!across(a.openedAt, closed ? a.closesAt : undefined)) continue
      auctions.push({ id, status: a.status, seller: a.seller, openedAt: a.openedAt, closesAt: a.closesAt, bids: a.bids.length, outcome: boundedValue(a.outcome) })
    }
    try {
      for (const state of TASK_STATES) {
        const views = app !== undefined ? memberTasks(app.tasks, state) : (await this.c.tasks.list({ state, limit: 1000 })).map(t => t.record)
        if (app === undefined && views.length >= 1000) tasksTruncated++
        for (const v of views) {
          if (!across(v.submittedAt, v.finishedAt)) continue
          tasks.push({ id: v.id, state: v.state, agent: v.agent, attempts: v.attempts, submittedAt: v.submittedAt, ...(v.finishedAt !== undefined ? { finishedAt: v.finishedAt } : {}) })
        }
      }
    } catch {
      tasksAvailable = false
    }
    auctions.sort((a, b) => a.openedAt - b.openedAt)
    tasks.sort((a, b) => a.id - b.id)
    return {
      auctions: { entries: auctions.slice(0, HEAL_LIMITS.auctionsMax), truncated: Math.max(0, auctions.length - HEAL_LIMITS.auctionsMax), available: auctionsAvailable },
      tasks: { entries: tasks.slice(0, HEAL_LIMITS.tasksMax), truncated: Math.max(0, tasks.length - HEAL_LIMITS.tasksMax) + tasksTruncated, available: tasksAvailable }
    }
  }

  private async auctionIds (app: RaftService['app']): Promise<string[]> {
    if (app === undefined) return await this.c.economy.auctions()
    // A read point first: the local replica then holds everything committed before the heal was reported.
    await this.c.raft()?.readBarrier(this.settleTimeoutMs)
    return parse<string[]>(app.read('econ:auctions')) ?? []
  }
}

function parse<T> (raw: unknown): T | undefined {
  if (typeof raw !== 'string') return undefined
  try { return JSON.parse(raw) as T } catch { return undefined }
}

/** The newest {@link HEAL_LIMITS.tasksExaminedMax} tasks of `state` in a member's replica. */
function memberTasks (m: NonNullable<RaftService['app']>['tasks'], state: (typeof TASK_STATES)[number]): TaskView[] {
  let ids: number[] = []
  let after = 0
  for (let pages = 0; pages < TASK_PAGES_MAX; pages++) {
    const page = m.list(state, after)
    if (page.length === 0) break
    ids = ids.concat(page).slice(-HEAL_LIMITS.tasksExaminedMax)
    after = page[page.length - 1]!
  }
  const out: TaskView[] = []
  for (const id of ids) {
    const v = m.get(id)
    if (v !== undefined) out.push(v)
  }
  return out
}

function hostList (hosts: string[]): HostList {
  const sorted = [...hosts].sort()
  return { hosts: sorted.slice(0, HEAL_LIMITS.hostsListedMax), count: sorted.length, truncated: sorted.length > HEAL_LIMITS.hostsListedMax }
}
