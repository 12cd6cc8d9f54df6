import { describe, expect, it } from 'vitest'
import { MemoryStorage } from '../../protocols/raft/storage.js'
import { RaftNode } from '../../protocols/raft/raft.js'
import { Net } from './network.js'

describe('raft elections (paper §5.2)', () => {
  it('a single campaign elects a leader with a quorum and the leader appends an empty entry of its term', () => {
    const net = new Net([1, 2, 3])
    net.elect(1)
    const s = net.node(1).status()
    expect(s.role).toBe('leader')
    // bootstrap membership entries are at indexes 1..3 of term 1, so the first election is term 2
    expect(s.term).toBe(2)
    expect(net.node(2).status().lead).toBe(1)
    // empty entry of term 2 at index 4, committed everywhere
    for (const id of [1, 2, 3]) {
      expect(net.peer(id).committed.map(e => [e.index, e.term, e.data.length])).toEqual([[4, 2, 0]])
      expect(net.peer(id).storage.lastIndex()).toBe(4)
    }
  })

  it('election timeout is drawn uniformly in [electionTick, 2*electionTick) and triggers a campaign', () => {
    const net = new Net([1, 2, 3], { electionTick: 10 })
    let ticks = 0
    while (net.leaders().length === 0) {
      net.tick(1)
      ticks++
      expect(ticks).toBeLessThan(20)
    }
    expect(ticks).toBeGreaterThanOrEqual(10)
  })

  it('no leader without a quorum (election quorums)', () => {
    const net = new Net([1, 2, 3, 4, 5])
    net.isolate(1); net.isolate(2); net.isolate(3)
    net.elect(1)
    expect(net.node(1).status().role).toBe('candidate')
    net.recover()
    net.cut(1, 2) // 1 can still reach 3, 4, 5
    net.elect(1)
    expect(net.node(1).status().role).toBe('leader')
  })

  it('a node votes at most once per term', () => {
    const net = new Net([1, 2, 3])
    net.isolate(3)
    net.cut(1, 2)
    net.elect(1) // term 1: 1 votes for itself
    net.recover()
    net.cut(1, 2); net.cut(1, 3)
    net.elect(2) // term 2 for 2
    expect(net.node(2).status().role).toBe('leader')
    expect(net.node(3).status().vote).toBe(2)
  })

  it('vote up-to-date rule (§5.4.1): a candidate with a shorter log of the same last term loses', () => {
    const net = new Net([1, 2, 3])
    net.elect(1)
    net.isolate(3)
    net.propose(1, 'a')
    net.recover()
    net.isolate(1)
    net.elect(3) // 3 lacks 'a'; 2 has it and refuses
    expect(net.node(3).status().role).not.toBe('leader')
    net.elect(2)
    expect(net.node(2).status().role).toBe('leader')
    expect(net.peer(2).applied).toEqual(['a'])
  })

  it('learners never campaign', () => {
    const net = new Net([1, 2], {}, [3])
    net.isolate(1); net.isolate(2)
    net.tick(100, [3])
    expect(net.node(3).status().role).toBe('follower')
    expect(net.node(3).status().term).toBe(1)
    net.node(3).campaign()
    expect(net.node(3).status().role).toBe('follower')
  })

  it('restart: a node rebuilt from its storage keeps term, vote, log and membership (bootstrap persisted)', () => {
    const net = new Net([1, 2, 3])
    net.stabilize() // first Ready persists the bootstrap entries and hard state
    expect(net.peer(2).storage.getHardState()).toEqual({ term: 1, vote: 0, commit: 3 })
    for (const id of [1, 2, 3]) net.add(id, undefined, net.peer(id).storage) // restart everyone before any election
    net.elect(2)
    net.propose(2, 'a')
    expect(net.node(2).status().role).toBe('leader')
    const st = net.peer(3).storage
    net.add(3, undefined, st, { applied: 0 })
    net.stabilize()
    expect(net.node(3).confState()).toEqual({ voters: [1, 2, 3], learners: [] })
    expect(net.node(3).status().term).toBe(2)
    expect(net.node(3).status().vote).toBe(2)
    expect(net.peer(3).applied).toEqual(['a']) // committed entries re-emitted after restart
    net.node(3).checkInvariants()
  })

  it('the election jitter comes only from the injected PRNG, in [electionTick, 2*electionTick)', () => {
    const calls: Array<[number, number]> = []
    const rand = { range: (lo: number, hi: number): number => { calls.push([lo, hi]); return hi - 1 } }
    const node = new RaftNode({ id: 1, storage: new MemoryStorage(), rand, peers: { voters: [1, 2, 3] }, electionTick: 7 })
    expect(calls.length).toBeGreaterThan(0)
    for (const c of calls) expect(c).toEqual([7, 14])
    for (let i = 0; i < 12; i++) node.tick()
    expect(node.status().role).toBe('follower')
    node.tick() // 13 = 2*7 - 1 ticks
    expect(node.status().role).toBe('candidate')
  })

  it('dueling candidates without PreVote: randomized timeouts still elect exactly one leader', () => {
    const net = new Net([1, 2, 3, 4, 5])
    net.node(1).campaign(); net.node(2).campaign(); net.node(3).campaign()
    net.stabilize()
    net.tick(60)
    expect(net.leaders().length).toBe(1)
  })

  it('rejects bad options with a named error', () => {
    const storage = new MemoryStorage()
    const rand = { range: (lo: number): number => lo }
    expect(() => new RaftNode({ id: 0, storage, rand })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }))
    expect(() => new RaftNode({ id: 1, storage, rand, electionTick: 2, heartbeatTick: 2 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }))
    expect(() => new RaftNode({ id: 1, storage, rand, maxInflightMsgs: 0 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }))
    expect(() => new RaftNode({ id: 1, storage, rand, peers: { voters: [1], learners: [1] } })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }))
  })
})
