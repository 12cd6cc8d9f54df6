/**
 * Partition episodes (peers/health/heal-episode.ts), pure: the tracker is fed hosts, agent changes and
 * indefinite proposals with their times, and says when an episode opens, who is on which side and when it
 * is due; the report's parts are computed from injected contributions and registry states.
 */
import { describe, expect, it } from 'vitest'
import { HealTracker, agentChanges, orderOutcomes, variableOutcome, winnerOf } from '../../peers/health/heal-episode.js'
import type { HostView } from '../../peers/health/heal-episode.js'
import { boundedValue } from '../../peers/health/heal-types.js'

const SELF = 'self'
const up = (host: string, lastHeardAt: number): HostView => ({ host, reachable: true, lastHeardAt })
const down = (host: string, lastHeardAt: number): HostView => ({ host, reachable: false, lastHeardAt })
const never = (): boolean => false
const always = (): boolean => true

describe('HealTracker', () => {
  it('opens an episode on the first lease expiry, backdated to the last time the lost host was heard', () => {
    const t = new HealTracker<string>(SELF)
    t.observeHosts([up(SELF, 0), up('a', 0), up('b', 0), up('c', 0)], 100)
    expect(t.episode).toBeUndefined()
    t.observeHosts([up(SELF, 0), up('a', 1000), down('b', 900), up('c', 1000)], 1200)
    const e = t.episode!
    expect(e.detectedAt).toBe(1200)
    expect(e.start).toBe(900)
    expect([...e.other.keys()]).toEqual(['b'])
    expect([...e.thisSide].sort()).toEqual(['a', 'c', SELF])
    // A second host lost later joins the same other side; the start moves to the earliest last-heard time.
    t.observeHosts([up('a', 1500), down('b', 900), down('c', 850)], 1600)
    expect([...e.other.keys()].sort()).toEqual(['b', 'c'])
    expect([...e.thisSide].sort()).toEqual(['a', SELF])
    expect(e.start).toBe(850)
    expect(e.sideOf('c')).toBe('other')
    expect(e.sideOf('a')).toBe('this')
  })

  it('takes a lost host\'s last heartbeat when the lease moved its last-heard time forward (this peer stalled)', () => {
    const t = new HealTracker<string>(SELF)
    t.observeHosts([up('a', 0), up('b', 0)], 0)
    t.observeHosts([up('a', 1500), down('b', 1400)], 1500, (host, lease) => host === 'b' ? 600 : lease)
    expect(t.episode!.start).toBe(600)
    expect(t.episode!.other.get('b')?.lastHeardAt).toBe(600)
  })

  it('is due once every lost host is back and caught up; the span ends at the last return', () => {
    const t = new HealTracker<string>(SELF)
    t.observeHosts([up('a', 0), up('b', 0), up('c', 0)], 0)
    t.observeHosts([up('a', 500), down('b', 400), down('c', 400)], 1000)
    t.observeHosts([up('a', 1900), up('b', 1950), down('c', 400)], 2000)
    expect(t.due(2000, always, { catchUpMsMax: 60_000, goneMsMax: 1000 })).toBeUndefined() // c still out
    t.observeHosts([up('a', 2900), up('b', 2950), up('c', 2990)], 3000)
    const waiting = new Set(['c'])
    expect(t.due(3100, (h) => !waiting.has(h), { catchUpMsMax: 60_000, goneMsMax: 1000 })).toBeUndefined() // c not caught up
    waiting.clear()
    const due = t.due(3200, (h, since) => since === (h === 'b' ? 2000 : 3000), { catchUpMsMax: 60_000, goneMsMax: 1000 })
    expect(due).toMatchObject({ kind: 'report', end: 3000, caughtUp: true })
    expect(t.episode).toBeUndefined()
  })

  it('reports without the catch-up once catchUpMsMax passed after the last return', () => {
    const t = new HealTracker<string>(SELF)
    t.observeHosts([up('a', 0), up('b', 0)], 0)
    t.observeHosts([up('a', 900), down('b', 500)], 1000)
    t.observeHosts([up('a', 1900), up('b', 1900)], 2000)
    expect(t.due(2500, never, { catchUpMsMax: 1000, goneMsMax: 1000 })).toBeUndefined()
    expect(t.due(3000, never, { catchUpMsMax: 1000, goneMsMax: 1000 })).toMatchObject({ kind: 'report', end: 2000, caughtUp: false })
  })

  it('closes without a report when the whole other side stayed pruned goneMsMax; a pruned host that comes back counts as returned', () => {
    const t = new HealTracker<string>(SELF)
    t.observeHosts([up('a', 0), up('b', 0)], 0)
    t.observeHosts([up('a', 900), down('b', 500)], 1000)
    t.observeHosts([up('a', 1900)], 2000) // b pruned
    expect(t.due(2000, always, { catchUpMsMax: 1000, goneMsMax: 1000 })).toBeUndefined() // waits goneMsMax for a return
    expect(t.due(3000, always, { catchUpMsMax: 1000, goneMsMax: 1000 })).toMatchObject({ kind: 'closed' })
    expect(t.closedUnreported).toBe(1)

    // A pruned host heard again (a new lease) is back.
    t.observeHosts([up('a', 2900), up('c', 2900)], 3000)
    t.observeHosts([down('a', 2950), up('c', 3900)], 4000)
    t.observeHosts([up('c', 4900)], 5000)
    expect(t.episode!.other.get('a')?.gone).toBe(true)
    t.observeHosts([up('c', 5900), up('a', 5950)], 6000)
    expect(t.episode!.other.get('a')).toMatchObject({ gone: false, returnedAt: 6000 })
    expect(t.due(6100, always, { catchUpMsMax: 1000, goneMsMax: 1000 })).toMatchObject({ kind: 'report', end: 6000, caughtUp: true })
  })

  it('hosts first heard during the episode: before a return on this side, after one with the heal', () => {
    const t = new HealTracker<string>(SELF)
    t.observeHosts([up('a', 0), up('b', 0)], 0)
    t.observeHosts([up('a', 900), down('b', 500)], 1000)
    t.observeHosts([up('a', 1400), down('b', 500), up('n1', 1400)], 1500)
    t.observeHosts([up('a', 1900), up('b', 1900), up('n1', 1900)], 2000)
    t.observeHosts([up('a', 2400), up('b', 2400), up('n1', 2400), up('n2', 2400)], 2500)
    const e = t.episode!
    expect(e.sideOf('n1')).toBe('this')
    expect(e.sideOf('n2')).toBe('other')
    expect([...e.joinedWithHeal]).toEqual(['n2'])
  })

  it('replays the changes made between the cut and the lease expiry, bounded', () => {
    const t = new HealTracker<string>(SELF, { recentMax: 3, strongWritesMax: 2, agentsTrackedMax: 10 })
    t.observeHosts([up('a', 0), up('b', 0)], 0)
    t.agentChanged({ id: 'old', host: SELF, before: null, pruned: false }, 100) // before the cut: not replayed
    t.indefinite('w1', 600)
    t.indefinite('w2', 700)
    t.indefinite('w3', 800)
    t.indefinite('w4', 900) // the recent buffer keeps 3: w1 goes
    t.observeHosts([up('a', 900), down('b', 500)], 1000)
    const e = t.episode!
    expect(e.indefinite).toEqual(['w2', 'w3'])
    expect(e.indefiniteTruncated).toBe(1)
    expect(e.agents.has('old')).toBe(false)
  })
})

