import { describe, expect, it } from 'vitest'
import { Ledger, LedgerError, snapshotJSON } from '../../protocols/ledger/index.js'
import type { LedgerResult } from '../../protocols/ledger/index.js'

const T = 'treasury'

/** A ledger with a log-index counter; checks invariants after every apply. */
function harness (delay = 10): { l: Ledger, ap: (c: unknown) => LedgerResult, idx: () => number } {
  const l = new Ledger({ authorities: [T], unbondingDelayEntries: delay })
  let i = 0
  const ap = (c: unknown): LedgerResult => {
    const r = l.apply(c, ++i)
    expect(l.invariants()).toEqual([])
    return r
  }
  return { l, ap, idx: () => i }
}

function code (r: LedgerResult): string { return r.ok ? 'ok' : r.code }

describe('ledger: mint and transfer', () => {
  it('mints only by an authority and conserves supply', () => {
    const { l, ap } = harness()
    expect(code(ap({ type: 'mint', by: 'a1', account: 'a1', amount: 100 }))).toBe('ERR_UNAUTHORIZED')
    expect(code(ap({ type: 'mint', by: T, account: 'a1', amount: 100 }))).toBe('ok')
    expect(code(ap({ type: 'mint', by: T, account: 'a2', amount: 50 }))).toBe('ok')
    expect(l.minted).toBe(150)
    expect(code(ap({ type: 'transfer', by: 'a1', from: 'a1', to: 'a2', amount: 30 }))).toBe('ok')
    expect(l.account('a1')?.free).toBe(70)
    expect(l.account('a2')?.free).toBe(80)
    expect(l.circulating()).toBe(150)
  })

  it('rejects overdrafts, unknown accounts, impersonation', () => {
    const { l, ap } = harness()
    ap({ type: 'mint', by: T, account: 'a1', amount: 10 })
    expect(code(ap({ type: 'transfer', by: 'a1', from: 'a1', to: 'a2', amount: 11 }))).toBe('ERR_INSUFFICIENT_FUNDS')
    expect(code(ap({ type: 'transfer', by: 'zz', from: 'zz', to: 'a1', amount: 1 }))).toBe('ERR_UNKNOWN_ACCOUNT')
    expect(code(ap({ type: 'transfer', by: 'a2', from: 'a1', to: 'a2', amount: 1 }))).toBe('ERR_UNAUTHORIZED')
    expect(l.account('a1')?.free).toBe(10)
    expect(l.account('a2')).toBeUndefined()
  })

  it('never throws on malformed commands and leaves state unchanged', () => {
    const { l, ap } = harness()
    ap({ type: 'mint', by: T, account: 'a1', amount: 10 })
    const before = snapshotJSON(l)
    const bad: unknown[] = [null, undefined, 42, 'mint', [], {}, { type: 'nope', by: T },
      { type: 'mint', by: T, account: 'a1', amount: 1.5 },
      { type: 'mint', by: T, account: 'a1', amount: -1 },
      { type: 'mint', by: T, account: 'a1', amount: 0 },
      { type: 'mint', by: T, account: 'a1', amount: Number.NaN },
      { type: 'mint', by: T, account: 'a1', amount: 2 ** 60 },
      { type: 'mint', by: T, account: 'a1', amount: '5' },
      { type: 'mint', by: T, account: '', amount: 5 },
      { type: 'mint', by: T, account: 'x'.repeat(129), amount: 5 },
      { type: 'mint', account: 'a1', amount: 5 },
      { type: 'slash', by: T, account: 'a1', condition: 'bogus' },
      { type: 'outcome', by: T, account: 'a1', delivered: 'yes', onTime: true, qualityPpm: 1 },
      { type: 'release', by: T, id: 'e1' }]
    for (const c of bad) {
      const r = ap(c)
      expect(r.ok).toBe(false)
    }
    expect(code(ap({ type: 'mint', by: T, account: 'a1', amount: 1.5 }))).toBe('ERR_INVALID_COMMAND')
    expect(code(ap({ type: 'release', by: T, id: 'e1' }))).toBe('ERR_UNKNOWN_ESCROW')
    const after = JSON.parse(snapshotJSON(l)) as { appliedIndex: number }
    const b = JSON.parse(before) as { appliedIndex: number }
    expect({ ...after, appliedIndex: 0 }).toEqual({ ...b, appliedIndex: 0 })
  })

  it('rejects stale log indices', () => {
    const l = new Ledger({ authorities: [T] })
    expect(l.apply({ type: 'mint', by: T, account: 'a', amount: 1 }, 5).ok).toBe(true)
    const r = l.apply({ type: 'mint', by: T, account: 'a', amount: 1 }, 5)
    expect(code(r)).toBe('ERR_STALE_INDEX')
    expect(code(l.apply({ type: 'mint', by: T, account: 'a', amount: 1 }, 3))).toBe('ERR_STALE_INDEX')
    expect(l.minted).toBe(1)
  })

  it('caps the supply at supplyMax', () => {
    const l = new Ledger({ authorities: [T], limits: { supplyMax: 100 } })
    expect(code(l.apply({ type: 'mint', by: T, account: 'a', amount: 100 }, 1))).toBe('ok')
    expect(code(l.apply({ type: 'mint', by: T, account: 'a', amount: 1 }, 2))).toBe('ERR_LIMIT_EXCEEDED')
  })

  it('rejects a bad config', () => {
    expect(() => new Ledger({ authorities: [] })).toThrow(LedgerError)
    expect(() => new Ledger({ authorities: [T], unbondingDelayEntries: -1 })).toThrow(LedgerError)
  })
})

