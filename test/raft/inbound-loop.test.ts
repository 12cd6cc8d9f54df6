/**
 * The driver's `scheduleSoon` (a live peer runs the Ready loop at once for an inbound message or the end
 * of the leader's own write, while proposals still wait for the deferred run that batches a turn): the
 * loop runs without the deferred scheduler, and the Ready contract still holds. A follower starts its
 * write as the append is received, and acknowledges only once that write is durable; a leader commits,
 * applies and resolves its proposer as the acknowledgement is received.
 */
import { describe, expect, it } from 'vitest'
import { MemoryDriverStorage, RaftDriver } from '../../protocols/raft/driver.js'
import { encodeEnvelope } from '../../protocols/raft/envelope.js'
import type { Entry, Message, Ready } from '../../protocols/raft/types.js'
import { createLogger } from '../../src/base/log.js'
import { createRand } from '../../src/base/prng.js'
import { ListApp } from '../helpers/list-app.js'

const enc = new TextEncoder()
const flush = async (): Promise<void> => { for (let i = 0; i < 5; i++) await Promise.resolve() }

/** Memory storage whose saves (of entries) wait until the test releases them, in order. */
class HeldStorage extends MemoryDriverStorage {
  readonly saves: Ready[] = []
  private readonly waiting: Array<() => void> = []
  override save (rd: Ready): void | Promise<void> {
    if (rd.entries.length === 0) { super.save(rd); return }
    this.saves.push(rd)
    return new Promise((resolve) => { this.waiting.push(() => { super.save(rd); resolve() }) })
  }

  release (): void { this.waiting.shift()?.() }
  get held (): number { return this.waiting.length }
}

/** Driver `id` of voters 1..3, its bootstrap written (the log holds the 3 membership entries). */
async function node (id: number): Promise<{ d: RaftDriver, storage: HeldStorage, sent: Message[], deferred: Array<() => void> }> {
  const storage = new HeldStorage()
  const sent: Message[] = []
  const deferred: Array<() => void> = []
  const d = new RaftDriver({
    id,
    voters: [1, 2, 3],
    transport: { send: (ms) => { sent.push(...ms) } },
    application: new ListApp(),
    storage,
    clock: { now: () => 0 },
    // The deferred run never happens unless the test runs it: what follows must not need it.
    schedule: (fn) => { deferred.push(fn) },
    scheduleSoon: (fn) => { fn() },
    rand: createRand(id),
    clientId: `p${id}/a`,
    log: createLogger('silent'),
    options: { asyncLeaderWrites: true, preVote: false }
  })
  d.start()
  while (deferred.length > 0) deferred.shift()!()
  while (storage.held > 0) { storage.release(); await flush() }
  storage.saves.length = 0
  sent.length = 0
  return { d, storage, sent, deferred }
}

const msg = (m: Partial<Message> & Pick<Message, 'type' | 'from' | 'to' | 'term'>): Message =>
  ({ logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, ...m })

