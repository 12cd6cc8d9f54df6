/**
 * The sync health table (R7): what the sync services know of each mesh peer, shared by them the way
 * js-libp2p's services share the peer store. Membership marks a peer connected or not, liveness records
 * its heartbeats, lag and round-trip time, anti-entropy its exchanges. Not a service (no life cycle):
 * the composition creates one and hands it to the services as a component.
 *
 * Bounded: adding a peer while `hostsMax` are known forgets the oldest disconnected one.
 */

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
  /**
   * This peer's documents went over `docBytesMax` here: their later updates are refused (crdt/replica.ts,
   * quotas). Filled in by anti-entropy's `health()` from the replica (false in the table itself).
   */
  overQuota: boolean
  /** This peer's blobs were refused for `hostUpdateBytesPerSecondMax` in the last few seconds (idem). */
  rateLimited: boolean
}

/** One peer's entry: its public health and the services' bookkeeping. */
export interface PeerSyncState {
  health: PeerSyncHealth
  /** Set once an exchange completed after the current connection opened. */
  syncedSinceConnect: boolean
  /** Since when a heartbeat showed lag (ms), cleared when caught up. */
  lagSince?: number
}

export class SyncHealthTable {
  private readonly peers = new Map<string, PeerSyncState>()
  private readonly hostsMax: number

  constructor (init: { hostsMax: number }) {
    this.hostsMax = init.hostsMax
  }

  /** The entry of `peerId`, created (disconnected, no history) if it is new. */
  get (peerId: string): PeerSyncState {
    let s = this.peers.get(peerId)
    if (s === undefined) {
      if (this.peers.size >= this.hostsMax) {
        // Forget the oldest disconnected peer to stay bounded.
        for (const [id, st] of this.peers) if (!st.health.connected) { this.peers.delete(id); break }
      }
      s = { health: { peerId, connected: false, blobsReceived: 0, blobsSent: 0, failures: 0, lag: 0, overQuota: false, rateLimited: false }, syncedSinceConnect: false }
      this.peers.set(peerId, s)
    }
    return s
  }

  /** The entry of `peerId` if known (never creates one). */
  peek (peerId: string): PeerSyncState | undefined {
    return this.peers.get(peerId)
  }

  values (): IterableIterator<PeerSyncState> {
    return this.peers.values()
  }

  /** Copies of every known peer's health, oldest first. */
  list (): PeerSyncHealth[] {
    return [...this.peers.values()].map(s => ({ ...s.health }))
  }
}
