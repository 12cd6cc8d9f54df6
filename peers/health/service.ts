/**
 * The health monitor of a peer (`peer.monitor`, FEATURES I3): gathers what the peer's services know into
 * the mesh health report (report.ts) that `peer.health()` returns, records coordination latency
 * (latency.ts), exchanges reachability views (views.ts), and every heartbeat period evaluates the report's
 * conditions into alerts with hysteresis (alerts.ts), emitted as `alert:raised` and `alert:cleared`.
 *
 * Breakers and rate limits are read from optional {@link HealthSources} (set `monitor.sources`): the
 * report lists them empty until they are wired.
 *
 * @example
 * ```ts
 * const monitor = new PeerHealth(components, { heartbeatIntervalMs: 1000, alerts: resolveAlertOptions({}) })
 * monitor.on('alert:raised', (a) => console.log(a.name, a.message))
 * await monitor.start()
 * monitor.latency.agentRequest.record(12.5)
 * monitor.report().status // 'ok' | 'degraded' | 'critical'
 * await monitor.stop()
 * ```
 */
import { TypedEmitter } from '../../src/base/events.js'
import type { Logger } from '../../src/base/log.js'
import type { LeaseTable } from '../../crdt/liveness.js'
import type { SyncHealthTable } from '../sync/health.js'
import type { RaftService } from '../raft/service.js'
import { AlertTracker } from './alerts.js'
import type { ActiveAlert, AlertCleared, AlertRaised, AlertThresholds } from './alerts.js'
import { LatencyRecorder } from './latency.js'
import { computeHealthReport } from './report.js'
import type { BreakerInput, HealthReport, HostInput, RateLimitInput, RaftInput } from './report.js'
import { VIEW_REFRESH_HEARTBEATS, VIEW_SILENT_MAX, VIEW_TTL_HEARTBEATS } from './view.js'
import { ViewExchange } from './views.js'
import type { ViewExchangeComponents } from './views.js'

/** Optional providers of state built elsewhere (breakers, rate limits), wired by the composition. */
export interface HealthSources {
  /** Breakers not closed (at most a few hundred). */
  breakers?: () => readonly BreakerInput[]
  /** Keys that refused calls lately. */
  rateLimits?: () => readonly RateLimitInput[]
}

export interface PeerHealthEvents extends Record<string, unknown> {
  /** A condition held long enough (`raiseAfterMs`): its alert is raised. */
  'alert:raised': AlertRaised
  /** A raised alert's condition has been gone for `clearAfterMs`. */
  'alert:cleared': AlertCleared
}

export interface PeerHealthComponents extends ViewExchangeComponents {
  /** The lease table (hosts known, their silence and load). */
  leases: LeaseTable
  /** The sync health table (connections, lag). */
  sync: Pick<SyncHealthTable, 'peek'>
  /** Agents of a host in the registry (an index lookup, not a scan). */
  agentsOf: (host: string) => number
  /** This peer's own load (what its heartbeats report). */
  localLoad: () => number
  /** The peer's Raft service, when it runs Raft. */
  raft: () => Pick<RaftService, 'status' | 'progress'> | undefined
}

export interface PeerHealthInit {
  mesh?: string
  heartbeatIntervalMs: number
  leaseMs?: number
  hostsMax?: number
  hlcDriftMsMax?: number
  alerts: AlertThresholds
  /** Window of the latency percentiles. Default 60000 ms. */
  latencyWindowMs?: number
  /**
   * Factor on the views' refresh period and time to live (default 1): the probe liveness mode raises it
   * with the mesh so each peer receives about one view per period (peers/sync/liveness/probe.ts).
   */
  viewScale?: () => number
}

export class PeerHealth extends TypedEmitter<PeerHealthEvents> {
  /** Coordination latency recorders: fed by the peer (Raft commits, agent requests and messages). */
  readonly latency: { raftCommit: LatencyRecorder, agentRequest: LatencyRecorder, agentMessage: LatencyRecorder }
  readonly views: ViewExchange
  /** Providers of breaker and rate-limit states (empty in the report until set). */
  sources: HealthSources = {}
  readonly thresholds: AlertThresholds
  /** Evaluations run, and those skipped because this peer's timer fired late (a blocked event loop). */
  readonly stats = { evaluations: 0, evaluationsSkipped: 0 }
  private readonly tracker: AlertTracker
  private readonly intervalMs: number
  private timer: ReturnType<typeof setInterval> | undefined
  private lastTickAt: number | undefined
  private noLeaderSince: number | undefined
  /** The silent set last published, and heartbeats since. */
  private published: string | undefined
  private ticksSincePublish = 0

  constructor (private readonly components: PeerHealthComponents, private readonly init: PeerHealthInit, private readonly now: () => number = Date.now) {
    super()
    this.intervalMs = init.heartbeatIntervalMs
    this.thresholds = init.alerts
    this.tracker = new AlertTracker(init.alerts)
    const mono = (): number => performance.now()
    const windowMs = init.latencyWindowMs !== undefined ? { windowMs: init.latencyWindowMs } : {}
    this.latency = { raftCommit: new LatencyRecorder(windowMs, mono), agentRequest: new LatencyRecorder(windowMs, mono), agentMessage: new LatencyRecorder(windowMs, mono) }
    this.views = new ViewExchange(components, {
      heartbeatIntervalMs: init.heartbeatIntervalMs,
      ...(init.mesh !== undefined ? { mesh: init.mesh } : {}),
      ...(init.leaseMs !== undefined ? { leaseMs: init.leaseMs } : {}),
      ...(init.hostsMax !== undefined ? { hostsMax: init.hostsMax } : {}),
      ...(init.hlcDriftMsMax !== undefined ? { hlcDriftMsMax: init.hlcDriftMsMax } : {})
    }, now)
  }

