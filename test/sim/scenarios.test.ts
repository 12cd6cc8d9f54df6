import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { runScenario } from '../../sim/runner.js'
import { parseScenario } from '../../sim/scenario.js'

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'scenarios')
const files = readdirSync(dir).filter(f => f.endsWith('.yaml') || f.endsWith('.json')).sort()

describe('scenario files (test/scenarios)', () => {
  it('there are at least 20, each with expect steps', () => {
    expect(files.length).toBeGreaterThanOrEqual(20)
    for (const f of files) {
      const s = parseScenario(readFileSync(join(dir, f), 'utf8'))
      expect(s.steps.some(x => x.kind === 'expect'), f).toBe(true)
    }
  })

  for (const f of files) {
    it(f, () => {
      const s = parseScenario(readFileSync(join(dir, f), 'utf8'))
      const report = runScenario(s)
      const why = [...report.expectFailures.map(x => `expect at step ${x.step}: ${x.detail}`), ...report.violations.map(v => `${v.invariant} at step ${v.step}: ${v.detail}`)]
      expect(why, `replay: npx agora sim run test/scenarios/${f}`).toEqual([])
      expect(report.ok).toBe(true)
      // Deterministic: the same scenario gives the same trace.
      expect(runScenario(parseScenario(readFileSync(join(dir, f), 'utf8'))).trace).toBe(report.trace)
    })
  }

  it('a failed expect makes the report not ok and names the step', () => {
    const s = parseScenario('{"nodes": 3, "steps": [{"campaign": 1}, {"expect": {"leader": 3, "term": 7}}]}')
    const r = runScenario(s)
    expect(r.ok).toBe(false)
    expect(r.expectFailures.map(f => f.step)).toEqual([1, 1, 1, 1])
    expect(r.violations).toEqual([])
  })

  it('the report has the contract shape', () => {
    const r = runScenario(parseScenario('{"name": "shape", "nodes": 3, "seed": 4, "steps": [{"campaign": 2}, {"propose": 2, "data": "x"}, {"readIndex": 2, "ctx": "a"}]}'))
    expect(r).toMatchObject({ name: 'shape', seed: 4, ok: true, auctions: {}, accounts: {}, history: [], violations: [] })
    expect(r.trace).toMatch(/^[0-9a-f]{64}$/)
    expect(r.nodes['2']).toEqual({ role: 'leader', term: 1, vote: 2, leader: 2, log: [[1, 1, ''], [2, 1, 'x']], commit: 2, applied: 2, firstIndex: 1 })
    expect(r.nodes['1']).toMatchObject({ role: 'follower', leader: 2, vote: 2 })
    expect(r.readStates).toEqual({ 2: [{ index: 2, ctx: 'a' }] })
  })

  it('timed mode: different seeds give different traces, the same seed the same', () => {
    const text = (seed: number): string => JSON.stringify({ nodes: 3, seed, network: { latencyMs: [1, 20] }, steps: [{ run: 2000 }, { client: { node: 1, op: 'write', key: 'x', value: 1 } }, { run: 1000 }, { expect: { kv: { x: 1 } } }] })
    const a = runScenario(parseScenario(text(1)))
    const b = runScenario(parseScenario(text(2)))
    expect(a.ok && b.ok).toBe(true)
    expect(a.trace).not.toBe(b.trace)
    expect(runScenario(parseScenario(text(1))).trace).toBe(a.trace)
    expect(a.history).toEqual([expect.objectContaining({ node: 1, op: 'write', key: 'x', value: 1, result: 'ok', call: 2000 })])
  })
})
