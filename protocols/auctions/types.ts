/**
 * Shared shapes of the auction mechanisms. All money is integer smallest units (safe integers).
 * Bids are given in Raft log order: array position is the tie-break (earlier wins).
 */

/** One award: what an agent gets and what it pays in total (negative = receives, for sellers). */
export interface Award {
  agent: string
  items: string[]
  /** Units (1 for single-item and bundle awards). */
  quantity: number
  /** Total payment for this award. */
  price: number
  /** Double auctions only: which side of the market the award is on. */
  side?: 'buy' | 'sell'
}

export interface Outcome {
  status: 'sold' | 'no-sale'
  /** Awards in a deterministic order (documented per mechanism). */
  winners: Award[]
  /**
   * Net payment per agent (sellers in a double auction receive: negative). Keys sorted. A prototype-free
   * object (any agent name is an own key); read it with `Object.hasOwn` / `Object.entries`.
   */
  payments: Record<string, number>
  /** Per-unit clearing price for uniform-price and double auctions; the price for single-item; null otherwise. */
  clearingPrice: number | null
  /** Units traded. */
  quantity: number
  /** Sum of winners' declared values (bids) where meaningful; null otherwise. */
  welfare: number | null
  /** Why there was no sale, or notes such as a budget-limited (inexact) solve. */
  reason?: string
}

/** Named limits shared by the mechanisms. */
export interface AuctionLimits {
  /** Maximum bids per auction. Default 10,000. */
  bidsMax: number
  /** Maximum items per bundle (combinatorial). Default 16. */
  bundleItemsMax: number
  /** Maximum distinct items in a combinatorial auction. Default 256. */
  itemsMax: number
  /** Search-node budget per winner-determination solve (deterministic stand-in for a time limit). Default 2,000,000. */
  solverNodesMax: number
}

export const DEFAULT_AUCTION_LIMITS: Readonly<AuctionLimits> = Object.freeze({
  bidsMax: 10_000,
  bundleItemsMax: 16,
  itemsMax: 256,
  solverNodesMax: 2_000_000
})
