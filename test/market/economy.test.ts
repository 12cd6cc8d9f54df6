import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { commitBid } from '../../protocols/auctions/commit.js'
import { Economy, type MarketResult } from '../../protocols/market/index.js'
import { assertProperty } from '../helpers/seed.js'

/** A tiny driver: commands applied at increasing indices, with an origin and log time. */
class Book {
  e: Economy
  index = 0
  at = 1000
  constructor (authorities = ['op']) { this.e = new Economy({ authorities, unbondingDelayEntries: 5 }) }
  run (origin: string, cmd: Record<string, unknown>, dt = 1): MarketResult {
    this.at += dt
    const r = this.e.apply(cmd, ++this.index, { origin, at: this.at })
    const bad = this.e.invariants()
    if (bad.length > 0) throw new Error(`invariants broken after ${JSON.stringify(cmd)}: ${bad.join('; ')}`)
    return r
  }
  ok (origin: string, cmd: Record<string, unknown>, dt = 1): Record<string, unknown> {
    const r = this.run(origin, cmd, dt)
    if (!r.ok) throw new Error(`${JSON.stringify(cmd)} failed: ${r.code} ${r.message}`)
    return r
  }
  code (origin: string, cmd: Record<string, unknown>, dt = 1): string | undefined {
    const r = this.run(origin, cmd, dt)
    return r.ok ? undefined : r.code
  }
  fund (account: string, owner: string, amount: number): void {
    this.ok('op', { type: 'mint', by: 'treasury', account, owner, amount })
  }
}

function supplyOk (e: Economy): void {
  const s = e.supply()
  expect(s.total).toBe(s.minted)
}

describe('economy: accounts and authentication', () => {
  it('accounts belong to the peer that opened them; the treasury acts only from an authority', () => {
    const b = new Book()
    expect(b.code('p1', { type: 'mint', by: 'treasury', account: 'a', owner: 'p1', amount: 10 })).toBe('ERR_UNAUTHORIZED')
    expect(b.code('op', { type: 'mint', by: 'treasury', account: 'a', amount: 10 })).toBe('ERR_UNKNOWN_ACCOUNT')
    b.fund('a', 'p1', 100)
    expect(b.e.ownerOf('a')).toBe('p1')
    b.ok('p2', { type: 'open', by: 'b', account: 'b' })
    expect(b.e.ownerOf('b')).toBe('p2')
    // p2 cannot move a's funds; p1 can.
    expect(b.code('p2', { type: 'transfer', by: 'a', from: 'a', to: 'b', amount: 5 })).toBe('ERR_UNAUTHORIZED')
    b.ok('p1', { type: 'transfer', by: 'a', from: 'a', to: 'b', amount: 5 })
    // Transfers never create ownerless accounts.
    expect(b.code('p1', { type: 'transfer', by: 'a', from: 'a', to: 'nobody', amount: 5 })).toBe('ERR_UNKNOWN_ACCOUNT')
    // Another peer cannot claim an opened account.
    expect(b.code('p3', { type: 'open', by: 'a', account: 'a' })).toBe('ERR_UNAUTHORIZED')
    // The machine's own account is out of reach; so are its escrows.
    expect(b.code('op', { type: 'mint', by: 'treasury', account: 'auction-house', owner: 'op', amount: 1 })).toBe('ERR_RESERVED_ACCOUNT')
    expect(b.code('p1', { type: 'escrow', by: 'a', id: 'auction/x/a', account: 'a', amount: 1 })).toBe('ERR_UNAUTHORIZED')
    expect(b.code('p1', { type: 'stake', by: 'auction-house', account: 'a', amount: 1 })).toBe('ERR_UNAUTHORIZED')
    expect(b.e.account('a')).toMatchObject({ free: 95, owner: 'p1' })
    expect(b.e.account('b')).toMatchObject({ free: 5, owner: 'p2' })
    supplyOk(b.e)
  })

  it('rejects malformed commands with named codes and changes nothing', () => {
    const b = new Book()
    b.fund('a', 'p1', 50)
    const before = JSON.stringify(b.e.snapshot().ledger.accounts)
    for (const [cmd, code] of [
      [null, 'ERR_INVALID_COMMAND'],
      [{ type: 'nope', by: 'a' }, 'ERR_INVALID_COMMAND'],
      [{ type: 'transfer', from: 'a', to: 'a', amount: 1 }, 'ERR_INVALID_COMMAND'],
      [{ type: 'transfer', by: 'a', from: 'a', to: 'a', amount: 1.5 }, 'ERR_INVALID_COMMAND'],
      [{ type: 'stake', by: 'a', account: 'a', amount: 51 }, 'ERR_INSUFFICIENT_FUNDS'],
      [{ type: 'auction.open', by: 'a', auction: { id: 'x', mechanism: 'sotheby', items: ['i'], durationMs: 1 } }, 'ERR_INVALID_AUCTION'],
      [{ type: 'auction.open', by: 'a', auction: { id: 'x', mechanism: 'vickrey', items: ['i'], durationMs: 1, increment: 2 } }, 'ERR_INVALID_AUCTION'],
      [{ type: 'auction.open', by: 'a', auction: { id: 'x', mechanism: 'english', items: ['i'], durationMs: 1, reserve: 1, increment: 0 } }, 'ERR_INVALID_AUCTION'],
      [{ type: 'auction.open', by: 'a', auction: { id: 'x', mechanism: 'vickrey', items: ['i', 'j'], durationMs: 1 } }, 'ERR_INVALID_AUCTION'],
      [{ type: 'auction.bid', by: 'a', auction: 'none', bid: { amount: 1 } }, 'ERR_UNKNOWN_AUCTION']
    ] as Array<[unknown, string]>) {
      const r = b.e.apply(cmd, ++b.index, { origin: 'p1', at: b.at })
      expect(r.ok ? 'ok' : r.code, JSON.stringify(cmd)).toBe(code)
    }
    expect(JSON.stringify(b.e.snapshot().ledger.accounts)).toBe(before)
    // A stale index is refused.
    expect(b.e.apply({ type: 'open', by: 'z', account: 'z' }, 1, { origin: 'p9', at: 0 })).toMatchObject({ ok: false, code: 'ERR_STALE_INDEX' })
  })
})

