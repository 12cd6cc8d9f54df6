/**
 * `peer.tasks`: durable tasks on the Raft group (protocols/tasks). A task is recorded by a `submit` entry
 * and given to an agent by an `assign` entry; the agent's host runs the agent's `onTask` handler
 * (peer.agents) and records the outcome with `complete` or `fail`. The machine decides everything that
 * must not diverge (which attempt is current, timeouts, reassignment after a host's lease ended, exactly
 * one completion); this service does the live work around it:
 *
 * - **Dispatch.** The submitting peer assigns its task's first attempt at once (it holds it alone for
 *   `TASK_TAKEOVER_MS` of log time). The Raft leader's peer assigns every task waiting past that, and every
 *   reassigned task, so tasks of a submitter that died still run. Agents are chosen from the registry:
 *   the named agent, or healthy reachable agents with the capability / matching the query, by
 *   `least-loaded` (live tasks per agent in the log on members, plus the
 *   assignments in flight from this dispatcher, then the agent's load), `round-robin`, or `auction`
 *   (the submitter runs an auction among them; reassignments fall back to least-loaded). An agent whose
 *   attempt ended without completing is avoided while another candidate exists.
 * - **Work.** The host of an assigned agent learns of the attempt from its replica (members) or from a
 *   `task` hint over the agents' channel (others; the hint is checked against the log), runs `onTask`,
 *   acks under its session lease if the handler is still running after {@link ACK_AFTER_MS} (so the loss
 *   of the host reassigns the task once its lease expires), and proposes `complete` or `fail`.
 * - **Batching.** Commands of one kind and one turn travel in one `task.batch` entry (one signature, one
 *   Raft round), at most {@link TASK_BATCH_OPS_MAX} each, at most {@link BATCHES_INFLIGHT_MAX} in flight.
 */
import { AgoraError, InvalidOptionError, LimitExceededError, TimeoutError } from '../../src/base/errors.js'
import { TypedEmitter } from '../../src/base/events.js'
import { isWellFormed, plainJsonProblem, describeJsonProblem } from '../../src/base/input.js'
import type { Logger } from '../../src/base/log.js'
import type { AgentView, QueryCriteria } from '../../crdt/types.js'
import { COMMAND_BYTES_MAX, encodeTaskCommand } from '../../protocols/mesh/application.js'
import { TASK_BATCH_OPS_MAX, TASK_LIMITS, TASK_TAKEOVER_MS, type Allocation, type TaskCommand, type TaskEvent, type TaskState, type TaskTarget, type TaskView } from '../../protocols/tasks/types.js'
import { NoRaftError } from '../raft/errors.js'
import type { PeerAgents } from '../agents/service.js'
import type { PeerCoordination } from '../coordination/service.js'
import type { PeerEconomy } from '../economy/economy.js'
import type { TaskInfo, TaskListFilter, TaskSpec } from '../agents/types.js'
import type { TasksBackend } from './backend.js'

/**
 * Bytes of one task command as proposed (a batch's ops together): below the mesh application's
 * COMMAND_BYTES_MAX, with room for the tag, so a batch can never become an entry the group refuses.
 */
export const TASK_COMMAND_BYTES_MAX = COMMAND_BYTES_MAX - 1024
/** Batches of task commands in flight at once from one peer. */
export const BATCHES_INFLIGHT_MAX = 4
/** Task commands waiting to be batched on one peer (beyond: `ERR_LIMIT_EXCEEDED` at once). */
export const TASK_QUEUE_MAX = 20_000
/** A handler still running this long after it started gets its attempt acked under the session lease. */
export const ACK_AFTER_MS = 200
/** Attempts this peer runs at once (beyond: not started; the machine reassigns them after their ack window). */
export const RUNNING_MAX = 10_000
/** Tasks waiting for an agent on this peer's dispatcher. */
export const DISPATCH_QUEUE_MAX = 100_000
/** How often the leader's dispatcher sweeps the log for tasks waiting past their takeover time. */
export const SWEEP_MS = 500
/** Time a dispatcher gives a non-member host to take a task hint. */
export const HINT_TIMEOUT_MS = 2000
/** First and longest pause before an attempt's outcome is proposed again (until the attempt's deadline). */
export const OUTCOME_RETRY_MS = 200
export const OUTCOME_RETRY_PAUSE_MAX_MS = 5000
/** Task hints one remote peer may send a second (each may cost a linearizable read), and peers tracked. */
export const HINTS_PER_PEER_PER_SEC = 1000
const HINT_QUOTA_PEERS_MAX = 10_000
/** (task, attempt) hints remembered as checked. */
const HINTED_REMEMBERED_MAX = 10_000
/** Task hints in flight to one host (within its per-peer inbound quota of the agents' channel). */
export const HINTS_INFLIGHT_MAX = 64
/** Progress reports of one attempt are coalesced to one per this long. */
export const PROGRESS_EVERY_MS = 250
/** Default bidding time of a task auction (allocation `auction`). */
export const TASK_AUCTION_MS = 1000
/** Candidates considered for one assignment. */
const CANDIDATES_MAX = 1000
/** Task records a peer outside the group reads for one `list()` (each is a linearizable read). */
export const LIST_READS_MAX = 2000
/** How long, and for how many agents at most, a dispatcher avoids an agent whose assignment was refused. */
const AVOID_MS = 5000
const AVOID_MAX = 10_000
/** Longest wait of `wait()`. */
export const TASK_WAIT_MS_MAX = 3_600_000
/** Longest single watch round of `wait()`. */
const WATCH_ROUND_MS = 25_000

