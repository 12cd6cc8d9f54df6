/**
 * Shared by the probe liveness tests (test/mesh/probe-*.test.ts): the peer options of the mode, the
 * detector of a peer, and a fixture that stops the mesh and the extra peers a test made after each test.
 */
import { afterEach } from 'vitest'
import type { LiveMesh } from '../../sim/live.js'
import type { Peer } from '../../peers/peer.js'
import type { ProbeDetector } from '../../peers/sync/liveness/probe.js'
import type { LivenessService } from '../../peers/sync/liveness/liveness.js'

/** Peer options of the probe liveness mode, 1 s periods, quiet, no DHT. */
export const PROBE = { liveness: 'probe' as const, heartbeatIntervalMs: 1000, logLevel: 'silent' as const, dht: false }

/** The probe detector of `p` (a peer started with {@link PROBE}). */
export const detector = (p: Peer): ProbeDetector => (p.sync.liveness as LivenessService).detector!

/** The mesh a test sets and the extra peers it pushes are stopped after each test. */
export function probeFixture (): { set: (m: LiveMesh) => LiveMesh, extra: Peer[] } {
  let mesh: LiveMesh | undefined
  const extra: Peer[] = []
  afterEach(async () => {
    await mesh?.stop()
    mesh = undefined
    await Promise.allSettled(extra.splice(0).map(async p => await p.stop()))
  })
  return { set: (m) => { mesh = m; return m }, extra }
}
