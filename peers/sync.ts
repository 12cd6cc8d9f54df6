/**
 * The sync engine (R5, R7): moves the replica's signed blobs between peers.
 *
 * - Gossip: every local update is published on `/agora/<mesh>/crdt/1` (gossipsub, StrictSign). Inbound
 *   messages are applied inside the topic validator, so a message is forwarded only if it verified and
 *   applied (or is a new update waiting for a gap); bad ones are rejected (the sender's score drops) and
 *   counted. A gap triggers anti-entropy with the peer that relayed the message.
 * - Heartbeats on `/agora/<mesh>/heartbeat/1`: proof of life for the lease table, the sender's load, and
 *   the position of its own documents, which tells a receiver it lags and should pull.
 * - Anti-entropy over a direct stream `/agora/<mesh>/sync/1.0.0` (frames in sync-frames.ts): on every new
 *   connection to a mesh member, on a timer with a random member, on a gap, and when a heartbeat shows lag.
 *   Full state (a 100k-agent checkpoint is ~12 MB, over gossipsub's ~4 MiB message cap) goes only here,
 *   chunked into frames of `frameBytesMax`.
 *
 * Every exchange is bounded: `syncTimeoutMs`, `syncConcurrencyMax` exchanges at a time (inbound and
 * outbound counted apart), `roundBytesMax` sent per direction and round (the rest follows in the next).
 */
import { lpStream } from '@libp2p/utils'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { Message } from '@libp2p/gossipsub'
import { DecodeError, TimeoutError } from '../src/base/errors.js'
import { TypedEmitter } from '../src/base/events.js'
import type { Logger } from '../src/base/log.js'
import type { Replica, RejectReason } from '../crdt/replica.js'
import type { ReplicatedRegistry } from '../crdt/registry.js'
import type { DocKind, SignedBlob } from '../crdt/codec.js'
import { HeartbeatFilter, decodeHeartbeat, encodeHeartbeat } from './heartbeat.js'
import { BlobAssembler, FRAME_BLOB, FRAME_CHUNK, FRAME_CHUNK_END, FRAME_DIGEST, FRAME_END, blobFrames, frame } from './sync-frames.js'
import { meshProtocols } from './node.js'
import type { AgoraLibp2p, PeerGate } from './node.js'
import type { ResolvedPeerOptions } from './options.js'

/** Max bytes of one frame on the sync stream. */
export const FRAME_BYTES_MAX = 1024 * 1024
/** Bytes of blobs one side sends in one exchange; what is left goes in the next. */
export const ROUND_BYTES_MAX = 64 * 1024 * 1024
/** Frames one side may send in one exchange (beyond it the stream is aborted). */
export const ROUND_FRAMES_MAX = 1_000_000
/** Heartbeats older than this many leases (at least a minute) are taken for replays. */
export const HEARTBEAT_AGE_MAX_LEASES = 10
/** The side that did not dial starts the first exchange itself after this long without one. */
export const FIRST_SYNC_FALLBACK_MS = 1000
/** Anti-entropy requests waiting for a free slot. */
export const SYNC_QUEUE_MAX = 1024

/** Health of the sync with one peer (R7). */
export interface PeerSyncHealth {
  peerId: string
  /** Connected now. */
  connected: boolean
  /** Wall-clock time (ms) of the last completed exchange, if any. */
  lastSyncAt?: number
  /** Duration of the last completed exchange. */
  lastSyncMs?: number
  /** Blobs received / sent in all exchanges with this peer. */
  blobsReceived: number
  blobsSent: number
  failures: number
  /** Updates of this peer's own documents we know exist (from its heartbeats) and don't hold yet. */
  lag: number
  /** Last heartbeat heard (ms, local clock). */
  lastHeartbeatAt?: number
  /** Round-trip time from libp2p's connection monitor, if measured. */
  rttMs?: number
}