export interface PeerTasksEvents extends Record<string, unknown> {
  'task:submitted': TaskEvent & { type: 'task:submitted' }
  'task:assigned': TaskEvent & { type: 'task:assigned' }
  'task:acked': TaskEvent & { type: 'task:acked' }
  'task:progress': TaskEvent & { type: 'task:progress' }
  'task:completed': TaskEvent & { type: 'task:completed' }
  'task:failed': TaskEvent & { type: 'task:failed' }
  'task:reassigned': TaskEvent & { type: 'task:reassigned' }
  'task:cancelled': TaskEvent & { type: 'task:cancelled' }
}

/** A failed task command (the machine's refusal code: `ERR_TASK_NOT_FOUND`, `ERR_STALE_ATTEMPT`, `ERR_NOT_OWNER`...). */
export class TaskError extends AgoraError {
  static override readonly name = 'TaskError'
}

interface Ctx {
  self: string
  log: Logger
  agents: PeerAgents
  coordination: PeerCoordination
  economy: PeerEconomy
  lookup: (id: string) => AgentView | undefined
  query: (q: QueryCriteria) => { agents: readonly AgentView[] }
  isMember: (peerId: string) => boolean
  /** Asked before a submit: throws to refuse it (the peer's `proposals` rate limit). */
  admit?: (what: string) => void
}

/** An attempt running here: its handler's signal, and whether the log ended it (then its outcome is not proposed). */
interface Run { controller: AbortController, superseded: boolean }

interface Queued { op: TaskCommand, bytes: number, resolve: (r: Record<string, unknown>) => void, reject: (err: Error) => void }

type Op = Record<string, unknown> & { ok?: boolean, code?: string, message?: string }

export class PeerTasks extends TypedEmitter<PeerTasksEvents> {
  private backend: TasksBackend | undefined
  private offEvents: (() => void) | undefined
  private readonly queue: Queued[] = []
  private inflight = 0
  private flushing = false
  /** Tasks this peer may assign: id → the attempt it would give. */
  private readonly toDispatch = new Map<number, { attempt: number, first: boolean }>()
  private dispatching = false
  /** Round-robin cursors per target. */
  private readonly cursors = new Map<string, number>()
  /** Assignments chosen here whose entry is not applied yet, per agent (least-loaded counts them). */
  private readonly reserved = new Map<string, number>()
  /** Attempts running here, by `task/attempt`. */
  private readonly running = new Map<string, Run>()
  /** (task, attempt) hints already checked here (oldest forgotten). */
  private readonly hinted = new Set<string>()
  /** Task hints each remote peer may still send this second. */
  private readonly hintQuota = new RateQuota(HINTS_PER_PEER_PER_SEC, HINT_QUOTA_PEERS_MAX)
  /** Task hints to hosts outside the group: in flight and waiting, per host. */
  private readonly hints = new Map<string, { inflight: number, queue: Array<{ task: number, attempt: number, agent: string }> }>()
  /** Tasks whose assign this peer proposed and has no answer for yet. */
  private readonly assigning = new Set<number>()
  /** Agents an assignment was refused for lately (host mismatch, budget), until when (ms). */
  private readonly avoid = new Map<string, number>()
  /** Where the leader's next sweep starts (a task id). */
  private sweepAfter = 0
  private sweepTimer: ReturnType<typeof setInterval> | undefined
  private started = false
  readonly stats = { submitted: 0, assigned: 0, hinted: 0, ran: 0, completed: 0, failed: 0, batches: 0, ops: 0, auctions: 0, refusedRunning: 0, outcomeRetries: 0, outcomesLost: 0, hintsRefused: 0 }

  constructor (private readonly ctx: Ctx) {
    super()
    ctx.agents.setTaskHooks({ hint: async (f, from) => await this.onHint(f, from) })
  }

  /** @internal Where commands go; on members, the replica's events drive dispatch and work. */
  setBackend (b: TasksBackend): void {
    this.offEvents?.()
    this.backend = b
    this.offEvents = b.local?.on((e) => { this.onEvent(e) })
  }

  start (): void {
    if (this.started) return
    this.started = true
    this.sweepTimer = setInterval(() => {
      void this.sweep().catch((err: Error) => { this.ctx.log.debug('task sweep failed', { error: err?.message }) })
    }, SWEEP_MS)
    this.sweepTimer.unref?.()
  }

  stop (): void {
    if (!this.started) return
    this.started = false
    clearInterval(this.sweepTimer)
    for (const r of this.running.values()) r.controller.abort(new AgoraError('ERR_STOPPED', 'the peer stopped'))
    this.running.clear()
    this.toDispatch.clear()
    for (const h of this.hints.values()) h.queue.length = 0
  }

  // ---------------------------------------------------------------- API

