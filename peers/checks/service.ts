/**
 * `peer.checks`: the health checks of this peer's agents (FEATURES I4). The host runs them (they are
 * local to it) and writes their results into the agents' registry entries, which replicate them; every
 * replica shows `health` as the checks' verdict on the agent's own report (crdt/checks.ts), and
 * `unhealthy` while the host itself is unreachable (crdt/agent-view.ts).
 *
 * One scheduler serves every check: a min-heap of deadlines under a single timer (lazily deleted items,
 * compacted when they outnumber the live ones). A TTL check keeps one deadline (its check-in time plus
 * TTL; a check-in moves it without touching the heap, the item re-arms itself when it fires early); an
 * HTTP check one next poll. At most `httpConcurrencyMax` polls run at once; a poll due meanwhile waits in
 * a FIFO (each check at most once). A timer that fires late by more than {@link CHECK_STALL_MS} (this
 * peer's event loop was blocked) moves every TTL deadline by the delay first: the agents could not check
 * in while the host did not listen.
 *
 * Registry writes: when a check's status changes (and on declaration), at once; when only the output or
 * the time of the last result changed, at most once per `outputSyncMs` per agent (Consul's
 * `check_update_interval`): the entry carries the output and time of the last write, `peer.checks.get`
 * the live ones. Agents to write wait in a set (each once: coalesced); one writer takes them in batches
 * of {@link CHECK_WRITE_BATCH_AGENTS_MAX}, each batch one registry transaction, and yields to the event
 * loop between batches.
 */
import { AgentNotFoundError, InvalidDescriptorError, NotOwnerError } from '../../crdt/errors.js'
import { CHECK_OUTPUT_CHARS_MAX, truncateOutput } from '../../crdt/checks.js'
import type { CheckStatus, StoredCheck } from '../../crdt/checks.js'
import type { ReplicatedRegistry } from '../../crdt/registry.js'
import type { AgentInput, AgentView, Health } from '../../crdt/types.js'
import { CheckState } from '../../protocols/infrastructure/health-check.js'
import { MinHeap } from '../../src/base/heap.js'
import { InvalidOptionError, LimitExceededError } from '../../src/base/errors.js'
import { TypedEmitter } from '../../src/base/events.js'
import type { Logger } from '../../src/base/log.js'
import { HTTP_CHECK_BODY_BYTES_MAX, definitionOf, httpResult, resolveChecks } from './definition.js'
import type { CheckDefinition, ResolvedCheck, ResolvedHttpCheck } from './definition.js'
import { CheckKindError, CheckNotFoundError, InvalidCheckError } from './errors.js'

/** Checks one peer runs at once (all its agents). */
export const CHECKS_PER_PEER_MAX = 10_000
/** Default of `httpConcurrencyMax`: HTTP polls in flight at once. */
export const HTTP_CHECKS_CONCURRENT_DEFAULT = 16
/** Default of `outputSyncMs`. */
export const OUTPUT_SYNC_MS_DEFAULT = 60_000
/** A timer this late means the event loop was blocked: TTL deadlines move by the delay. */
export const CHECK_STALL_MS = 1000
/** Output kept on the entry, per check, when full outputs would pass `descriptorBytesMax` (then none). */
const OUTPUT_FALLBACK_CHARS = 32
/** Cancelled heap items beyond which the heap is rebuilt from the live ones (and beyond half of it). */
const HEAP_GARBAGE_MIN = 64
/**
 * Agents whose results go into one registry transaction; between two batches the writer yields to the
 * event loop, so a mass change (every agent of a host hung at once) never blocks it for long.
 */
export const CHECK_WRITE_BATCH_AGENTS_MAX = 256

