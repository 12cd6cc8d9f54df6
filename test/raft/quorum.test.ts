/**
 * The modules beside the Raft core: majority quorums (quorum.ts), the applied configuration and its
 * tracker (membership.ts) and the ReadIndex bookkeeping (read-only.ts). RaftNode's behaviour with them
 * is covered by the other test/raft files and the scenarios.
 */
import { describe, expect, it } from 'vitest'
import { Membership } from '../../protocols/raft/membership.js'
import { committedIndex, hasQuorum, quorumSize, voteResult } from '../../protocols/raft/quorum.js'
import { ReadOnly } from '../../protocols/raft/read-only.js'
import type { Message } from '../../protocols/raft/types.js'

const acked = (...m: number[]): Array<{ match: number }> => m.map(match => ({ match }))
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s)

describe('quorum (majority of one voter set)', () => {
  it('a majority is floor(n/2) + 1', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map(quorumSize)).toEqual([1, 2, 2, 3, 3, 4, 4])
  })

  it('committedIndex is the largest index a majority holds, whatever the order', () => {
    expect(committedIndex([])).toBe(0)
    expect(committedIndex(acked(7))).toBe(7)
    expect(committedIndex(acked(5, 9))).toBe(5)
    expect(committedIndex(acked(2, 9, 4))).toBe(4)
    expect(committedIndex(acked(1, 8, 3, 8))).toBe(3)
    expect(committedIndex(acked(10, 1, 7, 2, 9))).toBe(7)
    // More voters than the reused scratch buffer first holds.
    expect(committedIndex(acked(...Array.from({ length: 21 }, (_, i) => 100 - i)))).toBe(90)
  })

  it('voteResult: won at a majority of grants, lost once a majority is out of reach, non-voters ignored', () => {
    const voters = [1, 2, 3, 4, 5]
    expect(voteResult(voters, new Map([[1, true], [2, true]]))).toBe('pending')
    expect(voteResult(voters, new Map([[1, true], [2, true], [9, true]]))).toBe('pending')
    expect(voteResult(voters, new Map([[1, true], [2, true], [3, true]]))).toBe('won')
    expect(voteResult(voters, new Map([[1, true], [2, false], [3, false]]))).toBe('pending')
    expect(voteResult(voters, new Map([[1, true], [2, false], [3, false], [4, false]]))).toBe('lost')
    expect(voteResult([1], new Map([[1, true]]))).toBe('won')
  })

  it('hasQuorum counts only voters', () => {
    expect(hasQuorum([1, 2, 3], id => id !== 3)).toBe(true)
    expect(hasQuorum([1, 2, 3, 4], id => id <= 2)).toBe(false)
  })
})

