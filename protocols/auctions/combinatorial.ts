/**
 * Combinatorial auction with XOR bundle bids (FEATURES E4): exact winner determination by
 * branch-and-bound and VCG payments `p_i = W(-i) − (W − v_i)`.
 *
 * Winner determination maximises the sum of accepted bids' values subject to: each item sold at most
 * once, at most one accepted bid per agent (XOR). Among several optimal allocations the result is the
 * **first one in a fixed depth-first order**, so every replica computes the same allocation (and so the
 * same VCG payments): items in the auction's `items` order; at each node the first undecided item is
 * either given to one of the still-feasible bids containing it, tried in log order, or — last — left
 * unsold. A greedy allocation seeds the search only as a pruning threshold; it never wins a tie against
 * the depth-first order.
 *
 * Solves. W is found by a value-only search (`solveValue`), then a log-ordered search seeded with W
 * fixes the tie-broken allocation. Each `W(-i)` needs only the optimal value, so it uses the value-only
 * search: bids by value, typed arrays, incumbent updated at every node, stopped as soon as it reaches
 * the cap `W` (`W(-i) ≤ W`), seeded with the best of {W's allocation minus i greedily refilled (≥ W − v_i),
 * the best allocation without i from an incumbent pool shared by all solves of the auction, greedy}.
 * Bounds: item prices `π` dual-feasible for the node's LP relaxation, from a starting point (the root
 * LP's optimal duals, computed once per auction by a deterministic dense simplex in IEEE doubles and
 * rounded up) made feasible by one tightening pass in integers; `value + Σπ` bounds the subtree. Any
 * valid bound leaves the depth-first tie-break unchanged, and values (hence payments) are exact, so the
 * outcome is the same as with weaker bounds — only `nodes` differs.
 *
 * Reserves (optional `params.reserves`, per item): a bid qualifies only if `value ≥ Σ reserves of its
 * items`; others never win. A winner pays `max(VCG payment, Σ reserves of its items)`: still ≤ its bid
 * (the VCG payment is ≤ v_i and a qualifying bid is worth at least its reserves), so individually
 * rational, and the seller never gets less than its reserves for the items it sells.
 *
 * The search is bounded by `solverNodesMax` nodes per solve (a deterministic stand-in for a time
 * limit: every replica stops at the same node). If the budget runs out in any solve the best
 * allocation / value found so far is used (always feasible; at worst the greedy one), `exact: false`
 * with a `reason`, and VCG payments are clamped to `[0, v_i]` (then raised to the reserve sum, ≤ v_i).
 */
import { AuctionError } from './errors.js'
import type { Award, AuctionLimits, Outcome } from './types.js'
import { agentId, checkCount, limitsOf, money, noSale, paymentsOf } from './validate.js'

/** One bundle bid. Bids by the same agent are mutually exclusive (XOR). */
export interface BundleBid { agent: string, items: string[], value: number }

export interface CombinatorialParams {
  /** The goods for sale (one unit each), in a fixed order (it defines the search order). */
  items: string[]
  /**
   * Optional per-item reserve prices (non-negative safe integers; items not listed have reserve 0). A
   * bundle bid qualifies only if its value is at least the sum of its items' reserves; other bids are
   * ignored (like value-0 bids). A winner pays `max(VCG payment, sum of its items' reserves)`.
   */
  reserves?: Record<string, number>
}

export interface CombinatorialOutcome extends Outcome {
  /** Indices (into the bids array) of the accepted bids, ascending. */
  allocation: number[]
  /** True when every solve (W and each W(-i)) finished within the node budget. */
  exact: boolean
  /** Search nodes over all solves. */
  nodes: number
}

interface Problem {
  nItems: number
  bidItems: number[][]
  value: number[]
  agent: number[]
  nAgents: number
  /** Bids containing each item, log order. */
  bidsOf: number[][]
  density: number[]
  /** Bid can win: value > 0 and value >= the sum of its items' reserves. */
  live: boolean[]
  /** Sum of the reserves of the bid's items. */
  reserveSum: number[]
}

interface SolveResult { value: number, chosen: number[], exact: boolean, nodes: number }

