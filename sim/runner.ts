/**
 * The scenario runner: runs a parsed {@link Scenario} on a {@link Simulation} and produces the report of
 * SCENARIOS.md. Step-mode verbs deliver to quiescence after each step; timed mode (a scenario with a
 * `run` step) delivers only while `run` advances the clock. Checkers run after every step; at the end
 * the client history is checked for linearizability. The agent-level verbs (mint, agent, auction, stake,
 * slash) run on an economy replica per node (sim/economy.ts) driven by sim/agents.ts; a scenario using
 * them (or economy expectations) gets the report's `auctions`, `accounts` and `supply`. The coordination
 * verbs (lease, lock, elect, barrier, vote...) are driven by sim/coordination.ts; a scenario using them
 * (or coordination expectations) runs every node's coordination services (the leader's ticker,
 * keepalives) and gets the report's `coordination`. The task and message verbs (worker, task, message)
 * are driven by sim/tasks.ts (with the coordination services: hosts ack with leases); a scenario using
 * them gets the report's `tasks`.
 */
import { nullObject } from '../src/base/input.js'
import { NotImplementedError } from '../src/base/errors.js'
import { checkLinearizable, kvModel } from './linearizability/index.js'
import type { DiskFactory } from './simulation.js'
import type { Report } from './report.js'
import type { CoordStep, Expectation, PerNode, Scenario, Step, TaskStep } from './scenario.js'
import { Simulation } from './simulation.js'
import { AgentDriver } from './agents.js'
import { economyReport } from './economy.js'
import type { AuctionReport } from './economy.js'
import { COORD_VERBS, ECONOMY_VERBS, TASK_VERBS, hasCoordExpect, hasTaskExpect } from './scenario.js'
import { CoordDriver } from './coordination.js'
import { TaskDriver } from './tasks.js'

export interface RunOptions {
  /** Progress lines (stderr in the CLI). */
  log?: (line: string) => void
  /** Each node's disk (default the simulated disk; a test may give a faulty one). The driver and application are always the shipped ones. */
  disk?: DiskFactory
  /**
   * Extra client load driven alongside the steps (e.g. sim/ledger-fuzz.ts): `attach` once the simulation
   * exists, `tick` after every tick round (after the agents), `finish` after the client operations ended
   * (before the report's violations are taken: it may report some).
   */
  workload?: Workload
  /**
   * Run every node's coordination services (the leader's ticker, keepalives) and the report's
   * `coordination` even without coordination verbs (a workload proposing coordination commands).
   * Default: when the scenario has coordination verbs or expectations.
   */
  coordination?: boolean
}

export interface Workload {
  attach: (sim: Simulation) => void
  tick: () => void
  finish: () => void
}

/** One workload driving several, in the given order. */
export function combineWorkloads (...ws: Workload[]): Workload {
  return {
    attach: sim => { for (const w of ws) w.attach(sim) },
    tick: () => { for (const w of ws) w.tick() },
    finish: () => { for (const w of ws) w.finish() }
  }
}

