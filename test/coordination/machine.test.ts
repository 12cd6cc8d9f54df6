/**
 * The coordination state machine, applied through the mesh application as the Raft log applies it:
 * leases in log time, locks with fencing tokens and FIFO waiters, semaphores, elections, barriers, votes,
 * fenced strong writes, and snapshots that restore to the same state.
 */
import { describe, expect, it } from 'vitest'
import { MeshApplication, encodeCoordCommand } from '../../protocols/mesh/application.js'
import type { CoordEvent } from '../../protocols/coordination/types.js'

const enc = new TextEncoder()

/** A mesh application fed entries at increasing indexes with explicit proposal stamps. */
function harness (app = new MeshApplication()) {
  let index = 0
  const events: CoordEvent[] = []
  app.onCoordination(m => m.on('coord:event', e => { events.push(e) }))
  const run = (origin: string, cmd: Record<string, unknown>, at: number): any => app.apply(encodeCoordCommand(cmd), ++index, { origin, at })
  const strong = (origin: string, cmd: Record<string, unknown>, at: number): any => app.apply(enc.encode(JSON.stringify(cmd)), ++index, { origin, at })
  return { app, run, strong, events, get index () { return index } }
}

describe('leases', () => {
  it('expire in log time unless kept alive, one keepalive renewing every lease of a peer', () => {
    const h = harness()
    const a = h.run('A', { t: 'lease.grant', ttlMs: 1000 }, 100)
    const b = h.run('A', { t: 'lease.grant', ttlMs: 2000 }, 100)
    expect(a).toMatchObject({ ok: true, lease: 1, expiresAt: 1100 })
    expect(b).toMatchObject({ ok: true, lease: 2, expiresAt: 2100 })
    expect(h.run('A', { t: 'lease.keepalive', n: 2 }, 900)).toMatchObject({ ok: true, renewed: 2, expiresAt: 1900 })
    h.run('B', { t: 'tick' }, 1899)
    expect(h.app.coordination.lease(1)).toBeDefined()
    h.run('B', { t: 'tick' }, 1900)
    expect(h.app.coordination.lease(1)).toBeUndefined()
    expect(h.app.coordination.lease(2)).toBeDefined()
    expect(h.events.filter(e => e.type === 'lease:expired').map(e => (e as { lease: number }).lease)).toEqual([1])
    // The peer believes it has 2 leases: the answer lists the one left.
    expect(h.run('A', { t: 'lease.keepalive', n: 2 }, 2000)).toMatchObject({ renewed: 1, leases: [2] })
  })

  it('an epoch gives every lease a full TTL from now (a new leader does not expire leases it could not renew)', () => {
    const h = harness()
    h.run('A', { t: 'lease.grant', ttlMs: 1000 }, 0)
    h.run('L', { t: 'epoch' }, 900)
    h.run('L', { t: 'tick' }, 1500)
    expect(h.app.coordination.lease(1)?.expiresAt).toBe(1900)
  })

  it('only the owner revokes; revoking all ends every lease of the origin', () => {
    const h = harness()
    h.run('A', { t: 'lease.grant', ttlMs: 1000 }, 0)
    h.run('A', { t: 'lease.grant', ttlMs: 1000 }, 0)
    expect(h.run('B', { t: 'lease.revoke', lease: 1 }, 0)).toMatchObject({ ok: false, code: 'ERR_NOT_OWNER' })
    expect(h.run('A', { t: 'lease.revoke', lease: 'all' }, 0)).toMatchObject({ ok: true, revoked: 2 })
    expect(h.app.coordination.leaseCount).toBe(0)
  })

  it('refuses malformed commands with named codes', () => {
    const h = harness()
    expect(h.run('A', { t: 'lease.grant', ttlMs: 10 }, 0)).toMatchObject({ ok: false, code: 'ERR_INVALID_COMMAND' })
    expect(h.run('A', { t: 'nope' }, 0)).toMatchObject({ ok: false, code: 'ERR_INVALID_COMMAND' })
    expect(h.run('A', { t: 'lock.acquire', name: 'bad name!', lease: 1 }, 0)).toMatchObject({ ok: false, code: 'ERR_INVALID_COMMAND' })
    expect(h.run('A', { t: 'barrier.arrive', name: 'b', parties: 2, agent: '__proto__', lease: 1, timeoutMs: 10 }, 0)).toMatchObject({ ok: false, code: 'ERR_INVALID_COMMAND' })
    expect(h.app.check(encodeCoordCommand({ t: 'lease.grant', ttlMs: 'x' }))).toMatchObject({ code: 'ERR_INVALID_COMMAND' })
    expect(h.app.check(encodeCoordCommand({ t: 'lease.grant', ttlMs: 1000 }))).toBeUndefined()
  })
})

