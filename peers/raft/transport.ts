/**
 * Raft messages between peers over a libp2p stream protocol `/agora/<mesh>/raft/1.0.0`: one long-lived
 * outbound stream per destination, carrying length-prefixed messages encoded by protocols/raft/wire.ts.
 *
 * Raft tolerates lost messages, so the transport never blocks the core: each destination has a bounded
 * queue (`queueMessagesMax`); beyond it messages are dropped and counted. A failed stream is dropped and
 * reopened on the next send; the driver is told (`onUnreachable`) so the core can probe again.
 *
 * Raft node ids are derived from peer ids ({@link raftIdOf}); an inbound message whose `from` is not the
 * id of the stream's authenticated peer is dropped and counted (no peer can speak for another).
 */
import { createHash } from 'node:crypto'
import { encodeFrames, readFrames } from './frames.js'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Connection, Stream } from '@libp2p/interface'
import type { Logger } from '../../src/base/log.js'
import { DEFAULT_WIRE_LIMITS, decodeMessage, encodeMessage } from '../../protocols/raft/wire.js'
import type { WireLimits } from '../../protocols/raft/wire.js'
import type { Message, NodeId } from '../../protocols/raft/types.js'
import type { AgoraLibp2p } from '../node.js'
import { raftTrace } from '../../protocols/raft/trace.js'

/** Max bytes of one framed Raft message (a snapshot travels in one message). */
export const RAFT_MESSAGE_BYTES_MAX = 256 * 1024 * 1024 + 64 * 1024
/** Default bound of each destination's outbound queue. */
export const RAFT_QUEUE_MESSAGES_MAX = 4096
/** A destination whose stream accepts no more bytes for this long is dropped (and reported unreachable). */
export const RAFT_DRAIN_TIMEOUT_MS = 10_000
/** Bytes queued for one destination at most (beyond it messages are dropped, as when the queue is full). */
export const RAFT_QUEUE_BYTES_MAX = 64 * 1024 * 1024

/** The Raft node id of a peer: 1 + the first 48 bits of sha256(peer id). */
export function raftIdOf (peerId: string): NodeId {
  const h = createHash('sha256').update(peerId).digest()
  return 1 + h.readUIntBE(0, 6)
}

export function raftProtocol (mesh: string): string {
  return `/agora/${mesh}/raft/1.0.0`
}

export interface RaftTransportStats {
  sent: number
  received: number
  droppedQueueFull: number
  droppedUnknownPeer: number
  droppedSpoofed: number
  droppedMalformed: number
  /** From a peer outside the group's membership. */
  droppedNonMember: number
  streamFailures: number
  /** Peer ids whose Raft id was already taken by another peer. */
  idCollisions: number
}

export interface RaftTransportInit {
  node: AgoraLibp2p
  mesh: string
  log: Logger
  /** Delivers a decoded inbound message to the driver. */
  onMessage: (m: Message) => void
  /** A destination could not be reached (its queue was dropped). */
  onUnreachable?: (id: NodeId) => void
  queueMessagesMax?: number
  limits?: WireLimits
}

interface Outbound {
  peerId: string
  queue: Uint8Array[]
  queuedBytes: number
  stream?: Stream
  running: boolean
}

export class RaftTransport {
  readonly stats: RaftTransportStats = { sent: 0, received: 0, droppedQueueFull: 0, droppedUnknownPeer: 0, droppedSpoofed: 0, droppedMalformed: 0, droppedNonMember: 0, streamFailures: 0, idCollisions: 0 }
  private readonly node: AgoraLibp2p
  private readonly protocol: string
  private readonly log: Logger
  private readonly onMessage: (m: Message) => void
  private readonly onUnreachable: (id: NodeId) => void
  private readonly queueMax: number
  private readonly limits: WireLimits
  /** Raft id → peer id of every peer we may talk to. */
  private readonly directory = new Map<NodeId, string>()
  private readonly out = new Map<NodeId, Outbound>()
  private readonly inbound = new Set<Stream>()
  private running = false
  /** Artificial per-destination delays (the live harness's per-link delay), by peer id. */
  private delays = new Map<string, number>()
  /** This node's Raft id (stages reported to a trace sink, protocols/raft/trace.ts). */
  private readonly selfRaftId: NodeId

  constructor (init: RaftTransportInit) {
    this.node = init.node
    this.protocol = raftProtocol(init.mesh)
    this.log = init.log
    this.onMessage = init.onMessage
    this.onUnreachable = init.onUnreachable ?? (() => {})
    this.queueMax = init.queueMessagesMax ?? RAFT_QUEUE_MESSAGES_MAX
    this.limits = init.limits ?? DEFAULT_WIRE_LIMITS
    this.selfRaftId = raftIdOf(init.node.peerId.toString())
  }

  /** Delays messages to these peers by the given ms (test harness; order per link is kept). */
  setDelays (delays: ReadonlyMap<string, number>): void {
    this.delays = new Map(delays)
  }

  /**
   * Makes a peer addressable by its Raft id; returns that id. An id already mapped to another peer (a
   * hash collision, or a peer id ground to collide) keeps its first mapping and is counted.
   */
  addPeer (peerId: string): NodeId {
    const id = raftIdOf(peerId)
    const known = this.directory.get(id)
    if (known !== undefined && known !== peerId) { this.stats.idCollisions++; return id }
    this.directory.set(id, peerId)
    return id
  }