export interface SyncStats {
  gossipPublished: number
  gossipPublishErrors: number
  gossipApplied: number
  gossipDuplicates: number
  gossipPending: number
  gossipRejected: number
  gossipIgnored: number
  heartbeatsSent: number
  heartbeatsReceived: number
  heartbeatsRejected: number
  /** Heartbeats older than the sender's previous one or than a lease (replays), ignored. */
  heartbeatsStale: number
  /** Heartbeats stamped more than `limits.hlcDriftMsMax` ahead of our clock, ignored (not recorded). */
  heartbeatsFuture: number
  syncStarted: number
  syncCompleted: number
  syncFailed: number
  syncInboundRefused: number
  syncQueueDropped: number
  syncBlobsReceived: number
  syncBlobsSent: number
  syncBytesReceived: number
  syncBytesSent: number
  syncRejected: number
}

export interface SyncEventMap extends Record<string, unknown> {
  'sync:completed': { peerId: string, initiator: boolean, received: number, sent: number, ms: number }
  'sync:failed': { peerId: string, initiator: boolean, error: Error }
  'update:rejected': { from: string, via: 'gossip' | 'sync', reason: RejectReason, detail: string }
  'member:joined': { peerId: string }
  'member:left': { peerId: string }
}

interface PeerState {
  health: PeerSyncHealth
  /** Set once an exchange completed after the current connection opened. */
  syncedSinceConnect: boolean
  /** Since when a heartbeat showed lag (ms), cleared when caught up. */
  lagSince?: number
}

export interface SyncEngineInit {
  node: AgoraLibp2p
  replica: Replica
  registry: ReplicatedRegistry
  options: ResolvedPeerOptions
  gate: PeerGate
  log: Logger
  /** Load reported in heartbeats, in [0, 1]. */
  load: () => number
}

export class SyncEngine extends TypedEmitter<SyncEventMap> {
  readonly stats: SyncStats = {
    gossipPublished: 0,
    gossipPublishErrors: 0,
    gossipApplied: 0,
    gossipDuplicates: 0,
    gossipPending: 0,
    gossipRejected: 0,
    gossipIgnored: 0,
    heartbeatsSent: 0,
    heartbeatsReceived: 0,
    heartbeatsRejected: 0,
    heartbeatsStale: 0,
    heartbeatsFuture: 0,
    syncStarted: 0,
    syncCompleted: 0,
    syncFailed: 0,
    syncInboundRefused: 0,
    syncQueueDropped: 0,
    syncBlobsReceived: 0,
    syncBlobsSent: 0,
    syncBytesReceived: 0,
    syncBytesSent: 0,
    syncRejected: 0
  }

  private readonly node: AgoraLibp2p
  private readonly replica: Replica
  private readonly registry: ReplicatedRegistry
  private readonly o: ResolvedPeerOptions
  private readonly gate: PeerGate
  private readonly log: Logger
  private readonly load: () => number
  private readonly protocols: ReturnType<typeof meshProtocols>
  private readonly selfId: string
  /** Mesh members (peers that speak our sync protocol) we know, connected or not. */
  private readonly peers = new Map<string, PeerState>()
  private readonly members = new Set<string>()
  private readonly outbound = new Map<string, Promise<void>>()
  private readonly queue = new Set<string>()
  private inboundCount = 0
  /** Peers with an inbound exchange running (we don't start one with them meanwhile). */
  private readonly inboundPeers = new Set<string>()
  private running = false
  private heartbeatTimer: ReturnType<typeof setInterval> | undefined
  private antiEntropyTimer: ReturnType<typeof setInterval> | undefined
  private gossipSource: string | undefined
  private readonly nodeListeners: Array<[string, (e: CustomEvent<any>) => void]> = []
  private readonly gapWanted = new Set<string>()
  /** Bounds heartbeat stamps (replays, and stamps far ahead of our clock). */
  private readonly heartbeatFilter: HeartbeatFilter
  /** Aborts the running exchanges when the engine stops. */
  private stopController = new AbortController()

