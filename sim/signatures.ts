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

/** FNV-1a over the origin then the payload, four lanes with different offsets, in one pass. */
function digest (origin: string, payload: Uint8Array): Uint8Array {
  let a = (0x811c9dc5 ^ 0x9e3779b1) >>> 0
  let b = (0x811c9dc5 ^ 0x3c6ef362) >>> 0
  let c = (0x811c9dc5 ^ 0xdaa66d13) >>> 0
  let d = (0x811c9dc5 ^ 0x78dde6c4) >>> 0
  const step = (x: number): void => {
    a = Math.imul(a ^ x, 0x01000193)
    b = Math.imul(b ^ x, 0x01000193) ^ (a >>> 7)
    c = Math.imul(c ^ x, 0x01000193) ^ (b >>> 11)
    d = Math.imul(d ^ x, 0x01000193) ^ (c >>> 13)
  }
  for (let i = 0; i < origin.length; i++) step(origin.charCodeAt(i))
  step(0x1ff)
  for (let i = 0; i < payload.length; i++) step(payload[i] as number)
  const out = new Uint8Array(SIM_SIGNATURE_BYTES)
  const view = new DataView(out.buffer)
  view.setUint32(0, a >>> 0)
  view.setUint32(4, b >>> 0)
  view.setUint32(8, c >>> 0)
  view.setUint32(12, d >>> 0)
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
