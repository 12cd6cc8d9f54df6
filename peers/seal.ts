/**
 * Application signatures of gossip messages that carry no signed document (heartbeats, probe notices,
 * reachability views, agent group messages). Gossipsub runs with StrictNoSign (peers/node.ts): it signs
 * and verifies nothing, so each such message is sealed here by its author and opened (verified) by every
 * receiver in its topic validator before it is accepted or forwarded. Document updates on the crdt topic
 * are not sealed: the host's signature inside each blob (crdt/codec.ts) already authenticates them.
 *
 * Wire format (PROTOCOL.md, "Sealed gossip messages"):
 *
 *   version u8 (1) | author length u8 | author (UTF-8 peer id) | seqno u64 BE | payload | signature (64)
 *
 * The Ed25519 signature is the author's, over `agora-gossip/2\0<topic>\0` followed by every byte before
 * the signature: a message is bound to its topic (and so its mesh), and no byte of it can change. The
 * seqno makes every publish distinct (gossipsub's message id hashes the whole message, peers/node.ts);
 * it is not checked for order (each topic's own filter rejects replays: heartbeats and views by their
 * timestamps).
 *
 * @example
 * const seal = new GossipSeal(signer, verifier)
 * pubsub.publish(topic, seal.seal(topic, payload))
 * const m = seal.open(topic, msg.data) // { from, payload } or { error, detail }
 */
import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { GossipSub, PublishResult } from '@libp2p/gossipsub'
import type { PeerId } from '@libp2p/interface'
import type { Signer, Verifier } from '../crdt/signing.js'
import type { Logger } from '../src/base/log.js'

export const SEAL_VERSION = 1
/** Longest author accepted: an Ed25519 peer id is 52 characters; any other key type is refused anyway. */
export const SEAL_AUTHOR_BYTES_MAX = 64
const SIGNATURE_BYTES = 64
const SEQNO_BYTES = 8

export interface SealStats {
  /** Messages sealed (signed) by this peer. */
  sealed: number
  /** Messages opened with a valid signature. */
  opened: number
  /** Messages refused: not a sealed message (too short, unknown version, bad author). */
  sealRejectedDecode: number
  /** Messages refused: the signature is not the named author's over these bytes on this topic. */
  sealRejectedSignature: number
}

export type Opened = { from: string, payload: Uint8Array } | { error: 'decode' | 'signature', detail: string }

const enc = new TextEncoder()
const dec = new TextDecoder('utf-8', { fatal: true })

export class GossipSeal {
  readonly stats: SealStats = { sealed: 0, opened: 0, sealRejectedDecode: 0, sealRejectedSignature: 0 }
  private readonly author: Uint8Array
  /** Next seqno: starts at the clock (in µs) so a restarted peer's seqnos do not repeat its earlier ones. */
  private seqno = Date.now() * 1000

  constructor (private readonly signer: Signer, private readonly verify: Verifier) {
    this.author = enc.encode(signer.id)
    if (this.author.length > SEAL_AUTHOR_BYTES_MAX) throw new RangeError(`author id of ${this.author.length} bytes is longer than ${SEAL_AUTHOR_BYTES_MAX}`)
  }

  /** `payload` sealed by this peer for `topic`. */
  seal (topic: string, payload: Uint8Array): Uint8Array {
    const ctx = this.context(topic)
    const head = 2 + this.author.length
    const bodyLength = head + SEQNO_BYTES + payload.length
    const signed = new Uint8Array(ctx.length + bodyLength)
    signed.set(ctx, 0)
    const body = signed.subarray(ctx.length)
    body[0] = SEAL_VERSION
    body[1] = this.author.length
    body.set(this.author, 2)
    const seq = this.seqno++
    const view = new DataView(body.buffer, body.byteOffset + head, SEQNO_BYTES)
    view.setUint32(0, Math.floor(seq / 2 ** 32))
    view.setUint32(4, seq >>> 0)
    body.set(payload, head + SEQNO_BYTES)
    const signature = this.signer.sign(signed)
    const out = new Uint8Array(bodyLength + SIGNATURE_BYTES)
    out.set(body, 0)
    out.set(signature, bodyLength)
    this.stats.sealed++
    return out
  }

