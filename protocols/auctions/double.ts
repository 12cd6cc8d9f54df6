/**
 * Double auction / call market (FEATURES E5): buy and sell orders collected, then cleared at once.
 */
import { AuctionError } from './errors.js'
import type { Award, AuctionLimits, Outcome } from './types.js'
import { agentId, checkCount, limitsOf, money, noSale, paymentsOf } from './validate.js'

export interface Order { agent: string, side: 'buy' | 'sell', limit: number, quantity: number }

export interface CallMarketParams {
  item: string
  /**
   * Pricing rule. `'midpoint'` (default): every crossing unit trades at the midpoint of the clearing
   * interval (budget-balanced). `'mcafee'`: McAfee's (1992) trade-reduction mechanism (see
   * {@link callMarket}): truthful for unit traders, may drop the marginal trade, may leave a surplus.
   */
  pricing?: 'midpoint' | 'mcafee'
}

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
 *
 * `pricing: 'mcafee'` — McAfee's trade-reduction mechanism, on units (an order of quantity q is q unit
 * traders with the same limit, in the same rank): with `k` the maximal crossing quantity as above and
 * `b_{k+1}`, `s_{k+1}` the first unmatched buy and sell units, let `p0 = (b_{k+1} + s_{k+1}) / 2`.
 * - If both exist and `s_k ≤ p0 ≤ b_k` (checked exactly, on `2·s_k ≤ b_{k+1} + s_{k+1} ≤ 2·b_k`): all `k`
 *   units trade at `floor(p0)` (still within `[s_k, b_k]`, so individually rational), budget-balanced.
 * - Otherwise (including when there is no unmatched buy or sell unit) the marginal unit pair is dropped:
 *   the first `k − 1` units trade; every traded buy unit pays `b_k`, every traded sell unit receives
 *   `s_k` (the dropped pair's limits). Individually rational (`b_j ≥ b_k`, `s_j ≤ s_k` for `j < k`); the
 *   surplus `(k − 1)(b_k − s_k) ≥ 0` stays with the clearing account (settlement collects the buyers'
 *   payments into it and pays the sellers from it). `clearingPrice` is then the buyers' price `b_k` and
 *   `reason` names both prices. `k = 1` after reduction is a no-sale.
 * For unit-demand / unit-supply traders McAfee is dominant-strategy truthful (no trader's own limit sets
 * its price), at the cost of at most one unit of gains from trade; with multi-unit orders the rule is
 * applied unit by unit and truthfulness is not guaranteed. `welfare` counts the units actually traded.
 */
export function callMarket (params: CallMarketParams, orders: Order[], limits?: Partial<AuctionLimits>): Outcome {
  const lim = limitsOf(limits)
  const item = params.item
  if (params.pricing !== undefined && params.pricing !== 'midpoint' && params.pricing !== 'mcafee') throw new AuctionError('ERR_INVALID_AUCTION', "pricing must be 'midpoint' or 'mcafee'")
  checkCount(orders.length, lim)
  const os = orders.map((o, pos) => {
    if (o?.side !== 'buy' && o?.side !== 'sell') throw new AuctionError('ERR_INVALID_BID', 'side must be buy or sell')
    return { agent: agentId(o.agent), side: o.side, limit: money(o.limit, 'limit', 'ERR_INVALID_BID'), quantity: money(o.quantity, 'quantity', 'ERR_INVALID_BID', true), pos }
  })
  const buys = os.filter(o => o.side === 'buy').sort((a, b) => b.limit - a.limit || a.pos - b.pos)
  const sells = os.filter(o => o.side === 'sell').sort((a, b) => a.limit - b.limit || a.pos - b.pos)
  const first = match(buys, sells, Infinity)
  const k = first.k
  if (k === 0) return noSale('no crossing: best buy below best sell')
  const nextB = first.i < buys.length ? buys[first.i]!.limit : -Infinity
  const nextS = first.j < sells.length ? sells[first.j]!.limit : Infinity
  if (params.pricing === 'mcafee') {
    const sum = nextB + nextS // ±Infinity when a side has no unmatched unit: then the reduction applies
    if (Number.isFinite(sum) && 2 * first.lastS <= sum && sum <= 2 * first.lastB) return award(item, buys, sells, first, Math.floor(sum / 2), Math.floor(sum / 2))
    if (k === 1) return noSale('no trade after McAfee trade reduction: the only crossing unit was the marginal one')
    const reduced = match(buys, sells, k - 1)
    const out = award(item, buys, sells, reduced, first.lastB, first.lastS)
    out.reason = `McAfee trade reduction: ${k - 1} of ${k} crossing units trade; buyers pay ${first.lastB} and sellers receive ${first.lastS} per unit; surplus ${(k - 1) * (first.lastB - first.lastS)} stays with the clearing account`
    return out
  }
  const lo = Math.max(first.lastS, nextB)
  const hi = Math.min(first.lastB, nextS)
  const price = Math.floor((lo + hi) / 2)
  return award(item, buys, sells, first, price, price)
}

interface Ranked { agent: string, limit: number, quantity: number }
interface Matching { k: number, i: number, j: number, lastB: number, lastS: number, gains: number, bFill: number[], sFill: number[] }

/** Match units in rank order while the next buy limit >= the next sell limit, at most `cap` units. */
function match (buys: Ranked[], sells: Ranked[], cap: number): Matching {
  const bq = buys.map(b => b.quantity)
  const sq = sells.map(s => s.quantity)
  const m: Matching = { k: 0, i: 0, j: 0, lastB: 0, lastS: 0, gains: 0, bFill: buys.map(() => 0), sFill: sells.map(() => 0) }
  while (m.k < cap && m.i < buys.length && m.j < sells.length && buys[m.i]!.limit >= sells[m.j]!.limit) {
    const t = Math.min(bq[m.i]!, sq[m.j]!, cap - m.k)
    m.lastB = buys[m.i]!.limit
    m.lastS = sells[m.j]!.limit
    m.gains += t * (m.lastB - m.lastS)
    m.k += t
    m.bFill[m.i]! += t
    m.sFill[m.j]! += t
    bq[m.i]! -= t
    sq[m.j]! -= t
    if (bq[m.i] === 0) m.i++
    if (sq[m.j] === 0) m.j++
  }
  return m
}

/** Awards for a matching: buyers pay `buyPrice`, sellers receive `sellPrice` per unit. */
function award (item: string, buys: Ranked[], sells: Ranked[], m: Matching, buyPrice: number, sellPrice: number): Outcome {
  if (!Number.isSafeInteger(buyPrice * m.k) || !Number.isSafeInteger(sellPrice * m.k)) throw new AuctionError('ERR_INVALID_AUCTION', 'price x quantity exceeds safe integers')
  const winners: Award[] = []
  buys.forEach((b, n) => {
    const q = m.bFill[n]!
    if (q > 0) winners.push({ agent: b.agent, items: [item], quantity: q, price: q * buyPrice, side: 'buy' })
  })
  sells.forEach((s, n) => {
    const q = m.sFill[n]!
    if (q > 0) winners.push({ agent: s.agent, items: [item], quantity: q, price: -q * sellPrice, side: 'sell' })
  })
  // Net per agent (an agent both buying and selling nets out), keys sorted, prototype-free.
  return { status: 'sold', winners, payments: paymentsOf(winners), clearingPrice: buyPrice, quantity: m.k, welfare: m.gains }
}
