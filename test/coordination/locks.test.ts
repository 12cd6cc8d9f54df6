/**
 * Locks and semaphores over TCP (C1), with 3 and 5 voters and client peers: a semaphore of 2 permits
 * used from 3 peers never has more than 2 holders (in the process and in the replica's log order);
 * `tryLock` returns null while the lock is held and a bounded wait fails with ERR_LOCK_TIMEOUT; a
 * graceful peer stop frees its locks at once (its leases revoked), a crash only once its lease expired.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { LiveMesh } from '../../sim/live.js'
import type { Peer } from '../../peers/peer.js'
import type { LockHandle } from '../../peers/coordination/service.js'
import { LockTimeoutError } from '../../peers/coordination/errors.js'
import type { CoordEvent, LeaseView } from '../../protocols/coordination/types.js'
import { VOTER_COUNTS, codeOf, coordMesh, followerIndex, recordEvents, waitWaiters } from './harness.js'

let mesh: LiveMesh | undefined
afterEach(async () => { await mesh?.stop(); mesh = undefined })

/** Lease `id` as the group holds it (a linearizable read through member `p`). */
async function leaseView (p: Peer, id: number): Promise<LeaseView | undefined> {
  await p.raft!.readBarrier()
  const raw = p.raft!.app!.read(`coord:lease:${id}`)
  return raw === undefined ? undefined : JSON.parse(raw) as LeaseView
}

type LockEvent = Extract<CoordEvent, { type: 'lock:acquired' | 'election:elected' }> | Extract<CoordEvent, { type: 'lock:released' | 'election:ended' }>
function lockEvents (events: CoordEvent[], name: string): LockEvent[] {
  return events.filter((e): e is LockEvent => (e.type === 'lock:acquired' || e.type === 'lock:released') && e.name === name)
}

describe.each(VOTER_COUNTS)('semaphores (%i voters)', (voters) => {
  it('a semaphore of 2 permits across 3 peers never has more than 2 holders', async () => {
    mesh = await coordMesh(voters, 1)
    const m = mesh
    const watcher = m.leader()!
    const { events, stop } = recordEvents(m.peers[watcher]!)
    const f1 = followerIndex(m, voters)
    const users = [f1, followerIndex(m, voters, [f1]), voters]
    const sem = (i: number): ReturnType<Peer['coordination']['semaphore']> => m.peers[users[i]!]!.coordination.semaphore('gpus', { permits: 2 })

    // Two holders at once; a third is refused by tryAcquire and queues with acquire.
    const h0 = await sem(0).acquire()
    const h1 = await sem(1).acquire()
    expect(await sem(2).tryAcquire()).toBeNull()
    const third = sem(2).acquire({ waitMs: 30_000 })
    third.catch(() => {})
    await waitWaiters(m.peers[users[0]!]!, 'gpus', 1)
    const state = await m.peers[users[2]!]!.coordination.lockState('gpus')
    expect(state?.holders.map(h => h.owner).sort()).toEqual([m.peers[users[0]!]!.id, m.peers[users[1]!]!.id].sort())
    expect(state?.waiters.map(w => w.owner)).toEqual([m.peers[users[2]!]!.id])
    await h0.release()
    const h2 = await third
    expect(h2.token).toBeGreaterThan(Math.max(h0.token, h1.token))
    await Promise.all([h1.release(), h2.release()])

    // Churn: each peer takes a permit five times; the process never sees three holders.
    let inside = 0
    let most = 0
    await Promise.all(users.map(async (_, i) => {
      for (let k = 0; k < 5; k++) {
        const h: LockHandle = await sem(i).acquire({ waitMs: 30_000 })
        inside++
        most = Math.max(most, inside)
        await new Promise(resolve => setImmediate(resolve))
        inside--
        await h.release()
      }
    }))
    expect(most).toBeLessThanOrEqual(2)

    // The replica's log order: at most 2 holders after every grant, and tokens strictly increasing.
    await m.peers[watcher]!.raft!.readBarrier()
    stop()
    const log = lockEvents(events, 'gpus')
    let holders = 0
    let peak = 0
    let lastToken = 0
    for (const e of log) {
      if (e.type === 'lock:acquired') {
        holders++
        expect(e.token).toBeGreaterThan(lastToken)
        lastToken = e.token
      } else {
        holders--
      }
      peak = Math.max(peak, holders)
      expect(holders).toBeLessThanOrEqual(2)
    }
    expect(peak).toBe(2)
    expect(log.filter(e => e.type === 'lock:acquired')).toHaveLength(3 + 3 * 5)
    expect(holders).toBe(0)
  })
})

