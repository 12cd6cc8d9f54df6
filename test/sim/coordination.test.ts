/**
 * Coordination in the simulator (SCENARIOS.md "Extension: coordination"): the verbs and expectations
 * of scenario files, the coordination services every node runs (the leader's ticker, keepalives that
 * stop when the node crashes or is cut off), and the report's `coordination`.
 */
import { describe, expect, it } from 'vitest'
import { ScenarioError } from '../../sim/errors.js'
import { runScenario } from '../../sim/runner.js'
import { parseScenario } from '../../sim/scenario.js'
import { KEEPALIVE_PER_TTL, Simulation } from '../../sim/simulation.js'
import type { CoordEvent } from '../../protocols/coordination/types.js'

function err (steps: unknown[], nodes = 3): ScenarioError {
  try {
    parseScenario(JSON.stringify({ nodes, steps }))
  } catch (e) {
    if (e instanceof ScenarioError) return e
    throw e
  }
  throw new Error('expected a ScenarioError')
}

const run = (steps: unknown[], nodes = 3, seed = 1): ReturnType<typeof runScenario> => runScenario(parseScenario(JSON.stringify({ nodes, seed, steps })))

/** A timed simulation with coordination services, its leader elected. */
function cluster (nodes = 3, seed = 1): { sim: Simulation, events: CoordEvent[] } {
  const sim = new Simulation({ nodes, learners: [], seed, raft: { electionTick: 10, heartbeatTick: 1, preVote: false, checkQuorum: false }, network: { latencyMs: [1, 10], drop: 0, duplicate: 0, reorder: 0 }, tickMs: 10, timed: true, coordination: true })
  const events: CoordEvent[] = []
  sim.onCoordEvent(e => { events.push(e) })
  sim.runFor(1000)
  return { sim, events }
}

/** Propose at `node` and run until it applied; the machine's answer. */
function apply (sim: Simulation, node: number, cmd: Parameters<Simulation['proposeCoord']>[2]): Record<string, unknown> {
  const id = sim.proposeCoord(node, `n${node}`, cmd)
  let o: ReturnType<Simulation['takeCoordOutcome']>
  sim.runFor(2000, () => (o = sim.takeCoordOutcome(id)) !== undefined)
  expect(o, `${cmd.t} at node ${node} applied`).toBeDefined()
  return o?.result as Record<string, unknown>
}

