/**
 * Single-item mechanisms as pure functions of the committed bids (in log order; earlier wins ties).
 * Every function validates its input and throws {@link AuctionError} on malformed parameters or bids.
 */
import { AuctionError } from './errors.js'
import type { AuctionLimits, Outcome } from './types.js'
import { agentId, checkCount, limitsOf, money, noSale, paymentsOf, uniqueAgents } from './validate.js'

/** A sealed bid: the amount offered for the item. */
export interface SealedBid { agent: string, amount: number }

/** A clock bidder: the highest (English) or the first acceptable (Dutch) price it will pay. */
export interface ClockBid { agent: string, maxPrice: number }

export interface EnglishParams {
  item: string
  /** Minimum price; the clock never sells below it. */
  reserve: number
  /** The clock's first price; default (and floor) the reserve. */
  startPrice?: number
  /** Clock step, > 0. */
  increment: number
}

export interface DutchParams {
  item: string
  /** The clock's first (highest) price. */
  startPrice: number
  /** Clock step, > 0. */
  decrement: number
  /** The clock stops before going below the reserve; default 0. */
  reserve?: number
}

export interface SealedParams {
  item: string
  reserve: number
}

function clockBids (bids: ClockBid[], limits: AuctionLimits): ClockBid[] {
  checkCount(bids.length, limits)
  const out = bids.map(b => ({ agent: agentId(b?.agent), maxPrice: money(b?.maxPrice, 'maxPrice', 'ERR_INVALID_BID') }))
  uniqueAgents(out.map(b => b.agent))
  return out
}

function sealedBids (bids: SealedBid[], limits: AuctionLimits): SealedBid[] {
  checkCount(bids.length, limits)
  const out = bids.map(b => ({ agent: agentId(b?.agent), amount: money(b?.amount, 'amount', 'ERR_INVALID_BID') }))
  uniqueAgents(out.map(b => b.agent))
  return out
}

/** Index of the highest value, earliest on ties. */
function argmax (vals: number[]): number {
  let best = -1
  for (let i = 0; i < vals.length; i++) if (best < 0 || vals[i]! > vals[best]!) best = i
  return best
}

function single (agent: string, item: string, price: number, value: number): Outcome {
  const winners = [{ agent, items: [item], quantity: 1, price }]
  return { status: 'sold', winners, payments: paymentsOf(winners), clearingPrice: price, quantity: 1, welfare: value }
}

/**
 * English auction as an ascending clock. The price starts at `p0 = max(startPrice ?? reserve, reserve)`
 * and rises by `increment`; a bidder stays in while `maxPrice >= price`. No one in at `p0`: no-sale.
 * One in at `p0`: it wins at `p0`. Otherwise the clock stops at the first price `p` at which at most
 * one bidder remains: if one remains it wins at `p`; if the last two or more dropped out together at `p`,
 * the one with the highest `maxPrice` among them (earliest in the log on equal) wins at `p - increment`,
 * the last price at which it was in. Computed in closed form (no per-step loop).
 */
export function english (params: EnglishParams, bids: ClockBid[], limits?: Partial<AuctionLimits>): Outcome {
  const lim = limitsOf(limits)
  const reserve = money(params.reserve, 'reserve', 'ERR_INVALID_AUCTION')
  const inc = money(params.increment, 'increment', 'ERR_INVALID_AUCTION', true)
  const p0 = Math.max(params.startPrice === undefined ? reserve : money(params.startPrice, 'startPrice', 'ERR_INVALID_AUCTION'), reserve)
  const bs = clockBids(bids, lim)
  const inAt0 = bs.filter(b => b.maxPrice >= p0)
  if (inAt0.length === 0) return noSale('no bidder at the opening price')
  if (inAt0.length === 1) return single(inAt0[0]!.agent, params.item, p0, inAt0[0]!.maxPrice)
  const maxes = inAt0.map(b => b.maxPrice).sort((a, b) => b - a)
  const second = maxes[1]!
  const p = p0 + (Math.floor((second - p0) / inc) + 1) * inc // first clock price above the second-highest max
  const top = inAt0[argmax(inAt0.map(b => b.maxPrice))]!
  if (top.maxPrice >= p) return single(top.agent, params.item, p, top.maxPrice)
  return single(top.agent, params.item, p - inc, top.maxPrice)
}

/**
 * Dutch auction: the clock descends `startPrice, startPrice - decrement, ...` while the price is at
 * least the reserve. At the first price some bidder accepts (`maxPrice >= price`), the bidder whose bid
 * was committed first among those accepting wins at that price (never the last bid). No taker before
 * the clock would go below the reserve: no-sale. Closed form.
 */
export function dutch (params: DutchParams, bids: ClockBid[], limits?: Partial<AuctionLimits>): Outcome {
  const lim = limitsOf(limits)
  const start = money(params.startPrice, 'startPrice', 'ERR_INVALID_AUCTION')
  const dec = money(params.decrement, 'decrement', 'ERR_INVALID_AUCTION', true)
  const reserve = params.reserve === undefined ? 0 : money(params.reserve, 'reserve', 'ERR_INVALID_AUCTION')
  if (reserve > start) throw new AuctionError('ERR_INVALID_AUCTION', 'reserve above startPrice')
  const bs = clockBids(bids, lim)
  if (bs.length === 0) return noSale('no bids')
  const m1 = Math.max(...bs.map(b => b.maxPrice))
  const k = m1 >= start ? 0 : Math.ceil((start - m1) / dec)
  const price = start - k * dec
  if (price < reserve) return noSale('no taker at or above the reserve')
  const taker = bs.find(b => b.maxPrice >= price)!
  return single(taker.agent, params.item, price, taker.maxPrice)
}

/** First-price sealed bid: the highest bid at or above the reserve wins and pays its bid; ties: earliest. */
export function firstPrice (params: SealedParams, bids: SealedBid[], limits?: Partial<AuctionLimits>): Outcome {
  const lim = limitsOf(limits)
  const reserve = money(params.reserve, 'reserve', 'ERR_INVALID_AUCTION')
  const q = sealedBids(bids, lim).filter(b => b.amount >= reserve)
  if (q.length === 0) return noSale('reserve not met')
  const w = q[argmax(q.map(b => b.amount))]!
  return single(w.agent, params.item, w.amount, w.amount)
}

/**
 * Vickrey (second-price sealed): bids at or above the reserve qualify (a bid equal to the reserve
 * qualifies); the highest qualifying bid wins (earliest on ties) and pays
 * `max(reserve, second-highest qualifying bid)` — with equal top bids, the second equals the first.
 * A single qualifying bidder pays the reserve.
 */
export function vickrey (params: SealedParams, bids: SealedBid[], limits?: Partial<AuctionLimits>): Outcome {
  const lim = limitsOf(limits)
  const reserve = money(params.reserve, 'reserve', 'ERR_INVALID_AUCTION')
  const q = sealedBids(bids, lim).filter(b => b.amount >= reserve)
  if (q.length === 0) return noSale('reserve not met')
  const wi = argmax(q.map(b => b.amount))
  const w = q[wi]!
  let second = reserve
  for (let i = 0; i < q.length; i++) if (i !== wi && q[i]!.amount > second) second = q[i]!.amount
  return single(w.agent, params.item, second, w.amount)
}