describe.each(VOTER_COUNTS)('locks (%i voters)', (voters) => {
  it('tryLock returns null while the lock is held; a wait bounded by waitMs fails with ERR_LOCK_TIMEOUT', async () => {
    mesh = await coordMesh(voters, 1)
    const m = mesh
    const holder = m.peers[voters]!
    const other = m.peers[followerIndex(m, voters)]!
    const lock = await holder.coordination.lock('db')
    expect(await other.coordination.tryLock('db')).toBeNull()
    const timedOut = other.coordination.lock('db', { waitMs: 1000 })
    await expect(timedOut).rejects.toBeInstanceOf(LockTimeoutError)
    expect(await codeOf(timedOut)).toBe('ERR_LOCK_TIMEOUT')
    // The timed-out waiter left the queue; the holder still holds.
    const state = await other.coordination.lockState('db')
    expect(state?.waiters).toEqual([])
    expect(state?.holders.map(h => h.token)).toEqual([lock.token])
    await lock.release()
    const next = await other.coordination.tryLock('db')
    expect(next?.token).toBeGreaterThan(lock.token)
    await next!.release()
  })

  it('a graceful stop frees the peer\'s locks at once (revoked); a crash frees them once the lease expired', async () => {
    mesh = await coordMesh(voters, 2)
    const m = mesh
    const watcher = m.leader()!
    const { events, stop } = recordEvents(m.peers[watcher]!)
    const graceful = voters
    const crashed = followerIndex(m, voters)
    const waiter = m.peers[voters + 1]!

    // Graceful: two locks under leases of 30 s; the waiters get them long before those leases could expire.
    const held = [await m.peers[graceful]!.coordination.lock('g1', { ttlMs: 30_000 }), await m.peers[graceful]!.coordination.lock('g2', { ttlMs: 30_000 })]
    const waits = ['g1', 'g2'].map(name => waiter.coordination.lock(name, { waitMs: 60_000 }).then(h => ({ h, at: Date.now() })))
    for (const w of waits) w.catch(() => {})
    await waitWaiters(waiter, 'g1', 1)
    await waitWaiters(waiter, 'g2', 1)
    const expiresBefore = Math.min(...await Promise.all(held.map(async h => (await leaseView(m.peers[watcher]!, h.lease))!.expiresAt)))
    await m.peers[graceful]!.stop()
    for (const w of await Promise.all(waits)) {
      // Log time is the proposers' clocks, this process's: granted before the leases' expiry.
      expect(w.at).toBeLessThan(expiresBefore)
      await w.h.release()
    }
    expect(held.every(h => h.signal.aborted)).toBe(true)

    // Crash: a lease of 2 s; the waiter gets the lock only once the group expired it.
    const lock = await m.peers[crashed]!.coordination.lock('c', { ttlMs: 2000 })
    const wait = waiter.coordination.lock('c', { waitMs: 60_000 }).then(h => ({ h, at: Date.now() }))
    wait.catch(() => {})
    await waitWaiters(waiter, 'c', 1)
    // Read before the crash: renewals can only move the expiry later.
    const expiresAt = (await leaseView(m.peers[watcher]!, lock.lease))!.expiresAt
    await m.crash(crashed)
    const got = await wait
    expect(got.at).toBeGreaterThanOrEqual(expiresAt)
    expect(got.h.token).toBeGreaterThan(lock.token)
    await got.h.release()

    await m.peers[watcher]!.raft!.readBarrier()
    stop()
    const ended = (name: string): string | undefined => {
      const e = lockEvents(events, name).find(x => x.type === 'lock:released')
      return e !== undefined && 'reason' in e ? e.reason : undefined
    }
    expect([ended('g1'), ended('g2'), ended('c')]).toEqual(['lease-revoked', 'lease-revoked', 'lease-expired'])
  })
})
