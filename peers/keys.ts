/**
 * The peer's identity: a libp2p Ed25519 key, persisted in the data dir (`identity.key`, the libp2p
 * protobuf encoding, mode 0600) so a restarted peer keeps its peer id, and the signer/verifier the
 * replica uses for its documents.
 *
 * Signing and verifying go through node:crypto with cached KeyObjects: libp2p's own `sign()` rebuilds the
 * key object on each call (~150 µs here); a cached KeyObject signs in a fraction of that. A host id is a
 * peer id whose identity multihash embeds the Ed25519 public key, so verifying needs no lookup.
 */
import { createPrivateKey, createPublicKey, sign as edSign, verify as edVerify } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { mkdir, readFile, writeFile, rename } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromString } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { AgoraError } from '../src/base/errors.js'
import type { Signer, Verifier } from '../crdt/signing.js'

export const IDENTITY_FILE = 'identity.key'

const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')

export class IdentityError extends AgoraError {
  constructor (message: string, details?: Record<string, unknown>) {
    super('ERR_IDENTITY', message, details)
  }
}

/** Loads the identity key from `dataDir`, creating it on first start. Without a data dir, a fresh key. */
export async function loadOrCreateIdentity (dataDir: string | undefined): Promise<{ key: PrivateKey, created: boolean }> {
  if (dataDir === undefined) return { key: await generateKeyPair('Ed25519'), created: true }
  await mkdir(dataDir, { recursive: true })
  const file = join(dataDir, IDENTITY_FILE)
  let bytes: Buffer | undefined
  try {
    bytes = await readFile(file)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new IdentityError(`cannot read ${file}: ${(err as Error).message}`)
  }
  if (bytes !== undefined) {
    let key: PrivateKey
    try {
      key = privateKeyFromProtobuf(bytes)
    } catch (err) {
      throw new IdentityError(`${file} is not a libp2p private key: ${(err as Error).message}`, { file })
    }
    if (key.type !== 'Ed25519') throw new IdentityError(`${file} holds a ${key.type} key; agora-mesh peers use Ed25519`, { file })
    return { key, created: false }
  }
  const key = await generateKeyPair('Ed25519')
  const tmp = file + '.tmp'
  await writeFile(tmp, privateKeyToProtobuf(key), { mode: 0o600 })
  await rename(tmp, file)
  return { key, created: true }
}

/** A signer over the peer's Ed25519 key with a cached node:crypto KeyObject. */
export function createSigner (id: string, key: PrivateKey): Signer {
  if (key.type !== 'Ed25519') throw new IdentityError(`cannot sign with a ${key.type} key`)
  const seed = key.raw.subarray(0, 32)
  const keyObject = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' })
  return { id, sign: (data) => new Uint8Array(edSign(null, data, keyObject)) }
}

/**
 * Public keys a verifier keeps by default (host id -> KeyObject): a mesh's `hostsMax`, so every host a
 * replica holds keeps its key. The peer passes its own `limits.hostsMax`.
 */
export const VERIFY_KEYS_MAX_DEFAULT = 4096

/** A {@link Verifier} with its cache of public keys exposed for tests and metrics. */
export interface CachingVerifier extends Verifier {
  /** Host ids with a cached key (or a cached refusal: a host id that embeds no Ed25519 key), least recently used first. */
  readonly cachedHosts: () => string[]
}

/**
 * A verifier of host (peer id) signatures: node:crypto's native Ed25519 over the caller's bytes (no copy),
 * with each host's public KeyObject built once (from the key its peer id embeds) and kept in an LRU of at
 * most `keysMax` hosts; a flood of unknown host ids evicts the least recently used, not the hosts in use.
 * Never throws: a malformed host id or signature is a failed verification.
 */
export function createVerifier (keysMax = VERIFY_KEYS_MAX_DEFAULT): CachingVerifier {
  if (!Number.isSafeInteger(keysMax) || keysMax < 1) throw new IdentityError(`verifier keysMax must be a positive integer, got ${String(keysMax)}`)
  const cache = new Map<string, KeyObject | null>()
  const keyOf = (host: string): KeyObject | null => {
    let k = cache.get(host)
    if (k !== undefined) {
      // Most recently used last: Map order is insertion order.
      cache.delete(host)
      cache.set(host, k)
      return k
    }
    try {
      const pub = peerIdFromString(host).publicKey
      k = pub?.type === 'Ed25519'
        ? createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, pub.raw]), format: 'der', type: 'spki' })
        : null
    } catch {
      k = null
    }
    if (cache.size >= keysMax) cache.delete(cache.keys().next().value!)
    cache.set(host, k)
    return k
  }
  const verify = (host: string, data: Uint8Array, signature: Uint8Array): boolean => {
    if (signature.length !== 64) return false
    const k = keyOf(host)
    if (k === null) return false
    try { return edVerify(null, data, k, signature) } catch { return false }
  }
  return Object.assign(verify, { cachedHosts: () => [...cache.keys()] })
}
