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

/**
 * The bytes `context` then `data` as a view, when `data` already follows a copy of `context` in its buffer
 * (a receiver can lay large blobs out that way: anti-entropy's assembler does), else undefined. The bytes
 * before `data` are compared, so the view is exactly what {@link withContext} would build, without the copy.
 */
export function contextBefore (context: Uint8Array, data: Uint8Array): Uint8Array | undefined {
  const at = data.byteOffset - context.length
  if (at < 0) return undefined
  const before = new Uint8Array(data.buffer, at, context.length)
  for (let i = 0; i < context.length; i++) if (before[i] !== context[i]) return undefined
  return new Uint8Array(data.buffer, at, context.length + data.length)
}
