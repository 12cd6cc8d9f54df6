/**
 * RaftNode: the pure, deterministic Raft state machine, in the manner of etcd/raft's raft + RawNode.
 *
 * Inputs: {@link RaftNode.tick}, {@link RaftNode.step}, {@link RaftNode.propose},
 * {@link RaftNode.proposeConfChange}, {@link RaftNode.campaign}, {@link RaftNode.readIndex},
 * {@link RaftNode.transferLeader}, {@link RaftNode.heartbeat}. Output: a {@link Ready} batch
 * ({@link RaftNode.hasReady}, {@link RaftNode.ready}, {@link RaftNode.advance}). No clock, no I/O, no global randomness: the
 * election jitter comes from the injected `rand`.
 *
 * Roles are swapped step handlers installed by one becomeX() each (Raft paper §5, thesis §3, §4, §6, §9).
 *
 * @example
 * const storage = new MemoryStorage()
 * const node = new RaftNode({ id: 1, storage, rand: createRand(1), peers: { voters: [1, 2, 3] } })
 * node.tick()
 * if (node.hasReady()) {
 *   const rd = node.ready()
 *   // 1. persist rd.hardState / rd.snapshot / rd.entries; 2. send rd.messages; 3. apply rd.committedEntries
 *   node.advance(rd)
 * }
 */
import { InvalidOptionError } from '../../src/base/errors.js'
import { decodeConfChange, encodeConfChange, isNodeId } from './confchange.js'
import { ProposalDroppedError, RaftInvariantError, type ProposalDropReason } from './errors.js'
import { RaftLog } from './log.js'
import { Membership } from './membership.js'
import type { Progress } from './progress.js'
import { ReadOnly } from './read-only.js'
import { MESSAGE_TYPES, NONE } from './types.js'
import type {
  ConfChange, ConfState, Entry, HardState, Message, MessageType, NodeId, RaftConfig, RaftRand, RaftStats,
  ReadState, Ready, Role, Snapshot, SoftState, Status
} from './types.js'

const EMPTY = new Uint8Array(0)
const TRANSFER_CONTEXT = new Uint8Array([0x74]) // 't': campaign after TimeoutNow (ignores leases)
const TYPE_SET: ReadonlySet<string> = new Set(MESSAGE_TYPES)
const ENTRY_TYPES: ReadonlySet<string> = new Set(['normal', 'confChange'])

/** Option defaults (documented on {@link RaftConfig}). */
export const RAFT_DEFAULTS = {
  electionTick: 10,
  heartbeatTick: 1,
  maxSizePerMsg: 1024 * 1024,
  maxCommittedSizePerReady: 64 * 1024 * 1024,
  maxInflightMsgs: 256,
  maxUncommittedEntriesSize: 16 * 1024 * 1024,
  maxEntriesPerMsg: 4096,
  maxPendingReads: 4096,
  preVote: false,
  checkQuorum: false,
  disableProposalForwarding: false,
  asyncLeaderWrites: false
} as const

function isCount (x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0
}

function positiveOption (v: number | undefined, dflt: number, path: string): number {
  if (v === undefined) return dflt
  if (!Number.isSafeInteger(v) || v <= 0) throw new InvalidOptionError(path, `must be a positive integer, got ${String(v)}`)
  return v
}

export class RaftNode {
  readonly id: NodeId
  private readonly rand: RaftRand
  private readonly log: RaftLog
  private readonly electionTimeout: number
  private readonly heartbeatTimeout: number
  private readonly maxSizePerMsg: number
  private readonly maxCommittedSizePerReady: number
  private readonly maxInflight: number
  private readonly maxUncommittedSize: number
  private readonly maxEntriesPerMsg: number
  private readonly maxPendingReads: number
  private readonly preVote: boolean
  private readonly checkQuorum: boolean
  private readonly disableForwarding: boolean
  /** The leader's own entries are written in parallel with sending them (RaftConfig.asyncLeaderWrites). */
  private readonly asyncLeaderWrites: boolean

  // Persistent state (reported in Ready.hardState). Invariant: term never decreases; vote only set once per term.
  private term = 0
  private vote: NodeId = NONE
  // Volatile state.
  private role: Role = 'follower'
  private lead: NodeId = NONE
  private electionElapsed = 0
  private heartbeatElapsed = 0
  private randomizedElectionTimeout = 0
  private leadTransferee: NodeId = NONE
  /** Index of the last conf change appended by this leader; a new one waits until applied >= it. */
  private pendingConfIndex = 0
  /** Membership changes up to this index were applied at construction (restart) and are not re-applied. */
  private confReplayedTo = 0
  /** Data bytes appended by this leader and not yet handed out as committed. */
  private uncommittedSize = 0

  /** The applied configuration, the progress of each member and the votes of the current election. */
  private readonly members: Membership
  /** `members.prs`: the same map, never replaced. */
  private readonly prs: Map<NodeId, Progress>
  /** ReadIndex requests (thesis §6.4). */
  private readonly reads: ReadOnly

  // Output buffers (taken by ready()).
  private msgs: Message[] = []
  private readStates: ReadState[] = []
  private prevHard: HardState
  private prevSoft: SoftState
  private readonly counters: RaftStats = { droppedMalformed: 0, droppedNonMember: 0, droppedStaleTerm: 0, droppedIgnored: 0, proposalsDropped: 0, stepped: 0 }

