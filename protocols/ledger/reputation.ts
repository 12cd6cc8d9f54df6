/**
 * Reputation (FEATURES E3): four components in [0, 1] — reliability, performance, honesty,
 * cooperation — held as exact integers in parts per million (0..1,000,000) so every replica computes
 * bit-identical values. The score is their mean (equal weights), rounded down.
 *
 * Updates (all integer, rounding toward the old value: `c + trunc((target - c) * alphaPpm / 1e6)`):
 * - a settled outcome `{ delivered, onTime, quality }` moves, with alpha 0.1:
 *   reliability toward 1 if delivered else 0; performance toward `quality` if delivered and on time,
 *   toward `quality / 2` if delivered late, toward 0 if not delivered; cooperation toward 1 if delivered
 *   else 0. Honesty is not changed by outcomes.
 * - an effective slash (not a graced warning) of fraction `f` (amount / slashable before the slash,
 *   or the rule's nominal fraction if nothing was staked) multiplies honesty by `(1 - f)` and moves
 *   the condition's component toward 0 with alpha 0.25: task_failure → reliability,
 *   timeout_violation → performance, reputation_threshold → cooperation; byzantine_behavior sets
 *   honesty to 0.
 * - a graced warning moves the condition's component toward 0 with alpha 0.1.
 *
 * New accounts start at 0.5 on every component.
 */
import type { SlashCondition } from './slashing.js'

export const PPM = 1_000_000

export interface Reputation {
  reliability: number
  performance: number
  honesty: number
  cooperation: number
}

export const OUTCOME_ALPHA_PPM = 100_000
export const SLASH_ALPHA_PPM = 250_000
export const WARNING_ALPHA_PPM = 100_000

export function initialReputation (): Reputation {
  return { reliability: PPM / 2, performance: PPM / 2, honesty: PPM / 2, cooperation: PPM / 2 }
}

/** Exponential moving average step toward `target`, integer, truncating toward the old value. */
export function ema (current: number, target: number, alphaPpm: number): number {
  return current + Math.trunc((target - current) * alphaPpm / PPM)
}

/** Score in ppm: floor of the mean of the four components. */
export function scorePpm (r: Reputation): number {
  return Math.floor((r.reliability + r.performance + r.honesty + r.cooperation) / 4)
}

/** Score as a number in [0, 1] (for reports). */
export function score (r: Reputation): number {
  return scorePpm(r) / PPM
}

/**
 * Bidding-power multiplier table (E3), in percent, on the score:
 * score > 0.95 → 300, > 0.9 → 200, > 0.8 → 150, > 0.6 → 100, otherwise 80. Bounds are strict.
 */
export function biddingPowerPct (r: Reputation): number {
  const s = scorePpm(r)
  if (s > 950_000) return 300
  if (s > 900_000) return 200
  if (s > 800_000) return 150
  if (s > 600_000) return 100
  return 80
}

/** Maximum amount an agent may bid: floor(free * biddingPowerPct / 100). */
export function biddingPower (free: number, r: Reputation): number {
  return Number(BigInt(free) * BigInt(biddingPowerPct(r)) / 100n)
}

export interface Outcome {
  delivered: boolean
  onTime: boolean
  /** Quality in ppm, 0..1,000,000. */
  qualityPpm: number
}

export function applyOutcome (r: Reputation, o: Outcome): Reputation {
  const perfTarget = !o.delivered ? 0 : o.onTime ? o.qualityPpm : Math.floor(o.qualityPpm / 2)
  return {
    reliability: ema(r.reliability, o.delivered ? PPM : 0, OUTCOME_ALPHA_PPM),
    performance: ema(r.performance, perfTarget, OUTCOME_ALPHA_PPM),
    honesty: r.honesty,
    cooperation: ema(r.cooperation, o.delivered ? PPM : 0, OUTCOME_ALPHA_PPM)
  }
}

const COMPONENT_OF: Record<SlashCondition, keyof Reputation> = {
  task_failure: 'reliability',
  timeout_violation: 'performance',
  byzantine_behavior: 'honesty',
  reputation_threshold: 'cooperation'
}

/** Apply a slash (or graced warning). `fractionPpm` is the fraction of the stake taken, in ppm. */
export function applySlash (r: Reputation, condition: SlashCondition, graced: boolean, fractionPpm: number): Reputation {
  const out = { ...r }
  const comp = COMPONENT_OF[condition]
  if (graced) {
    out[comp] = ema(out[comp], 0, WARNING_ALPHA_PPM)
    return out
  }
  if (condition === 'byzantine_behavior') {
    out.honesty = 0
    return out
  }
  const f = Math.min(Math.max(fractionPpm, 0), PPM)
  out.honesty = Number(BigInt(out.honesty) * BigInt(PPM - f) / BigInt(PPM))
  out[comp] = ema(out[comp], 0, SLASH_ALPHA_PPM)
  return out
}
