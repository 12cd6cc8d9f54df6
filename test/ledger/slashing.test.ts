import { describe, expect, it } from 'vitest'
import { computeSlash, Ledger, repeatMultiplierPct } from '../../protocols/ledger/index.js'
import type { LedgerResult } from '../../protocols/ledger/index.js'

const T = 'treasury'

function staked (amount: number, delay = 100): { l: Ledger, ap: (c: unknown) => LedgerResult } {
  const l = new Ledger({ authorities: [T], unbondingDelayEntries: delay })
  let i = 0
  const ap = (c: unknown): LedgerResult => {
    const r = l.apply(c, ++i)
    expect(l.invariants()).toEqual([])
    return r
  }
  ap({ type: 'mint', by: T, account: 'a', amount: amount + 100 })
  ap({ type: 'stake', by: 'a', account: 'a', amount })
  return { l, ap }
}

describe('slashing policy (E2)', () => {
  it('computes amounts with floor rounding and the cap at the stake', () => {
    expect(computeSlash('task_failure', 4, 0, 1000)).toMatchObject({ graced: false, amount: 100, severity: 'minor' })
    expect(computeSlash('task_failure', 4, 0, 999)).toMatchObject({ amount: 99 }) // floor(99.9)
    expect(computeSlash('timeout_violation', 2, 0, 1000)).toMatchObject({ amount: 500, severityMultiplier: 2 })
    expect(computeSlash('reputation_threshold', 1, 0, 1000)).toMatchObject({ amount: 1000 }) // 50% x 2
    expect(computeSlash('byzantine_behavior', 1, 0, 1000)).toMatchObject({ amount: 1000 }) // 100% x 5 capped
    expect(computeSlash('task_failure', 3, 0, 1000)).toMatchObject({ graced: true, amount: 0 })
    expect(computeSlash('task_failure', 4, 0, 0)).toMatchObject({ graced: false, amount: 0 })
    expect(computeSlash('task_failure', 4, 0, Number.MAX_SAFE_INTEGER).amount).toBe(Math.floor(Number.MAX_SAFE_INTEGER / 10))
  })

  it('repeat-offender multiplier grows by 50% per earlier slash, capped at 300%', () => {
    expect([0, 1, 2, 3, 4, 10].map(repeatMultiplierPct)).toEqual([100, 150, 200, 250, 300, 300])
    expect(computeSlash('task_failure', 10, 4, 1000).amount).toBe(300)
  })

  it('task_failure: three warnings, then 10% of the stake; history carries the evidence', () => {
    const { l, ap } = staked(1000)
    for (let k = 1; k <= 3; k++) {
      expect(ap({ type: 'slash', by: T, account: 'a', condition: 'task_failure', evidence: { task: k } })).toMatchObject({ ok: true, graced: true, amount: 0, offence: k })
    }
    expect(l.account('a')?.staked).toBe(1000)
    expect(ap({ type: 'slash', by: T, account: 'a', condition: 'task_failure', evidence: { task: 4 } })).toMatchObject({ graced: false, amount: 100, offence: 4 })
    expect(l.account('a')?.staked).toBe(900)
    expect(l.burned).toBe(100)
    // second effective slash: repeat 150% -> 10% * 1.5 of 900 = 135
    expect(ap({ type: 'slash', by: T, account: 'a', condition: 'task_failure' })).toMatchObject({ amount: 135, repeatPct: 150 })
    const h = l.account('a')!.history
    expect(h.map(x => x.amount)).toEqual([0, 0, 0, 100, 135])
    expect(h[3]!.evidence).toEqual({ task: 4 })
    expect(h[4]!.evidence).toBeNull()
    expect(l.account('a')?.slashCount).toBe(2)
  })

  it('timeout_violation: one warning, then 25% x major 2, times the repeat multiplier', () => {
    const { l, ap } = staked(1000)
    expect(ap({ type: 'slash', by: T, account: 'a', condition: 'timeout_violation' })).toMatchObject({ graced: true, amount: 0 })
    expect(ap({ type: 'slash', by: T, account: 'a', condition: 'timeout_violation' })).toMatchObject({ amount: 500 })
    expect(ap({ type: 'slash', by: T, account: 'a', condition: 'timeout_violation' })).toMatchObject({ amount: 375 }) // 500 * 0.5 * 1.5
    expect(l.account('a')?.staked).toBe(125)
  })

  it('byzantine_behavior takes the whole stake including unbonding funds and zeroes honesty', () => {
    const { l, ap } = staked(1000)
    ap({ type: 'unstake', by: 'a', account: 'a', amount: 400 })
    expect(l.account('a')).toMatchObject({ staked: 600, unbonding: 400 })
    expect(ap({ type: 'slash', by: T, account: 'a', condition: 'byzantine_behavior', evidence: { kind: 'equivocation', a: 'sig1', b: 'sig2' } })).toMatchObject({ amount: 1000 })
    expect(l.account('a')).toMatchObject({ staked: 0, unbonding: 0, free: 100 })
    expect(l.account('a')!.reputation.honesty).toBe(0)
    expect(l.burned).toBe(1000)
  })

  it('only authorities slash; unknown accounts and oversized evidence are rejected', () => {
    const l = new Ledger({ authorities: [T], limits: { evidenceCharsMax: 20 } })
    l.apply({ type: 'mint', by: T, account: 'a', amount: 10 }, 1)
    expect(l.apply({ type: 'slash', by: 'a', account: 'a', condition: 'task_failure' }, 2)).toMatchObject({ ok: false, code: 'ERR_UNAUTHORIZED' })
    expect(l.apply({ type: 'slash', by: T, account: 'zz', condition: 'task_failure' }, 3)).toMatchObject({ ok: false, code: 'ERR_UNKNOWN_ACCOUNT' })
    expect(l.apply({ type: 'slash', by: T, account: 'a', condition: 'task_failure', evidence: 'x'.repeat(30) }, 4)).toMatchObject({ ok: false, code: 'ERR_LIMIT_EXCEEDED' })
    expect(l.account('a')!.history).toHaveLength(0)
  })

  it('keeps at most historyEntriesMax records but keeps counting offences', () => {
    const l = new Ledger({ authorities: [T], limits: { historyEntriesMax: 2 } })
    l.apply({ type: 'mint', by: T, account: 'a', amount: 10 }, 1)
    for (let i = 0; i < 5; i++) l.apply({ type: 'slash', by: T, account: 'a', condition: 'task_failure' }, 2 + i)
    expect(l.account('a')!.history.map(h => h.offence)).toEqual([4, 5])
    expect(l.account('a')!.offences.task_failure).toBe(5)
  })
})
