/**
 * The simulated hosts of agents and the task dispatcher, driving the task machine (protocols/tasks) the
 * way live peers do, for the scenario verbs (sim/tasks.ts) and the fuzz workload (sim/task-fuzz.ts) alike.
 * Every command is proposed through Raft as a node's origin `n<i>` (sim.proposeTask: signed,
 * exactly-once, retried until applied; a client gives up after {@link TASK_HOSTS_PATIENCE_MS}).
 *
 * - **Agents** live on nodes ({@link TaskHosts.addAgent}): an id, a node (its host, origin `n<node>`),
 *   capabilities, and how it works an attempt ({@link WorkPlan}: complete or fail after `workMs`, hang —
 *   ack and never finish —, or stay silent — never ack).
 * - **Dispatcher**: a task waiting for an agent (state `submitted`, learnt from the committed events) is
 *   assigned by its submitter's node at once when that node is up and it is the first attempt, else by
 *   the Raft leader's node ({@link TASK_TAKEOVER_MS} after the submit for a first attempt, at once after a
 *   reassignment). The agent is drawn with this module's PRNG among the agents matching the target whose
 *   host is up, preferring agents no earlier attempt had. One assignment in flight per task.
 * - **Hosts**: a node learns an assignment to it from its own replica's `task:assigned`; while its
 *   process lives (a crash ends it; a restart is a new process) it checks its replica still shows that
 *   attempt current, acks it with a coordination lease it owns (granted on first need with
 *   {@link TaskHostsOptions.leaseTtlMs}, kept alive by the node: its crash or isolation ends the lease,
 *   and the machine reassigns the attempt, `host-lost`), then completes or fails it after the work time
 *   (a plan may send that twice, as a client retrying a lost answer) — without looking again: an attempt that ended meanwhile (timeout, lost lease) proposes a stale
 *   complete, which the machine must refuse.
 */
import type { Rand } from '../src/base/prng.js'
import { LimitExceededError } from '../src/base/errors.js'
import { TASK_TAKEOVER_MS } from '../protocols/tasks/types.js'
import type { TaskCommand, TaskEvent, TaskState, TaskTarget } from '../protocols/tasks/types.js'
import type { CoordOutcome, Simulation } from './simulation.js'

/** A client gives up on a proposal unapplied for this long (virtual ms): not proposed again, it may still apply. */
export const TASK_HOSTS_PATIENCE_MS = 3_000
/** A dispatcher's refused assignment is tried again this many virtual ms later. */
export const TASK_ASSIGN_RETRY_MS = 100
/** Default TTL of a host's lease (ms of log time). */
export const TASK_HOST_LEASE_TTL_MS = 2_000
/** Assignments a host has learnt and not yet taken up, at most (the oldest dropped beyond it). */
export const TASK_HOST_QUEUE_MAX = 10_000
/** Proposals of the hosts and the dispatcher in flight at once. */
export const TASK_HOSTS_OPS_MAX = 100_000
/** Tasks the committed book remembers (the oldest finished ones forgotten beyond it). */
export const TASK_BOOK_MAX = 100_000
/** Agents at most. */
export const TASK_AGENTS_MAX = 1_000

export type WorkMode = 'complete' | 'fail' | 'hang' | 'silent'
/**
 * How an attempt is worked: `does` after `workMs`; `repeat`: the host proposes its complete (or fail)
 * twice, as a client that retries a request whose answer it lost (a new request, not the same session
 * entry): the machine must refuse the second.
 */
export interface WorkPlan { does: WorkMode, workMs: number, repeat?: boolean }

export interface SimAgent { agent: string, node: number, capabilities: string[], plan: WorkPlan }

/** What the committed events say about a task. */
export interface BookTask {
  id: number
  state: TaskState
  origin: string
  target: TaskTarget
  /** Agents of its attempts, in order. */
  agents: string[]
  attempts: number
  /** The attempt that completed it. */
  completedBy?: number
  /** Virtual time its submit was first applied (the takeover delay starts then). */
  submittedAt: number
}

