/**
 * The probe failure detector (`liveness: 'probe'`, peers/PROTOCOL.md 1e): SWIM (Das, Gupta, Motivala
 * 2002) fitted to a libp2p mesh, so that what a peer sends, receives and verifies per period does not grow
 * with the number of hosts.
 *
 * - **Probing.** Every period this peer probes the next member of a round robin over every host it holds
 *   (alive or suspected) and its connected members, shuffled each round (SWIM 4.3), with a PING on
 *   `/agora/<mesh>/probe/1.0.0`, dialling a target it is not connected to (a transient connection, hung up
 *   after); the ACK carries the target's incarnation, load and document positions (lag, as heartbeats
 *   do). No ACK within `directTimeoutMs`: up to {@link INDIRECT_PROBES} connected members are asked to ping
 *   it (PING_REQ with a nonce; a helper pings only a host it holds, dialling it if needed), and only an ACK
 *   the target signed over this peer's id and the nonce counts. No such ACK: the target is *suspected*. A
 *   member whose connection closes is probed indirectly at once.
 * - **Dissemination.** A suspicion is published on the gossipsub topic `/agora/<mesh>/swim/2` (SUSPECT
 *   target@incarnation, signed by the suspecter); a suspected peer that hears it refutes with a higher
 *   incarnation (ALIVE, signed by itself: nobody else can refute for it, nobody else can forge it). A peer
 *   also publishes ALIVE with a new incarnation (and its addresses) on its first member connection (a join)
 *   and on the first after being cut off. Incarnations
 *   start at the wall clock (ms) so a restarted peer outranks its former self. Messages follow churn, not N.
 * - **Leases.** The lease table (crdt/liveness.ts) is renewed every period for every host this detector
 *   holds alive, so its usual expiry does the rest: a suspected host stops being renewed and its agents
 *   turn unreachable `leaseMs` later unless it refutes; a leaving host (its heartbeat's leaving flag) at
 *   once. Renewal stops for a host without direct evidence (an ACK, its ALIVE, its heartbeat, which now
 *   come every `slowEvery` periods) for `evidenceMs`, and for every host while this peer got no reply from
 *   anyone for `leaseMs` (cut off: nothing it holds is known any more).
 * - **Joining.** On its first member connection (and after being cut off) a peer asks that member for the
 *   hosts it holds alive (MEMBERS_REQ → MEMBERS); entries only add hosts this peer did not know, so a
 *   hostile member cannot make it drop one. Each round also takes in, as hearsay with no evidence, the
 *   hosts the lease table knows and the detector does not (their ALIVE may have reached nobody).
 *
 * Bounds: at most `hostsMax` hosts held (non-alive ones evicted first), inbound requests per remote peer
 * by a token bucket ({@link PROBE_QUOTA_BURST}, {@link PROBE_QUOTA_PER_PERIOD}), at most
 * {@link PROBE_INBOUND_MAX} handled at once, notices per author by token buckets; every refusal counted.
 */
import { randomBytes } from 'node:crypto'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { SealedMessage, SealedPubsub } from '../../seal.js'
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'
import { createVerifier } from '../../keys.js'
import type { Verifier } from '../../../crdt/signing.js'
import type { Logger } from '../../../src/base/log.js'
import { KeyedTokenBuckets } from '../../../protocols/infrastructure/token-bucket.js'
import type { ReplicatedRegistry } from '../../../crdt/registry.js'
import { framedStream } from '../../framing.js'
import type { AgoraLibp2p } from '../../node.js'
import type { Membership } from '../membership/index.js'
import {
  ADDR_BYTES_MAX, ALIVE_ADDRS_MAX, MEMBERS_MAX, MEMBER_ADDRS_MAX, NONCE_BYTES, PROBE_FRAME_BYTES_MAX, ackSigned, decodeNotice, decodeProbeFrame, encodeNotice, encodeProbeFrame
} from './probe-codec.js'
import type { DocPosition, MemberInfo, Notice, ProbeFrame } from './probe-codec.js'

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
/**
 * Member connections below which a probe's dial is kept as a link (repairs a mesh whose links dropped);
 * at or above, a member probed over a connection dialled for it is hung up on after the probe.
 */
export const LINKS_MIN = 3
/**
 * A probe over a connection dialled for it waits this many times the direct timeout (the dial, Noise and
 * identify: on a loaded machine they take seconds, and every false suspicion costs every peer two notices).
 */
