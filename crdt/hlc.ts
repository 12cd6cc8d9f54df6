/**
 * A hybrid logical clock: (wall ms, counter), ordered lexicographically, ties broken by host id by the
 * caller. It never goes backwards and always moves past every timestamp it has observed, so a write made
 * after seeing another write orders after it even when the writer's wall clock lags.
 */
export type HlcTime = readonly [wallMs: number, counter: number]

/** Observed timestamps further ahead of our wall clock than this do not move our clock. */
export const HLC_DRIFT_MS_MAX = 60_000

export function compareHlc (a: HlcTime, b: HlcTime): number {
  return a[0] !== b[0] ? a[0] - b[0] : a[1] - b[1]
}

export function isHlcTime (v: unknown): v is HlcTime {
  return Array.isArray(v) && v.length === 2 && Number.isSafeInteger(v[0]) && Number.isSafeInteger(v[1]) && v[0] >= 0 && v[1] >= 0
}

export class Hlc {
  private wall = 0
  private counter = 0
  private readonly now: () => number

  constructor (now: () => number) {
    this.now = now
  }

  /** A new timestamp, greater than every one returned or observed before. */
  tick (): HlcTime {
    const n = Math.floor(this.now())
    if (n > this.wall) {
      this.wall = n
      this.counter = 0
    } else {
      this.counter++
    }
    return [this.wall, this.counter]
  }

  /** Moves the clock past a remote timestamp (ignored when it is implausibly far ahead). */
  observe (t: HlcTime): void {
    if (t[0] > this.now() + HLC_DRIFT_MS_MAX) return
    if (compareHlc(t, [this.wall, this.counter]) > 0) {
      this.wall = t[0]
      this.counter = t[1]
    }
  }
}
