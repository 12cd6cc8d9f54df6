/**
 * One orchestrated variable (FEATURES V3): the handle every declaring peer gets, and the owner's duty
 * that exactly one of them runs at a time (a coordination singleton `orch/<name>`).
 *
 * Fencing: an elected owner runs its duty under the coordination lock `orch/<name>` too (an election
 * gives no fencing token a strong variable checks), and every strong write of the owner (the initial
 * value, an adaptation, a history entry) carries the lock's fence: a stale owner (its lease lost, not yet
 * noticed) is refused `ERR_FENCED` once a newer owner holds the lock, and stops its round. Before the
 * deliveries of a round the owner confirms it still holds the newest token (a fenced write of
 * `orch:<name>:owner`); they stop when the lock's signal aborts, and carry the lock's token (`token`) so
 * an agent's instructionHandler (follow.ts) ignores the instructions of an owner older than the last one
 * it heard.
 *
 * The owner checks what it reads: a value that breaks the constraints (a raw write of the strong
 * variable) or a foreign value in `orch:<name>` is not coordinated; an error entry is recorded in the
 * history (once per value) and the loop goes on, so a later `set` resumes coordination.
 *
 * Raft keys (strong variables): `orch:<name>` holds the state `{ value, version, at, by, peer }`,
 * `orch:<name>:history` the bounded history, `orch:<name>:inbox` the metrics reported on peers that do
 * not own the variable, `orch:<name>:owner` the owner's last fenced confirmation `{ peer, token }`. The owner's loop is serial: read the state and the team, coordinate when the
 * version or the team changed, adapt when enough outcomes arrived; then wait for a change, an outcome or
 * the poll period.
 */
import { AgoraError, InvalidOptionError } from '../../src/base/errors.js'
import { TypedEmitter } from '../../src/base/events.js'
import type { Logger } from '../../src/base/log.js'
import type { AgentView, QueryCriteria } from '../../crdt/types.js'
import { canonicalJson, checkConstraints, constraintViolation, sameJson, validateConstraints } from './constraints.js'
import type { Constraints } from './constraints.js'
import { ContendedError, OrchestrationClosedError } from './errors.js'
import { appendHistory, asHistory, listedOutcomes, shortReason } from './history.js'
import type { AdaptationEntry, CoordinationEntry, DeliveryOutcome, HistoryEntry, NewHistoryEntry } from './history.js'
import { MetricWindow, validateMetric } from './metrics.js'
import type { Metric, MetricInput, TaskMetric } from './metrics.js'
import {
  ADAPT_EVERY_OUTCOMES_DEFAULT, AFFECTED_AGENTS_MAX, CAS_ATTEMPTS_MAX, DELIVERIES_CONCURRENT_DEFAULT, DELIVERIES_CONCURRENT_MAX,
  DELIVERY_ATTEMPTS_DEFAULT, DELIVERY_ATTEMPTS_MAX, DELIVERY_TIMEOUT_MS_DEFAULT, DELIVERY_TIMEOUT_MS_MAX, HISTORY_MAX_DEFAULT,
  HISTORY_MAX_LIMIT, INBOX_MAX, INSTRUCTION_BYTES_MAX, LATENCY_LOOKUPS_CONCURRENT_MAX, METRICS_WINDOW_MAX_DEFAULT,
  METRICS_WINDOW_MAX_LIMIT, POLL_MS_DEFAULT, POLL_MS_MIN
} from './limits.js'

/** The name of the custom agent protocol instructions travel on (`handlers.protocols.orchestration`). */
export const ORCHESTRATION_PROTOCOL = 'orchestration'

/** What an agent's `protocols.orchestration` handler receives. */
export interface InstructionPayload<T = unknown> {
  /** The orchestrated variable's name. */
  variable: string
  /** The version the instruction was computed from (1, 2, ... per variable; a re-delivery repeats it). */
  version: number
  value: T
  /** This agent's instruction (the value itself when the variable has no coordination function). */
  instruction: unknown
  /** The owner's fencing token (its lock's): an instruction under an older token than one heard is stale. */
  token?: number
}

/** Instructions a coordination function returns: agent id → instruction (a Map, or a record). */
export type Instructions = ReadonlyMap<string, unknown> | Readonly<Record<string, unknown>>

export interface CoordinateContext<T> {
  variable: string
  version: number
  /** Why the round runs: a new owner took office, the value changed, or the team changed. */
  trigger: CoordinationEntry['trigger']
  /** The value of the previous round this owner ran, if any. */
  previous?: T
  /** Aborted when this peer stops owning the variable. */
  signal: AbortSignal
}

export interface AdaptContext<T> {
  variable: string
  version: number
  agents: readonly AgentView[]
  constraints: Readonly<Constraints<T>>
  /** Metrics dropped from the window (over `windowMax`) since the last round. */
  dropped: number
  signal: AbortSignal
}

