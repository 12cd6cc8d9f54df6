/**
 * Prometheus metrics of a peer (O3), read from the peer's counters at scrape time.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { Peer } from '../../peers/peer.js'

const ROLES = ['follower', 'preCandidate', 'candidate', 'leader'] as const

export function createMetrics (peer: Peer, http: { requests: number, errors4xx: number, errors5xx: number }): { registry: Registry, watchRaft: () => void } {
  const registry = new Registry()
  const commitLatency = new Histogram({
    name: 'agora_raft_commit_latency_seconds',
    help: 'Time from proposing a command on this peer to its result (committed and applied here)',
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry]
  })
  let watching: unknown
  const watchRaft = (): void => {
    const d = peer.raft?.driver
    if (d === undefined || watching === d) return
    watching = d
    d.on('raft:committed', (e) => { commitLatency.observe(e.ms / 1000) })
  }
  collectDefaultMetrics({ register: registry, prefix: 'agora_process_' })
  const g = (name: string, help: string, read: () => number): void => {
    // eslint-disable-next-line no-new
    new Gauge({ name, help, registers: [registry], collect () { this.set(read()) } })
  }
  const c = (name: string, help: string, labelNames: string[], read: () => Array<[Record<string, string>, number]>): void => {
    // Counters mirrored from the peer's monotonic counters.
    // eslint-disable-next-line no-new
    new Counter({
      name,
      help,
      labelNames,
      registers: [registry],
      collect () {
        this.reset()
        for (const [labels, v] of read()) this.inc(labels, v)
      }
    })
  }
  g('agora_registry_agents', 'Agents visible in the registry', () => peer.registry.size)
  g('agora_registry_local_agents', 'Agents hosted by this peer', () => peer.registry.localAgents().length)
  g('agora_registry_hosts', 'Host documents held', () => peer.stats().hosts)
  g('agora_connections', 'Open libp2p connections', () => peer.stats().connections)
  g('agora_mesh_members', 'Connected mesh members', () => peer.members().length)
  g('agora_sync_lag_max', 'Largest lag (updates behind) over connected members', () => Math.max(0, ...peer.syncHealth().filter(h => h.connected).map(h => h.lag)))
  c('agora_gossip_messages_total', 'Gossip messages by outcome', ['result'], () => {
    const s = peer.stats().sync
    return [[{ result: 'published' }, s.gossipPublished], [{ result: 'applied' }, s.gossipApplied], [{ result: 'duplicate' }, s.gossipDuplicates], [{ result: 'pending' }, s.gossipPending], [{ result: 'rejected' }, s.gossipRejected], [{ result: 'ignored' }, s.gossipIgnored]]
  })
  c('agora_antientropy_exchanges_total', 'Anti-entropy exchanges by outcome', ['result'], () => {
    const s = peer.stats().sync
    return [[{ result: 'completed' }, s.syncCompleted], [{ result: 'failed' }, s.syncFailed], [{ result: 'refused' }, s.syncInboundRefused]]
  })
  c('agora_antientropy_bytes_total', 'Anti-entropy bytes', ['direction'], () => {
    const s = peer.stats().sync
    return [[{ direction: 'received' }, s.syncBytesReceived], [{ direction: 'sent' }, s.syncBytesSent]]
  })
  c('agora_rejected_updates_total', 'Replication messages rejected, by reason', ['reason'], () =>
    Object.entries(peer.stats().replica.rejected).map(([reason, n]) => [{ reason }, n]))
  c('agora_heartbeats_total', 'Heartbeats', ['direction'], () => {
    const s = peer.stats().sync
    return [[{ direction: 'sent' }, s.heartbeatsSent], [{ direction: 'received' }, s.heartbeatsReceived], [{ direction: 'rejected' }, s.heartbeatsRejected]]
  })
  g('agora_raft_term', 'Raft term (0 without Raft)', () => peer.raft?.status().term ?? 0)
  g('agora_raft_commit_index', 'Raft commit index', () => peer.raft?.status().commit ?? 0)
  g('agora_raft_applied_index', 'Raft applied index', () => peer.raft?.status().applied ?? 0)
  g('agora_raft_apply_lag', 'Committed but not yet applied entries', () => { const s = peer.raft?.status(); return s === undefined ? 0 : Math.max(0, s.commit - s.applied) })
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'agora_raft_role',
    help: 'Raft role of this peer (1 for the current role)',
    labelNames: ['role'],
    registers: [registry],
    collect () {
      const role = peer.raft?.status().role
      for (const r of ROLES) this.set({ role: r }, role === r ? 1 : 0)
    }
  })
  c('agora_raft_proposals_total', 'Raft commands by outcome (this peer as proposer or applier)', ['result'], () => {
    const s = peer.raft?.driver.stats
    return s === undefined ? [] : [[{ result: 'applied' }, s.applied], [{ result: 'duplicate' }, s.duplicates], [{ result: 'indefinite' }, s.indefinite]]
  })
  c('agora_http_requests_total', 'HTTP API requests', ['result'], () => [[{ result: 'all' }, http.requests], [{ result: '4xx' }, http.errors4xx], [{ result: '5xx' }, http.errors5xx]])
  return { registry, watchRaft }
}
