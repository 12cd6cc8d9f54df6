/**
 * Orchestration variables over TCP (FEATURES V3): 3 Raft voters, one agent per peer. The variable is
 * declared on every peer; the owner (a coordination singleton) delivers each version's instructions
 * through the agents' request interface (`protocols.orchestration`), adapts the batch size over 20 task
 * outcomes (durable tasks, `peer.tasks`: the owner hears them as task events from its replica), and when
 * the owner's peer crashes another peer takes the duty over. The history is read from every peer; a
 * metric reported by hand on a peer that does not own the variable reaches the owner (Raft inbox).
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { LiveMesh } from '../../sim/live.js'
import type { OrchestratedVariable, OrchestratedOptions } from '../../peers/orchestration/variable.js'
import type { AdaptationEntry, CoordinationEntry, HistoryEntry } from '../../peers/orchestration/history.js'
import { instructionHandler } from '../../peers/orchestration/follow.js'
import { BATCH_SIZE_OPTIONS } from '../../examples/orchestration/policy.js'
import { waitUntil } from '../helpers/wait.js'
import { coordMesh } from '../coordination/harness.js'

let mesh: LiveMesh | undefined
afterEach(async () => { await mesh?.stop(); mesh = undefined })

/** A worker fails a batch larger than this. */
const CAPACITY = 12
/** The owner's lease: a crashed owner's duty moves after it (keepalives every TTL/3 on a loaded machine). */
const TTL_MS = 3000

const OPTIONS: OrchestratedOptions<number> = { ...BATCH_SIZE_OPTIONS, ttlMs: TTL_MS, pollMs: 200, delivery: { timeoutMs: 2000, attempts: 2 } }

const kinds = <K extends HistoryEntry['kind']>(h: HistoryEntry[], kind: K): Array<Extract<HistoryEntry, { kind: K }>> => h.filter((e): e is Extract<HistoryEntry, { kind: K }> => e.kind === kind)

