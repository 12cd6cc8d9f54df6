/**
 * Length-prefixed framing of every stream protocol (peers/PROTOCOL.md, "Framing of every stream
 * protocol"): libp2p's `lpStream` with a length decoder that refuses a length prefix longer than the
 * protocol's limit needs.
 *
 * Why not `lpStream` alone: its default decoder (uint8-varint) reports a varint of more than 8 bytes
 * with a RangeError, which `lpStream` takes for "not enough bytes yet", so a peer sending endless
 * continuation bytes (`0x80 0x80 ...`) made the reader buffer every byte, one `Uint8Array` each, for as
 * long as the stream lived (the Raft transport reads without a timeout). Here the prefix is refused
 * ({@link DecodeError}, `ERR_DECODE`) as soon as it has as many bytes as the largest allowed length
 * takes, before anything more is read.
 */
import { lpStream } from '@libp2p/utils'
import type { MessageStream } from '@libp2p/interface'
import { DecodeError } from '../src/base/errors.js'
import { describeJsonProblem, jsonInputProblem } from '../src/base/input.js'

/** Bytes of the unsigned LEB128 varint of `n`. */
export function varintLength (n: number): number {
  let len = 1
  while (n >= 128) { n = Math.floor(n / 128); len++ }
  return len
}

/** What {@link decodeFrameLength} reads: a Uint8Array or a Uint8ArrayList (lpStream's buffer). */
export type LengthBytes = Uint8Array | { byteLength: number, get: (i: number) => number }

/**
 * Decodes a frame's length prefix (unsigned LEB128) from the bytes read so far. Throws a RangeError
 * while the prefix is incomplete and shorter than `maxLengthLength` bytes (lpStream then reads one
 * more byte), and {@link DecodeError} once it has `maxLengthLength` bytes and is still incomplete.
 * A complete prefix longer than `maxLengthLength`, or a length over the limit, is refused by lpStream.
 */
export function decodeFrameLength (bytes: LengthBytes, maxLengthLength: number): number {
  const at = bytes instanceof Uint8Array ? (i: number) => bytes[i]! : (i: number) => bytes.get(i)
  let n = 0
  let mult = 1
  const len = Math.min(bytes.byteLength, maxLengthLength)
  for (let i = 0; i < len; i++) {
    const b = at(i)
    n += (b & 0x7f) * mult
    if (b < 0x80) return n
    mult *= 128
  }
  if (bytes.byteLength >= maxLengthLength) throw new DecodeError('frame length', `a length prefix of more than ${maxLengthLength} bytes`)
  throw new RangeError('incomplete length prefix')
}

/** lpStream over `stream` with frames of at most `maxDataLength` bytes and a bounded length prefix. */
export function framedStream<S extends MessageStream> (stream: S, maxDataLength: number): ReturnType<typeof lpStream<S>> {
  const maxLengthLength = varintLength(maxDataLength)
  return lpStream(stream, { maxDataLength, maxLengthLength, lengthDecoder: (buf) => decodeFrameLength(buf, maxLengthLength) })
}

export type FramedStream = ReturnType<typeof framedStream>

/**
 * True when a read failed because of what the peer sent (an oversized or malformed length prefix), as
 * opposed to the stream ending, being reset or timing out.
 */
export function isFramingError (err: unknown): boolean {
  const e = err as { name?: string, code?: string } | null
  return e?.code === 'ERR_DECODE' || e?.name === 'InvalidDataLengthError' || e?.name === 'InvalidDataLengthLengthError' || e?.name === 'InvalidMessageLengthError'
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

/**
 * Decodes a JSON frame (the raft-client and auction protocols): strict UTF-8, then JSON, then no string
 * (key or value) with a lone UTF-16 surrogate (`\ud800` escapes) and no `__proto__` key, so what a
 * receiver acts on is what every other reader of the same text sees (src/base/input.ts). Throws
 * {@link DecodeError} naming `what`.
 */
export function decodeJsonFrame (bytes: Uint8Array, what: string): unknown {
  let text: string
  try { text = utf8.decode(bytes) } catch { throw new DecodeError(what, 'not UTF-8') }
  let value: unknown
  try { value = JSON.parse(text) } catch { throw new DecodeError(what, 'not JSON') }
  const p = jsonInputProblem(value)
  if (p !== undefined) throw new DecodeError(what, `${p.path === '' ? 'the value' : p.path}: ${describeJsonProblem(p)}`)
  return value
}
