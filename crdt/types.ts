/** Public types of the agent registry and eventual variables. */
import type { StoredCheck } from './checks.js'

export type Health = 'healthy' | 'degraded' | 'unhealthy'
export const HEALTH_VALUES: readonly Health[] = ['healthy', 'degraded', 'unhealthy']

/** What a caller gives to `register()`; `host` is set by the registry. */
export interface AgentInput {
  /** Globally unique agent id: 1..128 chars of [A-Za-z0-9._:@/-]. */
  id: string
  capabilities?: string[]
  zone?: string
  /** Numeric resources: cpu, memoryMb, gpu... */
  resources?: Record<string, number>
  health?: Health
  /** Free JSON metadata (counted in the descriptor size limit). */
  metadata?: Record<string, unknown>
  /** Current load in [0, 1] (used by the `least-loaded` strategy). */
  load?: number
}

/** A patch for `update()`: any field but `id` and `host`. */
export type AgentPatch = Partial<Omit<AgentInput, 'id'>>

/** An agent as stored: the input plus the host peer and the host's write time. */
export interface AgentDescriptor {
  readonly id: string
  /** Peer id of the host peer; only that peer may change or remove the agent. */
  readonly host: string
  readonly capabilities: readonly string[]
  readonly zone: string | undefined
  readonly resources: Readonly<Record<string, number>>
  /**
   * The agent's health: what its host wrote (with health checks, their verdict on the agent's own report:
   * crdt/checks.ts), or `unhealthy` while the host is unreachable (the host's liveness is a check too).
   */
  readonly health: Health
  /** The results of the agent's health checks (peers/checks), as its host last wrote them; empty without checks. */
  readonly checks: readonly StoredCheck[]
  /** With checks: the health the agent reported itself (which `health` never betters). */
  readonly reportedHealth: Health | undefined
  readonly metadata: Readonly<Record<string, unknown>>
  readonly load: number | undefined
  /** Host's wall clock (ms since epoch) at the last write of this descriptor. Informational. */
  readonly updatedAt: number
  /**
   * Host's wall clock (ms) when it claimed this id, kept by updates; the earliest claim owns the id
   * (crdt/README.md, "Who owns an agent id"). Undefined for descriptors written by older peers.
   */
  readonly claimedAt: number | undefined
}

/** `reachable`: the host's lease is current (or it is this peer). `unreachable`: its lease expired. */
export type AgentStatus = 'reachable' | 'unreachable'

/** How fresh a piece of replicated data is, as seen from this peer. */
export interface Freshness {
  /** Local wall-clock ms when the answer was computed. */
  readonly asOf: number
  /** Ms since this peer last heard from the host (0 for the local peer); Infinity if never. */
  readonly hostSilentMs: number
  /** Host's write time of the descriptor. */
  readonly updatedAt: number
  /**
   * The host's document went over `docBytesMax` on this peer: its later updates are refused, so this
   * descriptor may be stale until the host compacts its document.
   */
  readonly hostOverQuota: boolean
}

/** A registry entry as returned by reads: the descriptor plus liveness and freshness. */
export interface AgentView extends AgentDescriptor {
  readonly status: AgentStatus
  readonly freshness: Freshness
  /** Another host claims this id too; this is the owning (earliest) claim. See `agent:contested`. */
  readonly contested: boolean
}

export type WhereOp = 'eq' | 'neq' | 'gt' | 'gte' | 'lt' | 'lte' | 'in' | 'notIn' | 'exists'
export const WHERE_OPS: readonly WhereOp[] = ['eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'in', 'notIn', 'exists']

/** `[path, op, value]`; path is dot-separated into the descriptor (`resources.gpu`, `metadata.model`). */
export type WhereClause = readonly [path: string, op: WhereOp, value?: unknown]

export interface QueryCriteria {
  /** Agents having this capability (or all of these capabilities). */
  capability?: string | readonly string[]
  health?: Health | readonly Health[]
  host?: string
  zone?: string
  /** Only reachable agents (default false: unreachable ones are returned, marked). */
  reachableOnly?: boolean
  /** AND-combined criteria on any field. Capability lists match by membership under `eq`/`in`. */
  where?: readonly WhereClause[]
  /** Max results (default `queryResultsMax`). */
  limit?: number
  /** Sort by a path, ascending unless `desc`. Without it, order is unspecified. */
  orderBy?: string | { path: string, desc?: boolean }
}

export interface QueryResult {
  readonly agents: AgentView[]
  /** True when more agents matched than `limit` allowed. */
  readonly truncated: boolean
  readonly freshness: {
    readonly asOf: number
    /** The largest `hostSilentMs` among the hosts of the returned agents. */
    readonly oldestHostSilentMs: number
    /** Hosts of returned agents whose documents are over quota here (their agents may be stale). */
    readonly overQuotaHosts: number
  }
}

export type LookupStrategy = 'nearest-healthy' | 'least-loaded' | 'random-healthy'

export type RegistryEvent =
  | { type: 'agent:joined', agent: AgentView }
  | { type: 'agent:updated', agent: AgentView, previous: AgentView }
  | { type: 'agent:left', agent: AgentView, reason: 'unregistered' | 'pruned' | 'replaced' }
  | { type: 'agent:unreachable', agent: AgentView }
  | { type: 'agent:reachable', agent: AgentView }

export interface RegistryEvents {
  'agent:joined': CustomEvent<{ agent: AgentView }>
  'agent:updated': CustomEvent<{ agent: AgentView, previous: AgentView }>
  'agent:left': CustomEvent<{ agent: AgentView, reason: 'unregistered' | 'pruned' | 'replaced' }>
  'agent:unreachable': CustomEvent<{ agent: AgentView }>
  'agent:reachable': CustomEvent<{ agent: AgentView }>
}