describe('orchestration variables over TCP', () => {
  it('a team\'s batch size adapts over 20 task outcomes; the owner crashes and another peer takes over', async () => {
    mesh = await coordMesh(3, 0)
    const m = mesh
    const batch = new Map<string, number>()
    const agentOf = (i: number): string => `embedder-${i}`
    for (let i = 0; i < 3; i++) {
      const p = m.peers[i]!
      await p.registry.register({ id: agentOf(i), capabilities: ['embed'] })
      p.agents.handle(agentOf(i), {
        protocols: { orchestration: instructionHandler((instr, ctx) => { batch.set(ctx.agent, (instr.instruction as { batchSize: number }).batchSize) }) },
        // The work: a batch larger than the worker's capacity fails (out of memory).
        onTask: (task, ctx) => {
          const size = batch.get(ctx.agent) ?? 0
          if (size > CAPACITY) throw new Error(`out of memory at batch ${size}`)
          return { items: (task.payload as { items: number }).items, batch: size }
        }
      })
    }
    await waitUntil(() => m.peers.every(p => p.registry.query({ capability: 'embed', reachableOnly: true }).agents.length === 3), { what: 'every peer sees the 3 agents', timeoutMs: 30_000 })

    const handles: Array<OrchestratedVariable<number>> = m.peers.map(p => p.variables.orchestrated<number>('batch-size', OPTIONS))
    const ownerIndex = await waitUntil(() => { const i = handles.findIndex(h => h.isOwner); return i < 0 ? undefined : i }, { what: 'an owner', timeoutMs: 30_000 })
    expect(handles.filter(h => h.isOwner)).toHaveLength(1)
    expect(await handles[(ownerIndex + 1) % 3]!.owner()).toBe(m.peers[ownerIndex]!.id)
    const sees = async (value: number): Promise<boolean> => [0, 1, 2].every(i => batch.get(agentOf(i)) === value)
    await waitUntil(async () => await sees(32), { what: 'every agent instructed with 32', timeoutMs: 30_000 })

    // 20 task outcomes in 4 rounds of 5: tasks submitted from every peer in turn, each to one agent, no retry.
    let n = 0
    const expected = [16, 8, 10, 12]
    const states: string[] = []
    for (let round = 0; round < 4; round++) {
      const ids = await Promise.all([0, 1, 2, 3, 4].map(async () => {
        n++
        const from = m.peers[n % 3]!
        return { from, ...await from.tasks.submit({ agent: agentOf((n + 1) % 3), payload: { items: n }, retries: 0, timeoutMs: 10_000 }) }
      }))
      for (const { from, id } of ids) states.push((await from.tasks.wait(id, { timeoutMs: 30_000 })).state)
      await waitUntil(async () => kinds(await handles[0]!.history(), 'adaptation').length === round + 1, { what: `adaptation ${round + 1}`, timeoutMs: 30_000 })
      await waitUntil(async () => await sees(expected[round]!), { what: `every agent instructed with ${expected[round]}`, timeoutMs: 30_000 })
    }
    const history = await handles[1]!.history()
    const adaptations = kinds(history, 'adaptation')
    expect(adaptations.map(a => [a.value, a.proposed, a.outcome])).toEqual([[32, 16, 'applied'], [16, 8, 'applied'], [8, 10, 'applied'], [10, 12, 'applied']])
    expect(adaptations.every((a: AdaptationEntry) => a.metrics >= 5 && a.owner === m.peers[ownerIndex]!.id)).toBe(true)
    // Batches of 32 and 16 fail on every agent, 8 and 10 pass.
    expect(states).toEqual([...Array(10).fill('failed'), ...Array(10).fill('completed')])
    await waitUntil(async () => kinds(await handles[2]!.history(), 'coordination').some(c => c.version === 5), { what: 'the coordination of version 5 in the history', timeoutMs: 30_000 })
    const coordinations = kinds(await handles[2]!.history(), 'coordination')
    expect(coordinations.map(c => [c.version, c.value, c.delivered, c.failed])).toEqual([[1, 32, 3, 0], [2, 16, 3, 0], [3, 8, 3, 0], [4, 10, 3, 0], [5, 12, 3, 0]])
    expect(await handles[0]!.get()).toBe(12)
    // Every peer reads the same history (it is in Raft).
    const texts = await Promise.all(handles.map(async h => JSON.stringify(await h.history())))
    expect(new Set(texts).size).toBe(1)

    // The owner's peer crashes: another declaring peer takes the duty over and re-delivers the current
    // version; the crashed peer's agent leaves the team once its host is unreachable.
    await m.crash(ownerIndex)
    const survivors = [0, 1, 2].filter(i => i !== ownerIndex)
    const next = await waitUntil(() => survivors.find(i => handles[i]!.isOwner), { what: 'a new owner', timeoutMs: 30_000 })
    const nextId = m.peers[next]!.id
    await waitUntil(async () => kinds(await handles[next]!.history(), 'coordination').some((c: CoordinationEntry) => c.owner === nextId && c.trigger === 'takeover' && c.version === 5), { what: 'the new owner\'s coordination', timeoutMs: 30_000 })
    await waitUntil(async () => kinds(await handles[next]!.history(), 'coordination').some(c => c.owner === nextId && c.agents === 2), { what: 'a coordination of the 2 agents left', timeoutMs: 30_000 })
    await handles[survivors.find(i => i !== next)!]!.set(9)
    await waitUntil(() => survivors.every(i => batch.get(agentOf(i)) === 9), { what: 'the surviving agents instructed with 9', timeoutMs: 30_000 })
    await expect(handles[next]!.set(100)).rejects.toMatchObject({ code: 'ERR_CONSTRAINT' })

    // A metric reported by hand on the surviving peer that does not own the variable goes through the Raft
    // inbox: the owner adapts on it (a failure under the current version halves the batch).
    const other = survivors.find(i => i !== next)!
    const version = (await handles[other]!.state())!.version
    for (let k = 0; k < 5; k++) await handles[other]!.report({ kind: 'task', agent: agentOf(other), outcome: 'failed', task: 1000 + k, version })
    await waitUntil(async () => (await handles[other]!.get()) === 4, { what: 'the owner to halve 9 on the reported failures', timeoutMs: 30_000 })
    expect(kinds(await handles[other]!.history(), 'adaptation').at(-1)).toMatchObject({ owner: nextId, value: 9, proposed: 4, outcome: 'applied' })
  })
})
