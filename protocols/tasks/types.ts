/**
 * The task machine's commands, results, events and limits (see README.md beside this file). Commands
 * travel as `u8 TASK_TAG · JSON` inside the Raft command envelope, always signed by their origin.
 *
 * Life of a task (ids are the log index of the submit entry):
 *
 *   submitted ──assign──▶ assigned ──complete──▶ completed
 *       ▲                  │  │ ──fail/timeout/ack-timeout/host lost, retries left──▶ submitted (reassigned)
 *       │                  │  └─ the same, no retry left ──▶ failed
 *       └──────────────────┘
 *   any state but completed/failed ──cancel (submitter)──▶ cancelled
 *
 * An assignment is an *attempt* (1, 2, ...). Only the current attempt's host may ack, report progress,
 * complete or fail; a command naming an earlier attempt is refused `ERR_STALE_ATTEMPT`, so a task
 * completes at most once, whatever its attempts do.
 */

/** First byte of a task command in the mesh application. */
export const TASK_TAG = 0x03

/** Named limits of the task machine (part of its semantics: the same on every replica). */
export const TASK_LIMITS = Object.freeze({
  /** Tasks not yet finished (submitted or assigned), in the group and per submitting peer. */
  liveTasksMax: 100_000,
  liveTasksPerOriginMax: 20_000,
  /** Finished tasks remembered (oldest forgotten first; their idempotency keys with them). */
  finishedTasksMax: 100_000,
  /**
   * Bytes of live tasks (their records as the snapshot writes them: UTF-8 JSON, escaping counted; an
   * assigned task's live attempt counted as `attemptReserveBytes` more than its fixed fields), in the group
   * and per submitting peer: a submit or an assignment beyond them is refused `ERR_LIMIT_EXCEEDED`.
   */
  liveBytesMax: 32 * 1024 * 1024,
  liveBytesPerOriginMax: 8 * 1024 * 1024,
  /** Bytes of finished tasks remembered (the oldest forgotten first, as beyond finishedTasksMax). */
  finishedBytesMax: 48 * 1024 * 1024,
  /**
   * What a live attempt may still add to its task's record once assigned (deadline, lease, ack, progress,
   * note, end, the error kept), reserved at the assignment so that nothing a host does can exceed the budget.
   */
  attemptReserveBytes: 4096,
  /** Bytes of JSON text of an attempt's error kept in the task's history (a longer one is cut; the task's own error is kept whole). */
  attemptErrorBytesMax: 2048,
  /** Bytes of a payload, a result, an error message, a progress note (JSON text). */
  payloadBytesMax: 64 * 1024,
  resultBytesMax: 64 * 1024,
  errorCharsMax: 1024,
  noteCharsMax: 256,
  /** Retries (reassignments) one task may have. */
  retriesMax: 100,
  /** Task timeout, grace and ack window (ms of log time). */
  timeoutMsMin: 100,
  timeoutMsMax: 86_400_000,
  graceMsMax: 3_600_000,
  ackMsMin: 100,
  ackMsMax: 600_000,
  /** How long a task may wait for an assignment (after its submit or its last reassignment). */
  queueMsMin: 1000,
  queueMsMax: 86_400_000,
  /** Bytes of a target query (JSON of QueryCriteria). */
  queryBytesMax: 4096,
  /** Characters of an agent id, a capability, an idempotency key. */
  idCharsMax: 128,
  keyCharsMax: 256,
  /** Attempts remembered per task (the latest ones). */
  attemptsKeptMax: 16,
  /** Tasks one `tasks:` list read returns. */
  listPageMax: 1000
})

/**
 * Log time a task's first assignment is reserved to its submitter; after it (and at once after a
 * reassignment), any peer may assign it: the dispatcher on the Raft leader's peer takes over tasks whose
 * submitter is gone.
 */
export const TASK_TAKEOVER_MS = 2000
/** Operations in one `task.batch` command. */
export const TASK_BATCH_OPS_MAX = 1000

/** Defaults of a submit that leaves them out. */
export const TASK_DEFAULTS = Object.freeze({ retries: 3, timeoutMs: 60_000, graceMs: 0, ackMs: 5_000, queueMs: 300_000 })

export type TaskState = 'submitted' | 'assigned' | 'completed' | 'failed' | 'cancelled'
export type Allocation = 'least-loaded' | 'round-robin' | 'auction'

/** Who may take the task: one agent, any agent with a capability, or a registry query (JSON of QueryCriteria). */
export type TaskTarget = { agent: string } | { capability: string } | { query: Record<string, unknown> }

/** Why an attempt ended without completing the task. */
export type AttemptEnd = 'failed' | 'timeout' | 'ack-timeout' | 'host-lost' | 'cancelled' | 'completed'

/** Why a task failed: its last attempt's end, or `unassigned` (no assignment within `queueMs` while it waited). */
export type TaskFailReason = Exclude<AttemptEnd, 'completed' | 'cancelled'> | 'unassigned'

