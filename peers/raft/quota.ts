/**
 * Per-peer quotas of the Raft client path: each client peer gets a token bucket of requests and one of
 * bytes, so one peer cannot flood the log (or the leader) however fast it sends. Deterministic given
 * the times passed in; the service passes its clock.
 */

/** Requests (proposals and reads) a client peer may make per second, sustained. */
export const CLIENT_REQUESTS_PER_SECOND_MAX = 200
/** Requests a client peer may make in a burst. */
export const CLIENT_REQUESTS_BURST_MAX = 400
/** Command bytes a client peer may propose per second, sustained. */
export const CLIENT_BYTES_PER_SECOND_MAX = 1024 * 1024
/** Command bytes a client peer may propose in a burst. */
export const CLIENT_BYTES_BURST_MAX = 4 * 1024 * 1024
/** Client peers whose buckets are kept (the least recently seen forgotten first: a full bucket). */
export const CLIENT_PEERS_TRACKED_MAX = 10_000

export interface QuotaLimits {
  requestsPerSecond: number
  requestsBurst: number
  bytesPerSecond: number
  bytesBurst: number
  peersMax: number
}

export const DEFAULT_QUOTA_LIMITS: QuotaLimits = {
  requestsPerSecond: CLIENT_REQUESTS_PER_SECOND_MAX,
  requestsBurst: CLIENT_REQUESTS_BURST_MAX,
  bytesPerSecond: CLIENT_BYTES_PER_SECOND_MAX,
  bytesBurst: CLIENT_BYTES_BURST_MAX,
  peersMax: CLIENT_PEERS_TRACKED_MAX
}

interface Bucket { requests: number, bytes: number, at: number }

export class PeerQuota {
  private readonly buckets = new Map<string, Bucket>()
  readonly limits: QuotaLimits

  constructor (limits: Partial<QuotaLimits> = {}) {
    this.limits = { ...DEFAULT_QUOTA_LIMITS, ...limits }
  }

  /** Takes one request of `bytes` from `peer`'s buckets at time `nowMs`; which quota refused it, if any. */
  take (peer: string, bytes: number, nowMs: number): 'requests' | 'bytes' | undefined {
    const l = this.limits
    let b = this.buckets.get(peer)
    if (b === undefined) {
      b = { requests: l.requestsBurst, bytes: l.bytesBurst, at: nowMs }
    } else {
      this.buckets.delete(peer)
      const s = Math.max(0, nowMs - b.at) / 1000
      b.requests = Math.min(l.requestsBurst, b.requests + s * l.requestsPerSecond)
      b.bytes = Math.min(l.bytesBurst, b.bytes + s * l.bytesPerSecond)
      b.at = nowMs
    }
    this.buckets.set(peer, b)
    if (this.buckets.size > l.peersMax) this.buckets.delete(this.buckets.keys().next().value!)
    if (b.requests < 1) return 'requests'
    if (b.bytes < bytes) return 'bytes'
    b.requests -= 1
    b.bytes -= bytes
    return undefined
  }

  /** Ms until `peer`'s buckets could take one request of `bytes` (0 when they could now; a full refill's time at most). */
  retryAfterMs (peer: string, bytes: number, nowMs: number): number {
    const l = this.limits
    const b = this.buckets.get(peer)
    if (b === undefined) return 0
    const s = Math.max(0, nowMs - b.at) / 1000
    const wait = (have: number, need: number, rate: number, burst: number): number =>
      have >= need ? 0 : rate > 0 && need <= burst ? Math.ceil(((need - have) * 1000) / rate) : Number.POSITIVE_INFINITY
    return Math.max(wait(Math.min(l.requestsBurst, b.requests + s * l.requestsPerSecond), 1, l.requestsPerSecond, l.requestsBurst),
      wait(Math.min(l.bytesBurst, b.bytes + s * l.bytesPerSecond), bytes, l.bytesPerSecond, l.bytesBurst))
  }

  get size (): number { return this.buckets.size }
}
