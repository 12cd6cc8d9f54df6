/**
 * A peer's local rate limits (FEATURES I2): token buckets (protocols/infrastructure/token-bucket.ts) on
 * the paths into and out of the peer, read on the peer's monotonic clock.
 *
 * | limit | bucket per | checked where | refusal |
 * |---|---|---|---|
 * | `peerRequests` | remote peer | the agents' channel, host side, before a frame takes a slot | the caller's AgentError `ERR_RATE_LIMITED` (`details.retryAfterMs`) |
 * | `agentRequests` | local agent | the same, and local calls to a local agent | the same |
 * | `writes` | this peer | registry register/registerMany/update/unregister, eventual set/add | {@link RateLimitedError} |
 * | `proposals` | this peer | Raft operations callers start (see peers/README.md) | {@link RateLimitedError} |
 * | `peerProposals` | remote peer | the Raft client path on a member (peers/raft/quota.ts) | {@link RateLimitedError} at the client |
 *
 * A refusal spends nothing and is counted (`stats`); nothing here throws on the serving side of a
 * channel (a refusal there is a reply).
 */
import { RateLimitedError } from '../../src/base/errors.js'
import { KeyedTokenBuckets, TokenBucket } from '../../protocols/infrastructure/token-bucket.js'
import type { ResolvedRateLimits, RateLimitName } from './options.js'

/** Keys (agents, remote peers) with a bucket at once, per keyed limit (beyond: idle buckets go first). */
export const RATE_LIMIT_KEYS_MAX = 10_000
/** Busy keys a listing names at most. */
export const RATE_LIMIT_LIST_MAX = 64

/** How long a limit that refused a call counts as refusing lately ({@link PeerRateLimits.recent}). */
export const RATE_LIMIT_RECENT_MS = 60_000

/** A refusal of the serving side: which limit, and when a retry could pass. */
export interface Refusal { limit: 'agentRequests' | 'peerRequests', key: string, retryAfterMs: number }

/** What `states()` reports of one limit. */
export interface RateLimitState {
  /** The bucket's options, or false when the limit is off. */
  limit: { ratePerSecond: number, burst: number } | false
  /** Calls refused so far. */
  refused: number
  /** Tokens held now (the peer-wide limits), or the keys below a full bucket (keyed limits). */
  available?: number
  busy?: Array<{ key: string, available: number }>
}

export class PeerRateLimits {
  private readonly agents: KeyedTokenBuckets | undefined
  private readonly peers: KeyedTokenBuckets | undefined
  private readonly writes: TokenBucket | undefined
  private readonly proposals: TokenBucket | undefined
  /** Refusals per limit (`peerProposals` is counted by the Raft client path: {@link peerProposalsRefused}). */
  readonly stats: Record<Exclude<RateLimitName, 'peerProposals'>, number> = { agentRequests: 0, peerRequests: 0, writes: 0, proposals: 0 }
  /** Client requests the Raft client path refused over `peerProposals` (set by the peer once it runs Raft). */
  peerProposalsRefused: () => number = () => 0

  constructor (readonly limits: ResolvedRateLimits, private readonly now: () => number = () => performance.now()) {
    const t = now()
    if (limits.agentRequests !== false) this.agents = new KeyedTokenBuckets(limits.agentRequests, RATE_LIMIT_KEYS_MAX)
    if (limits.peerRequests !== false) this.peers = new KeyedTokenBuckets(limits.peerRequests, RATE_LIMIT_KEYS_MAX)
    if (limits.writes !== false) this.writes = new TokenBucket(limits.writes, t)
    if (limits.proposals !== false) this.proposals = new TokenBucket(limits.proposals, t)
  }

