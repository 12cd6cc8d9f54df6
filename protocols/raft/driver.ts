/**
 * The Raft driver: runs a pure {@link RaftNode} and a {@link Replica} (a state machine behind the session
 * table) and honours the Ready contract (README.md): (1) persist, (2) send, (3) apply, (4) advance. It is
 * written once, against small interfaces, and runs unchanged on a live peer (libp2p streams, LevelDB with
 * fsync, real timers: peers/raft/driver.ts) and in the simulator (simulated network and disk, virtual
 * clock: sim/simulation.ts). It reads no clock and starts no timer of its own: time comes from the
 * injected {@link DriverClock}, ticks from whoever owns time ({@link RaftDriver.tick}), and the Ready loop
 * runs through the injected scheduler (a live peer defers it to batch a turn's inputs; the simulator runs
 * it at once). Storage may persist synchronously or return a promise; the loop waits either way.
 *
 * Client path: {@link RaftDriver.propose} wraps a command in the envelope (envelope.ts) under a session
 * `(clientId, seq)`; the session table applies each at most once and answers a retry from its cache. The
 * proposer's promise resolves when the entry is applied here; if that does not happen before its
 * deadline (checked on every tick) or the leader changes first, its fate is unknown and it rejects with
 * {@link IndefiniteError}. A proposal the core refuses outright rejects with ProposalDroppedError.
 */
import { AgoraError, NotStartedError, TimeoutError } from '../../src/base/errors.js'
import { TypedEmitter } from '../../src/base/events.js'
import type { Logger } from '../../src/base/log.js'
import { FORGOTTEN, Replica, type AppliedCommand, type CommandVerifier, type PreparedEntry, type StateMachine } from './application.js'
import { coalesceAppends } from './coalesce.js'
import { encodeEnvelope, envelopeKey, originOf, signedPayload } from './envelope.js'
import { FORGOTTEN_REASON, IndefiniteError, ProposalDroppedError, RaftInvariantError } from './errors.js'
import { RAFT_DEFAULTS, RaftNode } from './raft.js'
import { SESSION_WINDOW } from './sessions.js'
import { raftTrace } from './trace.js'
import { MemoryStorage } from './storage.js'
import type { ConfChange, ConfState, Entry, Message, NodeId, RaftRand, Ready, Role, Status } from './types.js'

/** Where the driver sends messages (any order; may lose or duplicate them: Raft tolerates it). */
export interface DriverTransport {
  send: (messages: Message[]) => void
}

/**
 * Stable storage as the driver uses it: `memory` is what the core reads; `save` makes a Ready's snapshot,
 * entries and hard state durable (before any message of that Ready is sent); `snapshotAndCompact`
 * stores a snapshot and drops the log through it. Either may be synchronous or return a promise.
 */
export interface DriverStorage {
  readonly memory: MemoryStorage
  save: (rd: Ready) => void | PromiseLike<void>
  snapshotAndCompact: (index: number, confState: ConfState, data: Uint8Array) => unknown
}

/** Storage in memory only (a peer without a data dir, unit tests). */
export class MemoryDriverStorage implements DriverStorage {
  constructor (readonly memory = new MemoryStorage()) {}

  save (rd: Ready): void {
    if (rd.snapshot !== undefined) this.memory.applySnapshot(rd.snapshot)
    this.memory.append(rd.entries)
    if (rd.hardState !== undefined) this.memory.setHardState(rd.hardState)
  }

  snapshotAndCompact (index: number, confState: ConfState, data: Uint8Array): void {
    this.memory.createSnapshot(index, confState, data)
    this.memory.compact(index)
  }
}

/** Time as the driver sees it: wall-clock ms on a live peer, virtual ms in the simulator. */
export interface DriverClock {
  /** Integer ms: envelope stamps and deadlines. */
  now: () => number
  /** A finer clock for latency figures (default: `now`). */
  monotonic?: () => number
}

export interface RaftDriverOptions {
  /** Ticks of silence before an election (timeout uniform in [electionTick, 2·electionTick)). Default 10. */
  electionTick?: number
  /** Ticks between heartbeats. Default 1. */
  heartbeatTick?: number
  /** Default true. */
  preVote?: boolean
  /** Default true. */
  checkQuorum?: boolean
  /** How long a proposal or read may take before it is reported indefinite / timed out. Default 5000 ms. */
  proposalTimeoutMs?: number
  /** Take a snapshot and compact the log every this many applied entries. Default 10000. */
  snapshotEntries?: number
  /** ...or once the entries applied since the last snapshot hold this many bytes. Default 64 MiB. */
  snapshotLogBytes?: number
  /** Commands waiting for their result at once (at most the session window). Default 4096. */
  pendingProposalsMax?: number
  /**
   * Commands of one client (a session origin other than this node's own: a client peer served here)
   * waiting at once, so one client cannot take every slot of `pendingProposalsMax`. Default 1024.
   */
  pendingPerClientMax?: number
  /**
   * Proposals made in one turn go to Raft as batches (one append, one replication message per follower,
   * one forwarded message on a follower) of at most this many commands... Default 1024 (at most the
   * core's entries per message).
   */
  proposalBatchEntriesMax?: number
  /** ...and of at most this many bytes (a larger batch is split; a larger command goes alone). Default 1 MiB. */
  proposalBatchBytesMax?: number
  /** Linearizable reads waiting at once. Default 4096. */
  pendingReadsMax?: number
  /** Largest snapshot taken (it must fit in one Raft message). Default 255 MiB. */
  snapshotBytesMax?: number
  /**
   * The leader sends its new entries before its own write of them finishes, the write running in
   * parallel (RaftConfig.asyncLeaderWrites; Raft thesis §10.2.1): one fsync, not two, on the commit
   * path. Default false here; live peers turn it on.
   */
  asyncLeaderWrites?: boolean
  /**
   * A follower sends a proposal of its own to the leader again (the same envelope: the session table
   * applies it once) when it has not applied this many ms after it was proposed, then after twice that,
   * and so on until its deadline. A forwarded proposal is one message: lost on the way (a stream that
   * failed, a full queue, a leader that was handing over), it would otherwise wait out its whole
   * deadline. 0 (the default here): never; live peers send again after 1000 ms.
   */
  proposalResendMs?: number
  /**
   * Longest this replica pauses applying at a command its application asks to wait for
   * (StateMachine.applyWait: a combinatorial settle whose solve is still running in this peer's worker).
   * Raft carries on meanwhile (entries are received, persisted, acknowledged, committed, replicated);
   * only this replica's applied index waits, and with it its reads and its proposers' answers. When it
   * passes, the command is applied anyway (the application then does the work itself). 0 (the default
   * here): never pause; live peers wait up to {@link APPLY_WAIT_MS}.
   */
  applyWaitMs?: number
  /**
   * Committed entries already durable apply while a Ready's write runs, instead of after it
   * ({@link RaftDriver.applyDurable}): a follower acknowledges as soon as its write ends. Default true.
   */
  applyWhileWriting?: boolean
  /** Committed entries held behind a paused command at most; more end the pause at once. Default {@link APPLY_BACKLOG_MAX}. */
  applyBacklogMax?: number
  /** ...and bytes of them. Default {@link APPLY_BACKLOG_BYTES_MAX}. */
  applyBacklogBytesMax?: number
}