export type CoordinateFn<T> = (value: T, agents: readonly AgentView[], ctx: CoordinateContext<T>) => Instructions | undefined | Promise<Instructions | undefined>
export type AdaptFn<T> = (metrics: readonly Metric[], value: T, ctx: AdaptContext<T>) => T | undefined | Promise<T | undefined>

export interface OrchestratedOptions<T = unknown> {
  /** The affected agents: a registry query (`reachableOnly` defaults to true; at most {@link AFFECTED_AGENTS_MAX}). */
  affects: QueryCriteria
  /** Per-agent instructions for a value. Default: every affected agent is sent the value itself. */
  coordinate?: CoordinateFn<T>
  /** Fed the metrics since the last round; returns a new value (checked against `constraints`) or undefined. */
  adapt?: AdaptFn<T>
  constraints?: Constraints<T>
  /** History entries kept (default {@link HISTORY_MAX_DEFAULT}, at most {@link HISTORY_MAX_LIMIT}). */
  historyMax?: number
  /**
   * When adaptation rounds run: after `outcomes` task outcomes (or reported metrics), and/or every `ms`
   * when metrics arrived. A number means `{ outcomes }`. Default `{ outcomes: 10 }`.
   */
  adaptEvery?: number | { outcomes?: number, ms?: number }
  /** The value while nothing was set: the first owner writes it as version 1. */
  initial?: T
  /** Metrics kept between two rounds (default {@link METRICS_WINDOW_MAX_DEFAULT}). */
  windowMax?: number
  /** Deliveries of a round: in flight at once (default 16), per-request timeout (default 5000 ms), attempts (default 2). */
  delivery?: { concurrency?: number, timeoutMs?: number, attempts?: number }
  /** The owner re-reads the value, the team and the inbox at least this often (default 1000 ms). */
  pollMs?: number
  /** TTL of the owner's lease (default: the peer's session lease): a crashed owner's duty moves after it. */
  ttlMs?: number
}

/** The replicated state of an orchestrated variable (`orch:<name>`). */
export interface OrchestratedState<T = unknown> {
  value: T
  /** 1, 2, ...: one more per change. */
  version: number
  /** Wall-clock ms of the writer. */
  at: number
  by: 'initial' | 'set' | 'adapt'
  /** The writing peer. */
  peer: string
}

/** A task attempt's end, as the owner is told it (from `peer.tasks` events). */
export interface TaskOutcome {
  outcome: TaskMetric['outcome']
  task: number
  attempt: number
  agent: string
  reason?: string
  error?: string
}

/** A held lock's fence: a strong write carrying it is refused (`ERR_FENCED`) once the lock has a newer holder. */
export interface Fence { lock: string, token: number }

/** The part of a strong variable a handle uses. */
export interface StrongLike {
  get: (options?: { linearizable?: boolean }) => Promise<unknown>
  compareAndSet: (expected: unknown, value: unknown, options?: { fence?: Fence }) => Promise<boolean>
  on?: (type: 'variable:changed', fn: (e: { name: string }) => void) => () => void
}

/** What a handle needs of its peer (peers/orchestration/service.ts builds it; unit tests inject it). */
export interface OrchestrationComponents {
  self: string
  log: Logger
  strong: (key: string) => StrongLike
  runSingleton: (name: string, fn: (signal: AbortSignal) => Promise<void>, options: { ttlMs?: number }) => { stop: () => Promise<void>, readonly running: boolean }
  /**
   * Takes coordination lock `name` (waits in its queue until `signal` aborts): its `fence` goes with the
   * owner's strong writes, its `signal` aborts when it is lost with its lease.
   */
  lock: (name: string, options: { ttlMs?: number, signal: AbortSignal }) => Promise<{ fence: Fence, signal: AbortSignal, release: () => Promise<void> }>
  /** The peer currently owning `singleton` (the election's leader), if any. */
  owner: (singleton: string) => Promise<string | undefined>
  query: (criteria: QueryCriteria) => { agents: readonly AgentView[], truncated: boolean }
  /** Calls `fn` when agents may have joined, left or changed reachability. */
  onTeamChange: (fn: () => void) => () => void
  /** Sends one instruction to an agent through the agents' request interface; rejects with a coded error. */
  deliver: (agent: string, payload: InstructionPayload, options: { timeoutMs: number, signal: AbortSignal }) => Promise<unknown>
  /** Calls `fn` for every task attempt that ends (absent: no task metrics). */
  taskOutcomes?: (fn: (o: TaskOutcome) => void) => () => void
  /** Log-time ms from an attempt's assignment to the task's end, when known. */
  taskLatency?: (task: number, attempt: number) => Promise<number | undefined>
  now?: () => number
}

