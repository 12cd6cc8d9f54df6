/** Named limits of the ledger (identical on every replica; part of the replicated config). */
export interface LedgerLimits {
  /** Maximum number of accounts. Default 100,000. */
  accountsMax: number
  /** Maximum number of open escrows. Default 100,000. */
  escrowsMax: number
  /** Maximum number of pending unbonding entries (all accounts). Default 100,000. */
  unbondingEntriesMax: number
  /** Maximum length of an account or escrow id, in characters. Default 128. */
  idCharsMax: number
  /** Maximum size of slashing evidence, as JSON characters. Default 4,096. */
  evidenceCharsMax: number
  /** Slashing history entries kept per account (oldest dropped; counts are kept). Default 64. */
  historyEntriesMax: number
  /** Maximum total minted supply, in smallest units. Default Number.MAX_SAFE_INTEGER. */
  supplyMax: number
}

export const DEFAULT_LEDGER_LIMITS: Readonly<LedgerLimits> = Object.freeze({
  accountsMax: 100_000,
  escrowsMax: 100_000,
  unbondingEntriesMax: 100_000,
  idCharsMax: 128,
  evidenceCharsMax: 4096,
  historyEntriesMax: 64,
  supplyMax: Number.MAX_SAFE_INTEGER
})
