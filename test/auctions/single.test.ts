import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { AuctionError, dutch, english, firstPrice, vickrey } from '../../protocols/auctions/index.js'
import type { ClockBid, Outcome, SealedBid } from '../../protocols/auctions/index.js'
import { assertProperty } from '../helpers/seed.js'

function check<T> (prop: fc.IProperty<T>, numRuns = 300): void {
  assertProperty(prop, { numRuns })
}

function sold (o: Outcome): [string, number] | 'no-sale' {
  if (o.status === 'no-sale') return 'no-sale'
  expect(o.winners).toHaveLength(1)
  return [o.winners[0]!.agent, o.winners[0]!.price]
}

function codeOf (f: () => unknown): string {
  try { f() } catch (e) { return (e as AuctionError).code }
  return 'none'
}

/** Step-by-step reference English clock (small numbers only). */
function englishRef (reserve: number, start: number | undefined, inc: number, bids: ClockBid[]): [string, number] | 'no-sale' {
  let p = Math.max(start ?? reserve, reserve)
  let active = bids.filter(b => b.maxPrice >= p)
  if (active.length === 0) return 'no-sale'
  if (active.length === 1) return [active[0]!.agent, p]
  for (;;) {
    const next = active.filter(b => b.maxPrice >= p + inc)
    if (next.length === 1) return [next[0]!.agent, p + inc]
    if (next.length === 0) {
      const top = Math.max(...active.map(b => b.maxPrice))
      return [active.find(b => b.maxPrice === top)!.agent, p]
    }
    active = next
    p += inc
  }
}

/** Step-by-step reference Dutch clock. */
function dutchRef (start: number, dec: number, reserve: number, bids: ClockBid[]): [string, number] | 'no-sale' {
  for (let p = start; p >= reserve; p -= dec) {
    const t = bids.find(b => b.maxPrice >= p)
    if (t !== undefined) return [t.agent, p]
  }
  return 'no-sale'
}

const clockBids = fc.uniqueArray(fc.record({ agent: fc.constantFrom('a', 'b', 'c', 'd', 'e'), maxPrice: fc.integer({ min: 0, max: 60 }) }), { selector: b => b.agent, maxLength: 5 })

describe('English (ascending clock)', () => {
  it('the last one in wins at the first price where all others dropped out', () => {
    expect(sold(english({ item: 'g', reserve: 5, increment: 1 }, [{ agent: 'a', maxPrice: 10 }, { agent: 'b', maxPrice: 7 }]))).toEqual(['a', 8])
    expect(sold(english({ item: 'g', reserve: 5, increment: 3 }, [{ agent: 'a', maxPrice: 12 }, { agent: 'b', maxPrice: 10 }]))).toEqual(['a', 11])
  })
  it('simultaneous drop-out: highest max, then earliest, wins at the last price it was in', () => {
    expect(sold(english({ item: 'g', reserve: 5, increment: 3 }, [{ agent: 'b', maxPrice: 9 }, { agent: 'a', maxPrice: 10 }]))).toEqual(['a', 8])
    expect(sold(english({ item: 'g', reserve: 5, increment: 1 }, [{ agent: 'b', maxPrice: 10 }, { agent: 'a', maxPrice: 10 }]))).toEqual(['b', 10])
  })
  it('a single bidder wins at the opening price; nobody at the opening price is a no-sale', () => {
    expect(sold(english({ item: 'g', reserve: 5, increment: 1 }, [{ agent: 'a', maxPrice: 20 }, { agent: 'b', maxPrice: 4 }]))).toEqual(['a', 5])
    expect(sold(english({ item: 'g', reserve: 5, startPrice: 8, increment: 1 }, [{ agent: 'a', maxPrice: 20 }]))).toEqual(['a', 8])
    expect(sold(english({ item: 'g', reserve: 5, startPrice: 50, increment: 1 }, [{ agent: 'a', maxPrice: 15 }]))).toBe('no-sale')
    expect(sold(english({ item: 'g', reserve: 5, increment: 1 }, []))).toBe('no-sale')
  })
  it('matches a step-by-step clock on random instances', () => {
    check(fc.property(clockBids, fc.integer({ min: 0, max: 20 }), fc.option(fc.integer({ min: 0, max: 40 }), { nil: undefined }), fc.integer({ min: 1, max: 7 }), (bs, reserve, start, inc) => {
      const o = english({ item: 'g', reserve, increment: inc, ...(start !== undefined ? { startPrice: start } : {}) }, bs)
      expect(sold(o)).toEqual(englishRef(reserve, start, inc, bs))
      if (o.status === 'sold') expect(o.winners[0]!.price).toBeLessThanOrEqual(bs.find(b => b.agent === o.winners[0]!.agent)!.maxPrice)
    }))
  })
  it('rejects bad parameters and bids', () => {
    expect(codeOf(() => english({ item: 'g', reserve: 5, increment: 0 }, []))).toBe('ERR_INVALID_AUCTION')
    expect(codeOf(() => english({ item: 'g', reserve: -1, increment: 1 }, []))).toBe('ERR_INVALID_AUCTION')
    expect(codeOf(() => english({ item: 'g', reserve: 1, increment: 1 }, [{ agent: 'a', maxPrice: 1.5 }]))).toBe('ERR_INVALID_BID')
    expect(codeOf(() => english({ item: 'g', reserve: 1, increment: 1 }, [{ agent: 'a', maxPrice: 1 }, { agent: 'a', maxPrice: 2 }]))).toBe('ERR_DUPLICATE_BIDDER')
    expect(codeOf(() => english({ item: 'g', reserve: 1, increment: 1 }, [{ agent: 'a', maxPrice: 1 }, { agent: 'b', maxPrice: 2 }], { bidsMax: 1 }))).toBe('ERR_LIMIT_EXCEEDED')
  })
})

