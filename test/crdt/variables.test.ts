import { describe, expect, it } from 'vitest'
import { createRand } from '../../src/base/prng.js'
import { seedMessage, testSeed } from '../helpers/seed.js'
import { TestKeys, antiEntropyAll, makeNode } from './helpers.js'
import { VariableStore } from '../../crdt/variables.js'
import type { TestNode } from './helpers.js'
import type { Contribution } from '../../crdt/variables.js'

function deliverShuffled (nodes: TestNode[], seed: number): void {
  const rand = createRand(seed)
  const all = nodes.flatMap(n => n.outbox.splice(0).map(b => ({ from: n, b })))
  for (const to of nodes) {
    const order = all.filter(x => x.from !== to)
    for (let i = order.length - 1; i > 0; i--) { const j = rand.int(i + 1); [order[i], order[j]] = [order[j]!, order[i]!] }
    for (const { b } of order) to.replica.apply(b.bytes)
  }
}

function cluster (n: number, now?: (id: string) => () => number): TestNode[] {
  const keys = new TestKeys()
  const nodes = Array.from({ length: n }, (_, i) => makeNode(keys, `h${i}`, now !== undefined ? { now: now(`h${i}`) } : {}))
  antiEntropyAll(nodes)
  return nodes
}

describe('eventual variables (V1)', () => {
  it('every merge rule converges to the same value on all replicas', async () => {
    const seed = testSeed(77)
    const rand = createRand(seed)
    // One shared clock that advances on every reading: wall-clock order is write order, so the last
    // write must win lww (with real clocks, two hosts writing in the same millisecond are concurrent
    // and HLC ties are broken by counter and host id, not by real order).
    let wall = 1_000_000
    const nodes = cluster(4, () => () => ++wall)
    const decl = (n: TestNode) => ({
      lww: n.variables.eventual('lww', { initial: 'none', merge: 'lww' }),
      max: n.variables.eventual('max', { initial: 0, merge: 'max' }),
      min: n.variables.eventual('min', { initial: 0, merge: 'min' }),
      counter: n.variables.eventual('counter', { initial: 0, merge: 'counter' }),
      avg: n.variables.eventual('avg', { initial: 0, merge: 'weighted-average' }),
      union: n.variables.eventual<string[]>('union', {
        initial: [],
        mergeName: 'union',
        merge: (cs: ReadonlyArray<Contribution<string[]>>) => [...new Set(cs.flatMap(c => c.value))].sort()
      })
    })
    const vars = nodes.map(decl)
    let total = 0
    for (let i = 0; i < 60; i++) {
      const k = rand.int(nodes.length)
      const v = vars[k]!
      const x = rand.int(100)
      await v.lww.set(`v${i}`)
      await v.max.set(x)
      await v.min.set(x)
      const d = rand.int(10) - 3
      total += d
      await v.counter.add(d)
      await v.avg.set(x, { weight: 1 + rand.int(3) })
      await v.union.set([`s${rand.int(8)}`])
    }
    deliverShuffled(nodes, seed)
    const values = vars.map(v => JSON.stringify([v.lww.get(), v.max.get(), v.min.get(), v.counter.get(), v.avg.get(), v.union.get()]))
    for (const x of values) expect(x, seedMessage(seed)).toBe(values[0])
    expect(vars[0]!.counter.get()).toBe(total)
    // lww: the last write wins (the shared clock orders every write).
    expect(vars[0]!.lww.get()).toBe('v59')
  })

  it('lww orders a write made after seeing another after it, even with a slow wall clock', async () => {
    const clocks: Record<string, number> = { h0: 1_000_000, h1: 970_000 }
    const nodes = cluster(2, (id) => () => clocks[id]!)
    const [a, b] = nodes.map(n => n.variables.eventual('x', { initial: 0, merge: 'lww' }))
    await a!.set(1)
    deliverShuffled(nodes, 1)
    expect(b!.get()).toBe(1)
    // B's wall clock is 30 s behind (within HLC_DRIFT_MS_MAX), but it saw A's write: its write still wins.
    await b!.set(2)
    deliverShuffled(nodes, 2)
    expect(a!.get()).toBe(2)
    expect(b!.get()).toBe(2)
  })

  it('weighted-average uses the writers\' weights and emits change events', async () => {
    const nodes = cluster(3)
    const vs = nodes.map(n => n.variables.eventual('score', { initial: 0, merge: 'weighted-average' }))
    const seen: unknown[] = []
    vs[2]!.on('variable:changed', e => seen.push(e.value))
    await vs[0]!.set(10, { weight: 3 })
    await vs[1]!.set(20, { weight: 1 })
    deliverShuffled(nodes, 3)
    for (const v of vs) expect(v.get()).toBe(12.5)
    expect(seen.at(-1)).toBe(12.5)
    expect(vs[2]!.contributions().map(c => c.weight).sort()).toEqual([1, 3])
  })

  it('misuse gets named errors and leaves values intact', async () => {
    const [n] = cluster(1)
    const c = n!.variables.eventual('c', { initial: 0, merge: 'counter' })
    await c.add(5)
    await expect(c.set(3)).rejects.toMatchObject({ code: 'ERR_INVALID_VARIABLE' })
    const m = n!.variables.eventual('m', { initial: 0, merge: 'max' })
    await expect(m.set('big' as unknown as number)).rejects.toMatchObject({ code: 'ERR_INVALID_VARIABLE' })
    await expect(m.add(1)).rejects.toMatchObject({ code: 'ERR_INVALID_VARIABLE' })
    const l = n!.variables.eventual<unknown>('l', { initial: null, merge: 'lww' })
    await expect(l.set('x'.repeat(70_000))).rejects.toMatchObject({ code: 'ERR_LIMIT_EXCEEDED' })
    await expect(l.set({ f: 1n } as unknown)).rejects.toMatchObject({ code: 'ERR_INVALID_VARIABLE' })
    expect(() => n!.variables.eventual('c', { initial: 0, merge: 'max' })).toThrow(expect.objectContaining({ code: 'ERR_MERGE_CONFLICT', name: 'MergeConflictError' }))
    expect(() => n!.variables.eventual('bad name!', { initial: 0, merge: 'max' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_VARIABLE' }))
    expect(() => n!.variables.eventual('q', { initial: 0, merge: 'median' as 'max' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_VARIABLE' }))
    expect(c.get()).toBe(5)
    expect(n!.variables.eventual('c', { initial: 0, merge: 'counter' })).toBe(c)
  })

  it('contributions under another merge rule are ignored and counted', async () => {
    const nodes = cluster(2)
    const a = nodes[0]!.variables.eventual('v', { initial: 0, merge: 'max' })
    const b = nodes[1]!.variables.eventual('v', { initial: 0, merge: 'min' })
    await a.set(9)
    await b.set(1)
    deliverShuffled(nodes, 4)
    expect(a.get()).toBe(9)
    expect(b.get()).toBe(1)
    expect(nodes[0]!.variables.stats.mergeMismatches + nodes[1]!.variables.stats.mergeMismatches).toBe(2)
  })

  it('a read declares nothing: the merge rule is learnt from the contributions, a conflicting one is a named error that changes nothing', async () => {
    const nodes = cluster(3)
    await nodes[0]!.variables.eventual('team.temperature', { initial: 0, merge: 'max' }).set(1.5)
    await nodes[1]!.variables.eventual('team.temperature', { initial: 0, merge: 'max' }).set(1)
    deliverShuffled(nodes, 5)
    // A fresh store over node 2's replica: what a restarted daemon holds, with nothing declared.
    const fresh = new VariableStore({ replica: nodes[2]!.replica })
    expect(fresh.mergeOf('team.temperature')).toBe('max')
    expect(fresh.read('team.temperature')).toEqual({ name: 'team.temperature', merge: 'max', value: 1.5, contributions: 2, conflicting: 0 })
    expect(fresh.names()).toEqual([])
    // Asking for another rule, by a read or a declaration, fails and declares nothing.
    expect(() => fresh.read('team.temperature', { merge: 'lww' })).toThrow(expect.objectContaining({ code: 'ERR_MERGE_CONFLICT', details: expect.objectContaining({ merge: 'max', requested: 'lww' }) }))
    expect(() => fresh.eventual('team.temperature', { initial: 0, merge: 'counter' })).toThrow(expect.objectContaining({ code: 'ERR_MERGE_CONFLICT' }))
    expect(fresh.names()).toEqual([])
    expect(fresh.read('team.temperature', { merge: 'max' }).value).toBe(1.5)
    const v = fresh.eventual('team.temperature', { initial: 0, merge: 'max' })
    expect(v.get()).toBe(1.5)
    // A name nobody wrote has no rule; a read with one uses it without declaring it.
    expect(fresh.read('nobody')).toEqual({ name: 'nobody', merge: null, value: null, contributions: 0, conflicting: 0 })
    expect(fresh.read('nobody', { merge: 'counter' })).toMatchObject({ merge: 'counter', value: 0 })
    expect(fresh.names()).toEqual(['team.temperature'])
    expect(() => fresh.read('x', { merge: 'median' as 'max' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_VARIABLE' }))
  })

  it('with contributions under two rules, every replica learns the same one (the majority)', async () => {
    const nodes = cluster(3)
    await nodes[0]!.variables.eventual('v', { initial: 0, merge: 'min' }).set(4)
    await nodes[1]!.variables.eventual('v', { initial: 0, merge: 'max' }).set(9)
    await nodes[2]!.variables.eventual('v', { initial: 0, merge: 'max' }).set(7)
    deliverShuffled(nodes, 6)
    for (const n of nodes) {
      const fresh = new VariableStore({ replica: n.replica })
      expect(fresh.read('v')).toMatchObject({ merge: 'max', value: 9, contributions: 2, conflicting: 1 })
    }
  })
})
