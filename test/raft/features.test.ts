import { describe, expect, it } from 'vitest'
import { ProposalDroppedError } from '../../protocols/raft/errors.js'
import { bytes, Net, str } from './network.js'

function dropReason (fn: () => void): string | undefined {
  try {
    fn()
  } catch (err) {
    if (err instanceof ProposalDroppedError) return err.reason
    throw err
  }
  return undefined
}

describe('PreVote (thesis §9.6)', () => {
  it('a partitioned node does not inflate its term nor disrupt the leader on heal', () => {
    const net = new Net([1, 2, 3], { preVote: true })
    net.elect(1)
    net.isolate(3)
    net.tick(100, [3])
    expect(net.node(3).status().term).toBe(2)
    expect(net.node(3).status().role).toBe('preCandidate')
    net.recover()
    net.tick(3)
    expect(net.leaders()).toEqual([1])
    expect(net.node(1).status().term).toBe(2)
  })

  it('without PreVote the same partition disrupts the leader (control)', () => {
    const net = new Net([1, 2, 3], { preVote: false })
    net.elect(1)
    net.isolate(3)
    net.tick(100, [3])
    expect(net.node(3).status().term).toBeGreaterThan(2)
    net.recover()
    net.tick(25)
    expect(net.node(1).status().term).toBeGreaterThan(2)
  })

  it('dueling pre-candidates still elect one leader', () => {
    const net = new Net([1, 2, 3], { preVote: true })
    net.node(1).campaign(); net.node(3).campaign()
    net.stabilize()
    net.tick(30)
    expect(net.leaders().length).toBe(1)
  })
})

describe('CheckQuorum (thesis §6.2)', () => {
  it('a leader that loses its quorum steps down after an election timeout', () => {
    const net = new Net([1, 2, 3], { checkQuorum: true, electionTick: 10 })
    net.elect(1)
    net.isolate(1)
    net.tick(9, [1])
    expect(net.node(1).status().role).toBe('leader')
    net.tick(12, [1])
    expect(net.node(1).status().role).toBe('follower')
  })

  it('followers with a live leader ignore vote requests (leader lease)', () => {
    const net = new Net([1, 2, 3], { checkQuorum: true })
    net.elect(1)
    net.node(3).campaign()
    net.stabilize()
    expect(net.leaders()).toEqual([1])
    expect(net.node(2).status().term).toBe(2)
    expect(net.node(2).stats().droppedIgnored).toBeGreaterThan(0)
  })
})

describe('ReadIndex (thesis §6.4)', () => {
  it('the leader serves a read point once a heartbeat quorum confirms it', () => {
    const net = new Net([1, 2, 3])
    net.elect(1)
    net.propose(1, 'a')
    net.node(1).readIndex(bytes('r1'))
    net.stabilize()
    const rs = net.peer(1).readStates
    expect(rs.map(r => [r.index, str(r.context)])).toEqual([[5, 'r1']])
  })

  it('a follower gets a read point through the leader', () => {
    const net = new Net([1, 2, 3])
    net.elect(1)
    net.propose(1, 'a')
    net.node(2).readIndex(bytes('r2'))
    net.stabilize()
    expect(net.peer(2).readStates.map(r => [r.index, str(r.context)])).toEqual([[5, 'r2']])
  })

  it('a new leader serves reads only after committing an entry of its term', () => {
    const net = new Net([1, 2, 3])
    net.dropTypes.add('appendResp')
    net.elect(1)
    net.node(1).readIndex(bytes('early'))
    net.stabilize()
    expect(net.peer(1).readStates).toEqual([])
    net.recover()
    net.tick(2)
    expect(net.peer(1).readStates.map(r => [r.index, str(r.context)])).toEqual([[4, 'early']])
  })

  it('an isolated leader cannot serve a read', () => {
    const net = new Net([1, 2, 3])
    net.elect(1)
    net.isolate(1)
    net.node(1).readIndex(bytes('x'))
    net.tick(5)
    expect(net.peer(1).readStates).toEqual([])
  })

  it('no leader known: readIndex is refused with a named error', () => {
    const net = new Net([1, 2, 3])
    expect(dropReason(() => net.node(2).readIndex(bytes('x')))).toBe('noLeader')
  })
})