describe('locks', () => {
  it('grants FIFO, one waiter per release, with strictly increasing tokens', () => {
    const h = harness()
    for (const p of ['A', 'B', 'C']) h.run(p, { t: 'lease.grant', ttlMs: 10_000 }, 0)
    const a = h.run('A', { t: 'lock.acquire', name: 'x', lease: 1 }, 0)
    expect(a).toMatchObject({ granted: true, token: 4 })
    expect(h.run('B', { t: 'lock.acquire', name: 'x', lease: 2, wait: true }, 0)).toMatchObject({ granted: false, ticket: 5, position: 1 })
    expect(h.run('C', { t: 'lock.acquire', name: 'x', lease: 3, wait: true }, 0)).toMatchObject({ granted: false, position: 2 })
    expect(h.run('C', { t: 'lock.acquire', name: 'x', lease: 3 }, 0)).toMatchObject({ granted: false, again: true })
    expect(h.run('B', { t: 'lock.release', name: 'x', token: 4 }, 0)).toMatchObject({ ok: false, code: 'ERR_NOT_OWNER' })
    h.run('A', { t: 'lock.release', name: 'x', token: 4 }, 0)
    const view = h.app.coordination.lock('lock', 'x')!
    expect(view.holders.map(x => [x.owner, x.token])).toEqual([['B', 9]])
    expect(view.waiters.map(w => w.owner)).toEqual(['C'])
    // tryLock on a held lock: not granted, not queued.
    h.run('A', { t: 'lease.grant', ttlMs: 10_000 }, 0)
    expect(h.run('A', { t: 'lock.acquire', name: 'x', lease: 10 }, 0)).toMatchObject({ granted: false, holder: { owner: 'B' } })
    expect(h.app.coordination.lock('lock', 'x')!.waiters).toHaveLength(1)
  })

  it('a holder whose lease expires frees the lock for the next waiter; two grants in one entry still get increasing tokens', () => {
    const h = harness()
    h.run('A', { t: 'lease.grant', ttlMs: 1000 }, 0) // 1
    h.run('B', { t: 'lease.grant', ttlMs: 5000 }, 0) // 2
    h.run('C', { t: 'lease.grant', ttlMs: 5000 }, 0) // 3
    h.run('A', { t: 'lock.acquire', name: 'x', lease: 1 }, 0) // 4: token 4
    h.run('B', { t: 'lock.acquire', name: 'x', lease: 2, wait: true }, 0)
    h.run('C', { t: 'lock.acquire', name: 'x', lease: 3, wait: true }, 0)
    // Entry 7 expires A's lease (B gets token 7), then B revokes its lease (C gets 8, not 7 again).
    h.run('B', { t: 'lease.revoke', lease: 2 }, 1000)
    const acquired = h.events.filter(e => e.type === 'lock:acquired').map(e => [(e as { owner: string }).owner, (e as { token: number }).token])
    expect(acquired).toEqual([['A', 4], ['B', 7], ['C', 8]])
  })

  it('a waiter that waited past waitMs times out in log time', () => {
    const h = harness()
    h.run('A', { t: 'lease.grant', ttlMs: 10_000 }, 0)
    h.run('B', { t: 'lease.grant', ttlMs: 10_000 }, 0)
    h.run('A', { t: 'lock.acquire', name: 'x', lease: 1 }, 0)
    h.run('B', { t: 'lock.acquire', name: 'x', lease: 2, wait: true, waitMs: 500 }, 100)
    expect(h.app.coordination.nextDeadline()).toBe(600)
    h.run('A', { t: 'tick' }, 600)
    expect(h.events.some(e => e.type === 'lock:timeout')).toBe(true)
    expect(h.app.coordination.lock('lock', 'x')!.waiters).toHaveLength(0)
  })

  it('a semaphore admits `permits` holders', () => {
    const h = harness()
    for (const p of ['A', 'B', 'C']) h.run(p, { t: 'lease.grant', ttlMs: 10_000 }, 0)
    expect(h.run('A', { t: 'lock.acquire', name: 's', lease: 1, permits: 2 }, 0)).toMatchObject({ granted: true })
    expect(h.run('B', { t: 'lock.acquire', name: 's', lease: 2, permits: 2 }, 0)).toMatchObject({ granted: true })
    expect(h.run('C', { t: 'lock.acquire', name: 's', lease: 3, permits: 2 }, 0)).toMatchObject({ granted: false })
    expect(h.run('C', { t: 'lock.acquire', name: 's', lease: 3, permits: 3 }, 0)).toMatchObject({ ok: false, code: 'ERR_PERMITS_MISMATCH' })
  })
})

