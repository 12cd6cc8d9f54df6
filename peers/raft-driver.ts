/**
 * The live Raft driver: runs a pure {@link RaftNode} inside a peer. It ticks the core from a timer,
 * feeds it the messages the transport receives, and honours the Ready contract in order (see
 * protocols/raft/README.md): (1) persist hard state, entries and snapshot (durably, when a data dir is
 * given), (2) send messages, (3) apply committed entries to the application, (4) advance.
 *
 * Client path: `propose(command)` wraps the command in an envelope `(clientId, seq)`; the replicated
 * session table drops a duplicate of an applied `(clientId, seq)` and returns the cached result, so a
 * retry is applied exactly once. The proposer resolves when the entry is applied locally; if that does
 * not happen within `proposalTimeoutMs` (the leader was lost, the node is partitioned...) the command's
 * fate is unknown and the promise rejects with {@link IndefiniteError}, never with a plain failure.
 * A proposal the core refuses outright (no leader, transfer in progress...) rejects with
 * ProposalDroppedError: it certainly did not and will not apply.
 */
import { randomBytes } from 'node:crypto'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { AgoraError, DecodeError, NotStartedError, TimeoutError } from '../src/base/errors.js'
import { TypedEmitter } from '../src/base/events.js'
import type { Logger } from '../src/base/log.js'
import { createRand } from '../src/base/prng.js'
import { RaftNode } from '../protocols/raft/raft.js'
import { MemoryStorage } from '../protocols/raft/storage.js'
import type { ConfChange, Entry, Message, NodeId, Ready, Role, Status } from '../protocols/raft/types.js'
import type { DurableRaftStorage } from './raft-storage.js'
import { RAFT_MESSAGE_BYTES_MAX, type RaftTransport } from './raft-transport.js'

/** The command's fate is unknown: it may or may not have been applied (e.g. the leader was lost). */
export class IndefiniteError extends AgoraError {
  static override readonly name = 'IndefiniteError'
  constructor (what: string, reason: string) {
    super('ERR_INDEFINITE', `${what}: outcome unknown (${reason}); retry with the same session to apply it at most once`, { reason })
  }
}

/** A deterministic application of the replicated log. */
export interface RaftApplication {
  /**
   * Applies a committed command (must be deterministic); returns its result. `meta.origin` is the peer
   * that proposed it (the part of its session's client id before the first "/": this peer for local
   * proposals, the Noise-authenticated remote peer for the client stream); `meta.at` the accepting
   * member's clock when it was proposed (0 for entries written before stamps existed).
   */
  apply: (command: Uint8Array, index: number, meta: { origin: string, at: number }) => unknown
  /** The application's state, for snapshots. */
  snapshot: () => Uint8Array
  /** Replaces the application's state with a snapshot's. */
  restore: (data: Uint8Array) => void
}

export interface RaftDriverOptions {
  /** Milliseconds per tick. Default 50. */
  tickMs?: number
  /** Ticks of silence before an election (timeout uniform in [electionTick, 2·electionTick)). Default 10 (0.5-1 s). */
  electionTick?: number
  /** Ticks between heartbeats. Default 1. */
  heartbeatTick?: number
  /** Default true. */
  preVote?: boolean
  /** Default true. */
  checkQuorum?: boolean
  /** How long a proposal may take before its outcome is reported indefinite. Default 5000 ms. */
  proposalTimeoutMs?: number
  /** Take a snapshot and compact the log every this many applied entries. Default 10000. */
  snapshotEntries?: number
  /** Commands waiting for their result at once (at most the session window). Default 4096. */
  pendingProposalsMax?: number
  /** Client sessions remembered for exactly-once (least recently used are forgotten). Default 10000. */
  sessionsMax?: number
}

export interface RaftDriverEventMap extends Record<string, unknown> {
  'raft:role': { role: Role, leader: NodeId, term: number }
  'raft:applied': { index: number }
  /** A command proposed here was applied here: `ms` from propose() to its result. */
  'raft:committed': { index: number, ms: number }
  /** The Ready loop failed (storage error, broken invariant); this node's Raft is stopped. */
  'raft:failed': { error: Error }
}

