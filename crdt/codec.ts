/**
 * Wire codec of the registry's replication messages (see crdt/PROTOCOL.md). Paired encode/decode over
 * whole byte arrays, built on lib0 (Yjs's own encoding). Decoders are bounds-checked: a truncated,
 * oversized or unknown message fails with {@link DecodeError}, never a RangeError or a partial value.
 */
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { DecodeError } from '../src/base/errors.js'

export const TAG_UPDATE = 1
export const TAG_CHECKPOINT = 2
export const TAG_DIGEST = 3

/** Document kinds: one registry document and one variables document per host peer. */
export type DocKind = 'reg' | 'var'
const KIND_CODE: Record<DocKind, number> = { reg: 0, var: 1 }
const KIND_OF: DocKind[] = ['reg', 'var']

/** Max length of a host id (a peer id string). */
export const HOST_ID_LENGTH_MAX = 128
/** Max length of a signature. */
export const SIGNATURE_BYTES_MAX = 256

/**
 * A signed update (`tag` 1) or checkpoint (`tag` 2) of the document (`kind`, `host`, `incarnation`).
 * An update carries the Yjs update of sequence number `seq`; a checkpoint carries the whole state after
 * update `seq`. `signed` is the byte range the host signed; `bytes` the whole encoded message.
 */
export interface SignedBlob {
  tag: typeof TAG_UPDATE | typeof TAG_CHECKPOINT
  kind: DocKind
  host: string
  incarnation: number
  seq: number
  payload: Uint8Array
  signature: Uint8Array
  /** The signed prefix of `bytes` (everything but the signature). */
  signed: Uint8Array
  bytes: Uint8Array
}

export interface DigestEntry {
  kind: DocKind
  host: string
  incarnation: number
  /** Highest update applied contiguously. */
  seq: number
  /** Sequence number of the checkpoint this replica holds (0 if none beyond the incarnation's start). */
  checkpointSeq: number
}

/** Encodes the part of a blob that the host signs. */
export function encodeSignedPart (tag: SignedBlob['tag'], kind: DocKind, host: string, incarnation: number, seq: number, payload: Uint8Array): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeUint8(e, tag)
  encoding.writeUint8(e, KIND_CODE[kind])
  encoding.writeVarString(e, host)
  encoding.writeVarUint(e, incarnation)
  encoding.writeVarUint(e, seq)
  encoding.writeVarUint8Array(e, payload)
  return encoding.toUint8Array(e)
}

/** Appends the signature to a signed part, giving the whole message. */
export function attachSignature (signed: Uint8Array, signature: Uint8Array): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeUint8Array(e, signed)
  encoding.writeVarUint8Array(e, signature)
  return encoding.toUint8Array(e)
}

