/**
 * Raft core throughput: CPU µs per committed entry, 5 voters in-process, no faults, a minimal driver
 * (MemoryStorage, FIFO delivery). The figure covers all five nodes' work (leader + followers:
 * stepping, persisting to MemoryStorage, applying) divided by the entries committed and applied
 * everywhere. Target ≤ 30 µs.
 */
import { createRand } from '../../src/base/prng.js'
import { MemoryStorage } from '../../protocols/raft/storage.js'
import { RaftNode } from '../../protocols/raft/raft.js'
import type { Message } from '../../protocols/raft/types.js'

export const name = 'raft'

interface N { node: RaftNode, storage: MemoryStorage, applied: number }

function cluster (size: number): N[] {
  const voters = Array.from({ length: size }, (_, i) => i + 1)
  return voters.map(id => {
    const storage = new MemoryStorage()
    return { node: new RaftNode({ id, storage, rand: createRand(id), peers: { voters } }), storage, applied: 0 }
  })
}

function round (ns: N[], queue: Message[]): boolean {
  let busy = false
  for (const n of ns) {
    if (!n.node.hasReady()) continue
    busy = true
    const rd = n.node.ready()
    n.storage.append(rd.entries)
    if (rd.hardState !== undefined) n.storage.setHardState(rd.hardState)
    for (const m of rd.messages) queue.push(m)
    n.applied += rd.committedEntries.length
    n.node.advance(rd)
  }
  const q = queue.splice(0, queue.length)
  for (const m of q) ns[m.to - 1]!.node.step(m)
  return busy || q.length > 0
}

function run (entries: number, batch: number, bytes: number): { usPerEntry: number, wallUsPerEntry: number, rounds: number } {
  const ns = cluster(5)
  const queue: Message[] = []
  ns[0]!.node.campaign()
  while (round(ns, queue)) { /* elect */ }
  const leader = ns[0]!.node
  const data = new Uint8Array(bytes)
  const base = ns.map(n => n.applied)
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  let proposed = 0
  let rounds = 0
  while (proposed < entries) {
    for (let k = 0; k < batch && proposed < entries; k++, proposed++) leader.propose(data)
    round(ns, queue)
    rounds++
  }
  while (round(ns, queue)) rounds++
  const cpu = process.cpuUsage(cpu0)
  const wall = performance.now() - t0
  for (let i = 0; i < ns.length; i++) {
    if (ns[i]!.applied - base[i]! !== entries) throw new Error(`node ${i + 1} applied ${ns[i]!.applied - base[i]!} of ${entries}`)
  }
  return { usPerEntry: Number(((cpu.user + cpu.system) / entries).toFixed(2)), wallUsPerEntry: Number((wall * 1000 / entries).toFixed(2)), rounds }
}

export default async function (): Promise<Record<string, unknown>> {
  run(20_000, 16, 64) // warm-up
  return {
    nodes: 5,
    batch1: run(20_000, 1, 64),
    batch16: run(200_000, 16, 64),
    batch128: run(200_000, 128, 64),
    targetUsPerEntry: 30
  }
}
