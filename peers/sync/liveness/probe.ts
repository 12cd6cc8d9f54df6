/**
 * The probe failure detector (`liveness: 'probe'`, peers/PROTOCOL.md 1e): SWIM (Das, Gupta, Motivala
 * 2002) fitted to a libp2p mesh, so that what a peer sends, receives and verifies per period does not grow
 * with the number of hosts.
 *
 * - **Probing.** Every period this peer probes one of its connected members (round robin over a shuffled
 *   list) with a PING on `/agora/<mesh>/probe/1.0.0`; the ACK carries the target's incarnation, load and
 *   document positions (lag, as heartbeats do). No ACK within `directTimeoutMs`: up to
 *   {@link INDIRECT_PROBES} other members are asked to ping it (PING_REQ; a helper pings only a peer it is
 *   connected to, else answers NACK). No ACK through them either: the target is *suspected*. A member
 *   whose connection closes is probed indirectly at once.
 * - **Dissemination.** A suspicion is published on the gossipsub topic `/agora/<mesh>/swim/2` (SUSPECT
 *   target@incarnation, signed by the suspecter); a suspected peer that hears it refutes with a higher
 *   incarnation (ALIVE, signed by itself: nobody else can refute for it, nobody else can forge it). A peer
 *   also publishes ALIVE with a new incarnation when it gains a connection (a join, a heal). Incarnations
 *   start at the wall clock (ms) so a restarted peer outranks its former self. Messages follow churn, not N.
 * - **Leases.** The lease table (crdt/liveness.ts) is renewed every period for every host this detector
 *   holds alive, so its usual expiry does the rest: a suspected host stops being renewed and its agents
 *   turn unreachable `leaseMs` later unless it refutes; a leaving host (its heartbeat's leaving flag) at
 *   once. Renewal stops for a host without direct evidence (an ACK, its ALIVE, its heartbeat, which now
 *   come every `slowEvery` periods) for `evidenceMs`, and for every host while this peer got no reply from
 *   anyone for `leaseMs` (cut off: nothing it holds is known any more).
 * - **Joining.** On its first member connection (and after being cut off) a peer asks that member for the
 *   hosts it holds alive (MEMBERS_REQ → MEMBERS); entries only add hosts this peer did not know, so a
 *   hostile member cannot make it drop one.
 *
 * Bounds: at most `hostsMax` hosts held (non-alive ones evicted first), inbound requests per remote peer
 * by a token bucket ({@link PROBE_QUOTA_BURST}, {@link PROBE_QUOTA_PER_PERIOD}), at most
 * {@link PROBE_INBOUND_MAX} handled at once, notices per author by token buckets; every refusal counted.
 */
import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { SealedMessage, SealedPubsub } from '../../seal.js'
import type { Connection, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Logger } from '../../../src/base/log.js'
import { KeyedTokenBuckets } from '../../../protocols/infrastructure/token-bucket.js'
import type { ReplicatedRegistry } from '../../../crdt/registry.js'
import { framedStream } from '../../framing.js'
import type { AgoraLibp2p } from '../../node.js'
import type { Membership } from '../membership/index.js'
import {
  MEMBERS_MAX, PROBE_FRAME_BYTES_MAX, decodeNotice, decodeProbeFrame, encodeNotice, encodeProbeFrame
} from './probe-codec.js'
import type { DocPosition, Notice, ProbeFrame } from './probe-codec.js'

/** Stream protocol of probes. */
export function probeProtocol (mesh: string): string {
  return `/agora/${mesh}/probe/1.0.0`
}
/** Gossipsub topic of membership notices (ALIVE, SUSPECT). */
export function swimTopic (mesh: string): string {
  return `/agora/${mesh}/swim/2`
}