export interface RaftDriverInit {
  id: NodeId
  transport: RaftTransport
  application: RaftApplication
  /** Durable storage (data dir); without it, in memory. */
  storage?: DurableRaftStorage
  /** Bootstrap voters (used only for a brand-new group). */
  voters?: NodeId[]
  learners?: NodeId[]
  seed?: number
  log: Logger
  /** This peer's id: local proposals carry it as their origin. */
  origin?: string
  options?: RaftDriverOptions
}

interface Pending {
  startedAt: number
  resolve: (r: { index: number, result: unknown }) => void
  reject: (err: Error) => void
  timer: ReturnType<typeof setTimeout>
}

/**
 * A client's replicated session: the results of its recently applied commands by seq (a window, so a
 * client may have many commands in flight at once), and `floor`: every seq at or below it was forgotten.
 */
interface Session { floor: number, results: Map<number, unknown> }

/** Largest snapshot taken (it must fit in one Raft message, RAFT_MESSAGE_BYTES_MAX, with room for the envelope). */
export const SNAPSHOT_BYTES_MAX = RAFT_MESSAGE_BYTES_MAX - 1024 * 1024

/** Applied commands remembered per client. */
export const SESSION_WINDOW = 4096
/** The result of a retried command that was applied but is no longer remembered. */
const UNKNOWN_RESULT: unique symbol = Symbol('unknown result')

/** 1: (clientId, seq, command); 2: (clientId, seq, at, command). */
const ENVELOPE_VERSION = 2

export class RaftDriver extends TypedEmitter<RaftDriverEventMap> {
  readonly id: NodeId
  readonly node: RaftNode
  readonly memory: MemoryStorage
  readonly stats = { applied: 0, duplicates: 0, indefinite: 0, snapshots: 0, snapshotsInstalled: 0, snapshotsTooLarge: 0, readyBatches: 0 }
  private readonly storage: DurableRaftStorage | undefined
  private readonly transport: RaftTransport
  private readonly app: RaftApplication
  private readonly log: Logger
  private readonly o: Required<RaftDriverOptions>
  private readonly clientId: string
  private seq = 0
  private readonly pending = new Map<string, Pending>()
  private readonly reads = new Map<string, { resolve: (i: number) => void, reject: (e: Error) => void, timer: ReturnType<typeof setTimeout>, index?: number }>()
  private readonly sessions = new Map<string, Session>()
  private appliedIndex = 0
  private lastSnapshotIndex = 0
  private ticker: ReturnType<typeof setInterval> | undefined
  private processing = false
  private scheduled = false
  private again = false
  private running = false
  private readSeq = 0
  private role: Role = 'follower'
  /** Set when the Ready loop failed; the driver is then stopped for good. */
  failure: Error | undefined
  private leader: NodeId = 0

