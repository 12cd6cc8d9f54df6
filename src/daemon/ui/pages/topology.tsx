// Topology: the peers this daemon knows, who reaches whom, the Raft group (roles, term, commit lag),
// suspected partitions, and the mesh health report's status and reasons.
import type { JSX } from 'preact'
import { Badge, ErrorNote, PeerId, Section, Table, ago } from '../components'
import { TopologyGraph } from '../graph'
import type { GraphLink, GraphPeer } from '../graph'
import { useApi } from '../live'
import type { HealthReport, Member, TopologyView } from '../types'

const ON = ['member:*', 'raft:role', 'alert:*', 'heal:reported', 'agent:unreachable', 'agent:reachable'] as const

/** Links to draw: the reachability each peer last announced when the daemon exposes it, else this daemon's own connections. */
export function linksOf (members: readonly Member[], topology: TopologyView | undefined): GraphLink[] {
  const known = new Set(members.map(m => m.peerId))
  const seen = new Set<string>()
  const out: GraphLink[] = []
  const add = (a: string, b: string): void => {
    if (a === b || !known.has(a) || !known.has(b)) return
    const k = a < b ? `${a} ${b}` : `${b} ${a}`
    if (seen.has(k)) return
    seen.add(k)
    out.push(a < b ? { a, b } : { a: b, b: a })
  }
  const self = members.find(m => m.self)
  for (const m of members) if (self !== undefined && !m.self && m.connected && m.reachability !== 'unreachable') add(self.peerId, m.peerId)
  // A peer this daemon no longer hears speaks from a stale view: its own reach is not drawn (what the
  // others say of it still is: a peer others reach and this daemon cannot is a partition's mark).
  for (const p of topology?.peers ?? []) {
    if (p.state !== undefined && p.state !== 'reachable') continue
    for (const r of p.reaches ?? []) add(p.peerId, r)
  }
  return out
}

export function TopologyPage (): JSX.Element {
  const members = useApi<{ members: Member[] }>('/v1/members', { on: ON, everyMs: 2000 })
  const health = useApi<HealthReport>('/v1/health/mesh', { on: ON, everyMs: 2000 })
  const topo = useApi<TopologyView>('/v1/topology', { on: ON, everyMs: 5000 })
  const list = members.data?.members ?? []
  const report = health.data
  const lag = new Map((report?.raft?.members ?? []).map(m => [m.peerId, m.lag]))
  const peers: GraphPeer[] = list.map(m => ({ id: m.peerId, zone: m.zone, reachable: m.reachability !== 'unreachable', self: m.self, raft: m.raft }))
  const links = linksOf(list, topo.error === undefined ? topo.data : undefined)
  const raft = report?.raft
  return (
    <div class='page'>
      <Section title='Mesh health'>
        <ErrorNote error={health.error} />
        {report !== undefined
          ? (
            <div class='stats'>
              <div><span class='k'>Status</span><Badge kind={report.status}><span data-testid='health-status'>{report.status}</span></Badge></div>
              <div><span class='k'>Peers</span><span data-testid='peers-known'>{report.peers.known}</span> known, <span data-testid='peers-reachable'>{report.peers.reachable}</span> reachable, {report.peers.unreachable} unreachable</div>
              <div><span class='k'>Raft</span>{raft !== undefined && raft !== null ? <>term {raft.term}, leader <PeerId id={raft.leader} />, quorum {raft.quorum.reachable}/{raft.quorum.voters} {raft.quorum.ok ? 'ok' : 'lost'}</> : 'not in a Raft group'}</div>
              {report.reasons.length > 0 ? <div><span class='k'>Reasons</span><ul class='reasons'>{report.reasons.map(r => <li key={r.name + r.message}>{r.message}</li>)}</ul></div> : null}
            </div>
            )
          : <p class='muted'>Loading…</p>}
      </Section>
      <Section title='Topology'>
        <ErrorNote error={members.error} />
        <div class='legend' aria-hidden='true'><span class='dot leader' /> leader <span class='dot' /> peer <span class='dot down' /> unreachable · colour = zone · L leader, V voter</div>
        <TopologyGraph peers={peers} links={links} />
        <Table label='Peers' rows={list} rowKey={m => m.peerId} cols={[
          { key: 'id', label: 'Peer', get: m => <span data-testid='peer-row' data-peer={m.peerId}><PeerId id={m.peerId} />{m.self ? <Badge kind='self'>this daemon</Badge> : null}</span> },
          { key: 'zone', label: 'Zone', get: m => m.zone ?? '—' },
          { key: 'reach', label: 'Reachability', get: m => <span data-testid='reachability' data-peer={m.peerId}><Badge kind={m.reachability}>{m.reachability}</Badge></span> },
          { key: 'raft', label: 'Raft', get: m => m.raft !== null ? <span data-raft={m.raft}>{m.raft}</span> : '—' },
          { key: 'lag', label: 'Commit lag', get: m => show(lag.get(m.peerId)) },
          { key: 'sync', label: 'Sync lag', get: m => show(m.syncLag) },
          { key: 'rtt', label: 'RTT', get: m => m.rttMs !== null ? `${m.rttMs} ms` : '—' },
          { key: 'seen', label: 'Last seen', get: m => ago(m.lastSeenAt) }
        ]} />
      </Section>
      {(report?.partitions.length ?? 0) > 0
        ? (
          <Section title='Suspected partitions'>
            <ul>{report!.partitions.map((p, i) => <li key={i}>{p.peers.length} peers silent since {ago(p.since)}{p.reachedBy.length > 0 ? `, still reached by ${p.reachedBy.length}` : ''}</li>)}</ul>
          </Section>
          )
        : null}
    </div>
  )
}

function show (v: number | null | undefined): string {
  return v === null || v === undefined ? '—' : String(v)
}
