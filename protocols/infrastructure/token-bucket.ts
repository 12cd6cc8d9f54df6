/**
 * Token buckets (FEATURES I2): the rate limiter of every request and write path. Pure and deterministic:
 * time is passed in (ms, any monotonic origin), never read, so the same code runs in the simulator, in
 * the Raft machine's log time and on a live peer's clock.
 *
 * A bucket holds at most `burst` tokens and gains `ratePerSecond` per second. `take(now, n)` spends `n`
 * tokens when it can and otherwise tells how long until it could (`retryAfterMs`, what HTTP's
 * `Retry-After` carries). Time running backwards (a clock step) refills nothing and never throws.
 */
import { InvalidOptionError } from '../../src/base/errors.js'

export interface TokenBucketOptions {
  /** Tokens gained per second (>= 0; 0 = only the burst, never refilled). */
  ratePerSecond: number
  /** Largest number of tokens held (>= 1); a full bucket starts with this many. */
  burst: number
}

/** What {@link TokenBucket.take} decided. */
export type TakeResult = { ok: true } | { ok: false, retryAfterMs: number }

const OK: TakeResult = Object.freeze({ ok: true })

export function checkTokenBucketOptions (o: TokenBucketOptions, what = 'rate limit'): void {
  if (typeof o?.ratePerSecond !== 'number' || !Number.isFinite(o.ratePerSecond) || o.ratePerSecond < 0) {
    throw new InvalidOptionError(`${what}.ratePerSecond`, 'must be a finite number >= 0')
  }
  if (typeof o.burst !== 'number' || !Number.isFinite(o.burst) || o.burst < 1) {
    throw new InvalidOptionError(`${what}.burst`, 'must be a finite number >= 1')
  }
}

export class TokenBucket {
  private tokens: number
  private last: number
  private rate: number
  private burst: number

  constructor (options: TokenBucketOptions, now: number) {
    checkTokenBucketOptions(options)
    this.rate = options.ratePerSecond
    this.burst = options.burst
    this.tokens = options.burst
    this.last = now
  }

  /** Spends `n` tokens (default 1) if the bucket holds them at `now`. */
  take (now: number, n = 1): TakeResult {
    this.refill(now)
    if (this.tokens >= n) { this.tokens -= n; return OK }
    if (this.rate <= 0 || n > this.burst) return { ok: false, retryAfterMs: Number.POSITIVE_INFINITY }
    return { ok: false, retryAfterMs: Math.ceil(((n - this.tokens) * 1000) / this.rate) }
  }

  /** Tokens held at `now` (refilled). */
  available (now: number): number {
    this.refill(now)
    return this.tokens
  }

  /** True when the bucket is full at `now` (an idle bucket a keyed set may forget). */
  full (now: number): boolean {
    return this.available(now) >= this.burst
  }

  /** Changes the rate and burst (a re-split budget); tokens held are kept, capped at the new burst. */
  reconfigure (options: TokenBucketOptions, now: number): void {
    checkTokenBucketOptions(options)
    this.refill(now)
    this.rate = options.ratePerSecond
    this.burst = options.burst
    if (this.tokens > this.burst) this.tokens = this.burst
  }

  get options (): TokenBucketOptions { return { ratePerSecond: this.rate, burst: this.burst } }

  private refill (now: number): void {
    const dt = now - this.last
    if (!(dt > 0)) return
    this.last = now
    if (this.tokens >= this.burst) return
    this.tokens = Math.min(this.burst, this.tokens + (dt * this.rate) / 1000)
  }
}

/**
 * One bucket per key (an agent, a remote peer), made on first use, at most `keysMax` at once: when full,
 * a new key first evicts full (idle) buckets, oldest first; when none is idle, the new key is refused
 * (`retryAfterMs` of one token), so a flood of fresh keys (a hostile peer naming agents) cannot grow
 * memory nor reset anyone's bucket.
 */
export class KeyedTokenBuckets {
  private readonly buckets = new Map<string, TokenBucket>()
  /** Keys refused because every slot held a busy bucket. */
  refusedNewKeys = 0

  constructor (private options: TokenBucketOptions, readonly keysMax: number) {
    checkTokenBucketOptions(options)
    if (!Number.isSafeInteger(keysMax) || keysMax < 1) throw new InvalidOptionError('keysMax', 'must be an integer >= 1')
  }

  take (key: string, now: number, n = 1): TakeResult {
    let b = this.buckets.get(key)
    if (b === undefined) {
      if (this.buckets.size >= this.keysMax && !this.evictIdle(now)) {
        this.refusedNewKeys++
        return { ok: false, retryAfterMs: this.options.ratePerSecond > 0 ? Math.ceil(1000 / this.options.ratePerSecond) : Number.POSITIVE_INFINITY }
      }
      b = new TokenBucket(this.options, now)
      this.buckets.set(key, b)
    }
    return b.take(now, n)
  }

  /** Tokens `key` holds at `now` (a new key would start with the burst). */
  available (key: string, now: number): number {
    return this.buckets.get(key)?.available(now) ?? this.options.burst
  }

  reconfigure (options: TokenBucketOptions, now: number): void {
    checkTokenBucketOptions(options)
    this.options = options
    for (const b of this.buckets.values()) b.reconfigure(options, now)
  }

  get size (): number { return this.buckets.size }

  delete (key: string): void { this.buckets.delete(key) }

  /** Keys whose bucket is below full at `now` (those being limited), at most `max`. */
  busy (now: number, max = 64): Array<{ key: string, available: number }> {
    const out: Array<{ key: string, available: number }> = []
    for (const [key, b] of this.buckets) {
      if (out.length >= max) break
      const a = b.available(now)
      if (a < b.options.burst) out.push({ key, available: a })
    }
    return out
  }

  private evictIdle (now: number): boolean {
    let freed = false
    for (const [k, b] of this.buckets) {
      if (b.full(now)) { this.buckets.delete(k); freed = true; if (this.buckets.size < this.keysMax - 64) break }
    }
    return freed
  }
}
