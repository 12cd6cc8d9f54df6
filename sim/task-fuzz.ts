/**
 * Random task and message traffic for the fuzzer (sim/fuzz.ts, on by default), so the task checkers
 * (sim/task-checkers.ts) and the message checkers (sim/messages.ts) have submits, assignments,
 * completions, failures, timeouts, lost hosts and reassignments to check in every seed, under the
 * seed's crashes, partitions and leader changes. Its own PRNG stream (derived from the seed): the fault
 * schedule and the client operations are drawn as before.
 *
 * Two agents live on each node: `a<i>.0` (capability `cpu`) and `a<i>.1` (`gpu`, and `cpu` on odd nodes).
 * Each attempt an agent takes is worked as drawn here: completed (70 %), failed (10 %) — after a work time
 * of 50–500 ms (60 %) or 500–3,000 ms —, hung — acked, never finished, so it times out — (10 %), or
 * never acked (10 %): with timeouts of 500–3,000 ms, slow attempts time out and their late completes
 * must be refused. A fifth of the completes and fails are sent twice (a client retrying a lost answer). The hosts and the
 * dispatcher are sim/task-hosts.ts (leases of {@link TASK_FUZZ_LEASE_TTL_MS}).
 *
 * About `rate` episodes per virtual second (random gaps), each one of:
 * - `submit` (85 %): 1–3 tasks from a random live member, for a capability (80 %) or one agent, with 0–3
 *   retries, a 500–3,000 ms timeout and a 300–1,500 ms ack window; 30 % carry an idempotency key from a
 *   small pool (`k0`..`k3`), so some repeat an earlier submit of the same node;
 * - `cancel` (15 %): the submitter cancels one of its unfinished tasks.
 * Besides, about every {@link TASK_FUZZ_MESSAGE_GAP_MS} an agent on a live host sends a random agent a message (timeout
 * 500–1,500 ms): they cost no log entries, so there are many, and some meet the network's duplicates
 * and partitions.
 */
import { createRand } from '../src/base/prng.js'
import type { Rand } from '../src/base/prng.js'
import { LimitExceededError } from '../src/base/errors.js'
import type { TaskEvent } from '../protocols/tasks/types.js'
import type { Workload } from './runner.js'
import type { Simulation } from './simulation.js'
import { TaskHosts } from './task-hosts.js'
import type { SimAgent, WorkPlan } from './task-hosts.js'
import { MessageBus } from './messages.js'

/** Submits per seed by default, and at most. */
export const TASK_FUZZ_SUBMITS_DEFAULT = 200
export const TASK_FUZZ_SUBMITS_MAX = 10_000
/** TTL of the hosts' leases in the fuzz (ms of log time). */
export const TASK_FUZZ_LEASE_TTL_MS = 6_000
/** Mean gap between two agents' messages (virtual ms). */
export const TASK_FUZZ_MESSAGE_GAP_MS = 100
/** Idempotency keys each node draws from. */
export const TASK_FUZZ_KEYS = 4

export interface TaskWorkloadOptions {
  /** Episodes per second of virtual time, on average. Default 1. */
  rate?: number
  /** Task submits at most. Default {@link TASK_FUZZ_SUBMITS_DEFAULT}. */
  submits?: number
}

export interface TaskWorkloadResult {
  /** Submits proposed. */
  submitted: number
  /** Committed task events by type (each counted once, at its first application). */
  events: Record<string, number>
  /** Task commands the machine refused, by code (`ERR_STALE_ATTEMPT`: an ended attempt's late command). */
  refused: Record<string, number>
  /** Messages sent, by final status. */
  messages: Record<string, number>
}

export class TaskWorkload implements Workload {
  private sim: Simulation | undefined
  private hosts: TaskHosts | undefined
  private bus: MessageBus | undefined
  private readonly rand: Rand
  private readonly gapMs: number
  private readonly submitsMax: number
  private stopped = false
  private nextEpisodeAt = 0
  private nextMessageAt = 0
  private messages = 0
  readonly result: TaskWorkloadResult = { submitted: 0, events: {}, refused: {}, messages: {} }

  constructor (seed: number, options: TaskWorkloadOptions = {}) {
    this.rand = createRand((seed * 7127 + 2_903) >>> 0)
    this.gapMs = 1000 / (options.rate ?? 1)
    this.submitsMax = options.submits ?? TASK_FUZZ_SUBMITS_DEFAULT
    if (this.submitsMax > TASK_FUZZ_SUBMITS_MAX) throw new LimitExceededError('TASK_FUZZ_SUBMITS_MAX', TASK_FUZZ_SUBMITS_MAX, this.submitsMax, 'task workload submits')
  }

