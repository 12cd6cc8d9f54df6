import { generateKeyPairSync } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { signBid, verifyEquivocation } from '../../protocols/auctions/index.js'
import type { SignedBid } from '../../protocols/auctions/index.js'
import { Ledger } from '../../protocols/ledger/index.js'

const alice = generateKeyPairSync('ed25519')
const mallory = generateKeyPairSync('ed25519')

describe('equivocation evidence', () => {
  const b1 = signBid({ auction: 'g1', agent: 'a', amount: 10, nonce: 'n1' }, alice.privateKey)
  const b2 = signBid({ auction: 'g1', agent: 'a', amount: 12, nonce: 'n2' }, alice.privateKey)

  it('accepts two different bids signed by the agent for one auction', () => {
    expect(verifyEquivocation(b1, b2, alice.publicKey)).toEqual({ ok: true })
  })

  it('rejects forged, identical, cross-auction and malformed evidence', () => {
    const forged = signBid({ auction: 'g1', agent: 'a', amount: 13, nonce: 'n3' }, mallory.privateKey)
    expect(verifyEquivocation(b1, forged, alice.publicKey)).toEqual({ ok: false, reason: 'bad-signature' })
    expect(verifyEquivocation(b1, { ...b1 }, alice.publicKey)).toEqual({ ok: false, reason: 'identical' })
    const other = signBid({ auction: 'g2', agent: 'a', amount: 12, nonce: 'n2' }, alice.privateKey)
    expect(verifyEquivocation(b1, other, alice.publicKey)).toEqual({ ok: false, reason: 'different-auction' })
    const tampered: SignedBid = { ...b2, amount: 99 }
    expect(verifyEquivocation(b1, tampered, alice.publicKey)).toEqual({ ok: false, reason: 'bad-signature' })
    expect(verifyEquivocation(b1, { ...b2, signature: '!!' }, alice.publicKey)).toEqual({ ok: false, reason: 'bad-signature' })
    expect(verifyEquivocation(null, b2, alice.publicKey)).toEqual({ ok: false, reason: 'malformed' })
  })

  it('the ledger slashes byzantine_behavior only on verified evidence (verifyEvidence hook)', () => {
    const keys = new Map([['a', alice.publicKey]])
    const verifyEvidence = (condition: string, account: string, ev: unknown): boolean => {
      if (condition !== 'byzantine_behavior') return true
      const e = ev as { a?: unknown, b?: unknown } | null
      const k = keys.get(account)
      return k !== undefined && e !== null && verifyEquivocation(e.a, e.b, k).ok && (e.a as SignedBid).agent === account
    }
    const l = new Ledger({ authorities: ['t'], verifyEvidence })
    l.apply({ type: 'mint', by: 't', account: 'a', amount: 100 }, 1)
    l.apply({ type: 'stake', by: 'a', account: 'a', amount: 100 }, 2)
    const forged = signBid({ auction: 'g1', agent: 'a', amount: 13, nonce: 'n3' }, mallory.privateKey)
    expect(l.apply({ type: 'slash', by: 't', account: 'a', condition: 'byzantine_behavior', evidence: { a: b1, b: forged } }, 3)).toMatchObject({ ok: false, code: 'ERR_INVALID_EVIDENCE' })
    expect(l.account('a')!.staked).toBe(100)
    expect(l.apply({ type: 'slash', by: 't', account: 'a', condition: 'byzantine_behavior', evidence: { a: b1, b: b2 } }, 4)).toMatchObject({ ok: true, amount: 100 })
    const r = Ledger.restore(l.snapshot(), { verifyEvidence })
    expect(r.apply({ type: 'slash', by: 't', account: 'a', condition: 'byzantine_behavior', evidence: {} }, 5)).toMatchObject({ ok: false, code: 'ERR_INVALID_EVIDENCE' })
    expect(l.invariants()).toEqual([])
  })
})
