/**
 * Shared machinery of the decoder fuzz tests (test/fuzz/*.test.ts): mutations of valid encodings, and
 * the check every decoder must pass on any input — it returns, or throws its named error (a class with
 * a stable `code`), without allocating more than a bounded multiple of its input.
 *
 * Seeds: every property runs with the fixed default seed of test/helpers/seed.ts; a failure prints the
 * command that replays it (`AGORA_TEST_SEED=<n> AGORA_TEST_PATH=<path> npx vitest run <file> -t <name>`).
 */
import fc from 'fast-check'
import { expect } from 'vitest'
import { AgoraError } from '../../src/base/errors.js'

/** Runs per property (the whole folder stays well under 20 s). */
export const RUNS = Number(process.env.AGORA_FUZZ_RUNS ?? 400)

/** LEB128 varint of `n` (any non-negative number, even past 2^53: what a hostile sender may write). */
export function varint (n: number | bigint): Uint8Array {
  let v = BigInt(n)
  const out: number[] = []
  while (v >= 128n) { out.push(Number(v & 127n) | 128); v >>= 7n }
  out.push(Number(v))
  return Uint8Array.from(out)
}

/** Length values a hostile length field claims. */
export const HUGE_LENGTHS: readonly bigint[] = [2n ** 31n, 2n ** 32n, 2n ** 32n - 1n, 2n ** 53n - 1n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n]

/** A varint that never ends (continuation bits only), as long as `n` bytes. */
export const endlessVarint = (n: number): Uint8Array => new Uint8Array(n).fill(0x80)

export function concat (...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let off = 0
  for (const p of parts) { out.set(p, off); off += p.length }
  return out
}

/** One mutation of a byte array. */
type Mutation = (b: Uint8Array) => Uint8Array

const at = (b: Uint8Array, r: number): number => b.length === 0 ? 0 : r % b.length

/** Mutations of a valid encoding: bit flips, truncations, extensions, insertions, huge varints in place of any field. */
export function mutationArb (): fc.Arbitrary<Mutation> {
  const pos = fc.nat({ max: 1 << 20 })
  return fc.oneof(
    fc.tuple(pos, fc.integer({ min: 0, max: 7 })).map(([p, bit]): Mutation => (b) => {
      const out = b.slice()
      if (out.length > 0) out[at(out, p)]! ^= 1 << bit
      return out
    }),
    pos.map((p): Mutation => (b) => b.subarray(0, at(b, p))),
    fc.uint8Array({ minLength: 1, maxLength: 16 }).map((x): Mutation => (b) => concat(b, x)),
    fc.tuple(pos, fc.uint8Array({ minLength: 1, maxLength: 8 })).map(([p, x]): Mutation => (b) => { const i = at(b, p); return concat(b.subarray(0, i), x, b.subarray(i)) }),
    fc.tuple(pos, fc.integer({ min: 1, max: 4 })).map(([p, n]): Mutation => (b) => { const i = at(b, p); return concat(b.subarray(0, i), b.subarray(i + n)) }),
    // A huge varint written over the field at a random position (length fields, counts, integers).
    fc.tuple(pos, fc.constantFrom(...HUGE_LENGTHS), fc.integer({ min: 0, max: 9 })).map(([p, v, skip]): Mutation => (b) => {
      const i = at(b, p)
      return concat(b.subarray(0, i), varint(v), b.subarray(Math.min(b.length, i + skip)))
    }),
    fc.tuple(pos, fc.integer({ min: 9, max: 40 })).map(([p, n]): Mutation => (b) => { const i = at(b, p); return concat(b.subarray(0, i), endlessVarint(n), b.subarray(i)) }),
    fc.tuple(pos, fc.integer({ min: 0, max: 255 })).map(([p, v]): Mutation => (b) => { const out = b.slice(); if (out.length > 0) out[at(out, p)] = v; return out })
  )
}

/** Inputs for a decoder: random bytes, or 1..3 mutations of a valid encoding drawn from `valid`. */
export function hostileBytes (valid: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    { arbitrary: fc.uint8Array({ maxLength: 512 }), weight: 1 },
    { arbitrary: fc.tuple(valid, fc.array(mutationArb(), { minLength: 1, maxLength: 3 })).map(([b, ms]) => ms.reduce((x, m) => m(x), b)), weight: 4 }
  )
}

