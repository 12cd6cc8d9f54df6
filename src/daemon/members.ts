/**
 * `GET /v1/members` and `agora members`: every peer this daemon knows of (connected mesh members, hosts
 * it holds a lease for, Raft voters and learners, itself), each with its addresses, zone, reachability,
 * when it was last heard, its Raft role and how far behind the sync with it is.
 */
import type { Peer } from '../../peers/peer.js'

/** Max members one listing returns (the rest are counted in `more`). */
export const MEMBERS_LIST_MAX = 1000

export interface MemberView {
  peerId: string
  /** This daemon's own peer. */
  self: boolean
  /** Connected now (a libp2p connection to it is open). */
  connected: boolean
  /** Multiaddrs: own listen addresses, or the remote addresses of open connections. */
  addresses: string[]
  /** Its zone: this daemon's configured zone, or the zone its agents share (null: none or mixed). */
  zone: string | null
  /** From this daemon's lease table: `reachable`, `unreachable`, or `unknown` (never heard). */
  reachability: 'reachable' | 'unreachable' | 'unknown'
  /** Wall-clock ms when this daemon last heard it (a heartbeat or one of its messages); null if never. */
  lastSeenAt: number | null
  /** Raft: `leader`, `voter`, `learner`, or null (not in the group or this daemon runs no Raft). */
  raft: 'leader' | 'voter' | 'learner' | null
  /** Updates of its documents known to exist and not held here yet (0 when in sync). */
  syncLag: number
  /** Wall-clock ms of the last completed anti-entropy exchange with it, if any. */
  lastSyncAt: number | null
  /** Round-trip time in ms, when measured. */
  rttMs: number | null
  /**
   * Agents it hosts whose circuit breaker on this daemon is not closed (calls from here refused while
   * `open`, the next one a probe when `half-open`), at most {@link MEMBER_BREAKERS_MAX}. Listed by the daemon for every member.
   */
  breakers?: Array<{ agent: string, state: 'open' | 'half-open', retryAfterMs: number }>
}

/** Breakers one member's entry names at most. */
export const MEMBER_BREAKERS_MAX = 32

/** The members this daemon knows, sorted by peer id (self included). */
export function listMembers (peer: Peer): { members: MemberView[], more: number } {
  const health = new Map(peer.syncHealth().map(h => [h.peerId, h]))
  const raft = peer.raft?.status()
  const voters = new Set(raft?.voters ?? [])
  const learners = new Set(raft?.learners ?? [])
  const leases = new Map(peer.registry.leases.hostsKnown().map(h => [h.host, h]))
  const ids = new Set<string>([peer.id, ...health.keys(), ...voters, ...learners, ...leases.keys()])
  // Placeholders of voters whose peer id this node never learned (`raft:<n>`) are not peers.
  for (const id of ids) if (id.startsWith('raft:')) ids.delete(id)
  const sorted = [...ids].sort()
  const now = Date.now()
  // Breakers not closed, by the host of their agent (the registry's view).
  const breakersOf = new Map<string, NonNullable<MemberView['breakers']>>()
  for (const b of peer.agents.breakers()) {
    if (b.state === 'closed') continue
    const host = peer.registry.lookup(b.agent)?.host
    if (host === undefined) continue
    const l = breakersOf.get(host) ?? []
    if (l.length < MEMBER_BREAKERS_MAX) l.push({ agent: b.agent, state: b.state, retryAfterMs: b.retryAfterMs })
    breakersOf.set(host, l)
  }
  const members = sorted.slice(0, MEMBERS_LIST_MAX).map((id): MemberView => {
    const self = id === peer.id
    const h = health.get(id)
    const lease = leases.get(id)
    const connections = self ? [] : peer.libp2p.getConnections().filter(c => c.remotePeer.toString() === id)
    let zone: string | null = self ? peer.options.zone ?? null : null
    if (!self) {
      const zones = new Set<string>()
      for (const a of peer.registry.index.ofHost(id)) if (a.zone !== undefined) zones.add(a.zone)
      zone = zones.size === 1 ? [...zones][0]! : null
    }
    const heardAt = self ? now : lease !== undefined ? now - lease.silentMs() : null
    return {
      peerId: id,
      self,
      connected: self || connections.length > 0,
      addresses: self ? peer.addresses() : [...new Set(connections.map(c => c.remoteAddr.toString()))],
      zone,
      reachability: self ? 'reachable' : lease === undefined ? 'unknown' : lease.reachable ? 'reachable' : 'unreachable',
      lastSeenAt: heardAt,
      raft: raft === undefined ? null : raft.leader === id ? 'leader' : voters.has(id) ? 'voter' : learners.has(id) ? 'learner' : null,
      syncLag: h?.lag ?? 0,
      lastSyncAt: h?.lastSyncAt ?? null,
      rttMs: h?.rttMs ?? lease?.rttMs ?? null,
      breakers: breakersOf.get(id) ?? []
    }
  })
  return { members, more: Math.max(0, sorted.length - MEMBERS_LIST_MAX) }
}
