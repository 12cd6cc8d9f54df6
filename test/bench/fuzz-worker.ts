/** Worker for sim.bench.ts: runs a range of fuzz seeds and posts a summary. */
import { parentPort, workerData } from 'node:worker_threads'
import { fuzz } from '../../sim/fuzz.js'

const { seedStart, seeds, nodes, ticks, coordination, tasks } = workerData as { seedStart: number, seeds: number, nodes: number, ticks: number, coordination?: boolean, tasks?: boolean }
const t0 = performance.now()
const r = fuzz({ nodes, seeds, ticks, seedStart, ...(coordination === false ? { coordination } : {}), ...(tasks === false ? { tasks } : {}) })
parentPort?.postMessage({ ms: performance.now() - t0, committed: r.committed, failing: r.results.filter(x => !x.ok).map(x => x.seed) })