/** Members asked to ping a target that did not answer directly. */
export const INDIRECT_PROBES = 3
/** Probe requests (PING, PING_REQ, MEMBERS_REQ) a remote peer may send in a burst. */
export const PROBE_QUOTA_BURST = 32
/** Probe requests a remote peer's quota regains per period (an honest member sends about 1 + INDIRECT_PROBES). */
export const PROBE_QUOTA_PER_PERIOD = 16
/** Inbound probe requests handled at once (over all peers). */
export const PROBE_INBOUND_MAX = 64
/** Inbound probe streams per connection (libp2p's maxInboundStreams). */
export const PROBE_STREAMS_MAX = 8
/** Notices (ALIVE or SUSPECT) an author may publish in a burst. */
export const NOTICE_QUOTA_BURST = 8
/** Notices an author's quota regains per period. */
export const NOTICE_QUOTA_PER_PERIOD = 2
/** A suspicion naming an incarnation further ahead of the one known is not credible (and is ignored). */
export const INCARNATION_AHEAD_MAX = 1024
/** Heartbeats each peer should receive per period: a peer's heartbeat period grows with the hosts it knows. */
export const HEARTBEATS_PER_PERIOD = 2
/** Times an ALIVE that reached no subscriber is published again (one period apart). */
export const ALIVE_RETRIES_MAX = 10
/** Highest local health multiplier: probe timeouts stretch to (1 + this) half periods. */
export const LOCAL_HEALTH_MAX = 8
/** Hosts per step of the health views' refresh scale ({@link ProbeDetector.viewScale}). */
export const VIEW_REFRESH_HOSTS = 10
/** A host with no direct evidence for this many of its (slow) heartbeat periods is no longer renewed. */
export const EVIDENCE_HEARTBEATS = 3
/** A peer publishes at most one refutation per this fraction of a period (a flood of suspicions of it gets one answer). */
export const REFUTE_EVERY_PERIODS = 0.25
/** Suspicions this peer remembers having published (so it publishes one per target and incarnation). */
const PUBLISHED_MAX = 1024

export type MemberState = 'alive' | 'suspect' | 'left'

interface MemberEntry {
  host: string
  incarnation: number
  state: MemberState
  /** When the state was entered (local clock). */
  since: number
  /** Last direct evidence of life (ACK, its ALIVE, its heartbeat). */
  evidenceAt: number
  load: number | undefined
  /**
   * The incarnation is another member's word (its MEMBERS list), not the host's: the host's own (its
   * signed ALIVE, its ACK over its own stream) replaces it, lower or not, so a made-up one cannot make
   * everything the host says look stale here.
   */
  hearsay?: boolean
}

export interface ProbeStats {
  probesSent: number
  probeAcks: number
  /** Direct probes that got no ACK in time. */
  probesMissed: number
  indirectProbes: number
  probesReceived: number
  /** Malformed or unexpected frames (stream reset). */
  probesRejected: number
  /** Requests beyond a remote peer's quota or the inbound limit (stream reset). */
  probesOverQuota: number
  probeBytesSent: number
  probeBytesReceived: number
  /** Probe frames read (requests and replies). */
  probeFramesReceived: number
  suspicionsRaised: number
  suspicionsReceived: number
  /** ALIVE notices this peer published to refute a suspicion of itself. */
  refutations: number
  noticesSent: number
  noticesReceived: number
  noticeBytesReceived: number
  /** Unsigned or malformed notices. */
  noticesRejected: number
  noticesOverQuota: number
  /** Notices about an older incarnation than the one known, or an implausibly newer one. */
  noticesStale: number
  membersFetched: number
}

export function emptyProbeStats (): ProbeStats {
  return {
    probesSent: 0, probeAcks: 0, probesMissed: 0, indirectProbes: 0, probesReceived: 0, probesRejected: 0, probesOverQuota: 0,
    probeBytesSent: 0, probeBytesReceived: 0, probeFramesReceived: 0, suspicionsRaised: 0, suspicionsReceived: 0, refutations: 0, noticesSent: 0,
    noticesReceived: 0, noticeBytesReceived: 0, noticesRejected: 0, noticesOverQuota: 0, noticesStale: 0, membersFetched: 0
  }
}

