/**
 * The registry API suite (R1–R3, R8) against the mesh backend: the registry of a live peer over TCP,
 * connected to a second peer that must see every change.
 */
import { expect } from 'vitest'
import { createLiveMesh } from '../../sim/live.js'
import { registrySuite } from '../crdt/registry-suite.js'
import { FAST, registryView } from './helpers.js'

registrySuite('mesh', async () => {
  const mesh = await createLiveMesh({ peers: 2, ...FAST })
  await mesh.whenSynced()
  const [a, b] = mesh.peers
  return {
    registry: a!.registry,
    close: async () => {
      // Whatever the test left in peer a's registry reaches peer b unchanged.
      await mesh.waitFor(() => JSON.stringify(registryView(a!)) === JSON.stringify(registryView(b!)), { what: 'the second peer to mirror the first' })
      expect(b!.registry.size).toBe(a!.registry.size)
      await mesh.stop()
    }
  }
})
