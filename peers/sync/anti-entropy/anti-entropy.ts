import { framedStream, type FramedStream } from '../../framing.js'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Connection, Stream } from '@libp2p/interface'
import { DecodeError, TimeoutError } from '../../../src/base/errors.js'
import { TypedEmitter } from '../../../src/base/events.js'
import type { Logger } from '../../../src/base/log.js'
import { QUOTA_REASONS } from '../../../crdt/replica.js'
import { signingContext } from '../../../crdt/signing.js'
import type { PeerSyncHealth, PeerSyncState, SyncHealthTable } from '../health.js'
import { DEFAULT_MESH } from '../constants.js'
import {
  DEFAULT_ANTI_ENTROPY_INTERVAL_MS, DEFAULT_SYNC_CONCURRENCY_MAX, DEFAULT_SYNC_TIMEOUT_MS, FIRST_SYNC_FALLBACK_MS, FRAME_BYTES_MAX,
  ROUND_BYTES_MAX, ROUND_FRAMES_MAX, SYNC_QUEUE_MAX, SYNC_STREAMS_MAX, syncProtocol
} from './constants.js'
import { SyncBusyError, SyncStoppedError } from './errors.js'
import { BlobAssembler, FRAME_BLOB, FRAME_CHUNK, FRAME_CHUNK_END, FRAME_DIGEST, FRAME_END, blobFrames, decodeSyncFrame, frame } from './frames.js'
import type { AntiEntropy, AntiEntropyComponents, AntiEntropyEvents, AntiEntropyInit, AntiEntropyStats } from './index.js'

export class AntiEntropyService extends TypedEmitter<AntiEntropyEvents> implements AntiEntropy {
  readonly stats: AntiEntropyStats = {
    syncStarted: 0,
    syncCompleted: 0,
    syncFailed: 0,
    syncInboundRefused: 0,
    syncQueueDropped: 0,
    syncBlobsReceived: 0,
    syncBlobsSent: 0,
    syncBytesReceived: 0,
    syncBytesSent: 0,
    syncRejected: 0,
    syncOverQuota: 0
  }

  private readonly node: AntiEntropyComponents['node']
  private readonly replica: AntiEntropyComponents['replica']
  private readonly membership: AntiEntropyComponents['membership']
  private readonly peers: SyncHealthTable
  private readonly log: Logger
  private readonly protocol: string
  private readonly intervalMs: number
  private readonly timeoutMs: number
  private readonly concurrencyMax: number
  private readonly selfId: string
  /** The mesh's signing context, laid out before each reassembled blob (no copy to verify it). */
  private readonly signingContext: Uint8Array
  private readonly outbound = new Map<string, Promise<void>>()
  private readonly queue = new Set<string>()
  private inboundCount = 0
  /** Peers with an inbound exchange running (we don't start one with them meanwhile). */
  private readonly inboundPeers = new Set<string>()
  private running = false
  private timer: ReturnType<typeof setInterval> | undefined
  private unregister: (() => void) | undefined
  /** Aborts the running exchanges when the service stops. */
  private stopController = new AbortController()

  constructor (components: AntiEntropyComponents, init: AntiEntropyInit = {}) {
    super()
    this.node = components.node
    this.replica = components.replica
    this.membership = components.membership
    this.peers = components.health
    this.log = components.logger
    this.protocol = syncProtocol(init.mesh ?? DEFAULT_MESH)
    this.signingContext = signingContext(init.mesh ?? DEFAULT_MESH)
    this.intervalMs = init.antiEntropyIntervalMs ?? DEFAULT_ANTI_ENTROPY_INTERVAL_MS
    this.timeoutMs = init.syncTimeoutMs ?? DEFAULT_SYNC_TIMEOUT_MS
    this.concurrencyMax = init.syncConcurrencyMax ?? DEFAULT_SYNC_CONCURRENCY_MAX
    this.selfId = this.replica.id
  }

  // ---- life cycle ------------------------------------------------------------------------------

  async start (): Promise<void> {
    if (this.running) return
    this.running = true
    this.stopController = new AbortController()
    await this.node.handle(this.protocol, (stream, connection) => { void this.respond(stream, connection) }, {
      maxInboundStreams: SYNC_STREAMS_MAX,
      maxOutboundStreams: SYNC_STREAMS_MAX
    })
    this.unregister = this.membership.register({
      onConnect: (peerId, { dialer }) => { this.memberConnected(peerId, dialer) },
      onDisconnect: (peerId) => { this.queue.delete(peerId) }
    })
    this.timer = setInterval(() => { this.tick() }, this.intervalMs)
    this.timer.unref?.()
  }

