/**
 * Two replicas of the mesh application fed the same entries, the second replaced part-way by a restore
 * of its own snapshot: what the randomized machine tests check determinism and snapshot fidelity with.
 */
import { expect } from 'vitest'
import { MeshApplication } from '../../protocols/mesh/application.js'

export function twinReplicas (make: () => MeshApplication = () => new MeshApplication()) {
  const a = make()
  let b = make()
  return {
    /** The replica that is never restored (listen to its events). */
    a,
    get b (): MeshApplication { return b },
    /** Replaces the second replica by a restore of its snapshot (which must write the same snapshot back). */
    restore (): void {
      const copy = new MeshApplication()
      copy.restore(b.snapshot())
      expect(copy.snapshot()).toEqual(b.snapshot())
      b = copy
    },
    /** Applies one entry to both; their results must be equal. Returns the first one's. */
    apply (command: Uint8Array, index: number, meta: { origin: string, at: number }): unknown {
      const ra = a.apply(command, index, meta)
      expect(b.apply(command, index, meta)).toEqual(ra)
      return ra
    },
    /** Both end in the same state. */
    same (): void { expect(b.snapshot()).toEqual(a.snapshot()) }
  }
}