/** A live peer's {@link RaftDriverOptions.applyWaitMs}: a settle waits this long for its worker's solve. */
export const APPLY_WAIT_MS = 10_000
/** Default {@link RaftDriverOptions.applyBacklogMax}. */
export const APPLY_BACKLOG_MAX = 65_536
/** Default {@link RaftDriverOptions.applyBacklogBytesMax}. */
export const APPLY_BACKLOG_BYTES_MAX = 64 * 1024 * 1024
/** Held entries applied in one run of the loop once a pause ended (the rest in the next runs, other work between). */
export const APPLY_DRAIN_MAX = 1024

/** Proposals sent to the leader again in one tick at most (the rest wait for the next tick). */
export const PROPOSAL_RESENDS_PER_TICK_MAX = 256

export interface RaftDriverEventMap extends Record<string, unknown> {
  'raft:role': { role: Role, leader: NodeId, term: number }
  /** Entries (or a snapshot) were applied up to `index`. */
  'raft:applied': { index: number }
  /** A command proposed here was applied here: `ms` from propose() to its result. */
  'raft:committed': { index: number, ms: number }
  /** The Ready loop failed (storage error, broken invariant); this node's Raft is stopped. */
  'raft:failed': { error: Error }
  /** Every committed entry, as it is applied (before its command's result is known). */
  'entry:applied': { entry: Entry }
  /** A committed command as the session table handled it (`duplicate`: not applied again). */
  'command:applied': AppliedCommand & { term: number }
  /** A ReadIndex answer: reads with this context may be served once `index` is applied. */
  'raft:read': { index: number, context: string }
  /** A snapshot from the leader replaced the application's state. */
  'raft:restored': { index: number, term: number, confState: ConfState }
  /** A membership change took effect (applied at `index`). */
  'raft:conf': { index: number, confState: ConfState }
  /** Applying paused at `index` (its application waits for work off the event loop; see applyWaitMs). */
  'raft:apply-paused': { index: number }
  /** The pause at `index` ended: `done` (the wait settled), `timeout` (applyWaitMs), `backlog` (applyBacklogMax). */
  'raft:apply-resumed': { index: number, reason: 'done' | 'timeout' | 'backlog' }
}

export interface RaftDriverInit {
  id: NodeId
  transport: DriverTransport
  /** The replicated application (composed of every state machine: protocols/mesh). */
  application: StateMachine
  /** A fresh, empty application of the same kind (to rebuild the state at an older index). */
  createApplication?: () => StateMachine
  /** Stable storage; default in memory. */
  storage?: DriverStorage
  clock: DriverClock
  /** Runs the Ready loop: a live peer defers it (batching one event-loop turn), the simulator runs it now. */
  schedule: (fn: () => void) => void
  /**
   * Runs the Ready loop for an input another node is waiting on: an inbound message (a follower's append
   * to write and acknowledge, a leader's acknowledgement that commits) or the end of a leader's own
   * write. A live peer runs it at once (synchronously, in the transport's frame handler) rather than a
   * whole event-loop turn later; default {@link schedule}. Messages that arrive while a Ready is being
   * persisted wait for it, as always: the contract (persist before sending) does not change.
   */
  scheduleSoon?: (fn: () => void) => void
  /** The core's randomness (election timeouts): a seeded PRNG. */
  rand: RaftRand
  /** Bootstrap voters (used only for a brand-new group). */
  voters?: NodeId[]
  learners?: NodeId[]
  /** This driver's own session id (`<origin>/<unique suffix>`): its local proposals' origin is the part before "/". */
  clientId: string
  /**
   * Signs a command for the origin of `clientId` (signedPayload in envelope.ts), for commands whose state
   * machine requires a signature; undefined when this driver cannot sign for that origin.
   */
  sign?: CommandSigner
  /** Verifies an origin's signature (where the application requires one). */
  verify?: CommandVerifier
  log: Logger
  options?: RaftDriverOptions
}

/** Signs `payload` as the origin of `clientId`, or undefined when it holds no key for it. */
export type CommandSigner = (clientId: string, payload: Uint8Array) => Uint8Array | undefined

interface Pending {
  /** The session's origin (its client id before "/"), counted against pendingPerClientMax. */
  origin: string
  startedAt: number
  deadline: number
  /** The proposed envelope's stamp and signature: a refused entry settles this proposal only if it is this one. */
  at: number
  signature: Uint8Array | undefined
  /** The envelope, sent again unchanged while it has not applied (`proposalResendMs`). */
  bytes: Uint8Array
  /** When it is sent again next (0: never), and the wait after that. */
  resendAt: number
  resendMs: number
  /**
   * The envelope reached this node's log (it is only slow to commit): not sent again. If that entry is
   * cut from the log, a new leader took over, which settles every pending proposal (leaderChanged).
   */
  inLog: boolean
  resolve: (r: { index: number, result: unknown }) => void
  reject: (err: Error) => void
}

interface PendingRead {
  deadline: number
  resolve: (i: number) => void
  reject: (e: Error) => void
  index?: number
}

/** A proposal waiting for the next run of the loop, where the turn's proposals go to Raft as one batch. */
interface Queued { key: string, data: Uint8Array, p: Pending }

/** Default {@link RaftDriverOptions.pendingPerClientMax}. */
export const PENDING_PER_CLIENT_MAX = 1024
/** Default {@link RaftDriverOptions.proposalBatchEntriesMax}. */
export const PROPOSAL_BATCH_ENTRIES_MAX = 1024
/** Default {@link RaftDriverOptions.proposalBatchBytesMax}. */
export const PROPOSAL_BATCH_BYTES_MAX = 1024 * 1024

/** Ready batches processed in one run of the loop before the driver calls it a livelock (a core bug). */
export const READY_LOOPS_MAX = 10_000

/** Default largest snapshot: one Raft message (256 MiB) less room for its envelope. */
export const SNAPSHOT_BYTES_MAX = 255 * 1024 * 1024

const enc = new TextEncoder()
const dec = new TextDecoder()

