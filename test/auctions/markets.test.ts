import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { callMarket, uniformPrice } from '../../protocols/auctions/index.js'
import type { AuctionError, Order } from '../../protocols/auctions/index.js'
import { assertProperty } from '../helpers/seed.js'

function check<T> (prop: fc.IProperty<T>, numRuns = 300): void {
  assertProperty(prop, { numRuns })
}
function codeOf (f: () => unknown): string {
  try { f() } catch (e) { return (e as AuctionError).code }
  return 'none'
}

describe('uniform-price multi-unit auction', () => {
  it('partial marginal fill: price is the marginal bid', () => {
    const o = uniformPrice({ item: 'gpu', units: 3, reserve: 2 }, [{ agent: 'a', price: 5, quantity: 2 }, { agent: 'b', price: 4, quantity: 2 }, { agent: 'c', price: 3, quantity: 1 }])
    expect(o).toMatchObject({ status: 'sold', clearingPrice: 4, quantity: 3, payments: { a: 8, b: 4 }, welfare: 14 })
    expect(o.winners.map(w => [w.agent, w.quantity])).toEqual([['a', 2], ['b', 1]])
  })
  it('exact fill: price is the first rejected bid', () => {
    const o = uniformPrice({ item: 'gpu', units: 3, reserve: 2 }, [{ agent: 'c', price: 3, quantity: 1 }, { agent: 'a', price: 5, quantity: 2 }, { agent: 'b', price: 4, quantity: 1 }])
    expect(o).toMatchObject({ clearingPrice: 3, payments: { a: 6, b: 3 } })
  })
  it('excess supply: price is the reserve; below-reserve bids ignored; ties by log order', () => {
    expect(uniformPrice({ item: 'gpu', units: 10, reserve: 2 }, [{ agent: 'a', price: 5, quantity: 2 }, { agent: 'z', price: 1, quantity: 9 }])).toMatchObject({ clearingPrice: 2, quantity: 2, payments: { a: 4 } })
    const t = uniformPrice({ item: 'gpu', units: 1, reserve: 0 }, [{ agent: 'b', price: 5, quantity: 1 }, { agent: 'a', price: 5, quantity: 1 }])
    expect(t.winners.map(w => w.agent)).toEqual(['b'])
    expect(t.clearingPrice).toBe(5)
    expect(uniformPrice({ item: 'gpu', units: 1, reserve: 9 }, [{ agent: 'a', price: 5, quantity: 1 }]).status).toBe('no-sale')
    expect(codeOf(() => uniformPrice({ item: 'gpu', units: 0, reserve: 9 }, []))).toBe('ERR_INVALID_AUCTION')
    expect(codeOf(() => uniformPrice({ item: 'gpu', units: 1, reserve: 0 }, [{ agent: 'a', price: 1, quantity: 0 }]))).toBe('ERR_INVALID_BID')
  })
  it('properties: never oversells, every winner pays at most its bid per unit, all pay the same price', () => {
    const bid = fc.record({ agent: fc.constantFrom('a', 'b', 'c', 'd'), price: fc.integer({ min: 0, max: 30 }), quantity: fc.integer({ min: 1, max: 5 }) })
    check(fc.property(fc.array(bid, { maxLength: 8 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 0, max: 10 }), (bs, units, reserve) => {
      const o = uniformPrice({ item: 'g', units, reserve }, bs)
      if (o.status === 'no-sale') { expect(bs.every(b => b.price < reserve)).toBe(true); return }
      expect(o.quantity).toBeLessThanOrEqual(units)
      expect(o.winners.reduce((s, w) => s + w.quantity, 0)).toBe(o.quantity)
      const p = o.clearingPrice!
      expect(p).toBeGreaterThanOrEqual(reserve)
      const minWinning = Math.min(...o.winners.map(w => w.price / w.quantity))
      expect(minWinning).toBe(p)
      // each winner's bid (some bid of that agent at >= p exists)
      for (const w of o.winners) expect(bs.some(b => b.agent === w.agent && b.price >= p)).toBe(true)
      // no qualifying demand above p left unfilled
      const demandAbove = bs.filter(b => b.price > p).reduce((s, b) => s + b.quantity, 0)
      expect(demandAbove).toBeLessThanOrEqual(o.quantity)
    }))
  })
})

