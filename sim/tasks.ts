/**
 * The scenario runner's task and message verbs (SCENARIOS.md "Extension: tasks and messages"): `worker`
 * (an agent on a node, with capabilities and a way of working), `task` (a submit), `cancel`, `message`
 * (a direct agent-to-agent message); the `task` and `message` expectations and the report's `tasks` section.
 * The agents' hosts and the dispatcher are sim/task-hosts.ts; messages, sim/messages.ts.
 *
 * `task` proposes `task.submit` at its node as `n<node>` and advances virtual time until it applied, at
 * most {@link TASK_VERB_TIMEOUT_MS} (then a refusal is recorded; the submit goes on in the background);
 * `cancel` proposes `task.cancel` from the node that submitted the task, likewise.
 * What happens to the task next (assignment, acks, completion, reassignment) runs during later `run`
 * steps. `message` sends at once and advances virtual time until the message is acked or its timeout
 * passed.
 */
import { createRand } from '../src/base/prng.js'
import { nullObject } from '../src/base/input.js'
import type { TaskView } from '../protocols/tasks/types.js'
import type { Expectation, TaskStep } from './scenario.js'
import { TASK_WORK_MS_DEFAULT } from './scenario.js'
import type { CoordOutcome, Simulation } from './simulation.js'
import { TaskHosts, taskIdOf } from './task-hosts.js'
import { MessageBus } from './messages.js'
import type { MessageStatus } from './messages.js'

/** Bound on the virtual time a `task` step waits for its submit to apply (ms). */
export const TASK_VERB_TIMEOUT_MS = 10_000

/** The report's `tasks` section (scenarios using tasks or messages). */
export interface TasksReport {
  /** Task label → its id (null until applied), state, current or last agent, attempts, how each ended, and the attempt that completed it. */
  tasks: Record<string, { task: number | null, created: boolean | null, state: string, agent: string | null, attempts: Array<{ attempt: number, agent: string, node: number, end: string | null }>, completedBy: number | null }>
  /** Message label → its status and how many times it was delivered. */
  messages: Record<string, { from: string, to: string, status: MessageStatus, delivered: number }>
}

interface TaskRec { node: number, id?: number, created?: boolean, failed?: string }

const j = (x: unknown): string => JSON.stringify(x)
const nodeOf = (host: string): number => { const m = /^n([0-9]+)$/.exec(host); return m === null ? 0 : Number(m[1]) }

export class TaskDriver {
  readonly hosts: TaskHosts
  readonly bus: MessageBus
  private readonly tasks = new Map<string, TaskRec>()
  private readonly messages = new Map<string, number>()

  constructor (private readonly sim: Simulation) {
    this.hosts = new TaskHosts(sim, createRand((sim.cfg.seed * 7919 + 4_451) >>> 0))
    this.bus = new MessageBus(sim, agent => this.hosts.agents.get(agent)?.node)
  }

  /** Called after every tick round. */
  poll (): void { this.hosts.tick(); this.bus.tick() }