  constructor (config: RaftConfig) {
    if (!isNodeId(config.id)) throw new InvalidOptionError('id', `must be a positive safe integer, got ${String(config.id)}`)
    if (config.storage === undefined || config.storage === null) throw new InvalidOptionError('storage', 'is required')
    if (config.rand === undefined || typeof config.rand.range !== 'function') throw new InvalidOptionError('rand', 'a seeded PRNG with range(min, max) is required')
    this.id = config.id
    this.rand = config.rand
    this.electionTimeout = positiveOption(config.electionTick, RAFT_DEFAULTS.electionTick, 'electionTick')
    this.heartbeatTimeout = positiveOption(config.heartbeatTick, RAFT_DEFAULTS.heartbeatTick, 'heartbeatTick')
    if (this.heartbeatTimeout >= this.electionTimeout) throw new InvalidOptionError('heartbeatTick', `must be < electionTick (${this.electionTimeout})`)
    this.maxSizePerMsg = positiveOption(config.maxSizePerMsg, RAFT_DEFAULTS.maxSizePerMsg, 'maxSizePerMsg')
    this.maxCommittedSizePerReady = positiveOption(config.maxCommittedSizePerReady, RAFT_DEFAULTS.maxCommittedSizePerReady, 'maxCommittedSizePerReady')
    this.maxInflight = positiveOption(config.maxInflightMsgs, RAFT_DEFAULTS.maxInflightMsgs, 'maxInflightMsgs')
    this.maxUncommittedSize = positiveOption(config.maxUncommittedEntriesSize, RAFT_DEFAULTS.maxUncommittedEntriesSize, 'maxUncommittedEntriesSize')
    this.maxEntriesPerMsg = positiveOption(config.maxEntriesPerMsg, RAFT_DEFAULTS.maxEntriesPerMsg, 'maxEntriesPerMsg')
    this.maxPendingReads = positiveOption(config.maxPendingReads, RAFT_DEFAULTS.maxPendingReads, 'maxPendingReads')
    this.preVote = config.preVote ?? RAFT_DEFAULTS.preVote
    this.checkQuorum = config.checkQuorum ?? RAFT_DEFAULTS.checkQuorum
    this.disableForwarding = config.disableProposalForwarding ?? RAFT_DEFAULTS.disableProposalForwarding
    this.asyncLeaderWrites = config.asyncLeaderWrites ?? RAFT_DEFAULTS.asyncLeaderWrites
    this.members = new Membership(this.id, this.maxInflight)
    this.prs = this.members.prs
    this.reads = new ReadOnly(this.maxPendingReads)

    this.log = new RaftLog(config.storage)
    const init = config.storage.initialState()
    const hardState: HardState = { term: init.hardState.term, vote: init.hardState.vote, commit: init.hardState.commit } // never mutate storage's object
    const cs = init.confState
    const stored: HardState = { term: hardState.term, vote: hardState.vote, commit: hardState.commit }
    this.members.setConf(cs)
    const fresh = config.storage.lastIndex() === 0 && config.storage.firstIndex() === 1 && hardState.term === 0
    if (config.peers !== undefined && fresh && this.members.isEmpty()) {
      this.bootstrap(config.peers)
      hardState.term = this.term
      hardState.commit = this.log.committed
    }
    if (hardState.commit < this.log.committed || hardState.commit > this.log.lastIndex()) {
      if (hardState.commit > this.log.lastIndex()) throw new RaftInvariantError(`stored commit ${hardState.commit} beyond last index ${this.log.lastIndex()}`)
    } else {
      this.log.committed = hardState.commit
    }
    this.term = hardState.term
    this.vote = hardState.vote
    // Restart: replay the committed membership changes after the snapshot now (they are committed, so
    // this is the configuration the group uses); their re-emission in committedEntries is then skipped.
    if (this.log.committed > this.log.applied) {
      const ents = this.log.slice(this.log.applied + 1, this.log.committed + 1, Number.POSITIVE_INFINITY) ?? []
      for (const e of ents) if (e.type === 'confChange') this.applyConfChangeEntry(e, false)
      this.confReplayedTo = this.log.committed
    }
    const applied = Math.min(Math.max(config.applied ?? 0, this.log.applied), this.log.committed)
    if (applied > this.log.applied) this.log.appliedTo(applied)
    // Compare against what storage holds, so a bootstrap's hard state is emitted in the first Ready.
    this.prevHard = stored
    this.becomeFollower(this.term, NONE)
    this.prevSoft = { lead: NONE, role: 'follower' }
  }

  /**
   * Bootstrap a brand-new group as etcd does: the initial membership is written as confChange entries
   * of term 1 at indexes 1..n, committed and applied at once, so that nodes added later learn it by
   * replaying the log. They reach storage through the first Ready's `entries`.
   */
  private bootstrap (peers: { voters: NodeId[], learners?: NodeId[] }): void {
    const voters = [...new Set(peers.voters)]
    const learners = [...new Set(peers.learners ?? [])]
    if (voters.length === 0) throw new InvalidOptionError('peers.voters', 'must not be empty')
    for (const v of voters) if (!isNodeId(v)) throw new InvalidOptionError('peers.voters', `bad node id ${String(v)}`)
    for (const l of learners) if (!isNodeId(l) || voters.includes(l)) throw new InvalidOptionError('peers.learners', `bad or duplicate learner ${String(l)}`)
    const ccs: ConfChange[] = [
      ...voters.sort((a, b) => a - b).map(nodeId => ({ type: 'addVoter' as const, nodeId })),
      ...learners.sort((a, b) => a - b).map(nodeId => ({ type: 'addLearner' as const, nodeId }))
    ]
    const ents: Entry[] = ccs.map((cc, k) => ({ term: 1, index: k + 1, type: 'confChange', data: encodeConfChange(cc) }))
    this.log.append(ents)
    this.log.committed = ents.length
    this.term = 1
    for (const e of ents) this.applyConfChangeEntry(e, false)
    this.log.appliedTo(ents.length)
  }

  // ───────────────────────── public inputs ─────────────────────────

  /** Advance logical time by one tick (election timeout, heartbeats, check quorum, transfer timeout). */
  tick (): void {
    if (this.role === 'leader') this.tickHeartbeat()
    else this.tickElection()
  }

  /**
   * Process one incoming message. Never throws for bad input: impossible or non-member messages are
   * dropped and counted in {@link stats}. Throws RaftInvariantError only for broken invariants
   * (programmer errors, e.g. a message that would overwrite a committed entry).
   */
  step (m: Message): void {
    if (!this.validate(m)) return
    this.stepValid(m)
  }

  /** Propose application data. Throws ProposalDroppedError when it certainly will not be appended. */
  propose (data: Uint8Array): void {
    const reason = this.tryPropose(data)
    if (reason !== null) throw new ProposalDroppedError(reason)
  }

  /**
   * Like {@link propose} without throwing (for hot paths such as the fuzzer): returns null when the
   * proposal was appended or forwarded, else the reason it was dropped (counted in `proposalsDropped`).
   */
  tryPropose (data: Uint8Array): ProposalDropReason | null {
    if (!(data instanceof Uint8Array)) throw new InvalidOptionError('data', 'must be a Uint8Array')
    const reason = this.proposeOrForward({ term: 0, index: 0, type: 'normal', data })
    if (reason !== null) this.counters.proposalsDropped++
    return reason
  }

