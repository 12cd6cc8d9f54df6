/**
 * Heartbeats (R5): small messages each peer gossips every `heartbeatIntervalMs` on the mesh's heartbeat
 * topic, outside Yjs. They prove the sender alive (the seal, peers/seal.ts, authenticates the sender), carry
 * its load, and the position of its own documents so receivers see at once when they lag behind
 * (sync health, R7) and pull what they miss.
 *
 *   heartbeat = tag:u8(4) version:u8(2) sentAtMs:varuint load:f64 flags:u8 docCount:varuint
 *               (kind:u8 incarnation:varuint seq:varuint){docCount} [leftIncarnation:varuint]
 *   flags: 1 = leaving (the sender is stopping gracefully); 2 = leftIncarnation follows (only with 1: the
 *   probe detector's last incarnation, which an older ALIVE of the sender cannot outrank). Version 1 (no
 *   flags byte) is still read.
 */
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { DecodeError } from '../../../src/base/errors.js'
import type { DocKind } from '../../../crdt/codec.js'

export const TAG_HEARTBEAT = 4
export const HEARTBEAT_VERSION = 2
const FLAG_LEAVING = 1
const FLAG_INCARNATION = 2
/** Max encoded size of a heartbeat. */
export const HEARTBEAT_BYTES_MAX = 256

const KINDS: DocKind[] = ['reg', 'var']

export interface Heartbeat {
  sentAtMs: number
  /** Sender's load in [0, 1]. */
  load: number
  docs: Array<{ kind: DocKind, incarnation: number, seq: number }>
  /** The sender is stopping gracefully: mark its agents unreachable now. */
  leaving?: boolean
  /** With `leaving`, in probe mode: the sender's last incarnation (peers/sync/liveness/probe.ts). */
  incarnation?: number
}

export function encodeHeartbeat (h: Heartbeat): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeUint8(e, TAG_HEARTBEAT)
  encoding.writeUint8(e, HEARTBEAT_VERSION)
  encoding.writeVarUint(e, Math.max(0, Math.floor(h.sentAtMs)))
  encoding.writeFloat64(e, h.load)
  const withIncarnation = h.leaving === true && h.incarnation !== undefined
  encoding.writeUint8(e, (h.leaving === true ? FLAG_LEAVING : 0) | (withIncarnation ? FLAG_INCARNATION : 0))
  encoding.writeVarUint(e, h.docs.length)
  for (const d of h.docs) {
    encoding.writeUint8(e, KINDS.indexOf(d.kind))
    encoding.writeVarUint(e, d.incarnation)
    encoding.writeVarUint(e, d.seq)
  }
  if (withIncarnation) encoding.writeVarUint(e, Math.max(0, Math.floor(h.incarnation!)))
  return encoding.toUint8Array(e)
}

export function decodeHeartbeat (bytes: Uint8Array): Heartbeat {
  if (bytes.length > HEARTBEAT_BYTES_MAX) throw new DecodeError('heartbeat', `${bytes.length} bytes exceed ${HEARTBEAT_BYTES_MAX}`)
  try {
    const d = decoding.createDecoder(bytes)
    if (decoding.readUint8(d) !== TAG_HEARTBEAT) throw new DecodeError('heartbeat', 'wrong tag')
    const version = decoding.readUint8(d)
    if (version !== 1 && version !== HEARTBEAT_VERSION) throw new DecodeError('heartbeat', `unknown version ${version}`)
    const sentAtMs = decoding.readVarUint(d)
    if (!Number.isSafeInteger(sentAtMs)) throw new DecodeError('heartbeat', 'sentAtMs is not a safe integer')
    const load = decoding.readFloat64(d)
    if (!Number.isFinite(load) || load < 0) throw new DecodeError('heartbeat', 'load must be a finite number >= 0')
    const flags = version >= 2 ? decoding.readUint8(d) : 0
    if ((flags & ~(FLAG_LEAVING | FLAG_INCARNATION)) !== 0) throw new DecodeError('heartbeat', 'unknown flags')
    if ((flags & FLAG_INCARNATION) !== 0 && (flags & FLAG_LEAVING) === 0) throw new DecodeError('heartbeat', 'an incarnation without the leaving flag')
    const n = decoding.readVarUint(d)
    if (n > KINDS.length) throw new DecodeError('heartbeat', `${n} documents`)
    const docs: Heartbeat['docs'] = []
    for (let i = 0; i < n; i++) {
      const kind = KINDS[decoding.readUint8(d)]
      if (kind === undefined) throw new DecodeError('heartbeat', 'unknown document kind')
      const incarnation = decoding.readVarUint(d)
      const seq = decoding.readVarUint(d)
      if (!Number.isSafeInteger(incarnation) || !Number.isSafeInteger(seq)) throw new DecodeError('heartbeat', 'bad numbers')
      docs.push({ kind, incarnation, seq })
    }
    let incarnation: number | undefined
    if ((flags & FLAG_INCARNATION) !== 0) {
      incarnation = decoding.readVarUint(d)
      if (!Number.isSafeInteger(incarnation)) throw new DecodeError('heartbeat', 'leftIncarnation is not a safe integer')
    }
    if (d.pos !== bytes.length) throw new DecodeError('heartbeat', 'trailing bytes')
    return { sentAtMs, load, docs, ...((flags & FLAG_LEAVING) !== 0 ? { leaving: true } : {}), ...(incarnation !== undefined ? { incarnation } : {}) }
  } catch (err) {
    if (err instanceof DecodeError) throw err
    throw new DecodeError('heartbeat', (err as Error).message ?? 'malformed')
  }
}

export type HeartbeatVerdict = 'accept' | 'stale' | 'future'

/**
 * Which heartbeats prove their sender alive. `sentAtMs` is the sender's clock, so it is bounded on both
 * sides by ours: a replay (not newer than the sender's last accepted heartbeat) or one older than
 * `ageMaxMs` is `stale`; one more than `driftMsMax` ahead of our clock is `future` and is not recorded
 * (recorded, it would make every honest heartbeat after it look like a replay). Remembers the last stamp
 * of at most `hostsMax` senders (oldest forgotten).
 */
export class HeartbeatFilter {
  private readonly last = new Map<string, number>()

  constructor (readonly options: { ageMaxMs: number, driftMsMax: number, hostsMax: number }, private readonly now: () => number = Date.now) {}

  check (from: string, sentAtMs: number): HeartbeatVerdict {
    const now = this.now()
    if (sentAtMs > now + this.options.driftMsMax) return 'future'
    const prev = this.last.get(from)
    if ((prev !== undefined && sentAtMs <= prev) || sentAtMs < now - this.options.ageMaxMs) return 'stale'
    if (prev === undefined && this.last.size >= this.options.hostsMax) this.last.delete(this.last.keys().next().value!)
    this.last.set(from, sentAtMs)
    return 'accept'
  }
}
