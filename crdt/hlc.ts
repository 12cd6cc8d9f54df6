/**
 * A hybrid logical clock: (wall ms, counter), ordered lexicographically, ties broken by host id by the
 * caller. It never goes backwards and always moves past every timestamp it has observed, so a write made
 * after seeing another write orders after it even when the writer's wall clock lags.
 */
export type HlcTime = readonly [wallMs: number, counter: number]

/** Default bound on how far ahead of our wall clock a remote time may be (the `hlcDriftMsMax` limit). */
export const HLC_DRIFT_MS_MAX = 60_000

export function compareHlc (a: HlcTime, b: HlcTime): number {
  return a[0] !== b[0] ? a[0] - b[0] : a[1] - b[1]
}

export function isHlcTime (v: unknown): v is HlcTime {
  return Array.isArray(v) && v.length === 2 && Number.isSafeInteger(v[0]) && Number.isSafeInteger(v[1]) && v[0] >= 0 && v[1] >= 0
}

/** True when a remote time is more than `driftMsMax` ahead of the local clock reading `now`. */
export function isTooFarAhead (t: HlcTime, now: number, driftMsMax: number): boolean {
  return t[0] > now + driftMsMax
}

export class Hlc {
  private wall = 0
  private counter = 0
  private readonly now: () => number
  /** Remote times further ahead of our wall clock than this are not observed. */
  readonly driftMsMax: number

  constructor (now: () => number, driftMsMax = HLC_DRIFT_MS_MAX) {
    this.now = now
    this.driftMsMax = driftMsMax
  }

  /** A new timestamp, greater than every one returned or observed before (always safe integers). */
  tick (): HlcTime {
    const n = Math.floor(this.now())
    if (n > this.wall) {
      this.wall = n
      this.counter = 0
    } else if (this.counter >= Number.MAX_SAFE_INTEGER) {
      // An observed counter at the top of the range: move to the next millisecond instead.
      this.wall++
      this.counter = 0
    } else {
      this.counter++
    }
    return [this.wall, this.counter]
  }

  /** Moves the clock past a remote timestamp (ignored when it is more than `driftMsMax` ahead). */
  observe (t: HlcTime): void {
    if (isTooFarAhead(t, this.now(), this.driftMsMax)) return
    if (compareHlc(t, [this.wall, this.counter]) > 0) {
      this.wall = t[0]
      this.counter = t[1]
    }
  }
}
