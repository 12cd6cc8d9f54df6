/**
 * The coordination state machine's commands, results, events and limits (see README.md beside this file).
 * Commands travel as `u8 COORD_TAG · JSON`, inside the Raft command envelope, signed by their origin.
 */

/** First byte of a coordination command in the mesh application. */
export const COORD_TAG = 0x02

/** Named limits of the coordination machine (the same on every replica: they are part of its semantics). */
export const COORD_LIMITS = Object.freeze({
  /** Shortest and longest lease TTL (ms of log time). */
  leaseTtlMsMin: 500,
  leaseTtlMsMax: 3_600_000,
  /** Live leases in the group, and per owner peer. */
  leasesMax: 100_000,
  leasesPerOwnerMax: 20_000,
  /** Locks, semaphores and election positions one lease holds or waits for. */
  holdsPerLeaseMax: 1024,
  /** Lock and election records (busy or idle). Idle ones beyond `idleLocksMax` are forgotten, oldest first. */
  locksMax: 100_000,
  idleLocksMax: 10_000,
  /** Waiters queued on one lock, and in the whole group. */
  waitersPerLockMax: 1024,
  waitersMax: 100_000,
  /** Permits of one semaphore. */
  permitsMax: 1024,
  /** Longest wait (lock waitMs, barrier timeoutMs, vote deadlineMs). */
  waitMsMax: 86_400_000,
  /** Bytes of an election value (JSON text). */
  valueBytesMax: 4096,
  /** Barriers (records), parties of one barrier, outcomes remembered per barrier. */
  barriersMax: 10_000,
  partiesMax: 10_000,
  barrierHistoryMax: 16,
  /** Open votes, decided votes remembered, voters and options of one vote. */
  openVotesMax: 10_000,
  decidedVotesMax: 10_000,
  votersMax: 1000,
  optionsMax: 64,
  /** Characters of an agent id, an option, a topic. */
  idCharsMax: 128,
  topicCharsMax: 256
})

/** A lock, semaphore, election or barrier name (as strong variable names). */
export const COORD_NAME_RE = /^[A-Za-z0-9._:/-]{1,128}$/

export type LockKind = 'lock' | 'election'

export type VoteRuleKind = 'majority' | 'quorum' | 'unanimous' | 'weighted'
export interface VoteRule { kind: VoteRuleKind, n?: number }

export type CoordCommand =
  | { t: 'tick' }
  | { t: 'epoch' }
  | { t: 'lease.grant', ttlMs: number }
  | { t: 'lease.keepalive', n?: number }
  | { t: 'lease.revoke', lease: number | 'all' }
  | { t: 'lock.acquire', kind?: LockKind, name: string, lease: number, permits?: number, wait?: boolean, waitMs?: number, value?: string }
  | { t: 'lock.release', kind?: LockKind, name: string, token: number }
  | { t: 'lock.cancel', kind?: LockKind, name: string, ticket: number }
  | { t: 'election.proclaim', name: string, token: number, value: string }
  | { t: 'barrier.arrive', name: string, parties: number, agent: string, lease: number, timeoutMs: number, zone?: string }
  | { t: 'vote.open', topic?: string, options: string[], voters: Array<{ agent: string, host: string }>, rule: VoteRule, deadlineMs: number }
  | { t: 'vote.ballot', vote: number, agent: string, choice: string }

export type CoordFailure = { ok: false, code: string, message: string }

export interface LeaseView { lease: number, owner: string, ttlMs: number, expiresAt: number, holds: number }
export interface HolderView { lease: number, owner: string, token: number, since: number, value?: unknown }
export interface WaiterView { ticket: number, lease: number, owner: string, deadline: number }
export interface LockView { kind: LockKind, name: string, permits: number, holders: HolderView[], waiters: WaiterView[], newest: number, rev: number }
export interface BarrierOutcome { generation: number, status: 'released' | 'broken', reason?: string, index: number, arrivals: string[] }
export interface BarrierView { name: string, parties: number, zone?: string, generation: number, arrived: string[], deadline: number, rev: number, history: BarrierOutcome[] }
export interface VoteDecision {
  status: 'decided' | 'failed'
  /** The winning option (null when failed). */
  outcome: string | null
  /** `threshold` (a rule was met), `unreachable` (no option can meet it), `deadline`. */
  reason: 'threshold' | 'unreachable' | 'deadline'
  tally: Array<[string, number]>
  ballots: Array<{ agent: string, choice: string, weight: number, index: number }>
  index: number
  at: number
}
export interface VoteView {
  vote: number
  opener: string
  topic?: string
  options: string[]
  voters: Array<{ agent: string, host: string, weight: number }>
  rule: VoteRule
  deadline: number
  ballots: Array<{ agent: string, choice: string, weight: number, index: number }>
  decided?: VoteDecision
  rev: number
}

/** Every change the machine makes, as one event stream (`coord:event`); `index` is the applying entry. */
export type CoordEvent =
  | { type: 'lease:granted', index: number, lease: number, owner: string, ttlMs: number, expiresAt: number }
  | { type: 'lease:expired' | 'lease:revoked', index: number, lease: number, owner: string }
  | { type: 'lock:acquired' | 'election:elected', index: number, kind: LockKind, name: string, lease: number, owner: string, token: number, value?: unknown }
  | { type: 'lock:released' | 'election:ended', index: number, kind: LockKind, name: string, lease: number, owner: string, token: number, reason: 'release' | 'lease-expired' | 'lease-revoked' }
  | { type: 'lock:queued' | 'election:queued', index: number, kind: LockKind, name: string, lease: number, owner: string, ticket: number }
  | { type: 'lock:timeout' | 'election:timeout' | 'lock:cancelled' | 'election:cancelled', index: number, kind: LockKind, name: string, lease: number, owner: string, ticket: number }
  | { type: 'election:proclaimed', index: number, kind: 'election', name: string, lease: number, owner: string, token: number, value: unknown }
  | { type: 'barrier:arrived', index: number, name: string, generation: number, agent: string, owner: string, arrived: number, parties: number }
  | { type: 'barrier:released', index: number, name: string, generation: number, arrivals: string[] }
  | { type: 'barrier:broken', index: number, name: string, generation: number, reason: string, arrivals: string[] }
  | { type: 'vote:opened', index: number, vote: number, opener: string, topic?: string, options: string[], voters: Array<{ agent: string, host: string, weight: number }>, rule: VoteRule, deadline: number }
  | { type: 'vote:ballot', index: number, vote: number, agent: string, choice: string, owner: string }
  | { type: 'vote:decided', index: number, vote: number, decision: VoteDecision }

export interface CoordEvents extends Record<string, unknown> {
  'coord:event': CoordEvent
}

/** Deterministic facts the machine reads from its neighbours in the mesh application (the economy). */
export interface CoordHooks {
  /** The owner peer of an agent's account, when the economy has one (it then decides who may vote as the agent). */
  ownerOf?: (agent: string) => string | null
  /** An agent's vote weight under the `weighted` rule (its E3 reputation score in ppm); default 1. */
  weightOf?: (agent: string) => number
  /**
   * Called whenever a lease ends (expiry in `advance`, or `lease.revoke`), after its holds and waits were
   * dropped, in the machine's deterministic order (expiries in deadline order, `revoke all` by lease id):
   * the task machine ends the attempts acked under it (`host-lost`). Must not throw.
   */
  onLeaseEnded?: (lease: number, index: number) => void
  /**
   * The earliest deadline of the other machines that share this log time (the task machine's), so
   * {@link CoordinationMachine.nextDeadline} (what the leader's ticker reads) covers them too.
   */
  nextDeadline?: () => number | undefined
}
