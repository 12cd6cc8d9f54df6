/**
 * A ledger model for the linearizability checker: free balances of a fixed set of accounts, with
 * `mint`, `transfer` (answers whether it applied: it fails exactly when the payer's free balance is
 * short) and `read`. Transfers touch two accounts, so the history is checked as one partition (per-account
 * partitions would not be sound); keep histories to a few hundred operations.
 */
import type { Model, Operation } from './model.js'

export type LedgerInput =
  | { op: 'mint', account: number, amount: number }
  | { op: 'transfer', from: number, to: number, amount: number }
  | { op: 'read', account: number }

/** `transfer`: `ok` (applied or refused for funds); `read`: `free`. */
export interface LedgerOutput { ok?: boolean, free?: number }

export type LedgerOperation = Operation<LedgerInput, LedgerOutput>

/** The model over `accounts` accounts (indices 0..accounts-1), all starting at 0. */
export function ledgerModel (accounts: number): Model<readonly number[], LedgerInput, LedgerOutput> {
  return {
    init: () => new Array<number>(accounts).fill(0),
    step (state, input, output) {
      switch (input.op) {
        case 'read':
          return [output === undefined || output.free === state[input.account], state]
        case 'mint': {
          const next = state.slice()
          next[input.account]! += input.amount
          return [true, next]
        }
        case 'transfer': {
          const can = state[input.from]! >= input.amount
          const applied = output === undefined ? can : output.ok === true
          if (output !== undefined && applied !== can) return [false, state]
          if (!applied) return [true, state]
          const next = state.slice()
          next[input.from]! -= input.amount
          next[input.to]! += input.amount
          return [true, next]
        }
      }
    },
    equal: (a, b) => a.length === b.length && a.every((x, i) => x === b[i]),
    hash: (s) => {
      let h = 0x811c9dc5
      for (const x of s) h = Math.imul(h ^ (x | 0), 0x01000193)
      return h >>> 0
    },
    describe: (i, o) => `${JSON.stringify(i)} -> ${o === undefined ? '?' : JSON.stringify(o)}`
  }
}
