/**
 * The fuzzer (VOPR-style): for each seed, a random fault schedule — partitions, isolations, cuts, crashes
 * (some torn: the node dies in the middle of a Ready) and restarts, random drops, duplicates, reordering
 * and latency changes — runs with random client operations (write, cas, read) in a *safety phase* with
 * the checkers on; then a *liveness phase* heals everything, restarts crashed nodes and requires every
 * node to apply a new value within a bound. At the end the client history is checked for
 * linearizability. Everything derives from the seed: a seed always gives the same trace hash.
 *
 * Unless `coordination: false`, random coordination traffic (sim/coord-fuzz.ts: leases, locks,
 * elections, barriers, votes) runs alongside the client operations in the safety phase, with every
 * node's coordination services (the leader's ticker, keepalives) on, so the coordination checkers
 * (sim/coord-checkers.ts) check every seed; nodes at the same applied index must hold the same
 * coordination state (compared every {@link COORD_CHECK_EPOCHS} epochs and at the end).
 *
 * Unless `tasks: false`, random task and message traffic (sim/task-fuzz.ts: submits, simulated hosts
 * that ack, complete, fail, hang or go silent, cancels, agents' messages) runs too, with the
 * coordination services on (hosts ack with leases), so the task checkers (sim/task-checkers.ts) and the
 * message checkers check every seed; task states are compared, and acknowledged tasks looked for on
 * every replica, with the coordination states.
 */
import { checkLinearizable, kvModel } from './linearizability/index.js'
import type { CheckOutcome } from './linearizability/index.js'
import { createRand } from '../src/base/prng.js'
import type { Rand } from '../src/base/prng.js'
import type { Violation } from './checkers.js'
import type { DiskFactory, KvCommand } from './simulation.js'
import { Simulation } from './simulation.js'
import { CoordWorkload } from './coord-fuzz.js'
import type { CoordWorkloadOptions, CoordWorkloadResult } from './coord-fuzz.js'
import { TaskWorkload } from './task-fuzz.js'
import type { TaskWorkloadOptions, TaskWorkloadResult } from './task-fuzz.js'

/** Fault kinds the fuzzer draws from (all by default). */
export const FAULT_KINDS = ['partition', 'isolate', 'cut', 'crash', 'drop', 'duplicate', 'reorder', 'delay', 'garbage', 'membership', 'snapshot'] as const
export type FaultKind = typeof FAULT_KINDS[number]

export interface FuzzOptions {
  /** Fault kinds to use; default all of {@link FAULT_KINDS}. An empty list runs without faults. */
  faults?: readonly FaultKind[]
  /** Nodes per cluster (all voters). Default 5. */
  nodes?: number
  /** Seeds to run. Default 100. */
  seeds?: number
  /** First seed. Default 1. */
  seedStart?: number
  /** Ticks of the safety phase (each node ticks every 10 virtual ms). Default 2000. */
  ticks?: number
  /** Bound on the liveness phase in ticks. Default 50 election timeouts (500 ticks). */
  livenessTicksMax?: number
  /** Client operations per 100 ticks in the safety phase. Default 10. */
  opsPer100Ticks?: number
  /** Each node's disk (default the simulated disk; a test may give a faulty one). The driver and application are always the shipped ones. */
  disk?: DiskFactory
  /** Search budget of the linearizability check per key; beyond it the result is `unknown` (reported, not a failure). Default 2,000,000. */
  linearizabilityStepsMax?: number
  /** Called after each seed. */
  onSeed?: (r: FuzzSeedResult) => void
  /**
   * Random coordination traffic and services alongside the client operations (sim/coord-fuzz.ts);
   * `false`: none (the seed's run is then what it was before coordination existed). Default true.
   */
  coordination?: boolean | CoordWorkloadOptions
  /**
   * Random task and message traffic (sim/task-fuzz.ts), with the coordination services on; `false`:
   * none. Default true.
   */
  tasks?: boolean | TaskWorkloadOptions
  /**
   * Leaders write their entries in parallel with sending them (the simulation's `asyncLeaderWrites`);
   * half of the crashes strike the leader, and after 5 % of the client operations a leader with writes
   * in flight dies in the middle of them (half of these torn). Default false.
   */
  asyncLeaderWrites?: boolean
  /** Every write stays in flight until a later tick of its node (the simulation's `slowDisks`). Default false. */
  slowDisks?: boolean
}