export interface ProbeDetectorComponents {
  node: Pick<AgoraLibp2p, 'handle' | 'unhandle' | 'dialProtocol' | 'getConnections'>
  /** Gossipsub through the application seal (peers/seal.ts): publishes are signed, validators see authenticated authors. */
  pubsub: Pick<SealedPubsub, 'topicValidators' | 'subscribe' | 'unsubscribe' | 'publish'>
  membership: Pick<Membership, 'connectedMembers' | 'isMember' | 'register'>
  registry: Pick<ReplicatedRegistry, 'heard' | 'leases'>
  logger: Logger
  self: string
  /** This peer's own documents' positions (in ACKs). */
  ownDocs: () => DocPosition[]
  /** This peer's load, in [0, 1] (in ACKs). */
  load: () => number
  /** An ACK of `from` arrived (directly or relayed): its load and document positions. */
  onAck: (from: string, ack: { load: number, docs: DocPosition[] }) => void
}

export interface ProbeDetectorInit {
  mesh: string
  intervalMs: number
  leaseMs: number
  hostsMax: number
}

/** Fisher–Yates, in place. */
function shuffle<T> (a: T[]): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    ;[a[i], a[j]] = [a[j]!, a[i]!]
  }
  return a
}

class NotConnectedError extends Error {
  constructor (peer: string) { super(`not connected to ${peer}`); this.name = 'NotConnectedError' }
}

export class ProbeDetector {
  readonly stats: ProbeStats
  private readonly members = new Map<string, MemberEntry>()
  private readonly protocol: string
  private readonly topic: string
  private readonly log: Logger
  private readonly probeQuota: KeyedTokenBuckets
  private readonly aliveQuota: KeyedTokenBuckets
  private readonly suspectQuota: KeyedTokenBuckets
  private readonly published = new Set<string>()
  private readonly inFlight = new Set<string>()
  private order: string[] = []
  private incarnationValue = Date.now()
  private lastReplyAt = 0
  private inbound = 0
  private running = false
  private stopController = new AbortController()
  private unregister: (() => void) | undefined
  private fetchedMembers = false
  private aliveDue: ReturnType<typeof setTimeout> | undefined
  private lastAliveAt = 0
  private aliveRetries = 0
  /** Lifeguard's local health multiplier: 0 healthy .. LOCAL_HEALTH_MAX. */
  private localHealth = 0
  private refuteDue: ReturnType<typeof setTimeout> | undefined
  private refuteAbove = 0
  private lastRefuteAt = 0

  constructor (private readonly c: ProbeDetectorComponents, private readonly init: ProbeDetectorInit, stats?: ProbeStats) {
    this.stats = stats ?? emptyProbeStats()
    this.protocol = probeProtocol(init.mesh)
    this.topic = swimTopic(init.mesh)
    this.log = c.logger
    const perSecond = (perPeriod: number): number => (perPeriod * 1000) / init.intervalMs
    this.probeQuota = new KeyedTokenBuckets({ ratePerSecond: perSecond(PROBE_QUOTA_PER_PERIOD), burst: PROBE_QUOTA_BURST }, init.hostsMax)
    this.aliveQuota = new KeyedTokenBuckets({ ratePerSecond: perSecond(NOTICE_QUOTA_PER_PERIOD), burst: NOTICE_QUOTA_BURST }, init.hostsMax)
    this.suspectQuota = new KeyedTokenBuckets({ ratePerSecond: perSecond(NOTICE_QUOTA_PER_PERIOD), burst: NOTICE_QUOTA_BURST }, init.hostsMax)
  }

  /** This peer's incarnation (raised to refute a suspicion, and on every new connection). */
  get incarnation (): number {
    return this.incarnationValue
  }

  /** Hosts held, by state (tests, stats). */
  state (host: string): { state: MemberState, incarnation: number } | undefined {
    const m = this.members.get(host)
    return m === undefined ? undefined : { state: m.state, incarnation: m.incarnation }
  }

  /** Hosts held alive (the size a heartbeat period is scaled by). */
  get size (): number {
    return this.members.size
  }

  /**
   * Periods between two of this peer's heartbeats: enough that each peer receives about
   * {@link HEARTBEATS_PER_PERIOD} per period whatever the number of hosts.
   */
  heartbeatEvery (): number {
    return Math.max(1, Math.ceil(this.members.size / HEARTBEATS_PER_PERIOD))
  }

  /**
   * Factor on the health views' refresh period and time to live (peers/health): views are refreshed every
   * 10 × this periods, so each peer receives about one per period whatever the number of hosts.
   */
  viewScale (): number {
    return Math.max(1, Math.ceil(this.members.size / VIEW_REFRESH_HOSTS))
  }