describe('leadership transfer (thesis §3.10)', () => {
  it('catches the transferee up, sends TimeoutNow and hands over', () => {
    const net = new Net([1, 2, 3], { preVote: true, checkQuorum: true })
    net.elect(1)
    net.isolate(3)
    net.propose(1, 'a')
    net.propose(1, 'b')
    net.recover()
    net.node(1).transferLeader(3)
    net.stabilize()
    expect(net.leaders()).toEqual([3])
    expect(net.node(3).status().term).toBe(3)
    net.propose(3, 'c')
    for (const id of [1, 2, 3]) expect(net.peer(id).applied).toEqual(['a', 'b', 'c'])
  })

  it('refuses proposals while transferring and aborts after an election timeout', () => {
    const net = new Net([1, 2, 3], { electionTick: 10 })
    net.elect(1)
    net.isolate(3)
    net.node(1).transferLeader(3)
    net.stabilize()
    expect(net.node(1).status().leadTransferee).toBe(3)
    expect(dropReason(() => net.node(1).propose(bytes('x')))).toBe('transferring')
    net.tick(10, [1])
    expect(net.node(1).status().leadTransferee).toBe(0)
    expect(net.node(1).status().role).toBe('leader')
    expect(dropReason(() => net.node(1).propose(bytes('y')))).toBeUndefined()
  })

  it('a transfer to the leader itself aborts a pending transfer (as etcd)', () => {
    const net = new Net([1, 2, 3])
    net.elect(1)
    net.isolate(3)
    net.propose(1, 'a')
    net.node(1).transferLeader(3)
    net.stabilize()
    expect(net.node(1).status().leadTransferee).toBe(3)
    net.node(1).transferLeader(1)
    net.stabilize()
    expect(net.node(1).status().leadTransferee).toBe(0)
    expect(dropReason(() => net.node(1).propose(bytes('b')))).toBeUndefined()
    net.recover()
    net.node(1).heartbeat()
    net.stabilize()
    expect(net.leaders()).toEqual([1])
    for (const id of [1, 2, 3]) expect(net.peer(id).applied).toEqual(['a', 'b'])
  })

  it('a follower that restarted and does not know the leader yet campaigns on TimeoutNow', () => {
    const net = new Net([1, 2, 3])
    net.elect(1)
    net.propose(1, 'a')
    net.add(2, undefined, net.peer(2).storage) // restart from what it persisted
    expect(net.node(2).status().lead).toBe(0)
    net.node(1).transferLeader(2) // 2 is up to date: TimeoutNow goes out at once
    net.stabilize()
    expect(net.leaders()).toEqual([2])
    expect(net.node(2).status().term).toBe(3)
  })

  it('a follower forwards a transfer request to the leader', () => {
    const net = new Net([1, 2, 3])
    net.elect(1)
    net.node(2).transferLeader(2)
    net.stabilize()
    expect(net.leaders()).toEqual([2])
  })
})

describe('heartbeat() (a leader beats now, like etcd MsgBeat)', () => {
  it('sends one heartbeat to each peer and moves no timer: no CheckQuorum step-down, no transfer abort', () => {
    const net = new Net([1, 2, 3], { checkQuorum: true, electionTick: 10 })
    net.elect(1)
    net.isolate(3)
    net.node(1).transferLeader(3)
    net.stabilize()
    net.isolate(1)
    const before = net.sent.get('heartbeat') ?? 0
    for (let i = 0; i < 50; i++) {
      net.node(1).heartbeat()
      net.stabilize()
    }
    expect(net.sent.get('heartbeat')).toBe(before + 100)
    expect(net.node(1).status()).toMatchObject({ role: 'leader', leadTransferee: 3 })
    net.tick(20, [1]) // the first CheckQuorum round still counts replies heard before the isolation
    expect(net.node(1).status().role).toBe('follower')
  })

  it('carries the pending ReadIndex context, so its acks confirm the read', () => {
    const net = new Net([1, 2, 3])
    net.elect(1)
    net.dropTypes.add('heartbeatResp')
    net.node(1).readIndex(bytes('r'))
    net.stabilize()
    expect(net.peer(1).readStates).toEqual([])
    net.recover()
    net.node(1).heartbeat()
    net.stabilize()
    expect(net.peer(1).readStates.map(r => str(r.context))).toEqual(['r'])
  })

  it('a non-leader refuses with ProposalDroppedError notLeader and changes nothing', () => {
    const net = new Net([1, 2, 3])
    net.elect(1)
    const before = net.node(2).status()
    let err: unknown
    try { net.node(2).heartbeat() } catch (e) { err = e }
    expect(err).toBeInstanceOf(ProposalDroppedError)
    expect(err).toMatchObject({ code: 'ERR_PROPOSAL_DROPPED', reason: 'notLeader' })
    expect(net.node(2).hasReady()).toBe(false)
    expect(net.node(2).status()).toEqual(before)
  })
})

