import { describe, expect, it } from 'vitest'
import { callMarket, commitBid, resolveReveals, settlementCommands, verifyReveal, vickrey } from '../../protocols/auctions/index.js'
import { Ledger } from '../../protocols/ledger/index.js'

const H = 'house'

function ledgerWith (funds: Record<string, number>): { l: Ledger, ap: (c: unknown) => void } {
  const l = new Ledger({ authorities: [H] })
  let i = 0
  const ap = (c: unknown): void => {
    const r = l.apply(c, ++i)
    expect(r.ok, JSON.stringify(r)).toBe(true)
    expect(l.invariants()).toEqual([])
  }
  for (const [a, v] of Object.entries(funds)) ap(v > 0 ? { type: 'mint', by: H, account: a, amount: v } : { type: 'open', by: H, account: a })
  ap({ type: 'open', by: H, account: 'seller' })
  return { l, ap }
}

describe('commit-reveal', () => {
  it('verifies reveals and applies the forfeit rule in commit order', () => {
    const c = (agent: string, amount: number, nonce: string): { agent: string, commitment: string } => ({ agent, commitment: commitBid('g1', agent, amount, nonce) })
    const commits = [c('a', 10, 'n1'), c('b', 12, 'n2'), c('c', 7, 'n3'), c('a', 99, 'n4'), c('d', 5, 'n5')]
    expect(verifyReveal('g1', commits[0]!, { agent: 'a', amount: 10, nonce: 'n1' })).toBe(true)
    expect(verifyReveal('g2', commits[0]!, { agent: 'a', amount: 10, nonce: 'n1' })).toBe(false)
    expect(verifyReveal('g1', commits[0]!, { agent: 'a', amount: 11, nonce: 'n1' })).toBe(false)
    const r = resolveReveals('g1', commits, [{ agent: 'c', amount: 7, nonce: 'n3' }, { agent: 'b', amount: 13, nonce: 'n2' }, { agent: 'a', amount: 10, nonce: 'n1' }, { agent: 'zz', amount: 1, nonce: 'x' }])
    expect(r.bids).toEqual([{ agent: 'a', amount: 10 }, { agent: 'c', amount: 7 }])
    expect(r.forfeits).toEqual([{ agent: 'b', reason: 'mismatch' }, { agent: 'a', reason: 'duplicate' }, { agent: 'd', reason: 'unrevealed' }])
  })
})

describe('settlement through the ledger', () => {
  it('Vickrey: the winner pays the second price from its escrow, losers and forfeits are released', () => {
    const { l, ap } = ledgerWith({ a: 100, b: 100, c: 100 })
    const bids = [{ agent: 'a', amount: 30 }, { agent: 'b', amount: 20 }]
    for (const b of [...bids, { agent: 'c', amount: 40 }]) ap({ type: 'escrow', by: b.agent, id: `g1/${b.agent}`, account: b.agent, amount: b.amount })
    const o = vickrey({ item: 'gpu', reserve: 5 }, bids)
    const cmds = settlementCommands({ by: H, payee: 'seller', outcome: o, escrows: ['a', 'b', 'c'].map(x => ({ agent: x, escrowId: `g1/${x}`, amount: x === 'a' ? 30 : x === 'b' ? 20 : 40 })), forfeits: ['c'] })
    for (const c of cmds) ap(c)
    expect(l.account('a')).toMatchObject({ free: 80, escrow: 0 })
    expect(l.account('b')).toMatchObject({ free: 100, escrow: 0 })
    expect(l.account('c')).toMatchObject({ free: 60, escrow: 0 })
    expect(l.account('seller')!.free).toBe(60)
    expect(l.openEscrows).toBe(0)
  })

  it('no-sale releases every escrow', () => {
    const { l, ap } = ledgerWith({ a: 10 })
    ap({ type: 'escrow', by: 'a', id: 'g/a', account: 'a', amount: 4 })
    const o = vickrey({ item: 'gpu', reserve: 5 }, [{ agent: 'a', amount: 4 }])
    for (const c of settlementCommands({ by: H, payee: 'seller', outcome: o, escrows: [{ agent: 'a', escrowId: 'g/a', amount: 4 }] })) ap(c)
    expect(l.account('a')).toMatchObject({ free: 10, escrow: 0 })
  })

  it('call market: buyers pay the clearing account, which pays sellers; it nets to zero', () => {
    const { l, ap } = ledgerWith({ A: 50, B: 50, X: 0, Y: 0 })
    ap({ type: 'open', by: H, account: H })
    const o = callMarket({ item: 'cpu' }, [
      { agent: 'A', side: 'buy', limit: 10, quantity: 1 }, { agent: 'X', side: 'sell', limit: 3, quantity: 1 },
      { agent: 'B', side: 'buy', limit: 8, quantity: 1 }, { agent: 'Y', side: 'sell', limit: 6, quantity: 1 }])
    for (const c of settlementCommands({ by: H, payee: H, outcome: o, escrows: [] })) ap(c)
    expect([l.account('A')!.free, l.account('B')!.free, l.account('X')!.free, l.account('Y')!.free, l.account(H)!.free]).toEqual([43, 43, 7, 7, 0])
  })
})
