/**
 * The pure parts of orchestration variables: constraints, the bounded history, the metric window and
 * the agents' instruction handler.
 */
import { describe, expect, it } from 'vitest'
import { checkConstraints, constraintViolation, nearestAllowed, validateConstraints } from '../../peers/orchestration/constraints.js'
import { appendHistory, listedOutcomes } from '../../peers/orchestration/history.js'
import type { HistoryEntry, NewHistoryEntry } from '../../peers/orchestration/history.js'
import { MetricWindow, validateMetric } from '../../peers/orchestration/metrics.js'
import { instructionHandler } from '../../peers/orchestration/follow.js'
import { HISTORY_OUTCOMES_MAX, HISTORY_VALUE_BYTES_MAX } from '../../peers/orchestration/limits.js'

const codeOf = (fn: () => unknown): string | undefined => {
  try { fn(); return undefined } catch (err) { return (err as { code?: string }).code }
}

describe('constraints', () => {
  it('refuses malformed declarations with ERR_INVALID_OPTION naming the field', () => {
    for (const [c, path] of [
      [{ min: 5, max: 1 }, 'constraints'],
      [{ step: 0 }, 'constraints.step'],
      [{ min: Number.NaN }, 'constraints.min'],
      [{ oneOf: [] }, 'constraints.oneOf'],
      [{ check: 3 }, 'constraints.check']
    ] as const) {
      let err: { code?: string, details?: { path?: string } } | undefined
      try { validateConstraints(c as never) } catch (e) { err = e as typeof err }
      expect(err?.code).toBe('ERR_INVALID_OPTION')
      expect(err?.details?.path).toBe(path)
    }
  })

  it('checks range, grid, allowed values and the predicate', () => {
    const n = validateConstraints({ min: 1, max: 64, step: 1 })
    expect(constraintViolation(n, 1)).toBeUndefined()
    expect(constraintViolation(n, 64)).toBeUndefined()
    expect(constraintViolation(n, 0)).toMatch(/below min/)
    expect(constraintViolation(n, 65)).toMatch(/above max/)
    expect(constraintViolation(n, 2.5)).toMatch(/grid/)
    expect(constraintViolation(n, '3' as never)).toMatch(/finite number/)
    const t = validateConstraints({ min: 0, max: 2, step: 0.1 })
    expect(constraintViolation(t, 0.3)).toBeUndefined()
    expect(constraintViolation(t, 0.35)).toMatch(/grid/)
    const o = validateConstraints<unknown>({ oneOf: ['fast', { mode: 'slow', n: 1 }] })
    expect(constraintViolation(o, { n: 1, mode: 'slow' })).toBeUndefined()
    expect(constraintViolation(o, 'medium')).toMatch(/not one of/)
    const p = validateConstraints<number>({ check: (v) => v % 2 === 0 ? true : 'must be even' })
    expect(constraintViolation(p, 4)).toBeUndefined()
    expect(constraintViolation(p, 3)).toBe('must be even')
    expect(constraintViolation(validateConstraints<number>({ check: () => { throw new Error('boom') } }), 1)).toMatch(/threw/)
    expect(constraintViolation(validateConstraints({}), undefined)).toMatch(/JSON/)
  })

  it('throws ConstraintError with the stable code ERR_CONSTRAINT', () => {
    let err: Error | undefined
    try { checkConstraints('batch', validateConstraints({ max: 8 }), 9) } catch (e) { err = e as Error }
    expect(err?.name).toBe('ConstraintError')
    expect((err as { code?: string }).code).toBe('ERR_CONSTRAINT')
    expect(codeOf(() => { checkConstraints('batch', validateConstraints({ max: 8 }), 8) })).toBeUndefined()
  })

  it('nearestAllowed clamps to the range and snaps to the grid', () => {
    const c = { min: 2, max: 64, step: 4 }
    expect(nearestAllowed(c, 1)).toBe(2)
    expect(nearestAllowed(c, 100)).toBe(62)
    expect(nearestAllowed(c, 11)).toBe(10)
    expect(nearestAllowed({ min: 0, max: 1, step: 0.1 }, 0.33)).toBe(0.3)
    expect(constraintViolation(validateConstraints(c), nearestAllowed(c, 37))).toBeUndefined()
  })
})

