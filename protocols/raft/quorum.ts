/**
 * Majority quorums over one voter set (the role of etcd/raft's quorum package, without joint
 * configurations): how many voters make a quorum, the index a quorum has acknowledged, and the
 * outcome of an election. Pure functions of their arguments.
 */
import type { NodeId } from './types.js'

/** What a tally of votes says so far. */
export type VoteResult = 'won' | 'lost' | 'pending'

/** Anything that reports the highest log index a voter is known to hold (a `Progress`). */
export interface Acked {
  readonly match: number
}

/** Voters needed for a majority of `voterCount` voters: floor(n/2) + 1. */
export function quorumSize (voterCount: number): number {
  return (voterCount >> 1) + 1
}

// Reused by committedIndex so that the leader's hot path does not allocate. Safe: the function is
// synchronous and never re-entered.
let scratch = new Float64Array(8)

/**
 * The largest index held by a majority of `voters` (the quorum-th largest `match`), or 0 when there
 * are no voters. The caller still applies the commit rule (Figure 8: only an entry of its term).
 */
export function committedIndex (voters: readonly Acked[]): number {
  const n = voters.length
  if (n === 0) return 0
  if (scratch.length < n) scratch = new Float64Array(n * 2)
  const a = scratch
  // Insertion sort, descending (voter sets are small).
  for (let k = 0; k < n; k++) {
    const v = voters[k]!.match
    let j = k - 1
    while (j >= 0 && a[j]! < v) { a[j + 1] = a[j]!; j-- }
    a[j + 1] = v
  }
  return a[quorumSize(n) - 1]!
}

/**
 * The outcome of an election among `voters` given the answers in `votes` (true: granted). Won once a
 * majority granted, lost once so many refused that a majority can no longer grant; answers from
 * non-voters do not count.
 */
export function voteResult (voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  let yes = 0
  let no = 0
  for (const v of voters) {
    const g = votes.get(v)
    if (g === true) yes++
    else if (g === false) no++
  }
  const q = quorumSize(voters.length)
  if (yes >= q) return 'won'
  if (no > voters.length - q) return 'lost'
  return 'pending'
}

/** Whether the voters for which `has` is true form a majority of `voters`. */
export function hasQuorum (voters: readonly NodeId[], has: (id: NodeId) => boolean): boolean {
  let n = 0
  for (const v of voters) if (has(v)) n++
  return n >= quorumSize(voters.length)
}
