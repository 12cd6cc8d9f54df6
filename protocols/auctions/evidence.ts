/**
 * Verifiable misbehaviour evidence: equivocation = two different bids signed by the same agent for the
 * same auction (where only one is allowed). Ed25519 via node:crypto; verification is deterministic, so
 * replicas can check the evidence inside the state machine (see the ledger's `verifyEvidence` hook).
 */
import { type KeyObject, sign, verify } from 'node:crypto'

export interface SignedBid {
  auction: string
  agent: string
  amount: number
  nonce: string
  /** Ed25519 signature of {@link bidMessage}, base64. */
  signature: string
}

/** Canonical bytes signed for a bid: UTF-8 JSON of `["agora-bid", auction, agent, amount, nonce]`. */
export function bidMessage (b: Pick<SignedBid, 'auction' | 'agent' | 'amount' | 'nonce'>): Buffer {
  return Buffer.from(JSON.stringify(['agora-bid', b.auction, b.agent, b.amount, b.nonce]), 'utf8')
}

export function signBid (b: Omit<SignedBid, 'signature'>, privateKey: KeyObject): SignedBid {
  return { ...b, signature: sign(null, bidMessage(b), privateKey).toString('base64') }
}

export function verifyBidSignature (b: SignedBid, publicKey: KeyObject): boolean {
  try {
    return verify(null, bidMessage(b), publicKey, Buffer.from(b.signature, 'base64'))
  } catch {
    return false
  }
}

export type EquivocationCheck = { ok: true } | { ok: false, reason: 'different-auction' | 'different-agent' | 'identical' | 'bad-signature' | 'malformed' }

/** True evidence of equivocation: same auction and agent, different content, both signatures valid. */
export function verifyEquivocation (a: unknown, b: unknown, publicKey: KeyObject): EquivocationCheck {
  const ok = (x: unknown): x is SignedBid => x !== null && typeof x === 'object' &&
    typeof (x as SignedBid).auction === 'string' && typeof (x as SignedBid).agent === 'string' &&
    Number.isSafeInteger((x as SignedBid).amount) && typeof (x as SignedBid).nonce === 'string' && typeof (x as SignedBid).signature === 'string'
  if (!ok(a) || !ok(b)) return { ok: false, reason: 'malformed' }
  if (a.auction !== b.auction) return { ok: false, reason: 'different-auction' }
  if (a.agent !== b.agent) return { ok: false, reason: 'different-agent' }
  if (a.amount === b.amount && a.nonce === b.nonce) return { ok: false, reason: 'identical' }
  if (!verifyBidSignature(a, publicKey) || !verifyBidSignature(b, publicKey)) return { ok: false, reason: 'bad-signature' }
  return { ok: true }
}
