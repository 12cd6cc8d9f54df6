import type { StoredCheck } from './checks.js'
import type { StoredAgent } from './descriptor.js'
import type { HostState } from './liveness.js'
import type { AgentStatus, AgentView, Freshness, Health } from './types.js'

const NO_CHECKS: readonly StoredCheck[] = Object.freeze([])

/**
 * The materialised form of one agent, built once per change (never per read) from the value in its
 * host's document. `status`, `freshness` and `health` read the host's live lease record, so they are
 * always current: the host's liveness is one of the agent's health checks, so an agent of an unreachable
 * host reads `unhealthy` (its host's last word stays in {@link hostHealth}).
 */
export class AgentRecord implements AgentView {
  readonly id: string
  readonly host: string
  readonly capabilities: readonly string[]
  readonly zone: string | undefined
  readonly resources: Readonly<Record<string, number>>
  /** @internal The health its host wrote (indexed); {@link health} adds the host's liveness. */
  readonly hostHealth: Health
  readonly reportedHealth: Health | undefined
  readonly checks: readonly StoredCheck[]
  readonly metadata: Readonly<Record<string, unknown>>
  readonly load: number | undefined
  readonly updatedAt: number
  readonly claimedAt: number | undefined
  /** @internal */
  readonly hostState: HostState
  /**
   * @internal Number of hosts claiming this id (this one included), kept current by the index: more than
   * one makes the id contested.
   */
  claimants = 1

  constructor (id: string, stored: StoredAgent, hostState: HostState) {
    this.id = id
    this.host = hostState.host
    this.capabilities = stored.capabilities
    this.zone = stored.zone
    this.resources = stored.resources
    this.hostHealth = stored.health
    this.checks = stored.checks ?? NO_CHECKS
    this.reportedHealth = stored.checks !== undefined ? stored.reportedHealth ?? stored.health : undefined
    this.metadata = stored.metadata
    this.load = stored.load
    this.updatedAt = stored.updatedAt
    this.claimedAt = stored.claimedAt
    this.hostState = hostState
  }

  /** Another host claims this id too (the index shows the earliest claim; see agent-index.ts). */
  get contested (): boolean {
    return this.claimants > 1
  }

  /** The host's verdict (its checks on the agent's report), or `unhealthy` while the host is unreachable. */
  get health (): Health {
    return this.hostState.reachable ? this.hostHealth : 'unhealthy'
  }

  get status (): AgentStatus {
    return this.hostState.reachable ? 'reachable' : 'unreachable'
  }

  get freshness (): Freshness {
    const silent = this.hostState.silentMs()
    return { asOf: this.hostState.now(), hostSilentMs: silent, updatedAt: this.updatedAt, hostOverQuota: this.hostState.overQuota }
  }

  /** Same descriptor content (ignoring liveness). */
  sameAs (other: AgentRecord): boolean {
    return this.updatedAt === other.updatedAt && this.host === other.host &&
      JSON.stringify(this.descriptor()) === JSON.stringify(other.descriptor())
  }

  /** The plain descriptor (for JSON and the HTTP API). */
  descriptor (): Record<string, unknown> {
    const d: Record<string, unknown> = {
      id: this.id,
      host: this.host,
      capabilities: this.capabilities,
      resources: this.resources,
      health: this.hostHealth,
      metadata: this.metadata,
      updatedAt: this.updatedAt
    }
    if (this.zone !== undefined) d.zone = this.zone
    if (this.load !== undefined) d.load = this.load
    if (this.claimedAt !== undefined) d.claimedAt = this.claimedAt
    if (this.reportedHealth !== undefined) {
      d.checks = this.checks
      d.reportedHealth = this.reportedHealth
    }
    return d
  }

  toJSON (): Record<string, unknown> {
    return { ...this.descriptor(), health: this.health, status: this.status, hostSilentMs: this.hostState.silentMs(), hostOverQuota: this.hostState.overQuota, contested: this.contested }
  }
}
