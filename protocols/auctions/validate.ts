import { nullObject } from '../../src/base/input.js'
import { AuctionError } from './errors.js'
import { type Award, type AuctionLimits, DEFAULT_AUCTION_LIMITS, type Outcome } from './types.js'

export function limitsOf (l?: Partial<AuctionLimits>): AuctionLimits {
  return { ...DEFAULT_AUCTION_LIMITS, ...l }
}

export function money (v: unknown, what: string, code: 'ERR_INVALID_AUCTION' | 'ERR_INVALID_BID', positive = false): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || (positive && v === 0)) {
    throw new AuctionError(code, `${what} must be a ${positive ? 'positive' : 'non-negative'} safe integer`, { what, value: v })
  }
  return v
}

export function agentId (v: unknown): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > 128) throw new AuctionError('ERR_INVALID_BID', 'agent must be a string of 1..128 characters')
  return v
}

export function checkCount (n: number, limits: AuctionLimits): void {
  if (n > limits.bidsMax) throw new AuctionError('ERR_LIMIT_EXCEEDED', `bids exceed bidsMax (${n} > ${limits.bidsMax})`, { limit: 'bidsMax', max: limits.bidsMax })
}

export function uniqueAgents (agents: string[]): void {
  const seen = new Set<string>()
  for (const a of agents) {
    if (seen.has(a)) throw new AuctionError('ERR_DUPLICATE_BIDDER', `two bids from ${a}`, { agent: a })
    seen.add(a)
  }
}

/**
 * Net payment per agent, keys sorted. A prototype-free object: an agent named `__proto__` is a key like
 * any other (on a plain `{}` the assignment would set the prototype and the payment would vanish).
 */
export function paymentsOf (winners: Award[]): Record<string, number> {
  const m = new Map<string, number>()
  for (const w of winners) m.set(w.agent, (m.get(w.agent) ?? 0) + w.price)
  const out = nullObject<number>()
  for (const k of [...m.keys()].sort()) out[k] = m.get(k)!
  return out
}

export function noSale (reason: string): Outcome {
  return { status: 'no-sale', winners: [], payments: nullObject(), clearingPrice: null, quantity: 0, welfare: null, reason }
}
