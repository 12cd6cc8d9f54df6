/**
 * Agents' health checks over TCP (FEATURES I4): two real peers; a hung agent's TTL check turns it
 * unhealthy on the other peer within TTL + its check-in interval (+ replication), a query for healthy
 * agents skips it, and check-ins bring it back after the damping. The host's liveness is a check too: an
 * agent of a host cut off reads unhealthy.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createLiveMesh } from '../../sim/live.js'
import type { LiveMesh } from '../../sim/live.js'
import { waitUntil } from '../helpers/wait.js'
import { FAST } from './helpers.js'

let mesh: LiveMesh | undefined
const loops: Array<ReturnType<typeof setInterval>> = []
afterEach(async () => {
  for (const t of loops.splice(0)) clearInterval(t)
  await mesh?.stop()
  mesh = undefined
})

/** The agents' TTL and how often a live agent checks in. */
const TTL_MS = 1500
const CHECK_IN_MS = 250
/**
 * What a result may take to reach the other peer and be seen there (gossip is immediate; this is room for
 * a loaded 2-core machine running the whole suite).
 */
const REPLICATION_MS_MAX = 3000

describe('health checks over TCP', () => {
  it('a hung agent\'s TTL check turns it unhealthy on the other peer within TTL + check-in interval; healthy queries skip it; check-ins bring it back after the damping', async () => {
    mesh = await createLiveMesh({ peers: 2, ...FAST })
    await mesh.whenSynced()
    const [host, other] = mesh.peers as [NonNullable<typeof mesh>['peers'][0], NonNullable<typeof mesh>['peers'][0]]
    for (const id of ['hung-1', 'ok-1']) {
      await host.checks.register({ id, capabilities: ['summarize'] }, [{ id: 'alive', ttlMs: TTL_MS, successesBeforePassing: 2 }])
    }
    let lastCheckIn = 0
    let hung = false
    loops.push(setInterval(() => {
      host.checks.pass('ok-1', 'alive')
      if (!hung) { lastCheckIn = Date.now(); host.checks.pass('hung-1', 'alive', 'working') }
    }, CHECK_IN_MS))
    await waitUntil(() => lastCheckIn > 0 && other.registry.query({ capability: 'summarize', health: 'healthy' }).agents.length === 2, 'both agents checking in, healthy on the other peer')

    // hung-1 stops checking in (its loop hangs): its last check-in was at most CHECK_IN_MS before this.
    hung = true
    const hungAt = lastCheckIn
    await waitUntil(() => other.registry.lookup('hung-1')?.health === 'unhealthy', { what: 'hung-1 unhealthy on the other peer', timeoutMs: TTL_MS + CHECK_IN_MS + REPLICATION_MS_MAX })
    const elapsed = Date.now() - hungAt
    expect(elapsed).toBeGreaterThanOrEqual(TTL_MS)
    expect(elapsed).toBeLessThanOrEqual(TTL_MS + CHECK_IN_MS + REPLICATION_MS_MAX)
    const seen = other.registry.lookup('hung-1')!
    expect(seen.checks).toMatchObject([{ id: 'alive', kind: 'ttl', status: 'critical' }])
    expect(seen.checks[0]!.output).toMatch(/TTL of 1500 ms expired/)
    expect(seen.checks[0]!.at).toBeGreaterThanOrEqual(hungAt + TTL_MS)
    expect(other.registry.query({ capability: 'summarize', health: 'healthy' }).agents.map(a => a.id)).toEqual(['ok-1'])
    expect(other.registry.lookupWith('summarize', 'random-healthy')?.id).toBe('ok-1')
    expect(other.registry.lookup('ok-1')!.health).toBe('healthy')

    // Checking in again: one check-in is not enough (successesBeforePassing 2)...
    host.checks.pass('hung-1', 'alive', 'back')
    expect(host.checks.get('hung-1')![0]).toMatchObject({ status: 'critical', last: 'passing', successes: 1 })
    expect(host.registry.lookup('hung-1')!.health).toBe('unhealthy')
    // ...the second one is, and the other peer sees it healthy again.
    host.checks.pass('hung-1', 'alive', 'back')
    await waitUntil(() => other.registry.lookup('hung-1')?.health === 'healthy', { what: 'hung-1 healthy again on the other peer', timeoutMs: REPLICATION_MS_MAX * 2 })
    expect(other.registry.query({ capability: 'summarize', health: 'healthy' }).agents.map(a => a.id).sort()).toEqual(['hung-1', 'ok-1'])
    expect(other.registry.lookup('hung-1')!.checks[0]).toMatchObject({ status: 'passing', output: 'back' })
    expect(host.checks.stats()).toMatchObject({ expired: 1, writeErrors: 0 })
  })

  it('the host\'s liveness: agents of a host cut off read unhealthy on the other side and healthy queries skip them, until it is heard again', async () => {
    mesh = await createLiveMesh({ peers: 2, ...FAST })
    await mesh.whenSynced()
    const [host, other] = mesh.peers as [NonNullable<typeof mesh>['peers'][0], NonNullable<typeof mesh>['peers'][0]]
    await host.registry.register({ id: 'svc-1', capabilities: ['plan'], health: 'degraded' })
    await waitUntil(() => other.registry.lookup('svc-1')?.health === 'degraded', 'svc-1 replicated')
    await mesh.partition([[0], [1]])
    await waitUntil(() => other.registry.lookup('svc-1')?.status === 'unreachable', { what: 'the host unreachable', timeoutMs: 15_000 })
    expect(other.registry.lookup('svc-1')!.health).toBe('unhealthy')
    expect(other.registry.query({ capability: 'plan', health: 'degraded' }).agents).toEqual([])
    expect(other.registry.query({ capability: 'plan', health: 'unhealthy' }).agents.map(a => a.id)).toEqual(['svc-1'])
    // Its own peer still shows the health it wrote.
    expect(host.registry.lookup('svc-1')!.health).toBe('degraded')
    await mesh.heal()
    await waitUntil(() => other.registry.lookup('svc-1')?.health === 'degraded', { what: 'svc-1 degraded again once its host is heard', timeoutMs: 15_000 })
    expect(other.registry.query({ capability: 'plan', health: 'degraded' }).agents.map(a => a.id)).toEqual(['svc-1'])
  })
})