export interface PeerChecksOptions {
  /** Hosts HTTP checks may poll besides loopback (`*`: any). Default none. */
  allowHosts?: readonly string[]
  /** HTTP polls in flight at once. Default {@link HTTP_CHECKS_CONCURRENT_DEFAULT}. */
  httpConcurrencyMax?: number
  /** Least time between two writes of an agent's entry for output-only changes. Default {@link OUTPUT_SYNC_MS_DEFAULT}. */
  outputSyncMs?: number
  /** Checks this peer runs. Default {@link CHECKS_PER_PEER_MAX}. */
  checksMax?: number
}

/** Timers, injectable for tests. */
export interface CheckTimers {
  set: (fn: () => void, ms: number) => unknown
  clear: (handle: unknown) => void
}

export interface PeerChecksComponents {
  registry: ReplicatedRegistry
  log?: Logger
  /** Wall clock (ms): deadlines and the results' times. Default Date.now. */
  now?: () => number
  timers?: CheckTimers
  /** The HTTP client of HTTP checks. Default globalThis.fetch. */
  fetch?: typeof fetch
}

/** A check of a local agent, live (`peer.checks.get`). */
export interface CheckView {
  agent: string
  id: string
  kind: 'ttl' | 'http'
  /** The damped status (what drives the agent's health). */
  status: CheckStatus
  /** The last result's status. */
  last: CheckStatus
  output: string
  /** Time of the last result (ms). */
  at: number
  /** Time of the last change of status (ms). */
  since: number
  /** Results worse / better than the status in a row (toward a change). */
  failures: number
  successes: number
  /** TTL: when it expires without a check-in. HTTP: the next poll (undefined while one runs or waits). */
  dueAt: number | undefined
  definition: CheckDefinition
}

export interface CheckEvent {
  agent: string
  check: string
  kind: 'ttl' | 'http'
  status: CheckStatus
  previous: CheckStatus
  output: string
  at: number
}

export interface PeerChecksEventMap extends Record<string, unknown> {
  'check:passing': CheckEvent
  'check:warning': CheckEvent
  'check:critical': CheckEvent
  /** A local agent's health changed through its checks (its entry was written). */
  'agent:health': { agent: string, health: Health, previous: Health | undefined, view: AgentView }
  /** An agent's check definitions changed (`checks` empty: it has none any more). */
  'checks:declared': { agent: string, checks: CheckDefinition[] }
}

export interface PeerChecksStats {
  checks: number
  byStatus: Record<CheckStatus, number>
  byKind: { ttl: number, http: number }
  /** Results by status (check-ins, polls, expiries). */
  results: Record<CheckStatus, number>
  /** TTL checks that ran out. */
  expired: number
  httpInFlight: number
  /** HTTP polls due and waiting for a slot. */
  httpWaiting: number
  /** Registry writes of check results, and the failed ones. */
  writes: number
  writeErrors: number
}

interface Due { at: number, seq: number, fire: () => void, cancelled: boolean }

interface AgentEntry {
  id: string
  checks: Map<string, LiveCheck>
  outputDirty: boolean
  lastWriteAt: number
  sync: Due | undefined
  closed: boolean
}

interface LiveCheck {
  agent: AgentEntry
  def: ResolvedCheck
  state: CheckState
  /** TTL: the check-in deadline. HTTP: the next poll. */
  deadline: number
  item: Due | undefined
  running: AbortController | undefined
  waiting: boolean
  removed: boolean
}

const before = (a: Due, b: Due): boolean => a.at < b.at || (a.at === b.at && a.seq < b.seq)
const STATUS_RESULT = { pass: 'passing', warn: 'warning', fail: 'critical' } as const

