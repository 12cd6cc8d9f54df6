/**
 * Wire formats of the probe liveness mode (`liveness: 'probe'`, peers/PROTOCOL.md 1e): the frames of the
 * probe stream `/agora/<mesh>/probe/1.0.0` and the membership notices on the gossipsub topic
 * `/agora/<mesh>/swim/2`. Binary, lib0; every decoder refuses trailing bytes and numbers that are not
 * safe integers.
 *
 *   probe frame = tag:u8(7) version:u8(2) type:u8 body
 *     1 PING        suspected:varuint flags:u8 [requester:string nonce:bytes]
 *                   suspected: 0 none, else the prober holds the target suspected at suspected − 1;
 *                   flags: 1 transient (the prober dialled this connection for this probe and closes it),
 *                          2 relayed (for `requester`'s PING_REQ: the ACK must be signed over its nonce)
 *     2 ACK         incarnation:varuint load:f64 docCount:varuint (kind:u8 incarnation:varuint seq:varuint){docCount}
 *                   signature:bytes (empty, or 64 bytes: Ed25519 of the acker over ackSigned(requester, nonce, incarnation))
 *     3 PING_REQ    target:string nonce:bytes
 *     4 NACK        (empty)
 *     5 MEMBERS_REQ (empty)
 *     6 MEMBERS     count:varuint (host:string incarnation:varuint addrCount:varuint (addr:bytes){addrCount}){count}
 *
 *   notice = tag:u8(6) version:u8(2) type:u8 incarnation:varuint body
 *     1 ALIVE    addrCount:varuint (addr:bytes){addrCount}: the author (gossipsub's signer) is alive at
 *                `incarnation`, listening on these multiaddrs (binary)
 *     2 SUSPECT  target:string: the author suspects `target` at `incarnation`
 */
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { DecodeError } from '../../../src/base/errors.js'
import type { DocKind } from '../../../crdt/codec.js'

export const TAG_PROBE = 7
export const TAG_NOTICE = 6
export const PROBE_VERSION = 2
export const NOTICE_VERSION = 2
/** Largest probe frame: a MEMBERS list of {@link MEMBERS_MAX} entries with their addresses fits. */
export const PROBE_FRAME_BYTES_MAX = 1024 * 1024
/** Entries of one MEMBERS frame. */
export const MEMBERS_MAX = 4096
/** Addresses of one host in an ALIVE notice. */
export const ALIVE_ADDRS_MAX = 4
/** Addresses of one host in a MEMBERS entry. */
export const MEMBER_ADDRS_MAX = 2
/** Bytes of one binary multiaddr. */
export const ADDR_BYTES_MAX = 64
/** Bytes of a PING_REQ's nonce. */
export const NONCE_BYTES = 16
/** Bytes of an ACK's signature (Ed25519), when it has one. */
export const ACK_SIGNATURE_BYTES = 64
/** Largest notice. */
export const NOTICE_BYTES_MAX = 512
/** PING flag: the prober dialled this connection for this probe only and closes it after. */
export const PING_TRANSIENT = 1
/** PING flag: sent for a requester's PING_REQ; the ACK must be signed over its nonce. */
export const PING_RELAYED = 2
/** Characters of a peer id in a frame (base58btc; longer ones are malformed). */
export const PROBE_PEER_ID_CHARS_MAX = 64
const PEER_ID = /^[1-9A-HJ-NP-Za-km-z]+$/

const KINDS: DocKind[] = ['reg', 'var']

export interface DocPosition { kind: DocKind, incarnation: number, seq: number }

export interface MemberInfo { host: string, incarnation: number, addrs?: Uint8Array[] }

export type ProbeFrame =
  | { t: 'ping', suspected?: number, transient?: boolean, relay?: { requester: string, nonce: Uint8Array } }
  | { t: 'ack', incarnation: number, load: number, docs: DocPosition[], signature?: Uint8Array }
  | { t: 'ping-req', target: string, nonce: Uint8Array }
  | { t: 'nack' }
  | { t: 'members-req' }
  | { t: 'members', members: MemberInfo[] }

export type Notice =
  | { t: 'alive', incarnation: number, addrs?: Uint8Array[] }
  | { t: 'suspect', incarnation: number, target: string }

/**
 * What the target of a relayed PING signs in its ACK: the requester (whom it answers), the requester's
 * nonce (so the ACK cannot be replayed) and its incarnation (so the requester may take it from a relay).
 */