describe('ledger: escrow, release, collect', () => {
  it('escrows and releases with a payment and a refund', () => {
    const { l, ap } = harness()
    ap({ type: 'mint', by: T, account: 'b', amount: 100 })
    expect(code(ap({ type: 'escrow', by: 'b', id: 'bid-1', account: 'b', amount: 60, arbiter: 'auct' }))).toBe('ok')
    expect(l.account('b')).toMatchObject({ free: 40, escrow: 60 })
    expect(code(ap({ type: 'escrow', by: 'b', id: 'bid-1', account: 'b', amount: 10 }))).toBe('ERR_DUPLICATE_ESCROW')
    expect(code(ap({ type: 'escrow', by: 'b', id: 'bid-2', account: 'b', amount: 41 }))).toBe('ERR_INSUFFICIENT_FUNDS')
    expect(code(ap({ type: 'release', by: 'b', id: 'bid-1' }))).toBe('ERR_UNAUTHORIZED')
    expect(code(ap({ type: 'release', by: 'auct', id: 'bid-1', payTo: 's', payAmount: 61 }))).toBe('ERR_INSUFFICIENT_FUNDS')
    const r = ap({ type: 'release', by: 'auct', id: 'bid-1', payTo: 's', payAmount: 45 })
    expect(r).toMatchObject({ ok: true, paid: 45, refunded: 15 })
    expect(l.account('b')).toMatchObject({ free: 55, escrow: 0 })
    expect(l.account('s')?.free).toBe(45)
    expect(l.openEscrows).toBe(0)
  })

  it('collects from escrow, then free, then stake, then unbonding; records a default on shortfall', () => {
    const { l, ap } = harness(100)
    ap({ type: 'mint', by: T, account: 'w', amount: 200 })
    ap({ type: 'stake', by: 'w', account: 'w', amount: 100 })
    ap({ type: 'unstake', by: 'w', account: 'w', amount: 30 }) // staked 70, unbonding 30
    ap({ type: 'escrow', by: 'w', id: 'e', account: 'w', amount: 50 }) // free 50
    const r = ap({ type: 'collect', by: T, account: 'w', to: 's', amount: 120, escrowId: 'e' })
    expect(r).toMatchObject({ ok: true, paid: 120, shortfall: 0, from: { escrow: 50, free: 50, staked: 20, unbonding: 0 } })
    expect(l.account('w')).toMatchObject({ free: 0, escrow: 0, staked: 50, unbonding: 30 })
    const r2 = ap({ type: 'collect', by: T, account: 'w', to: 's', amount: 100 })
    expect(r2).toMatchObject({ ok: true, paid: 80, shortfall: 20, from: { free: 0, staked: 50, unbonding: 30 } })
    expect(l.account('s')?.free).toBe(200)
    const w = l.account('w')!
    expect(w.history).toHaveLength(1)
    expect(w.history[0]).toMatchObject({ condition: 'task_failure', graced: true, amount: 0, evidence: { kind: 'payment_default', shortfall: 20 } })
    expect(code(ap({ type: 'collect', by: 'w', account: 'w', to: 's', amount: 1 }))).toBe('ERR_UNAUTHORIZED')
  })

  it('collect refunds the unused part of the escrow', () => {
    const { l, ap } = harness()
    ap({ type: 'mint', by: T, account: 'w', amount: 100 })
    ap({ type: 'escrow', by: 'w', id: 'e', account: 'w', amount: 80 })
    expect(ap({ type: 'collect', by: T, account: 'w', to: 's', amount: 30, escrowId: 'e' })).toMatchObject({ ok: true, paid: 30, from: { escrow: 30, free: 0 } })
    expect(l.account('w')).toMatchObject({ free: 70, escrow: 0 })
  })
})

