/**
 * `peer.coordination` (peers/coordination/service.ts) against a coordination machine in this process: a
 * backend that applies every command at once, and that can be taken down (no leader) and brought back.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { AgoraError } from '../../src/base/errors.js'
import { createLogger } from '../../src/base/log.js'
import { PeerCoordination } from '../../peers/coordination/service.js'
import type { CoordBackend, Lease } from '../../peers/coordination/service.js'
import { encodeCoordCommand } from '../../protocols/mesh/application.js'
import { CoordinationMachine, LEASE_PAGE, decodeCoordCommand } from '../../protocols/coordination/machine.js'
import { waitUntil } from '../helpers/wait.js'

const SELF = 'peer-self'

/**
 * A group of one replica in this process. A proposal is stamped when it is made (as a Raft driver stamps
 * its envelope); while `hold()` is on (no leader) proposals wait, and `release()` commits them in order
 * with their stamps, as a new leader commits what was pending; while `refuse` is true every proposal
 * fails at once (dropped: it never applies).
 */
function group (): { machine: CoordinationMachine, backend: CoordBackend, hold: () => void, release: () => void, control: { refuse: boolean, loseAnswers: number } } {
  const machine = new CoordinationMachine()
  const control = { refuse: false, loseAnswers: 0 }
  let index = 0
  let held: Array<() => void> | undefined
  const backend: CoordBackend = {
    propose: async (command) => {
      const at = Date.now()
      if (control.refuse) throw new AgoraError('ERR_PROPOSAL_DROPPED', 'no leader')
      if (held !== undefined) await new Promise<void>(resolve => held!.push(resolve))
      const c = decodeCoordCommand(command)
      index++
      machine.advance(at, index)
      const result = 'ok' in c ? c : machine.apply(c, index, SELF)
      // Applied, but the answer never comes back (the leader was lost after committing it).
      if (control.loseAnswers > 0) { control.loseAnswers--; throw new AgoraError('ERR_INDEFINITE', 'the answer was lost') }
      return { index, result }
    },
    read: async (name) => machine.read(name),
    watch: async (name) => machine.read(name)
  }
  return {
    machine,
    backend,
    control,
    hold: () => { held = [] },
    release: () => { const waiting = held ?? []; held = undefined; for (const w of waiting) w() }
  }
}

let coord: PeerCoordination | undefined
afterEach(async () => { await coord?.stop({ revoke: false }); coord = undefined })

function service (backend: CoordBackend): PeerCoordination {
  const c = new PeerCoordination({ self: SELF, log: createLogger('silent', 'test'), lookup: () => undefined, query: () => ({ agents: [] }) })
  c.setBackend(backend)
  c.start()
  return c
}