export const DIAL_TIMEOUT_FACTOR = 4
/**
 * Periods between two probes that dial (a host this peer has no member connection to). A dial is a TCP
 * connection, a Noise handshake and identify both ways, about as much CPU as every other probe message of
 * the period together at 12 peers; with few links most of the round robin needs one. In between, the
 * round goes on over the connected members, and the hosts that need a dial wait their turn in it. A host
 * with no link to one side of a partition is still dialled by that side's N/2 peers about once per
 * 2 × this periods together.
 */
export const DIAL_EVERY_PERIODS = 4
/** A host suspected this many periods (and not refuted) is forgotten: no longer probed; its own word adds it back. */
export const SUSPECT_FORGET_PERIODS = 120
/**
 * Hosts not held yet (an ALIVE or heartbeat of an unknown author) a propagation peer may bring in a burst,
 * and per period: one neighbour cannot fill the table with keys it made up.
 */
export const JOIN_QUOTA_BURST = 64
export const JOIN_QUOTA_PER_PERIOD = 4
/** A remote peer raises this peer's local health (by a suspicion it claims, to be refuted) at most once per this many leases. */
export const HEALTH_RAISE_EVERY_LEASES = 1

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
  /** Its listen addresses (binary multiaddrs): from its signed ALIVE, else another member's MEMBERS list. */
  addrs?: Uint8Array[]
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
  /** Probes sent over a connection dialled for them (the target was no neighbour). */
  probeDials: number
  /** Of those, dials outside the budget ({@link DIAL_EVERY_PERIODS}): for another peer's PING_REQ, or to repair this peer's links. */
  probeDialsExempt: number
  /** ACKs relayed by a PING_REQ helper that did not carry the target's valid signature (ignored). */
  relayedAcksRefused: number
  /** Hosts not added: the table was full of live hosts, or the propagation peer's join quota was spent. */
  hostsRefused: number
  /** Suspicions of this peer that did not raise its local health (the claimer raised it within the last lease). */
  healthRaisesRefused: number
}

export function emptyProbeStats (): ProbeStats {
  return {
    probesSent: 0, probeAcks: 0, probesMissed: 0, indirectProbes: 0, probesReceived: 0, probesRejected: 0, probesOverQuota: 0,
    probeBytesSent: 0, probeBytesReceived: 0, probeFramesReceived: 0, suspicionsRaised: 0, suspicionsReceived: 0, refutations: 0, noticesSent: 0,
    noticesReceived: 0, noticeBytesReceived: 0, noticesRejected: 0, noticesOverQuota: 0, noticesStale: 0, membersFetched: 0,
    probeDials: 0, probeDialsExempt: 0, relayedAcksRefused: 0, hostsRefused: 0, healthRaisesRefused: 0
  }
}

