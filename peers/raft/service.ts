/**
 * The Raft service of a peer (`peer.raft`): this peer's membership of the mesh's Raft group. It binds the
 * shipped driver (protocols/raft/driver.ts, through {@link LiveRaftDriver}) to the peer's components:
 * durable storage in the peer's LevelDB, the libp2p transport, the client path served to peers outside
 * the group, the economy's genesis, and membership changes. It runs the mesh application
 * (protocols/mesh) and re-emits its events, so handles made once keep working across restarts.
 *
 * Lifecycle: `start()` and `stop()` are idempotent. With a data dir, a stopped service forgets its
 * driver and the next start recovers everything from disk; in memory, the same driver resumes.
 */
import type { TaskEvent } from '../../protocols/tasks/types.js'
import type { ClassicLevel } from 'classic-level'
import { LimitExceededError, NotStartedError, TimeoutError } from '../../src/base/errors.js'
import { TypedEmitter } from '../../src/base/events.js'
import type { Logger } from '../../src/base/log.js'
import { COMMAND_BYTES_MAX, MeshApplication, encodeEconCommand, revisionOf, type EconomyAppliedEvent, type SolutionWait } from '../../protocols/mesh/application.js'
import type { BudgetEvent } from '../../protocols/infrastructure/budget-types.js'
import type { Economy } from '../../protocols/market/economy.js'
import type { StrongEventMap } from '../../protocols/variables/strong-map.js'
import type { CoordEvent } from '../../protocols/coordination/types.js'
import type { Role } from '../../protocols/raft/types.js'
import type { AgoraLibp2p } from '../node.js'
import type { Signer, Verifier } from '../../crdt/signing.js'
import { originOf } from '../../protocols/raft/envelope.js'
import { RaftClientServer } from './client.js'
import type { QuotaLimits } from './quota.js'
import { LiveRaftDriver } from './driver.js'
import { DurableRaftStorage } from './storage.js'
import { RaftTransport, raftIdOf, type RaftTransportStats } from './transport.js'

/** What `peer.raft.status()` reports. */
export interface PeerRaftStatus {
  /** Set when this node's Raft loop failed and stopped (see the logs). */
  failed?: string
  role: Role
  term: number
  /** Peer id of the leader this node knows, if any. */
  leader: string | undefined
  commit: number
  applied: number
  voters: string[]
  learners: string[]
}

/** Counters of the driver (what happened to commands applied here). */
export interface PeerRaftStats {
  applied: number
  duplicates: number
  indefinite: number
  snapshots: number
  snapshotsInstalled: number
  snapshotsTooLarge: number
  readyBatches: number
  /** Proposals of this follower sent to the leader again (proposalResendMs). */
  proposalsResent: number
  /** Times applying paused at a settle for this peer's worker (applyWaitMs), and how many of them ran out of time or backlog. */
  applyPauses: number
  applyPausesTimedOut: number
  applyPausesBacklogFull: number
}

export interface RaftServiceEvents extends Record<string, unknown>, StrongEventMap {
  /** This node's role or known leader changed (`leader`: a peer id, undefined when unknown). */
  'raft:role': { role: Role, leader: string | undefined, term: number }
  /** Entries were applied here up to `index`. */
  'raft:applied': { index: number }
  /** A command proposed here was applied here, `ms` after it was proposed. */
  'raft:committed': { index: number, ms: number }
  /** This node's Raft loop failed and stopped. */
  'raft:failed': { error: Error }
  /** A snapshot from the leader replaced this replica's state (its economy among it). */
  'raft:restored': { index: number }
  /** An economy command was applied on this replica. */
  'economy:applied': EconomyAppliedEvent
  /** The coordination machine of this replica changed (protocols/coordination). */
  'coord:event': CoordEvent
  /** The task machine of this replica changed (protocols/tasks). */
  'task:event': TaskEvent
  /** The budget machine of this replica changed (protocols/infrastructure/budget.ts). */
  'budget:event': BudgetEvent
  /** A command proposed here ({@link RaftService.propose}) ended indefinite: its session, to settle its fate later (peers/health). */
  'raft:indefinite': { session: { clientId: string, seq: number }, command: Uint8Array, proposedAt: number, error: Error }
}

