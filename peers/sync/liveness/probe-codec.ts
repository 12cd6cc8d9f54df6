/**
 * Wire formats of the probe liveness mode (`liveness: 'probe'`, peers/PROTOCOL.md 1e): the frames of the
 * probe stream `/agora/<mesh>/probe/1.0.0` and the membership notices on the gossipsub topic
 * `/agora/<mesh>/swim/2`. Binary, lib0; every decoder refuses trailing bytes and numbers that are not
 * safe integers.
 *
 *   probe frame = tag:u8(7) version:u8(1) type:u8 body
 *     1 PING        suspected:varuint   (0: none; else the prober holds the target suspected at suspected − 1)
 *     2 ACK         incarnation:varuint load:f64 docCount:varuint (kind:u8 incarnation:varuint seq:varuint){docCount}
 *     3 PING_REQ    target:string
 *     4 NACK        (empty)
 *     5 MEMBERS_REQ (empty)
 *     6 MEMBERS     count:varuint (host:string incarnation:varuint){count}
 *
 *   notice = tag:u8(6) version:u8(1) type:u8 incarnation:varuint [target:string]
 *     1 ALIVE    the author (gossipsub's signer) is alive at `incarnation`
 *     2 SUSPECT  the author suspects `target` at `incarnation`
 */
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { DecodeError } from '../../../src/base/errors.js'
import type { DocKind } from '../../../crdt/codec.js'

export const TAG_PROBE = 7
export const TAG_NOTICE = 6
export const PROBE_VERSION = 1
export const NOTICE_VERSION = 1
/** Largest probe frame: a MEMBERS list of {@link MEMBERS_MAX} entries fits. */
export const PROBE_FRAME_BYTES_MAX = 512 * 1024
/** Entries of one MEMBERS frame. */
export const MEMBERS_MAX = 4096
/** Largest notice. */
export const NOTICE_BYTES_MAX = 256
/** Characters of a peer id in a frame (base58btc; longer ones are malformed). */
export const PROBE_PEER_ID_CHARS_MAX = 64
const PEER_ID = /^[1-9A-HJ-NP-Za-km-z]+$/

const KINDS: DocKind[] = ['reg', 'var']

export interface DocPosition { kind: DocKind, incarnation: number, seq: number }

export type ProbeFrame =
  | { t: 'ping', suspected?: number }
  | { t: 'ack', incarnation: number, load: number, docs: DocPosition[] }
  | { t: 'ping-req', target: string }
  | { t: 'nack' }
  | { t: 'members-req' }
  | { t: 'members', members: Array<{ host: string, incarnation: number }> }

export type Notice =
  | { t: 'alive', incarnation: number }
  | { t: 'suspect', incarnation: number, target: string }

const PROBE_TYPES = ['ping', 'ack', 'ping-req', 'nack', 'members-req', 'members'] as const

export function encodeProbeFrame (f: ProbeFrame): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeUint8(e, TAG_PROBE)
  encoding.writeUint8(e, PROBE_VERSION)
  encoding.writeUint8(e, PROBE_TYPES.indexOf(f.t) + 1)
  switch (f.t) {
    case 'ping':
      encoding.writeVarUint(e, f.suspected === undefined ? 0 : f.suspected + 1)
      break
    case 'ack':
      encoding.writeVarUint(e, f.incarnation)
      encoding.writeFloat64(e, f.load)
      encoding.writeVarUint(e, f.docs.length)
      for (const d of f.docs) {
        encoding.writeUint8(e, KINDS.indexOf(d.kind))
        encoding.writeVarUint(e, d.incarnation)
        encoding.writeVarUint(e, d.seq)
      }
      break
    case 'ping-req':
      encoding.writeVarString(e, f.target)
      break
    case 'members':
      encoding.writeVarUint(e, f.members.length)
      for (const m of f.members) {
        encoding.writeVarString(e, m.host)
        encoding.writeVarUint(e, m.incarnation)
      }
      break
    default:
      break
  }
  return encoding.toUint8Array(e)
}

function readSafe (d: decoding.Decoder, what: string, field: string): number {
  const n = decoding.readVarUint(d)
  if (!Number.isSafeInteger(n)) throw new DecodeError(what, `${field} is not a safe integer`)
  return n
}