export interface ProbeDetectorComponents {
  node: Pick<AgoraLibp2p, 'handle' | 'unhandle' | 'dialProtocol' | 'getConnections' | 'hangUp' | 'getMultiaddrs'>
  /** Gossipsub through the application seal (peers/seal.ts): publishes are signed, validators see authenticated authors. */
  pubsub: Pick<SealedPubsub, 'topicValidators' | 'subscribe' | 'unsubscribe' | 'publish'>
  membership: Pick<Membership, 'connectedMembers' | 'isMember' | 'register' | 'markTransient' | 'releaseTransient'>
  registry: Pick<ReplicatedRegistry, 'heard' | 'leases'>
  logger: Logger
  self: string
  /** This peer's own documents' positions (in ACKs). */
  ownDocs: () => DocPosition[]
  /** This peer's load, in [0, 1] (in ACKs). */
  load: () => number
  /** An ACK of `from` arrived (directly or relayed): its load and document positions. */
  onAck: (from: string, ack: { load: number, docs: DocPosition[] }) => void
  /** Signs with this peer's key (the ACK to a relayed PING). Without it, relayed PINGs get unsigned ACKs, which requesters ignore. */
  sign?: (data: Uint8Array) => Uint8Array
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
  private readonly joinQuota: KeyedTokenBuckets
  private readonly verify: Verifier
  /** When each remote peer last raised this peer's local health (bounded by hostsMax). */
  private readonly healthRaisedBy = new Map<string, number>()
  private readonly published = new Set<string>()
  private readonly inFlight = new Set<string>()
  private order: string[] = []
  /** Periods since this peer last probed over a dialled connection ({@link DIAL_EVERY_PERIODS}). */
  private periodsSinceDial = DIAL_EVERY_PERIODS
  private incarnationValue = Date.now()
  private lastReplyAt = 0
  private inbound = 0
  private running = false
  private stopController = new AbortController()
  private unregister: (() => void) | undefined
  private fetchedMembers = false
  /** This peer announced its leave ({@link leave}) and is stopping: it speaks for itself no more. */
  private leaving = false
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
    this.joinQuota = new KeyedTokenBuckets({ ratePerSecond: perSecond(JOIN_QUOTA_PER_PERIOD), burst: JOIN_QUOTA_BURST }, init.hostsMax)
    this.verify = createVerifier(init.hostsMax)
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
    // Started again (the same peer object): above the incarnation its leave named, and announced as a join is.
    if (this.leaving) {
      this.leaving = false
      this.incarnationValue = Math.max(this.incarnationValue + 1, Date.now())
      this.fetchedMembers = false
    }
    await this.c.node.handle(this.protocol, (stream, connection) => { void this.respond(stream, connection) }, {
      maxInboundStreams: PROBE_STREAMS_MAX,
      maxOutboundStreams: PROBE_STREAMS_MAX
    })
    this.c.pubsub.topicValidators.set(this.topic, (peer, msg) => this.onNotice(msg, peer))
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
    if (!this.running || this.leaving) return
    if (lateMs > this.init.intervalMs / 4) this.localHealth = Math.min(LOCAL_HEALTH_MAX, this.localHealth + 1)
    if (lateMs > 0) {
      // Time this peer could not listen is nobody's silence (as LeaseTable.stalled): the replies and the
      // evidence that waited in the sockets are read before anyone is judged.
      this.lastReplyAt = Math.min(now, this.lastReplyAt + lateMs)
      for (const m of this.members.values()) m.evidenceAt = Math.min(now, m.evidenceAt + lateMs)
    }
    this.periodsSinceDial++
    const target = this.nextTarget(this.periodsSinceDial >= DIAL_EVERY_PERIODS || this.c.membership.connectedMembers().length < LINKS_MIN)
    if (target !== undefined) void this.probe(target)
    if (now - this.lastReplyAt > this.init.leaseMs) {
      // Nobody answered for a lease: this peer is cut off, and what it holds is not known any more.
      this.fetchedMembers = false
      return
    }
    const evidenceMs = this.evidenceMs()
    const forgetMs = SUSPECT_FORGET_PERIODS * this.init.intervalMs
    for (const m of this.members.values()) {
      if (m.state === 'alive' && now - m.evidenceAt <= evidenceMs) this.c.registry.heard(m.host, m.load !== undefined ? { load: m.load } : {})
      else if (m.state !== 'alive' && now - m.since > forgetMs) this.members.delete(m.host)
    }
  }

  /**
   * A heartbeat of `host` (proof of life signed by it): evidence, not a refutation. `via`: the peer that
   * relayed it (gossipsub's propagation source), whose join quota a host not held yet takes.
   */
  heardHeartbeat (host: string, load: number, now = Date.now(), via?: string): void {
    const m = this.members.get(host)
    if (m === undefined) {
      if (this.join(host, 0, now, load, via) !== undefined) this.c.registry.heard(host, { load })
    } else if (m.state === 'alive' || (m.hearsay === true && m.state === 'suspect')) {
      // A host held only on hearsay (its incarnation is another's word, or unknown) and suspected: its own
      // signed heartbeat outranks that, as its ACK would.
      if (m.state !== 'alive') this.revive(m, m.incarnation, now)
      m.evidenceAt = now
      m.load = load
    }
  }

  /**
   * This peer is leaving (its leave is about to be announced, the stop follows): it stops probing, answering
   * probes and publishing notices (a refutation now would bring it back everywhere while it stops), and its
   * incarnation rises once. Returns that incarnation, for the leave to name: what this peer said before
   * (an ALIVE delivered late, an ACK) is not newer, so it cannot undo the leave; a start outranks it.
   */
  leave (): number {
    if (!this.leaving) {
      this.leaving = true
      clearTimeout(this.aliveDue)
      this.aliveDue = undefined
      clearTimeout(this.refuteDue)
      this.refuteDue = undefined
      this.incarnationValue = Math.max(this.incarnationValue, this.refuteAbove) + 1
    }
    return this.incarnationValue
  }

  /**
   * `host` announced it is leaving, naming `incarnation` (its last; absent from a sender that names none):
   * not renewed until it is alive at a higher incarnation.
   */
  left (host: string, incarnation?: number, now = Date.now()): void {
    let m = this.members.get(host)
    // Not held yet: held now, as left, so that the answer to a PING sent before the leave (in flight, or
    // relayed) does not bring it back (an ACK of a host not held adds it alive).
    if (m === undefined) {
      m = this.add(host, incarnation ?? 0, now, undefined, false)
      if (m === undefined) return
      m.hearsay = true
      m.evidenceAt = Number.NEGATIVE_INFINITY
    }
    // The host's own word (its sealed heartbeat): only a higher incarnation brings it back.
    if (incarnation !== undefined) {
      m.hearsay = undefined
      m.incarnation = Math.max(m.incarnation, incarnation)
    }
    m.state = 'left'
    m.since = now
  }

  // ---- probing ---------------------------------------------------------------------------------

  /**
   * SWIM's round robin over the whole member list (Das et al. 2002, 4.3): every host held (alive or
   * suspected) and every connected member, each once per round, in a fresh random order. So every host is
   * probed by some peer of every side of a partition within a few periods, whoever its neighbours are.
   * `dial`: whether this period's probe may dial ({@link DIAL_EVERY_PERIODS}); if not, the next connected
   * member of the round is taken and the hosts that need a dial keep their place, and once only they are
   * left, a connected member is probed again (one probe per period), or none.
   */
  private nextTarget (dial: boolean): string | undefined {
    for (let guard = 0; guard < 2; guard++) {
      for (let k = this.order.length - 1; k >= 0; k--) {
        const t = this.order[k]!
        const m = this.members.get(t)
        const member = this.c.membership.isMember(t)
        if (!(m === undefined ? member : m.state !== 'left') || this.inFlight.has(t)) {
          this.order.splice(k, 1)
          continue
        }
        if (!dial && !member) continue
        this.order.splice(k, 1)
        return t
      }
      if (this.order.length > 0) {
        const linked = this.c.membership.connectedMembers().filter(t => t !== this.c.self && !this.inFlight.has(t))
        return linked.length > 0 ? linked[Math.floor(Math.random() * linked.length)] : undefined
      }
      this.adoptLeaseHosts()
      const round = new Set<string>(this.c.membership.connectedMembers())
      for (const m of this.members.values()) if (m.state !== 'left') round.add(m.host)
      round.delete(this.c.self)
      if (round.size === 0) return undefined
      this.order = shuffle([...round])
    }
    return undefined
  }

  /**
   * Hosts the lease table knows (an agent record of theirs arrived by sync, which creates the lease) but
   * this detector does not hold: its ALIVE, heartbeats and the MEMBERS list it fetched at its join are
   * all it would learn them by, and a partition before any of them arrived (or an ALIVE lost to a
   * gossipsub mesh not formed yet) would leave such a host out of the round robin for good, unsuspected
   * on this side. Each is taken in as hearsay at incarnation 0 with no evidence (so not renewed until
   * its own word: an ACK, relayed or direct, or its heartbeat), and probed like any other. Once per
   * round, over the hosts known: no message sent, cost per period flat.
   */
  private adoptLeaseHosts (now = Date.now()): void {
    for (const h of this.c.registry.leases.hostsKnown()) {
      if (h.local || h.left || h.host === this.c.self || this.members.has(h.host)) continue
      // A full table takes these last: they give way to any host heard from itself, never push one out.
      if (this.members.size >= this.init.hostsMax) return
      const m = this.add(h.host, 0, now, undefined, false)
      if (m === undefined) return
      m.hearsay = true
      m.evidenceAt = Number.NEGATIVE_INFINITY
    }
  }

  private async probe (target: string): Promise<void> {
    if (this.inFlight.has(target)) return
    this.inFlight.add(target)
    let blind = false
    try {
      this.stats.probesSent++
      try {
        // Buddy system (Lifeguard): a PING to a host held suspected tells it, so it refutes even when the
        // suspicion's gossip did not reach it.
        const m = this.members.get(target)
        // No link and no address known (a host taken from the lease table): a failed dial says nothing of this peer's health.
        blind = m?.addrs === undefined && this.c.node.getConnections(peerIdFromString(target)).length === 0
        const ping: Extract<ProbeFrame, { t: 'ping' }> = m?.state === 'suspect' ? { t: 'ping', suspected: m.incarnation } : { t: 'ping' }
        const sentAt = Date.now()
        const ack = await this.ping(target, ping)
        if (ack.t === 'ack') {
          this.localHealth = Math.max(0, this.localHealth - 1)
          this.acked(target, ack, sentAt)
          return
        }
      } catch {}
      if (!blind) this.localHealth = Math.min(LOCAL_HEALTH_MAX, this.localHealth + 1)
      this.stats.probesMissed++
      await this.probeIndirectly(target)
    } finally {
      this.inFlight.delete(target)
    }
  }

  /**
   * PINGs `target` over the connection this peer has, else over one dialled for it (to the addresses its
   * ALIVE or a MEMBERS list gave): marked transient here and in the PING (so neither side takes it for a
   * member connection) and hung up on after, unless this peer is short of links ({@link LINKS_MIN}).
   */
  private async ping (target: string, ping: Extract<ProbeFrame, { t: 'ping' }>): Promise<ProbeFrame> {
    const id = peerIdFromString(target)
    if (this.c.node.getConnections(id).length > 0) return await this.request(target, ping, this.directTimeoutMs())
    this.stats.probeDials++
    const keep = this.c.membership.connectedMembers().length < LINKS_MIN
    // A dial for a relay (another peer's PING_REQ) or to repair this peer's links is outside the budget.
    if (ping.relay !== undefined || keep) this.stats.probeDialsExempt++
    else this.periodsSinceDial = 0
    if (keep || !this.c.membership.markTransient(target)) return await this.request(target, ping, this.directTimeoutMs() * DIAL_TIMEOUT_FACTOR, id)
    try {
      return await this.request(target, { ...ping, transient: true }, this.directTimeoutMs() * DIAL_TIMEOUT_FACTOR, id)
    } finally {
      await this.c.node.hangUp(id).catch(() => {})
      this.c.membership.releaseTransient(target)
    }
  }

  /**
   * Asks up to {@link INDIRECT_PROBES} connected members to ping `target` for this peer (PING_REQ with a
   * fresh nonce). Only an ACK the target signed over this peer's id and that nonce counts: a helper
   * cannot vouch for a dead host.
   */
  private async probeIndirectly (target: string): Promise<void> {
    const helpers = shuffle(this.c.membership.connectedMembers().filter(m => m !== target))
    const asked = helpers.slice(0, INDIRECT_PROBES)
    this.stats.indirectProbes += asked.length
    const nonce = new Uint8Array(randomBytes(NONCE_BYTES))
    const sentAt = Date.now()
    const replies = await Promise.allSettled(asked.map(async h => await this.request(h, { t: 'ping-req', target, nonce }, this.directTimeoutMs() * (1 + DIAL_TIMEOUT_FACTOR))))
    if (!this.running) return
    for (const r of replies) {
      if (r.status !== 'fulfilled' || r.value.t !== 'ack') continue
      const ack = r.value
      if (ack.signature !== undefined && this.verify(target, ackSigned(this.c.self, nonce, ack.incarnation), ack.signature)) {
        this.relayedAck(target, ack.incarnation, sentAt)
        return
      }
      this.stats.relayedAcksRefused++
    }
    this.suspect(target)
  }

  /**
   * An ACK of `target` relayed by a helper, signed by the target over this peer's id and nonce: proof of
   * life at the incarnation it names, as good as a direct ACK, but its load and document positions are
   * not signed and not taken.
   */
  private relayedAck (target: string, incarnation: number, sentAt: number, now = Date.now()): void {
    this.stats.probeAcks++
    this.ownWord(target, incarnation, now, sentAt)
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

  private acked (from: string, ack: Extract<ProbeFrame, { t: 'ack' }>, sentAt: number, now = Date.now()): void {
    this.stats.probeAcks++
    const m = this.ownWord(from, ack.incarnation, now, sentAt)
    if (m !== undefined && m.state === 'alive' && m.incarnation === ack.incarnation) m.load = ack.load
    this.c.onAck(from, ack)
  }

  /**
   * `host` itself says it is alive at `incarnation` (its ACK, or its signed relayed ACK, to a PING sent at
   * `sentAt`): taken as an ALIVE is, except from a host that announced its leave after that PING went
   * out (the answer was older than the leave).
   */
  private ownWord (host: string, incarnation: number, now: number, sentAt: number): MemberEntry | undefined {
    const m = this.members.get(host)
    if (m === undefined) return this.add(host, incarnation, now, undefined)
    if (m.state === 'left' && sentAt <= m.since) return m
    if (m.hearsay === true) {
      m.hearsay = undefined
      this.revive(m, incarnation, now)
    } else if (incarnation > m.incarnation) {
      this.revive(m, incarnation, now)
    } else if (incarnation === m.incarnation && m.state === 'alive') {
      m.evidenceAt = now
    }
    return m
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

  /**
   * A member connected. Only the first one (a join), or the first after this peer was cut off, makes it
   * fetch the member list and publish ALIVE at a new incarnation: an ALIVE reaches every peer, so one per
   * new connection would cost each peer as many notices as the mesh has connection churn (O(N)). A peer
   * suspected across a partition learns it from the PINGs of the other side once it heals (the buddy
   * system) and refutes then.
   */
  private memberConnected (peerId: string): void {
    if (!this.running || this.fetchedMembers) return
    this.fetchedMembers = true
    void this.fetchMembers(peerId)
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
      let listed = 0
      for (const e of r.members) {
        if (e.host === this.c.self || this.members.has(e.host)) continue
        // The list this peer asked its first member for: not quota'd (a mass join would wait for heartbeats),
        // but it fills at most half the table (the rest is for hosts heard from themselves).
        if (listed >= Math.floor(this.init.hostsMax / 2)) break
        const m = this.add(e.host, e.incarnation, now, undefined, false)
        if (m === undefined) continue
        listed++
        m.hearsay = true
        this.learnAddrs(m, e.addrs?.slice(0, MEMBER_ADDRS_MAX))
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
      this.publish({ t: 'alive', incarnation: this.incarnationValue, ...this.ownAddrs() }, (recipients) => {
        if (recipients === 0 && this.aliveRetries < ALIVE_RETRIES_MAX) { this.aliveRetries++; this.scheduleAlive() } else if (recipients > 0) this.aliveRetries = 0
      })
    }, wait)
    this.aliveDue.unref?.()
  }

  // ---- the table -------------------------------------------------------------------------------

  /**
   * Adds `host`, alive. A full table makes room by forgetting a host that is not alive; a table full of
   * live hosts takes no more (`hostsRefused`): a flood of made-up keys cannot push real hosts out.
   * `ownWord`: the host itself spoke to this peer (its ACK, its ALIVE or heartbeat sent by itself, not
   * relayed); such a host also takes the place of one held only on another's word (a MEMBERS list, which
   * fills at most half the table), so a first member listing made-up hosts cannot keep real ones out. A
   * host's word relayed (within the relay's join quota) takes no such place: a relay's flood of new keys
   * cannot push out real hosts learnt from the list.
   */
  private add (host: string, incarnation: number, now: number, load: number | undefined, ownWord = true): MemberEntry | undefined {
    if (this.members.size >= this.init.hostsMax && !this.evictOne(ownWord)) { this.stats.hostsRefused++; return undefined }
    const m: MemberEntry = { host, incarnation, state: 'alive', since: now, evidenceAt: now, load }
    this.members.set(host, m)
    return m
  }

  /** {@link add} for a host brought by `via` (its relay, or the member whose list named it), within `via`'s join quota. */
  private join (host: string, incarnation: number, now: number, load: number | undefined, via: string | undefined): MemberEntry | undefined {
    if (via !== undefined && via !== host && !this.joinQuota.take(via, now).ok) { this.stats.hostsRefused++; return undefined }
    return this.add(host, incarnation, now, load, via === undefined || via === host)
  }

  /**
   * Forgets a host that is not alive, else one never heard from itself (taken from the lease table), else,
   * to make room for a host's own word (`ownWord`), one held only on another member's word.
   */
  private evictOne (ownWord: boolean): boolean {
    for (const [h, m] of this.members) if (m.state !== 'alive') { this.members.delete(h); return true }
    for (const [h, m] of this.members) if (m.evidenceAt === Number.NEGATIVE_INFINITY) { this.members.delete(h); return true }
    if (ownWord) for (const [h, m] of this.members) if (m.hearsay === true) { this.members.delete(h); return true }
    return false
  }

  /**
   * Addresses of `m`, dialled when it is probed and is no neighbour: the host's own (ALIVE) replace
   * hearsay. Kept here, not in the peer store: a new peer there is a libp2p discovery, which membership
   * would dial as a link.
   */
  private learnAddrs (m: MemberEntry, addrs: Uint8Array[] | undefined): void {
    if (addrs === undefined || addrs.length === 0) return
    m.addrs = addrs
  }

  /** Where to dial `host` for a probe: its addresses (with /p2p), else its id (the peer store's addresses). */
  private dialTarget (host: string, id: PeerId): PeerId | Multiaddr[] {
    const addrs = this.members.get(host)?.addrs
    if (addrs === undefined) return id
    const out: Multiaddr[] = []
    for (const a of addrs) {
      try { out.push(multiaddr(a).encapsulate(`/p2p/${host}`)) } catch {}
    }
    return out.length === 0 ? id : out
  }

  /** This peer's listen addresses for its ALIVE (binary, without /p2p). */
  private ownAddrs (): { addrs?: Uint8Array[] } {
    const addrs: Uint8Array[] = []
    for (const a of this.c.node.getMultiaddrs()) {
      const bytes = a.decapsulateCode(421).bytes
      if (bytes.length <= ADDR_BYTES_MAX && !addrs.some(x => Buffer.compare(x, bytes) === 0)) addrs.push(bytes)
      if (addrs.length >= ALIVE_ADDRS_MAX) break
    }
    return addrs.length === 0 ? {} : { addrs }
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
    if (this.leaving) return
    const bytes = encodeNotice(n)
    this.stats.noticesSent++
    this.c.pubsub.publish(this.topic, bytes).then((r) => { sent?.(r.recipients.length) }, () => { sent?.(0) })
  }

  private onNotice (msg: SealedMessage, via?: PeerId): TopicValidatorResult {
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
    if (n.t === 'alive') return this.onAlive(from, n.incarnation, now, n.addrs, via?.toString())
    this.stats.suspicionsReceived++
    if (n.target === this.c.self) {
      // Suspicions of this peer are never cut by quota (a relay might forward one this peer refused):
      // every credible one is answered, by one refutation per REFUTE_EVERY_PERIODS at most, outranking them all.
      if (!this.suspectedSelf(n.incarnation, from, false)) return TopicValidatorResult.Ignore
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

  /**
   * A suspicion of this peer at `incarnation` (a notice authored by `by`, or a PING from `by` that carries
   * one): refuted if credible.
   */
  private suspectedSelf (incarnation: number, by: string, ping: boolean): boolean {
    // Leaving: its leave answers every suspicion.
    if (this.leaving) return false
    if (incarnation > this.incarnationValue + INCARNATION_AHEAD_MAX) {
      this.stats.noticesStale++
      return false
    }
    if (incarnation < this.incarnationValue) {
      this.stats.noticesStale++
      // A PING naming an older incarnation: its sender (and likely its side of a healed partition, which
      // the ALIVE that outranked it never reached) still holds this peer suspected. Re-announced (within the
      // refutation rate), with no rise of local health: the suspicion was answered before.
      if (ping) this.refute(incarnation, by, false)
      return false
    }
    this.refute(incarnation, by, true)
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
  private onAlive (from: string, incarnation: number, now: number, addrs: Uint8Array[] | undefined, via: string | undefined): TopicValidatorResult {
    const m = this.members.get(from)
    const refutes = m !== undefined && m.state !== 'alive' && (incarnation > m.incarnation || m.hearsay === true)
    if (!refutes && !this.aliveQuota.take(from, now).ok) { this.stats.noticesOverQuota++; return TopicValidatorResult.Ignore }
    if (m === undefined) {
      // A host not held: within the join quota of the peer that relayed it (one neighbour cannot flood the table).
      const added = this.join(from, incarnation, now, undefined, via)
      if (added === undefined) return TopicValidatorResult.Ignore
      this.learnAddrs(added, addrs)
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
    if (m !== undefined) this.learnAddrs(m, addrs)
    this.stats.noticesReceived++
    return TopicValidatorResult.Accept
  }

  /** Answers a suspicion of this peer at `incarnation`: now, or folded into the one refutation due. */
  private refute (incarnation: number, by: string, health: boolean): void {
    this.refuteAbove = Math.max(this.refuteAbove, incarnation)
    if (health) this.raiseHealthFor(by)
    if (this.refuteDue !== undefined) return
    const wait = Math.max(0, this.lastRefuteAt + this.refuteEveryMs() - Date.now())
    const run = (): void => {
      this.refuteDue = undefined
      if (!this.running) return
      this.lastRefuteAt = Date.now()
      if (this.refuteAbove >= this.incarnationValue) this.incarnationValue = this.refuteAbove + 1
      this.stats.refutations++
      this.publish({ t: 'alive', incarnation: this.incarnationValue, ...this.ownAddrs() })
    }
    if (wait === 0) { run(); return }
    this.refuteDue = setTimeout(run, wait)
    this.refuteDue.unref?.()
  }

  /**
   * Suspected: likely this peer is the slow one (Lifeguard), so it waits longer before suspecting others;
   * but one remote peer (a claimer of suspicions, by notice or PING) raises it at most once per
   * {@link HEALTH_RAISE_EVERY_LEASES} leases, while every probe of this peer's that succeeds lowers it:
   * no single peer can hold it at its maximum.
   */
  private raiseHealthFor (by: string, now = Date.now()): void {
    const last = this.healthRaisedBy.get(by)
    if (last !== undefined && now - last < HEALTH_RAISE_EVERY_LEASES * this.init.leaseMs) { this.stats.healthRaisesRefused++; return }
    this.healthRaisedBy.delete(by)
    if (this.healthRaisedBy.size >= this.init.hostsMax) this.healthRaisedBy.delete(this.healthRaisedBy.keys().next().value!)
    this.healthRaisedBy.set(by, now)
    this.localHealth = Math.min(LOCAL_HEALTH_MAX, this.localHealth + 1)
  }

  /** This peer's local health multiplier (0 healthy .. {@link LOCAL_HEALTH_MAX}). */
  get health (): number {
    return this.localHealth
  }

  private refuteEveryMs (): number {
    return Math.max(1, Math.floor(this.init.intervalMs * REFUTE_EVERY_PERIODS))
  }

  // ---- the stream ------------------------------------------------------------------------------

  /** One request and its reply over the connection to `peer`; `dial`: its id, to dial when there is none. */
  private async request (peer: string, frame: ProbeFrame, timeoutMs: number, dial?: PeerId): Promise<ProbeFrame> {
    const id = dial ?? peerIdFromString(peer)
    if (dial === undefined && this.c.node.getConnections(id).length === 0) throw new NotConnectedError(peer)
    const signal = AbortSignal.any([AbortSignal.timeout(timeoutMs), this.stopController.signal])
    const stream = await this.c.node.dialProtocol(dial === undefined ? id : this.dialTarget(peer, id), this.protocol, { signal })
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
    if (this.leaving) {
      stream.abort(new Error('probe refused: leaving'))
      return
    }
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
        // A connection the prober dialled for this PING and closes after: not a member connection here either.
        if (req.transient === true) this.c.membership.markTransient(from)
        if (req.suspected !== undefined) this.suspectedSelf(req.suspected, from, true)
        return this.ack(req.relay)
      case 'ping-req': {
        if (req.target === this.c.self) return this.ack({ requester: from, nonce: req.nonce })
        // Only for a host held here (a helper dials for nobody else), never back to the requester.
        if (req.target === from || !this.members.has(req.target)) return { t: 'nack' }
        try {
          const sentAt = Date.now()
          const r = await this.ping(req.target, { t: 'ping', relay: { requester: from, nonce: req.nonce } })
          if (r.t === 'ack') { this.acked(req.target, r, sentAt); return r }
        } catch {}
        return { t: 'nack' }
      }
      case 'members-req': {
        const members: MemberInfo[] = [{ host: this.c.self, incarnation: this.incarnationValue, ...this.ownAddrs() }]
        for (const m of this.members.values()) {
          if (members.length >= MEMBERS_MAX) break
          if (m.state === 'alive' && m.host !== from && m.evidenceAt !== Number.NEGATIVE_INFINITY) members.push({ host: m.host, incarnation: m.incarnation, ...(m.addrs !== undefined ? { addrs: m.addrs.slice(0, MEMBER_ADDRS_MAX) } : {}) })
        }
        return { t: 'members', members }
      }
      default:
        return undefined
    }
  }

  /** This peer's ACK; to a relayed PING, signed over the requester's id and nonce (the requester takes nothing else from a relay). */
  private ack (relay?: { requester: string, nonce: Uint8Array }): ProbeFrame {
    const ack: Extract<ProbeFrame, { t: 'ack' }> = { t: 'ack', incarnation: this.incarnationValue, load: Math.min(1, Math.max(0, this.c.load())), docs: this.c.ownDocs() }
    if (relay !== undefined && this.c.sign !== undefined) ack.signature = this.c.sign(ackSigned(relay.requester, relay.nonce, ack.incarnation))
    return ack
  }
}