export interface FuzzSeedResult {
  seed: number
  ok: boolean
  /** SHA-256 of the seed's event trace. */
  trace: string
  /** Why it failed (violations, liveness, linearizability). */
  failures: string[]
  violations: Violation[]
  /** Highest index applied anywhere. */
  committed: number
  /** Client operations issued. */
  ops: number
  /** Ticks the liveness phase took, or null when it did not converge. */
  livenessTicks: number | null
  /** The fault actions taken, for the failure report. */
  faults: string[]
  /** Outcome of the linearizability check (`unknown`: search budget exhausted, inconclusive). */
  linearizability: CheckOutcome
  /** The coordination traffic: commands issued and committed events by type (absent with `coordination: false`). */
  coordination?: CoordWorkloadResult
  /** The task and message traffic (absent with `tasks: false`). */
  tasks?: TaskWorkloadResult
  /** With `asyncLeaderWrites`: leaders' parallel writes lost to crashes, and those a torn crash cut. */
  lostWrites?: { writes: number, torn: number }
  /** With `slowDisks`: committed entries applied while a write was in flight (over every node). */
  appliedWhileWriting?: number
}

export interface FuzzSummary {
  results: FuzzSeedResult[]
  /** Sum of committed entries over all seeds. */
  committed: number
}

const TICK_MS = 10
/** With coordination, nodes' coordination states are compared every this many epochs (and at the end). */
export const COORD_CHECK_EPOCHS = 4
const ELECTION_TICK = 10
const KEYS = ['x', 'y', 'z']

type Action = FaultKind | 'restart' | 'recover' | 'clean' | 'nothing'

/** A message the core must drop (malformed or from a non-member), never act on. */
function garbage (rand: Rand, to: number, nodes: number): { msg: Record<string, unknown>, what: string } {
  const base = { type: 'append', from: (to % nodes) + 1, to, term: 1, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0 }
  switch (rand.int(7)) {
    case 0: return { msg: { ...base, type: 'bogus' }, what: 'unknown type' }
    case 1: return { msg: { ...base, term: -3 }, what: 'negative term' }
    case 2: return { msg: { ...base, type: 'vote', from: nodes + 50, term: 1_000_000 }, what: 'vote from a non-member' }
    case 3: return { msg: { ...base, from: to }, what: 'from itself' }
    case 4: return { msg: { ...base, term: 1_000_000, index: 5, entries: [{ index: 9, term: 1, type: 'normal', data: new Uint8Array(1) }] }, what: 'entries not following index' }
    case 5: return { msg: { ...base, index: Number.NaN }, what: 'NaN index' }
    default: return { msg: { ...base, entries: 'not an array' }, what: 'entries not an array' }
  }
}

/** Run `seeds` seeds from `seedStart`. */
export function fuzz (options: FuzzOptions = {}): FuzzSummary {
  const seeds = options.seeds ?? 100
  const start = options.seedStart ?? 1
  const results: FuzzSeedResult[] = []
  let committed = 0
  for (let s = start; s < start + seeds; s++) {
    const r = fuzzSeed(s, options)
    committed += r.committed
    results.push(r)
    options.onSeed?.(r)
  }
  return { results, committed }
}

function randomCommand (rand: Rand, opId: number): KvCommand {
  const key = rand.pick(KEYS)
  const k = rand.int(10)
  if (k < 4) return { op: 'write', key, value: opId }
  if (k < 7) return { op: 'cas', key, expected: rand.chance(0.5) ? null : opId - 1 - rand.int(3), value: opId }
  return { op: 'read', key }
}

