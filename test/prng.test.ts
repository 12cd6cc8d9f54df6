import { describe, expect, it } from 'vitest'
import { createRand } from '../src/base/prng.js'

describe('seeded PRNG', () => {
  it('reproduces the same sequence from the same seed', () => {
    const a = createRand(42)
    const b = createRand(42)
    const xs = Array.from({ length: 100 }, () => a.int(1000))
    const ys = Array.from({ length: 100 }, () => b.int(1000))
    expect(xs).toEqual(ys)
    expect(createRand(43).int(1_000_000)).not.toBe(createRand(42).int(1_000_000))
  })

  it('int(n) stays in range and covers it roughly uniformly', () => {
    const r = createRand(7)
    const counts = new Array(10).fill(0)
    for (let i = 0; i < 100_000; i++) counts[r.int(10)]++
    for (const c of counts) {
      expect(c).toBeGreaterThan(9_000)
      expect(c).toBeLessThan(11_000)
    }
  })

  it('next() is in [0, 1) and forks are independent but reproducible', () => {
    const r = createRand(1)
    for (let i = 0; i < 10_000; i++) {
      const x = r.next()
      expect(x).toBeGreaterThanOrEqual(0)
      expect(x).toBeLessThan(1)
    }
    const f1 = createRand(5).fork()
    const f2 = createRand(5).fork()
    expect(f1.int(1e9)).toBe(f2.int(1e9))
    expect(() => r.int(0)).toThrow(RangeError)
  })
})