  /** The author and payload of a sealed message of `topic`, or why it is refused (counted in `stats`). */
  open (topic: string, data: Uint8Array): Opened {
    if (data.length < 2 + SEQNO_BYTES + SIGNATURE_BYTES || data[0] !== SEAL_VERSION) return this.refuse('decode', `not a sealed message (${data.length} bytes, version ${data[0] ?? 'none'})`)
    const authorLength = data[1]!
    const head = 2 + authorLength
    if (authorLength === 0 || authorLength > SEAL_AUTHOR_BYTES_MAX || data.length < head + SEQNO_BYTES + SIGNATURE_BYTES) return this.refuse('decode', `bad author length ${authorLength}`)
    let from: string
    try {
      from = dec.decode(data.subarray(2, head))
    } catch {
      return this.refuse('decode', 'author is not UTF-8')
    }
    const bodyLength = data.length - SIGNATURE_BYTES
    const ctx = this.context(topic)
    const signed = new Uint8Array(ctx.length + bodyLength)
    signed.set(ctx, 0)
    signed.set(data.subarray(0, bodyLength), ctx.length)
    if (!this.verify(from, signed, data.subarray(bodyLength))) return this.refuse('signature', `bad signature of ${from.slice(0, SEAL_AUTHOR_BYTES_MAX)}`)
    this.stats.opened++
    return { from, payload: data.subarray(head + SEQNO_BYTES, bodyLength) }
  }

  /** The signing context of `topic` (encoded per call: group topics come and go, nothing to bound). */
  private context (topic: string): Uint8Array {
    return enc.encode(`agora-gossip/2\0${topic}\0`)
  }

  private refuse (error: 'decode' | 'signature', detail: string): Opened {
    if (error === 'decode') this.stats.sealRejectedDecode++
    else this.stats.sealRejectedSignature++
    return { error, detail }
  }
}

/** A gossip message whose seal was opened: its authenticated author and its payload. */
export interface SealedMessage {
  topic: string
  /** The author (peer id), whose signature was verified. */
  from: string
  /** What the author published (the seal removed). */
  data: Uint8Array
}

/** A topic validator of sealed messages; `source` is the peer that sent it to us (the authenticated connection). */
export type SealedValidator = (source: PeerId, msg: SealedMessage) => TopicValidatorResult

/**
 * The part of gossipsub the services of sealed topics use: what they publish is sealed, what they
 * validate was opened first; a message whose seal does not open is rejected (gossipsub then lowers the
 * sender's score), counted in `seal.stats` and logged, and never reaches the service's validator.
 */
export interface SealedPubsub {
  readonly seal: GossipSeal
  readonly topicValidators: { set: (topic: string, validator: SealedValidator) => void, delete: (topic: string) => void }
  subscribe: (topic: string) => void
  unsubscribe: (topic: string) => void
  publish: (topic: string, data: Uint8Array) => Promise<PublishResult>
  getSubscribers: (topic: string) => PeerId[]
}

type RawPubsub = Pick<GossipSub, 'topicValidators' | 'subscribe' | 'unsubscribe' | 'publish' | 'getSubscribers'>

export function sealedPubsub (pubsub: RawPubsub, seal: GossipSeal, log: Logger): SealedPubsub {
  return {
    seal,
    topicValidators: {
      set: (topic, validator) => {
        pubsub.topicValidators.set(topic, (source, msg) => {
          const o = seal.open(topic, msg.data)
          if ('error' in o) {
            log.debug('gossip message refused', { topic, via: source.toString(), reason: o.error, detail: o.detail })
            return TopicValidatorResult.Reject
          }
          return validator(source, { topic, from: o.from, data: o.payload })
        })
      },
      delete: (topic) => { pubsub.topicValidators.delete(topic) }
    },
    subscribe: (topic) => { pubsub.subscribe(topic) },
    unsubscribe: (topic) => { pubsub.unsubscribe(topic) },
    publish: async (topic, data) => await pubsub.publish(topic, seal.seal(topic, data)),
    getSubscribers: (topic) => pubsub.getSubscribers(topic)
  }
}
