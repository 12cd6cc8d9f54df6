/**
 * Error codes of the economy state machine: the ledger's codes plus the auction book's. `apply()`
 * never throws on bad input; it returns `{ ok: false, code, message }`.
 */
import { AgoraError } from '../../src/base/errors.js'
import type { LedgerErrorCode } from '../ledger/errors.js'

export type MarketErrorCode =
  | LedgerErrorCode
  | 'ERR_UNKNOWN_AUCTION' // no auction with that id (or it was evicted after settling long ago)
  | 'ERR_DUPLICATE_AUCTION' // an auction with that id exists
  | 'ERR_INVALID_AUCTION' // bad spec: unknown mechanism, missing or extra fields, bad prices...
  | 'ERR_INVALID_BID' // malformed bid for the mechanism: unknown items, duplicate items, bad amounts...
  | 'ERR_DUPLICATE_BID' // the agent already bid in this auction (one bid per agent; XOR bundles go in one bid)
  | 'ERR_BELOW_RESERVE' // the bid cannot meet the reserve
  | 'ERR_SELF_BID' // the seller bid in its own auction
  | 'ERR_AUCTION_CLOSED' // bidding is over (log time past the close, or closed)
  | 'ERR_WRONG_PHASE' // e.g. a reveal while bidding is open, a settle before the reveal window ends
  | 'ERR_TOO_EARLY' // only the seller or an authority may close before the deadline
  | 'ERR_RESERVED_ACCOUNT' // `treasury` / `auction-house` are the machine's own accounts
  | 'ERR_INVALID_SOLUTION' // a settle's carried allocation fails a check (another bid set, infeasible, prices outside the rule's bounds)

/** Thrown by non-replicated APIs (restore of a malformed snapshot, bad config). */
export class MarketError extends AgoraError {
  static override readonly name = 'MarketError'
  constructor (code: MarketErrorCode | 'ERR_DECODE' | 'ERR_INVALID_OPTION', message: string, details: Record<string, unknown> = {}) {
    super(code, message, details)
  }
}