  /** How long a host is renewed without direct evidence (ms). */
  evidenceMs (): number {
    return Math.max(this.init.leaseMs, EVIDENCE_HEARTBEATS * this.heartbeatEvery() * this.init.intervalMs)
  }

  async start (): Promise<void> {
    if (this.running) return
    this.running = true
    this.stopController = new AbortController()
    this.lastReplyAt = Date.now()
    await this.c.node.handle(this.protocol, (stream, connection) => { void this.respond(stream, connection) }, {
      maxInboundStreams: PROBE_STREAMS_MAX,
      maxOutboundStreams: PROBE_STREAMS_MAX
    })
    this.c.pubsub.topicValidators.set(this.topic, (_peer, msg) => this.onNotice(msg))
    this.c.pubsub.subscribe(this.topic)
    this.unregister = this.c.membership.register({
      onConnect: (peerId) => { this.memberConnected(peerId) },
      onDisconnect: (peerId) => { this.memberDisconnected(peerId) }
    })
  }

  async stop (): Promise<void> {
    if (!this.running) return
    this.running = false
    this.stopController.abort()
    clearTimeout(this.aliveDue)
    this.aliveDue = undefined
    clearTimeout(this.refuteDue)
    this.refuteDue = undefined
    this.unregister?.()
    this.unregister = undefined
    this.c.pubsub.topicValidators.delete(this.topic)
    try { this.c.pubsub.unsubscribe(this.topic) } catch {}
    await this.c.node.unhandle(this.protocol).catch(() => {})
  }

  /**
   * One period: probe the next member, renew the leases of the hosts held alive. `lateMs`: how late this
   * peer's timer fired (a blocked event loop raises the local health multiplier: this peer is the slow one).
   */
  tick (now = Date.now(), lateMs = 0): void {
    if (!this.running) return
    if (lateMs > this.init.intervalMs / 4) this.localHealth = Math.min(LOCAL_HEALTH_MAX, this.localHealth + 1)
    if (lateMs > 0) {
      // Time this peer could not listen is nobody's silence (as LeaseTable.stalled): the replies and the
      // evidence that waited in the sockets are read before anyone is judged.
      this.lastReplyAt = Math.min(now, this.lastReplyAt + lateMs)
      for (const m of this.members.values()) m.evidenceAt = Math.min(now, m.evidenceAt + lateMs)
    }
    const target = this.nextTarget()
    if (target !== undefined) void this.probe(target)
    if (now - this.lastReplyAt > this.init.leaseMs) {
      // Nobody answered for a lease: this peer is cut off, and what it holds is not known any more.
      this.fetchedMembers = false
      return
    }
    const evidenceMs = this.evidenceMs()
    for (const m of this.members.values()) {
      if (m.state === 'alive' && now - m.evidenceAt <= evidenceMs) this.c.registry.heard(m.host, m.load !== undefined ? { load: m.load } : {})
    }
  }

  /** A heartbeat of `host` (proof of life signed by it): evidence, not a refutation. */
  heardHeartbeat (host: string, load: number, now = Date.now()): void {
    const m = this.members.get(host)
    if (m === undefined) {
      this.add(host, 0, now, load)
      this.c.registry.heard(host, { load })
    } else if (m.state === 'alive') {
      m.evidenceAt = now
      m.load = load
    }
  }

  /** `host` announced it is leaving: not renewed until it is alive at a higher incarnation. */
  left (host: string, now = Date.now()): void {
    const m = this.members.get(host)
    if (m !== undefined) { m.state = 'left'; m.since = now }
  }

  // ---- probing ---------------------------------------------------------------------------------

  private nextTarget (): string | undefined {
    for (let guard = 0; guard < 2; guard++) {
      while (this.order.length > 0) {
        const t = this.order.pop()!
        if (this.c.membership.isMember(t) && !this.inFlight.has(t)) return t
      }
      const members = this.c.membership.connectedMembers()
      if (members.length === 0) return undefined
      // Each member once per round, in a fresh order.
      this.order = shuffle(members)
    }
    return undefined
  }

