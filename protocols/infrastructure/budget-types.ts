/**
 * The mesh-wide budget machine's commands, views, events and limits (FEATURES I2; see README.md beside
 * this file). Commands travel as `u8 BUDGET_TAG · JSON` inside the Raft command envelope, always signed
 * by their origin (a join acts for its origin's lease, a define for its owner).
 *
 *   define (owner) ──▶ budget { ratePerSecond, burst }
 *   join (host, capacity, lease) ──▶ the host holds a share: rate × capacity / Σ capacities
 *   leave (host) / the host's lease ends (coordination) / delete (owner) ──▶ the others' shares grow
 */

/** First byte of a budget command in the mesh application. */
export const BUDGET_TAG = 0x04

/** Named limits of the budget machine (part of its semantics: the same on every replica). */
export const BUDGET_LIMITS = Object.freeze({
  /** Budgets in the group, and budgets one peer may own (define). */
  budgetsMax: 1024,
  budgetsPerOwnerMax: 256,
  /** Hosts sharing one budget, and budgets one host may hold a share of. */
  hostsPerBudgetMax: 256,
  budgetsPerHostMax: 256,
  /** Characters of a budget name ({@link BUDGET_NAME_RE}) and of a host (peer id). */
  nameCharsMax: 128,
  hostCharsMax: 256,
  /** Largest rate (tokens per second) and burst (tokens) of a budget. */
  ratePerSecondMax: 1_000_000_000,
  burstMax: 1_000_000_000,
  /** Largest capacity a host declares (a positive integer: weights, not units). */
  capacityMax: 1_000_000,
  /** Budget names one `budgets:all` read returns. */
  listPageMax: 1000
})

/** A budget name: 1..128 of `[A-Za-z0-9._:-]` (no `/`, so it is one path segment over HTTP). */
export const BUDGET_NAME_RE = /^[A-Za-z0-9._:-]{1,128}$/

export type BudgetCommand =
  /**
   * Creates budget `name` owned by the origin, or (from its owner or an economy authority) changes its
   * rate and burst. The same values from anyone else are accepted and change nothing (every peer of a
   * deployment may declare the budget it uses); other values from anyone else: `ERR_NOT_OWNER`.
   */
  | { t: 'budget.define', name: string, ratePerSecond: number, burst: number }
  /** Removes the budget and every host's share (owner or an economy authority). */
  | { t: 'budget.delete', name: string }
  /**
   * The origin takes a share of `name` in proportion to `capacity`, tied to `lease` (a coordination lease
   * it owns, its session lease): when the lease ends the share ends and the budget re-splits. A host
   * already sharing the budget changes its capacity and lease.
   */
  | { t: 'budget.join', name: string, capacity: number, lease: number }
  /** The origin gives its share back (nothing when it holds none). */
  | { t: 'budget.leave', name: string }

/** One host's share of a budget (what its local token bucket runs at). */
export interface BudgetShare {
  host: string
  capacity: number
  /** The coordination lease the share is tied to. */
  lease: number
  /** Log index of the join (or of the last rejoin). */
  since: number
  /** rate × capacity / Σ capacities. */
  ratePerSecond: number
  /** max(1, burst × capacity / Σ capacities). */
  burst: number
}

export interface BudgetView {
  name: string
  ratePerSecond: number
  burst: number
  /** The peer that defined it. */
  owner: string
  /** Log index of the definition. */
  index: number
  /** Log index of the last change (definition, join, leave, lease end): what a watch waits on. */
  rev: number
  /** Σ capacities of the hosts sharing it. */
  capacity: number
  /** The hosts sharing it, in the order they first joined. */
  hosts: BudgetShare[]
}

export type BudgetFailure = { ok: false, code: string, message: string }

/** Every change the machine makes (`budget:event`); `index` is the applying entry. */
export type BudgetEvent =
  | { type: 'budget:defined', index: number, name: string, ratePerSecond: number, burst: number, owner: string, created: boolean }
  | { type: 'budget:deleted', index: number, name: string }
  | { type: 'budget:joined', index: number, name: string, host: string, capacity: number, lease: number }
  | { type: 'budget:left', index: number, name: string, host: string, reason: 'leave' | 'lease-ended' }

export interface BudgetEvents extends Record<string, unknown> {
  'budget:event': BudgetEvent
}

/** What the budget machine reads from its neighbours in the mesh application, deterministically. */
export interface BudgetHooks {
  /** The owner peer of a live coordination lease (undefined when it does not exist). */
  leaseOwner?: (lease: number) => string | undefined
  /** True for the economy's authorities (they may change or delete any budget). */
  isAuthority?: (peer: string) => boolean
}

/**
 * The split of a budget among hosts by declared capacity: host i gets `rate × c_i / Σ c` tokens per second
 * and a burst of `max(1, burst × c_i / Σ c)` (the minimum lets every host take one token; the bursts may
 * then add up to a little more than the budget's, at most one token per host). Pure: the machine's views
 * and every peer's local bucket use this one function.
 */
export function splitShare (ratePerSecond: number, burst: number, capacity: number, total: number): { ratePerSecond: number, burst: number } {
  if (!(total > 0) || !(capacity > 0)) return { ratePerSecond: 0, burst: 1 }
  return { ratePerSecond: (ratePerSecond * capacity) / total, burst: Math.max(1, (burst * capacity) / total) }
}
