/**
 * Uniform-price multi-unit auction (FEATURES E5).
 */
import { AuctionError } from './errors.js'
import type { Award, AuctionLimits, Outcome } from './types.js'
import { agentId, checkCount, limitsOf, money, noSale, paymentsOf } from './validate.js'

/** A demand bid: up to `quantity` units at no more than `price` per unit. */
export interface UnitBid { agent: string, price: number, quantity: number }

export interface UniformParams {
  item: string
  /** Units for sale, > 0. */
  units: number
  /** Per-unit reserve; bids below it are ignored. */
  reserve: number
}

/**
 * Bids at or above the reserve are filled in order of price, highest first, ties by log order; the
 * marginal bid may be filled in part. Every winner pays the same per-unit price: the highest price
 * among the demand not filled (the first rejected bid, or the unfilled part of the marginal bid), or the
 * reserve if all qualifying demand was filled. This is the market-clearing price; no winner pays above
 * its bid. Awards in fill order. Several bids from one agent are allowed (a step demand curve).
 */
export function uniformPrice (params: UniformParams, bids: UnitBid[], limits?: Partial<AuctionLimits>): Outcome {
  const lim = limitsOf(limits)
  const units = money(params.units, 'units', 'ERR_INVALID_AUCTION', true)
  const reserve = money(params.reserve, 'reserve', 'ERR_INVALID_AUCTION')
  checkCount(bids.length, lim)
  const bs = bids.map((b, pos) => ({ agent: agentId(b?.agent), price: money(b?.price, 'price', 'ERR_INVALID_BID'), quantity: money(b?.quantity, 'quantity', 'ERR_INVALID_BID', true), pos }))
  const q = bs.filter(b => b.price >= reserve).sort((a, b) => b.price - a.price || a.pos - b.pos)
  if (q.length === 0) return noSale('reserve not met')
  let left = units
  const fills: Array<{ agent: string, quantity: number, value: number }> = []
  let price = reserve
  for (const b of q) {
    if (left === 0) { price = Math.max(price, b.price); break }
    const f = Math.min(left, b.quantity)
    fills.push({ agent: b.agent, quantity: f, value: f * b.price })
    left -= f
    if (f < b.quantity) { price = Math.max(price, b.price); break }
  }
  if (!Number.isSafeInteger(price * units)) throw new AuctionError('ERR_INVALID_AUCTION', 'price x units exceeds safe integers')
  const winners: Award[] = fills.map(f => ({ agent: f.agent, items: [params.item], quantity: f.quantity, price: f.quantity * price }))
  const sold = units - left
  return { status: 'sold', winners, payments: paymentsOf(winners), clearingPrice: price, quantity: sold, welfare: fills.reduce((s, f) => s + f.value, 0) }
}