  private async probe (target: string): Promise<void> {
    if (this.inFlight.has(target)) return
    this.inFlight.add(target)
    try {
      this.stats.probesSent++
      try {
        // Buddy system (Lifeguard): a PING to a host held suspected tells it, so it refutes even when the
        // suspicion's gossip did not reach it.
        const m = this.members.get(target)
        const ping: ProbeFrame = m?.state === 'suspect' ? { t: 'ping', suspected: m.incarnation } : { t: 'ping' }
        const ack = await this.request(target, ping, this.directTimeoutMs())
        if (ack.t === 'ack') {
          this.localHealth = Math.max(0, this.localHealth - 1)
          this.acked(target, ack)
          return
        }
      } catch {}
      this.localHealth = Math.min(LOCAL_HEALTH_MAX, this.localHealth + 1)
      this.stats.probesMissed++
      await this.probeIndirectly(target)
    } finally {
      this.inFlight.delete(target)
    }
  }

  private async probeIndirectly (target: string): Promise<void> {
    const helpers = shuffle(this.c.membership.connectedMembers().filter(m => m !== target))
    const asked = helpers.slice(0, INDIRECT_PROBES)
    this.stats.indirectProbes += asked.length
    const replies = await Promise.allSettled(asked.map(async h => await this.request(h, { t: 'ping-req', target }, this.directTimeoutMs() * 2)))
    if (!this.running) return
    for (const r of replies) {
      if (r.status === 'fulfilled' && r.value.t === 'ack') { this.relayedAck(target); return }
    }
    this.suspect(target)
  }

  /**
   * An ACK of `target` relayed by a helper (PING_REQ): unsigned and unauthenticated, so the helper may have
   * written any of it. It counts as evidence of life at the incarnation already held, nothing more: it
   * never sets the target's incarnation (a made-up higher one would make the target's own ALIVE and
   * every suspicion of it look stale here for good), never revives a suspected target, and its load and
   * document positions are not reported as the target's.
   */
  private relayedAck (target: string, now = Date.now()): void {
    this.stats.probeAcks++
    const m = this.members.get(target)
    if (m === undefined) this.add(target, 0, now, undefined)
    else if (m.state === 'alive') m.evidenceAt = now
  }

  /**
   * Half a period, stretched by this peer's own health (Lifeguard's local health multiplier, Dadgar et al.
   * 2018): each probe of its own that failed, each refutation it had to make and each period its timer
   * fired a quarter period late raise it (at most {@link LOCAL_HEALTH_MAX}), each probe that succeeded
   * lowers it, so a peer whose own event loop or links are slow waits longer before suspecting.
   */
  private directTimeoutMs (): number {
    return Math.max(50, Math.floor(this.init.intervalMs * 0.5)) * (1 + this.localHealth)
  }

  private acked (from: string, ack: Extract<ProbeFrame, { t: 'ack' }>, now = Date.now()): void {
    this.stats.probeAcks++
    const m = this.members.get(from)
    if (m === undefined) {
      this.add(from, ack.incarnation, now, ack.load)
    } else if (m.hearsay === true) {
      m.hearsay = undefined
      this.revive(m, ack.incarnation, now)
      m.load = ack.load
    } else if (ack.incarnation > m.incarnation) {
      this.revive(m, ack.incarnation, now)
      m.load = ack.load
    } else if (ack.incarnation === m.incarnation && m.state === 'alive') {
      m.evidenceAt = now
      m.load = ack.load
    }
    this.c.onAck(from, ack)
  }

  private suspect (target: string, now = Date.now()): void {
    const m = this.members.get(target)
    if (m === undefined || m.state !== 'alive') return
    this.suspectFrom(m, now)
    this.stats.suspicionsRaised++
    const key = `${target}@${m.incarnation}`
    if (this.published.has(key)) return
    if (this.published.size >= PUBLISHED_MAX) this.published.clear()
    this.published.add(key)
    this.publish({ t: 'suspect', target, incarnation: m.incarnation })
  }

  private memberConnected (peerId: string): void {
    if (!this.running) return
    if (!this.fetchedMembers) {
      this.fetchedMembers = true
      void this.fetchMembers(peerId)
    }
    // A new connection may end a partition this peer was suspected in: a new incarnation outranks it.
    this.scheduleAlive()
  }