function readBoundedBytes (d: decoding.Decoder, max: number, what: string): Uint8Array {
  const len = decoding.readVarUint(d)
  if (len > max) throw new DecodeError(what, `length ${len} exceeds ${max}`)
  if (d.pos + len > d.arr.length) throw new DecodeError(what, 'truncated')
  const out = d.arr.subarray(d.pos, d.pos + len)
  d.pos += len
  return out
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

function readBoundedString (d: decoding.Decoder, max: number, what: string): string {
  const bytes = readBoundedBytes(d, max * 4, what)
  const s = utf8.decode(bytes)
  if (s.length > max) throw new DecodeError(what, `longer than ${max} characters`)
  return s
}

function readSafeUint (d: decoding.Decoder, what: string): number {
  const n = decoding.readVarUint(d)
  if (!Number.isSafeInteger(n) || n < 0) throw new DecodeError(what, 'not a safe unsigned integer')
  return n
}

/** Returns the message's tag without decoding it (0 for an empty message). */
export function peekTag (bytes: Uint8Array): number {
  return bytes.length === 0 ? 0 : bytes[0]!
}

/**
 * Decodes a signed update or checkpoint. `payloadBytesMax` bounds the Yjs payload
 * (updateBytesMax or checkpointBytesMax).
 */
export function decodeSignedBlob (bytes: Uint8Array, payloadBytesMax: number): SignedBlob {
  try {
    const d = decoding.createDecoder(bytes)
    const tag = decoding.readUint8(d)
    if (tag !== TAG_UPDATE && tag !== TAG_CHECKPOINT) throw new DecodeError('signed blob', `unknown tag ${tag}`)
    const kindCode = decoding.readUint8(d)
    const kind = KIND_OF[kindCode]
    if (kind === undefined) throw new DecodeError('signed blob', `unknown document kind ${kindCode}`)
    const host = readBoundedString(d, HOST_ID_LENGTH_MAX, 'host')
    if (host.length === 0) throw new DecodeError('host', 'empty')
    const incarnation = readSafeUint(d, 'incarnation')
    const seq = readSafeUint(d, 'seq')
    if (tag === TAG_UPDATE && seq === 0) throw new DecodeError('seq', 'an update has seq >= 1')
    const payload = readBoundedBytes(d, payloadBytesMax, 'payload')
    const signedEnd = d.pos
    const signature = readBoundedBytes(d, SIGNATURE_BYTES_MAX, 'signature')
    if (d.pos !== bytes.length) throw new DecodeError('signed blob', `${bytes.length - d.pos} trailing bytes`)
    return { tag, kind, host, incarnation, seq, payload, signature, signed: bytes.subarray(0, signedEnd), bytes }
  } catch (err) {
    if (err instanceof DecodeError) throw err
    throw new DecodeError('signed blob', (err as Error).message ?? 'malformed')
  }
}

/**
 * Bytes a blob may share with a larger buffer it was read from before a replica keeps it (its log,
 * checkpoint, updates waiting for a gap) as a copy of its own: a small frame read as a view of a 64 KiB
 * socket chunk would otherwise hold the whole chunk, beyond what the byte limits count.
 */
export const BLOB_SHARED_SLACK_BYTES = 1024

/** `b` itself when its bytes own their buffer (within {@link BLOB_SHARED_SLACK_BYTES}), else a copy decoded again. */
export function ownBytes (b: SignedBlob): SignedBlob {
  if (b.bytes.buffer.byteLength <= b.bytes.byteLength + BLOB_SHARED_SLACK_BYTES) return b
  return decodeSignedBlob(b.bytes.slice(), Number.MAX_SAFE_INTEGER)
}

export function encodeDigest (entries: readonly DigestEntry[]): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeUint8(e, TAG_DIGEST)
  encoding.writeVarUint(e, entries.length)
  for (const x of entries) {
    encoding.writeUint8(e, KIND_CODE[x.kind])
    encoding.writeVarString(e, x.host)
    encoding.writeVarUint(e, x.incarnation)
    encoding.writeVarUint(e, x.seq)
    encoding.writeVarUint(e, x.checkpointSeq)
  }
  return encoding.toUint8Array(e)
}

export function decodeDigest (bytes: Uint8Array, entriesMax: number): DigestEntry[] {
  try {
    const d = decoding.createDecoder(bytes)
    const tag = decoding.readUint8(d)
    if (tag !== TAG_DIGEST) throw new DecodeError('digest', `unknown tag ${tag}`)
    const n = readSafeUint(d, 'digest count')
    if (n > entriesMax) throw new DecodeError('digest', `${n} entries exceed ${entriesMax}`)
    const out: DigestEntry[] = []
    for (let i = 0; i < n; i++) {
      const kind = KIND_OF[decoding.readUint8(d)]
      if (kind === undefined) throw new DecodeError('digest', `unknown document kind in entry ${i}`)
      const host = readBoundedString(d, HOST_ID_LENGTH_MAX, 'digest host')
      const incarnation = readSafeUint(d, 'digest incarnation')
      const seq = readSafeUint(d, 'digest seq')
      const checkpointSeq = readSafeUint(d, 'digest checkpointSeq')
      out.push({ kind, host, incarnation, seq, checkpointSeq })
    }
    if (d.pos !== bytes.length) throw new DecodeError('digest', `${bytes.length - d.pos} trailing bytes`)
    return out
  } catch (err) {
    if (err instanceof DecodeError) throw err
    throw new DecodeError('digest', (err as Error).message ?? 'malformed')
  }
}
