/**
 * The sync engine (R5, R7): moves the replica's signed blobs between peers. A thin composition of four
 * services, each usable alone (see its index.ts):
 *
 * - membership/: which peers are mesh members (`member:joined`, `member:left`), discovery dials;
 * - anti-entropy/: digest exchanges over `/agora/<mesh>/sync/1.0.0`, the queue and concurrency limits,
 *   sync health (`sync:completed`, `sync:failed`);
 * - gossip/: signed updates on `/agora/<mesh>/crdt/2`, rejections (`update:rejected`), pulls on gaps;
 * - liveness/: heartbeats on `/agora/<mesh>/heartbeat/2` feeding the lease table and the lag.
 *
 * They share one {@link SyncHealthTable} (health.ts). {@link SyncEngine} keeps the surface the peer uses:
 * the union of the services' events and stats, in one emitter and one stats object.
 *
 * @example
 * ```ts
 * const sync = new SyncEngine({ node, replica, registry, options, gate, log, load: () => 0 })
 * sync.on('member:joined', ({ peerId }) => {})
 * await sync.start()
 * sync.adoptExistingConnections()
 * sync.isSynced()
 * await sync.announceLeaving()
 * await sync.stop()
 * ```
 */
import type { SealedPubsub } from '../seal.js'
import { TypedEmitter } from '../../src/base/events.js'
import type { Logger } from '../../src/base/log.js'
import type { Replica, RejectReason } from '../../crdt/replica.js'
import type { ReplicatedRegistry } from '../../crdt/registry.js'
import type { SignedBlob } from '../../crdt/codec.js'
import type { Signer } from '../../crdt/signing.js'
import type { AgoraLibp2p, PeerGate } from '../node.js'
import type { ResolvedPeerOptions } from '../options.js'
import { SyncHealthTable } from './health.js'
import type { PeerSyncHealth } from './health.js'
import { createAntiEntropy } from './anti-entropy/index.js'
import type { AntiEntropy, AntiEntropyStats } from './anti-entropy/index.js'
import { createGossip } from './gossip/index.js'
import type { Gossip, GossipStats } from './gossip/index.js'
import { createLiveness } from './liveness/index.js'
import type { Liveness, LivenessStats } from './liveness/index.js'
import { createMembership } from './membership/index.js'
import type { Membership } from './membership/index.js'

export { SyncHealthTable, type PeerSyncHealth, type PeerSyncState } from './health.js'
export { FRAME_BYTES_MAX, ROUND_BYTES_MAX, ROUND_FRAMES_MAX, FIRST_SYNC_FALLBACK_MS, SYNC_QUEUE_MAX } from './anti-entropy/index.js'
export { HEARTBEAT_AGE_MAX_LEASES } from './liveness/index.js'

export interface SyncStats extends GossipStats, LivenessStats, AntiEntropyStats {}

export interface SyncEventMap extends Record<string, unknown> {
  'sync:completed': { peerId: string, initiator: boolean, received: number, sent: number, ms: number }
  'sync:failed': { peerId: string, initiator: boolean, error: Error }
  /**
   * A blob was refused: malformed, forged, or over its host's quota (`doc-quota`, `rate-quota`: at most one
   * event per host and reason a second, the rest counted). `from`: who sent it; `host`: the document's host.
   */
  'update:rejected': { from: string, via: 'gossip' | 'sync', reason: RejectReason, detail: string, host?: string }
  'member:joined': { peerId: string }
  'member:left': { peerId: string }
}

export interface SyncEngineInit {
  node: AgoraLibp2p
  /** Gossipsub through the application seal, for the topics without signed documents (peers/seal.ts). */
  sealed: SealedPubsub
  replica: Replica
  registry: ReplicatedRegistry
  options: ResolvedPeerOptions
  gate: PeerGate
  log: Logger
  /** Load reported in heartbeats, in [0, 1]. */
  load: () => number
  /** This peer's signer (probe liveness signs the ACKs it gives to relayed PINGs). */
  signer?: Signer
}

export class SyncEngine extends TypedEmitter<SyncEventMap> {
  /** Every service's counters, live (read through to the services). */
  readonly stats: SyncStats
  readonly membership: Membership
  readonly antiEntropy: AntiEntropy
  readonly gossip: Gossip
  readonly liveness: Liveness
  /** The sync health table the services share (read by the health monitor, peers/health). */
  readonly table: SyncHealthTable