describe('economy: auctions', () => {
  function market (): Book {
    const b = new Book()
    b.fund('seller', 'ps', 0 + 1)
    b.fund('a1', 'p1', 100)
    b.fund('a2', 'p2', 100)
    b.fund('a3', 'p3', 100)
    return b
  }

  it('Vickrey: admission rules, second price, losers refunded, supply conserved', () => {
    const b = market()
    b.ok('ps', { type: 'auction.open', by: 'seller', auction: { id: 'g1', mechanism: 'vickrey', items: ['gpu'], reserve: 10, durationMs: 100 } })
    expect(b.code('p1', { type: 'auction.bid', by: 'a1', auction: 'g1', bid: { amount: 9 } })).toBe('ERR_BELOW_RESERVE')
    expect(b.code('ps', { type: 'auction.bid', by: 'seller', auction: 'g1', bid: { amount: 10 } })).toBe('ERR_SELF_BID')
    expect(b.code('p2', { type: 'auction.bid', by: 'a1', auction: 'g1', bid: { amount: 10 } })).toBe('ERR_UNAUTHORIZED')
    // Initial reputation 0.5 → bidding power 0.8 × free.
    expect(b.code('p1', { type: 'auction.bid', by: 'a1', auction: 'g1', bid: { amount: 81 } })).toBe('ERR_EXCEEDS_BIDDING_POWER')
    expect(b.code('p1', { type: 'auction.bid', by: 'a1', auction: 'g1', bid: { amount: 'x' } })).toBe('ERR_INVALID_BID')
    b.ok('p1', { type: 'auction.bid', by: 'a1', auction: 'g1', bid: { amount: 40 } })
    expect(b.code('p1', { type: 'auction.bid', by: 'a1', auction: 'g1', bid: { amount: 50 } })).toBe('ERR_DUPLICATE_BID')
    b.ok('p2', { type: 'auction.bid', by: 'a2', auction: 'g1', bid: { amount: 60 } })
    b.ok('p3', { type: 'auction.bid', by: 'a3', auction: 'g1', bid: { amount: 60 } })
    expect(b.e.account('a2')).toMatchObject({ free: 40, escrow: 60 })
    // Only the seller may close early.
    expect(b.code('p1', { type: 'auction.close', by: 'a1', auction: 'g1' })).toBe('ERR_TOO_EARLY')
    const r = b.ok('ps', { type: 'auction.close', by: 'seller', auction: 'g1' })
    // Tie at 60: a2 committed first wins and pays the second price 60.
    expect(r).toMatchObject({ status: 'settled', outcome: { winners: [{ agent: 'a2', items: ['gpu'], price: 60 }] } })
    expect(b.e.account('a2')).toMatchObject({ free: 40, escrow: 0 })
    expect(b.e.account('a1')).toMatchObject({ free: 100, escrow: 0 })
    expect(b.e.account('a3')).toMatchObject({ free: 100, escrow: 0 })
    expect(b.e.account('seller')).toMatchObject({ free: 61 })
    // Settled once: no second close, no late bids.
    expect(b.code('ps', { type: 'auction.close', by: 'seller', auction: 'g1' })).toBe('ERR_WRONG_PHASE')
    expect(b.code('p1', { type: 'auction.bid', by: 'a1', auction: 'g1', bid: { amount: 70 } })).toBe('ERR_AUCTION_CLOSED')
    supplyOk(b.e)
  })

  it('Vickrey with one bidder and a reserve pays the reserve; no qualifying bid is a no-sale with escrows released', () => {
    const b = market()
    b.ok('ps', { type: 'auction.open', by: 'seller', auction: { id: 'v', mechanism: 'vickrey', items: ['gpu'], reserve: 15, durationMs: 100 } })
    b.ok('p1', { type: 'auction.bid', by: 'a1', auction: 'v', bid: { amount: 50 } })
    expect(b.ok('ps', { type: 'auction.close', by: 'seller', auction: 'v' })).toMatchObject({ outcome: { winners: [{ agent: 'a1', price: 15 }] } })
    b.ok('ps', { type: 'auction.open', by: 'seller', auction: { id: 'f', mechanism: 'first-price', items: ['gpu'], reserve: 15, durationMs: 100 } })
    expect(b.ok('ps', { type: 'auction.close', by: 'seller', auction: 'f' })).toMatchObject({ status: 'no-sale' })
    supplyOk(b.e)
  })

  it('bids after the deadline are refused; anyone may close once it passed', () => {
    const b = market()
    b.ok('ps', { type: 'auction.open', by: 'seller', auction: { id: 'd', mechanism: 'dutch', items: ['gpu'], startPrice: 50, decrement: 5, reserve: 10, durationMs: 100 } })
    b.ok('p1', { type: 'auction.bid', by: 'a1', auction: 'd', bid: { maxPrice: 50 } })
    b.ok('p2', { type: 'auction.bid', by: 'a2', auction: 'd', bid: { maxPrice: 70 } })
    expect(b.code('p3', { type: 'auction.bid', by: 'a3', auction: 'd', bid: { maxPrice: 60 } }, 200)).toBe('ERR_AUCTION_CLOSED')
    // Dutch with a taker on the first step: the first committed taker wins at the start price.
    expect(b.ok('p3', { type: 'auction.close', by: 'a3', auction: 'd' })).toMatchObject({ outcome: { winners: [{ agent: 'a1', price: 50 }] } })
    expect(b.e.account('a1')).toMatchObject({ free: 50 })
    expect(b.e.account('a2')).toMatchObject({ free: 100 })
  })

  it('English: the last bidder in wins at the first price all others dropped out', () => {
    const b = market()
    b.ok('ps', { type: 'auction.open', by: 'seller', auction: { id: 'e', mechanism: 'english', items: ['gpu'], reserve: 5, increment: 1, durationMs: 100 } })
    b.ok('p1', { type: 'auction.bid', by: 'a1', auction: 'e', bid: { maxPrice: 15 } })
    b.ok('p2', { type: 'auction.bid', by: 'a2', auction: 'e', bid: { maxPrice: 12 } })
    expect(b.code('p3', { type: 'auction.bid', by: 'a3', auction: 'e', bid: { maxPrice: 4 } })).toBe('ERR_BELOW_RESERVE')
    expect(b.ok('ps', { type: 'auction.close', by: 'seller', auction: 'e' })).toMatchObject({ outcome: { winners: [{ agent: 'a1', price: 13 }] } })
  })

  it('commit-reveal: reveals checked, an unrevealed commitment forfeits its deposit to the treasury', () => {
    const b = market()
    expect(b.code('ps', { type: 'auction.open', by: 'seller', auction: { id: 's', mechanism: 'first-price', items: ['gpu'], sealed: 'commit', deposit: 5, revealMs: 50, durationMs: 100 } })).toBe('ERR_INVALID_AUCTION')
    b.ok('ps', { type: 'auction.open', by: 'seller', auction: { id: 's', mechanism: 'first-price', items: ['gpu'], reserve: 0, sealed: 'commit', deposit: 5, revealMs: 1000, durationMs: 100 } })
    b.ok('p1', { type: 'auction.bid', by: 'a1', auction: 's', bid: { commitment: commitBid('s', 'a1', 30, 'n1') } })
    b.ok('p2', { type: 'auction.bid', by: 'a2', auction: 's', bid: { commitment: commitBid('s', 'a2', 40, 'n2') } })
    expect(b.code('p1', { type: 'auction.reveal', by: 'a1', auction: 's', amount: 30, nonce: 'n1' })).toBe('ERR_WRONG_PHASE')
    // A sealed auction runs its whole bidding period, even for its seller.
    expect(b.code('ps', { type: 'auction.close', by: 'seller', auction: 's' })).toBe('ERR_TOO_EARLY')
    expect(b.ok('ps', { type: 'auction.close', by: 'seller', auction: 's' }, 100)).toMatchObject({ status: 'reveal' })
    expect(b.code('p1', { type: 'auction.reveal', by: 'a1', auction: 's', amount: 31, nonce: 'n1' })).toBe('ERR_INVALID_BID')
    b.ok('p1', { type: 'auction.reveal', by: 'a1', auction: 's', amount: 30, nonce: 'n1' })
    // The seller cannot cut the window short while a bid is unrevealed.
    expect(b.code('ps', { type: 'auction.settle', by: 'seller', auction: 's' })).toBe('ERR_TOO_EARLY')
    const r = b.ok('p3', { type: 'auction.settle', by: 'a3', auction: 's' }, 1000)
    expect(r).toMatchObject({ status: 'settled', outcome: { winners: [{ agent: 'a1', price: 30 }] }, forfeits: [{ agent: 'a2', reason: 'unrevealed' }] })
    expect(b.e.account('a1')).toMatchObject({ free: 70, escrow: 0 })
    expect(b.e.account('a2')).toMatchObject({ free: 95, escrow: 0 })
    // The deposit goes to the treasury: the seller gains nothing from a bidder failing to reveal.
    expect(b.e.account('seller')).toMatchObject({ free: 1 + 30 })
    expect(b.e.account('treasury')).toMatchObject({ free: 5 })
    supplyOk(b.e)
  })

  it('combinatorial: malformed bundles refused; XOR bids settle with VCG payments', () => {
    const b = market()
    b.ok('ps', { type: 'auction.open', by: 'seller', auction: { id: 'c', mechanism: 'combinatorial', items: ['A', 'B'], durationMs: 100 } })
    expect(b.code('p1', { type: 'auction.bid', by: 'a1', auction: 'c', bid: { bundles: [{ items: ['A', 'Z'], value: 5 }] } })).toBe('ERR_INVALID_BID')
    expect(b.code('p1', { type: 'auction.bid', by: 'a1', auction: 'c', bid: { bundles: [{ items: ['A', 'A'], value: 5 }] } })).toBe('ERR_INVALID_BID')
    expect(b.code('p1', { type: 'auction.bid', by: 'a1', auction: 'c', bid: { bundles: [] } })).toBe('ERR_INVALID_BID')
    // a1 wants A and B together (10); a2 wants A (6), a3 wants B (6): W = 12 with a2 + a3.
    b.ok('p1', { type: 'auction.bid', by: 'a1', auction: 'c', bid: { bundles: [{ items: ['A', 'B'], value: 10 }] } })
    b.ok('p2', { type: 'auction.bid', by: 'a2', auction: 'c', bid: { bundles: [{ items: ['A'], value: 6 }] } })
    b.ok('p3', { type: 'auction.bid', by: 'a3', auction: 'c', bid: { bundles: [{ items: ['B'], value: 6 }] } })
    const r = b.ok('ps', { type: 'auction.close', by: 'seller', auction: 'c' })
    // VCG: a2 pays W(-a2) − (W − 6) = 10 − 6 = 4, a3 likewise 4.
    expect(r).toMatchObject({ status: 'settled', outcome: { payments: { a2: 4, a3: 4 } } })
    expect(b.e.account('a1')).toMatchObject({ free: 100 })
    expect(b.e.account('a2')).toMatchObject({ free: 96 })
    expect(b.e.account('seller')).toMatchObject({ free: 9 })
    supplyOk(b.e)
  })

  it('double auction: buyers pay the clearing price, sellers are paid through the market account', () => {
    const b = market()
    b.ok('ps', { type: 'auction.open', by: 'seller', auction: { id: 'm', mechanism: 'double', items: ['cpu-hour'], durationMs: 100 } })
    b.ok('p1', { type: 'auction.bid', by: 'a1', auction: 'm', bid: { side: 'buy', limit: 12, quantity: 2 } })
    b.ok('p2', { type: 'auction.bid', by: 'a2', auction: 'm', bid: { side: 'sell', limit: 8, quantity: 2 } })
    expect(b.e.account('a2')).toMatchObject({ escrow: 0 })
    const r = b.ok('ps', { type: 'auction.close', by: 'seller', auction: 'm' })
    expect(r).toMatchObject({ status: 'settled', outcome: { clearingPrice: 10, quantity: 2 } })
    expect(b.e.account('a1')).toMatchObject({ free: 80 })
    expect(b.e.account('a2')).toMatchObject({ free: 120 })
    expect(b.e.account('seller')).toMatchObject({ free: 1 })
    // No crossing: no-sale, escrow back.
    b.ok('ps', { type: 'auction.open', by: 'seller', auction: { id: 'n', mechanism: 'double', items: ['cpu-hour'], durationMs: 100 } })
    b.ok('p1', { type: 'auction.bid', by: 'a1', auction: 'n', bid: { side: 'buy', limit: 5, quantity: 1 } })
    b.ok('p2', { type: 'auction.bid', by: 'a2', auction: 'n', bid: { side: 'sell', limit: 8, quantity: 1 } })
    expect(b.ok('ps', { type: 'auction.close', by: 'seller', auction: 'n' })).toMatchObject({ status: 'no-sale' })
    expect(b.e.account('a1')).toMatchObject({ free: 80, escrow: 0 })
    supplyOk(b.e)
  })

  it('double auction with McAfee pricing: the marginal trade is dropped and the surplus stays with the market account', () => {
    const b = market()
    b.fund('a4', 'p4', 100)
    b.ok('ps', { type: 'auction.open', by: 'seller', auction: { id: 'mc', mechanism: 'double', pricing: 'mcafee', items: ['cpu-hour'], durationMs: 100 } })
    b.ok('p1', { type: 'auction.bid', by: 'a1', auction: 'mc', bid: { side: 'buy', limit: 12, quantity: 1 } })
    b.ok('p2', { type: 'auction.bid', by: 'a2', auction: 'mc', bid: { side: 'buy', limit: 10, quantity: 1 } })
    b.ok('p3', { type: 'auction.bid', by: 'a3', auction: 'mc', bid: { side: 'sell', limit: 5, quantity: 1 } })
    b.ok('p4', { type: 'auction.bid', by: 'a4', auction: 'mc', bid: { side: 'sell', limit: 8, quantity: 1 } })
    // Two units cross (12/5, 10/8); no unmatched unit prices them, so the pair 10/8 is dropped:
    // a1 pays 10, a3 receives 8, the market keeps 2.
    const r = b.ok('ps', { type: 'auction.close', by: 'seller', auction: 'mc' })
    expect(r).toMatchObject({ status: 'settled', outcome: { quantity: 1, payments: { a1: 10, a3: -8 } } })
    expect(b.e.account('a1')).toMatchObject({ free: 90, escrow: 0 })
    expect(b.e.account('a2')).toMatchObject({ free: 100, escrow: 0 })
    expect(b.e.account('a3')).toMatchObject({ free: 108 })
    expect(b.e.account('seller')).toMatchObject({ free: 1 + 2 })
    supplyOk(b.e)
  })

  it('double auction: a buyer short of funds pays what it has, and sellers are paid only what was collected', () => {
    const b = market()
    for (let i = 0; i < 60; i++) b.ok('op', { type: 'outcome', by: 'treasury', account: 'a1', delivered: true, onTime: true, qualityPpm: 1_000_000 })
    expect(b.e.account('a1')!.biddingPower).toBe(150)
    b.ok('ps', { type: 'auction.open', by: 'seller', auction: { id: 'dd', mechanism: 'double', items: ['x'], durationMs: 100 } })
    b.ok('p1', { type: 'auction.bid', by: 'a1', auction: 'dd', bid: { side: 'buy', limit: 150, quantity: 1 } })
    b.ok('p2', { type: 'auction.bid', by: 'a2', auction: 'dd', bid: { side: 'sell', limit: 100, quantity: 1 } })
    const r = b.ok('ps', { type: 'auction.close', by: 'seller', auction: 'dd' })
    // Price 125: a1 has 100 (no stake): it pays 100 and defaults on 25; a2 receives the 100 collected.
    expect(r).toMatchObject({ status: 'settled', shortfalls: { a1: 25, a2: 25 }, settlementErrors: [] })
    expect(b.e.account('a1')).toMatchObject({ free: 0, escrow: 0 })
    expect(b.e.account('a2')).toMatchObject({ free: 200 })
    expect(b.e.account('seller')).toMatchObject({ free: 1 })
    expect(b.e.account('a1')!.history).toMatchObject([{ condition: 'task_failure', evidence: { kind: 'payment_default', shortfall: 25 } }])
    supplyOk(b.e)
  })

  it('per-owner limits: one peer cannot fill the book for everyone', () => {
    const b = new Book()
    b.e = new Economy({ authorities: ['op'], limits: { auctionsOpenPerOwnerMax: 1, bidsOpenPerOwnerMax: 1, accountsPerOwnerMax: 3 } })
    b.fund('s', 'ps', 1)
    b.fund('s2', 'ps', 1)
    b.fund('t', 'pt', 1)
    b.fund('a1', 'p1', 10)
    b.fund('a2', 'p1', 10)
    expect(b.code('op', { type: 'mint', by: 'treasury', account: 's3', owner: 'ps', amount: 1 })).toBe(undefined)
    expect(b.code('ps', { type: 'open', by: 's4', account: 's4' })).toBe('ERR_LIMIT_EXCEEDED')
    b.ok('ps', { type: 'auction.open', by: 's', auction: { id: 'x', mechanism: 'vickrey', items: ['i'], durationMs: 10 } })
    expect(b.code('ps', { type: 'auction.open', by: 's2', auction: { id: 'y', mechanism: 'vickrey', items: ['i'], durationMs: 10 } })).toBe('ERR_LIMIT_EXCEEDED')
    b.ok('pt', { type: 'auction.open', by: 't', auction: { id: 'y', mechanism: 'vickrey', items: ['i'], durationMs: 10 } })
    b.ok('p1', { type: 'auction.bid', by: 'a1', auction: 'x', bid: { amount: 1 } })
    expect(b.code('p1', { type: 'auction.bid', by: 'a2', auction: 'y', bid: { amount: 1 } })).toBe('ERR_LIMIT_EXCEEDED')
    b.ok('ps', { type: 'auction.close', by: 's', auction: 'x' })
    // Settling frees the owner's quota.
    b.ok('p1', { type: 'auction.bid', by: 'a2', auction: 'y', bid: { amount: 1 } })
    b.ok('ps', { type: 'auction.open', by: 's2', auction: { id: 'z', mechanism: 'vickrey', items: ['i'], durationMs: 10 } })
    const again = Economy.restore(JSON.parse(JSON.stringify(b.e.snapshot())))
    expect(again.apply({ type: 'auction.open', by: 's', auction: { id: 'w', mechanism: 'vickrey', items: ['i'], durationMs: 10 } }, b.index + 1, { origin: 'ps', at: b.at })).toMatchObject({ ok: false, code: 'ERR_LIMIT_EXCEEDED' })
  })

  it('the treasury reassigns a squatted account, quotas following it', () => {
    const b = market()
    b.ok('px', { type: 'open', by: 'gpu-agent', account: 'gpu-agent' })
    expect(b.code('p1', { type: 'open', by: 'gpu-agent', account: 'gpu-agent' })).toBe('ERR_UNAUTHORIZED')
    expect(b.code('px', { type: 'account.assign', by: 'gpu-agent', account: 'gpu-agent', owner: 'px' })).toBe('ERR_UNAUTHORIZED')
    expect(b.code('p1', { type: 'account.assign', by: 'treasury', account: 'gpu-agent', owner: 'p1' })).toBe('ERR_UNAUTHORIZED')
    expect(b.code('op', { type: 'account.assign', by: 'treasury', account: 'nope', owner: 'p1' })).toBe('ERR_UNKNOWN_ACCOUNT')
    expect(b.ok('op', { type: 'account.assign', by: 'treasury', account: 'gpu-agent', owner: 'p1' })).toMatchObject({ previous: 'px' })
    expect(b.e.ownerOf('gpu-agent')).toBe('p1')
    b.ok('op', { type: 'mint', by: 'treasury', account: 'gpu-agent', amount: 10 })
    b.ok('p1', { type: 'transfer', by: 'gpu-agent', from: 'gpu-agent', to: 'a1', amount: 10 })
    expect(b.code('px', { type: 'stake', by: 'gpu-agent', account: 'gpu-agent', amount: 1 })).toBe('ERR_UNAUTHORIZED')
    // Restore rebuilds the same quotas.
    const again = Economy.restore(JSON.parse(JSON.stringify(b.e.snapshot())))
    expect(JSON.stringify(again.snapshot())).toBe(JSON.stringify(b.e.snapshot()))
    supplyOk(b.e)
  })

  it('money never lands in an ownerless or reserved account', () => {
    const b = market()
    b.ok('p1', { type: 'escrow', by: 'a1', id: 'job', account: 'a1', amount: 20, arbiter: 'a2' })
    expect(b.code('p2', { type: 'release', by: 'a2', id: 'job', payTo: 'nobody', payAmount: 20 })).toBe('ERR_UNKNOWN_ACCOUNT')
    expect(b.code('p2', { type: 'release', by: 'a2', id: 'job', payTo: 'auction-house', payAmount: 20 })).toBe('ERR_RESERVED_ACCOUNT')
    b.ok('p2', { type: 'release', by: 'a2', id: 'job', payTo: 'a3', payAmount: 20 })
    expect(b.e.account('a3')).toMatchObject({ free: 120 })
    supplyOk(b.e)
  })

  it('a payment above free funds is taken from the stake, and a shortfall is a payment default', () => {
    const b = market()
    // Raise a1's reputation so its bidding power exceeds its free funds (score 0.875 → 1.5×).
    for (let i = 0; i < 60; i++) b.ok('op', { type: 'outcome', by: 'treasury', account: 'a1', delivered: true, onTime: true, qualityPpm: 1_000_000 })
    b.ok('p1', { type: 'stake', by: 'a1', account: 'a1', amount: 60 })
    expect(b.e.account('a1')!.biddingPower).toBe(60) // free 40 × 1.5
    b.ok('ps', { type: 'auction.open', by: 'seller', auction: { id: 'x', mechanism: 'first-price', items: ['gpu'], durationMs: 100 } })
    b.ok('p1', { type: 'auction.bid', by: 'a1', auction: 'x', bid: { amount: 55 } })
    expect(b.e.account('a1')).toMatchObject({ free: 0, escrow: 40, staked: 60 })
    const r = b.ok('ps', { type: 'auction.close', by: 'seller', auction: 'x' })
    expect(r).toMatchObject({ status: 'settled', shortfalls: {} })
    expect(b.e.account('a1')).toMatchObject({ free: 0, escrow: 0, staked: 45 })
    expect(b.e.account('seller')).toMatchObject({ free: 56 })
    supplyOk(b.e)
  })

  it('E6: a shill pattern in the kept auctions is reported, and the report is accepted as slashing evidence', () => {
    const b = market()
    b.ok('p3', { type: 'stake', by: 'a3', account: 'a3', amount: 50 })
    for (const id of ['s1', 's2', 's3']) {
      b.ok('ps', { type: 'auction.open', by: 'seller', auction: { id, mechanism: 'vickrey', items: ['gpu'], durationMs: 100 } })
      b.ok('p1', { type: 'auction.bid', by: 'a1', auction: id, bid: { amount: 20 } })
      b.ok('p3', { type: 'auction.bid', by: 'a3', auction: id, bid: { amount: 15 } }) // pushes a1's price up, never wins
      b.ok('p2', { type: 'auction.bid', by: 'a2', auction: id, bid: { amount: 1 } })
      b.ok('ps', { type: 'auction.close', by: 'seller', auction: id })
    }
    const { shill } = b.e.integrity()
    const report = shill.find(r => r.agent === 'a3' && r.seller === 'seller')
    expect(report).toMatchObject({ flagged: true, auctions: 3, winRate: 0, evidence: ['s1', 's2', 's3'] })
    expect(shill.filter(r => r.flagged).map(r => r.agent)).toEqual(['a3'])
    const r = b.ok('op', { type: 'slash', by: 'treasury', account: 'a3', condition: 'byzantine_behavior', evidence: report })
    expect(r).toMatchObject({ ok: true })
    expect(b.e.account('a3')).toMatchObject({ staked: 0 })
    expect(b.e.account('a3')!.history).toMatchObject([{ condition: 'byzantine_behavior', evidence: { kind: 'shill', agent: 'a3' } }])
    supplyOk(b.e)
  })

  it('limits: open auctions and bids per auction', () => {
    const b = new Book()
    b.e = new Economy({ authorities: ['op'], limits: { auctionsOpenMax: 1, bidsPerAuctionMax: 1 } })
    b.fund('s', 'ps', 1)
    b.fund('a1', 'p1', 10)
    b.fund('a2', 'p2', 10)
    b.ok('ps', { type: 'auction.open', by: 's', auction: { id: 'x', mechanism: 'vickrey', items: ['i'], durationMs: 10 } })
    expect(b.code('ps', { type: 'auction.open', by: 's', auction: { id: 'y', mechanism: 'vickrey', items: ['i'], durationMs: 10 } })).toBe('ERR_LIMIT_EXCEEDED')
    b.ok('p1', { type: 'auction.bid', by: 'a1', auction: 'x', bid: { amount: 1 } })
    expect(b.code('p2', { type: 'auction.bid', by: 'a2', auction: 'x', bid: { amount: 2 } })).toBe('ERR_LIMIT_EXCEEDED')
    // The auction goes on: it settles and the escrow is intact until then.
    expect(b.ok('ps', { type: 'auction.close', by: 's', auction: 'x' })).toMatchObject({ status: 'settled' })
  })

  it('limits: bids held by open auctions; finished auctions are forgotten oldest first past bidsKeptMax', () => {
    const b = new Book()
    b.e = new Economy({ authorities: ['op'], limits: { bidsOpenMax: 2, bidsKeptMax: 2 } })
    b.fund('s', 'ps', 1)
    for (const a of ['a1', 'a2', 'a3']) b.fund(a, 'p1', 10)
    for (const id of ['x', 'y']) b.ok('ps', { type: 'auction.open', by: 's', auction: { id, mechanism: 'vickrey', items: ['i'], durationMs: 10 } })
    b.ok('p1', { type: 'auction.bid', by: 'a1', auction: 'x', bid: { amount: 1 } })
    b.ok('p1', { type: 'auction.bid', by: 'a2', auction: 'x', bid: { amount: 1 } })
    expect(b.code('p1', { type: 'auction.bid', by: 'a3', auction: 'y', bid: { amount: 1 } })).toBe('ERR_LIMIT_EXCEEDED')
    b.ok('ps', { type: 'auction.close', by: 's', auction: 'x' })
    b.ok('p1', { type: 'auction.bid', by: 'a3', auction: 'y', bid: { amount: 1 } })
    b.ok('ps', { type: 'auction.close', by: 's', auction: 'y' })
    // x (2 bids) + y (1 bid) > 2 kept: x, the oldest, is forgotten; y stays.
    expect(b.e.auction('x')).toBeUndefined()
    expect(b.e.auction('y')).toMatchObject({ status: 'settled' })
    expect(b.code('p1', { type: 'auction.bid', by: 'a1', auction: 'x', bid: { amount: 1 } })).toBe('ERR_UNKNOWN_AUCTION')
    supplyOk(b.e)
  })
})

