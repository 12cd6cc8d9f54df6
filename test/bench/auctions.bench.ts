import { combinatorial, winnerDetermination } from '../../protocols/auctions/index.js'
import { bundleInstance } from './auction-instances.js'

export const name = 'auctions'

function p50 (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return Number(s[Math.floor(s.length / 2)]!.toFixed(1))
}

/** WDP alone and full VCG (W plus one W(-i) per winner) on random instances, one per seed. */
function measure (goods: number, nBids: number, seeds: number[], targetP50Ms: number): Record<string, unknown> {
  const wdMs: number[] = []
  const vcgMs: number[] = []
  let nodes = 0
  let winners = 0
  let exact = true
  for (const s of seeds) {
    const { items, bids } = bundleInstance(s, goods, nBids)
    let t0 = performance.now()
    const wd = winnerDetermination({ items }, bids)
    wdMs.push(performance.now() - t0)
    t0 = performance.now()
    const o = combinatorial({ items }, bids)
    vcgMs.push(performance.now() - t0)
    nodes = Math.max(nodes, o.nodes)
    winners = Math.max(winners, o.winners.length)
    exact &&= o.exact && wd.exact
  }
  const vcgP50 = p50(vcgMs)
  return {
    seeds: seeds.length,
    wdP50Ms: p50(wdMs),
    wdMaxMs: Number(Math.max(...wdMs).toFixed(1)),
    withVcgP50Ms: vcgP50,
    withVcgMaxMs: Number(Math.max(...vcgMs).toFixed(1)),
    withVcgTargetP50Ms: targetP50Ms,
    withVcgP50MeetsTarget: vcgP50 <= targetP50Ms,
    maxWinners: winners,
    maxNodes: nodes,
    exact
  }
}

export default async function (): Promise<Record<string, unknown>> {
  const seeds = [1, 2, 3, 4, 5, 6, 7]
  return {
    solver: 'built-in item-branching branch-and-bound (exact), solverNodesMax 2e6; bound: root-LP item prices + one tightening pass; W(-i): value-only typed-array search, seeded from an incumbent pool, capped at W',
    goods20bids200: measure(20, 200, seeds, 50),
    goods50bids1000: measure(50, 1000, seeds, 1000)
  }
}
