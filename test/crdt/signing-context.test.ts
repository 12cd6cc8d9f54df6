/**
 * A large blob's signature is verified in place when the receiver laid it out right after a copy of the
 * signing context (anti-entropy's assembler does, issue 17: no 16 MB copy per late joiner's checkpoint),
 * and over a copy otherwise: the same verdict either way.
 */
import { describe, expect, it } from 'vitest'
import { encodeDigest } from '../../crdt/codec.js'
import { CONTEXT_SCRATCH_BYTES } from '../../crdt/replica.js'
import { contextBefore, signingContext, withContext } from '../../crdt/signing.js'
import { TestKeys, makeNode } from './helpers.js'

function after (prefix: Uint8Array, bytes: Uint8Array): Uint8Array {
  const buf = new Uint8Array(prefix.length + bytes.length)
  buf.set(prefix, 0)
  buf.set(bytes, prefix.length)
  return buf.subarray(prefix.length)
}

describe('signature context laid out before a blob', () => {
  it('contextBefore gives exactly withContext when the context precedes the data, and nothing otherwise', () => {
    const ctx = signingContext('test')
    const data = new Uint8Array([1, 2, 3, 4, 5])
    expect(contextBefore(ctx, after(ctx, data))).toEqual(withContext(ctx, data))
    expect(contextBefore(ctx, data)).toBeUndefined()
    const wrong = ctx.slice()
    wrong[wrong.length - 2] ^= 1
    expect(contextBefore(ctx, after(wrong, data))).toBeUndefined()
    expect(contextBefore(ctx, after(signingContext('other'), data))).toBeUndefined()
  })

  it('a replica verifies a large checkpoint in place or over a copy alike, and refuses a forged one either way', async () => {
    const keys = new TestKeys()
    const owner = makeNode(keys, 'owner')
    await owner.registry.registerMany(Array.from({ length: 400 }, (_, i) => ({ id: `agent-${i}`, capabilities: ['chat'], metadata: { n: i } })))
    owner.replica.compact('reg')
    const blobs = owner.replica.missingFor(encodeDigest([]))
    const big = blobs.find(b => b.length > CONTEXT_SCRATCH_BYTES)!
    expect(big).toBeDefined()
    const ctx = signingContext('test')
    const layouts = { 'in place': after(ctx, big), 'after another mesh\'s context': after(signingContext('other'), big), alone: big.slice() }
    const verify = keys.verifier
    const seen: ArrayBufferLike[] = []
    keys.verifier = (host, data, sig) => { seen.push(data.buffer); return verify(host, data, sig) }
    for (const [what, bytes] of Object.entries(layouts)) {
      const joiner = makeNode(keys, 'joiner')
      seen.length = 0
      expect(joiner.replica.apply(bytes).status, what).toBe('applied')
      // In place: the verifier read the blob's own buffer (no copy); otherwise a copy with the context.
      expect(seen.length, what).toBe(1)
      expect(seen[0] === bytes.buffer, what).toBe(what === 'in place')
      expect(joiner.registry.size, what).toBe(400)
      // One byte of the payload changed: the signature no longer holds, wherever the bytes lie.
      const forged = makeNode(keys, 'joiner-2')
      const bad = bytes.slice()
      bad[200] ^= 1
      const laid = what === 'in place' ? after(ctx, bad) : bad
      const r = forged.replica.apply(laid)
      expect(r.status, what).toBe('rejected')
      expect(forged.registry.size, what).toBe(0)
    }
  })
})
