/**
 * Prometheus metrics of a peer (O3), read from the peer's counters at scrape time, plus latency
 * histograms observed as things happen: HTTP requests by route template ({@link routeTemplate}, never
 * the raw path), anti-entropy exchanges, bid requests this peer sent, and its agents' bid handlers.
 * prom-client's process and Node.js metrics carry the `agora_` prefix (`agora_process_cpu_seconds_total`,
 * `agora_nodejs_eventloop_lag_seconds`...).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { Peer } from '../../peers/peer.js'
import type { AgentHandlerStore } from './agent-handlers.js'
import type { CoordinationRoutes } from './coordination-routes.js'
import { registerHealthMetrics } from './health-routes.js'
import { checkMetrics } from './check-routes.js'
import { registerProtectMetrics } from './protect-metrics.js'
import { registerBudgetMetrics } from './budget-metrics.js'

const ROLES = ['follower', 'preCandidate', 'candidate', 'leader'] as const

/** An outcome as a label: known words and `ERR_*` codes, anything else `other` (bounded cardinality). */
function outcomeLabel (o: string): string {
  return /^(bid|declined|revealed|noted|ignored|ERR_[A-Z_]{1,40})$/.test(o) ? o : 'other'
}

/** Prefix of prom-client's default (process and Node.js) metrics. */
export const DEFAULT_METRICS_PREFIX = 'agora_'

/** Buckets (seconds) of the request-latency histograms: 1 ms .. 30 s. */
export const LATENCY_BUCKETS_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

export interface DaemonMetrics {
  registry: Registry
  watchRaft: () => void
  /** One HTTP request done: its method, route template, status and duration. */
  observeHttp: (method: string, route: string, status: number, seconds: number) => void
  /** Stops listening to the peer. */
  close: () => void
  /** The HTTP handlers of the daemon's agents (calls served over callbacks and long-polls, bidders and voters included). */
  watchHandlers: (h: AgentHandlerStore) => void
  /** The HTTP leases and voters of the coordination routes. */
  watchCoordination: (c: CoordinationRoutes) => void
}