describe('fencing', () => {
  it('refuses a strong write under a token older than the lock newest', () => {
    const h = harness()
    h.run('A', { t: 'lease.grant', ttlMs: 1000 }, 0)
    h.run('B', { t: 'lease.grant', ttlMs: 10_000 }, 0)
    const t1 = h.run('A', { t: 'lock.acquire', name: 'x', lease: 1 }, 0).token
    expect(h.strong('A', { op: 'set', name: 'v', value: '1', fence: { lock: 'x', token: t1 } }, 0)).toMatchObject({ ok: true })
    h.run('B', { t: 'lock.acquire', name: 'x', lease: 2, wait: true }, 0)
    h.run('B', { t: 'tick' }, 2000) // A's lease expires: B holds x under a newer token
    expect(h.strong('A', { op: 'set', name: 'v', value: '2', fence: { lock: 'x', token: t1 } }, 2000)).toMatchObject({ error: { code: 'ERR_FENCED' } })
    expect(h.app.strong.get('v')).toBe('1')
    const t2 = h.app.coordination.lock('lock', 'x')!.holders[0]!.token
    expect(h.strong('B', { op: 'set', name: 'v', value: '3', fence: { lock: 'x', token: t2 } }, 2000)).toMatchObject({ ok: true })
    expect(h.strong('B', { op: 'set', name: 'v', value: '3', fence: { lock: 'x', token: 'x' } }, 2000)).toMatchObject({ error: { code: 'ERR_INVALID_VARIABLE' } })
  })
})

describe('elections', () => {
  it('the first candidate leads; the next leads when the leader resigns or its lease ends', () => {
    const h = harness()
    h.run('A', { t: 'lease.grant', ttlMs: 1000 }, 0)
    h.run('B', { t: 'lease.grant', ttlMs: 10_000 }, 0)
    const a = h.run('A', { t: 'lock.acquire', kind: 'election', name: 'team', lease: 1, wait: true, value: '"a"' }, 0)
    expect(a).toMatchObject({ granted: true })
    h.run('B', { t: 'lock.acquire', kind: 'election', name: 'team', lease: 2, wait: true, value: '"b"' }, 0)
    expect(h.run('A', { t: 'election.proclaim', name: 'team', token: a.token, value: '"a2"' }, 0)).toMatchObject({ ok: true })
    expect(h.app.coordination.lock('election', 'team')!.holders[0]!.value).toBe('a2')
    h.run('B', { t: 'tick' }, 1000)
    const leader = h.app.coordination.lock('election', 'team')!.holders[0]!
    expect(leader).toMatchObject({ owner: 'B', value: 'b' })
    expect(leader.token).toBeGreaterThan(a.token)
    // An election and a lock of the same name are different things.
    expect(h.app.coordination.lock('lock', 'team')).toBeUndefined()
  })
})

