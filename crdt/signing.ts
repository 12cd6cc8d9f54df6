/**
 * What the replica needs from the peer's identity: sign with the local key, verify another host's
 * signature. The peer layer implements these with the libp2p Ed25519 key (a host id is its peer id, whose
 * identity multihash embeds the public key, so verification needs no lookup).
 */
export interface Signer {
  /** The local host id (peer id string). */
  readonly id: string
  sign: (data: Uint8Array) => Uint8Array
}

/**
 * Returns true when `signature` is `host`'s signature of `data`. Must not throw on garbage. Synchronous,
 * and keeps no reference to `data` (the replica reuses its buffer for the next verification).
 */
export type Verifier = (host: string, data: Uint8Array, signature: Uint8Array) => boolean

/** Domain-separation prefix of every signature: the protocol version and the mesh name. */
export function signingContext (mesh: string): Uint8Array {
  return new TextEncoder().encode(`agora-crdt/1\0${mesh}\0`)
}

export function withContext (context: Uint8Array, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(context.length + data.length)
  out.set(context, 0)
  out.set(data, context.length)
  return out
}
