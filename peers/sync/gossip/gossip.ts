import type { PeerId } from '@libp2p/interface'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { Message } from '@libp2p/gossipsub'
import { TypedEmitter } from '../../../src/base/events.js'
import type { Logger } from '../../../src/base/log.js'
import type { DocKind, SignedBlob } from '../../../crdt/codec.js'
import { QUOTA_REASONS } from '../../../crdt/replica.js'
import { DEFAULT_MESH } from '../constants.js'
import { crdtTopic } from './constants.js'
import type { Gossip, GossipComponents, GossipEvents, GossipInit, GossipStats } from './index.js'

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

  constructor (components: GossipComponents, init: GossipInit = {}) {
    super()
    this.pubsub = components.pubsub
    this.replica = components.replica
    this.membership = components.membership
    this.antiEntropy = components.antiEntropy
    this.log = components.logger
    this.topic = crdtTopic(init.mesh ?? DEFAULT_MESH)
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
    this.pubsub.subscribe(this.topic)
  }

  async stop (): Promise<void> {
    if (!this.running) return
    this.running = false
    this.pubsub.topicValidators.delete(this.topic)
    try { this.pubsub.unsubscribe(this.topic) } catch {}
  }

  publish (blob: SignedBlob): void {
    if (!this.running) return
    this.stats.gossipPublished++
    this.stats.gossipBytesPublished += blob.bytes.length
    this.pubsub.publish(this.topic, blob.bytes).catch((err: Error) => {
      this.stats.gossipPublishErrors++
      this.log.debug('gossip publish failed', { error: err.message })
    })
  }

  private onGossip (peer: PeerId, msg: Message): TopicValidatorResult {
    if (msg.type !== 'signed') { this.stats.gossipRejected++; return TopicValidatorResult.Reject }
    const from = msg.from.toString()
    this.stats.gossipBytesReceived += msg.data.length
    this.gossipSource = peer.toString()
    let r
    try {
      r = this.replica.apply(msg.data, from)
    } finally {
      this.gossipSource = undefined
    }
    switch (r.status) {
      case 'applied': this.stats.gossipApplied++; return TopicValidatorResult.Accept
      case 'pending': this.stats.gossipPending++; return TopicValidatorResult.Accept
      case 'duplicate': this.stats.gossipDuplicates++; return TopicValidatorResult.Ignore
      case 'rejected':
        if (r.reason === 'decode' || r.reason === 'signature' || r.reason === 'yjs') {
          this.stats.gossipRejected++
          this.log.warn('gossip update rejected', { from, via: peer.toString(), reason: r.reason, detail: r.detail })
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
