/**
 * Double auction / call market (FEATURES E5): buy and sell orders collected, then cleared at once.
 */
import { AuctionError } from './errors.js'
import type { Award, AuctionLimits, Outcome } from './types.js'
import { agentId, checkCount, limitsOf, money, noSale } from './validate.js'

export interface Order { agent: string, side: 'buy' | 'sell', limit: number, quantity: number }

export interface CallMarketParams { item: string }

/**
 * Clearing. Buys are ranked by limit descending, sells ascending, ties by log order; units are matched
 * while the next buy limit >= the next sell limit, which gives the traded quantity `k` (the maximum).
 * Pricing rule (documented choice: the midpoint of the clearing interval): with `b_k`, `s_k` the last
 * matched buy and sell limits and `b_{k+1}`, `s_{k+1}` the first unmatched ones (if any), every price in
 * `[lo, hi] = [max(s_k, b_{k+1}), min(b_k, s_{k+1})]` clears the market (no unmatched trader wants to
 * trade at it); the price is `floor((lo + hi) / 2)`. Every matched buyer pays, and every matched seller
 * receives, that per-unit price — individually rational for all. The marginal order may be partly
 * filled. No crossing (best buy < best sell): no-sale. Awards: buyers in rank order, then sellers;
 * `payments` are positive for buyers, negative for sellers, and net out per agent. `welfare` is the
 * gains from trade Σ(buy limits) − Σ(sell limits) over the traded units.
 */
export function callMarket (params: CallMarketParams, orders: Order[], limits?: Partial<AuctionLimits>): Outcome {
  const lim = limitsOf(limits)
  const item = params.item
  checkCount(orders.length, lim)
  const os = orders.map((o, pos) => {
    if (o?.side !== 'buy' && o?.side !== 'sell') throw new AuctionError('ERR_INVALID_BID', 'side must be buy or sell')
    return { agent: agentId(o.agent), side: o.side, limit: money(o.limit, 'limit', 'ERR_INVALID_BID'), quantity: money(o.quantity, 'quantity', 'ERR_INVALID_BID', true), pos }
  })
  const buys = os.filter(o => o.side === 'buy').sort((a, b) => b.limit - a.limit || a.pos - b.pos)
  const sells = os.filter(o => o.side === 'sell').sort((a, b) => a.limit - b.limit || a.pos - b.pos)
  const bq = buys.map(b => b.quantity)
  const sq = sells.map(s => s.quantity)
  const bFill = buys.map(() => 0)
  const sFill = sells.map(() => 0)
  let i = 0
  let j = 0
  let k = 0
  let lastB = 0
  let lastS = 0
  let gains = 0
  while (i < buys.length && j < sells.length && buys[i]!.limit >= sells[j]!.limit) {
    const t = Math.min(bq[i]!, sq[j]!)
    lastB = buys[i]!.limit
    lastS = sells[j]!.limit
    gains += t * (lastB - lastS)
    k += t
    bFill[i]! += t
    sFill[j]! += t
    bq[i]! -= t
    sq[j]! -= t
    if (bq[i] === 0) i++
    if (sq[j] === 0) j++
  }
  if (k === 0) return noSale('no crossing: best buy below best sell')
  const nextB = i < buys.length ? buys[i]!.limit : -Infinity
  const nextS = j < sells.length ? sells[j]!.limit : Infinity
  const lo = Math.max(lastS, nextB)
  const hi = Math.min(lastB, nextS)
  const price = Math.floor((lo + hi) / 2)
  if (!Number.isSafeInteger(price * k)) throw new AuctionError('ERR_INVALID_AUCTION', 'price x quantity exceeds safe integers')
  const winners: Award[] = []
  const net = new Map<string, number>()
  buys.forEach((b, n) => {
    if (bFill[n]! > 0) {
      winners.push({ agent: b.agent, items: [item], quantity: bFill[n]!, price: bFill[n]! * price, side: 'buy' })
      net.set(b.agent, (net.get(b.agent) ?? 0) + bFill[n]! * price)
    }
  })
  sells.forEach((s, n) => {
    if (sFill[n]! > 0) {
      winners.push({ agent: s.agent, items: [item], quantity: sFill[n]!, price: -sFill[n]! * price, side: 'sell' })
      net.set(s.agent, (net.get(s.agent) ?? 0) - sFill[n]! * price)
    }
  })
  const payments: Record<string, number> = {}
  for (const a of [...net.keys()].sort()) payments[a] = net.get(a)!
  return { status: 'sold', winners, payments, clearingPrice: price, quantity: k, welfare: gains }
}
