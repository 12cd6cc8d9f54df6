/**
 * The registry's fast paths (issue 17) against the straightforward code they replace, on the same
 * inputs: a stored value's check (checkStoredAgent, which skips building the normalised copy and its
 * JSON text when the value is already normal) against the full validation, and indexed queries against a
 * filter over every agent.
 */
import { describe, expect, it } from 'vitest'
import { checkStoredAgent, normaliseAgent } from '../../crdt/descriptor.js'
import type { StoredAgent } from '../../crdt/descriptor.js'
import { DEFAULT_LIMITS } from '../../crdt/limits.js'
import { createLocalRegistry } from '../../crdt/registry.js'
import { plainJsonProblem } from '../../src/base/input.js'
import type { JsonInputProblem } from '../../src/base/input.js'
import { createRand } from '../../src/base/prng.js'
import type { Rand } from '../../src/base/prng.js'
import type { AgentView, QueryCriteria, WhereClause } from '../../crdt/types.js'

const limits = DEFAULT_LIMITS

/** checkStoredAgent before the fast path: plain-JSON walk, full normalisation, the document's own value when normal. */
function reference (value: unknown, onNotJson: (p: JsonInputProblem) => void): StoredAgent | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined
  const proto = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) return undefined
  const p = plainJsonProblem(value)
  if (p !== undefined) { onNotJson(p); return undefined }
  try {
    const v = value as unknown as StoredAgent
    const norm = normaliseAgent(v, v.updatedAt, limits, false, v.claimedAt)
    if (Array.isArray(v.capabilities) && norm.capabilities.length === v.capabilities.length && v.resources !== undefined && v.metadata !== undefined) return v
    return norm
  } catch {
    return undefined
  }
}

function agree (value: unknown): void {
  const fastProblems: JsonInputProblem[] = []
  const refProblems: JsonInputProblem[] = []
  const got = checkStoredAgent('a1', value, limits, (p) => fastProblems.push(p))
  const want = reference(value, (p) => refProblems.push(p))
  expect(fastProblems).toEqual(refProblems)
  if (want === value) expect(got).toBe(value)
  else expect(got).toEqual(want)
}

const base = (): Record<string, unknown> => ({
  capabilities: ['chat', 'code'],
  zone: 'eu',
  resources: { cpu: 4, gpu: 1 },
  health: 'healthy',
  metadata: { model: 'm1', tags: ['a', 'b'], nested: { x: 1, y: null, z: true } },
  load: 0.5,
  updatedAt: 1000,
  claimedAt: 900
})

/** The value with its metadata padded so that its normalised JSON takes exactly `bytes` UTF-8 bytes. */
function sized (bytes: number, unit: string): Record<string, unknown> {
  const v = base()
  const meta = { pad: '' }
  v.metadata = meta
  const size = (): number => Buffer.byteLength(JSON.stringify(normaliseAgent(v as never, 1000, { ...limits, descriptorBytesMax: 1e9 }, false, 900)))
  // Each unit adds its escaped UTF-8 form; whole units first, then single bytes of 'x'.
  const per = Buffer.byteLength(JSON.stringify(unit)) - 2
  meta.pad = unit.repeat(Math.max(0, Math.floor((bytes - size()) / per)))
  while (size() < bytes) meta.pad += 'x'
  expect(size()).toBe(bytes)
  return v
}

function randomValue (rand: Rand, depth: number): unknown {
  const k = rand.int(depth > 3 ? 6 : 9)
  switch (k) {
    case 0: return rand.pick(['s', '', 'é', '😀', '\ud800', '"\\\n', 'x'.repeat(rand.int(40))])
    case 1: return rand.pick([0, -1, 1.5, 1e308, -1e-7, Number.MAX_SAFE_INTEGER, Number.NaN, Number.POSITIVE_INFINITY])
    case 2: return rand.chance(0.5)
    case 3: return null
    case 4: return rand.chance(0.05) ? undefined : rand.chance(0.05) ? 1n : 'v'
    case 5: return rand.chance(0.1) ? new Uint8Array(2) : 7
    case 6: return Array.from({ length: rand.int(4) }, () => randomValue(rand, depth + 1))
    case 7: {
      const o: Record<string, unknown> = rand.chance(0.1) ? Object.create(null) : {}
      for (let i = rand.int(4); i > 0; i--) o[rand.pick(['a', 'b', 'constructor', '\udc00', 'ключ', `k${i}`])] = randomValue(rand, depth + 1)
      if (rand.chance(0.05)) Object.defineProperty(o, '__proto__', { value: 1, enumerable: true })
      return o
    }
    default: return rand.chance(0.1) ? Object.create({ inherited: 1 }) : {}
  }
}