function buildProblem (params: CombinatorialParams, bids: BundleBid[], lim: AuctionLimits): { p: Problem, agents: string[] } {
  if (!Array.isArray(params?.items) || params.items.length === 0) throw new AuctionError('ERR_INVALID_AUCTION', 'items must be a non-empty array')
  if (params.items.length > lim.itemsMax) throw new AuctionError('ERR_LIMIT_EXCEEDED', `items exceed itemsMax (${params.items.length} > ${lim.itemsMax})`, { limit: 'itemsMax', max: lim.itemsMax })
  const itemIx = new Map<string, number>()
  params.items.forEach((it, i) => {
    if (typeof it !== 'string' || it.length === 0) throw new AuctionError('ERR_INVALID_AUCTION', 'item names must be non-empty strings')
    if (itemIx.has(it)) throw new AuctionError('ERR_INVALID_AUCTION', `duplicate item ${it}`)
    itemIx.set(it, i)
  })
  if (!Array.isArray(bids)) throw new AuctionError('ERR_INVALID_BID', 'bids must be an array')
  checkCount(bids.length, lim)
  const agentIx = new Map<string, number>()
  const agents: string[] = []
  const reserve = reservesOf(params, itemIx)
  const p: Problem = { nItems: params.items.length, bidItems: [], value: [], agent: [], nAgents: 0, bidsOf: params.items.map(() => []), density: [], live: [], reserveSum: [] }
  let total = 0
  bids.forEach((b, bi) => {
    const a = agentId(b?.agent)
    const v = money(b?.value, 'value', 'ERR_INVALID_BID')
    if (!Array.isArray(b.items) || b.items.length === 0) throw new AuctionError('ERR_INVALID_BID', `bid ${bi}: empty bundle`, { bid: bi })
    if (b.items.length > lim.bundleItemsMax) throw new AuctionError('ERR_LIMIT_EXCEEDED', `bid ${bi}: bundle exceeds bundleItemsMax`, { limit: 'bundleItemsMax', max: lim.bundleItemsMax, bid: bi })
    const ix: number[] = []
    for (const it of b.items) {
      const k = typeof it === 'string' ? itemIx.get(it) : undefined
      if (k === undefined) throw new AuctionError('ERR_INVALID_BID', `bid ${bi}: unknown item ${String(it)}`, { bid: bi })
      if (ix.includes(k)) throw new AuctionError('ERR_INVALID_BID', `bid ${bi}: duplicate item ${it}`, { bid: bi })
      ix.push(k)
    }
    ix.sort((x, y) => x - y)
    total += v
    if (!Number.isSafeInteger(total)) throw new AuctionError('ERR_INVALID_AUCTION', 'sum of bid values exceeds safe integers')
    let ai = agentIx.get(a)
    if (ai === undefined) { ai = agents.length; agentIx.set(a, ai); agents.push(a) }
    p.bidItems.push(ix)
    p.value.push(v)
    p.agent.push(ai)
    p.density.push(Math.ceil(v / ix.length))
    let r = 0
    for (const k of ix) r += reserve[k]!
    const live = v > 0 && v >= r // value-0 and below-reserve bids never win
    p.live.push(live)
    p.reserveSum.push(r)
    if (live) for (const k of ix) p.bidsOf[k]!.push(bi)
  })
  p.nAgents = agents.length
  return { p, agents }
}

/** Per-item reserves (0 when absent) from `params.reserves`; unknown items and bad amounts are rejected. */
function reservesOf (params: CombinatorialParams, itemIx: Map<string, number>): number[] {
  const out = new Array<number>(itemIx.size).fill(0)
  if (params.reserves === undefined) return out
  if (params.reserves === null || typeof params.reserves !== 'object' || Array.isArray(params.reserves)) throw new AuctionError('ERR_INVALID_AUCTION', 'reserves must be an object of item -> amount')
  let total = 0
  for (const [it, amount] of Object.entries(params.reserves)) {
    const k = itemIx.get(it)
    if (k === undefined) throw new AuctionError('ERR_INVALID_AUCTION', `reserve for unknown item ${it}`)
    out[k] = money(amount, `reserve of ${it}`, 'ERR_INVALID_AUCTION')
    total += out[k]
    if (!Number.isSafeInteger(total)) throw new AuctionError('ERR_INVALID_AUCTION', 'sum of reserves exceeds safe integers')
  }
  return out
}