export function createMetrics (peer: Peer, http: { requests: number, errors4xx: number, errors5xx: number }): DaemonMetrics {
  const registry = new Registry()
  const commitLatency = new Histogram({
    name: 'agora_raft_commit_latency_seconds',
    help: 'Time from proposing a command on this peer to its result (committed and applied here)',
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry]
  })
  let watching: unknown
  const watchRaft = (): void => {
    const d = peer.raft
    if (d === undefined || watching === d) return
    watching = d
    d.on('raft:committed', (e) => { commitLatency.observe(e.ms / 1000) })
  }
  collectDefaultMetrics({ register: registry, prefix: DEFAULT_METRICS_PREFIX })
  const offs: Array<() => void> = []
  const httpLatency = new Histogram({
    name: 'agora_http_request_duration_seconds',
    help: 'HTTP API requests by method, route template and status (event streams excluded)',
    labelNames: ['method', 'route', 'status'],
    buckets: LATENCY_BUCKETS_SECONDS,
    registers: [registry]
  })
  const syncLatency = new Histogram({
    name: 'agora_sync_exchange_duration_seconds',
    help: 'Completed anti-entropy exchanges, by whether this peer started them',
    labelNames: ['initiator'],
    buckets: LATENCY_BUCKETS_SECONDS,
    registers: [registry]
  })
  offs.push(peer.on('sync:completed', (e) => { syncLatency.observe({ initiator: String(e.initiator) }, e.ms / 1000) }))
  const bidLatency = new Histogram({
    name: 'agora_bid_request_duration_seconds',
    help: 'Bid requests this peer sent (runAuction) to bidders\' hosts, round trip by outcome (bid, declined, error code)',
    labelNames: ['outcome'],
    buckets: LATENCY_BUCKETS_SECONDS,
    registers: [registry]
  })
  offs.push(peer.economy.on('auction:asked', (e) => { bidLatency.observe({ outcome: outcomeLabel(e.outcome) }, e.ms / 1000) }))
  const agentLatency = new Histogram({
    name: 'agora_agent_request_duration_seconds',
    help: 'Bid requests to agents of this peer: time their bid handler (HTTP callback, long-poll or in-process) took, by outcome',
    labelNames: ['outcome'],
    buckets: LATENCY_BUCKETS_SECONDS,
    registers: [registry]
  })
  offs.push(peer.economy.on('auction:answered', (e) => { if (e.handlerMs !== undefined) agentLatency.observe({ outcome: outcomeLabel(e.outcome) }, e.handlerMs / 1000) }))
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
  checkMetrics(registry, peer)
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
    return [[{ direction: 'sent' }, s.heartbeatsSent], [{ direction: 'received' }, s.heartbeatsReceived], [{ direction: 'rejected' }, s.heartbeatsRejected], [{ direction: 'stale' }, s.heartbeatsStale], [{ direction: 'future' }, s.heartbeatsFuture]]
  })
  c('agora_heartbeat_bytes_total', 'Heartbeat payload bytes (before gossipsub framing)', ['direction'], () => {
    const s = peer.stats().sync
    return [[{ direction: 'sent' }, s.heartbeatBytesSent], [{ direction: 'received' }, s.heartbeatBytesReceived]]
  })
  c('agora_liveness_probe_total', 'Probe liveness (liveness: probe): probe frames and membership notices, by kind', ['kind'], () => {
    const s = peer.stats().sync
    return [[{ kind: 'probes_sent' }, s.probesSent], [{ kind: 'probes_missed' }, s.probesMissed], [{ kind: 'indirect_probes' }, s.indirectProbes], [{ kind: 'frames_received' }, s.probeFramesReceived], [{ kind: 'probes_rejected' }, s.probesRejected], [{ kind: 'probes_over_quota' }, s.probesOverQuota], [{ kind: 'notices_sent' }, s.noticesSent], [{ kind: 'notices_received' }, s.noticesReceived], [{ kind: 'notices_rejected' }, s.noticesRejected], [{ kind: 'notices_over_quota' }, s.noticesOverQuota], [{ kind: 'notices_stale' }, s.noticesStale], [{ kind: 'suspicions_raised' }, s.suspicionsRaised], [{ kind: 'refutations' }, s.refutations]]
  })
  c('agora_liveness_probe_bytes_total', 'Probe liveness payload bytes (probe frames sent and received, notices received)', ['direction'], () => {
    const s = peer.stats().sync
    return [[{ direction: 'probe_sent' }, s.probeBytesSent], [{ direction: 'probe_received' }, s.probeBytesReceived], [{ direction: 'notice_received' }, s.noticeBytesReceived]]
  })
  c('agora_gossip_sealed_total', 'Sealed gossip messages (heartbeats, views, probe notices, group messages: one signature each), by outcome', ['result'], () => {
    const s = peer.stats().seal
    return [[{ result: 'sealed' }, s.sealed], [{ result: 'opened' }, s.opened], [{ result: 'rejected_decode' }, s.sealRejectedDecode], [{ result: 'rejected_signature' }, s.sealRejectedSignature]]
  })
  c('agora_gossip_bytes_total', 'Registry and variable update payload bytes gossiped (before gossipsub framing)', ['direction'], () => {
    const s = peer.stats().sync
    return [[{ direction: 'published' }, s.gossipBytesPublished], [{ direction: 'received' }, s.gossipBytesReceived]]
  })
  c('agora_variable_contributions_rejected_total', 'Eventual-variable contributions left out of the merge, by reason', ['reason'], () => {
    const s = peer.stats().variables
    return [[{ reason: 'invalid' }, s.invalidContributions], [{ reason: 'merge-mismatch' }, s.mergeMismatches], [{ reason: 'clock-drift' }, s.futureContributions], [{ reason: 'fenced' }, s.fencedContributions]]
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
    const s = peer.raft?.stats()
    return s === undefined ? [] : [[{ result: 'applied' }, s.applied], [{ result: 'duplicate' }, s.duplicates], [{ result: 'indefinite' }, s.indefinite]]
  })
  c('agora_raft_proposals_resent_total', 'Proposals of this follower sent to the leader again (not applied within proposalResendMs)', [], () => {
    const s = peer.raft?.stats()
    return s === undefined ? [] : [[{}, s.proposalsResent]]
  })
  c('agora_raft_apply_pauses_total', 'Pauses of this replica\'s applying at a settle for its worker\'s solve (applyWaitMs): started, and ended without the solve (timeout: applyWaitMs; backlog: applyBacklogMax)', ['event'], () => {
    const s = peer.raft?.stats()
    return s === undefined ? [] : [[{ event: 'started' }, s.applyPauses], [{ event: 'timeout' }, s.applyPausesTimedOut], [{ event: 'backlog' }, s.applyPausesBacklogFull]]
  })
  // The economy: counted from `economy:applied` on this replica (members), read from peer.economy.
  const auctionsSettled = new Counter({ name: 'agora_auctions_settled_total', help: 'Auctions finished on this replica, by status (settled, no-sale, failed)', labelNames: ['status'], registers: [registry] })
  const ledgerOps = new Counter({ name: 'agora_economy_commands_total', help: 'Economy commands applied on this replica, by type and result (ok, error)', labelNames: ['type', 'result'], registers: [registry] })
  offs.push(peer.economy.on('economy:applied', (e) => {
    const type = typeof e.command.type === 'string' && e.command.type.length <= 32 ? e.command.type : 'other'
    ledgerOps.inc({ type, result: e.result.ok ? 'ok' : 'error' })
    const status = e.result.ok ? e.result.status : undefined
    if ((type === 'auction.close' || type === 'auction.settle') && (status === 'settled' || status === 'no-sale' || status === 'failed')) auctionsSettled.inc({ status })
  }))
  g('agora_auctions_open', 'Auctions bidding or revealing (this replica; 0 off the Raft group)', () => peer.economy.replica?.openAuctions ?? 0)
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'agora_ledger_supply',
    help: 'Money supply on this replica by kind (minted, burned, circulating)',
    labelNames: ['kind'],
    registers: [registry],
    collect () {
      const s = peer.economy.replica?.supply()
      if (s === undefined) return
      this.set({ kind: 'minted' }, s.minted)
      this.set({ kind: 'burned' }, s.burned)
      this.set({ kind: 'circulating' }, s.circulating)
    }
  })
  let handlers: AgentHandlerStore | undefined
  c('agora_bid_requests_total', 'Bid requests for agents of this peer, by result', ['result'], () => {
    const s = peer.economy.stats
    const b = handlers?.stats.bid
    return [[{ result: 'served' }, s.bidRequestsServed], [{ result: 'refused' }, s.bidRequestsRefused], [{ result: 'callback' }, b?.callbacks ?? 0], [{ result: 'callback_error' }, b?.callbackErrors ?? 0], [{ result: 'polled' }, b?.polled ?? 0], [{ result: 'polled_answered' }, b?.answered ?? 0], [{ result: 'poll_timeout' }, b?.timedOut ?? 0]]
  })
  c('agora_auctions_run_total', 'Auctions run by this peer (runAuction)', [], () => [[{}, peer.economy.stats.auctionsRun]])
  // Coordination: the machine's changes counted from `coord:event` on this replica (members), and this peer's leases.
  const coordCounter = (name: string, help: string, labelNames: string[] = []): Counter => new Counter({ name, help, labelNames, registers: [registry] })
  const lockGrants = coordCounter('agora_coordination_lock_grants_total', 'Locks and semaphore permits granted (this replica; Raft members)')
  const lockWaits = coordCounter('agora_coordination_lock_waits_total', 'Lock requests queued behind a holder (this replica; Raft members)')
  const lockTimeouts = coordCounter('agora_coordination_lock_timeouts_total', 'Queued lock requests that timed out (this replica; Raft members)')
  const leaseGrants = coordCounter('agora_coordination_lease_grants_total', 'Leases granted (this replica; Raft members)')
  const leaseExpiries = coordCounter('agora_coordination_lease_expiries_total', 'Leases expired, not kept alive (this replica; Raft members)')
  const leaseRevocations = coordCounter('agora_coordination_lease_revocations_total', 'Leases revoked by their owner (this replica; Raft members)')
  const elections = coordCounter('agora_coordination_elections_total', 'Election leaders elected (this replica; Raft members)')
  const barriers = coordCounter('agora_coordination_barriers_total', 'Barrier generations ended, by result (released, broken) (this replica; Raft members)', ['result'])
  const votes = coordCounter('agora_coordination_votes_decided_total', 'Votes decided, by status (decided, failed) (this replica; Raft members)', ['status'])
  const byType: Record<string, () => void> = {
    'lock:acquired': () => { lockGrants.inc() },
    'lock:queued': () => { lockWaits.inc() },
    'lock:timeout': () => { lockTimeouts.inc() },
    'lease:granted': () => { leaseGrants.inc() },
    'lease:expired': () => { leaseExpiries.inc() },
    'lease:revoked': () => { leaseRevocations.inc() },
    'election:elected': () => { elections.inc() },
    'barrier:released': () => { barriers.inc({ result: 'released' }) },
    'barrier:broken': () => { barriers.inc({ result: 'broken' }) }
  }
  offs.push(peer.coordination.on('coord:event', (e) => {
    if (e.type === 'vote:decided') votes.inc({ status: e.decision.status })
    else if (Object.hasOwn(byType, e.type)) byType[e.type]!()
  }))
  const leaseLosses = coordCounter('agora_coordination_lease_losses_total', 'Leases of this peer lost, by reason (not-renewed: not renewed in time as this peer counts; expired: expired in the group)', ['reason'])
  offs.push(peer.coordination.on('lease:lost', (e) => {
    if (e.reason === 'not renewed in time') leaseLosses.inc({ reason: 'not-renewed' })
    else if (e.reason === 'expired in the group') leaseLosses.inc({ reason: 'expired' })
  }))
  c('agora_coordination_keepalives_total', 'Keepalives of this peer\'s leases (one command renews them all), by result', ['result'], () => {
    const s = peer.coordination.stats
    return [[{ result: 'ok' }, s.keepalives], [{ result: 'failed' }, s.keepaliveFailures]]
  })
  g('agora_coordination_leases_held', 'Leases this peer holds now (its session lease and its HTTP clients\' included)', () => peer.coordination.leaseCount)
  let coordination: CoordinationRoutes | undefined
  g('agora_coordination_http_leases', 'Leases held for HTTP clients of this daemon', () => coordination?.http.size ?? 0)
  c('agora_coordination_http_leases_ended_total', 'HTTP leases ended other than by their client: lapsed (not kept alive), lost (the peer lost the lease)', ['reason'], () => {
    const s = coordination?.http.stats
    return [[{ reason: 'lapsed' }, s?.leasesLapsed ?? 0], [{ reason: 'lost' }, s?.leasesLost ?? 0]]
  })
  c('agora_vote_requests_total', 'Vote requests for agents of this peer, by result', ['result'], () => {
    const v = handlers?.stats.vote
    return [[{ result: 'served' }, peer.coordination.stats.voteRequestsServed], [{ result: 'callback' }, v?.callbacks ?? 0], [{ result: 'callback_error' }, v?.callbackErrors ?? 0], [{ result: 'polled' }, v?.polled ?? 0], [{ result: 'polled_answered' }, v?.answered ?? 0], [{ result: 'poll_timeout' }, v?.timedOut ?? 0]]
  })
  // The agents' request interface: calls served by this peer's agents, by kind and outcome (reply,
  // delivered or the error code), and what the daemon's HTTP handlers did with them.
  const served = new Counter({ name: 'agora_agent_requests_total', help: 'Requests and messages served by agents of this peer, by kind (request, message) and outcome (reply, delivered, or the error code)', labelNames: ['kind', 'outcome'], registers: [registry] })
  offs.push(peer.agents.on('agent:served', (e) => { served.inc({ kind: e.kind, outcome: /^(reply|delivered|ERR_[A-Z_]{1,40})$/.test(e.outcome) ? e.outcome : 'other' }) }))
  c('agora_agent_handler_calls_total', 'Calls to the HTTP handlers of this daemon\'s agents, by kind family and result', ['kind', 'result'], () => {
    const out: Array<[Record<string, string>, number]> = []
    for (const [kind, s] of Object.entries(handlers?.stats ?? {})) {
      out.push([{ kind, result: 'callback' }, s.callbacks], [{ kind, result: 'callback_error' }, s.callbackErrors], [{ kind, result: 'polled' }, s.polled], [{ kind, result: 'answered' }, s.answered], [{ kind, result: 'timeout' }, s.timedOut], [{ kind, result: 'refused' }, s.refused])
    }
    return out
  })
  g('agora_agent_handler_calls_pending', 'Calls waiting for the HTTP handlers of this daemon\'s agents (inboxes and callbacks)', () => handlers?.pendingCalls ?? 0)
  g('agora_agent_handlers', 'Agents of this daemon with HTTP handlers', () => handlers?.size ?? 0)
  // Durable tasks: the machine's changes counted from this replica's events (Raft members), and the live ones.
  const taskCounter = (name: string, help: string): Counter => new Counter({ name, help, registers: [registry] })
  const tasksByEvent: Record<string, Counter> = {
    'task:submitted': taskCounter('agora_tasks_submitted_total', 'Tasks submitted (this replica; Raft members)'),
    'task:completed': taskCounter('agora_tasks_completed_total', 'Tasks completed (this replica; Raft members)'),
    'task:failed': taskCounter('agora_tasks_failed_total', 'Tasks failed, no retry left (this replica; Raft members)'),
    'task:reassigned': taskCounter('agora_tasks_reassigned_total', 'Task attempts ended without completing, the task given to another attempt (this replica; Raft members)'),
    'task:cancelled': taskCounter('agora_tasks_cancelled_total', 'Tasks cancelled by their submitter (this replica; Raft members)')
  }
  for (const [ev, counter] of Object.entries(tasksByEvent)) offs.push(peer.tasks.on(ev as 'task:submitted', () => { counter.inc() }))
  g('agora_tasks_in_flight', 'Tasks submitted or assigned, not yet finished (this replica; 0 off the Raft group)', () => peer.raft?.app?.tasks.counts().live ?? 0)
  c('agora_task_attempts_total', 'Task attempts this peer\'s agents ran (their onTask handlers), by result', ['result'], () => {
    const s = peer.tasks.stats
    return [[{ result: 'ran' }, s.ran], [{ result: 'completed' }, s.completed], [{ result: 'failed' }, s.failed], [{ result: 'refused' }, s.refusedRunning]]
  })
  registerHealthMetrics(registry, peer)
  registerProtectMetrics(registry, peer)
  registerBudgetMetrics(registry, peer)
  c('agora_heals_total', 'Partition episodes that ended on this peer, by outcome (reported: healed, GET /v1/health/heals; unreported: the other side never came back; failed: the report could not be built)', ['outcome'], () => {
    const s = peer.healReports.stats
    return [[{ outcome: 'reported' }, s.reports], [{ outcome: 'unreported' }, s.closedUnreported], [{ outcome: 'failed' }, s.failures]]
  })
  g('agora_partition_open', 'A partition episode is open on this peer (hosts lost, not yet back and caught up): 1, else 0', () => peer.healReports.open ? 1 : 0)
  c('agora_http_requests_total', 'HTTP API requests', ['result'], () => [[{ result: 'all' }, http.requests], [{ result: '4xx' }, http.errors4xx], [{ result: '5xx' }, http.errors5xx]])
  return {
    registry,
    watchRaft,
    watchHandlers: (h) => { handlers = h },
    watchCoordination: (x) => { coordination = x },
    observeHttp: (method, route, status, seconds) => { httpLatency.observe({ method, route, status: String(status) }, seconds) },
    close: () => { for (const off of offs) off() }
  }
}
