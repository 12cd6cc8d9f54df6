/**
 * Combinatorial settles off the apply path: a deferred close freezes the bids, a worker solves them, and
 * `auction.settle` carries the solution. The outcome must be the synchronous solve's on every replica,
 * whatever was carried and whether or not a replica has its worker result.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { combinatorial, type BundleBid, type CombinatorialOutcome } from '../../protocols/auctions/combinatorial.js'
import { checkSolution, instanceDigest, solutionOf, type CarriedSolution } from '../../protocols/auctions/solution.js'
import { DEFAULT_AUCTION_LIMITS } from '../../protocols/auctions/types.js'
import { Economy, combinatorialInput, type MarketResult } from '../../protocols/market/index.js'
import { MeshApplication, encodeEconCommand } from '../../protocols/mesh/application.js'
import { SettleSolver, SolvePool } from '../../peers/economy/settle-solver.js'
import { PeerEconomy } from '../../peers/economy/economy.js'
import { IndefiniteError } from '../../protocols/raft/errors.js'
import { createLogger } from '../../src/base/log.js'
import { waitUntil } from '../helpers/wait.js'
import { createRand, type Rand } from '../../src/base/prng.js'
import { bundleInstance } from '../bench/auction-instances.js'
import { seedMessage, testSeed } from '../helpers/seed.js'

const pools: SolvePool[] = []
afterAll(async () => { for (const p of pools.splice(0)) await p.stop() })
function pool (o: ConstructorParameters<typeof SolvePool>[0] = {}): SolvePool {
  const p = new SolvePool(o)
  pools.push(p)
  return p
}

/** A peer's economy with no agents or hosts around it (its backend is set by the test). */
function lonePeer (): PeerEconomy {
  return new PeerEconomy({
    ask: async () => { throw new Error('no hosts here') },
    self: 'ps',
    log: createLogger('silent'),
    query: () => ({ agents: [] }),
    lookup: () => undefined,
    claims: () => [],
    isMember: () => true
  })
}

/** A random auction: items, reserves (sometimes), one bid per agent with 1–3 XOR bundles, small values (ties). */
function instance (r: Rand): { items: string[], reserves: Record<string, number> | undefined, bids: Array<{ agent: string, bundles: Array<{ items: string[], value: number }> }> } {
  const nItems = 2 + r.int(10)
  const items = Array.from({ length: nItems }, (_, i) => `i${i}`)
  const reserves = r.chance(0.3) ? Object.fromEntries(items.filter(() => r.chance(0.5)).map(i => [i, r.int(4)])) : undefined
  const nAgents = 1 + r.int(25)
  const bids = Array.from({ length: nAgents }, (_, a) => ({
    agent: `a${a}`,
    bundles: Array.from({ length: 1 + r.int(3) }, () => {
      const k = 1 + r.int(Math.min(4, nItems))
      const set = new Set<string>()
      while (set.size < k) set.add(r.pick(items))
      return { items: [...set], value: r.int(3) === 0 ? r.int(3) : k * (1 + r.int(8)) }
    })
  }))
  return { items, reserves, bids }
}

/** An economy with the auction open and every bid placed (`close` not yet sent). */
class Book {
  e = new Economy({ authorities: ['op'] })
  index = 0
  at = 1000
  run (origin: string, cmd: Record<string, unknown>): MarketResult {
    const r = this.e.apply(cmd, ++this.index, { origin, at: ++this.at })
    const bad = this.e.invariants()
    if (bad.length > 0) throw new Error(`invariants broken after ${String(cmd.type)}: ${bad.join('; ')}`)
    return r
  }

  ok (origin: string, cmd: Record<string, unknown>): Record<string, unknown> {
    const r = this.run(origin, cmd)
    if (!r.ok) throw new Error(`${String(cmd.type)} failed: ${r.code} ${r.message}`)
    return r
  }