/** Greedy: from the feasible `start`, add bids by value descending, log order on ties; a feasible seed. */
function greedy (p: Problem, excludedAgent: number, start: number[] = []): { value: number, chosen: number[] } {
  const order = p.value.map((_, i) => i).filter(i => p.live[i] === true && p.agent[i] !== excludedAgent).sort((a, b) => p.value[b]! - p.value[a]! || a - b)
  const taken = new Uint8Array(p.nItems)
  const used = new Uint8Array(p.nAgents)
  const chosen: number[] = start.slice()
  let value = 0
  for (const b of start) {
    for (const k of p.bidItems[b]!) taken[k] = 1
    used[p.agent[b]!] = 1
    value += p.value[b]!
  }
  for (const b of order) {
    if (used[p.agent[b]!] === 1 || p.bidItems[b]!.some(k => taken[k] === 1)) continue
    for (const k of p.bidItems[b]!) taken[k] = 1
    used[p.agent[b]!] = 1
    chosen.push(b)
    value += p.value[b]!
  }
  return { value, chosen }
}

/**
 * Strict-dominance pruning (exact): a bid `b` is in no optimal allocation if the best single-item bids
 * on its items, each from an agent with no other bid, are worth strictly more in total than `b` —
 * swapping them in for `b` is feasible and strictly better. Dropping such bids changes neither the
 * set of optimal allocations nor their depth-first order. Returns the surviving bids per item.
 */
function prune (p: Problem, excludedAgent: number): number[][] {
  const bidsPerAgent = new Int32Array(p.nAgents)
  for (let b = 0; b < p.value.length; b++) if (p.live[b] === true) bidsPerAgent[p.agent[b]!]!++
  const single = new Array<number>(p.nItems).fill(0)
  for (let b = 0; b < p.value.length; b++) {
    const a = p.agent[b]!
    if (p.live[b] === true && p.bidItems[b]!.length === 1 && a !== excludedAgent && bidsPerAgent[a] === 1) {
      const k = p.bidItems[b]![0]!
      if (p.value[b]! > single[k]!) single[k] = p.value[b]!
    }
  }
  const alive = p.value.map((v, b) => {
    if (p.live[b] !== true || p.agent[b] === excludedAgent) return false
    let s = 0
    for (const k of p.bidItems[b]!) s += single[k]!
    return s <= v
  })
  return p.bidsOf.map(list => list.filter(b => alive[b]))
}

/**
 * Exact WDP by item-branching depth-first branch-and-bound. `excludedAgent` (or -1) removes that
 * agent's bids (for W(-i)). `seed` is a known feasible value (pruning only); with `tieToDfs` a search
 * leaf equal to the seed value replaces it (so the DFS-first optimum is returned). `valueOrder` tries
 * bids by value instead of log order: faster to a good incumbent, used when only the value matters.
 */