export class PeerChecks extends TypedEmitter<PeerChecksEventMap> {
  private readonly registry: ReplicatedRegistry
  private readonly log: Logger | undefined
  private readonly now: () => number
  private readonly timers: CheckTimers
  private readonly fetch: typeof fetch
  readonly allowHosts: readonly string[]
  readonly httpConcurrencyMax: number
  readonly outputSyncMs: number
  readonly checksMax: number
  private readonly agents = new Map<string, AgentEntry>()
  private count = 0
  /** Checks of registrations being written (counted against checksMax). */
  private reserved = 0
  private heap = new MinHeap<Due>(before)
  private garbage = 0
  private seq = 0
  private timer: unknown
  private timerAt = 0
  private inFlight = 0
  private readonly waiting: LiveCheck[] = []
  /** Agents whose results wait for the writer (each once), and whether the writer runs. */
  private readonly dirty = new Set<AgentEntry>()
  private flushing = false
  private started = false
  private readonly offs: Array<() => void> = []
  private readonly counters = { results: { passing: 0, warning: 0, critical: 0 }, expired: 0, writes: 0, writeErrors: 0 }

  constructor (components: PeerChecksComponents, options: PeerChecksOptions = {}) {
    super()
    this.registry = components.registry
    this.log = components.log
    this.now = components.now ?? Date.now
    this.timers = components.timers ?? { set: (fn, ms) => setTimeout(fn, ms), clear: (h) => { clearTimeout(h as ReturnType<typeof setTimeout>) } }
    this.fetch = components.fetch ?? globalThis.fetch
    const int = (v: number | undefined, name: string, min: number, max: number, dflt: number): number => {
      if (v === undefined) return dflt
      if (!Number.isSafeInteger(v) || v < min || v > max) throw new InvalidOptionError(`checks.${name}`, `must be an integer in ${min}..${max}`)
      return v
    }
    this.httpConcurrencyMax = int(options.httpConcurrencyMax, 'httpConcurrencyMax', 1, 1024, HTTP_CHECKS_CONCURRENT_DEFAULT)
    this.outputSyncMs = int(options.outputSyncMs, 'outputSyncMs', 0, 24 * 3600 * 1000, OUTPUT_SYNC_MS_DEFAULT)
    this.checksMax = int(options.checksMax, 'checksMax', 1, 1_000_000, CHECKS_PER_PEER_MAX)
    this.allowHosts = [...(options.allowHosts ?? [])]
    // An agent unregistered here takes its checks with it.
    this.offs.push(this.registry.on('agent:left', ({ agent }) => {
      if (agent.host !== this.registry.hostId || !this.agents.has(agent.id) || this.registry.index.claimOf(agent.id, agent.host) !== undefined) return
      this.drop(agent.id)
      this.emit('checks:declared', { agent: agent.id, checks: [] })
    }))
  }

  // ---- lifecycle ---------------------------------------------------------------------------------

  /** Runs the checks (idempotent): TTL checks get a full TTL from now, HTTP checks poll now. */
  start (): void {
    if (this.started) return
    this.started = true
    const now = this.now()
    for (const a of this.agents.values()) for (const c of a.checks.values()) this.arm(c, now)
  }

  /** Stops every timer and poll (idempotent); declarations stay for the next start. */
  stop (): void {
    if (!this.started) return
    this.started = false
    if (this.timer !== undefined) this.timers.clear(this.timer)
    this.timer = undefined
    this.heap.clear()
    this.garbage = 0
    this.waiting.length = 0
    for (const a of this.agents.values()) {
      a.sync = undefined
      for (const c of a.checks.values()) {
        c.item = undefined
        c.waiting = false
        c.running?.abort()
      }
    }
  }

  /** Stops and forgets every check and listener (the peer is going away). */
  close (): void {
    this.stop()
    for (const off of this.offs) off()
    this.offs.length = 0
  }

  // ---- declarations ------------------------------------------------------------------------------

