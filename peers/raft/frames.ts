/**
 * Length-prefixed frames read straight off a libp2p stream's `message` events, without lpStream's
 * per-byte promise reads: every chunk that arrives is parsed at once and each whole frame is handed to
 * `onFrame` synchronously (a view into the chunk when the frame lies in one chunk, else one copy). The
 * framing is the same as everywhere (peers/PROTOCOL.md: unsigned varint length, then the bytes), with the
 * same bounded length prefix (peers/framing.ts).
 *
 * Used by the Raft transport (peers/raft/transport.ts) and by the raw replication baseline of the Raft
 * bench, so both read frames at the same cost.
 */
import type { Stream } from '@libp2p/interface'
import { DecodeError } from '../../src/base/errors.js'
import { varintLength } from '../framing.js'

type Chunk = Uint8Array | { subarray: () => Uint8Array }

export interface FrameReaderInit {
  /** Largest frame accepted (the length prefix is refused beyond it). */
  maxFrameBytes: number
  /** Each whole frame, in order (a view: copy what outlives the call). */
  onFrame: (frame: Uint8Array) => void
  /** A malformed or oversized length prefix: nothing after it can be framed. */
  onError: (err: Error) => void
}

/**
 * Parses frames out of the chunks pushed into it. Holds at most one incomplete frame (bounded by
 * `maxFrameBytes` plus its prefix); a bad prefix stops it for good (`onError` once).
 */
export class FrameReader {
  private pending: Uint8Array[] = []
  private pendingBytes = 0
  /** Length of the frame being assembled (-1: its prefix is not complete yet). */
  private need = -1
  private failed = false
  private readonly maxLengthLength: number

  constructor (private readonly init: FrameReaderInit) {
    this.maxLengthLength = varintLength(init.maxFrameBytes)
  }

  push (chunk: Uint8Array): void {
    if (this.failed) return
    if (this.pendingBytes === 0) { this.parse(chunk); return }
    this.pending.push(chunk)
    this.pendingBytes += chunk.length
    // Join only once the frame is complete (or its prefix could be read).
    if (this.need >= 0 && this.pendingBytes < this.need) return
    const all = new Uint8Array(this.pendingBytes)
    let o = 0
    for (const c of this.pending) { all.set(c, o); o += c.length }
    this.pending = []
    this.pendingBytes = 0
    this.need = -1
    this.parse(all)
  }

  private parse (buf: Uint8Array): void {
    let pos = 0
    while (pos < buf.length) {
      let n = 0
      let mult = 1
      let p = pos
      let complete = false
      for (; p < buf.length && p - pos < this.maxLengthLength; p++) {
        const b = buf[p]!
        n += (b & 0x7f) * mult
        mult *= 128
        if (b < 0x80) { complete = true; p++; break }
      }
      if (!complete) {
        if (p - pos >= this.maxLengthLength) { this.fail(new DecodeError('frame length', `a length prefix of more than ${this.maxLengthLength} bytes`)); return }
        this.keep(buf.subarray(pos), -1)
        return
      }
      if (n > this.init.maxFrameBytes) { this.fail(new DecodeError('frame length', `a frame of ${n} bytes exceeds ${this.init.maxFrameBytes}`)); return }
      if (p + n > buf.length) {
        this.keep(buf.subarray(pos), p - pos + n)
        return
      }
      const frame = buf.subarray(p, p + n)
      pos = p + n
      this.init.onFrame(frame)
      if (this.failed) return
    }
  }

  /** Keeps an incomplete tail (a copy: the chunk's buffer may be reused); `need`: its total bytes once whole, -1 unknown. */
  private keep (tail: Uint8Array, need: number): void {
    this.pending = [tail.slice()]
    this.pendingBytes = tail.length
    this.need = need
  }

  private fail (err: Error): void {
    this.failed = true
    this.pending = []
    this.pendingBytes = 0
    this.init.onError(err)
  }
}

/**
 * Reads frames off `stream` as they arrive (its `message` events); resolves when the stream closes.
 * A bad length prefix aborts the stream and calls `onError`.
 */
export async function readFrames (stream: Stream, init: FrameReaderInit): Promise<void> {
  const reader = new FrameReader({
    ...init,
    onError: (err) => { init.onError(err); stream.abort(err) }
  })
  const onMessage = (evt: Event): void => {
    const data = (evt as unknown as { data: Chunk }).data
    reader.push(data instanceof Uint8Array ? data : data.subarray())
  }
  await new Promise<void>((resolve) => {
    stream.addEventListener('message', onMessage)
    stream.addEventListener('close', () => {
      stream.removeEventListener('message', onMessage)
      resolve()
    }, { once: true })
  })
}

/** Bytes of `frames`, each behind its varint length, in one buffer (one `send`). */
export function encodeFrames (frames: readonly Uint8Array[]): Uint8Array {
  let total = 0
  for (const f of frames) total += varintLength(f.length) + f.length
  const out = new Uint8Array(total)
  let pos = 0
  for (const f of frames) {
    let n = f.length
    while (n >= 0x80) { out[pos++] = (n % 0x80) | 0x80; n = Math.floor(n / 0x80) }
    out[pos++] = n
    out.set(f, pos)
    pos += f.length
  }
  return out
}
