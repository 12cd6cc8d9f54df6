import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { SealedMessage } from '../../seal.js'
import type { Logger } from '../../../src/base/log.js'
import type { SyncHealthTable } from '../health.js'
import { DEFAULT_MESH } from '../constants.js'
import {
  DEFAULT_HEARTBEAT_INTERVAL_MS, DEFAULT_HLC_DRIFT_MS_MAX, DEFAULT_HOSTS_MAX, DEFAULT_LEASE_HEARTBEATS, HEARTBEAT_AGE_MAX_LEASES, HEARTBEAT_AGE_MIN_MS,
  LEAVING_TIMEOUT_MS, heartbeatTopic
} from './constants.js'
import { HeartbeatFilter, decodeHeartbeat, encodeHeartbeat } from './heartbeat.js'
import type { Liveness, LivenessComponents, LivenessInit, LivenessStats } from './index.js'
import { ProbeDetector, emptyProbeStats } from './probe.js'
import type { DocPosition } from './probe-codec.js'

export class LivenessService implements Liveness {
  readonly stats: LivenessStats = {
    heartbeatsSent: 0,
    heartbeatsReceived: 0,
    heartbeatsRejected: 0,
    heartbeatsStale: 0,
    heartbeatsFuture: 0,
    livenessStalledMs: 0,
    heartbeatBytesSent: 0,
    heartbeatBytesReceived: 0,
    ...emptyProbeStats()
  }

  /** The probe failure detector (`liveness: 'probe'`), else undefined (heartbeats every period). */
  readonly detector: ProbeDetector | undefined
  /** Periods until this peer's next heartbeat (probe mode: heartbeats every `detector.heartbeatEvery()` periods). */
  private heartbeatCountdown = 0

  private readonly pubsub: LivenessComponents['pubsub']
  private readonly node: LivenessComponents['node']
  private readonly replica: LivenessComponents['replica']
  private readonly registry: LivenessComponents['registry']
  private readonly membership: LivenessComponents['membership']
  private readonly antiEntropy: LivenessComponents['antiEntropy']
  private readonly peers: SyncHealthTable
  private readonly log: Logger
  private readonly topic: string
  private readonly intervalMs: number
  private readonly load: () => number
  private readonly selfId: string
  private running = false
  /** The leave was announced: no more heartbeats until the next start. */
  private leaving = false
  private timer: ReturnType<typeof setInterval> | undefined
  /** When the last tick ran (Date.now()): a later tick measures how late its timer fired. */
  private lastTickAt: number | undefined
  /** Bounds heartbeat stamps (replays, and stamps far ahead of our clock). */
  private readonly heartbeatFilter: HeartbeatFilter

  constructor (components: LivenessComponents, init: LivenessInit = {}) {
    this.pubsub = components.pubsub
    this.node = components.node
    this.replica = components.replica
    this.registry = components.registry
    this.membership = components.membership
    this.antiEntropy = components.antiEntropy
    this.peers = components.health
    this.log = components.logger
    this.topic = heartbeatTopic(init.mesh ?? DEFAULT_MESH)
    this.intervalMs = init.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS
    const leaseMs = init.leaseMs ?? DEFAULT_LEASE_HEARTBEATS * this.intervalMs
    this.heartbeatFilter = new HeartbeatFilter({
      ageMaxMs: Math.max(HEARTBEAT_AGE_MAX_LEASES * leaseMs, HEARTBEAT_AGE_MIN_MS),
      driftMsMax: init.hlcDriftMsMax ?? DEFAULT_HLC_DRIFT_MS_MAX,
      hostsMax: init.hostsMax ?? DEFAULT_HOSTS_MAX
    })
    this.load = init.load ?? (() => 0)
    this.selfId = this.replica.id
    if (init.mode === 'probe') {
      this.detector = new ProbeDetector({
        node: components.node,
        pubsub: this.pubsub,
        membership: this.membership,
        registry: this.registry,
        logger: this.log,
        self: this.selfId,
        ownDocs: () => this.ownDocs(),
        load: this.load,
        onAck: (from, ack) => { this.notePositions(from, ack.docs, Date.now()) },
        ...(components.sign !== undefined ? { sign: components.sign } : {})
      }, { mesh: init.mesh ?? DEFAULT_MESH, intervalMs: this.intervalMs, leaseMs, hostsMax: init.hostsMax ?? DEFAULT_HOSTS_MAX }, this.stats)
    }
  }

  async start (): Promise<void> {
    if (this.running) return
    this.running = true
    this.leaving = false
    this.pubsub.topicValidators.set(this.topic, (peer, msg) => this.onHeartbeat(msg, peer.toString()))
    this.pubsub.subscribe(this.topic)
    await this.detector?.start()
    // Probe mode: the first heartbeat at a random period of the first round, so peers started together spread theirs.
    this.heartbeatCountdown = this.detector === undefined ? 0 : Math.floor(Math.random() * 2)
    this.lastTickAt = Date.now()
    this.timer = setInterval(() => { this.tick() }, this.intervalMs)
    this.timer.unref?.()
  }

  async stop (): Promise<void> {
    if (!this.running) return
    this.running = false
    clearInterval(this.timer)
    await this.detector?.stop()
    this.pubsub.topicValidators.delete(this.topic)
    try { this.pubsub.unsubscribe(this.topic) } catch {}
  }

