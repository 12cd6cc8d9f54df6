/**
 * Auction and market mechanisms (FEATURES E4, E5) as pure, deterministic functions from committed bids
 * (in Raft log order) to an {@link Outcome}. Meant to run inside the replicated state machine.
 *
 * @example
 * ```ts
 * vickrey({ item: 'gpu', reserve: 5 }, [{ agent: 'a', amount: 12 }, { agent: 'b', amount: 9 }])
 * // → sold to a at 9
 * ```
 */
export { english, dutch, firstPrice, vickrey, type ClockBid, type SealedBid, type EnglishParams, type DutchParams, type SealedParams } from './single.js'
export { uniformPrice, type UnitBid, type UniformParams } from './multiunit.js'
export { callMarket, type Order, type CallMarketParams } from './double.js'
export { combinatorial, winnerDetermination, checkAllocation, type BundleBid, type CombinatorialParams, type CombinatorialOutcome } from './combinatorial.js'
export { instanceDigest, solutionOf, sameSolution, checkSolution, type CarriedSolution } from './solution.js'
export { commitBid, verifyReveal, resolveReveals, type Commitment, type Reveal, type ForfeitReason } from './commit.js'
export { AuctionError, type AuctionErrorCode } from './errors.js'
export { DEFAULT_AUCTION_LIMITS, type AuctionLimits, type Award, type Outcome } from './types.js'
export { settlementCommands, type SettlementInput } from './settle.js'
export { shillIndicators, collusionIndicators, type AuctionRecord, type IntegrityOptions, type ShillReport, type CollusionReport } from './integrity.js'
export { bidMessage, signBid, verifyBidSignature, verifyEquivocation, type SignedBid, type EquivocationCheck } from './evidence.js'