  private memberDisconnected (peerId: string): void {
    if (!this.running) return
    const m = this.members.get(peerId)
    if (m === undefined || m.state !== 'alive' || this.inFlight.has(peerId)) return
    this.inFlight.add(peerId)
    this.stats.probesMissed++
    void this.probeIndirectly(peerId).finally(() => { this.inFlight.delete(peerId) })
  }

  private async fetchMembers (from: string): Promise<void> {
    try {
      const r = await this.request(from, { t: 'members-req' }, this.init.leaseMs)
      if (r.t !== 'members') return
      this.stats.membersFetched++
      const now = Date.now()
      for (const e of r.members) {
        if (e.host === this.c.self || this.members.has(e.host)) continue
        this.add(e.host, e.incarnation, now, undefined).hearsay = true
        this.c.registry.heard(e.host)
      }
    } catch (err) {
      this.fetchedMembers = false
      this.log.debug('members fetch failed', { peer: from, error: (err as Error).message })
    }
  }

  /** Publishes ALIVE at a new incarnation, at most once a period (a later call is folded into the next one). */
  private scheduleAlive (): void {
    if (this.aliveDue !== undefined) return
    const wait = Math.max(0, this.lastAliveAt + this.init.intervalMs - Date.now())
    this.aliveDue = setTimeout(() => {
      this.aliveDue = undefined
      if (!this.running) return
      this.lastAliveAt = Date.now()
      this.incarnationValue++
      // A join's ALIVE made before gossipsub knows any subscriber of the topic reaches nobody: again next period (bounded).
      this.publish({ t: 'alive', incarnation: this.incarnationValue }, (recipients) => {
        if (recipients === 0 && this.aliveRetries < ALIVE_RETRIES_MAX) { this.aliveRetries++; this.scheduleAlive() } else if (recipients > 0) this.aliveRetries = 0
      })
    }, wait)
    this.aliveDue.unref?.()
  }

  // ---- the table -------------------------------------------------------------------------------

  private add (host: string, incarnation: number, now: number, load: number | undefined): MemberEntry {
    if (this.members.size >= this.init.hostsMax) this.evictOne()
    const m: MemberEntry = { host, incarnation, state: 'alive', since: now, evidenceAt: now, load }
    this.members.set(host, m)
    return m
  }

  private evictOne (): void {
    for (const [h, m] of this.members) if (m.state !== 'alive') { this.members.delete(h); return }
    const first = this.members.keys().next().value
    if (first !== undefined) this.members.delete(first)
  }

  /**
   * `m` is suspected from `now`: no longer renewed, and its lease counted from a period ago (the period
   * the probe that raised the suspicion spent), so the lease lapses `leaseMs` after the failure was seen
   * rather than after the suspicion arrived.
   */
  private suspectFrom (m: MemberEntry, now: number): void {
    m.state = 'suspect'
    m.since = now
    const lease = this.c.registry.leases.get(m.host)
    if (lease !== undefined && !lease.local) lease.lastHeardAt = Math.min(lease.lastHeardAt, now - this.init.intervalMs)
  }

  private revive (m: MemberEntry, incarnation: number, now: number): void {
    const wasAlive = m.state === 'alive'
    m.incarnation = incarnation
    m.state = 'alive'
    m.evidenceAt = now
    if (!wasAlive) {
      m.since = now
      this.c.registry.heard(m.host, m.load !== undefined ? { load: m.load } : {})
    }
  }

  // ---- notices ---------------------------------------------------------------------------------

  private publish (n: Notice, sent?: (recipients: number) => void): void {
    const bytes = encodeNotice(n)
    this.stats.noticesSent++
    this.c.pubsub.publish(this.topic, bytes).then((r) => { sent?.(r.recipients.length) }, () => { sent?.(0) })
  }

