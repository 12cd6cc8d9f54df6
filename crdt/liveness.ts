/**
 * Liveness (R5): a local lease table fed by gossiped heartbeats, kept outside Yjs so it leaves no
 * tombstones. A host whose lease expired is `unreachable`; after a longer grace it is pruned (its
 * registry document dropped). Pure: the clock is injected and {@link LeaseTable.sweep} is called by the
 * peer's timer, so tests drive time by hand.
 */

export interface LivenessOptions {
  /** A host is unreachable when not heard from for this long. Default 3 × heartbeatIntervalMs. */
  leaseMs: number
  /** An unreachable host's agents are dropped after this much more silence. Default 10 × leaseMs. */
  pruneAfterMs: number
  /** Pruned hosts remembered (so relayed copies of their documents are refused until they speak again). */
  prunedHostsMax: number
}

export type HostStatus = 'alive' | 'unreachable'

/** Per-host liveness record; agent views hold a reference so their status is always current. */
export class HostState {
  readonly host: string
  readonly local: boolean
  /** Local clock when we last heard the host (a heartbeat or one of its own messages). */
  lastHeardAt: number
  status: HostStatus = 'alive'
  /** It said it was leaving (a graceful stop) and has not been heard since: unreachable, but not a fault. */
  left = false
  /** Round-trip time to the host in ms, when measured (nearest-healthy strategy). */
  rttMs: number | undefined
  /** The host's self-reported load in [0, 1]. */
  load: number | undefined
  /**
   * A document of this host went over `docBytesMax` here: its later updates are refused, so what this
   * replica shows of it may be stale until the host compacts (replica.ts, quotas).
   */
  overQuota = false
  /** The clock this record measures silence with. */
  readonly now: () => number

  constructor (host: string, local: boolean, now: number, clock: () => number) {
    this.host = host
    this.local = local
    this.lastHeardAt = now
    this.now = clock
  }

  /** Ms since we last heard from the host (0 for the local host). */
  silentMs (): number {
    return this.local ? 0 : Math.max(0, this.now() - this.lastHeardAt)
  }

  get reachable (): boolean {
    return this.local || this.status === 'alive'
  }
}

export interface SweepResult {
  /** Hosts that just became unreachable. */
  unreachable: HostState[]
  /** Hosts to prune now. */
  pruned: HostState[]
}

export class LeaseTable {
  readonly options: LivenessOptions
  private readonly hosts = new Map<string, HostState>()
  private readonly pruned = new Map<string, number>()
  private readonly clock: () => number
  readonly localHost: HostState

  constructor (localHost: string, options: LivenessOptions, clock: () => number) {
    this.options = options
    this.clock = clock
    this.localHost = new HostState(localHost, true, clock(), clock)
    this.hosts.set(localHost, this.localHost)
  }

  /** The record of a host, created (alive, heard now) if unknown. */
  state (host: string): HostState {
    let s = this.hosts.get(host)
    if (s === undefined) {
      s = new HostState(host, false, this.clock(), this.clock)
      this.hosts.set(host, s)
    }
    return s
  }

  get (host: string): HostState | undefined {
    return this.hosts.get(host)
  }

  /**
   * A heartbeat (or another proof of life signed by the host) arrived. Returns true when the host was
   * unreachable or pruned and is back.
   */
  heard (host: string, info: { load?: number, rttMs?: number } = {}): boolean {
    const s = this.state(host)
    s.lastHeardAt = this.clock()
    if (info.load !== undefined) s.load = info.load
    if (info.rttMs !== undefined) s.rttMs = info.rttMs
    const back = s.status === 'unreachable' || this.pruned.has(host)
    s.status = 'alive'
    s.left = false
    this.pruned.delete(host)
    return back
  }

  /**
   * The host said it is leaving (a graceful stop): it is unreachable at once, without waiting for its
   * lease. Its documents stay until the usual prune grace; it is alive again when next heard. Returns
   * true if its status changed.
   */
  left (host: string): boolean {
    const s = this.hosts.get(host)
    if (s === undefined || s.local || s.status === 'unreachable') return false
    s.status = 'unreachable'
    s.left = true
    // Prune after the usual grace, counted from now.
    s.lastHeardAt = Math.min(s.lastHeardAt, this.clock() - this.options.leaseMs)
    return true
  }

  /** False for a host pruned and not heard from since: its documents are refused. */
  accepts (host: string): boolean {
    return !this.pruned.has(host)
  }

  /**
   * This peer could not listen for `ms` (its timers fired that late: its event loop was blocked, the
   * process starved or suspended). Silence is counted only while this peer listens: every remote host's
   * last-heard time moves forward by `ms` (never past now), so the heartbeats that waited in the sockets
   * meanwhile are read before any host is judged silent. Without it, one sweep after a stall longer than
   * `leaseMs + pruneAfterMs` would prune every host at once, and a host whose documents cannot be fetched
   * again (one over our `docBytesMax`) would lose them for good.
   */
  stalled (ms: number): void {
    if (!(ms > 0)) return
    const now = this.clock()
    for (const s of this.hosts.values()) {
      if (!s.local) s.lastHeardAt = Math.min(now, s.lastHeardAt + ms)
    }
  }

  /**
   * Finds hosts whose lease expired and hosts to prune, and updates their status. A host is pruned only
   * by a sweep after the one that found it unreachable (never alive to pruned at once).
   */
  sweep (): SweepResult {
    const now = this.clock()
    const out: SweepResult = { unreachable: [], pruned: [] }
    for (const s of this.hosts.values()) {
      if (s.local) continue
      const silent = now - s.lastHeardAt
      if (s.status === 'unreachable' && silent > this.options.leaseMs + this.options.pruneAfterMs) {
        out.pruned.push(s)
      } else if (s.status === 'alive' && silent > this.options.leaseMs) {
        s.status = 'unreachable'
        out.unreachable.push(s)
      }
    }
    for (const s of out.pruned) {
      this.hosts.delete(s.host)
      this.pruned.set(s.host, now)
      if (this.pruned.size > this.options.prunedHostsMax) {
        const oldest = this.pruned.keys().next().value
        if (oldest !== undefined) this.pruned.delete(oldest)
      }
    }
    return out
  }

  hostsKnown (): HostState[] {
    return [...this.hosts.values()]
  }
}
