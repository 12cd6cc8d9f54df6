/**
 * The peer's verifier of host signatures (peers/keys.ts): node:crypto's Ed25519 with each host's public
 * key built once from its peer id and kept in a bounded LRU (issue 17). Forged and tampered messages are
 * refused (and counted by the replica), the cache stays within its bound, and a flood of unknown host ids
 * does not evict the hosts in use.
 */
import { describe, expect, it } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { IdentityError, VERIFY_KEYS_MAX_DEFAULT, createSigner, createVerifier } from '../../peers/keys.js'
import { Replica } from '../../crdt/replica.js'
import { LeaseTable } from '../../crdt/liveness.js'
import { ReplicatedRegistry } from '../../crdt/registry.js'
import { normaliseAgent } from '../../crdt/descriptor.js'
import { DEFAULT_LIMITS } from '../../crdt/limits.js'

async function host (): Promise<{ id: string, key: PrivateKey }> {
  const key = await generateKeyPair('Ed25519')
  return { id: peerIdFromPrivateKey(key).toString(), key }
}

function node (id: string, key: PrivateKey | undefined, verify = createVerifier()): { replica: Replica, registry: ReplicatedRegistry } {
  const signer = key !== undefined ? createSigner(id, key) : { id, sign: () => new Uint8Array(64) }
  const replica = new Replica({ signer, verify, mesh: 'test' })
  const registry = new ReplicatedRegistry({ replica, leases: new LeaseTable(id, { leaseMs: 1e9, pruneAfterMs: 1e9, prunedHostsMax: 10 }, Date.now) })
  return { replica, registry }
}

describe('peer verifier', () => {
  it('accepts a host\'s signature and refuses tampered data, a tampered or short signature, another key, a garbage host id', async () => {
    const a = await host()
    const b = await host()
    const verify = createVerifier()
    const data = new TextEncoder().encode('agora-crdt/1\0test\0payload')
    const sig = createSigner(a.id, a.key).sign(data)
    expect(verify(a.id, data, sig)).toBe(true)
    const tampered = data.slice()
    tampered[tampered.length - 1]! ^= 1
    expect(verify(a.id, tampered, sig)).toBe(false)
    const badSig = sig.slice()
    badSig[10]! ^= 0x40
    expect(verify(a.id, data, badSig)).toBe(false)
    expect(verify(a.id, data, sig.subarray(0, 63))).toBe(false)
    expect(verify(b.id, data, sig)).toBe(false)
    expect(verify(b.id, data, createSigner(b.id, b.key).sign(data))).toBe(true)
    expect(verify('not-a-peer-id', data, sig)).toBe(false)
    expect(verify('', data, sig)).toBe(false)
    // The verifier reads the caller's bytes in place: the same buffers verify again, unchanged.
    expect(verify(a.id, data, sig)).toBe(true)
  })

  it('keeps at most keysMax hosts, least recently used evicted first', async () => {
    const hosts = await Promise.all(Array.from({ length: 5 }, async () => await host()))
    const verify = createVerifier(3)
    const data = new Uint8Array([1, 2, 3])
    const sigs = hosts.map(h => createSigner(h.id, h.key).sign(data))
    for (let i = 0; i < 3; i++) expect(verify(hosts[i]!.id, data, sigs[i]!)).toBe(true)
    expect(verify.cachedHosts()).toEqual([hosts[0]!.id, hosts[1]!.id, hosts[2]!.id])
    // host 0 used again: host 1 is now the least recently used, and goes when host 3 comes.
    expect(verify(hosts[0]!.id, data, sigs[0]!)).toBe(true)
    expect(verify(hosts[3]!.id, data, sigs[3]!)).toBe(true)
    expect(verify.cachedHosts()).toEqual([hosts[2]!.id, hosts[0]!.id, hosts[3]!.id])
    // A flood of host ids that embed no key: the cache stays bounded; the hosts re-verify after eviction.
    for (let i = 0; i < 100; i++) expect(verify(`garbage-${i}`, data, sigs[0]!)).toBe(false)
    expect(verify.cachedHosts().length).toBe(3)
    for (let i = 0; i < 5; i++) expect(verify(hosts[i]!.id, data, sigs[i]!)).toBe(true)
    expect(verify.cachedHosts().length).toBe(3)
    expect(createVerifier().cachedHosts().length).toBe(0)
    expect(VERIFY_KEYS_MAX_DEFAULT).toBeGreaterThan(0)
  })

  it('refuses a bound that is not a positive integer (IdentityError)', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      expect(() => createVerifier(bad)).toThrow(IdentityError)
      try { createVerifier(bad) } catch (err) { expect((err as IdentityError).code).toBe('ERR_IDENTITY') }
    }
  })

  it('in a replica: a forged or tampered update is rejected and counted, the authentic one applied', async () => {
    const owner = await host()
    const forger = await host()
    const o = node(owner.id, owner.key)
    const r = node((await host()).id, undefined)
    const blob = o.replica.transact('reg', (doc) => doc.getMap('agents').set('a1', normaliseAgent({ capabilities: ['chat'] }, Date.now(), DEFAULT_LIMITS)))!
    for (const m of o.replica.missingFor(r.replica.digest())) r.replica.apply(m)
    expect(r.registry.lookup('a1')?.host).toBe(owner.id)
    const next = o.replica.transact('reg', (doc) => doc.getMap('agents').set('a2', normaliseAgent({ capabilities: ['code'] }, Date.now(), DEFAULT_LIMITS)))!
    void blob
    // Forged: the owner's update re-signed with another key.
    const forgedSig = createSigner(forger.id, forger.key).sign(new Uint8Array(0))
    const forged = next.bytes.slice()
    forged.set(forgedSig, forged.length - 64)
    expect(r.replica.apply(forged)).toMatchObject({ status: 'rejected', reason: 'signature' })
    // Tampered: one byte of the signed part flipped.
    const tampered = next.bytes.slice()
    tampered[next.signed.length - 1]! ^= 1
    expect(r.replica.apply(tampered)).toMatchObject({ status: 'rejected' })
    expect(r.replica.stats.rejected.signature).toBe(2)
    expect(r.registry.lookup('a2')).toBeUndefined()
    expect(r.replica.apply(next.bytes)).toMatchObject({ status: 'applied' })
    expect(r.registry.lookup('a2')?.capabilities).toEqual(['code'])
  })
})
