/**
 * Clock times that arrive from other peers are bounded: an `lww` contribution (or a heartbeat) stamped
 * more than `hlcDriftMsMax` ahead of the receiver's clock is ignored and counted, so a rogue host cannot
 * freeze a variable by stamping its own contribution `[Number.MAX_SAFE_INTEGER, 0]`.
 */
import { describe, expect, it } from 'vitest'
import { DEFAULT_LIMITS } from '../../crdt/limits.js'
import { Hlc } from '../../crdt/hlc.js'
import { HeartbeatFilter } from '../../peers/sync/liveness/heartbeat.js'
import { TestKeys, antiEntropyAll, makeNode } from './helpers.js'
import type { TestNode } from './helpers.js'

/** Delivers every outbox to every other node. */
function deliver (nodes: TestNode[]): void {
  const all = nodes.flatMap(n => n.outbox.splice(0).map(b => ({ from: n, b })))
  for (const to of nodes) for (const { from, b } of all) if (from !== to) to.replica.apply(b.bytes)
}

/** The rogue host writes a raw contribution into its own (validly signed) variables document. */
function rogueWrite (rogue: TestNode, name: string, stored: unknown): void {
  const blob = rogue.replica.transact('var', (doc) => { doc.getMap('vars').set(name, stored) })
  rogue.outbox.push(blob!)
}

describe('lww: far-future contributions', () => {
  it('a contribution stamped [MAX_SAFE_INTEGER, 0] does not freeze the variable; it is ignored and counted', async () => {
    let wall = 1_000_000_000
    const keys = new TestKeys()
    const nodes = ['h0', 'h1', 'h2'].map(id => makeNode(keys, id, { now: () => wall }))
    antiEntropyAll(nodes)
    const [rogue, h1, h2] = nodes as [TestNode, TestNode, TestNode]
    const v1 = h1.variables.eventual<string>('x', { initial: 'none', merge: 'lww' })
    const v2 = h2.variables.eventual<string>('x', { initial: 'none', merge: 'lww' })
    const rejected: unknown[] = []
    h2.variables.on('contribution:rejected', (e) => rejected.push(e))
    await v1.set('a')
    deliver(nodes)
    rogueWrite(rogue, 'x', { v: 'frozen', t: [Number.MAX_SAFE_INTEGER, 0], w: 1, m: 'lww' })
    deliver(nodes)
    expect(v1.get()).toBe('a')
    expect(v2.get()).toBe('a')
    // Every later honest write still wins, on every honest replica.
    wall += 1000
    await v2.set('b')
    deliver(nodes)
    expect(v1.get()).toBe('b')
    expect(v2.get()).toBe('b')
    wall += 1000
    await v1.set('c')
    deliver(nodes)
    expect([v1.get(), v2.get()]).toEqual(['c', 'c'])
    // The rogue contribution is not an input of the merge, and its arrival was counted and reported.
    expect(v1.contributions().map(c => c.host)).toEqual(['h1', 'h2'])
    expect(h1.variables.stats.futureContributions).toBe(1)
    expect(h2.variables.stats.futureContributions).toBe(1)
    expect(rejected).toEqual([{ name: 'x', host: 'h0', reason: 'clock-drift', time: [Number.MAX_SAFE_INTEGER, 0] }])
    // Our clock did not jump either: the next local stamp is near the wall clock.
    expect(h1.variables.ownContribution('x')?.t[0]).toBe(wall)
  })

  it('the bound is the named limit hlcDriftMsMax (default 60 s): within it a clock ahead still wins, beyond it it counts once our clock catches up', async () => {
    expect(DEFAULT_LIMITS.hlcDriftMsMax).toBe(60_000)
    const clocks: Record<string, number> = { h0: 1_000_000_000 + 30_000, h1: 1_000_000_000, h2: 1_000_000_000 }
    const keys = new TestKeys()
    const limits = { hlcDriftMsMax: 10_000 }
    const nodes = ['h0', 'h1', 'h2'].map(id => makeNode(keys, id, { now: () => clocks[id]!, limits }))
    antiEntropyAll(nodes)
    const [ahead, h1, h2] = nodes as [TestNode, TestNode, TestNode]
    const va = ahead.variables.eventual<string>('y', { initial: 'none', merge: 'lww' })
    const v1 = h1.variables.eventual<string>('y', { initial: 'none', merge: 'lww' })
    const v2 = h2.variables.eventual<string>('y', { initial: 'none', merge: 'lww' })
    await v1.set('h1')
    deliver(nodes)
    // h0's clock runs 30 s ahead, beyond this mesh's 10 s bound: its write is ignored for now.
    await va.set('ahead')
    deliver(nodes)
    expect([v1.get(), v2.get()]).toEqual(['h1', 'h1'])
    expect(h1.variables.stats.futureContributions).toBe(1)
    // Once our clocks are within the bound of its stamp, it is an ordinary (later) write.
    clocks.h1! += 25_000
    clocks.h2! += 25_000
    await v2.set('h2')
    deliver(nodes)
    expect([v1.get(), v2.get()]).toEqual(['ahead', 'ahead'])
  })
})

describe('hybrid logical clock bounds', () => {
  it('observe() ignores times beyond the drift bound; tick() never leaves the safe integers', () => {
    let now = 5_000
    const c = new Hlc(() => now, 1000)
    c.observe([now + 1001, 0])
    expect(c.tick()).toEqual([5000, 0])
    c.observe([now + 1000, 7])
    expect(c.tick()).toEqual([6000, 8])
    // A remote counter at the top of the safe range: the next tick moves to the next millisecond.
    c.observe([6000, Number.MAX_SAFE_INTEGER])
    const t = c.tick()
    expect(t).toEqual([6001, 0])
    now = 7000
    expect(c.tick()).toEqual([7000, 0])
  })
})

describe('heartbeat times from other peers are bounded', () => {
  it('a far-future heartbeat is refused and does not make the sender\'s later heartbeats stale', () => {
    let now = 1_000_000
    const f = new HeartbeatFilter({ ageMaxMs: 60_000, driftMsMax: 60_000, hostsMax: 10 }, () => now)
    expect(f.check('b', now)).toBe('accept')
    expect(f.check('b', Number.MAX_SAFE_INTEGER)).toBe('future')
    expect(f.check('b', now + 60_001)).toBe('future')
    now += 100
    expect(f.check('b', now)).toBe('accept')
    // Replays and old heartbeats stay refused.
    expect(f.check('b', now)).toBe('stale')
    expect(f.check('b', now - 50)).toBe('stale')
    expect(f.check('c', now - 60_001)).toBe('stale')
    // A sender whose clock runs ahead within the bound is accepted.
    expect(f.check('d', now + 59_000)).toBe('accept')
  })
})
