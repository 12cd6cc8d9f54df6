import { describe, expect, it } from 'vitest'
import { EventQueue, VirtualClock } from '../../sim/clock.js'
import { SimNetwork } from '../../sim/network.js'
import { createRand } from '../../src/base/prng.js'

interface M { type: string, n: number }

function drain (net: SimNetwork<M>, until = Infinity): Array<{ from: number, to: number, n: number, at: number }> {
  const out = []
  for (;;) {
    const d = net.deliverNext(until)
    if (d === undefined) return out
    out.push({ from: d.from, to: d.to, n: d.msg.n, at: d.at })
  }
}

describe('event queue and clock', () => {
  it('orders by time, then by insertion (deterministic ties)', () => {
    const q = new EventQueue<string>()
    q.push(5, 'a'); q.push(1, 'b'); q.push(5, 'c'); q.push(1, 'd'); q.push(3, 'e')
    const out: string[] = []
    for (let e = q.pop(); e !== undefined; e = q.pop()) out.push(`${e.at}${e.item}`)
    expect(out).toEqual(['1b', '1d', '3e', '5a', '5c'])
  })

  it('bounds its size', () => {
    const q = new EventQueue<number>(2)
    q.push(1, 1); q.push(2, 2)
    expect(() => q.push(3, 3)).toThrow(expect.objectContaining({ code: 'ERR_LIMIT_EXCEEDED' }))
  })

  it('the clock never goes back', () => {
    const c = new VirtualClock()
    c.advanceTo(10)
    expect(c.now).toBe(10)
    expect(() => c.advanceTo(9)).toThrow(RangeError)
  })
})

describe('simulated network', () => {
  it('is FIFO with zero latency', () => {
    const net = new SimNetwork<M>(createRand(1), m => m.type)
    for (let i = 0; i < 5; i++) net.send(1, 2, { type: 'append', n: i }, 0)
    expect(drain(net).map(d => d.n)).toEqual([0, 1, 2, 3, 4])
  })

  it('isolate, cut, partition, drop by type and recover', () => {
    const net = new SimNetwork<M>(createRand(1), m => m.type)
    net.isolate(3)
    net.send(1, 3, { type: 'append', n: 1 }, 0)
    net.send(3, 2, { type: 'append', n: 2 }, 0)
    net.send(1, 2, { type: 'append', n: 3 }, 0)
    expect(drain(net).map(d => d.n)).toEqual([3])
    net.recover()
    net.cut(1, 2)
    net.send(2, 1, { type: 'vote', n: 4 }, 0)
    net.send(1, 3, { type: 'vote', n: 5 }, 0)
    expect(drain(net).map(d => d.n)).toEqual([5])
    net.recover()
    net.partition([[1, 2], [3, 4]])
    net.send(1, 2, { type: 'x', n: 6 }, 0)
    net.send(2, 3, { type: 'x', n: 7 }, 0)
    net.send(4, 3, { type: 'x', n: 8 }, 0)
    net.send(5, 1, { type: 'x', n: 9 }, 0) // 5 is in no group
    expect(drain(net).map(d => d.n)).toEqual([6, 8])
    net.recover()
    net.dropType('heartbeat')
    net.send(1, 2, { type: 'heartbeat', n: 10 }, 0)
    net.send(1, 2, { type: 'append', n: 11 }, 0)
    expect(drain(net).map(d => d.n)).toEqual([11])
    expect(net.stats.droppedByFilter).toBe(6)
  })

  it('applies filters at delivery time: a partition loses messages in flight', () => {
    const net = new SimNetwork<M>(createRand(1), m => m.type, { latencyMs: [5, 5] })
    net.send(1, 2, { type: 'append', n: 1 }, 0)
    net.isolate(2)
    expect(drain(net)).toEqual([])
  })

  it('delivers with latency in range, duplicates and drops at the given rates, deterministically', () => {
    const run = (seed: number): Array<{ n: number, at: number }> => {
      const net = new SimNetwork<M>(createRand(seed), m => m.type, { latencyMs: [2, 9], drop: 0.2, duplicate: 0.1, reorder: 0.1 })
      for (let i = 0; i < 2000; i++) net.send(1, 2, { type: 'append', n: i }, i)
      return drain(net).map(d => ({ n: d.n, at: d.at }))
    }
    const a = run(42)
    expect(run(42)).toEqual(a)
    expect(run(43)).not.toEqual(a)
    const ids = new Set(a.map(d => d.n))
    expect(ids.size).toBeGreaterThan(1400)
    expect(ids.size).toBeLessThan(1800)
    expect(a.length - ids.size).toBeGreaterThan(80) // duplicates
    for (const d of a) expect(d.at - d.n).toBeGreaterThanOrEqual(2)
    // Reordering happened: some message overtook an earlier one.
    expect(a.some((d, i) => i > 0 && d.n < (a[i - 1] as { n: number }).n)).toBe(true)
  })

  it('bounds messages in flight and counts the overflow', () => {
    const net = new SimNetwork<M>(createRand(1), m => m.type, { inFlightMax: 3 })
    for (let i = 0; i < 5; i++) net.send(1, 2, { type: 'append', n: i }, 0)
    expect(net.inFlight).toBe(3)
    expect(net.stats.droppedOverflow).toBe(2)
  })
})