  /** Joins the view topic and evaluates every heartbeat period (idempotent). */
  async start (): Promise<void> {
    if (this.timer !== undefined) return
    await this.views.start()
    this.lastTickAt = this.now()
    this.timer = setInterval(() => { this.tick() }, this.intervalMs)
    this.timer.unref?.()
  }

  /** Stops the timer and leaves the view topic (idempotent); raised alerts stay as they are. */
  async stop (): Promise<void> {
    if (this.timer === undefined) return
    clearInterval(this.timer)
    this.timer = undefined
    await this.views.stop()
  }

  /** The alerts raised and not cleared. */
  alerts (): ActiveAlert[] {
    return this.tracker.active()
  }

  /** The health report now. */
  report (): HealthReport {
    const now = this.now()
    const c = this.components
    const hosts: HostInput[] = []
    for (const h of c.leases.hostsKnown()) {
      if (h.local) continue
      const s = c.sync.peek(h.host)
      const lag = s?.health.lag ?? 0
      hosts.push({
        peerId: h.host,
        silentMs: h.silentMs(),
        lease: h.status,
        left: h.left,
        connected: s?.health.connected ?? false,
        ...(h.rttMs !== undefined ? { rttMs: h.rttMs } : s?.health.rttMs !== undefined ? { rttMs: s.health.rttMs } : {}),
        ...(h.load !== undefined ? { load: h.load } : {}),
        agents: c.agentsOf(h.host),
        syncLag: lag,
        ...(lag > 0 && s?.lagSince !== undefined ? { syncLagMs: Math.max(0, now - s.lagSince) } : {}),
        ...(s?.health.lastSyncAt !== undefined ? { lastSyncAt: s.health.lastSyncAt } : {})
      })
    }
    return computeHealthReport({
      self: c.self,
      now,
      heartbeatIntervalMs: this.intervalMs,
      hosts,
      selfLoad: c.localLoad(),
      selfAgents: c.agentsOf(c.self),
      viewOf: (id) => this.views.get(id),
      viewTtlMs: VIEW_TTL_HEARTBEATS * (this.init.viewScale?.() ?? 1) * this.intervalMs,
      raft: this.raftInput(now),
      latency: { raftCommit: this.latency.raftCommit.snapshot(), agentRequest: this.latency.agentRequest.snapshot(), agentMessage: this.latency.agentMessage.snapshot() },
      breakers: this.sources.breakers?.() ?? [],
      rateLimits: this.sources.rateLimits?.() ?? [],
      thresholds: this.thresholds,
      alerts: this.tracker.active()
    })
  }

  /**
   * One evaluation: the report, its conditions fed to the alert tracker (events for the alerts raised and
   * cleared), and this peer's view published when its silent set changed or is due a refresh. Returns
   * the report (with the alerts after this evaluation).
   */
  evaluate (): HealthReport {
    const report = this.report()
    this.stats.evaluations++
    const { raised, cleared } = this.tracker.update(report.reasons, this.now())
    report.alerts = this.tracker.active()
    for (const a of raised) this.emit('alert:raised', a)
    for (const a of cleared) this.emit('alert:cleared', a)
    const silent: string[] = []
    for (const g of report.partitions) for (const id of g.peers) silent.push(id)
    silent.sort()
    const key = silent.join(',')
    this.ticksSincePublish++
    // A changed set goes out at most once per `viewScale` periods (each peer then receives about N / scale
    // views a period, at most ~10 with the probe mode's scale, even while the mesh forms and every set
    // changes each period); unchanged, it is refreshed every VIEW_REFRESH_HEARTBEATS × scale.
    const scale = this.init.viewScale?.() ?? 1
    if ((key !== this.published && this.ticksSincePublish >= scale) || this.ticksSincePublish >= VIEW_REFRESH_HEARTBEATS * scale) {
      this.published = key
      this.ticksSincePublish = 0
      this.views.publish({ sentAtMs: this.now(), reached: report.peers.reachable - 1, silentTotal: silent.length, silent: silent.slice(0, VIEW_SILENT_MAX) })
    }
    return report
  }

  private tick (): void {
    if (this.timer === undefined) return
    const now = this.now()
    const late = this.lastTickAt === undefined ? 0 : now - this.lastTickAt - this.intervalMs
    this.lastTickAt = now
    // A timer that fired late means this peer was not listening: every host looks silent until the
    // liveness tick discounts the stall (LeaseTable.stalled). Judge nothing on this tick.
    if (late > this.intervalMs / 2) { this.stats.evaluationsSkipped++; return }
    try {
      this.evaluate()
    } catch (err) {
      this.components.logger.warn('health evaluation failed', { error: (err as Error).message })
    }
  }

  private raftInput (now: number): RaftInput | undefined {
    const r = this.components.raft()
    if (r === undefined) return undefined
    const status = r.status()
    if (status.leader === undefined) this.noLeaderSince ??= now
    else this.noLeaderSince = undefined
    const match = r.progress()
    return { status, noLeaderMs: this.noLeaderSince === undefined ? 0 : now - this.noLeaderSince, ...(match !== undefined ? { match } : {}) }
  }
}