export class RaftDriver extends TypedEmitter<RaftDriverEventMap> {
  readonly id: NodeId
  readonly node: RaftNode
  readonly memory: MemoryStorage
  readonly replica: Replica
  readonly stats = { applied: 0, duplicates: 0, indefinite: 0, badSignatures: 0, snapshots: 0, snapshotsInstalled: 0, snapshotsTooLarge: 0, readyBatches: 0, parallelWrites: 0, appliedWhileWriting: 0, proposalsResent: 0, applyPauses: 0, applyPausesTimedOut: 0, applyPausesBacklogFull: 0 }
  protected readonly storage: DriverStorage
  protected readonly transport: DriverTransport
  protected readonly clock: DriverClock
  protected readonly log: Logger
  protected readonly o: Required<RaftDriverOptions>
  readonly clientId: string
  private readonly createApplication: (() => StateMachine) | undefined
  private readonly sign: CommandSigner | undefined
  private readonly verify: CommandVerifier | undefined
  private readonly scheduleFn: (fn: () => void) => void
  private readonly scheduleSoonFn: ((fn: () => void) => void) | undefined
  private seq = 0
  private readonly pending = new Map<string, Pending>()
  /** Pending proposals per client origin (not this node's own). */
  private readonly pendingByClient = new Map<string, number>()
  /** Proposals not yet handed to Raft (each also in `pending`, so bounded by pendingProposalsMax). */
  private queued: Queued[] = []
  private readonly ownOrigin: string
  private readonly reads = new Map<string, PendingRead>()
  private appliedIndex = 0
  /**
   * Committed entries the core handed out (it counts them applied) that this replica has not applied yet:
   * the ones from a paused command on (applyWaitMs), applied in order once the pause ends. As etcd
   * applies behind its raft loop, Raft never waits for them. `backlogHead`: the next one.
   */
  private backlog: Entry[] = []
  private backlogHead = 0
  private backlogBytes = 0
  /** The pause at the backlog's head: its index and when it ends at the latest (clock ms). */
  private pause: { index: number, until: number } | undefined
  /** The index whose pause ended: applied without asking the application again. */
  private waited = 0
  private lastSnapshotIndex = 0
  /** Bytes of the entries applied since the last snapshot (a log of large entries is compacted sooner). */
  private bytesSinceSnapshot = 0
  private processing = false
  /** Inside {@link batch}: the Ready loop waits for the batch to end. */
  private holding = false
  private scheduled = false
  /** A run of the loop is due through scheduleSoon. */
  private scheduledSoon = false
  private again = false
  protected running = false
  private readSeq = 0
  private role: Role = 'follower'
  private leader: NodeId = 0
  /** Set when the Ready loop failed; the driver is then stopped for good. */
  failure: Error | undefined

  constructor (init: RaftDriverInit) {
    super()
    const o = init.options ?? {}
    this.o = {
      electionTick: o.electionTick ?? 10,
      heartbeatTick: o.heartbeatTick ?? 1,
      preVote: o.preVote ?? true,
      checkQuorum: o.checkQuorum ?? true,
      proposalTimeoutMs: o.proposalTimeoutMs ?? 5000,
      snapshotEntries: o.snapshotEntries ?? 10_000,
      snapshotLogBytes: o.snapshotLogBytes ?? 64 * 1024 * 1024,
      pendingProposalsMax: Math.min(o.pendingProposalsMax ?? SESSION_WINDOW, SESSION_WINDOW),
      pendingPerClientMax: o.pendingPerClientMax ?? PENDING_PER_CLIENT_MAX,
      proposalBatchEntriesMax: Math.max(1, Math.min(o.proposalBatchEntriesMax ?? PROPOSAL_BATCH_ENTRIES_MAX, RAFT_DEFAULTS.maxEntriesPerMsg)),
      proposalBatchBytesMax: o.proposalBatchBytesMax ?? PROPOSAL_BATCH_BYTES_MAX,
      pendingReadsMax: o.pendingReadsMax ?? 4096,
      snapshotBytesMax: o.snapshotBytesMax ?? SNAPSHOT_BYTES_MAX,
      asyncLeaderWrites: o.asyncLeaderWrites ?? false,
      proposalResendMs: o.proposalResendMs ?? 0,
      applyWaitMs: o.applyWaitMs ?? 0,
      applyBacklogMax: o.applyBacklogMax ?? APPLY_BACKLOG_MAX,
      applyBacklogBytesMax: o.applyBacklogBytesMax ?? APPLY_BACKLOG_BYTES_MAX,
      applyWhileWriting: o.applyWhileWriting ?? true
    }
    this.id = init.id
    this.transport = init.transport
    this.clock = init.clock
    this.scheduleFn = init.schedule
    this.scheduleSoonFn = init.scheduleSoon
    this.log = init.log
    this.storage = init.storage ?? new MemoryDriverStorage()
    this.memory = this.storage.memory
    this.clientId = init.clientId
    this.ownOrigin = originOf(init.clientId)
    this.createApplication = init.createApplication
    this.sign = init.sign
    this.verify = init.verify
    this.replica = new Replica(init.application, undefined, init.verify)
    // Restore the application from the latest snapshot; entries after it are applied again.
    const snap = this.memory.snapshot()
    if (snap.metadata.index > 0) this.replica.restore(snap.data)
    this.appliedIndex = snap.metadata.index
    this.lastSnapshotIndex = snap.metadata.index
    // What storage holds when the driver starts is durable.
    this.durableLast = this.memory.lastIndex()
    this.node = new RaftNode({
      id: init.id,
      storage: this.memory,
      rand: init.rand,
      ...(init.voters !== undefined ? { peers: { voters: init.voters, learners: init.learners ?? [] } } : {}),
      electionTick: this.o.electionTick,
      heartbeatTick: this.o.heartbeatTick,
      preVote: this.o.preVote,
      checkQuorum: this.o.checkQuorum,
      asyncLeaderWrites: this.o.asyncLeaderWrites,
      applied: this.appliedIndex
    })
  }

  /** Accepts inputs from now on (idempotent; a failed driver stays stopped). */
  start (): void {
    if (this.running || this.failure !== undefined) return
    this.running = true
    this.schedule()
  }

  /** Stops taking inputs; waiting proposals become indefinite, waiting reads fail (idempotent). */
  stop (): void {
    if (!this.running) return
    this.running = false
    this.queued = []
    this.held = []
    for (const [k, p] of this.pending) { this.unpend(k, p); p.reject(new IndefiniteError('proposal', 'the node stopped')) }
    for (const [k, r] of this.reads) { this.reads.delete(k); r.reject(new NotStartedError('raft')) }
  }

  get isRunning (): boolean { return this.running }

  /** One logical tick (the owner of time calls it every tick interval); expires overdue waits. */
  tick (): void {
    if (!this.running) return
    this.node.tick()
    if (this.pause !== undefined && this.clock.now() >= this.pause.until) {
      this.stats.applyPausesTimedOut++
      this.log.warn('applying resumes without the awaited work (applyWaitMs passed)', { index: this.pause.index, applyWaitMs: this.o.applyWaitMs })
      this.endPause('timeout')
    }
    this.expire()
    this.schedule()
  }

