/**
 * Generators of KV histories for tests and benchmarks: a linearizable history is built by choosing, for
 * each operation, a linearization point inside its [call, return] interval and answering in that order.
 */
import type { Rand } from '../../src/base/prng.js'
import type { KvInput, KvOperation, KvOutput, KvValue } from './kv.js'

export interface KvHistoryOptions {
  /** Operations to generate. */
  ops: number
  /** Distinct keys. */
  keys: number
  /** Concurrent clients; each issues its operations one after another. Default 5. */
  clients?: number
  /** Fraction of operations left indefinite (no output, return at infinity). Default 0. */
  indefinite?: number
}

/** A random linearizable KV history (deterministic for a given generator state). */
export function randomLinearizableKvHistory (rand: Rand, opts: KvHistoryOptions): KvOperation[] {
  const clients = opts.clients ?? 5
  const clientTime = new Array<number>(clients).fill(0)
  const pending: Array<{ op: KvOperation, point: number }> = []
  for (let i = 0; i < opts.ops; i++) {
    const c = i % clients
    const call = (clientTime[c] as number) + rand.range(0, 5)
    const ret = call + rand.range(1, 20)
    clientTime[c] = ret + 1
    const key = `k${rand.int(opts.keys)}`
    const r = rand.int(3)
    const value = rand.int(5)
    const input: KvInput = r === 0 ? { op: 'read', key } : r === 1 ? { op: 'write', key, value } : { op: 'cas', key, expected: rand.int(5), value }
    const point = call + rand.next() * (ret - call)
    pending.push({ op: { clientId: c, input, call, return: ret, output: undefined }, point })
  }
  const byPoint = pending.slice().sort((a, b) => a.point - b.point)
  const state = new Map<string, KvValue>()
  for (const p of byPoint) {
    const inp = p.op.input
    const cur = state.get(inp.key) ?? null
    let out: KvOutput
    if (inp.op === 'read') out = { value: cur }
    else if (inp.op === 'write') { state.set(inp.key, inp.value); out = {} } else {
      const ok = cur === inp.expected
      if (ok) state.set(inp.key, inp.value)
      out = { ok }
    }
    p.op.output = out
  }
  const indef = opts.indefinite ?? 0
  for (const p of pending) {
    if (indef > 0 && p.op.input.op !== 'read' && rand.chance(indef)) { p.op.output = undefined; p.op.return = Infinity }
  }
  return pending.map(p => p.op)
}