export interface OrchestrationEvents extends Record<string, unknown> {
  /** This peer took or lost the owner's duty. */
  'orchestration:owner': { variable: string, owner: boolean }
  /** The owner finished a coordination round (its history entry). */
  'orchestration:coordinated': CoordinationEntry
  /** The owner finished an adaptation round that proposed something. */
  'orchestration:adapted': AdaptationEntry
}

export interface OrchestrationStats {
  coordinations: number
  adaptations: number
  /** Rounds whose adaptation function returned nothing new. */
  unchanged: number
  metrics: number
  deliveries: number
  deliveryFailures: number
  /** Owner loop iterations that failed (Raft unavailable...), retried at the next wake. */
  errors: number
  historyErrors: number
  /** Owner's terms ended by a refused fenced write (a newer owner holds the lock). */
  fenced: number
  /** States not coordinated: a foreign value, or a value breaking the constraints (recorded once each). */
  unfit: number
}

/** Pause between two delivery attempts to one agent within a round. */
const DELIVERY_RETRY_PAUSE_MS = 100

interface Inbox { seq: number, items: Array<{ seq: number, m: MetricInput }> }

interface Term<T> {
  /** The lock's fence the owner's writes carry. */
  fence?: Fence
  /** The state last found unfit to coordinate (a foreign value, a value breaking the constraints), as recorded. */
  unfit?: string
  version: number
  team: string
  value?: T
  inboxSeq?: number
  lastAdaptAt: number
}

function intOption (path: string, v: number | undefined, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt
  if (!Number.isSafeInteger(v) || v < min || v > max) throw new InvalidOptionError(path, `must be an integer in ${min}..${max}`, { value: v })
  return v
}

function errorCode (err: unknown): string {
  const c = (err as { code?: unknown } | null)?.code
  return typeof c === 'string' && c.length > 0 && c.length <= 64 ? c : 'ERR_DELIVERY'
}

async function pause (ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return
  await new Promise<void>(resolve => {
    const t = setTimeout(done, ms)
    function done (): void { clearTimeout(t); signal.removeEventListener('abort', done); resolve() }
    signal.addEventListener('abort', done, { once: true })
  })
}

/** Runs `fn` over `items` with at most `concurrency` in flight; results in input order. */
async function mapBounded<I, O> (items: readonly I[], concurrency: number, fn: (item: I) => Promise<O>): Promise<O[]> {
  const out = new Array<O>(items.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i]!)
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker))
  return out
}

/** Wakes the owner's loop: a kick before the wait makes the next wait return at once. */
class Waker {
  private pending = false
  private resolve: (() => void) | undefined
  kick (): void {
    this.pending = true
    this.resolve?.()
  }

  async wait (ms: number, signal: AbortSignal): Promise<void> {
    if (this.pending || signal.aborted) { this.pending = false; return }
    await new Promise<void>(resolve => {
      const done = (): void => { clearTimeout(t); signal.removeEventListener('abort', done); this.resolve = undefined; resolve() }
      const t = setTimeout(done, ms)
      signal.addEventListener('abort', done, { once: true })
      this.resolve = done
    })
    this.pending = false
  }
}

function validateOptions<T> (name: string, o: OrchestratedOptions<T>): void {
  if (o === null || typeof o !== 'object') throw new InvalidOptionError('options', 'must be an object')
  if (o.affects === null || typeof o.affects !== 'object') throw new InvalidOptionError('affects', 'must be a registry query (QueryCriteria)')
  for (const k of ['coordinate', 'adapt'] as const) {
    if (o[k] !== undefined && typeof o[k] !== 'function') throw new InvalidOptionError(k, 'must be a function')
  }
  if (o.initial !== undefined) {
    if (canonicalJson(o.initial) === undefined) throw new InvalidOptionError('initial', 'must be JSON')
    checkConstraints(name, validateConstraints(o.constraints), o.initial)
  }
  if (o.adaptEvery !== undefined && typeof o.adaptEvery !== 'number' && (o.adaptEvery === null || typeof o.adaptEvery !== 'object')) throw new InvalidOptionError('adaptEvery', 'must be a number of outcomes or { outcomes, ms }')
}

/** The handle of an orchestrated variable on one peer (`peer.variables.orchestrated(name, options)`). */
export class OrchestratedVariable<T = unknown> extends TypedEmitter<OrchestrationEvents> {
  readonly name: string
  /** The singleton (election) whose leader owns the variable. */
  readonly singleton: string
  readonly constraints: Readonly<Constraints<T>>
  readonly historyMax: number
  readonly stats: OrchestrationStats = { coordinations: 0, adaptations: 0, unchanged: 0, metrics: 0, deliveries: 0, deliveryFailures: 0, errors: 0, historyErrors: 0, fenced: 0, unfit: 0 }
  private readonly c: OrchestrationComponents
  private readonly o: OrchestratedOptions<T>
  private readonly state_: StrongLike
  private readonly history_: StrongLike
  private readonly inbox: StrongLike
  private readonly ownerKey: StrongLike
  private readonly window: MetricWindow
  private readonly adaptOutcomes: number | undefined
  private readonly adaptMs: number | undefined
  private readonly delivery: { concurrency: number, timeoutMs: number, attempts: number }
  private readonly pollMs: number
  private readonly now: () => number
  private readonly waker = new Waker()
  private readonly offs: Array<() => void> = []
  private runner: { stop: () => Promise<void>, readonly running: boolean } | undefined
  private owning = false
  private closed = false
  /** Affected agents of the owner's last round (task outcomes of others are ignored). */
  private team = new Set<string>()
  private teamViews: readonly AgentView[] = []
  private version = 0
  /** The team key of the owner's last coordination round. */
  private teamKey: string | undefined
  private lookups = 0
  private readonly onClose: () => void

