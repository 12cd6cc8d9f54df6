/**
 * The reachability-view exchange (FEATURES I3): publishes this peer's view (view.ts) on
 * `/agora/<mesh>/view/2` and keeps the last view of each sender. Inbound views are validated in the
 * topic validator: unsigned or undecodable → reject (`viewsRejected`, logged at debug); our own →
 * ignore; a replay (not newer than the sender's last one, or older than the replay bound) or one stamped
 * too far ahead of our clock → ignore (`viewsStale`, `viewsFuture`, as heartbeats are filtered); beyond
 * the sender's quota ({@link VIEW_QUOTA_BURST} views, refilled {@link VIEW_QUOTA_PER_HEARTBEAT} per
 * heartbeat period) → ignore (`viewsOverQuota`). At most `hostsMax` senders are remembered (oldest
 * forgotten first), and their quotas likewise.
 *
 * @example
 * ```ts
 * const views = new ViewExchange({ pubsub: node.services.pubsub, self: peerId, logger }, { mesh: 'agora', heartbeatIntervalMs: 1000 })
 * await views.start()
 * views.publish({ sentAtMs: Date.now(), reached: 4, silentTotal: 0, silent: [] })
 * views.get(otherPeerId) // { receivedAt, reached, silentTotal, silent: Set }
 * await views.stop()
 * ```
 */
import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { SealedMessage, SealedPubsub } from '../seal.js'
import type { Logger } from '../../src/base/log.js'
import { KeyedTokenBuckets } from '../../protocols/infrastructure/token-bucket.js'
import { HeartbeatFilter } from '../sync/liveness/heartbeat.js'
import { DEFAULT_HLC_DRIFT_MS_MAX, DEFAULT_HOSTS_MAX, HEARTBEAT_AGE_MAX_LEASES, HEARTBEAT_AGE_MIN_MS } from '../sync/liveness/constants.js'
import { decodeView, encodeView, viewTopic } from './view.js'
import type { ReachabilityView } from './view.js'
import type { ViewInput } from './report.js'

/** Views a sender may send in a burst. */
export const VIEW_QUOTA_BURST = 4
/** Views a sender's quota regains per heartbeat period (a sender sends at most one). */
export const VIEW_QUOTA_PER_HEARTBEAT = 2

export interface ViewStats {
  viewsSent: number
  viewsReceived: number
  /** Unsigned or malformed views (rejected: gossipsub penalises the relay). */
  viewsRejected: number
  /** Replays: not newer than the sender's previous view, or too old. */
  viewsStale: number
  /** Stamped more than `hlcDriftMsMax` ahead of our clock. */
  viewsFuture: number
  /** Beyond the sender's quota. */
  viewsOverQuota: number
}

export interface ViewExchangeComponents {
  /** Gossipsub through the application seal (peers/seal.ts): publishes are signed, validators see authenticated authors. */
  pubsub: Pick<SealedPubsub, 'topicValidators' | 'subscribe' | 'unsubscribe' | 'publish'>
  /** This peer's id (its own views are ignored). */
  self: string
  logger: Logger
}

export interface ViewExchangeInit {
  /** Mesh of the topic. Default 'agora'. */
  mesh?: string
  /** The heartbeat period: paces the quota and the replay bound. */
  heartbeatIntervalMs: number
  /** Lease (replays are views older than {@link HEARTBEAT_AGE_MAX_LEASES} of them, at least a minute). Default 3 heartbeat periods. */
  leaseMs?: number
  /** Senders remembered. Default 4096. */
  hostsMax?: number
  /** Views stamped further ahead of our clock are ignored. Default 60000 ms. */
  hlcDriftMsMax?: number
}

export class ViewExchange {
  readonly stats: ViewStats = { viewsSent: 0, viewsReceived: 0, viewsRejected: 0, viewsStale: 0, viewsFuture: 0, viewsOverQuota: 0 }
  private readonly views = new Map<string, ViewInput>()
  private readonly topic: string
  private readonly filter: HeartbeatFilter
  private readonly quota: KeyedTokenBuckets
  private readonly hostsMax: number
  private running = false

  constructor (private readonly components: ViewExchangeComponents, init: ViewExchangeInit, private readonly now: () => number = Date.now) {
    this.topic = viewTopic(init.mesh ?? 'agora')
    this.hostsMax = init.hostsMax ?? DEFAULT_HOSTS_MAX
    const leaseMs = init.leaseMs ?? 3 * init.heartbeatIntervalMs
    this.filter = new HeartbeatFilter({
      ageMaxMs: Math.max(HEARTBEAT_AGE_MAX_LEASES * leaseMs, HEARTBEAT_AGE_MIN_MS),
      driftMsMax: init.hlcDriftMsMax ?? DEFAULT_HLC_DRIFT_MS_MAX,
      hostsMax: this.hostsMax
    }, now)
    this.quota = new KeyedTokenBuckets({ ratePerSecond: (VIEW_QUOTA_PER_HEARTBEAT * 1000) / init.heartbeatIntervalMs, burst: VIEW_QUOTA_BURST }, this.hostsMax)
  }

  /** Validates and subscribes to the topic (idempotent). */
  async start (): Promise<void> {
    if (this.running) return
    this.running = true
    this.components.pubsub.topicValidators.set(this.topic, (_peer, msg) => this.onView(msg))
    this.components.pubsub.subscribe(this.topic)
  }

  /** Unsubscribes (idempotent); the views received are kept. */
  async stop (): Promise<void> {
    if (!this.running) return
    this.running = false
    this.components.pubsub.topicValidators.delete(this.topic)
    try { this.components.pubsub.unsubscribe(this.topic) } catch {}
  }

  /** Publishes this peer's view (no-op while stopped). */
  publish (view: ReachabilityView): void {
    if (!this.running) return
    this.stats.viewsSent++
    this.components.pubsub.publish(this.topic, encodeView(view)).catch(() => {})
  }

  /** The last view received from `peerId`. */
  get (peerId: string): ViewInput | undefined {
    return this.views.get(peerId)
  }

  get size (): number { return this.views.size }

  private onView (msg: SealedMessage): TopicValidatorResult {
    const from = msg.from
    if (from === this.components.self) return TopicValidatorResult.Ignore
    let v: ReachabilityView
    try {
      v = decodeView(msg.data)
    } catch (err) {
      this.stats.viewsRejected++
      this.components.logger.debug('view rejected', { from, error: (err as Error).message })
      return TopicValidatorResult.Reject
    }
    const now = this.now()
    if (!this.quota.take(from, now).ok) { this.stats.viewsOverQuota++; return TopicValidatorResult.Ignore }
    const verdict = this.filter.check(from, v.sentAtMs)
    if (verdict === 'stale') { this.stats.viewsStale++; return TopicValidatorResult.Ignore }
    if (verdict === 'future') { this.stats.viewsFuture++; return TopicValidatorResult.Ignore }
    this.stats.viewsReceived++
    if (!this.views.has(from) && this.views.size >= this.hostsMax) this.views.delete(this.views.keys().next().value!)
    this.views.set(from, { receivedAt: now, reached: v.reached, silentTotal: v.silentTotal, silent: new Set(v.silent) })
    return TopicValidatorResult.Accept
  }
}