describe('double auction / call market', () => {
  it('clears at the midpoint of the clearing interval', () => {
    const orders: Order[] = [
      { agent: 'A', side: 'buy', limit: 10, quantity: 1 }, { agent: 'X', side: 'sell', limit: 3, quantity: 1 },
      { agent: 'B', side: 'buy', limit: 8, quantity: 1 }, { agent: 'Y', side: 'sell', limit: 6, quantity: 1 },
      { agent: 'C', side: 'buy', limit: 5, quantity: 1 }, { agent: 'Z', side: 'sell', limit: 9, quantity: 1 }]
    const o = callMarket({ item: 'cpu' }, orders)
    expect(o).toMatchObject({ status: 'sold', clearingPrice: 7, quantity: 2, welfare: 9, payments: { A: 7, B: 7, X: -7, Y: -7 } })
  })
  it('no crossing is a no-sale', () => {
    expect(callMarket({ item: 'cpu' }, [{ agent: 'a', side: 'buy', limit: 5, quantity: 1 }, { agent: 'b', side: 'sell', limit: 6, quantity: 1 }])).toMatchObject({ status: 'no-sale', quantity: 0 })
    expect(callMarket({ item: 'cpu' }, [{ agent: 'a', side: 'buy', limit: 5, quantity: 1 }]).status).toBe('no-sale')
  })
  it('partial fills with quantities', () => {
    const o = callMarket({ item: 'cpu' }, [{ agent: 'A', side: 'buy', limit: 10, quantity: 3 }, { agent: 'X', side: 'sell', limit: 4, quantity: 2 }, { agent: 'Y', side: 'sell', limit: 7, quantity: 5 }])
    expect(o).toMatchObject({ clearingPrice: 7, quantity: 3, payments: { A: 21, X: -14, Y: -7 }, welfare: 15 })
    expect(codeOf(() => callMarket({ item: 'cpu' }, [{ agent: 'A', side: 'hold' as 'buy', limit: 1, quantity: 1 }]))).toBe('ERR_INVALID_BID')
  })
  it('properties: budget balance, individual rationality, maximal quantity', () => {
    const order = fc.record({ agent: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'), side: fc.constantFrom('buy' as const, 'sell' as const), limit: fc.integer({ min: 0, max: 20 }), quantity: fc.integer({ min: 1, max: 4 }) })
    check(fc.property(fc.array(order, { maxLength: 10 }), (os) => {
      const o = callMarket({ item: 'u' }, os)
      // maximal tradable quantity by brute force over unit curves
      const bu = os.filter(x => x.side === 'buy').flatMap(x => Array<number>(x.quantity).fill(x.limit)).sort((a, b) => b - a)
      const su = os.filter(x => x.side === 'sell').flatMap(x => Array<number>(x.quantity).fill(x.limit)).sort((a, b) => a - b)
      let k = 0
      while (k < bu.length && k < su.length && bu[k]! >= su[k]!) k++
      expect(o.quantity).toBe(k)
      if (o.status === 'no-sale') return
      const p = o.clearingPrice!
      expect(Object.values(o.payments).reduce((s, x) => s + x, 0)).toBe(0) // budget balanced
      const buyW = o.winners.filter(w => w.side === 'buy')
      const sellW = o.winners.filter(w => w.side === 'sell')
      expect(buyW.reduce((s, w) => s + w.quantity, 0)).toBe(k)
      expect(sellW.reduce((s, w) => s + w.quantity, 0)).toBe(k)
      for (const w of buyW) expect(w.price).toBe(w.quantity * p)
      for (const w of sellW) expect(w.price).toBe(-w.quantity * p)
      expect(bu[k - 1]!).toBeGreaterThanOrEqual(p) // the marginal buyer accepts p
      expect(su[k - 1]!).toBeLessThanOrEqual(p) // the marginal seller accepts p
    }))
  })

  describe('McAfee trade reduction (pricing: mcafee)', () => {
    const mc = { item: 'cpu', pricing: 'mcafee' as const }
    it('all k units trade at p0 = (b_{k+1} + s_{k+1}) / 2 when s_k <= p0 <= b_k', () => {
      // buys 10, 8, 5; sells 3, 6, 9: k = 2, p0 = (5 + 9) / 2 = 7 in [s_2, b_2] = [6, 8].
      const orders: Order[] = [
        { agent: 'A', side: 'buy', limit: 10, quantity: 1 }, { agent: 'X', side: 'sell', limit: 3, quantity: 1 },
        { agent: 'B', side: 'buy', limit: 8, quantity: 1 }, { agent: 'Y', side: 'sell', limit: 6, quantity: 1 },
        { agent: 'C', side: 'buy', limit: 5, quantity: 1 }, { agent: 'Z', side: 'sell', limit: 9, quantity: 1 }]
      const o = callMarket(mc, orders)
      expect(o).toMatchObject({ status: 'sold', clearingPrice: 7, quantity: 2, welfare: 9, payments: { A: 7, B: 7, X: -7, Y: -7 } })
      expect(o.reason).toBeUndefined()
    })
    it('drops the marginal trade when p0 is outside [s_k, b_k]: buyers pay b_k, sellers get s_k', () => {
      // buys 10, 9, 1; sells 2, 4, 20: k = 2, p0 = (1 + 20) / 2 = 10.5 > b_2 = 9, so one unit trades:
      // A buys from X, A pays b_2 = 9, X receives s_2 = 4, surplus 5 to the clearing account.
      const orders: Order[] = [
        { agent: 'A', side: 'buy', limit: 10, quantity: 1 }, { agent: 'B', side: 'buy', limit: 9, quantity: 1 }, { agent: 'C', side: 'buy', limit: 1, quantity: 1 },
        { agent: 'X', side: 'sell', limit: 2, quantity: 1 }, { agent: 'Y', side: 'sell', limit: 4, quantity: 1 }, { agent: 'Z', side: 'sell', limit: 20, quantity: 1 }]
      const o = callMarket(mc, orders)
      expect(o).toMatchObject({ status: 'sold', clearingPrice: 9, quantity: 1, welfare: 8, payments: { A: 9, X: -4 } })
      expect(o.winners.map(w => [w.agent, w.side, w.quantity, w.price])).toEqual([['A', 'buy', 1, 9], ['X', 'sell', 1, -4]])
      expect(o.reason).toMatch(/McAfee trade reduction: 1 of 2 .* surplus 5/)
      // The default (midpoint) trades both units at floor((4 + 9) / 2) = 6, budget-balanced.
      expect(callMarket({ item: 'cpu' }, orders)).toMatchObject({ clearingPrice: 6, quantity: 2, payments: { A: 6, B: 6, X: -6, Y: -6 } })
      expect(callMarket({ item: 'cpu', pricing: 'midpoint' }, orders).clearingPrice).toBe(6)
    })
    it('multi-unit orders are reduced unit by unit (no unmatched unit: reduction)', () => {
      // Buy units 10,10,10; sell units 4,4,7,7,7,7,7: k = 3, no 4th buy unit, so 2 units trade: A buys
      // both of X's units, pays b_3 = 10 each; X receives s_3 = 7 each (surplus 6).
      const o = callMarket(mc, [{ agent: 'A', side: 'buy', limit: 10, quantity: 3 }, { agent: 'X', side: 'sell', limit: 4, quantity: 2 }, { agent: 'Y', side: 'sell', limit: 7, quantity: 5 }])
      expect(o).toMatchObject({ clearingPrice: 10, quantity: 2, welfare: 12, payments: { A: 20, X: -14 } })
    })
    it('no crossing, and a single crossing unit (dropped), are no-sales', () => {
      expect(callMarket(mc, [{ agent: 'a', side: 'buy', limit: 5, quantity: 1 }, { agent: 'b', side: 'sell', limit: 6, quantity: 1 }])).toMatchObject({ status: 'no-sale', quantity: 0 })
      const one = callMarket(mc, [{ agent: 'a', side: 'buy', limit: 10, quantity: 1 }, { agent: 'b', side: 'sell', limit: 4, quantity: 1 }])
      expect(one).toMatchObject({ status: 'no-sale', quantity: 0 })
      expect(one.reason).toMatch(/McAfee/)
    })
    it('rejects an unknown pricing rule', () => {
      expect(codeOf(() => callMarket({ item: 'cpu', pricing: 'vickrey' as 'mcafee' }, []))).toBe('ERR_INVALID_AUCTION')
    })
    it('properties: k or k - 1 units, individually rational, never a deficit, balanced when all k trade', () => {
      const order = fc.record({ agent: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'), side: fc.constantFrom('buy' as const, 'sell' as const), limit: fc.integer({ min: 0, max: 20 }), quantity: fc.integer({ min: 1, max: 4 }) })
      check(fc.property(fc.array(order, { maxLength: 10 }), (os) => {
        const k = callMarket({ item: 'u' }, os).quantity
        const o = callMarket({ item: 'u', pricing: 'mcafee' }, os)
        if (o.status === 'no-sale') { expect(k).toBeLessThanOrEqual(1); return }
        expect([k, k - 1]).toContain(o.quantity)
        const net = Object.values(o.payments).reduce((s, x) => s + x, 0)
        expect(net).toBeGreaterThanOrEqual(0)
        if (o.quantity === k) expect(net).toBe(0)
        for (const w of o.winners) {
          const limits = os.filter(x => x.agent === w.agent && x.side === w.side).map(x => x.limit)
          if (w.side === 'buy') expect(w.price).toBeLessThanOrEqual(w.quantity * Math.max(...limits))
          else expect(-w.price).toBeGreaterThanOrEqual(w.quantity * Math.min(...limits))
        }
      }))
    })
  })
})
