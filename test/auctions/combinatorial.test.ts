import fc from 'fast-check'
import highsLoader from 'highs'
import { describe, expect, it } from 'vitest'
import { checkAllocation, combinatorial, winnerDetermination } from '../../protocols/auctions/index.js'
import type { AuctionError, BundleBid } from '../../protocols/auctions/index.js'
import { createRand } from '../../src/base/prng.js'
import { assertProperty, seedMessage, testSeeds } from '../helpers/seed.js'

function check<T> (prop: fc.IProperty<T>, numRuns = 200): void {
  assertProperty(prop, { numRuns })
}
function codeOf (f: () => unknown): string {
  try { f() } catch (e) { return (e as AuctionError).code }
  return 'none'
}

/** Brute force: best welfare over all feasible subsets (XOR per agent), optionally without one agent. */
function bruteW (bids: BundleBid[], without?: string): number {
  let best = 0
  const n = bids.length
  for (let m = 0; m < (1 << n); m++) {
    const items = new Set<string>()
    const agents = new Set<string>()
    let v = 0
    let ok = true
    for (let i = 0; i < n && ok; i++) {
      if ((m & (1 << i)) === 0) continue
      const b = bids[i]!
      if (b.agent === without || agents.has(b.agent)) { ok = false; break }
      agents.add(b.agent)
      for (const it of b.items) { if (items.has(it)) ok = false; items.add(it) }
      v += b.value
    }
    if (ok && v > best) best = v
  }
  return best
}

const AB = { items: ['A', 'B'] }