function solve (p: Problem, excludedAgent: number, seed: { value: number, chosen: number[] }, tieToDfs: boolean, nodesMax: number, valueOrder = false): SolveResult {
  const n = p.nItems
  const bidsOf = prune(p, excludedAgent)
  if (valueOrder) for (const l of bidsOf) l.sort((a, b) => p.value[b]! - p.value[a]! || a - b)
  const blocked = new Int32Array(p.value.length) // items of the bid taken or left unsold
  const agentUsed = new Uint8Array(p.nAgents)
  const decided = new Uint8Array(n)
  if (excludedAgent >= 0) agentUsed[excludedAgent] = 1
  let best = seed.value
  let bestChosen = seed.chosen.slice()
  let fromSeed = tieToDfs
  let nodes = 0
  let exhausted = false
  const stack: number[] = []
  let value = 0

  const feasible = (b: number): boolean => blocked[b] === 0 && agentUsed[p.agent[b]!] === 0
  const decide = (k: number, d: number): void => {
    decided[k] = d === 1 ? 1 : 0
    for (const b of bidsOf[k]!) blocked[b]! += d
  }

  // Upper bound: a feasible solution of the LP dual on the undecided items (item prices pi with
  // sum over each feasible bid's items >= its value), so sum(pi) >= the subproblem's optimum.
  // Start from ceil(value / |bundle|) per item, then one pass lowers each price to the largest
  // residual it must cover. All integer.
  const pi = new Float64Array(n)
  const bound = (from: number): number => {
    let s = value
    for (let k = from; k < n; k++) {
      if (decided[k] === 1) continue
      let m = 0
      for (const b of bidsOf[k]!) if (feasible(b) && p.density[b]! > m) m = p.density[b]!
      pi[k] = m
    }
    for (let k = from; k < n; k++) {
      if (decided[k] === 1) continue
      let m = 0
      for (const b of bidsOf[k]!) {
        if (!feasible(b)) continue
        let r = p.value[b]!
        for (const j of p.bidItems[b]!) if (j !== k) r -= pi[j]!
        if (r > m) m = r
      }
      pi[k] = m
      s += m
    }
    return s
  }

  const dfs = (from: number): void => {
    if (exhausted) return
    if (++nodes > nodesMax) { exhausted = true; return }
    let t = from
    while (t < n && decided[t] === 1) t++
    if (t === n) {
      if (value > best || (value === best && fromSeed)) { best = value; bestChosen = stack.slice(); fromSeed = false }
      return
    }
    const ub = bound(t)
    if (ub < best || (ub === best && !fromSeed)) return
    for (const b of bidsOf[t]!) {
      if (!feasible(b)) continue
      for (const k of p.bidItems[b]!) decide(k, 1)
      agentUsed[p.agent[b]!] = 1
      value += p.value[b]!
      stack.push(b)
      dfs(t + 1)
      stack.pop()
      value -= p.value[b]!
      agentUsed[p.agent[b]!] = 0
      for (const k of p.bidItems[b]!) decide(k, -1)
      if (exhausted) return
    }
    decide(t, 1)
    dfs(t + 1)
    decide(t, -1)
  }
  dfs(0)
  return { value: best, chosen: bestChosen.sort((a, b) => a - b), exact: !exhausted, nodes: Math.min(nodes, nodesMax) }
}

/**
 * Value-only exact solve for `W(-i)` (VCG needs the optimal welfare without agent i, not which optimal
 * allocation the tie-break picks, so any search order is allowed). Differences from `solve`:
 * - bids are tried by value, descending; undecided items without a feasible bid are skipped (a node
 *   whose items all have none is a leaf);
 * - every node is a feasible partial allocation, so the incumbent improves at any node, not only leaves;
 * - `cap` is a known upper bound on the optimum (`W` for `W(-i)`): reaching it stops the search, and a
 *   seed already at the cap needs no search at all;
 * - typed arrays only in the inner loop.
 * Same node accounting and budget as `solve`: when the budget runs out the best value found so far (at
 * least the seed's, feasible) is returned with `exact: false`.
 */
