import type { PeerId } from '@libp2p/interface'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { Message } from '@libp2p/gossipsub'
import { TypedEmitter } from '../../../src/base/events.js'
import type { Logger } from '../../../src/base/log.js'
import type { DocKind, SignedBlob } from '../../../crdt/codec.js'
import { QUOTA_REASONS } from '../../../crdt/replica.js'
import { DEFAULT_MESH } from '../constants.js'
import { KeyedTokenBuckets } from '../../../protocols/infrastructure/token-bucket.js'
import { DEFAULT_HOSTS_MAX } from '../liveness/constants.js'
import { ANNOUNCE_BLOBS_MAX, REPUBLISH_QUOTA_BURST, REPUBLISH_QUOTA_PER_SECOND, crdtTopic } from './constants.js'
import type { Gossip, GossipComponents, GossipEvents, GossipInit, GossipStats } from './index.js'

/** Gossipsub's `subscription-change` event: a peer's subscriptions changed. */
interface SubscriptionChange {
  peerId: PeerId
  subscriptions: Array<{ topic: string, subscribe: boolean }>
}

export class GossipService extends TypedEmitter<GossipEvents> implements Gossip {
  readonly stats: GossipStats = {
    gossipPublished: 0,
    gossipPublishErrors: 0,
    gossipApplied: 0,
    gossipDuplicates: 0,
    gossipPending: 0,
    gossipRejected: 0,
    gossipIgnored: 0,
    gossipOverQuota: 0,
    gossipBytesPublished: 0,
    gossipBytesReceived: 0
  }

  private readonly pubsub: GossipComponents['pubsub']
  private readonly replica: GossipComponents['replica']
  private readonly membership: GossipComponents['membership']
  private readonly antiEntropy: GossipComponents['antiEntropy']
  private readonly log: Logger
  private readonly topic: string
  private running = false
  /** The peer that relayed the message being applied, while it is. */
  private gossipSource: string | undefined
  private readonly gapWanted = new Set<string>()
  /** Per host: its own publishes of blobs already held that are forwarded nonetheless (bounded to `hostsMax` hosts). */
  private readonly republishQuota: KeyedTokenBuckets
  /** This peer's own documents were published once a first peer subscribed to the topic (see {@link announce}). */
  private announced = false
  private readonly onSubscriptionChange = (e: CustomEvent<SubscriptionChange>): void => {
    if (!this.running || this.announced) return
    if (e.detail.subscriptions.some(s => s.subscribe && s.topic === this.topic)) this.announce()
  }

  constructor (components: GossipComponents, init: GossipInit = {}) {
    super()
    this.pubsub = components.pubsub
    this.replica = components.replica
    this.membership = components.membership
    this.antiEntropy = components.antiEntropy
    this.log = components.logger
    this.topic = crdtTopic(init.mesh ?? DEFAULT_MESH)
    this.republishQuota = new KeyedTokenBuckets({ burst: REPUBLISH_QUOTA_BURST, ratePerSecond: REPUBLISH_QUOTA_PER_SECOND }, init.hostsMax ?? DEFAULT_HOSTS_MAX)
    const prevGap = this.replica.hooks.onGap
    this.replica.hooks.onGap = (kind, host) => {
      prevGap?.(kind, host)
      this.onGap(kind, host)
    }
  }

  async start (): Promise<void> {
    if (this.running) return
    this.running = true
    this.pubsub.topicValidators.set(this.topic, (peer, msg) => this.onGossip(peer, msg))
    this.pubsub.addEventListener('subscription-change', this.onSubscriptionChange)
    this.pubsub.subscribe(this.topic)
  }

  async stop (): Promise<void> {
    if (!this.running) return
    this.running = false
    this.pubsub.topicValidators.delete(this.topic)
    this.pubsub.removeEventListener('subscription-change', this.onSubscriptionChange)
    try { this.pubsub.unsubscribe(this.topic) } catch {}
  }

  /**
   * Publishes this peer's own documents (checkpoint and log) once, when a first peer subscribes to the
   * topic. What a peer writes before it has a gossip neighbour (a new peer's empty documents, written at
   * start) reaches nobody; without this, every other peer learns of the new host only from its
   * heartbeats, a heartbeat period later, and then each pulls it by an anti-entropy exchange of its own:
   * O(N) exchanges for every peer that joins. Blobs over `updateBytesMax` (the gossip message bound) stay
   * with anti-entropy, as does anything past {@link ANNOUNCE_BLOBS_MAX} per document.
   */
  private announce (): void {
    this.announced = true
    for (const kind of ['reg', 'var'] as const) {
      const d = this.replica.get(kind, this.replica.id)
      if (d === undefined) continue
      const blobs = d.missingFor(undefined, 0, 0).slice(0, ANNOUNCE_BLOBS_MAX)
      for (const b of blobs) {
        // In order: a receiver needs each blob's predecessors; one too large for gossip ends the run.
        if (b.bytes.length > this.replica.limits.updateBytesMax) break
        this.publish(b)
      }
    }
  }

