/**
 * A combinatorial auction solved off the apply path: the digest of the instance a solve was made for,
 * the allocation a settle command carries, and the cheap deterministic checks apply makes on it.
 *
 * - {@link instanceDigest}: sha256 hex of the whole input of {@link combinatorial} (items, reserves, the
 *   limits that bound the search, bids in log order). Equal digests: equal inputs, so equal outcomes
 *   (the solver is deterministic: no clock, no randomness, a node budget instead of a time limit).
 * - {@link solutionOf}: what a settle carries: `{ digest, allocation, prices, welfare }` (bid indices in
 *   ascending order, the price each allocated bid pays, the allocation's welfare).
 * - {@link checkSolution}: digest, shape and feasibility (each bid exists and can win, no item sold twice,
 *   one bid per agent), welfare = Σ values, each price within `[Σ reserves of its items, value]` (the
 *   payment rule's bounds). Linear in the carried allocation plus one hash of the instance.
 * - {@link sameSolution}: the carried solution is the outcome's (allocation, prices, welfare).
 *
 * Optimality cannot be checked cheaply (no short certificate for an integer optimum, nor for each
 * `W(-i)`): the state machine takes its outcome from the solver itself — a replica's own worker result
 * for the same digest, else a solve inside apply — and the carried solution only ever confirms it.
 */
import { createHash } from 'node:crypto'
import type { BundleBid, CombinatorialOutcome, CombinatorialParams } from './combinatorial.js'
import type { AuctionLimits, Outcome } from './types.js'

/** The allocation a settle command carries. */
export interface CarriedSolution {
  /** {@link instanceDigest} of the instance it was solved for. */
  digest: string
  /** Accepted bids (indices into the flattened bids, log order), strictly ascending. */
  allocation: number[]
  /** What each accepted bid pays, in `allocation` order. */
  prices: number[]
  /** Σ values of the accepted bids (0 for no sale). */
  welfare: number
}

const SOLUTION_KEYS = ['digest', 'allocation', 'prices', 'welfare']

/**
 * sha256 hex of everything the outcome of `combinatorial(params, bids, limits)` depends on. That includes
 * whether `reserves` is given at all, not only each item's amount: the no-sale reason says which (with no
 * reserves and with all-zero ones the digests differ, or one auction's worker result would serve another).
 */
export function instanceDigest (params: CombinatorialParams, bids: readonly BundleBid[], limits: AuctionLimits): string {
  const h = createHash('sha256')
  const reserves = params.reserves
  h.update(JSON.stringify(['agora-wdp-2', params.items, reserves === undefined ? null : params.items.map(i => Object.hasOwn(reserves, i) ? reserves[i] : 0),
    [limits.bidsMax, limits.bundleItemsMax, limits.itemsMax, limits.solverNodesMax], bids.length]))
  for (const b of bids) h.update(JSON.stringify([b.agent, b.items, b.value]))
  return h.digest('hex')
}

/** The carried form of an outcome of {@link combinatorial} solved for `digest`. */
export function solutionOf (outcome: CombinatorialOutcome | Outcome, digest: string): CarriedSolution {
  const allocation = 'allocation' in outcome ? (outcome as CombinatorialOutcome).allocation.slice() : []
  return { digest, allocation, prices: outcome.status === 'sold' ? outcome.winners.map(w => w.price) : [], welfare: outcome.welfare ?? 0 }
}

/** True when `s` is the outcome's allocation, prices and welfare. */
export function sameSolution (outcome: CombinatorialOutcome | Outcome, s: CarriedSolution): boolean {
  const own = solutionOf(outcome, s.digest)
  return own.welfare === s.welfare && own.allocation.length === s.allocation.length && own.allocation.every((b, i) => s.allocation[i] === b) &&
    own.prices.length === s.prices.length && own.prices.every((p, i) => s.prices[i] === p)
}

const safeInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v)

/**
 * The cheap checks of a carried solution against the instance (see the file comment). `ok: false` with
 * the first failed check; never throws.
 */
export function checkSolution (params: CombinatorialParams, bids: readonly BundleBid[], raw: unknown, digest: string): { ok: true, solution: CarriedSolution } | { ok: false, reason: string } {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return { ok: false, reason: 'solution must be an object' }
  const s = raw as Record<string, unknown>
  for (const k of Object.keys(s)) if (!SOLUTION_KEYS.includes(k)) return { ok: false, reason: `unexpected field "${k}"` }
  if (s.digest !== digest) return { ok: false, reason: 'digest: solved for another bid set' }
  const { allocation, prices, welfare } = s
  if (!Array.isArray(allocation) || !Array.isArray(prices) || allocation.length !== prices.length) return { ok: false, reason: 'allocation and prices must be arrays of one length' }
  if (allocation.length > bids.length) return { ok: false, reason: 'more accepted bids than bids' }
  if (!safeInt(welfare) || welfare < 0) return { ok: false, reason: 'welfare must be a non-negative safe integer' }
  const reserves = params.reserves
  const reserveOf = (item: string): number => reserves !== undefined && Object.hasOwn(reserves, item) ? reserves[item]! : 0
  const items = new Set<string>()
  const agents = new Set<string>()
  let sum = 0
  let last = -1
  for (let i = 0; i < allocation.length; i++) {
    const b = allocation[i]
    const price = prices[i]
    if (!safeInt(b) || b <= last || b >= bids.length) return { ok: false, reason: `allocation[${i}]: bid indices must be ascending and exist` }
    last = b
    const bid = bids[b]!
    if (agents.has(bid.agent)) return { ok: false, reason: `two accepted bids of one agent (bid ${b})` }
    agents.add(bid.agent)
    let floor = 0
    for (const it of bid.items) {
      if (items.has(it)) return { ok: false, reason: `item ${it} sold twice (bid ${b})` }
      items.add(it)
      floor += reserveOf(it)
    }
    if (bid.value <= 0 || bid.value < floor) return { ok: false, reason: `bid ${b} cannot win (value 0 or below its items' reserves)` }
    if (!safeInt(price) || price < floor || price > bid.value) return { ok: false, reason: `prices[${i}] must be within [${floor}, ${bid.value}] (reserves, bid value)` }
    sum += bid.value
  }
  if (sum !== welfare) return { ok: false, reason: `welfare ${welfare} is not the accepted bids' ${sum}` }
  return { ok: true, solution: { digest, allocation: allocation.slice() as number[], prices: prices.slice() as number[], welfare } }
}
