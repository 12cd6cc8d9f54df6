/**
 * The partition demo (examples/partition-demo) runs to the end over TCP: the cut-off leader's write is
 * discarded, and each side's heal report names the sides, the agents each registered, the conflicting
 * eventual write and its winner, and the old leader's indefinite write as never committed.
 */
import { describe, expect, it } from 'vitest'
import { runExample } from '../../examples/partition-demo/index.js'

describe('examples/partition-demo', () => {
  it('a leader cut off alone: its write is lost, and both sides report the partition', async () => {
    const lines: string[] = []
    const r = await runExample({ log: (l) => { lines.push(l) } })
    expect(r.stale).toMatch(/^failed with ERR_INDEFINITE/)
    expect(r.prices).toEqual(Array(5).fill('12 credits'))
    expect(r.queues).toEqual(Array(5).fill('round-robin'))
    const oldId = r.reports[r.old]!.peer
    const others = r.reports.map(x => x.peer).filter(id => id !== oldId).sort()
    for (const [i, rep] of r.reports.entries()) {
      const alone = i === r.old
      expect(rep.sides.this.hosts).toEqual(alone ? [oldId] : others)
      expect(rep.sides.other.hosts).toEqual(alone ? others : [oldId])
      const sideOf = (host: string): 'this' | 'other' => (host === oldId) === alone ? 'this' : 'other'
      const [queue, ...more] = rep.variables.entries
      expect(more).toEqual([])
      expect(queue).toMatchObject({ name: 'gpu.queue', merge: 'lww', kind: 'conflict', value: 'round-robin' })
      expect(queue!.writes.map(w => [w.value, w.side])).toEqual(expect.arrayContaining([['priority', sideOf(oldId)], ['round-robin', alone ? 'other' : 'this']]))
      expect(queue!.writes.length).toBe(2)
      expect(queue!.winner).toMatchObject({ side: alone ? 'other' : 'this', duringEpisode: true })
      expect(rep.agents.entries.map(a => [a.id, a.change, a.side]).sort()).toEqual([['solo-planner', 'registered', alone ? 'this' : 'other'], ['team-worker', 'registered', alone ? 'other' : 'this']])
      const strong = rep.strongWrites.entries.filter(w => w.command.kind === 'strong')
      if (alone) expect(strong).toEqual([expect.objectContaining({ command: { kind: 'strong', op: 'set', name: 'gpu.price', value: '99 credits' }, fate: 'not-committed' })])
      else expect(strong).toEqual([])
    }
    expect(lines.join('\n')).toContain('CONFLICT  gpu.queue [lww] = "round-robin"')
    expect(lines.join('\n')).toContain('strong set gpu.price = "99 credits": not-committed')
  }, 120_000)
})
