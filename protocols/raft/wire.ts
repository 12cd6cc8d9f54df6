/**
 * Wire codec of Raft messages for the live transport (`/agora/<mesh>/raft/1.0.0`, peers/raft/transport.ts); see
 * peers/PROTOCOL.md (section 2) and protocols/raft/PROTOCOL.md. Paired
 * encode/decode over whole byte arrays with lib0. Decoding is bounds-checked and rejects anything the
 * encoder cannot produce with {@link DecodeError}; the core then validates the semantics (terms,
 * membership) of what decodes.
 */
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { DecodeError } from '../../src/base/errors.js'
import { varUintBytes, writeVarUint } from './envelope.js'
import { MESSAGE_TYPES } from './types.js'
import type { ConfState, Entry, EntryType, Message, MessageType, Snapshot } from './types.js'

export const WIRE_VERSION = 1

/** Limits of one decoded message. */
export interface WireLimits {
  /** Max entries in one message. Default 4096. */
  entriesMax: number
  /** Max bytes of one entry's data. Default 1 MiB. */
  entryBytesMax: number
  /** Max bytes of a snapshot's data. Default 256 MiB. */
  snapshotBytesMax: number
  /** Max members in a snapshot's configuration. Default 1024. */
  membersMax: number
  /** Max bytes of a read context. Default 1024. */
  contextBytesMax: number
}

export const DEFAULT_WIRE_LIMITS: Readonly<WireLimits> = Object.freeze({
  entriesMax: 4096,
  entryBytesMax: 1024 * 1024,
  snapshotBytesMax: 256 * 1024 * 1024,
  membersMax: 1024,
  contextBytesMax: 1024
})

const ENTRY_TYPES: EntryType[] = ['normal', 'confChange']
const FLAG_REJECT = 1
const FLAG_SNAPSHOT = 2
const FLAG_CONTEXT = 4

function writeIds (e: encoding.Encoder, ids: readonly number[]): void {
  encoding.writeVarUint(e, ids.length)
  for (const id of ids) encoding.writeVarUint(e, id)
}

/** The lib0 layout below (the reference: {@link encodeMessageLib0}), sized first and written in one allocation. */
export function encodeMessage (m: Message): Uint8Array {
  if (m.context !== undefined || m.snapshot !== undefined) return encodeMessageLib0(m)
  const ents = m.entries
  let size = 2 + varUintBytes(m.from) + varUintBytes(m.to) + varUintBytes(m.term) + varUintBytes(m.logTerm) + varUintBytes(m.index) +
    varUintBytes(m.commit) + varUintBytes(m.rejectHint) + 1 + varUintBytes(ents.length)
  for (let k = 0; k < ents.length; k++) {
    const en = ents[k]!
    size += varUintBytes(en.term) + varUintBytes(en.index) + 1 + varUintBytes(en.data.length) + en.data.length
  }
  const out = new Uint8Array(size)
  out[0] = WIRE_VERSION
  out[1] = MESSAGE_TYPES.indexOf(m.type)
  let pos = writeVarUint(out, 2, m.from)
  pos = writeVarUint(out, pos, m.to)
  pos = writeVarUint(out, pos, m.term)
  pos = writeVarUint(out, pos, m.logTerm)
  pos = writeVarUint(out, pos, m.index)
  pos = writeVarUint(out, pos, m.commit)
  pos = writeVarUint(out, pos, m.rejectHint)
  out[pos++] = m.reject ? FLAG_REJECT : 0
  pos = writeVarUint(out, pos, ents.length)
  for (let k = 0; k < ents.length; k++) {
    const en = ents[k]!
    pos = writeVarUint(out, pos, en.term)
    pos = writeVarUint(out, pos, en.index)
    out[pos++] = ENTRY_TYPES.indexOf(en.type)
    pos = writeVarUint(out, pos, en.data.length)
    out.set(en.data, pos)
    pos += en.data.length
  }
  return out
}

