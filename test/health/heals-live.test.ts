/**
 * Partition and heal reports over TCP (FEATURES I5): five peers, a 5-voter Raft group, a 3|2 partition
 * with writes on both sides, the heal; each side's report lists exactly the conflicting eventual writes
 * and their winners, the one-sided ones, the agents each side registered, changed and removed, and the
 * minority's strong write that ended indefinite, settled as never committed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLiveMesh } from '../../sim/live.js'
import type { LiveMesh } from '../../sim/live.js'
import type { HealReport, VariableOutcome } from '../../peers/health/heals.js'
import { waitUntil } from '../helpers/wait.js'
import { FAST } from '../mesh/helpers.js'

const MAJORITY = [0, 1, 2]
const MINORITY = [3, 4]

describe('heal reports over TCP', () => {
  let mesh: LiveMesh
  let reports: HealReport[]
  const ids = (idx: number[]): string[] => idx.map(i => mesh.peers[i]!.id).sort()
  const id = (i: number): string => mesh.peers[i]!.id

  beforeAll(async () => {
    // Leases of 15 heartbeats: a loaded machine's stalls do not expire them (only the partition does).
    mesh = await createLiveMesh({ peers: 5, ...FAST, leaseMs: 1500, pruneAfterMs: 120_000, raft: { voters: 5, proposalTimeoutMs: 1500 } })
    const p = mesh.peers
    // The leader on the majority side, so the minority holds no leader (its only indefinite write is ours).
    const l = await mesh.waitForLeader()
    if (!MAJORITY.includes(l)) {
      await p[l]!.raft!.transferLeadership(id(0), 10_000)
      await mesh.waitFor(() => mesh.leader() === 0, { what: 'peer 0 to lead' })
    }
    const vars = (i: number): { price: ReturnType<typeof p[0]['variables']['eventual']>, best: ReturnType<typeof p[0]['variables']['eventual']>, hits: ReturnType<typeof p[0]['variables']['eventual']> } => ({
      price: p[i]!.variables.eventual<string>('price', { initial: 'unset', merge: 'lww' }),
      best: p[i]!.variables.eventual<number>('best', { initial: 0, merge: 'max' }),
      hits: p[i]!.variables.eventual<number>('hits', { initial: 0, merge: 'counter' })
    })
    await p[0]!.registry.register({ id: 'a-change', capabilities: ['x'] })
    await p[0]!.registry.register({ id: 'a-remove', capabilities: ['x'] })
    await p[3]!.registry.register({ id: 'b-change', capabilities: ['x'] })
    await p[3]!.registry.register({ id: 'b-remove', capabilities: ['x'] })
    // A write before the partition: outside the span, it is no write of the episode.
    await vars(1).price.set('before')
    const before = Date.now()
    await mesh.waitFor(q => q.registry.size === 4 && q.variables.read('price').value === 'before', { what: 'the agents and the first write everywhere' })
    // Every peer heard every other's heartbeat after that write: the write is older than anything the episode starts from.
    await mesh.waitFor(q => p.every(o => o === q || (q.syncHealth().find(h => h.peerId === o.id)?.lastHeartbeatAt ?? 0) > before), { what: 'heartbeats after the first write' })

    const baseline = p.map(q => q.heals()[0]?.seq ?? 0)
    await mesh.partition([MAJORITY, MINORITY])
    await mesh.waitFor((q, i) => (MAJORITY.includes(i) ? MINORITY : MAJORITY).every(j => q.hostStatus(id(j)).status === 'unreachable'), { what: 'each side to lose the other' })

    // The majority side.
    await vars(0).price.set('major')
    await vars(0).best.set(5)
    await vars(1).best.set(6)
    await vars(0).hits.add(2)
    await p[0]!.variables.eventual<string>('only-major', { initial: '', merge: 'lww' }).set('m')
    await p[0]!.registry.register({ id: 'a-new', capabilities: ['x'] })
    await p[0]!.registry.update('a-change', { metadata: { v: 2 } })
    await p[0]!.registry.unregister('a-remove')
    await p[0]!.variables.strong<string>('gpu.price').set('12')
    // The minority side, later: its lww write is the newer one.
    const majorAt = Date.now()
    await waitUntil(() => Date.now() > majorAt, 'the clock to move past the majority\'s write')
    await vars(3).price.set('minor')
    await vars(3).best.set(7)
    await vars(3).hits.add(3)
    await p[4]!.variables.eventual<string>('only-minor', { initial: '', merge: 'lww' }).set('n')
    await p[3]!.registry.register({ id: 'b-new', capabilities: ['x'] })
    await p[3]!.registry.update('b-change', { metadata: { v: 2 } })
    await p[3]!.registry.unregister('b-remove')
    await expect(p[3]!.variables.strong<string>('gpu.price').set('99')).rejects.toMatchObject({ code: 'ERR_INDEFINITE' })

    await mesh.heal()
    await mesh.waitFor((q, i) => q.heals().some(r => r.seq > baseline[i]!), { timeoutMs: 60_000, what: 'every peer to report the heal' })
    reports = p.map((q, i) => q.heals().filter(r => r.seq > baseline[i]!).at(-1)!)
  }, 120_000)

  afterAll(async () => { await mesh?.stop() })

  it('names the sides and the span on both sides', () => {
    for (const [i, r] of reports.entries()) {
      const mine = MAJORITY.includes(i) ? MAJORITY : MINORITY
      const theirs = MAJORITY.includes(i) ? MINORITY : MAJORITY
      expect(r.peer).toBe(id(i))
      expect(r.sides.this).toEqual({ hosts: ids(mine), count: mine.length, truncated: false })
      expect(r.sides.other).toEqual({ hosts: ids(theirs), count: theirs.length, truncated: false })
      expect(r.lost.map(h => h.host).sort()).toEqual(ids(theirs))
      expect(r.lost.every(h => h.returnedAt !== undefined && h.returnedAt >= h.lostAt && h.lostAt > h.lastHeardAt)).toBe(true)
      expect(r.caughtUp).toBe(true)
      expect(r.span.start).toBeLessThanOrEqual(r.detectedAt)
      expect(r.span.end).toBeGreaterThan(r.detectedAt)
      expect(r.reportedAt).toBeGreaterThanOrEqual(r.span.end)
    }
  })

  it('lists the conflicting writes exactly, with the value and the winner under each merge rule', () => {
    for (const [i, r] of reports.entries()) {
      const side = (peer: number): 'this' | 'other' => MAJORITY.includes(peer) === MAJORITY.includes(i) ? 'this' : 'other'
      const w = (peer: number, value: unknown): { host: string, side: 'this' | 'other', value: unknown } => ({ host: id(peer), side: side(peer), value })
      const byHost = (list: Array<{ host: string }>): Array<{ host: string }> => [...list].sort((a, b) => a.host < b.host ? -1 : 1)
      const strip = (o: VariableOutcome): unknown => ({ ...o, writes: o.writes.map(({ host, side, value }) => ({ host, side, value })) })
      expect(r.variables.entries.map(strip)).toEqual([
        { name: 'best', merge: 'max', kind: 'conflict', writes: byHost([w(0, 5), w(1, 6), w(3, 7)]), writesTruncated: false, value: 7, winner: { host: id(3), side: side(3), duringEpisode: true } },
        { name: 'hits', merge: 'counter', kind: 'conflict', writes: byHost([w(0, 2), w(3, 3)]), writesTruncated: false, value: 5, winner: null },
        { name: 'price', merge: 'lww', kind: 'conflict', writes: byHost([w(0, 'major'), w(3, 'minor')]), writesTruncated: false, value: 'minor', winner: { host: id(3), side: side(3), duringEpisode: true } },
        { name: 'only-major', merge: 'lww', kind: 'one-sided', writes: [w(0, 'm')], writesTruncated: false, value: 'm', winner: { host: id(0), side: side(0), duringEpisode: true } },
        { name: 'only-minor', merge: 'lww', kind: 'one-sided', writes: [w(4, 'n')], writesTruncated: false, value: 'n', winner: { host: id(4), side: side(4), duringEpisode: true } }
      ])
      expect(r.variables).toMatchObject({ conflicts: 3, oneSided: 2, truncated: 0, scanTruncated: false })
      for (const o of r.variables.entries) for (const x of o.writes) expect(x.time[0]).toBeGreaterThanOrEqual(r.span.start)
    }
  })

  it('lists the agents each side registered, changed and removed', () => {
    for (const [i, r] of reports.entries()) {
      const mine = MAJORITY.includes(i)
      const a = (agent: string, host: number, change: string): unknown => ({ id: agent, host: id(host), side: (host === 0) === mine ? 'this' : 'other', change })
      expect(r.agents.entries.map(({ at: _at, ...c }) => c).sort((x, y) => x.id < y.id ? -1 : 1)).toEqual([
        a('a-change', 0, 'changed'), a('a-new', 0, 'registered'), a('a-remove', 0, 'removed'),
        a('b-change', 3, 'changed'), a('b-new', 3, 'registered'), a('b-remove', 3, 'removed')
      ])
      expect(r.agents.truncated).toBe(0)
    }
  })

  it('settles the minority\'s indefinite strong write as never committed', async () => {
    for (const i of MAJORITY) expect(reports[i]!.strongWrites).toEqual({ entries: [], truncated: 0 })
    expect(reports[4]!.strongWrites).toEqual({ entries: [], truncated: 0 })
    const [w, ...rest] = reports[3]!.strongWrites.entries
    expect(rest).toEqual([])
    expect(w).toMatchObject({ command: { kind: 'strong', op: 'set', name: 'gpu.price', value: '99' }, error: { code: 'ERR_INDEFINITE' }, fate: 'not-committed' })
    expect(w!.endedAt).toBeGreaterThanOrEqual(reports[3]!.span.start)
    expect(await mesh.peers[3]!.variables.strong<string>('gpu.price').get()).toBe('12')
  })

  it('has no auction or task across the partition', () => {
    for (const r of reports) {
      expect(r.auctions).toEqual({ entries: [], truncated: 0, available: true })
      expect(r.tasks).toEqual({ entries: [], truncated: 0, available: true })
    }
  })
})