  async stop (): Promise<void> {
    if (!this.running) return
    this.running = false
    this.stopController.abort(new SyncStoppedError())
    clearInterval(this.timer)
    this.unregister?.()
    this.unregister = undefined
    await this.node.unhandle(this.protocol).catch(() => {})
    this.queue.clear()
    await Promise.allSettled([...this.outbound.values()])
  }

  // ---- health ----------------------------------------------------------------------------------

  health (): PeerSyncHealth[] {
    return this.peers.list().map(h => {
      const u = this.replica.hostUsage(h.peerId)
      return { ...h, overQuota: u.overQuota, rateLimited: u.rateLimited }
    })
  }

  isSynced (): boolean {
    if (this.queue.size > 0 || this.outbound.size > 0) return false
    for (const m of this.membership.connectedMembers()) {
      const s = this.peers.peek(m)
      if (s === undefined || !s.syncedSinceConnect) return false
    }
    for (const s of this.peers.values()) if (s.health.connected && s.health.lag > 0) return false
    return true
  }

  // ---- when exchanges run ----------------------------------------------------------------------

  /**
   * A mesh member connected. The side that dialed starts the first exchange (one exchange carries both
   * directions; two at once would send the state twice); the other side starts one only if none
   * completed within {@link FIRST_SYNC_FALLBACK_MS}.
   */
  private memberConnected (peerId: string, dialer: boolean): void {
    if (dialer) {
      this.requestSync(peerId)
      return
    }
    const s = this.peers.get(peerId)
    const t = setTimeout(() => {
      if (this.membership.isMember(peerId) && !s.syncedSinceConnect) this.requestSync(peerId)
    }, FIRST_SYNC_FALLBACK_MS)
    t.unref?.()
  }

  private tick (): void {
    const m = this.membership.randomMember()
    if (m !== undefined) this.requestSync(m)
  }

  requestSync (peerId: string | undefined): void {
    if (!this.running || peerId === undefined || peerId === this.selfId) return
    if (this.queue.has(peerId)) return
    if (this.queue.size >= SYNC_QUEUE_MAX) { this.stats.syncQueueDropped++; return }
    this.queue.add(peerId)
    this.pump()
  }

  async syncNow (peerId: string): Promise<void> {
    const running = this.outbound.get(peerId)
    if (running !== undefined) await running
    await this.initiate(peerId)
  }

