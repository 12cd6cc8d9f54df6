/**
 * The mesh health report (FEATURES I3), computed by a pure function from what a peer knows: each host's
 * silence, lease and connection; the reachability views other peers gossip (view.ts); the Raft status;
 * the sync lag; the coordination latency; the load per host; breaker and rate-limit states. Nothing here
 * reads a clock or the network, so tests and the benchmark feed it inputs directly.
 *
 * **A host's state, as seen from here** ({@link classifyHost}):
 * - `left`: it said it was stopping (a heartbeat with the leaving flag): not a fault;
 * - `unreachable`: its lease expired (`leaseMs` of silence, default 3 heartbeat periods): its agents show
 *   as unreachable in queries;
 * - `suspected`: silent for {@link SUSPECT_AFTER_HEARTBEATS} heartbeat periods or more, lease not expired
 *   yet. Kept apart from the lease so that a partition shows in the report within 3 heartbeat periods
 *   while agents stay reachable in queries until their lease runs out;
 * - `reachable`: heard within that time.
 *
 * **Suspected partitions** ({@link groupSilentHosts}): the silent hosts (suspected or unreachable) are
 * grouped by when they went silent (hosts whose last heartbeats are more than
 * {@link SILENCE_GAP_HEARTBEATS} periods apart are not in one group), then by the connectivity last known
 * between them: two silent hosts are in one group unless the last view of one listed the other as silent.
 * Each group says which reachable peers reach it (their fresh view lists none of it: others reach these
 * hosts and this peer cannot) and which find it silent too.
 *
 * **Status** ({@link evaluateConditions}): `critical` when a critical condition holds (the Raft loop
 * failed, no leader for `noLeaderMs`, no quorum of voters reachable, this peer isolated), `degraded` when
 * another holds (silent hosts, sync lag, commit or request latency, load, open breakers, rate limits),
 * else `ok`; the conditions holding are the report's `reasons`.
 */
import type { LatencySnapshot } from './latency.js'
import type { PeerRaftStatus } from '../raft/service.js'
import { SEVERITY_OF } from './alerts.js'
import type { ActiveAlert, AlertThresholds, ConditionName, HealthCondition } from './alerts.js'

/** Heartbeat periods of silence after which a host is suspected (before its lease expires). */
export const SUSPECT_AFTER_HEARTBEATS = 2
/** Silent hosts whose last heartbeats are further apart than this many periods are not grouped together. */
export const SILENCE_GAP_HEARTBEATS = 2
/** Hosts listed in a report (the rest are counted in `hostsMore`). */
export const REPORT_HOSTS_MAX = 1000
/** Peers named in a partition's `reachedBy` / `confirmedBy`. */
export const PARTITION_WITNESSES_MAX = 16
/** Breakers and rate-limited keys listed in a report. */
export const REPORT_ENTRIES_MAX = 256

export type HostHealthState = 'reachable' | 'suspected' | 'unreachable' | 'left'
export type HealthStatus = 'ok' | 'degraded' | 'critical'

/** What the report needs of one host (not this peer). */
export interface HostInput {
  peerId: string
  /** Ms since this peer last heard the host. */
  silentMs: number
  /** Its lease here. */
  lease: 'alive' | 'unreachable'
  /** It announced it was leaving (graceful stop), not heard since. */
  left: boolean
  /** A connection to it is open. */
  connected: boolean
  rttMs?: number
  /** Its self-reported load (heartbeats), 0..1. */
  load?: number
  /** Agents of its document in this peer's registry. */
  agents: number
  /** Updates of its documents known to exist and not held here. */
  syncLag: number
  /** How long that lag has lasted (ms). */
  syncLagMs?: number
  /** Wall-clock ms of the last completed anti-entropy exchange with it. */
  lastSyncAt?: number
}

/** A reachability view received from a peer (view.ts), with the set of silent hosts it listed. */
export interface ViewInput {
  /** When it was received (ms, the report's clock). */
  receivedAt: number
  reached: number
  silentTotal: number
  silent: ReadonlySet<string>
}

