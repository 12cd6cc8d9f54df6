/**
 * Batched proposals (protocols/raft/driver.ts): the proposals of one turn reach Raft as one batch, one
 * append per follower on a leader and one forwarded message on a follower, in order; each proposer
 * still gets its own result or error; a batch above the size limits is split; one client's pending
 * proposals are capped. Three drivers on an in-test network whose messages the test delivers.
 */
import { describe, expect, it } from 'vitest'
import { MemoryDriverStorage, RaftDriver, type RaftDriverOptions } from '../../protocols/raft/driver.js'
import { RaftNode } from '../../protocols/raft/raft.js'
import type { Message } from '../../protocols/raft/types.js'
import { createLogger } from '../../src/base/log.js'
import { createRand } from '../../src/base/prng.js'
import { ListApp } from '../helpers/list-app.js'

const enc = new TextEncoder()

interface Group { drivers: RaftDriver[], apps: ListApp[], wire: Message[], sent: Message[] }

function group (options: RaftDriverOptions = {}): Group {
  const wire: Message[] = []
  const sent: Message[] = []
  const apps = [new ListApp(), new ListApp(), new ListApp()]
  const drivers = apps.map((app, i) => new RaftDriver({
    id: i + 1,
    voters: [1, 2, 3],
    transport: { send: (ms) => { for (const m of ms) { wire.push(m); sent.push(m) } } },
    application: app,
    storage: new MemoryDriverStorage(),
    clock: { now: () => 0 },
    schedule: (fn) => { fn() },
    rand: createRand(i + 1),
    clientId: `p${i + 1}/a`,
    log: createLogger('silent'),
    options: { electionTick: 5, ...options }
  }))
  for (const d of drivers) d.start()
  const g = { drivers, apps, wire, sent }
  drivers[0]!.campaign()
  deliver(g)
  expect(drivers[0]!.isLeader).toBe(true)
  expect(drivers[1]!.leaderId).toBe(1)
  return g
}

/** Delivers every message (and those they cause) until the network is quiet. */
function deliver (g: Group): void {
  for (let n = 0; g.wire.length > 0; n++) {
    if (n > 100_000) throw new Error('the network never went quiet')
    const m = g.wire.shift()!
    g.drivers[m.to - 1]!.receive(m)
  }
}

const settle = async (): Promise<void> => { for (let i = 0; i < 10; i++) await Promise.resolve() }

