/**
 * Sealed-bid auctions settled per second through the simulator's Raft (5 nodes, timed mode, latency
 * 1–5 virtual ms): Vickrey auctions, each `auction.open` (seller on node 1) + 3 bids (one from each of
 * nodes 2, 3, 4, by agents owned there) + `auction.close`, pipelined with a window of auctions in
 * flight; each node batches the commands it proposes in one tick round into one Ready. Every node
 * applies every entry to its economy replica; invariants are checked on every node at the end (and
 * economies compared). Wall clock, one thread.
 */
import { OPERATOR } from '../../sim/economy.js'
import { Simulation } from '../../sim/simulation.js'

export const name = 'econ'

interface Flight { id: string, phase: 'open' | 'bid' | 'close', waiting: number[] }

function run (auctions: number, window: number): Record<string, unknown> {
  const sim = new Simulation({
    nodes: 5,
    learners: [],
    seed: 1,
    raft: { electionTick: 10, heartbeatTick: 1, preVote: false, checkQuorum: false },
    network: { latencyMs: [1, 5], drop: 0, duplicate: 0, reorder: 0 },
    tickMs: 10,
    timed: true,
    economy: true,
    economyCheckEachApply: false
  })
  sim.runFor(1000)
  const seller = 'seller:1'
  const bidders = [{ id: 'b2', node: 2 }, { id: 'b3', node: 3 }, { id: 'b4', node: 4 }]
  for (const [account, owner] of [[seller, 'n1'], ...bidders.map(b => [b.id, `n${b.node}`])] as Array<[string, string]>) {
    sim.proposeEcon(0, OPERATOR, { type: 'mint', by: 'treasury', account, owner, amount: 1_000_000_000_000 })
  }
  sim.runFor(1000)
  const startEntries = sim.committedEntries
  let next = 0
  let settled = 0
  let noSale = 0
  const flights: Flight[] = []
  const byNode = new Map<number, Array<{ origin: string, cmd: Record<string, unknown>, flight: Flight }>>()
  const queue = (node: number, origin: string, cmd: Record<string, unknown>, flight: Flight): void => {
    let q = byNode.get(node)
    if (q === undefined) { q = []; byNode.set(node, q) }
    q.push({ origin, cmd, flight })
  }
  const outcomes = new Map<number, boolean>()
  const ready = (f: Flight): boolean => {
    for (const s of f.waiting) {
      if (outcomes.has(s)) continue
      const o = sim.takeEconOutcome(s)
      if (o === undefined) return false
      outcomes.set(s, o.result?.ok === true && o.result.status === 'no-sale')
    }
    return true
  }
  sim.onTickRound = () => {
    for (let i = 0; i < flights.length; i++) {
      const f = flights[i] as Flight
      if (!ready(f)) continue
      const nosale = f.waiting.some(s => outcomes.get(s) === true)
      for (const s of f.waiting) outcomes.delete(s)
      f.waiting = []
      if (f.phase === 'open') {
        f.phase = 'bid'
        bidders.forEach((b, k) => queue(b.node, `n${b.node}`, { type: 'auction.bid', by: b.id, auction: f.id, bid: { amount: 10 + ((next + k * 7) % 13) } }, f))
      } else if (f.phase === 'bid') {
        f.phase = 'close'
        queue(1, 'n1', { type: 'auction.close', by: seller, auction: f.id }, f)
      } else {
        settled++
        if (nosale) noSale++
        flights.splice(i, 1)
        i--
      }
    }
    while (flights.length < window && next < auctions) {
      const f: Flight = { id: `v${next++}`, phase: 'open', waiting: [] }
      flights.push(f)
      queue(1, 'n1', { type: 'auction.open', by: seller, auction: { id: f.id, mechanism: 'vickrey', items: ['gpu'], reserve: 5, durationMs: 600_000 } }, f)
    }
    for (const [node, q] of byNode) {
      if (q.length === 0) continue
      const origin = (q[0] as { origin: string }).origin
      const seqs = sim.proposeEconMany(node, origin, q.map(x => x.cmd))
      q.forEach((x, k) => x.flight.waiting.push(seqs[k] as number))
      q.length = 0
    }
  }
  const t0 = performance.now()
  const v0 = sim.now
  for (let rounds = 0; settled < auctions && rounds < 10_000; rounds++) sim.runFor(100)
  const wallMs = performance.now() - t0
  const entries = sim.committedEntries - startEntries
  sim.checkEconomies()
  const supply = sim.economyOf(1)?.supply()
  return {
    auctions: settled,
    noSale,
    window,
    wallMs: Math.round(wallMs),
    auctionsPerSec: Math.round(settled / (wallMs / 1000)),
    entriesPerSec: Math.round(entries / (wallMs / 1000)),
    entries,
    virtualMs: sim.now - v0,
    supplyConserved: supply !== undefined && supply.minted === supply.total,
    violations: sim.violations.length
  }
}

export default async function (): Promise<Record<string, unknown>> {
  run(500, 100) // warm-up
  return { vickrey5NodesWindow100: run(5000, 100), vickrey5NodesWindow500: run(5000, 500) }
}
