/**
 * Health checks' damping (FEATURES I4), pure and clock-free like the breakers: every call is given the
 * time (ms). A check's results (pass, warn, fail: a TTL check-in, an HTTP poll) move its *status*, the one
 * that drives the agent's health, only after a streak:
 *
 *   a result worse than the status   ×failuresBeforeCritical in a row  → the status becomes that result's
 *   a result better than the status  ×successesBeforePassing in a row  → the status becomes that result's
 *   a result equal to the status     resets both streaks
 *
 * so a check that flaps (pass, fail, pass, fail...) keeps its status instead of flapping the agent's
 * health, and each change of status needs a streak of results (Consul's `failures_before_critical` and
 * `success_before_passing`). {@link CheckState.expire} is a TTL's verdict: critical at once (the TTL is
 * the grace). Severity: passing < warning < critical.
 */
import { InvalidOptionError } from '../../src/base/errors.js'
import type { CheckStatus } from '../../crdt/checks.js'

export type { CheckStatus } from '../../crdt/checks.js'

export interface CheckDamping {
  /** Results worse than the status, in a row, before the status follows them (>= 1). */
  failuresBeforeCritical: number
  /** Results better than the status, in a row, before the status follows them (>= 1). */
  successesBeforePassing: number
}

/** Bound of either streak length. */
export const CHECK_STREAK_MAX = 100

const SEVERITY: Record<CheckStatus, number> = { passing: 0, warning: 1, critical: 2 }

export function checkDamping (o: Partial<CheckDamping>, defaults: CheckDamping, what = 'check'): CheckDamping {
  const r = { ...defaults, ...Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) } as CheckDamping
  for (const k of ['failuresBeforeCritical', 'successesBeforePassing'] as const) {
    const v = r[k]
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1 || v > CHECK_STREAK_MAX) throw new InvalidOptionError(`${what}.${k}`, `must be an integer in 1..${CHECK_STREAK_MAX}`)
  }
  return r
}

/** A check's damped status and its last result. */
export class CheckState {
  /** The damped status. */
  status: CheckStatus
  /** The last result's status (what the check said last, damped or not). */
  last: CheckStatus
  /** The last result's output. */
  output: string
  /** Time of the last result (or of the state's making). */
  at: number
  /** Time of the last change of {@link status}. */
  since: number
  /** Results worse / better than the status in a row. */
  private worse = 0
  private better = 0
  /** Results seen, and changes of status. */
  results = 0
  changes = 0

  constructor (readonly damping: CheckDamping, initial: CheckStatus, now: number, output = '') {
    this.status = initial
    this.last = initial
    this.output = output
    this.at = now
    this.since = now
  }

  /** Worse results in a row now (toward a worse status). */
  get failures (): number { return this.worse }
  /** Better results in a row now (toward a better status). */
  get successes (): number { return this.better }

  /** A result. Returns the previous status when the status changed, else undefined. */
  result (status: CheckStatus, output: string, now: number): CheckStatus | undefined {
    this.results++
    this.last = status
    this.output = output
    this.at = now
    const d = SEVERITY[status] - SEVERITY[this.status]
    if (d === 0) { this.worse = 0; this.better = 0; return undefined }
    if (d > 0) {
      this.better = 0
      if (++this.worse < this.damping.failuresBeforeCritical) return undefined
    } else {
      this.worse = 0
      if (++this.better < this.damping.successesBeforePassing) return undefined
    }
    return this.move(status, now)
  }

  /** The check's time ran out (a TTL): critical at once. Returns the previous status when it changed. */
  expire (output: string, now: number): CheckStatus | undefined {
    this.results++
    this.last = 'critical'
    this.output = output
    this.at = now
    if (this.status === 'critical') { this.better = 0; return undefined }
    return this.move('critical', now)
  }

  private move (to: CheckStatus, now: number): CheckStatus {
    const from = this.status
    this.status = to
    this.since = now
    this.worse = 0
    this.better = 0
    this.changes++
    return from
  }
}
