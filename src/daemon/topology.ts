/**
 * `GET /v1/topology`: which peers reach which, as this daemon knows it, for the dashboard's graph.
 *
 * Every peer gossips a signed reachability view (peers/health/view.ts, topic `/agora/<mesh>/view/2`)
 * naming the hosts it finds silent (at most {@link VIEW_SILENT_MAX} listed, the rest counted) and how
 * many it hears. A view does not list the hosts its sender reaches, so `reaches` is derived here: the
 * hosts this daemon knows (itself included, hosts that left excluded) minus the sender and minus the
 * silent hosts its view lists. `complete` is false when the view's silent list was cut (then some of
 * `reaches` may be silent to it), and `view.reached` is the sender's own count, which differs from
 * `reaches.length` when it knows hosts this daemon does not (or the reverse). A peer whose view never
 * arrived (or was forgotten) has `view: null, reaches: null`. This daemon's own entry is from its lease
 * table (`reaches`: the hosts it hears now) and its open libp2p connections (`connections`).
 *
 * `raft` is the health report's Raft section (peers/health/report.ts): this member's role, term, leader,
 * commit and applied, and per voter and learner `match` and `lag` (commit − match), known on the leader
 * only (null elsewhere); other members' roles and terms are not known here beyond who leads.
 */
import type { Peer } from '../../peers/peer.js'
import type { HostHealthState, RaftHealth } from '../../peers/health/report.js'
import { VIEW_SILENT_MAX, VIEW_TTL_HEARTBEATS } from '../../peers/health/view.js'

export interface TopologyPeer {
  peerId: string
  self: boolean
  /** From this daemon's lease table (`reachable` for itself). */
  state: HostHealthState
  /** A libp2p connection to it is open (true for itself). */
  connected: boolean
  raft: 'leader' | 'voter' | 'learner' | null
  /** Its last view as received here; null when none is known (always null for this daemon). */
  view: {
    /** Ms since it was received. */
    ageMs: number
    /** Received within the views' TTL (older views tell the connectivity last known). */
    fresh: boolean
    /** Hosts it hears, by its own count (itself excluded). */
    reached: number
    silentTotal: number
    /** Silent hosts its view lists (sorted, at most VIEW_SILENT_MAX). */
    silent: string[]
    /** Its silent list is whole (silentTotal ≤ VIEW_SILENT_MAX). */
    complete: boolean
  } | null
  /** The peers it reaches (sorted): derived from its view, or for this daemon from its lease table; null without a view. */
  reaches: string[] | null
}

/**
 * Hosts beyond which the others' `reaches` are not listed (each lists up to every host: the answer and its
 * work grow with the square of the mesh). Past it, a client draws from `connections` and the views.
 */
export const TOPOLOGY_REACHES_PEERS_MAX = 200

export interface Topology {
  peerId: string
  /** Wall-clock ms of the answer. */
  at: number
  /** Peers this daemon holds an open libp2p connection to (sorted). */
  connections: string[]
  /** Every host known here, this daemon first then by peer id; at most the health report's REPORT_HOSTS_MAX. */
  peers: TopologyPeer[]
  /** Hosts known and not listed (beyond the report's bound). */
  peersMore: number
  raft: RaftHealth | null
  /** Whether the other peers' `reaches` are listed (false past {@link TOPOLOGY_REACHES_PEERS_MAX} hosts: they are null). */
  reachesListed: boolean
}

export function topology (peer: Peer, options: { reachesPeersMax?: number } = {}): Topology {
  const report = peer.health()
  const ttlMs = VIEW_TTL_HEARTBEATS * peer.options.heartbeatIntervalMs
  const hosts = [...report.hosts].sort((a, b) => a.self !== b.self ? (a.self ? -1 : 1) : a.peerId < b.peerId ? -1 : a.peerId > b.peerId ? 1 : 0)
  // The hosts a view may speak of: every host known here that has not left.
  const present = hosts.filter(h => h.state !== 'left').map(h => h.peerId)
  const connections = [...new Set(peer.libp2p.getConnections().map(c => c.remotePeer.toString()))].sort()
  const connected = new Set(connections)
  const reachesListed = hosts.length <= (options.reachesPeersMax ?? TOPOLOGY_REACHES_PEERS_MAX)
  const peers = hosts.map((h): TopologyPeer => {
    const base = { peerId: h.peerId, self: h.self, state: h.state, connected: h.self || connected.has(h.peerId), raft: h.raft }
    if (h.self) return { ...base, view: null, reaches: hosts.filter(x => !x.self && x.state === 'reachable').map(x => x.peerId).sort() }
    const v = peer.monitor.views.get(h.peerId)
    if (v === undefined) return { ...base, view: null, reaches: null }
    const ageMs = Math.max(0, report.at - v.receivedAt)
    const silent = [...v.silent].sort()
    return {
      ...base,
      view: { ageMs, fresh: ageMs <= ttlMs, reached: v.reached, silentTotal: v.silentTotal, silent, complete: v.silentTotal <= VIEW_SILENT_MAX && v.silentTotal <= silent.length },
      reaches: reachesListed ? present.filter(id => id !== h.peerId && !v.silent.has(id)).sort() : null
    }
  })
  return { peerId: peer.id, at: report.at, connections, peers, peersMore: report.hostsMore, raft: report.raft, reachesListed }
}
