/**
 * A small, fast, seeded PRNG (xoshiro128**, seeded through splitmix32). Everything random in the Raft
 * core and the simulator comes from one of these, so a seed reproduces a run exactly.
 * Never use `Math.random` in deterministic code.
 */
export interface Rand {
  /** A float uniformly in [0, 1). */
  next: () => number
  /** An integer uniformly in [0, n); n must be a positive integer <= 2^32. */
  int: (n: number) => number
  /** An integer uniformly in [min, max). */
  range: (min: number, max: number) => number
  /** True with probability p. */
  chance: (p: number) => boolean
  /** A uniformly chosen element of a non-empty array. */
  pick: <T>(items: readonly T[]) => T
  /** A new independent generator derived from this one (for sub-streams). */
  fork: () => Rand
}

function splitmix32 (seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x9e3779b9) >>> 0
    let z = s
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
    return (z ^ (z >>> 16)) >>> 0
  }
}

export class Xoshiro128 implements Rand {
  private a: number
  private b: number
  private c: number
  private d: number

  constructor (seed: number) {
    if (!Number.isFinite(seed)) throw new TypeError(`seed must be a finite number, got ${seed}`)
    // Mix both halves of a 53-bit seed so seeds above 2^32 are distinct too.
    const sm = splitmix32((seed >>> 0) ^ Math.floor(seed / 0x100000000))
    this.a = sm(); this.b = sm(); this.c = sm(); this.d = sm()
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1
  }

  private u32 (): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5) >>> 0, 7), 9) >>> 0
    const t = (this.b << 9) >>> 0
    this.c ^= this.a
    this.d ^= this.b
    this.b ^= this.c
    this.a ^= this.d
    this.c ^= t
    this.d = rotl(this.d, 11)
    return result
  }

  next (): number {
    return this.u32() / 0x100000000
  }

  int (n: number): number {
    if (!(n > 0) || n > 0x100000000 || !Number.isInteger(n)) throw new RangeError(`int(n) needs an integer in [1, 2^32], got ${n}`)
    // Rejection sampling removes modulo bias.
    const limit = 0x100000000 - (0x100000000 % n)
    let x = this.u32()
    while (x >= limit) x = this.u32()
    return x % n
  }

  range (min: number, max: number): number {
    return min + this.int(max - min)
  }

  chance (p: number): boolean {
    return p > 0 && this.next() < p
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick() from an empty array')
    return items[this.int(items.length)] as T
  }

  fork (): Rand {
    return new Xoshiro128(this.u32() * 0x200000 + (this.u32() >>> 11))
  }
}

function rotl (x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0
}

export function createRand (seed: number): Rand {
  return new Xoshiro128(seed)
}
