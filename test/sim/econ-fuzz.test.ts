import { describe, expect, it } from 'vitest'
import { econFuzzScenario, econFuzzSeed } from '../../sim/econ-fuzz.js'

describe('economy fuzz: random auctions under partitions and crashes', () => {
  it('50 seeds: no violation, supply conserved, every auction settled exactly once after the heal', () => {
    const failing: string[] = []
    const statuses = new Map<string, number>()
    for (let seed = 1; seed <= 50; seed++) {
      const r = econFuzzSeed(seed)
      if (!r.ok) failing.push(`seed ${seed}: ${r.failures.join('; ')}`)
      for (const s of Object.values(r.statuses)) statuses.set(s, (statuses.get(s) ?? 0) + 1)
    }
    expect(failing).toEqual([])
    // The seeds exercise sales, not only no-sales.
    expect(statuses.get('settled') ?? 0).toBeGreaterThan(50)
  })

  it('is deterministic: a seed gives the same scenario and trace', () => {
    expect(econFuzzScenario(7)).toEqual(econFuzzScenario(7))
    expect(econFuzzSeed(7).trace).toBe(econFuzzSeed(7).trace)
    expect(econFuzzSeed(8).trace).not.toBe(econFuzzSeed(7).trace)
  })
})
