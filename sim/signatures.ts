/**
 * Command signatures in the simulator. Economy commands must carry their origin's signature (the mesh
 * application's rule, run unchanged here); live peers sign with their Ed25519 keys, simulated origins
 * (`operator`, `n1`...) have none, so the simulator injects a keyed checksum per origin instead: the
 * same signing, verification and refusal paths of the shipped driver and Replica, with a primitive as
 * cheap as the simulated network is fast. It tells origins and payloads apart; it is no defence against
 * a forger (the simulator has none). Deterministic: an origin's key is derived from its name.
 */
import { originOf } from '../protocols/raft/envelope.js'
import type { CommandVerifier } from '../protocols/raft/application.js'
import type { CommandSigner } from '../protocols/raft/driver.js'

/** Bytes of a simulated signature: four 32-bit lanes. */
export const SIM_SIGNATURE_BYTES = 16

/** FNV-1a over the origin then the payload, in four lanes with different offsets. */
function digest (origin: string, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(SIM_SIGNATURE_BYTES)
  const view = new DataView(out.buffer)
  for (let lane = 0; lane < 4; lane++) {
    let h = (0x811c9dc5 ^ Math.imul(lane + 1, 0x9e3779b1)) >>> 0
    for (let i = 0; i < origin.length; i++) h = Math.imul(h ^ origin.charCodeAt(i), 0x01000193) >>> 0
    h = Math.imul(h ^ 0xff, 0x01000193) >>> 0
    for (let i = 0; i < payload.length; i++) h = Math.imul(h ^ (payload[i] as number), 0x01000193) >>> 0
    view.setUint32(lane * 4, h)
  }
  return out
}

/** Signs as the session's origin (every simulated node may: its agents and the operator are honest). */
export const simSign: CommandSigner = (clientId, payload) => digest(originOf(clientId), payload)

export const simVerify: CommandVerifier = (origin, payload, signature) => {
  if (signature.length !== SIM_SIGNATURE_BYTES) return false
  const want = digest(origin, payload)
  for (let i = 0; i < SIM_SIGNATURE_BYTES; i++) if (want[i] !== signature[i]) return false
  return true
}