  /**
   * Who may send us Raft messages: set by the driver's owner to the group's voters and learners. While
   * this node has no membership yet (it is waiting to be added), any mesh peer may: that is how the
   * leader reaches a new learner.
   */
  acceptFrom: (id: NodeId) => boolean = () => true

  peerOf (id: NodeId): string | undefined {
    return this.directory.get(id)
  }

  async start (): Promise<void> {
    if (this.running) return
    this.running = true
    await this.node.handle(this.protocol, (stream, connection) => { void this.readInbound(stream, connection) }, {
      maxInboundStreams: 8,
      maxOutboundStreams: 8
    })
  }

  async stop (): Promise<void> {
    if (!this.running) return
    this.running = false
    await this.node.unhandle(this.protocol).catch(() => {})
    for (const o of this.out.values()) {
      o.queue.length = 0
      o.stream?.abort(new Error('raft transport stopped'))
    }
    this.out.clear()
    for (const s of this.inbound) s.abort(new Error('raft transport stopped'))
    this.inbound.clear()
  }

  /**
   * Queues messages for sending; never blocks, never throws. Each destination's queue is written in
   * one batch (one stream write) per event-loop turn.
   */
  send (msgs: readonly Message[]): void {
    if (!this.running) return
    if (this.delays.size > 0) {
      const now: Message[] = []
      for (const m of msgs) {
        const ms = this.delays.get(this.directory.get(m.to) ?? '')
        if (ms === undefined) now.push(m)
        else setTimeout(() => { this.enqueue([m]) }, ms).unref?.()
      }
      this.enqueue(now)
      return
    }
    this.enqueue(msgs)
  }

  private enqueue (msgs: readonly Message[]): void {
    if (!this.running) return
    const touched: Array<[NodeId, Outbound]> = []
    for (const m of msgs) {
      const peerId = this.directory.get(m.to)
      if (peerId === undefined) { this.stats.droppedUnknownPeer++; continue }
      let o = this.out.get(m.to)
      if (o === undefined) {
        o = { peerId, queue: [], queuedBytes: 0, running: false }
        this.out.set(m.to, o)
      }
      if (o.queue.length >= this.queueMax) { this.stats.droppedQueueFull++; continue }
      const bytes = encodeMessage(m)
      if (o.queuedBytes + bytes.length > RAFT_QUEUE_BYTES_MAX && o.queue.length > 0) { this.stats.droppedQueueFull++; continue }
      o.queue.push(bytes)
      o.queuedBytes += bytes.length
      if (!o.running) touched.push([m.to, o])
    }
    for (const [to, o] of touched) if (!o.running) void this.flush(to, o)
  }

  private async flush (to: NodeId, o: Outbound): Promise<void> {
    o.running = true
    try {
      while (o.queue.length > 0 && this.running) {
        if (o.stream === undefined) {
          o.stream = await this.node.dialProtocol(peerIdFromString(o.peerId), this.protocol, { signal: AbortSignal.timeout(5000) })
        }
        const batch = o.queue
        o.queue = []
        o.queuedBytes = 0
        // One buffer, one send per turn: every message queued for this destination, each framed.
        const stream = o.stream
        raftTrace?.(this.selfRaftId, 'frame sent')
        if (!stream.send(encodeFrames(batch))) await stream.onDrain({ signal: AbortSignal.timeout(RAFT_DRAIN_TIMEOUT_MS) })
        this.stats.sent += batch.length
      }
    } catch (err) {
      this.stats.streamFailures++
      this.log.debug('raft stream failed', { to: o.peerId, error: (err as Error).message })
      o.stream?.abort(err as Error)
      o.stream = undefined
      o.queue.length = 0
      o.queuedBytes = 0
      this.onUnreachable(to)
    } finally {
      o.running = false
    }
  }

  private async readInbound (stream: Stream, connection: Connection): Promise<void> {
    const remote = connection.remotePeer.toString()
    const expected = this.addPeer(remote)
    const collides = this.directory.get(expected) !== remote
    if (collides || !this.acceptFrom(expected)) {
      // Not a member of the group: refuse the stream before reading anything (frames can be large).
      this.stats.droppedNonMember++
      stream.abort(new Error('not a member of the Raft group'))
      return
    }
    this.inbound.add(stream)
    try {
      // Frames are decoded as they arrive (no per-byte reads). An oversized frame or a malformed length
      // prefix resets the stream (the next frame cannot be found); the sender reopens one when it has
      // more to say.
      await readFrames(stream, {
        maxFrameBytes: RAFT_MESSAGE_BYTES_MAX,
        onFrame: (bytes) => {
          if (!this.running) return
          raftTrace?.(this.selfRaftId, 'frame received')
          let m: Message
          try {
            m = decodeMessage(bytes, this.limits)
          } catch (err) {
            this.stats.droppedMalformed++
            this.log.warn('malformed raft message', { from: remote, error: (err as Error).message })
            return
          }
          if (m.from !== expected) { this.stats.droppedSpoofed++; return }
          if (!this.acceptFrom(m.from)) { this.stats.droppedNonMember++; return }
          this.stats.received++
          this.onMessage(m)
        },
        onError: (err) => {
          this.stats.droppedMalformed++
          this.log.warn('malformed raft frame', { from: remote, error: err.message })
        }
      })
    } finally {
      this.inbound.delete(stream)
    }
  }
}
