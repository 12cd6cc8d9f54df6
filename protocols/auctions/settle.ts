/**
 * Settlement through the ledger: turns an auction {@link Outcome} into the ledger commands that settle it,
 * to be applied in order inside the same state machine (so every replica settles identically).
 *
 * - each winner with a positive payment: `collect` (from its bid escrow if any, then free, then stake —
 *   see the ledger README) paid to `payee`;
 * - each seller award (negative payment, call market): `transfer` from `payee` (the clearing account)
 *   to the seller — buyers' payments cover them (exactly under the midpoint rule; under McAfee trade
 *   reduction a surplus stays with `payee`);
 * - every other open bid escrow (losers, no-sale): `release` back to its owner;
 * - forfeited commit-reveal deposits: `release` paid in full to `forfeitTo` (default `payee`).
 */
import type { LedgerCommand } from '../ledger/types.js'
import type { Outcome } from './types.js'

export interface SettlementInput {
  /** The authority issuing `collect` / `release` (the auction house account, a ledger authority). */
  by: string
  /** Who receives payments: the seller, or the clearing account of a call market. */
  payee: string
  outcome: Outcome
  /** Open bid escrows of this auction, one per agent. */
  escrows: Array<{ agent: string, escrowId: string, amount: number }>
  /** Agents whose escrow is forfeited (commit-reveal). */
  forfeits?: string[]
  /** Who receives forfeited deposits (default `payee`). */
  forfeitTo?: string
}

export function settlementCommands (s: SettlementInput): LedgerCommand[] {
  const out: LedgerCommand[] = []
  const escrowOf = new Map(s.escrows.map(e => [e.agent, e.escrowId]))
  const used = new Set<string>()
  const forfeits = new Set(s.forfeits ?? [])
  if (s.outcome.status === 'sold') {
    // Own keys only (Object.entries): an outcome read back from JSON is a plain object, and a lookup by
    // agent name could reach Object.prototype.
    for (const [agent, amount] of Object.entries(s.outcome.payments)) {
      if (amount > 0) {
        const escrowId = escrowOf.get(agent)
        if (escrowId !== undefined && !forfeits.has(agent)) used.add(agent)
        out.push({ type: 'collect', by: s.by, account: agent, to: s.payee, amount, ...(escrowId !== undefined && !forfeits.has(agent) ? { escrowId } : {}) })
      }
    }
    for (const [agent, amount] of Object.entries(s.outcome.payments)) {
      if (amount < 0) out.push({ type: 'transfer', by: s.payee, from: s.payee, to: agent, amount: -amount })
    }
  }
  for (const e of s.escrows) {
    if (used.has(e.agent)) continue
    if (forfeits.has(e.agent)) out.push({ type: 'release', by: s.by, id: e.escrowId, payTo: s.forfeitTo ?? s.payee, payAmount: e.amount })
    else out.push({ type: 'release', by: s.by, id: e.escrowId })
  }
  return out
}
