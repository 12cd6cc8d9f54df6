/**
 * Frames of the anti-entropy stream protocol `/agora/<mesh>/sync/1.0.0` (see crdt/PROTOCOL.md).
 *
 *   frame = type:u8 body
 *   DIGEST (1)      body = a digest (crdt/codec.ts)
 *   BLOB (2)        body = one signed update or checkpoint
 *   CHUNK (3)       body = the next part of a blob larger than a frame
 *   CHUNK_END (4)   body = the last part of that blob
 *   END (5)         body = empty: the sender has nothing more to send
 *
 * Exchange: the initiator sends DIGEST; the responder answers with the BLOBs the initiator lacks, then
 * its own DIGEST; the initiator sends the BLOBs the responder lacks, then END. Both apply as they read.
 */
import { DecodeError, LimitExceededError } from '../../../src/base/errors.js'

export const FRAME_DIGEST = 1
export const FRAME_BLOB = 2
export const FRAME_CHUNK = 3
export const FRAME_CHUNK_END = 4
export const FRAME_END = 5

export function frame (type: number, body: Uint8Array = new Uint8Array(0)): Uint8Array {
  const out = new Uint8Array(body.length + 1)
  out[0] = type
  out.set(body, 1)
  return out
}

export type SyncFrameType = typeof FRAME_DIGEST | typeof FRAME_BLOB | typeof FRAME_CHUNK | typeof FRAME_CHUNK_END | typeof FRAME_END

/**
 * Decodes one frame into its type and body (a view of `f`). Throws {@link DecodeError} for an empty
 * frame, an unknown type or an `END` with a body; the body's own format (a digest, a blob) is decoded
 * where it is used.
 */
export function decodeSyncFrame (f: Uint8Array): { type: SyncFrameType, body: Uint8Array } {
  if (f.length === 0) throw new DecodeError('sync frame', 'empty frame')
  const type = f[0]!
  if (type < FRAME_DIGEST || type > FRAME_END) throw new DecodeError('sync frame', `unknown frame type ${type}`)
  if (type === FRAME_END && f.length !== 1) throw new DecodeError('sync frame', `${f.length - 1} bytes after END`)
  return { type: type as SyncFrameType, body: f.subarray(1) }
}

/** Splits a blob into frames no larger than `frameBytesMax`. */
export function * blobFrames (blob: Uint8Array, frameBytesMax: number): Generator<Uint8Array> {
  const room = frameBytesMax - 1
  if (blob.length <= room) {
    yield frame(FRAME_BLOB, blob)
    return
  }
  for (let off = 0; off < blob.length; off += room) {
    const end = Math.min(blob.length, off + room)
    yield frame(end === blob.length ? FRAME_CHUNK_END : FRAME_CHUNK, blob.subarray(off, end))
  }
}

/**
 * Reassembles chunked blobs, bounded by `blobBytesMax`. Without `onOversized`, a longer blob fails the
 * stream (LimitExceededError); with it, the blob's parts are dropped as they come, `onOversized` is called
 * once at its end, and the stream goes on (nothing over the bound is ever buffered).
 */
export class BlobAssembler {
  private parts: Uint8Array[] = []
  private bytes = 0
  private skipping = false
  private readonly blobBytesMax: number
  private readonly onOversized: (() => void) | undefined
  private readonly prefix: Uint8Array

  /**
   * `prefix`: bytes laid out right before each reassembled blob in its buffer (the signing context: the
   * replica then verifies the blob's signature in place, see crdt/signing.ts `contextBefore`).
   */
  constructor (blobBytesMax: number, onOversized?: () => void, prefix: Uint8Array = new Uint8Array(0)) {
    this.blobBytesMax = blobBytesMax
    this.onOversized = onOversized
    this.prefix = prefix
  }

  /**
   * Feeds a BLOB/CHUNK/CHUNK_END frame; returns a whole blob when one is complete. A chunk is kept as a
   * view of `f` when `f` is its whole buffer and the caller hands it over (`owned`: never written again),
   * else copied (a view would keep the rest of a larger buffer alive, past the bound).
   */
  push (f: Uint8Array, owned = false): Uint8Array | undefined {
    const { type, body } = decodeSyncFrame(f)
    if (type === FRAME_BLOB) {
      if (this.parts.length > 0) throw new DecodeError('sync frame', 'BLOB inside a chunked blob')
      return body
    }
    if (type !== FRAME_CHUNK && type !== FRAME_CHUNK_END) throw new DecodeError('sync frame', `unexpected frame type ${String(type)}`)
    this.bytes += body.length
    if (this.bytes > this.blobBytesMax) {
      if (this.onOversized === undefined) throw new LimitExceededError('checkpointBytesMax', this.blobBytesMax, this.bytes, 'chunked blob')
      this.parts = []
      this.skipping = true
    }
    if (this.skipping) {
      if (type === FRAME_CHUNK_END) {
        this.skipping = false
        this.bytes = 0
        this.onOversized?.()
      }
      return undefined
    }
    this.parts.push(owned && f.byteOffset === 0 && f.byteLength === f.buffer.byteLength ? body : body.slice())
    if (type === FRAME_CHUNK) return undefined
    const out = new Uint8Array(this.prefix.length + this.bytes)
    out.set(this.prefix, 0)
    let off = this.prefix.length
    for (const p of this.parts) { out.set(p, off); off += p.length }
    this.parts = []
    this.bytes = 0
    return out.subarray(this.prefix.length)
  }

  get midBlob (): boolean {
    return this.parts.length > 0 || this.skipping
  }
}
