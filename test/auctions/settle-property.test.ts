import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { combinatorial, firstPrice, settlementCommands, vickrey } from '../../protocols/auctions/index.js'
import type { Outcome } from '../../protocols/auctions/index.js'
import { Ledger, snapshotJSON } from '../../protocols/ledger/index.js'
import { assertProperty } from '../helpers/seed.js'

const H = 'house'

/** One replica: mint, escrow each admitted bid, run the mechanism, settle. Returns the ledger. */
function replica (funds: number[], bids: number[], kind: 'vickrey' | 'first' | 'comb', reserve: number): { l: Ledger, o: Outcome } {
  const l = new Ledger({ authorities: [H] })
  let i = 0
  const ap = (c: unknown): void => {
    l.apply(c, ++i)
    expect(l.invariants()).toEqual([])
  }
  funds.forEach((f, n) => ap({ type: 'mint', by: H, account: `a${n}`, amount: f }))
  ap({ type: 'open', by: H, account: 'seller' })
  const admitted: Array<{ agent: string, amount: number }> = []
  bids.forEach((amount, n) => {
    const agent = `a${n % funds.length}`
    if (admitted.some(b => b.agent === agent)) return
    if (!l.checkBid(agent, amount).ok || amount > l.account(agent)!.free) return // escrow must cover the bid
    ap({ type: 'escrow', by: agent, id: `g/${agent}`, account: agent, amount })
    admitted.push({ agent, amount })
  })
  const o = kind === 'vickrey'
    ? vickrey({ item: 'gpu', reserve }, admitted)
    : kind === 'first'
      ? firstPrice({ item: 'gpu', reserve }, admitted)
      : combinatorial({ items: ['gpu'] }, admitted.map(b => ({ agent: b.agent, items: ['gpu'], value: b.amount })))
  for (const c of settlementCommands({ by: H, payee: 'seller', outcome: o, escrows: admitted.map(b => ({ agent: b.agent, escrowId: `g/${b.agent}`, amount: b.amount })) })) ap(c)
  return { l, o }
}

describe('auction settlement properties', () => {
  it('conserves supply, awards the item at most once, releases every escrow, and replicas agree', () => {
    const prop = fc.property(
      fc.array(fc.integer({ min: 1, max: 100 }), { minLength: 1, maxLength: 5 }),
      fc.array(fc.integer({ min: 0, max: 120 }), { maxLength: 8 }),
      fc.constantFrom('vickrey' as const, 'first' as const, 'comb' as const),
      fc.integer({ min: 0, max: 50 }),
      (funds, bids, kind, reserve) => {
        const a = replica(funds, bids, kind, reserve)
        const b = replica(funds, bids, kind, reserve)
        expect(snapshotJSON(a.l)).toBe(snapshotJSON(b.l))
        expect(a.l.openEscrows).toBe(0)
        expect(a.l.minted).toBe(funds.reduce((s, x) => s + x, 0))
        expect(a.o.winners.length).toBeLessThanOrEqual(1)
        const paid = a.o.winners.reduce((s, w) => s + w.price, 0)
        expect(a.l.account('seller')!.free).toBe(paid)
        for (const w of a.o.winners) expect(w.price).toBeLessThanOrEqual(bids.length > 0 ? Math.max(...bids) : 0)
      })
    assertProperty(prop, { numRuns: 200 })
  })
})