  /** @internal use `peer.variables.orchestrated(name, options)` */
  constructor (name: string, options: OrchestratedOptions<T>, components: OrchestrationComponents, onClose: () => void = () => {}) {
    super()
    validateOptions(name, options)
    this.name = name
    this.singleton = `orch/${name}`
    this.c = components
    this.o = options
    this.onClose = onClose
    this.constraints = validateConstraints(options.constraints)
    this.historyMax = intOption('historyMax', options.historyMax, HISTORY_MAX_DEFAULT, 1, HISTORY_MAX_LIMIT)
    this.window = new MetricWindow(intOption('windowMax', options.windowMax, METRICS_WINDOW_MAX_DEFAULT, 1, METRICS_WINDOW_MAX_LIMIT))
    const every = typeof options.adaptEvery === 'number' ? { outcomes: options.adaptEvery } : options.adaptEvery ?? { outcomes: ADAPT_EVERY_OUTCOMES_DEFAULT }
    this.adaptOutcomes = every.outcomes === undefined ? undefined : intOption('adaptEvery.outcomes', every.outcomes, 0, 1, METRICS_WINDOW_MAX_LIMIT)
    this.adaptMs = every.ms === undefined ? undefined : intOption('adaptEvery.ms', every.ms, 0, POLL_MS_MIN, 86_400_000)
    if (this.adaptOutcomes === undefined && this.adaptMs === undefined) throw new InvalidOptionError('adaptEvery', 'needs outcomes or ms')
    const d = options.delivery ?? {}
    this.delivery = {
      concurrency: intOption('delivery.concurrency', d.concurrency, DELIVERIES_CONCURRENT_DEFAULT, 1, DELIVERIES_CONCURRENT_MAX),
      timeoutMs: intOption('delivery.timeoutMs', d.timeoutMs, DELIVERY_TIMEOUT_MS_DEFAULT, 1, DELIVERY_TIMEOUT_MS_MAX),
      attempts: intOption('delivery.attempts', d.attempts, DELIVERY_ATTEMPTS_DEFAULT, 1, DELIVERY_ATTEMPTS_MAX)
    }
    this.pollMs = intOption('pollMs', options.pollMs, POLL_MS_DEFAULT, POLL_MS_MIN, 3_600_000)
    if (options.ttlMs !== undefined) intOption('ttlMs', options.ttlMs, 0, 1, 3_600_000)
    this.now = components.now ?? Date.now
    this.state_ = components.strong(`orch:${name}`)
    this.history_ = components.strong(`orch:${name}:history`)
    this.inbox = components.strong(`orch:${name}:inbox`)
    this.ownerKey = components.strong(`orch:${name}:owner`)
  }

  /** @internal Starts campaigning for the owner's duty (the service calls it while its peer runs). Idempotent. */
  start (): void {
    if (this.runner !== undefined || this.closed) return
    const keys = new Set([`orch:${this.name}`, `orch:${this.name}:inbox`])
    for (const s of [this.state_, this.inbox]) {
      const off = s.on?.('variable:changed', (e) => { if (this.owning && keys.has(e.name)) this.waker.kick() })
      if (off !== undefined) this.offs.push(off)
    }
    // A registry change wakes the owner only when the affected set is another (a local, indexed query).
    this.offs.push(this.c.onTeamChange(() => { if (this.owning && this.queryTeam().key !== this.teamKey) this.waker.kick() }))
    const off = this.c.taskOutcomes?.((o) => { this.onOutcome(o) })
    if (off !== undefined) this.offs.push(off)
    this.runner = this.c.runSingleton(this.singleton, async (signal) => { await this.own(signal) }, this.o.ttlMs !== undefined ? { ttlMs: this.o.ttlMs } : {})
  }

  /** Whether this peer owns the variable now (runs its coordination and adaptation). */
  get isOwner (): boolean { return this.owning }

  /** The peer owning the variable now, as the group says (linearizable), if any. */
  async owner (): Promise<string | undefined> {
    return await this.c.owner(this.singleton)
  }