  publish (blob: SignedBlob): void {
    if (!this.running) return
    // With nobody on the topic, nothing is sent, and gossipsub would still mark the blob's message id
    // (its hash: peers/node.ts) seen, refusing the same bytes for seenTTL: the announce, when a first peer
    // subscribes, would then send nothing. Such blobs wait for that announce (or anti-entropy).
    if (this.pubsub.getSubscribers(this.topic).length === 0) return
    this.stats.gossipPublished++
    this.stats.gossipBytesPublished += blob.bytes.length
    this.pubsub.publish(this.topic, blob.bytes).catch((err: Error) => {
      this.stats.gossipPublishErrors++
      this.log.debug('gossip publish failed', { error: err.message })
    })
  }

  /**
   * Gossipsub signs nothing (StrictNoSign, peers/node.ts): the message is the blob, whose host's signature
   * the replica verifies; `peer` is who sent it to us (the authenticated connection), never its author.
   */
  private onGossip (peer: PeerId, msg: Message): TopicValidatorResult {
    const from = peer.toString()
    this.stats.gossipBytesReceived += msg.data.length
    this.gossipSource = from
    let r
    try {
      r = this.replica.apply(msg.data)
    } finally {
      this.gossipSource = undefined
    }
    switch (r.status) {
      case 'applied': this.stats.gossipApplied++; return TopicValidatorResult.Accept
      case 'pending': this.stats.gossipPending++; return TopicValidatorResult.Accept
      case 'duplicate':
        this.stats.gossipDuplicates++
        // A blob we already hold but had not seen by gossip (the message id is the blob's hash, so this is
        // the first copy gossip brought: ours came by an exchange, e.g. the host's announce after our
        // exchange with it) is still forwarded: peers further on may lack it (gossipsub forwards a message
        // once). Within the host's republish quota: a replay of old blobs after gossipsub's seenTTL costs
        // at most that quota. The replica answered from the header alone: the bytes are checked to be the
        // host's, signed, before they are forwarded or spend its quota (a forged copy is another message id).
        if (r.host === undefined || this.republishQuota.available(r.host, Date.now()) < 1) return TopicValidatorResult.Ignore
        if (!this.replica.authentic(msg.data)) {
          this.stats.gossipRejected++
          this.log.warn('gossip update rejected', { from, reason: 'signature', detail: `forged copy of a blob of ${r.host} already held` })
          this.emit('update:rejected', { from, via: 'gossip', reason: 'signature', detail: 'forged copy of a blob already held', host: r.host })
          return TopicValidatorResult.Reject
        }
        this.republishQuota.take(r.host, Date.now())
        return TopicValidatorResult.Accept
      case 'rejected':
        if (r.reason === 'decode' || r.reason === 'signature' || r.reason === 'yjs') {
          this.stats.gossipRejected++
          this.log.warn('gossip update rejected', { from, reason: r.reason, detail: r.detail })
          this.emit('update:rejected', { from, via: 'gossip', reason: r.reason, detail: r.detail, ...(r.host !== undefined ? { host: r.host } : {}) })
          return TopicValidatorResult.Reject
        }
        if (QUOTA_REASONS.has(r.reason) && r.host !== undefined) {
          this.stats.gossipOverQuota++
          if (this.replica.shouldReport(r.host, r.reason)) {
            this.log.warn('gossip update over the host\'s quota', { host: r.host, via: peer.toString(), reason: r.reason, detail: r.detail })
            this.emit('update:rejected', { from, via: 'gossip', reason: r.reason, detail: r.detail, host: r.host })
          }
          // A host flooding us directly past its rate loses gossipsub score; a relay that forwarded its
          // updates (within its own quota) does not, nor does a host whose document merely reached our
          // docBytesMax (it may be our configuration that is smaller).
          return r.reason === 'rate-quota' && peer.toString() === r.host ? TopicValidatorResult.Reject : TopicValidatorResult.Ignore
        }
        this.stats.gossipIgnored++
        return TopicValidatorResult.Ignore
    }
  }

  private onGap (kind: DocKind, host: string): void {
    // Pull from whoever relayed the message that showed the gap, else from the host itself or anyone.
    const key = kind + '/' + host
    if (this.gapWanted.has(key)) return
    this.gapWanted.add(key)
    const target = (this.gossipSource !== undefined && this.membership.isMember(this.gossipSource))
      ? this.gossipSource
      : this.membership.isMember(host) ? host : this.membership.randomMember()
    queueMicrotask(() => {
      this.gapWanted.delete(key)
      if (target !== undefined) this.antiEntropy.requestSync(target)
    })
  }
}
