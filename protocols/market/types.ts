/**
 * Commands, auction specs and results of the economy state machine (protocols/market/economy.ts).
 * Everything is plain JSON; money is integer smallest units (safe integers).
 */
import type { LedgerCommand } from '../ledger/types.js'
import type { Outcome } from '../auctions/types.js'
import type { CarriedSolution } from '../auctions/solution.js'
import type { MarketErrorCode } from './errors.js'

export type Mechanism = 'english' | 'dutch' | 'first-price' | 'vickrey' | 'combinatorial' | 'uniform' | 'double'
export const MECHANISMS: readonly Mechanism[] = ['english', 'dutch', 'first-price', 'vickrey', 'combinatorial', 'uniform', 'double']

/** What an auction sells and how. Fields not used by the mechanism are refused. */
export interface AuctionSpec {
  id: string
  mechanism: Mechanism
  /** Single-item mechanisms, uniform and double: exactly one item; combinatorial: the goods, in search order. */
  items: string[]
  /** Minimum price (per unit for uniform). english, dutch, first-price, vickrey, uniform. Default 0. */
  reserve?: number
  /** Per-item reserves (combinatorial): a bundle qualifies only if its value covers its items' reserves. */
  reserves?: Record<string, number>
  /** english: clock step (> 0). */
  increment?: number
  /** english: the clock's first price (default the reserve); dutch: required, the first (highest) price. */
  startPrice?: number
  /** dutch: clock step (> 0). */
  decrement?: number
  /** double: `midpoint` (default) or `mcafee` (trade reduction; the surplus stays with the seller's clearing account). */
  pricing?: 'midpoint' | 'mcafee'
  /** uniform: units for sale (> 0). */
  units?: number
  /** first-price / vickrey: `commit` for commit-reveal sealed bids. Default `open` (bids are committed in the clear). */
  sealed?: 'open' | 'commit'
  /** commit-reveal: deposit escrowed with each commitment, forfeited to the seller if not revealed (default 0). */
  deposit?: number
  /** Bidding stays open this long in log time (ms). */
  durationMs: number
  /** commit-reveal: reveals are taken this long after the close (log time, ms). Default 10,000. */
  revealMs?: number
}

/** A bid; its fields depend on the mechanism. */
export type BidPayload =
  | { maxPrice: number } // english, dutch (proxy bid: the clock price up to which the bidder stays in / would take)
  | { amount: number } // first-price, vickrey (open sealed)
  | { commitment: string } // first-price, vickrey (commit-reveal)
  | { bundles: Array<{ items: string[], value: number }> } // combinatorial (XOR)
  | { price: number, quantity: number } // uniform
  | { side: 'buy' | 'sell', limit: number, quantity: number } // double

/**
 * Economy commands. `by` is the acting account; the state machine checks that the command's origin
 * (the peer the Raft member authenticated) owns it, or is an authority.
 */
export type MarketCommand =
  | { type: 'auction.open', by: string, auction: AuctionSpec }
  | { type: 'auction.bid', by: string, auction: string, bid: BidPayload }
  /** `settle: 'deferred'` (combinatorial only): freeze the bids (status `closed`) and settle by a later `auction.settle`. */
  | { type: 'auction.close', by: string, auction: string, settle?: 'deferred' }
  | { type: 'auction.reveal', by: string, auction: string, amount: number, nonce: string }
  /** `solution`: a closed combinatorial auction's allocation solved off the log (protocols/auctions/solution.ts). */
  | { type: 'auction.settle', by: string, auction: string, solution?: CarriedSolution }

export type EconomyCommand = (LedgerCommand & { owner?: string }) | MarketCommand | { type: 'account.assign', by: 'treasury', account: string, owner: string }

/** Who proposed a command and when, as stamped by the Raft member that accepted it. */
export interface CommandMeta {
  /** The authenticated peer (or simulator node) that proposed the command. */
  origin: string
  /** The accepting member's clock (ms); log time is the running maximum of these stamps. */
  at: number
}

/** `closed`: a combinatorial auction closed with `settle: 'deferred'`, bids frozen, waiting for its `auction.settle`. */
export type AuctionStatus = 'open' | 'reveal' | 'closed' | 'settled' | 'no-sale' | 'failed'

export interface BidRecord {
  agent: string
  bid: BidPayload
  /** Log index at which the bid was committed (ties go to the lower index). */
  index: number
  /** Escrow id holding the bid's funds, or null when nothing could be escrowed. */
  escrowId: string | null
  escrowed: number
  /** commit-reveal: the revealed amount, once revealed. */
  revealed?: { amount: number, nonce: string }
}

export interface AuctionState {
  spec: AuctionSpec
  seller: string
  status: AuctionStatus
  openedAt: number
  openedIndex: number
  closesAt: number
  /** commit-reveal: reveals accepted until this log time. */
  revealUntil: number | null
  bids: BidRecord[]
  outcome: Outcome | null
  /** Commit-reveal forfeits and failed settlement steps (should be empty). */
  forfeits: Array<{ agent: string, reason: string }>
  settledIndex: number | null
  settlementErrors: string[]
  /** `closed` combinatorial auctions: the instance digest of the frozen bids (protocols/auctions/solution.ts). */
  solveDigest?: string
}

export interface MarketErr { ok: false, code: MarketErrorCode, message: string }
export interface MarketOk { ok: true, type: string, [k: string]: unknown }
export type MarketResult = MarketOk | MarketErr