  /**
   * Propose many normal entries as one batch, in order (etcd's MsgProp with many entries): a leader
   * appends them together and sends one append per follower; a follower forwards them to the leader in
   * one message. All or none: null when they were appended or forwarded, else the reason they were all
   * dropped (each counted in `proposalsDropped`). At most `maxEntriesPerMsg` entries (a forwarded batch
   * must fit in one message); more throws InvalidOptionError.
   */
  proposeBatch (datas: readonly Uint8Array[]): ProposalDropReason | null {
    if (datas.length === 0) return null
    if (datas.length > this.maxEntriesPerMsg) throw new InvalidOptionError('datas', `at most ${this.maxEntriesPerMsg} entries in one batch, got ${datas.length}`)
    const ents: Entry[] = new Array<Entry>(datas.length)
    for (let k = 0; k < datas.length; k++) {
      const data = datas[k]
      if (!(data instanceof Uint8Array)) throw new InvalidOptionError('data', 'must be a Uint8Array')
      ents[k] = { term: 0, index: 0, type: 'normal', data }
    }
    const reason = this.proposeOrForwardMany(ents)
    if (reason !== null) this.counters.proposalsDropped += ents.length
    return reason
  }

  /** Propose one membership change. Only one may be pending at a time (refused with reason confChangePending). */
  proposeConfChange (cc: ConfChange): void {
    if (cc === null || typeof cc !== 'object' || !isNodeId(cc.nodeId)) throw new InvalidOptionError('cc.nodeId', 'must be a positive safe integer')
    if (!['addVoter', 'removeVoter', 'addLearner', 'promoteLearner'].includes(cc.type)) throw new InvalidOptionError('cc.type', `unknown conf change type ${String(cc.type)}`)
    this.proposeEntry({ term: 0, index: 0, type: 'confChange', data: encodeConfChange(cc) })
  }

  addVoter (id: NodeId): void { this.proposeConfChange({ type: 'addVoter', nodeId: id }) }
  removeVoter (id: NodeId): void { this.proposeConfChange({ type: 'removeVoter', nodeId: id }) }
  addLearner (id: NodeId): void { this.proposeConfChange({ type: 'addLearner', nodeId: id }) }
  promoteLearner (id: NodeId): void { this.proposeConfChange({ type: 'promoteLearner', nodeId: id }) }

  /** Start an election now (as if the election timeout elapsed). No-op on a leader or a non-voter. */
  campaign (): void {
    this.hup(false)
  }

  /**
   * Request a linearizable read point (thesis §6.4). A ReadState carrying `ctx` appears in a later Ready
   * once a heartbeat quorum confirmed leadership; serve the read once applied >= its index. Contexts
   * should be unique per request. Throws ProposalDroppedError when no leader is known.
   */
  readIndex (ctx: Uint8Array): void {
    if (!(ctx instanceof Uint8Array)) throw new InvalidOptionError('ctx', 'must be a Uint8Array')
    const m = this.newMsg('readIndex', this.id, 0)
    m.from = this.id
    m.context = ctx
    if (this.role === 'leader') {
      const reason = this.leaderReadIndex(m)
      if (reason !== null) this.refuse(reason)
      return
    }
    if (this.lead === NONE) this.refuse('noLeader')
    m.to = this.lead
    this.msgs.push(m)
  }

  /** Transfer leadership to `to` (thesis §3.10). Forwarded to the leader when called on a follower. */
  transferLeader (to: NodeId): void {
    if (!isNodeId(to)) throw new InvalidOptionError('to', 'must be a positive safe integer')
    if (this.role === 'leader') {
      this.leaderTransfer(to)
      return
    }
    if (this.lead === NONE) this.refuse('noLeader')
    const m = this.newMsg('transferLeader', this.lead, 0)
    m.index = to
    this.msgs.push(m)
  }

  /**
   * Leader: send a heartbeat to every follower and learner now, as a heartbeat interval would (etcd's
   * MsgBeat), carrying the newest pending ReadIndex context. It moves no timer: the heartbeat interval,
   * the election timer (CheckQuorum, the transfer timeout) and snapshot retries advance only with
   * {@link tick}. On any other role it changes nothing and throws ProposalDroppedError (`notLeader`).
   */
  heartbeat (): void {
    if (this.role !== 'leader') this.refuse('notLeader')
    this.bcastHeartbeat(this.reads.lastPendingCtx())
  }

  /** Tell the leader a snapshot send to `id` failed (optional: the leader also retries after an election timeout). */
  reportSnapshot (id: NodeId, ok: boolean): void {
    const pr = this.prs.get(id)
    if (this.role !== 'leader' || pr === undefined || pr.state !== 'snapshot') return
    if (!ok) pr.pendingSnapshot = 0
    pr.becomeProbe()
    pr.probeSent = true // wait for a heartbeat response before probing
  }

  /** Tell the leader `id` is unreachable (optional): a replicating follower falls back to probing. */
  reportUnreachable (id: NodeId): void {
    const pr = this.prs.get(id)
    if (this.role === 'leader' && pr !== undefined && pr.state === 'replicate') pr.becomeProbe()
  }

  // ───────────────────────── Ready ─────────────────────────

  hasReady (): boolean {
    if (this.msgs.length > 0 || this.readStates.length > 0 || this.log.hasUnhandedEntries() || this.log.unstableSnapshot !== undefined) return true
    if (this.lead !== this.prevSoft.lead || this.role !== this.prevSoft.role) return true
    if (this.term !== this.prevHard.term || this.vote !== this.prevHard.vote || this.log.committed !== this.prevHard.commit) return true
    return this.log.hasNextCommittedEnts()
  }

  /**
   * Take the current batch of work. Call {@link advance} with it once steps 1-3 of the README's
   * contract are done, before calling ready() again.
   */
  ready (): Ready {
    const rd: Ready = {
      entries: this.log.takeUnhandedEntries(),
      messages: this.msgs,
      committedEntries: this.log.nextCommittedEnts(this.maxCommittedSizePerReady),
      readStates: this.readStates,
      mustSync: false,
      persistInParallel: false
    }
    this.msgs = []
    this.readStates = []
    if (this.lead !== this.prevSoft.lead || this.role !== this.prevSoft.role) rd.softState = { lead: this.lead, role: this.role }
    const commit = this.log.committed
    if (this.term !== this.prevHard.term || this.vote !== this.prevHard.vote || commit !== this.prevHard.commit) {
      rd.hardState = { term: this.term, vote: this.vote, commit }
    }
    if (this.log.unstableSnapshot !== undefined) rd.snapshot = this.log.unstableSnapshot
    rd.mustSync = rd.entries.length > 0 || this.term !== this.prevHard.term || this.vote !== this.prevHard.vote
    // Thesis §10.2.1: a leader's own new entries may be written while they travel; the term and vote
    // they rest on are already durable (a candidate's Ready is persisted before its votes are sent).
    // A Ready that persists no entry, term or vote (at most a new commit index, which a restart can
    // always learn again) need not wait for its write either, on any node.
    rd.persistInParallel = this.asyncLeaderWrites && rd.snapshot === undefined && this.term === this.prevHard.term &&
      this.vote === this.prevHard.vote && (this.role === 'leader' || rd.entries.length === 0)
    const ce = rd.committedEntries
    if (ce.length > 0) {
      const last = ce[ce.length - 1]!.index
      if (last > this.log.applying) this.log.applying = last
    }
    return rd
  }

