import { describe, expect, it, vi } from 'vitest'
import { Simulation } from '../../sim/simulation.js'
import { TaskMachine } from '../../protocols/tasks/machine.js'
import { fuzzSeed } from '../../sim/fuzz.js'

function sim (nodes = 3, timed = false): Simulation {
  return new Simulation({
    nodes,
    learners: [],
    seed: 1,
    raft: { electionTick: 10, heartbeatTick: 1, preVote: false, checkQuorum: false },
    network: { latencyMs: [1, 5], drop: 0, duplicate: 0, reorder: 0 },
    tickMs: 10,
    timed
  })
}

describe('simulation engine', () => {
  it('a torn crash loses the whole Ready being processed: nothing persisted, nothing sent', () => {
    const s = sim()
    s.campaign(1); s.quiesce()
    s.crash(2, true) // armed: dies at its next Ready
    expect(s.isCrashed(2)).toBe(false)
    s.propose(1, 'a'); s.quiesce()
    expect(s.isCrashed(2)).toBe(true)
    expect(s.nodeReport(2).log).toEqual([[1, 1, '']])
    expect(s.nodeReport(1).commit).toBe(2) // 1 and 3 are a quorum
    s.restart(2); s.heartbeat(1); s.quiesce()
    expect(s.nodeReport(2).log).toEqual([[1, 1, ''], [2, 1, 'a']])
    expect(s.violations).toEqual([])
  })

  it('proposeMany appends a batch through one Ready', () => {
    const s = sim(5)
    s.campaign(1); s.quiesce()
    expect(s.proposeMany(1, ['a', 'b', 'c'])).toEqual([])
    s.quiesce()
    expect(s.nodeReport(4).log.map(e => e[2])).toEqual(['', 'a', 'b', 'c'])
    expect(s.nodeReport(4).commit).toBe(4)
  })

  it('compaction beyond the applied index or below the snapshot is refused, not an error', () => {
    const s = sim()
    s.campaign(1); s.quiesce(); s.propose(1, 'a'); s.quiesce()
    expect(s.compact(1, 9)).toContain('beyond applied')
    expect(s.compact(1, 2)).toBeUndefined()
    expect(s.compact(1, 1)).toContain('already compacted')
    expect(s.refusals).toHaveLength(2)
    expect(s.nodeReport(1).firstIndex).toBe(3)
  })

  it('an operation sent to a crashed node is indefinite in the history and left out of the check', () => {
    const s = sim(3, true)
    s.runFor(1000)
    s.crash(3)
    const e = s.client(3, { op: 'write', key: 'x', value: 1 })
    const w = s.client(1, { op: 'write', key: 'x', value: 2 })
    s.runFor(1000)
    s.finishClientOps()
    expect(e.result).toBe('indefinite')
    expect(e.return).toBeNull()
    expect(w.result).toBe('ok')
    expect(s.operations()).toHaveLength(1)
  })

  it('injected malformed messages are dropped by the core (no panic)', () => {
    const s = sim()
    s.campaign(1); s.quiesce()
    s.inject(2, { type: 'append', from: 1, to: 2, term: -1, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0 }, 'negative term')
    s.inject(2, { type: 'vote', from: 77, to: 2, term: 99, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0 }, 'non-member')
    s.inject(2, null, 'null')
    expect(s.violations).toEqual([])
    expect(s.nodeReport(2).term).toBe(1)
  })

  it('narrows the checked history with what the simulator knows, keeping the report honest', () => {
    const s = sim(3, true)
    // No leader yet: the write is refused at first, accepted on a retry once a leader exists.
    const w = s.client(2, { op: 'write', key: 'k', value: 'v' })
    s.runFor(3000)
    s.finishClientOps()
    expect(w.result).toBe('ok')
    expect(w.call).toBe(0)
    const [op] = s.operations()
    expect(op?.call).toBeGreaterThan(0) // moved to its first accepted proposal
    expect(op?.return).toBeLessThanOrEqual(w.return as number)
    expect(s.refusals.some(r => r.detail.includes('noLeader'))).toBe(true)
  })

  it('a node that cannot start from its disk (its snapshot does not restore) is a node-panic, and stays down', () => {
    vi.spyOn(TaskMachine, 'restore').mockImplementation(() => { throw new Error('bad snapshot') })
    try {
      const r = fuzzSeed(1, { nodes: 5 })
      expect(r.ok).toBe(false)
      expect(r.violations.map(v => v.detail)).toContainEqual(expect.stringMatching(/^node \d could not restart: DecodeError .*bad snapshot/))
    } finally {
      vi.restoreAllMocks()
    }
  })
})