/** The options of `createPeer({ raft })` this service reads. */
export interface RaftServiceInit {
  /** Peer ids of the bootstrap voters; a peer listed starts as a voter of a new group. */
  voters?: string[]
  /** Run Raft without voting (the leader must add this peer as a learner). */
  learner?: boolean
  /** Milliseconds per tick. Default 50. */
  tickMs?: number
  /** Ticks of silence before an election. Default 10. */
  electionTick?: number
  /** fsync every persisted Ready. Default true. */
  fsync?: boolean
  /** An fsync slower than this is logged as a warning. Default 100 ms (FSYNC_SLOW_MS_DEFAULT in storage.ts). */
  fsyncSlowMs?: number
  /** The leader writes its entries in parallel with sending them (protocols/raft/README.md). Default true. */
  asyncLeaderWrites?: boolean
  /** Applied entries between snapshots. Default 10000. */
  snapshotEntries?: number
  /** How long a proposal may take before it is indefinite. Default 5000 ms. */
  proposalTimeoutMs?: number
  /** A follower sends its proposal to the leader again after this long unapplied, then doubling. Default 1000 ms; 0 never. */
  proposalResendMs?: number
  /** Longest a settle pauses this replica's applying for its worker's solve. Default 10000 ms (APPLY_WAIT_MS); 0 never (solve in apply). */
  applyWaitMs?: number
  /** The economy's authorities (treasury). Default the bootstrap voters. */
  economyAuthorities?: string[]
  /** Ledger unbonding delay in economy log entries (genesis). Default 100. */
  unbondingDelayEntries?: number
}

/** What the service needs of its peer. */
export interface RaftServiceComponents {
  libp2p: AgoraLibp2p
  /** The mesh name (namespaces the protocols). */
  mesh: string
  /** The peer's LevelDB, when it has a data dir (read at start). */
  db: () => ClassicLevel<string, Uint8Array> | undefined
  /** Peers known to be mesh members now (dialable for Raft). */
  members: () => string[]
  /** Subscribes to members joining; returns the unsubscribe. */
  onMemberJoined: (fn: (peerId: string) => void) => () => void
  /** Hosts of the registry (peers worth knowing the address of). */
  hosts: () => string[]
  /** The peer's key: it signs the economy commands this peer proposes as their origin. */
  signer: Signer
  /** Verifies a peer's signature (its peer id embeds its public key). */
  verify: Verifier
  log: Logger
  /** The client path's per-peer quota (default DEFAULT_QUOTA_LIMITS; the peer's `rateLimits.peerProposals`). */
  clientQuota?: Partial<QuotaLimits>
}

export class RaftService extends TypedEmitter<RaftServiceEvents> {
  private readonly components: RaftServiceComponents
  private readonly init: RaftServiceInit
  private readonly log: Logger
  private readonly selfId: string
  /** @internal the driver (benchmarks and tests); undefined while stopped with a data dir. */
  driver: LiveRaftDriver | undefined
  private transport: RaftTransport | undefined
  /** The durable storage of the running driver (flushed at a stop). */
  private storage: DurableRaftStorage | undefined
  private server: RaftClientServer | undefined
  private current: MeshApplication | undefined
  private memberOff: (() => void) | undefined
  private running = false
  private starting: Promise<void> | undefined

  constructor (components: RaftServiceComponents, init: RaftServiceInit = {}) {
    super()
    this.components = components
    this.init = init
    this.log = components.log
    this.selfId = components.libp2p.peerId.toString()
  }

  get isStarted (): boolean { return this.running }

  /** The local replica of the mesh application (strong variables and the economy), while running. */
  get app (): MeshApplication | undefined { return this.current }

  /** @internal the transport (the live harness shapes its links). */
  get links (): RaftTransport | undefined { return this.transport }

  /** The local economy replica, once its genesis is applied here. */
  get economy (): Economy | undefined { return this.current?.economy }
  /** This peer's finished off-log combinatorial solves (peers/economy/settle-solver.ts), for every replica this service runs. */
  solutionLookup: Economy['solutionLookup']
  /** This peer's off-log solve of a closed auction, for the replica's settle to wait on (MeshApplication.applyWait). */
  solutionWait: SolutionWait | undefined

  async start (): Promise<void> {
    if (this.running) return
    if (this.starting !== undefined) { await this.starting; return }
    this.starting = this.doStart().finally(() => { this.starting = undefined })
    await this.starting
  }

