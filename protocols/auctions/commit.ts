/**
 * Sealed bids by commit-reveal (FEATURES E4).
 *
 * 1. While bidding is open, an agent commits `commitment = sha256hex(canonical(auction, agent, amount, nonce))`
 *    (canonical = JSON of `[auction, agent, amount, nonce]`), typically with a deposit escrowed.
 * 2. After bidding closes, it reveals `{ amount, nonce }`.
 * 3. {@link resolveReveals} keeps, in **commit log order** (the tie-break order is the order in which bids
 *    were fixed, not revealed), the first commitment per agent whose reveal matches.
 *
 * Forfeit rule: a commitment with no reveal (`unrevealed`) or whose reveal does not hash to it
 * (`mismatch`) is excluded from the auction and listed in `forfeits`; the settlement layer then
 * forfeits that agent's commitment deposit (it is not refunded). A second commitment by the same
 * agent (`duplicate`) is excluded too, with the same forfeit. Reveals for unknown agents are ignored.
 */
import { createHash } from 'node:crypto'
import type { SealedBid } from './single.js'

export interface Commitment { agent: string, commitment: string }
export interface Reveal { agent: string, amount: number, nonce: string }
export type ForfeitReason = 'unrevealed' | 'mismatch' | 'duplicate'

export function commitBid (auction: string, agent: string, amount: number, nonce: string): string {
  return createHash('sha256').update(JSON.stringify([auction, agent, amount, nonce])).digest('hex')
}

export function verifyReveal (auction: string, c: Commitment, r: Reveal): boolean {
  if (c.agent !== r.agent || typeof r.nonce !== 'string' || !Number.isSafeInteger(r.amount) || r.amount < 0) return false
  return commitBid(auction, r.agent, r.amount, r.nonce) === c.commitment
}

export function resolveReveals (auction: string, commits: Commitment[], reveals: Reveal[]): { bids: SealedBid[], forfeits: Array<{ agent: string, reason: ForfeitReason }> } {
  const revealOf = new Map<string, Reveal>()
  for (const r of reveals) if (r !== null && typeof r === 'object' && typeof r.agent === 'string' && !revealOf.has(r.agent)) revealOf.set(r.agent, r)
  const seen = new Set<string>()
  const bids: SealedBid[] = []
  const forfeits: Array<{ agent: string, reason: ForfeitReason }> = []
  for (const c of commits) {
    if (seen.has(c.agent)) { forfeits.push({ agent: c.agent, reason: 'duplicate' }); continue }
    seen.add(c.agent)
    const r = revealOf.get(c.agent)
    if (r === undefined) forfeits.push({ agent: c.agent, reason: 'unrevealed' })
    else if (!verifyReveal(auction, c, r)) forfeits.push({ agent: c.agent, reason: 'mismatch' })
    else bids.push({ agent: c.agent, amount: r.amount })
  }
  return { bids, forfeits }
}
