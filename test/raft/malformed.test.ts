import { describe, expect, it } from 'vitest'
import type { Message } from '../../protocols/raft/types.js'
import { bytes, Net } from './network.js'

function base (over: Partial<Message>): Message {
  return { type: 'append', from: 1, to: 2, term: 2, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, ...over }
}

describe('bad input on the network path', () => {
  it('impossible messages are dropped and counted, never thrown, and change nothing', () => {
    const net = new Net([1, 2, 3])
    net.elect(1)
    net.propose(1, 'a')
    const n2 = net.node(2)
    const before = n2.status()
    const bad: unknown[] = [
      null,
      42,
      base({ type: 'bogus' as never }),
      base({ term: -1 }),
      base({ term: 1.5 }),
      base({ index: Number.NaN }),
      base({ commit: -3 }),
      base({ index: Number.MAX_SAFE_INTEGER + 2 }),
      base({ from: 2 }), // from itself
      base({ to: 3 }), // not addressed to us
      base({ from: 0 }),
      base({ entries: null as never }),
      base({ index: 5, logTerm: 2, entries: [{ term: 2, index: 9, type: 'normal', data: bytes('x') }] }), // not contiguous
      base({ index: 5, logTerm: 2, entries: [{ term: 7, index: 6, type: 'normal', data: bytes('x') }] }), // entry term > message term
      base({ index: 5, logTerm: 2, entries: [{ term: 2, index: 6, type: 'weird' as never, data: bytes('x') }] }),
      base({ index: 5, logTerm: 2, entries: [{ term: 2, index: 6, type: 'normal', data: 'str' as never }] }),
      base({ type: 'vote', logTerm: 9 }), // last log term beyond the term
      base({ type: 'snapshot' }), // no snapshot
      base({ type: 'snapshot', snapshot: { metadata: { index: 3, term: 2, confState: { voters: [-1], learners: [] } }, data: new Uint8Array() } }),
      base({ type: 'heartbeat', term: 0 }), // term 0 is only for forwarded requests
      base({ type: 'heartbeat', context: 'ctx' as never })
    ]
    for (const m of bad) expect(() => n2.step(m as Message)).not.toThrow()
    const after = n2.status()
    expect(after.term).toBe(before.term)
    expect(after.commit).toBe(before.commit)
    expect(after.lastIndex).toBe(before.lastIndex)
    expect(n2.stats().droppedMalformed).toBe(bad.length)
    net.stabilize()
    expect(net.leaders()).toEqual([1])
  })

  it('messages from non-members are dropped and counted', () => {
    const net = new Net([1, 2, 3])
    net.elect(1)
    const n1 = net.node(1)
    const types = ['appendResp', 'heartbeatResp', 'voteResp', 'vote', 'preVote', 'propose', 'readIndex', 'transferLeader'] as const
    for (const type of types) {
      const m = base({ type, from: 99, to: 1, term: type === 'propose' || type === 'readIndex' || type === 'transferLeader' ? 0 : 9, entries: type === 'propose' ? [{ term: 0, index: 0, type: 'normal', data: bytes('x') }] : [] })
      expect(() => n1.step(m)).not.toThrow()
    }
    expect(n1.stats().droppedNonMember).toBe(types.length)
    expect(n1.status().role).toBe('leader')
    expect(n1.status().term).toBe(2)
  })

  it('stale-term messages are counted', () => {
    const net = new Net([1, 2, 3])
    net.elect(1)
    net.elect(2)
    net.node(3).step(base({ type: 'append', from: 1, to: 3, term: 2 }))
    expect(net.node(3).stats().droppedStaleTerm).toBe(1)
  })

  it('an append that would overwrite a committed entry, or an ack beyond the leader log, is not applied and not thrown', () => {
    const net = new Net([1, 2, 3])
    net.elect(1)
    net.propose(1, 'a')
    const n2 = net.node(2)
    const commit = n2.status().commit
    const term = n2.status().term
    const before = n2.termAt(commit - 1)
    // rewrite committed entry commit-1 (term `term`) with a term-1 entry
    const evil = base({ type: 'append', from: 1, to: 2, term, index: commit - 2, logTerm: n2.termAt(commit - 2), entries: [{ term: 1, index: commit - 1, type: 'normal', data: bytes('evil') }] })
    expect(before).not.toBe(1)
    expect(() => n2.step(evil)).not.toThrow()
    expect(n2.termAt(commit - 1)).toBe(before)
    expect(n2.status().commit).toBe(commit)
    const n1 = net.node(1)
    expect(() => n1.step(base({ type: 'appendResp', from: 2, to: 1, term, index: 1_000_000 }))).not.toThrow()
    expect(n1.stats().droppedMalformed).toBe(1)
    expect(n1.status().commit).toBe(commit)
  })

  it('a vote from a node added by a change in our (unapplied) log is heard; from a stranger it is dropped', () => {
    const net = new Net([1, 2, 3])
    net.elect(1)
    net.filter = m => m.type !== 'appendResp' // nothing commits
    net.add(4)
    net.node(1).addVoter(4)
    net.stabilize()
    const n2 = net.node(2)
    expect(n2.confState().voters).toEqual([1, 2, 3]) // not applied yet
    const last = n2.status().lastIndex
    n2.step(base({ type: 'vote', from: 4, to: 2, term: 9, index: last, logTerm: n2.termAt(last) }))
    expect(n2.stats().droppedNonMember).toBe(0)
    expect(n2.status().term).toBe(9)
    n2.step(base({ type: 'vote', from: 5, to: 2, term: 10, index: last, logTerm: n2.termAt(last) }))
    expect(n2.stats().droppedNonMember).toBe(1)
    expect(n2.status().term).toBe(9)
  })

  it('a joining node with no configuration accepts the leader and learns the membership from the log', () => {
    const net = new Net([1, 2, 3])
    net.elect(1)
    const joiner = net.add(7)
    expect(joiner.node.confState()).toEqual({ voters: [], learners: [] })
    joiner.node.tick(); joiner.node.campaign()
    expect(joiner.node.status().role).toBe('follower') // not a member: never campaigns
    net.node(1).addLearner(7)
    net.stabilize()
    net.tick(2)
    expect(joiner.node.confState()).toEqual({ voters: [1, 2, 3], learners: [7] })
  })
})