  constructor (init: RaftDriverInit) {
    super()
    const o = init.options ?? {}
    this.o = {
      tickMs: o.tickMs ?? 50,
      electionTick: o.electionTick ?? 10,
      heartbeatTick: o.heartbeatTick ?? 1,
      preVote: o.preVote ?? true,
      checkQuorum: o.checkQuorum ?? true,
      proposalTimeoutMs: o.proposalTimeoutMs ?? 5000,
      snapshotEntries: o.snapshotEntries ?? 10_000,
      pendingProposalsMax: o.pendingProposalsMax ?? SESSION_WINDOW,
      sessionsMax: o.sessionsMax ?? 10_000
    }
    this.id = init.id
    this.transport = init.transport
    this.app = init.application
    this.log = init.log
    this.storage = init.storage
    this.memory = init.storage?.memory ?? new MemoryStorage()
    this.clientId = `${init.origin ?? ''}/${randomBytes(8).toString('hex')}`
    // Restore the application from the latest snapshot; entries after it are applied again.
    const snap = this.memory.snapshot()
    if (snap.metadata.index > 0) this.restoreSnapshot(snap.data)
    this.appliedIndex = snap.metadata.index
    this.lastSnapshotIndex = snap.metadata.index
    this.node = new RaftNode({
      id: init.id,
      storage: this.memory,
      rand: createRand(init.seed ?? init.id),
      ...(init.voters !== undefined ? { peers: { voters: init.voters, learners: init.learners ?? [] } } : {}),
      electionTick: this.o.electionTick,
      heartbeatTick: this.o.heartbeatTick,
      preVote: this.o.preVote,
      checkQuorum: this.o.checkQuorum,
      applied: this.appliedIndex
    })
    // Only the group's members may speak Raft to this node (any peer while it has no membership yet:
    // that is how a leader reaches a learner being added).
    const node = this.node
    this.transport.acceptFrom = (id) => {
      const cs = node.confState()
      if (cs.voters.length === 0 && cs.learners.length === 0) return true
      return cs.voters.includes(id) || cs.learners.includes(id)
    }
  }

  start (): void {
    if (this.running || this.failure !== undefined) return
    this.running = true
    this.ticker = setInterval(() => {
      this.node.tick()
      this.schedule()
    }, this.o.tickMs)
    this.ticker.unref?.()
    this.schedule()
  }

  stop (): void {
    if (!this.running) return
    this.running = false
    clearInterval(this.ticker)
    for (const [k, p] of this.pending) { clearTimeout(p.timer); p.reject(new IndefiniteError('proposal', 'the node stopped')); this.pending.delete(k) }
    for (const [k, r] of this.reads) { clearTimeout(r.timer); r.reject(new NotStartedError('raft')); this.reads.delete(k) }
  }

  /** An inbound message from the transport. */
  receive (m: Message): void {
    if (!this.running) return
    this.node.step(m)
    this.schedule()
  }

  status (): Status & { appliedIndex: number } {
    return { ...this.node.status(), appliedIndex: this.appliedIndex }
  }

  get isLeader (): boolean {
    return this.role === 'leader'
  }

  get leaderId (): NodeId {
    return this.leader
  }

  // ---- client path -----------------------------------------------------------------------------

