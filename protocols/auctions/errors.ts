/**
 * Named errors of the auction mechanisms. Match on `code`, never on message text.
 */
import { AgoraError } from '../../src/base/errors.js'

export type AuctionErrorCode =
  | 'ERR_INVALID_AUCTION' // bad parameters: negative reserve, zero increment, no items...
  | 'ERR_INVALID_BID' // malformed bid: non-integer amount, empty or duplicate bundle, unknown item...
  | 'ERR_DUPLICATE_BIDDER' // a single-bid mechanism got two bids from one agent
  | 'ERR_LIMIT_EXCEEDED' // bids per auction, items per bundle...

export class AuctionError extends AgoraError {
  static override readonly name = 'AuctionError'
  constructor (code: AuctionErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(code, message, details)
  }
}