/** The wire layout written with lib0 (messages with a context or a snapshot; and the reference of {@link encodeMessage}). */
export function encodeMessageLib0 (m: Message): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeUint8(e, WIRE_VERSION)
  encoding.writeUint8(e, MESSAGE_TYPES.indexOf(m.type))
  encoding.writeVarUint(e, m.from)
  encoding.writeVarUint(e, m.to)
  encoding.writeVarUint(e, m.term)
  encoding.writeVarUint(e, m.logTerm)
  encoding.writeVarUint(e, m.index)
  encoding.writeVarUint(e, m.commit)
  encoding.writeVarUint(e, m.rejectHint)
  const flags = (m.reject ? FLAG_REJECT : 0) | (m.snapshot !== undefined ? FLAG_SNAPSHOT : 0) | (m.context !== undefined ? FLAG_CONTEXT : 0)
  encoding.writeUint8(e, flags)
  encoding.writeVarUint(e, m.entries.length)
  for (const en of m.entries) {
    encoding.writeVarUint(e, en.term)
    encoding.writeVarUint(e, en.index)
    encoding.writeUint8(e, ENTRY_TYPES.indexOf(en.type))
    encoding.writeVarUint8Array(e, en.data)
  }
  if (m.context !== undefined) encoding.writeVarUint8Array(e, m.context)
  if (m.snapshot !== undefined) {
    const s = m.snapshot
    encoding.writeVarUint(e, s.metadata.index)
    encoding.writeVarUint(e, s.metadata.term)
    writeIds(e, s.metadata.confState.voters)
    writeIds(e, s.metadata.confState.learners)
    encoding.writeVarUint8Array(e, s.data)
  }
  return encoding.toUint8Array(e)
}

function readUint (d: decoding.Decoder, what: string): number {
  const n = decoding.readVarUint(d)
  if (!Number.isSafeInteger(n)) throw new DecodeError('raft message', `${what} is not a safe integer`)
  return n
}

function readBytes (d: decoding.Decoder, max: number, what: string): Uint8Array {
  const len = readUint(d, `${what} length`)
  if (len > max) throw new DecodeError('raft message', `${what}: ${len} bytes exceed ${max}`)
  if (d.pos + len > d.arr.length) throw new DecodeError('raft message', `${what} truncated`)
  const out = d.arr.slice(d.pos, d.pos + len)
  d.pos += len
  return out
}

function readIds (d: decoding.Decoder, max: number, what: string): number[] {
  const n = readUint(d, `${what} count`)
  if (n > max) throw new DecodeError('raft message', `${n} ${what} exceed ${max}`)
  const out: number[] = []
  for (let i = 0; i < n; i++) out.push(readUint(d, what))
  return out
}

export function decodeMessage (bytes: Uint8Array, limits: WireLimits = DEFAULT_WIRE_LIMITS): Message {
  try {
    const d = decoding.createDecoder(bytes)
    const version = decoding.readUint8(d)
    if (version !== WIRE_VERSION) throw new DecodeError('raft message', `unknown version ${version}`)
    const type: MessageType | undefined = MESSAGE_TYPES[decoding.readUint8(d)]
    if (type === undefined) throw new DecodeError('raft message', 'unknown message type')
    const from = readUint(d, 'from')
    const to = readUint(d, 'to')
    const term = readUint(d, 'term')
    const logTerm = readUint(d, 'logTerm')
    const index = readUint(d, 'index')
    const commit = readUint(d, 'commit')
    const rejectHint = readUint(d, 'rejectHint')
    const flags = decoding.readUint8(d)
    if ((flags & ~(FLAG_REJECT | FLAG_SNAPSHOT | FLAG_CONTEXT)) !== 0) throw new DecodeError('raft message', 'unknown flags')
    const n = readUint(d, 'entry count')
    if (n > limits.entriesMax) throw new DecodeError('raft message', `${n} entries exceed ${limits.entriesMax}`)
    const entries: Entry[] = []
    for (let i = 0; i < n; i++) {
      const eTerm = readUint(d, 'entry term')
      const eIndex = readUint(d, 'entry index')
      const eType = ENTRY_TYPES[decoding.readUint8(d)]
      if (eType === undefined) throw new DecodeError('raft message', 'unknown entry type')
      entries.push({ term: eTerm, index: eIndex, type: eType, data: readBytes(d, limits.entryBytesMax, 'entry data') })
    }
    const m: Message = { type, from, to, term, logTerm, index, entries, commit, reject: (flags & FLAG_REJECT) !== 0, rejectHint }
    if ((flags & FLAG_CONTEXT) !== 0) m.context = readBytes(d, limits.contextBytesMax, 'context')
    if ((flags & FLAG_SNAPSHOT) !== 0) {
      const sIndex = readUint(d, 'snapshot index')
      const sTerm = readUint(d, 'snapshot term')
      const confState: ConfState = { voters: readIds(d, limits.membersMax, 'voters'), learners: readIds(d, limits.membersMax, 'learners') }
      const snapshot: Snapshot = { metadata: { index: sIndex, term: sTerm, confState }, data: readBytes(d, limits.snapshotBytesMax, 'snapshot data') }
      m.snapshot = snapshot
    }
    if (d.pos !== bytes.length) throw new DecodeError('raft message', `${bytes.length - d.pos} trailing bytes`)
    return m
  } catch (err) {
    if (err instanceof DecodeError) throw err
    throw new DecodeError('raft message', (err as Error).message ?? 'malformed')
  }
}
