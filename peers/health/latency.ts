/**
 * Coordination latency (FEATURES I3): a bounded recorder of durations (Raft commits, agent requests) that
 * answers percentiles over a recent window. A log-bucket histogram per time slice, in a ring of
 * {@link LATENCY_SLICES} slices: recording is O(1) with no allocation, a snapshot merges
 * `LATENCY_SLICES × LATENCY_BUCKETS` counters, and memory is fixed whatever the rate.
 *
 * Buckets grow by 2^(1/{@link BUCKETS_PER_OCTAVE}) (about 9 %) from {@link LATENCY_MS_MIN} to
 * {@link LATENCY_MS_MAX}; a percentile is read as its bucket's geometric middle, so it is within about
 * 4.5 % of the true value (clamped to the window's largest sample). Pure: the clock is passed in.
 *
 * @example
 * ```ts
 * const commits = new LatencyRecorder({ windowMs: 60_000 }, () => performance.now())
 * commits.record(1.7)
 * commits.snapshot() // { count: 1, p50Ms: 1.7, p90Ms: 1.7, p99Ms: 1.7, maxMs: 1.7 } (about)
 * ```
 */
import { InvalidOptionError } from '../../src/base/errors.js'

/** Buckets per doubling of the duration. */
export const BUCKETS_PER_OCTAVE = 8
/** Smallest duration told apart (ms); anything shorter counts in the first bucket. */
export const LATENCY_MS_MIN = 0.001
/** Largest duration told apart (ms): about 18 minutes; anything longer counts in the last bucket. */
export const LATENCY_MS_MAX = LATENCY_MS_MIN * 2 ** 30
/** Buckets of one slice's histogram. */
export const LATENCY_BUCKETS = 30 * BUCKETS_PER_OCTAVE + 1
/** Slices of the window's ring. */
export const LATENCY_SLICES = 12
/** Default window of the percentiles (ms). */
export const LATENCY_WINDOW_MS_DEFAULT = 60_000

/** Percentiles of the durations recorded in the window (ms); zeros when `count` is 0. */
export interface LatencySnapshot {
  count: number
  p50Ms: number
  p90Ms: number
  p99Ms: number
  maxMs: number
}

const LOG_BASE = Math.log(2) / BUCKETS_PER_OCTAVE

function bucketOf (ms: number): number {
  if (!(ms > LATENCY_MS_MIN)) return 0
  return Math.min(LATENCY_BUCKETS - 1, Math.floor(Math.log(ms / LATENCY_MS_MIN) / LOG_BASE))
}

/** Geometric middle of bucket `i` (ms). */
function middleOf (i: number): number {
  return LATENCY_MS_MIN * Math.exp((i + 0.5) * LOG_BASE)
}

export class LatencyRecorder {
  private readonly sliceMs: number
  /** Counts per slice, `LATENCY_SLICES` rows of `LATENCY_BUCKETS`. */
  private readonly counts = new Uint32Array(LATENCY_SLICES * LATENCY_BUCKETS)
  /** The slice number (time / sliceMs) each row holds; -1 when empty. */
  private readonly sliceOf = new Float64Array(LATENCY_SLICES).fill(-1)
  private readonly totals = new Uint32Array(LATENCY_SLICES)
  private readonly maxes = new Float64Array(LATENCY_SLICES)
  /** Samples recorded since creation (never reset). */
  recorded = 0

  constructor (options: { windowMs?: number } = {}, private readonly now: () => number) {
    const windowMs = options.windowMs ?? LATENCY_WINDOW_MS_DEFAULT
    if (!Number.isFinite(windowMs) || windowMs < LATENCY_SLICES) throw new InvalidOptionError('windowMs', `must be a number >= ${LATENCY_SLICES}`)
    this.sliceMs = windowMs / LATENCY_SLICES
  }

  /** Records one duration (ms); a negative or non-finite one is ignored. */
  record (ms: number): void {
    if (!(ms >= 0) || !Number.isFinite(ms)) return
    const slice = Math.floor(this.now() / this.sliceMs)
    const row = slice % LATENCY_SLICES
    if (this.sliceOf[row] !== slice) {
      this.counts.fill(0, row * LATENCY_BUCKETS, (row + 1) * LATENCY_BUCKETS)
      this.sliceOf[row] = slice
      this.totals[row] = 0
      this.maxes[row] = 0
    }
    this.counts[row * LATENCY_BUCKETS + bucketOf(ms)]!++
    this.totals[row]!++
    if (ms > this.maxes[row]!) this.maxes[row] = ms
    this.recorded++
  }

  /** p50, p90, p99 and max of the durations recorded in the last window. */
  snapshot (): LatencySnapshot {
    const current = Math.floor(this.now() / this.sliceMs)
    const merged = new Uint32Array(LATENCY_BUCKETS)
    let count = 0
    let max = 0
    for (let row = 0; row < LATENCY_SLICES; row++) {
      const s = this.sliceOf[row]!
      if (s < 0 || s <= current - LATENCY_SLICES || s > current || this.totals[row] === 0) continue
      count += this.totals[row]!
      if (this.maxes[row]! > max) max = this.maxes[row]!
      const base = row * LATENCY_BUCKETS
      for (let i = 0; i < LATENCY_BUCKETS; i++) merged[i]! += this.counts[base + i]!
    }
    if (count === 0) return { count: 0, p50Ms: 0, p90Ms: 0, p99Ms: 0, maxMs: 0 }
    const at = (q: number): number => {
      // Nearest rank: the smallest bucket holding at least ceil(q × count) samples.
      const rank = Math.max(1, Math.ceil(q * count))
      let seen = 0
      for (let i = 0; i < LATENCY_BUCKETS; i++) {
        seen += merged[i]!
        if (seen >= rank) return round3(Math.min(max, middleOf(i)))
      }
      return round3(max)
    }
    return { count, p50Ms: at(0.5), p90Ms: at(0.9), p99Ms: at(0.99), maxMs: round3(max) }
  }
}

function round3 (x: number): number {
  return Math.round(x * 1000) / 1000
}
