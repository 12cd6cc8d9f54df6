/**
 * Command signatures in the simulator. Economy commands must carry their origin's signature (the mesh
 * application's rule, run unchanged here); live peers sign with their Ed25519 keys, simulated origins
 * (`operator`, `n1`...) have none, so the simulator injects a keyed MAC per origin instead: the same
 * signing, verification and refusal paths of the shipped driver and Replica, with a cheap primitive.
 * Deterministic: an origin's key is derived from its name.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import { originOf } from '../protocols/raft/envelope.js'
import type { CommandVerifier } from '../protocols/raft/application.js'
import type { CommandSigner } from '../protocols/raft/driver.js'

const keys = new Map<string, Buffer>()
/** Origins whose keys are cached (the simulator's origins are few). */
const KEYS_MAX = 10_000

function keyOf (origin: string): Buffer {
  let k = keys.get(origin)
  if (k === undefined) {
    k = createHash('sha256').update(`agora-sim-key/${origin}`).digest()
    if (keys.size >= KEYS_MAX) keys.delete(keys.keys().next().value!)
    keys.set(origin, k)
  }
  return k
}

function mac (origin: string, payload: Uint8Array): Buffer {
  return createHmac('sha256', keyOf(origin)).update(payload).digest()
}

/** Signs as the session's origin (every simulated node may: its agents and the operator are honest). */
export const simSign: CommandSigner = (clientId, payload) => new Uint8Array(mac(originOf(clientId), payload))

export const simVerify: CommandVerifier = (origin, payload, signature) => {
  const want = mac(origin, payload)
  return signature.length === want.length && timingSafeEqual(want, signature)
}