describe('barriers', () => {
  it('releases a generation when all parties arrived, then starts the next', () => {
    const h = harness()
    h.run('A', { t: 'lease.grant', ttlMs: 10_000 }, 0)
    h.run('B', { t: 'lease.grant', ttlMs: 10_000 }, 0)
    expect(h.run('A', { t: 'barrier.arrive', name: 'b', parties: 3, agent: 'a1', lease: 1, timeoutMs: 5000 }, 0)).toMatchObject({ generation: 1, arrived: 1, released: false })
    expect(h.run('A', { t: 'barrier.arrive', name: 'b', parties: 2, agent: 'a2', lease: 1, timeoutMs: 5000 }, 0)).toMatchObject({ ok: false, code: 'ERR_BARRIER_MISMATCH' })
    h.run('A', { t: 'barrier.arrive', name: 'b', parties: 3, agent: 'a2', lease: 1, timeoutMs: 5000 }, 0)
    expect(h.run('B', { t: 'barrier.arrive', name: 'b', parties: 3, agent: 'b1', lease: 2, timeoutMs: 5000 }, 0)).toMatchObject({ generation: 1, released: true })
    expect(h.app.coordination.barrier('b')).toMatchObject({ generation: 2, arrived: [], history: [{ generation: 1, status: 'released' }] })
  })

  it('breaks a generation when a participant lease expires or the timeout passes', () => {
    const h = harness()
    h.run('A', { t: 'lease.grant', ttlMs: 1000 }, 0)
    h.run('B', { t: 'lease.grant', ttlMs: 100_000 }, 0)
    h.run('A', { t: 'barrier.arrive', name: 'b', parties: 3, agent: 'a1', lease: 1, timeoutMs: 50_000 }, 0)
    h.run('B', { t: 'barrier.arrive', name: 'b', parties: 3, agent: 'b1', lease: 2, timeoutMs: 50_000 }, 0)
    h.run('B', { t: 'tick' }, 1000)
    expect(h.app.coordination.barrier('b')!.history[0]).toMatchObject({ generation: 1, status: 'broken', arrivals: ['a1', 'b1'] })
    h.run('B', { t: 'barrier.arrive', name: 'b', parties: 2, agent: 'b1', lease: 2, timeoutMs: 500 }, 2000)
    h.run('B', { t: 'tick' }, 2500)
    expect(h.app.coordination.barrier('b')!.history[1]).toMatchObject({ generation: 2, status: 'broken', reason: 'timeout' })
  })
})