/** Bytes of ArrayBuffers a decode may allocate beyond its input: far below any refused length field. */
const ALLOCATION_SLACK = 16 * 1024 * 1024

/**
 * Runs `decode` on `input` and asserts it returned, or threw an {@link AgoraError} whose class is one
 * of `errors` and whose `code` is one of `codes`; and that it did not allocate ArrayBuffers beyond
 * 16 MiB + 64 x the input (a length field believed before it was checked would). Returns the error or
 * undefined.
 */
export function expectNamed (decode: () => unknown, errors: ReadonlyArray<abstract new (...a: never[]) => AgoraError>, codes: readonly string[], inputBytes = 0): AgoraError | undefined {
  const before = process.memoryUsage().arrayBuffers
  let caught: unknown
  try { decode() } catch (err) { caught = err }
  const grown = process.memoryUsage().arrayBuffers - before
  expect(grown, 'ArrayBuffer bytes allocated by one decode').toBeLessThan(ALLOCATION_SLACK + 64 * inputBytes)
  if (caught === undefined) return undefined
  if (!(caught instanceof AgoraError) || !errors.some(E => caught instanceof E) || !codes.includes(caught.code)) {
    throw new Error(`expected one of ${errors.map(e => e.name).join(', ')} (${codes.join(', ')}), got ${(caught as Error)?.name}: ${(caught as Error)?.message}`, { cause: caught })
  }
  return caught
}

/** JSON values a hostile sender puts anywhere: odd types, lone surrogates, `__proto__` keys, huge numbers, deep nesting. */
export const hostileJsonValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom<unknown>(null, true, 0, -1, 1.5, Number.MAX_SAFE_INTEGER + 2, 1e308, '', '\ud800', 'a\udc00b', '__proto__', [], {}),
  fc.constant(JSON.parse('{"__proto__": {"polluted": 1}}') as unknown),
  fc.integer({ min: 1, max: 2000 }).map(n => JSON.parse('['.repeat(n) + ']'.repeat(n)) as unknown),
  fc.string({ unit: 'binary', maxLength: 20 })
)

/** Replaces the node number `k` (depth-first) of `v` with `x`, or adds/removes a key there; returns a new value. */
function replaceNode (v: unknown, k: { n: number }, x: unknown, op: number): unknown {
  if (k.n-- === 0) return x
  if (Array.isArray(v)) {
    const out = v.map(e => replaceNode(e, k, x, op))
    if (k.n === -1 && op === 1) out.push(x)
    return out
  }
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {}
    const keys = Object.keys(v)
    for (const key of keys) {
      const before = k.n
      const r = replaceNode((v as Record<string, unknown>)[key], k, x, op)
      if (before === 0 && op === 2) continue // drop the key
      Object.defineProperty(out, key, { value: r, enumerable: true, writable: true, configurable: true })
    }
    if (k.n === -1 && op === 1) Object.defineProperty(out, op === 1 && typeof x === 'string' ? x : '__proto__', { value: x, enumerable: true, writable: true, configurable: true })
    return out
  }
  return v
}

/**
 * Text of a JSON value for a decoder: the valid value itself, one of its nodes replaced by a hostile
 * value (or a key dropped or added, `__proto__` included), or byte mutations of its text.
 */
export function hostileJsonBytes (valid: fc.Arbitrary<unknown>): fc.Arbitrary<Uint8Array> {
  const enc = new TextEncoder()
  const structural = fc.tuple(valid, fc.nat({ max: 400 }), hostileJsonValue, fc.nat({ max: 2 })).map(([v, n, x, op]) => enc.encode(JSON.stringify(replaceNode(v, { n }, x, op)) ?? 'null'))
  return fc.oneof(
    { arbitrary: valid.map(v => enc.encode(JSON.stringify(v))), weight: 1 },
    { arbitrary: structural, weight: 4 },
    { arbitrary: hostileBytes(valid.map(v => enc.encode(JSON.stringify(v)))), weight: 3 }
  )
}
