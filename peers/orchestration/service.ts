/**
 * `peer.variables.orchestrated(name, options)`: the orchestrated variables one peer declares, bound to
 * the peer's strong variables (Raft), its coordination service (the owner's singleton), its registry
 * (the affected agents), its request interface (`peer.agents`, custom protocol `orchestration`) and its
 * task events (`peer.tasks`).
 */
import type { Logger } from '../../src/base/log.js'
import { InvalidOptionError, LimitExceededError } from '../../src/base/errors.js'
import type { QueryCriteria, QueryResult } from '../../crdt/types.js'
import type { RegistryEventMap } from '../../crdt/registry.js'
import type { PeerCoordination } from '../coordination/service.js'
import type { PeerTasks } from '../tasks/service.js'
import { NoDeliveryError, OrchestrationExistsError } from './errors.js'
import { ORCHESTRATED_VARIABLES_MAX, ORCH_NAME_CHARS_MAX } from './limits.js'
import { ORCHESTRATION_PROTOCOL, OrchestratedVariable } from './variable.js'
import { isInstructionPayload } from './follow.js'
import type { InstructionPayload, OrchestratedOptions, OrchestrationComponents, StrongLike, TaskOutcome } from './variable.js'

/** Names of orchestrated variables: no `:` nor `/`, so their Raft keys never collide. */
export const ORCH_NAME_RE = new RegExp(`^[A-Za-z0-9._-]{1,${ORCH_NAME_CHARS_MAX}}$`)

/** The part of `peer.agents` the owner delivers instructions through. */
export interface AgentsLike {
  protocol: (name: string, schema?: (v: unknown) => boolean) => { request: (agent: string, payload: unknown, options?: { timeoutMs?: number, signal?: AbortSignal }) => Promise<unknown> }
}

/** The part of `peer.tasks` the owner reads outcomes (events, on Raft members) and latencies from. */
export type TasksLike = Pick<PeerTasks, 'on' | 'get'>

export interface PeerOrchestrationComponents {
  self: string
  log: Logger
  /** The strong variable `key` (looked up at each use: the peer's backend changes when it joins Raft). */
  strong: (key: string) => StrongLike
  coordination: Pick<PeerCoordination, 'runSingleton' | 'election' | 'lock'>
  registry: { query: (q: QueryCriteria) => QueryResult, on: <K extends keyof RegistryEventMap>(type: K, fn: (e: RegistryEventMap[K]) => void) => () => void }
  agents: () => AgentsLike | undefined
  tasks: () => TasksLike | undefined
}

const TEAM_EVENTS = ['agent:joined', 'agent:left', 'agent:updated', 'agent:reachable', 'agent:unreachable'] as const

/** The orchestrated variables of a peer. */
export class PeerOrchestration {
  private readonly vars = new Map<string, OrchestratedVariable<any>>()
  private protocol: ReturnType<AgentsLike['protocol']> | undefined
  private running = false
  constructor (private readonly ctx: PeerOrchestrationComponents) {}

  /** Orchestrated variables declared on this peer. */
  get size (): number { return this.vars.size }

  /**
   * Declares the orchestrated variable `name` on this peer: the handle, and this peer's candidacy for the
   * owner's duty. Every peer that should be able to take the duty over declares it, with the same options.
   */
  variable<T = unknown> (name: string, options: OrchestratedOptions<T>): OrchestratedVariable<T> {
    if (typeof name !== 'string' || !ORCH_NAME_RE.test(name)) throw new InvalidOptionError('name', `must be 1..${ORCH_NAME_CHARS_MAX} characters of [A-Za-z0-9._-]`, { name: String(name) })
    if (this.vars.has(name)) throw new OrchestrationExistsError(name)
    if (this.vars.size >= ORCHESTRATED_VARIABLES_MAX) throw new LimitExceededError('orchestratedVariablesMax', ORCHESTRATED_VARIABLES_MAX, this.vars.size + 1, 'orchestrated variables on this peer')
    const v = new OrchestratedVariable<T>(name, options, this.components(), () => { if (this.vars.get(name) === v) this.vars.delete(name) })
    this.vars.set(name, v)
    if (this.running) v.start()
    return v
  }

  /** Starts the declared handles' campaigns (after the coordination service started). Idempotent. */
  start (): void {
    this.running = true
    for (const v of this.vars.values()) v.start()
  }

  /** Stops every campaign and owner duty until the next start (the handles stay declared). Idempotent. */
  async stop (): Promise<void> {
    this.running = false
    await Promise.allSettled([...this.vars.values()].map(async v => await v.stop()))
  }

  private components (): OrchestrationComponents {
    const { ctx } = this
    return {
      self: ctx.self,
      log: ctx.log,
      strong: ctx.strong,
      runSingleton: (name, fn, options) => ctx.coordination.runSingleton(name, fn, options),
      lock: async (name, options) => await ctx.coordination.lock(name, options),
      owner: async (name) => (await ctx.coordination.election(name).leader())?.owner,
      query: (q) => ctx.registry.query(q),
      onTeamChange: (fn) => {
        const offs = TEAM_EVENTS.map(t => ctx.registry.on(t, () => { fn() }))
        return () => { for (const off of offs) off() }
      },
      deliver: async (agent, payload: InstructionPayload, options) => {
        const agents = ctx.agents()
        if (agents === undefined) throw new NoDeliveryError()
        this.protocol ??= agents.protocol(ORCHESTRATION_PROTOCOL, isInstructionPayload)
        return await this.protocol.request(agent, payload, options)
      },
      taskOutcomes: (fn) => {
        const tasks = ctx.tasks()
        if (tasks === undefined) return () => {}
        const on = (type: 'task:completed' | 'task:failed' | 'task:reassigned', outcome: TaskOutcome['outcome']): () => void => tasks.on(type, (e) => {
          if (typeof e.agent !== 'string') return
          const ended = e as { reason?: string, error?: string }
          fn({ outcome, task: e.task, attempt: e.attempt, agent: e.agent, ...(ended.reason !== undefined ? { reason: ended.reason } : {}), ...(ended.error !== undefined ? { error: ended.error } : {}) })
        })
        const offs = [on('task:completed', 'completed'), on('task:failed', 'failed'), on('task:reassigned', 'reassigned')]
        return () => { for (const off of offs) off() }
      },
      taskLatency: async (task, attempt) => {
        const t = await ctx.tasks()?.get(task)
        const a = t?.record.history.find(h => h.attempt === attempt)
        return a === undefined || t?.record.finishedAt === undefined ? undefined : Math.max(0, t.record.finishedAt - a.at)
      }
    }
  }
}