/** Run a scenario to the end and return its report. Deterministic for a given scenario and seed. */
export function runScenario (scenario: Scenario, options: RunOptions = {}): Report {
  const economy = scenario.steps.some(s => ECONOMY_VERBS.has(s.kind) || (s.kind === 'expect' && (s.expect.auction !== undefined || s.expect.account !== undefined || s.expect.supply !== undefined)))
  const tasks = scenario.steps.some(s => TASK_VERBS.has(s.kind) || (s.kind === 'expect' && hasTaskExpect(s.expect)))
  const coordination = (options.coordination ?? scenario.steps.some(s => COORD_VERBS.has(s.kind) || (s.kind === 'expect' && hasCoordExpect(s.expect)))) || tasks
  const sim = new Simulation({
    nodes: scenario.nodes,
    learners: scenario.learners,
    seed: scenario.seed,
    raft: scenario.raft,
    init: scenario.init,
    network: scenario.network,
    tickMs: scenario.tickMs,
    timed: scenario.timed,
    ...(options.disk !== undefined ? { disk: options.disk } : {}),
    economy,
    coordination
  })
  const agents = economy ? new AgentDriver(sim, scenario) : undefined
  const coord = coordination ? new CoordDriver(sim) : undefined
  const taskDriver = tasks ? new TaskDriver(sim) : undefined
  const workload = options.workload
  workload?.attach(sim)
  if (agents !== undefined || coord !== undefined || workload !== undefined) sim.onTickRound = () => { agents?.poll(); coord?.poll(); taskDriver?.poll(); workload?.tick() }
  const log = options.log ?? (() => {})
  const expectFailures: Array<{ step: number, detail: string }> = []
  scenario.steps.forEach((step, i) => {
    sim.step = i
    sim.checker.step = i
    if (agents !== undefined && ECONOMY_VERBS.has(step.kind)) {
      agents.run(step)
      if (!scenario.timed) sim.quiesce()
    } else if (coord !== undefined && COORD_VERBS.has(step.kind)) {
      coord.run(step as CoordStep)
      if (!scenario.timed) sim.quiesce()
    } else if (taskDriver !== undefined && TASK_VERBS.has(step.kind)) {
      taskDriver.run(step as TaskStep)
      if (!scenario.timed) sim.quiesce()
    } else {
      runStep(sim, step, scenario.timed)
    }
    sim.checker.checkViews(sim.views())
    if (economy) sim.checkEconomies()
    if (coordination) { sim.checkCoordination(); sim.checkTasks() }
    if (step.kind === 'expect') {
      for (const f of evaluate(sim, step.expect, scenario.nodes, coord, taskDriver)) {
        expectFailures.push({ step: i, detail: f })
        log(`step ${i}: expect failed: ${f}`)
      }
    }
  })
  sim.step = scenario.steps.length
  sim.checker.step = scenario.steps.length
  sim.finishClientOps()
  workload?.finish()
  if (sim.history.length > 0) {
    const r = checkLinearizable(kvModel, sim.operations())
    if (r.result === 'illegal') sim.checker.report('linearizability', `history not linearizable on key ${r.failedOps?.[0]?.input.key ?? '?'}:\n${r.detail ?? ''}`)
    else if (r.result === 'unknown') log(`linearizability check gave up after ${r.steps} steps`)
  }
  const nodes: Report['nodes'] = nullObject()
  const readStates: Report['readStates'] = nullObject()
  for (let id = 1; id <= scenario.nodes; id++) {
    nodes[String(id)] = sim.nodeReport(id)
    const rs = sim.readStatesOf(id)
    if (rs.length > 0) readStates[String(id)] = rs.slice()
  }
  const violations = sim.violations.slice()
  for (const v of violations) log(`violation ${v.invariant} at step ${v.step}: ${v.detail}`)
  return {
    name: scenario.name,
    seed: scenario.seed,
    ok: expectFailures.length === 0 && violations.length === 0,
    nodes,
    readStates,
    ...(economy ? economyReport(sim.economyOf(sim.reportNode()) as NonNullable<ReturnType<Simulation['economyOf']>>) : { auctions: {}, accounts: {}, supply: { minted: 0, total: 0 } }),
    ...(coord !== undefined ? { coordination: coord.report(sim.coordinationOf(sim.reportNode())) } : {}),
    ...(taskDriver !== undefined ? { tasks: taskDriver.report(sim.tasksOf(sim.reportNode())) } : {}),
    history: sim.history,
    violations,
    trace: sim.trace.digest(),
    refusals: sim.refusals,
    expectFailures,
    timeMs: sim.now,
    events: sim.trace.events
  }
}

function runStep (sim: Simulation, step: Step, timed: boolean): void {
  const settle = (): void => { if (!timed) sim.quiesce() }
  switch (step.kind) {
    case 'campaign': sim.campaign(step.node); break
    case 'propose': sim.propose(step.node, step.data); break
    case 'tick':
      for (let k = 0; k < step.times; k++) {
        if (step.node === 'all') { for (let id = 1; id <= sim.size; id++) sim.tick(id) } else sim.tick(step.node)
        settle()
      }
      return
    case 'heartbeat': sim.heartbeat(step.node); break
    case 'readIndex': sim.readIndex(step.node, step.ctx); break
    case 'transfer': sim.transfer(step.to, step.via); break
    case 'addNode': sim.confChange(step.learner ? 'addLearner' : 'addVoter', step.node); break
    case 'removeNode': sim.confChange('removeNode', step.node); break
    case 'compact': sim.compact(step.node, step.index); break
    case 'isolate': sim.isolate(step.node); break
    case 'cut': sim.cut(step.a, step.b); break
    case 'partition': sim.partition(step.groups); break
    case 'drop': sim.dropType(step.type); break
    case 'recover': sim.recover(); break
    case 'crash': sim.crash(step.node); break
    case 'restart': sim.restart(step.node); break
    case 'expect': return
    case 'run': sim.runFor(step.ms); return
    case 'client': {
      const c = step.client
      sim.client(c.node, c.op === 'read' ? { op: 'read', key: c.key } : c.op === 'write' ? { op: 'write', key: c.key, value: c.value } : { op: 'cas', key: c.key, expected: c.expected, value: c.value })
      return
    }
    default:
      throw new NotImplementedError(`scenario verb "${step.kind}"`)
  }
  settle()
}