  private async doStart (): Promise<void> {
    if (this.driver === undefined) await this.create()
    const d = this.driver as LiveRaftDriver
    await (this.transport as RaftTransport).start()
    d.start()
    await this.server?.start()
    this.running = true
  }

  async stop (): Promise<void> {
    if (this.starting !== undefined) await this.starting.catch(() => {})
    if (!this.running) return
    this.running = false
    this.driver?.stop()
    // A save or snapshot in flight finishes before the storage is let go (a restart reopens it).
    await this.driver?.drained()
    // Its delayed commit-only hard state is written now, not over the next start's newer one.
    await this.storage?.flush().catch(() => {})
    this.storage = undefined
    await this.transport?.stop()
    await this.server?.stop()
    // With a data dir, the next start recovers Raft from disk; in memory, the same driver resumes.
    if (this.components.db() !== undefined) {
      this.driver = undefined
      this.transport = undefined
      this.server = undefined
      this.current = undefined
      this.memberOff?.()
      this.memberOff = undefined
    }
  }

  private async create (): Promise<void> {
    const options = this.init
    const log = this.log
    const db = this.components.db()
    const storage = db !== undefined
      ? await DurableRaftStorage.open(db, {
        fsync: options.fsync ?? true,
        traceNode: raftIdOf(this.selfId),
        onSlowSync: (ms, thresholdMs) => { log.warn('slow fsync of the Raft log', { ms, thresholdMs }) },
        ...(options.fsyncSlowMs !== undefined ? { fsyncSlowMs: options.fsyncSlowMs } : {})
      })
      : undefined
    this.storage = storage
    const app = new MeshApplication()
    app.solutionLookup = (digest) => this.solutionLookup?.(digest)
    app.solutionWait = (digest, job) => this.solutionWait?.(digest, job)
    let driver: LiveRaftDriver | undefined
    const transport = new RaftTransport({
      node: this.components.libp2p,
      mesh: this.components.mesh,
      log,
      onMessage: (m) => driver?.receive(m),
      onUnreachable: (id) => { try { driver?.node.reportUnreachable(id) } catch {} }
    })
    const voters = options.voters
    const isVoter = voters?.includes(this.selfId) === true && options.learner !== true
    for (const v of voters ?? []) transport.addPeer(v)
    transport.addPeer(this.selfId)
    for (const m of this.components.members()) transport.addPeer(m)
    this.memberOff?.()
    this.memberOff = this.components.onMemberJoined((peerId) => { transport.addPeer(peerId) })
    for (const h of this.components.hosts()) transport.addPeer(h)
    driver = new LiveRaftDriver({
      id: raftIdOf(this.selfId),
      transport,
      application: app,
      origin: this.selfId,
      sign: (clientId, payload) => originOf(clientId) === this.selfId ? this.components.signer.sign(payload) : undefined,
      verify: this.components.verify,
      ...(storage !== undefined ? { storage } : {}),
      ...(isVoter && voters !== undefined ? { voters: voters.map(raftIdOf) } : {}),
      log,
      options: {
        ...(options.tickMs !== undefined ? { tickMs: options.tickMs } : {}),
        ...(options.electionTick !== undefined ? { electionTick: options.electionTick } : {}),
        ...(options.snapshotEntries !== undefined ? { snapshotEntries: options.snapshotEntries } : {}),
        ...(options.asyncLeaderWrites !== undefined ? { asyncLeaderWrites: options.asyncLeaderWrites } : {}),
        ...(options.proposalTimeoutMs !== undefined ? { proposalTimeoutMs: options.proposalTimeoutMs } : {}),
        ...(options.proposalResendMs !== undefined ? { proposalResendMs: options.proposalResendMs } : {}),
        ...(options.applyWaitMs !== undefined ? { applyWaitMs: options.applyWaitMs } : {})
      }
    })
    const d = driver
    app.on('economy:applied', (e) => { if (this.current === app) this.emit('economy:applied', e) })
    app.strong.on('variable:changed', (e) => { if (this.current === app) this.emit('variable:changed', e) })
    app.onCoordination((m) => { m.on('coord:event', (e) => { if (this.current === app) this.emit('coord:event', e) }) })
    app.onTasks((m) => { m.on('task:event', (e) => { if (this.current === app) this.emit('task:event', e) }) })
    app.onBudgets((m) => { m.on('budget:event', (e) => { if (this.current === app) this.emit('budget:event', e) }) })
    d.on('raft:role', (e) => { this.emit('raft:role', { role: e.role, leader: e.leader === 0 ? undefined : transport.peerOf(e.leader), term: e.term }) })
    d.on('raft:applied', (e) => { this.emit('raft:applied', e) })
    d.on('raft:committed', (e) => { this.emit('raft:committed', e) })
    d.on('raft:failed', (e) => { this.emit('raft:failed', e) })
    d.on('raft:restored', (e) => { this.emit('raft:restored', { index: e.index }) })
    this.driver = d
    this.transport = transport
    this.current = app
    this.startGenesis(d, app)
    this.server = new RaftClientServer(this.components.libp2p, this.components.mesh, d, (name) => app.read(name), log, (command) => app.check(command), this.components.clientQuota ?? {}, async (name, rev, ms) => { await this.watchCoordination(name, rev, ms) })
  }