  /** The value (linearizable): the last one set or adapted, else `initial`. */
  async get (): Promise<T | undefined> {
    const s = await this.state()
    return s === undefined ? this.o.initial : s.value
  }

  /** The replicated state (value, version, who wrote it), linearizable; undefined while nothing was written. */
  async state (): Promise<OrchestratedState<T> | undefined> {
    return asState<T>(await this.state_.get())
  }

  /**
   * Sets the value (ConstraintError `ERR_CONSTRAINT` when it breaks the constraints); returns its version.
   * Setting the current value changes nothing (no new version, no coordination).
   */
  async set (value: T): Promise<number> {
    this.open()
    checkConstraints(this.name, this.constraints, value)
    for (let i = 0; i < CAS_ATTEMPTS_MAX; i++) {
      // A foreign value in the Raft key is replaced (the owner coordinates again from there).
      const raw = await this.state_.get()
      const cur = stateOf<T>(raw)
      if (cur !== undefined && sameJson(cur.value, value)) return cur.version
      const next: OrchestratedState<T> = { value, version: (cur?.version ?? 0) + 1, at: this.now(), by: 'set', peer: this.c.self }
      if (await this.state_.compareAndSet(raw ?? null, next)) return next.version
    }
    throw new ContendedError(`set of ${this.name}`, CAS_ATTEMPTS_MAX)
  }

  /** The history of coordinations and adaptations, oldest first (linearizable; from any peer). */
  async history (): Promise<HistoryEntry[]> {
    return asHistory(await this.history_.get())
  }

  /**
   * Feeds a metric to the adaptation function: into the window on the owner, else through the Raft
   * inbox (the owner takes what arrives there while it owns the variable).
   */
  async report (metric: MetricInput): Promise<void> {
    this.open()
    const m = validateMetric(metric)
    if (this.owning) { this.push({ version: this.version, ...m, at: this.now() } as Metric); return }
    for (let i = 0; i < CAS_ATTEMPTS_MAX; i++) {
      const raw = await this.inbox.get()
      const cur = asInbox(raw)
      const seq = (cur?.seq ?? 0) + 1
      const next: Inbox = { seq, items: [...(cur?.items ?? []), { seq, m }].slice(-INBOX_MAX) }
      if (await this.inbox.compareAndSet(raw ?? null, next)) return
    }
    throw new ContendedError(`report to ${this.name}`, CAS_ATTEMPTS_MAX)
  }

  /** @internal Stops campaigning and owning until the next start (the peer stops). Idempotent. */
  async stop (): Promise<void> {
    for (const off of this.offs.splice(0)) off()
    const r = this.runner
    this.runner = undefined
    await r?.stop()
  }