describe('Dutch (descending clock)', () => {
  it('the first taker in the log wins at the current price — not the last bid', () => {
    const bids = [{ agent: 'a', maxPrice: 30 }, { agent: 'b', maxPrice: 40 }, { agent: 'c', maxPrice: 40 }]
    expect(sold(dutch({ item: 'g', startPrice: 50, decrement: 5, reserve: 10 }, bids))).toEqual(['b', 40])
  })
  it('a taker on the first step pays the start price', () => {
    expect(sold(dutch({ item: 'g', startPrice: 50, decrement: 5 }, [{ agent: 'a', maxPrice: 20 }, { agent: 'b', maxPrice: 60 }]))).toEqual(['b', 50])
  })
  it('non-divisible steps and the reserve floor', () => {
    expect(sold(dutch({ item: 'g', startPrice: 50, decrement: 7 }, [{ agent: 'a', maxPrice: 30 }]))).toEqual(['a', 29])
    expect(sold(dutch({ item: 'g', startPrice: 50, decrement: 5, reserve: 10 }, [{ agent: 'a', maxPrice: 8 }]))).toBe('no-sale')
    expect(sold(dutch({ item: 'g', startPrice: 50, decrement: 5, reserve: 10 }, [{ agent: 'a', maxPrice: 10 }]))).toEqual(['a', 10])
    expect(codeOf(() => dutch({ item: 'g', startPrice: 5, decrement: 1, reserve: 10 }, []))).toBe('ERR_INVALID_AUCTION')
  })
  it('matches a step-by-step clock on random instances', () => {
    check(fc.property(clockBids, fc.integer({ min: 0, max: 70 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 0, max: 30 }), (bs, start, dec, r) => {
      const reserve = Math.min(r, start)
      expect(sold(dutch({ item: 'g', startPrice: start, decrement: dec, reserve }, bs))).toEqual(dutchRef(start, dec, reserve, bs))
    }))
  })
})

describe('first-price sealed bid', () => {
  it('highest bid at or above the reserve pays its bid; ties to the earliest', () => {
    const bids = [{ agent: 'a', amount: 10 }, { agent: 'b', amount: 12 }, { agent: 'c', amount: 12 }]
    expect(sold(firstPrice({ item: 'g', reserve: 5 }, bids))).toEqual(['b', 12])
    expect(sold(firstPrice({ item: 'g', reserve: 13 }, bids))).toBe('no-sale')
  })
})

describe('Vickrey', () => {
  it('single bidder with a reserve pays the reserve; a bid equal to the reserve qualifies', () => {
    expect(sold(vickrey({ item: 'g', reserve: 5 }, [{ agent: 'a', amount: 20 }]))).toEqual(['a', 5])
    expect(sold(vickrey({ item: 'g', reserve: 5 }, [{ agent: 'a', amount: 5 }]))).toEqual(['a', 5])
    expect(sold(vickrey({ item: 'g', reserve: 5 }, [{ agent: 'a', amount: 4 }]))).toBe('no-sale')
  })
  it('price = max(reserve, second-highest qualifying bid); ties to the earliest', () => {
    expect(sold(vickrey({ item: 'g', reserve: 10 }, [{ agent: 'b', amount: 9 }, { agent: 'a', amount: 12 }]))).toEqual(['a', 10])
    expect(sold(vickrey({ item: 'g', reserve: 10 }, [{ agent: 'b', amount: 11 }, { agent: 'a', amount: 12 }]))).toEqual(['a', 11])
    expect(sold(vickrey({ item: 'g', reserve: 0 }, [{ agent: 'b', amount: 12 }, { agent: 'a', amount: 12 }]))).toEqual(['b', 12])
  })

  const sealed = fc.uniqueArray(fc.record({ agent: fc.constantFrom('b', 'c', 'd', 'e'), amount: fc.integer({ min: 0, max: 50 }) }), { selector: b => b.agent, maxLength: 4 })
  const utility = (o: Outcome, me: string, value: number): number => o.status === 'sold' && o.winners[0]!.agent === me ? value - o.winners[0]!.price : 0

  it('is individually rational: no winner pays above its bid', () => {
    check(fc.property(sealed, fc.integer({ min: 0, max: 30 }), (bs: SealedBid[], reserve) => {
      const o = vickrey({ item: 'g', reserve }, bs)
      if (o.status === 'sold') {
        const w = o.winners[0]!
        expect(w.price).toBeLessThanOrEqual(bs.find(b => b.agent === w.agent)!.amount)
        expect(w.price).toBeGreaterThanOrEqual(reserve)
      }
    }))
  })
  it('truthful bidding is a dominant strategy (any position in the log)', () => {
    check(fc.property(sealed, fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 20 }), fc.nat(), (others, value, lie, reserve, pos) => {
      const at = pos % (others.length + 1)
      const withBid = (amount: number): SealedBid[] => [...others.slice(0, at), { agent: 'a', amount }, ...others.slice(at)]
      const truthful = utility(vickrey({ item: 'g', reserve }, withBid(value)), 'a', value)
      const deviating = utility(vickrey({ item: 'g', reserve }, withBid(lie)), 'a', value)
      expect(truthful).toBeGreaterThanOrEqual(deviating)
    }), 500)
  })
})