export function ackSigned (requester: string, nonce: Uint8Array, incarnation: number): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeVarString(e, 'agora/probe-ack/1')
  encoding.writeVarString(e, requester)
  encoding.writeVarUint8Array(e, nonce)
  encoding.writeVarUint(e, incarnation)
  return encoding.toUint8Array(e)
}

function writeAddrs (e: encoding.Encoder, addrs: Uint8Array[] | undefined): void {
  encoding.writeVarUint(e, addrs?.length ?? 0)
  for (const a of addrs ?? []) encoding.writeVarUint8Array(e, a)
}

function readAddrs (d: decoding.Decoder, what: string, max: number): Uint8Array[] | undefined {
  const n = decoding.readVarUint(d)
  if (n > max) throw new DecodeError(what, `${n} addresses exceed ${max}`)
  if (n === 0) return undefined
  const out: Uint8Array[] = []
  for (let i = 0; i < n; i++) {
    const a = decoding.readVarUint8Array(d)
    if (a.length === 0 || a.length > ADDR_BYTES_MAX) throw new DecodeError(what, 'malformed address')
    out.push(a.slice())
  }
  return out
}

const PROBE_TYPES = ['ping', 'ack', 'ping-req', 'nack', 'members-req', 'members'] as const

export function encodeProbeFrame (f: ProbeFrame): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeUint8(e, TAG_PROBE)
  encoding.writeUint8(e, PROBE_VERSION)
  encoding.writeUint8(e, PROBE_TYPES.indexOf(f.t) + 1)
  switch (f.t) {
    case 'ping':
      encoding.writeVarUint(e, f.suspected === undefined ? 0 : f.suspected + 1)
      encoding.writeUint8(e, (f.transient === true ? PING_TRANSIENT : 0) | (f.relay !== undefined ? PING_RELAYED : 0))
      if (f.relay !== undefined) {
        encoding.writeVarString(e, f.relay.requester)
        encoding.writeVarUint8Array(e, f.relay.nonce)
      }
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
      encoding.writeVarUint8Array(e, f.signature ?? new Uint8Array(0))
      break
    case 'ping-req':
      encoding.writeVarString(e, f.target)
      encoding.writeVarUint8Array(e, f.nonce)
      break
    case 'members':
      encoding.writeVarUint(e, f.members.length)
      for (const m of f.members) {
        encoding.writeVarString(e, m.host)
        encoding.writeVarUint(e, m.incarnation)
        writeAddrs(e, m.addrs)
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

function readNonce (d: decoding.Decoder, what: string): Uint8Array {
  const n = decoding.readVarUint8Array(d)
  if (n.length !== NONCE_BYTES) throw new DecodeError(what, 'malformed nonce')
  return n.slice()
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
        const flags = decoding.readUint8(d)
        if ((flags & ~(PING_TRANSIENT | PING_RELAYED)) !== 0) throw new DecodeError(what, 'unknown PING flags')
        const f: Extract<ProbeFrame, { t: 'ping' }> = { t }
        if (s !== 0) f.suspected = s - 1
        if ((flags & PING_TRANSIENT) !== 0) f.transient = true
        if ((flags & PING_RELAYED) !== 0) f.relay = { requester: readPeerId(d, what), nonce: readNonce(d, what) }
        return f
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
        const signature = decoding.readVarUint8Array(d)
        if (signature.length !== 0 && signature.length !== ACK_SIGNATURE_BYTES) throw new DecodeError(what, 'malformed signature')
        return signature.length === 0 ? { t, incarnation, load, docs } : { t, incarnation, load, docs, signature: signature.slice() }
      }
      case 'ping-req':
        return { t, target: readPeerId(d, what), nonce: readNonce(d, what) }
      case 'members': {
        const n = decoding.readVarUint(d)
        if (n > MEMBERS_MAX) throw new DecodeError(what, `${n} members exceed ${MEMBERS_MAX}`)
        const members: MemberInfo[] = []
        for (let i = 0; i < n; i++) {
          const m: MemberInfo = { host: readPeerId(d, what), incarnation: readSafe(d, what, 'incarnation') }
          const addrs = readAddrs(d, what, MEMBER_ADDRS_MAX)
          if (addrs !== undefined) m.addrs = addrs
          members.push(m)
        }
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
  else writeAddrs(e, n.addrs)
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
    if (type === 1) {
      const addrs = readAddrs(d, what, ALIVE_ADDRS_MAX)
      return addrs === undefined ? { t: 'alive', incarnation } : { t: 'alive', incarnation, addrs }
    }
    if (type === 2) return { t: 'suspect', incarnation, target: readPeerId(d, what) }
    throw new DecodeError(what, 'unknown notice type')
  })
}