function readPeerId (d: decoding.Decoder, what: string): string {
  const s = decoding.readVarString(d)
  if (s.length === 0 || s.length > PROBE_PEER_ID_CHARS_MAX || !PEER_ID.test(s)) throw new DecodeError(what, 'malformed peer id')
  return s
}

function decodeWith<T> (bytes: Uint8Array, what: string, max: number, body: (d: decoding.Decoder) => T): T {
  if (bytes.length > max) throw new DecodeError(what, `${bytes.length} bytes exceed ${max}`)
  try {
    const d = decoding.createDecoder(bytes)
    const out = body(d)
    if (d.pos !== bytes.length) throw new DecodeError(what, 'trailing bytes')
    return out
  } catch (err) {
    if (err instanceof DecodeError) throw err
    throw new DecodeError(what, (err as Error).message ?? 'malformed')
  }
}

export function decodeProbeFrame (bytes: Uint8Array): ProbeFrame {
  const what = 'probe frame'
  return decodeWith(bytes, what, PROBE_FRAME_BYTES_MAX, (d) => {
    if (decoding.readUint8(d) !== TAG_PROBE) throw new DecodeError(what, 'wrong tag')
    const version = decoding.readUint8(d)
    if (version !== PROBE_VERSION) throw new DecodeError(what, `unknown version ${version}`)
    const t = PROBE_TYPES[decoding.readUint8(d) - 1]
    switch (t) {
      case 'ping': {
        const s = readSafe(d, what, 'suspected')
        return s === 0 ? { t } : { t, suspected: s - 1 }
      }
      case 'nack': case 'members-req':
        return { t }
      case 'ack': {
        const incarnation = readSafe(d, what, 'incarnation')
        const load = decoding.readFloat64(d)
        if (!Number.isFinite(load) || load < 0) throw new DecodeError(what, 'load must be a finite number >= 0')
        const n = decoding.readVarUint(d)
        if (n > KINDS.length) throw new DecodeError(what, `${n} documents`)
        const docs: DocPosition[] = []
        for (let i = 0; i < n; i++) {
          const kind = KINDS[decoding.readUint8(d)]
          if (kind === undefined) throw new DecodeError(what, 'unknown document kind')
          docs.push({ kind, incarnation: readSafe(d, what, 'incarnation'), seq: readSafe(d, what, 'seq') })
        }
        return { t, incarnation, load, docs }
      }
      case 'ping-req':
        return { t, target: readPeerId(d, what) }
      case 'members': {
        const n = decoding.readVarUint(d)
        if (n > MEMBERS_MAX) throw new DecodeError(what, `${n} members exceed ${MEMBERS_MAX}`)
        const members: Array<{ host: string, incarnation: number }> = []
        for (let i = 0; i < n; i++) members.push({ host: readPeerId(d, what), incarnation: readSafe(d, what, 'incarnation') })
        return { t, members }
      }
      default:
        throw new DecodeError(what, 'unknown frame type')
    }
  })
}

export function encodeNotice (n: Notice): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeUint8(e, TAG_NOTICE)
  encoding.writeUint8(e, NOTICE_VERSION)
  encoding.writeUint8(e, n.t === 'alive' ? 1 : 2)
  encoding.writeVarUint(e, n.incarnation)
  if (n.t === 'suspect') encoding.writeVarString(e, n.target)
  return encoding.toUint8Array(e)
}

export function decodeNotice (bytes: Uint8Array): Notice {
  const what = 'membership notice'
  return decodeWith(bytes, what, NOTICE_BYTES_MAX, (d) => {
    if (decoding.readUint8(d) !== TAG_NOTICE) throw new DecodeError(what, 'wrong tag')
    const version = decoding.readUint8(d)
    if (version !== NOTICE_VERSION) throw new DecodeError(what, `unknown version ${version}`)
    const type = decoding.readUint8(d)
    const incarnation = readSafe(d, what, 'incarnation')
    if (type === 1) return { t: 'alive', incarnation }
    if (type === 2) return { t: 'suspect', incarnation, target: readPeerId(d, what) }
    throw new DecodeError(what, 'unknown notice type')
  })
}