  /**
   * Registers an agent of this peer with its checks, in one registry write: the checks are validated
   * first (nothing is written when one is bad), the entry carries their initial results.
   */
  async register (agent: AgentInput, checks: readonly CheckDefinition[]): Promise<AgentView> {
    const resolved = resolveChecks(checks, this.allowHosts)
    this.checkRoom(undefined, resolved.length)
    const now = this.now()
    // Room held for these checks while the registration is written (concurrent ones count it).
    this.reserved += resolved.length
    let view: AgentView
    try {
      view = await this.registry.register(agent, { checks: resolved.map(d => this.initial(d, undefined, undefined, now)) })
    } finally {
      this.reserved -= resolved.length
    }
    if (resolved.length > 0 && this.registry.index.claimOf(view.id, this.registry.hostId) !== undefined) {
      this.install(view.id, resolved, view, now)
      this.emit('checks:declared', { agent: view.id, checks: resolved.map(definitionOf) })
    }
    return view
  }

  /**
   * Gives an agent of this peer these checks, replacing its earlier ones (none: it has no checks, its
   * health is its own report again). A check that keeps its id and kind keeps its status, also the status
   * its entry carries from before a restart. Resolves once the entry is written.
   */
  async declare (agentId: string, checks: readonly CheckDefinition[]): Promise<AgentView> {
    const current = this.localAgent(agentId)
    const resolved = resolveChecks(checks, this.allowHosts)
    this.checkRoom(agentId, resolved.length)
    // The live checks' states are newer than the entry's (a change may still wait for the writer).
    const live = this.agents.get(agentId)?.checks
    this.drop(agentId)
    const now = this.now()
    const entry = resolved.length > 0 ? this.install(agentId, resolved, current, now, live) : undefined
    this.emit('checks:declared', { agent: agentId, checks: resolved.map(definitionOf) })
    if (entry === undefined) {
      const before = this.registry.index.claimOf(agentId, this.registry.hostId)?.health
      const view = await this.registry.writeChecks(agentId, undefined)
      if (before !== view.health) this.emit('agent:health', { agent: agentId, health: view.health, previous: before, view })
      return view
    }
    this.dirty.delete(entry)
    const [view] = await this.writeBatch([entry])
    return view ?? this.localAgent(agentId)
  }

  /** Removes every check of an agent of this peer; false when it had none. */
  async remove (agentId: string): Promise<boolean> {
    const had = this.agents.has(agentId)
    const entry = this.registry.index.claimOf(agentId, this.registry.hostId)
    if (!had && (entry === undefined || entry.reportedHealth === undefined)) return false
    await this.declare(agentId, [])
    return true
  }

  /** The check definitions of an agent of this peer (empty when none). */
  definitions (agentId: string): CheckDefinition[] {
    return [...(this.agents.get(agentId)?.checks.values() ?? [])].map(c => definitionOf(c.def))
  }

  /** Every local agent with checks, and their definitions. */
  declarations (): Array<{ agent: string, checks: CheckDefinition[] }> {
    return [...this.agents.keys()].map(agent => ({ agent, checks: this.definitions(agent) }))
  }

  // ---- TTL check-ins ------------------------------------------------------------------------------

  /** A TTL check-in: the agent is fine. Returns the check's view. */
  pass (agentId: string, checkId: string, output = ''): CheckView { return this.checkIn(agentId, checkId, 'pass', output) }
  /** A TTL check-in with a warning (the agent is degraded once the warnings stick). */
  warn (agentId: string, checkId: string, output = ''): CheckView { return this.checkIn(agentId, checkId, 'warn', output) }
  /** A TTL check-in with a failure (the agent is unhealthy once the failures stick). */
  fail (agentId: string, checkId: string, output = ''): CheckView { return this.checkIn(agentId, checkId, 'fail', output) }

  private checkIn (agentId: string, checkId: string, result: 'pass' | 'warn' | 'fail', output: unknown): CheckView {
    const c = this.agents.get(agentId)?.checks.get(checkId)
    if (c === undefined) throw new CheckNotFoundError(agentId, checkId)
    if (c.def.kind !== 'ttl') throw new CheckKindError(agentId, checkId, c.def.kind)
    if (typeof output !== 'string') throw new InvalidCheckError('output', 'must be a string')
    const now = this.now()
    c.deadline = now + c.def.ttlMs
    if (this.started && c.item === undefined) c.item = this.schedule(c.deadline, () => { this.fireTtl(c) })
    this.record(c, STATUS_RESULT[result], cleanOutput(output), now)
    return this.view(c)
  }

