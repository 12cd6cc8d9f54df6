/**
 * The reachability view (FEATURES I3): a small signed gossip message in which a peer tells the mesh which
 * hosts it currently finds silent (suspected or unreachable). Receivers use it to tell a host only they
 * cannot reach (others reach it: a partition between them and it) from one nobody reaches, and to group
 * silent hosts by the connectivity last known between them. Sent on `/agora/<mesh>/view/2` (sealed, peers/seal.ts)
 * when the sender's set changes (at most once every `viewScale` heartbeat periods: 1, or ceil(hosts / 10)
 * in the probe liveness mode) and every {@link VIEW_REFRESH_HEARTBEATS} × `viewScale` heartbeat periods.
 *
 *   view = tag:u8(5) version:u8(1) sentAtMs:varuint reached:varuint silentTotal:varuint count:varuint
 *          (peerId:string){count}
 *
 * `reached`: hosts the sender hears (itself excluded); `silentTotal`: hosts it finds silent, of which the
 * first `count` (at most {@link VIEW_SILENT_MAX}, sorted) are listed; `count < silentTotal` means the list
 * was cut. Peer ids are libp2p peer ids in their string form (base58btc, at most
 * {@link VIEW_PEER_ID_CHARS_MAX} characters), checked by character set only: a receiver only compares
 * them with ids it knows.
 */
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { DecodeError } from '../../src/base/errors.js'

export const TAG_VIEW = 5
export const VIEW_VERSION = 1
/** Silent hosts listed in one view (the rest are only counted). */
export const VIEW_SILENT_MAX = 32
/** Longest peer id in a view (characters). */
export const VIEW_PEER_ID_CHARS_MAX = 64
/** Max encoded size of a view. */
export const VIEW_BYTES_MAX = 2560
/** A view is sent at least this often (heartbeat periods), changed or not. */
export const VIEW_REFRESH_HEARTBEATS = 10
/** A view not refreshed for this many heartbeat periods is forgotten by receivers (3 refreshes missed). */
export const VIEW_TTL_HEARTBEATS = 3 * VIEW_REFRESH_HEARTBEATS

/** Gossipsub topic of views (sealed by their author, peers/seal.ts): `/agora/<mesh>/view/2`. */
export function viewTopic (mesh: string): string {
  return `/agora/${mesh}/view/2`
}

export interface ReachabilityView {
  sentAtMs: number
  /** Hosts the sender hears (itself excluded). */
  reached: number
  /** Hosts the sender finds silent; `silent` lists at most {@link VIEW_SILENT_MAX} of them. */
  silentTotal: number
  /** Silent hosts (peer ids), sorted, at most {@link VIEW_SILENT_MAX}. */
  silent: string[]
}

const PEER_ID = /^[1-9A-HJ-NP-Za-km-z]+$/

export function encodeView (v: ReachabilityView): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeUint8(e, TAG_VIEW)
  encoding.writeUint8(e, VIEW_VERSION)
  encoding.writeVarUint(e, Math.max(0, Math.floor(v.sentAtMs)))
  encoding.writeVarUint(e, v.reached)
  const listed = v.silent.slice(0, VIEW_SILENT_MAX)
  encoding.writeVarUint(e, Math.max(v.silentTotal, listed.length))
  encoding.writeVarUint(e, listed.length)
  for (const id of listed) encoding.writeVarString(e, id)
  return encoding.toUint8Array(e)
}

/** Decodes a view; a malformed one is a {@link DecodeError} (`ERR_DECODE`). */
export function decodeView (bytes: Uint8Array): ReachabilityView {
  if (bytes.length > VIEW_BYTES_MAX) throw new DecodeError('view', `${bytes.length} bytes exceed ${VIEW_BYTES_MAX}`)
  try {
    const d = decoding.createDecoder(bytes)
    if (decoding.readUint8(d) !== TAG_VIEW) throw new DecodeError('view', 'wrong tag')
    const version = decoding.readUint8(d)
    if (version !== VIEW_VERSION) throw new DecodeError('view', `unknown version ${version}`)
    const sentAtMs = decoding.readVarUint(d)
    const reached = decoding.readVarUint(d)
    const silentTotal = decoding.readVarUint(d)
    if (!Number.isSafeInteger(sentAtMs) || !Number.isSafeInteger(reached) || !Number.isSafeInteger(silentTotal)) throw new DecodeError('view', 'numbers must be safe integers')
    const n = decoding.readVarUint(d)
    if (n > VIEW_SILENT_MAX) throw new DecodeError('view', `${n} silent hosts listed, at most ${VIEW_SILENT_MAX}`)
    if (n > silentTotal) throw new DecodeError('view', 'more hosts listed than silentTotal')
    const silent: string[] = []
    for (let i = 0; i < n; i++) {
      const id = decoding.readVarString(d)
      if (id.length === 0 || id.length > VIEW_PEER_ID_CHARS_MAX || !PEER_ID.test(id)) throw new DecodeError('view', 'a listed host is not a peer id')
      silent.push(id)
    }
    if (d.pos !== bytes.length) throw new DecodeError('view', 'trailing bytes')
    return { sentAtMs, reached, silentTotal, silent }
  } catch (err) {
    if (err instanceof DecodeError) throw err
    throw new DecodeError('view', (err as Error).message ?? 'malformed')
  }
}
