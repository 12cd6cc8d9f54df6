import { describe, expect, it } from 'vitest'
import { fuzz, fuzzSeed } from '../../sim/fuzz.js'

describe('fuzzer', () => {
  it('300 seeds x 5 nodes under random faults keep every invariant, stay live and linearizable', () => {
    const failing: string[] = []
    const quiet: number[] = []
    const events = new Map<string, number>()
    const taskEvents = new Map<string, number>()
    const noTasks: number[] = []
    const summary = fuzz({
      nodes: 5,
      seeds: 300,
      ticks: 300,
      onSeed: r => {
        if (!r.ok) failing.push(`seed ${r.seed}: ${r.failures.join('; ')}\n  faults: ${r.faults.join(', ')}\n  replay: npx agora sim fuzz --nodes 5 --seeds 1 --ticks 300 --seed-start ${r.seed}`)
        const e = Object.entries(r.coordination?.events ?? {})
        if (e.length === 0) quiet.push(r.seed)
        for (const [k, n] of e) events.set(k, (events.get(k) ?? 0) + n)
        if ((r.tasks?.events['task:submitted'] ?? 0) === 0) noTasks.push(r.seed)
        for (const [k, n] of Object.entries(r.tasks?.events ?? {})) taskEvents.set(k, (taskEvents.get(k) ?? 0) + n)
      }
    })
    expect(failing).toEqual([])
    expect(summary.results).toHaveLength(300)
    // The runs did real work: entries committed and client operations issued.
    expect(summary.committed).toBeGreaterThan(300 * 5)
    // Every seed had coordination traffic for the coordination checkers, and every kind of event occurred.
    expect(quiet, 'seeds without a committed coordination event').toEqual([])
    for (const k of ['lock:acquired', 'lock:released', 'election:elected', 'barrier:released', 'barrier:broken', 'vote:decided', 'lease:expired']) expect(events.get(k) ?? 0, k).toBeGreaterThan(5)
    // Task traffic too: submits in (nearly) every seed, and every kind of task event across them.
    expect(noTasks.length, `seeds without a committed task submit: ${noTasks.join(', ')}`).toBeLessThan(15)
    for (const k of ['task:submitted', 'task:assigned', 'task:acked', 'task:completed', 'task:reassigned', 'task:failed', 'task:cancelled']) expect(taskEvents.get(k) ?? 0, k).toBeGreaterThan(5)
  })

  it('without tasks a seed submits no task; the fault schedule is the same', () => {
    const r = fuzzSeed(9, { nodes: 5, ticks: 400, tasks: false })
    expect(r.ok).toBe(true)
    expect(r.tasks).toBeUndefined()
    const withIt = fuzzSeed(9, { nodes: 5, ticks: 400 })
    expect(withIt.tasks?.submitted).toBeGreaterThan(0)
    const schedule = (f: string[]): string[] => f.map(x => x.replace(/ at \d+$/, ''))
    expect(schedule(withIt.faults)).toEqual(schedule(r.faults))
  })

  it('without coordination a seed proposes no coordination command', () => {
    const r = fuzzSeed(9, { nodes: 5, ticks: 400, coordination: false })
    expect(r.ok).toBe(true)
    expect(r.coordination).toBeUndefined()
    const withIt = fuzzSeed(9, { nodes: 5, ticks: 400 })
    expect(withIt.ok).toBe(true)
    expect(withIt.coordination?.issued).toBeGreaterThan(0)
    // The same fault schedule (its own PRNG stream); only what depends on the log (a compaction index) differs.
    const schedule = (f: string[]): string[] => f.map(x => x.replace(/ at \d+$/, ''))
    expect(schedule(withIt.faults)).toEqual(schedule(r.faults))
  })

  it('is deterministic: the same seed gives the same trace hash, another seed another', () => {
    const a = fuzzSeed(77, { nodes: 5, ticks: 400 })
    const b = fuzzSeed(77, { nodes: 5, ticks: 400 })
    const c = fuzzSeed(78, { nodes: 5, ticks: 400 })
    expect(a.trace).toBe(b.trace)
    expect(a.faults).toEqual(b.faults)
    expect(c.trace).not.toBe(a.trace)
  })

  it('3-node clusters too', () => {
    const bad = fuzz({ nodes: 3, seeds: 50, ticks: 300, seedStart: 1000 }).results.filter(r => !r.ok)
    expect(bad.map(r => `seed ${r.seed}: ${r.failures.join('; ')}`)).toEqual([])
  })

  it('fault kinds can be restricted; malformed messages never crash a node', () => {
    const g = fuzz({ nodes: 3, seeds: 30, ticks: 300, faults: ['garbage'] }).results
    expect(g.filter(r => !r.ok).map(r => r.failures)).toEqual([])
    expect(g.some(r => r.faults.some(f => f.includes('garbage')))).toBe(true)
    expect(g.every(r => r.faults.every(f => !/partition|crash|isolate|cut/.test(f)))).toBe(true)
    const none = fuzzSeed(5, { nodes: 3, ticks: 300, faults: [] })
    expect(none.ok).toBe(true)
    expect(none.faults.filter(f => !f.includes('preVote') && !f.includes('liveness'))).toEqual([])
  })
})
