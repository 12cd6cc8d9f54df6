/**
 * Gossip without gossipsub signatures (StrictNoSign, gossip protocol version 2), over TCP: every message
 * is authenticated by the application (a blob's host signature, a sealed message's author signature,
 * peers/seal.ts). A forged or tampered message is rejected and counted at each receiver and never hides
 * the valid message (gossipsub's message id hashes topic and bytes, peers/node.ts); the peers converge.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createLiveMesh } from '../../sim/live.js'
import type { LiveMesh } from '../../sim/live.js'
import type { Peer } from '../../peers/peer.js'
import { GossipSeal } from '../../peers/seal.js'
import { createSigner, createVerifier } from '../../peers/keys.js'
import { groupTopic } from '../../peers/agents/service.js'
import { meshProtocols } from '../../peers/node.js'
import type { GroupMessage } from '../../peers/agents/types.js'
import { waitUntil } from '../helpers/wait.js'

let mesh: LiveMesh | undefined

afterEach(async () => {
  await mesh?.stop()
  mesh = undefined
})

const enc = new TextEncoder()
const rejectedSignatures = (p: Peer): number => p.sealed.seal.stats.sealRejectedSignature

describe('gossip signed by the application only (TCP)', () => {
  it('forged and tampered messages are rejected and counted, never hide the valid one; the peers converge', async () => {
    mesh = await createLiveMesh({ peers: 3, transport: 'tcp', heartbeatIntervalMs: 500, logLevel: 'silent', dht: false })
    const m = mesh
    await m.whenSynced({ timeoutMs: 60_000 })
    const [a, b, evil] = m.peers as [Peer, Peer, Peer]
    const topics = meshProtocols('agora')
    const group = groupTopic('agora', 'nosign')
    const got: GroupMessage[] = []
    const offs = m.peers.map(p => p.agents.subscribe('nosign', (msg) => { if (p === b) got.push(msg) }))
    try {
      await waitUntil(() => m.peers.every(p => m.peers.every(q => p === q || p.agents.subscribers('nosign').includes(q.id))), { what: 'every peer subscribed to the group', timeoutMs: 30_000 })

      // 1. A message signed by the evil peer under a's name: refused by a and b, delivered to nobody.
      const forger = new GossipSeal({ id: a.id, sign: createSigner(evil.id, await generateKeyPair('Ed25519')).sign }, createVerifier())
      const before = { a: rejectedSignatures(a), b: rejectedSignatures(b) }
      await evil.libp2p.services.pubsub.publish(group, forger.seal(group, enc.encode(JSON.stringify({ body: 'forged' }))))
      await waitUntil(() => rejectedSignatures(a) > before.a && rejectedSignatures(b) > before.b, { what: 'the forgery refused by a and b', timeoutMs: 20_000 })

      // 2. A genuine message of a, sealed but not yet sent. The evil peer sends it first tampered (one bit
      // of its payload) on the group topic, then untouched on the heartbeat topic: both refused.
      const genuine = a.sealed.seal.seal(group, enc.encode(JSON.stringify({ body: 'genuine' })))
      const tampered = genuine.slice()
      tampered[genuine.length - 70]! ^= 0x01
      const mid = { b: rejectedSignatures(b) }
      await evil.libp2p.services.pubsub.publish(group, tampered)
      await evil.libp2p.services.pubsub.publish(topics.heartbeatTopic, genuine)
      await waitUntil(() => rejectedSignatures(b) >= mid.b + 2, { what: 'the tampered copy and the copy on the wrong topic refused', timeoutMs: 20_000 })
      expect(got).toEqual([])
      // Then a sends the genuine bytes: neither copy marked them seen, b delivers them, from a.
      await a.libp2p.services.pubsub.publish(group, genuine)
      await waitUntil(() => got.length === 1, { what: 'the genuine message delivered', timeoutMs: 20_000 })
      expect(got[0]).toEqual({ topic: 'nosign', message: 'genuine', from: { host: a.id } })

      // 3. A new document update of a (made, not published) with one byte changed: its host signature
      // fails, refused and counted (an update b already holds would be a duplicate, refused before).
      await a.registry.register({ id: 'nosign-a', capabilities: ['x'] })
      await m.waitFor(p => p.registry.lookup('nosign-a') !== undefined, { what: 'a\'s agent everywhere', timeoutMs: 30_000 })
      const fresh = a.replica.transact('var', (doc) => { doc.getMap('nosign').set('k', 1) })!
      const tamperedBlob = fresh.bytes.slice()
      tamperedBlob[tamperedBlob.length - 1]! ^= 0x01
      const gossipRejected = b.stats().sync.gossipRejected
      const signatures = b.stats().replica.rejected.signature
      await evil.libp2p.services.pubsub.publish(topics.crdtTopic, tamperedBlob)
      await waitUntil(() => b.stats().sync.gossipRejected > gossipRejected, { what: 'the tampered update refused', timeoutMs: 20_000 })
      expect(b.stats().replica.rejected.signature).toBeGreaterThan(signatures)

      // 4. The mesh still converges: writes of a and b reach each other (and every peer holds every host).
      await a.registry.update('nosign-a', { health: 'degraded' })
      await b.registry.register({ id: 'nosign-b', capabilities: ['y'] })
      await m.waitFor(p => p.registry.lookup('nosign-a')?.health === 'degraded' && p.registry.lookup('nosign-b') !== undefined, { what: 'both writes everywhere', timeoutMs: 30_000 })
      await m.waitFor(p => p.replica.countDocs('reg') === 3 && p.replica.countDocs('var') === 3, { what: 'every peer holding every host', timeoutMs: 30_000 })
      // Every peer holds the others alive (heartbeats and probes, both authenticated).
      await m.waitFor(p => m.peers.every(q => q === p || p.registry.leases.get(q.id)?.status === 'alive'), { what: 'every host alive everywhere', timeoutMs: 30_000 })
      // b opened a's genuine message (at least).
      expect(b.sealed.seal.stats.opened).toBeGreaterThan(0)
    } finally {
      for (const off of offs) off()
    }
  }, 180_000)
})