  // ---- reads -------------------------------------------------------------------------------------

  /** The live checks of an agent of this peer (undefined when it has none here). */
  get (agentId: string): CheckView[] | undefined {
    const a = this.agents.get(agentId)
    return a === undefined ? undefined : [...a.checks.values()].map(c => this.view(c))
  }

  /** Every live check of this peer, optionally only those of one status. */
  list (status?: CheckStatus): CheckView[] {
    const out: CheckView[] = []
    for (const a of this.agents.values()) for (const c of a.checks.values()) if (status === undefined || c.state.status === status) out.push(this.view(c))
    return out
  }

  stats (): PeerChecksStats {
    const byStatus = { passing: 0, warning: 0, critical: 0 }
    const byKind = { ttl: 0, http: 0 }
    for (const a of this.agents.values()) {
      for (const c of a.checks.values()) { byStatus[c.state.status]++; byKind[c.def.kind]++ }
    }
    return { checks: this.count, byStatus, byKind, results: { ...this.counters.results }, expired: this.counters.expired, httpInFlight: this.inFlight, httpWaiting: this.waiting.length, writes: this.counters.writes, writeErrors: this.counters.writeErrors }
  }

  private view (c: LiveCheck): CheckView {
    const s = c.state
    const dueAt = c.def.kind === 'ttl' ? c.deadline : c.item !== undefined ? c.item.at : undefined
    return { agent: c.agent.id, id: c.def.id, kind: c.def.kind, status: s.status, last: s.last, output: s.output, at: s.at, since: s.since, failures: s.failures, successes: s.successes, dueAt, definition: definitionOf(c.def) }
  }

  // ---- internals: declarations --------------------------------------------------------------------

  private localAgent (agentId: string): AgentView {
    const mine = this.registry.index.claimOf(agentId, this.registry.hostId)
    if (mine !== undefined) return mine
    const other = this.registry.lookup(agentId)
    if (other !== undefined) throw new NotOwnerError(agentId, other.host)
    throw new AgentNotFoundError(agentId)
  }

  private checkRoom (agentId: string | undefined, n: number): void {
    const after = this.count + this.reserved - (agentId !== undefined ? this.agents.get(agentId)?.checks.size ?? 0 : 0) + n
    if (after > this.checksMax) throw new LimitExceededError('CHECKS_PER_PEER_MAX', this.checksMax, after, 'checks on this peer')
  }

  /**
   * A check's first result: the state of the live check it replaces (same id and kind), else its status
   * on the entry (same id and kind), else its initial status.
   */
  private initial (d: ResolvedCheck, current: AgentView | undefined, live: Map<string, LiveCheck> | undefined, now: number): StoredCheck {
    const was = live?.get(d.id)
    if (was !== undefined && was.def.kind === d.kind) return { id: d.id, kind: d.kind, status: was.state.status, output: was.state.output, at: Math.floor(was.state.at) }
    const kept = current?.checks.find(c => c.id === d.id && c.kind === d.kind)
    return kept !== undefined ? { ...kept } : { id: d.id, kind: d.kind, status: d.initialStatus, output: '', at: Math.floor(now) }
  }

  private install (agentId: string, resolved: ResolvedCheck[], current: AgentView | undefined, now: number, live?: Map<string, LiveCheck>): AgentEntry {
    const entry: AgentEntry = { id: agentId, checks: new Map(), outputDirty: false, lastWriteAt: now, sync: undefined, closed: false }
    for (const d of resolved) {
      const first = this.initial(d, current, live, now)
      const c: LiveCheck = { agent: entry, def: d, state: new CheckState(d.damping, first.status, first.at, first.output), deadline: now, item: undefined, running: undefined, waiting: false, removed: false }
      entry.checks.set(d.id, c)
      if (this.started) this.arm(c, now)
    }
    this.agents.set(agentId, entry)
    this.count += entry.checks.size
    return entry
  }