describe('membership changes and learners (thesis §4)', () => {
  it('adds a learner that replicates without counting for quorum, then promotes it', () => {
    const net = new Net([1, 2, 3])
    net.elect(1)
    net.propose(1, 'a')
    net.add(4) // joins with no configuration
    net.node(1).addLearner(4)
    expect(dropReason(() => net.node(1).addVoter(5))).toBe('confChangePending')
    net.stabilize()
    net.tick(2)
    expect(net.node(1).confState()).toEqual({ voters: [1, 2, 3], learners: [4] })
    expect(net.peer(4).applied).toEqual(['a'])
    expect(net.node(4).confState()).toEqual({ voters: [1, 2, 3], learners: [4] })
    // learners do not count: with 2 and 3 down, nothing commits
    net.isolate(2); net.isolate(3)
    net.propose(1, 'b')
    net.tick(2)
    expect(net.peer(1).applied).toEqual(['a'])
    net.recover()
    net.tick(2)
    expect(net.peer(4).applied).toEqual(['a', 'b'])
    net.node(1).promoteLearner(4)
    net.stabilize()
    expect(net.node(1).confState()).toEqual({ voters: [1, 2, 3, 4], learners: [] })
    // 4 voters, quorum 3: with 2 and 3 down nothing commits; with only 3 down it does
    net.isolate(3)
    net.propose(1, 'c')
    expect(net.peer(1).applied).toEqual(['a', 'b', 'c'])
  })

  it('removes a voter; the smaller group commits with its own quorum; removed node cannot disrupt', () => {
    const net = new Net([1, 2, 3, 4])
    net.elect(1)
    net.node(1).removeVoter(4)
    net.stabilize()
    expect(net.node(1).confState().voters).toEqual([1, 2, 3])
    net.isolate(3)
    net.propose(1, 'x') // 1 and 2 are a quorum of 3
    expect(net.peer(2).applied).toEqual(['x'])
    // node 4 applied its own removal, so it never campaigns
    net.recover()
    net.node(4).campaign()
    net.stabilize()
    expect(net.leaders()).toEqual([1])
    // messages from a removed member are dropped and counted
    expect(dropReason(() => net.node(1).removeVoter(4))).toBe('invalidConfChange')
  })

  it('a leader that removes itself steps down and the others elect a new leader', () => {
    const net = new Net([1, 2, 3])
    net.elect(1)
    net.node(1).removeVoter(1)
    net.stabilize()
    expect(net.node(1).status().role).toBe('follower')
    net.tick(40)
    const leaders = net.leaders()
    expect(leaders.length).toBe(1)
    expect([2, 3]).toContain(leaders[0])
    expect(net.node(leaders[0]!).confState().voters).toEqual([2, 3])
  })

  it('adds a voter that joins empty and catches up', () => {
    const net = new Net([1, 2, 3])
    net.elect(1)
    for (let i = 0; i < 5; i++) net.propose(1, `v${i}`)
    net.add(4)
    net.node(1).addVoter(4)
    net.stabilize()
    net.tick(2)
    expect(net.peer(4).applied).toEqual(['v0', 'v1', 'v2', 'v3', 'v4'])
    expect(net.node(4).confState().voters).toEqual([1, 2, 3, 4])
  })
})

describe('snapshots and log compaction (paper §7)', () => {
  it('a lagging follower catches up by snapshot after the leader compacts', () => {
    const net = new Net([1, 2, 3])
    net.elect(1)
    net.isolate(3)
    for (let i = 0; i < 10; i++) net.propose(1, `v${i}`)
    const p1 = net.peer(1)
    const snap = p1.storage.createSnapshot(p1.appliedIndex, net.node(1).confState(), bytes(JSON.stringify(p1.applied)))
    p1.storage.compact(snap.metadata.index)
    expect(net.node(1).status().firstIndex).toBe(15)
    net.recover()
    net.tick(2)
    expect(net.sent.get('snapshot')).toBe(1)
    expect(net.peer(3).applied).toEqual(p1.applied)
    expect(net.node(3).status().firstIndex).toBe(15)
    net.propose(1, 'after')
    expect(net.peer(3).applied.at(-1)).toBe('after')
  })

  it('a lost snapshot is resent after an election timeout', () => {
    const net = new Net([1, 2, 3], { electionTick: 10 })
    net.elect(1)
    net.isolate(3)
    for (let i = 0; i < 3; i++) net.propose(1, `v${i}`)
    const p1 = net.peer(1)
    p1.storage.createSnapshot(p1.appliedIndex, net.node(1).confState(), bytes(JSON.stringify(p1.applied)))
    p1.storage.compact(p1.appliedIndex)
    net.recover()
    net.dropTypes.add('snapshot')
    net.tick(3)
    expect(net.node(1).status().progress?.[3]?.state).toBe('snapshot')
    net.dropTypes.clear()
    net.tick(12)
    expect(net.peer(3).applied).toEqual(['v0', 'v1', 'v2'])
  })
})

describe('uncommitted cap', () => {
  it('refuses proposals beyond maxUncommittedEntriesSize with a named error, accepts again after commit', () => {
    const net = new Net([1, 2, 3], { maxUncommittedEntriesSize: 100 })
    net.elect(1)
    net.isolate(1)
    const big = 'x'.repeat(60)
    expect(dropReason(() => net.node(1).propose(bytes(big)))).toBeUndefined()
    expect(dropReason(() => net.node(1).propose(bytes(big)))).toBe('uncommittedCap')
    expect(net.node(1).stats().proposalsDropped).toBe(1)
    net.recover()
    net.tick(2)
    expect(net.peer(1).applied).toEqual([big])
    expect(dropReason(() => net.node(1).propose(bytes(big)))).toBeUndefined()
  })
})
