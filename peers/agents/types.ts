/**
 * The agents' working surface (FEATURES C5): the public types of `peer.agents` (one request interface:
 * messages, requests, tasks, votes, bid requests and custom protocols, over one multiplexed channel per
 * host pair) and of `peer.tasks` (durable tasks on Raft, protocols/tasks).
 */
import type { BidHandler } from '../economy/economy.js'
import type { VoteHandler } from '../coordination/service.js'
import type { LookupStrategy, QueryCriteria } from '../../crdt/types.js'
import type { Allocation, TaskState, TaskView } from '../../protocols/tasks/types.js'

/** Who sent a message or request: the sending host (authenticated by the connection) and the agent it names. */
export interface Sender {
  /** Peer id of the sending host (the connection's authenticated peer, or this peer). */
  host: string
  /** The sending agent, when the sender named one hosted by `host` (checked against the registry); else undefined. */
  agent?: string
}

export interface AgentContext {
  /** The agent the call is for. */
  agent: string
  from: Sender
  /** Custom protocol name (`peer.agents.protocol(name)`), absent for plain requests. */
  protocol?: string
  /** Aborted when the caller's timeout passed or the peer stops. */
  signal: AbortSignal
}

/** A task as its agent's `onTask` handler sees it (read from the log, never from a frame's claims). */
export interface TaskInput {
  id: number
  attempt: number
  /** The payload, parsed from the JSON text the submitter recorded. */
  payload: unknown
  /** The submitting peer. */
  submitter: string
  /** Log time (ms since the epoch, the members' clocks) by which the attempt must finish: assignment + timeoutMs + graceMs; past it the task is reassigned. */
  deadline: number
}

export interface TaskContext extends AgentContext {
  task: number
  attempt: number
  /** Reports progress (0..1, optional short note), recorded in the log (coalesced, best effort). */
  progress: (value: number, note?: string) => Promise<void>
}

export interface AgentHandlers {
  /** A request: the returned value (JSON) is the reply; a throw becomes `ERR_HANDLER` at the caller. */
  onRequest?: (payload: unknown, ctx: AgentContext) => unknown
  /** A message (at most once; the host acknowledges it once this handler returned). */
  onMessage?: (message: unknown, ctx: AgentContext) => void | Promise<void>
  /**
   * A task attempt: the returned value (JSON) completes it; a throw fails it (retried while retries remain,
   * unless the error has `retry: false`).
   */
  onTask?: (task: TaskInput, ctx: TaskContext) => unknown
  /** A coordination vote (peer.coordination.vote): the chosen option, or null to abstain. */
  onVote?: VoteHandler
  /** An auction bid request (peer.economy.runAuction): the bid, or null to abstain. */
  onBidRequest?: BidHandler
  /** Handlers of custom protocols, by name (registered with `peer.agents.protocol(name)`). */
  protocols?: Record<string, (payload: unknown, ctx: AgentContext) => unknown>
}

export interface RequestOptions {
  /** Default {@link REQUEST_TIMEOUT_MS} (agents/service.ts). */
  timeoutMs?: number
  /** The local agent sending it (must be hosted here). */
  from?: string
  signal?: AbortSignal
  /**
   * `request` only: a named protocol's handler instead of `onRequest`, without registering the protocol
   * here (its schema, if this peer registered one, is checked; the host checks its own).
   */
  protocol?: string
  /**
   * A direct call (an agent id) whose agent's circuit breaker is open goes to another agent of the same
   * capability instead of failing with `ERR_CIRCUIT_OPEN`: `true` looks through the agent's own
   * capabilities (in its order, the first with a candidate), `{ capability, strategy?, attempts? }` names
   * one. Candidates come from the registry's `lookupWith` (then the other healthy reachable agents), open
   * breakers skipped. Default false.
   */
  fallback?: boolean | FallbackRoute
}

/** Where a direct call goes when its agent's breaker is open (`RequestOptions.fallback`). */
export interface FallbackRoute {
  capability: string
  strategy?: LookupStrategy
  /** Candidates tried at most (default 3). */
  attempts?: number
}

/** Routing by capability: the registry's `lookupWith` order, the next candidate tried when one is unreachable. */
export interface CapabilityRoute {
  capability: string
  strategy?: LookupStrategy
  /** Candidates tried at most (default 3). */
  attempts?: number
}

/** A named protocol registered at run time: requests carry its name and, with a schema, are validated on both ends. */
export interface AgentProtocol<Req = unknown, Res = unknown> {
  readonly name: string
  request: (agent: string | CapabilityRoute, payload: Req, options?: RequestOptions) => Promise<Res>
}

/** A schema: anything with zod's `safeParse`, or a predicate. */
export type PayloadSchema<T = unknown> = { safeParse: (v: unknown) => { success: true, data: T } | { success: false, error: { message: string } } } | ((v: unknown) => boolean)

/** A group message as `subscribe` handlers get it. */
export interface GroupMessage {
  topic: string
  message: unknown
  from: Sender
}

export interface TaskSpec {
  /** Exactly one of agent, capability, query. */
  agent?: string
  capability?: string
  query?: QueryCriteria
  payload?: unknown
  allocation?: Allocation
  retries?: number
  timeoutMs?: number
  graceMs?: number
  ackMs?: number
  /** Longest wait for an agent (from the submit, and again from each reassignment): past it the task fails `unassigned`. */
  queueMs?: number
  idempotencyKey?: string
  /** Reward escrowed from `account` (owned by this peer) and paid to the completing agent. */
  account?: string
  reward?: number
}

/** `peer.tasks.get(id)`: `result` is the parsed result of a completed task. */
export interface TaskInfo {
  id: number
  state: TaskState
  agent: string | null
  attempts: number
  result?: unknown
  error?: string
  /** The whole record as the log has it. */
  record: TaskView
}

export interface TaskListFilter {
  state?: TaskState
  agent?: string
  capability?: string
  /** Most returned (default and max TASK_LIMITS.listPageMax). */
  limit?: number
}