  private onNotice (msg: SealedMessage): TopicValidatorResult {
    const from = msg.from
    if (from === this.c.self) return TopicValidatorResult.Ignore
    this.stats.noticeBytesReceived += msg.data.length
    let n: Notice
    try {
      n = decodeNotice(msg.data)
    } catch (err) {
      this.stats.noticesRejected++
      this.log.warn('membership notice rejected', { from, error: (err as Error).message })
      return TopicValidatorResult.Reject
    }
    const now = Date.now()
    if (n.t === 'alive') return this.onAlive(from, n.incarnation, now)
    this.stats.suspicionsReceived++
    if (n.target === this.c.self) {
      // Suspicions of this peer are never cut by quota (a relay might forward one this peer refused):
      // every credible one is answered, by one refutation per REFUTE_EVERY_PERIODS at most, outranking them all.
      if (!this.suspectedSelf(n.incarnation)) return TopicValidatorResult.Ignore
      this.noticed(msg)
      return TopicValidatorResult.Accept
    }
    if (!this.suspectQuota.take(from, now).ok) { this.stats.noticesOverQuota++; return TopicValidatorResult.Ignore }
    this.noticed(msg)
    const m = this.members.get(n.target)
    if (m === undefined) return TopicValidatorResult.Accept
    if (n.incarnation < m.incarnation || n.incarnation > m.incarnation + INCARNATION_AHEAD_MAX) {
      this.stats.noticesStale++
      return TopicValidatorResult.Ignore
    }
    m.incarnation = n.incarnation
    if (m.state === 'alive') {
      this.suspectFrom(m, now)
      // A neighbour of the suspect probes it at once, telling it (buddy system).
      if (this.c.membership.isMember(n.target)) void this.probe(n.target)
    }
    return TopicValidatorResult.Accept
  }

  /** A suspicion of this peer at `incarnation` (a notice, or a PING that carries one): refuted if credible. */
  private suspectedSelf (incarnation: number): boolean {
    if (incarnation < this.incarnationValue || incarnation > this.incarnationValue + INCARNATION_AHEAD_MAX) {
      this.stats.noticesStale++
      return false
    }
    this.refute(incarnation)
    return true
  }

  private noticed (_msg: SealedMessage): void {
    this.stats.noticesReceived++
  }

  /**
   * ALIVE of `from` (signed by it). One that clears a suspicion held here is always taken and forwarded:
   * such refutations are bounded by the suspicions this peer accepted (each within its author's quota).
   * Any other (a join, a reconnection) within `from`'s quota.
   */
  private onAlive (from: string, incarnation: number, now: number): TopicValidatorResult {
    const m = this.members.get(from)
    const refutes = m !== undefined && m.state !== 'alive' && (incarnation > m.incarnation || m.hearsay === true)
    if (!refutes && !this.aliveQuota.take(from, now).ok) { this.stats.noticesOverQuota++; return TopicValidatorResult.Ignore }
    if (m === undefined) {
      this.add(from, incarnation, now, undefined)
      this.c.registry.heard(from)
    } else if (m.hearsay === true) {
      m.hearsay = undefined
      this.revive(m, incarnation, now)
    } else if (incarnation > m.incarnation) {
      this.revive(m, incarnation, now)
    } else if (incarnation === m.incarnation && m.state === 'alive') {
      m.evidenceAt = now
    } else {
      this.stats.noticesStale++
      return TopicValidatorResult.Ignore
    }
    this.stats.noticesReceived++
    return TopicValidatorResult.Accept
  }

  /** Answers a suspicion of this peer at `incarnation`: now, or folded into the one refutation due. */
  private refute (incarnation: number): void {
    this.refuteAbove = Math.max(this.refuteAbove, incarnation)
    if (this.refuteDue !== undefined) return
    const wait = Math.max(0, this.lastRefuteAt + this.refuteEveryMs() - Date.now())
    const run = (): void => {
      this.refuteDue = undefined
      if (!this.running) return
      this.lastRefuteAt = Date.now()
      // Suspected: likely this peer is the slow one (Lifeguard) — it waits longer before suspecting others.
      this.localHealth = Math.min(LOCAL_HEALTH_MAX, this.localHealth + 1)
      this.incarnationValue = Math.max(this.incarnationValue, this.refuteAbove + 1)
      this.stats.refutations++
      this.publish({ t: 'alive', incarnation: this.incarnationValue })
    }
    if (wait === 0) { run(); return }
    this.refuteDue = setTimeout(run, wait)
    this.refuteDue.unref?.()
  }

