/**
 * Gossip (R5): every local update is published on `/agora/<mesh>/crdt/2` (gossipsub, StrictNoSign: the blob carries its host's signature).
 * Inbound messages are applied inside the topic validator, so a message is forwarded only if it verified
 * and applied (or is a new update waiting for a gap); bad ones (undecodable, bad signature, bad Yjs) are
 * rejected — gossipsub then lowers the relaying peer's score — counted, logged and reported as
 * `update:rejected`; updates over their host's quota are not forwarded, counted and reported (at most once a
 * second per host and reason), and those over its rate lower the score of a host that sends them to us
 * directly; others that cannot apply are ignored. A gap (an update whose predecessors are
 * missing, from gossip or sync) asks anti-entropy for an exchange with the peer that relayed the
 * message, else the document's host, else any member. When a first peer subscribes to the topic, this
 * peer publishes its own documents once (what it wrote before it had a gossip neighbour reached nobody):
 * every peer then receives a new host's documents by gossip, not by an exchange of its own. A host's own
 * publish of a blob a receiver already holds (its neighbours got it by the first exchange) is still
 * forwarded, within a per-host quota; a relay's duplicate is ignored.
 *
 * @example
 * ```ts
 * const gossip = createGossip({ pubsub: node.services.pubsub, replica, membership, antiEntropy, logger }, { mesh: 'agora' })
 * gossip.on('update:rejected', ({ from, reason }) => {})
 * await gossip.start()
 * gossip.publish(blob) // a SignedBlob from the replica
 * ```
 */
import type { GossipSub } from '@libp2p/gossipsub'
import type { TypedEmitter } from '../../../src/base/events.js'
import type { Logger } from '../../../src/base/log.js'
import type { Replica, RejectReason } from '../../../crdt/replica.js'
import type { SignedBlob } from '../../../crdt/codec.js'
import type { AntiEntropy } from '../anti-entropy/index.js'
import type { Membership } from '../membership/index.js'
import { GossipService } from './gossip.js'

export { ANNOUNCE_BLOBS_MAX, REPUBLISH_QUOTA_BURST, REPUBLISH_QUOTA_PER_SECOND, crdtTopic } from './constants.js'
export { GossipService } from './gossip.js'

export interface GossipStats {
  gossipPublished: number
  gossipPublishErrors: number
  gossipApplied: number
  gossipDuplicates: number
  gossipPending: number
  gossipRejected: number
  gossipIgnored: number
  /** Updates refused for their host's quota (`doc-quota`, `rate-quota`): not forwarded. */
  gossipOverQuota: number
  /** Payload bytes of updates this peer published / received (before gossipsub framing). */
  gossipBytesPublished: number
  gossipBytesReceived: number
}

export interface GossipEvents extends Record<string, unknown> {
  /** `host`: the document's host, when the blob decoded. Quota refusals: at most one event per host and reason a second. */
  'update:rejected': { from: string, via: 'gossip', reason: RejectReason, detail: string, host?: string }
}

export interface Gossip extends TypedEmitter<GossipEvents> {
  readonly stats: GossipStats
  /** Publishes a local update (called by the registry and the variables on every write); a no-op when stopped. */
  publish: (blob: SignedBlob) => void
  /** Validates and subscribes to the topic (idempotent). */
  start: () => Promise<void>
  /** Unsubscribes (idempotent). */
  stop: () => Promise<void>
}

export interface GossipInit {
  /** Mesh of the topic. Default 'agora'. */
  mesh?: string
  /** Hosts whose republish quota is remembered. Default: the registry limit's default. */
  hostsMax?: number
}

export interface GossipComponents {
  pubsub: Pick<GossipSub, 'topicValidators' | 'subscribe' | 'unsubscribe' | 'publish' | 'getSubscribers' | 'addEventListener' | 'removeEventListener'>
  /** Applies inbound updates; its `onGap` hook is chained at construction. Its own documents are announced once (`get`). */
  replica: Pick<Replica, 'apply' | 'authentic' | 'hooks' | 'shouldReport' | 'id' | 'get' | 'limits'>
  /** Where to pull from on a gap. */
  membership: Pick<Membership, 'isMember' | 'randomMember'>
  antiEntropy: Pick<AntiEntropy, 'requestSync'>
  logger: Logger
}

export function createGossip (components: GossipComponents, init: GossipInit = {}): Gossip {
  return new GossipService(components, init)
}
