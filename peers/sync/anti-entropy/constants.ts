/** Protocol id and limits of anti-entropy. */
import { DEFAULT_LIMITS } from '../../../crdt/limits.js'

/** Stream protocol of the anti-entropy exchange (frames in frames.ts): `/agora/<mesh>/sync/1.0.0`. */
export function syncProtocol (mesh: string): string {
  return `/agora/${mesh}/sync/1.0.0`
}

/** Streams of the sync protocol libp2p accepts at once per connection, each way. */
export const SYNC_STREAMS_MAX = 4
/** Max bytes of one frame on the sync stream. */
export const FRAME_BYTES_MAX = 1024 * 1024
/** Bytes of blobs one side sends in one exchange; what is left goes in the next. */
export const ROUND_BYTES_MAX = 64 * 1024 * 1024
/** Frames one side may send in one exchange (beyond it the stream is aborted). */
export const ROUND_FRAMES_MAX = 1_000_000
/** The side that did not dial starts the first exchange itself after this long without one. */
export const FIRST_SYNC_FALLBACK_MS = 1000
/** Anti-entropy requests waiting for a free slot. */
export const SYNC_QUEUE_MAX = 1024

/** Default of `antiEntropyIntervalMs` (the peer option's default). */
export const DEFAULT_ANTI_ENTROPY_INTERVAL_MS = 5000
/** Default of `syncTimeoutMs` (the peer option's default). */
export const DEFAULT_SYNC_TIMEOUT_MS = 30_000
/** Default of `syncConcurrencyMax` (the peer option's default). */
export const DEFAULT_SYNC_CONCURRENCY_MAX = 4
/** Default of `hostsMax`: the registry limit's default. */
export const DEFAULT_HOSTS_MAX = DEFAULT_LIMITS.hostsMax
