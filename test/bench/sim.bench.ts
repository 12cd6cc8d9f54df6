import os from 'node:os'
import { Worker } from 'node:worker_threads'
import { fuzz } from '../../sim/fuzz.js'
import { checkLinearizable, kvModel, randomLinearizableKvHistory } from '../../sim/linearizability/index.js'
import { createRand } from '../../src/base/prng.js'
import { Simulation } from '../../sim/simulation.js'

export const name = 'sim'

function cpuUs (): number {
  const u = process.cpuUsage()
  return u.user + u.system
}

/** CPU per committed entry: 5 nodes, no faults, `batch` proposals per Ready at the leader. */
function perEntry (batch: number): Record<string, unknown> {
  const sim = new Simulation({
    nodes: 5,
    learners: [],
    seed: 1,
    raft: { electionTick: 10, heartbeatTick: 1, preVote: false, checkQuorum: false },
    network: { latencyMs: [0, 0], drop: 0, duplicate: 0, reorder: 0 },
    tickMs: 10,
    timed: false,
  })
  sim.campaign(1)
  sim.quiesce()
  const entries = 50_000
  const c0 = cpuUs()
  const t0 = performance.now()
  for (let i = 0; i < entries; i += batch) {
    if (batch === 1) sim.propose(1, `v${i}`)
    else sim.proposeMany(1, Array.from({ length: batch }, (_, k) => `v${i + k}`))
    sim.quiesce()
    if ((i / batch) % 10 === 0) { sim.tick(1); sim.quiesce() }
  }
  const us = cpuUs() - c0
  const ms = performance.now() - t0
  const committed = sim.viewOf(1).commit
  return { entries: committed, batch, cpuUsPerEntry: Number((us / committed).toFixed(2)), wallMs: Math.round(ms), violations: sim.violations.length }
}

export default async function (): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {}
  perEntry(10) // warm-up
  out.perEntryBatch1 = perEntry(1)
  out.perEntryBatch10 = perEntry(10)
  const h = randomLinearizableKvHistory(createRand(42), { ops: 10_000, keys: 100, clients: 10, indefinite: 0.02 })
  const t1 = performance.now()
  const r = checkLinearizable(kvModel, h)
  out.linearizability10kOps100Keys = { result: r.result, ms: Number((performance.now() - t1).toFixed(1)) }
  // One thread: the per-seed figure, with the default coordination and task traffic, without tasks, and without either.
  const sample = 100
  for (const [key, coordination, tasks] of [['fuzzOneThread', true, true], ['fuzzOneThreadNoTasks', true, false], ['fuzzOneThreadNoCoordination', false, false]] as const) {
    const t2 = performance.now()
    const c2 = cpuUs()
    const f = fuzz({ nodes: 5, seeds: sample, ticks: 2000, seedStart: 100_001, coordination, tasks })
    const fuzzMs = performance.now() - t2
    out[key] = {
      seeds: sample,
      nodes: 5,
      ticks: 2000,
      coordination,
      tasks,
      perSeedMs: Number((fuzzMs / sample).toFixed(1)),
      cpuPerSeedMs: Number(((cpuUs() - c2) / 1000 / sample).toFixed(1)),
      committedPerSeed: Math.round(f.committed / sample),
      failingSeeds: f.results.filter(x => !x.ok).map(x => x.seed)
    }
  }
  // The target run: 1,000 seeds x 5 nodes x 2,000 ticks, one worker per CPU (SIM_BENCH_COORDINATION=0: without
  // coordination; SIM_BENCH_TASKS=0: without tasks).
  const seeds = Number(process.env.SIM_BENCH_SEEDS ?? 1000)
  const coordination = process.env.SIM_BENCH_COORDINATION !== '0'
  const tasks = process.env.SIM_BENCH_TASKS !== '0'
  const workers = Math.max(1, os.cpus().length)
  const per = Math.ceil(seeds / workers)
  const t3 = performance.now()
  const parts = await Promise.all(Array.from({ length: workers }, (_, w) => new Promise<{ ms: number, committed: number, failing: number[] }>((resolve, reject) => {
    const n = Math.max(0, Math.min(per, seeds - w * per))
    const worker = new Worker(new URL('./fuzz-worker.js', import.meta.url), { workerData: { seedStart: 1 + w * per, seeds: n, nodes: 5, ticks: 2000, coordination, tasks } })
    worker.once('message', resolve)
    worker.once('error', reject)
  })))
  const totalMs = performance.now() - t3
  out.fuzz = {
    seeds,
    nodes: 5,
    ticks: 2000,
    coordination,
    tasks,
    workers,
    totalS: Number((totalMs / 1000).toFixed(1)),
    committedPerSeed: Math.round(parts.reduce((a, p) => a + p.committed, 0) / seeds),
    failingSeeds: parts.flatMap(p => p.failing)
  }
  return out
}