  /** Acknowledge that the Ready `rd` was persisted, sent and applied. */
  advance (rd: Ready): void {
    if (rd.softState !== undefined) this.prevSoft = rd.softState
    if (rd.hardState !== undefined) this.prevHard = rd.hardState
    if (rd.snapshot !== undefined) {
      this.log.stableSnapTo(rd.snapshot.metadata.index)
      this.log.appliedTo(rd.snapshot.metadata.index)
    }
    const ents = rd.entries
    // Entries written in parallel become stable at appendPersisted; the others are durable by now.
    if (ents.length > 0 && !rd.persistInParallel) {
      const e = ents[ents.length - 1]!
      this.log.stableTo(e.index, e.term)
      if (this.asyncLeaderWrites) this.selfPersisted(e.index, e.term)
    }
    const ce = rd.committedEntries
    if (ce.length > 0) {
      let size = 0
      for (let k = 0; k < ce.length; k++) {
        const e = ce[k]!
        size += e.data.length
        if (e.type === 'confChange' && e.index > this.confReplayedTo) this.applyConfChangeEntry(e, true)
      }
      this.log.appliedTo(ce[ce.length - 1]!.index)
      this.uncommittedSize = Math.max(0, this.uncommittedSize - size)
    }
  }

  /**
   * The driver's report that the entries of a `persistInParallel` Ready are durable, up to `index` of
   * `term` (its last entry). Writes finish in order, so this covers every earlier entry. An entry since
   * replaced (this node stepped down and a new leader overwrote it) is ignored.
   */
  appendPersisted (index: number, term: number): void {
    if (!isCount(index) || !isCount(term)) throw new InvalidOptionError('appendPersisted', `index and term must be non-negative integers, got ${String(index)}, ${String(term)}`)
    this.log.stableTo(index, term)
    this.selfPersisted(index, term)
  }

  /** The leader holds its entries up to (index, term) durably: it counts itself for them. */
  private selfPersisted (index: number, term: number): void {
    if (this.role !== 'leader' || term !== this.term || this.log.term(index) !== term) return
    const self = this.prs.get(this.id)
    if (self === undefined || !self.maybeUpdate(index)) return
    if (self.match > this.log.committed && this.maybeCommit()) {
      this.releasePendingReads()
      this.bcastAppend()
    }
  }

  // ───────────────────────── introspection ─────────────────────────

  status (): Status {
    const s: Status = {
      id: this.id,
      role: this.role,
      lead: this.lead,
      term: this.term,
      vote: this.vote,
      commit: this.log.committed,
      applied: this.log.applied,
      lastIndex: this.log.lastIndex(),
      firstIndex: this.log.firstIndex(),
      leadTransferee: this.leadTransferee,
      confState: this.confState()
    }
    if (this.role === 'leader') {
      const p: Record<number, ReturnType<Progress['status']>> = {}
      for (const [id, pr] of this.prs) p[id] = pr.status()
      s.progress = p
    }
    return s
  }

  /** Counters of dropped inputs (monotonic). */
  stats (): RaftStats {
    return { ...this.counters }
  }

  /** The membership as of the applied index. */
  confState (): ConfState {
    return this.members.confState()
  }

  /** The entry term at index i, or -1 when compacted/unavailable (for checkers and tests). */
  termAt (i: number): number {
    return this.log.term(i)
  }

  /** Entries in [lo, hi) from the node's log view (stable + unstable), or undefined if compacted. */
  entries (lo: number, hi: number): Entry[] | undefined {
    return this.log.slice(lo, hi, Number.POSITIVE_INFINITY)
  }

  /**
   * Check the node's local invariants; throws RaftInvariantError when one is broken (a programmer
   * error). The simulator calls it after every step.
   */
  checkInvariants (): void {
    const log = this.log
    const fail = (what: string): never => { throw new RaftInvariantError(`node ${this.id}: ${what}`, this.status() as unknown as Record<string, unknown>) }
    if (!(log.applied <= log.applying && log.applying <= log.committed)) fail(`applied ${log.applied} <= applying ${log.applying} <= committed ${log.committed} violated`)
    if (log.committed > log.lastIndex()) fail(`committed ${log.committed} beyond last index ${log.lastIndex()}`)
    if (log.firstIndex() - 1 > log.committed) fail('compacted beyond the commit index')
    for (const l of this.members.learners) if (this.members.isVoter(l)) fail(`${l} is both voter and learner`)
    if (this.role === 'leader') {
      if (this.lead !== this.id) fail('leader does not know itself as lead')
      if (this.vote !== this.id) fail('leader did not vote for itself')
      for (const [id, pr] of this.prs) {
        if (pr.match >= pr.next) fail(`progress of ${id}: match ${pr.match} >= next ${pr.next}`)
        if (pr.match > log.lastIndex()) fail(`progress of ${id}: match beyond last index`)
      }
    }
    if (this.vote !== NONE && this.term === 0) fail('vote without a term')
  }

  // ───────────────────────── validation ─────────────────────────

  private validate (m: Message): boolean {
    if (!this.wellFormed(m)) {
      this.counters.droppedMalformed++
      return false
    }
    if (!this.fromMember(m)) {
      this.counters.droppedNonMember++
      return false
    }
    return true
  }