  /**
   * Replicates `command` and resolves with its log index and the application's result once applied
   * here. Pass the same `(clientId, seq)` to retry a command exactly once.
   */
  async propose (command: Uint8Array, session?: { clientId: string, seq: number }): Promise<{ index: number, result: unknown }> {
    if (!this.running) throw new NotStartedError('raft')
    if (this.pending.size >= this.o.pendingProposalsMax) throw new AgoraError('ERR_LIMIT_EXCEEDED', `more than ${this.o.pendingProposalsMax} proposals pending`, { limit: 'pendingProposalsMax' })
    const clientId = session?.clientId ?? this.clientId
    const seq = session?.seq ?? ++this.seq
    const key = `${clientId}/${seq}`
    const data = encodeEnvelope(clientId, seq, command, Date.now())
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(key)
        this.stats.indefinite++
        reject(new IndefiniteError('proposal', `not applied within ${this.o.proposalTimeoutMs} ms`))
      }, this.o.proposalTimeoutMs)
      const existing = this.pending.get(key)
      if (existing !== undefined) { clearTimeout(existing.timer); existing.reject(new IndefiniteError('proposal', 'superseded by a retry')) }
      this.pending.set(key, { startedAt: performance.now(), resolve, reject, timer })
      try {
        this.node.propose(data)
      } catch (err) {
        clearTimeout(timer)
        this.pending.delete(key)
        reject(err as Error)
        return
      }
      this.schedule()
    })
  }

  /** A fresh session key for {@link propose} (this node's client id, next sequence number). */
  newSession (): { clientId: string, seq: number } {
    return { clientId: this.clientId, seq: ++this.seq }
  }

  /**
   * Proposes `command` under one session and retries it, with that same session, while its outcome is
   * indefinite or there is no leader, until `timeoutMs`: the command applies exactly once or the call
   * fails with IndefiniteError. Errors that are certain (bad input, limits) are thrown at once.
   */
  async proposeReliably (command: Uint8Array, timeoutMs = this.o.proposalTimeoutMs): Promise<{ index: number, result: unknown }> {
    const session = this.newSession()
    const deadline = Date.now() + timeoutMs
    let last: Error | undefined
    for (let attempt = 0; Date.now() < deadline; attempt++) {
      try {
        return await this.propose(command, session)
      } catch (err) {
        const code = (err as { code?: string }).code
        const retriable = code === 'ERR_INDEFINITE' || (code === 'ERR_PROPOSAL_DROPPED' && ['noLeader', 'transferring'].includes((err as { reason?: string }).reason ?? ''))
        if (!retriable || !this.running) throw err
        last = err as Error
        // Wait for a leader (or a short backoff) before the retry.
        await this.once('raft:role', (e) => e.leader !== 0, Math.max(1, Math.min(deadline - Date.now(), 50 * (attempt + 1)))).catch(() => {})
      }
    }
    throw new IndefiniteError('proposal', `no outcome within ${timeoutMs} ms (${last?.message ?? 'no leader'})`)
  }

  /** Proposes one membership change and resolves once it is applied here. */
  async changeMembership (cc: ConfChange, timeoutMs = this.o.proposalTimeoutMs): Promise<void> {
    if (!this.running) throw new NotStartedError('raft')
    this.node.proposeConfChange(cc)
    this.schedule()
    const deadline = Date.now() + timeoutMs
    const done = (): boolean => {
      const cs = this.node.confState()
      switch (cc.type) {
        case 'addVoter': case 'promoteLearner': return cs.voters.includes(cc.nodeId)
        case 'addLearner': return cs.learners.includes(cc.nodeId)
        case 'removeVoter': return !cs.voters.includes(cc.nodeId) && !cs.learners.includes(cc.nodeId)
      }
    }
    while (!done()) {
      if (Date.now() > deadline) throw new IndefiniteError('membership change', `not applied within ${timeoutMs} ms`)
      await this.once('raft:applied', () => true, Math.max(1, deadline - Date.now())).catch(() => {})
    }
  }

  /** Resolves with a read index once this node has applied up to it (a linearizable read point). */
  async readIndex (timeoutMs = this.o.proposalTimeoutMs): Promise<number> {
    if (!this.running) throw new NotStartedError('raft')
    const ctx = `${this.clientId}:r${++this.readSeq}`
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.reads.delete(ctx)
        reject(new TimeoutError('linearizable read', timeoutMs))
      }, timeoutMs)
      this.reads.set(ctx, { resolve, reject, timer })
      try {
        this.node.readIndex(new TextEncoder().encode(ctx))
      } catch (err) {
        clearTimeout(timer)
        this.reads.delete(ctx)
        reject(err as Error)
        return
      }
      this.schedule()
    })
  }

  /** {@link readIndex}, retried while there is no leader or a read is lost, until `timeoutMs`. */
  async readIndexReliably (timeoutMs = this.o.proposalTimeoutMs): Promise<number> {
    const deadline = Date.now() + timeoutMs
    let last: Error | undefined
    for (let attempt = 0; Date.now() < deadline; attempt++) {
      try {
        return await this.readIndex(Math.max(1, Math.min(deadline - Date.now(), 1000)))
      } catch (err) {
        const code = (err as { code?: string }).code
        if ((code !== 'ERR_TIMEOUT' && code !== 'ERR_PROPOSAL_DROPPED') || !this.running) throw err
        last = err as Error
        await this.once('raft:role', (e) => e.leader !== 0, Math.max(1, Math.min(deadline - Date.now(), 50 * (attempt + 1)))).catch(() => {})
      }
    }
    throw new TimeoutError(`linearizable read (${last?.message ?? 'no leader'})`, timeoutMs)
  }

  transferLeadership (to: NodeId): void {
    this.node.transferLeader(to)
    this.schedule()
  }

  // ---- the Ready loop --------------------------------------------------------------------------

  /**
   * Runs the Ready loop soon: proposals and messages arriving in the same event-loop turn are
   * processed as one batch (one storage write, one append message per follower).
   */
  private schedule (): void {
    if (this.processing || this.scheduled) { this.again = true; return }
    this.scheduled = true
    setImmediate(() => {
      this.scheduled = false
      this.runLoop()
    })
  }

  private runLoop (): void {
    if (this.processing) { this.again = true; return }
    if (!this.running || !this.node.hasReady()) return
    this.processing = true
    void this.process().catch((err: Error) => {
      // A broken invariant or storage failure: stop this node's Raft loudly (status, /ready, event).
      this.failure = err
      this.log.error('raft ready loop failed; stopping the raft node', { error: err.message })
      this.stop()
      this.emit('raft:failed', { error: err })
    }).finally(() => { this.processing = false; if (this.again && this.running) { this.again = false; this.schedule() } })
  }

  private async process (): Promise<void> {
    while (this.running && this.node.hasReady()) {
      const rd = this.node.ready()
      this.stats.readyBatches++
      // 1. Persist.
      if (this.storage !== undefined) {
        await this.storage.save(rd)
      } else {
        if (rd.snapshot !== undefined) this.memory.applySnapshot(rd.snapshot)
        this.memory.append(rd.entries)
        if (rd.hardState !== undefined) this.memory.setHardState(rd.hardState)
      }
      // 2. Send.
      this.transport.send(coalesceAppends(rd.messages))
      // 3. Apply.
      if (rd.snapshot !== undefined && rd.snapshot.metadata.index > this.appliedIndex) {
        this.restoreSnapshot(rd.snapshot.data)
        this.appliedIndex = rd.snapshot.metadata.index
        this.lastSnapshotIndex = this.appliedIndex
        this.stats.snapshotsInstalled++
      }
      for (const e of rd.committedEntries) this.applyEntry(e)
      this.noteReadStates(rd)
      if (rd.softState !== undefined) {
        if (rd.softState.lead !== this.leader) this.leaderChanged()
        this.role = rd.softState.role
        this.leader = rd.softState.lead
        this.emit('raft:role', { role: this.role, leader: this.leader, term: this.node.status().term })
      }
      // 4. Advance.
      this.node.advance(rd)
      if (rd.committedEntries.length > 0) this.emit('raft:applied', { index: this.appliedIndex })
      this.serveReads()
      await this.maybeSnapshot()
    }
  }

  /**
   * The leader changed: proposals not yet applied may have been lost with the old leader. Their fate is
   * unknown, so they fail at once as indefinite (a retry with the same session applies at most once)
   * rather than waiting for their timeout.
   */
  private leaderChanged (): void {
    if (this.leader === 0) return
    for (const [k, p] of this.pending) {
      clearTimeout(p.timer)
      this.pending.delete(k)
      this.stats.indefinite++
      p.reject(new IndefiniteError('proposal', 'the leader changed before it applied'))
    }
  }

  private applyEntry (e: Entry): void {
    if (e.index <= this.appliedIndex) return
    this.appliedIndex = e.index
    if (e.type !== 'normal' || e.data.length === 0) return
    let env: { clientId: string, seq: number, at: number, command: Uint8Array }
    try {
      env = decodeEnvelope(e.data)
    } catch (err) {
      // Deterministic on every replica: a malformed command is skipped everywhere.
      this.log.warn('skipping a malformed command', { index: e.index, error: (err as Error).message })
      return
    }
    const key = `${env.clientId}/${env.seq}`
    let session = this.sessions.get(env.clientId)
    let result: unknown
    if (session !== undefined && session.results.has(env.seq)) {
      // A retry of an applied command: not applied again; its cached result.
      this.stats.duplicates++
      result = session.results.get(env.seq)
    } else if (session !== undefined && env.seq <= session.floor) {
      // Older than the window: it may have applied long ago; it is not applied again, outcome unknown.
      this.stats.duplicates++
      result = UNKNOWN_RESULT
    } else {
      try {
        const slash = env.clientId.indexOf('/')
        result = this.app.apply(env.command, e.index, { origin: slash > 0 ? env.clientId.slice(0, slash) : '', at: env.at })
      } catch (err) {
        result = { error: { code: (err as { code?: string }).code ?? 'ERR_APPLY', message: (err as Error).message } }
      }
      if (session === undefined) session = { floor: 0, results: new Map() }
      this.sessions.delete(env.clientId)
      this.sessions.set(env.clientId, session)
      session.results.set(env.seq, result)
      if (session.results.size > SESSION_WINDOW) {
        // Forget the oldest applied command (same order on every replica).
        const oldest = session.results.keys().next().value!
        session.results.delete(oldest)
        session.floor = Math.max(session.floor, oldest)
      }
      if (this.sessions.size > this.o.sessionsMax) this.sessions.delete(this.sessions.keys().next().value!)
      this.stats.applied++
    }
    const p = this.pending.get(key)
    if (p !== undefined) {
      clearTimeout(p.timer)
      this.pending.delete(key)
      if (result === UNKNOWN_RESULT) {
        this.stats.indefinite++
        p.reject(new IndefiniteError('proposal', 'a retry of a command older than the session window'))
        return
      }
      p.resolve({ index: e.index, result })
      if (this.listenerCount('raft:committed') > 0) this.emit('raft:committed', { index: e.index, ms: performance.now() - p.startedAt })
    }
  }

  private noteReadStates (rd: Ready): void {
    for (const rs of rd.readStates) {
      const ctx = new TextDecoder().decode(rs.context)
      const r = this.reads.get(ctx)
      if (r !== undefined) r.index = rs.index
    }
  }

  private serveReads (): void {
    for (const [ctx, r] of this.reads) {
      if (r.index !== undefined && this.appliedIndex >= r.index) {
        clearTimeout(r.timer)
        this.reads.delete(ctx)
        r.resolve(r.index)
      }
    }
  }

  private async maybeSnapshot (): Promise<void> {
    if (this.appliedIndex - this.lastSnapshotIndex < this.o.snapshotEntries) return
    const index = this.appliedIndex
    const data = this.snapshotState()
    if (data.length > SNAPSHOT_BYTES_MAX) {
      // A snapshot travels in one Raft message: one this large could never reach a lagging follower.
      // Keep the log instead (it stays replayable) and say so; try again after snapshotEntries more.
      this.lastSnapshotIndex = index
      this.stats.snapshotsTooLarge++
      this.log.error('state too large to snapshot: log not compacted', { bytes: data.length, limit: SNAPSHOT_BYTES_MAX, index })
      return
    }
    const cs = this.node.confState()
    if (this.storage !== undefined) {
      await this.storage.snapshotAndCompact(index, cs, data)
    } else {
      this.memory.createSnapshot(index, cs, data)
      this.memory.compact(index)
    }
    this.lastSnapshotIndex = index
    this.stats.snapshots++
  }

  /** Application state plus the session table (both replicated, both in the snapshot). */
  private snapshotState (): Uint8Array {
    const e = encoding.createEncoder()
    encoding.writeVarUint(e, this.sessions.size)
    for (const [id, s] of this.sessions) {
      encoding.writeVarString(e, id)
      encoding.writeVarUint(e, s.floor)
      encoding.writeVarUint(e, s.results.size)
      for (const [seq, result] of s.results) {
        encoding.writeVarUint(e, seq)
        // A result that is not JSON (e.g. a bigint) is kept as null: a retry then learns only that it applied.
        let json: string
        try { json = JSON.stringify(result ?? null) ?? 'null' } catch { json = 'null' }
        encoding.writeVarString(e, json)
      }
    }
    encoding.writeVarUint8Array(e, this.app.snapshot())
    return encoding.toUint8Array(e)
  }

  private restoreSnapshot (data: Uint8Array): void {
    const d = decoding.createDecoder(data)
    this.sessions.clear()
    const n = decoding.readVarUint(d)
    for (let i = 0; i < n; i++) {
      const id = decoding.readVarString(d)
      const floor = decoding.readVarUint(d)
      const m = decoding.readVarUint(d)
      const results = new Map<number, unknown>()
      for (let k = 0; k < m; k++) {
        const seq = decoding.readVarUint(d)
        results.set(seq, JSON.parse(decoding.readVarString(d)) as unknown)
      }
      this.sessions.set(id, { floor, results })
    }
    this.app.restore(decoding.readVarUint8Array(d))
  }
}

