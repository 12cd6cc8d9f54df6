/**
 * Seeded random combinatorial-auction instances, shared by the auctions bench and the VCG regression
 * tests (so the benchmarked instances are the tested ones).
 */
import type { BundleBid } from '../../protocols/auctions/index.js'
import { createRand } from '../../src/base/prng.js'

export interface InstanceOptions {
  /** Distinct agents bidding (XOR across an agent's bids). Default: one agent per bid. */
  agents?: number
  /** Per-item value range is 1..valueMax. Default 100. Small values make ties likely. */
  valueMax?: number
}

/** Random sparse bundle bids: 1–4 distinct items, value `k × U(1..valueMax)` for a k-item bundle. */
export function bundleInstance (seed: number, goods: number, nBids: number, opts: InstanceOptions = {}): { items: string[], bids: BundleBid[] } {
  const r = createRand(seed)
  const valueMax = opts.valueMax ?? 100
  const items = Array.from({ length: goods }, (_, i) => `g${i}`)
  const bids: BundleBid[] = Array.from({ length: nBids }, (_, i) => {
    const k = 1 + r.int(4)
    const set = new Set<string>()
    while (set.size < k) set.add(r.pick(items))
    const value = k * (1 + r.int(valueMax))
    return { agent: opts.agents === undefined ? `a${i}` : `a${r.int(opts.agents)}`, items: [...set], value }
  })
  return { items, bids }
}