  /** An inbound message from the transport. */
  receive (m: Message): void {
    if (!this.running) return
    if (raftTrace !== undefined) raftTrace(this.id, `receive ${m.type}`)
    this.node.step(m)
    this.schedule(true)
  }

  status (): Status & { appliedIndex: number } {
    return { ...this.node.status(), appliedIndex: this.appliedIndex }
  }

  get applied (): number { return this.appliedIndex }
  /** The index where applying is paused (applyWaitMs), 0 when it is not. */
  get applyPausedAt (): number { return this.pause?.index ?? 0 }
  /** Committed entries not applied yet because applying is paused. */
  get applyBacklog (): number { return this.backlog.length - this.backlogHead }
  get isLeader (): boolean { return this.role === 'leader' }
  get leaderId (): NodeId { return this.leader }

  // ---- inputs without a waiting caller (the simulator's verbs; also used by the client path below) ----

  /**
   * Proposes `command` under `session` stamped with this clock, without waiting for it: returns the
   * core's refusal reason, or undefined when it was handed to Raft (its result comes as `command:applied`).
   */
  submit (command: Uint8Array, session: { clientId: string, seq: number }, signature?: Uint8Array): string | undefined {
    if (!this.running) return 'notStarted'
    const reason = this.node.tryPropose(this.envelope(command, session, this.clock.now(), signature).bytes)
    this.schedule()
    return reason ?? undefined
  }

  /** Proposes raw entry data that is not a command (a scenario's "x"); returns the refusal reason. */
  submitRaw (data: Uint8Array): string | undefined {
    if (!this.running) return 'notStarted'
    const reason = this.node.tryPropose(data)
    this.schedule()
    return reason ?? undefined
  }

  /** Requests a ReadIndex with `context`; the answer comes as `raft:read`. Throws what the core throws. */
  requestRead (context: string): void {
    if (!this.running) throw new NotStartedError('raft')
    this.node.readIndex(enc.encode(context))
    this.schedule()
  }

  campaign (): void { this.node.campaign(); this.schedule() }

  /** Leader: broadcast heartbeats now (no timer moves). */
  heartbeat (): void { this.node.heartbeat(); this.schedule() }

  transferLeadership (to: NodeId): void {
    this.node.transferLeader(to)
    this.schedule()
  }

  proposeConfChange (cc: ConfChange): void {
    this.node.proposeConfChange(cc)
    this.schedule()
  }

  // ---- the client path ----------------------------------------------------------------------------

  /**
   * Replicates `command` and resolves with its log index and the application's result once applied
   * here. Pass the same `(clientId, seq)` to retry a command exactly once. `timeoutMs`: when it is
   * reported indefinite (default proposalTimeoutMs).
   */
  async propose (command: Uint8Array, session?: { clientId: string, seq: number }, signature?: Uint8Array, timeoutMs = this.o.proposalTimeoutMs): Promise<{ index: number, result: unknown }> {
    if (!this.running) throw new NotStartedError('raft')
    raftTrace?.(this.id, 'propose')
    if (this.pending.size >= this.o.pendingProposalsMax) throw new AgoraError('ERR_LIMIT_EXCEEDED', `more than ${this.o.pendingProposalsMax} proposals pending`, { limit: 'pendingProposalsMax' })
    const s = session ?? this.newSession()
    const key = `${s.clientId}/${s.seq}`
    const origin = originOf(s.clientId)
    const existing = this.pending.get(key)
    if (existing === undefined && origin !== this.ownOrigin && (this.pendingByClient.get(origin) ?? 0) >= this.o.pendingPerClientMax) {
      throw new AgoraError('ERR_LIMIT_EXCEEDED', `more than ${this.o.pendingPerClientMax} proposals of one client pending`, { limit: 'pendingPerClientMax', origin })
    }
    const now = this.clock.now()
    const env = this.envelope(command, s, now, signature)
    return await new Promise((resolve, reject) => {
      if (existing !== undefined) { this.unpend(key, existing); existing.reject(new IndefiniteError('proposal', 'superseded by a retry')) }
      const resendMs = this.o.proposalResendMs
      const p: Pending = { origin, startedAt: this.clock.monotonic?.() ?? now, deadline: now + timeoutMs, at: now, signature: env.signature, bytes: env.bytes, resendAt: resendMs > 0 ? now + resendMs : 0, resendMs, inLog: false, resolve, reject }
      this.pending.set(key, p)
      if (origin !== this.ownOrigin) this.pendingByClient.set(origin, (this.pendingByClient.get(origin) ?? 0) + 1)
      // Handed to Raft with the rest of this turn's proposals at the next run of the loop.
      this.queued.push({ key, data: env.bytes, p })
      this.schedule()
    })
  }

  /** Forgets a pending proposal (settled, refused or expired): `p` must be the one under `key`. */
  private unpend (key: string, p: Pending): void {
    this.pending.delete(key)
    if (p.origin === this.ownOrigin) return
    const n = (this.pendingByClient.get(p.origin) ?? 1) - 1
    if (n <= 0) this.pendingByClient.delete(p.origin)
    else this.pendingByClient.set(p.origin, n)
  }

  /**
   * Hands the queued proposals to Raft in order, in batches of at most proposalBatchEntriesMax commands
   * and proposalBatchBytesMax bytes: each batch is one append (and one message per follower) on a
   * leader, one forwarded message on a follower. A batch the core refuses rejects each of its proposers
   * with the core's reason; a proposal settled while queued (superseded, expired, its leader gone) is
   * not proposed.
   */
  private flushProposals (): void {
    if (this.queued.length === 0) return
    const q = this.queued
    this.queued = []
    let k = 0
    while (k < q.length) {
      const chunk: Queued[] = []
      const datas: Uint8Array[] = []
      let bytes = 0
      for (; k < q.length && chunk.length < this.o.proposalBatchEntriesMax; k++) {
        const item = q[k]!
        if (this.pending.get(item.key) !== item.p) continue
        if (chunk.length > 0 && bytes + item.data.length > this.o.proposalBatchBytesMax) break
        chunk.push(item)
        datas.push(item.data)
        bytes += item.data.length
      }
      if (chunk.length === 0) continue
      let refused: Error | undefined
      try {
        const reason = this.node.proposeBatch(datas)
        if (reason !== null) refused = new ProposalDroppedError(reason)
      } catch (err) {
        refused = err as Error
      }
      if (refused === undefined) continue
      for (const item of chunk) {
        if (this.pending.get(item.key) !== item.p) continue
        this.unpend(item.key, item.p)
        item.p.reject(refused)
      }
    }
  }

