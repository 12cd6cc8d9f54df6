/**
 * Durable tasks over TCP: 3 Raft voters and 2 peers outside the group, agents on both kinds of host.
 * Submit from a member and from a client; idempotency keys; a host killed while its agent holds a task
 * (the task is reassigned after the host's lease and completed once); 200 tasks among 6 agents on 3 peers
 * with one host killed midway, all completed exactly once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { LiveMesh } from '../../sim/live.js'
import { coordMesh, codeOf } from '../coordination/harness.js'
import { waitUntil } from '../helpers/wait.js'
import type { TaskEvent } from '../../protocols/tasks/types.js'
import { COMMAND_BYTES_MAX } from '../../protocols/mesh/application.js'

let m: LiveMesh
const SESSION_TTL_MS = 3000
/** Every run of a handler: `agent task/attempt`. */
const runs: string[] = []
/** Tasks whose handler hangs until aborted. */
const hang = new Set<number>()
/** The deadline each task's latest run was given. */
const deadlines = new Map<number, number>()

function worker (peer: number, id: string, capability: string): Promise<void> {
  const p = m.peers[peer]!
  p.agents.handle(id, {
    onTask: async (task, ctx) => {
      runs.push(`${id} ${task.id}/${task.attempt}`)
      deadlines.set(task.id, task.deadline)
      if (hang.has(task.id)) await new Promise<void>((resolve) => { ctx.signal.addEventListener('abort', () => { resolve() }) })
      // Batch work takes a while, longest on the host killed midway (peer 3), which then holds tasks in progress.
      if (capability === 'batch') await new Promise<void>((resolve) => { setTimeout(resolve, peer === 3 ? 3000 : 20) })
      const x = (task.payload as { x?: number } | null)?.x ?? 0
      if (x === -99) throw Object.assign(new Error('hopeless input'), { retry: false })
      if (x < 0) throw new Error('negative input')
      return { doubled: x * 2, by: id }
    }
  })
  return p.registry.register({ id, capabilities: [capability] }).then(() => {})
}

beforeAll(async () => {
  // Session leases of 3 s: a killed host's task attempts are reassigned 3 s after its last keepalive.
  m = await coordMesh(3, 2, { sessionLeaseTtlMs: SESSION_TTL_MS })
  await worker(1, 'w-1', 'double')
  await worker(3, 'w-3', 'double')
  await worker(4, 'w-4', 'double')
  await m.waitFor((p) => ['w-1', 'w-3', 'w-4'].every(a => p.registry.lookup(a) !== undefined), { what: 'every worker known everywhere', timeoutMs: 30_000 })
}, 90_000)

afterAll(async () => { await m?.stop() })

