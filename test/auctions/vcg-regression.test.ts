import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { checkAllocation, combinatorial } from '../../protocols/auctions/index.js'
import type { BundleBid } from '../../protocols/auctions/index.js'
import { bundleInstance, type InstanceOptions } from '../bench/auction-instances.js'
import { assertProperty } from '../helpers/seed.js'

function check<T> (prop: fc.IProperty<T>, numRuns = 300): void {
  assertProperty(prop, { numRuns })
}

/**
 * Outcomes computed by the previous implementation (commit 9642259: W(-i) by the generic log-/value-
 * ordered `solve`) on seeded instances: one agent per bid, 40 agents over 150 bids (XOR), values 1..5
 * (many ties), 30 x 400 and 50 x 1000. The faster W(-i) search must reproduce them exactly.
 */
interface Golden { seed: number, goods: number, nBids: number, opts: InstanceOptions, welfare: number, allocation: number[], prices: number[], exact: boolean }
const golden = JSON.parse(readFileSync(new URL('./fixtures/vcg-golden.json', import.meta.url), 'utf8')) as Golden[]

describe('VCG payments: regression against the previous implementation', () => {
  it(`reproduces ${golden.length} recorded outcomes bit for bit (allocation, welfare, payments, exact)`, () => {
    expect(golden.length).toBeGreaterThanOrEqual(25)
    for (const g of golden) {
      const { items, bids } = bundleInstance(g.seed, g.goods, g.nBids, g.opts)
      const o = combinatorial({ items }, bids)
      const label = `${g.goods} goods x ${g.nBids} bids ${JSON.stringify(g.opts)} seed ${g.seed}`
      expect({ label, welfare: o.welfare, allocation: o.allocation, prices: o.winners.map(w => w.price), exact: o.exact })
        .toEqual({ label, welfare: g.welfare, allocation: g.allocation, prices: g.prices, exact: g.exact })
    }
  })
})

describe('VCG payments: individual rationality and non-negativity (property)', () => {
  const items = ['A', 'B', 'C', 'D', 'E', 'F']
  const gen = fc.record({
    bids: fc.array(fc.record({
      agent: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g'),
      items: fc.uniqueArray(fc.constantFrom(...items), { minLength: 1, maxLength: 4 }),
      value: fc.integer({ min: 0, max: 40 })
    }), { maxLength: 16 }),
    reserves: fc.option(fc.dictionary(fc.constantFrom(...items), fc.integer({ min: 0, max: 8 })), { nil: undefined }),
    nodesMax: fc.constantFrom(1, 3, 20, 2_000_000)
  })

  it('no winner pays above its bid or below 0 (nor below its reserves), exact or budget-limited', () => {
    check(fc.property(gen, ({ bids, reserves, nodesMax }) => {
      const params = reserves === undefined ? { items } : { items, reserves }
      const o = combinatorial(params, bids, { solverNodesMax: nodesMax })
      if (o.status === 'no-sale') { expect(o.allocation).toEqual([]); return }
      expect(checkAllocation(params, bids, o.allocation)).toEqual({ ok: true, welfare: o.welfare })
      if (!o.exact) expect(o.reason).toMatch(/solverNodesMax/)
      o.allocation.forEach((bi, n) => {
        const b: BundleBid = bids[bi]!
        const reserveSum = b.items.reduce((s, it) => s + (reserves?.[it] ?? 0), 0)
        expect(b.value).toBeGreaterThanOrEqual(reserveSum)
        expect(o.winners[n]!.price).toBeGreaterThanOrEqual(Math.max(0, reserveSum))
        expect(o.winners[n]!.price).toBeLessThanOrEqual(b.value)
      })
    }))
  })
})