  constructor (init: SyncEngineInit) {
    super()
    this.node = init.node
    this.replica = init.replica
    this.registry = init.registry
    this.o = init.options
    this.gate = init.gate
    this.log = init.log
    this.load = init.load
    this.protocols = meshProtocols(this.o.mesh)
    this.heartbeatFilter = new HeartbeatFilter({
      ageMaxMs: Math.max(HEARTBEAT_AGE_MAX_LEASES * this.o.leaseMs, 60_000),
      driftMsMax: this.o.limits.hlcDriftMsMax,
      hostsMax: this.o.limits.hostsMax
    })
    this.selfId = this.replica.id
    const prevGap = this.replica.hooks.onGap
    this.replica.hooks.onGap = (kind, host) => {
      prevGap?.(kind, host)
      this.onGap(kind, host)
    }
  }

  // ---- life cycle ------------------------------------------------------------------------------

  async start (): Promise<void> {
    if (this.running) return
    this.running = true
    this.stopController = new AbortController()
    const pubsub = this.node.services.pubsub
    pubsub.topicValidators.set(this.protocols.crdtTopic, (peer, msg) => this.onGossip(peer, msg))
    pubsub.topicValidators.set(this.protocols.heartbeatTopic, (_peer, msg) => this.onHeartbeat(msg))
    pubsub.subscribe(this.protocols.crdtTopic)
    pubsub.subscribe(this.protocols.heartbeatTopic)
    await this.node.handle(this.protocols.sync, (stream, connection) => { void this.respond(stream, connection) }, {
      maxInboundStreams: 4,
      maxOutboundStreams: 4
    })
    this.listen('peer:identify', (e) => {
      const r = e.detail as { peerId: PeerId, protocols: string[], connection?: Connection }
      if (r.protocols.includes(this.protocols.sync)) this.memberConnected(r.peerId.toString(), r.connection?.direction !== 'inbound')
    })
    this.listen('peer:disconnect', (e) => { this.memberDisconnected((e.detail as PeerId).toString()) })
    this.listen('peer:discovery', (e) => { this.onDiscovery(e.detail as { id: PeerId }) })
    this.heartbeatTimer = setInterval(() => { this.tickHeartbeat() }, this.o.heartbeatIntervalMs)
    this.heartbeatTimer.unref?.()
    this.antiEntropyTimer = setInterval(() => { this.tickAntiEntropy() }, this.o.antiEntropyIntervalMs)
    this.antiEntropyTimer.unref?.()
  }

  /** Members already connected when the engine started (identify ran before). */
  adoptExistingConnections (): void {
    for (const c of this.node.getConnections()) {
      const id = c.remotePeer.toString()
      void this.node.peerStore.get(c.remotePeer).then((p) => {
        if (p.protocols.includes(this.protocols.sync)) this.memberConnected(id)
      }, () => {})
    }
  }

  async stop (): Promise<void> {
    if (!this.running) return
    this.running = false
    this.stopController.abort(new Error('sync engine stopped'))
    clearInterval(this.heartbeatTimer)
    clearInterval(this.antiEntropyTimer)
    for (const [name, fn] of this.nodeListeners) this.node.removeEventListener(name as 'peer:connect', fn as never)
    this.nodeListeners.length = 0
    const pubsub = this.node.services.pubsub
    pubsub.topicValidators.delete(this.protocols.crdtTopic)
    pubsub.topicValidators.delete(this.protocols.heartbeatTopic)
    try { pubsub.unsubscribe(this.protocols.crdtTopic); pubsub.unsubscribe(this.protocols.heartbeatTopic) } catch {}
    await this.node.unhandle(this.protocols.sync).catch(() => {})
    this.queue.clear()
    await Promise.allSettled([...this.outbound.values()])
    for (const s of this.peers.values()) { s.health.connected = false; s.syncedSinceConnect = false }
    this.members.clear()
  }

  private listen (name: string, fn: (e: CustomEvent<any>) => void): void {
    this.node.addEventListener(name as 'peer:connect', fn as never)
    this.nodeListeners.push([name, fn])
  }

  // ---- gossip ----------------------------------------------------------------------------------

  /** Publishes a local update (called by the registry and the variables on every write). */
  publish (blob: SignedBlob): void {
    if (!this.running) return
    this.stats.gossipPublished++
    this.node.services.pubsub.publish(this.protocols.crdtTopic, blob.bytes).catch((err: Error) => {
      this.stats.gossipPublishErrors++
      this.log.debug('gossip publish failed', { error: err.message })
    })
  }

