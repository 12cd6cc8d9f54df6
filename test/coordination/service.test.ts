/**
 * `peer.coordination` (peers/coordination/service.ts) against a coordination machine in this process: a
 * backend that applies every command at once, and that can be taken down (no leader) and brought back.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createLogger } from '../../src/base/log.js'
import { PeerCoordination } from '../../peers/coordination/service.js'
import type { CoordBackend } from '../../peers/coordination/service.js'
import { CoordinationMachine, decodeCoordCommand } from '../../protocols/coordination/machine.js'
import { waitUntil } from '../helpers/wait.js'

const SELF = 'peer-self'

/**
 * A group of one replica in this process. A proposal is stamped when it is made (as a Raft driver stamps
 * its envelope); while `hold()` is on (no leader) proposals wait, and `release()` commits them in order
 * with their stamps, as a new leader commits what was pending.
 */
function group (): { machine: CoordinationMachine, backend: CoordBackend, hold: () => void, release: () => void } {
  const machine = new CoordinationMachine()
  let index = 0
  let held: Array<() => void> | undefined
  const backend: CoordBackend = {
    propose: async (command) => {
      const at = Date.now()
      if (held !== undefined) await new Promise<void>(resolve => held!.push(resolve))
      const c = decodeCoordCommand(command)
      index++
      machine.advance(at, index)
      return { index, result: 'ok' in c ? c : machine.apply(c, index, SELF) }
    },
    read: async (name) => machine.read(name),
    watch: async (name) => machine.read(name)
  }
  return {
    machine,
    backend,
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
})
