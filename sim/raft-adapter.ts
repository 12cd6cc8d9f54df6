/**
 * The narrow interface the simulator drives a Raft node through. `raft-binding.ts` implements it over
 * protocols/raft (the only simulator file that knows the core's types), so the simulation, checkers and
 * reports stay independent of the core's internals.
 */
/** A log entry as the simulator sees it. */
export interface SimEntry {
  index: number
  term: number
  /** Report form: "" for an empty entry, `conf:...` for a membership change, else the data as text. */
  text: string
  /** For a normal entry, its data bytes. */
  data: Uint8Array
  /** The core's own entry object (passed back to storage untouched). */
  raw: unknown
}

/** A message as the simulator sees it. */
export interface SimMessage {
  from: number
  to: number
  /** The message type; the contract's kinds (`append`, `vote`...) are used for `drop` by type. */
  kind: string
  term: number
  /** A short deterministic description for the trace. */
  describe: string
  raw: unknown
}

export interface SimHardState { term: number, vote: number, commit: number }

export interface SimSnapshotMeta { index: number, term: number, voters: number[], learners: number[] }

export interface SimReady {
  hardState?: SimHardState
  /** Entries to append to stable storage (may overwrite a suffix). */
  entries: SimEntry[]
  /** A snapshot to install before anything else. */
  snapshot?: { meta: SimSnapshotMeta, data: Uint8Array, raw: unknown }
  /** Messages to send after persisting. */
  messages: SimMessage[]
  /** Entries to apply, in order. */
  committed: SimEntry[]
  readStates: Array<{ index: number, ctx: string }>
  /** Present when the role or known leader changed. */
  soft?: { role: SimRole, leader: number }
}

export type SimRole = 'follower' | 'pre-candidate' | 'candidate' | 'leader'

export interface SimStatus {
  role: SimRole
  term: number
  vote: number
  leader: number
  commit: number
  /** Voters and learners of the configuration the node currently uses. */
  voters: number[]
  learners: number[]
}

/** The refusal of a proposal/transfer/read (not an error of the scenario): a short reason. */
export type Refusal = string | undefined

export type ConfChangeKind = 'addVoter' | 'addLearner' | 'removeNode'

/** One Raft node, as driven by the simulator. */
export interface SimRaftNode {
  tick: () => void
  step: (m: SimMessage) => void
  campaign: () => Refusal
  propose: (data: Uint8Array) => Refusal
  readIndex: (ctx: string) => Refusal
  transferLeader: (to: number) => Refusal
  proposeConfChange: (kind: ConfChangeKind, node: number) => Refusal
  /** Leader: send heartbeats now. */
  heartbeat: () => Refusal
  /** The configuration the core currently uses (after applied membership changes). */
  confState: () => { voters: number[], learners: number[] }
  hasReady: () => boolean
  ready: () => SimReady
  advance: () => void
  status: () => SimStatus
}

/** Stable storage of one node (survives crashes); the simulated disk. */
export interface SimStorage {
  firstIndex: () => number
  lastIndex: () => number
  /** Term of `index`, or undefined when compacted away or beyond the last index. */
  termAt: (index: number) => number | undefined
  /** Entries [lo, hi] (inclusive) still in the log. */
  entries: (lo: number, hi: number) => SimEntry[]
  hardState: () => SimHardState
  append: (entries: SimEntry[]) => void
  setHardState: (hs: SimHardState) => void
  applySnapshot: (snap: NonNullable<SimReady['snapshot']>) => void
  /** Snapshot at `index` (<= applied) with the state machine's bytes and configuration, then compact through it. */
  compact: (index: number, data: Uint8Array, voters: number[], learners: number[]) => void
  /** The latest snapshot's metadata and data (index 0 when none). */
  snapshot: () => { meta: SimSnapshotMeta, data: Uint8Array }
}

export interface SimRaftConfig {
  id: number
  voters: number[]
  learners: number[]
  electionTick: number
  heartbeatTick: number
  preVote: boolean
  checkQuorum: boolean
  /** Index of the last entry already applied to the state machine the node restarts with. */
  applied: number
  rand: import('../src/base/prng.js').Rand
}

/** Creates storage and nodes; implemented by raft-binding.ts. */
export interface SimRaftFactory {
  createStorage: (init: { term: number, vote: number, commit: number, logTerms: number[], voters: number[], learners: number[] }) => SimStorage
  createNode: (cfg: SimRaftConfig, storage: SimStorage) => SimRaftNode
}

export type KvScalar = string | number | null

/** A client command for the KV state machine. */
export type KvCommand =
  | { op: 'write', key: string, value: KvScalar }
  | { op: 'cas', key: string, expected: KvScalar, value: KvScalar }
  | { op: 'read', key: string }

/** The linearizable KV state machine each simulated node applies committed entries to. */
export interface SimKv {
  /**
   * Encode a command of session (clientId, seq). `attempt` numbers the proposal attempts of one command
   * (retries keep clientId and seq); it travels with the command and is ignored by the state machine.
   */
  encode: (clientId: number, seq: number, cmd: KvCommand, attempt?: number) => Uint8Array
  /**
   * Apply a committed normal entry's data. Returns the session and result when it is a KV command
   * (duplicates of an applied (clientId, seq) return the first result), undefined for other data.
   */
  apply: (index: number, data: Uint8Array) => { clientId: number, seq: number, value?: KvScalar, ok?: boolean, attempt?: number } | undefined
  /** The current value of a key (null when absent); a local read. */
  read: (key: string) => KvScalar
  snapshot: () => Uint8Array
  restore: (bytes: Uint8Array) => void
}

export interface SimKvFactory {
  createKv: () => SimKv
}
