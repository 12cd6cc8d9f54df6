/**
 * The gossip seal (peers/seal.ts): what one peer seals, another opens with the author named; any changed
 * byte, another topic, another signer under the author's name or garbage is refused and counted; and the
 * gossipsub message id (peers/node.ts) tells a forged copy from the valid message.
 */
import { describe, expect, it } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { GossipSeal, SEAL_VERSION } from '../../peers/seal.js'
import { createSigner, createVerifier } from '../../peers/keys.js'
import { gossipMsgId } from '../../peers/node.js'

async function identity (): Promise<{ id: string, seal: GossipSeal, sign: (d: Uint8Array) => Uint8Array }> {
  const key = await generateKeyPair('Ed25519')
  const id = peerIdFromPrivateKey(key).toString()
  const signer = createSigner(id, key)
  return { id, seal: new GossipSeal(signer, createVerifier()), sign: signer.sign }
}

const topic = '/agora/test/heartbeat/2'
const payload = new TextEncoder().encode('a heartbeat')

describe('gossip seal', () => {
  it('opens what the author sealed, naming the author; every publish is distinct', async () => {
    const a = await identity()
    const b = await identity()
    const m1 = a.seal.seal(topic, payload)
    const m2 = a.seal.seal(topic, payload)
    expect(m1[0]).toBe(SEAL_VERSION)
    expect(Buffer.from(m1).equals(Buffer.from(m2))).toBe(false)
    const o = b.seal.open(topic, m1)
    expect(o).toEqual({ from: a.id, payload })
    expect(b.seal.stats).toEqual({ sealed: 0, opened: 1, sealRejectedDecode: 0, sealRejectedSignature: 0 })
    expect(a.seal.stats.sealed).toBe(2)
  })

  it('refuses and counts a changed byte anywhere, another topic, and another signer under the author\'s name', async () => {
    const a = await identity()
    const b = await identity()
    const evil = await identity()
    const m = a.seal.seal(topic, payload)
    for (let i = 2; i < m.length; i++) {
      const t = m.slice()
      t[i]! ^= 0x01
      const o = b.seal.open(topic, t)
      expect('error' in o, `byte ${i}`).toBe(true)
    }
    expect(b.seal.open('/agora/test/view/2', m)).toMatchObject({ error: 'signature' })
    // The evil peer's key, the author's name.
    const forger = new GossipSeal({ id: a.id, sign: evil.sign }, createVerifier())
    expect(b.seal.open(topic, forger.seal(topic, payload))).toMatchObject({ error: 'signature' })
    expect(b.seal.stats.opened).toBe(0)
    expect(b.seal.stats.sealRejectedSignature + b.seal.stats.sealRejectedDecode).toBe(m.length - 2 + 2)
    expect(b.seal.stats.sealRejectedSignature).toBeGreaterThan(0)
  })

  it('refuses garbage as decode errors', async () => {
    const b = await identity()
    const bad = [new Uint8Array(0), new Uint8Array(80), Uint8Array.of(2, ...new Uint8Array(100)), Uint8Array.of(1, 0, ...new Uint8Array(100)), Uint8Array.of(1, 65, ...new Uint8Array(200)), Uint8Array.of(1, 60, ...new Uint8Array(100))]
    for (const g of bad) expect(b.seal.open(topic, g)).toMatchObject({ error: 'decode' })
    // An author that is not UTF-8.
    const notUtf8 = new Uint8Array(2 + 2 + 8 + 64)
    notUtf8.set([1, 2, 0xff, 0xfe])
    expect(b.seal.open(topic, notUtf8)).toMatchObject({ error: 'decode' })
    expect(b.seal.stats.sealRejectedDecode).toBe(bad.length + 1)
  })

  it('message ids: a changed byte or another topic gives another id; the same bytes on the same topic the same id', async () => {
    const a = await identity()
    const m = a.seal.seal(topic, payload)
    const id = Buffer.from(gossipMsgId({ topic, data: m })).toString('hex')
    expect(Buffer.from(gossipMsgId({ topic, data: m.slice() })).toString('hex')).toBe(id)
    const t = m.slice()
    t[t.length - 1]! ^= 0x80
    expect(Buffer.from(gossipMsgId({ topic, data: t })).toString('hex')).not.toBe(id)
    expect(Buffer.from(gossipMsgId({ topic: '/agora/test/view/2', data: m })).toString('hex')).not.toBe(id)
    // The topic and the data are separated: moving a byte between them changes the id.
    expect(Buffer.from(gossipMsgId({ topic: 'ab', data: Uint8Array.of(0x63) })).toString('hex')).not.toBe(Buffer.from(gossipMsgId({ topic: 'a', data: Uint8Array.of(0x62, 0x63) })).toString('hex'))
  })
})