  /**
   * The envelope of a proposal: with the given signature (a client's, relayed), else this driver's own
   * where the application requires one and it can sign for the session's origin.
   */
  private envelope (command: Uint8Array, s: { clientId: string, seq: number }, at: number, signature: Uint8Array | undefined): { bytes: Uint8Array, signature: Uint8Array | undefined } {
    const sig = signature ?? (this.sign !== undefined && this.replica.app.requiresSignature?.(command) === true ? this.sign(s.clientId, signedPayload(s.clientId, s.seq, command)) : undefined)
    return { bytes: encodeEnvelope({ clientId: s.clientId, seq: s.seq, at, command, ...(sig !== undefined ? { signature: sig } : {}) }), signature: sig }
  }

  /** A fresh session key for {@link propose} (this driver's client id, next sequence number). */
  newSession (): { clientId: string, seq: number } {
    return { clientId: this.clientId, seq: ++this.seq }
  }

  /** Resolves with a read index once this node has applied up to it (a linearizable read point). */
  async readIndex (timeoutMs = this.o.proposalTimeoutMs): Promise<number> {
    if (!this.running) throw new NotStartedError('raft')
    if (this.reads.size >= this.o.pendingReadsMax) throw new AgoraError('ERR_LIMIT_EXCEEDED', `more than ${this.o.pendingReadsMax} reads pending`, { limit: 'pendingReadsMax' })
    const ctx = `${this.clientId}:r${++this.readSeq}`
    return await new Promise((resolve, reject) => {
      this.reads.set(ctx, { deadline: this.clock.now() + timeoutMs, resolve, reject })
      try {
        this.node.readIndex(enc.encode(ctx))
      } catch (err) {
        this.reads.delete(ctx)
        reject(err as Error)
        return
      }
      this.schedule()
    })
  }

  /** Rejects the proposals and reads whose deadline passed; sends again the proposals due for it. */
  private expire (): void {
    if (this.pending.size === 0 && this.reads.size === 0) return
    const now = this.clock.now()
    // Only a follower that knows a leader sends again: a leader's own proposals are in its log, and a
    // change of leader settles every pending proposal (leaderChanged).
    let expired = 0
    let resends = this.o.proposalResendMs > 0 && this.role !== 'leader' && this.leader !== 0 ? PROPOSAL_RESENDS_PER_TICK_MAX : 0
    for (const [k, p] of this.pending) {
      if (p.deadline > now) {
        if (resends > 0 && p.resendAt !== 0 && p.resendAt <= now && !p.inLog) {
          resends--
          p.resendMs *= 2
          p.resendAt = now + p.resendMs
          if (this.node.tryPropose(p.bytes) === null) this.stats.proposalsResent++
        }
        continue
      }
      this.unpend(k, p)
      this.stats.indefinite++
      // What an operator needs to tell a lost message from a stalled node: where this node stands.
      if (expired++ === 0) {
        const st = this.node.status()
        this.log.warn('a proposal was not applied before its deadline', {
          role: st.role, leader: st.lead, term: st.term, commit: st.commit, applied: this.appliedIndex, lastIndex: st.lastIndex,
          inLog: p.inLog, resendMs: p.resendMs, processing: this.processing, pausedAt: this.pause?.index ?? 0, backlog: this.backlog.length - this.backlogHead,
          pending: this.pending.size, held: this.held.length
        })
      }
      p.reject(new IndefiniteError('proposal', 'not applied before its deadline'))
    }
    for (const [k, r] of this.reads) {
      if (r.deadline > now) continue
      this.reads.delete(k)
      r.reject(new TimeoutError('linearizable read', this.o.proposalTimeoutMs))
    }
  }

  // ---- snapshots ----------------------------------------------------------------------------------

  /**
   * Snapshots the state at `index` (at most the applied index; `confState` the membership in force
   * there) and compacts the log through it. An older index rebuilds its state from the latest snapshot
   * and the log, which needs `createApplication`.
   */
  compact (index: number, confState: ConfState): unknown {
    if (index > this.appliedIndex) throw new RaftInvariantError(`compact at ${index} is beyond applied ${this.appliedIndex}`)
    const data = index === this.appliedIndex ? this.replica.snapshot() : this.stateAt(index)
    const done = this.storage.snapshotAndCompact(index, confState, data)
    if (index > this.lastSnapshotIndex) this.lastSnapshotIndex = index
    return done
  }

  private stateAt (index: number): Uint8Array {
    if (this.createApplication === undefined) throw new RaftInvariantError('rebuilding an older state needs createApplication')
    const r = new Replica(this.createApplication(), undefined, this.verify)
    const snap = this.memory.snapshot()
    if (snap.metadata.index > 0) r.restore(snap.data)
    if (index > snap.metadata.index) for (const e of this.memory.entries(snap.metadata.index + 1, index + 1, Infinity)) r.applyEntry(e)
    return r.snapshot()
  }

  // ---- the Ready loop -----------------------------------------------------------------------------

  /**
   * Runs `fn` (which may submit many commands) with the Ready loop held back, then runs the loop once:
   * the inputs become one Ready (one write, one append per follower), as a busy server batches.
   */
  batch (fn: () => void): void {
    if (this.holding) { fn(); return }
    this.holding = true
    try {
      fn()
    } finally {
      this.holding = false
      if (this.again) { this.again = false; this.schedule() }
    }
  }

  /**
   * Runs the Ready loop through the scheduler (inputs of one live event-loop turn become one batch), or
   * through scheduleSoon when `soon` (an input another node waits on).
   */
  protected schedule (soon = false): void {
    if (this.processing || this.holding) { this.again = true; return }
    if (soon && this.scheduleSoonFn !== undefined) {
      if (this.scheduledSoon) return
      this.scheduledSoon = true
      this.scheduleSoonFn(() => {
        this.scheduledSoon = false
        this.runLoop(true)
      })
      return
    }
    if (this.scheduled) { this.again = true; return }
    this.scheduled = true
    this.scheduleFn(() => {
      this.scheduled = false
      this.runLoop()
    })
  }

  /**
   * `soon`: a run for an inbound message or the leader's own write (scheduleSoon). It leaves the turn's
   * proposals and the held commit notices to the deferred run, which batches them: handing proposals to
   * Raft at every inbound message would split a busy turn's batch into many small appends (more
   * messages, writes and acknowledgements at many clients).
   */
  private runLoop (soon = false): void {
    raftTrace?.(this.id, 'loop')
    if (this.processing) { this.again = true; return }
    if (!this.running) return
    if (this.drainable() && this.resumeApplying() === 'async') return
    if (!soon) this.flushProposals()
    if (!this.node.hasReady()) {
      if (!soon) this.sendHeld()
      // More held entries than one run applies: the next run goes on (other work between).
      if (this.drainable()) this.schedule()
      return
    }
    this.processing = true
    this.again = false
    this.pump(soon)
  }

