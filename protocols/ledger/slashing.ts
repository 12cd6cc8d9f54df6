/**
 * Slashing policy (FEATURES E2), as pure integer arithmetic.
 *
 * | condition            | severity | base % | grace |
 * |----------------------|----------|--------|-------|
 * | task_failure         | minor    | 10 %   | 3     |
 * | timeout_violation    | major    | 25 %   | 1     |
 * | byzantine_behavior   | critical | 100 %  | 0     |
 * | reputation_threshold | major    | 50 %   | 0     |
 *
 * Severity multipliers: minor 1, major 2, critical 5.
 *
 * Grace: the first `grace` offences of a condition by an account are recorded as warnings (no funds
 * taken). Offence number `grace + 1` and later are slashed.
 *
 * Repeat-offender multiplier: `1 + 0.5 * k`, capped at 3, where `k` is the number of earlier
 * *effective* slashes of the account (any condition; warnings do not count). Held in percent:
 * `repeatPct = min(100 + 50 * k, 300)`.
 *
 * Amount: `floor(slashable * basePct/100 * severityMult * repeatPct/100)`, capped at `slashable`
 * (the account's staked + unbonding funds). Rounding: floor (the offender keeps the fraction).
 * Computed in BigInt so no intermediate overflows.
 */

export type SlashCondition = 'task_failure' | 'timeout_violation' | 'byzantine_behavior' | 'reputation_threshold'
export type Severity = 'minor' | 'major' | 'critical'

export interface SlashRule {
  severity: Severity
  /** Base percentage in basis points (1/100 of a percent). */
  baseBps: number
  /** Offences of this condition forgiven (recorded as warnings) before slashing starts. */
  grace: number
}

export const SLASH_RULES: Readonly<Record<SlashCondition, SlashRule>> = Object.freeze({
  task_failure: { severity: 'minor', baseBps: 1000, grace: 3 },
  timeout_violation: { severity: 'major', baseBps: 2500, grace: 1 },
  byzantine_behavior: { severity: 'critical', baseBps: 10000, grace: 0 },
  reputation_threshold: { severity: 'major', baseBps: 5000, grace: 0 }
})

export const SEVERITY_MULTIPLIER: Readonly<Record<Severity, number>> = Object.freeze({ minor: 1, major: 2, critical: 5 })

/** Repeat-offender multiplier step and cap, in percent. */
export const REPEAT_STEP_PCT = 50
export const REPEAT_CAP_PCT = 300

export function isSlashCondition (c: unknown): c is SlashCondition {
  return typeof c === 'string' && Object.prototype.hasOwnProperty.call(SLASH_RULES, c)
}

/** Repeat-offender multiplier in percent after `priorSlashes` effective slashes. */
export function repeatMultiplierPct (priorSlashes: number): number {
  return Math.min(100 + REPEAT_STEP_PCT * priorSlashes, REPEAT_CAP_PCT)
}

export interface SlashDecision {
  severity: Severity
  /** 1-based number of this offence for this condition and account. */
  offence: number
  /** True when the offence falls within the grace count (a warning: amount 0). */
  graced: boolean
  severityMultiplier: number
  repeatPct: number
  /** Funds to take (0 when graced). */
  amount: number
}

/**
 * Decide a slash. `offence` is the 1-based count of this condition for the account including this one,
 * `priorSlashes` the number of earlier effective slashes, `slashable` the account's staked + unbonding.
 */
export function computeSlash (condition: SlashCondition, offence: number, priorSlashes: number, slashable: number): SlashDecision {
  const rule = SLASH_RULES[condition]
  const severityMultiplier = SEVERITY_MULTIPLIER[rule.severity]
  const repeatPct = repeatMultiplierPct(priorSlashes)
  const graced = offence <= rule.grace
  let amount = 0
  if (!graced && slashable > 0) {
    const raw = BigInt(slashable) * BigInt(rule.baseBps) * BigInt(severityMultiplier) * BigInt(repeatPct) / 1_000_000n
    amount = raw > BigInt(slashable) ? slashable : Number(raw)
  }
  return { severity: rule.severity, offence, graced, severityMultiplier, repeatPct, amount }
}