export interface RaftInput {
  status: PeerRaftStatus
  /** On the leader: each member's match index (what it holds of the log). */
  match?: ReadonlyMap<string, number>
  /** Ms this member has known no leader (0 while it knows one). */
  noLeaderMs: number
}

/** A circuit breaker that is not closed (peers/agents breakers; provided when wired). */
export interface BreakerInput {
  /** What it guards (an agent id). */
  key: string
  state: 'closed' | 'open' | 'half-open'
  failures?: number
  /** When an open breaker lets a probe through (ms). */
  openUntil?: number
}

/** A rate-limited key (an agent, a peer, a resource; provided when wired). */
export interface RateLimitInput {
  /** What kind of limit (`agent`, `peer`, `raft`...). */
  scope: string
  key: string
  /** Calls refused lately. */
  refused: number
  /** Tokens left. */
  available?: number
}

export interface HealthInputs {
  self: string
  /** Wall-clock ms of the report. */
  now: number
  heartbeatIntervalMs: number
  /** Every host known but this peer. */
  hosts: readonly HostInput[]
  /** This peer's own load and agents. */
  selfLoad: number
  selfAgents: number
  /** The last view received from a peer, if any. */
  viewOf: (peerId: string) => ViewInput | undefined
  /** Views older than this (ms) say nothing of the present (they still tell the connectivity last known). */
  viewTtlMs: number
  /** The Raft group as this peer sees it; undefined when this peer runs no Raft. */
  raft: RaftInput | undefined
  latency: HealthLatency
  breakers: readonly BreakerInput[]
  rateLimits: readonly RateLimitInput[]
  thresholds: AlertThresholds
  /** Alerts raised and not cleared (the service's tracker). */
  alerts: readonly ActiveAlert[]
}

export interface HealthLatency {
  /** Raft commands proposed by this peer: from the proposal to the result (members), or through the client path. */
  raftCommit: LatencySnapshot
  /** Agent requests (`peer.agents.request`) made by this peer, reply or error. */
  agentRequest: LatencySnapshot
  /** Agent messages (`peer.agents.send`) sent by this peer, until acknowledged or failed. */
  agentMessage: LatencySnapshot
}

/** One host in the report. */
export interface HostHealth {
  peerId: string
  self: boolean
  state: HostHealthState
  /** Ms since heard (0 for this peer). */
  silentMs: number
  connected: boolean
  rttMs: number | null
  load: number | null
  agents: number
  syncLag: number
  syncLagMs: number | null
  lastSyncAt: number | null
  raft: 'leader' | 'voter' | 'learner' | null
}

/** A group of silent hosts: a suspected partition as seen from this peer. */
export interface SuspectedPartition {
  /** The hosts, sorted. */
  peers: string[]
  /** Wall-clock ms when the first of them went silent (last heard). */
  since: number
  /** Ms since the last of them was heard. */
  silentMs: number
  /** Some are only suspected (lease not expired yet). */
  suspected: number
  /** Their leases expired. */
  unreachable: number
  /** Peers this peer reaches whose fresh view lists none of them: others reach them, this peer cannot. */
  reachedBy: string[]
  /** Peers this peer reaches whose fresh view lists them all as silent too. */
  confirmedBy: string[]
}

export interface RaftHealth {
  role: PeerRaftStatus['role']
  term: number
  leader: string | null
  /** Ms this member has known no leader (0 while it knows one). */
  noLeaderMs: number
  commit: number
  applied: number
  /** Committed entries not applied here yet. */
  applyLag: number
  quorum: {
    voters: number
    /** A majority of the voters. */
    needed: number
    /** Voters reachable from here (this peer included when it votes). */
    reachable: number
    ok: boolean
  }
  /** Each voter and learner; `match` and `lag` (commit − match) are known on the leader only. */
  members: Array<{ peerId: string, voter: boolean, leader: boolean, reachable: boolean, match: number | null, lag: number | null }>
  failed?: string
}