describe('batched proposals', () => {
  it('the proposals of one turn become one append per follower, in order, and each proposer gets its own result', async () => {
    const g = group()
    const leader = g.drivers[0]!
    g.sent.length = 0
    const results: Array<Promise<{ index: number, result: unknown }>> = []
    leader.batch(() => {
      for (const c of ['a', 'b', 'c', 'd', 'e']) results.push(leader.propose(enc.encode(c)))
    })
    // One append to each follower carries all five.
    const appends = g.sent.filter(m => m.type === 'append' && m.entries.length > 0)
    expect(appends.map(m => [m.to, m.entries.length]).sort()).toEqual([[2, 5], [3, 5]])
    deliver(g)
    const out = await Promise.all(results)
    // In order, consecutive, each with its own result (ListApp answers the list's length).
    expect(out.map(r => r.result)).toEqual([1, 2, 3, 4, 5])
    expect(out.map(r => r.index - out[0]!.index)).toEqual([0, 1, 2, 3, 4])
    for (const app of g.apps) expect(app.items).toEqual(['a', 'b', 'c', 'd', 'e'])
  })

  it('a follower forwards its turn\'s proposals in one message; each of its proposers resolves once applied there', async () => {
    const g = group()
    const follower = g.drivers[1]!
    g.sent.length = 0
    const results: Array<Promise<{ index: number, result: unknown }>> = []
    follower.batch(() => {
      for (const c of ['x', 'y', 'z']) results.push(follower.propose(enc.encode(c)))
    })
    const forwarded = g.sent.filter(m => m.type === 'propose')
    expect(forwarded).toHaveLength(1)
    expect(forwarded[0]!.entries).toHaveLength(3)
    deliver(g)
    expect((await Promise.all(results)).map(r => r.result)).toEqual([1, 2, 3])
    for (const app of g.apps) expect(app.items).toEqual(['x', 'y', 'z'])
  })

  it('a batch the core refuses rejects each of its proposers with the reason; a proposal superseded in the queue is proposed once', async () => {
    const g = group()
    // A member of a group that has no leader yet refuses.
    const lonely = new RaftDriver({
      id: 9, voters: [9, 10, 11], transport: { send: () => {} }, application: new ListApp(), storage: new MemoryDriverStorage(),
      clock: { now: () => 0 }, schedule: (fn) => { fn() }, rand: createRand(9), clientId: 'p9/a', log: createLogger('silent')
    })
    lonely.start()
    const errors: Array<Promise<unknown>> = []
    lonely.batch(() => {
      for (const c of ['1', '2']) errors.push(lonely.propose(enc.encode(c)).then(() => 'applied', (e: { code?: string, reason?: string }) => `${e.code ?? ''}:${e.reason ?? ''}`))
    })
    expect(await Promise.all(errors)).toEqual(['ERR_PROPOSAL_DROPPED:noLeader', 'ERR_PROPOSAL_DROPPED:noLeader'])

    // On the leader: the same session proposed twice in one turn: the first is superseded before it
    // reaches Raft, the retry applies once.
    const leader = g.drivers[0]!
    g.sent.length = 0
    const session = { clientId: 'p1/a', seq: 1000 }
    let first: Promise<unknown> = Promise.resolve()
    let second: Promise<{ index: number, result: unknown }> | undefined
    leader.batch(() => {
      first = leader.propose(enc.encode('once'), session).then(() => 'applied', (e: { code?: string }) => e.code)
      second = leader.propose(enc.encode('once'), session)
    })
    expect(g.sent.filter(m => m.type === 'append' && m.to === 2).flatMap(m => m.entries)).toHaveLength(1)
    deliver(g)
    expect(await first).toBe('ERR_INDEFINITE')
    expect((await second!).result).toBe(1)
    expect(g.apps[0]!.items).toEqual(['once'])
  })

  it('a batch above the size limits is split, in order: by commands and by bytes (a larger command goes alone)', async () => {
    const g = group({ proposalBatchEntriesMax: 2 })
    const follower = g.drivers[1]!
    g.sent.length = 0
    const cmds = ['a', 'b', 'c', 'd', 'e']
    const results: Array<Promise<{ index: number, result: unknown }>> = []
    follower.batch(() => { for (const c of cmds) results.push(follower.propose(enc.encode(c))) })
    // Five commands, two a batch: three forwarded messages, in order.
    expect(g.sent.filter(m => m.type === 'propose').map(m => m.entries.length)).toEqual([2, 2, 1])
    deliver(g)
    expect((await Promise.all(results)).map(r => r.result)).toEqual([1, 2, 3, 4, 5])
    expect(g.apps[0]!.items).toEqual(cmds)

    // By bytes: the envelope of a one-letter command here is 10 bytes, so two fit in 24; a long one goes alone.
    const h = group({ proposalBatchBytesMax: 24 })
    const f = h.drivers[2]!
    h.sent.length = 0
    const long = 'a command much longer than the limit'
    const more: Array<Promise<unknown>> = []
    f.batch(() => { for (const c of ['a', 'b', 'c', long, 'd']) more.push(f.propose(enc.encode(c))) })
    expect(h.sent.filter(m => m.type === 'propose').map(m => m.entries.length)).toEqual([2, 1, 1, 1])
    deliver(h)
    await Promise.all(more)
    expect(h.apps[0]!.items).toEqual(['a', 'b', 'c', long, 'd'])
  })

  it('one client may hold at most pendingPerClientMax pending proposals; this node\'s own and other clients are not held back', async () => {
    const g = group({ pendingPerClientMax: 2 })
    const leader = g.drivers[0]!
    const c1 = [leader.propose(enc.encode('c1-1'), { clientId: 'client1/s', seq: 1 }), leader.propose(enc.encode('c1-2'), { clientId: 'client1/t', seq: 1 })]
    await expect(leader.propose(enc.encode('c1-3'), { clientId: 'client1/s', seq: 2 })).rejects.toMatchObject({ code: 'ERR_LIMIT_EXCEEDED', details: { limit: 'pendingPerClientMax' } })
    // A retry of a pending command takes no new slot.
    const retry = leader.propose(enc.encode('c1-1'), { clientId: 'client1/s', seq: 1 })
    const c2 = [leader.propose(enc.encode('c2-1'), { clientId: 'client2/s', seq: 1 }), leader.propose(enc.encode('c2-2'), { clientId: 'client2/s', seq: 2 })]
    const own = [1, 2, 3].map(i => leader.propose(enc.encode(`own-${i}`)))
    await settle()
    deliver(g)
    await expect(c1[0]).rejects.toMatchObject({ code: 'ERR_INDEFINITE' }) // superseded by its retry
    await Promise.all([c1[1], retry, ...c2, ...own])
    // Settled: the client's slots are free again.
    const again = leader.propose(enc.encode('c1-3'), { clientId: 'client1/s', seq: 2 })
    deliver(g)
    await again
    // (Without a batch each proposal went to Raft at once: c1-1 was in the log before its retry, which
    // then applied as a duplicate.)
    expect(g.apps[1]!.items).toEqual(['c1-1', 'c1-2', 'c2-1', 'c2-2', 'own-1', 'own-2', 'own-3', 'c1-3'])
  })
})