  /** Forgets an agent's checks (timers, polls); its entry is left as it is. */
  private drop (agentId: string): void {
    const a = this.agents.get(agentId)
    if (a === undefined) return
    a.closed = true
    this.dirty.delete(a)
    this.cancel(a.sync)
    for (const c of a.checks.values()) {
      c.removed = true
      this.cancel(c.item)
      c.item = undefined
      c.running?.abort()
    }
    this.count -= a.checks.size
    this.agents.delete(agentId)
    this.rearm()
  }

  // ---- internals: scheduling ----------------------------------------------------------------------

  private arm (c: LiveCheck, now: number): void {
    if (c.def.kind === 'ttl') {
      c.deadline = now + c.def.ttlMs
      c.item = this.schedule(c.deadline, () => { this.fireTtl(c) })
    } else {
      c.deadline = now
      c.item = this.schedule(now, () => { this.fireHttp(c) })
    }
  }

  private schedule (at: number, fire: () => void): Due {
    const d: Due = { at, seq: this.seq++, fire, cancelled: false }
    this.heap.push(d)
    this.rearm()
    return d
  }

  private cancel (d: Due | undefined): void {
    if (d === undefined || d.cancelled) return
    d.cancelled = true
    this.garbage++
    if (this.garbage > HEAP_GARBAGE_MIN && this.garbage * 2 > this.heap.size) {
      const live: Due[] = []
      for (let x = this.heap.pop(); x !== undefined; x = this.heap.pop()) if (!x.cancelled) live.push(x)
      this.heap = new MinHeap<Due>(before)
      for (const x of live) this.heap.push(x)
      this.garbage = 0
    }
  }

  /** Points the one timer at the earliest live deadline. */
  private rearm (): void {
    if (!this.started) return
    let top = this.heap.peek()
    while (top !== undefined && top.cancelled) { this.heap.pop(); this.garbage--; top = this.heap.peek() }
    if (top === undefined) {
      if (this.timer !== undefined) this.timers.clear(this.timer)
      this.timer = undefined
      return
    }
    if (this.timer !== undefined && this.timerAt === top.at) return
    if (this.timer !== undefined) this.timers.clear(this.timer)
    this.timerAt = top.at
    this.timer = this.timers.set(() => { this.onTimer() }, Math.max(0, top.at - this.now()))
    ;(this.timer as { unref?: () => void }).unref?.()
  }

  private onTimer (): void {
    this.timer = undefined
    if (!this.started) return
    const now = this.now()
    const late = now - this.timerAt
    if (late > CHECK_STALL_MS) this.stalled(late)
    for (let top = this.heap.peek(); top !== undefined && top.at <= now; top = this.heap.peek()) {
      this.heap.pop()
      if (top.cancelled) { this.garbage--; continue }
      top.fire()
    }
    this.rearm()
  }

  /**
   * This peer did not listen for `ms`: TTL deadlines move by as much (no agent could check in), and to at
   * least {@link CHECK_STALL_MS} from now, so the check-ins that waited in the sockets meanwhile (read after
   * this timer) count before any TTL is judged.
   */
  private stalled (ms: number): void {
    this.log?.warn('health checks: the event loop was blocked; TTL deadlines moved by the delay', { ms })
    const floor = this.now() + CHECK_STALL_MS
    for (const a of this.agents.values()) for (const c of a.checks.values()) if (c.def.kind === 'ttl') c.deadline = Math.max(c.deadline + ms, floor)
  }