/** Run one seed. */
export function fuzzSeed (seed: number, options: FuzzOptions = {}): FuzzSeedResult {
  // Refused proposals are thrown errors in the core; their stack traces are costly and unused here.
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  try {
    return runSeed(seed, options)
  } finally {
    Error.stackTraceLimit = limit
  }
}

function runSeed (seed: number, options: FuzzOptions): FuzzSeedResult {
  const nodes = options.nodes ?? 5
  const ticks = options.ticks ?? 2000
  const livenessTicksMax = options.livenessTicksMax ?? 50 * ELECTION_TICK
  const opsPer100 = options.opsPer100Ticks ?? 10
  // The schedule has its own stream so the simulation's stream is the same whatever the schedule draws.
  const rand = createRand(seed).fork()
  const sim = new Simulation({
    nodes,
    learners: [],
    seed,
    raft: { electionTick: ELECTION_TICK, heartbeatTick: 1, preVote: rand.chance(0.5), checkQuorum: rand.chance(0.5) },
    network: { latencyMs: [1, 1 + rand.int(3 * TICK_MS)], drop: 0, duplicate: 0, reorder: 0 },
    tickMs: TICK_MS,
    timed: true,
    ...(options.disk !== undefined ? { disk: options.disk } : {}),
    ...(options.asyncLeaderWrites === true ? { asyncLeaderWrites: true } : {}),
    ...(options.slowDisks === true ? { slowDisks: true } : {}),
    coordination: options.coordination !== false || options.tasks !== false
  })
  const coord = options.coordination === false ? undefined : new CoordWorkload(seed, options.coordination === true || options.coordination === undefined ? {} : options.coordination)
  const tasks = options.tasks === false ? undefined : new TaskWorkload(seed, options.tasks === true || options.tasks === undefined ? {} : options.tasks)
  coord?.attach(sim)
  tasks?.attach(sim)
  if (coord !== undefined || tasks !== undefined) sim.onTickRound = () => { coord?.tick(); tasks?.tick() }
  const checkStates = (): void => { sim.checkCoordination(); if (tasks !== undefined) sim.checkTasks() }
  const faults: string[] = []
  const fault = (f: string): void => { faults.push(`${sim.now}ms ${f}`) }
  fault(`preVote=${String(sim.cfg.raft.preVote)} checkQuorum=${String(sim.cfg.raft.checkQuorum)} latency=${JSON.stringify(sim.net.latencyMs)}`)
  const ids = Array.from({ length: nodes }, (_, i) => i + 1)
  const crashed = new Set<number>()
  const enabled = new Set<FaultKind>(options.faults ?? FAULT_KINDS)
  // Weighted action list: each enabled fault, its undo, and quiet epochs.
  const actions: Action[] = ['nothing', 'nothing']
  for (const f of FAULT_KINDS) if (enabled.has(f)) actions.push(f, ...(f === 'partition' || f === 'crash' ? [f] : []))
  if (enabled.has('partition') || enabled.has('isolate') || enabled.has('cut')) actions.push('recover', 'recover')
  if (enabled.has('crash')) actions.push('restart', 'restart')
  if (enabled.has('drop') || enabled.has('duplicate') || enabled.has('reorder')) actions.push('clean')
  let ops = 0
  const safetyMs = ticks * TICK_MS
  const meanGapMs = opsPer100 > 0 ? (100 * TICK_MS) / opsPer100 : Infinity
  let epoch = 0
  while (sim.now < safetyMs) {
    sim.step = epoch
    sim.checker.step = epoch
    epoch++
    const action = rand.pick(actions)
    switch (action) {
      case 'partition': {
        const shuffled = ids.map(x => [rand.next(), x] as const).sort((a, b) => a[0] - b[0]).map(x => x[1])
        const cut = 1 + rand.int(Math.max(1, nodes - 1))
        const groups = [shuffled.slice(0, cut), shuffled.slice(cut)].filter(g => g.length > 0)
        sim.partition(groups); fault(`partition ${JSON.stringify(groups)}`)
        break
      }
      case 'isolate': { const id = rand.pick(ids); sim.isolate(id); fault(`isolate ${id}`); break }
      case 'cut': {
        if (nodes < 2) break
        const a = rand.pick(ids); let b = rand.pick(ids); if (b === a) b = (a % nodes) + 1
        sim.cut(a, b); fault(`cut ${a} ${b}`)
        break
      }
      case 'crash': {
        const live = ids.filter(i => !crashed.has(i))
        if (live.length === 0) break
        let id = rand.pick(live)
        // Leaders die with writes in flight (drawn only in this mode: other seeds keep their schedules).
        if (options.asyncLeaderWrites === true && rand.chance(0.5) && live.includes(sim.leaderId())) id = sim.leaderId()
        const torn = rand.chance(0.3)
        sim.crash(id, torn); crashed.add(id); fault(`crash ${id}${torn ? ' (torn)' : ''}`)
        break
      }
      case 'restart': {
        if (crashed.size === 0) break
        const id = rand.pick([...crashed].sort((a, b) => a - b))
        // A torn crash may still be armed (the node never processed a Ready): crash it for real first.
        sim.crash(id)
        sim.restart(id); crashed.delete(id); fault(`restart ${id}`)
        break
      }
      case 'recover': sim.recover(); fault('recover'); break
      case 'drop': sim.net.dropRate = rand.next() * 0.2; fault(`drop=${sim.net.dropRate.toFixed(3)}`); break
      case 'duplicate': sim.net.duplicateRate = rand.next() * 0.1; fault(`dup=${sim.net.duplicateRate.toFixed(3)}`); break
      case 'reorder': sim.net.reorderRate = rand.next() * 0.2; fault(`reorder=${sim.net.reorderRate.toFixed(3)}`); break
      case 'delay': {
        const lo = rand.int(2 * TICK_MS)
        sim.net.latencyMs = [lo, lo + rand.int(5 * TICK_MS)]
        fault(`latency ${JSON.stringify(sim.net.latencyMs)}`)
        break
      }
      case 'clean': sim.net.dropRate = 0; sim.net.duplicateRate = 0; sim.net.reorderRate = 0; fault('clean network'); break
      case 'garbage': {
        const to = rand.pick(ids)
        const g = garbage(rand, to, nodes)
        sim.inject(to, g.msg, g.what); fault(`garbage to ${to}: ${g.what}`)
        break
      }
      case 'membership': {
        // One change at a time at the leader: promote a learner, re-add a removed node as a learner,
        // or remove a voter (the leader included) while at least 3 voters remain.
        const leader = sim.leaderId()
        if (leader === 0) break
        const { voters, learners } = sim.configOf(leader)
        const removed = ids.filter(i => !voters.includes(i) && !learners.includes(i))
        if (learners.length > 0) {
          const l = rand.pick(learners); sim.confChange('addVoter', l); fault(`promote ${l}`)
        } else if (removed.length > 0 && rand.chance(0.6)) {
          const r = rand.pick(removed); sim.confChange('addLearner', r); fault(`add learner ${r}`)
        } else if (voters.length > 3) {
          const v = rand.pick(voters); sim.confChange('removeNode', v); fault(`remove ${v}`)
        }
        break
      }
      case 'snapshot': {
        // A live node snapshots its applied state and compacts its log; lagging peers then need a snapshot.
        const live = ids.filter(i => !sim.isCrashed(i))
        if (live.length === 0) break
        const id = rand.pick(live)
        const at = sim.appliedOf(id)
        if (at > 0 && sim.compact(id, at) === undefined) fault(`compact ${id} at ${at}`)
        break
      }
      case 'nothing': break
    }
    // The epoch lasts 1..4 election timeouts, with client operations at random times.
    const epochEnd = Math.min(safetyMs, sim.now + ELECTION_TICK * TICK_MS * (1 + rand.int(4)))
    while (sim.now < epochEnd) {
      const gap = meanGapMs === Infinity ? epochEnd - sim.now : Math.max(1, Math.round(rand.next() * 2 * meanGapMs))
      sim.runFor(Math.min(gap, epochEnd - sim.now))
      if (meanGapMs !== Infinity && sim.now < epochEnd) {
        ops++
        sim.client(rand.pick(ids), randomCommand(rand, 1000 + ops))
        // Leaders die in the middle of their parallel writes (drawn only in this mode).
        const leader = options.asyncLeaderWrites === true && rand.chance(0.05) ? sim.leaderId() : 0
        if (leader !== 0 && sim.inflightWrites(leader) > 0) {
          const torn = rand.chance(0.5)
          sim.crash(leader, torn); crashed.add(leader); fault(`crash leader ${leader} mid-write${torn ? ' (torn)' : ''}`)
        }
      }
    }
    if ((coord !== undefined || tasks !== undefined) && epoch % COORD_CHECK_EPOCHS === 0) checkStates()
  }
  // Liveness: heal everything, restart every crashed node, require every node to apply a new value.
  sim.step = epoch
  sim.checker.step = epoch
  fault('liveness phase: heal all')
  coord?.stop()
  tasks?.stop()
  sim.recover()
  sim.net.dropRate = 0; sim.net.duplicateRate = 0; sim.net.reorderRate = 0
  sim.net.latencyMs = [1, TICK_MS]
  for (const id of [...crashed].sort((a, b) => a - b)) { sim.crash(id); sim.restart(id) }
  crashed.clear()
  const marker = `live-${seed}`
  sim.client(rand.pick(ids), { op: 'write', key: 'live', value: marker })
  const t0 = sim.now
  const deadline = t0 + livenessTicksMax * TICK_MS
  const applied = (): boolean => ids.every(id => sim.kvRead(id, 'live') === marker)
  // Bring every node back into the configuration (as learner, then voter), one change at a time at the
  // current leader, until every node applied the marker. (A restarted leader may still be re-applying
  // its log, so its configuration is read afresh each round.)
  let live = applied()
  while (!live && sim.now < deadline) {
    const l = sim.leaderId()
    if (l !== 0) {
      const { voters, learners } = sim.configOf(l)
      const missing = ids.find(i => !voters.includes(i) && !learners.includes(i))
      if (learners.length > 0) sim.confChange('addVoter', learners[0] as number)
      else if (missing !== undefined) sim.confChange('addLearner', missing)
    }
    live = sim.runFor(Math.min(ELECTION_TICK * TICK_MS, deadline - sim.now), applied)
  }
  const livenessTicks = live ? Math.round((sim.now - t0) / TICK_MS) : null
  if (coord !== undefined || tasks !== undefined) checkStates()
  sim.finishClientOps()
  tasks?.finish()
  const failures: string[] = []
  for (const v of sim.violations) failures.push(`${v.invariant} at epoch ${v.step}: ${v.detail}`)
  if (!live) failures.push(`liveness: not every node applied the new value within ${livenessTicksMax} ticks after healing`)
  const lin = checkLinearizable(kvModel, sim.operations(), { stepsMax: options.linearizabilityStepsMax ?? 2_000_000 })
  if (lin.result === 'illegal') failures.push(`linearizability: key ${lin.failedOps?.[0]?.input.key ?? '?'}:\n${lin.detail ?? ''}`)
  return {
    seed,
    ok: failures.length === 0,
    trace: sim.trace.digest(),
    failures,
    violations: sim.violations.slice(),
    committed: sim.committedEntries,
    ops: ops + 1,
    livenessTicks,
    faults,
    linearizability: lin.result,
    ...(coord !== undefined ? { coordination: coord.result } : {}),
    ...(tasks !== undefined ? { tasks: tasks.result } : {}),
    ...(options.asyncLeaderWrites === true || options.slowDisks === true ? { lostWrites: sim.lostWrites() } : {}),
    ...(options.slowDisks === true ? { appliedWhileWriting: sim.appliedWhileWriting() } : {})
  }
}
