import { describe, expect, it } from 'vitest'
import { collusionIndicators, shillIndicators } from '../../protocols/auctions/index.js'
import type { AuctionRecord } from '../../protocols/auctions/index.js'
import { Ledger } from '../../protocols/ledger/index.js'

const rec = (auction: string, seller: string, bids: Array<[string, number]>, winner: string | null): AuctionRecord =>
  ({ auction, seller, bids: bids.map(([agent, amount]) => ({ agent, amount })), winner })

describe('integrity indicators (E6)', () => {
  const shillHistory: AuctionRecord[] = [
    rec('s1', 'S', [['h1', 50], ['x', 48], ['y', 20]], 'h1'),
    rec('s2', 'S', [['h2', 40], ['x', 39], ['y', 10]], 'h2'),
    rec('s3', 'S', [['h3', 70], ['x', 65]], 'h3'),
    rec('s4', 'S', [['h4', 30], ['x', 29], ['y', 5]], 'h4'),
    rec('t1', 'T', [['y', 10], ['z', 9]], 'y'),
    rec('t2', 'T', [['y', 11]], 'y'),
    rec('t3', 'T', [['y', 12], ['z', 3]], 'y')
  ]

  it('flags a shill: concentrated on one seller, never wins, sets the price', () => {
    const r = shillIndicators(shillHistory)
    const x = r.find(s => s.agent === 'x' && s.seller === 'S')!
    expect(x).toMatchObject({ auctions: 4, concentration: 1, winRate: 0, priceSetterRate: 1, flagged: true, evidence: ['s1', 's2', 's3', 's4'] })
    const y = r.find(s => s.agent === 'y' && s.seller === 'S')!
    expect(y).toMatchObject({ auctions: 3, flagged: false })
    expect(y.concentration).toBeCloseTo(0.5)
    expect(r.filter(s => s.flagged).map(s => s.agent)).toEqual(['x'])
  })

  it('does not flag below minAuctions', () => {
    expect(shillIndicators(shillHistory.slice(0, 2)).some(s => s.flagged)).toBe(false)
  })

  it('flags bid rotation with cover bids, not competitive pairs or one-sided wins', () => {
    const h: AuctionRecord[] = [
      rec('r1', 'S', [['a', 100], ['b', 30], ['c', 90], ['d', 88]], 'a'),
      rec('r2', 'S', [['a', 20], ['b', 100], ['c', 95], ['d', 97]], 'b'),
      rec('r3', 'S', [['a', 100], ['b', 40], ['c', 99], ['d', 10]], 'a'),
      rec('r4', 'S', [['a', 45], ['b', 100], ['c', 98], ['d', 5]], 'b')
    ]
    const r = collusionIndicators(h)
    const ab = r.find(p => p.agents[0] === 'a' && p.agents[1] === 'b')!
    expect(ab).toMatchObject({ coAuctions: 4, coverRate: 1, winsA: 2, winsB: 2, flagged: true, evidence: ['r1', 'r2', 'r3', 'r4'] })
    const ac = r.find(p => p.agents[0] === 'a' && p.agents[1] === 'c')!
    expect(ac).toMatchObject({ coverRate: 0, flagged: false })
    const ad = r.find(p => p.agents[0] === 'a' && p.agents[1] === 'd')!
    expect(ad).toMatchObject({ coverRate: 0.5, flagged: false })
    expect(r.filter(p => p.flagged)).toHaveLength(1)
  })

  it('reports are accepted as slashing evidence by the ledger', () => {
    const l = new Ledger({ authorities: ['t'] })
    l.apply({ type: 'mint', by: 't', account: 'x', amount: 100 }, 1)
    l.apply({ type: 'stake', by: 'x', account: 'x', amount: 100 }, 2)
    const ev = shillIndicators(shillHistory).find(s => s.flagged)!
    const r = l.apply({ type: 'slash', by: 't', account: 'x', condition: 'byzantine_behavior', evidence: ev }, 3)
    expect(r).toMatchObject({ ok: true, amount: 100 })
    expect(l.account('x')!.history[0]!.evidence).toEqual(JSON.parse(JSON.stringify(ev)))
  })
})