  private onGossip (peer: PeerId, msg: Message): TopicValidatorResult {
    if (msg.type !== 'signed') { this.stats.gossipRejected++; return TopicValidatorResult.Reject }
    const from = msg.from.toString()
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
          this.emit('update:rejected', { from, via: 'gossip', reason: r.reason, detail: r.detail })
          return TopicValidatorResult.Reject
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
    const target = (this.gossipSource !== undefined && this.members.has(this.gossipSource))
      ? this.gossipSource
      : this.members.has(host) ? host : this.randomMember()
    queueMicrotask(() => {
      this.gapWanted.delete(key)
      if (target !== undefined) this.requestSync(target)
    })
  }

  // ---- heartbeats ------------------------------------------------------------------------------

  /** Tells the mesh this peer is stopping (a heartbeat with the leaving flag); bounded by `timeoutMs`. */
  async announceLeaving (timeoutMs = 500): Promise<void> {
    if (!this.running || this.members.size === 0) return
    const bytes = encodeHeartbeat({ sentAtMs: Date.now(), load: 0, docs: this.ownDocs(), leaving: true })
    await Promise.race([
      this.node.services.pubsub.publish(this.protocols.heartbeatTopic, bytes).catch(() => {}),
      new Promise(resolve => setTimeout(resolve, timeoutMs).unref?.())
    ])
  }

  private ownDocs (): Array<{ kind: DocKind, incarnation: number, seq: number }> {
    const docs: Array<{ kind: DocKind, incarnation: number, seq: number }> = []
    for (const kind of ['reg', 'var'] as const) {
      const e = this.replica.entry(kind, this.selfId)
      if (e !== undefined) docs.push({ kind, incarnation: e.incarnation, seq: e.seq })
    }
    return docs
  }

  private tickHeartbeat (): void {
    if (!this.running) return
    const docs = this.ownDocs()
    const bytes = encodeHeartbeat({ sentAtMs: Date.now(), load: Math.min(1, Math.max(0, this.load())), docs })
    this.stats.heartbeatsSent++
    this.node.services.pubsub.publish(this.protocols.heartbeatTopic, bytes).catch(() => {})
    this.registry.sweep()
    // Refresh RTTs for nearest-healthy.
    for (const c of this.node.getConnections()) {
      const s = this.peers.get(c.remotePeer.toString())
      if (s !== undefined && c.rtt !== undefined) {
        s.health.rttMs = c.rtt
        const h = this.registry.leases.get(s.health.peerId)
        if (h !== undefined) h.rttMs = c.rtt
      }
    }
  }

  private onHeartbeat (msg: Message): TopicValidatorResult {
    if (msg.type !== 'signed') { this.stats.heartbeatsRejected++; return TopicValidatorResult.Reject }
    const from = msg.from.toString()
    if (from === this.selfId) return TopicValidatorResult.Ignore
    let hb
    try {
      hb = decodeHeartbeat(msg.data)
    } catch (err) {
      this.stats.heartbeatsRejected++
      this.log.warn('heartbeat rejected', { from, error: (err as Error).message })
      return TopicValidatorResult.Reject
    }
    // A replayed heartbeat (republished after gossipsub's seen-cache expired) must not fake liveness
    // or a leave: each sender's heartbeats must be newer than its last one, and not older than
    // HEARTBEAT_AGE_MAX_LEASES leases (or a minute) by our clock, which tolerates ordinary clock skew.
    // One stamped more than hlcDriftMsMax ahead of our clock is ignored without being recorded.
    const verdict = this.heartbeatFilter.check(from, hb.sentAtMs)
    if (verdict !== 'accept') {
      if (verdict === 'future') {
        this.stats.heartbeatsFuture++
        this.log.warn('heartbeat from the future ignored', { from, sentAtMs: hb.sentAtMs })
      } else {
        this.stats.heartbeatsStale++
      }
      return TopicValidatorResult.Ignore
    }
    this.stats.heartbeatsReceived++
    if (hb.leaving === true) {
      this.registry.hostLeft(from)
      return TopicValidatorResult.Accept
    }
    const s = this.state(from)
    const now = Date.now()
    s.health.lastHeartbeatAt = now
    this.registry.heard(from, { load: hb.load, ...(s.health.rttMs !== undefined ? { rttMs: s.health.rttMs } : {}) })
    let lag = 0
    for (const d of hb.docs) {
      const mine = this.replica.entry(d.kind, from)
      if (mine === undefined) lag += d.seq + 1
      else if (d.incarnation > mine.incarnation) lag += d.seq + 1
      else if (d.incarnation === mine.incarnation && d.seq > mine.seq) lag += d.seq - mine.seq
    }
    s.health.lag = lag
    if (lag === 0) {
      delete s.lagSince
    } else if (s.lagSince === undefined) {
      s.lagSince = now
    } else if (now - s.lagSince >= this.o.heartbeatIntervalMs) {
      // Still behind a heartbeat later: the gossip was lost (or we were away). Pull.
      s.lagSince = now
      this.requestSync(this.members.has(from) ? from : this.randomMember())
    }
    return TopicValidatorResult.Accept
  }