function mutate (rand: Rand): Record<string, unknown> {
  const v = base()
  const fields = ['capabilities', 'zone', 'resources', 'health', 'metadata', 'load', 'updatedAt', 'claimedAt', 'extra', 'checks', 'reportedHealth']
  for (let n = rand.int(3); n >= 0; n--) {
    const f = rand.pick(fields)
    switch (rand.int(4)) {
      case 0: delete v[f]; break
      case 1: v[f] = randomValue(rand, 0); break
      case 2:
        if (f === 'capabilities') v[f] = rand.pick([['a', 'a'], ['a', ''], ['x'.repeat(129)], Array.from({ length: 65 }, (_, i) => `c${i}`), ['\ud800'], []])
        else if (f === 'resources') v[f] = rand.pick([{ constructor: 1 }, { a: Number.NaN }, { a: '1' }, Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`r${i}`, i])), { toString: 2 }])
        else if (f === 'health') v[f] = rand.pick(['healthy', 'degraded', 'unhealthy', 'sick'])
        else if (f === 'load' || f === 'claimedAt' || f === 'updatedAt') v[f] = rand.pick([-1, 0.5, 2 ** 53, Number.NaN, '1'])
        else v[f] = randomValue(rand, 0)
        break
      default: break
    }
  }
  return v
}

describe('checkStoredAgent fast path', () => {
  it('gives what the full validation gives on hand-picked values (edges of every rule)', () => {
    const cases: unknown[] = [
      base(),
      { ...base(), health: undefined },
      (() => { const v = base(); delete v.health; return v })(),
      { ...base(), capabilities: ['a', 'a'] },
      { ...base(), resources: { constructor: 1 } },
      { ...base(), resources: { toString: 1 } },
      { ...base(), metadata: JSON.parse('{"role": {"__proto__": {"admin": true}}}') },
      { ...base(), metadata: { buf: new Uint8Array(4) } },
      { ...base(), metadata: Object.setPrototypeOf({ a: 1 }, null) },
      { ...base(), capabilities: ['\ud800'] },
      { ...base(), metadata: { ['\udc00']: 1 } },
      { ...base(), claimedAt: 1.5 },
      { ...base(), load: -0.1 },
      { ...base(), resources: { cpu: Number.NaN } },
      { ...base(), extra: { anything: [1, 2, 3] } },
      { ...base(), extra: undefined },
      { ...base(), checks: [] },
      { ...base(), capabilities: undefined },
      { ...base(), resources: undefined },
      { ...base(), metadata: undefined },
      { ...base(), updatedAt: Number.POSITIVE_INFINITY },
      // At the size limit and one byte past it, in ASCII, 2-, 3- and 4-byte UTF-8 and escaped characters.
      ...['x', 'é', '€', '😀', '"', '\u0001'].flatMap(u => [sized(limits.descriptorBytesMax, u), sized(limits.descriptorBytesMax + 1, u), sized(limits.descriptorBytesMax - 40, u)])
    ]
    // Deeper than the fast walk goes; a cycle; a shared subtree.
    let deep: Record<string, unknown> = { leaf: 1 }
    for (let i = 0; i < 80; i++) deep = { d: deep }
    cases.push({ ...base(), metadata: deep })
    const cyclic: Record<string, unknown> = { a: 1 }
    cyclic.self = cyclic
    cases.push({ ...base(), metadata: cyclic })
    let shared: unknown = { leaf: 'x' }
    for (let i = 0; i < 8; i++) shared = { l: shared, r: shared }
    cases.push({ ...base(), metadata: shared })
    for (const c of cases) agree(c)
  }, 60_000)

  it('gives what the full validation gives on 5,000 random values', () => {
    const rand = createRand(17)
    for (let i = 0; i < 5000; i++) agree(mutate(rand))
  }, 60_000)

  it('a shared subtree whose JSON passes the size limit many times over is refused alike', () => {
    let shared: unknown = 'x'.repeat(100)
    for (let i = 0; i < 12; i++) shared = [shared, shared]
    const value = { ...base(), metadata: { s: shared } }
    agree(value)
    expect(checkStoredAgent('a1', value, limits)).toBeUndefined()
  })
})