  /** Stops campaigning (and owning), and forgets the handle. Idempotent. The value and history stay in Raft. */
  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.stop()
    this.onClose()
  }

  private open (): void {
    if (this.closed) throw new OrchestrationClosedError(this.name)
  }

  // ---------------------------------------------------------------- the owner

  private push (m: Metric): void {
    this.window.push(m)
    this.stats.metrics++
    if (this.adaptOutcomes !== undefined && this.window.outcomes >= this.adaptOutcomes) this.waker.kick()
  }

  private onOutcome (o: TaskOutcome): void {
    if (!this.owning || !this.team.has(o.agent)) return
    const version = this.version
    const base: TaskMetric = { kind: 'task', agent: o.agent, task: o.task, attempt: o.attempt, outcome: o.outcome, version, at: this.now(), ...(o.reason !== undefined ? { reason: o.reason } : {}), ...(o.error !== undefined ? { error: shortReason(o.error) } : {}) }
    if (this.c.taskLatency === undefined || o.outcome === 'reassigned' || this.lookups >= LATENCY_LOOKUPS_CONCURRENT_MAX) { this.push(base); return }
    this.lookups++
    void this.c.taskLatency(o.task, o.attempt).then(
      (ms) => ms,
      () => undefined
    ).then((ms) => {
      this.lookups--
      if (this.owning) this.push(ms === undefined ? base : { ...base, latencyMs: ms })
    })
  }

  /**
   * The owner's duty, run while this peer leads the singleton; returns only when `signal` aborts. Each
   * term runs under the coordination lock of the same name (its fence goes with every strong write); a
   * term ends when the lock is lost or a fenced write is refused, and the next waits for the lock.
   */
  private async own (signal: AbortSignal): Promise<void> {
    this.owning = true
    this.c.log.info('owner of an orchestrated variable', { variable: this.name })
    this.emit('orchestration:owner', { variable: this.name, owner: true })
    try {
      while (!signal.aborted) {
        let lock: Awaited<ReturnType<OrchestrationComponents['lock']>>
        try {
          lock = await this.c.lock(this.singleton, { signal, ...(this.o.ttlMs !== undefined ? { ttlMs: this.o.ttlMs } : {}) })
        } catch (err) {
          if (signal.aborted) break
          this.stats.errors++
          this.c.log.warn('the owner\'s lock was not taken; tried again', { variable: this.name, error: (err as Error).message })
          await pause(this.pollMs, signal)
          continue
        }
        try {
          await this.term(AbortSignal.any([signal, lock.signal]), lock.fence)
        } finally {
          await lock.release().catch(() => {})
        }
      }
    } finally {
      this.owning = false
      this.teamKey = undefined
      this.window.clear()
      this.emit('orchestration:owner', { variable: this.name, owner: false })
    }
  }

  /** One term of the owner's duty under the lock's `fence`; ends when `signal` aborts or a fenced write is refused. */
  private async term (signal: AbortSignal, fence: Fence): Promise<void> {
    const term: Term<T> = { fence, version: -1, team: '', lastAdaptAt: this.now() }
    this.window.clear()
    while (!signal.aborted) {
      try {
        await this.step(term, signal)
      } catch (err) {
        if (signal.aborted) break
        if (errorCode(err) === 'ERR_FENCED') {
          this.stats.fenced++
          this.c.log.warn('a newer owner holds the lock: this owner stops its round', { variable: this.name, token: fence.token, error: (err as Error).message })
          return
        }
        this.stats.errors++
        this.c.log.warn('orchestration round failed; retried at the next wake', { variable: this.name, error: (err as Error).message })
      }
      await this.waker.wait(this.waitMs(term), signal)
    }
  }

  private waitMs (term: Term<T>): number {
    if (this.adaptMs === undefined || this.o.adapt === undefined) return this.pollMs
    return Math.max(1, Math.min(this.pollMs, term.lastAdaptAt + this.adaptMs - this.now()))
  }

  private async step (term: Term<T>, signal: AbortSignal): Promise<void> {
    const fence = term.fence !== undefined ? { fence: term.fence } : {}
    let raw = await this.state_.get()
    if (raw === null || raw === undefined) {
      if (this.o.initial === undefined) return
      await this.state_.compareAndSet(null, { value: this.o.initial, version: 1, at: this.now(), by: 'initial', peer: this.c.self } satisfies OrchestratedState<T>, fence)
      raw = await this.state_.get()
    }
    const s = stateOf<T>(raw)
    // What the owner reads is checked: a foreign value, or one breaking the constraints (a raw write of
    // the strong variable), is not coordinated; an error entry is recorded once for it.
    const unfit = s === undefined ? (raw === null || raw === undefined ? undefined : 'ERR_FOREIGN_VALUE: the Raft key holds a value the orchestrated variable did not write') : constraintViolation(this.constraints, s.value)
    if (unfit !== undefined) {
      await this.drainInbox(term)
      const key = `${s?.version ?? 0}\u0000${canonicalJson(raw) ?? ''}`
      if (term.unfit === key) return
      this.stats.unfit++
      await this.record({
        kind: 'coordination',
        at: this.now(),
        owner: this.c.self,
        version: s?.version ?? 0,
        value: s !== undefined ? s.value : null,
        trigger: term.version < 0 ? 'takeover' : 'value',
        agents: 0,
        instructions: 0,
        delivered: 0,
        failed: 0,
        outcomes: [],
        error: shortReason(s === undefined ? unfit : `ERR_CONSTRAINT: ${unfit}; not coordinated`)
      }, term)
      term.unfit = key
      return
    }
    if (s === undefined) return
    term.unfit = undefined
    await this.drainInbox(term)
    const { agents, truncated, key } = this.queryTeam()
    this.team = new Set(agents.map(a => a.id))
    this.teamViews = agents
    if (s.version !== term.version || key !== term.team) {
      const trigger = term.version < 0 ? 'takeover' : s.version !== term.version ? 'value' : 'team'
      const done = await this.coordinateRound(s, agents, truncated, trigger, term.value, signal, term.fence)
      if (!done) return
      term.version = s.version
      term.team = key
      this.teamKey = key
      term.value = s.value
      this.version = s.version
    }
    if (this.o.adapt !== undefined && this.adaptDue(term)) {
      term.lastAdaptAt = this.now()
      if (await this.adaptRound(s, signal, term.fence)) this.waker.kick()
    }
  }

  /** The affected agents now (sorted by id), from the local registry replica. */
  private queryTeam (): { agents: AgentView[], truncated: boolean, key: string } {
    const limit = Math.min(this.o.affects.limit ?? AFFECTED_AGENTS_MAX, AFFECTED_AGENTS_MAX)
    const r = this.c.query({ ...this.o.affects, reachableOnly: this.o.affects.reachableOnly ?? true, limit })
    const agents = [...r.agents].sort((a, b) => a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
    return { agents, truncated: r.truncated, key: agents.map(a => a.id).join('\n') }
  }

  private adaptDue (term: Term<T>): boolean {
    if (this.adaptOutcomes !== undefined && this.window.outcomes >= this.adaptOutcomes) return true
    return this.adaptMs !== undefined && this.window.size > 0 && this.now() - term.lastAdaptAt >= this.adaptMs
  }

  /** Takes the metrics reported on other peers since the last look (on taking office: only later ones). */
  private async drainInbox (term: Term<T>): Promise<void> {
    const inbox = asInbox(await this.inbox.get())
    const seq = inbox?.seq ?? 0
    if (term.inboxSeq !== undefined) {
      for (const it of inbox?.items ?? []) {
        if (it.seq > term.inboxSeq) this.push({ version: this.version, ...it.m, at: this.now() } as Metric)
      }
    }
    term.inboxSeq = seq
  }

  /** One coordination round; false when it was cut short by the loss of the duty. */
  private async coordinateRound (s: OrchestratedState<T>, agents: readonly AgentView[], truncated: boolean, trigger: CoordinationEntry['trigger'], previous: T | undefined, signal: AbortSignal, fence?: Fence): Promise<boolean> {
    let instructions = new Map<string, unknown>()
    let error: string | undefined
    try {
      const r = this.o.coordinate === undefined ? undefined : await this.o.coordinate(s.value, agents, { variable: this.name, version: s.version, trigger, signal, ...(previous !== undefined ? { previous } : {}) })
      instructions = toInstructions(r, agents, s.value)
    } catch (err) {
      if (signal.aborted) return false
      error = shortReason(`${errorCode(err) === 'ERR_DELIVERY' ? '' : errorCode(err) + ': '}${(err as Error)?.message ?? String(err)}`)
    }
    if (signal.aborted) return false
    // Still the newest holder of the lock (else ERR_FENCED ends the term): then deliver.
    if (fence !== undefined) await this.ownerKey.compareAndSet(await this.ownerKey.get() ?? null, { peer: this.c.self, token: fence.token }, { fence })
    const jobs: Array<[string, unknown]> = []
    const outcomes: DeliveryOutcome[] = []
    for (const [agent, instruction] of instructions) {
      if (this.team.has(agent)) jobs.push([agent, instruction])
      else outcomes.push({ agent: agent.slice(0, 128), ok: false, code: 'ERR_NOT_AFFECTED', attempts: 0, ms: 0 })
    }
    outcomes.push(...await mapBounded(jobs, this.delivery.concurrency, async ([agent, instruction]) =>
      await this.deliverOne(agent, { variable: this.name, version: s.version, value: s.value, instruction, ...(fence !== undefined ? { token: fence.token } : {}) }, signal)))
    if (signal.aborted) return false
    const delivered = outcomes.filter(o => o.ok).length
    const entry: Omit<CoordinationEntry, 'seq'> = {
      kind: 'coordination',
      at: this.now(),
      owner: this.c.self,
      version: s.version,
      value: s.value,
      trigger,
      agents: agents.length,
      instructions: instructions.size,
      delivered,
      failed: outcomes.length - delivered,
      outcomes: listedOutcomes(outcomes),
      ...(error !== undefined ? { error } : {}),
      ...(truncated ? { truncated } : {})
    }
    this.stats.coordinations++
    await this.record(entry, { fence })
    this.emit('orchestration:coordinated', { ...entry, seq: 0 })
    return true
  }

  private async deliverOne (agent: string, payload: InstructionPayload<T>, signal: AbortSignal): Promise<DeliveryOutcome> {
    const t0 = this.now()
    const text = canonicalJson(payload)
    if (text === undefined || Buffer.byteLength(text) > INSTRUCTION_BYTES_MAX) return { agent, ok: false, code: 'ERR_LIMIT_EXCEEDED', attempts: 0, ms: 0 }
    let code = 'ERR_ABORTED'
    let attempts = 0
    while (attempts < this.delivery.attempts && !signal.aborted) {
      if (attempts > 0) await pause(DELIVERY_RETRY_PAUSE_MS, signal)
      attempts++
      const started = this.now()
      this.stats.deliveries++
      try {
        await this.c.deliver(agent, payload, { timeoutMs: this.delivery.timeoutMs, signal: AbortSignal.any([signal, AbortSignal.timeout(this.delivery.timeoutMs)]) })
        this.push({ kind: 'request', agent, ok: true, latencyMs: this.now() - started, version: payload.version, at: this.now() })
        return { agent, ok: true, attempts, ms: this.now() - t0 }
      } catch (err) {
        code = (err as Error)?.name === 'TimeoutError' && errorCode(err) === 'ERR_DELIVERY' ? 'ERR_TIMEOUT' : errorCode(err)
        this.stats.deliveryFailures++
        this.push({ kind: 'request', agent, ok: false, code, latencyMs: this.now() - started, version: payload.version, at: this.now() })
      }
    }
    return { agent, ok: false, code, attempts, ms: this.now() - t0 }
  }

  /** One adaptation round; true when it changed the value. */
  private async adaptRound (s: OrchestratedState<T>, signal: AbortSignal, fence?: Fence): Promise<boolean> {
    const { metrics, dropped } = this.window.take()
    const base = { kind: 'adaptation' as const, owner: this.c.self, version: s.version, value: s.value, metrics: metrics.length, dropped }
    let proposed: T | undefined
    try {
      proposed = await this.o.adapt!(metrics, s.value, { variable: this.name, version: s.version, agents: this.teamViews, constraints: this.constraints, dropped, signal })
    } catch (err) {
      if (signal.aborted) return false
      await this.adapted({ ...base, at: this.now(), outcome: 'error', reason: shortReason((err as Error)?.message ?? String(err)) }, fence)
      return false
    }
    if (signal.aborted) return false
    if (proposed === undefined || sameJson(proposed, s.value)) { this.stats.unchanged++; return false }
    const reason = constraintViolation(this.constraints, proposed)
    const shown = canonicalJson(proposed) !== undefined ? { proposed } : {}
    if (reason !== undefined) {
      await this.adapted({ ...base, ...shown, at: this.now(), outcome: 'refused', reason: shortReason(reason) }, fence)
      return false
    }
    const next: OrchestratedState<T> = { value: proposed, version: s.version + 1, at: this.now(), by: 'adapt', peer: this.c.self }
    const ok = await this.state_.compareAndSet(s, next, fence !== undefined ? { fence } : {})
    await this.adapted({ ...base, ...shown, at: this.now(), outcome: ok ? 'applied' : 'conflict', ...(ok ? { newVersion: next.version } : { reason: 'the value changed meanwhile' }) }, fence)
    return ok
  }

  private async adapted (entry: Omit<AdaptationEntry, 'seq'>, fence: Fence | undefined): Promise<void> {
    this.stats.adaptations++
    await this.record(entry, { fence })
    this.emit('orchestration:adapted', { ...entry, seq: 0 })
  }

  /**
   * Appends to the history in Raft (compare-and-set under the owner's fence; a failure is logged and
   * counted, never thrown, except a refused fence: the owner is stale).
   */
  private async record (entry: NewHistoryEntry, o: { fence?: Fence | undefined }): Promise<void> {
    try {
      for (let i = 0; i < CAS_ATTEMPTS_MAX; i++) {
        const raw = await this.history_.get()
        const cur = asHistory(raw)
        if (await this.history_.compareAndSet(raw ?? null, appendHistory(cur, entry, this.historyMax), o.fence !== undefined ? { fence: o.fence } : {})) return
      }
      throw new ContendedError(`history of ${this.name}`, CAS_ATTEMPTS_MAX)
    } catch (err) {
      if (errorCode(err) === 'ERR_FENCED') throw err
      this.stats.historyErrors++
      this.c.log.warn('history entry not recorded', { variable: this.name, kind: entry.kind, error: (err as Error).message })
    }
  }
}