  private wellFormed (m: Message): boolean {
    if (m === null || typeof m !== 'object') return false
    if (typeof m.type !== 'string' || !TYPE_SET.has(m.type)) return false
    if (!isNodeId(m.from) || m.from === this.id || m.to !== this.id) return false
    if (!isCount(m.term) || !isCount(m.logTerm) || !isCount(m.index) || !isCount(m.commit) || !isCount(m.rejectHint)) return false
    if (typeof m.reject !== 'boolean' || !Array.isArray(m.entries)) return false
    if (m.context !== undefined && !(m.context instanceof Uint8Array)) return false
    const ents = m.entries
    if (ents.length > this.maxEntriesPerMsg) return false
    if (m.type === 'propose') {
      if (ents.length === 0) return false
      for (let k = 0; k < ents.length; k++) {
        const e = ents[k]
        if (e === null || typeof e !== 'object' || !ENTRY_TYPES.has(e.type) || !(e.data instanceof Uint8Array)) return false
      }
      return true
    }
    if (ents.length > 0) {
      if (m.type !== 'append') return false
      let prevTerm = m.logTerm
      for (let k = 0; k < ents.length; k++) {
        const e = ents[k]
        if (e === null || typeof e !== 'object' || !ENTRY_TYPES.has(e.type) || !(e.data instanceof Uint8Array)) return false
        if (e.index !== m.index + 1 + k || !isCount(e.term) || e.term < prevTerm || e.term > m.term || e.term === 0) return false
        prevTerm = e.term
      }
    }
    switch (m.type) {
      case 'append':
        if (m.logTerm > m.term || (m.index === 0 && m.logTerm !== 0)) return false
        break
      case 'vote': case 'preVote':
        if (m.logTerm > m.term) return false
        break
      case 'snapshot': {
        const s = m.snapshot
        if (s === undefined || s === null || typeof s !== 'object' || !(s.data instanceof Uint8Array)) return false
        const md = s.metadata
        if (md === null || typeof md !== 'object' || !isCount(md.index) || !isCount(md.term) || md.index === 0 || md.term === 0 || md.term > m.term) return false
        const cs = md.confState
        if (cs === null || typeof cs !== 'object' || !Array.isArray(cs.voters) || !Array.isArray(cs.learners)) return false
        if (!cs.voters.every(isNodeId) || !cs.learners.every(isNodeId)) return false
        break
      }
      default:
    }
    return true
  }

  /**
   * Non-members may only send what a leader or candidate of a newer configuration sends (append,
   * heartbeat, snapshot, TimeoutNow, readIndexResp): a node that has not yet applied the change adding
   * them must still accept them. Everything else (votes, responses, proposals, reads) from a node
   * outside the configuration is dropped. A node without any configuration (joining) accepts all.
   */
  private fromMember (m: Message): boolean {
    if (this.members.isEmpty()) return true
    if (this.prs.has(m.from)) return true
    switch (m.type) {
      case 'append': case 'heartbeat': case 'snapshot': case 'timeoutNow': case 'readIndexResp':
        return true
      case 'vote': case 'preVote':
        // A candidate added by a change we have in our log but not yet applied is a member-to-be.
        return this.inUnappliedConf(m.from)
      default:
        return false
    }
  }

  private inUnappliedConf (id: NodeId): boolean {
    const lo = this.log.applied + 1
    const hi = this.log.lastIndex() + 1
    if (hi - lo > this.maxEntriesPerMsg) return true // too long to scan: be permissive
    const ents = this.log.slice(lo, hi, Number.POSITIVE_INFINITY) ?? []
    for (const e of ents) {
      if (e.type !== 'confChange') continue
      try {
        const cc = decodeConfChange(e.data)
        if (cc.nodeId === id && cc.type !== 'removeVoter') return true
      } catch {}
    }
    return false
  }

  // ───────────────────────── message plumbing ─────────────────────────

  private newMsg (type: MessageType, to: NodeId, term: number): Message {
    return { type, from: this.id, to, term, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0 }
  }

  private send (m: Message): void {
    this.msgs.push(m)
  }

  private refuse (reason: ProposalDropReason): never {
    this.counters.proposalsDropped++
    throw new ProposalDroppedError(reason)
  }

  // ───────────────────────── role transitions ─────────────────────────

  private resetRandomizedElectionTimeout (): void {
    this.randomizedElectionTimeout = this.rand.range(this.electionTimeout, 2 * this.electionTimeout)
  }

  private reset (term: number): void {
    if (this.term !== term) {
      this.term = term
      this.vote = NONE
    }
    this.lead = NONE
    this.electionElapsed = 0
    this.heartbeatElapsed = 0
    this.resetRandomizedElectionTimeout()
    this.leadTransferee = NONE
    this.members.resetVotes()
    this.members.rebuildProgress(true, this.log.lastIndex())
    this.pendingConfIndex = 0
    this.uncommittedSize = 0
    this.reads.reset()
  }

  private becomeFollower (term: number, lead: NodeId): void {
    this.reset(term)
    this.role = 'follower'
    this.lead = lead
  }

  private becomePreCandidate (): void {
    if (this.role === 'leader') throw new RaftInvariantError('leader cannot become pre-candidate')
    // PreVote does not change term or vote (thesis §9.6).
    this.members.resetVotes()
    this.role = 'preCandidate'
    this.lead = NONE
    this.electionElapsed = 0
    this.resetRandomizedElectionTimeout()
  }

  private becomeCandidate (): void {
    if (this.role === 'leader') throw new RaftInvariantError('leader cannot become candidate')
    this.reset(this.term + 1)
    this.vote = this.id
    this.role = 'candidate'
  }

  private becomeLeader (): void {
    if (this.role === 'follower') throw new RaftInvariantError('follower cannot become leader')
    this.reset(this.term)
    this.role = 'leader'
    this.lead = this.id
    const self = this.prs.get(this.id)
    if (self !== undefined) {
      self.becomeReplicate()
      // With parallel writes the leader counts only what it holds durably.
      if (this.asyncLeaderWrites) self.match = Math.min(self.match, this.log.durableLastIndex())
    }
    // Conservatively treat any unapplied conf change as pending.
    this.pendingConfIndex = this.log.lastIndex()
    // Thesis §6.4: a new leader appends an empty entry of its term (ReadIndex relies on its commit).
    this.appendEntries([{ term: 0, index: 0, type: 'normal', data: EMPTY }])
    this.bcastAppend()
  }

  // ───────────────────────── elections ─────────────────────────

  private tickElection (): void {
    this.electionElapsed++
    if (this.members.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0
      this.hup(false)
    }
  }