  private fireTtl (c: LiveCheck): void {
    c.item = undefined
    if (c.removed || c.def.kind !== 'ttl') return
    const now = this.now()
    if (now < c.deadline) { c.item = this.schedule(c.deadline, () => { this.fireTtl(c) }); return }
    this.counters.expired++
    this.counters.results.critical++
    const prev = c.state.expire(`TTL of ${c.def.ttlMs} ms expired: no check-in since ${new Date(c.deadline - c.def.ttlMs).toISOString()}`, now)
    this.changed(c, prev)
  }

  private fireHttp (c: LiveCheck): void {
    c.item = undefined
    if (c.removed) return
    if (this.inFlight >= this.httpConcurrencyMax) {
      if (!c.waiting) { c.waiting = true; this.waiting.push(c) }
      return
    }
    void this.poll(c)
  }

  private async poll (c: LiveCheck): Promise<void> {
    const d = c.def as ResolvedHttpCheck
    this.inFlight++
    const ac = new AbortController()
    c.running = ac
    let timedOut = false
    const timeout = this.timers.set(() => { timedOut = true; ac.abort() }, d.timeoutMs)
    let r: { status: CheckStatus, output: string }
    try {
      const res = await this.fetch(d.url, { method: d.method, redirect: 'manual', signal: ac.signal, headers: { 'user-agent': 'agora-mesh health check' } })
      const body = d.method === 'HEAD' ? '' : await readStart(res, HTTP_CHECK_BODY_BYTES_MAX)
      r = httpResult(d.method, d.url, res.status, res.statusText, body)
    } catch (err) {
      const why = timedOut ? `timed out after ${d.timeoutMs} ms` : errorText(err)
      r = { status: 'critical', output: truncateOutput(`HTTP ${d.method} ${d.url}: ${why}`) }
    } finally {
      this.timers.clear(timeout)
      this.inFlight--
      c.running = undefined
    }
    if (this.started && !c.removed) {
      const now = this.now()
      this.record(c, r.status, r.output, now)
      c.deadline = now + d.intervalMs
      c.item = this.schedule(c.deadline, () => { this.fireHttp(c) })
    }
    this.pump()
  }

  /** Starts waiting polls while slots are free. */
  private pump (): void {
    while (this.started && this.inFlight < this.httpConcurrencyMax && this.waiting.length > 0) {
      const c = this.waiting.shift()!
      c.waiting = false
      if (!c.removed) void this.poll(c)
    }
  }

  // ---- internals: results and writes --------------------------------------------------------------

  private record (c: LiveCheck, status: CheckStatus, output: string, now: number): void {
    this.counters.results[status]++
    this.changed(c, c.state.result(status, output, now))
  }

  /** After a result: a change of status is written at once, an output-only change within outputSyncMs. */
  private changed (c: LiveCheck, previous: CheckStatus | undefined): void {
    const a = c.agent
    if (previous !== undefined) {
      const s = c.state
      this.emit(`check:${s.status}`, { agent: a.id, check: c.def.id, kind: c.def.kind, status: s.status, previous, output: s.output, at: s.at })
      this.markDirty(a)
      return
    }
    a.outputDirty = true
    const due = a.lastWriteAt + this.outputSyncMs
    if (this.now() >= due) { this.markDirty(a); return }
    if (a.sync === undefined && this.started) {
      a.sync = this.schedule(due, () => { a.sync = undefined; if (a.outputDirty) this.markDirty(a) })
    }
  }

  /** Queues an agent's results for the writer (once), and wakes the writer. */
  private markDirty (a: AgentEntry): void {
    if (a.closed) return
    this.dirty.add(a)
    if (this.flushing) return
    this.flushing = true
    setImmediate(() => { void this.flush() })
  }

  /** The writer: batches of {@link CHECK_WRITE_BATCH_AGENTS_MAX} agents, yielding between them. */
  private async flush (): Promise<void> {
    try {
      while (this.dirty.size > 0) {
        const batch: AgentEntry[] = []
        for (const a of this.dirty) {
          batch.push(a)
          if (batch.length >= CHECK_WRITE_BATCH_AGENTS_MAX) break
        }
        for (const a of batch) this.dirty.delete(a)
        await this.writeBatch(batch)
        if (this.dirty.size > 0) await new Promise(resolve => setImmediate(resolve))
      }
    } finally {
      this.flushing = false
    }
  }