  attach (sim: Simulation): void {
    this.sim = sim
    const plans = this.rand.fork()
    const hosts = new TaskHosts(sim, this.rand.fork(), { leaseTtlMs: TASK_FUZZ_LEASE_TTL_MS, plan: () => plan(plans) })
    for (let i = 1; i <= sim.size; i++) {
      const agent = (k: number, capabilities: string[]): SimAgent => ({ agent: `a${i}.${k}`, node: i, capabilities, plan: { does: 'complete', workMs: 100 } })
      hosts.addAgent(agent(0, ['cpu']))
      hosts.addAgent(agent(1, i % 2 === 1 ? ['gpu', 'cpu'] : ['gpu']))
    }
    this.hosts = hosts
    this.bus = new MessageBus(sim, a => hosts.agents.get(a)?.node)
    sim.onTaskEvent((e: TaskEvent) => { this.result.events[e.type] = (this.result.events[e.type] ?? 0) + 1 })
  }

  /** Start no more episodes (the liveness phase); tasks under way go on. */
  stop (): void { this.stopped = true }

  finish (): void {
    const hosts = this.hosts as TaskHosts
    Object.assign(this.result.refused, hosts.stats.refused)
    if (process.env.TASK_DEBUG !== undefined) console.log(JSON.stringify(hosts.stats))
    for (const m of (this.bus as MessageBus).messages.values()) this.result.messages[m.status] = (this.result.messages[m.status] ?? 0) + 1
  }

  tick (): void {
    const sim = this.sim as Simulation
    ;(this.hosts as TaskHosts).tick()
    ;(this.bus as MessageBus).tick()
    if (this.stopped) return
    if (sim.now >= this.nextMessageAt) {
      this.nextMessageAt = sim.now + this.rand.int(2 * TASK_FUZZ_MESSAGE_GAP_MS)
      const agents = [...(this.hosts as TaskHosts).agents.values()]
      const senders = agents.filter(a => !sim.isCrashed(a.node))
      if (senders.length > 0) {
        this.messages++
        ;(this.bus as MessageBus).send(`m${this.messages}`, this.rand.pick(senders).agent, this.rand.pick(agents).agent, 500 + 100 * this.rand.int(11))
      }
    }
    if (sim.now < this.nextEpisodeAt) return
    this.nextEpisodeAt = sim.now + this.rand.int(Math.max(1, Math.round(2 * this.gapMs)))
    this.episode(sim)
  }

  /** A live member of the leader's configuration (any live node without a leader), or 0. */
  private member (sim: Simulation): number {
    const leader = sim.leaderId()
    const conf = leader === 0 ? undefined : sim.configOf(leader)
    const out: number[] = []
    for (let id = 1; id <= sim.size; id++) if (!sim.isCrashed(id) && (conf === undefined || conf.voters.includes(id) || conf.learners.includes(id))) out.push(id)
    return out.length === 0 ? 0 : this.rand.pick(out)
  }

  private episode (sim: Simulation): void {
    const r = this.rand
    const hosts = this.hosts as TaskHosts
    const k = r.int(100)
    const node = this.member(sim)
    if (node === 0) return
    if (k < 85) {
      for (let n = 1 + r.int(3); n > 0 && this.result.submitted < this.submitsMax; n--) {
        this.result.submitted++
        const target = r.chance(0.8) ? { capability: r.pick(['cpu', 'gpu']) } : { agent: `a${1 + r.int(sim.size)}.${r.int(2)}` }
        hosts.submit(node, {
          t: 'task.submit',
          target,
          payload: JSON.stringify(this.result.submitted),
          retries: r.int(4),
          timeoutMs: 500 + 100 * r.int(26),
          ackMs: 300 + 100 * r.int(13),
          ...(r.chance(0.3) ? { key: `k${r.int(TASK_FUZZ_KEYS)}` } : {})
        })
      }
    } else {
      const mine: number[] = []
      for (const t of hosts.book.values()) if (t.origin === `n${node}` && (t.state === 'submitted' || t.state === 'assigned')) mine.push(t.id)
      if (mine.length > 0) hosts.propose(node, { t: 'task.cancel', task: r.pick(mine) })
    }
  }
}

/** How an agent works one attempt (see the module doc). */
function plan (r: Rand): WorkPlan {
  const k = r.int(10)
  const workMs = r.chance(0.6) ? 50 + 50 * r.int(10) : 500 + 100 * r.int(26)
  if (k < 8) return { does: k < 7 ? 'complete' : 'fail', workMs, repeat: r.chance(0.2) }
  return { does: k < 9 ? 'hang' : 'silent', workMs }
}
