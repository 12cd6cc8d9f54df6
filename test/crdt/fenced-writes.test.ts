/**
 * Fenced eventual writes (crdt/README.md, "Fenced writes"): a contribution written under a lock's fencing
 * token is left out of the merge on every replica holding a contribution (to any variable) under a newer
 * token of the same lock; the writer refuses a fenced write older than what it knows (ERR_FENCED).
 */
import { describe, expect, it } from 'vitest'
import { createRand } from '../../src/base/prng.js'
import { seedMessage, testSeed } from '../helpers/seed.js'
import { FencedError } from '../../crdt/errors.js'
import { VariableStore } from '../../crdt/variables.js'
import { TestKeys, antiEntropyAll, makeNode } from './helpers.js'
import type { TestNode } from './helpers.js'
import type { SignedBlob } from '../../crdt/codec.js'
import type { FenceFloor } from '../../crdt/fences.js'
import type { VariableEventMap } from '../../crdt/variables.js'

const WALL_MS = 1_000_000_000
const LOCK = 'jobs/leader'

function cluster (n: number, fenceFloor?: (id: string) => FenceFloor | undefined): TestNode[] {
  const keys = new TestKeys()
  const nodes = Array.from({ length: n }, (_, i) => {
    const floor = fenceFloor?.(`h${i}`)
    return makeNode(keys, `h${i}`, { now: () => WALL_MS, ...(floor !== undefined ? { fenceFloor: floor } : {}) })
  })
  antiEntropyAll(nodes)
  return nodes
}

/** Delivers every outbox to every other node. */
function deliver (nodes: TestNode[]): void {
  const all = nodes.flatMap(n => n.outbox.splice(0).map(b => ({ from: n, b })))
  for (const to of nodes) for (const { from, b } of all) if (from !== to) to.replica.apply(b.bytes)
}

/** Applies `blobs` (of `from`) to every node but `from`, in order. */
function send (nodes: TestNode[], from: TestNode, blobs: SignedBlob[]): void {
  for (const to of nodes) if (to !== from) for (const b of blobs) to.replica.apply(b.bytes)
}

/** A host writes a raw contribution into its own (validly signed) variables document: an older peer, or a rogue. */
function rawWrite (host: TestNode, name: string, stored: unknown): void {
  const blob = host.replica.transact('var', (doc) => { doc.getMap('vars').set(name, stored) })
  host.outbox.push(blob!)
}

type Rejected = VariableEventMap['contribution:rejected']

function rejections (nodes: TestNode[]): Rejected[][] {
  return nodes.map(n => {
    const seen: Rejected[] = []
    n.variables.on('contribution:rejected', (e) => seen.push(e))
    return seen
  })
}