describe('combinatorial (XOR bundles, exact WDP, VCG)', () => {
  it('does not just pick the single highest bid (the original bug)', () => {
    const o = combinatorial(AB, [{ agent: 'x', items: ['A', 'B'], value: 10 }, { agent: 'y', items: ['A'], value: 7 }, { agent: 'z', items: ['B'], value: 6 }])
    expect(o.welfare).toBe(13)
    expect(o.winners.map(w => [w.agent, w.items, w.price])).toEqual([['y', ['A'], 4], ['z', ['B'], 3]])
    expect(o.exact).toBe(true)
  })

  it('zero VCG revenue without competition', () => {
    const o = combinatorial(AB, [{ agent: 'a', items: ['A'], value: 5 }, { agent: 'b', items: ['B'], value: 5 }])
    expect(o.payments).toEqual({ a: 0, b: 0 })
    expect(o.welfare).toBe(10)
  })

  it('respects XOR: one bundle per agent', () => {
    const o = combinatorial(AB, [{ agent: 'a', items: ['A'], value: 5 }, { agent: 'a', items: ['B'], value: 5 }, { agent: 'b', items: ['A'], value: 3 }])
    expect(o.welfare).toBe(8)
    expect(o.winners.map(w => [w.agent, w.items[0], w.price])).toEqual([['a', 'B', 0], ['b', 'A', 0]])
  })

  it('ties: the bid committed first wins; equal-welfare allocations are resolved by the documented order', () => {
    const t = combinatorial({ items: ['A'] }, [{ agent: 'p', items: ['A'], value: 5 }, { agent: 'q', items: ['A'], value: 5 }])
    expect(t.winners).toEqual([{ agent: 'p', items: ['A'], quantity: 1, price: 5 }])
    const big = { agent: 'x', items: ['A', 'B'], value: 10 }
    const a = { agent: 'y', items: ['A'], value: 5 }
    const b = { agent: 'z', items: ['B'], value: 5 }
    expect(combinatorial(AB, [big, a, b]).winners.map(w => w.agent)).toEqual(['x'])
    expect(combinatorial(AB, [a, b, big]).winners.map(w => w.agent)).toEqual(['y', 'z'])
  })

  it('no positive bid is a no-sale', () => {
    expect(combinatorial(AB, []).status).toBe('no-sale')
    expect(combinatorial(AB, [{ agent: 'a', items: ['A'], value: 0 }]).status).toBe('no-sale')
  })

  it('rejects malformed bundles and oversized books with named codes', () => {
    expect(codeOf(() => combinatorial(AB, [{ agent: 'a', items: ['C'], value: 1 }]))).toBe('ERR_INVALID_BID')
    expect(codeOf(() => combinatorial(AB, [{ agent: 'a', items: ['A', 'A'], value: 1 }]))).toBe('ERR_INVALID_BID')
    expect(codeOf(() => combinatorial(AB, [{ agent: 'a', items: [], value: 1 }]))).toBe('ERR_INVALID_BID')
    expect(codeOf(() => combinatorial(AB, [{ agent: 'a', items: ['A'], value: -1 }]))).toBe('ERR_INVALID_BID')
    expect(codeOf(() => combinatorial(AB, [{ agent: 'a', items: ['A', 'B'], value: 1 }], { bundleItemsMax: 1 }))).toBe('ERR_LIMIT_EXCEEDED')
    expect(codeOf(() => combinatorial(AB, [{ agent: 'a', items: ['A'], value: 1 }, { agent: 'b', items: ['A'], value: 1 }], { bidsMax: 1 }))).toBe('ERR_LIMIT_EXCEEDED')
    expect(codeOf(() => combinatorial({ items: [] }, []))).toBe('ERR_INVALID_AUCTION')
    expect(codeOf(() => combinatorial({ items: ['A', 'A'] }, []))).toBe('ERR_INVALID_AUCTION')
  })

  it('a node budget gives a feasible, flagged outcome with payments within [0, v_i]', () => {
    const r = createRand(7)
    const items = Array.from({ length: 12 }, (_, i) => `g${i}`)
    const bids: BundleBid[] = Array.from({ length: 60 }, (_, i) => ({ agent: `a${i % 20}`, items: [...new Set(Array.from({ length: 1 + r.int(3) }, () => r.pick(items)))], value: 1 + r.int(50) }))
    const o = combinatorial({ items }, bids, { solverNodesMax: 5 })
    expect(o.exact).toBe(false)
    expect(o.reason).toMatch(/solverNodesMax/)
    expect(checkAllocation({ items }, bids, o.allocation)).toEqual({ ok: true, welfare: o.welfare })
    for (const w of o.winners) {
      const v = bids[o.allocation[o.winners.indexOf(w)]!]!.value
      expect(w.price).toBeGreaterThanOrEqual(0)
      expect(w.price).toBeLessThanOrEqual(v)
    }
    expect(combinatorial({ items }, bids).exact).toBe(true)
  })

  it('reserves: binding reserve raises VCG payments to the reserve sum (worked example)', () => {
    // All three bids qualify (10 >= 5 + 5, 7 >= 5, 6 >= 5). W = 13 (y + z). VCG: y pays W(-y) - (W - 7)
    // = 10 - 6 = 4, z pays 10 - 7 = 3; the reserves (5 each) bind: both pay 5.
    const bids = [{ agent: 'x', items: ['A', 'B'], value: 10 }, { agent: 'y', items: ['A'], value: 7 }, { agent: 'z', items: ['B'], value: 6 }]
    const o = combinatorial({ items: ['A', 'B'], reserves: { A: 5, B: 5 } }, bids)
    expect(o.winners.map(w => [w.agent, w.price])).toEqual([['y', 5], ['z', 5]])
    expect(o.welfare).toBe(13)
    // Without reserves the same bids give the plain VCG payments.
    expect(combinatorial(AB, bids).winners.map(w => w.price)).toEqual([4, 3])
  })

  it('reserves: a bid below its reserve sum is ignored; the winner pays max(VCG, reserves)', () => {
    // Reserve A = 8: y {A}:7 does not qualify. x {A,B}:10 (reserve sum 8) beats z {B}:6. VCG for x:
    // W(-x) - (W - 10) = 6 - 0 = 6 < 8, so x pays its reserve sum 8 (still <= its bid 10).
    const bids = [{ agent: 'x', items: ['A', 'B'], value: 10 }, { agent: 'y', items: ['A'], value: 7 }, { agent: 'z', items: ['B'], value: 6 }]
    const o = combinatorial({ items: ['A', 'B'], reserves: { A: 8 } }, bids)
    expect(o.winners).toEqual([{ agent: 'x', items: ['A', 'B'], quantity: 1, price: 8 }])
    expect(o.payments).toEqual({ x: 8 })
    // Exactly at the reserve sum qualifies; one unit below does not, and then nobody qualifies.
    expect(combinatorial({ items: ['A'], reserves: { A: 7 } }, [{ agent: 'y', items: ['A'], value: 7 }]).payments).toEqual({ y: 7 })
    const none = combinatorial({ items: ['A'], reserves: { A: 8 } }, [{ agent: 'y', items: ['A'], value: 7 }])
    expect(none.status).toBe('no-sale')
    expect(none.reason).toMatch(/reserves/)
  })

  it('reserves: malformed reserves are rejected with ERR_INVALID_AUCTION', () => {
    const b = [{ agent: 'a', items: ['A'], value: 1 }]
    expect(codeOf(() => combinatorial({ items: ['A'], reserves: { C: 1 } }, b))).toBe('ERR_INVALID_AUCTION')
    expect(codeOf(() => combinatorial({ items: ['A'], reserves: { A: -1 } }, b))).toBe('ERR_INVALID_AUCTION')
    expect(codeOf(() => combinatorial({ items: ['A'], reserves: { A: 1.5 } }, b))).toBe('ERR_INVALID_AUCTION')
    expect(codeOf(() => combinatorial({ items: ['A'], reserves: [] as unknown as Record<string, number> }, b))).toBe('ERR_INVALID_AUCTION')
  })

  const gen = fc.array(fc.record({
    agent: fc.constantFrom('a', 'b', 'c', 'd', 'e'),
    items: fc.uniqueArray(fc.constantFrom('A', 'B', 'C', 'D'), { minLength: 1, maxLength: 3 }),
    value: fc.integer({ min: 0, max: 20 })
  }), { maxLength: 10 })

  it('matches brute force: optimal welfare, feasible allocation, exact VCG payments, IR, determinism', () => {
    check(fc.property(gen, (bids) => {
      const params = { items: ['A', 'B', 'C', 'D'] }
      const o = combinatorial(params, bids)
      const W = bruteW(bids)
      if (W === 0) { expect(o.status).toBe('no-sale'); return }
      expect(o.welfare).toBe(W)
      expect(checkAllocation(params, bids, o.allocation)).toEqual({ ok: true, welfare: W })
      o.allocation.forEach((bi, n) => {
        const b = bids[bi]!
        const w = o.winners[n]!
        expect(w.agent).toBe(b.agent)
        expect(w.price).toBe(bruteW(bids, b.agent) - (W - b.value))
        expect(w.price).toBeGreaterThanOrEqual(0)
        expect(w.price).toBeLessThanOrEqual(b.value)
      })
      expect(JSON.stringify(combinatorial(params, JSON.parse(JSON.stringify(bids)) as BundleBid[]))).toBe(JSON.stringify(o))
    }))
  })

  it('with reserves matches brute force over the qualifying bids; price = max(VCG, reserve sum)', () => {
    const reservesGen = fc.dictionary(fc.constantFrom('A', 'B', 'C', 'D'), fc.integer({ min: 0, max: 12 }))
    check(fc.property(gen, reservesGen, (bids, reserves) => {
      const params = { items: ['A', 'B', 'C', 'D'], reserves }
      const rsum = (b: BundleBid): number => b.items.reduce((s, it) => s + (reserves[it] ?? 0), 0)
      const qualifying = bids.map(b => b.value >= rsum(b) ? b : { ...b, value: 0 })
      const o = combinatorial(params, bids)
      const W = bruteW(qualifying)
      if (W === 0) { expect(o.status).toBe('no-sale'); return }
      expect(o.welfare).toBe(W)
      o.allocation.forEach((bi, n) => {
        const b = bids[bi]!
        expect(b.value).toBeGreaterThanOrEqual(rsum(b))
        expect(o.winners[n]!.price).toBe(Math.max(bruteW(qualifying, b.agent) - (W - b.value), rsum(b)))
      })
    }))
  })

  it('matches HiGHS (mip_rel_gap 0) on 20 goods x 200 random bundle bids', async () => {
    const highs = await highsLoader()
    for (const s of testSeeds(3)) {
      const r = createRand(s)
      const items = Array.from({ length: 20 }, (_, i) => `g${i}`)
      const bids: BundleBid[] = Array.from({ length: 200 }, (_, i) => {
        const k = 1 + r.int(4)
        const set = new Set<string>()
        while (set.size < k) set.add(r.pick(items))
        return { agent: `a${i}`, items: [...set], value: 1 + r.int(100) * k }
      })
      const lp = ['Maximize', ' obj: ' + bids.map((b, i) => `${b.value} x${i}`).join(' + '), 'Subject To',
        ...items.map((it, k) => ` c${k}: ` + (bids.flatMap((b, i) => b.items.includes(it) ? [`x${i}`] : []).join(' + ') || '0 x0') + ' <= 1'),
        'Binary', ' ' + bids.map((_, i) => `x${i}`).join(' '), 'End'].join('\n')
      const sol = highs.solve(lp, { mip_rel_gap: 0 })
      expect(sol.Status, seedMessage(s)).toBe('Optimal')
      const wd = winnerDetermination({ items }, bids)
      expect(wd.exact, seedMessage(s)).toBe(true)
      expect(wd.value, seedMessage(s)).toBe(Math.round(sol.ObjectiveValue))
    }
  })
})
