import { describe, expect, it } from 'vitest'
import { checkLinearizable, kvModel, randomLinearizableKvHistory } from '../../sim/linearizability/index.js'
import type { KvInput, KvOperation, KvOutput, Model, Operation } from '../../sim/linearizability/index.js'
import { createRand } from '../../src/base/prng.js'
import { seedMessage, testSeeds } from '../helpers/seed.js'

function op (clientId: number, input: KvInput, call: number, ret: number | null, output?: KvOutput): KvOperation {
  return { clientId, input, call, return: ret, output }
}

describe('linearizability checker (Porcupine port)', () => {
  it('accepts a sequential history', () => {
    const h = [
      op(0, { op: 'write', key: 'x', value: 1 }, 0, 1, {}),
      op(0, { op: 'read', key: 'x' }, 2, 3, { value: 1 }),
      op(0, { op: 'cas', key: 'x', expected: 1, value: 2 }, 4, 5, { ok: true }),
      op(0, { op: 'read', key: 'x' }, 6, 7, { value: 2 })
    ]
    expect(checkLinearizable(kvModel, h).result).toBe('ok')
  })

  it('rejects a stale read after a completed write', () => {
    const h = [
      op(0, { op: 'write', key: 'x', value: 1 }, 0, 10, {}),
      op(1, { op: 'read', key: 'x' }, 11, 12, { value: null })
    ]
    const r = checkLinearizable(kvModel, h)
    expect(r.result).toBe('illegal')
    expect(r.failedOps).toHaveLength(2)
    expect(r.detail).toContain('read(x)')
  })

  it('accepts either order for overlapping write and read', () => {
    const a = [op(0, { op: 'write', key: 'x', value: 1 }, 0, 10, {}), op(1, { op: 'read', key: 'x' }, 5, 6, { value: null })]
    const b = [op(0, { op: 'write', key: 'x', value: 1 }, 0, 10, {}), op(1, { op: 'read', key: 'x' }, 5, 6, { value: 1 })]
    expect(checkLinearizable(kvModel, a).ok).toBe(true)
    expect(checkLinearizable(kvModel, b).ok).toBe(true)
  })

  it('rejects reads that go back in time (new-then-old during one write)', () => {
    // Porcupine's classic: a write of 1 overlaps two reads; the first sees 1, a later one sees 0.
    const h = [
      op(0, { op: 'write', key: 'x', value: 0 }, 0, 1, {}),
      op(1, { op: 'write', key: 'x', value: 1 }, 2, 100, {}),
      op(2, { op: 'read', key: 'x' }, 3, 4, { value: 1 }),
      op(3, { op: 'read', key: 'x' }, 5, 6, { value: 0 })
    ]
    expect(checkLinearizable(kvModel, h).result).toBe('illegal')
  })

  it('rejects two successful cas from the same expected value', () => {
    const h = [
      op(0, { op: 'write', key: 'x', value: 0 }, 0, 1, {}),
      op(1, { op: 'cas', key: 'x', expected: 0, value: 1 }, 2, 10, { ok: true }),
      op(2, { op: 'cas', key: 'x', expected: 0, value: 2 }, 3, 11, { ok: true })
    ]
    expect(checkLinearizable(kvModel, h).result).toBe('illegal')
  })

  it('treats an indefinite write as possibly applied late or never', () => {
    const base = [
      op(0, { op: 'write', key: 'x', value: 0 }, 0, 1, {}),
      op(1, { op: 'write', key: 'x', value: 1 }, 2, null) // fate unknown
    ]
    // It may have happened...
    expect(checkLinearizable(kvModel, [...base, op(2, { op: 'read', key: 'x' }, 50, 51, { value: 1 })]).ok).toBe(true)
    // ...or not (yet).
    expect(checkLinearizable(kvModel, [...base, op(2, { op: 'read', key: 'x' }, 50, 51, { value: 0 })]).ok).toBe(true)
    // But once seen, it cannot be un-seen.
    expect(checkLinearizable(kvModel, [...base,
      op(2, { op: 'read', key: 'x' }, 50, 51, { value: 1 }),
      op(2, { op: 'read', key: 'x' }, 52, 53, { value: 0 })]).result).toBe('illegal')
    // A value never written cannot be read even with indefinite ops around.
    expect(checkLinearizable(kvModel, [...base, op(2, { op: 'read', key: 'x' }, 50, 51, { value: 7 })]).result).toBe('illegal')
  })

  it('an indefinite operation cannot take effect before its call', () => {
    const h = [
      op(0, { op: 'read', key: 'x' }, 0, 1, { value: 5 }),
      op(1, { op: 'write', key: 'x', value: 5 }, 2, Infinity)
    ]
    expect(checkLinearizable(kvModel, h).result).toBe('illegal')
  })

  it('partitions per key: a violation on one key is found among many legal keys', () => {
    const rand = createRand(7)
    const h = randomLinearizableKvHistory(rand, { ops: 2000, keys: 20, clients: 6 })
    expect(checkLinearizable(kvModel, h).result).toBe('ok')
    // Corrupt one completed read that follows a completed write on the same key, sequentially.
    const t = 1e9
    h.push(op(9, { op: 'write', key: 'k3', value: 'zzz' }, t, t + 1, {}))
    h.push(op(9, { op: 'read', key: 'k3' }, t + 2, t + 3, { value: 'yyy' }))
    const r = checkLinearizable(kvModel, h)
    expect(r.result).toBe('illegal')
    expect(r.failedOps?.every(o => o.input.key === 'k3')).toBe(true)
    expect(r.partitions).toBe(20)
  })

  it('random linearizable histories with indefinite ops pass; mutated outputs are caught', () => {
    for (const seed of testSeeds(30)) {
      const rand = createRand(seed)
      const h = randomLinearizableKvHistory(rand, { ops: 200, keys: 3, clients: 4, indefinite: 0.1 })
      const r = checkLinearizable(kvModel, h)
      if (!r.ok) throw new Error(`expected ok, got ${r.result}; ${seedMessage(seed)}`)
    }
    let caught = 0
    for (let seed = 1; seed <= 30; seed++) {
      const rand = createRand(seed)
      const h = randomLinearizableKvHistory(rand, { ops: 100, keys: 2, clients: 3 })
      // Make a completed read return a value no one ever wrote.
      const read = h.find(o => o.input.op === 'read' && o.output !== undefined)
      if (read === undefined) continue
      read.output = { value: 'never-written' }
      if (checkLinearizable(kvModel, h).result === 'illegal') caught++
      else throw new Error(`seed ${seed}: a read of a never-written value was not caught`)
    }
    expect(caught).toBeGreaterThan(20)
  })

  it('returns unknown when the step budget runs out', () => {
    const rand = createRand(3)
    const h = randomLinearizableKvHistory(rand, { ops: 300, keys: 1, clients: 8 })
    const r = checkLinearizable(kvModel, h, { stepsMax: 10 })
    expect(r.result).toBe('unknown')
    expect(r.ok).toBe(false)
  })

  it('is generic: a counter model (increment/get) with no partitioning', () => {
    type In = { op: 'inc' } | { op: 'get' }
    type Out = { value?: number }
    const counter: Model<number, In, Out> = {
      init: () => 0,
      step: (s, i, o) => i.op === 'inc' ? [true, s + 1] : [o === undefined || o.value === s, s]
    }
    const ok: Array<Operation<In, Out>> = [
      { clientId: 0, input: { op: 'inc' }, call: 0, return: 5, output: {} },
      { clientId: 1, input: { op: 'inc' }, call: 1, return: 6, output: {} },
      { clientId: 2, input: { op: 'get' }, call: 2, return: 3, output: { value: 1 } },
      { clientId: 2, input: { op: 'get' }, call: 7, return: 8, output: { value: 2 } }
    ]
    expect(checkLinearizable(counter, ok).ok).toBe(true)
    const bad = ok.slice(0, 3).concat([{ clientId: 2, input: { op: 'get' }, call: 7, return: 8, output: { value: 1 } }])
    expect(checkLinearizable(counter, bad).result).toBe('illegal')
  })

  it('rejects an operation that returns before it is called', () => {
    expect(() => checkLinearizable(kvModel, [op(0, { op: 'read', key: 'x' }, 5, 4, { value: null })])).toThrow(RangeError)
  })
})
