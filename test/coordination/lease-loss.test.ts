/**
 * A partitioned lock holder is told it lost its lease before the majority grants the lock to another
 * (C1: the client side counts its lease lost at the send time of its last renewed keepalive + TTL, and
 * the group expires it from that keepalive's proposal stamp, which is later). Checked from a shared
 * in-process history: the time the holder's `lock.signal` aborted and the time the new holder's lock
 * resolved. With 3 and 5 voters; the holder a client peer outside the group, or a voter on the minority side.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { LiveMesh } from '../../sim/live.js'
import { LeaseLostError } from '../../peers/coordination/errors.js'
import { waitUntil } from '../helpers/wait.js'
import { History, VOTER_COUNTS, codeOf, coordMesh, followerIndex, waitWaiters } from './harness.js'

let mesh: LiveMesh | undefined
afterEach(async () => { await mesh?.stop(); mesh = undefined })

/** TTL of the holder's lease: keepalives every TTL/3 must come back under a loaded machine. */
const TTL_MS = 3000

describe.each(VOTER_COUNTS)('a partitioned holder (%i voters)', (voters) => {
  it.each(['client', 'voter'] as const)('a %s holder on the minority side is told it lost the lease before the majority grants the lock to another', async (kind) => {
    // Peers 0..voters-1 vote; peers voters and voters+1 are clients.
    mesh = await coordMesh(voters, 2)
    const m = mesh
    const history = new History()
    // The holder and the minority side it is cut off with; the new holder is on the majority side.
    let holder: number
    let minority: number[]
    if (kind === 'client') {
      holder = voters
      minority = [holder]
    } else {
      holder = followerIndex(m, voters)
      // With 5 voters the minority side has two of them (still no quorum).
      minority = voters === 5 ? [holder, followerIndex(m, voters, [holder])] : [holder]
    }
    // A client takes the lock after a client holder, a voter after a voter holder.
    const next = kind === 'client' ? voters + 1 : voters
    const majority = m.peers.map((_, i) => i).filter(i => !minority.includes(i))
    expect(majority).toContain(next)

    const lock = await m.peers[holder]!.coordination.lock('job', { ttlMs: TTL_MS })
    lock.signal.addEventListener('abort', () => { history.add('holder lock aborted', holder, { reason: (lock.signal.reason as { code?: string }).code }) }, { once: true })
    m.peers[holder]!.coordination.on('lease:lost', (e) => { if (e.lease === lock.lease) history.add('holder lease:lost', holder, e) })
    const waiting = m.peers[next]!.coordination.lock('job', { waitMs: 60_000 }).then((h) => { history.add('new holder granted', next, { token: h.token }); return h })
    waiting.catch(() => {})
    await waitWaiters(m.peers[majority[0]!]!, 'job', 1)

    history.add('partition', -1, { minority })
    await m.partition([minority, majority])
    const granted = await waiting

    await waitUntil(() => history.first('holder lock aborted'), { what: 'the holder told', timeoutMs: 30_000 })
    const aborted = history.first('holder lock aborted')
    const grant = history.first('new holder granted')!
    expect(aborted, `the holder's signal never aborted\n${history.toString()}`).toBeDefined()
    expect(aborted!.at, `the holder learnt of its loss after the new grant\n${history.toString()}`).toBeLessThan(grant.at)
    expect(history.first('holder lease:lost')!.at).toBeLessThan(grant.at)
    expect(lock.signal.reason).toBeInstanceOf(LeaseLostError)
    expect(granted.token).toBeGreaterThan(lock.token)

    // Healed, the old holder's fence is stale: its write is refused, the new holder's applies.
    await m.heal()
    // Once the holder reaches the group again (a linearizable read goes through)...
    await waitUntil(async () => { await m.peers[holder]!.variables.strong<number>('out', { initial: 0 }).get(); return true }, { what: 'the old holder reaches the group', timeoutMs: 30_000 })
    expect(await codeOf(m.peers[holder]!.variables.strong<number>('out', { initial: 0 }).set(1, { fence: lock.fence }))).toBe('ERR_FENCED')
    await m.peers[next]!.variables.strong<number>('out', { initial: 0 }).set(2, { fence: granted.fence })
    expect(await m.peers[holder]!.variables.strong<number>('out', { initial: 0 }).get()).toBe(2)
    await granted.release()
  })
})