  private pump (): void {
    // Until a first exchange completed, one at a time: a fresh peer would otherwise receive (and verify)
    // the whole registry from each of its first connections at once.
    const limit = this.stats.syncCompleted === 0 ? 1 : this.concurrencyMax
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

  // ---- exchanges -------------------------------------------------------------------------------

  private async initiate (peerId: string): Promise<void> {
    const s = this.peers.get(peerId)
    const t0 = Date.now()
    this.stats.syncStarted++
    const signal = AbortSignal.any([AbortSignal.timeout(this.timeoutMs), this.stopController.signal])
    let stream: Stream | undefined
    const counts = { received: 0, sent: 0, bytes: 0 }
    try {
      stream = await this.node.dialProtocol(peerIdFromString(peerId), this.protocol, { signal })
      const lp = framedStream(stream, FRAME_BYTES_MAX)
      await lp.write(frame(FRAME_DIGEST, this.replica.digest()), { signal })
      const theirDigest = await this.receiveBlobs(lp, peerId, FRAME_DIGEST, counts, signal)
      counts.sent = await this.sendBlobs(lp, theirDigest, signal)
      await lp.write(frame(FRAME_END), { signal })
    } catch (err) {
      this.failed(s, peerId, true, err as Error, stream)
      throw err
    }
    // Everything both ways is read or written: the exchange is complete here. The stream's close (a round
    // trip: the responder closes its side after reading END) goes on without holding the exchange's slot,
    // bounded by the same signal; a close that fails aborts the stream (nothing is left to lose).
    this.completed(s, peerId, true, counts, t0)
    const done = stream
    done.close({ signal }).catch((err: Error) => { done.abort(err) })
  }

  private async respond (stream: Stream, connection: Connection): Promise<void> {
    const peerId = connection.remotePeer.toString()
    if (this.inboundCount >= this.concurrencyMax || !this.running) {
      this.stats.syncInboundRefused++
      stream.abort(new SyncBusyError())
      return
    }
    this.inboundCount++
    this.inboundPeers.add(peerId)
    const s = this.peers.get(peerId)
    const t0 = Date.now()
    const signal = AbortSignal.any([AbortSignal.timeout(this.timeoutMs), this.stopController.signal])
    const counts = { received: 0, sent: 0, bytes: 0 }
    try {
      const lp = framedStream(stream, FRAME_BYTES_MAX)
      const first = decodeSyncFrame((await lp.read({ signal })).subarray())
      if (first.type !== FRAME_DIGEST) throw new DecodeError('sync frame', `expected DIGEST, got type ${first.type}`)
      counts.sent = await this.sendBlobs(lp, first.body, signal)
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
  private async sendBlobs (lp: FramedStream, digest: Uint8Array, signal: AbortSignal): Promise<number> {
    const blobs = this.replica.missingFor(digest, ROUND_BYTES_MAX)
    for (const b of blobs) {
      for (const f of blobFrames(b, FRAME_BYTES_MAX)) {
        await lp.write(f, { signal })
        this.stats.syncBytesSent += f.length
      }
    }
    this.stats.syncBlobsSent += blobs.length
    return blobs.length
  }

  /** Reads BLOB/CHUNK frames, applying each blob, until a frame of type `until`; returns its body. */
  private async receiveBlobs (lp: FramedStream, peerId: string, until: number, counts: { received: number, bytes: number }, signal: AbortSignal): Promise<Uint8Array> {
    // No blob over a document's quota can be kept: one is skipped as it streams, not buffered whole.
    const limits = this.replica.limits
    const assembler = new BlobAssembler(Math.min(limits.checkpointBytesMax, limits.docBytesMax), () => {
      this.stats.syncRejected++
      this.stats.syncOverQuota++
    }, this.signingContext)
    for (let frames = 0; frames < ROUND_FRAMES_MAX; frames++) {
      // A frame of several chunks is copied into a buffer of its own here, which nothing else holds.
      const list = await lp.read({ signal })
      let chunks = 0
      for (const _ of list) if (++chunks > 1) break
      const owned = chunks > 1
      const f = list.subarray()
      this.stats.syncBytesReceived += f.length
      counts.bytes += f.length
      const { type, body } = decodeSyncFrame(f)
      if (type === until) {
        if (assembler.midBlob) throw new DecodeError('sync frame', 'stream ended inside a chunked blob')
        return body
      }
      if (type !== FRAME_BLOB && type !== FRAME_CHUNK && type !== FRAME_CHUNK_END) {
        throw new DecodeError('sync frame', `unexpected frame type ${String(type)}`)
      }
      const blob = assembler.push(f, owned)
      if (blob === undefined) continue
      counts.received++
      this.stats.syncBlobsReceived++
      const r = this.replica.apply(blob)
      if (r.status === 'rejected') {
        this.stats.syncRejected++
        const host = r.host !== undefined ? { host: r.host } : {}
        if (r.reason === 'decode' || r.reason === 'signature' || r.reason === 'yjs') {
          this.log.warn('sync blob rejected', { from: peerId, reason: r.reason, detail: r.detail })
          this.emit('update:rejected', { from: peerId, via: 'sync', reason: r.reason, detail: r.detail, ...host })
        } else if (QUOTA_REASONS.has(r.reason) && r.host !== undefined) {
          this.stats.syncOverQuota++
          if (this.replica.shouldReport(r.host, r.reason)) {
            this.log.warn('sync blob over the host\'s quota', { from: peerId, host: r.host, reason: r.reason, detail: r.detail })
            this.emit('update:rejected', { from: peerId, via: 'sync', reason: r.reason, detail: r.detail, ...host })
          }
        }
      }
    }
    throw new DecodeError('sync frame', `more than ${ROUND_FRAMES_MAX} frames in one exchange`)
  }

  private completed (s: PeerSyncState, peerId: string, initiator: boolean, counts: { received: number, sent: number, bytes: number }, t0: number): void {
    const ms = Date.now() - t0
    this.stats.syncCompleted++
    s.health.lastSyncAt = Date.now()
    s.health.lastSyncMs = ms
    s.health.blobsReceived += counts.received
    s.health.blobsSent += counts.sent
    if (this.membership.isMember(peerId)) s.syncedSinceConnect = true
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

  private failed (s: PeerSyncState, peerId: string, initiator: boolean, err: Error, stream: Stream | undefined): void {
    this.stats.syncFailed++
    s.health.failures++
    stream?.abort(err)
    const error = signalError(err, this.timeoutMs)
    if (this.running) this.log.debug('sync exchange failed', { peer: peerId, initiator, error: error.message })
    this.emit('sync:failed', { peerId, initiator, error })
  }
}

function signalError (err: Error, timeoutMs: number): Error {
  if (err?.name === 'TimeoutError' || err?.name === 'AbortError') return new TimeoutError('sync exchange', timeoutMs)
  return err ?? new Error('unknown sync failure')
}
