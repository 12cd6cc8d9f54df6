/**
 * Semantic checkers of the task machine (protocols/tasks), run by the simulator on every node's applied
 * task events (`task:event`), whatever drives the traffic (scenario verbs, the fuzzers' workload). As
 * with coordination (sim/coord-checkers.ts), they check what the machine promises its users, so a bug
 * every replica makes alike is caught too. Each is reported as a violation of its own kind:
 *
 * - `task-completed-once`: a replica completes a task at most once (one `task:completed` per task id),
 *   and every replica completes it by the same attempt, agent and host at the same entry.
 * - `task-stale-attempt`: a task is completed only by its current attempt — the last one assigned, not
 *   ended (reassigned, failed, timed out) before — and attempts are assigned in increasing order.
 * - `task-durability`: every replica records a task's submit (`task:submitted`) at the same entry; and ({@link Simulation.checkTasks}) a task whose submit a client saw applied
 *   is held by every live replica that applied that entry: it never vanishes, whatever its state.
 *
 * A node's checker follows one machine at a time: {@link TaskChecker.attach} (at boot and whenever a
 * snapshot restore replaces the machine) starts it afresh; a task it meets first after a restore is
 * taken up from the machine's view of it (what happened before the event being applied).
 */
import type { TaskMachine } from '../protocols/tasks/machine.js'
import type { TaskEvent } from '../protocols/tasks/types.js'
import type { ViolationSink } from './coord-checkers.js'

/** The invariants these checkers report (the report's `violations[].invariant`). */
export const TASK_INVARIANTS = ['task-completed-once', 'task-stale-attempt', 'task-durability'] as const
export type TaskInvariant = typeof TASK_INVARIANTS[number]

/** Completions and submissions remembered for the cross-node comparison (the oldest forgotten beyond it). */
export const TASK_AGREEMENT_MAX = 100_000
/** Tasks one node's checker follows (the oldest forgotten beyond it). */
export const TASK_TRACKED_MAX = 100_000

interface Completion { node: number, index: number, attempt: number, agent: string, host: string }

/** Every node must record a task at the same entry and complete it the same way: the first seen is the reference. */
export class TaskAgreement {
  private readonly completions = new Map<number, Completion>()
  private readonly submissions = new Map<number, { node: number, index: number }>()

  submitted (node: number, task: number, index: number, sink: ViolationSink): void {
    const first = this.submissions.get(task)
    if (first === undefined) {
      this.submissions.set(task, { node, index })
      if (this.submissions.size > TASK_AGREEMENT_MAX) this.submissions.delete(this.submissions.keys().next().value!)
    } else if (first.index !== index) {
      sink.report('task-durability', `task ${task}: node ${first.node} recorded its submit at entry ${first.index}, node ${node} at entry ${index}`)
    }
  }

  completed (c: Completion, task: number, sink: ViolationSink): void {
    const first = this.completions.get(task)
    if (first === undefined) {
      this.completions.set(task, c)
      if (this.completions.size > TASK_AGREEMENT_MAX) this.completions.delete(this.completions.keys().next().value!)
    } else if (first.node !== c.node && (first.index !== c.index || first.attempt !== c.attempt || first.agent !== c.agent || first.host !== c.host)) {
      // (A second completion on the same replica is its own checker's to report.)
      sink.report('task-completed-once', `task ${task}: node ${first.node} completed it at entry ${first.index} by attempt ${first.attempt} (${first.agent}@${first.host}), node ${c.node} at entry ${c.index} by attempt ${c.attempt} (${c.agent}@${c.host})`)
    }
  }
}

interface Track {
  /** The last attempt assigned (0: none yet). */
  current: number
  /** The highest attempt ended without completing the task (0: none). */
  ended: number
  /** The entry that completed it (0: not completed). */
  completedAt: number
  completedBy: number
}

export class TaskChecker {
  private machine: TaskMachine | undefined
  private readonly tasks = new Map<number, Track>()

  constructor (readonly node: number, private readonly sink: ViolationSink, private readonly agreement: TaskAgreement) {}

  /** Follow `m` from now on (a fresh machine, or one a snapshot restored). */
  attach (m: TaskMachine): void {
    this.machine = m
    this.tasks.clear()
  }

  private report (invariant: TaskInvariant, index: number, detail: string): void {
    this.sink.report(invariant, `node ${this.node} entry ${index}: ${detail}`)
  }

  /**
   * The track of task `id`; one the checker never saw submitted (a restored machine's) is taken up from
   * the machine's view as it was before entry `index`.
   */
  private track (id: number, index: number): Track | undefined {
    let t = this.tasks.get(id)
    if (t !== undefined) return t
    if (id >= index) return undefined
    const v = this.machine === undefined ? undefined : this.machine.get(id)
    if (v === undefined) return undefined
    t = { current: 0, ended: 0, completedAt: 0, completedBy: 0 }
    for (const a of v.history) {
      if (a.index < index) t.current = Math.max(t.current, a.attempt)
      if (a.end !== undefined && a.end !== 'completed' && (a.endIndex ?? index) < index) t.ended = Math.max(t.ended, a.attempt)
    }
    if (v.state === 'completed' && (v.finishedIndex ?? index) < index) { t.completedAt = v.finishedIndex ?? 0; t.completedBy = v.attempts }
    this.keep(id, t)
    return t
  }

  private keep (id: number, t: Track): void {
    this.tasks.set(id, t)
    if (this.tasks.size > TASK_TRACKED_MAX) this.tasks.delete(this.tasks.keys().next().value!)
  }

  /** One event of the followed machine, in apply order. */
  onEvent (e: TaskEvent): void {
    switch (e.type) {
      case 'task:submitted': {
        this.agreement.submitted(this.node, e.task, e.index, this.sink)
        if (!this.tasks.has(e.task)) this.keep(e.task, { current: 0, ended: 0, completedAt: 0, completedBy: 0 })
        break
      }
      case 'task:assigned': {
        const t = this.track(e.task, e.index)
        if (t === undefined) break
        if (e.attempt <= t.current) this.report('task-stale-attempt', e.index, `task ${e.task} assigned attempt ${e.attempt} after attempt ${t.current}`)
        t.current = Math.max(t.current, e.attempt)
        break
      }
      case 'task:reassigned':
      case 'task:failed': {
        const t = this.track(e.task, e.index)
        if (t !== undefined) t.ended = Math.max(t.ended, e.attempt)
        break
      }
      case 'task:completed': {
        const t = this.track(e.task, e.index)
        if (t !== undefined) {
          if (t.completedAt !== 0) this.report('task-completed-once', e.index, `task ${e.task} completed again by attempt ${e.attempt} (${e.agent}@${e.host}); attempt ${t.completedBy} completed it at entry ${t.completedAt}`)
          else if (e.attempt !== t.current || e.attempt <= t.ended) this.report('task-stale-attempt', e.index, `task ${e.task} completed by attempt ${e.attempt} (${e.agent}@${e.host}) while its current attempt is ${t.current}${t.ended >= e.attempt ? ` and attempt ${t.ended} had ended` : ''}`)
          if (t.completedAt === 0) { t.completedAt = e.index; t.completedBy = e.attempt }
        }
        this.agreement.completed({ node: this.node, index: e.index, attempt: e.attempt, agent: e.agent, host: e.host }, e.task, this.sink)
        break
      }
      default: break
    }
  }
}