/** The instructions a coordination function returned, as a Map (undefined: the value for every agent). */
function toInstructions (r: Instructions | undefined, agents: readonly AgentView[], value: unknown): Map<string, unknown> {
  if (r === undefined) return new Map(agents.map(a => [a.id, value]))
  const m = r instanceof Map ? new Map(r as ReadonlyMap<string, unknown>) : r !== null && typeof r === 'object' && !Array.isArray(r) ? new Map(Object.entries(r)) : undefined
  if (m === undefined) throw new InvalidOptionError('coordinate', 'must return a Map or a record of agent id → instruction, or undefined')
  if (m.size > AFFECTED_AGENTS_MAX) throw new AgoraError('ERR_LIMIT_EXCEEDED', `coordinate returned ${m.size} instructions (more than ${AFFECTED_AGENTS_MAX})`)
  for (const k of m.keys()) if (typeof k !== 'string') throw new InvalidOptionError('coordinate', 'instruction keys must be agent ids')
  return m
}

function asState<T> (v: unknown): OrchestratedState<T> | undefined {
  if (v === null || v === undefined) return undefined
  const s = stateOf<T>(v)
  if (s === undefined) throw new AgoraError('ERR_FOREIGN_VALUE', 'the Raft key of an orchestrated variable holds a value it did not write')
  return s
}

/** The state `v` holds; undefined when it is none (nothing written, or a foreign value). */
function stateOf<T> (v: unknown): OrchestratedState<T> | undefined {
  if (v === null || typeof v !== 'object') return undefined
  const s = v as OrchestratedState<T>
  return Number.isSafeInteger(s.version) && s.version >= 1 && 'value' in s ? s : undefined
}

function asInbox (v: unknown): Inbox | undefined {
  if (v === null || typeof v !== 'object') return undefined
  const i = v as Inbox
  return Number.isSafeInteger(i.seq) && Array.isArray(i.items) ? i : undefined
}
