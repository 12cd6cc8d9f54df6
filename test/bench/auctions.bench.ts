import { combinatorial, winnerDetermination } from '../../protocols/auctions/index.js'
import type { BundleBid } from '../../protocols/auctions/index.js'
import { createRand } from '../../sim/prng.js'

export const name = 'auctions'

/** Random sparse bundle bids: 1–4 distinct items, value 1..100 per item, one agent per bid. */
function instance (seed: number, goods: number, nBids: number): { items: string[], bids: BundleBid[] } {
  const r = createRand(seed)
  const items = Array.from({ length: goods }, (_, i) => `g${i}`)
  const bids: BundleBid[] = Array.from({ length: nBids }, (_, i) => {
    const k = 1 + r.int(4)
    const set = new Set<string>()
    while (set.size < k) set.add(r.pick(items))
    return { agent: `a${i}`, items: [...set], value: k * (1 + r.int(100)) }
  })
  return { items, bids }
}

function p50 (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return Number(s[Math.floor(s.length / 2)]!.toFixed(1))
}

function measure (goods: number, nBids: number, seeds: number[]): Record<string, unknown> {
  const wdMs: number[] = []
  const vcgMs: number[] = []
  let nodes = 0
  let exact = true
  for (const s of seeds) {
    const { items, bids } = instance(s, goods, nBids)
    let t0 = performance.now()
    const wd = winnerDetermination({ items }, bids)
    wdMs.push(performance.now() - t0)
    t0 = performance.now()
    const o = combinatorial({ items }, bids)
    vcgMs.push(performance.now() - t0)
    nodes = Math.max(nodes, o.nodes)
    exact &&= o.exact && wd.exact
  }
  return { wdP50Ms: p50(wdMs), wdMaxMs: Number(Math.max(...wdMs).toFixed(1)), withVcgP50Ms: p50(vcgMs), withVcgMaxMs: Number(Math.max(...vcgMs).toFixed(1)), maxNodes: nodes, exact }
}

export default async function (): Promise<Record<string, unknown>> {
  return {
    solver: 'built-in item-branching branch-and-bound (exact, integer bounds), solverNodesMax 2e6',
    goods20bids200: measure(20, 200, [1, 2, 3, 4, 5]),
    goods50bids1000: measure(50, 1000, [1, 2, 3, 4, 5])
  }
}
