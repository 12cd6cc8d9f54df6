/**
 * Request/response channels of the agents' protocol (`/agora/<mesh>/agents/1.0.0`, which grew out of the
 * auction protocol `/agora/<mesh>/auction/2.0.0`): one long-lived libp2p stream per (requester, host) pair
 * carries many requests, each a length-prefixed JSON frame `{ id, f }` answered by `{ id, r }`, in any
 * order. Opening a stream per request (auction version 1) cost more than the requests themselves under load.
 *
 * Limits: frames of at most {@link CHANNEL_FRAME_BYTES_MAX}; at most {@link CHANNEL_PENDING_MAX} requests
 * waiting on one channel (beyond: refused at once, `ERR_LIMIT_EXCEEDED`); a host handles at most
 * {@link CHANNEL_INFLIGHT_MAX} requests of one channel at once and reads no further frame until one is done
 * (backpressure through the stream's flow control; the requester's timeouts bound the wait); over the
 * host's limit for all channels together a request is answered `ERR_LIMIT_EXCEEDED`; a channel idle for
 * {@link CHANNEL_IDLE_MS} is closed by the host. A malformed frame ends the channel.
 */
import { decodeJsonFrame, framedStream, isFramingError, type FramedStream } from '../framing.js'
import type { Stream } from '@libp2p/interface'
import { DecodeError } from '../../src/base/errors.js'

/** Max bytes of one frame (a request's or reply's JSON payload is at most AGENT_PAYLOAD_BYTES_MAX of it). */
export const CHANNEL_FRAME_BYTES_MAX = 64 * 1024
/** Requests waiting for their reply on one channel. */
export const CHANNEL_PENDING_MAX = 256
/** Requests of one channel a host handles at once. */
export const CHANNEL_INFLIGHT_MAX = 64
/** A host closes a channel with no request for this long. */
export const CHANNEL_IDLE_MS = 60_000
/** Longest wait to write one frame. */
const WRITE_TIMEOUT_MS = 10_000

/**
 * A host's answer: an outcome word (`bid`, `voted`, `reply`, `delivered`...) with, for requests, the
 * handler's JSON `value`; or a named failure, with `retryAfterMs` when a retry could pass later (a rate
 * limit's refusal). `local` marks failures made on the requester's side before or without the host's
 * answer (never on the wire).
 */
export type Reply = { ok: true, outcome: string, value?: unknown } | { ok: false, code: string, message: string, retryAfterMs?: number, local?: true }

/** Largest `retryAfterMs` of a reply a requester accepts (ms). */
export const REPLY_RETRY_AFTER_MS_MAX = 3_600_000

const enc = new TextEncoder()

/** Longest `outcome`, `code` and `message` of a reply a requester accepts. */
const REPLY_OUTCOME_CHARS_MAX = 64
const REPLY_MESSAGE_CHARS_MAX = 4096

/**
 * Decodes a request frame `{ id, f }` (host side): JSON as {@link decodeJsonFrame} reads it, `id` a safe
 * integer, `f` accepted by `valid`. Throws {@link DecodeError} (`ERR_DECODE`).
 */
export function decodeChannelRequest (bytes: Uint8Array, valid: (f: unknown) => boolean): { id: number, f: unknown } {
  const m = decodeJsonFrame(bytes, 'channel request') as { id?: unknown, f?: unknown } | null
  if (m === null || typeof m !== 'object' || Array.isArray(m)) throw new DecodeError('channel request', 'not an object')
  if (!Number.isSafeInteger(m.id)) throw new DecodeError('channel request', 'id is not a safe integer')
  if (!valid(m.f)) throw new DecodeError('channel request', 'bad frame')
  return { id: m.id as number, f: m.f }
}

/**
 * Decodes a reply frame `{ id, r }` (requester side): `r` is `{ ok: true, outcome, value? }` (`value` any
 * JSON, bounded by the frame) or `{ ok: false, code, message, retryAfterMs? }` with short strings and
 * `retryAfterMs` an integer in 0..{@link REPLY_RETRY_AFTER_MS_MAX}. Throws
 * {@link DecodeError} (`ERR_DECODE`).
 */