describe('coordination verbs: parsing', () => {
  it('parses every verb with its defaults', () => {
    const s = parseScenario(JSON.stringify({
      nodes: 3,
      steps: [
        { lease: { node: 1 } },
        { lease: { node: 2, name: 'L2', ttlMs: 900, keepalive: false } },
        { keepalive: { node: 2, auto: false } },
        { lock: { node: 1, name: 'x' } },
        { lock: { node: 2, name: 's', lease: 'L2', wait: false, waitMs: 50, permits: 2 } },
        { unlock: { node: 1, name: 'x' } },
        { elect: { node: 3, name: 'e' } },
        { proclaim: { node: 3, name: 'e', value: { a: 1 } } },
        { resign: { node: 3, name: 'e' } },
        { barrier: { node: 1, name: 'b', parties: 2, agent: 'w1' } },
        { vote: { node: 1, id: 'v', options: ['y', 'n'], voters: [{ agent: 'a', node: 2 }], rule: { quorum: 1 } } },
        { ballot: { vote: 'v', agent: 'a', choice: 'y' } },
        { revoke: { node: 2, lease: 'L2' } }
      ]
    }))
    expect(s.steps).toEqual([
      { kind: 'lease', node: 1, name: 'n1', ttlMs: 2000, keepalive: true },
      { kind: 'lease', node: 2, name: 'L2', ttlMs: 900, keepalive: false },
      { kind: 'keepalive', node: 2, auto: false },
      { kind: 'lock', node: 1, name: 'x', lease: 'n1', wait: true },
      { kind: 'lock', node: 2, name: 's', lease: 'L2', wait: false, waitMs: 50, permits: 2 },
      { kind: 'unlock', node: 1, name: 'x', lease: 'n1' },
      { kind: 'elect', node: 3, name: 'e', lease: 'n3', value: '"n3"' },
      { kind: 'proclaim', node: 3, name: 'e', lease: 'n3', value: '{"a":1}' },
      { kind: 'resign', node: 3, name: 'e', lease: 'n3' },
      { kind: 'barrier', node: 1, name: 'b', parties: 2, agent: 'w1', lease: 'n1', waitMs: 10_000 },
      { kind: 'vote', node: 1, id: 'v', options: ['y', 'n'], voters: [{ agent: 'a', node: 2 }], rule: { kind: 'quorum', n: 1 }, deadlineMs: 10_000 },
      { kind: 'ballot', node: 2, vote: 'v', agent: 'a', choice: 'y' },
      { kind: 'revoke', node: 2, lease: 'L2' }
    ])
  })

  it('a malformed coordination step names its index and field', () => {
    const cases: Array<[unknown[], number, string]> = [
      [[{ lease: { node: 4 } }], 0, 'lease.node'],
      [[{ lease: { node: 1, ttlMs: 10 } }], 0, 'lease.ttlMs'],
      [[{ lock: { node: 1 } }], 0, 'lock.name'],
      [[{ lock: { node: 1, name: 'bad name' } }], 0, 'lock.name'],
      [[{ lock: { node: 1, name: 'x', permits: 0 } }], 0, 'lock.permits'],
      [[{ lock: { node: 1, name: 'x', colour: 'red' } }], 0, 'lock.colour'],
      [[{ barrier: { node: 1, name: 'b', agent: 'w' } }], 0, 'barrier.parties'],
      [[{ proclaim: { node: 1, name: 'e' } }], 0, 'proclaim.value'],
      [[{ vote: { node: 1, id: 'v', options: [], voters: [{ agent: 'a', node: 1 }] } }], 0, 'vote.options'],
      [[{ vote: { node: 1, id: 'v', options: ['y'], voters: [{ agent: 'a', node: 1 }], rule: 'plurality' } }], 0, 'vote.rule'],
      [[{ vote: { node: 1, id: 'v', options: ['y'], voters: [{ agent: 'a', node: 1 }], rule: { quorum: 2 } } }], 0, 'vote.rule.quorum'],
      [[{ ballot: { vote: 'v', agent: 'a', choice: 'y' } }], 0, 'ballot.vote'],
      [[{ vote: { node: 1, id: 'v', options: ['y'], voters: [{ agent: 'a', node: 1 }] } }, { ballot: { vote: 'v', agent: 'z', choice: 'y' } }], 1, 'ballot.node'],
      [[{ vote: { node: 1, id: 'v', options: ['y'], voters: [{ agent: 'a', node: 1 }] } }, { vote: { node: 1, id: 'v', options: ['y'], voters: [{ agent: 'a', node: 1 }] } }], 1, 'vote.id'],
      [[{ expect: { lock: { x: { holder: 9 } } } }], 0, 'expect.lock.x.holder'],
      [[{ expect: { votes: { v: { status: 'won' } } } }], 0, 'expect.votes.v.status'],
      [[{ expect: { barrier: { b: { outcomes: ['done'] } } } }], 0, 'expect.barrier.b.outcomes[0]'],
      [[{ expect: { lease: { n1: 'yes' } } }], 0, 'expect.lease.n1']
    ]
    for (const [steps, step, field] of cases) {
      const e = err(steps)
      expect(e.code).toBe('ERR_SCENARIO')
      expect([e.details.step, e.details.field], JSON.stringify(steps)).toEqual([step, field])
    }
  })
})

describe('coordination verbs: running', () => {
  it('a failed coordination expectation fails the report and names the field', () => {
    const r = run([{ run: 500 }, { lock: { node: 1, name: 'x' } }, { expect: { lock: { x: { holder: 2 } }, votes: { nope: { status: 'open' } } } }])
    expect(r.ok).toBe(false)
    expect(r.expectFailures.map(f => f.detail)).toEqual(['lock x holder: expected 2, got 1', 'vote nope: not found'])
    expect(r.violations).toEqual([])
  })

  it('a command the machine refuses is a refusal, not a failure', () => {
    const r = run([{ run: 500 }, { lease: { node: 1, name: 'A' } }, { lock: { node: 2, name: 'x', lease: 'A' } }, { unlock: { node: 3, name: 'x' } }, { expect: { lock: { x: { holder: null } } } }])
    expect(r.ok).toBe(true)
    expect(r.refusals.map(x => x.detail)).toEqual([
      expect.stringMatching(/^lock x at node 2: ERR_NOT_OWNER/),
      'unlock x at node 3: no granted lease n3'
    ])
  })

  it('coordination expectations without coordination verbs still run the machine (and report it)', () => {
    const r = run([{ run: 300 }, { expect: { lock: { x: { holder: null } }, lease: { n1: false } } }])
    expect(r.ok).toBe(true)
    expect(r.coordination).toEqual({ leases: {}, locks: {}, elections: {}, barriers: {}, votes: {} })
  })

  it('runs without coordination keep their logs: no epoch, no report section', () => {
    const r = run([{ run: 1000 }, { client: { node: 1, op: 'write', key: 'x', value: 1 } }, { run: 500 }])
    expect(r.coordination).toBeUndefined()
    expect(Object.values(r.nodes).flatMap(n => n.log).some(e => e[2].startsWith('coord:'))).toBe(false)
  })

  it('is deterministic and shows coordination entries as coord:{...}', () => {
    const steps = [{ run: 1000 }, { elect: { node: 2, name: 'e' } }, { run: 1000 }, { expect: { election: { e: { leader: 2, value: 'n2' } } } }]
    const a = run(steps, 3, 9)
    expect(a.ok).toBe(true)
    expect(run(steps, 3, 9).trace).toBe(a.trace)
    const log = a.nodes['1']?.log.map(e => e[2]) ?? []
    expect(log).toContainEqual(expect.stringMatching(/^coord:\{"cmd":\{"t":"epoch"\},"o":"n\d","t":\d+,"c":"n\d\/coord","s":1\}$/))
    expect(log).toContainEqual(expect.stringMatching(/^coord:\{"cmd":\{"t":"lock.acquire","kind":"election","name":"e","lease":\d+,"wait":true,"value":"\\"n2\\""\},"o":"n2","t":\d+,"c":"n2\/sim","s":2\}$/))
  })

  it('verbs work in step mode too (they advance virtual time themselves)', () => {
    const r = run([{ campaign: 1 }, { lock: { node: 2, name: 'x' } }, { lock: { node: 3, name: 'x' } }, { unlock: { node: 2, name: 'x' } }, { expect: { lock: { x: { holder: 3, granted: [2, 3] } }, violations: 0 } }])
    expect(r.expectFailures).toEqual([])
    expect(r.ok).toBe(true)
  })
})