  static with (inst: ReturnType<typeof instance>): Book {
    const b = new Book()
    b.ok('op', { type: 'mint', by: 'treasury', account: 'seller', owner: 'ps', amount: 1 })
    b.ok('ps', { type: 'auction.open', by: 'seller', auction: { id: 'c', mechanism: 'combinatorial', items: inst.items, durationMs: 1_000_000, ...(inst.reserves !== undefined ? { reserves: inst.reserves } : {}) } })
    for (const bid of inst.bids) {
      b.ok('op', { type: 'mint', by: 'treasury', account: bid.agent, owner: 'pb', amount: 1000 })
      // A bundle below its items' reserves is refused at bidding: keep those that qualify.
      const bundles = bid.bundles.filter(x => x.items.reduce((s, i) => s + (inst.reserves?.[i] ?? 0), 0) <= x.value)
      if (bundles.length > 0) b.ok('pb', { type: 'auction.bid', by: bid.agent, auction: 'c', bid: { bundles } })
    }
    return b
  }

  /** What a settle leaves behind: the auction's outcome and every account's balances. */
  view (): unknown {
    const a = this.e.auction('c')!
    return { status: a.status, outcome: a.outcome, accounts: this.e.accountIds().map(id => { const v = this.e.account(id)!; return [id, v.free, v.escrow, v.staked] }) }
  }
}

/** Hostile variants of a correct solution that still pass the cheap checks when they can. */
function hostile (r: Rand, sol: CarriedSolution, bids: BundleBid[]): CarriedSolution[] {
  const out: CarriedSolution[] = []
  if (sol.allocation.length > 0) {
    // Drop a winner: feasible, lower welfare.
    const drop = r.int(sol.allocation.length)
    const allocation = sol.allocation.filter((_, i) => i !== drop)
    out.push({ ...sol, allocation, prices: sol.prices.filter((_, i) => i !== drop), welfare: sol.welfare - bids[sol.allocation[drop]!]!.value })
    // Everyone pays the floor (0 without reserves) instead of its VCG price.
    out.push({ ...sol, prices: sol.prices.map(() => 0) })
    // Everyone pays its whole bid.
    out.push({ ...sol, prices: sol.allocation.map(b => bids[b]!.value) })
  }
  // A single bid alone.
  const live = bids.findIndex(b => b.value > 0)
  if (live >= 0) out.push({ digest: sol.digest, allocation: [live], prices: [bids[live]!.value], welfare: bids[live]!.value })
  out.push({ digest: sol.digest, allocation: [], prices: [], welfare: 0 })
  return out
}