  // ---- membership and discovery ----------------------------------------------------------------

  private state (peerId: string): PeerState {
    let s = this.peers.get(peerId)
    if (s === undefined) {
      if (this.peers.size >= this.o.limits.hostsMax) {
        // Forget the oldest disconnected peer to stay bounded.
        for (const [id, st] of this.peers) if (!st.health.connected) { this.peers.delete(id); break }
      }
      s = { health: { peerId, connected: false, blobsReceived: 0, blobsSent: 0, failures: 0, lag: 0 }, syncedSinceConnect: false }
      this.peers.set(peerId, s)
    }
    return s
  }

  /**
   * A mesh member connected. The side that dialed starts the first exchange (one exchange carries both
   * directions; two at once would send the state twice); the other side starts one only if none
   * completed within {@link FIRST_SYNC_FALLBACK_MS}.
   */
  private memberConnected (peerId: string, dialer = true): void {
    if (!this.running || peerId === this.selfId) return
    const s = this.state(peerId)
    if (!this.members.has(peerId)) {
      this.members.add(peerId)
      s.health.connected = true
      s.syncedSinceConnect = false
      this.emit('member:joined', { peerId })
    }
    if (dialer) {
      this.requestSync(peerId)
      return
    }
    const t = setTimeout(() => {
      if (this.members.has(peerId) && !s.syncedSinceConnect) this.requestSync(peerId)
    }, FIRST_SYNC_FALLBACK_MS)
    t.unref?.()
  }

  private memberDisconnected (peerId: string): void {
    if (!this.members.delete(peerId)) return
    const s = this.peers.get(peerId)
    if (s !== undefined) { s.health.connected = false; s.syncedSinceConnect = false }
    this.queue.delete(peerId)
    this.emit('member:left', { peerId })
  }

  private onDiscovery (info: { id: PeerId }): void {
    if (!this.running) return
    const id = info.id.toString()
    if (id === this.selfId || this.gate.denies(id)) return
    if (this.node.getConnections().length >= this.o.connectionsTarget) return
    if (this.node.getConnections(info.id).length > 0) return
    this.node.dial(info.id).catch((err: Error) => { this.log.debug('dial of discovered peer failed', { peer: id, error: err.message }) })
  }

  private randomMember (): string | undefined {
    if (this.members.size === 0) return undefined
    let i = Math.floor(Math.random() * this.members.size)
    for (const m of this.members) if (i-- === 0) return m
    return undefined
  }

  /** Connected mesh members. */
  connectedMembers (): string[] {
    return [...this.members]
  }

  health (): PeerSyncHealth[] {
    return [...this.peers.values()].map(s => ({ ...s.health }))
  }

  /**
   * True when every connected member has completed an exchange with us since it connected, no exchange
   * is running or queued, and no heartbeat shows us behind.
   */
  isSynced (): boolean {
    if (this.queue.size > 0 || this.outbound.size > 0) return false
    for (const m of this.members) {
      const s = this.peers.get(m)
      if (s === undefined || !s.syncedSinceConnect) return false
    }
    for (const s of this.peers.values()) if (s.health.connected && s.health.lag > 0) return false
    return true
  }

