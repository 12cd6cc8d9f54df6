/**
 * A team of embedding agents whose batch size is tuned by their outcomes (FEATURES V3).
 *
 * Three peers over TCP on loopback run a Raft group; each hosts two agents with a memory capacity (the
 * largest batch they can take). Every peer declares the orchestrated variable `batch-size`; one of them
 * owns it: it tells every agent the batch size (instructions through `protocols.orchestration`), and
 * every 5 task outcomes (durable tasks, `peer.tasks`, allocated round-robin among the team) halves it
 * when more than a fifth failed and adds 2 when none did (policy.ts), always within 1..64. Midway the
 * owner's peer crashes and another peer takes over.
 *
 *   npm run build && node dist/examples/orchestration/index.js
 */
import { pathToFileURL } from 'node:url'
import { createLiveMesh } from '../../sim/index.js'
import type { LiveMesh } from '../../sim/index.js'
import { instructionHandler } from '../../peers/orchestration/follow.js'
import type { OrchestratedOptions, OrchestratedVariable } from '../../peers/orchestration/variable.js'
import type { HistoryEntry } from '../../peers/orchestration/history.js'
import { BATCH_SIZE_OPTIONS } from './policy.js'

export interface ExampleResult {
  /** The batch size at the end. */
  value: number
  /** Versions the variable went through. */
  version: number
  outcomes: { completed: number, failed: number }
  history: HistoryEntry[]
  /** Peer indexes of the first and the second owner. */
  owners: [number, number]
}

/** Largest batch each agent takes (agents `embedder-<peer>-<k>`, two per peer). */
const CAPACITY = [[12, 16], [10, 14], [12, 20]] as const

/** The owner's lease (a crashed owner's duty moves after it) and its poll period. */
const OPTIONS: OrchestratedOptions<number> = { ...BATCH_SIZE_OPTIONS, ttlMs: 3000, pollMs: 200 }

async function until<T> (what: string, cond: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await cond()
    if (v !== undefined && v !== false) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

/** Runs the example: `work` tasks before and as many after the owner's crash. */
export async function runExample (options: { work?: number, log?: (line: string) => void } = {}): Promise<ExampleResult> {
  const log = options.log ?? (() => {})
  const work = options.work ?? 30
  const mesh: LiveMesh = await createLiveMesh({ peers: 3, logLevel: 'silent', heartbeatIntervalMs: 200, raft: { voters: 3, tickMs: 20, electionTick: 10 } })
  try {
    await mesh.waitForLeader()
    const handles: Array<OrchestratedVariable<number>> = []
    const batch = new Map<string, { size: number, version: number }>()
    const outcomes = { completed: 0, failed: 0 }
    for (const [i, p] of mesh.peers.entries()) {
      for (const [k, capacity] of CAPACITY[i]!.entries()) {
        const id = `embedder-${i}-${k}`
        await p.registry.register({ id, capabilities: ['embed'], resources: { capacity } })
        p.agents.handle(id, {
          protocols: {
            orchestration: instructionHandler(({ instruction, version }) => {
              batch.set(id, { size: (instruction as { batchSize: number }).batchSize, version })
            })
          },
          // A task: embed `items` in batches; a batch over the agent's capacity runs out of memory (the task fails).
          onTask: (task) => {
            const b = batch.get(id) ?? { size: 0, version: 0 }
            const items = (task.payload as { items: number }).items
            if (b.size > capacity) { outcomes.failed++; throw new Error(`out of memory: batch ${b.size} > capacity ${capacity}`) }
            outcomes.completed++
            return { items, batches: Math.ceil(items / b.size) }
          }
        })
      }
    }
    await until('every peer to see the 6 agents', () => mesh.peers.every(p => p.registry.query({ capability: 'embed', reachableOnly: true }).agents.length === 6))
    for (const p of mesh.peers) handles.push(p.variables.orchestrated<number>('batch-size', OPTIONS))
    const first = await until('an owner', () => { const i = handles.findIndex(h => h.isOwner); return i < 0 ? undefined : i })
    log(`peer ${first} owns batch-size; the team starts at ${await handles[0]!.get()}`)

    const agents = (): string[] => mesh.peers.flatMap((p, i) => p.started ? CAPACITY[i]!.map((_, k) => `embedder-${i}-${k}`) : [])
    const submit = async (n: number, from: number[]): Promise<void> => {
      for (let j = 0; j < n; j++) {
        const team = agents()
        const peer = mesh.peers[from[j % from.length]!]!
        const { id } = await peer.tasks.submit({ capability: 'embed', allocation: 'round-robin', payload: { items: 100 }, retries: 0, timeoutMs: 10_000 })
        await peer.tasks.wait(id, { timeoutMs: 30_000 })
        // Pace the work by the owner's rounds: let the latest version reach the team before more work.
        const s = await handles[from[0]!]!.state()
        await until('the team instructed with the current version', () => team.every(a => batch.get(a)?.version === s?.version))
      }
    }
    await submit(work, [0, 1, 2])
    log(`after ${work} tasks: batch-size ${await handles[0]!.get()} (${outcomes.completed} completed, ${outcomes.failed} failed)`)

    await mesh.crash(first)
    const rest = [0, 1, 2].filter(i => i !== first)
    const second = await until('a new owner', () => rest.find(i => handles[i]!.isOwner))
    log(`peer ${first} crashed; peer ${second} owns batch-size now`)
    await until('the crashed peer\'s agents to leave the team', () => mesh.peers[second]!.registry.query({ capability: 'embed', reachableOnly: true }).agents.length === 4)
    await submit(work, rest)
    const state = (await handles[second]!.state())!
    const history = await handles[rest.find(i => i !== second)!]!.history()
    for (const e of history) {
      log(e.kind === 'coordination'
        ? `  #${e.seq} coordination v${e.version} (${e.trigger}): batch ${String(e.value)} to ${e.agents} agents, ${e.delivered} delivered, ${e.failed} failed`
        : `  #${e.seq} adaptation v${e.version}: ${String(e.value)} → ${String(e.proposed)} ${e.outcome} (${e.metrics} metrics)`)
    }
    log(`batch-size ends at ${state.value} (version ${state.version}); ${outcomes.completed} completed, ${outcomes.failed} failed`)
    return { value: state.value, version: state.version, outcomes, history, owners: [first, second] }
  } finally {
    await mesh.stop()
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runExample({ log: (line) => { console.log(line) } }).catch((err) => {
    console.error(err)
    process.exit(1)
  })
}
