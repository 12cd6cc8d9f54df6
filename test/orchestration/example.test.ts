/** The orchestration example (examples/orchestration) runs to the end and tunes the batch size within its bounds. */
import { describe, expect, it } from 'vitest'
import { runExample } from '../../examples/orchestration/index.js'
import { BATCH_CONSTRAINTS } from '../../examples/orchestration/policy.js'

describe('examples/orchestration', () => {
  it('a team of agents whose batch size is tuned by their outcomes, across an owner crash', async () => {
    const lines: string[] = []
    const r = await runExample({ work: 20, log: (l) => { lines.push(l) } })
    const adaptations = r.history.filter(e => e.kind === 'adaptation')
    // The first adaptation halves the initial 32 (every agent fails a batch of 32).
    expect(adaptations[0]).toMatchObject({ value: 32, proposed: 16, outcome: 'applied' })
    expect(adaptations.every(a => a.outcome === 'applied')).toBe(true)
    expect(r.value).toBeGreaterThanOrEqual(BATCH_CONSTRAINTS.min)
    expect(r.value).toBeLessThanOrEqual(16)
    expect(r.outcomes.completed).toBeGreaterThan(r.outcomes.failed)
    expect(r.owners[0]).not.toBe(r.owners[1])
    // The second owner took over: its first coordination is a takeover, and later rounds reach the 4 agents left.
    const second = r.history.filter(e => e.kind === 'coordination' && e.owner !== r.history[0]!.owner)
    expect(second[0]).toMatchObject({ trigger: 'takeover' })
    expect(second.some(e => e.kind === 'coordination' && e.agents === 4 && e.failed === 0)).toBe(true)
    expect(lines.at(-1)).toMatch(/^batch-size ends at \d+/)
  })
})