export function decodeChannelReply (bytes: Uint8Array): { id: number, r: Reply } {
  const m = decodeJsonFrame(bytes, 'channel reply') as { id?: unknown, r?: Record<string, unknown> } | null
  if (m === null || typeof m !== 'object' || Array.isArray(m)) throw new DecodeError('channel reply', 'not an object')
  if (!Number.isSafeInteger(m.id)) throw new DecodeError('channel reply', 'id is not a safe integer')
  const r = m.r
  const short = (v: unknown, max: number): v is string => typeof v === 'string' && v.length <= max
  if (r === null || typeof r !== 'object' || Array.isArray(r)) throw new DecodeError('channel reply', 'no result')
  if (r.ok === true && short(r.outcome, REPLY_OUTCOME_CHARS_MAX)) return { id: m.id as number, r: r.value === undefined ? { ok: true, outcome: r.outcome } : { ok: true, outcome: r.outcome, value: r.value } }
  if (r.ok === false && short(r.code, REPLY_OUTCOME_CHARS_MAX) && short(r.message, REPLY_MESSAGE_CHARS_MAX)) {
    if (r.retryAfterMs === undefined) return { id: m.id as number, r: { ok: false, code: r.code, message: r.message } }
    if (Number.isSafeInteger(r.retryAfterMs) && (r.retryAfterMs as number) >= 0 && (r.retryAfterMs as number) <= REPLY_RETRY_AFTER_MS_MAX) return { id: m.id as number, r: { ok: false, code: r.code, message: r.message, retryAfterMs: r.retryAfterMs as number } }
  }
  throw new DecodeError('channel reply', 'bad result')
}

/**
 * Write options whose `signal` (the {@link WRITE_TIMEOUT_MS} bound on waiting for the stream to drain) is
 * made only when a write reads it: lpStream passes the options through and reads `signal` only to wait for
 * `drain`, so a write that goes straight out costs no timer signal (one `AbortSignal.timeout` per frame was
 * a measurable part of a request's CPU). The bound starts when the wait starts.
 */
const writeOptions = Object.freeze({ get signal (): AbortSignal { return AbortSignal.timeout(WRITE_TIMEOUT_MS) } })

/** Writes frames one at a time (length-prefixed writes must not interleave). */
class Writer {
  private chain: Promise<void> = Promise.resolve()
  constructor (private readonly lp: FramedStream) {}
  async write (obj: unknown): Promise<void> {
    const bytes = enc.encode(JSON.stringify(obj))
    const next = this.chain.then(async () => { await this.lp.write(bytes, writeOptions) })
    this.chain = next.catch(() => {})
    await next
  }
}

/**
 * The host's idle bound on one channel: one signal for the channel's life, aborted (TimeoutError) once a
 * read has waited {@link CHANNEL_IDLE_MS} for the next frame, instead of a timer signal per frame read.
 */
class IdleBound {
  private readonly controller = new AbortController()
  private waitingSince: number | undefined
  private timer: ReturnType<typeof setTimeout> | undefined
  get signal (): AbortSignal { return this.controller.signal }

  /** A read for the next frame starts waiting. */
  waiting (): void {
    this.waitingSince = performance.now()
    if (this.timer === undefined) this.arm(CHANNEL_IDLE_MS)
  }

  /** The frame arrived (or the read ended). */
  done (): void { this.waitingSince = undefined }

  stop (): void { clearTimeout(this.timer); this.timer = undefined }

  private arm (ms: number): void {
    this.timer = setTimeout(() => {
      this.timer = undefined
      if (this.waitingSince === undefined) return // re-armed by the next wait
      const left = CHANNEL_IDLE_MS - (performance.now() - this.waitingSince)
      if (left > 0) { this.arm(left); return }
      this.controller.abort(new DOMException('the channel was idle', 'TimeoutError'))
    }, Math.max(1, Math.ceil(ms)))
    this.timer.unref?.()
  }
}

/** The requester's end of a channel. */
export class Channel {
  private readonly writer: Writer
  private readonly lp: FramedStream
  private nextId = 1
  private readonly pending = new Map<number, { resolve: (r: Reply) => void, timer: ReturnType<typeof setTimeout> }>()
  closed = false

  constructor (private readonly stream: Stream) {
    this.lp = framedStream(stream, CHANNEL_FRAME_BYTES_MAX)
    this.writer = new Writer(this.lp)
    void this.readLoop()
  }