  /**
   * Processes Ready batches while there are any; returns early (and resumes) when storage is asynchronous.
   * `soon`: see {@link runLoop}.
   */
  private pump (soon = false): void {
    try {
      for (let loops = 0; this.running; loops++) {
        // This turn's proposals join the Ready (one batch) before it is taken.
        if (!soon) this.flushProposals()
        if (!this.node.hasReady()) break
        if (loops >= READY_LOOPS_MAX) throw new RaftInvariantError(`more than ${READY_LOOPS_MAX} Ready batches in one run of the loop`)
        const rd = this.node.ready()
        if (raftTrace !== undefined) raftTrace(this.id, `ready${rd.entries.length > 0 ? ' entries' : ''}${rd.committedEntries.length > 0 ? ' committed' : ''}${rd.persistInParallel ? ' (write in parallel)' : ''}`)
        this.stats.readyBatches++
        if (rd.entries.length > 0 && this.pending.size > 0 && this.o.proposalResendMs > 0) this.markInLog(rd.entries)
        if (rd.persistInParallel) {
          if (this.inParallel(rd) === 'async') return
          continue
        }
        // 1. Persist.
        const saved = this.storage.save(rd)
        if (isThenable(saved)) {
          saved.then(() => { this.afterPersist(rd) }, (err: Error) => { this.fail(err) })
          // 3, early: committed entries that were durable before this write apply while it runs.
          if (this.o.applyWhileWriting) this.applyDurable(rd)
          return
        }
        if (this.handle(rd) === 'async') return
      }
    } catch (err) {
      this.fail(err as Error)
      return
    }
    this.idle()
  }

  /** Marks the pending proposals whose very envelope is among `entries` (appended to this node's log). */
  private markInLog (entries: readonly Entry[]): void {
    for (const e of entries) {
      const key = envelopeKey(e.data)
      if (key === undefined) continue
      const p = this.pending.get(key)
      if (p !== undefined && !p.inLog && sameBytes(e.data, p.bytes)) p.inLog = true
    }
  }

  /**
   * A Ready whose write need not come first (a leader's own entries, thesis §10.2.1, or nothing but a
   * commit index): 2. send, 1. start the write (storage keeps writes in order), 3-4. apply and advance
   * at once. When the write is durable the core hears of it (`appendPersisted`) and counts the leader
   * toward the quorum.
   */
  private inParallel (rd: Ready): 'async' | undefined {
    this.stats.parallelWrites++
    this.sendOut(rd)
    const last = rd.entries.length > 0 ? rd.entries[rd.entries.length - 1]! : undefined
    const saved = this.storage.save(rd)
    const persisted = (): void => {
      this.persisted(rd)
      if (!this.running || last === undefined) return
      raftTrace?.(this.id, 'own write durable')
      this.node.appendPersisted(last.index, last.term)
      this.schedule(true)
    }
    if (isThenable(saved)) saved.then(persisted, (err: Error) => { this.fail(err) })
    else persisted()
    return this.handle(rd, false)
  }

  /**
   * Commit notices held back for one turn: the empty appends by which a leader tells its followers a
   * new commit index, from a Ready that applies entries (and so settles proposals whose callers may
   * propose again at once). The next run of the loop sends them with its own appends, coalesced (one
   * message per follower carrying the new entries and the commit, and one answer), or alone when it
   * has none: at most one turn late.
   */
  private held: Message[] = []

  /** Sends a Ready's messages, with the held ones before them (see {@link held}). */
  private sendOut (rd: Ready): void {
    let msgs = rd.messages
    if (this.held.length > 0) {
      // Held ones go now, whatever this Ready holds (nothing is held twice).
      msgs = this.held.concat(msgs)
      this.held = []
    } else if (rd.committedEntries.length > 0 && (rd.softState?.role ?? this.role) === 'leader') {
      const now: Message[] = []
      for (const m of msgs) (m.type === 'append' && m.entries.length === 0 ? this.held : now).push(m)
      msgs = now
    }
    if (raftTrace !== undefined && msgs.length > 0) raftTrace(this.id, 'send')
    if (msgs.length > 0) this.transport.send(msgs.length > 1 ? coalesceAppends(msgs) : msgs)
  }

  private sendHeld (): void {
    if (this.held.length === 0) return
    const msgs = this.held
    this.held = []
    raftTrace?.(this.id, 'send held')
    this.transport.send(msgs.length > 1 ? coalesceAppends(msgs) : msgs)
  }

  /**
   * The last index of the log as stable storage holds it (writes complete in the order they start): what
   * a save made durable, once it is. Entries at or below it, and below the first entry of a Ready being
   * written, are durable (a Ready that truncates starts at its first entry).
   */
  private durableLast: number

  /** A save of `rd` is durable: moves {@link durableLast}. */
  private persisted (rd: Ready): void {
    if (rd.entries.length > 0) this.durableLast = rd.entries[rd.entries.length - 1]!.index
    else if (rd.snapshot !== undefined) this.durableLast = rd.snapshot.metadata.index
  }

  /**
   * Step 3 of an ordinary Ready (its write in flight), for the committed entries already durable before
   * that write: a follower applies the commit its leader sent with the next entries while the write of
   * those runs, so applying adds nothing between the write's end and the acknowledgement, nor after it.
   * What the write holds, a membership change, a command that asks to wait, and anything behind a pause
   * or a snapshot are left to step 3 after the write ({@link handle}); entries applied here are skipped
   * there (applying is idempotent by index). Nothing is sent here: acknowledgements still wait for the
   * write (step 2 after step 1).
   */
  private applyDurable (rd: Ready): void {
    const ce = rd.committedEntries
    if (ce.length === 0 || rd.snapshot !== undefined || this.pause !== undefined || this.backlogHead < this.backlog.length) return
    const limit = Math.min(this.durableLast, rd.entries.length > 0 ? rd.entries[0]!.index - 1 : Infinity)
    let applied = 0
    try {
      for (const e of ce) {
        if (e.index > limit || e.type === 'confChange') break
        if (this.applyEntry(e, true) === 'wait') break
        applied++
      }
    } catch (err) {
      // As in step 3 after the write: the loop stops (the write's callback finds the driver failed).
      this.fail(err as Error)
      return
    }
    if (applied > 0) this.stats.appliedWhileWriting += applied
  }