export type TaskCommand =
  /**
   * Records a task. `key`: idempotency key, scoped to the origin peer (a second submit with the same key
   * returns the first task's id, `created: false`). `payload`: JSON text. `reward` (allocation `auction`,
   * or any task with an economy): escrowed from `account` (owned by the origin) and paid to the agent whose
   * attempt completes it; refunded when the task fails or is cancelled. `queueMs`: how long the task may
   * wait in `submitted` (after the submit, and after each reassignment) before it fails `unassigned`.
   */
  | { t: 'task.submit', target: TaskTarget, payload: string, allocation?: Allocation, retries?: number, timeoutMs?: number, graceMs?: number, ackMs?: number, queueMs?: number, key?: string, account?: string, reward?: number }
  /**
   * Gives the task's next attempt to `agent` hosted by `host`. Accepted from the task's submitter at once,
   * and from any peer from `assignableBy` on ({@link TASK_TAKEOVER_MS}). `attempt` must be the next
   * attempt number (attempts + 1), else `ERR_STALE_ATTEMPT`. When the economy has an account for
   * `agent`, `host` must be that account's owner peer, else `ERR_HOST_MISMATCH`.
   */
  | { t: 'task.assign', task: number, attempt: number, agent: string, host: string }
  /**
   * The host took the attempt: its `lease` (a coordination lease it owns) ties the attempt to the host's
   * life (the lease's end reassigns it: `host-lost`). A `complete` or `fail` of an unacked attempt is
   * accepted too (a fast task needs no ack).
   */
  | { t: 'task.ack', task: number, attempt: number, lease: number }
  | { t: 'task.progress', task: number, attempt: number, progress: number, note?: string }
  | { t: 'task.complete', task: number, attempt: number, result: string }
  | { t: 'task.fail', task: number, attempt: number, error: string, retry?: boolean }
  | { t: 'task.cancel', task: number }
  /**
   * Several operations in one entry (one signature, one round): each is applied in order as if alone, with
   * the same origin; the result is `{ ok: true, type: 'task.batch', results: [...] }`, one result per op.
   * A batch holds at most {@link TASK_BATCH_OPS_MAX} ops and no nested batch.
   */
  | { t: 'task.batch', ops: TaskCommand[] }

export interface AttemptView {
  attempt: number
  agent: string
  host: string
  /** Log index and log time of the assignment. */
  index: number
  at: number
  lease?: number
  ackedAt?: number
  /** Log index of the ack entry (slashing evidence names it). */
  ackIndex?: number
  /** Log time the attempt times out (timeoutMs + graceMs after assignment; the ack window before the ack). */
  deadline: number
  progress?: number
  note?: string
  end?: AttemptEnd
  endIndex?: number
  error?: string
}

export interface TaskView {
  id: number
  state: TaskState
  origin: string
  target: TaskTarget
  allocation: Allocation
  payload: string
  retries: number
  timeoutMs: number
  graceMs: number
  ackMs: number
  /** How long the task may wait for an assignment (absent in records from before it: the default). */
  queueMs?: number
  key?: string
  account?: string
  reward?: number
  /** The current (or last) attempt's agent, null before the first assignment. */
  agent: string | null
  /** Number of attempts so far. */
  attempts: number
  /** The latest attempts (at most TASK_LIMITS.attemptsKeptMax). */
  history: AttemptView[]
  /** JSON text of the result (completed) or the last error message (failed). */
  result?: string
  error?: string
  submittedIndex: number
  submittedAt: number
  finishedIndex?: number
  finishedAt?: number
  /** Log time from which any peer may assign the task (the submitter at once). */
  assignableBy: number
  rev: number
}

export type TaskFailure = { ok: false, code: string, message: string }

/** Every change the machine makes (`task:event`); `index` is the applying entry. */
export type TaskEvent =
  | { type: 'task:submitted', index: number, task: number, origin: string, target: TaskTarget, allocation: Allocation }
  | { type: 'task:assigned', index: number, task: number, attempt: number, agent: string, host: string, deadline: number }
  | { type: 'task:acked', index: number, task: number, attempt: number, host: string, lease: number }
  | { type: 'task:progress', index: number, task: number, attempt: number, progress: number, note?: string }
  | { type: 'task:completed', index: number, task: number, attempt: number, agent: string, host: string }
  | { type: 'task:reassigned', index: number, task: number, attempt: number, agent: string, host: string, reason: AttemptEnd, error?: string }
  | { type: 'task:failed', index: number, task: number, attempt: number, agent: string | null, reason: TaskFailReason, error?: string }
  | { type: 'task:cancelled', index: number, task: number }

export interface TaskEvents extends Record<string, unknown> {
  'task:event': TaskEvent
}

/**
 * What the task machine asks of its neighbours in the mesh application, deterministically:
 * the coordination machine (is a lease alive and owned by this peer) and the economy (reputation,
 * slashing, escrow). Each economy hook is a no-op without an economy or without the agent's account.
 */
export interface TaskHooks {
  leaseOwner?: (lease: number) => string | undefined
  /**
   * The owner peer of an agent's account, when the economy has one: `outcome`, `slash` and the payout go
   * to an agent only for an attempt hosted by that peer (no other peer can move its reputation or stake).
   */
  ownerOf?: (agent: string) => string | undefined
  /** E3: a delivered / late / failed attempt of `agent`. */
  outcome?: (agent: string, o: { delivered: boolean, onTime: boolean }, index: number) => void
  /**
   * True when the economy holds auction `auction` (`task-<id>-<attempt>`), opened at or after entry `since`
   * (the task's submit) by `seller` (the task's account), settled with `agent` as its winner: the agent
   * accepted the task's terms by bidding, and only then may its stake be slashed for the attempt.
   */
  auctionWon?: (auction: string, agent: string, seller: string, since: number) => boolean
  /**
   * E2: `timeout_violation` (an attempt timed out past its grace) or `task_failure` (it failed); evidence
   * names the task's log entries. Only for an attempt whose agent won the task's auction ({@link auctionWon}).
   */
  slash?: (agent: string, condition: 'timeout_violation' | 'task_failure', evidence: { task: number, attempt: number, indexes: number[] }, index: number) => void
  /** Escrows `amount` from `account` for task `task`; returns an error code, or undefined when escrowed. */
  escrow?: (task: number, account: string, owner: string, amount: number, index: number) => string | undefined
  /** Pays a task's escrow to `agent`'s account (completed), or back to its payer (failed, cancelled). */
  payout?: (task: number, to: string | null, index: number) => void
}