describe('combinatorial settle off the apply path', () => {
  it('worker solves equal the synchronous solve on many random instances (and on 50 goods × 1,000 bids)', async () => {
    const p = pool({ workersMax: 2 })
    const base = testSeed(17_001)
    for (let k = 0; k < 60; k++) {
      const seed = base + k
      const inst = instance(createRand(seed))
      const { params, bids } = combinatorialInput({ id: 'c', mechanism: 'combinatorial', items: inst.items, durationMs: 1, ...(inst.reserves !== undefined ? { reserves: inst.reserves } : {}) }, inst.bids.map(b => ({ agent: b.agent, bid: { bundles: b.bundles } })))
      const limits = { ...DEFAULT_AUCTION_LIMITS }
      expect(await p.solve({ params, bids, limits }), seedMessage(seed)).toEqual(combinatorial(params, bids, limits))
    }
    const big = bundleInstance(3, 50, 1000)
    expect(await p.solve({ params: { items: big.items }, bids: big.bids, limits: { ...DEFAULT_AUCTION_LIMITS } })).toEqual(combinatorial({ items: big.items }, big.bids))
    expect(p.stats).toMatchObject({ solved: 61, failed: 0, timedOut: 0 })
  })

  it('a deferred settle ends exactly like the synchronous close, with the right, a hostile, or no carried solution, with or without a worker result', async () => {
    const solver = new SettleSolver(pool())
    const base = testSeed(29_001)
    let replaced = 0
    for (let k = 0; k < 40; k++) {
      const seed = base + k
      const r = createRand(seed)
      const inst = instance(r)
      const sync = Book.with(inst)
      sync.ok('ps', { type: 'auction.close', by: 'seller', auction: 'c' })
      const expected = sync.view()

      const probe = Book.with(inst)
      const closed = probe.ok('ps', { type: 'auction.close', by: 'seller', auction: 'c', settle: 'deferred' })
      expect(closed.status).toBe('closed')
      const digest = closed.digest as string
      const { params, bids } = combinatorialInput(probe.e.auction('c')!.spec, probe.e.auction('c')!.bids)
      const right = solutionOf(await solver.solve(digest, { params, bids, limits: probe.e.auctionLimits }), digest)
      const candidates = [right, ...hostile(r, right, bids), undefined]
      for (const [ci, carried] of candidates.entries()) {
        for (const withWorker of [true, false]) {
          const b = Book.with(inst)
          b.ok('ps', { type: 'auction.close', by: 'seller', auction: 'c', settle: 'deferred' })
          if (withWorker) b.e.solutionLookup = (d) => solver.lookup(d)
          const res = b.run('pb', { type: 'auction.settle', by: 'a0', auction: 'c', ...(carried !== undefined ? { solution: carried } : {}) })
          const what = `${seedMessage(seed)}; candidate ${ci}, worker ${String(withWorker)}`
          if (!res.ok) {
            // Refused by the cheap checks: nothing changed, and the right solution then settles it.
            expect(res.code, what).toBe('ERR_INVALID_SOLUTION')
            expect(checkSolution(params, bids, carried, digest).ok, what).toBe(false)
            expect(b.e.auction('c')!.status, what).toBe('closed')
            b.ok('pb', { type: 'auction.settle', by: 'a0', auction: 'c', solution: right })
          } else if (carried !== undefined) {
            expect(res.solution, what).toBe(ci === 0 ? 'verified' : JSON.stringify(carried) === JSON.stringify(right) ? 'verified' : 'replaced')
            if (res.solution === 'replaced') replaced++
          }
          expect(b.view(), what).toEqual(expected)
          expect(withWorker ? b.e.solveStats.fromWorker : b.e.solveStats.inApply, what).toBeGreaterThan(0)
        }
      }
    }
    // The hostile solutions did reach the solver's comparison (not all refused by the cheap checks).
    expect(replaced).toBeGreaterThan(20)
  })

  it('the cheap checks refuse another bid set, an infeasible allocation, wrong welfare and prices outside the rule', () => {
    const bids: BundleBid[] = [
      { agent: 'x', items: ['A', 'B'], value: 10 },
      { agent: 'y', items: ['A'], value: 6 },
      { agent: 'z', items: ['B'], value: 5 },
      { agent: 'y', items: ['B'], value: 4 },
      { agent: 'w', items: ['B'], value: 0 }
    ]
    const params = { items: ['A', 'B'], reserves: { A: 2 } }
    const digest = instanceDigest(params, bids, DEFAULT_AUCTION_LIMITS)
    const o = combinatorial(params, bids)
    const right = solutionOf(o, digest)
    expect(right).toEqual({ digest, allocation: [1, 2], prices: [5, 4], welfare: 11 })
    expect(checkSolution(params, bids, right, digest)).toEqual({ ok: true, solution: right })
    const reason = (s: unknown): string => { const c = checkSolution(params, bids, s, digest); return c.ok ? 'ok' : c.reason }
    expect(reason({ ...right, digest: instanceDigest(params, bids.slice(1), DEFAULT_AUCTION_LIMITS) })).toMatch(/another bid set/)
    expect(instanceDigest(params, bids, { ...DEFAULT_AUCTION_LIMITS, solverNodesMax: 5 })).not.toBe(digest)
    expect(reason({ ...right, allocation: [0, 1], welfare: 16 })).toMatch(/item A sold twice/)
    expect(reason({ ...right, allocation: [1, 3], welfare: 10 })).toMatch(/two accepted bids of one agent/)
    expect(reason({ ...right, allocation: [2, 1] })).toMatch(/ascending/)
    expect(reason({ ...right, allocation: [1, 9] })).toMatch(/ascending and exist/)
    expect(reason({ ...right, allocation: [1, 4], welfare: 6 })).toMatch(/cannot win/)
    expect(reason({ ...right, welfare: 12 })).toMatch(/welfare 12/)
    expect(reason({ ...right, prices: [1, 4] })).toMatch(/within \[2, 6\]/)
    expect(reason({ ...right, prices: [5, 6] })).toMatch(/within \[0, 5\]/)
    expect(reason({ ...right, prices: [5] })).toMatch(/one length/)
    expect(reason({ ...right, extra: 1 })).toMatch(/unexpected field/)
    expect(reason('x')).toMatch(/object/)
  })

  it('commands: a deferred close is for combinatorial auctions; a solution only settles a closed one; a closed auction takes no bids', () => {
    const b = Book.with({ items: ['A'], reserves: undefined, bids: [{ agent: 'a0', bundles: [{ items: ['A'], value: 3 }] }] })
    b.ok('op', { type: 'mint', by: 'treasury', account: 'late', owner: 'pb', amount: 10 })
    b.ok('ps', { type: 'auction.open', by: 'seller', auction: { id: 'v', mechanism: 'vickrey', items: ['g'], durationMs: 1000 } })
    expect(b.run('ps', { type: 'auction.close', by: 'seller', auction: 'v', settle: 'deferred' })).toMatchObject({ ok: false, code: 'ERR_INVALID_COMMAND' })
    expect(b.run('ps', { type: 'auction.close', by: 'seller', auction: 'c', settle: 'now' })).toMatchObject({ ok: false, code: 'ERR_INVALID_COMMAND' })
    expect(b.run('pb', { type: 'auction.settle', by: 'a0', auction: 'c', solution: { digest: 'x', allocation: [], prices: [], welfare: 0 } })).toMatchObject({ ok: false, code: 'ERR_WRONG_PHASE' })
    b.ok('ps', { type: 'auction.close', by: 'seller', auction: 'c', settle: 'deferred' })
    expect(b.run('pb', { type: 'auction.bid', by: 'late', auction: 'c', bid: { bundles: [{ items: ['A'], value: 9 }] } })).toMatchObject({ ok: false, code: 'ERR_AUCTION_CLOSED' })
    expect(b.run('ps', { type: 'auction.close', by: 'seller', auction: 'c' })).toMatchObject({ ok: false, code: 'ERR_WRONG_PHASE' })
    // Escrows stay held while closed (invariants are checked after every command).
    expect(b.e.account('a0')).toMatchObject({ escrow: 3 })
    // A snapshot taken while closed restores (the digest is kept).
    const again = Economy.restore(JSON.parse(b.e.snapshotText()))
    expect(again.auction('c')).toMatchObject({ status: 'closed', solveDigest: b.e.auction('c')!.solveDigest })
    expect(b.ok('pb', { type: 'auction.settle', by: 'a0', auction: 'c' })).toMatchObject({ status: 'settled', outcome: { winners: [{ agent: 'a0', price: 0 }] } })
    expect(b.e.auction('c')!.solveDigest).toBeUndefined()
    expect(b.run('ps', { type: 'auction.settle', by: 'seller', auction: 'v', solution: { digest: 'x', allocation: [], prices: [], welfare: 0 } })).toMatchObject({ ok: false, code: 'ERR_INVALID_COMMAND' })
  })

  it('replicas with and without worker results, fed the same log with hostile settles, end byte-identical', async () => {
    const solver = new SettleSolver(pool())
    const withWorker = new MeshApplication(undefined, { genesis: { authorities: ['op'] } })
    withWorker.solutionLookup = (d) => solver.lookup(d)
    const without = new MeshApplication(undefined, { genesis: { authorities: ['op'] } })
    const apps = [withWorker, without]
    let index = 0
    const apply = (origin: string, cmd: Record<string, unknown>): Array<Record<string, unknown>> => {
      index++
      return apps.map(a => a.apply(encodeEconCommand(cmd), index, { origin, at: 1000 + index }) as Record<string, unknown>)
    }
    const big = bundleInstance(5, 30, 300, { agents: 200 })
    apply('op', { type: 'mint', by: 'treasury', account: 'seller', owner: 'ps', amount: 1 })
    apply('ps', { type: 'auction.open', by: 'seller', auction: { id: 'big', mechanism: 'combinatorial', items: big.items, durationMs: 1_000_000 } })
    const byAgent = new Map<string, Array<{ items: string[], value: number }>>()
    for (const b of big.bids) byAgent.set(b.agent, [...(byAgent.get(b.agent) ?? []), { items: b.items, value: b.value }].slice(0, 16))
    for (const [agent, bundles] of byAgent) {
      apply('op', { type: 'mint', by: 'treasury', account: agent, owner: 'pb', amount: 10_000 })
      apply('pb', { type: 'auction.bid', by: agent, auction: 'big', bid: { bundles } })
    }
    const [closed] = apply('ps', { type: 'auction.close', by: 'seller', auction: 'big', settle: 'deferred' })
    const digest = closed!.digest as string
    const a = withWorker.economy!.auction('big')!
    const job = { ...combinatorialInput(a.spec, a.bids), limits: withWorker.economy!.auctionLimits }
    const right = solutionOf(await solver.solve(digest, job), digest)
    // A hostile proposer: a feasible allocation without the first winner, everyone paying nothing.
    const lie: CarriedSolution = { ...right, allocation: right.allocation.slice(1), prices: right.prices.slice(1).map(() => 0), welfare: right.welfare - job.bids[right.allocation[0]!]!.value }
    const [r1, r2] = apply('pb', { type: 'auction.settle', by: 'a1', auction: 'big', solution: lie })
    expect(r1).toEqual(r2)
    expect(r1).toMatchObject({ ok: true, status: 'settled', solution: 'replaced' })
    expect(withWorker.economy!.solveStats).toMatchObject({ fromWorker: 1, inApply: 0, carriedReplaced: 1 })
    expect(without.economy!.solveStats).toMatchObject({ fromWorker: 0, inApply: 1, carriedReplaced: 1 })
    expect(solutionOf(withWorker.economy!.auction('big')!.outcome as CombinatorialOutcome, digest)).toEqual(right)
    expect(Buffer.from(withWorker.snapshot()).equals(Buffer.from(without.snapshot()))).toBe(true)
    expect(withWorker.invariants()).toEqual([])
  })

  it('two auctions alike but for reserves given or not get different digests: a replica holding the first one\'s solve settles the second like one solving in apply', () => {
    // combinatorial() reads whether reserves are given at all (its no-sale reason says so), so the digest
    // must too: else a worker result of one auction would serve another whose outcome differs.
    const items = ['A', 'B']
    const limits = { ...DEFAULT_AUCTION_LIMITS }
    expect(instanceDigest({ items }, [], limits)).not.toBe(instanceDigest({ items, reserves: {} }, [], limits))
    expect(instanceDigest({ items }, [], limits)).not.toBe(instanceDigest({ items, reserves: { A: 0 } }, [], limits))
    const solved = new Map<string, CombinatorialOutcome>()
    const withWorker = new MeshApplication(undefined, { genesis: { authorities: ['op'] } })
    withWorker.solutionLookup = (d) => solved.get(d)
    const without = new MeshApplication(undefined, { genesis: { authorities: ['op'] } })
    let index = 0
    const apply = (origin: string, cmd: Record<string, unknown>): Array<Record<string, unknown>> => {
      index++
      return [withWorker, without].map(a => a.apply(encodeEconCommand(cmd), index, { origin, at: 1000 + index }) as Record<string, unknown>)
    }
    apply('op', { type: 'mint', by: 'treasury', account: 'seller', owner: 'ps', amount: 1 })
    apply('ps', { type: 'auction.open', by: 'seller', auction: { id: 'plain', mechanism: 'combinatorial', items, durationMs: 1_000_000 } })
    apply('ps', { type: 'auction.open', by: 'seller', auction: { id: 'zero', mechanism: 'combinatorial', items, reserves: { A: 0 }, durationMs: 1_000_000 } })
    for (const id of ['plain', 'zero']) {
      const [closed] = apply('ps', { type: 'auction.close', by: 'seller', auction: id, settle: 'deferred' })
      // What this replica's worker computes for the auction's frozen bids, kept by digest.
      const a = withWorker.economy!.auction(id)!
      const { params, bids } = combinatorialInput(a.spec, a.bids)
      if (!solved.has(closed!.digest as string)) solved.set(closed!.digest as string, combinatorial(params, bids, limits))
    }
    for (const id of ['plain', 'zero']) {
      const [r1, r2] = apply('ps', { type: 'auction.settle', by: 'seller', auction: id })
      expect(r1, id).toEqual(r2)
    }
    expect(withWorker.economy!.auction('zero')!.outcome).toEqual(without.economy!.auction('zero')!.outcome)
    expect(Buffer.from(withWorker.snapshot()).equals(Buffer.from(without.snapshot()))).toBe(true)
  })

  it('closing again an auction whose deferred close applied but whose settle did not (indefinite) settles it', async () => {
    // One replica behind a peer's economy: commands apply at once, except the first settle, lost as if
    // the leader changed after the retries ran out. The close stays applied: the auction is `closed`.
    const app = new MeshApplication(undefined, { genesis: { authorities: ['op'] } })
    let index = 0
    let loseSettle = true
    const peer = lonePeer()
    const origin = (cmd: Record<string, unknown>): string => cmd.by === 'treasury' ? 'op' : 'ps'
    peer.setBackend({
      app,
      propose: async (bytes) => {
        const cmd = JSON.parse(new TextDecoder().decode(bytes.subarray(1))) as Record<string, unknown>
        if (cmd.type === 'auction.settle' && loseSettle) { loseSettle = false; throw new IndefiniteError('proposal', 'the leader changed before it applied') }
        index++
        return { index, result: app.apply(bytes, index, { origin: origin(cmd), at: 1000 + index }) }
      },
      read: async (name) => app.read(name)
    })
    try {
      await peer.mint('seller', 1, { owner: 'ps' })
      await peer.mint('b1', 100, { owner: 'ps' })
      await peer.openAuction({ id: 'again', mechanism: 'combinatorial', items: ['A', 'B'], durationMs: 1_000_000 }, 'seller')
      await peer.bid('again', 'b1', { bundles: [{ items: ['A', 'B'], value: 9 }] })
      await expect(peer.closeAuction('again', 'seller')).rejects.toMatchObject({ code: 'ERR_INDEFINITE' })
      expect(app.economy!.auction('again')!.status).toBe('closed')
      // The caller retries its close: the auction is settled (not ERR_WRONG_PHASE, which left it closed).
      expect(await peer.closeAuction('again', 'seller')).toMatchObject({ ok: true, status: 'settled', solution: 'verified' })
      expect(app.economy!.auction('again')!.outcome).toMatchObject({ winners: [{ agent: 'b1', items: ['A', 'B'], price: 0 }] })
      // A settled auction is still refused by name.
      await expect(peer.closeAuction('again', 'seller')).rejects.toMatchObject({ code: 'ERR_WRONG_PHASE' })
    } finally {
      await peer.stopSolver()
    }
  })

  it('a close and its settle applied in one batch (a restart replaying its log) start no worker solve', async () => {
    const app = new MeshApplication(undefined, { genesis: { authorities: ['op'] } })
    const peer = lonePeer()
    peer.setBackend({ app, propose: async () => { throw new Error('replay only') }, read: async (name) => app.read(name) })
    let index = 0
    const apply = (origin: string, cmd: Record<string, unknown>): Record<string, unknown> => app.apply(encodeEconCommand(cmd), ++index, { origin, at: 1000 + index }) as Record<string, unknown>
    try {
      // The replayed entries apply synchronously, one after the other (the driver's Ready loop).
      apply('op', { type: 'mint', by: 'treasury', account: 'seller', owner: 'ps', amount: 1 })
      apply('op', { type: 'mint', by: 'treasury', account: 'b1', owner: 'ps', amount: 100 })
      apply('ps', { type: 'auction.open', by: 'seller', auction: { id: 'old', mechanism: 'combinatorial', items: ['A', 'B'], durationMs: 1_000_000 } })
      apply('ps', { type: 'auction.bid', by: 'b1', auction: 'old', bid: { bundles: [{ items: ['A'], value: 4 }] } })
      expect(apply('ps', { type: 'auction.close', by: 'seller', auction: 'old', settle: 'deferred' })).toMatchObject({ ok: true, status: 'closed' })
      expect(apply('ps', { type: 'auction.settle', by: 'seller', auction: 'old' })).toMatchObject({ ok: true, status: 'settled' })
      // The pre-solve's continuation has run once the turn's promises settled: the auction is settled, no solve is started.
      await new Promise(resolve => setImmediate(resolve))
      const solver = (peer as unknown as { solver?: SettleSolver }).solver
      expect(solver?.pool.pending ?? 0).toBe(0)
      expect(solver?.pool.stats.solved ?? 0).toBe(0)
    } finally {
      await peer.stopSolver()
    }
  })

  it('a snapshot from the leader holding a closed auction: the replica solves it in its worker before the settle', async () => {
    // The leader's replica: an auction closed (deferred) there.
    const leader = new MeshApplication(undefined, { genesis: { authorities: ['op'] } })
    let index = 0
    const apply = (origin: string, cmd: Record<string, unknown>): Record<string, unknown> => leader.apply(encodeEconCommand(cmd), ++index, { origin, at: 1000 + index }) as Record<string, unknown>
    apply('op', { type: 'mint', by: 'treasury', account: 'seller', owner: 'ps', amount: 1 })
    apply('op', { type: 'mint', by: 'treasury', account: 'b1', owner: 'ps', amount: 100 })
    apply('ps', { type: 'auction.open', by: 'seller', auction: { id: 'snap', mechanism: 'combinatorial', items: ['A', 'B'], durationMs: 1_000_000 } })
    apply('ps', { type: 'auction.bid', by: 'b1', auction: 'snap', bid: { bundles: [{ items: ['B'], value: 5 }] } })
    const digest = apply('ps', { type: 'auction.close', by: 'seller', auction: 'snap', settle: 'deferred' }).digest as string
    // A follower's replica, behind a peer's economy, brought up to date by that snapshot (no close entry applied here).
    const follower = new MeshApplication(undefined, { genesis: { authorities: ['op'] } })
    const onRestored: Array<() => void> = []
    const peer = lonePeer()
    peer.setBackend({ app: follower, propose: async () => { throw new Error('no proposals here') }, read: async (name) => follower.read(name), restored: (fn) => { onRestored.push(fn); return () => {} } })
    try {
      follower.restore(leader.snapshot())
      for (const fn of onRestored) fn()
      await waitUntil(() => peer.hasSolve(digest), { what: 'the follower solved the closed auction it got in a snapshot', timeoutMs: 40_000 })
      const settled = follower.apply(encodeEconCommand({ type: 'auction.settle', by: 'seller', auction: 'snap' }), ++index, { origin: 'ps', at: 1000 + index }) as Record<string, unknown>
      expect(settled).toMatchObject({ ok: true, status: 'settled' })
      expect(follower.economy!.solveStats).toMatchObject({ fromWorker: 1, inApply: 0 })
    } finally {
      await peer.stopSolver()
    }
  })

  it('the pool is bounded: a full queue is refused by name, a solve past its time limit is ended by name, and the pool goes on', async () => {
    const big = bundleInstance(2, 50, 1000)
    const job = { params: { items: big.items }, bids: big.bids, limits: { ...DEFAULT_AUCTION_LIMITS } }
    const p = pool({ workersMax: 1, queueMax: 1, solveTimeoutMs: 1 })
    const first = p.solve(job).catch((e: { code?: string }) => e.code)
    const second = p.solve(job).catch((e: { code?: string }) => e.code)
    // The first is running (the queue is empty again): the second waits in the queue; a third overflows.
    const codes = await Promise.all([first, second, p.solve(job).catch((e: { code?: string }) => e.code)])
    expect(codes).toEqual(['ERR_SOLVE_TIMEOUT', 'ERR_SOLVE_TIMEOUT', 'ERR_SOLVE_QUEUE_FULL'])
    expect(p.stats).toMatchObject({ timedOut: 2, refused: 1 })
    const q = pool({ workersMax: 1, queueMax: 1, solveTimeoutMs: 120_000 })
    const small = bundleInstance(4, 8, 30)
    expect(await q.solve({ params: { items: small.items }, bids: small.bids, limits: { ...DEFAULT_AUCTION_LIMITS } })).toEqual(combinatorial({ items: small.items }, small.bids))
    await q.stop()
    expect(await q.solve(job).catch((e: { code?: string }) => e.code)).toBe('ERR_SOLVER_STOPPED')
  })
})