describe('durable tasks over TCP', () => {
  it('a task submitted from a member or a client runs on an agent and completes; get and events tell it', async () => {
    const events: TaskEvent[] = []
    const off = m.peers[0]!.tasks.on('task:completed', (e) => { events.push(e) })
    try {
      for (const from of [0, 3]) {
        const { id, created } = await m.peers[from]!.tasks.submit({ capability: 'double', payload: { x: 21 } })
        expect(created).toBe(true)
        const done = await m.peers[from]!.tasks.wait(id, { timeoutMs: 20_000 })
        expect(done.state).toBe('completed')
        expect((done.result as { doubled: number }).doubled).toBe(42)
        expect(done.attempts).toBe(1)
        const again = await m.peers[2]!.tasks.get(id)
        expect(again?.state).toBe('completed')
        await waitUntil(() => events.some(e => e.task === id), { what: `task ${id} completed on peer 0's replica`, timeoutMs: 10_000 })
      }
    } finally {
      off()
    }
  }, 60_000)

  it('a named agent; a failing handler fails the task after its retries; bad specs are named errors', async () => {
    const t = m.peers[4]!.tasks
    const { id } = await t.submit({ agent: 'w-3', payload: { x: 5 } })
    const ok = await t.wait(id, { timeoutMs: 20_000 })
    expect(ok).toMatchObject({ state: 'completed', agent: 'w-3', result: { doubled: 10, by: 'w-3' } })
    const bad = await t.submit({ capability: 'double', payload: { x: -1 }, retries: 1 })
    const failed = await t.wait(bad.id, { timeoutMs: 20_000 })
    expect(failed.state).toBe('failed')
    expect(failed.attempts).toBe(2)
    expect(failed.error).toContain('negative input')
    // A task nobody can take fails `unassigned` once its queueMs passed.
    const ghost = await t.submit({ agent: 'no-such-agent', payload: 1, queueMs: 1000 })
    expect(await t.wait(ghost.id, { timeoutMs: 20_000 })).toMatchObject({ state: 'failed', attempts: 0 })
    // An error with retry: false fails the task at once, whatever its retries.
    const hopeless = await t.submit({ capability: 'double', payload: { x: -99 }, retries: 3 })
    const final = await t.wait(hopeless.id, { timeoutMs: 20_000 })
    expect(final).toMatchObject({ state: 'failed', attempts: 1 })
    // The handler is given the attempt's whole time: assignment + timeoutMs + graceMs.
    expect(deadlines.get(ok.id)).toBe(ok.record.history[0]!.at + ok.record.timeoutMs + ok.record.graceMs)
    expect(await codeOf(t.submit({ capability: 'double', agent: 'w-3' }))).toBe('ERR_INVALID_OPTION')
    expect(await codeOf(t.submit({ capability: 'double', payload: { s: '\ud800' } }))).toBe('ERR_INVALID_OPTION')
    expect(await codeOf(t.get(0))).toBe('ERR_INVALID_OPTION')
    expect(await t.get(999_999_999)).toBeUndefined()
  }, 60_000)

  it('a member refuses to propose a command larger than the group accepts (it would wedge the log); large submits still go through', async () => {
    const big = new Uint8Array(COMMAND_BYTES_MAX + 1)
    big[0] = 0x7b
    expect(await codeOf(m.peers[0]!.raft!.propose(big))).toBe('ERR_LIMIT_EXCEEDED')
    const payload = { blob: 'x'.repeat(60 * 1024) }
    const leader = m.peers[m.leader()!]!
    const rs = await Promise.all(Array.from({ length: 12 }, async () => await leader.tasks.submit({ capability: 'none-such', payload, retries: 0 })))
    expect(new Set(rs.map(r => r.id)).size).toBe(12)
    for (const r of rs) await leader.tasks.cancel(r.id)
    expect((await m.peers[1]!.tasks.submit({ capability: 'double', payload: { x: 2 } })).created).toBe(true)
  }, 60_000)

  it('an idempotency key submitted twice yields one task', async () => {
    const a = await m.peers[3]!.tasks.submit({ capability: 'double', payload: { x: 1 }, idempotencyKey: 'order-17' })
    const b = await m.peers[3]!.tasks.submit({ capability: 'double', payload: { x: 1 }, idempotencyKey: 'order-17' })
    expect(b).toEqual({ id: a.id, created: false })
    expect((await m.peers[3]!.tasks.wait(a.id, { timeoutMs: 20_000 })).state).toBe('completed')
    expect(runs.filter(r => r.endsWith(` ${a.id}/1`)).length).toBe(1)
  }, 30_000)

  it('cancel: the submitter cancels a running task; its attempt is aborted and cannot complete it', async () => {
    const t = m.peers[0]!.tasks
    const { id } = await t.submit({ agent: 'w-1', payload: { x: 3 } })
    hang.add(id)
    await waitUntil(() => runs.some(r => r === `w-1 ${id}/1`), { what: 'the attempt running', timeoutMs: 10_000 })
    expect(await codeOf(m.peers[3]!.tasks.cancel(id))).toBe('ERR_NOT_OWNER')
    await t.cancel(id)
    expect((await t.get(id))?.state).toBe('cancelled')
  }, 30_000)
})

describe('outcomes across a cut', () => {
  it('a complete whose proposal fails (its host cut off from the group) is proposed again and recorded once', async () => {
    const host = m.peers[3]!
    let release!: () => void
    const gate = new Promise<void>((resolve) => { release = resolve })
    host.agents.handle('gated', { onTask: async () => { await gate; return 'through' } })
    await host.registry.register({ id: 'gated', capabilities: ['gated'] })
    await m.waitFor((p, i) => i > 2 || p.registry.lookup('gated') !== undefined, { what: 'gated known to the voters', timeoutMs: 30_000 })
    const t = m.peers[0]!.tasks
    const { id } = await t.submit({ agent: 'gated', payload: null, retries: 0, timeoutMs: 120_000 })
    await waitUntil(async () => (await t.get(id))?.record.history[0]?.ackedAt !== undefined, { what: 'the attempt acked', timeoutMs: 15_000 })
    // Cut the host off from every voter, let the handler finish: its complete cannot reach the group.
    const voters = m.peers.slice(0, 3).map(p => p.id)
    await host.block(voters)
    release()
    // The client path gives up after its deadline; the service counts the failed proposal and tries again.
    await waitUntil(() => host.tasks.stats.outcomeRetries >= 1, { what: 'a failed proposal of the complete', timeoutMs: 30_000 })
    host.unblock(voters)
    for (const v of m.peers.slice(0, 3)) await host.dial(v.addresses()[0]!).catch(() => {})
    const done = await t.wait(id, { timeoutMs: 30_000 })
    expect(done).toMatchObject({ state: 'completed', attempts: 1, result: 'through' })
  }, 90_000)
})