  /**
   * The economy's genesis: the first leader proposes it (identical on every bootstrap voter). Only a
   * bootstrap voter (or a peer told the authorities) proposes it: a member added later could otherwise
   * lead before genesis and name itself the authority.
   */
  private startGenesis (d: LiveRaftDriver, app: MeshApplication): void {
    const authorities = this.init.economyAuthorities ?? this.init.voters
    const unbonding = this.init.unbondingDelayEntries
    let inFlight = false
    const genesis = (): void => {
      if (authorities === undefined || app.economy !== undefined || !d.isLeader || inFlight) return
      inFlight = true
      d.proposeReliably(encodeEconCommand({ type: 'economy.genesis', authorities, ...(unbonding !== undefined ? { unbondingDelayEntries: unbonding } : {}), signatures: 'required' }))
        .catch((err: Error) => { this.log.debug('economy genesis not proposed yet', { error: err.message }) })
        .finally(() => { inFlight = false })
    }
    d.on('raft:role', (e) => { if (e.role === 'leader') genesis() })
    d.on('raft:applied', genesis)
    genesis()
  }

  private need (): LiveRaftDriver {
    const d = this.driver
    if (d === undefined || !this.running) throw new NotStartedError('raft')
    return d
  }

  status (): PeerRaftStatus {
    const d = this.driver
    if (d === undefined) return { failed: 'stopped', role: 'follower', term: 0, leader: undefined, commit: 0, applied: 0, voters: [], learners: [] }
    const s = d.status()
    const peerOf = (id: number): string | undefined => this.transport?.peerOf(id)
    return {
      ...(d.failure !== undefined ? { failed: d.failure.message } : {}),
      role: s.role,
      term: s.term,
      leader: s.lead === 0 ? undefined : peerOf(s.lead),
      commit: s.commit,
      applied: s.appliedIndex,
      voters: s.confState.voters.map(v => peerOf(v) ?? `raft:${v}`),
      learners: s.confState.learners.map(v => peerOf(v) ?? `raft:${v}`)
    }
  }

  /** On the leader: each member's match index (how much of the log it holds), by peer id; undefined elsewhere. */
  progress (): Map<string, number> | undefined {
    const p = this.driver?.node.status().progress
    if (p === undefined) return undefined
    const out = new Map<string, number>()
    for (const [id, pr] of Object.entries(p)) out.set(this.transport?.peerOf(Number(id)) ?? `raft:${id}`, pr.match)
    return out
  }

  /**
   * Counters of this member's network side: the Raft transport (`droppedMalformed`: frames that did
   * not decode or broke the framing...) and the client path it serves (`malformed` requests...).
   */
  networkStats (): { transport: RaftTransportStats | undefined, client: RaftClientServer['stats'] | undefined } {
    return { transport: this.transport === undefined ? undefined : { ...this.transport.stats }, client: this.server === undefined ? undefined : { ...this.server.stats } }
  }

  stats (): PeerRaftStats {
    return { ...(this.driver?.stats ?? { applied: 0, duplicates: 0, indefinite: 0, snapshots: 0, snapshotsInstalled: 0, snapshotsTooLarge: 0, readyBatches: 0, proposalsResent: 0, applyPauses: 0, applyPausesTimedOut: 0, applyPausesBacklogFull: 0 }) }
  }