describe('leases of peer.coordination', () => {
  it('a lease lost here while the group had no leader, but kept by the group, is revoked once the group is back (not renewed forever)', async () => {
    const g = group()
    coord = service(g.backend)
    // A long lease keeps the keepalives going (every 4000 / 3 ms, shorter than the short lease's TTL).
    await coord.grantLease({ ttlMs: 4000 })
    const short = await coord.grantLease({ ttlMs: 2000 })
    const held = await coord.lock('job', { lease: short })
    // No leader: the keepalive sent now waits, and the short lease's local deadline passes.
    g.hold()
    await waitUntil(() => short.lost, { what: 'the short lease lost here (not renewed in time)', timeoutMs: 10_000 })
    expect(held.signal.aborted).toBe(true)
    // A new leader commits the waiting keepalive with its stamp, from before the lease's expiry in the
    // group: the group renews the lease this peer has given up, and its lock stays held.
    g.release()
    await waitUntil(() => coord!.stats.keepalives > 0, 'the waiting keepalive committed')
    // A lease with a short TTL (a new lock's) makes the keepalives frequent: each renews the lost lease.
    await coord.grantLease({ ttlMs: 900 })
    // Every keepalive of the peer renews every lease it owns in the group: the lost one must be revoked,
    // or its lock is never free again while the peer runs.
    await waitUntil(() => g.machine.lease(short.id) === undefined, { what: 'the lost lease gone from the group', timeoutMs: 8000 })
    expect(g.machine.lock('lock', 'job')?.holders ?? []).toEqual([])
  })

  it('a lease granted in the group whose answer was lost (ERR_INDEFINITE) is found by the next keepalive and revoked', async () => {
    const g = group()
    coord = service(g.backend)
    const kept = await coord.grantLease({ ttlMs: 900 })
    g.control.loseAnswers = 1
    await expect(coord.grantLease({ ttlMs: 60_000 })).rejects.toMatchObject({ code: 'ERR_INDEFINITE' })
    const orphan = g.machine.leasesOf(SELF).find(id => id !== kept.id)!
    expect(orphan).toBeDefined()
    // Nobody here knows it: the group would renew it with every keepalive of this peer, forever.
    await waitUntil(() => g.machine.lease(orphan) === undefined, { what: 'the orphan lease revoked', timeoutMs: 8000 })
    expect(g.machine.leasesOf(SELF)).toEqual([kept.id])
    expect(kept.lost).toBe(false)
  })

  it('with more than a page of leases, one that ended in the group is lost here, and only that one', async () => {
    const g = group()
    coord = service(g.backend)
    const leases: Lease[] = []
    for (let i = 0; i < LEASE_PAGE + 200; i++) leases.push(await coord.grantLease({ ttlMs: 1500 }))
    const victim = leases[LEASE_PAGE + 100]!
    // The group ends it behind this peer's back (as an expiry the peer did not see coming).
    await g.backend.propose(encodeCoordCommand({ t: 'lease.revoke', lease: victim.id }))
    await waitUntil(() => victim.lost, { what: 'the ended lease lost here', timeoutMs: 8000 })
    await waitUntil(() => coord!.stats.keepalives >= 2, { what: 'another keepalive', timeoutMs: 8000 })
    expect(leases.filter(l => l.lost).map(l => l.id)).toEqual([victim.id])
    expect(g.machine.leasesOf(SELF)).toHaveLength(LEASE_PAGE + 199)
  })

  it('callers on one peer sharing its session lease hold a lock one at a time, FIFO, each under its own token', async () => {
    const g = group()
    coord = service(g.backend)
    const order: string[] = []
    let inside = 0
    const use = async (who: string): Promise<number> => {
      const lock = await coord!.lock('shared')
      inside++
      expect(inside).toBe(1)
      order.push(who)
      await new Promise(resolve => setTimeout(resolve, 5))
      inside--
      await lock.release()
      return lock.token
    }
    const tokens = await Promise.all(['a', 'b', 'c'].map(use))
    expect(order).toEqual(['a', 'b', 'c'])
    expect(new Set(tokens).size).toBe(3)
    expect(tokens[1]!).toBeGreaterThan(tokens[0]!)
    expect(tokens[2]!).toBeGreaterThan(tokens[1]!)
    // tryLock while another caller here holds it: null, without asking the group.
    const held = await coord.lock('shared')
    expect(await coord.tryLock('shared')).toBeNull()
    // A local wait is bounded by waitMs.
    await expect(coord.lock('shared', { waitMs: 50 })).rejects.toMatchObject({ code: 'ERR_LOCK_TIMEOUT' })
    const next = coord.lock('shared')
    await held.release()
    const n = await next
    expect(n.token).toBeGreaterThan(held.token)
    await n.release()
    // Elections too: a second campaign here waits for the first leadership to end.
    const e1 = coord.election('team')
    const e2 = coord.election('team')
    const lead1 = await e1.campaign('one')
    let second: number | undefined
    const pending = e2.campaign('two').then(l => { second = l.token })
    await new Promise(resolve => setTimeout(resolve, 20))
    expect(second).toBeUndefined()
    await e1.resign()
    await pending
    expect(second!).toBeGreaterThan(lead1.token)
    expect((await e2.leader())?.value).toBe('two')
  })

  it('a release or resignation that failed (no leader) leaves the lock or leadership held and can be retried; it is free once it succeeds', async () => {
    const g = group()
    coord = service(g.backend)
    // Under the session lease, and under a dedicated lease (ttlMs): both outlive a failed release.
    const shared = await coord.lock('report')
    const dedicated = await coord.lock('backup', { ttlMs: 2000 })
    const election = coord.election('lead')
    await election.campaign('me')
    g.control.refuse = true
    await expect(election.resign()).rejects.toMatchObject({ code: 'ERR_PROPOSAL_DROPPED' })
    await expect(shared.release()).rejects.toMatchObject({ code: 'ERR_PROPOSAL_DROPPED' })
    await expect(dedicated.release()).rejects.toMatchObject({ code: 'ERR_PROPOSAL_DROPPED' })
    // Not released: the handles say the locks are still held.
    expect([shared.signal.aborted, dedicated.signal.aborted]).toEqual([false, false])
    g.control.refuse = false
    await shared.release()
    await dedicated.release()
    await election.resign()
    expect(await election.leader()).toBeUndefined()
    expect([shared.signal.aborted, dedicated.signal.aborted]).toEqual([true, true])
    expect(g.machine.lock('lock', 'report')?.holders).toEqual([])
    expect(g.machine.lock('lock', 'backup')?.holders).toEqual([])
    expect(g.machine.lease(dedicated.lease)).toBeUndefined()
  })
})