describe('agentChanges', () => {
  it('compares each tracked agent with its state now: registered, changed, removed; prunes, round trips and writes outside the span are no change', () => {
    const t = new HealTracker<string>(SELF)
    t.observeHosts([up('a', 0), up('b', 0)], 0)
    t.observeHosts([up('a', 900), down('b', 500)], 1000)
    const e = t.episode!
    t.agentChanged({ id: 'reg', host: SELF, before: null, pruned: false }, 1100)
    t.agentChanged({ id: 'chg', host: 'a', before: 10, pruned: false }, 1200)
    t.agentChanged({ id: 'gone', host: SELF, before: 20, pruned: false }, 1300)
    t.agentChanged({ id: 'pruned', host: 'b', before: 30, pruned: true }, 1400)
    t.agentChanged({ id: 'back', host: 'b', before: 40, pruned: true }, 1400)
    t.agentChanged({ id: 'back', host: 'b', before: null, pruned: false }, 2000)
    t.agentChanged({ id: 'breg', host: 'b', before: null, pruned: false }, 2000)
    t.agentChanged({ id: 'flash', host: SELF, before: null, pruned: false }, 1500)
    t.agentChanged({ id: 'flash', host: SELF, before: 1500, pruned: false }, 1600)
    t.agentChanged({ id: 'late', host: 'a', before: null, pruned: false }, 1800) // written before the episode, arrived late
    t.agentChanged({ id: 'after', host: 'b', before: 50, pruned: false }, 2050) // changed after the heal
    const now: Record<string, number> = { reg: 1100, chg: 1200, back: 40, breg: 1700, late: 300, after: 2050 }
    const changes = agentChanges(e, (id) => now[id], { start: 500, end: 2000 }, 2100)
    expect(changes).toEqual([
      { id: 'reg', host: SELF, side: 'this', change: 'registered', at: 1100 },
      { id: 'chg', host: 'a', side: 'this', change: 'changed', at: 1200 },
      { id: 'gone', host: SELF, side: 'this', change: 'removed', at: 1300 },
      { id: 'breg', host: 'b', side: 'other', change: 'registered', at: 1700 }
    ])
  })

  it('a write older than the start that arrives late is the state before the episode', () => {
    const t = new HealTracker<string>(SELF)
    t.observeHosts([up('b', 0)], 0)
    // Registered at 300 by b's clock, seen here at 700 (after b's last heartbeat at 500): not replayed as a registration.
    t.agentChanged({ id: 'x', host: 'b', before: null, pruned: false, writtenAt: 300 }, 700)
    t.observeHosts([down('b', 500)], 1000)
    const e = t.episode!
    expect(e.agents.has('x')).toBe(false)
    // Its registration arriving during the episode (late gossip) is not tracked either; its later update is a change.
    t.agentChanged({ id: 'y', host: 'b', before: null, pruned: false, writtenAt: 400 }, 1100)
    t.agentChanged({ id: 'y', host: 'b', before: 400, pruned: false, writtenAt: 1500 }, 2000)
    t.agentChanged({ id: 'x', host: 'b', before: 300, pruned: false, writtenAt: 1600 }, 2000)
    expect(agentChanges(e, () => 1600, { start: 500, end: 2000 }, 2100).map(c => [c.id, c.change])).toEqual([['x', 'changed'], ['y', 'changed']])
  })

  it('tracks at most agentsTrackedMax agents per episode and counts the rest', () => {
    const t = new HealTracker<string>(SELF, { agentsTrackedMax: 2 })
    t.observeHosts([up('b', 0)], 0)
    t.observeHosts([down('b', 0)], 1000)
    for (const id of ['x', 'y', 'z']) t.agentChanged({ id, host: SELF, before: null, pruned: false }, 1100)
    expect(t.episode!.agents.size).toBe(2)
    expect(t.episode!.agentsTruncated).toBe(1)
  })
})