export interface HealthReport {
  peerId: string
  /** Wall-clock ms of the report. */
  at: number
  status: HealthStatus
  /** The conditions holding now (empty when ok). */
  reasons: HealthCondition[]
  /** Counts of the hosts known (this peer included in `known` and `reachable`). */
  peers: { known: number, reachable: number, suspected: number, unreachable: number, left: number }
  partitions: SuspectedPartition[]
  raft: RaftHealth | null
  sync: { lagMax: number, lagging: number }
  latency: HealthLatency
  load: { mean: number, max: number, overloaded: number, agents: number }
  breakers: { open: number, halfOpen: number, list: BreakerInput[] }
  rateLimits: { limited: number, list: RateLimitInput[] }
  alerts: ActiveAlert[]
  /** Every host, silent ones first, then by peer id; at most {@link REPORT_HOSTS_MAX}. */
  hosts: HostHealth[]
  hostsMore: number
}

/** A host's state from what this peer knows of it. */
export function classifyHost (h: Pick<HostInput, 'silentMs' | 'lease' | 'left'>, heartbeatIntervalMs: number): HostHealthState {
  if (h.left) return 'left'
  if (h.lease === 'unreachable') return 'unreachable'
  if (h.silentMs >= SUSPECT_AFTER_HEARTBEATS * heartbeatIntervalMs) return 'suspected'
  return 'reachable'
}

/** A silent host to group: its id, when it was last heard, and its last view's silent set. */
export interface SilentHost {
  peerId: string
  lastHeardAt: number
  state: 'suspected' | 'unreachable'
  /** Hosts its last view listed as silent (undefined: no view known). */
  saw: ReadonlySet<string> | undefined
}

/**
 * Groups silent hosts into suspected partitions: first by when they went silent (a gap of more than
 * `gapMs` between consecutive last-heard times starts a new group), then, inside each, into the
 * connected components of "neither listed the other as silent in its last view". Linear in the hosts
 * plus the views' listed ids (a complement-graph search), whatever the number of hosts.
 */
export function groupSilentHosts (silent: readonly SilentHost[], gapMs: number): SilentHost[][] {
  const byTime = [...silent].sort((a, b) => a.lastHeardAt - b.lastHeardAt || (a.peerId < b.peerId ? -1 : 1))
  const out: SilentHost[][] = []
  let start = 0
  for (let i = 1; i <= byTime.length; i++) {
    if (i === byTime.length || byTime[i]!.lastHeardAt - byTime[i - 1]!.lastHeardAt > gapMs) {
      if (i > start) out.push(...splitByViews(byTime.slice(start, i)))
      start = i
    }
  }
  return out
}

function splitByViews (hosts: SilentHost[]): SilentHost[][] {
  if (hosts.length <= 1) return [hosts]
  const byId = new Map<string, SilentHost>()
  for (const h of hosts) byId.set(h.peerId, h)
  // Exclusions both ways: a listed b, or b listed a.
  const excluded = new Map<string, Set<string>>()
  const exclude = (a: string, b: string): void => {
    let s = excluded.get(a)
    if (s === undefined) { s = new Set(); excluded.set(a, s) }
    s.add(b)
  }
  for (const h of hosts) {
    if (h.saw === undefined) continue
    for (const other of h.saw) {
      if (other !== h.peerId && byId.has(other)) { exclude(h.peerId, other); exclude(other, h.peerId) }
    }
  }
  if (excluded.size === 0) return [hosts]
  const unvisited = new Set(byId.keys())
  const groups: SilentHost[][] = []
  for (const first of byId.keys()) {
    if (!unvisited.has(first)) continue
    unvisited.delete(first)
    const group = [byId.get(first)!]
    const queue = [first]
    while (queue.length > 0) {
      const u = queue.pop()!
      const ex = excluded.get(u)
      for (const v of unvisited) {
        if (ex?.has(v) === true) continue
        unvisited.delete(v)
        group.push(byId.get(v)!)
        queue.push(v)
      }
    }
    groups.push(group)
  }
  return groups
}

const STATE_ORDER: Record<HostHealthState, number> = { unreachable: 0, suspected: 1, left: 2, reachable: 3 }

