/**
 * Public types of the Raft core: messages, log entries, snapshots, the Ready batch, the Storage
 * interface the drivers implement and the node's configuration. The core ({@link RaftNode} in
 * `raft.ts`) is pure and deterministic in the manner of etcd/raft: it never reads a clock, never uses
 * `Math.random`, never performs I/O. See README.md for the Ready contract.
 */

/** A node id: a positive safe integer. 0 means "none" (no vote, no known leader). */
export type NodeId = number

/** The id meaning "no node". */
export const NONE: NodeId = 0

/**
 * Network message types. The names match the simulator's `drop {type}` vocabulary (SCENARIOS.md);
 * `readIndexResp`, `propose` and `transferLeader` are forwarded-request types that drivers carry like
 * any other message.
 */
export type MessageType =
  | 'append' | 'appendResp'
  | 'vote' | 'voteResp'
  | 'preVote' | 'preVoteResp'
  | 'heartbeat' | 'heartbeatResp'
  | 'snapshot'
  | 'timeoutNow'
  | 'readIndex' | 'readIndexResp'
  | 'propose'
  | 'transferLeader'

/** Every message type, for validation and for drivers that index counters by type. */
export const MESSAGE_TYPES: readonly MessageType[] = [
  'append', 'appendResp', 'vote', 'voteResp', 'preVote', 'preVoteResp', 'heartbeat', 'heartbeatResp',
  'snapshot', 'timeoutNow', 'readIndex', 'readIndexResp', 'propose', 'transferLeader'
]

/** `normal` entries carry application data (empty data: the leader's no-op); `confChange` entries carry an encoded {@link ConfChange}. */
export type EntryType = 'normal' | 'confChange'

/** One log entry. Invariant: index >= 1, term >= 1. */
export interface Entry {
  term: number
  index: number
  type: EntryType
  /** Application bytes (normal) or `encodeConfChange(cc)` (confChange). Empty for the leader's no-op. */
  data: Uint8Array
}

/** One membership change. Exactly one is in flight at a time (the leader refuses a second until the first applies). */
export type ConfChangeType = 'addVoter' | 'removeVoter' | 'addLearner' | 'promoteLearner'

export interface ConfChange {
  type: ConfChangeType
  nodeId: NodeId
}

/** The membership. Invariant: voters and learners are disjoint. */
export interface ConfState {
  voters: NodeId[]
  learners: NodeId[]
}

export interface SnapshotMetadata {
  /** Index and term of the last entry the snapshot covers. */
  index: number
  term: number
  /** Membership as of `index`. */
  confState: ConfState
}

/** A state-machine snapshot produced by the application (`MemoryStorage.createSnapshot`). */
export interface Snapshot {
  metadata: SnapshotMetadata
  data: Uint8Array
}

/** The state that must be persisted before any message of the same Ready is sent. */
export interface HardState {
  term: number
  /** Whom this node voted for in `term` (NONE if nobody). */
  vote: NodeId
  commit: number
}

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader'

/** Volatile state, reported in Ready when it changes; never persisted. */
export interface SoftState {
  lead: NodeId
  role: Role
}

/** A linearizable read point: once `applied >= index`, the read with `context` may be served locally. */
export interface ReadState {
  index: number
  context: Uint8Array
}

/**
 * One Raft message. Fields unused by a type are 0 / empty. Drivers carry messages opaquely; the core
 * validates every field of every incoming message (bad ones are dropped and counted in `stats()`).
 */
export interface Message {
  type: MessageType
  from: NodeId
  to: NodeId
  term: number
  /** append: term of the entry at `index` (the entry preceding `entries`). vote/preVote: last log term. */
  logTerm: number
  /** append: index preceding `entries`; appendResp: the last index matched, or the rejected index; vote: last log index; readIndexResp: the read index. */
  index: number
  entries: Entry[]
  commit: number
  reject: boolean
  /** appendResp with reject: the follower's hint for fast backtracking (the last index whose term is <= `logTerm`). */
  rejectHint: number
  /** snapshot: the snapshot to install. */
  snapshot?: Snapshot
  /** heartbeat/readIndex/readIndexResp: the read request context; vote: 'transfer' marker when campaigning after TimeoutNow. */
  context?: Uint8Array
}

/**
 * The batch of work the application must do; obtained with `node.ready()` when `node.hasReady()`,
 * acknowledged with `node.advance(rd)`. README.md gives the contract as numbered steps.
 */
export interface Ready {
  /** Present when lead or role changed since the previous Ready. Informational. */
  softState?: SoftState
  /** Present when term, vote or commit changed: persist it (step 1). */
  hardState?: HardState
  /** Entries to append to stable storage (step 1), before sending `messages`. */
  entries: Entry[]
  /** A snapshot to install into storage and the state machine (step 1). */
  snapshot?: Snapshot
  /** Messages to send after the persistence of step 1 (step 2). */
  messages: Message[]
  /** Committed entries to apply to the state machine in order (step 3). */
  committedEntries: Entry[]
  /** Linearizable read points that became ready (serve each once applied >= index). */
  readStates: ReadState[]
  /** True when hardState or entries must be durably synced (fsync) before sending. */
  mustSync: boolean
  /**
   * True (only with `asyncLeaderWrites`) when nothing in the Ready must be durable before its messages
   * leave and its committed entries apply: its `entries` are this leader's own new entries (Raft thesis
   * §10.2.1) or there are none, and term and vote are unchanged (a new commit index at most). The write
   * then runs in parallel; writes must stay in order. `advance(rd)` may come before it finishes; once it
   * is durable, call `appendPersisted(index, term)` of its last entry, if it has entries: only then does
   * the leader count itself toward the quorum for them.
   */
  persistInParallel: boolean
}

