/**
 * Error codes of the ledger state machine. `apply()` never throws on bad input: it returns
 * `{ ok: false, code, message }` with one of these stable codes. {@link LedgerError} is thrown only
 * by APIs outside the replicated path (e.g. `restore()` of a malformed snapshot, bad config).
 */
import { AgoraError } from '../../src/base/errors.js'

export const LEDGER_ERROR_CODES = [
  'ERR_INVALID_COMMAND', // malformed command: unknown type, bad field type, non-integer amount...
  'ERR_UNAUTHORIZED', // `by` may not issue this command
  'ERR_UNKNOWN_ACCOUNT', // the account does not exist (never minted to / transferred to)
  'ERR_INSUFFICIENT_FUNDS', // not enough free (or staked) funds
  'ERR_UNKNOWN_ESCROW', // no open escrow with that id
  'ERR_DUPLICATE_ESCROW', // an escrow with that id is already open (or was closed: ids are single-use)
  'ERR_LIMIT_EXCEEDED', // a named limit (accounts, escrows, supply, evidence size...) would be exceeded
  'ERR_STALE_INDEX', // the log index is not greater than the last applied index
  'ERR_INVALID_EVIDENCE', // slash evidence rejected by the configured verifyEvidence hook
  'ERR_EXCEEDS_BIDDING_POWER', // a bid above free funds x the E3 bidding-power multiplier (checkBid)
  'ERR_RESERVED_NAME' // a new account or escrow id that is __proto__, constructor or prototype
] as const

export type LedgerErrorCode = typeof LEDGER_ERROR_CODES[number]

/** Thrown by non-replicated ledger APIs (restore, config validation). */
export class LedgerError extends AgoraError {
  static override readonly name = 'LedgerError'
  constructor (code: LedgerErrorCode | 'ERR_DECODE' | 'ERR_INVALID_OPTION', message: string, details: Record<string, unknown> = {}) {
    super(code, message, details)
  }
}