function solveValue (p: Problem, excludedAgent: number, seed: { value: number, chosen: number[] }, cap: number, nodesMax: number, pool?: Pool, start?: Float64Array): SolveResult {
  const n = p.nItems
  if (seed.value >= cap) return { value: seed.value, chosen: seed.chosen.slice().sort((a, b) => a - b), exact: true, nodes: 0 }
  const lists = prune(p, excludedAgent)
  for (const l of lists) l.sort((a, b) => p.value[b]! - p.value[a]! || a - b)
  const itemStart = new Int32Array(n + 1)
  for (let k = 0; k < n; k++) itemStart[k + 1] = itemStart[k]! + lists[k]!.length
  const itemBid = new Int32Array(itemStart[n]!)
  for (let k = 0; k < n; k++) itemBid.set(lists[k]!, itemStart[k]!)
  const nBids = p.value.length
  const bidStart = new Int32Array(nBids + 1)
  for (let b = 0; b < nBids; b++) bidStart[b + 1] = bidStart[b]! + p.bidItems[b]!.length
  const bidItem = new Int32Array(bidStart[nBids]!)
  for (let b = 0; b < nBids; b++) bidItem.set(p.bidItems[b]!, bidStart[b]!)
  const val = Float64Array.from(p.value)
  const dens = Float64Array.from(p.density)
  const agentOf = Int32Array.from(p.agent)
  const blocked = new Int32Array(nBids)
  const agentUsed = new Uint8Array(p.nAgents)
  if (excludedAgent >= 0) agentUsed[excludedAgent] = 1
  const decided = new Uint8Array(n)
  const pi = new Float64Array(n)
  const cnt = new Int32Array(n)
  const stack = new Int32Array(n)
  let depth = 0
  let value = 0
  let best = seed.value
  let bestChosen = seed.chosen.slice()
  let nodes = 0
  let exhausted = false
  let done = false
  let branch = -1

  const setDecided = (k: number, d: number): void => {
    decided[k] = d === 1 ? 1 : 0
    for (let x = itemStart[k]!; x < itemStart[k + 1]!; x++) blocked[itemBid[x]!]! += d
  }
  const take = (b: number, d: number): void => {
    for (let x = bidStart[b]!; x < bidStart[b + 1]!; x++) setDecided(bidItem[x]!, d)
    agentUsed[agentOf[b]!] = d === 1 ? 1 : 0
    value += d * val[b]!
  }
  // The same LP-dual bound as `solve` (densities, then one tightening pass). Also sets `branch`: the
  // first undecided item that still has a feasible bid (items with none are effectively unsold).
  const bound = (): number => {
    branch = -1
    for (let k = 0; k < n; k++) {
      if (decided[k] === 1) continue
      let m = 0
      let c = 0
      for (let x = itemStart[k]!; x < itemStart[k + 1]!; x++) {
        const b = itemBid[x]!
        if (blocked[b] !== 0 || agentUsed[agentOf[b]!] !== 0) continue
        c++
        if (dens[b]! > m) m = dens[b]!
      }
      pi[k] = start === undefined ? m : start[k]!
      cnt[k] = c
      if (c > 0 && branch < 0) branch = k
    }
    let s = value
    for (let k = 0; k < n; k++) {
      if (decided[k] === 1 || cnt[k] === 0) continue
      let m = 0
      for (let x = itemStart[k]!; x < itemStart[k + 1]!; x++) {
        const b = itemBid[x]!
        if (blocked[b] !== 0 || agentUsed[agentOf[b]!] !== 0) continue
        let r = val[b]!
        for (let y = bidStart[b]!; y < bidStart[b + 1]!; y++) if (bidItem[y] !== k) r -= pi[bidItem[y]!]!
        if (r > m) m = r
      }
      pi[k] = m
      s += m
    }
    return s
  }

  const dfs = (): void => {
    if (++nodes > nodesMax) { exhausted = true; return }
    if (value > best) {
      best = value
      bestChosen = Array.from(stack.subarray(0, depth))
      pool?.add(best, bestChosen)
      if (best >= cap) { done = true; return }
    }
    const ub = bound()
    if (branch < 0 || ub <= best) return
    const t = branch
    for (let x = itemStart[t]!; x < itemStart[t + 1]!; x++) {
      const b = itemBid[x]!
      if (blocked[b] !== 0 || agentUsed[agentOf[b]!] !== 0) continue
      take(b, 1)
      stack[depth++] = b
      dfs()
      depth--
      take(b, -1)
      if (exhausted || done) return
    }
    setDecided(t, 1)
    dfs()
    setDecided(t, -1)
  }
  dfs()
  return { value: best, chosen: bestChosen.sort((a, b) => a - b), exact: !exhausted, nodes: Math.min(nodes, nodesMax) }
}

/** Simplex pivots allowed for the root LP (a named limit; stopping early only weakens the bound). */
const LP_PIVOTS_MAX = 5000
/** Largest dense simplex tableau (items × (live bids + items) cells); above it the bound starts from densities. */
const LP_CELLS_MAX = 2_000_000

/**
 * Item prices from the root LP relaxation `max Σ v_b x_b, Σ_{b∋k} x_b ≤ 1, x ≥ 0` (dense primal
 * simplex, Dantzig's rule, lowest index on ties; IEEE double arithmetic only, so every replica computes
 * the same prices), rounded up to integers. They are only a starting point: the bound's tightening pass
 * makes any starting prices dual-feasible for the node's subproblem, so precision never affects
 * correctness, only how tight the bound is. With the optimal LP duals the root bound is the LP value.
 * Values are scaled by the largest one (so the tolerances are relative). Undefined (use densities)
 * when the tableau would exceed `LP_CELLS_MAX` cells or there is no qualifying bid.
 */