describe('variableOutcome', () => {
  const side = (h: string): 'this' | 'other' => h.startsWith('o') ? 'other' : 'this'
  const span = { start: 1000, end: 2000 }

  it('lists the writes within the span, one per host, and the lww winner', () => {
    const cs = [
      { host: 't1', value: 'mine', time: [1500, 0] as const },
      { host: 'o1', value: 'theirs', time: [1600, 0] as const },
      { host: 't2', value: 'before', time: [900, 3] as const }
    ]
    const o = variableOutcome('price', 'lww', cs, 'theirs', span, side)
    expect(o).toEqual({
      name: 'price',
      merge: 'lww',
      kind: 'conflict',
      writes: [{ host: 'o1', side: 'other', value: 'theirs', time: [1600, 0] }, { host: 't1', side: 'this', value: 'mine', time: [1500, 0] }],
      writesTruncated: false,
      value: 'theirs',
      winner: { host: 'o1', side: 'other', duringEpisode: true }
    })
  })

  it('one side only is one-sided; no write within the span is nothing', () => {
    expect(variableOutcome('x', 'max', [{ host: 't1', value: 3, time: [1200, 0] }, { host: 'o1', value: 9, time: [500, 0] }], 9, span, side))
      .toMatchObject({ kind: 'one-sided', writes: [{ host: 't1' }], winner: { host: 'o1', side: 'other', duringEpisode: false } })
    expect(variableOutcome('y', 'lww', [{ host: 't1', value: 1, time: [2500, 0] }], 1, span, side)).toBeUndefined()
  })

  it('counters and weighted averages have no single winner; max/min ties go to the smallest host id', () => {
    expect(variableOutcome('n', 'counter', [{ host: 't1', value: 2, time: [1100, 0] }, { host: 'o1', value: 3, time: [1200, 0] }], 5, span, side))
      .toMatchObject({ kind: 'conflict', value: 5, winner: null })
    expect(winnerOf('max', [{ host: 'b', value: 4, time: [1, 0] }, { host: 'a', value: 4, time: [2, 0] }])?.host).toBe('a')
    expect(winnerOf('min', [{ host: 'b', value: 1, time: [1, 0] }, { host: 'a', value: 4, time: [2, 0] }])?.host).toBe('b')
    expect(winnerOf('lww', [{ host: 'a', value: 1, time: [5, 1] }, { host: 'b', value: 2, time: [5, 1] }])?.host).toBe('b')
    expect(winnerOf('custom:x', [{ host: 'a', value: 1, time: [5, 1] }])).toBeUndefined()
  })

  it('bounds the writes listed and large values', () => {
    const cs = Array.from({ length: 5 }, (_, i) => ({ host: `t${i}`, value: 'v'.repeat(i === 0 ? 2000 : 1), time: [1500, i] as const }))
    const o = variableOutcome('big', 'lww', cs, 'v', span, side, 3)!
    expect(o.writes.length).toBe(3)
    expect(o.writesTruncated).toBe(true)
    expect(o.writes[0]!.value).toEqual({ omitted: 'value', bytes: 2002 })
    expect(boundedValue({ a: 1 })).toEqual({ a: 1 })
  })

  it('orders conflicts first, then by name, bounded', () => {
    const mk = (name: string, kind: 'conflict' | 'one-sided'): ReturnType<typeof variableOutcome> & object => ({ name, kind, merge: 'lww', writes: [], writesTruncated: false, value: null, winner: null })
    const r = orderOutcomes([mk('b', 'one-sided'), mk('z', 'conflict'), mk('a', 'one-sided'), mk('c', 'conflict')], 3)
    expect(r.entries.map(o => o.name)).toEqual(['c', 'z', 'a'])
    expect(r.truncated).toBe(1)
  })
})