/** Computes the report (pure). */
export function computeHealthReport (i: HealthInputs): HealthReport {
  const t = i.thresholds
  const hosts: HostHealth[] = []
  const counts = { known: 1, reachable: 1, suspected: 0, unreachable: 0, left: 0 }
  const stateOf = new Map<string, HostHealthState>()
  const silent: SilentHost[] = []
  const reachableIds: string[] = []
  let lagMax = 0
  let lagging = 0
  let syncLagMsMax = 0
  let loadSum = i.selfLoad
  let loadMax = i.selfLoad
  let overloaded = i.selfLoad >= t.hostLoadMax ? 1 : 0
  let agents = i.selfAgents
  const raftStatus = i.raft?.status
  const voters = new Set(raftStatus?.voters ?? [])
  const learners = new Set(raftStatus?.learners ?? [])
  const roleOf = (id: string): HostHealth['raft'] => raftStatus === undefined ? null : raftStatus.leader === id ? 'leader' : voters.has(id) ? 'voter' : learners.has(id) ? 'learner' : null
  for (const h of i.hosts) {
    const state = classifyHost(h, i.heartbeatIntervalMs)
    stateOf.set(h.peerId, state)
    counts.known++
    counts[state]++
    agents += h.agents
    if (state === 'suspected' || state === 'unreachable') {
      silent.push({ peerId: h.peerId, lastHeardAt: i.now - h.silentMs, state, saw: i.viewOf(h.peerId)?.silent })
    } else if (state === 'reachable') {
      reachableIds.push(h.peerId)
      if (h.syncLag > 0) {
        lagging++
        if (h.syncLag > lagMax) lagMax = h.syncLag
        if ((h.syncLagMs ?? 0) > syncLagMsMax) syncLagMsMax = h.syncLagMs ?? 0
      }
      if (h.load !== undefined) {
        loadSum += h.load
        if (h.load > loadMax) loadMax = h.load
        if (h.load >= t.hostLoadMax) overloaded++
      }
    }
    hosts.push({
      peerId: h.peerId,
      self: false,
      state,
      silentMs: Math.round(h.silentMs),
      connected: h.connected,
      rttMs: h.rttMs ?? null,
      load: h.load ?? null,
      agents: h.agents,
      syncLag: h.syncLag,
      syncLagMs: h.syncLagMs ?? null,
      lastSyncAt: h.lastSyncAt ?? null,
      raft: roleOf(h.peerId)
    })
  }
  hosts.push({ peerId: i.self, self: true, state: 'reachable', silentMs: 0, connected: true, rttMs: null, load: i.selfLoad, agents: i.selfAgents, syncLag: 0, syncLagMs: null, lastSyncAt: null, raft: roleOf(i.self) })
  hosts.sort((a, b) => STATE_ORDER[a.state] - STATE_ORDER[b.state] || (a.peerId < b.peerId ? -1 : a.peerId > b.peerId ? 1 : 0))

  const partitions = partitionsOf(i, silent, reachableIds)
  const raft = raftHealth(i, stateOf)
  const breakerCounts = { open: 0, halfOpen: 0 }
  for (const b of i.breakers) {
    if (b.state === 'open') breakerCounts.open++
    else if (b.state === 'half-open') breakerCounts.halfOpen++
  }
  const limited = i.rateLimits.filter(r => r.refused > 0).length
  const loadHosts = 1 + reachableIds.length
  const report: HealthReport = {
    peerId: i.self,
    at: i.now,
    status: 'ok',
    reasons: [],
    peers: counts,
    partitions,
    raft,
    sync: { lagMax, lagging },
    latency: i.latency,
    load: { mean: round3(loadSum / loadHosts), max: round3(loadMax), overloaded, agents },
    breakers: { ...breakerCounts, list: i.breakers.filter(b => b.state !== 'closed').slice(0, REPORT_ENTRIES_MAX) },
    rateLimits: { limited, list: i.rateLimits.filter(r => r.refused > 0).slice(0, REPORT_ENTRIES_MAX) },
    alerts: [...i.alerts],
    hosts: hosts.slice(0, REPORT_HOSTS_MAX),
    hostsMore: Math.max(0, hosts.length - REPORT_HOSTS_MAX)
  }
  report.reasons = evaluateConditions(report, t, syncLagMsMax)
  report.status = statusOf(report.reasons)
  return report
}