  private tickAntiEntropy (): void {
    const m = this.randomMember()
    if (m !== undefined) this.requestSync(m)
  }

  // ---- anti-entropy exchanges ------------------------------------------------------------------

  /** Asks for an exchange with `peerId` (deduplicated, bounded, run when a slot is free). */
  requestSync (peerId: string | undefined): void {
    if (!this.running || peerId === undefined || peerId === this.selfId) return
    if (this.queue.has(peerId)) return
    if (this.queue.size >= SYNC_QUEUE_MAX) { this.stats.syncQueueDropped++; return }
    this.queue.add(peerId)
    this.pump()
  }

  /** Runs one exchange with `peerId` now and waits for it (tests and tools). */
  async syncNow (peerId: string): Promise<void> {
    const running = this.outbound.get(peerId)
    if (running !== undefined) await running
    await this.initiate(peerId)
  }

  private pump (): void {
    // Until a first exchange completed, one at a time: a fresh peer would otherwise receive (and verify)
    // the whole registry from each of its first connections at once.
    const limit = this.stats.syncCompleted === 0 ? 1 : this.o.syncConcurrencyMax
    for (const peerId of this.queue) {
      if (this.outbound.size >= limit) return
      if (this.outbound.has(peerId) || this.inboundPeers.has(peerId)) continue
      this.queue.delete(peerId)
      const p = this.initiate(peerId).catch(() => {}).finally(() => {
        this.outbound.delete(peerId)
        this.pump()
      })
      this.outbound.set(peerId, p)
    }
  }

  private async initiate (peerId: string): Promise<void> {
    const s = this.state(peerId)
    const t0 = Date.now()
    this.stats.syncStarted++
    const signal = AbortSignal.any([AbortSignal.timeout(this.o.syncTimeoutMs), this.stopController.signal])
    let stream: Stream | undefined
    const counts = { received: 0, sent: 0, bytes: 0 }
    try {
      stream = await this.node.dialProtocol(peerIdFromString(peerId), this.protocols.sync, { signal })
      const lp = lpStream(stream, { maxDataLength: FRAME_BYTES_MAX })
      await lp.write(frame(FRAME_DIGEST, this.replica.digest()), { signal })
      const theirDigest = await this.receiveBlobs(lp, peerId, FRAME_DIGEST, counts, signal)
      counts.sent = await this.sendBlobs(lp, theirDigest, signal)
      await lp.write(frame(FRAME_END), { signal })
      await stream.close({ signal })
      this.completed(s, peerId, true, counts, t0)
    } catch (err) {
      this.failed(s, peerId, true, err as Error, stream)
      throw err
    }
  }

  private async respond (stream: Stream, connection: Connection): Promise<void> {
    const peerId = connection.remotePeer.toString()
    if (this.inboundCount >= this.o.syncConcurrencyMax || !this.running) {
      this.stats.syncInboundRefused++
      stream.abort(new Error('sync: too many concurrent exchanges'))
      return
    }
    this.inboundCount++
    this.inboundPeers.add(peerId)
    const s = this.state(peerId)
    const t0 = Date.now()
    const signal = AbortSignal.any([AbortSignal.timeout(this.o.syncTimeoutMs), this.stopController.signal])
    const counts = { received: 0, sent: 0, bytes: 0 }
    try {
      const lp = lpStream(stream, { maxDataLength: FRAME_BYTES_MAX })
      const first = (await lp.read({ signal })).subarray()
      if (first[0] !== FRAME_DIGEST) throw new DecodeError('sync frame', `expected DIGEST, got type ${String(first[0])}`)
      counts.sent = await this.sendBlobs(lp, first.subarray(1), signal)
      await lp.write(frame(FRAME_DIGEST, this.replica.digest()), { signal })
      await this.receiveBlobs(lp, peerId, FRAME_END, counts, signal)
      await stream.close({ signal }).catch(() => {})
      this.completed(s, peerId, false, counts, t0)
      // The initiator was behind on what we sent; if it sent us nothing, we may still lag it (e.g. a
      // round limit on its side): the timer and heartbeats cover that.
    } catch (err) {
      this.failed(s, peerId, false, err as Error, stream)
    } finally {
      this.inboundCount--
      this.inboundPeers.delete(peerId)
      this.pump()
    }
  }