function lpPrices (p: Problem): Float64Array | undefined {
  const m = p.nItems
  const cols: number[] = []
  let vmax = 0
  for (let b = 0; b < p.value.length; b++) if (p.live[b] === true) { cols.push(b); vmax = Math.max(vmax, p.value[b]!) }
  const n = cols.length
  const w = n + m
  if (n === 0 || m * w > LP_CELLS_MAX) return undefined
  const t = new Float64Array(m * w)
  // Right-hand sides 1 + (k + 1)·2^-20: a fixed perturbation against degenerate cycling (the LP has
  // all-1 capacities, so it is highly degenerate); it only moves the duals' starting point.
  const rhs = new Float64Array(m)
  for (let k = 0; k < m; k++) rhs[k] = 1 + (k + 1) / 1048576
  const z = new Float64Array(w)
  const basis = new Int32Array(m)
  cols.forEach((b, j) => { for (const k of p.bidItems[b]!) t[k * w + j] = 1; z[j] = -p.value[b]! / vmax })
  for (let k = 0; k < m; k++) { t[k * w + n + k] = 1; basis[k] = n + k }
  const eps = 1e-9
  for (let it = 0; it < LP_PIVOTS_MAX; it++) {
    let e = -1
    let most = -eps
    for (let j = 0; j < w; j++) if (z[j]! < most) { most = z[j]!; e = j }
    if (e < 0) break
    let r = -1
    let ratio = Infinity
    for (let k = 0; k < m; k++) {
      const a = t[k * w + e]!
      if (a > eps && rhs[k]! / a < ratio - eps) { ratio = rhs[k]! / a; r = k }
    }
    if (r < 0) break // unbounded cannot happen (x_b <= 1); defensive
    const pv = t[r * w + e]!
    for (let j = 0; j < w; j++) t[r * w + j]! /= pv
    rhs[r]! /= pv
    for (let k = 0; k < m; k++) {
      if (k === r) continue
      const f = t[k * w + e]!
      if (f === 0) continue
      for (let j = 0; j < w; j++) t[k * w + j]! -= f * t[r * w + j]!
      rhs[k]! -= f * rhs[r]!
    }
    const f = z[e]!
    for (let j = 0; j < w; j++) z[j]! -= f * t[r * w + j]!
    basis[r] = e
  }
  const pi = new Float64Array(m)
  for (let k = 0; k < m; k++) pi[k] = Math.max(0, Math.ceil(z[n + k]! * vmax - 1e-6 * vmax))
  return pi
}

/** Most allocations kept in the incumbent pool shared by the W and W(-i) solves of one auction. */
const POOL_MAX = 256

/**
 * Incumbent pool: every improving allocation found by the value-only solves of one auction, best first
 * (equal values: earlier first), at most `POOL_MAX`. Seeds later W(-i) solves: the best pooled
 * allocation without agent i is feasible for W(-i), often optimal there (near-optimal alternatives tend
 * to avoid several winners), and a good seed is what makes the bound prune. Seeds never change values.
 */
class Pool {
  readonly entries: Array<{ value: number, chosen: number[] }> = []
  add (value: number, chosen: number[]): void {
    let at = this.entries.length
    while (at > 0 && this.entries[at - 1]!.value < value) at--
    if (at >= POOL_MAX) return
    this.entries.splice(at, 0, { value, chosen })
    if (this.entries.length > POOL_MAX) this.entries.pop()
  }

  /** The best pooled allocation with no bid of `agent`, or undefined. */
  bestWithout (p: Problem, agent: number): number[] | undefined {
    return this.entries.find(e => e.chosen.every(b => p.agent[b] !== agent))?.chosen
  }
}

/** Optimal welfare (and the deterministic allocation) for the given bids, without payments. */
export function winnerDetermination (params: CombinatorialParams, bids: BundleBid[], limits?: Partial<AuctionLimits>): SolveResult {
  const lim = limitsOf(limits)
  const { p } = buildProblem(params, bids, lim)
  return solveDeterministic(p, lim.solverNodesMax, lpPrices(p))
}

/**
 * Two passes: a value-ordered search finds the optimum W fast; a log-ordered search seeded with W (ties
 * go to the search) then returns the first optimal allocation in the documented depth-first order.
 * The node budget is shared; if either pass runs out, the best allocation found is returned, inexact.
 */
