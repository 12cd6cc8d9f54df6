/**
 * The command envelope: how every replicated command travels in a normal Raft entry, on live peers and
 * in the simulator alike.
 *
 *     v1: u8 1 · varString clientId · varUint seq · varUint8Array command
 *     v2: u8 2 · varString clientId · varUint seq · varUint at · varUint8Array command
 *
 * `clientId` names the client's session; its part before the first "/" is the command's origin (the
 * proposing peer, authenticated by whoever accepted the proposal). `seq` numbers the session's commands
 * (a retry reuses it). `at` is the accepting member's clock in ms when it was proposed (0 in v1). Entries
 * whose data is not an envelope (a scenario's raw "x", the leader's empty no-op) carry no command.
 */
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { DecodeError } from '../../src/base/errors.js'

export const ENVELOPE_V1 = 1
export const ENVELOPE_V2 = 2
/** The version written. */
export const ENVELOPE_VERSION = ENVELOPE_V2
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
}

export function encodeEnvelope (env: Envelope): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeUint8(e, ENVELOPE_VERSION)
  encoding.writeVarString(e, env.clientId)
  encoding.writeVarUint(e, env.seq)
  encoding.writeVarUint(e, env.at)
  encoding.writeVarUint8Array(e, env.command)
  return encoding.toUint8Array(e)
}

/** True when `data` starts like an envelope (the apply path skips other data without a decode attempt). */
export function looksLikeEnvelope (data: Uint8Array): boolean {
  return data.length > 0 && (data[0] === ENVELOPE_V1 || data[0] === ENVELOPE_V2)
}

/** Decodes an envelope; throws DecodeError (`ERR_DECODE`) on anything else. */
export function decodeEnvelope (data: Uint8Array): Envelope {
  try {
    const d = decoding.createDecoder(data)
    const v = decoding.readUint8(d)
    if (v !== ENVELOPE_V1 && v !== ENVELOPE_V2) throw new DecodeError('raft command', 'unknown envelope version')
    const clientId = decoding.readVarString(d)
    const seq = decoding.readVarUint(d)
    const at = v === ENVELOPE_V1 ? 0 : decoding.readVarUint(d)
    const command = decoding.readVarUint8Array(d)
    if (d.pos !== data.length) throw new DecodeError('raft command', 'trailing bytes')
    return { clientId, seq, at, command }
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