function perNode<T> (spec: PerNode<T>, nodes: number, sim: Simulation, liveOnly: boolean): Array<[number, T]> {
  if (typeof spec === 'object' && spec !== null && !Array.isArray(spec)) {
    return Object.entries(spec as Record<string, T>).map(([k, v]) => [Number(k), v])
  }
  const out: Array<[number, T]> = []
  for (let id = 1; id <= nodes; id++) if (!liveOnly || !sim.isCrashed(id)) out.push([id, spec as T])
  return out
}

const j = (x: unknown): string => JSON.stringify(x)

/** Evaluate an expectation; returns a description of each failure. `coord`: the run's coordination verbs (for the coordination fields). */
export function evaluate (sim: Simulation, e: Expectation, nodes: number, coord?: CoordDriver, tasks?: TaskDriver): string[] {
  const fails: string[] = []
  if (e.leader !== undefined) {
    const leader = sim.leaderId()
    if (leader !== e.leader) fails.push(`leader: expected ${e.leader}, got ${leader}`)
  }
  const reports = new Map<number, ReturnType<Simulation['nodeReport']>>()
  const rep = (id: number): ReturnType<Simulation['nodeReport']> => {
    let r = reports.get(id)
    if (r === undefined) { r = sim.nodeReport(id); reports.set(id, r) }
    return r
  }
  const scalarField = (name: 'role' | 'term' | 'vote' | 'commit' | 'applied' | 'firstIndex'): void => {
    const spec = e[name]
    if (spec === undefined) return
    for (const [id, want] of perNode<string | number>(spec, nodes, sim, name !== 'role')) {
      const got = rep(id)[name]
      if (got !== want) fails.push(`${name} of node ${id}: expected ${j(want)}, got ${j(got)}`)
    }
  }
  scalarField('role'); scalarField('term'); scalarField('vote'); scalarField('commit'); scalarField('applied'); scalarField('firstIndex')
  if (e.lastIndex !== undefined) {
    for (const [id, want] of perNode(e.lastIndex, nodes, sim, true)) {
      const v = sim.viewOf(id)
      if (v.lastIndex !== want) fails.push(`lastIndex of node ${id}: expected ${want}, got ${v.lastIndex}`)
    }
  }
  if (e.log !== undefined) {
    for (const [id, want] of perNode(e.log, nodes, sim, true)) {
      const got = rep(id).log
      if (j(got) !== j(want)) fails.push(`log of node ${id}: expected ${j(want)}, got ${j(got)}`)
    }
  }
  if (e.logTerms !== undefined) {
    for (const [id, want] of perNode(e.logTerms, nodes, sim, true)) {
      const got = rep(id).log.map(x => x[1])
      if (j(got) !== j(want)) fails.push(`log terms of node ${id}: expected ${j(want)}, got ${j(got)}`)
    }
  }
  if (e.readStates !== undefined) {
    for (const [id, want] of perNode(e.readStates, nodes, sim, true)) {
      const got = sim.readStatesOf(id)
      if (j(got) !== j(want)) fails.push(`readStates of node ${id}: expected ${j(want)}, got ${j(got)}`)
    }
  }
  for (const name of ['voters', 'learners'] as const) {
    const spec = e[name]
    if (spec === undefined) continue
    for (const [id, want] of perNode(spec, nodes, sim, true)) {
      const got = [...sim.configOf(id)[name]].sort((a, b) => a - b)
      const w = [...want].sort((a, b) => a - b)
      if (j(got) !== j(w)) fails.push(`${name} of node ${id}: expected ${j(w)}, got ${j(got)}`)
    }
  }
  if (e.refusals !== undefined && sim.refusals.length !== e.refusals) fails.push(`refusals: expected ${e.refusals}, got ${sim.refusals.length} (${sim.refusals.map(r => r.detail).join('; ')})`)
  if (e.violations !== undefined && sim.violations.length !== e.violations) fails.push(`violations: expected ${e.violations}, got ${sim.violations.length}`)
  if (e.kv !== undefined) {
    for (const [key, want] of Object.entries(e.kv)) {
      for (let id = 1; id <= nodes; id++) {
        if (sim.isCrashed(id)) continue
        const got = sim.kvRead(id, key)
        if (got !== want) fails.push(`kv ${key} at node ${id}: expected ${j(want)}, got ${j(got)}`)
      }
    }
  }
  fails.push(...evaluateEconomy(sim, e))
  if (hasTaskExpect(e)) fails.push(...(tasks === undefined ? ['task expectations need tasks'] : tasks.evaluate(e, sim.tasksOf(sim.reportNode()))))
  if (hasCoordExpect(e)) fails.push(...(coord === undefined ? ['coordination expectations need coordination'] : coord.evaluate(e, sim.coordinationOf(sim.reportNode()))))
  if (e.linearizable !== undefined) {
    const ops = sim.operations().map(o => o.return === null ? { ...o, return: Infinity } : o)
    const ok = checkLinearizable(kvModel, ops).ok
    if (ok !== e.linearizable) fails.push(`linearizable: expected ${String(e.linearizable)}, got ${String(ok)}`)
  }
  return fails
}