export interface TaskHostsOptions {
  leaseTtlMs?: number
  /** How agent `a` works attempt `attempt` of task `task` (default: the agent's own plan). */
  plan?: (a: SimAgent, task: number, attempt: number) => WorkPlan
}

export interface TaskHostsStats {
  /** Task commands proposed by the hosts and the dispatcher, by type. */
  proposed: Record<string, number>
  /** Their refusals by the machine, by code (`ERR_STALE_ATTEMPT`: a complete/fail/ack of an ended attempt). */
  refused: Record<string, number>
}

interface Op { id: number, call: number, patienceMs: number, then?: (o: CoordOutcome | undefined) => void }
interface Work { task: number, attempt: number, agent: string, does: WorkMode, doneAt: number, repeat: boolean }
interface Host { boot: number, lease?: number, granting: boolean, queue: Array<{ task: number, attempt: number, agent: string }>, work: Work[] }

const resultOf = (o: CoordOutcome | undefined): Record<string, unknown> | undefined => o?.result as Record<string, unknown> | undefined

export class TaskHosts {
  readonly agents = new Map<string, SimAgent>()
  readonly book = new Map<number, BookTask>()
  readonly stats: TaskHostsStats = { proposed: {}, refused: {} }
  private readonly ops: Op[] = []
  private readonly hosts: Host[] = []
  /** Tasks waiting for an assignment: id -> when the dispatcher may try next (virtual ms). */
  private readonly waiting = new Map<number, number>()
  private readonly assigning = new Set<number>()
  private readonly leaseTtlMs: number

  constructor (private readonly sim: Simulation, private readonly rand: Rand, private readonly options: TaskHostsOptions = {}) {
    this.leaseTtlMs = options.leaseTtlMs ?? TASK_HOST_LEASE_TTL_MS
    for (let i = 0; i < sim.size; i++) this.hosts.push({ boot: -1, granting: false, queue: [], work: [] })
    sim.onTaskEvent(e => { this.onCommitted(e) })
    sim.onNodeTaskEvent((node, e) => {
      if (e.type !== 'task:assigned' || e.host !== `n${node}`) return
      const h = this.host(node)
      h.queue.push({ task: e.task, attempt: e.attempt, agent: e.agent })
      if (h.queue.length > TASK_HOST_QUEUE_MAX) h.queue.shift()
    })
    sim.onCoordEvent(e => {
      if (e.type !== 'lease:expired' && e.type !== 'lease:revoked') return
      for (const h of this.hosts) if (h.lease === e.lease) h.lease = undefined
    })
  }

  addAgent (a: SimAgent): void {
    if (!this.agents.has(a.agent) && this.agents.size >= TASK_AGENTS_MAX) throw new LimitExceededError('TASK_AGENTS_MAX', TASK_AGENTS_MAX, this.agents.size + 1, 'simulated agents')
    this.agents.set(a.agent, a)
  }

  /** Propose a task command at `node` as `n<node>`; `then` gets its first application (undefined: given up after `patienceMs`). */
  propose (node: number, cmd: TaskCommand, then?: (o: CoordOutcome | undefined) => void, patienceMs = TASK_HOSTS_PATIENCE_MS): number {
    if (this.ops.length >= TASK_HOSTS_OPS_MAX) throw new LimitExceededError('TASK_HOSTS_OPS_MAX', TASK_HOSTS_OPS_MAX, this.ops.length + 1, 'task proposals in flight')
    this.stats.proposed[cmd.t] = (this.stats.proposed[cmd.t] ?? 0) + 1
    const op: Op = { id: this.sim.proposeTask(node, `n${node}`, cmd), call: this.sim.now, patienceMs }
    if (then !== undefined) op.then = then
    this.ops.push(op)
    return op.id
  }