describe('host loss', () => {
  it('a host killed while its agent holds a task: the task is reassigned after its lease and completed once', async () => {
    const t = m.peers[0]!.tasks
    // Only solo-4 (on peer 4) has the capability when the task is assigned.
    await worker(4, 'solo-4', 'solo')
    await m.waitFor((p, i) => i === 4 || p.registry.lookup('solo-4') !== undefined, { what: 'solo-4 known', timeoutMs: 30_000 })
    const { id } = await t.submit({ capability: 'solo', payload: { x: 8 }, retries: 2, timeoutMs: 120_000 })
    hang.add(id)
    await waitUntil(async () => (await t.get(id))?.record.history[0]?.ackedAt !== undefined, { what: 'the attempt acked under the lease of solo-4\'s host', timeoutMs: 15_000 })
    expect((await t.get(id))?.agent).toBe('solo-4')
    const crashed = Date.now()
    await m.crash(4)
    hang.delete(id)
    // Another agent of the capability appears on a live host.
    await worker(1, 'solo-1', 'solo')
    const done = await t.wait(id, { timeoutMs: 60_000 })
    // The host's session lease (sessionLeaseTtlMs) bounds how long the task waited: well under the 10 s default.
    expect(Date.now() - crashed).toBeLessThan(SESSION_TTL_MS + 5000)
    expect(done.state).toBe('completed')
    expect(done.attempts).toBe(2)
    expect(done.record.history[0]!.end).toBe('host-lost')
    expect(done.agent).toBe('solo-1')
    expect(done.record.history.filter(h => h.end === 'completed').length).toBe(1)
  }, 120_000)

  it('200 tasks among 6 agents on 3 peers, one host killed midway: all complete exactly once', async () => {
    // Six agents of capability `batch` on peers 0, 2 and 3 (two each); peer 3 is killed midway.
    for (const [peer, id] of [[0, 'b-0a'], [0, 'b-0b'], [2, 'b-2a'], [2, 'b-2b'], [3, 'b-3a'], [3, 'b-3b']] as const) await worker(peer, id, 'batch')
    await m.waitFor((p, i) => i === 4 || ['b-0a', 'b-0b', 'b-2a', 'b-2b', 'b-3a', 'b-3b'].every(a => p.registry.lookup(a) !== undefined), { what: 'the batch agents known', timeoutMs: 30_000 })
    const t = m.peers[1]!.tasks
    const ids = await Promise.all(Array.from({ length: 200 }, async (_, i) => (await t.submit({ capability: 'batch', payload: { x: i }, retries: 5, timeoutMs: 30_000 })).id))
    expect(new Set(ids).size).toBe(200)
    const completed = new Set<number>()
    const off = t.on('task:completed', (e) => { completed.add(e.task) })
    try {
      await waitUntil(() => completed.size >= 50, { what: '50 tasks completed', timeoutMs: 60_000 })
      await m.crash(3)
      const finals = await Promise.all(ids.map(async id => await t.wait(id, { timeoutMs: 90_000 })))
      // The killed host held tasks: they were reassigned (ack window or lease) and completed elsewhere.
      expect(finals.filter(f => f.attempts > 1).length).toBeGreaterThan(0)
      for (const f of finals) {
        expect(f.state, `task ${f.id}`).toBe('completed')
        expect(f.record.history.filter(h => h.end === 'completed').length, `task ${f.id}`).toBe(1)
        expect((f.result as { doubled: number }).doubled).toBe(2 * ((JSON.parse(f.record.payload) as { x: number }).x))
      }
      // Every replica agrees.
      for (const i of [0, 2]) {
        const mt = m.peers[i]!.raft!.app!.tasks
        await m.peers[i]!.raft!.readBarrier()
        for (const id of ids) expect(mt.get(id)?.state, `task ${id} on peer ${i}`).toBe('completed')
        expect(mt.invariants()).toEqual([])
      }
    } finally {
      off()
    }
  }, 240_000)
})
