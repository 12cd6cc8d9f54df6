/**
 * The command envelope: how every replicated command travels in a normal Raft entry, on live peers and
 * in the simulator alike.
 *
 *     v1: u8 1 · varString clientId · varUint seq · varUint8Array command
 *     v2: u8 2 · varString clientId · varUint seq · varUint at · varUint8Array command
 *     v3: u8 3 · varString clientId · varUint seq · varUint at · varUint8Array command · varUint8Array signature
 *
 * `clientId` names the client's session; its part before the first "/" is the command's origin (the
 * proposing peer, authenticated by whoever accepted the proposal). `seq` numbers the session's commands
 * (a retry reuses it). `at` is the accepting member's clock in ms when it was proposed (0 in v1). Entries
 * whose data is not an envelope (a scenario's raw "x", the leader's empty no-op) carry no command.
 *
 * v3 adds the origin's signature of {@link signedPayload} (client id, seq and command; not `at`, which
 * the accepting member stamps), so no member can speak for another peer: a state machine that requires
 * signatures (the economy) sees a command only when the origin's key signed it. Unsigned commands are
 * written as v2.
 */
import * as decoding from 'lib0/decoding'
import { DecodeError } from '../../src/base/errors.js'

export const ENVELOPE_V1 = 1
export const ENVELOPE_V2 = 2
export const ENVELOPE_V3 = 3
/** The version written for an unsigned command (a signed one is v3). */
export const ENVELOPE_VERSION = ENVELOPE_V2
/** Largest signature carried (Ed25519 signatures are 64 bytes). */
export const SIGNATURE_BYTES_MAX = 128
/**
 * Longest client id a member accepts in a new proposal (checked where proposals enter, not at apply:
 * entries already in a log decode as they always did, so every replica applies them alike).
 */
export const CLIENT_ID_CHARS_MAX = 256

export interface Envelope {
  clientId: string
  seq: number
  /** Proposal time (ms) stamped by the accepting member; 0 for v1 envelopes. */
  at: number
  command: Uint8Array
  /** The origin's signature of {@link signedPayload} (v3). */
  signature?: Uint8Array
}

/**
 * Encodes an envelope in one allocation, byte for byte as lib0 writes it (u8, varString, varUint,
 * varUint, varUint8Array[, varUint8Array]): it runs for every command proposed.
 */
export function encodeEnvelope (env: Envelope): Uint8Array {
  const id = utf8Of(env.clientId)
  const sig = env.signature
  const cmd = env.command
  const out = new Uint8Array(1 + varUintBytes(id.length) + id.length + varUintBytes(env.seq) + varUintBytes(env.at) + varUintBytes(cmd.length) + cmd.length +
    (sig === undefined ? 0 : varUintBytes(sig.length) + sig.length))
  out[0] = sig === undefined ? ENVELOPE_V2 : ENVELOPE_V3
  let pos = writeVarUint(out, 1, id.length)
  out.set(id, pos)
  pos = writeVarUint(out, pos + id.length, env.seq)
  pos = writeVarUint(out, pos, env.at)
  pos = writeVarUint(out, pos, cmd.length)
  out.set(cmd, pos)
  if (sig !== undefined) {
    pos = writeVarUint(out, pos + cmd.length, sig.length)
    out.set(sig, pos)
  }
  return out
}

/** The last client id encoded and its UTF-8 (a driver proposes under one client id, over and over). */
let lastId = ''
let lastIdBytes = new Uint8Array(0)

function utf8Of (clientId: string): Uint8Array {
  if (clientId !== lastId) {
    lastIdBytes = textEncoder.encode(clientId)
    lastId = clientId
  }
  return lastIdBytes
}

/** The last client id decoded, by its bytes (every replica decodes the same few client ids again and again). */
let decodedIdBytes = new Uint8Array(0)
let decodedId = ''

