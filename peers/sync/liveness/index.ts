/**
 * Liveness (R5): every `heartbeatIntervalMs` a heartbeat (codec in heartbeat.ts) on
 * `/agora/<mesh>/heartbeat/2` (gossipsub, sealed by the sender: peers/seal.ts): proof of life for the lease table, the sender's
 * load, and the position of its own documents, which tells a receiver it lags and should pull. Inbound
 * heartbeats feed the registry's lease table (`heard`, `hostLeft` for a leaving one) and the sync health
 * table (last heartbeat, lag); a lag still there a heartbeat later asks anti-entropy for an exchange.
 * Replays (not newer than the sender's previous heartbeat, or older than
 * {@link HEARTBEAT_AGE_MAX_LEASES} leases and a minute) and heartbeats stamped more than `hlcDriftMsMax`
 * ahead of our clock are ignored (`HeartbeatFilter`). Each tick also sweeps the lease
 * table and refreshes round-trip times.
 *
 * @example
 * ```ts
 * const liveness = createLiveness({ node, pubsub: node.services.pubsub, replica, registry, membership, antiEntropy, health, logger },
 *   { heartbeatIntervalMs: 1000, load: () => 0.5 })
 * await liveness.start()
 * await liveness.announceLeaving() // before stopping the peer
 * await liveness.stop()
 * ```
 */
import type { SealedPubsub } from '../../seal.js'
import type { Logger } from '../../../src/base/log.js'
import type { Replica } from '../../../crdt/replica.js'
import type { ReplicatedRegistry } from '../../../crdt/registry.js'
import type { AgoraLibp2p } from '../../node.js'
import type { SyncHealthTable } from '../health.js'
import type { AntiEntropy } from '../anti-entropy/index.js'
import type { Membership } from '../membership/index.js'
import { LivenessService } from './liveness.js'

export {
  heartbeatTopic, HEARTBEAT_AGE_MAX_LEASES, HEARTBEAT_AGE_MIN_MS, LEAVING_TIMEOUT_MS, DEFAULT_HEARTBEAT_INTERVAL_MS, DEFAULT_LEASE_HEARTBEATS, DEFAULT_HLC_DRIFT_MS_MAX
} from './constants.js'
export { decodeHeartbeat, encodeHeartbeat, HeartbeatFilter, HEARTBEAT_BYTES_MAX, type Heartbeat, type HeartbeatVerdict } from './heartbeat.js'
export { LivenessService } from './liveness.js'
export { ProbeDetector, probeProtocol, swimTopic, type ProbeStats, type MemberState } from './probe.js'
import type { ProbeDetector, ProbeStats } from './probe.js'

/** Heartbeat counters, and the probe detector's (zero unless `liveness: 'probe'`). */
export interface LivenessStats extends ProbeStats {
  heartbeatsSent: number
  heartbeatsReceived: number
  heartbeatsRejected: number
  /** Heartbeats older than the sender's previous one or than a lease (replays), ignored. */
  heartbeatsStale: number
  /** Heartbeats stamped more than `hlcDriftMsMax` ahead of our clock, ignored (not recorded). */
  heartbeatsFuture: number
  /** Ms this peer's liveness timer fired late in all (a blocked event loop): not counted as the hosts' silence. */
  livenessStalledMs: number
  /** Payload bytes of heartbeats this peer published / received from others (before gossipsub framing). */
  heartbeatBytesSent: number
  heartbeatBytesReceived: number
}

export interface Liveness {
  readonly stats: LivenessStats
  /** The probe failure detector when `mode` is `probe`. */
  readonly detector?: ProbeDetector | undefined
  /** Tells the mesh this peer is stopping (a heartbeat with the leaving flag); bounded by `timeoutMs` (default 500). */
  announceLeaving: (timeoutMs?: number) => Promise<void>
  /** Validates and subscribes to the topic, runs the heartbeat timer (idempotent). */
  start: () => Promise<void>
  /** Stops the timer and unsubscribes (idempotent). */
  stop: () => Promise<void>
}

export interface LivenessInit {
  /** Mesh of the topic. Default 'agora'. */
  mesh?: string
  /** Heartbeat period; also how long a lag may last before a pull. Default 1000 ms. */
  heartbeatIntervalMs?: number
  /** The lease (replays are heartbeats older than {@link HEARTBEAT_AGE_MAX_LEASES} of them). Default 3 × heartbeatIntervalMs. */
  leaseMs?: number
  /** Senders whose last heartbeat time is remembered (oldest forgotten first). Default 4096 (DEFAULT_LIMITS.hostsMax). */
  hostsMax?: number
  /** Heartbeats stamped further ahead of our clock are ignored, not recorded. Default 60000 ms (DEFAULT_LIMITS.hlcDriftMsMax). */
  hlcDriftMsMax?: number
  /** Load reported in heartbeats, clamped to [0, 1]. Default: always 0. */
  load?: () => number
  /**
   * `heartbeat` (default): every peer publishes a heartbeat every period and every peer verifies every
   * one (O(N) per peer). `probe`: the probe failure detector (probe.ts, PROTOCOL.md 1e), O(1) per peer;
   * heartbeats then go every `detector.heartbeatEvery()` periods. Every peer of a mesh runs the same mode.
   */
  mode?: 'heartbeat' | 'probe'
}

export interface LivenessComponents {
  /** Gossipsub through the application seal (peers/seal.ts): publishes are signed, validators see authenticated authors. */
  pubsub: Pick<SealedPubsub, 'topicValidators' | 'subscribe' | 'unsubscribe' | 'publish'>
  /** Its connections' round-trip times; the probe stream (probe mode). */
  node: Pick<AgoraLibp2p, 'getConnections' | 'handle' | 'unhandle' | 'dialProtocol' | 'hangUp' | 'getMultiaddrs'>
  /** This peer's own documents' positions. */
  replica: Pick<Replica, 'id' | 'entry' | 'overQuota'>
  /** The lease table it feeds. */
  registry: Pick<ReplicatedRegistry, 'heard' | 'hostLeft' | 'sweep' | 'leases'>
  membership: Pick<Membership, 'isMember' | 'randomMember' | 'connectedMembers' | 'register' | 'markTransient' | 'releaseTransient'>
  /** Pulls when a heartbeat shows lag. */
  antiEntropy: Pick<AntiEntropy, 'requestSync'>
  health: SyncHealthTable
  logger: Logger
  /** Signs with this peer's key (probe mode: the ACK of a PING relayed for another peer). */
  sign?: (data: Uint8Array) => Uint8Array
}

export function createLiveness (components: LivenessComponents, init: LivenessInit = {}): Liveness {
  return new LivenessService(components, init)
}