  /**
   * Submit a task at `node`; `then` gets the machine's answer. A submit the client saw applied with an id
   * is acknowledged (sim.acknowledgeTask): no replica may lose it.
   */
  submit (node: number, cmd: Extract<TaskCommand, { t: 'task.submit' }>, then?: (o: CoordOutcome | undefined) => void, patienceMs = TASK_HOSTS_PATIENCE_MS): number {
    return this.propose(node, cmd, o => {
      const id = taskIdOf(o)
      if (id !== undefined) this.sim.acknowledgeTask(id, node, (o as CoordOutcome).index)
      then?.(o)
    }, patienceMs)
  }

  /** Called after every tick round: outcomes, the dispatcher, the hosts. */
  tick (): void {
    this.outcomes()
    this.dispatch()
    for (let node = 1; node <= this.sim.size; node++) this.work(node)
  }

  private outcomes (): void {
    for (let i = 0; i < this.ops.length; i++) {
      const op = this.ops[i] as Op
      const o = this.sim.takeCoordOutcome(op.id)
      if (o === undefined && this.sim.now - op.call < op.patienceMs) continue
      if (o === undefined) this.sim.abandon(op.id)
      this.ops.splice(i--, 1)
      const r = resultOf(o)
      if (r !== undefined && r.ok !== true) this.stats.refused[String(r.code)] = (this.stats.refused[String(r.code)] ?? 0) + 1
      op.then?.(o)
    }
  }

  private onCommitted (e: TaskEvent): void {
    if (e.type === 'task:submitted') {
      this.book.set(e.task, { id: e.task, state: 'submitted', origin: e.origin, target: e.target, agents: [], attempts: 0, submittedAt: this.sim.now })
      if (this.book.size > TASK_BOOK_MAX) this.forgetOldest()
      this.waiting.set(e.task, 0)
      return
    }
    const t = this.book.get(e.task)
    if (t === undefined) return
    switch (e.type) {
      case 'task:assigned': t.state = 'assigned'; t.attempts = e.attempt; t.agents.push(e.agent); this.waiting.delete(e.task); break
      case 'task:reassigned': t.state = 'submitted'; this.waiting.set(e.task, 0); break
      case 'task:completed': t.state = 'completed'; t.completedBy = e.attempt; this.waiting.delete(e.task); break
      case 'task:failed': t.state = 'failed'; this.waiting.delete(e.task); break
      case 'task:cancelled': t.state = 'cancelled'; this.waiting.delete(e.task); break
      default: break
    }
  }

  private forgetOldest (): void {
    for (const [id, t] of this.book) {
      if (t.state === 'completed' || t.state === 'failed' || t.state === 'cancelled') { this.book.delete(id); return }
    }
  }

  /** Agents that may take task `t` now: matching its target, hosted by a live node (fresh ones first). */
  private candidates (t: BookTask): SimAgent[] {
    const all: SimAgent[] = []
    for (const a of this.agents.values()) {
      if (this.sim.isCrashed(a.node)) continue
      if ('agent' in t.target ? a.agent === t.target.agent : 'capability' in t.target ? a.capabilities.includes(t.target.capability) : true) all.push(a)
    }
    const fresh = all.filter(a => !t.agents.includes(a.agent))
    return fresh.length > 0 ? fresh : all
  }

  private dispatch (): void {
    const now = this.sim.now
    for (const [id, at] of this.waiting) {
      if (at > now || this.assigning.has(id)) continue
      const t = this.book.get(id)
      if (t === undefined || t.state !== 'submitted') { this.waiting.delete(id); continue }
      const origin = /^n([0-9]+)$/.exec(t.origin)
      const submitter = origin === null ? 0 : Number(origin[1])
      let proposer = 0
      if (t.attempts === 0 && submitter >= 1 && submitter <= this.sim.size && !this.sim.isCrashed(submitter)) proposer = submitter
      else if (t.attempts > 0 || now >= t.submittedAt + TASK_TAKEOVER_MS) proposer = this.sim.leaderId()
      if (proposer === 0) continue
      const agents = this.candidates(t)
      if (agents.length === 0) { this.waiting.set(id, now + TASK_ASSIGN_RETRY_MS); continue }
      const a = this.rand.pick(agents)
      this.assigning.add(id)
      this.propose(proposer, { t: 'task.assign', task: id, attempt: t.attempts + 1, agent: a.agent, host: `n${a.node}` }, o => {
        this.assigning.delete(id)
        if (resultOf(o)?.ok !== true && this.waiting.has(id)) this.waiting.set(id, this.sim.now + TASK_ASSIGN_RETRY_MS)
      })
    }
  }