  private tickHeartbeat (): void {
    this.heartbeatElapsed++
    this.electionElapsed++
    for (const pr of this.prs.values()) {
      if (pr.state === 'snapshot' && ++pr.snapshotTicks >= this.electionTimeout) {
        // No answer to the snapshot for an election timeout: probe again (it is resent if still needed).
        pr.becomeProbe()
      }
    }
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0
      if (this.checkQuorum) {
        if (!this.members.quorumActive()) {
          this.becomeFollower(this.term, NONE)
          return
        }
      }
      if (this.leadTransferee !== NONE) this.leadTransferee = NONE // abort after an election timeout
    }
    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0
      this.bcastHeartbeat(this.reads.lastPendingCtx())
    }
  }

  private hasUnappliedConfChanges (): boolean {
    const from = Math.max(this.log.applied, this.confReplayedTo) + 1
    if (this.log.committed < from) return false
    const ents = this.log.slice(Math.max(from, this.log.firstIndex()), this.log.committed + 1, Number.POSITIVE_INFINITY) ?? []
    for (const e of ents) if (e.type === 'confChange') return true
    return false
  }

  private hup (transfer: boolean): void {
    if (this.role === 'leader' || !this.members.promotable()) {
      this.counters.droppedIgnored++
      return
    }
    if (this.hasUnappliedConfChanges()) {
      // Campaigning before applying a committed conf change could use the wrong quorum.
      this.counters.droppedIgnored++
      return
    }
    if (this.preVote && !transfer) this.campaignRound('preVote', false)
    else this.campaignRound('vote', transfer)
  }

  private campaignRound (type: 'vote' | 'preVote', transfer: boolean): void {
    let term: number
    if (type === 'preVote') {
      this.becomePreCandidate()
      term = this.term + 1 // the term we would campaign for; not persisted
    } else {
      this.becomeCandidate()
      term = this.term
    }
    if (this.members.recordVote(this.id, true) === 'won') {
      if (type === 'preVote') this.campaignRound('vote', false)
      else this.becomeLeader()
      return
    }
    const lastIndex = this.log.lastIndex()
    const lastTerm = this.log.lastTerm()
    for (const id of this.members.voters) {
      if (id === this.id) continue
      const m = this.newMsg(type, id, term)
      m.index = lastIndex
      m.logTerm = lastTerm
      if (transfer) m.context = TRANSFER_CONTEXT
      this.send(m)
    }
  }

  // ───────────────────────── step ─────────────────────────

  private stepValid (m: Message): void {
    if (m.term === 0) {
      // Local or forwarded requests without a term: propose, readIndex, transferLeader.
      if (m.type !== 'propose' && m.type !== 'readIndex' && m.type !== 'transferLeader') {
        this.counters.droppedMalformed++
        return
      }
    } else if (m.term > this.term) {
      if (m.type === 'vote' || m.type === 'preVote') {
        const force = m.context !== undefined && m.context.length === 1 && m.context[0] === TRANSFER_CONTEXT[0]
        const inLease = this.checkQuorum && this.lead !== NONE && this.electionElapsed < this.electionTimeout
        if (!force && inLease) {
          // Thesis §4.2.3: ignore votes while we believe a leader is alive.
          this.counters.droppedIgnored++
          return
        }
      }
      if (m.type === 'preVote') {
        // Never change term on a PreVote request.
      } else if (m.type === 'preVoteResp' && !m.reject) {
        // The term is bumped when the pre-vote quorum is reached.
      } else if (m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot') {
        this.becomeFollower(m.term, m.from)
      } else {
        this.becomeFollower(m.term, NONE)
      }
    } else if (m.term < this.term) {
      this.counters.droppedStaleTerm++
      if ((this.checkQuorum || this.preVote) && (m.type === 'heartbeat' || m.type === 'append')) {
        // Tell a stale leader (e.g. healed from a partition) about the new term so it steps down.
        this.send(this.newMsg('appendResp', m.from, this.term))
      } else if (m.type === 'preVote') {
        const r = this.newMsg('preVoteResp', m.from, this.term)
        r.reject = true
        this.send(r)
      }
      return
    }
    this.counters.stepped++

    if (m.type === 'vote' || m.type === 'preVote') {
      const canVote = this.vote === m.from || (this.vote === NONE && this.lead === NONE) || (m.type === 'preVote' && m.term > this.term)
      const respType = m.type === 'vote' ? 'voteResp' : 'preVoteResp'
      if (canVote && this.log.isUpToDate(m.index, m.logTerm)) {
        this.send(this.newMsg(respType, m.from, m.term))
        if (m.type === 'vote') {
          this.electionElapsed = 0
          this.vote = m.from
        }
      } else {
        const r = this.newMsg(respType, m.from, this.term)
        r.reject = true
        this.send(r)
      }
      return
    }
    switch (this.role) {
      case 'leader': this.stepLeader(m); break
      case 'follower': this.stepFollower(m); break
      default: this.stepCandidate(m)
    }
  }

  private stepFollower (m: Message): void {
    switch (m.type) {
      case 'propose': {
        const reason = this.lead === NONE ? 'noLeader' : this.disableForwarding ? 'forwardingDisabled' : null
        if (reason !== null) {
          this.counters.proposalsDropped++
          return
        }
        m.to = this.lead
        this.send(m)
        return
      }
      case 'append':
        this.electionElapsed = 0
        this.lead = m.from
        this.handleAppend(m)
        return
      case 'heartbeat':
        this.electionElapsed = 0
        this.lead = m.from
        this.handleHeartbeat(m)
        return
      case 'snapshot':
        this.electionElapsed = 0
        this.lead = m.from
        this.handleSnapshot(m)
        return
      case 'transferLeader':
      case 'readIndex':
        if (this.lead === NONE) {
          this.counters.droppedIgnored++
          return
        }
        m.to = this.lead
        this.send(m)
        return
      case 'timeoutNow':
        // Thesis §3.10: campaign at once, skipping PreVote, even within a leader lease. Only the leader of
        // this term sends TimeoutNow, so it is accepted from any sender at our term, even while `lead` is
        // still unknown (e.g. just after a restart): the leader does not resend it.
        this.hup(true)
        return
      case 'readIndexResp':
        this.readStates.push({ index: m.index, context: m.context ?? EMPTY })
        return
      default:
        this.counters.droppedIgnored++
    }
  }

  private stepCandidate (m: Message): void {
    const myResp = this.role === 'preCandidate' ? 'preVoteResp' : 'voteResp'
    switch (m.type) {
      case 'propose':
        this.counters.proposalsDropped++
        return
      case 'append':
        this.becomeFollower(m.term, m.from)
        this.handleAppend(m)
        return
      case 'heartbeat':
        this.becomeFollower(m.term, m.from)
        this.handleHeartbeat(m)
        return
      case 'snapshot':
        this.becomeFollower(m.term, m.from)
        this.handleSnapshot(m)
        return
      case 'voteResp':
      case 'preVoteResp': {
        if (m.type !== myResp) {
          this.counters.droppedIgnored++
          return
        }
        const res = this.members.recordVote(m.from, !m.reject)
        if (res === 'won') {
          if (this.role === 'preCandidate') this.campaignRound('vote', false)
          else {
            this.becomeLeader()
          }
        } else if (res === 'lost') {
          this.becomeFollower(this.term, NONE)
        }
        return
      }
      default:
        this.counters.droppedIgnored++
    }
  }

  private stepLeader (m: Message): void {
    switch (m.type) {
      case 'propose': {
        const reason = this.leaderAppend(m.entries)
        if (reason !== null) this.counters.proposalsDropped++
        return
      }
      case 'readIndex': {
        const reason = this.leaderReadIndex(m)
        if (reason !== null) this.counters.droppedIgnored++
        return
      }
      case 'transferLeader':
        if (isNodeId(m.index)) this.leaderTransfer(m.index)
        else this.counters.droppedMalformed++
        return
      default:
    }
    const pr = this.prs.get(m.from)
    if (pr === undefined) {
      this.counters.droppedNonMember++
      return
    }
    switch (m.type) {
      case 'appendResp':
        if (m.index > this.log.lastIndex()) {
          // Acknowledges entries this leader never had: impossible.
          this.counters.droppedMalformed++
          return
        }
        pr.recentActive = true
        if (m.reject) {
          let nextProbe = m.rejectHint
          if (m.logTerm > 0) nextProbe = this.log.findConflictByTerm(Math.min(m.rejectHint, this.log.lastIndex()), m.logTerm)
          if (pr.maybeDecrTo(m.index, nextProbe)) {
            if (pr.state === 'replicate') pr.becomeProbe()
            this.sendAppend(m.from, pr, true)
          }
          return
        }
        {
          const oldPaused = pr.isPaused()
          if (!pr.maybeUpdate(m.index)) return
          if (pr.state === 'probe') pr.becomeReplicate()
          else if (pr.state === 'snapshot' && pr.match >= pr.pendingSnapshot) {
            pr.becomeProbe()
            pr.becomeReplicate()
          } else if (pr.state === 'replicate') pr.inflights.freeLE(m.index)
          if (pr.match > this.log.committed && this.maybeCommit()) {
            this.releasePendingReads()
            this.bcastAppend()
          } else if (oldPaused) {
            this.sendAppend(m.from, pr, true)
          }
          while (this.sendAppend(m.from, pr, false)) { /* fill the window */ }
          if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) this.sendTimeoutNow(m.from)
        }
        return
      case 'heartbeatResp':
        pr.recentActive = true
        pr.probeSent = false
        if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirstOne()
        if (pr.match < this.log.lastIndex()) this.sendAppend(m.from, pr, true)
        if (m.context !== undefined && m.context.length > 0) this.recvReadAck(m.from, m.context)
        return
      default:
        this.counters.droppedIgnored++
    }
  }

  // ───────────────────────── follower handlers ─────────────────────────

  private handleAppend (m: Message): void {
    if (m.index < this.log.committed) {
      const r = this.newMsg('appendResp', m.from, this.term)
      r.index = this.log.committed
      this.send(r)
      return
    }
    const lastNew = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries)
    if (lastNew === -2) {
      // Would overwrite a committed entry: impossible from a correct leader. Drop, never apply.
      this.counters.droppedMalformed++
      return
    }
    const r = this.newMsg('appendResp', m.from, this.term)
    if (lastNew >= 0) {
      r.index = lastNew
    } else {
      // Fast backtracking: hint the largest index whose term is <= the leader's logTerm.
      const hintIndex = this.log.findConflictByTerm(Math.min(m.index, this.log.lastIndex()), m.logTerm)
      const hintTerm = this.log.term(hintIndex)
      r.index = m.index
      r.reject = true
      r.rejectHint = hintIndex
      r.logTerm = hintTerm < 0 ? 0 : hintTerm
    }
    this.send(r)
  }

  private handleHeartbeat (m: Message): void {
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()))
    const r = this.newMsg('heartbeatResp', m.from, this.term)
    if (m.context !== undefined) r.context = m.context
    this.send(r)
  }

  private handleSnapshot (m: Message): void {
    const s = m.snapshot!
    const r = this.newMsg('appendResp', m.from, this.term)
    if (this.restore(s)) r.index = this.log.lastIndex()
    else r.index = this.log.committed
    this.send(r)
  }

  private restore (s: Snapshot): boolean {
    const idx = s.metadata.index
    if (idx <= this.log.committed) return false
    if (this.log.matchTerm(idx, s.metadata.term)) {
      // We already have the snapshot's last entry: just fast-forward the commit.
      this.log.commitTo(idx)
      return false
    }
    this.log.restore(s)
    this.members.setConf(s.metadata.confState)
    this.members.rebuildProgress(true, this.log.lastIndex())
    return true
  }

  // ───────────────────────── leader replication ─────────────────────────

  private proposeEntry (e: Entry): void {
    const reason = this.proposeOrForward(e)
    if (reason !== null) this.refuse(reason)
  }

  private proposeOrForward (e: Entry): ProposalDropReason | null {
    return this.proposeOrForwardMany([e])
  }

  private proposeOrForwardMany (ents: Entry[]): ProposalDropReason | null {
    if (this.role === 'leader') return this.leaderAppend(ents)
    if (this.lead === NONE) return 'noLeader'
    if (this.disableForwarding) return 'forwardingDisabled'
    const m = this.newMsg('propose', this.lead, 0)
    m.entries = ents
    this.send(m)
    return null
  }

  /** Validate and append proposed entries; null on success, else the reason they were dropped. */
  private leaderAppend (ents: Entry[]): ProposalDropReason | null {
    if (!this.prs.has(this.id)) return 'notMember'
    if (this.leadTransferee !== NONE) return 'transferring'
    for (let k = 0; k < ents.length; k++) {
      const e = ents[k]!
      if (e.type !== 'confChange') continue
      if (this.pendingConfIndex > this.log.applied) return 'confChangePending'
      let cc: ConfChange
      try {
        cc = decodeConfChange(e.data)
      } catch {
        return 'invalidConfChange'
      }
      if (!this.members.fits(cc)) return 'invalidConfChange'
      if (k > 0 && ents.slice(0, k).some(x => x.type === 'confChange')) return 'confChangePending'
    }
    const copies: Entry[] = new Array<Entry>(ents.length)
    for (let k = 0; k < ents.length; k++) copies[k] = { term: 0, index: 0, type: ents[k]!.type, data: ents[k]!.data }
    if (!this.appendEntries(copies)) return 'uncommittedCap'
    for (const e of copies) if (e.type === 'confChange') this.pendingConfIndex = e.index
    this.bcastAppend()
    return null
  }

  /** Assign term/index and append to the leader's log; false if the uncommitted cap refuses it. */
  private appendEntries (es: Entry[]): boolean {
    let size = 0
    for (let k = 0; k < es.length; k++) size += es[k]!.data.length
    if (this.uncommittedSize > 0 && size > 0 && this.uncommittedSize + size > this.maxUncommittedSize) return false
    this.uncommittedSize += size
    let li = this.log.lastIndex()
    for (let k = 0; k < es.length; k++) {
      const e = es[k]!
      e.term = this.term
      e.index = ++li
    }
    li = this.log.append(es)
    // With parallel writes the leader counts itself once they are durable (selfPersisted).
    if (this.asyncLeaderWrites) return true
    const self = this.prs.get(this.id)
    if (self !== undefined) self.maybeUpdate(li)
    this.maybeCommit()
    return true
  }

  /** Commit the largest index replicated on a quorum of voters, if it is of the current term (Figure 8). */
  private maybeCommit (): boolean {
    return this.log.maybeCommit(this.members.committedIndex(), this.term)
  }

  private bcastAppend (): void {
    for (const [id, pr] of this.prs) {
      if (id !== this.id) this.sendAppend(id, pr, true)
    }
  }

  /** Send an append (or a snapshot if the follower needs compacted entries). Returns true if sent. */
  private sendAppend (to: NodeId, pr: Progress, sendIfEmpty: boolean): boolean {
    if (pr.isPaused()) return false
    const prevIndex = pr.next - 1
    const prevTerm = this.log.term(prevIndex)
    const ents = prevTerm < 0 ? undefined : this.log.slice(pr.next, Math.min(pr.next + this.maxEntriesPerMsg, this.log.lastIndex() + 1), this.maxSizePerMsg)
    if (ents === undefined) {
      if (!pr.recentActive) return false
      const snap = this.log.snapshot()
      if (snap.metadata.index === 0) return false // no snapshot available yet
      pr.becomeSnapshot(snap.metadata.index)
      const m = this.newMsg('snapshot', to, this.term)
      m.snapshot = snap
      this.send(m)
      return true
    }
    if (ents.length === 0 && !sendIfEmpty) return false
    const m = this.newMsg('append', to, this.term)
    m.index = prevIndex
    m.logTerm = prevTerm
    m.entries = ents
    m.commit = this.log.committed
    pr.sentEntries(ents.length > 0 ? ents[ents.length - 1]!.index : prevIndex, ents.length)
    this.send(m)
    return true
  }

  private bcastHeartbeat (ctx: Uint8Array | undefined): void {
    for (const [id, pr] of this.prs) {
      if (id === this.id) continue
      const m = this.newMsg('heartbeat', id, this.term)
      m.commit = Math.min(pr.match, this.log.committed)
      if (ctx !== undefined) m.context = ctx
      this.send(m)
    }
  }

  private sendTimeoutNow (to: NodeId): void {
    this.send(this.newMsg('timeoutNow', to, this.term))
  }

  private leaderTransfer (to: NodeId): void {
    const pr = this.prs.get(to)
    if (pr === undefined || pr.learner) {
      this.counters.droppedIgnored++
      return
    }
    if (this.leadTransferee !== NONE) {
      if (this.leadTransferee === to) return // already under way
      this.leadTransferee = NONE // a new request replaces the pending one (a transfer to self just aborts it)
    }
    if (to === this.id) {
      this.counters.droppedIgnored++
      return
    }
    this.leadTransferee = to
    this.electionElapsed = 0 // the transfer must finish within an election timeout
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(to)
    else this.sendAppend(to, pr, true)
  }

  // ───────────────────────── ReadIndex ─────────────────────────

  private committedEntryInCurrentTerm (): boolean {
    return this.log.term(this.log.committed) === this.term
  }

  private leaderReadIndex (m: Message): ProposalDropReason | null {
    const ctx = m.context ?? EMPTY
    if (this.members.isSingleton()) {
      this.respondRead(m.from, this.log.committed, ctx)
      return null
    }
    if (!this.committedEntryInCurrentTerm()) return this.reads.hold(m) ? null : 'readsFull'
    if (this.reads.full()) return 'readsFull'
    if (!this.reads.add(this.log.committed, m.from, ctx, this.id)) return null // duplicate context: already pending
    this.bcastHeartbeat(ctx)
    return null
  }

  private releasePendingReads (): void {
    if (!this.reads.hasHeld() || !this.committedEntryInCurrentTerm()) return
    for (const m of this.reads.takeHeld()) {
      if (this.leaderReadIndex(m) !== null) this.counters.droppedIgnored++
    }
  }

  private recvReadAck (from: NodeId, ctx: Uint8Array): void {
    for (const r of this.reads.recvAck(from, ctx, this.members.voters)) this.respondRead(r.from, r.index, r.ctx)
  }

  private respondRead (to: NodeId, index: number, ctx: Uint8Array): void {
    if (to === this.id || to === NONE) {
      this.readStates.push({ index, context: ctx })
      return
    }
    const m = this.newMsg('readIndexResp', to, this.term)
    m.index = index
    m.context = ctx
    this.send(m)
  }

  // ───────────────────────── membership ─────────────────────────

  private applyConfChangeEntry (e: Entry, live: boolean): void {
    let cc: ConfChange
    try {
      cc = decodeConfChange(e.data)
    } catch {
      this.counters.droppedMalformed++
      return
    }
    if (!this.members.apply(cc, this.log.lastIndex())) return // cannot apply (e.g. a demotion): ignored
    if (!live) return
    if (this.role === 'leader') {
      if (this.leadTransferee !== NONE && !this.members.isVoter(this.leadTransferee)) this.leadTransferee = NONE
      if (!this.members.isVoter(this.id)) {
        // Removed (or not a voter): tell followers the commit index, then step down.
        this.bcastAppend()
        this.becomeFollower(this.term, NONE)
        return
      }
      if (this.maybeCommit()) {
        this.releasePendingReads()
        this.bcastAppend()
      }
    }
  }
}