describe('fenced eventual writes: the merge', () => {
  it('a token-5 contribution is dropped on every replica, its writer\'s included, once a token-9 contribution of the lock arrives', async () => {
    const nodes = cluster(3)
    const vs = nodes.map(n => n.variables.eventual<number>('x', { initial: 0, merge: 'max' }))
    await vs[0]!.set(100, { fence: { lock: LOCK, token: 5 } })
    deliver(nodes)
    expect(vs.map(v => v.get())).toEqual([100, 100, 100])
    await vs[1]!.set(1, { fence: { lock: LOCK, token: 9 } })
    deliver(nodes)
    expect(vs.map(v => v.get())).toEqual([1, 1, 1])
    for (const [i, n] of nodes.entries()) {
      expect(vs[i]!.contributions()).toEqual([{ host: 'h1', value: 1, time: expect.any(Array), weight: 1, fence: { lock: LOCK, token: 9 } }])
      expect(n.variables.newestToken(LOCK)).toBe(9)
      expect(n.variables.stats.fencedContributions).toBe(1)
    }
  })

  it('the value, the stat and the event are the same whichever of the two writes a replica receives first', async () => {
    async function race (order: 'stale first' | 'newer first'): Promise<{ values: number[], fenced: number[], events: Rejected[][] }> {
      const nodes = cluster(3)
      const vs = nodes.map(n => n.variables.eventual<number>('x', { initial: 0, merge: 'max' }))
      const events = rejections(nodes)
      // Each writer has not seen the other's write: both pass their own check.
      await vs[0]!.set(100, { fence: { lock: LOCK, token: 5 } })
      await vs[1]!.set(1, { fence: { lock: LOCK, token: 9 } })
      const stale = nodes[0]!.outbox.splice(0)
      const newer = nodes[1]!.outbox.splice(0)
      if (order === 'stale first') { send(nodes, nodes[0]!, stale); send(nodes, nodes[1]!, newer) } else { send(nodes, nodes[1]!, newer); send(nodes, nodes[0]!, stale) }
      return { values: vs.map(v => v.get()), fenced: nodes.map(n => n.variables.stats.fencedContributions), events }
    }
    const a = await race('stale first')
    const b = await race('newer first')
    expect(a.values).toEqual([1, 1, 1])
    expect(b).toEqual(a)
    expect(a.fenced).toEqual([1, 1, 1])
    const event = { name: 'x', host: 'h0', reason: 'fenced', lock: LOCK, token: 5, newest: 9 }
    expect(a.events).toEqual([[event], [event], [event]])
  })

  it('each fenced write is reported once: not again when its document is re-delivered (compaction), nor when one change moves the newest token between variables', async () => {
    const nodes = cluster(3)
    const [h0, h1] = nodes as [TestNode, TestNode]
    const xs = nodes.map(n => n.variables.eventual<number>('x', { initial: 0, merge: 'max' }))
    const events = rejections(nodes)
    await xs[0]!.set(100, { fence: { lock: LOCK, token: 5 } })
    await h1.variables.eventual<number>('y', { initial: 0, merge: 'max' }).set(1, { fence: { lock: LOCK, token: 9 } })
    deliver(nodes)
    expect(xs.map(v => v.get())).toEqual([0, 0, 0])
    expect(nodes.map(n => n.variables.stats.fencedContributions)).toEqual([1, 1, 1])
    // Both writers compact their documents: every replica replaces them with the new checkpoints.
    for (const n of [h0, h1]) n.outbox.push(n.replica.compact('var'))
    deliver(nodes)
    // h1 moves token 9 from y to z in one change: h0's write stays fenced throughout.
    const blob = h1.replica.transact('var', (doc) => {
      const vars = doc.getMap('vars')
      vars.set('y', { v: 1, t: [WALL_MS, 50], w: 1, m: 'max' })
      vars.set('z', { v: 1, t: [WALL_MS, 51], w: 1, m: 'max', f: [LOCK, 9] })
    })
    h1.outbox.push(blob!)
    deliver(nodes)
    expect(xs.map(v => v.get())).toEqual([0, 0, 0])
    expect(nodes.map(n => n.variables.stats.fencedContributions)).toEqual([1, 1, 1])
    expect(events.map(e => e.length)).toEqual([1, 1, 1])
  })

  it('a newer token written to another variable drops the stale contribution, and the stale variable\'s value and change event follow', async () => {
    const nodes = cluster(3)
    const as = nodes.map(n => n.variables.eventual<number>('a', { initial: 0, merge: 'max' }))
    await as[0]!.set(100, { fence: { lock: LOCK, token: 5 } })
    await as[1]!.set(1)
    deliver(nodes)
    expect(as.map(v => v.get())).toEqual([100, 100, 100])
    const changes = as.map(v => { const seen: unknown[] = []; v.on('variable:changed', (e) => seen.push(e)); return seen })
    const events = rejections(nodes)
    // Only h2 declares `b`: the others still hold its contribution and its token.
    await nodes[2]!.variables.eventual<string>('b', { initial: '', merge: 'lww' }).set('h2 leads', { fence: { lock: LOCK, token: 9 } })
    deliver(nodes)
    expect(as.map(v => v.get())).toEqual([1, 1, 1])
    expect(changes).toEqual([0, 1, 2].map(() => [{ name: 'a', value: 1, previous: 100 }]))
    expect(events).toEqual([0, 1, 2].map(() => [{ name: 'a', host: 'h0', reason: 'fenced', lock: LOCK, token: 5, newest: 9 }]))
    // A contribution under the newest token, or under another lock, stays.
    await as[2]!.set(50, { fence: { lock: LOCK, token: 9 } })
    await as[1]!.set(7, { fence: { lock: 'other', token: 1 } })
    deliver(nodes)
    expect(as.map(v => v.get())).toEqual([50, 50, 50])
  })

  it('a fenced counter contribution leaves the merge whole: all its host\'s adds', async () => {
    const nodes = cluster(2)
    const cs = nodes.map(n => n.variables.eventual<number>('jobs.done', { initial: 0, merge: 'counter' }))
    await cs[0]!.add(5, { fence: { lock: LOCK, token: 1 } })
    await cs[0]!.add(3, { fence: { lock: LOCK, token: 1 } })
    deliver(nodes)
    expect(cs.map(c => c.get())).toEqual([8, 8])
    await cs[1]!.add(2, { fence: { lock: LOCK, token: 2 } })
    deliver(nodes)
    expect(cs.map(c => c.get())).toEqual([2, 2])
    expect(nodes.map(n => n.variables.stats.fencedContributions)).toEqual([1, 1])
  })

  it('the newest token is a function of the documents held: when the newer contribution leaves them, the stale one counts again', async () => {
    const nodes = cluster(3)
    const xs = nodes.map(n => n.variables.eventual<number>('x', { initial: 0, merge: 'max' }))
    const ys = nodes.map(n => n.variables.eventual<number>('y', { initial: 0, merge: 'max' }))
    await xs[0]!.set(100, { fence: { lock: LOCK, token: 5 } })
    await ys[1]!.set(1, { fence: { lock: LOCK, token: 9 } })
    deliver(nodes)
    expect(xs.map(v => v.get())).toEqual([0, 0, 0])
    // h2 drops h1's document (pruned): it holds no token 9 any more.
    nodes[2]!.replica.drop('var', 'h1')
    expect(nodes[2]!.variables.newestToken(LOCK)).toBe(5)
    expect(xs[2]!.get()).toBe(100)
    // h1 rewrites y without a fence: token 9 leaves every replica's documents.
    await ys[1]!.set(2)
    deliver(nodes)
    expect(xs.map(v => v.get())).toEqual([100, 100, 100])
    // A store built afresh over each replica agrees with the one kept up to date incrementally.
    for (const [i, n] of nodes.entries()) {
      const fresh = new VariableStore({ replica: n.replica })
      expect(fresh.newestToken(LOCK)).toBe(n.variables.newestToken(LOCK))
      expect(fresh.eventual<number>('x', { initial: 0, merge: 'max' }).get()).toBe(xs[i]!.get())
    }
  })

  it('random fenced writes, refusals and deliveries: every replica converges to the value computed from the documents alone', async () => {
    const seed = testSeed(4242)
    const rand = createRand(seed)
    const nodes = cluster(4)
    const names = ['a', 'b', 'c']
    const locks = ['L', 'M']
    const vars = nodes.map(n => names.map(name => n.variables.eventual<number>(name, { initial: 0, merge: 'max' })))
    let refused = 0
    for (let i = 0; i < 120; i++) {
      const v = vars[rand.int(nodes.length)]![rand.int(names.length)]!
      const value = rand.int(1000)
      const fenced = rand.int(4) !== 0
      try {
        await v.set(value, fenced ? { fence: { lock: locks[rand.int(locks.length)]!, token: 1 + rand.int(30) } } : {})
      } catch (err) {
        if ((err as FencedError).code !== 'ERR_FENCED') throw err
        refused++
      }
      if (rand.int(6) === 0) deliver(nodes)
    }
    deliver(nodes)
    expect(refused, seedMessage(seed)).toBeGreaterThan(0)
    expect(nodes.some(n => n.variables.stats.fencedContributions > 0), seedMessage(seed)).toBe(true)
    // The model: scan every contribution of every document for each lock's newest token, then merge.
    const model = (n: TestNode): number[] => {
      const raws = [...n.replica.all('var')].flatMap(d => [...d.doc.getMap<{ v: number, f?: [string, number] }>('vars').entries()])
      const newest = new Map<string, number>()
      for (const [, c] of raws) if (c.f !== undefined) newest.set(c.f[0], Math.max(newest.get(c.f[0]) ?? 0, c.f[1]))
      return names.map(name => raws.filter(([k, c]) => k === name && (c.f === undefined || c.f[1] >= newest.get(c.f[0])!)).reduce((m, [, c]) => Math.max(m, c.v), 0))
    }
    const expected = model(nodes[0]!)
    for (const [i, n] of nodes.entries()) {
      expect(vars[i]!.map(v => v.get()), seedMessage(seed)).toEqual(expected)
      expect(model(n), seedMessage(seed)).toEqual(expected)
    }
  })
})