describe('commit notices', () => {
  /** Three drivers whose loop runs only when the test says (as a live peer defers it to the next turn). */
  function deferred (): Group & { turn: () => void } {
    const wire: Message[] = []
    const sent: Message[] = []
    const apps = [new ListApp(), new ListApp(), new ListApp()]
    let due: Array<() => void> = []
    const drivers = apps.map((app, i) => new RaftDriver({
      id: i + 1, voters: [1, 2, 3], transport: { send: (ms) => { for (const m of ms) { wire.push(m); sent.push(m) } } }, application: app,
      storage: new MemoryDriverStorage(), clock: { now: () => 0 }, schedule: (fn) => { due.push(fn) }, rand: createRand(i + 1),
      clientId: `p${i + 1}/a`, log: createLogger('silent'), options: { electionTick: 5 }
    }))
    for (const d of drivers) d.start()
    /** One turn: the loops due run, then the messages they sent are delivered (their loops run next turn). */
    const turn = (): void => {
      const now = due
      due = []
      for (const fn of now) fn()
      for (const m of wire.splice(0)) drivers[m.to - 1]!.receive(m)
    }
    drivers[0]!.campaign()
    for (let n = 0; n < 50; n++) turn()
    return { drivers, apps, wire, sent, turn }
  }

  it('the leader\'s new commit index rides with the next turn\'s append; with no append to carry it, it goes alone one turn later', async () => {
    const g = deferred()
    const leader = g.drivers[0]!
    expect(leader.isLeader).toBe(true)
    const a = leader.applied + 1
    const pa = leader.propose(enc.encode('a'))
    for (let n = 0; n < 50 && leader.applied < a; n++) g.turn()
    expect(leader.applied).toBe(a)
    expect((await pa).index).toBe(a)
    // "a" is applied on the leader; its caller proposes "b" before the next turn. That turn sends one
    // append per follower with "b" and the commit of "a"; no append carried only the commit.
    g.sent.length = 0
    const pb = leader.propose(enc.encode('b'))
    g.turn()
    const toFollower = g.sent.filter(m => m.to === 2)
    expect(toFollower).toHaveLength(1)
    expect(toFollower[0]).toMatchObject({ type: 'append', commit: a })
    expect(toFollower[0]!.entries).toHaveLength(1)
    for (let n = 0; n < 50 && leader.applied < a + 1; n++) g.turn()
    expect((await pb).index).toBe(a + 1)
    // "b" is applied and nothing else is proposed: its commit goes alone in the next turn.
    g.sent.length = 0
    g.turn()
    expect(g.sent.filter(m => m.to === 2)).toMatchObject([{ type: 'append', entries: [], commit: a + 1 }])
    for (let n = 0; n < 10; n++) g.turn()
    for (const app of g.apps) expect(app.items).toEqual(['a', 'b'])
  })
})

describe('RaftNode.proposeBatch', () => {
  it('refuses more entries than one message holds', () => {
    const n = new RaftNode({ id: 1, storage: new MemoryDriverStorage().memory, rand: createRand(1), peers: { voters: [1] }, maxEntriesPerMsg: 3 })
    expect(() => n.proposeBatch([1, 2, 3, 4].map(i => enc.encode(String(i))))).toThrow(/at most 3 entries/)
  })
})
