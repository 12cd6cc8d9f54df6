/**
 * The budget checkers (sim/budget-checkers.ts) can fail, on hand-made inputs; and the simulator runs the
 * budget machine on every node under faults (an isolated host, a crashed one, snapshots installed on a
 * node that was cut off) with no violation, every replica re-splitting the budget once a host's lease
 * expired.
 */
import { describe, expect, it } from 'vitest'
import { BudgetAgreement, BudgetChecker } from '../../sim/budget-checkers.js'
import { Simulation } from '../../sim/simulation.js'
import { BudgetMachine, type BudgetEvent, type BudgetView } from '../../protocols/infrastructure/index.js'

function sink (): { found: Array<[string, string]>, report: (i: string, d: string) => void } {
  const found: Array<[string, string]> = []
  return { found, report: (i, d) => { found.push([i, d]) } }
}

const joined = (index: number, host: string): BudgetEvent => ({ type: 'budget:joined', index, name: 'b', host, capacity: 1, lease: 1 })

describe('budget checkers on hand-made inputs', () => {
  it('budget-split: shares adding up to more than the rate, and a machine invariant broken', () => {
    const s = sink()
    const c = new BudgetChecker(1, s, new BudgetAgreement())
    const over: BudgetView = { name: 'b', ratePerSecond: 10, burst: 1, owner: 'n1', index: 1, rev: 2, capacity: 2, hosts: [{ host: 'n1', capacity: 1, lease: 1, since: 2, ratePerSecond: 6, burst: 1 }, { host: 'n2', capacity: 1, lease: 2, since: 2, ratePerSecond: 6, burst: 1 }] }
    c.attach({ get: () => over, invariants: () => ['budget b: host n2 not indexed'] } as unknown as BudgetMachine)
    c.onEvent(joined(2, 'n2'))
    expect(s.found).toEqual([
      ['budget-split', 'node 1 entry 2: budget b\'s shares add up to 12 > its rate 10'],
      ['budget-split', 'node 1 entry 2: budget b: host n2 not indexed']
    ])
    // A correct machine passes.
    const ok = sink()
    const c2 = new BudgetChecker(1, ok, new BudgetAgreement())
    c2.attach(new BudgetMachine())
    c2.onEvent(joined(2, 'n2'))
    expect(ok.found).toEqual([])
  })

  it('budget-agreement: replicas applying different budget events at the same entry and rank', () => {
    const s = sink()
    const agreement = new BudgetAgreement()
    const a = new BudgetChecker(1, s, agreement)
    const b = new BudgetChecker(2, s, agreement)
    a.attach(new BudgetMachine()); b.attach(new BudgetMachine())
    a.onEvent(joined(5, 'n1')); a.onEvent(joined(5, 'n2'))
    b.onEvent(joined(5, 'n1')); b.onEvent(joined(5, 'n3'))
    expect(s.found).toEqual([['budget-agreement', expect.stringMatching(/^entry 5 budget event 1: node 1 applied .*"host":"n2".*, node 2 .*"host":"n3"/)]])
  })
})

describe('the budget machine in the simulator', () => {
  it('every replica re-splits once an isolated or crashed host\'s lease expired, with no violation; snapshots restore it', () => {
    const sim = new Simulation({ nodes: 5, learners: [], seed: 7, raft: { electionTick: 10, heartbeatTick: 1, preVote: true, checkQuorum: true }, network: { latencyMs: [1, 10], drop: 0, duplicate: 0, reorder: 0 }, tickMs: 10, timed: true, coordination: true, snapshotEntries: 20 })
    const events: BudgetEvent[] = []
    sim.runFor(1000)
    const apply = (node: number, run: (n: number) => number): Record<string, unknown> => {
      const id = run(node)
      let o: ReturnType<Simulation['takeCoordOutcome']>
      sim.runFor(3000, () => (o = sim.takeCoordOutcome(id)) !== undefined)
      expect(o, `command at node ${node} applied`).toBeDefined()
      return o?.result as Record<string, unknown>
    }
    expect(apply(1, n => sim.proposeBudget(n, `n${n}`, { t: 'budget.define', name: 'gpu', ratePerSecond: 150, burst: 15 }))).toMatchObject({ ok: true, created: true })
    for (let n = 1; n <= 5; n++) {
      const lease = apply(n, k => sim.proposeCoord(k, `n${k}`, { t: 'lease.grant', ttlMs: 1000 })).lease as number
      sim.keepAlive(n, lease, 1000)
      expect(apply(n, k => sim.proposeBudget(k, `n${k}`, { t: 'budget.join', name: 'gpu', capacity: n, lease }))).toMatchObject({ ok: true })
    }
    const hostsOn = (node: number): string[] => sim.nodeApp(node)?.budgets.get('gpu')?.hosts.map(h => h.host) ?? []
    sim.runFor(500)
    for (let n = 1; n <= 5; n++) expect(hostsOn(n)).toEqual(['n1', 'n2', 'n3', 'n4', 'n5'])
    sim.nodeApp(1)!.onBudgets(m => { m.on('budget:event', e => { events.push(e) }) })
    // n4 cut off, n5 crashed: their keepalives stop committing; the majority expires both leases.
    sim.isolate(4)
    sim.crash(5)
    sim.runFor(5000)
    expect(events.filter(e => e.type === 'budget:left').map(e => [(e as { host: string }).host, (e as { reason: string }).reason]).sort()).toEqual([['n4', 'lease-ended'], ['n5', 'lease-ended']])
    for (const n of [1, 2, 3]) {
      const v = sim.nodeApp(n)!.budgets.get('gpu')!
      expect(v.hosts.map(h => [h.host, h.ratePerSecond])).toEqual([['n1', 25], ['n2', 50], ['n3', 75]])
    }
    // Back again: n4 catches up (a snapshot, with entries past 20) and agrees; n5 restarts from its disk.
    const cutOff = sim.nodeApp(4)!.budgets
    expect(cutOff.get('gpu')?.hosts).toHaveLength(5)
    sim.recover()
    sim.restart(5)
    sim.runFor(5000)
    for (const n of [4, 5]) expect(hostsOn(n)).toEqual(['n1', 'n2', 'n3'])
    // n4 took a snapshot (the others' logs were compacted past where it stopped): its machine was replaced.
    expect(sim.nodeApp(4)!.budgets).not.toBe(cutOff)
    expect(sim.violations).toEqual([])
  })
})