describe('ledger: staking', () => {
  it('unbonds after the delay counted in log index', () => {
    const { l, ap } = harness(10)
    ap({ type: 'mint', by: T, account: 'a', amount: 100 }) // 1
    ap({ type: 'stake', by: 'a', account: 'a', amount: 60 }) // 2
    expect(code(ap({ type: 'unstake', by: 'a', account: 'a', amount: 61 }))).toBe('ERR_INSUFFICIENT_FUNDS') // 3
    expect(ap({ type: 'unstake', by: 'a', account: 'a', amount: 25 })).toMatchObject({ ok: true, releaseIndex: 14 }) // 4
    expect(l.account('a')).toMatchObject({ free: 40, staked: 35, unbonding: 25 })
    for (let i = 5; i <= 13; i++) expect(l.advance(i).ok).toBe(true)
    expect(l.account('a')?.unbonding).toBe(25)
    expect(l.advance(14)).toMatchObject({ ok: true, released: 25 })
    expect(l.account('a')).toMatchObject({ free: 65, staked: 35, unbonding: 0 })
    expect(l.invariants()).toEqual([])
  })

  it('with delay 0, unstaked funds are free at once', () => {
    const { l, ap } = harness(0)
    ap({ type: 'mint', by: T, account: 'a', amount: 10 })
    ap({ type: 'stake', by: 'a', account: 'a', amount: 10 })
    ap({ type: 'unstake', by: 'a', account: 'a', amount: 4 })
    expect(l.account('a')).toMatchObject({ free: 4, staked: 6, unbonding: 0 })
  })
})

describe('ledger: snapshot and restore', () => {
  it('round-trips and continues identically', () => {
    const { l, ap } = harness(5)
    ap({ type: 'mint', by: T, account: 'b', amount: 100 })
    ap({ type: 'mint', by: T, account: 'a', amount: 100 })
    ap({ type: 'stake', by: 'a', account: 'a', amount: 50 })
    ap({ type: 'unstake', by: 'a', account: 'a', amount: 10 })
    ap({ type: 'escrow', by: 'b', id: 'z', account: 'b', amount: 7 })
    ap({ type: 'slash', by: T, account: 'a', condition: 'byzantine_behavior', evidence: { bids: [1, 2] } })
    const r = Ledger.restore(l.snapshot())
    expect(snapshotJSON(r)).toBe(snapshotJSON(l))
    expect(Object.keys(l.snapshot().accounts)).toEqual(['a', 'b'])
    for (const led of [l, r]) {
      led.apply({ type: 'release', by: T, id: 'z', payTo: 'a', payAmount: 3 }, 20)
      led.apply({ type: 'transfer', by: 'a', from: 'a', to: 'c', amount: 5 }, 21)
    }
    expect(snapshotJSON(r)).toBe(snapshotJSON(l))
  })

  it('rejects malformed or inconsistent snapshots with ERR_DECODE', () => {
    const { l, ap } = harness()
    ap({ type: 'mint', by: T, account: 'a', amount: 100 })
    const s = l.snapshot()
    const bad = JSON.parse(JSON.stringify(s)) as { accounts: Record<string, { free: number }> }
    bad.accounts.a!.free = 99
    for (const x of [null, 5, {}, bad]) {
      try { Ledger.restore(x); expect.unreachable() } catch (e) { expect((e as LedgerError).code).toBe('ERR_DECODE') }
    }
  })
})