function solveDeterministic (p: Problem, nodesMax: number, rootPi: Float64Array | undefined, pool?: Pool): SolveResult {
  const first = solveValue(p, -1, greedy(p, -1), Infinity, nodesMax, pool, rootPi)
  if (!first.exact) return first
  const second = solve(p, -1, first, true, Math.max(nodesMax - first.nodes, 1))
  const nodes = first.nodes + second.nodes
  if (!second.exact) return { ...first, exact: false, nodes }
  return { ...second, nodes }
}

/**
 * Check a proposed allocation (bid indices): items disjoint, at most one bid per agent. Returns its
 * welfare, or an error string. For the "solve outside the state machine, commit the allocation" path.
 */
export function checkAllocation (params: CombinatorialParams, bids: BundleBid[], allocation: number[]): { ok: true, welfare: number } | { ok: false, reason: string } {
  const items = new Set<string>()
  const agents = new Set<string>()
  const known = new Set(params.items)
  let welfare = 0
  for (const i of allocation) {
    const b = bids[i]
    if (b === undefined) return { ok: false, reason: `no bid ${i}` }
    if (agents.has(b.agent)) return { ok: false, reason: `two bids of ${b.agent}` }
    agents.add(b.agent)
    for (const it of b.items) {
      if (!known.has(it)) return { ok: false, reason: `unknown item ${it}` }
      if (items.has(it)) return { ok: false, reason: `item ${it} allocated twice` }
      items.add(it)
    }
    welfare += b.value
  }
  return { ok: true, welfare }
}

/**
 * Run the auction: deterministic exact winner determination, then VCG payments
 * `p_i = W(-i) − (W − v_i)` where `W(-i)` is the optimum without any of agent i's bids. Payments are
 * integers (all inputs are). Winners in log order of their accepted bid. No positive bid: no-sale.
 */
export function combinatorial (params: CombinatorialParams, bids: BundleBid[], limits?: Partial<AuctionLimits>): CombinatorialOutcome {
  const lim = limitsOf(limits)
  const { p, agents } = buildProblem(params, bids, lim)
  const pool = new Pool()
  const rootPi = lpPrices(p)
  const main = solveDeterministic(p, lim.solverNodesMax, rootPi, pool)
  let nodes = main.nodes
  let exact = main.exact
  if (main.chosen.length === 0) return { ...noSale(params.reserves === undefined ? 'no positive bid' : 'no positive bid at or above the sum of its items\' reserves'), allocation: [], exact, nodes }
  const winners: Award[] = []
  for (const b of main.chosen) {
    const ai = p.agent[b]!
    const vi = p.value[b]!
    // Seed W(-i) with the best of: the main allocation minus i, greedily refilled (value >= W - v_i);
    // the best pooled allocation without i, refilled; plain greedy. All feasible without i.
    let seed = greedy(p, ai, main.chosen.filter(x => x !== b))
    const pooled = pool.bestWithout(p, ai)
    for (const c of [greedy(p, ai), ...(pooled === undefined ? [] : [greedy(p, ai, pooled)])]) if (c.value > seed.value) seed = c
    // W(-i) <= W when W is exact (removing bids cannot raise the optimum); otherwise no cap.
    const r = solveValue(p, ai, seed, main.exact ? main.value : Infinity, lim.solverNodesMax, pool, rootPi)
    nodes += r.nodes
    exact &&= r.exact
    // Reserve rule: pay at least the awarded items' reserves. Still <= v_i (a qualifying bid is worth at
    // least its reserves, and the clamped VCG payment is <= v_i), so individually rational.
    const pay = Math.max(Math.min(Math.max(r.value - (main.value - vi), 0), vi), p.reserveSum[b]!)
    winners.push({ agent: agents[ai]!, items: p.bidItems[b]!.map(k => params.items[k]!), quantity: 1, price: pay })
  }
  const out: CombinatorialOutcome = {
    status: 'sold',
    winners,
    payments: paymentsOf(winners),
    clearingPrice: null,
    quantity: winners.length,
    welfare: main.value,
    allocation: main.chosen,
    exact,
    nodes
  }
  if (!exact) out.reason = 'solverNodesMax reached: best allocation found so far (feasible, possibly not optimal); payments clamped to [0, v_i]'
  return out
}
