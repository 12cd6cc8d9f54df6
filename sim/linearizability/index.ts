/**
 * Reusable linearizability checker (Porcupine port) with a KV register model. Later modules supply their
 * own models (ledger, auctions) through the same {@link Model} interface.
 */
export type { Model, Operation } from './model.js'
export { checkLinearizable, CHECK_STEPS_MAX_DEFAULT } from './checker.js'
export type { CheckOptions, CheckResult, CheckOutcome } from './checker.js'
export { kvModel } from './kv.js'
export type { KvInput, KvOutput, KvValue, KvOperation } from './kv.js'
export { Bitset } from './bitset.js'
export { randomLinearizableKvHistory } from './generate.js'
export type { KvHistoryOptions } from './generate.js'
export { ledgerModel } from './ledger.js'
export type { LedgerInput, LedgerOutput, LedgerOperation } from './ledger.js'