  /** The entry's check results now; outputs cut to `outputChars`. */
  private results (a: AgentEntry, outputChars: number): StoredCheck[] {
    return [...a.checks.values()].map(c => ({ id: c.def.id, kind: c.def.kind, status: c.state.status, output: truncateOutput(c.state.output, outputChars), at: Math.max(0, Math.floor(c.state.at)) }))
  }

  /**
   * Writes the agents' results in one registry transaction (outputs cut shorter, then dropped, for an
   * agent whose full results would pass `descriptorBytesMax`) and tells who changed health. Returns each
   * agent's view, or undefined where its write failed (logged and counted; an agent gone is dropped).
   */
  private async writeBatch (batch: AgentEntry[]): Promise<Array<AgentView | undefined>> {
    const now = this.now()
    const live = batch.filter(a => !a.closed)
    const before = new Map<AgentEntry, Health | undefined>()
    for (const a of live) {
      a.outputDirty = false
      a.lastWriteAt = now
      this.cancel(a.sync)
      a.sync = undefined
      before.set(a, this.registry.index.claimOf(a.id, this.registry.hostId)?.health)
    }
    const views = new Map<AgentEntry, AgentView>()
    let pending = live
    for (const chars of [CHECK_OUTPUT_CHARS_MAX, OUTPUT_FALLBACK_CHARS, 0]) {
      if (pending.length === 0) break
      let results: Array<AgentView | Error>
      try {
        results = await this.registry.writeChecksMany(pending.map(a => ({ id: a.id, checks: this.results(a, chars) })))
      } catch (err) {
        this.counters.writeErrors += pending.length
        this.log?.warn('health checks: cannot write check results', { agents: pending.length, error: (err as Error).message })
        break
      }
      const tooBig: AgentEntry[] = []
      results.forEach((r, i) => {
        const a = pending[i]!
        if (!(r instanceof Error)) { views.set(a, r); return }
        if (r instanceof InvalidDescriptorError && (r.details as { path?: unknown }).path === '' && chars > 0) { tooBig.push(a); return }
        this.counters.writeErrors++
        if (r instanceof AgentNotFoundError) { this.drop(a.id); return }
        this.log?.warn('health checks: cannot write an agent\'s check results', { agent: a.id, error: r.message })
      })
      pending = tooBig
    }
    for (const [a, view] of views) {
      this.counters.writes++
      const previous = before.get(a)
      if (view.health !== previous) this.emit('agent:health', { agent: a.id, health: view.health, previous, view })
    }
    return batch.map(a => views.get(a))
  }
}

/** An output given by an agent: cut to the stored length, lone surrogates replaced (well-formed). */
function cleanOutput (s: string): string {
  return truncateOutput((s as unknown as { toWellFormed: () => string }).toWellFormed())
}

function errorText (err: unknown): string {
  const e = err as { message?: unknown, cause?: { message?: unknown, code?: unknown } }
  const cause = e.cause !== undefined && e.cause !== null ? `: ${String(e.cause.code ?? e.cause.message ?? '')}` : ''
  return `${String(e.message ?? err)}${cause}`
}

/** The first `max` bytes of a response's body as text (the rest is not read). */
async function readStart (res: Response, max: number): Promise<string> {
  if (res.body === null) return ''
  const reader = res.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  try {
    while (size < max) {
      const { done, value } = await reader.read()
      if (done) break
      chunks.push(value)
      size += value.length
    }
  } finally {
    await reader.cancel().catch(() => {})
  }
  return new TextDecoder().decode(Buffer.concat(chunks).subarray(0, max)).trim()
}