describe('coordination services of the simulated nodes', () => {
  it('the leader proposes an epoch in each term it leads, and a tick once a deadline is due', () => {
    const { sim, events } = cluster()
    const leader = sim.leaderId()
    const l = apply(sim, 2, { t: 'lease.grant', ttlMs: 1000 })
    expect(l).toMatchObject({ ok: true })
    // Not kept alive: the leader's tick expires it about 1 s later in log time.
    sim.runFor(1500)
    expect(events.filter(e => e.type === 'lease:expired').map(e => (e as { lease: number }).lease)).toEqual([l.lease])
    const m = sim.coordinationOf(leader)
    expect(m?.lease(l.lease as number)).toBeUndefined()
    expect(m?.nextDeadline()).toBeUndefined()
    const entries = (id: number): string[] => sim.nodeReport(id).log.map(e => e[2]).filter(d => d.startsWith('coord:') && !d.includes('lease.'))
    expect(entries(leader).map(d => JSON.parse(d.slice(6)).cmd.t)).toEqual(['epoch', 'tick'])
    // A new leader: another epoch.
    sim.crash(leader)
    sim.runFor(2000)
    const next = sim.leaderId()
    expect(next).not.toBe(leader)
    expect(entries(next).filter(d => d.includes('"epoch"')).length).toBe(2)
  })

  it(`a kept lease is renewed every TTL / ${KEEPALIVE_PER_TTL} while its node is up; a crash ends the keepalives`, () => {
    const { sim, events } = cluster()
    const l = apply(sim, 3, { t: 'lease.grant', ttlMs: 900 }).lease as number
    sim.keepAlive(3, l, 900)
    sim.runFor(3000)
    expect(sim.coordinationOf(1)?.lease(l)).toBeDefined()
    const keepalives = sim.nodeReport(1).log.filter(e => e[2].includes('"lease.keepalive"') && e[2].includes('"o":"n3"')).length
    expect(keepalives).toBeGreaterThanOrEqual(3000 / 300 - 1)
    expect(keepalives).toBeLessThanOrEqual(3000 / 300 + 1)
    sim.crash(3)
    expect(sim.keptLeases(3)).toEqual([])
    sim.restart(3)
    sim.runFor(3000)
    expect(events.some(e => e.type === 'lease:expired' && e.lease === l)).toBe(true)
  })

  it('an isolated node\'s keepalives do not commit: the majority expires its lease; a hung client too', () => {
    const { sim, events } = cluster(5, 3)
    const a = apply(sim, 4, { t: 'lease.grant', ttlMs: 1000 }).lease as number
    const b = apply(sim, 5, { t: 'lease.grant', ttlMs: 1000 }).lease as number
    sim.keepAlive(4, a, 1000)
    sim.keepAlive(5, b, 1000)
    sim.isolate(4)
    sim.setKeepalive(5, false)
    sim.runFor(3000)
    const ended = events.filter(e => e.type === 'lease:expired').map(e => (e as { lease: number }).lease).sort((x, y) => x - y)
    expect(ended).toEqual([a, b].sort((x, y) => x - y))
    expect(sim.keptLeases(4)).toEqual([])
    expect(sim.violations).toEqual([])
  })

  it('an abandoned proposal is not proposed again', () => {
    const { sim } = cluster()
    sim.isolate(2)
    const id = sim.proposeCoord(2, 'n2', { t: 'lease.grant', ttlMs: 1000 })
    sim.abandon(id)
    sim.recover()
    sim.runFor(2000)
    expect(sim.takeCoordOutcome(id)).toBeUndefined()
  })
})