describe('fenced eventual writes: the writer', () => {
  it('refuses with ERR_FENCED a token below the floor its Raft replica knows, or below the newest token in the documents, and writes nothing', async () => {
    let granted: number | undefined = 7
    const nodes = cluster(2, (id) => id === 'h0' ? (lock) => lock === LOCK ? granted : undefined : undefined)
    const [h0, h1] = nodes as [TestNode, TestNode]
    const x0 = h0.variables.eventual<number>('x', { initial: 0, merge: 'max' })
    const c0 = h0.variables.eventual<number>('c', { initial: 0, merge: 'counter' })
    const refusal = (token: number, newest: number, source: string) => expect.objectContaining({ name: 'FencedError', code: 'ERR_FENCED', details: { name: 'x', lock: LOCK, token, newest, source } })
    await expect(x0.set(3, { fence: { lock: LOCK, token: 5 } })).rejects.toThrow(refusal(5, 7, 'fence-floor'))
    await expect(x0.set(3, { fence: { lock: LOCK, token: 6 } })).rejects.toBeInstanceOf(FencedError)
    await expect(c0.add(1, { fence: { lock: LOCK, token: 6 } })).rejects.toMatchObject({ code: 'ERR_FENCED' })
    expect(h0.variables.ownContribution('x')).toBeUndefined()
    expect(h0.variables.ownContribution('c')).toBeUndefined()
    expect(h0.outbox).toEqual([])
    // The floor itself, another lock, and no fence at all are fine.
    await x0.set(3, { fence: { lock: LOCK, token: 7 } })
    await x0.set(4, { fence: { lock: 'other', token: 1 } })
    await x0.set(5)
    expect(x0.get()).toBe(5)
    // The documents: h1 (no floor) writes under 9; h0's Raft replica still says 7.
    await h1.variables.eventual<number>('y', { initial: 0, merge: 'max' }).set(1, { fence: { lock: LOCK, token: 9 } })
    deliver(nodes)
    expect(h0.variables.newestToken(LOCK)).toBe(9)
    const before = h0.variables.ownContribution('x')
    await expect(x0.set(8, { fence: { lock: LOCK, token: 8 } })).rejects.toThrow(refusal(8, 9, 'documents'))
    expect(h0.variables.ownContribution('x')).toBe(before)
    // A floor above the documents wins the report; a floor of undefined checks the documents only.
    granted = 12
    await expect(x0.set(8, { fence: { lock: LOCK, token: 10 } })).rejects.toThrow(refusal(10, 12, 'fence-floor'))
    granted = undefined
    await x0.set(9, { fence: { lock: LOCK, token: 9 } })
    h0.variables.fenceFloor = undefined
    await expect(x0.set(8, { fence: { lock: LOCK, token: 2 } })).rejects.toThrow(refusal(2, 9, 'documents'))
    expect(x0.get()).toBe(9)
  })

  it('malformed fence input is refused with InvalidVariableError (ERR_INVALID_VARIABLE) and writes nothing', async () => {
    const [n] = cluster(1)
    const x = n!.variables.eventual<number>('x', { initial: 0, merge: 'max' })
    const c = n!.variables.eventual<number>('c', { initial: 0, merge: 'counter' })
    const bad: unknown[] = [
      null, 'L', 5, [LOCK, 3], {}, { lock: LOCK }, { token: 3 },
      { lock: '', token: 1 }, { lock: 'bad lock!', token: 1 }, { lock: 'x'.repeat(129), token: 1 }, { lock: 7, token: 1 }, { lock: '__proto__\n', token: 1 },
      { lock: LOCK, token: 0 }, { lock: LOCK, token: -3 }, { lock: LOCK, token: 1.5 }, { lock: LOCK, token: Number.NaN },
      { lock: LOCK, token: Number.POSITIVE_INFINITY }, { lock: LOCK, token: 2 ** 53 }, { lock: LOCK, token: '5' }, { lock: LOCK, token: 5n }
    ]
    for (const fence of bad) {
      const what = String(JSON.stringify(fence, (_k, v: unknown) => typeof v === 'bigint' ? `${v}n` : v))
      await expect(x.set(1, { fence: fence as never }), what).rejects.toMatchObject({ name: 'InvalidVariableError', code: 'ERR_INVALID_VARIABLE', details: { name: 'x' } })
      await expect(c.add(1, { fence: fence as never }), what).rejects.toMatchObject({ code: 'ERR_INVALID_VARIABLE' })
    }
    expect(n!.variables.ownContribution('x')).toBeUndefined()
    expect(n!.variables.ownContribution('c')).toBeUndefined()
    expect(n!.outbox).toEqual([])
    // The bounds themselves are fine.
    await x.set(1, { fence: { lock: 'x'.repeat(128), token: Number.MAX_SAFE_INTEGER } })
    await c.add(1, { fence: { lock: 'a', token: 1 } })
    expect([x.get(), c.get()]).toEqual([1, 1])
  })
})