  /** Sends `frame`; resolves with the host's reply, or a failure reply (`ERR_TIMEOUT`, `ERR_UNREACHABLE`...). Never rejects. */
  async request (frame: unknown, timeoutMs: number): Promise<Reply> {
    if (this.closed) return { ok: false, code: 'ERR_UNREACHABLE', message: 'the channel is closed' }
    if (this.pending.size >= CHANNEL_PENDING_MAX) return { ok: false, code: 'ERR_LIMIT_EXCEEDED', message: `more than ${CHANNEL_PENDING_MAX} requests waiting on this host`, local: true }
    const id = this.nextId++
    const reply = new Promise<Reply>((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        resolve({ ok: false, code: 'ERR_TIMEOUT', message: `no reply within ${timeoutMs} ms` })
      }, timeoutMs)
      this.pending.set(id, { resolve, timer })
    })
    try {
      await this.writer.write({ id, f: frame })
    } catch (err) {
      this.fail(`write failed: ${(err as Error).message}`)
    }
    return await reply
  }

  close (): void {
    this.fail('closed')
    this.stream.close().catch(() => { this.stream.abort(new Error('closed')) })
  }

  private async readLoop (): Promise<void> {
    try {
      for (;;) {
        const m = decodeChannelReply((await this.lp.read()).subarray())
        const p = this.pending.get(m.id)
        if (p === undefined) continue // its requester timed out
        this.pending.delete(m.id)
        clearTimeout(p.timer)
        p.resolve(m.r)
      }
    } catch (err) {
      this.fail((err as Error).message ?? 'stream ended')
    }
  }

  private fail (why: string): void {
    this.closed = true
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer)
      this.pending.delete(id)
      p.resolve({ ok: false, code: 'ERR_UNREACHABLE', message: `the host's channel ended (${why})` })
    }
  }
}

export interface ServeHooks {
  /** Validates a frame's payload (false: the channel is ended as malformed). */
  valid: (f: unknown) => boolean
  /** Handles one request; its errors become failure replies. */
  handle: (f: unknown) => Promise<Reply>
  /** Takes a slot for one request (all channels together); false: refused (`ERR_LIMIT_EXCEEDED`); a reply: refused with it (no slot taken). */
  admit: (f: unknown) => boolean | Reply
  release: () => void
  malformed: (why: string) => void
}

/** The host's end: serves one channel until it ends, is idle too long, or sends a malformed frame. */
export async function serveChannel (stream: Stream, hooks: ServeHooks): Promise<void> {
  const lp = framedStream(stream, CHANNEL_FRAME_BYTES_MAX)
  const writer = new Writer(lp)
  const idle = new IdleBound()
  let inflight = 0
  let slotFreed: (() => void) | undefined
  const answer = async (id: number, r: Reply): Promise<void> => {
    try { await writer.write({ id, r }) } catch (err) { stream.abort(err as Error) }
  }
  try {
    for (;;) {
      // Backpressure: no further frame is read while this channel's requests fill their slots.
      while (inflight >= CHANNEL_INFLIGHT_MAX) await new Promise<void>((resolve) => { slotFreed = resolve })
      let m: { id: number, f: unknown }
      try {
        idle.waiting()
        let frame
        try { frame = await lp.read({ signal: idle.signal }) } finally { idle.done() }
        m = decodeChannelRequest(frame.subarray(), hooks.valid)
      } catch (err) {
        const name = (err as Error).name
        if (name === 'TimeoutError' || name === 'AbortError') { await stream.close().catch(() => {}); return }
        // Not a frame of this protocol (bad JSON or shape, oversized, a bad length prefix): counted, and
        // the channel ends (the next frame of an oversized one cannot be found).
        if (isFramingError(err)) { hooks.malformed((err as Error).message); stream.abort(err as Error); return }
        return // the requester closed or reset the stream
      }
      const id = m.id
      const freed = (): void => {
        inflight--
        const wake = slotFreed
        slotFreed = undefined
        wake?.()
      }
      // A refusal holds its slot until it is written too: a requester that floods frames and never reads
      // its replies cannot queue refusals without bound.
      inflight++
      const admitted = hooks.admit(m.f)
      if (admitted !== true) {
        void answer(id, admitted === false ? { ok: false, code: 'ERR_LIMIT_EXCEEDED', message: 'the host is busy' } : admitted).finally(freed)
        continue
      }
      void hooks.handle(m.f)
        .catch((err: Error): Reply => ({ ok: false, code: 'ERR_HANDLER', message: err?.message ?? 'handler failed' }))
        .then(async (r) => { await answer(id, r) })
        .finally(() => {
          hooks.release()
          freed()
        })
    }
  } catch (err) {
    stream.abort(err as Error)
  } finally {
    idle.stop()
  }
}