  async announceLeaving (timeoutMs = LEAVING_TIMEOUT_MS): Promise<void> {
    if (!this.running || this.membership.connectedMembers().length === 0) return
    // Probe mode: the detector stops speaking for this peer and names the incarnation the leave outranks.
    const incarnation = this.detector?.leave()
    this.leaving = true
    const bytes = encodeHeartbeat({ sentAtMs: Date.now(), load: 0, docs: this.ownDocs(), leaving: true, ...(incarnation !== undefined ? { incarnation } : {}) })
    await Promise.race([
      this.pubsub.publish(this.topic, bytes).catch(() => {}),
      new Promise(resolve => setTimeout(resolve, timeoutMs).unref?.())
    ])
  }

  private ownDocs (): DocPosition[] {
    const docs: DocPosition[] = []
    for (const kind of ['reg', 'var'] as const) {
      const e = this.replica.entry(kind, this.selfId)
      if (e !== undefined) docs.push({ kind, incarnation: e.incarnation, seq: e.seq })
    }
    return docs
  }

  private tick (): void {
    if (!this.running || this.leaving) return
    if (--this.heartbeatCountdown <= 0) {
      this.heartbeatCountdown = this.detector?.heartbeatEvery() ?? 1
      const bytes = encodeHeartbeat({ sentAtMs: Date.now(), load: Math.min(1, Math.max(0, this.load())), docs: this.ownDocs() })
      this.stats.heartbeatsSent++
      this.stats.heartbeatBytesSent += bytes.length
      this.pubsub.publish(this.topic, bytes).catch(() => {})
    }
    // A tick that fires late shows this peer was not listening (a blocked event loop, a starved or
    // suspended process): that time is not the hosts' silence (heartbeats wait in the sockets).
    const now = Date.now()
    const late = this.lastTickAt === undefined ? 0 : now - this.lastTickAt - this.intervalMs
    this.lastTickAt = now
    if (late > 0) {
      this.stats.livenessStalledMs += late
      this.registry.leases.stalled(late)
    }
    this.detector?.tick(now, late)
    this.registry.sweep()
    // Refresh RTTs for nearest-healthy.
    for (const c of this.node.getConnections()) {
      const s = this.peers.peek(c.remotePeer.toString())
      if (s !== undefined && c.rtt !== undefined) {
        s.health.rttMs = c.rtt
        const h = this.registry.leases.get(s.health.peerId)
        if (h !== undefined) h.rttMs = c.rtt
      }
    }
  }

  private onHeartbeat (msg: SealedMessage, via?: string): TopicValidatorResult {
    const from = msg.from
    if (from === this.selfId) return TopicValidatorResult.Ignore
    this.stats.heartbeatBytesReceived += msg.data.length
    let hb
    try {
      hb = decodeHeartbeat(msg.data)
    } catch (err) {
      this.stats.heartbeatsRejected++
      this.log.warn('heartbeat rejected', { from, error: (err as Error).message })
      return TopicValidatorResult.Reject
    }
    // A replayed heartbeat (republished after gossipsub's seen-cache expired) must not fake liveness
    // or a leave: each sender's heartbeats must be newer than its last one, and not older than
    // HEARTBEAT_AGE_MAX_LEASES leases (or a minute) by our clock, which tolerates ordinary clock skew.
    // One stamped more than hlcDriftMsMax ahead of our clock is ignored without being recorded.
    const verdict = this.heartbeatFilter.check(from, hb.sentAtMs)
    if (verdict !== 'accept') {
      if (verdict === 'future') {
        this.stats.heartbeatsFuture++
        this.log.warn('heartbeat from the future ignored', { from, sentAtMs: hb.sentAtMs })
      } else {
        this.stats.heartbeatsStale++
      }
      return TopicValidatorResult.Ignore
    }
    this.stats.heartbeatsReceived++
    if (hb.leaving === true) {
      this.detector?.left(from, hb.incarnation)
      this.registry.hostLeft(from)
      return TopicValidatorResult.Accept
    }
    const s = this.peers.get(from)
    const now = Date.now()
    // Probe mode: a heartbeat is evidence for the detector, which renews the lease unless the host is suspected.
    if (this.detector !== undefined) this.detector.heardHeartbeat(from, hb.load, now, via)
    else this.registry.heard(from, { load: hb.load, ...(s.health.rttMs !== undefined ? { rttMs: s.health.rttMs } : {}) })
    this.notePositions(from, hb.docs, now)
    return TopicValidatorResult.Accept
  }

  /**
   * Positions of `from`'s own documents, from its heartbeat or its probe ACK: the lag, and a pull when
   * it is still there a heartbeat period after it was first seen.
   */
  private notePositions (from: string, docs: DocPosition[], now: number): void {
    const s = this.peers.get(from)
    s.health.lastHeartbeatAt = now
    let lag = 0
    for (const d of docs) {
      const mine = this.replica.entry(d.kind, from)
      // A document over its quota here is not lag: we would refuse what a pull brings, save a new
      // incarnation (the host's compaction), which still counts.
      if (this.replica.overQuota(d.kind, from) && (mine === undefined || d.incarnation === mine.incarnation)) continue
      if (mine === undefined) lag += d.seq + 1
      else if (d.incarnation > mine.incarnation) lag += d.seq + 1
      else if (d.incarnation === mine.incarnation && d.seq > mine.seq) lag += d.seq - mine.seq
    }
    s.health.lag = lag
    if (lag === 0) {
      delete s.lagSince
    } else if (s.lagSince === undefined) {
      s.lagSince = now
    } else if (now - s.lagSince >= this.intervalMs) {
      // Still behind a heartbeat later: the gossip was lost (or we were away). Pull.
      s.lagSince = now
      this.antiEntropy.requestSync(this.membership.isMember(from) ? from : this.membership.randomMember())
    }
  }
}
