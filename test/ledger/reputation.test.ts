import { describe, expect, it } from 'vitest'
import { applyOutcome, applySlash, biddingPower, biddingPowerPct, ema, initialReputation, Ledger, PPM, scorePpm } from '../../protocols/ledger/index.js'
import type { Reputation } from '../../protocols/ledger/index.js'

const T = 'treasury'
const uniform = (x: number): Reputation => ({ reliability: x, performance: x, honesty: x, cooperation: x })

describe('reputation (E3)', () => {
  it('starts at 0.5 and scores the floor of the mean', () => {
    expect(scorePpm(initialReputation())).toBe(500_000)
    expect(scorePpm({ reliability: 1, performance: 0, honesty: 0, cooperation: 2 })).toBe(0)
    expect(scorePpm({ reliability: 1_000_000, performance: 900_000, honesty: 800_000, cooperation: 700_001 })).toBe(850_000)
  })

  it('bidding-power table with strict bounds', () => {
    const cases: Array<[number, number]> = [[1_000_000, 300], [950_001, 300], [950_000, 200], [900_001, 200], [900_000, 150],
      [800_001, 150], [800_000, 100], [600_001, 100], [600_000, 80], [0, 80]]
    for (const [s, pct] of cases) expect(biddingPowerPct(uniform(s))).toBe(pct)
    expect(biddingPower(101, uniform(500_000))).toBe(80) // floor(80.8)
    expect(biddingPower(101, uniform(960_000))).toBe(303)
  })

  it('ema truncates toward the current value and stays in range', () => {
    expect(ema(500_000, PPM, 100_000)).toBe(550_000)
    expect(ema(500_000, 0, 100_000)).toBe(450_000)
    expect(ema(999_995, PPM, 100_000)).toBe(999_995)
    let c = 0
    for (let i = 0; i < 500; i++) c = ema(c, PPM, 100_000)
    expect(c).toBeLessThanOrEqual(PPM)
    expect(c).toBeGreaterThan(999_900)
  })

  it('outcomes move reliability, performance, cooperation; not honesty', () => {
    const r0 = initialReputation()
    const good = applyOutcome(r0, { delivered: true, onTime: true, qualityPpm: PPM })
    expect(good).toEqual({ reliability: 550_000, performance: 550_000, honesty: 500_000, cooperation: 550_000 })
    const late = applyOutcome(r0, { delivered: true, onTime: false, qualityPpm: PPM })
    expect(late.performance).toBe(500_000) // toward 0.5
    const fail = applyOutcome(r0, { delivered: false, onTime: false, qualityPpm: PPM })
    expect(fail).toEqual({ reliability: 450_000, performance: 450_000, honesty: 500_000, cooperation: 450_000 })
  })

  it('slashes lower honesty by the slashed fraction and the condition component', () => {
    const r = applySlash(uniform(800_000), 'task_failure', false, 100_000)
    expect(r).toEqual({ reliability: 600_000, performance: 800_000, honesty: 720_000, cooperation: 800_000 })
    const w = applySlash(uniform(800_000), 'timeout_violation', true, 0)
    expect(w).toEqual({ reliability: 800_000, performance: 720_000, honesty: 800_000, cooperation: 800_000 })
    expect(applySlash(uniform(800_000), 'byzantine_behavior', false, 1).honesty).toBe(0)
  })

  it('the ledger exposes bidding power that follows reputation', () => {
    const l = new Ledger({ authorities: [T] })
    l.apply({ type: 'mint', by: T, account: 'a', amount: 1000 }, 1)
    expect(l.biddingPower('a')).toBe(800)
    expect(l.biddingPower('nobody')).toBe(0)
    expect(l.checkBid('a', 800)).toMatchObject({ ok: true, power: 800 })
    expect(l.checkBid('a', 801)).toMatchObject({ ok: false, code: 'ERR_EXCEEDS_BIDDING_POWER' })
    expect(l.checkBid('a', 1.5)).toMatchObject({ ok: false, code: 'ERR_INVALID_COMMAND' })
    expect(l.checkBid('nobody', 1)).toMatchObject({ ok: false, code: 'ERR_UNKNOWN_ACCOUNT' })
    let i = 2
    for (let k = 0; k < 40; k++) l.apply({ type: 'outcome', by: T, account: 'a', delivered: true, onTime: true, qualityPpm: PPM }, i++)
    // honesty stays 0.5, the other three approach 1: score -> ~0.875 -> 1.5x
    expect(l.biddingPower('a')).toBe(1500)
    expect(l.checkBid('a', 1500).ok).toBe(true)
    expect(l.reputationScore('a')).toBeGreaterThan(0.8)
    expect(l.apply({ type: 'outcome', by: 'a', account: 'a', delivered: true, onTime: true, qualityPpm: PPM }, i++)).toMatchObject({ ok: false, code: 'ERR_UNAUTHORIZED' })
    expect(l.apply({ type: 'outcome', by: T, account: 'a', delivered: true, onTime: true, qualityPpm: PPM + 1 }, i++)).toMatchObject({ ok: false, code: 'ERR_INVALID_COMMAND' })
  })
})