  run (s: TaskStep): void {
    switch (s.kind) {
      case 'worker': {
        const prev = this.hosts.agents.get(s.agent)
        this.hosts.addAgent({
          agent: s.agent,
          node: s.node ?? prev?.node ?? 1,
          capabilities: s.capabilities ?? prev?.capabilities ?? [],
          plan: { does: s.does ?? prev?.plan.does ?? 'complete', workMs: s.workMs ?? prev?.plan.workMs ?? TASK_WORK_MS_DEFAULT }
        })
        return
      }
      case 'task': {
        const rec: TaskRec = { node: s.node }
        this.tasks.set(s.id, rec)
        let done = false
        this.hosts.submit(s.node, {
          t: 'task.submit',
          target: s.target,
          payload: s.payload,
          ...(s.retries !== undefined ? { retries: s.retries } : {}),
          ...(s.timeoutMs !== undefined ? { timeoutMs: s.timeoutMs } : {}),
          ...(s.ackMs !== undefined ? { ackMs: s.ackMs } : {}),
          ...(s.key !== undefined ? { key: s.key } : {})
        }, (o: CoordOutcome | undefined) => {
          done = true
          rec.id = taskIdOf(o)
          if (rec.id === undefined) {
            rec.failed = o === undefined ? 'not applied' : `${String(o.result?.code)}: ${String(o.result?.message)}`
            this.sim.recordRefusal(`task ${s.id} at node ${s.node}: ${rec.failed}`)
          } else {
            rec.created = o?.result?.created !== false
          }
        }, TASK_VERB_TIMEOUT_MS)
        this.sim.runFor(TASK_VERB_TIMEOUT_MS, () => done)
        if (!done) this.sim.recordRefusal(`task ${s.id} at node ${s.node}: not applied within ${TASK_VERB_TIMEOUT_MS} ms (still in progress)`)
        return
      }
      case 'cancel': {
        const rec = this.tasks.get(s.task) as TaskRec
        if (rec.id === undefined) { this.sim.recordRefusal(`cancel ${s.task}: the task was not submitted${rec.failed !== undefined ? ` (${rec.failed})` : ''}`); return }
        let done = false
        this.hosts.propose(rec.node, { t: 'task.cancel', task: rec.id }, o => {
          done = true
          if (o?.result?.ok !== true) this.sim.recordRefusal(`cancel ${s.task} at node ${rec.node}: ${o === undefined ? 'not applied' : `${String(o.result?.code)}: ${String(o.result?.message)}`}`)
        }, TASK_VERB_TIMEOUT_MS)
        this.sim.runFor(TASK_VERB_TIMEOUT_MS, () => done)
        if (!done) this.sim.recordRefusal(`cancel ${s.task} at node ${rec.node}: not applied within ${TASK_VERB_TIMEOUT_MS} ms (still in progress)`)
        return
      }
      case 'message': {
        const m = this.bus.send(s.id, s.from, s.to, s.timeoutMs)
        this.messages.set(s.id, m.id)
        if (m.status === 'refused') { this.sim.recordRefusal(`message ${s.id}: host of ${s.from} is down`); return }
        this.sim.runFor(s.timeoutMs, () => m.status !== 'sent')
      }
    }
  }

  private view (label: string, m: TasksMachine): TaskView | undefined {
    const id = this.tasks.get(label)?.id
    return id === undefined || m === undefined ? undefined : m.get(id)
  }

  /** The report's `tasks` section from the machine of the node the report shows. */
  report (m: TasksMachine): TasksReport {
    const out: TasksReport = { tasks: nullObject(), messages: nullObject() }
    for (const [label, rec] of this.tasks) {
      const v = this.view(label, m)
      out.tasks[label] = {
        task: rec.id ?? null,
        created: rec.created ?? null,
        state: v?.state ?? 'unknown',
        agent: v?.agent ?? null,
        attempts: (v?.history ?? []).map(a => ({ attempt: a.attempt, agent: a.agent, node: nodeOf(a.host), end: a.end ?? null })),
        completedBy: v?.state === 'completed' ? v.attempts : null
      }
    }
    for (const [label, id] of this.messages) {
      const msg = this.bus.messages.get(id)
      if (msg !== undefined) out.messages[label] = { from: msg.from, to: msg.to, status: msg.status, delivered: msg.deliveries }
    }
    return out
  }

  /** The `task` and `message` expectations against machine `m`. */
  evaluate (e: Expectation, m: TasksMachine): string[] {
    const fails: string[] = []
    const cmp = (what: string, w: unknown, g: unknown): void => { if (w !== undefined && j(w) !== j(g)) fails.push(`${what}: expected ${j(w)}, got ${j(g)}`) }
    for (const [label, w] of Object.entries(e.task ?? {})) {
      const rec = this.tasks.get(label)
      const v = this.view(label, m)
      if (v === undefined) { fails.push(`task ${label}: not found${rec?.failed !== undefined ? ` (${rec.failed})` : ''}`); continue }
      cmp(`task ${label} state`, w.state, v.state)
      cmp(`task ${label} agent`, w.agent, v.agent)
      cmp(`task ${label} attempts`, w.attempts, v.attempts)
      cmp(`task ${label} completedBy`, w.completedBy, v.state === 'completed' ? v.attempts : null)
      cmp(`task ${label} ends`, w.ends, v.history.filter(a => a.end !== undefined && a.end !== 'completed').map(a => a.end))
      cmp(`task ${label} created`, w.created, rec?.created)
      if (w.sameAs !== undefined) cmp(`task ${label} sameAs ${w.sameAs}`, this.tasks.get(w.sameAs)?.id, rec?.id)
    }
    for (const [label, w] of Object.entries(e.message ?? {})) {
      const msg = this.bus.messages.get(this.messages.get(label) ?? 0)
      if (msg === undefined) { fails.push(`message ${label}: not sent`); continue }
      cmp(`message ${label} status`, w.status, msg.status)
      cmp(`message ${label} delivered`, w.delivered, msg.deliveries)
    }
    return fails
  }
}

type TasksMachine = ReturnType<Simulation['tasksOf']>