describe('indexed queries', () => {
  it('return what a filter over every agent returns, for random criteria', async () => {
    const rand = createRand(5)
    let t = 1_000
    const reg = createLocalRegistry({ now: () => t })
    const caps = ['a', 'b', 'c', 'd']
    const zones = ['z1', 'z2', 'z3']
    const inputs = Array.from({ length: 400 }, (_, i) => ({
      id: `agent-${String(i).padStart(3, '0')}`,
      capabilities: caps.filter(() => rand.chance(0.4)),
      ...(rand.chance(0.9) ? { zone: rand.pick(zones) } : {}),
      resources: rand.chance(0.8) ? { gpu: rand.int(4), cpu: rand.int(16) } : { cpu: 1 },
      health: rand.pick(['healthy', 'degraded'] as const),
      metadata: { tier: rand.pick(['gold', 'silver']), n: rand.int(10) },
      ...(rand.chance(0.7) ? { load: rand.int(100) / 100 } : {})
    }))
    await reg.registerMany(inputs)
    // Updates that keep or change each indexed key (records replaced in place or moved), and removals.
    for (let i = 0; i < 600; i++) {
      t++
      const id = rand.pick(inputs).id
      if (reg.lookup(id) === undefined) continue
      if (rand.chance(0.05)) { await reg.unregister(id); continue }
      await reg.update(id, {
        ...(rand.chance(0.3) ? { capabilities: caps.filter(() => rand.chance(0.4)) } : {}),
        ...(rand.chance(0.3) ? { zone: rand.pick(zones) } : {}),
        ...(rand.chance(0.5) ? { health: rand.pick(['healthy', 'degraded'] as const) } : {}),
        ...(rand.chance(0.5) ? { resources: { gpu: rand.int(4), cpu: rand.int(16) } } : {}),
        ...(rand.chance(0.5) ? { load: rand.int(100) / 100 } : {})
      })
    }
    t += 10
    const all = [...reg.index.values()]
    expect(all.length).toBeGreaterThan(300)
    const where = (): WhereClause[] => {
      const pool: WhereClause[] = [
        ['resources.gpu', 'gte', rand.int(4)], ['resources.gpu', 'lt', 2], ['resources.cpu', 'gt', 7], ['resources.toString', 'exists'],
        ['load', 'lte', 0.5], ['metadata.tier', 'eq', 'gold'], ['metadata.n', 'in', [1, 2, 3]], ['zone', 'gte', 'z2'], ['zone', 'lt', 'z2'],
        ['capabilities', 'eq', rand.pick(caps)], ['id', 'gt', 'agent-200'], ['metadata.missing', 'exists', false]
      ]
      return pool.filter(() => rand.chance(0.2))
    }
    for (let i = 0; i < 500; i++) {
      const c: QueryCriteria = { limit: 1000, orderBy: 'id' }
      if (rand.chance(0.7)) c.capability = rand.chance(0.8) ? rand.pick(caps) : [rand.pick(caps), rand.pick(caps)]
      if (rand.chance(0.5)) c.zone = rand.pick(zones)
      if (rand.chance(0.3)) c.health = rand.pick(['healthy', 'degraded', 'unhealthy'] as const)
      if (rand.chance(0.2)) c.host = rand.pick(['local', 'other'])
      if (rand.chance(0.5)) c.where = where()
      const got = reg.query(c).agents.map(a => a.id)
      const want = all.filter(a => naiveMatch(a, c)).map(a => a.id).sort()
      expect(got, JSON.stringify(c)).toEqual(want)
      // Without an order, the first `limit` of the matches, and `truncated` when there were more.
      const limit = 1 + rand.int(5)
      const { orderBy: _o, ...unordered } = c
      const r = reg.query({ ...unordered, limit })
      expect(r.agents.length).toBe(Math.min(limit, want.length))
      for (const a of r.agents) expect(want).toContain(a.id)
      expect(r.truncated).toBe(want.length > limit)
      expect(r.freshness.asOf).toBe(t)
    }
  }, 60_000)
})

function getPath (a: AgentView, path: string): unknown {
  const [head, ...rest] = path.split('.')
  let v: unknown = (a as unknown as Record<string, unknown>)[head!]
  for (const p of rest) {
    if (v === null || typeof v !== 'object' || !Object.hasOwn(v, p)) return undefined
    v = (v as Record<string, unknown>)[p]
  }
  return v
}

function naiveMatch (a: AgentView, c: QueryCriteria): boolean {
  const caps = c.capability === undefined ? [] : Array.isArray(c.capability) ? c.capability : [c.capability]
  if (!caps.every(x => a.capabilities.includes(x))) return false
  if (c.zone !== undefined && a.zone !== c.zone) return false
  if (c.host !== undefined && a.host !== c.host) return false
  if (c.health !== undefined && !(Array.isArray(c.health) ? c.health : [c.health]).includes(a.health)) return false
  for (const [path, op, value] of c.where ?? []) {
    if (path === 'capabilities') {
      if (op === 'eq' && !a.capabilities.includes(value as string)) return false
      continue
    }
    const v = getPath(a, path)
    switch (op) {
      case 'eq': if (v !== value) return false; break
      case 'in': if (!(value as unknown[]).includes(v)) return false; break
      case 'exists': if ((v !== undefined) !== (value !== false)) return false; break
      default: {
        if (typeof v !== typeof value || (typeof v !== 'number' && typeof v !== 'string')) return false
        const x = v as number | string
        const y = value as number | string
        if (op === 'gt' ? !(x > y) : op === 'gte' ? !(x >= y) : op === 'lt' ? !(x < y) : !(x <= y)) return false
      }
    }
  }
  return true
}