describe('votes', () => {
  const voters = [{ agent: 'v1', host: 'A' }, { agent: 'v2', host: 'B' }, { agent: 'v3', host: 'C' }]
  it('decides by majority once, and never changes', () => {
    const h = harness()
    const v = h.run('O', { t: 'vote.open', options: ['yes', 'no'], voters, rule: { kind: 'majority' }, deadlineMs: 1000 }, 0).vote
    expect(h.run('B', { t: 'vote.ballot', vote: v, agent: 'v1', choice: 'yes' }, 0)).toMatchObject({ ok: false, code: 'ERR_NOT_OWNER' })
    h.run('A', { t: 'vote.ballot', vote: v, agent: 'v1', choice: 'yes' }, 0)
    expect(h.run('A', { t: 'vote.ballot', vote: v, agent: 'v1', choice: 'no' }, 0)).toMatchObject({ ok: false, code: 'ERR_ALREADY_VOTED' })
    const r = h.run('B', { t: 'vote.ballot', vote: v, agent: 'v2', choice: 'yes' }, 0)
    expect(r.decided).toMatchObject({ status: 'decided', outcome: 'yes', reason: 'threshold', tally: [['yes', 2], ['no', 0]] })
    expect(h.run('C', { t: 'vote.ballot', vote: v, agent: 'v3', choice: 'no' }, 0)).toMatchObject({ ok: false, code: 'ERR_VOTE_CLOSED' })
    expect(h.events.filter(e => e.type === 'vote:decided')).toHaveLength(1)
  })

  it('fails at the deadline without a majority; unanimity fails as soon as two options are chosen', () => {
    const h = harness()
    const v = h.run('O', { t: 'vote.open', options: ['yes', 'no'], voters, rule: { kind: 'majority' }, deadlineMs: 1000 }, 0).vote
    h.run('A', { t: 'vote.ballot', vote: v, agent: 'v1', choice: 'yes' }, 0)
    h.run('O', { t: 'tick' }, 1000)
    expect(h.app.coordination.vote(v)!.decided).toMatchObject({ status: 'failed', outcome: null, reason: 'deadline' })
    const u = h.run('O', { t: 'vote.open', options: ['yes', 'no'], voters, rule: { kind: 'unanimous' }, deadlineMs: 1000 }, 2000).vote
    h.run('A', { t: 'vote.ballot', vote: u, agent: 'v1', choice: 'yes' }, 2000)
    h.run('B', { t: 'vote.ballot', vote: u, agent: 'v2', choice: 'no' }, 2000)
    expect(h.app.coordination.vote(u)!.decided).toMatchObject({ status: 'failed', reason: 'unreachable' })
  })

  it('weighs ballots by reputation under the weighted rule', () => {
    const h = harness()
    // Without an economy every agent weighs the initial reputation: the weights are equal.
    const v = h.run('O', { t: 'vote.open', options: ['a', 'b'], voters, rule: { kind: 'weighted' }, deadlineMs: 1000 }, 0)
    expect(new Set(v.voters.map((x: { weight: number }) => x.weight)).size).toBe(1)
    expect(v.voters[0].weight).toBeGreaterThan(1)
  })
})

describe('snapshots', () => {
  it('restore to the same state and deadlines', () => {
    const h = harness()
    h.run('A', { t: 'lease.grant', ttlMs: 1000 }, 10)
    h.run('B', { t: 'lease.grant', ttlMs: 5000 }, 10)
    h.run('A', { t: 'lock.acquire', name: 'x', lease: 1 }, 10)
    h.run('B', { t: 'lock.acquire', name: 'x', lease: 2, wait: true, waitMs: 3000 }, 10)
    h.run('B', { t: 'barrier.arrive', name: 'b', parties: 2, agent: 'b1', lease: 2, timeoutMs: 4000 }, 10)
    h.run('O', { t: 'vote.open', options: ['a', 'b'], voters: [{ agent: 'v', host: 'A' }], rule: { kind: 'majority' }, deadlineMs: 2000 }, 10)
    const snap = h.app.snapshot()
    const copy = new MeshApplication()
    copy.restore(snap)
    expect(copy.snapshot()).toEqual(snap)
    const h2 = harness(copy)
    // Same future on both: A's lease expires at 1010, B then holds x.
    for (const x of [h, h2]) x.app.apply(encodeCoordCommand({ t: 'tick' }), 100, { origin: 'O', at: 1010 })
    expect(copy.coordination.lock('lock', 'x')!.holders[0]!.owner).toBe('B')
    expect(copy.snapshot()).toEqual(h.app.snapshot())
    expect(() => { copy.restore(new Uint8Array([4, 2, 0x5b, 0x5d, 0, 0, 3, 0x6e, 0x6f, 0x70])) }).toThrow(expect.objectContaining({ code: 'ERR_DECODE' }))
  })
})