  /** Steps 2-4 of one Ready; 'async' when a snapshot is being written (the loop resumes after it). */
  private handle (rd: Ready, send = true): 'async' | undefined {
    // 2. Send.
    if (send) this.sendOut(rd)
    // 3. Apply.
    if (rd.snapshot !== undefined && rd.snapshot.metadata.index > this.appliedIndex) {
      // The snapshot is past every entry held behind a pause (the core takes one only beyond its commit).
      this.dropBacklogThrough(rd.snapshot.metadata.index)
      this.replica.restore(rd.snapshot.data)
      this.appliedIndex = rd.snapshot.metadata.index
      this.lastSnapshotIndex = this.appliedIndex
      this.bytesSinceSnapshot = 0
      this.stats.snapshotsInstalled++
      this.settleFromSessions(this.appliedIndex)
      this.emit('raft:restored', { index: this.appliedIndex, term: rd.snapshot.metadata.term, confState: rd.snapshot.metadata.confState })
    }
    const confAt = rd.committedEntries.length > 0 ? this.applyCommitted(rd.committedEntries) : 0
    for (const rs of rd.readStates) {
      const context = dec.decode(rs.context)
      const r = this.reads.get(context)
      if (r !== undefined) r.index = rs.index
      this.emit('raft:read', { index: rs.index, context })
    }
    if (rd.softState !== undefined) {
      if (rd.softState.lead !== this.leader) this.leaderChanged()
      this.role = rd.softState.role
      this.leader = rd.softState.lead
      this.emit('raft:role', { role: this.role, leader: this.leader, term: this.node.status().term })
    }
    // 4. Advance.
    raftTrace?.(this.id, 'applied')
    this.node.advance(rd)
    if (confAt > 0) this.emit('raft:conf', { index: confAt, confState: this.node.confState() })
    if (rd.committedEntries.length > 0 || rd.snapshot !== undefined) this.emit('raft:applied', { index: this.appliedIndex })
    this.serveReads()
    const snapshotted = this.maybeSnapshot()
    if (snapshotted instanceof Promise) {
      snapshotted.then(() => { this.resume() }, (err: Error) => { this.fail(err) })
      return 'async'
    }
    return undefined
  }

  private afterPersist (rd: Ready): void {
    raftTrace?.(this.id, 'write durable')
    this.persisted(rd)
    try {
      // Stopped while the save was in flight: the Ready is persisted, so it is still applied and
      // advanced (the core already handed its committed entries out; skipping them would leave a gap
      // after a restart); only its messages are not sent.
      if (!this.running) { this.handle(rd, false); this.idle(); return }
      if (this.handle(rd) === 'async') return
    } catch (err) {
      this.fail(err as Error)
      return
    }
    this.resume()
  }

  private resume (): void {
    if (this.running && this.node.hasReady()) { this.pump(); return }
    this.idle()
  }

  private idle (): void {
    raftTrace?.(this.id, 'idle')
    this.processing = false
    // Held commit notices go out at the next run at the latest (with that run's appends, if any); so do
    // held entries whose pause ended.
    if ((this.again || this.held.length > 0 || this.drainable()) && this.running) { this.again = false; this.schedule() }
    if (!this.processing) this.wakeDrained()
  }

  private drainWaiters: Array<() => void> = []

  private wakeDrained (): void {
    if (this.drainWaiters.length === 0) return
    const w = this.drainWaiters
    this.drainWaiters = []
    for (const fn of w) fn()
  }

  /** Resolves once no Ready is being processed (a save or snapshot in flight has finished). */
  async drained (): Promise<void> {
    if (!this.processing) return
    await new Promise<void>((resolve) => { this.drainWaiters.push(resolve) })
  }

  /** A broken invariant or a storage failure: stop this node's Raft loudly (status, event). */
  private fail (err: Error): void {
    this.processing = false
    this.wakeDrained()
    if (this.failure !== undefined) return
    this.failure = err
    this.log.error('raft ready loop failed; stopping the raft node', { error: err.message })
    this.stop()
    this.emit('raft:failed', { error: err })
  }

  /**
   * The leader changed: proposals not yet applied may have been lost with the old leader. Their fate is
   * unknown, so they fail at once as indefinite (a retry with the same session applies at most once)
   * rather than waiting for their deadline.
   */
  private leaderChanged (): void {
    if (this.leader === 0) return
    for (const [k, p] of this.pending) {
      this.unpend(k, p)
      this.stats.indefinite++
      p.reject(new IndefiniteError('proposal', 'the leader changed before it applied'))
    }
  }

  /**
   * Applies a Ready's committed entries in order, from where applying stands: at once while nothing is
   * paused, else behind the backlog; returns the index of the last membership change applied (0: none).
   */
  private applyCommitted (entries: readonly Entry[]): number {
    let confAt = 0
    let k = 0
    // Applied at once unless entries wait behind a pause (or a pause began at an entry applied early,
    // while its Ready was written: applyDurable).
    if (this.backlogHead >= this.backlog.length && this.pause === undefined) {
      for (; k < entries.length; k++) {
        const e = entries[k]!
        const r = this.applyEntry(e, true)
        if (r === 'wait') break
        if (r) confAt = e.index
      }
      if (k === entries.length) return confAt
    }
    for (; k < entries.length; k++) {
      const e = entries[k]!
      if (e.index <= this.appliedIndex) continue
      this.backlog.push(e)
      this.backlogBytes += e.data.length
    }
    if (this.pause !== undefined && this.backlogFull()) {
      this.stats.applyPausesBacklogFull++
      this.log.warn('applying resumes without the awaited work (applyBacklogMax)', { index: this.pause.index, entries: this.applyBacklog, bytes: this.backlogBytes })
      this.endPause('backlog', false)
    }
    // The bound holds while a backlog drains too (no pause: the core hands out up to a Ready's worth of
    // committed entries at a time, more than a run drains): apply at once down to it (nothing waits on a
    // full backlog, so each pass applies at least one entry).
    while (this.pause === undefined && this.backlogFull()) confAt = Math.max(confAt, this.drainBacklog())
    return confAt
  }

  /** Entries are held and no pause stops them: the loop applies them (at most APPLY_DRAIN_MAX a run). */
  private drainable (): boolean {
    return this.pause === undefined && this.backlogHead < this.backlog.length
  }

  private backlogFull (): boolean {
    return this.backlog.length - this.backlogHead >= this.o.applyBacklogMax || this.backlogBytes >= this.o.applyBacklogBytesMax
  }

  /**
   * Applies the backlog from its head until a command pauses again or {@link APPLY_DRAIN_MAX} are applied
   * (the next run of the loop goes on); returns the last membership change applied.
   */
  private drainBacklog (): number {
    let confAt = 0
    for (let n = 0; this.backlogHead < this.backlog.length && this.pause === undefined; n++) {
      if (n >= APPLY_DRAIN_MAX) break
      const e = this.backlog[this.backlogHead]!
      const r = this.applyEntry(e, e.index !== this.waited && !this.backlogFull())
      if (r === 'wait') break
      this.backlogHead++
      this.backlogBytes -= e.data.length
      if (r) confAt = e.index
    }
    if (this.backlogHead >= this.backlog.length) this.clearBacklog()
    return confAt
  }

  private clearBacklog (): void {
    this.backlog = []
    this.backlogHead = 0
    this.backlogBytes = 0
  }

