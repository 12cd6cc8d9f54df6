/**
 * Anti-entropy (R5, R7): digest (state-vector) exchanges over a direct stream `/agora/<mesh>/sync/1.0.0`
 * (frames in frames.ts, see crdt/PROTOCOL.md). An exchange runs on every new connection to a mesh member
 * (the dialer starts it; the other side after {@link FIRST_SYNC_FALLBACK_MS} without one), on a timer
 * with a random member, and on request (a gap in gossip, a heartbeat showing lag). Full state (a
 * 100k-agent checkpoint is ~12 MB, over gossipsub's ~4 MiB message cap) goes only here, chunked into
 * frames of {@link FRAME_BYTES_MAX}.
 *
 * Every exchange is bounded: `syncTimeoutMs`, `syncConcurrencyMax` exchanges at a time (inbound and
 * outbound counted apart; one at a time until a first one completed), {@link ROUND_BYTES_MAX} sent per
 * direction and round (the rest follows in the next), {@link SYNC_QUEUE_MAX} requests waiting. It
 * records each exchange in the sync health table and answers whether this peer is synced.
 *
 * @example
 * ```ts
 * const antiEntropy = createAntiEntropy({ node, replica, membership, health, logger }, { mesh: 'agora' })
 * antiEntropy.on('sync:completed', ({ peerId, received, sent }) => {})
 * await antiEntropy.start()
 * await antiEntropy.syncNow(peerId)
 * antiEntropy.isSynced()
 * ```
 */
import type { TypedEmitter } from '../../../src/base/events.js'
import type { Logger } from '../../../src/base/log.js'
import type { Replica, RejectReason } from '../../../crdt/replica.js'
import type { AgoraLibp2p } from '../../node.js'
import type { PeerSyncHealth, SyncHealthTable } from '../health.js'
import type { Membership } from '../membership/index.js'
import { AntiEntropyService } from './anti-entropy.js'

export {
  syncProtocol, SYNC_STREAMS_MAX, FRAME_BYTES_MAX, ROUND_BYTES_MAX, ROUND_FRAMES_MAX, FIRST_SYNC_FALLBACK_MS, SYNC_QUEUE_MAX,
  DEFAULT_ANTI_ENTROPY_INTERVAL_MS, DEFAULT_SYNC_TIMEOUT_MS, DEFAULT_SYNC_CONCURRENCY_MAX
} from './constants.js'
export { SyncBusyError, SyncStoppedError } from './errors.js'
export { AntiEntropyService } from './anti-entropy.js'

export interface AntiEntropyStats {
  syncStarted: number
  syncCompleted: number
  syncFailed: number
  syncInboundRefused: number
  syncQueueDropped: number
  syncBlobsReceived: number
  syncBlobsSent: number
  syncBytesReceived: number
  syncBytesSent: number
  syncRejected: number
  /** Blobs refused for their host's quota (`doc-quota`, `rate-quota`), chunked blobs over `docBytesMax` included (also in `syncRejected`). */
  syncOverQuota: number
}

export interface AntiEntropyEvents extends Record<string, unknown> {
  'sync:completed': { peerId: string, initiator: boolean, received: number, sent: number, ms: number }
  /** `error`: TimeoutError (ERR_TIMEOUT) past `syncTimeoutMs`, DecodeError for bad frames, the stream's error... */
  'sync:failed': { peerId: string, initiator: boolean, error: Error }
  'update:rejected': { from: string, via: 'sync', reason: RejectReason, detail: string, host?: string }
}

export interface AntiEntropy extends TypedEmitter<AntiEntropyEvents> {
  readonly stats: AntiEntropyStats
  /** Asks for an exchange with `peerId` (deduplicated, bounded, run when a slot is free). */
  requestSync: (peerId: string | undefined) => void
  /** Runs one exchange with `peerId` now and waits for it (tests and tools). */
  syncNow: (peerId: string) => Promise<void>
  /**
   * True when every connected member has completed an exchange with us since it connected, no exchange
   * is running or queued, and no heartbeat shows us behind.
   */
  isSynced: () => boolean
  /** Sync health per known mesh peer (R7), with the quota status of its documents here. */
  health: () => PeerSyncHealth[]
  /** Handles the protocol, follows members, runs the timer (idempotent). */
  start: () => Promise<void>
  /** Aborts the running exchanges (with SyncStoppedError) and waits for them (idempotent). */
  stop: () => Promise<void>
}

export interface AntiEntropyInit {
  /** Mesh of the protocol id. Default 'agora'. */
  mesh?: string
  /** Period of an exchange with a random connected member. Default 5000 ms. */
  antiEntropyIntervalMs?: number
  /** Bound on one exchange. Default 30000 ms. */
  syncTimeoutMs?: number
  /** Concurrent exchanges, each way. Default 4. */
  syncConcurrencyMax?: number
}

export interface AntiEntropyComponents {
  node: Pick<AgoraLibp2p, 'handle' | 'unhandle' | 'dialProtocol'>
  replica: Pick<Replica, 'id' | 'digest' | 'missingFor' | 'apply' | 'limits' | 'shouldReport' | 'hostUsage'>
  /** Who to exchange with; exchanges start when members connect. */
  membership: Pick<Membership, 'isMember' | 'randomMember' | 'connectedMembers' | 'register'>
  health: SyncHealthTable
  logger: Logger
}

export function createAntiEntropy (components: AntiEntropyComponents, init: AntiEntropyInit = {}): AntiEntropy {
  return new AntiEntropyService(components, init)
}