/** Entries and data bytes of one coalesced append (the wire's limits). */
const COALESCE_ENTRIES_MAX = 4096
const COALESCE_BYTES_MAX = 1024 * 1024

/**
 * Merges consecutive, contiguous `append` messages to the same follower in one Ready into one message
 * (the leader emits one per proposal). Equivalent for the follower: it appends the same entries in the
 * same order and answers once for the highest index, which acknowledges both in the leader's window.
 */
export function coalesceAppends (msgs: readonly Message[]): Message[] {
  const out: Message[] = []
  const lastAppendTo = new Map<NodeId, number>()
  const bytesOf = new Map<number, number>()
  const copied = new Set<number>()
  const size = (m: Message): number => { let n = 0; for (const e of m.entries) n += e.data.length; return n }
  for (const m of msgs) {
    if (m.type === 'append') {
      const k = lastAppendTo.get(m.to)
      const prev = k !== undefined ? out[k] : undefined
      const mBytes = size(m)
      if (prev !== undefined && prev.term === m.term && m.index === prev.index + prev.entries.length &&
        m.logTerm === (prev.entries.length > 0 ? prev.entries[prev.entries.length - 1]!.term : prev.logTerm) &&
        prev.entries.length + m.entries.length <= COALESCE_ENTRIES_MAX &&
        bytesOf.get(k!)! + mBytes <= COALESCE_BYTES_MAX) {
        // The first merge copies (the core's message is not mutated); later ones extend that copy.
        const merged = copied.has(k!) ? prev : { ...prev, entries: prev.entries.slice() }
        copied.add(k!)
        for (const e of m.entries) merged.entries.push(e)
        merged.commit = Math.max(prev.commit, m.commit)
        out[k!] = merged
        bytesOf.set(k!, bytesOf.get(k!)! + mBytes)
        continue
      }
      lastAppendTo.set(m.to, out.length)
      bytesOf.set(out.length, mBytes)
    } else {
      // Anything else to that follower keeps its place: later appends start a new message.
      lastAppendTo.delete(m.to)
    }
    out.push(m)
  }
  return out
}

function encodeEnvelope (clientId: string, seq: number, command: Uint8Array, at: number): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeUint8(e, ENVELOPE_VERSION)
  encoding.writeVarString(e, clientId)
  encoding.writeVarUint(e, seq)
  encoding.writeVarUint(e, at)
  encoding.writeVarUint8Array(e, command)
  return encoding.toUint8Array(e)
}

function decodeEnvelope (data: Uint8Array): { clientId: string, seq: number, at: number, command: Uint8Array } {
  try {
    const d = decoding.createDecoder(data)
    const v = decoding.readUint8(d)
    if (v !== 1 && v !== ENVELOPE_VERSION) throw new DecodeError('raft command', 'unknown envelope version')
    const clientId = decoding.readVarString(d)
    const seq = decoding.readVarUint(d)
    const at = v === 1 ? 0 : decoding.readVarUint(d)
    const command = decoding.readVarUint8Array(d)
    if (d.pos !== data.length) throw new DecodeError('raft command', 'trailing bytes')
    return { clientId, seq, at, command }
  } catch (err) {
    if (err instanceof DecodeError) throw err
    throw new DecodeError('raft command', (err as Error).message ?? 'malformed')
  }
}
