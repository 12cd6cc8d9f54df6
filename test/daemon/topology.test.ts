/**
 * `GET /v1/topology`'s bound: past TOPOLOGY_REACHES_PEERS_MAX hosts, the other peers' `reaches` (each up to
 * every host: quadratic in the mesh) are not listed. Three real peers over TCP, the bound lowered.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLiveMesh } from '../../sim/live.js'
import type { LiveMesh } from '../../sim/live.js'
import { TOPOLOGY_REACHES_PEERS_MAX, topology } from '../../src/daemon/topology.js'

let mesh: LiveMesh
beforeAll(async () => {
  mesh = await createLiveMesh({ peers: 3, heartbeatIntervalMs: 300, logLevel: 'silent' })
  await mesh.whenSynced({ timeoutMs: 30_000 })
}, 60_000)
afterAll(async () => { await mesh?.stop() })

describe('GET /v1/topology at scale', () => {
  it('lists every peer\'s reach up to the bound, and past it only this daemon\'s', async () => {
    const p = mesh.peers[0]!
    await mesh.waitFor(() => topology(p).peers.filter(x => !x.self).every(x => x.reaches !== null && x.reaches.length === 2), { timeoutMs: 30_000, what: 'both other peers\' views' })
    const whole = topology(p)
    expect(whole.reachesListed).toBe(true)
    expect(TOPOLOGY_REACHES_PEERS_MAX).toBeGreaterThanOrEqual(100)
    const bounded = topology(p, { reachesPeersMax: 2 })
    expect(bounded.reachesListed).toBe(false)
    expect(bounded.peers[0]).toMatchObject({ self: true, reaches: whole.peers[0]!.reaches })
    for (const x of bounded.peers.slice(1)) {
      expect(x.reaches).toBeNull()
      expect(x.view).not.toBeNull()
    }
  })
})