describe('Membership (applied configuration and tracker)', () => {
  it('normalizes a stored configuration: duplicates dropped, a voter listed as learner stays a voter', () => {
    const m = new Membership(1, 4)
    m.setConf({ voters: [3, 1, 3, 2], learners: [5, 2, 4, 5] })
    expect(m.confState()).toEqual({ voters: [1, 2, 3], learners: [4, 5] })
    expect(m.isEmpty()).toBe(false)
    expect(m.isSingleton()).toBe(false)
  })

  it('applies one change at a time and ignores those that cannot apply', () => {
    const m = new Membership(1, 4)
    m.setConf({ voters: [1], learners: [] })
    m.rebuildProgress(true, 3)
    expect(m.isSingleton()).toBe(true)
    expect(m.apply({ type: 'addLearner', nodeId: 2 }, 3)).toBe(true)
    expect(m.confState()).toEqual({ voters: [1], learners: [2] })
    expect(m.prs.get(2)).toMatchObject({ next: 4, match: 0, learner: true })
    expect(m.apply({ type: 'promoteLearner', nodeId: 3 }, 3)).toBe(false) // not a learner
    expect(m.apply({ type: 'promoteLearner', nodeId: 2 }, 3)).toBe(true)
    expect(m.prs.get(2)?.learner).toBe(false)
    expect(m.apply({ type: 'addLearner', nodeId: 2 }, 3)).toBe(false) // no demotion
    expect(m.apply({ type: 'removeVoter', nodeId: 2 }, 3)).toBe(true)
    expect(m.apply({ type: 'removeVoter', nodeId: 1 }, 3)).toBe(false) // never the last voter
    expect(m.confState()).toEqual({ voters: [1], learners: [] })
    expect([...m.prs.keys()]).toEqual([1])
  })

  it('fits says which changes a leader may propose', () => {
    const m = new Membership(1, 4)
    m.setConf({ voters: [1, 2], learners: [3] })
    expect(m.fits({ type: 'addVoter', nodeId: 2 })).toBe(false)
    expect(m.fits({ type: 'addVoter', nodeId: 3 })).toBe(true)
    expect(m.fits({ type: 'addLearner', nodeId: 3 })).toBe(false)
    expect(m.fits({ type: 'promoteLearner', nodeId: 2 })).toBe(false)
    expect(m.fits({ type: 'removeVoter', nodeId: 3 })).toBe(true)
    m.setConf({ voters: [1], learners: [] })
    expect(m.fits({ type: 'removeVoter', nodeId: 1 })).toBe(false)
  })

  it('tracks the commit index, CheckQuorum activity and votes over voters only', () => {
    const m = new Membership(1, 4)
    m.setConf({ voters: [1, 2, 3], learners: [4] })
    m.rebuildProgress(true, 10)
    expect(m.committedIndex()).toBe(0) // only this node holds index 10
    m.prs.get(4)!.match = 10 // a learner does not count
    expect(m.committedIndex()).toBe(0)
    m.prs.get(2)!.match = 8
    expect(m.committedIndex()).toBe(8)
    for (const id of [2, 3, 4]) m.prs.get(id)!.recentActive = false
    m.prs.get(4)!.recentActive = true
    expect(m.quorumActive()).toBe(false)
    m.prs.get(3)!.recentActive = true
    expect(m.quorumActive()).toBe(true)
    expect(m.prs.get(3)!.recentActive).toBe(false) // a new round starts
    expect(m.recordVote(1, true)).toBe('pending')
    expect(m.recordVote(4, true)).toBe('pending')
    expect(m.recordVote(2, false)).toBe('pending')
    expect(m.recordVote(2, true)).toBe('pending') // only the first answer counts
    expect(m.recordVote(3, false)).toBe('lost')
    m.resetVotes()
    expect(m.recordVote(1, true)).toBe('pending')
  })
})

describe('ReadOnly (ReadIndex bookkeeping)', () => {
  const voters = [1, 2, 3, 4, 5]

  it('releases a request and every earlier one once a majority of voters acknowledged it', () => {
    const ro = new ReadOnly(10)
    expect(ro.add(4, 1, bytes('a'), 1)).toBe(true)
    expect(ro.add(5, 2, bytes('b'), 1)).toBe(true)
    expect(ro.add(6, 1, bytes('b'), 1)).toBe(false) // duplicate context
    expect(ro.lastPendingCtx()).toEqual(bytes('b'))
    expect(ro.recvAck(9, bytes('b'), voters)).toEqual([]) // not a voter
    expect(ro.recvAck(2, bytes('b'), voters)).toEqual([])
    expect(ro.recvAck(2, bytes('b'), voters)).toEqual([]) // the same voter twice
    const released = ro.recvAck(3, bytes('b'), voters)
    expect(released.map(r => [r.index, r.from])).toEqual([[4, 1], [5, 2]])
    expect(ro.lastPendingCtx()).toBeUndefined()
    expect(ro.recvAck(4, bytes('a'), voters)).toEqual([]) // already released
  })

  it('is bounded, holds early requests, and reset forgets everything', () => {
    const ro = new ReadOnly(2)
    const m = { type: 'readIndex' } as Message
    expect(ro.hold(m) && ro.hold(m)).toBe(true)
    expect(ro.hold(m)).toBe(false)
    expect(ro.takeHeld()).toHaveLength(2)
    expect(ro.hasHeld()).toBe(false)
    ro.add(1, 1, bytes('x'), 1)
    ro.add(1, 1, bytes('y'), 1)
    expect(ro.full()).toBe(true)
    ro.hold(m)
    ro.reset()
    expect(ro.full()).toBe(false)
    expect(ro.hasHeld()).toBe(false)
    expect(ro.add(1, 1, bytes('x'), 1)).toBe(true)
  })
})
