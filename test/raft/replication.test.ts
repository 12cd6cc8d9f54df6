import { describe, expect, it } from 'vitest'
import { MemoryStorage } from '../../protocols/raft/storage.js'
import type { Entry } from '../../protocols/raft/types.js'
import { bytes, Net, str } from './network.js'

function ents (terms: number[]): Entry[] {
  return terms.map((t, k) => ({ term: t, index: k + 1, type: 'normal', data: bytes(`e${k + 1}t${t}`) }))
}

function storageWith (terms: number[], term: number, voters: number[]): MemoryStorage {
  const st = new MemoryStorage({ voters, learners: [] })
  st.append(ents(terms))
  st.setHardState({ term, vote: 0, commit: 0 })
  return st
}

function logTerms (net: Net, id: number): number[] {
  const s = net.node(id).status()
  const out: number[] = []
  for (let i = 1; i <= s.lastIndex; i++) out.push(net.node(id).termAt(i))
  return out
}

describe('log replication (paper §5.3)', () => {
  it('replicates and commits proposals on every node, in order', () => {
    const net = new Net([1, 2, 3])
    net.elect(1)
    for (let i = 0; i < 20; i++) net.node(1).propose(bytes(`v${i}`))
    net.stabilize()
    const want = Array.from({ length: 20 }, (_, i) => `v${i}`)
    for (const id of [1, 2, 3]) expect(net.peer(id).applied).toEqual(want)
  })

  it('a follower forwards proposals to the leader', () => {
    const net = new Net([1, 2, 3])
    net.elect(1)
    net.propose(3, 'from-3')
    for (const id of [1, 2, 3]) expect(net.peer(id).applied).toEqual(['from-3'])
  })

  it('batches entries up to maxSizePerMsg and pipelines within maxInflightMsgs', () => {
    const net = new Net([1, 2, 3], { maxSizePerMsg: 10, maxInflightMsgs: 4 })
    net.elect(1)
    net.isolate(2)
    for (let i = 0; i < 30; i++) net.propose(1, `xxxx${i % 10}`) // 5 bytes each → 2 per message
    net.recover()
    net.recordDelivered = true
    net.tick(1)
    const apps = net.delivered.filter(m => m.type === 'append' && m.to === 2 && m.entries.length > 0)
    expect(apps.length).toBeGreaterThan(0)
    for (const m of apps) {
      const size = m.entries.reduce((n, e) => n + e.data.length, 0)
      expect(m.entries.length === 1 || size <= 10).toBe(true)
    }
    expect(net.peer(2).applied).toEqual(net.peer(1).applied)
    expect(net.peer(2).applied.length).toBe(30)
  })

  it('the in-flight window bounds unacknowledged appends', () => {
    const net = new Net([1, 2], { maxInflightMsgs: 3, maxEntriesPerMsg: 1 })
    net.elect(1)
    net.dropTypes.add('appendResp')
    for (let i = 0; i < 10; i++) net.node(1).propose(bytes(`p${i}`))
    net.recordDelivered = true
    net.stabilize()
    const apps = net.delivered.filter(m => m.type === 'append' && m.entries.length > 0)
    expect(apps.length).toBe(3)
    expect(net.node(1).status().progress?.[2]?.inflight).toBe(3)
  })

  describe('Figure 7: a new leader repairs divergent follower logs', () => {
    const leaderLog = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6]
    const followers: Record<string, number[]> = {
      a: [1, 1, 1, 4, 4, 5, 5, 6, 6],
      b: [1, 1, 1, 4],
      c: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
      d: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
      e: [1, 1, 1, 4, 4, 4, 4],
      f: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3]
    }
    for (const [name, flog] of Object.entries(followers)) {
      it(`follower (${name})`, () => {
        const net = new Net([])
        net.add(1, undefined, storageWith(leaderLog, 7, [1, 2, 3]))
        net.add(2, undefined, storageWith(flog, 7, [1, 2, 3]))
        net.add(3, undefined, storageWith([], 7, [1, 2, 3]))
        net.elect(1)
        expect(net.node(1).status().role).toBe('leader')
        expect(net.node(1).status().term).toBe(8)
        // the follower's log now equals the leader's, including the term-8 empty entry
        expect(logTerms(net, 2)).toEqual([...leaderLog, 8])
        expect(logTerms(net, 1)).toEqual([...leaderLog, 8])
        expect(net.node(2).status().commit).toBe(11)
        // fast backtracking: few rejections even for the most divergent log
        expect(net.node(1).status().progress?.[2]?.match).toBe(11)
      })
    }

    it('fast backtracking needs at most one rejection per conflicting term', () => {
      const net = new Net([])
      net.add(1, undefined, storageWith(leaderLog, 7, [1, 2, 3]))
      net.add(2, undefined, storageWith(followers.f!, 7, [1, 2, 3]))
      net.add(3, undefined, storageWith([], 7, [1, 2, 3]))
      net.recordDelivered = true
      net.elect(1)
      const rejects = net.delivered.filter(m => m.type === 'appendResp' && m.from === 2 && m.reject)
      expect(rejects.length).toBeLessThanOrEqual(3)
    })
  })

  it('Figure 8: an old-term entry is not committed by counting replicas', () => {
    // S1 (term 2 entry at 2), S2 same, S3/S4 shorter, S5 has a term-3 entry at 2.
    const net = new Net([])
    const voters = [1, 2, 3, 4, 5]
    net.add(1, undefined, storageWith([1, 2], 3, voters), { maxEntriesPerMsg: 1 })
    net.add(2, undefined, storageWith([1, 2], 3, voters), { maxEntriesPerMsg: 1 })
    net.add(3, undefined, storageWith([1], 3, voters), { maxEntriesPerMsg: 1 })
    net.add(4, undefined, storageWith([1], 3, voters), { maxEntriesPerMsg: 1 })
    net.add(5, undefined, storageWith([1, 3], 3, voters), { maxEntriesPerMsg: 1 })
    net.isolate(5)
    // S1 wins term 4 with S2, S3, S4; acknowledgements of entry 3 (term 4) are lost for now.
    net.filter = m => !(m.type === 'appendResp' && !m.reject && m.index >= 3)
    net.elect(1)
    expect(net.node(1).status().role).toBe('leader')
    expect(net.node(1).status().term).toBe(4)
    // index 2 (term 2) is now on S1, S2, S3, S4: a majority, but of an old term
    expect(net.node(3).termAt(2)).toBe(2)
    expect(net.node(1).status().commit).toBe(0)
    // once the term-4 entry replicates, both commit
    net.filter = undefined
    net.tick(1)
    expect(net.node(1).status().commit).toBe(3)
    expect(net.node(3).status().commit).toBe(3)
    net.recover()
    net.tick(2)
    // S5's divergent term-3 entry at index 2 is overwritten
    expect(net.node(5).termAt(2)).toBe(2)
    expect(net.peer(5).applied).toEqual(['e1t1', 'e2t2'])
  })

  it('stale leader writes are discarded on heal', () => {
    const net = new Net([1, 2, 3, 4, 5])
    net.elect(1)
    net.propose(1, 'ok')
    net.isolate(1)
    expect(() => net.node(1).propose(bytes('lost'))).not.toThrow()
    net.stabilize()
    net.elect(2)
    net.propose(2, 'new')
    net.recover()
    net.tick(2)
    for (const id of [1, 2, 3, 4, 5]) expect(net.peer(id).applied).toEqual(['ok', 'new'])
    expect(net.node(1).status().role).toBe('follower')
    void str
  })

  it('committed entries are paged by maxCommittedSizePerReady', () => {
    const net = new Net([1, 2, 3], { maxCommittedSizePerReady: 10 })
    net.elect(1)
    net.isolate(2)
    net.isolate(3)
    for (let i = 0; i < 5; i++) net.node(1).propose(bytes(`data${i}!`)) // 6 bytes each
    net.stabilize()
    net.peer(2).committedBatches = []
    net.recover()
    net.tick(2)
    expect(net.peer(2).applied.length).toBe(5)
    const batches = net.peer(2).committedBatches
    expect(batches.reduce((a, b) => a + b, 0)).toBe(30)
    expect(batches.length).toBeGreaterThanOrEqual(3)
    for (const b of batches) expect(b).toBeLessThanOrEqual(12) // at most one entry beyond the limit
  })

  it('a restarted node with config.applied does not re-emit applied entries', () => {
    const net = new Net([1, 2, 3])
    net.elect(1)
    net.propose(1, 'a')
    net.propose(1, 'b')
    const p3 = net.peer(3)
    const applied = p3.appliedIndex
    const q = net.add(3, undefined, p3.storage, { applied })
    net.propose(1, 'c')
    expect(q.applied).toEqual(['c'])
  })
})
