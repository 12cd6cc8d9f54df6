/**
 * Bugs planted in the shipped task machine (protocols/tasks/machine.ts) and in the simulator's model of
 * the agents' transport (sim/messages.ts) with vitest spies, one or more per task and message checker
 * (sim/task-checkers.ts, sim/messages.ts), for the negative tests: each breaks one promise the way a
 * plausible code change would, on every replica alike (so only a semantic checker sees it).
 * Call one inside a test and `vi.restoreAllMocks()` after it.
 */
import { vi } from 'vitest'
import { TaskMachine } from '../../protocols/tasks/machine.js'
import type { AttemptView, TaskState } from '../../protocols/tasks/types.js'
import { MessageBus } from '../../sim/messages.js'
import type { SimMessage } from '../../sim/messages.js'

interface Task { id: number, state: TaskState, attempts: number, history: AttemptView[], result?: string }
/** The machine's private members the bugs reach into (a test may; the code must not). */
interface Internals {
  index: number
  tasks: Map<number, Task>
  complete: (c: { task: number, attempt: number, result: string }, origin: string) => unknown
  finish: (t: Task, state: 'completed' | 'failed' | 'cancelled') => void
  forget: (id: number) => void
  closeAttempt: (t: Task, a: AttemptView, end: string) => void
  emitEvent: (e: unknown) => void
}

const proto = TaskMachine.prototype as unknown as Internals
const spy = <K extends keyof Internals>(name: K) => vi.spyOn(proto, name as never) as unknown as { mockImplementation: (fn: (this: Internals, ...args: any[]) => unknown) => void }

/** An attempt of task `c.task` hosted by `origin`, numbered `c.attempt`. */
const attemptOf = (t: Task | undefined, n: number, origin: string): AttemptView | undefined => t?.history.find(a => a.attempt === n && a.host === origin)

/**
 * A complete of a task already completed is answered ok and recorded again (an "idempotent" re-complete
 * that emits the completion a second time), whichever of its attempts sends it. Breaks `task-completed-once`.
 */
export function completeAgain (): void {
  const original = proto.complete
  spy('complete').mockImplementation(function (c, origin) {
    const t = this.tasks.get(c.task)
    const a = t?.state === 'completed' ? attemptOf(t, c.attempt, origin) : undefined
    if (t === undefined || a === undefined) return original.call(this, c, origin)
    this.emitEvent({ type: 'task:completed', index: this.index, task: t.id, attempt: a.attempt, agent: a.agent, host: a.host })
    return { ok: true, type: 'task.complete', task: t.id, attempt: a.attempt, onTime: false }
  })
}

/**
 * A complete is accepted from any attempt the task ever gave its sender (the "is it the current
 * attempt" check lost): a reassigned task's earlier attempt completes it — the machine's record stays
 * well-formed (its last attempt ends `completed`), but the completion names the stale attempt. Breaks
 * `task-stale-attempt`.
 */
export function acceptStaleComplete (): void {
  const original = proto.complete
  spy('complete').mockImplementation(function (c, origin) {
    const t = this.tasks.get(c.task)
    const a = t === undefined || t.state === 'completed' || t.state === 'failed' || t.state === 'cancelled' ? undefined : attemptOf(t, c.attempt, origin)
    if (t === undefined || a === undefined || a.end === undefined) return original.call(this, c, origin)
    const last = t.history[t.history.length - 1] as AttemptView
    this.closeAttempt(t, last, 'completed')
    t.result = c.result
    this.finish(t, 'completed')
    this.emitEvent({ type: 'task:completed', index: this.index, task: t.id, attempt: a.attempt, agent: a.agent, host: a.host })
    return { ok: true, type: 'task.complete', task: t.id, attempt: a.attempt, onTime: false }
  })
}

/** A task that fails (no retry left) is dropped instead of kept as failed. Breaks `task-durability`. */
export function dropFailedTasks (): void {
  const original = proto.finish
  spy('finish').mockImplementation(function (t, state) {
    original.call(this, t, state)
    if (state === 'failed') this.forget(t.id)
  })
}

/** A snapshot restore leaves out the tasks waiting for an agent (`submitted`). Breaks `task-durability` on replicas that restore one. */
export function restoreDropsWaiting (): void {
  const original = TaskMachine.restore.bind(TaskMachine)
  vi.spyOn(TaskMachine, 'restore').mockImplementation((snap, hooks) => {
    const s = snap as { tasks: Array<{ state: string }> }
    return original({ ...s, tasks: s.tasks.filter(t => t.state !== 'submitted') }, hooks)
  })
}

/** The receiving host forgets which messages it delivered: a network duplicate is delivered again. Breaks `message-at-most-once`. */
export function deliverDuplicates (): void {
  vi.spyOn(MessageBus.prototype as unknown as { accept: () => boolean }, 'accept').mockImplementation(() => true)
}

/**
 * The sending host keeps a message it could not send (its peer cut off) and sends it once the link is
 * back (even when its client gave up waiting): store and forward across a partition. Breaks
 * `message-partition`.
 */
export function forwardAfterPartition (): void {
  const bus = MessageBus.prototype as unknown as { tick: () => void, transmit: (m: SimMessage) => void, messages: Map<number, SimMessage>, sim: { net: { allows: (a: number, b: number) => boolean } } }
  const original = bus.tick
  const forwarded = new WeakSet<SimMessage>()
  vi.spyOn(bus, 'tick').mockImplementation(function (this: typeof bus) {
    for (const m of this.messages.values()) {
      if (m.status !== 'refused' && m.blockedAtSend && !forwarded.has(m) && this.sim.net.allows(m.fromNode, m.toNode)) { forwarded.add(m); this.transmit(m) }
    }
    original.call(this)
  })
}