  constructor (init: SyncEngineInit) {
    super()
    const o = init.options
    const logger = init.log
    const health = new SyncHealthTable({ hostsMax: o.limits.hostsMax })
    this.table = health
    this.membership = createMembership({ node: init.node, health, gate: init.gate, logger }, {
      mesh: o.mesh,
      connectionsTarget: o.connectionsTarget
    })
    this.antiEntropy = createAntiEntropy({ node: init.node, replica: init.replica, membership: this.membership, health, logger }, {
      mesh: o.mesh,
      antiEntropyIntervalMs: o.antiEntropyIntervalMs,
      syncTimeoutMs: o.syncTimeoutMs,
      syncConcurrencyMax: o.syncConcurrencyMax
    })
    this.gossip = createGossip({ pubsub: init.node.services.pubsub, replica: init.replica, membership: this.membership, antiEntropy: this.antiEntropy, logger }, {
      mesh: o.mesh,
      hostsMax: o.limits.hostsMax
    })
    this.liveness = createLiveness({
      pubsub: init.sealed,
      node: init.node,
      replica: init.replica,
      registry: init.registry,
      membership: this.membership,
      antiEntropy: this.antiEntropy,
      health,
      logger,
      ...(init.signer !== undefined ? { sign: init.signer.sign } : {})
    }, {
      mesh: o.mesh,
      heartbeatIntervalMs: o.heartbeatIntervalMs,
      leaseMs: o.leaseMs,
      hostsMax: o.limits.hostsMax,
      hlcDriftMsMax: o.limits.hlcDriftMsMax,
      load: init.load,
      mode: o.liveness
    })
    this.stats = liveView<SyncStats>(this.gossip.stats, this.liveness.stats, this.antiEntropy.stats)
    this.gossip.on('update:rejected', (e) => { this.emit('update:rejected', e) })
    this.antiEntropy.on('sync:completed', (e) => { this.emit('sync:completed', e) })
    this.antiEntropy.on('sync:failed', (e) => { this.emit('sync:failed', e) })
    this.antiEntropy.on('update:rejected', (e) => { this.emit('update:rejected', e) })
    this.membership.on('member:joined', (e) => { this.emit('member:joined', e) })
    this.membership.on('member:left', (e) => { this.emit('member:left', e) })
  }

  /** Starts the services (idempotent): topics are validated before they are subscribed, members followed last. */
  async start (): Promise<void> {
    await this.gossip.start()
    await this.liveness.start()
    await this.antiEntropy.start()
    await this.membership.start()
  }

  /** Members already connected when the engine started (identify ran before). */
  adoptExistingConnections (): void {
    this.membership.adoptExistingConnections()
  }

  /**
   * Stops the services (idempotent). Each stops taking input at once (their synchronous parts run in
   * turn before anything is awaited), then the running exchanges are awaited.
   */
  async stop (): Promise<void> {
    await Promise.all([this.antiEntropy.stop(), this.liveness.stop(), this.gossip.stop(), this.membership.stop()])
  }

  /** Publishes a local update (called by the registry and the variables on every write). */
  publish (blob: SignedBlob): void {
    this.gossip.publish(blob)
  }

  /** Tells the mesh this peer is stopping (a heartbeat with the leaving flag); bounded by `timeoutMs`. */
  async announceLeaving (timeoutMs?: number): Promise<void> {
    await this.liveness.announceLeaving(timeoutMs)
  }

  /** Connected mesh members. */
  connectedMembers (): string[] {
    return this.membership.connectedMembers()
  }

  health (): PeerSyncHealth[] {
    return this.antiEntropy.health()
  }

  /**
   * True when every connected member has completed an exchange with us since it connected, no exchange
   * is running or queued, and no heartbeat shows us behind.
   */
  isSynced (): boolean {
    return this.antiEntropy.isSynced()
  }

  /** Asks for an exchange with `peerId` (deduplicated, bounded, run when a slot is free). */
  requestSync (peerId: string | undefined): void {
    this.antiEntropy.requestSync(peerId)
  }

  /** Runs one exchange with `peerId` now and waits for it (tests and tools). */
  async syncNow (peerId: string): Promise<void> {
    await this.antiEntropy.syncNow(peerId)
  }
}

/** One object whose enumerable properties read and write through to those of `parts` (spread copies it). */
function liveView<T extends object> (...parts: object[]): T {
  const out = {}
  for (const part of parts) {
    const p = part as Record<string, unknown>
    for (const key of Object.keys(p)) {
      Object.defineProperty(out, key, { enumerable: true, get: () => p[key], set: (v: unknown) => { p[key] = v } })
    }
  }
  return out as T
}