  /** Node `node`'s host process (a new, empty one when the node restarted since). */
  private host (node: number): Host {
    const h = this.hosts[node - 1] as Host
    const boot = this.sim.bootsOf(node)
    if (h.boot !== boot) { h.boot = boot; h.lease = undefined; h.granting = false; h.queue = []; h.work = [] }
    return h
  }

  private work (node: number): void {
    if (this.sim.isCrashed(node)) return
    const h = this.host(node)
    if (h.queue.length > 0) this.takeUp(node, h)
    for (let i = 0; i < h.work.length; i++) {
      const w = h.work[i] as Work
      if (w.doneAt > this.sim.now) continue
      h.work.splice(i--, 1)
      for (let k = w.repeat ? 2 : 1; k > 0; k--) {
        if (w.does === 'complete') this.propose(node, { t: 'task.complete', task: w.task, attempt: w.attempt, result: JSON.stringify(`${w.agent}#${w.attempt}`) })
        else if (w.does === 'fail') this.propose(node, { t: 'task.fail', task: w.task, attempt: w.attempt, error: `${w.agent} failed` })
      }
    }
  }

  /** Take up the assignments node `node` learnt: those its replica still shows current get acked and worked. */
  private takeUp (node: number, h: Host): void {
    const m = this.sim.tasksOf(node)
    if (m === undefined) return
    if (h.lease === undefined) { this.grant(node, h); return }
    const lease = h.lease
    for (const q of h.queue) {
      const v = m.get(q.task)
      const last = v?.history[v.history.length - 1]
      if (v === undefined || v.state !== 'assigned' || v.attempts !== q.attempt || last?.host !== `n${node}` || last.lease !== undefined) continue
      if (h.work.some(w => w.task === q.task && w.attempt === q.attempt)) continue
      const a = this.agents.get(q.agent)
      if (a === undefined) continue
      const plan = this.options.plan?.(a, q.task, q.attempt) ?? a.plan
      if (plan.does === 'silent') continue
      this.propose(node, { t: 'task.ack', task: q.task, attempt: q.attempt, lease })
      if (plan.does !== 'hang') h.work.push({ task: q.task, attempt: q.attempt, agent: q.agent, does: plan.does, doneAt: this.sim.now + plan.workMs, repeat: plan.repeat === true })
    }
    h.queue = []
  }

  private grant (node: number, h: Host): void {
    if (h.granting) return
    h.granting = true
    const boot = h.boot
    const ttlMs = this.leaseTtlMs
    const op: Op = { id: this.sim.proposeCoord(node, `n${node}`, { t: 'lease.grant', ttlMs }), call: this.sim.now, patienceMs: TASK_HOSTS_PATIENCE_MS }
    op.then = o => {
      const cur = this.hosts[node - 1] as Host
      if (cur.boot !== boot) return
      cur.granting = false
      const lease = resultOf(o)?.lease
      if (typeof lease !== 'number' || this.sim.isCrashed(node)) return
      cur.lease = lease
      this.sim.keepAlive(node, lease, ttlMs)
    }
    this.ops.push(op)
  }
}

/** The task id a submit's answer names (undefined: refused or not applied). */
export function taskIdOf (o: CoordOutcome | undefined): number | undefined {
  const r = resultOf(o)
  if (r?.ok !== true) return undefined
  const id = r.task ?? r.id
  return typeof id === 'number' ? id : undefined
}
