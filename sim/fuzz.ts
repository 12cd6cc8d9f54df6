/**
 * The fuzzer (VOPR-style): for each seed, a random fault schedule — partitions, isolations, cuts, crashes
 * (some torn: the node dies in the middle of a Ready) and restarts, random drops, duplicates, reordering
 * and latency changes — runs with random client operations (write, cas, read) in a *safety phase* with
 * the checkers on; then a *liveness phase* heals everything, restarts crashed nodes and requires every
 * node to apply a new value within a bound. At the end the client history is checked for
 * linearizability. Everything derives from the seed: a seed always gives the same trace hash.
 */
import { checkLinearizable, kvModel } from './linearizability/index.js'
import { createRand } from './prng.js'
import type { Rand } from './prng.js'
import type { Violation } from './checkers.js'
import { defaultFactory } from './raft-binding.js'
import type { KvCommand, SimKvFactory, SimRaftFactory } from './raft-adapter.js'
import { Simulation } from './simulation.js'

export interface FuzzOptions {
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
  /** The Raft binding (default: protocols/raft). */
  factory?: SimRaftFactory & SimKvFactory
  /** Called after each seed. */
  onSeed?: (r: FuzzSeedResult) => void
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
}

export interface FuzzSummary {
  results: FuzzSeedResult[]
  /** Sum of committed entries over all seeds. */
  committed: number
}

const TICK_MS = 10
const ELECTION_TICK = 10
const KEYS = ['x', 'y', 'z']

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
    factory: options.factory ?? defaultFactory
  })
  const faults: string[] = []
  const fault = (f: string): void => { faults.push(`${sim.now}ms ${f}`) }
  fault(`preVote=${String(sim.cfg.raft.preVote)} checkQuorum=${String(sim.cfg.raft.checkQuorum)} latency=${JSON.stringify(sim.net.latencyMs)}`)
  const ids = Array.from({ length: nodes }, (_, i) => i + 1)
  const crashed = new Set<number>()
  let ops = 0
  const safetyMs = ticks * TICK_MS
  const meanGapMs = opsPer100 > 0 ? (100 * TICK_MS) / opsPer100 : Infinity
  let epoch = 0
  while (sim.now < safetyMs) {
    sim.step = epoch
    sim.checker.step = epoch
    epoch++
    const k = rand.int(14)
    if (k === 0 || k === 1) {
      const shuffled = ids.map(x => [rand.next(), x] as const).sort((a, b) => a[0] - b[0]).map(x => x[1])
      const cut = 1 + rand.int(Math.max(1, nodes - 1))
      const groups = [shuffled.slice(0, cut), shuffled.slice(cut)].filter(g => g.length > 0)
      sim.partition(groups); fault(`partition ${JSON.stringify(groups)}`)
    } else if (k === 2) {
      const id = rand.pick(ids); sim.isolate(id); fault(`isolate ${id}`)
    } else if (k === 3 && nodes > 1) {
      const a = rand.pick(ids); let b = rand.pick(ids); if (b === a) b = (a % nodes) + 1
      sim.cut(a, b); fault(`cut ${a} ${b}`)
    } else if (k === 4 || k === 5) {
      const live = ids.filter(i => !crashed.has(i))
      if (live.length > 0) {
        const id = rand.pick(live)
        const torn = rand.chance(0.3)
        sim.crash(id, torn); crashed.add(id); fault(`crash ${id}${torn ? ' (torn)' : ''}`)
      }
    } else if (k === 6 || k === 7) {
      if (crashed.size > 0) {
        const id = rand.pick([...crashed].sort((a, b) => a - b))
        // A torn crash may still be armed (the node never processed a Ready): crash it for real first.
        sim.crash(id)
        sim.restart(id); crashed.delete(id); fault(`restart ${id}`)
      }
    } else if (k === 8 || k === 9) {
      sim.recover(); fault('recover')
    } else if (k === 10) {
      sim.net.dropRate = rand.next() * 0.2
      sim.net.duplicateRate = rand.next() * 0.1
      sim.net.reorderRate = rand.next() * 0.2
      fault(`drop=${sim.net.dropRate.toFixed(3)} dup=${sim.net.duplicateRate.toFixed(3)} reorder=${sim.net.reorderRate.toFixed(3)}`)
    } else if (k === 11) {
      const lo = rand.int(2 * TICK_MS)
      sim.net.latencyMs = [lo, lo + rand.int(5 * TICK_MS)]
      fault(`latency ${JSON.stringify(sim.net.latencyMs)}`)
    } else if (k === 12) {
      sim.net.dropRate = 0; sim.net.duplicateRate = 0; sim.net.reorderRate = 0; fault('clean network')
    }
    // The epoch lasts 1..4 election timeouts, with client operations at random times.
    const epochEnd = Math.min(safetyMs, sim.now + ELECTION_TICK * TICK_MS * (1 + rand.int(4)))
    while (sim.now < epochEnd) {
      const gap = meanGapMs === Infinity ? epochEnd - sim.now : Math.max(1, Math.round(rand.next() * 2 * meanGapMs))
      sim.runFor(Math.min(gap, epochEnd - sim.now))
      if (meanGapMs !== Infinity && sim.now < epochEnd) {
        ops++
        sim.client(rand.pick(ids), randomCommand(rand, 1000 + ops))
      }
    }
  }
  // Liveness: heal everything, restart every crashed node, require every node to apply a new value.
  sim.step = epoch
  sim.checker.step = epoch
  fault('liveness phase: heal all')
  sim.recover()
  sim.net.dropRate = 0; sim.net.duplicateRate = 0; sim.net.reorderRate = 0
  sim.net.latencyMs = [1, TICK_MS]
  for (const id of [...crashed].sort((a, b) => a - b)) { sim.crash(id); sim.restart(id) }
  crashed.clear()
  const marker = `live-${seed}`
  sim.client(rand.pick(ids), { op: 'write', key: 'live', value: marker })
  const t0 = sim.now
  const live = sim.runFor(livenessTicksMax * TICK_MS, () => ids.every(id => sim.kvRead(id, 'live') === marker))
  const livenessTicks = live ? Math.round((sim.now - t0) / TICK_MS) : null
  sim.finishClientOps()
  const failures: string[] = []
  for (const v of sim.violations) failures.push(`${v.invariant} at epoch ${v.step}: ${v.detail}`)
  if (!live) failures.push(`liveness: not every node applied the new value within ${livenessTicksMax} ticks after healing`)
  const lin = checkLinearizable(kvModel, sim.operations())
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
    faults
  }
}
