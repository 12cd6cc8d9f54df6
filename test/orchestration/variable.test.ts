/**
 * The orchestrated variable's own code (peers/orchestration/variable.ts) on in-process components
 * (fixtures.ts): the owner's coordination and adaptation rounds, bounded deliveries, the history in the
 * store, constraints on every write, the inbox of metrics reported elsewhere, and a takeover.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { OrchestratedVariable } from '../../peers/orchestration/variable.js'
import type { OrchestratedOptions } from '../../peers/orchestration/variable.js'
import type { AdaptationEntry, CoordinationEntry } from '../../peers/orchestration/history.js'
import { PeerOrchestration } from '../../peers/orchestration/service.js'
import { HISTORY_MAX_LIMIT } from '../../peers/orchestration/limits.js'
import { BATCH_CONSTRAINTS, adaptBatch, coordinateBatch } from '../../examples/orchestration/policy.js'
import { createLogger } from '../../src/base/log.js'
import { waitUntil } from '../helpers/wait.js'
import { agent, bench } from './fixtures.js'
import type { Bench } from './fixtures.js'

const handles: Array<OrchestratedVariable<any>> = []
afterEach(async () => { for (const h of handles.splice(0)) await h.close() })

function declare<T> (b: Bench, self: string, options: Partial<OrchestratedOptions<T>> = {}, name = 'batch'): OrchestratedVariable<T> {
  const h = new OrchestratedVariable<T>(name, { affects: { capability: 'worker' }, pollMs: 20, ...options }, b.components(self))
  handles.push(h)
  h.start()
  return h
}

const coordinations = async (h: OrchestratedVariable<any>): Promise<CoordinationEntry[]> => (await h.history()).filter((e): e is CoordinationEntry => e.kind === 'coordination')
const adaptations = async (h: OrchestratedVariable<any>): Promise<AdaptationEntry[]> => (await h.history()).filter((e): e is AdaptationEntry => e.kind === 'adaptation')

describe('orchestrated variable', () => {
  it('validates its options and every set against the constraints', async () => {
    const b = bench()
    expect(() => new OrchestratedVariable('x', { affects: {}, historyMax: HISTORY_MAX_LIMIT + 1 }, b.components('p'))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }))
    expect(() => new OrchestratedVariable('x', { affects: {}, initial: 100, constraints: BATCH_CONSTRAINTS }, b.components('p'))).toThrow(expect.objectContaining({ code: 'ERR_CONSTRAINT' }))
    expect(() => new OrchestratedVariable('x', { affects: {}, adaptEvery: {} }, b.components('p'))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }))
    const h = declare<number>(b, 'p', { constraints: BATCH_CONSTRAINTS })
    await expect(h.set(0)).rejects.toMatchObject({ name: 'ConstraintError', code: 'ERR_CONSTRAINT' })
    await expect(h.set(3.5)).rejects.toMatchObject({ code: 'ERR_CONSTRAINT' })
    expect(await h.get()).toBeUndefined()
    expect(await h.set(8)).toBe(1)
    expect(await h.set(8)).toBe(1)
    expect(await h.set(9)).toBe(2)
    expect(await h.state()).toMatchObject({ value: 9, version: 2, by: 'set', peer: 'p' })
    await h.close()
    await expect(h.set(4)).rejects.toMatchObject({ code: 'ERR_CLOSED' })
  })

  it('the owner writes the initial value and delivers per-agent instructions; again when the value or the team changes', async () => {
    const b = bench()
    b.team.push(agent('w1'), agent('w2'), agent('other', ['gpu']))
    const h = declare<number>(b, 'p', { initial: 32, constraints: BATCH_CONSTRAINTS, coordinate: coordinateBatch })
    await waitUntil(async () => (await coordinations(h)).length === 1, 'the first coordination')
    expect(await h.state()).toMatchObject({ value: 32, version: 1, by: 'initial' })
    expect(b.delivered.map(d => [d.agent, d.payload])).toEqual([
      ['w1', { variable: 'batch', version: 1, value: 32, instruction: { batchSize: 32, worker: 0, workers: 2 }, token: 1 }],
      ['w2', { variable: 'batch', version: 1, value: 32, instruction: { batchSize: 32, worker: 1, workers: 2 }, token: 1 }]
    ])
    expect((await coordinations(h))[0]).toMatchObject({ seq: 1, trigger: 'takeover', version: 1, agents: 2, instructions: 2, delivered: 2, failed: 0, owner: 'p' })

    await h.set(16)
    await waitUntil(async () => (await coordinations(h)).length === 2, 'the coordination of the new value')
    expect((await coordinations(h))[1]).toMatchObject({ trigger: 'value', version: 2, value: 16, delivered: 2 })

    b.team.push(agent('w3'))
    b.teamEvents.emit('change', undefined)
    await waitUntil(async () => (await coordinations(h)).length === 3, 'the coordination of the new team')
    expect((await coordinations(h))[2]).toMatchObject({ trigger: 'team', version: 2, agents: 3, delivered: 3 })
    expect(b.delivered.filter(d => d.agent === 'w3').map(d => d.payload.instruction)).toEqual([{ batchSize: 16, worker: 2, workers: 3 }])
  })

  it('records failed deliveries after bounded attempts, and instructions for agents outside the team', async () => {
    const b = bench()
    b.team.push(agent('w1'), agent('w2'))
    b.failing.set('w2', 'ERR_UNREACHABLE')
    const h = declare<number>(b, 'p', { initial: 4, coordinate: (v) => ({ w1: v, w2: v, stranger: v }), delivery: { attempts: 3 } })
    await waitUntil(async () => (await coordinations(h)).length === 1, 'the coordination')
    const e = (await coordinations(h))[0]!
    expect(e).toMatchObject({ agents: 2, instructions: 3, delivered: 1, failed: 2 })
    expect(e.outcomes).toEqual(expect.arrayContaining([
      expect.objectContaining({ agent: 'w2', ok: false, code: 'ERR_UNREACHABLE', attempts: 3 }),
      expect.objectContaining({ agent: 'stranger', ok: false, code: 'ERR_NOT_AFFECTED', attempts: 0 }),
      expect.objectContaining({ agent: 'w1', ok: true, attempts: 1 })
    ]))
    expect(e.outcomes.findIndex(o => o.ok)).toBe(2)
    expect(h.stats.deliveryFailures).toBe(3)
  })

  it('a coordination function that throws, an adaptation out of bounds or throwing: recorded, nothing applied', async () => {
    const b = bench()
    b.team.push(agent('w1'))
    let mode: 'high' | 'throw' = 'high'
    const h = declare<number>(b, 'p', {
      initial: 4,
      constraints: BATCH_CONSTRAINTS,
      coordinate: () => { throw new Error('no plan') },
      adapt: () => { if (mode === 'throw') throw new Error('bad model'); return 1000 },
      adaptEvery: 1
    })
    await waitUntil(async () => (await coordinations(h)).length === 1, 'the coordination')
    expect((await coordinations(h))[0]).toMatchObject({ error: 'no plan', delivered: 0, instructions: 0 })
    b.outcomes.emit('outcome', { outcome: 'completed', task: 1, attempt: 1, agent: 'w1' })
    await waitUntil(async () => (await adaptations(h)).length === 1, 'the refused adaptation')
    expect((await adaptations(h))[0]).toMatchObject({ outcome: 'refused', proposed: 1000, value: 4, metrics: 1 })
    mode = 'throw'
    b.outcomes.emit('outcome', { outcome: 'completed', task: 2, attempt: 1, agent: 'w1' })
    await waitUntil(async () => (await adaptations(h)).length === 2, 'the failed adaptation')
    expect((await adaptations(h))[1]).toMatchObject({ outcome: 'error', reason: 'bad model' })
    expect(await h.get()).toBe(4)
  })

  it('adapts over 20 task outcomes within its constraints (AIMD on the batch size)', async () => {
    const b = bench()
    b.team.push(agent('w1'), agent('w2'), agent('w3'))
    const h = declare<number>(b, 'p', { initial: 32, constraints: BATCH_CONSTRAINTS, coordinate: coordinateBatch, adapt: adaptBatch(2), adaptEvery: 5 })
    const capacity = 12
    const batchOf = (id: string): number => (b.delivered.filter(d => d.agent === id).at(-1)!.payload.instruction as { batchSize: number }).batchSize
    for (let round = 0; round < 4; round++) {
      // Each round: the team is instructed with the current version, then 5 tasks end.
      await waitUntil(async () => (await coordinations(h)).length === round + 1, `coordination ${round + 1}`)
      for (let i = 0; i < 5; i++) {
        const task = round * 5 + i + 1
        const w = `w${(task % 3) + 1}`
        b.outcomes.emit('outcome', { outcome: batchOf(w) > capacity ? 'failed' : 'completed', task, attempt: 1, agent: w, ...(batchOf(w) > capacity ? { reason: 'failed', error: 'out of memory' } : {}) })
      }
      await waitUntil(async () => (await adaptations(h)).length === round + 1, `adaptation ${round + 1}`)
    }
    const a = await adaptations(h)
    expect(a.map(e => [e.value, e.proposed, e.outcome, e.metrics >= 5])).toEqual([
      [32, 16, 'applied', true], [16, 8, 'applied', true], [8, 10, 'applied', true], [10, 12, 'applied', true]
    ])
    expect(a.map(e => e.newVersion)).toEqual([2, 3, 4, 5])
    expect(await h.get()).toBe(12)
    await waitUntil(async () => (await coordinations(h)).length === 5, 'the coordination of the last value')
    expect(b.delivered.at(-1)?.payload).toMatchObject({ version: 5, value: 12 })
    // Task latencies come from the task records (fixture: 10 ms + task id).
    expect(h.stats.metrics).toBeGreaterThanOrEqual(20)
  })

  it('adapts every `ms` when outcomes arrived, fed task outcomes with their latencies; outcomes of agents outside the team are ignored', async () => {
    const b = bench()
    b.team.push(agent('w1'))
    const fed: unknown[][] = []
    const h = declare<number>(b, 'p', { initial: 1, adaptEvery: { ms: 50 }, adapt: (metrics) => { fed.push(metrics.filter(m => m.kind === 'task').map(m => [m.agent, (m as { outcome: string }).outcome, (m as { latencyMs?: number }).latencyMs])); return undefined } })
    await waitUntil(async () => (await coordinations(h)).length === 1, 'the coordination')
    b.outcomes.emit('outcome', { outcome: 'completed', task: 5, attempt: 1, agent: 'w1' })
    b.outcomes.emit('outcome', { outcome: 'reassigned', task: 6, attempt: 1, agent: 'w1', reason: 'timeout' })
    b.outcomes.emit('outcome', { outcome: 'failed', task: 7, attempt: 1, agent: 'stranger' })
    await waitUntil(() => fed.some(f => f.length === 2), 'a timed adaptation round with both outcomes')
    // Latency from the task record for an ended task; none for a reassigned attempt.
    expect(fed.find(f => f.length === 2)).toEqual([['w1', 'reassigned', undefined], ['w1', 'completed', 15]])
    expect(h.stats.unchanged).toBeGreaterThanOrEqual(1)
    expect(await adaptations(h)).toEqual([])
  })

  it('keeps at most historyMax entries', async () => {
    const b = bench()
    b.team.push(agent('w1'))
    const h = declare<number>(b, 'p', { initial: 1, historyMax: 3 })
    // The owner takes its lock before it writes `initial`: a set before that would be version 1 itself.
    await waitUntil(async () => (await coordinations(h)).length === 1, 'the coordination of the initial value')
    for (let v = 2; v <= 6; v++) {
      await h.set(v)
      await waitUntil(async () => (await h.history()).at(-1)?.version === v, `the coordination of ${v}`)
    }
    const history = await h.history()
    expect(history.map(e => [e.seq, e.version])).toEqual([[4, 4], [5, 5], [6, 6]])
  })

  it('metrics reported on a peer that does not own the variable reach the owner through the inbox', async () => {
    const b = bench()
    b.team.push(agent('w1'))
    const seen: unknown[] = []
    const opts: Partial<OrchestratedOptions<number>> = { initial: 1, adaptEvery: 2, adapt: (metrics) => { seen.push(...metrics.map(m => [m.kind, (m as { value?: number }).value, m.version])); return undefined } }
    const owner = declare<number>(b, 'a', opts)
    await waitUntil(() => owner.isOwner, 'a owns')
    const other = declare<number>(b, 'b', opts)
    await waitUntil(async () => (await coordinations(owner)).length === 1, 'the coordination')
    await other.report({ kind: 'quality', agent: 'w1', value: 0.5, version: 7 })
    await other.report({ kind: 'quality', agent: 'w1', value: 0.7 })
    await expect(other.report({ kind: 'request' })).rejects.toMatchObject({ code: 'ERR_INVALID_METRIC' })
    await waitUntil(() => seen.length >= 2, 'the owner adapts on the reported metrics')
    // A metric carries the version its work ran under when the reporter says so, else the owner's.
    expect(seen.filter(s => (s as string[])[0] === 'quality')).toEqual([['quality', 0.5, 7], ['quality', 0.7, 1]])
  })

  it('when the owner is lost, the next candidate takes over and re-delivers the current version', async () => {
    const b = bench()
    b.team.push(agent('w1'), agent('w2'))
    const opts: Partial<OrchestratedOptions<number>> = { initial: 8, coordinate: coordinateBatch }
    const a = declare<number>(b, 'a', opts)
    const c = declare<number>(b, 'c', opts)
    await waitUntil(async () => (await coordinations(a)).length === 1, 'the first coordination')
    expect(a.isOwner).toBe(true)
    expect(c.isOwner).toBe(false)
    await c.set(6)
    await waitUntil(async () => (await coordinations(a)).length === 2, 'the coordination of 6')
    b.singleton.crashOwner()
    await waitUntil(async () => (await coordinations(c)).length === 3, 'the new owner\'s coordination')
    expect(a.isOwner).toBe(false)
    expect(c.isOwner).toBe(true)
    expect((await coordinations(c)).map(e => [e.owner, e.trigger, e.version])).toEqual([['a', 'takeover', 1], ['a', 'value', 2], ['c', 'takeover', 2]])
    expect(b.delivered.filter(d => d.peer === 'c').map(d => d.payload.version)).toEqual([2, 2])
  })
})

describe('the owner\'s fence and what it reads', () => {
  it('the owner writes and delivers under its lock\'s token; once a newer owner holds the lock its writes are refused and its round stops', async () => {
    const b = bench()
    b.team.push(agent('w1'))
    const a = declare<number>(b, 'a', { initial: 8 })
    await waitUntil(async () => (await coordinations(a)).length === 1, 'the first coordination')
    // The initial value, the confirmation and the history entry were fenced writes; the delivery carries the token.
    expect(b.strong.fencedWrites).toBe(3)
    expect(b.delivered.map(d => [d.payload.version, d.payload.token])).toEqual([[1, 1]])
    // Another peer takes the lock (this owner's lease was lost and it has not noticed yet).
    b.strong.grant('orch/batch')
    await a.set(6)
    await waitUntil(() => a.stats.fenced === 1, 'the stale owner\'s write refused')
    // Nothing of version 2 was delivered or recorded under the stale token.
    expect(b.delivered.filter(d => d.payload.token === 1).map(d => d.payload.version)).toEqual([1])
    expect((await coordinations(a)).filter(e => e.version === 2 && e.owner === 'a' && e.trigger === 'value')).toEqual([])
    // Its next term waits for the lock (here: granted at once, token 3) and coordinates again.
    await waitUntil(async () => (await coordinations(a)).some(e => e.version === 2), 'version 2 coordinated under the new token')
    expect(b.delivered.filter(d => d.payload.version === 2).map(d => d.payload.token)).toEqual([3])
  })

  it('a value breaking the constraints (a raw write) is not coordinated: an error entry, once; a later set resumes', async () => {
    const b = bench()
    b.team.push(agent('w1'))
    const a = declare<number>(b, 'a', { initial: 8, constraints: { min: 1, max: 10 } })
    await waitUntil(async () => (await coordinations(a)).length === 1, 'the first coordination')
    // Someone writes the strong variable directly, past the constraints.
    const raw = b.strong.variable('orch:batch')
    expect(await raw.compareAndSet(await raw.get(), { value: 99, version: 2, at: 0, by: 'set', peer: 'rogue' })).toBe(true)
    await waitUntil(async () => (await coordinations(a)).length === 2, 'the error entry')
    await new Promise(resolve => setTimeout(resolve, 100))
    const entries = await coordinations(a)
    expect(entries.length).toBe(2)
    expect(entries[1]).toMatchObject({ version: 2, value: 99, delivered: 0, instructions: 0, error: expect.stringContaining('ERR_CONSTRAINT') })
    expect(b.delivered.map(d => d.payload.value)).toEqual([8])
    expect(a.stats.unfit).toBe(1)
    await a.set(5)
    await waitUntil(() => b.delivered.some(d => d.payload.value === 5), 'the value set after it delivered')
  })

  it('a foreign value in orch:<name> is nothing to coordinate: an error entry, the loop lives on, a set replaces it', async () => {
    const b = bench()
    b.team.push(agent('w1'))
    b.strong.data.set('orch:batch', JSON.stringify({ not: 'a state' }))
    const a = declare<number>(b, 'a', { initial: 8 })
    await waitUntil(async () => (await coordinations(a)).length === 1, 'the error entry')
    expect((await coordinations(a))[0]).toMatchObject({ version: 0, value: null, delivered: 0, error: expect.stringContaining('ERR_FOREIGN_VALUE') })
    await new Promise(resolve => setTimeout(resolve, 100))
    expect((await coordinations(a)).length).toBe(1)
    expect(a.stats.errors).toBe(0)
    expect(b.delivered).toEqual([])
    expect(await a.set(3)).toBe(1)
    await waitUntil(() => b.delivered.some(d => d.payload.value === 3), 'coordination resumed')
  })
})

describe('peer orchestration service', () => {
  it('checks names, refuses a second declaration of one name, and frees it on close', async () => {
    const b = bench()
    const svc = new PeerOrchestration({
      self: 'p',
      log: createLogger('silent', 'test'),
      strong: (key) => b.strong.variable(key),
      coordination: { runSingleton: (_n: string, fn: (s: AbortSignal) => Promise<void>) => ({ ...b.singleton.run(fn), done: Promise.resolve() }), election: () => ({ leader: async () => undefined }) } as never,
      registry: { query: () => ({ agents: [], truncated: false, freshness: { asOf: 0, oldestHostSilentMs: 0, overQuotaHosts: 0 } }), on: () => () => {} },
      agents: () => undefined,
      tasks: () => undefined
    })
    for (const bad of ['', 'a:b', 'a/b', 'x'.repeat(101)]) expect(() => svc.variable(bad, { affects: {} })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }))
    const v = svc.variable('ok', { affects: {} })
    expect(() => svc.variable('ok', { affects: {} })).toThrow(expect.objectContaining({ code: 'ERR_EXISTS' }))
    await v.close()
    const again = svc.variable('ok', { affects: {} })
    expect(svc.size).toBe(1)
    await svc.stop()
    await again.close()
    expect(svc.size).toBe(0)
  })
})
