/**
 * Hostile peers on real libp2p peers over TCP (FEATURES O7): a rogue host that claims another host's agent
 * id, and a rogue host that floods its own document.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createLiveMesh } from '../../sim/live.js'
import type { LiveMesh } from '../../sim/live.js'
import type { Peer } from '../../peers/peer.js'
import { FAST, waitConverged } from './helpers.js'

let mesh: LiveMesh | undefined
afterEach(async () => {
  await mesh?.stop()
  mesh = undefined
})

describe('agent-id hijack', () => {
  it('the reported break: a later claimant whose peer id sorts first does not take the name, on any peer', async () => {
    mesh = await createLiveMesh({ peers: 3, ...FAST })
    await mesh.whenSynced()
    // The rogue is the peer whose id sorts first (as a ground key would), the victim the last one.
    const [rogue, honest, victim] = [...mesh.peers].sort((x, y) => x.id < y.id ? -1 : 1) as [Peer, Peer, Peer]
    await victim.registry.register({ id: 'gpu-1', capabilities: ['gpu'], metadata: { owner: 'victim' } })
    await waitConverged(mesh, { size: 1 })
    const contested = new Map<string, string>()
    for (const p of mesh.peers) p.registry.on('agent:contested', (e) => { if (e.id === 'gpu-1') contested.set(p.id, e.winner.host) })
    // Later, the rogue writes the victim's agent id into its own signed document and gossips it.
    const now = Date.now()
    const blob = rogue.replica.transact('reg', (doc) => {
      doc.getMap('agents').set('gpu-1', { capabilities: ['gpu'], resources: {}, health: 'healthy', metadata: { owner: 'rogue' }, updatedAt: now, claimedAt: now })
    })!
    rogue.sync.publish(blob)
    await mesh.waitFor((p) => (p.replica.entry('reg', rogue.id)?.seq ?? 0) >= blob.seq, { what: 'the rogue\'s claim to reach every peer' })
    for (const p of [rogue, honest, victim]) {
      expect(p.registry.lookup('gpu-1')?.host).toBe(victim.id)
      expect(p.registry.lookup('gpu-1')?.metadata).toEqual({ owner: 'victim' })
      expect(p.registry.query({ capability: 'gpu' }).agents.map(a => [a.host, a.contested])).toEqual([[victim.id, true]])
      expect(p.stats().registry.contested).toBe(1)
    }
    expect(contested).toEqual(new Map([rogue, honest, victim].map(p => [p.id, victim.id])))
  })
})