  /** Replicates `command` exactly once (retried under one session until `timeoutMs`); its index and result. */
  async propose (command: Uint8Array, timeoutMs?: number): Promise<{ index: number, result: unknown }> {
    // The client path refuses larger commands too (MeshApplication.check): an entry the followers' wire
    // limit refuses would be resent for ever and nothing after it would commit.
    if (command.length > COMMAND_BYTES_MAX) throw new LimitExceededError('commandBytesMax', COMMAND_BYTES_MAX, command.length, 'a command')
    const d = this.need()
    const session = d.newSession()
    const proposedAt = Date.now()
    try {
      return await d.proposeReliably(command, timeoutMs, session)
    } catch (err) {
      if ((err as { code?: unknown }).code === 'ERR_INDEFINITE') this.emit('raft:indefinite', { session, command, proposedAt, error: err as Error })
      throw err
    }
  }

  /** A linearizable read point: resolves once this replica applied everything committed when called. */
  async readBarrier (timeoutMs?: number): Promise<number> {
    return await this.need().readIndexReliably(timeoutMs)
  }

  /**
   * Resolves once coordination object `name` (`coord:lock:x`, `coord:barrier:b`...) or task `task:<id>`
   * changed past revision `rev` on this replica, or after `ms`.
   */
  async watchCoordination (name: string, rev: number, ms: number): Promise<void> {
    const d = this.need()
    const revision = (): number => {
      const app = this.current
      if (app === undefined) return 0
      return revisionOf(app, name)
    }
    const changed = (): boolean => revision() !== rev
    if (changed() || ms <= 0) return
    await d.once('raft:applied', changed, ms).catch(() => {})
  }

  /** Resolves true once this replica applied `index` (false after `timeoutMs`). */
  async waitApplied (index: number, timeoutMs: number): Promise<boolean> {
    const d = this.need()
    if (d.status().appliedIndex >= index) return true
    return await d.once('raft:applied', (e) => e.index >= index, timeoutMs).then(() => true, () => false)
  }

  /**
   * Hands leadership to `peerId` (a voter) and resolves once this node is no longer leader or after
   * `timeoutMs`; false when it still leads then.
   */
  async transferLeadership (peerId: string, timeoutMs = 2000): Promise<boolean> {
    const d = this.need()
    if (!d.isLeader) return true
    d.transferLeadership(raftIdOf(peerId))
    await d.once('raft:role', (e) => e.role !== 'leader', timeoutMs).catch(() => {})
    return !d.isLeader
  }

  async addLearner (peerId: string): Promise<void> { await this.change('addLearner', peerId) }
  async promote (peerId: string): Promise<void> { await this.change('promoteLearner', peerId) }
  async removeMember (peerId: string): Promise<void> { await this.change('removeVoter', peerId) }

  /**
   * Replaces voter `dead` by peer `live`: adds `live` as a learner, waits until it has caught up with the
   * commit index (by snapshot if the log was compacted), promotes it, then removes `dead`.
   */
  async replaceVoter (dead: string, live: string, options: { timeoutMs?: number } = {}): Promise<void> {
    const d = this.need()
    const timeoutMs = options.timeoutMs ?? 30_000
    const deadline = Date.now() + timeoutMs
    const id = raftIdOf(live)
    if (!d.node.confState().learners.includes(id) && !d.node.confState().voters.includes(id)) await this.change('addLearner', live, timeoutMs)
    // Caught up: the leader's view of the learner's match reaches the commit index.
    for (;;) {
      const st = d.node.status()
      const match = st.progress?.[id]?.match
      if (st.role !== 'leader' || (match !== undefined && match >= st.commit)) break
      if (Date.now() > deadline) throw new TimeoutError(`learner ${live} catching up`, timeoutMs)
      await d.once('raft:applied', () => true, 200).catch(() => {})
    }
    if (!d.node.confState().voters.includes(id)) await this.change('promoteLearner', live, Math.max(1, deadline - Date.now()))
    await this.change('removeVoter', dead, Math.max(1, deadline - Date.now()))
  }

  private async change (type: 'addLearner' | 'promoteLearner' | 'removeVoter', peerId: string, timeoutMs?: number): Promise<void> {
    const d = this.need()
    this.transport?.addPeer(peerId)
    await d.changeMembership({ type, nodeId: raftIdOf(peerId) }, timeoutMs)
  }
}
