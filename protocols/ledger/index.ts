/**
 * Ledger (FEATURES E1–E3): a deterministic state machine applied from the Raft log.
 *
 * @example
 * ```ts
 * const l = new Ledger({ authorities: ['treasury'], unbondingDelayEntries: 10 })
 * l.apply({ type: 'mint', by: 'treasury', account: 'a1', amount: 100 }, 1)
 * l.apply({ type: 'stake', by: 'a1', account: 'a1', amount: 20 }, 2)
 * l.invariants() // []
 * ```
 */
export { Ledger, snapshotJSON, type LedgerConfig, type AccountState, type EscrowState, type LedgerSnapshot, type UnbondingEntry } from './ledger.js'
export { LedgerError, LEDGER_ERROR_CODES, type LedgerErrorCode } from './errors.js'
export { DEFAULT_LEDGER_LIMITS, type LedgerLimits } from './limits.js'
export * from './slashing.js'
export * from './reputation.js'
export type * from './types.js'