/** Reads a varString as lib0 does (strict UTF-8, a BOM kept), answering a repeat of the last one from a cache. */
function readClientId (d: decoding.Decoder): string {
  const len = decoding.readVarUint(d)
  if (len > d.arr.length - d.pos) throw new DecodeError('raft command', 'client id truncated')
  const bytes = d.arr.subarray(d.pos, d.pos + len)
  d.pos += len
  if (bytes.length === decodedIdBytes.length) {
    let same = true
    for (let i = 0; i < bytes.length; i++) if (bytes[i] !== decodedIdBytes[i]) { same = false; break }
    if (same) return decodedId
  }
  const id = strictUtf8.decode(bytes)
  decodedIdBytes = bytes.slice()
  decodedId = id
  return id
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

const PAYLOAD_CONTEXT = new TextEncoder().encode('agora-raft-command/1\0')

/**
 * What the origin signs: a domain prefix, the client id, the seq and the command, laid out as lib0 would
 * (`context · varString clientId · varUint seq · varUint8Array command`), written in one allocation:
 * every replica computes it for every signed command it applies.
 */
export function signedPayload (clientId: string, seq: number, command: Uint8Array): Uint8Array {
  const id = textEncoder.encode(clientId)
  const out = new Uint8Array(PAYLOAD_CONTEXT.length + varUintBytes(id.length) + id.length + varUintBytes(seq) + varUintBytes(command.length) + command.length)
  out.set(PAYLOAD_CONTEXT, 0)
  let pos = writeVarUint(out, PAYLOAD_CONTEXT.length, id.length)
  out.set(id, pos)
  pos = writeVarUint(out, pos + id.length, seq)
  pos = writeVarUint(out, pos, command.length)
  out.set(command, pos)
  return out
}

const textEncoder = new TextEncoder()

/** Bytes of `n` as a varuint (lib0's layout). */
export function varUintBytes (n: number): number {
  let k = 1
  while (n >= 0x80) { n = Math.floor(n / 0x80); k++ }
  return k
}

/** Writes `n` as a varuint into `out` at `pos`; returns the position after it. */
export function writeVarUint (out: Uint8Array, pos: number, n: number): number {
  while (n >= 0x80) { out[pos++] = (n % 0x80) | 0x80; n = Math.floor(n / 0x80) }
  out[pos++] = n
  return pos
}

/** True when `data` starts like an envelope (the apply path skips other data without a decode attempt). */
export function looksLikeEnvelope (data: Uint8Array): boolean {
  return data.length > 0 && (data[0] === ENVELOPE_V1 || data[0] === ENVELOPE_V2 || data[0] === ENVELOPE_V3)
}

/** The session key `<clientId>/<seq>` of an envelope, read from its head only; undefined for other data. */
export function envelopeKey (data: Uint8Array): string | undefined {
  if (!looksLikeEnvelope(data)) return undefined
  try {
    const d = decoding.createDecoder(data)
    decoding.readUint8(d)
    const clientId = decoding.readVarString(d)
    return `${clientId}/${decoding.readVarUint(d)}`
  } catch {
    return undefined
  }
}

/** Decodes an envelope; throws DecodeError (`ERR_DECODE`) on anything else. */
export function decodeEnvelope (data: Uint8Array): Envelope {
  try {
    const d = decoding.createDecoder(data)
    const v = decoding.readUint8(d)
    if (v !== ENVELOPE_V1 && v !== ENVELOPE_V2 && v !== ENVELOPE_V3) throw new DecodeError('raft command', 'unknown envelope version')
    const clientId = readClientId(d)
    const seq = decoding.readVarUint(d)
    const at = v === ENVELOPE_V1 ? 0 : decoding.readVarUint(d)
    const command = decoding.readVarUint8Array(d)
    const signature = v === ENVELOPE_V3 ? decoding.readVarUint8Array(d) : undefined
    if (signature !== undefined && signature.length > SIGNATURE_BYTES_MAX) throw new DecodeError('raft command', 'signature too long')
    if (d.pos !== data.length) throw new DecodeError('raft command', 'trailing bytes')
    return signature === undefined ? { clientId, seq, at, command } : { clientId, seq, at, command, signature }
  } catch (err) {
    if (err instanceof DecodeError) throw err
    throw new DecodeError('raft command', (err as Error).message ?? 'malformed')
  }
}

/** The origin of a session: its client id's part before the first "/" ("" when it has none). */
export function originOf (clientId: string): string {
  const slash = clientId.indexOf('/')
  return slash > 0 ? clientId.slice(0, slash) : ''
}