describe('fenced eventual writes: stored form and compatibility', () => {
  it('a fenced write stores f: [lock, token]; an unfenced one stores no f; contributions of older peers (no f) merge as before', async () => {
    const nodes = cluster(3)
    const [old, h1, h2] = nodes as [TestNode, TestNode, TestNode]
    const xs = nodes.map(n => n.variables.eventual<number>('x', { initial: 0, merge: 'max' }))
    await xs[1]!.set(1, { fence: { lock: LOCK, token: 9 } })
    await xs[2]!.set(50, { fence: { lock: LOCK, token: 5 } })
    expect(h1.variables.ownContribution('x')).toEqual({ v: 1, t: expect.any(Array), w: 1, m: 'max', f: [LOCK, 9] })
    // A peer of the previous version writes exactly { v, t, w, m }.
    rawWrite(old, 'x', { v: 100, t: [WALL_MS, 0], w: 1, m: 'max' })
    deliver(nodes)
    // Token 5 is dropped; the unfenced contribution is never fenced.
    expect(xs.map(v => v.get())).toEqual([100, 100, 100])
    expect(xs[0]!.contributions().map(c => [c.host, c.fence])).toEqual([['h0', undefined], ['h1', { lock: LOCK, token: 9 }]])
    await xs[2]!.set(7)
    expect('f' in h2.variables.ownContribution('x')!).toBe(false)
    deliver(nodes)
    expect(xs.map(v => v.get())).toEqual([100, 100, 100])
    expect(nodes.map(n => n.variables.stats.invalidContributions)).toEqual([0, 0, 0])
  })

  it('a remote contribution with a malformed f is left out and counted; its fence counts toward no lock', async () => {
    const nodes = cluster(2)
    const [rogue, h1] = nodes as [TestNode, TestNode]
    const malformed: unknown[] = [null, 'L', 3, ['L'], ['L', 0], ['L', -1], ['L', 1.5], ['L', '3'], ['bad lock!', 3], ['L', 3, 'extra'], { 0: 'L', 1: 3 }, [3, 'L']]
    const names = malformed.map((_, i) => `bad.${i}`)
    const vs = names.map(name => h1.variables.eventual<number>(name, { initial: 0, merge: 'max' }))
    const ok = h1.variables.eventual<number>('good', { initial: 0, merge: 'max' })
    for (const [i, f] of malformed.entries()) rawWrite(rogue, names[i]!, { v: 100, t: [WALL_MS, 0], w: 1, m: 'max', f })
    // The control: the same contribution with a well-formed fence counts.
    rawWrite(rogue, 'good', { v: 100, t: [WALL_MS, 0], w: 1, m: 'max', f: ['M', 3] })
    deliver(nodes)
    expect(vs.map(v => v.get())).toEqual(vs.map(() => 0))
    expect(h1.variables.stats.invalidContributions).toBe(malformed.length)
    expect(ok.get()).toBe(100)
    expect(h1.variables.newestToken('L')).toBeUndefined()
    expect(h1.variables.newestToken('M')).toBe(3)
  })
})