describe('economy: replicas and snapshots', () => {
  const origins = ['op', 'p1', 'p2', 'p3']
  const accounts = ['s', 'a1', 'a2', 'a3']
  const ownerOf: Record<string, string> = { s: 'p1', a1: 'p1', a2: 'p2', a3: 'p3' }
  // Run i's auctions: ids repeat across a run only after settling (a duplicate id is refused).
  const auctionId = fc.integer({ min: 0, max: 5 }).map(n => `x${n}`)
  const cmdArb = fc.oneof(
    fc.record({ type: fc.constant('mint'), by: fc.constant('treasury'), account: fc.constantFrom(...accounts), amount: fc.integer({ min: 1, max: 100 }) }).map(c => ({ ...c, owner: ownerOf[c.account] })),
    fc.record({ type: fc.constant('transfer'), from: fc.constantFrom(...accounts), to: fc.constantFrom(...accounts), amount: fc.integer({ min: 1, max: 50 }) }).map(c => ({ ...c, by: c.from })),
    fc.record({ type: fc.constantFrom('stake', 'unstake'), account: fc.constantFrom(...accounts), amount: fc.integer({ min: 1, max: 30 }) }).map(c => ({ ...c, by: c.account })),
    fc.record({ type: fc.constant('slash'), by: fc.constant('treasury'), account: fc.constantFrom(...accounts), condition: fc.constantFrom('task_failure', 'timeout_violation', 'byzantine_behavior') }),
    fc.record({ id: auctionId, mechanism: fc.constantFrom('vickrey', 'first-price', 'english', 'uniform'), dur: fc.integer({ min: 10, max: 120 }) }).map(a => ({
      type: 'auction.open',
      by: 's',
      auction: a.mechanism === 'english'
        ? { id: a.id, mechanism: a.mechanism, items: ['i'], reserve: 1, increment: 2, durationMs: a.dur }
        : a.mechanism === 'uniform' ? { id: a.id, mechanism: a.mechanism, items: ['i'], units: 3, durationMs: a.dur } : { id: a.id, mechanism: a.mechanism, items: ['i'], reserve: 2, durationMs: a.dur }
    })),
    { weight: 4, arbitrary: fc.record({ auction: auctionId, by: fc.constantFrom(...accounts), amount: fc.integer({ min: 0, max: 120 }) }).map(c => ({ type: 'auction.bid', by: c.by, auction: c.auction, bid: { amount: c.amount } })) },
    { weight: 3, arbitrary: fc.record({ auction: auctionId, by: fc.constantFrom(...accounts), amount: fc.integer({ min: 0, max: 120 }) }).map(c => ({ type: 'auction.bid', by: c.by, auction: c.auction, bid: { maxPrice: c.amount } })) },
    { weight: 3, arbitrary: fc.record({ auction: auctionId, by: fc.constantFrom(...accounts), price: fc.integer({ min: 0, max: 40 }), q: fc.integer({ min: 1, max: 3 }) }).map(c => ({ type: 'auction.bid', by: c.by, auction: c.auction, bid: { price: c.price, quantity: c.q } })) },
    fc.record({ auction: auctionId, by: fc.constantFrom(...accounts) }).map(c => ({ type: 'auction.close', ...c }))
  )
  const stepArb = fc.record({ cmd: cmdArb, origin: fc.constantFrom(...origins, 'owner', 'owner', 'owner', 'owner', 'owner', 'owner', 'owner', 'owner'), dt: fc.integer({ min: 0, max: 4 }) })

  it('two replicas applying the same log agree; invariants hold at every step; a snapshot restores the same state', () => {
    const seen = { bids: 0, settled: 0 }
    assertProperty(fc.property(fc.array(stepArb, { minLength: 80, maxLength: 200 }), steps => {
      const r1 = new Economy({ authorities: ['op'], unbondingDelayEntries: 3 })
      const r2 = new Economy({ authorities: ['op'], unbondingDelayEntries: 3 })
      let at = 0
      const genesis = accounts.map(account => ({ cmd: { type: 'mint', by: 'treasury', account, owner: ownerOf[account], amount: 100 }, origin: 'op', dt: 0 }))
      ;[...genesis, ...steps].forEach((s, i) => {
        at += s.dt
        const by = (s.cmd as { by: string }).by
        const origin = s.origin === 'owner' ? (ownerOf[by] ?? 'op') : s.origin
        const a = r1.apply(s.cmd, i + 1, { origin, at })
        const b = r2.apply(structuredClone(s.cmd), i + 1, { origin, at })
        expect(a).toEqual(b)
        if (a.ok && a.type === 'auction.bid') seen.bids++
        if (a.ok && a.status === 'settled') seen.settled++
        expect(r1.invariants()).toEqual([])
        const sup = r1.supply()
        expect(sup.total).toBe(sup.minted)
      })
      expect(JSON.stringify(r1.snapshot())).toBe(JSON.stringify(r2.snapshot()))
      const r3 = Economy.restore(JSON.parse(JSON.stringify(r1.snapshot())))
      expect(JSON.stringify(r3.snapshot())).toBe(JSON.stringify(r1.snapshot()))
    }), { numRuns: 150 })
    // The generator reaches the interesting paths (bids admitted, auctions sold), not only rejections.
    expect(seen.bids).toBeGreaterThan(100)
    expect(seen.settled).toBeGreaterThan(20)
  })
})
