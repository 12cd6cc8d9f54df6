/**
 * The gossip service's announce and its duplicates (issue 17, formation): a peer publishes its own
 * documents once a first peer subscribes to the crdt topic; a host's own publish of a blob the receiver
 * already holds is forwarded (Accept) within the host's republish quota, a relay's never is.
 */
import { describe, expect, it } from 'vitest'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { Message } from '@libp2p/gossipsub'
import type { PeerId } from '@libp2p/interface'
import { createGossip, crdtTopic, REPUBLISH_QUOTA_BURST } from '../../peers/sync/gossip/index.js'
import type { GossipComponents } from '../../peers/sync/gossip/index.js'
import { createLogger } from '../../src/base/log.js'
import { TestKeys, makeNode, pull } from '../crdt/helpers.js'
import type { TestNode } from '../crdt/helpers.js'

const topic = crdtTopic('agora')

/** A gossipsub stand-in: the validators, what was published, and `subscription-change` events. */
class FakePubsub extends EventTarget {
  readonly topicValidators = new Map<string, (peer: PeerId, msg: Message) => TopicValidatorResult>()
  readonly published: Array<{ topic: string, data: Uint8Array }> = []
  readonly subscribers = new Set<string>()
  subscribe (): void {}
  unsubscribe (): void {}
  getSubscribers (): PeerId[] { return [...this.subscribers].map(id) }
  async publish (t: string, data: Uint8Array): Promise<{ recipients: PeerId[] }> {
    this.published.push({ topic: t, data })
    return { recipients: [] }
  }

  subscribed (peer: string, t: string): void {
    if (t === topic) this.subscribers.add(peer)
    this.dispatchEvent(new CustomEvent('subscription-change', { detail: { peerId: id(peer), subscriptions: [{ topic: t, subscribe: true }] } }))
  }

  /** Runs the topic's validator on a message (gossipsub signs nothing: StrictNoSign) sent to us by `via`. */
  deliver (via: string, data: Uint8Array): TopicValidatorResult {
    return this.topicValidators.get(topic)!(id(via), { type: 'unsigned', data, topic })
  }
}

const id = (s: string): PeerId => ({ toString: () => s }) as unknown as PeerId

async function gossipOf (node: TestNode): Promise<{ pubsub: FakePubsub, gossip: ReturnType<typeof createGossip> }> {
  const pubsub = new FakePubsub()
  const gossip = createGossip({
    pubsub: pubsub as unknown as GossipComponents['pubsub'],
    replica: node.replica,
    membership: { isMember: () => false, randomMember: () => undefined },
    antiEntropy: { requestSync: () => {} },
    logger: createLogger('silent', 'gossip-test')
  })
  await gossip.start()
  return { pubsub, gossip }
}

/** B holds A's registry (by an exchange) and runs gossip; `blob`: A's first blob, which B holds. */
async function heldByB (): Promise<{ b: TestNode, blob: Uint8Array, pubsub: FakePubsub, gossip: ReturnType<typeof createGossip> }> {
  const keys = new TestKeys()
  const a = makeNode(keys, 'A')
  const b = makeNode(keys, 'B')
  await a.registry.register({ id: 'x', capabilities: ['gpu'] })
  pull(b, a)
  const blob = a.replica.get('reg', 'A')!.missingFor(undefined, 0, 0)[0]!.bytes
  return { b, blob, ...await gossipOf(b) }
}

describe('gossip: announcing own documents', () => {
  it('publishes its own documents once, when a first peer subscribes to the crdt topic', async () => {
    const keys = new TestKeys()
    const a = makeNode(keys, 'A')
    await a.registry.register({ id: 'x', capabilities: ['gpu'] })
    const { pubsub, gossip } = await gossipOf(a)
    try {
      pubsub.subscribed('B', '/agora/agora/heartbeat/1')
      expect(pubsub.published).toHaveLength(0)
      pubsub.subscribed('B', topic)
      // reg: its checkpoint and the update of 'x'; var: its checkpoint.
      expect(pubsub.published.map(p => p.topic)).toEqual([topic, topic, topic])
      const b = makeNode(keys, 'B')
      for (const p of pubsub.published) expect(b.replica.apply(p.data, 'A').status).toBe('applied')
      expect(b.registry.lookup('x')?.host).toBe('A')
      pubsub.subscribed('C', topic)
      expect(pubsub.published).toHaveLength(3)
    } finally {
      await gossip.stop()
    }
  })

  it('sends nothing while nobody is on the topic (gossipsub would mark the bytes seen), then announces it', async () => {
    const keys = new TestKeys()
    const a = makeNode(keys, 'A')
    const { pubsub, gossip } = await gossipOf(a)
    try {
      const blob = a.replica.transact('reg', (doc) => { doc.getMap('agents').set('early', { capabilities: ['x'] }) })!
      gossip.publish(blob)
      expect(pubsub.published).toHaveLength(0)
      expect(gossip.stats.gossipPublished).toBe(0)
      pubsub.subscribed('B', topic)
      expect(pubsub.published.some(p => Buffer.from(p.data).equals(Buffer.from(blob.bytes)))).toBe(true)
    } finally {
      await gossip.stop()
    }
  })

  it('forwards the first gossip copy of a blob already held, from the host or a relay, within the host\'s republish quota', async () => {
    const { b, blob, pubsub, gossip } = await heldByB()
    try {
      // Gossipsub passes each message id (the blob's hash) once: a copy reaching the validator is the first
      // gossip brought, whoever sent it. Forwarded within A's republish quota (relays and A alike)...
      for (let i = 0; i < REPUBLISH_QUOTA_BURST; i++) expect(pubsub.deliver(i % 2 === 0 ? 'C' : 'A', blob)).toBe(TopicValidatorResult.Accept)
      // ...past it: ignored (a replay of old blobs after gossipsub's seenTTL costs at most the quota).
      expect(pubsub.deliver('C', blob)).toBe(TopicValidatorResult.Ignore)
      expect(pubsub.deliver('A', blob)).toBe(TopicValidatorResult.Ignore)
      expect(gossip.stats.gossipDuplicates).toBe(REPUBLISH_QUOTA_BURST + 2)
      expect(b.registry.lookup('x')?.host).toBe('A')
    } finally {
      await gossip.stop()
    }
  })

  it('rejects a forged copy of a blob already held (its signature is checked): never forwarded, never spends the host\'s quota (found by review)', async () => {
    const { blob, pubsub, gossip } = await heldByB()
    try {
      // A hostile relay C sends A's header (kind, host, incarnation, a seq B holds) with bytes A never signed:
      // each variant is another message id, so gossipsub hands every one to the validator.
      for (let i = 0; i < REPUBLISH_QUOTA_BURST + 2; i++) {
        const forged = blob.slice()
        forged[forged.length - 1 - (i % 32)]! ^= 1 + (i % 255)
        expect(pubsub.deliver('C', forged)).toBe(TopicValidatorResult.Reject)
      }
      expect(gossip.stats.gossipRejected).toBe(REPUBLISH_QUOTA_BURST + 2)
      // A's quota is untouched: its genuine blob, by gossip, is still forwarded.
      expect(pubsub.deliver('A', blob)).toBe(TopicValidatorResult.Accept)
    } finally {
      await gossip.stop()
    }
  })
})