  private refuteEveryMs (): number {
    return Math.max(1, Math.floor(this.init.intervalMs * REFUTE_EVERY_PERIODS))
  }

  // ---- the stream ------------------------------------------------------------------------------

  private async request (peer: string, frame: ProbeFrame, timeoutMs: number): Promise<ProbeFrame> {
    const id = peerIdFromString(peer)
    if (this.c.node.getConnections(id).length === 0) throw new NotConnectedError(peer)
    const signal = AbortSignal.any([AbortSignal.timeout(timeoutMs), this.stopController.signal])
    const stream = await this.c.node.dialProtocol(id, this.protocol, { signal })
    try {
      const lp = framedStream(stream, PROBE_FRAME_BYTES_MAX)
      const out = encodeProbeFrame(frame)
      this.stats.probeBytesSent += out.length
      await lp.write(out, { signal })
      const bytes = (await lp.read({ signal })).subarray()
      this.stats.probeBytesReceived += bytes.length
      this.stats.probeFramesReceived++
      this.lastReplyAt = Date.now()
      const reply = decodeProbeFrame(bytes)
      await stream.close({ signal }).catch(() => {})
      return reply
    } catch (err) {
      stream.abort(err as Error)
      throw err
    }
  }

  private async respond (stream: Stream, connection: Connection): Promise<void> {
    const from = connection.remotePeer.toString()
    if (!this.running || this.inbound >= PROBE_INBOUND_MAX || !this.probeQuota.take(from, Date.now()).ok) {
      this.stats.probesOverQuota++
      stream.abort(new Error('probe refused: over quota'))
      return
    }
    this.inbound++
    const signal = AbortSignal.any([AbortSignal.timeout(this.init.leaseMs), this.stopController.signal])
    try {
      const lp = framedStream(stream, PROBE_FRAME_BYTES_MAX)
      let req: ProbeFrame
      try {
        const bytes = (await lp.read({ signal })).subarray()
        this.stats.probeBytesReceived += bytes.length
        this.stats.probeFramesReceived++
        req = decodeProbeFrame(bytes)
      } catch (err) {
        if (!signal.aborted) {
          this.stats.probesRejected++
          this.log.debug('probe frame rejected', { from, error: (err as Error).message })
        }
        stream.abort(err as Error)
        return
      }
      this.stats.probesReceived++
      // Any request from a member proves this peer is not cut off.
      this.lastReplyAt = Date.now()
      const reply = await this.answer(from, req)
      if (reply === undefined) {
        this.stats.probesRejected++
        stream.abort(new Error(`unexpected probe frame ${req.t}`))
        return
      }
      const out = encodeProbeFrame(reply)
      this.stats.probeBytesSent += out.length
      await lp.write(out, { signal })
      await stream.close({ signal }).catch(() => {})
    } catch (err) {
      stream.abort(err as Error)
    } finally {
      this.inbound--
    }
  }

  private async answer (from: string, req: ProbeFrame): Promise<ProbeFrame | undefined> {
    switch (req.t) {
      case 'ping':
        if (req.suspected !== undefined) this.suspectedSelf(req.suspected)
        return this.ack()
      case 'ping-req': {
        if (req.target === this.c.self) return this.ack()
        if (req.target === from) return { t: 'nack' }
        try {
          const r = await this.request(req.target, { t: 'ping' }, this.directTimeoutMs())
          if (r.t === 'ack') { this.acked(req.target, r); return r }
        } catch {}
        return { t: 'nack' }
      }
      case 'members-req': {
        const members: Array<{ host: string, incarnation: number }> = [{ host: this.c.self, incarnation: this.incarnationValue }]
        for (const m of this.members.values()) {
          if (members.length >= MEMBERS_MAX) break
          if (m.state === 'alive' && m.host !== from) members.push({ host: m.host, incarnation: m.incarnation })
        }
        return { t: 'members', members }
      }
      default:
        return undefined
    }
  }

  private ack (): ProbeFrame {
    return { t: 'ack', incarnation: this.incarnationValue, load: Math.min(1, Math.max(0, this.c.load())), docs: this.c.ownDocs() }
  }
}