/**
 * Read side of the log storage, as in etcd/raft. The application writes to it (append entries, set
 * hard state, apply snapshots) while processing Ready; the core only reads. `MemoryStorage` implements it.
 * Methods throw `CompactedError` for indexes before `firstIndex()` and `UnavailableError` beyond `lastIndex()`.
 */
export interface Storage {
  /** The persisted hard state and membership (the membership of the latest snapshot, or the bootstrap one). */
  initialState: () => { hardState: HardState, confState: ConfState }
  /** Entries in [lo, hi), at least one if any, at most `bytesMax` total bytes of data beyond the first. */
  entries: (lo: number, hi: number, bytesMax: number) => Entry[]
  /** Term of entry i; i may be `firstIndex() - 1` (the snapshot's index). */
  term: (i: number) => number
  /** Index of the first available entry (snapshot index + 1). */
  firstIndex: () => number
  lastIndex: () => number
  /** The most recent snapshot. */
  snapshot: () => Snapshot
}

/** The minimal PRNG the core needs; `createRand(seed)` from src/base/prng.ts satisfies it. */
export interface RaftRand {
  /** An integer uniformly in [min, max). */
  range: (min: number, max: number) => number
}

/** Configuration of one RaftNode. Every option documents its default. */
export interface RaftConfig {
  /** This node's id (positive integer). Required. */
  id: NodeId
  /** Storage holding the persisted log, hard state and snapshot. Required. */
  storage: Storage
  /** Seeded PRNG for the election-timeout jitter. Required (no global randomness). */
  rand: RaftRand
  /**
   * Bootstrap membership of a brand-new group, used only when storage is empty (no entries, term 0,
   * empty ConfState). As in etcd, it is written as confChange entries of term 1 at indexes 1..n
   * (committed and applied at once, handed to storage in the first Ready), so the first leader's term
   * is 2. Nodes joining an existing group start with `peers` unset and learn the membership from the
   * log or a snapshot. Default: none.
   */
  peers?: { voters: NodeId[], learners?: NodeId[] }
  /** Ticks without leader contact before a follower campaigns; the actual timeout is uniform in [electionTick, 2*electionTick). Default 10. */
  electionTick?: number
  /** Ticks between leader heartbeats; must be < electionTick. Default 1. */
  heartbeatTick?: number
  /** The last applied index when restarting (entries up to it are not re-emitted). Default 0. */
  applied?: number
  /** Maximum data bytes per append message (at least one entry is always sent). Default 1 MiB. */
  maxSizePerMsg?: number
  /** Maximum data bytes of committed entries in one Ready. Default 64 MiB. */
  maxCommittedSizePerReady?: number
  /** Maximum in-flight append messages per follower (pipelining window). Default 256. */
  maxInflightMsgs?: number
  /** Maximum data bytes of proposed but uncommitted entries at the leader; beyond it proposals fail with ProposalDroppedError. Default 16 MiB. */
  maxUncommittedEntriesSize?: number
  /** Maximum entries in one proposal batch / one append message. Default 4096. */
  maxEntriesPerMsg?: number
  /** Maximum pending ReadIndex requests at the leader. Default 4096. */
  maxPendingReads?: number
  /** Run the PreVote phase before incrementing the term (Raft thesis 9.6). Default false (as etcd). */
  preVote?: boolean
  /** Leader steps down when it has not heard from a quorum within an election timeout; followers ignore votes while they have a live leader. Default false (as etcd). */
  checkQuorum?: boolean
  /** Followers refuse to forward proposals to the leader (propose throws ProposalDroppedError). Default false. */
  disableProposalForwarding?: boolean
  /**
   * The leader writes its own new entries in parallel with sending them (Ready.persistInParallel) and
   * counts itself toward the quorum only for entries the driver reported durable (`appendPersisted`, or
   * `advance` of a Ready persisted first). Followers still persist before they acknowledge. Default false.
   */
  asyncLeaderWrites?: boolean
}

/** Per-follower replication progress, as the leader sees it. */
export type ProgressState = 'probe' | 'replicate' | 'snapshot'

export interface ProgressStatus {
  match: number
  next: number
  state: ProgressState
  learner: boolean
  inflight: number
  recentActive: boolean
}

/** A snapshot of a node's state for tests, checkers and dashboards. */
export interface Status {
  id: NodeId
  role: Role
  lead: NodeId
  term: number
  vote: NodeId
  commit: number
  applied: number
  lastIndex: number
  firstIndex: number
  leadTransferee: NodeId
  confState: ConfState
  /** Only on the leader. */
  progress?: Record<number, ProgressStatus>
}

/** Counters of dropped and rejected inputs. Reset never; monotonic. */
export interface RaftStats {
  /** Messages dropped because a field is impossible (negative term, unknown type, bad index...). */
  droppedMalformed: number
  /** Messages dropped because the sender is not a member of the configuration. */
  droppedNonMember: number
  /** Messages dropped because of a stale term. */
  droppedStaleTerm: number
  /** Messages ignored for another reason (wrong role, lease, transfer in progress...). */
  droppedIgnored: number
  /** Proposals refused (ProposalDroppedError thrown). */
  proposalsDropped: number
  /** Messages processed by step() without being dropped. */
  stepped: number
}
