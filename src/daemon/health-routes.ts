/**
 * The mesh health report over HTTP (FEATURES I3), over `peer.health()` (peers/health/report.ts), and its
 * metrics:
 *
 *   GET /v1/health/mesh     the report: status (ok | degraded | critical) and reasons, hosts known,
 *                           reachable, suspected, unreachable; suspected partitions; Raft quorum, leader
 *                           and lag per member; sync lag; coordination latency; load per host; breakers and
 *                           rate limits; the alerts raised. Always 200: the status is in the body.
 *
 * Metrics: `agora_health_status` (0 ok, 1 degraded, 2 critical), `agora_alerts{name}` (1 while the alert
 * is raised, for every condition name), `agora_health_peers{state}`, `agora_health_partitions`, and the
 * latency percentiles `agora_coordination_latency_ms{kind, quantile}` over the report's window, and the
 * reachability views `agora_health_views_total{result}` (sent, received, rejected, stale, future, over_quota).
 * Alerts reach the event stream as `alert:raised` and `alert:cleared` (http.ts).
 */
import { Counter, Gauge } from 'prom-client'
import type { Registry } from 'prom-client'
import type { Peer } from '../../peers/peer.js'
import { CONDITION_NAMES } from '../../peers/health/alerts.js'
import type { HealthReport } from '../../peers/health/report.js'

/** `agora_health_status` values. */
export const HEALTH_STATUS_VALUE: Readonly<Record<HealthReport['status'], number>> = Object.freeze({ ok: 0, degraded: 1, critical: 2 })

export interface HealthRouteContext {
  method: string
  parts: string[]
  send: (status: number, body: unknown) => void
}

export function healthRoutes (peer: Peer): { handle: (c: HealthRouteContext) => Promise<boolean> } {
  const handle = async (c: HealthRouteContext): Promise<boolean> => {
    if (c.parts[1] !== 'health' || c.parts[2] !== 'mesh' || c.parts.length !== 3 || c.method !== 'GET') return false
    c.send(200, peer.health())
    return true
  }
  return { handle }
}

/**
 * Registers the health gauges on `registry`. One report is computed per scrape (the gauges' collects
 * share it for {@link REPORT_REUSE_MS}), never per gauge.
 */
export function registerHealthMetrics (registry: Registry, peer: Peer): void {
  let cached: { at: number, report: HealthReport } | undefined
  const report = (): HealthReport => {
    const now = Date.now()
    if (cached === undefined || now - cached.at > REPORT_REUSE_MS) cached = { at: now, report: peer.health() }
    return cached.report
  }
  const gauge = (name: string, help: string, labelNames: string[], collect: (g: Gauge) => void): void => {
    // eslint-disable-next-line no-new
    new Gauge({ name, help, labelNames, registers: [registry], collect () { collect(this) } })
  }
  gauge('agora_health_status', 'Overall mesh health as this peer sees it: 0 ok, 1 degraded, 2 critical (GET /v1/health/mesh)', [], (g) => { g.set(HEALTH_STATUS_VALUE[report().status]) })
  gauge('agora_alerts', 'Alerts raised and not cleared (1), by condition name', ['name'], (g) => {
    const active = new Set(report().alerts.map(a => a.name))
    for (const name of CONDITION_NAMES) g.set({ name }, active.has(name) ? 1 : 0)
  })
  gauge('agora_health_peers', 'Hosts known by their state here (this peer counted as reachable)', ['state'], (g) => {
    const p = report().peers
    for (const state of ['reachable', 'suspected', 'unreachable', 'left'] as const) g.set({ state }, p[state])
  })
  gauge('agora_health_partitions', 'Suspected partitions: groups of silent hosts', [], (g) => { g.set(report().partitions.length) })
  gauge('agora_coordination_latency_ms', 'Coordination latency percentiles over the report\'s window (ms), by kind (raft_commit, agent_request, agent_message)', ['kind', 'quantile'], (g) => {
    const l = report().latency
    for (const [kind, s] of [['raft_commit', l.raftCommit], ['agent_request', l.agentRequest], ['agent_message', l.agentMessage]] as const) {
      g.set({ kind, quantile: '0.5' }, s.p50Ms)
      g.set({ kind, quantile: '0.9' }, s.p90Ms)
      g.set({ kind, quantile: '0.99' }, s.p99Ms)
    }
  })
  // eslint-disable-next-line no-new
  new Counter({
    name: 'agora_health_views_total',
    help: 'Reachability views (peers/health): sent by this peer, and received by result',
    labelNames: ['result'],
    registers: [registry],
    collect () {
      const s = peer.monitor.views.stats
      this.reset()
      for (const [result, n] of [['sent', s.viewsSent], ['received', s.viewsReceived], ['rejected', s.viewsRejected], ['stale', s.viewsStale], ['future', s.viewsFuture], ['over_quota', s.viewsOverQuota]] as const) this.inc({ result }, n)
    }
  })
}

/** A scrape's gauges share one report computed within this many ms. */
export const REPORT_REUSE_MS = 250
