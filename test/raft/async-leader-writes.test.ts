/**
 * The core's side of parallel leader writes (RaftConfig.asyncLeaderWrites, Ready.persistInParallel,
 * appendPersisted): which Readys may be sent before they are durable, and the leader counting itself
 * toward the quorum only for what it reported durable.
 */
import { describe, expect, it } from 'vitest'
import { createRand } from '../../src/base/prng.js'
import { MemoryStorage } from '../../protocols/raft/storage.js'
import { RaftNode } from '../../protocols/raft/raft.js'
import type { Message, Ready } from '../../protocols/raft/types.js'

const data = (s: string): Uint8Array => new TextEncoder().encode(s)

/** Node 1 of voters 1..3 elected leader by hand; returns it with its storage. Readys are persisted before advance unless said otherwise. */
function leader (asyncLeaderWrites: boolean): { n: RaftNode, st: MemoryStorage, out: Message[], take: (persist?: boolean) => Ready } {
  const st = new MemoryStorage()
  const n = new RaftNode({ id: 1, storage: st, rand: createRand(1), peers: { voters: [1, 2, 3] }, asyncLeaderWrites })
  const out: Message[] = []
  const take = (persist = true): Ready => {
    const rd = n.ready()
    if (persist || !rd.persistInParallel) { st.append(rd.entries); if (rd.hardState !== undefined) st.setHardState(rd.hardState) }
    out.push(...rd.messages)
    n.advance(rd)
    return rd
  }
  while (n.hasReady()) take()
  n.campaign()
  const campaign = take()
  expect(campaign.persistInParallel).toBe(false) // a new term and vote are synced before the votes leave
  n.step({ type: 'voteResp', from: 2, to: 1, term: n.status().term, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0 })
  expect(n.status().role).toBe('leader')
  return { n, st, out, take }
}

const ack = (n: RaftNode, from: number, index: number): void => {
  n.step({ type: 'appendResp', from, to: 1, term: n.status().term, logTerm: 0, index, entries: [], commit: 0, reject: false, rejectHint: 0 })
}

describe('asyncLeaderWrites in the core', () => {
  it('off (the default): no Ready is written in parallel and the leader counts itself at append', () => {
    const { n, take } = leader(false)
    const rd = take()
    expect(rd.persistInParallel).toBe(false)
    const last = n.status().lastIndex
    ack(n, 2, last)
    expect(n.status().commit).toBe(last) // leader + node 2
  })

  it('on: the leader\'s own entries may be sent first; one follower\'s ack commits nothing until the leader reports its write durable', () => {
    const { n, st, take } = leader(true)
    const noop = take(false)
    expect(noop.persistInParallel).toBe(true)
    expect(noop.entries).toHaveLength(1)
    expect(noop.messages.filter(m => m.type === 'append')).toHaveLength(2)
    const last = noop.entries[0]!.index
    ack(n, 2, last)
    expect(n.status().commit).toBeLessThan(last)
    st.append(noop.entries) // the write lands in storage, then the driver reports it
    n.appendPersisted(last, noop.entries[0]!.term)
    expect(n.status().commit).toBe(last)
  })

  it('on: two followers commit without the leader\'s write', () => {
    const { n, take } = leader(true)
    const noop = take(false)
    const last = noop.entries[0]!.index
    ack(n, 2, last)
    ack(n, 3, last)
    expect(n.status().commit).toBe(last)
  })

  it('entries handed out while being written are not handed out again; a later Ready carries only new ones', () => {
    const { n, take } = leader(true)
    const noop = take(false)
    expect(n.hasReady()).toBe(false)
    n.propose(data('a'))
    const rd = take(false)
    expect(rd.entries.map(e => e.index)).toEqual([noop.entries[0]!.index + 1])
    expect(rd.persistInParallel).toBe(true)
  })

  it('a report of a write whose entry was since replaced (or of another term) counts nothing', () => {
    const { n, st, take } = leader(true)
    const noop = take(false)
    const e = noop.entries[0]!
    st.append(noop.entries)
    ack(n, 2, e.index)
    n.appendPersisted(e.index, e.term + 5)
    expect(n.status().commit).toBeLessThan(e.index)
    expect(() => { n.appendPersisted(-1, e.term) }).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }))
    n.appendPersisted(e.index, e.term)
    expect(n.status().commit).toBe(e.index)
  })

  it('a follower\'s Ready is never written in parallel', () => {
    const st = new MemoryStorage()
    const f = new RaftNode({ id: 2, storage: st, rand: createRand(2), peers: { voters: [1, 2, 3] }, asyncLeaderWrites: true })
    while (f.hasReady()) { const rd = f.ready(); st.append(rd.entries); if (rd.hardState !== undefined) st.setHardState(rd.hardState); f.advance(rd) }
    f.step({ type: 'append', from: 1, to: 2, term: 2, logTerm: 1, index: 3, entries: [{ term: 2, index: 4, type: 'normal', data: data('x') }], commit: 3, reject: false, rejectHint: 0 })
    const rd = f.ready()
    expect(rd.entries).toHaveLength(1)
    expect(rd.mustSync).toBe(true)
    expect(rd.persistInParallel).toBe(false)
  })
})