function partitionsOf (i: HealthInputs, silent: SilentHost[], reachableIds: string[]): SuspectedPartition[] {
  if (silent.length === 0) return []
  const groups = groupSilentHosts(silent, SILENCE_GAP_HEARTBEATS * i.heartbeatIntervalMs)
  // Fresh views of the peers this peer reaches: what they find silent now.
  const witnesses: Array<{ id: string, view: ViewInput }> = []
  for (const id of reachableIds) {
    const v = i.viewOf(id)
    if (v !== undefined && i.now - v.receivedAt <= i.viewTtlMs) witnesses.push({ id, view: v })
  }
  const out: SuspectedPartition[] = groups.map((g) => {
    let since = Number.POSITIVE_INFINITY
    let last = 0
    let suspected = 0
    for (const h of g) {
      if (h.lastHeardAt < since) since = h.lastHeardAt
      if (h.lastHeardAt > last) last = h.lastHeardAt
      if (h.state === 'suspected') suspected++
    }
    const reachedBy: string[] = []
    const confirmedBy: string[] = []
    for (const w of witnesses) {
      let listed = 0
      for (const h of g) if (w.view.silent.has(h.peerId)) listed++
      if (listed === g.length && confirmedBy.length < PARTITION_WITNESSES_MAX) confirmedBy.push(w.id)
      // A cut list cannot say the others are reached.
      else if (listed === 0 && w.view.silentTotal === w.view.silent.size && reachedBy.length < PARTITION_WITNESSES_MAX) reachedBy.push(w.id)
    }
    return {
      peers: g.map(h => h.peerId).sort(),
      since,
      silentMs: Math.max(0, i.now - last),
      suspected,
      unreachable: g.length - suspected,
      reachedBy: reachedBy.sort(),
      confirmedBy: confirmedBy.sort()
    }
  })
  return out.sort((a, b) => a.since - b.since || (a.peers[0]! < b.peers[0]! ? -1 : 1))
}

function raftHealth (i: HealthInputs, stateOf: ReadonlyMap<string, HostHealthState>): RaftHealth | null {
  const r = i.raft
  if (r === undefined) return null
  const s = r.status
  const reachable = (id: string): boolean => id === i.self || stateOf.get(id) === 'reachable'
  const needed = Math.floor(s.voters.length / 2) + 1
  const reachableVoters = s.voters.filter(reachable).length
  const members: RaftHealth['members'] = []
  for (const [ids, voter] of [[s.voters, true], [s.learners, false]] as const) {
    for (const id of ids) {
      const match = r.match?.get(id)
      members.push({ peerId: id, voter, leader: s.leader === id, reachable: reachable(id), match: match ?? null, lag: match === undefined ? null : Math.max(0, s.commit - match) })
    }
  }
  return {
    role: s.role,
    term: s.term,
    leader: s.leader ?? null,
    noLeaderMs: s.leader === undefined ? r.noLeaderMs : 0,
    commit: s.commit,
    applied: s.applied,
    applyLag: Math.max(0, s.commit - s.applied),
    quorum: { voters: s.voters.length, needed, reachable: reachableVoters, ok: s.voters.length > 0 && reachableVoters >= needed && s.leader !== undefined },
    members,
    ...(s.failed !== undefined ? { failed: s.failed } : {})
  }
}

