/**
 * Leaders writing their entries in parallel with sending them (thesis §10.2.1, the driver's
 * `asyncLeaderWrites`, as live peers run) keep Raft safe: a leader counts itself toward the quorum only
 * once its own write is durable, so a leader that dies with writes in flight (lost, or torn: a prefix
 * kept) loses nothing acknowledged. Checked by the fuzzer's checkers (log matching, leader append-only,
 * state machine safety, monotonic hard state) and the linearizability of the client history. With
 * `slowDisks` every write (followers' too) is in flight for a while, and a follower applies the commits
 * already durable while its next write runs (RaftDriver.applyDurable).
 */
import { describe, expect, it } from 'vitest'
import { fuzz } from '../../sim/fuzz.js'
import { Simulation } from '../../sim/simulation.js'

/** Fuzz seeds with writes held in flight; what failed and what the runs did (writes lost and torn, commits applied while writing). */
function fuzzInFlight (slowDisks: boolean): { failing: string[], committed: number, lost: number, torn: number, early: number } {
  const failing: string[] = []
  let lost = 0
  let torn = 0
  let early = 0
  const summary = fuzz({
    nodes: 3,
    seeds: 100,
    ticks: 300,
    asyncLeaderWrites: true,
    slowDisks,
    onSeed: r => {
      if (!r.ok) failing.push(`seed ${r.seed}: ${r.failures.join('; ')}\n  faults: ${r.faults.join(', ')}`)
      lost += r.lostWrites?.writes ?? 0
      torn += r.lostWrites?.torn ?? 0
      early += r.appliedWhileWriting ?? 0
    }
  })
  return { failing, committed: summary.committed, lost, torn, early }
}

describe('leaders writing in parallel with sending (asyncLeaderWrites)', () => {
  it('100 seeds x 3 nodes, leaders crashing with writes in flight (some torn), keep every invariant and stay linearizable', () => {
    const r = fuzzInFlight(false)
    expect(r.failing).toEqual([])
    expect(r.committed).toBeGreaterThan(100 * 5)
    // The runs did what they are for: leaders died with writes in flight, some of them torn.
    expect(r.lost).toBeGreaterThan(10)
    expect(r.torn).toBeGreaterThan(0)
  })

  it('with every write in flight (slowDisks: followers\' appends, votes and snapshots too), nodes crashing mid-write keep every invariant, and followers apply durable commits while writing', () => {
    const r = fuzzInFlight(true)
    expect(r.failing).toEqual([])
    expect(r.committed).toBeGreaterThan(100 * 5)
    expect(r.lost).toBeGreaterThan(10)
    expect(r.torn).toBeGreaterThan(0)
    // RaftDriver.applyDurable ran in these seeds.
    expect(r.early).toBeGreaterThan(100)
  })
})

function stepSim (): Simulation {
  return new Simulation({
    nodes: 3,
    learners: [],
    seed: 1,
    raft: { electionTick: 10, heartbeatTick: 1, preVote: false, checkQuorum: false },
    network: { latencyMs: [1, 5], drop: 0, duplicate: 0, reorder: 0 },
    tickMs: 10,
    timed: false,
    asyncLeaderWrites: true
  })
}

const texts = (s: Simulation, id: number): string[] => s.nodeReport(id).log.map(e => e[2])

describe('a leader counts itself toward the quorum only once its own write is durable', () => {
  it('sends before its write lands; one follower\'s ack then commits nothing, the landing commits', () => {
    const s = stepSim()
    s.campaign(1); s.quiesce(); s.landWrites(1); s.quiesce()
    const c0 = s.nodeReport(1).commit
    s.cut(1, 3)
    s.propose(1, 'a'); s.quiesce()
    expect(s.inflightWrites(1)).toBe(1)
    expect(texts(s, 2)).toContain('a') // sent while the leader's write is in flight
    expect(texts(s, 1)).not.toContain('a') // not on the leader's disk yet
    expect(s.nodeReport(1).commit).toBe(c0) // node 2 alone is no quorum
    s.landWrites(1); s.quiesce()
    expect(s.nodeReport(1).commit).toBe(c0 + 1)
    expect(s.violations).toEqual([])
  })

  it('two followers\' acks commit without the leader\'s write', () => {
    const s = stepSim()
    s.campaign(1); s.quiesce(); s.landWrites(1); s.quiesce()
    const c0 = s.nodeReport(1).commit
    s.propose(1, 'a'); s.quiesce()
    // The leader's write never landed: the followers' durable acks alone committed it.
    expect(s.inflightWrites(1)).toBeGreaterThan(0)
    expect(texts(s, 1)).not.toContain('a')
    expect(s.nodeReport(1).commit).toBe(c0 + 1)
    s.landWrites(1); s.quiesce()
    expect(texts(s, 1)).toContain('a')
    expect(s.violations).toEqual([])
  })

  it('a leader that dies with its write in flight loses nothing acknowledged: the entry held by one follower is overwritten safely', () => {
    const s = stepSim()
    s.campaign(1); s.quiesce(); s.landWrites(1); s.quiesce()
    const c0 = s.nodeReport(1).commit
    s.cut(1, 3)
    s.propose(1, 'a'); s.quiesce()
    // Were the leader counted at its append, 'a' would be committed and applied at 1 by now.
    expect(s.appliedOf(1)).toBe(c0)
    s.crash(1) // its write in flight is lost
    s.crash(2) // the only other copy of 'a' goes down
    s.recover(); s.restart(1)
    s.campaign(3); s.quiesce()
    s.propose(3, 'b'); s.quiesce()
    s.restart(2); s.heartbeat(3); s.quiesce()
    for (let k = 0; k < 3; k++) { for (const id of [1, 2, 3]) s.landWrites(id); s.heartbeat(3); s.quiesce() }
    for (const id of [1, 2, 3]) expect(texts(s, id).at(-1), `node ${id}`).toBe('b')
    expect(texts(s, 2)).not.toContain('a')
    expect(s.violations).toEqual([])
  })
})