  /** Forgets the held entries through `index` (a snapshot replaced the state past them). */
  private dropBacklogThrough (index: number): void {
    if (this.pause !== undefined && this.pause.index <= index) this.pause = undefined
    while (this.backlogHead < this.backlog.length && this.backlog[this.backlogHead]!.index <= index) {
      this.backlogBytes -= this.backlog[this.backlogHead]!.data.length
      this.backlogHead++
    }
    if (this.backlogHead >= this.backlog.length) this.clearBacklog()
  }

  /** Pauses applying at `index` until `until` settles (or applyWaitMs passes: {@link tick}). */
  private startPause (index: number, until: PromiseLike<unknown>): void {
    const pause = { index, until: this.clock.now() + this.o.applyWaitMs }
    this.pause = pause
    this.stats.applyPauses++
    this.emit('raft:apply-paused', { index })
    const done = (): void => { if (this.pause === pause) this.endPause('done') }
    until.then(done, done)
  }

  /** Ends the pause: its command is applied next without asking again (at the next run of the loop unless `now` is false). */
  private endPause (reason: 'done' | 'timeout' | 'backlog', schedule = true): void {
    const p = this.pause
    if (p === undefined) return
    this.pause = undefined
    // Stopped (its peer is shutting down): ask again after a restart of this driver.
    if (this.running) this.waited = p.index
    this.emit('raft:apply-resumed', { index: p.index, reason })
    if (schedule && this.running) this.schedule()
  }

  /** Applies the backlog after a pause ended, outside any Ready: the steps after apply in {@link handle}. */
  private resumeApplying (): 'async' | undefined {
    try {
      const before = this.appliedIndex
      const confAt = this.drainBacklog()
      if (confAt > 0) this.emit('raft:conf', { index: confAt, confState: this.node.confState() })
      if (this.appliedIndex > before) this.emit('raft:applied', { index: this.appliedIndex })
      this.serveReads()
      const snapshotted = this.maybeSnapshot()
      if (snapshotted instanceof Promise) {
        this.processing = true
        snapshotted.then(() => { this.resume() }, (err: Error) => { this.fail(err) })
        return 'async'
      }
    } catch (err) {
      this.fail(err as Error)
      return 'async'
    }
    return undefined
  }

  /**
   * Applies one committed entry; true when it is a membership change (the core applies those at
   * advance), 'wait' when its application asked to wait first (`mayWait`): nothing is applied then, and
   * applying pauses there.
   */
  private applyEntry (e: Entry, mayWait = false): boolean | 'wait' {
    if (e.index <= this.appliedIndex) return false
    const prepared: PreparedEntry = e.type === 'confChange' ? 'empty' : this.replica.prepare(e)
    if (mayWait && this.o.applyWaitMs > 0 && typeof prepared !== 'string') {
      const until = this.replica.waitBefore(prepared)
      if (until !== undefined) { this.startPause(e.index, until); return 'wait' }
    }
    this.appliedIndex = e.index
    this.bytesSinceSnapshot += e.data.length
    if (this.listenerCount('entry:applied') > 0) this.emit('entry:applied', { entry: e })
    if (e.type === 'confChange') return true
    const out = this.replica.applyPrepared(e, prepared)
    if (typeof out === 'string') {
      if (out === 'malformed') this.log.warn('skipping a malformed command', { index: e.index })
      return false
    }
    if (out.refused !== undefined) this.stats.badSignatures++
    else if (out.duplicate) this.stats.duplicates++
    else this.stats.applied++
    if (this.listenerCount('command:applied') > 0) this.emit('command:applied', { ...out, term: e.term })
    if (this.pending.size === 0) return false
    const key = `${out.envelope.clientId}/${out.envelope.seq}`
    const p = this.pending.get(key)
    if (p === undefined) return false
    // A refused entry may be a forgery under this session (another member's): it settles this
    // proposal only if it is the very envelope proposed here; otherwise the real one is still to come.
    if (out.refused !== undefined && (out.envelope.at !== p.at || !sameBytes(out.envelope.signature, p.signature))) return false
    this.unpend(key, p)
    if (out.result === FORGOTTEN) {
      this.stats.indefinite++
      p.reject(new IndefiniteError('proposal', FORGOTTEN_REASON))
      return false
    }
    raftTrace?.(this.id, 'resolve')
    p.resolve({ index: e.index, result: out.result })
    if (this.listenerCount('raft:committed') > 0) this.emit('raft:committed', { index: e.index, ms: (this.clock.monotonic?.() ?? this.clock.now()) - p.startedAt })
    return false
  }

  /**
   * A snapshot covered commands proposed here: the session table it brought says which applied (their
   * cached result) and which cannot be known any more; the others are still to come.
   */
  private settleFromSessions (index: number): void {
    for (const [key, p] of this.pending) {
      const slash = key.lastIndexOf('/')
      const seen = this.replica.sessions.check(key.slice(0, slash), Number(key.slice(slash + 1)))
      if (seen.status === 'new') continue
      this.unpend(key, p)
      if (seen.status === 'forgotten') { this.stats.indefinite++; p.reject(new IndefiniteError('proposal', FORGOTTEN_REASON)); continue }
      p.resolve({ index, result: seen.result })
    }
  }

  private serveReads (): void {
    if (this.reads.size === 0) return
    for (const [ctx, r] of this.reads) {
      if (r.index !== undefined && this.appliedIndex >= r.index) {
        this.reads.delete(ctx)
        r.resolve(r.index)
      }
    }
  }

  private maybeSnapshot (): unknown {
    // Not while entries wait behind a pause: the membership the core reports may be past the applied index.
    if (this.backlogHead < this.backlog.length) return
    if (this.appliedIndex - this.lastSnapshotIndex < this.o.snapshotEntries && this.bytesSinceSnapshot < this.o.snapshotLogBytes) return
    // A leader may apply entries its own write still holds (committed by its followers): snapshot once
    // storage has them.
    if (this.appliedIndex > this.memory.lastIndex()) return
    this.bytesSinceSnapshot = 0
    const index = this.appliedIndex
    const data = this.replica.snapshot()
    if (data.length > this.o.snapshotBytesMax) {
      // A snapshot travels in one Raft message: one this large could never reach a lagging follower.
      // Keep the log instead (it stays replayable) and say so; try again after snapshotEntries more.
      this.lastSnapshotIndex = index
      this.stats.snapshotsTooLarge++
      this.log.error('state too large to snapshot: log not compacted', { bytes: data.length, limit: this.o.snapshotBytesMax, index })
      return
    }
    this.lastSnapshotIndex = index
    this.stats.snapshots++
    this.log.info('snapshot taken', { index, bytes: data.length })
    return this.storage.snapshotAndCompact(index, this.node.confState(), data)
  }
}

/** A promise or any object with `then` (the simulator's disk completes writes through one in virtual time). */
function isThenable (x: unknown): x is PromiseLike<void> {
  return typeof (x as { then?: unknown } | null | undefined)?.then === 'function'
}

function sameBytes (a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === undefined || b === undefined) return a === b
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