  /** Records a task in the log (linearizable) and starts its dispatch; resolves with its id. */
  async submit (spec: TaskSpec): Promise<{ id: number, created: boolean }> {
    const op = submitOp(spec)
    this.ctx.admit?.('task.submit')
    const r = await this.run(op)
    const id = r.task as number
    this.stats.submitted++
    if (r.created === true) this.queueDispatch(id, 1, true)
    else void this.kickIfWaiting(id)
    return { id, created: r.created === true }
  }

  /** The task as the log has it (linearizable); undefined when unknown or forgotten. */
  async get (id: number): Promise<TaskInfo | undefined> {
    checkTaskId(id)
    const raw = await this.need().read(`task:${id}`)
    return raw === undefined ? undefined : infoOf(JSON.parse(raw) as TaskView)
  }

  /**
   * Tasks by state (default: all), agent and capability; at most `limit` (default and max 1000), oldest
   * first. Outside the Raft group, at most {@link LIST_READS_MAX} records are examined.
   */
  async list (filter: TaskListFilter = {}): Promise<TaskInfo[]> {
    const limit = filter.limit ?? TASK_LIMITS.listPageMax
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > TASK_LIMITS.listPageMax) throw new InvalidOptionError('limit', `must be an integer in 1..${TASK_LIMITS.listPageMax}`)
    if (filter.state !== undefined && !['submitted', 'assigned', 'completed', 'failed', 'cancelled'].includes(filter.state)) throw new InvalidOptionError('state', 'must be a task state')
    const b = this.need()
    const out: TaskInfo[] = []
    const keep = (v: TaskView): boolean => (filter.agent === undefined || v.agent === filter.agent) &&
      (filter.capability === undefined || ('capability' in v.target && v.target.capability === filter.capability))
    let after = 0
    // Outside the group every record is a linearizable read: a filtered list reads at most LIST_READS_MAX.
    let reads = 0
    for (let pages = 0; pages < 100 && out.length < limit && reads < LIST_READS_MAX; pages++) {
      const raw = await b.read(`tasks:${filter.state ?? 'all'}@${after}`)
      const ids = raw === undefined ? [] : JSON.parse(raw) as number[]
      if (ids.length === 0) break
      const m = b.local?.machine()
      for (const id of ids) {
        if (m === undefined && ++reads > LIST_READS_MAX) break
        const v = m !== undefined ? m.get(id) : await this.get(id).then(i => i?.record)
        if (v !== undefined && keep(v)) out.push(infoOf(v))
        if (out.length >= limit) break
      }
      after = ids[ids.length - 1]!
    }
    return out
  }

  /** Cancels a task this peer submitted (its running attempt's result is then refused). */
  async cancel (id: number): Promise<void> {
    checkTaskId(id)
    await this.run({ t: 'task.cancel', task: id })
  }

  /** Waits until the task is completed, failed or cancelled (at most `timeoutMs`, default 60 s); its final state. */
  async wait (id: number, options: { timeoutMs?: number } = {}): Promise<TaskInfo> {
    checkTaskId(id)
    const timeoutMs = options.timeoutMs ?? 60_000
    if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 0 || timeoutMs > TASK_WAIT_MS_MAX) throw new InvalidOptionError('timeoutMs', `must be an integer in 0..${TASK_WAIT_MS_MAX}`)
    const b = this.need()
    const deadline = Date.now() + timeoutMs
    let raw = await b.read(`task:${id}`)
    for (;;) {
      if (raw === undefined) throw new TaskError('ERR_TASK_NOT_FOUND', `task ${id} does not exist (or was forgotten)`)
      const v = JSON.parse(raw) as TaskView
      if (v.state === 'completed' || v.state === 'failed' || v.state === 'cancelled') return infoOf(v)
      const left = deadline - Date.now()
      if (left <= 0) throw new TimeoutError(`task ${id} to finish`, timeoutMs)
      raw = await b.watch(`task:${id}`, v.rev, Math.min(left, WATCH_ROUND_MS))
    }
  }

  // ---------------------------------------------------------------- commands, batched

  private need (): TasksBackend {
    if (this.backend === undefined) throw new NoRaftError('tasks')
    return this.backend
  }

  /** Proposes one op (batched with others of this turn); resolves with its result or throws its named error. */
  private async run (op: TaskCommand): Promise<Op> {
    const r = await this.enqueue(op)
    if (r.ok !== true) throw new TaskError(String(r.code ?? 'ERR_INVALID_COMMAND'), String(r.message ?? 'refused'))
    return r
  }

  private async enqueue (op: TaskCommand): Promise<Op> {
    this.need()
    if (this.queue.length >= TASK_QUEUE_MAX) throw new LimitExceededError('taskQueueMax', TASK_QUEUE_MAX, this.queue.length + 1, 'task commands waiting')
    const bytes = Buffer.byteLength(JSON.stringify(op))
    if (bytes > TASK_COMMAND_BYTES_MAX) throw new LimitExceededError('taskCommandBytesMax', TASK_COMMAND_BYTES_MAX, bytes, 'a task command')
    const p = new Promise<Record<string, unknown>>((resolve, reject) => { this.queue.push({ op, bytes, resolve, reject }) })
    this.scheduleFlush()
    return await p as Op
  }

  private scheduleFlush (): void {
    if (this.flushing) return
    this.flushing = true
    setImmediate(() => { this.flushing = false; this.flush() })
  }

  private flush (): void {
    while (this.queue.length > 0 && this.inflight < BATCHES_INFLIGHT_MAX) {
      // As many ops as fit one command: TASK_BATCH_OPS_MAX and TASK_COMMAND_BYTES_MAX (the batch's JSON).
      let n = 0
      let bytes = 32
      while (n < this.queue.length && n < TASK_BATCH_OPS_MAX && (n === 0 || bytes + this.queue[n]!.bytes + 1 <= TASK_COMMAND_BYTES_MAX)) {
        bytes += this.queue[n]!.bytes + 1
        n++
      }
      const batch = this.queue.splice(0, n)
      this.inflight++
      this.stats.batches++
      this.stats.ops += batch.length
      const cmd: TaskCommand = batch.length === 1 ? batch[0]!.op : { t: 'task.batch', ops: batch.map(q => q.op) }
      void this.need().propose(encodeTaskCommand(cmd)).then(({ result }) => {
        const r = result as Op | null
        if (batch.length === 1) { batch[0]!.resolve(r ?? { ok: false, code: 'ERR_INVALID_COMMAND', message: 'no result' }); return }
        const results = (r as { results?: Op[] } | null)?.results
        if (r?.ok !== true || !Array.isArray(results)) {
          for (const q of batch) q.resolve(r ?? { ok: false, code: 'ERR_INVALID_COMMAND', message: 'no result' })
          return
        }
        batch.forEach((q, i) => { q.resolve(results[i] ?? { ok: false, code: 'ERR_INVALID_COMMAND', message: 'no result' }) })
      }, (err: Error) => {
        for (const q of batch) q.reject(err)
      }).finally(() => {
        this.inflight--
        if (this.queue.length > 0) this.scheduleFlush()
      })
    }
  }

  // ---------------------------------------------------------------- events (members)

  private onEvent (e: TaskEvent): void {
    this.emit(e.type, e as never)
    const m = this.backend?.local?.machine()
    switch (e.type) {
      case 'task:assigned':
        // Not inside the apply: a later op of the same entry (or an entry replayed on restart or catch-up)
        // may already have ended the attempt; it runs only if it is still live once the entry is applied.
        if (e.host === this.ctx.self) {
          setImmediate(() => {
            const v = this.backend?.local?.machine()?.get(e.task)
            if (v !== undefined && this.isMine(v, e.attempt, e.agent)) this.work(v, e.attempt, e.agent)
          })
        }
        break
      case 'task:reassigned':
        this.endRun(e.task, e.attempt)
        // The leader's peer gives it another attempt (log time lets anyone now).
        if (this.backend?.local?.isLeader() === true) this.queueDispatch(e.task, e.attempt + 1, false)
        break
      case 'task:completed':
      case 'task:failed':
        this.endRun(e.task, e.attempt)
        break
      case 'task:cancelled':
        for (const [k, r] of this.running) if (k.startsWith(`${e.task}/`)) { this.supersede(r, `task ${e.task} was cancelled`); this.running.delete(k) }
        this.toDispatch.delete(e.task)
        break
      default:
        break
    }
  }

  private endRun (task: number, attempt: number): void {
    const k = `${task}/${attempt}`
    const r = this.running.get(k)
    if (r === undefined) return
    this.running.delete(k)
    this.supersede(r, `attempt ${attempt} of task ${task} ended`)
  }

  // ---------------------------------------------------------------- dispatch

  private queueDispatch (id: number, attempt: number, first: boolean): void {
    if (this.toDispatch.size >= DISPATCH_QUEUE_MAX) return // the leader's sweep finds it later
    this.toDispatch.set(id, { attempt, first })
    if (!this.dispatching) {
      this.dispatching = true
      setImmediate(() => { void this.dispatch() })
    }
  }

  /** A resubmitted (idempotent) task that still waits for an agent: dispatch it again. */
  private async kickIfWaiting (id: number): Promise<void> {
    const v = await this.get(id).catch(() => undefined)
    if (v?.state === 'submitted') this.queueDispatch(id, v.attempts + 1, v.attempts === 0)
  }

  /** Assigns every queued task it can, in one batch per turn. */
  private async dispatch (): Promise<void> {
    try {
      while (this.toDispatch.size > 0) {
        const round = [...this.toDispatch].slice(0, TASK_BATCH_OPS_MAX)
        for (const [id] of round) this.toDispatch.delete(id)
        const assigns: Array<Promise<void>> = []
        for (const [id, d] of round) {
          if (this.assigning.has(id)) continue
          const v = await this.view(id)
          if (v === undefined || v.state !== 'submitted' || v.attempts + 1 !== d.attempt) continue
          if (v.allocation === 'auction' && v.attempts === 0 && v.origin === this.ctx.self) {
            assigns.push(this.auctionAssign(v))
            continue
          }
          const a = this.choose(v)
          if (a === undefined) continue // no candidate now: the leader's sweep tries again
          assigns.push(this.assign(v, a))
        }
        await Promise.all(assigns)
      }
    } finally {
      this.dispatching = false
      if (this.toDispatch.size > 0) {
        this.dispatching = true
        setImmediate(() => { void this.dispatch() })
      }
    }
  }

  /** The task as this peer can see it fastest: the replica on members, else a linearizable read. */
  private async view (id: number): Promise<TaskView | undefined> {
    const m = this.backend?.local?.machine()
    if (m !== undefined) return m.get(id)
    return (await this.get(id).catch(() => undefined))?.record
  }

  private async assign (v: TaskView, a: AgentView): Promise<void> {
    const attempt = v.attempts + 1
    let r: Op
    this.reserved.set(a.id, (this.reserved.get(a.id) ?? 0) + 1)
    this.assigning.add(v.id)
    try {
      r = await this.enqueue({ t: 'task.assign', task: v.id, attempt, agent: a.id, host: a.host })
    } catch (err) {
      this.ctx.log.debug('task assign failed', { task: v.id, error: (err as Error).message })
      return
    } finally {
      this.assigning.delete(v.id)
      const n = (this.reserved.get(a.id) ?? 1) - 1
      if (n <= 0) this.reserved.delete(a.id)
      else this.reserved.set(a.id, n)
    }
    if (r.ok !== true) {
      // Another dispatcher was first, or the task ended: nothing to do. The agent cannot take tasks from
      // this peer now (its account's owner is another host, or a budget is full): avoid it for a while.
      if (r.code === 'ERR_HOST_MISMATCH' || r.code === 'ERR_LIMIT_EXCEEDED') {
        this.ctx.log.info('task assignment refused', { task: v.id, agent: a.id, code: r.code, message: r.message })
        this.avoid.set(a.id, Date.now() + AVOID_MS)
        if (this.avoid.size > AVOID_MAX) this.avoid.delete(this.avoid.keys().next().value!)
      }
      return
    }
    this.stats.assigned++
    if (a.host === this.ctx.self) {
      if (this.backend?.local === undefined) { const nv = await this.view(v.id); if (nv !== undefined) this.work(nv, attempt, a.id) }
      return
    }
    // Members see the assignment in their replica; others get a hint (a lost hint ends in the ack window).
    if (this.ctx.isMember(a.host)) return
    this.hint(a.host, { task: v.id, attempt, agent: a.id })
  }

  /**
   * Sends a task hint without holding up the dispatch round (a host outside the group reads the task from
   * the log before it answers, which takes longer than a round of assignments on members); at most
   * {@link HINTS_INFLIGHT_MAX} hints in flight per host, the rest wait here in order.
   */
  private hint (host: string, f: { task: number, attempt: number, agent: string }): void {
    let h = this.hints.get(host)
    if (h === undefined) { h = { inflight: 0, queue: [] }; this.hints.set(host, h) }
    if (h.inflight >= HINTS_INFLIGHT_MAX) {
      if (h.queue.length >= DISPATCH_QUEUE_MAX) { this.ctx.log.debug('task hint dropped', { task: f.task, host }); return } // the ack window reassigns it
      h.queue.push(f)
      return
    }
    h.inflight++
    this.stats.hinted++
    void this.ctx.agents.hintTask(host, f, HINT_TIMEOUT_MS).then((reply) => {
      if (!reply.ok) this.ctx.log.debug('task hint not taken', { task: f.task, host, code: reply.code })
    }, (err: Error) => {
      this.ctx.log.debug('task hint failed', { task: f.task, host, error: err?.message })
    }).finally(() => {
      h.inflight--
      const next = h.queue.shift()
      if (next !== undefined) this.hint(host, next)
      else if (h.inflight === 0 && this.hints.get(host) === h) this.hints.delete(host)
    })
  }

  /** Auction allocation: the submitter auctions the task among the candidates and assigns the winner. */
  private async auctionAssign (v: TaskView): Promise<void> {
    const candidates = this.candidates(v)
    if (v.account === undefined || candidates.length === 0) {
      const a = this.choose(v)
      if (a !== undefined) await this.assign(v, a)
      return
    }
    this.stats.auctions++
    try {
      const report = await this.ctx.economy.runAuction({ id: `task-${v.id}-${v.attempts + 1}`, mechanism: 'vickrey', items: [`task-${v.id}`], durationMs: TASK_AUCTION_MS }, { seller: v.account, bidders: candidates.map(c => c.id) })
      const winner = report.auction.outcome?.winners[0]?.agent
      const a = winner === undefined ? undefined : candidates.find(c => c.id === winner)
      if (a !== undefined) { await this.assign(v, a); return }
    } catch (err) {
      this.ctx.log.info('task auction failed; assigning least-loaded', { task: v.id, error: (err as Error).message })
    }
    const a = this.choose({ ...v, allocation: 'least-loaded' })
    if (a !== undefined) await this.assign(v, a)
  }

  /** Healthy reachable agents the task may go to (its agent, or by capability / query). */
  private candidates (v: TaskView): AgentView[] {
    const t = v.target
    if ('agent' in t) {
      const a = this.ctx.lookup(t.agent)
      return a === undefined ? [] : [a]
    }
    const q: QueryCriteria = 'capability' in t
      ? { capability: t.capability, health: 'healthy', reachableOnly: true, limit: CANDIDATES_MAX }
      : { ...(t.query as QueryCriteria), reachableOnly: true, limit: CANDIDATES_MAX }
    let found: AgentView[]
    try {
      found = [...this.ctx.query(q).agents]
    } catch {
      return []
    }
    // Agents whose account's owner (in the log, on members) is another host than the registry's: the
    // machine refuses to assign them (ERR_HOST_MISMATCH). Agents refused lately are avoided too.
    const economy = this.ctx.economy.replica
    const now = Date.now()
    return found.filter(a => {
      const until = this.avoid.get(a.id)
      if (until !== undefined) { if (until > now) return false; this.avoid.delete(a.id) }
      // An agent whose circuit breaker is open here would get no hint (peers/protect/breakers.ts).
      if (this.ctx.agents.breakerOpen(a.id)) return false
      const owner = economy?.ownerOf(a.id)
      return owner === undefined || owner === null || owner === a.host
    })
  }

  /** The agent for the task's next attempt, by its allocation; undefined when none is available. */
  private choose (v: TaskView): AgentView | undefined {
    let c = this.candidates(v)
    if (c.length === 0) return undefined
    // Avoid the agents whose attempts ended without completing, while another candidate exists.
    const tried = new Set(v.history.filter(h => h.end !== undefined && h.end !== 'completed').map(h => h.agent))
    const fresh = c.filter(a => !tried.has(a.id))
    if (fresh.length > 0) c = fresh
    c.sort((x, y) => x.id < y.id ? -1 : x.id > y.id ? 1 : 0)
    if (v.allocation === 'round-robin') {
      const key = JSON.stringify(v.target)
      const n = this.cursors.get(key) ?? 0
      this.cursors.set(key, n + 1)
      if (this.cursors.size > 10_000) this.cursors.delete(this.cursors.keys().next().value!)
      return c[n % c.length]
    }
    const m = this.backend?.local?.machine()
    // Live tasks per agent from the log (members), plus what this dispatcher is assigning now.
    const live = (a: AgentView): number => (this.reserved.get(a.id) ?? 0) + (m !== undefined ? m.liveTasksOf(a.id) : 0)
    let best = c[0]!
    let bestKey = [live(best), best.load ?? 0]
    for (const a of c.slice(1)) {
      const k = [live(a), a.load ?? 0]
      if (k[0]! < bestKey[0]! || (k[0] === bestKey[0] && k[1]! < bestKey[1]!)) { best = a; bestKey = k }
    }
    return best
  }

  /** On the Raft leader: tasks waiting past their takeover time (no submitter dispatched them) get an agent. */
  private async sweep (): Promise<void> {
    const local = this.backend?.local
    const m = local?.machine()
    if (local === undefined || m === undefined || !local.isLeader()) return
    // A page of the waiting tasks per sweep, from where the last one stopped (wrapping around), so tasks
    // nobody can take (no candidate) cannot hide the others behind them.
    let ids = m.list('submitted', this.sweepAfter, TASK_BATCH_OPS_MAX)
    if (ids.length === 0 && this.sweepAfter > 0) ids = m.list('submitted', 0, TASK_BATCH_OPS_MAX)
    this.sweepAfter = ids.length === TASK_BATCH_OPS_MAX ? ids[ids.length - 1]! : 0
    for (const id of ids) {
      const v = m.get(id)
      if (v === undefined || this.toDispatch.has(id) || this.assigning.has(id)) continue
      if (v.origin === this.ctx.self || m.now >= v.assignableBy || Date.now() >= v.submittedAt + TASK_TAKEOVER_MS) this.queueDispatch(id, v.attempts + 1, false)
    }
  }

  // ---------------------------------------------------------------- work (the agent's host)

  /**
   * A task hint from a dispatcher: the task is read from the log; it runs only if the log gives it to us.
   * Each remote peer gets {@link HINTS_PER_PEER_PER_SEC} hints a second (each may cost a linearizable
   * read), and a (task, attempt) already checked here is not read again.
   */
  private async onHint (f: { task: number, attempt: number, agent: string }, from: string): Promise<string> {
    const key = `${f.task}/${f.attempt}`
    if (this.running.has(key)) return 'running'
    if (!this.ctx.agents.hasTaskHandler(f.agent)) throw new AgoraError('ERR_NO_HANDLER', `agent ${f.agent} has no onTask handler on this peer`)
    // This peer's own hints (its daemon re-running an attempt after a restart, while its replica catches
    // up) are neither limited nor deduplicated.
    if (from !== this.ctx.self) {
      if (this.hinted.has(key)) return 'ignored'
      if (!this.hintQuota.take(from, Date.now())) {
        this.stats.hintsRefused++
        throw new AgoraError('ERR_LIMIT_EXCEEDED', `more than ${HINTS_PER_PEER_PER_SEC} task hints a second from ${from}`)
      }
      this.hinted.add(key)
      if (this.hinted.size > HINTED_REMEMBERED_MAX) this.hinted.delete(this.hinted.values().next().value!)
    }
    const v = await this.view(f.task)
    if (v === undefined || !this.isMine(v, f.attempt, f.agent)) return 'ignored'
    this.work(v, f.attempt, f.agent)
    return 'taken'
  }

  /** Whether attempt `attempt` of `v` is live and its agent `agent` runs on this peer. */
  private isMine (v: TaskView, attempt: number, agent: string): boolean {
    const cur = v.history[v.history.length - 1]
    return v.state === 'assigned' && v.attempts === attempt && v.agent === agent && cur?.host === this.ctx.self && cur.end === undefined
  }

  /** Runs attempt `attempt` of task `v` on local agent `agent` (once), and records its outcome. */
  private work (v: TaskView, attempt: number, agent: string): void {
    const key = `${v.id}/${attempt}`
    if (this.running.has(key) || !this.started) return
    if (!this.ctx.agents.hasTaskHandler(agent)) return // no handler here: the ack window reassigns it
    if (this.running.size >= RUNNING_MAX) { this.stats.refusedRunning++; return }
    const run: Run = { controller: new AbortController(), superseded: false }
    this.running.set(key, run)
    this.stats.ran++
    void this.runAttempt(v, attempt, agent, run)
      .catch((err: Error) => { this.ctx.log.warn('task attempt failed unexpectedly', { task: v.id, attempt, error: err?.message }) })
      .finally(() => { if (this.running.get(key) === run) this.running.delete(key) })
  }

  private async runAttempt (v: TaskView, attempt: number, agent: string, run: Run): Promise<void> {
    let payload: unknown = null
    try { payload = JSON.parse(v.payload) } catch {}
    const cur = v.history[v.history.length - 1]
    // The attempt's whole time (its deadline in the log is the shorter ack window until it is acked).
    const deadline = cur === undefined ? 0 : cur.at + v.timeoutMs + v.graceMs
    const { controller } = run
    let done = false
    let offLease: (() => void) | undefined
    // A handler still running after ACK_AFTER_MS is acked under the session lease: the host's loss then
    // reassigns the task once the lease expires, instead of after the whole timeout. Outside the group the
    // host then watches the task, so a reassignment or a cancel aborts the handler here too.
    const acking = setTimeout(() => {
      if (done) return
      void (async () => {
        const s = await this.ctx.coordination.sessionLeaseOf()
        if (done) return
        const lost = (): void => { controller.abort(s.signal.reason) }
        s.signal.addEventListener('abort', lost, { once: true })
        offLease = () => { s.signal.removeEventListener('abort', lost) }
        const r = await this.enqueue({ t: 'task.ack', task: v.id, attempt, lease: s.id })
        if (r.ok !== true && (r.code === 'ERR_STALE_ATTEMPT' || r.code === 'ERR_TASK_STATE')) this.supersede(run, `attempt ${attempt} of task ${v.id} is no longer current (${String(r.code)})`)
        else if (this.backend?.local === undefined) await this.watchAttempt(v.id, attempt, run, () => done)
      })().catch((err: Error) => { this.ctx.log.debug('task ack failed', { task: v.id, error: err.message }) })
    }, Math.min(ACK_AFTER_MS, Math.max(1, Math.floor(v.ackMs / 2))))
    let lastProgress = 0
    // Best effort: a progress report that cannot be recorded is dropped (never a rejection to the handler).
    const progress = async (value: number, note?: string): Promise<void> => {
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 1) throw new InvalidOptionError('progress', 'must be a number in 0..1')
      if (note !== undefined && (typeof note !== 'string' || note.length > TASK_LIMITS.noteCharsMax || !isWellFormed(note))) throw new InvalidOptionError('note', `must be a string of at most ${TASK_LIMITS.noteCharsMax} characters`)
      const now = Date.now()
      if ((now - lastProgress < PROGRESS_EVERY_MS && value < 1) || done) return
      lastProgress = now
      try {
        const r = await this.enqueue({ t: 'task.progress', task: v.id, attempt, progress: value, ...(note !== undefined ? { note } : {}) })
        if (r.ok !== true && (r.code === 'ERR_STALE_ATTEMPT' || r.code === 'ERR_TASK_STATE')) this.supersede(run, `attempt ${attempt} of task ${v.id} is no longer current (${String(r.code)})`)
      } catch (err) {
        this.ctx.log.debug('task progress not recorded', { task: v.id, error: (err as Error).message })
      }
    }
    let op: TaskCommand
    try {
      const value = await this.ctx.agents.runTask(agent, { id: v.id, attempt, payload, submitter: v.origin, deadline }, {
        agent, from: { host: v.origin }, signal: controller.signal, task: v.id, attempt, progress
      })
      const result = JSON.stringify(value === undefined ? null : value)
      const problem = plainJsonProblem(value === undefined ? null : value)
      if (problem !== undefined) op = { t: 'task.fail', task: v.id, attempt, error: `the result is not JSON: ${describeJsonProblem(problem)}` }
      else if (Buffer.byteLength(result) > TASK_LIMITS.resultBytesMax) op = { t: 'task.fail', task: v.id, attempt, error: `the result has more than ${TASK_LIMITS.resultBytesMax} bytes` }
      else op = { t: 'task.complete', task: v.id, attempt, result }
    } catch (err) {
      const message = String((err as Error)?.message ?? err).slice(0, TASK_LIMITS.errorCharsMax)
      // A handler that knows another attempt cannot help throws an error with `retry: false`.
      const final = (err as { retry?: unknown } | null)?.retry === false
      op = { t: 'task.fail', task: v.id, attempt, error: isWellFormed(message) ? message : 'the handler failed', ...(final ? { retry: false } : {}) }
    } finally {
      done = true
      clearTimeout(acking)
      offLease?.()
    }
    // The outcome needs no lease: a lost lease does not drop a finished result (the machine refuses it if
    // the attempt ended meanwhile). A proposal that failed without an answer (no leader, a leader change,
    // ERR_INDEFINITE) is proposed again until the attempt's deadline: the machine refuses a repeat of an
    // outcome it already has, so retrying can only record it once. A refusal is final.
    let pause = OUTCOME_RETRY_MS
    for (;;) {
      if (run.superseded || !this.started) return // reassigned or cancelled (seen here), or stopping
      try {
        const r = await this.enqueue(op)
        if (r.ok === true) { if (op.t === 'task.complete') this.stats.completed++; else this.stats.failed++ }
        return
      } catch (err) {
        if (Date.now() + pause > deadline) break
        this.stats.outcomeRetries++
        this.ctx.log.debug('task outcome not recorded yet', { task: v.id, attempt, error: (err as Error).message })
        await new Promise(resolve => setTimeout(resolve, pause))
        pause = Math.min(pause * 2, OUTCOME_RETRY_PAUSE_MAX_MS)
      }
    }
    this.stats.outcomesLost++
  }

  /** The attempt ended in the log (reassigned, cancelled): its handler's signal aborts; its outcome is not proposed. */
  private supersede (run: Run, why: string): void {
    run.superseded = true
    run.controller.abort(new TaskError('ERR_STALE_ATTEMPT', why))
  }

  /** Outside the group: long-polls the task until the attempt is no longer current (then supersedes it) or the handler is done. */
  private async watchAttempt (task: number, attempt: number, run: Run, finished: () => boolean): Promise<void> {
    const b = this.backend
    if (b === undefined) return
    let raw = await b.read(`task:${task}`)
    while (!finished() && this.started && !run.superseded) {
      const v = raw === undefined ? undefined : JSON.parse(raw) as TaskView
      if (v === undefined || v.attempts !== attempt || v.state !== 'assigned') {
        this.supersede(run, `attempt ${attempt} of task ${task} is no longer current`)
        return
      }
      raw = await b.watch(`task:${task}`, v.rev, WATCH_ROUND_MS)
    }
  }
}