describe('history', () => {
  const entry = (i: number, extra: Partial<NewHistoryEntry> = {}): NewHistoryEntry => ({ kind: 'adaptation', at: i, owner: 'p', version: i, value: i, outcome: 'applied', metrics: 0, dropped: 0, ...extra } as NewHistoryEntry)

  it('numbers entries and keeps the last `max`', () => {
    let h: HistoryEntry[] = []
    for (let i = 1; i <= 10; i++) h = appendHistory(h, entry(i), 4)
    expect(h.map(e => e.seq)).toEqual([7, 8, 9, 10])
    expect(h.map(e => e.version)).toEqual([7, 8, 9, 10])
  })

  it('drops the oldest entries to stay within the byte bound, never the new one', () => {
    let h: HistoryEntry[] = []
    const big = 'x'.repeat(400)
    for (let i = 1; i <= 20; i++) h = appendHistory(h, entry(i, { reason: big }), 100, 2000)
    expect(Buffer.byteLength(JSON.stringify(h))).toBeLessThanOrEqual(2000)
    expect(h.at(-1)?.seq).toBe(20)
    expect(h.length).toBeGreaterThan(1)
    expect(appendHistory([], entry(1, { reason: 'y'.repeat(5000) }), 100, 2000)).toHaveLength(1)
  })

  it('shows a large value as a marker, so one entry stays far below the strong variable\'s bound', () => {
    const big = 'v'.repeat(HISTORY_VALUE_BYTES_MAX)
    const [e] = appendHistory([], entry(1, { value: big, proposed: 'small' }), 10)
    expect(e).toMatchObject({ value: { omitted: 'value', bytes: HISTORY_VALUE_BYTES_MAX + 2 }, proposed: 'small' })
  })

  it('lists failures first, at most HISTORY_OUTCOMES_MAX', () => {
    const all = Array.from({ length: 100 }, (_, i) => ({ agent: `a${i}`, ok: i % 10 !== 0, attempts: 1, ms: 1, ...(i % 10 === 0 ? { code: 'ERR_TIMEOUT' } : {}) }))
    const listed = listedOutcomes(all)
    expect(listed).toHaveLength(HISTORY_OUTCOMES_MAX)
    expect(listed.slice(0, 10).every(o => !o.ok)).toBe(true)
    expect(listed.slice(10).every(o => o.ok)).toBe(true)
  })
})

describe('metric window', () => {
  it('keeps at most `max`, counts what it dropped, and paces on outcomes only', () => {
    const w = new MetricWindow(3)
    for (let i = 0; i < 5; i++) w.push({ kind: 'task', agent: 'a', task: i, attempt: 1, outcome: 'completed', version: 1, at: i })
    w.push({ kind: 'request', agent: 'a', ok: true, latencyMs: 1, version: 1, at: 9 })
    expect(w.size).toBe(3)
    expect(w.outcomes).toBe(5)
    const { metrics, dropped } = w.take()
    expect(dropped).toBe(3)
    expect(metrics.map(m => m.at)).toEqual([3, 4, 9])
    expect(w.size).toBe(0)
    expect(w.outcomes).toBe(0)
  })

  it('refuses malformed metrics with ERR_INVALID_METRIC', () => {
    for (const m of [null, { kind: '' }, { kind: 'request' }, { kind: 'x', value: Number.POSITIVE_INFINITY }, { kind: 'task', agent: 'a' }, { kind: 'task', outcome: 'completed' }, { kind: 'x', data: 'z'.repeat(5000) }]) {
      expect(codeOf(() => validateMetric(m as never))).toBe('ERR_INVALID_METRIC')
    }
    expect(validateMetric({ kind: 'quality', agent: 'a', value: 0.9 })).toEqual({ kind: 'quality', agent: 'a', value: 0.9 })
  })
})

describe('instruction handler', () => {
  it('applies newer versions and new instructions of the same version; acknowledges stale and repeated ones', async () => {
    const applied: unknown[] = []
    const h = instructionHandler<{ agent: string }>((p) => { applied.push([p.version, p.instruction]) })
    const ctx = { agent: 'w1' }
    expect(await h({ variable: 'b', version: 2, value: 8, instruction: { batch: 8 } }, ctx)).toEqual({ applied: true, version: 2 })
    expect(await h({ variable: 'b', version: 2, value: 8, instruction: { batch: 8 } }, ctx)).toEqual({ applied: false, version: 2 })
    expect(await h({ variable: 'b', version: 1, value: 16, instruction: { batch: 16 } }, ctx)).toEqual({ applied: false, version: 2 })
    expect(await h({ variable: 'b', version: 2, value: 8, instruction: { batch: 8, shard: 1 } }, ctx)).toEqual({ applied: true, version: 2 })
    expect(await h({ variable: 'b', version: 1, value: 16, instruction: 16 }, { agent: 'w2' })).toEqual({ applied: true, version: 1 })
    expect(applied).toEqual([[2, { batch: 8 }], [2, { batch: 8, shard: 1 }], [1, 16]])
    await expect(h({ nope: true }, ctx)).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION' })
  })
})