  /**
   * One inbound frame from `peer` (undefined: a caller on this peer) for local agent `agent` (undefined:
   * none named, or not hosted here): undefined when it may go on, else the refusal. The peer's bucket is
   * taken first, so a flood of agent names costs the flooder its own tokens.
   */
  inbound (peer: string | undefined, agent: string | undefined): Refusal | undefined {
    const now = this.now()
    if (peer !== undefined && this.peers !== undefined) {
      const r = this.peers.take(peer, now)
      if (!r.ok) { this.stats.peerRequests++; return { limit: 'peerRequests', key: peer, retryAfterMs: r.retryAfterMs } }
    }
    if (agent !== undefined && this.agents !== undefined) {
      const r = this.agents.take(agent, now)
      if (!r.ok) { this.stats.agentRequests++; return { limit: 'agentRequests', key: agent, retryAfterMs: r.retryAfterMs } }
    }
    return undefined
  }

  /** `n` local document writes; throws {@link RateLimitedError} (`limit: 'writes'`) when over. */
  write (n = 1): void {
    if (this.writes === undefined) return
    const r = this.writes.take(this.now(), n)
    if (r.ok) return
    this.stats.writes++
    throw new RateLimitedError('writes', r.retryAfterMs, { what: n === 1 ? 'a local write' : `${n} local writes` })
  }

  /** One Raft operation a caller starts (`what`: its command type); throws {@link RateLimitedError} (`limit: 'proposals'`). */
  proposal (what: string): void {
    if (this.proposals === undefined) return
    const r = this.proposals.take(this.now())
    if (r.ok) return
    this.stats.proposals++
    throw new RateLimitedError('proposals', r.retryAfterMs, { what })
  }

  private readonly lastRefusal = new Map<RateLimitName, { total: number, at: number }>()

  /**
   * The limits that refused a call within the last `windowMs` (what the health report calls rate-limited):
   * one entry per limit, keyed by its busiest key (`self` for the peer-wide ones), with its refusals so far.
   * Refusals are noticed when this is called (the health monitor calls it every heartbeat period).
   */
  recent (windowMs = RATE_LIMIT_RECENT_MS): Array<{ scope: RateLimitName, key: string, refused: number, available?: number }> {
    const now = this.now()
    const out: Array<{ scope: RateLimitName, key: string, refused: number, available?: number }> = []
    for (const [name, st] of Object.entries(this.states()) as Array<[RateLimitName, RateLimitState]>) {
      const seen = this.lastRefusal.get(name)
      if (seen === undefined) this.lastRefusal.set(name, { total: st.refused, at: st.refused > 0 ? now : Number.NEGATIVE_INFINITY })
      else if (seen.total !== st.refused) this.lastRefusal.set(name, { total: st.refused, at: now })
      const at = this.lastRefusal.get(name)!.at
      if (st.refused === 0 || now - at >= windowMs) continue
      const busiest = st.busy?.reduce<{ key: string, available: number } | undefined>((m, b) => m === undefined || b.available < m.available ? b : m, undefined)
      out.push({ scope: name, key: busiest?.key ?? 'self', refused: st.refused, ...(busiest !== undefined ? { available: busiest.available } : st.available !== undefined ? { available: st.available } : {}) })
    }
    return out
  }

  /** Each limit's options, refusals, and what it holds now (busy keys for the keyed ones, at most {@link RATE_LIMIT_LIST_MAX}). */
  states (): Record<RateLimitName, RateLimitState> {
    const now = this.now()
    const keyed = (k: 'agentRequests' | 'peerRequests', set: KeyedTokenBuckets | undefined): RateLimitState =>
      ({ limit: this.limits[k], refused: this.stats[k], ...(set !== undefined ? { busy: set.busy(now, RATE_LIMIT_LIST_MAX) } : {}) })
    const single = (k: 'writes' | 'proposals', b: TokenBucket | undefined): RateLimitState =>
      ({ limit: this.limits[k], refused: this.stats[k], ...(b !== undefined ? { available: b.available(now) } : {}) })
    return {
      agentRequests: keyed('agentRequests', this.agents),
      peerRequests: keyed('peerRequests', this.peers),
      writes: single('writes', this.writes),
      proposals: single('proposals', this.proposals),
      peerProposals: { limit: this.limits.peerProposals, refused: this.peerProposalsRefused() }
    }
  }
}