/** The conditions holding in `report` against `t` (the report's `reasons`), in {@link CONDITION_NAMES} order. */
export function evaluateConditions (report: Omit<HealthReport, 'reasons' | 'status'>, t: AlertThresholds, syncLagMsMax: number): HealthCondition[] {
  const out: HealthCondition[] = []
  const off = new Set(t.disabled)
  const add = (name: ConditionName, message: string, value?: number, threshold?: number): void => {
    if (off.has(name)) return
    out.push({ name, severity: SEVERITY_OF[name], message, ...(value !== undefined ? { value } : {}), ...(threshold !== undefined ? { threshold } : {}) })
  }
  const r = report.raft
  if (r?.failed !== undefined) add('raft-failed', `this peer's Raft loop failed: ${r.failed}`)
  if (r !== null && r.leader === null && r.noLeaderMs >= t.noLeaderMs) add('no-leader', `no Raft leader known for ${Math.round(r.noLeaderMs)} ms`, Math.round(r.noLeaderMs), t.noLeaderMs)
  if (r !== null && r.quorum.voters > 0 && r.quorum.reachable < r.quorum.needed) add('no-quorum', `${r.quorum.reachable} of ${r.quorum.voters} Raft voters reachable from here, ${r.quorum.needed} needed`, r.quorum.reachable, r.quorum.needed)
  const p = report.peers
  const others = p.known - 1 - p.left
  if (others > 0 && p.reachable === 1) add('isolated', `this peer reaches none of the ${others} hosts it knows`)
  const silentCount = p.suspected + p.unreachable
  if (silentCount > t.silentPeersMax) {
    const groups = report.partitions.map(g => `[${g.peers.map(short).join(', ')}]`).join(' ')
    add('partition', `${silentCount} host${silentCount === 1 ? '' : 's'} silent (${p.suspected} suspected, ${p.unreachable} unreachable) in ${report.partitions.length} group${report.partitions.length === 1 ? '' : 's'}: ${groups}`, silentCount, t.silentPeersMax)
  }
  if (report.sync.lagMax > t.syncLagMax) add('sync-lag', `a reachable host is ${report.sync.lagMax} updates ahead of this replica`, report.sync.lagMax, t.syncLagMax)
  else if (syncLagMsMax > t.syncLagMsMax) add('sync-lag', `a sync lag has lasted ${Math.round(syncLagMsMax)} ms`, Math.round(syncLagMsMax), t.syncLagMsMax)
  const lat = report.latency
  if (lat.raftCommit.count >= t.latencySamplesMin && lat.raftCommit.p99Ms > t.commitLatencyP99MsMax) add('commit-latency', `Raft commit p99 ${lat.raftCommit.p99Ms} ms over ${lat.raftCommit.count} commits`, lat.raftCommit.p99Ms, t.commitLatencyP99MsMax)
  if (lat.agentRequest.count >= t.latencySamplesMin && lat.agentRequest.p99Ms > t.requestLatencyP99MsMax) add('request-latency', `agent request p99 ${lat.agentRequest.p99Ms} ms over ${lat.agentRequest.count} requests`, lat.agentRequest.p99Ms, t.requestLatencyP99MsMax)
  if (report.load.overloaded > 0) add('load', `${report.load.overloaded} host${report.load.overloaded === 1 ? '' : 's'} at load >= ${t.hostLoadMax} (max ${report.load.max})`, report.load.max, t.hostLoadMax)
  // Only breakers refusing calls now: a half-open one (recovery over) waits for a probe that may never
  // come (routes stop at the first candidate that answers), and would hold the report degraded for good.
  if (report.breakers.open > t.openBreakersMax) add('breakers-open', `${report.breakers.open} breakers open, ${report.breakers.halfOpen} half-open`, report.breakers.open, t.openBreakersMax)
  if (report.rateLimits.limited > t.rateLimitedMax) add('rate-limited', `${report.rateLimits.limited} keys refused calls lately`, report.rateLimits.limited, t.rateLimitedMax)
  return out
}

/** The worst severity among `conditions` (`ok` when none). */
export function statusOf (conditions: readonly HealthCondition[]): HealthStatus {
  let s: HealthStatus = 'ok'
  for (const c of conditions) {
    if (c.severity === 'critical') return 'critical'
    s = 'degraded'
  }
  return s
}

function short (id: string): string {
  return id.length > 12 ? `…${id.slice(-8)}` : id
}

function round3 (x: number): number {
  return Math.round(x * 1000) / 1000
}
