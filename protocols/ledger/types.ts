/**
 * Ledger commands and results: plain JSON-able objects. Every command names its issuer in `by`;
 * the driver (Raft client path) authenticates `by` before proposing — the state machine only checks
 * that `by` may issue the command (see README "Authorization").
 */
import type { LedgerErrorCode } from './errors.js'
import type { SlashCondition } from './slashing.js'

export type LedgerCommand =
  | { type: 'open', by: string, account: string }
  | { type: 'mint', by: string, account: string, amount: number }
  | { type: 'transfer', by: string, from: string, to: string, amount: number }
  | { type: 'escrow', by: string, id: string, account: string, amount: number, arbiter?: string }
  | { type: 'release', by: string, id: string, payTo?: string, payAmount?: number }
  | { type: 'collect', by: string, account: string, to: string, amount: number, escrowId?: string }
  | { type: 'stake', by: string, account: string, amount: number }
  | { type: 'unstake', by: string, account: string, amount: number }
  | { type: 'slash', by: string, account: string, condition: SlashCondition, evidence?: unknown }
  | { type: 'outcome', by: string, account: string, delivered: boolean, onTime: boolean, qualityPpm: number }

export type LedgerCommandType = LedgerCommand['type']

export interface LedgerOk {
  ok: true
  type: LedgerCommandType | 'advance' | 'checkBid'
  /** Command-specific figures (amount slashed, shortfall, release index...). */
  [k: string]: unknown
}

export interface LedgerErr {
  ok: false
  code: LedgerErrorCode
  message: string
}

export type LedgerResult = LedgerOk | LedgerErr

/** One entry of an account's slashing history. */
export interface SlashRecord {
  /** Log index at which the slash was applied. */
  index: number
  condition: SlashCondition
  severity: string
  /** 1-based count of this condition for this account. */
  offence: number
  graced: boolean
  amount: number
  repeatPct: number
  /** Evidence as submitted (JSON-able, size-limited), or null. */
  evidence: unknown
}