/** A per-peer budget of events a second (a fixed one-second window per peer; the oldest peers forgotten beyond `peersMax`). */
class RateQuota {
  private readonly windows = new Map<string, { start: number, used: number }>()
  constructor (private readonly perSec: number, private readonly peersMax: number) {}
  take (peer: string, now: number): boolean {
    let w = this.windows.get(peer)
    if (w === undefined || now - w.start >= 1000) {
      this.windows.delete(peer)
      w = { start: now, used: 0 }
      this.windows.set(peer, w)
      if (this.windows.size > this.peersMax) this.windows.delete(this.windows.keys().next().value!)
    }
    if (w.used >= this.perSec) return false
    w.used++
    return true
  }
}

function checkTaskId (id: unknown): asserts id is number {
  if (!Number.isSafeInteger(id) || (id as number) < 1) throw new InvalidOptionError('id', 'a task id is a positive integer')
}

/** The submit op of a spec, checked: exactly one of agent, capability, query; a JSON payload within its limit. */
export function submitOp (spec: TaskSpec): TaskCommand {
  if (spec === null || typeof spec !== 'object') throw new InvalidOptionError('spec', 'must be an object')
  const targets = (['agent', 'capability', 'query'] as const).filter(k => spec[k] !== undefined)
  if (targets.length !== 1) throw new InvalidOptionError('spec', 'needs exactly one of agent, capability, query')
  let target: TaskTarget
  if (spec.agent !== undefined) target = { agent: spec.agent }
  else if (spec.capability !== undefined) target = { capability: spec.capability }
  else target = { query: spec.query as Record<string, unknown> }
  const payload = spec.payload === undefined ? null : spec.payload
  const p = plainJsonProblem(payload)
  if (p !== undefined) throw new InvalidOptionError('payload', describeJsonProblem(p))
  const text = JSON.stringify(payload)
  if (Buffer.byteLength(text) > TASK_LIMITS.payloadBytesMax) throw new InvalidOptionError('payload', `more than ${TASK_LIMITS.payloadBytesMax} bytes of JSON`)
  const op: Record<string, unknown> = { t: 'task.submit', target, payload: text }
  const allocations: Allocation[] = ['least-loaded', 'round-robin', 'auction']
  if (spec.allocation !== undefined) {
    if (!allocations.includes(spec.allocation)) throw new InvalidOptionError('allocation', `must be one of ${allocations.join(', ')}`)
    op.allocation = spec.allocation
  }
  for (const k of ['retries', 'timeoutMs', 'graceMs', 'ackMs', 'queueMs', 'reward'] as const) if (spec[k] !== undefined) op[k] = spec[k]
  if (spec.idempotencyKey !== undefined) op.key = spec.idempotencyKey
  if (spec.account !== undefined) op.account = spec.account
  return op as TaskCommand
}

function infoOf (v: TaskView): TaskInfo {
  let result: unknown
  if (v.state === 'completed' && v.result !== undefined) { try { result = JSON.parse(v.result) } catch { result = v.result } }
  return { id: v.id, state: v.state as TaskState, agent: v.agent, attempts: v.attempts, ...(result !== undefined ? { result } : {}), ...(v.error !== undefined ? { error: v.error } : {}), record: v }
}
