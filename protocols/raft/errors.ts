/**
 * Named errors of the Raft core. Match on `code` (or `name`), never on message text.
 */
import { AgoraError } from '../../src/base/errors.js'

/** Why a proposal (or conf change, read, transfer) was refused. */
export type ProposalDropReason =
  | 'noLeader' // no known leader to forward to
  | 'forwardingDisabled' // follower with disableProposalForwarding
  | 'transferring' // leadership transfer in progress
  | 'uncommittedCap' // maxUncommittedEntriesSize reached
  | 'notMember' // this node was removed from the configuration
  | 'tooLarge' // a single proposal exceeds a limit
  | 'confChangePending' // another membership change is not yet applied
  | 'invalidConfChange' // the change does not fit the current membership
  | 'readsFull' // maxPendingReads reached
  | 'notLeader' // the operation needs the leader

/**
 * A proposal was not appended to the log. Its fate is certain: it will never commit (unlike a
 * proposal accepted and then lost with its leader, whose fate is *indefinite*).
 */
export class ProposalDroppedError extends AgoraError {
  static override readonly name = 'ProposalDroppedError'
  readonly reason: ProposalDropReason
  constructor (reason: ProposalDropReason, message = `proposal dropped: ${reason}`, details: Record<string, unknown> = {}) {
    super('ERR_PROPOSAL_DROPPED', message, { reason, ...details })
    this.reason = reason
  }
}

/** The requested index is before the first available index (compacted into a snapshot). */
export class CompactedError extends AgoraError {
  static override readonly name = 'CompactedError'
  constructor (index: number, firstIndex: number) {
    super('ERR_RAFT_COMPACTED', `index ${index} is compacted (first index ${firstIndex})`, { index, firstIndex })
  }
}

/** The requested index is beyond the last index in storage. */
export class UnavailableError extends AgoraError {
  static override readonly name = 'UnavailableError'
  constructor (index: number, lastIndex: number) {
    super('ERR_RAFT_UNAVAILABLE', `index ${index} is unavailable (last index ${lastIndex})`, { index, lastIndex })
  }
}

/** A snapshot older than the one storage already holds was offered. */
export class SnapshotOutOfDateError extends AgoraError {
  static override readonly name = 'SnapshotOutOfDateError'
  constructor (index: number, current: number) {
    super('ERR_RAFT_SNAPSHOT_OUT_OF_DATE', `snapshot at ${index} is older than the current snapshot at ${current}`, { index, current })
  }
}

/** The application broke the Ready contract or a Raft invariant (a programmer error: stop the node). */
export class RaftInvariantError extends AgoraError {
  static override readonly name = 'RaftInvariantError'
  constructor (message: string, details: Record<string, unknown> = {}) {
    super('ERR_RAFT_INVARIANT', message, details)
  }
}

/**
 * The command's fate is unknown: it may or may not have been applied (its leader was lost, it timed
 * out, the node stopped). Never a plain failure: a retry under the same session applies at most once.
 */
/** The reason of an IndefiniteError for a retry older than its session's window: retrying again cannot help. */
export const FORGOTTEN_REASON = 'a retry of a command older than the session window'

export class IndefiniteError extends AgoraError {
  static override readonly name = 'IndefiniteError'
  constructor (what: string, reason: string) {
    super('ERR_INDEFINITE', `${what}: outcome unknown (${reason}); retry with the same session to apply it at most once`, { reason })
  }
}