describe('the Ready loop run at once for inbound messages (scheduleSoon)', () => {
  it('a follower writes an append as it is received and acknowledges it only once the write is durable', async () => {
    const { d, storage, sent, deferred } = await node(2)
    const base = d.status().lastIndex
    const at = base + 1
    const entry: Entry = { term: 1, index: at, type: 'normal', data: encodeEnvelope({ clientId: 'p1/a', seq: 1, at: 0, command: enc.encode('x') }) }
    d.receive(msg({ type: 'append', from: 1, to: 2, term: 1, logTerm: 1, index: base, entries: [entry] }))
    // The write started in receive itself, not at a deferred run.
    expect(storage.saves).toHaveLength(1)
    expect(storage.saves[0]!.entries.map(e => e.index)).toEqual([at])
    await flush()
    // Not acknowledged while the write is in flight (the unsafe order would send here).
    expect(sent.filter(m => m.type === 'appendResp')).toEqual([])
    // A second append arriving meanwhile waits for the first write (writes stay in order).
    const entry2: Entry = { ...entry, index: at + 1, data: encodeEnvelope({ clientId: 'p1/a', seq: 2, at: 0, command: enc.encode('y') }) }
    d.receive(msg({ type: 'append', from: 1, to: 2, term: 1, logTerm: 1, index: at, entries: [entry2] }))
    expect(storage.saves).toHaveLength(1)
    storage.release()
    await flush()
    const acks = sent.filter(m => m.type === 'appendResp' && !m.reject)
    expect(acks.map(m => m.index)).toEqual([at])
    // The first write done, the second starts at once, and is acknowledged only once it is done.
    expect(storage.saves).toHaveLength(2)
    expect(storage.memory.lastIndex()).toBe(at)
    expect(sent.filter(m => m.type === 'appendResp' && !m.reject).map(m => m.index)).toEqual([at])
    storage.release()
    await flush()
    expect(sent.filter(m => m.type === 'appendResp' && !m.reject).map(m => m.index)).toEqual([at, at + 1])
    expect(storage.memory.lastIndex()).toBe(at + 1)
    void deferred // never run: none of this needed the deferred scheduler
  })

  it('a leader commits, applies and resolves its proposer as the acknowledgement arrives, and not before its own write is durable', async () => {
    const { d, storage, sent, deferred } = await node(1)
    d.campaign()
    while (deferred.length > 0) deferred.shift()!()
    const term = d.status().term
    d.receive(msg({ type: 'voteResp', from: 2, to: 1, term }))
    expect(d.isLeader).toBe(true)
    // The leader's empty entry of its term: written in parallel; acknowledged by 2.
    storage.release()
    await flush()
    d.receive(msg({ type: 'appendResp', from: 2, to: 1, term, index: d.status().lastIndex }))
    await flush()
    const before = d.applied
    let result: { index: number } | undefined
    void d.propose(enc.encode('cmd')).then((r) => { result = r })
    // The proposal waits for the deferred run (a turn's proposals are batched), even when an inbound
    // message runs the loop meanwhile.
    d.receive(msg({ type: 'appendResp', from: 3, to: 1, term, index: d.status().commit }))
    expect(storage.held).toBe(0)
    expect(sent.some(m => m.type === 'append' && m.entries.some(e => e.index > d.status().commit))).toBe(false)
    while (deferred.length > 0) deferred.shift()!()
    const index = d.status().lastIndex
    expect(sent.some(m => m.type === 'append' && m.entries.some(e => e.index === index))).toBe(true)
    expect(storage.held).toBe(1)
    // The follower's acknowledgement first: no commit while the leader's own write is in flight.
    d.receive(msg({ type: 'appendResp', from: 2, to: 1, term, index }))
    await flush()
    expect(d.status().commit).toBeLessThan(index)
    expect(result).toBeUndefined()
    // The leader's write durable: it commits, applies and resolves without a deferred run.
    storage.release()
    await flush()
    expect(d.status().commit).toBe(index)
    expect(d.applied).toBeGreaterThan(before)
    expect(result?.index).toBe(index)
  })

  it('a follower applies the commit its leader sent with the next entries while their write runs, and nothing that write holds', async () => {
    const { d, storage, sent } = await node(2)
    const base = d.status().lastIndex
    const at = base + 1
    const entry = (index: number, seq: number): Entry => ({ term: 1, index, type: 'normal', data: encodeEnvelope({ clientId: 'p1/a', seq, at: 0, command: enc.encode(`c${seq}`) }) })
    d.receive(msg({ type: 'append', from: 1, to: 2, term: 1, logTerm: 1, index: base, entries: [entry(at, 1)], commit: base }))
    storage.release()
    await flush()
    expect(d.applied).toBeLessThan(at)
    // The next append carries the commit of `at` (durable since the write above) and a new entry.
    d.receive(msg({ type: 'append', from: 1, to: 2, term: 1, logTerm: 1, index: at, entries: [entry(at + 1, 2)], commit: at }))
    expect(storage.held).toBe(1)
    // Applied while the write of at + 1 runs (before this change: only after that write), which is not
    // acknowledged yet.
    expect(d.applied).toBe(at)
    expect(sent.filter(m => m.type === 'appendResp' && !m.reject).map(m => m.index)).toEqual([at])
    // A commit that covers entries of the write in flight waits for that write.
    storage.release()
    await flush()
    d.receive(msg({ type: 'append', from: 1, to: 2, term: 1, logTerm: 1, index: at + 1, entries: [entry(at + 2, 3)], commit: at + 2 }))
    expect(storage.held).toBe(1)
    expect(d.applied).toBe(at + 1)
    expect(sent.filter(m => m.type === 'appendResp' && !m.reject).map(m => m.index)).toEqual([at, at + 1])
    storage.release()
    await flush()
    expect(d.applied).toBe(at + 2)
    expect(sent.filter(m => m.type === 'appendResp' && !m.reject).map(m => m.index)).toEqual([at, at + 1, at + 2])
    expect(d.stats.appliedWhileWriting).toBe(2)
  })
})