  /** Sends the blobs a peer with digest `digest` lacks; returns how many. */
  private async sendBlobs (lp: ReturnType<typeof lpStream>, digest: Uint8Array, signal: AbortSignal): Promise<number> {
    const blobs = this.replica.missingFor(digest, ROUND_BYTES_MAX)
    let frames = 0
    for (const b of blobs) {
      for (const f of blobFrames(b, FRAME_BYTES_MAX)) {
        await lp.write(f, { signal })
        frames++
        this.stats.syncBytesSent += f.length
      }
    }
    this.stats.syncBlobsSent += blobs.length
    void frames
    return blobs.length
  }

  /** Reads BLOB/CHUNK frames, applying each blob, until a frame of type `until`; returns its body. */
  private async receiveBlobs (lp: ReturnType<typeof lpStream>, peerId: string, until: number, counts: { received: number, bytes: number }, signal: AbortSignal): Promise<Uint8Array> {
    const assembler = new BlobAssembler(this.replica.limits.checkpointBytesMax)
    for (let frames = 0; frames < ROUND_FRAMES_MAX; frames++) {
      const f = (await lp.read({ signal })).subarray()
      this.stats.syncBytesReceived += f.length
      counts.bytes += f.length
      const type = f[0]
      if (type === until) {
        if (assembler.midBlob) throw new DecodeError('sync frame', 'stream ended inside a chunked blob')
        return f.subarray(1)
      }
      if (type !== FRAME_BLOB && type !== FRAME_CHUNK && type !== FRAME_CHUNK_END) {
        throw new DecodeError('sync frame', `unexpected frame type ${String(type)}`)
      }
      const blob = assembler.push(f)
      if (blob === undefined) continue
      counts.received++
      this.stats.syncBlobsReceived++
      const r = this.replica.apply(blob)
      if (r.status === 'rejected') {
        this.stats.syncRejected++
        if (r.reason === 'decode' || r.reason === 'signature' || r.reason === 'yjs') {
          this.log.warn('sync blob rejected', { from: peerId, reason: r.reason, detail: r.detail })
          this.emit('update:rejected', { from: peerId, via: 'sync', reason: r.reason, detail: r.detail })
        }
      }
    }
    throw new DecodeError('sync frame', `more than ${ROUND_FRAMES_MAX} frames in one exchange`)
  }

  private completed (s: PeerState, peerId: string, initiator: boolean, counts: { received: number, sent: number, bytes: number }, t0: number): void {
    const ms = Date.now() - t0
    this.stats.syncCompleted++
    s.health.lastSyncAt = Date.now()
    s.health.lastSyncMs = ms
    s.health.blobsReceived += counts.received
    s.health.blobsSent += counts.sent
    if (this.members.has(peerId)) s.syncedSinceConnect = true
    const partial = counts.bytes >= ROUND_BYTES_MAX
    if (partial) {
      // The peer sent a full round: more is waiting. Not synced yet; ask for the rest.
      s.syncedSinceConnect = false
      this.requestSync(peerId)
    } else if (s.health.lag > 0) {
      // What we hold now may answer the lag a heartbeat showed.
      s.health.lag = 0
    }
    this.emit('sync:completed', { peerId, initiator, received: counts.received, sent: counts.sent, ms })
  }

  private failed (s: PeerState, peerId: string, initiator: boolean, err: Error, stream: Stream | undefined): void {
    this.stats.syncFailed++
    s.health.failures++
    stream?.abort(err)
    const error = signalError(err, this.o.syncTimeoutMs)
    if (this.running) this.log.debug('sync exchange failed', { peer: peerId, initiator, error: error.message })
    this.emit('sync:failed', { peerId, initiator, error })
  }
}

function signalError (err: Error, timeoutMs: number): Error {
  if (err?.name === 'TimeoutError' || err?.name === 'AbortError') return new TimeoutError('sync exchange', timeoutMs)
  return err ?? new Error('unknown sync failure')
}