/** The economy expectations (`auction`, `account`, `supply`) against the report's economy. */
function evaluateEconomy (sim: Simulation, e: Expectation): string[] {
  if (e.auction === undefined && e.account === undefined && e.supply === undefined) return []
  const econ = sim.economyOf(sim.reportNode())
  if (econ === undefined) return ['economy expectations need an economy']
  const fails: string[] = []
  const r = economyReport(econ)
  for (const [id, want] of Object.entries(e.auction ?? {})) {
    const got: AuctionReport | undefined = r.auctions[id]
    if (got === undefined) { fails.push(`auction ${id}: not found`); continue }
    const cmp = (field: string, w: unknown, g: unknown): void => { if (w !== undefined && j(w) !== j(g)) fails.push(`auction ${id} ${field}: expected ${j(w)}, got ${j(g)}`) }
    cmp('status', want.status, got.status)
    cmp('clearingPrice', want.clearingPrice, got.clearingPrice)
    cmp('quantity', want.quantity, got.quantity)
    cmp('welfare', want.welfare, got.welfare)
    if (want.winner !== undefined) cmp('winner', want.winner, got.winners.length === 1 ? got.winners[0]?.agent : got.winners.length === 0 ? null : got.winners.map(w => w.agent))
    if (want.price !== undefined) cmp('price', want.price, got.winners.length === 1 ? got.winners[0]?.price : got.winners.map(w => w.price))
    if (want.winners !== undefined) {
      const shaped = got.winners.map((g, k) => {
        const w = want.winners?.[k]
        if (typeof w === 'string' || w === undefined) return g.agent
        return { agent: g.agent, ...(w.items !== undefined ? { items: g.items } : {}), ...(w.price !== undefined ? { price: g.price } : {}) }
      })
      cmp('winners', want.winners, shaped)
    }
  }
  for (const [id, want] of Object.entries(e.account ?? {})) {
    const got = r.accounts[id]
    if (want === null) { if (got !== undefined) fails.push(`account ${id}: expected none, got ${j(got)}`); continue }
    if (got === undefined) { fails.push(`account ${id}: not found`); continue }
    for (const [k, w] of Object.entries(want)) {
      const g = (got as unknown as Record<string, number>)[k]
      if (g !== w) fails.push(`account ${id} ${k}: expected ${w}, got ${j(g)}`)
    }
  }
  for (const k of ['minted', 'total'] as const) {
    const w = e.supply?.[k]
    if (w !== undefined && r.supply[k] !== w) fails.push(`supply ${k}: expected ${w}, got ${r.supply[k]}`)
  }
  return fails
}
