/**
 * The Raft client path for peers outside the group: a peer that runs no Raft sends its commands and
 * linearizable reads over `/agora/<mesh>/raft-client/1.0.0` to a connected group member, which runs them
 * with the client's own session (so a retry through another member still applies exactly once) and
 * answers with the result.
 *
 *   request  = JSON { t: 'propose', c: clientId, s: seq, d: base64 command } | { t: 'read', n: name }
 *            | { t: 'watch', n: name, v: revision, ms: wait } (a coordination object, a task or a budget: answered once its
 *              revision passes v, or after ms, at most {@link CLIENT_WATCH_MS_MAX})
 *   response = JSON { ok: true, r: result, i: index } | { ok: false, code, message }
 * One request and one response per stream, each one length-prefixed frame of at most
 * {@link CLIENT_FRAME_BYTES_MAX}.
 */
import { NoRaftError, RateLimitedError } from './errors.js'
import { PeerQuota, type QuotaLimits } from './quota.js'
import { SIGNATURE_BYTES_MAX, signedPayload } from '../../protocols/raft/envelope.js'
import { BUDGET_TAG, COORD_TAG, ECON_TAG, TASK_TAG } from '../../protocols/mesh/application.js'
import type { Signer } from '../../crdt/signing.js'
import { randomBytes } from 'node:crypto'
import { decodeJsonFrame, framedStream } from '../framing.js'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Stream } from '@libp2p/interface'
import { AgoraError, DecodeError, RETRY_AFTER_MS_MAX } from '../../src/base/errors.js'
import type { Logger } from '../../src/base/log.js'
import { IndefiniteError } from './driver.js'
import type { LiveRaftDriver } from './driver.js'
import type { AgoraLibp2p } from '../node.js'

export const CLIENT_FRAME_BYTES_MAX = 1024 * 1024
/** Requests a member serves at once. */
export const CLIENT_INBOUND_MAX = 256
/** Requests one client peer may have served at once (so idle streams of one peer cannot starve others). */
export const CLIENT_INBOUND_PER_PEER_MAX = 16
/**
 * Watches (long polls) a member holds at once, and per client peer. A watch leaves the request slots
 * above once it is read: a peer parked in watches (one per budget it joined, its lock waits...) still has
 * every request slot for its proposals and reads (its session lease's keepalives among them).
 */
export const CLIENT_WATCHES_MAX = 4096
export const CLIENT_WATCHES_PER_PEER_MAX = 128
/** How long a member waits for a request to arrive on a new stream. */
export const CLIENT_REQUEST_READ_MS = 2000

/** An economy genesis command (tag 0x01 + JSON with type `economy.genesis`): members only. */
function isGenesis (command: Uint8Array): boolean {
  if (command[0] !== 0x01) return false
  try { return (JSON.parse(new TextDecoder().decode(command.subarray(1))) as { type?: unknown })?.type === 'economy.genesis' } catch { return false }
}

export function raftClientProtocol (mesh: string): string {
  return `/agora/${mesh}/raft-client/1.0.0`
}

/** `g`: the client's signature (base64) of signedPayload(`<client peer id>/<c>`, s, command), where the command needs one. */
type Request = { t: 'propose', c: string, s: number, d: string, g?: string } | { t: 'read', n: string } | { t: 'watch', n: string, v: number, ms: number }

/** Longest wait of a watch request. */
export const CLIENT_WATCH_MS_MAX = 30_000
/** A member's watch support: resolves once `name`'s revision passes `rev` (or after `ms`). */
export type WatchFn = (name: string, rev: number, ms: number) => Promise<void>
type Response = { ok: true, r: unknown, i: number } | { ok: false, code: string, message: string, retryAfterMs?: number }

/** Largest `retryAfterMs` of a member's refusal a client accepts (ms). */
export const CLIENT_RETRY_AFTER_MS_MAX = RETRY_AFTER_MS_MAX

/** Longest session suffix `c` a member accepts. */
export const CLIENT_SESSION_CHARS_MAX = 128
/** Longest name `n` of a read. */
export const CLIENT_READ_NAME_CHARS_MAX = 1024

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/** Canonical padded base64 (unused low bits zero): the only text that decodes to one value and back. */
function isBase64 (s: string): boolean {
  return BASE64.test(s) && Buffer.from(s, 'base64').toString('base64') === s
}

/**
 * Decodes a client request (member side): JSON as {@link decodeJsonFrame} reads it (strict UTF-8, no
 * lone surrogate, no `__proto__` key), then the shape: `propose` with `c` a string of at most
 * {@link CLIENT_SESSION_CHARS_MAX} characters, `s` a safe integer >= 1, `d` canonical base64 (padded, as
 * `Buffer.toString('base64')` writes it; Buffer's decoder would skip any other character), `g` absent or
 * base64 of at most {@link SIGNATURE_BYTES_MAX} bytes; `read` with `n` a string of at most
 * {@link CLIENT_READ_NAME_CHARS_MAX} characters. Throws {@link DecodeError} (`ERR_DECODE`).
 */
export function decodeClientRequest (bytes: Uint8Array): Request {
  const req = decodeJsonFrame(bytes, 'raft client request') as Record<string, unknown> | null
  if (req === null || typeof req !== 'object' || Array.isArray(req)) throw new DecodeError('raft client request', 'not an object')
  if (req.t === 'propose') {
    if (typeof req.c !== 'string' || req.c.length > CLIENT_SESSION_CHARS_MAX) throw new DecodeError('raft client request', 'bad session (c)')
    if (!Number.isSafeInteger(req.s) || (req.s as number) < 1) throw new DecodeError('raft client request', 'bad seq (s)')
    if (typeof req.d !== 'string' || !isBase64(req.d)) throw new DecodeError('raft client request', 'bad command (d): not base64')
    if (req.g !== undefined && (typeof req.g !== 'string' || req.g.length > 4 * Math.ceil(SIGNATURE_BYTES_MAX / 3) || !isBase64(req.g))) throw new DecodeError('raft client request', 'bad signature (g)')
    const out: Request = { t: 'propose', c: req.c, s: req.s as number, d: req.d }
    if (req.g !== undefined) out.g = req.g as string
    return out
  }
  if (req.t === 'read') {
    if (typeof req.n !== 'string' || req.n.length > CLIENT_READ_NAME_CHARS_MAX) throw new DecodeError('raft client request', 'bad name (n)')
    return { t: 'read', n: req.n }
  }
  if (req.t === 'watch') {
    if (typeof req.n !== 'string' || req.n.length > CLIENT_READ_NAME_CHARS_MAX || !(req.n.startsWith('coord:') || req.n.startsWith('task:') || req.n.startsWith('budget:'))) throw new DecodeError('raft client request', 'bad name (n): watches name coordination objects, tasks or budgets')
    if (!Number.isSafeInteger(req.v) || (req.v as number) < 0) throw new DecodeError('raft client request', 'bad revision (v)')
    if (!Number.isSafeInteger(req.ms) || (req.ms as number) < 0 || (req.ms as number) > CLIENT_WATCH_MS_MAX) throw new DecodeError('raft client request', `bad wait (ms): 0..${CLIENT_WATCH_MS_MAX}`)
    return { t: 'watch', n: req.n, v: req.v as number, ms: req.ms as number }
  }
  throw new DecodeError('raft client request', 'unknown request type (t)')
}

/**
 * Decodes a member's response (client side): `{ ok: true, r, i }` with `i` a safe integer >= 0, or
 * `{ ok: false, code, message }` with `code` an error code (`ERR_...`, at most 64 characters). Throws
 * {@link DecodeError} (`ERR_DECODE`).
 */
export function decodeClientResponse (bytes: Uint8Array): Response {
  const res = decodeJsonFrame(bytes, 'raft client response') as Record<string, unknown> | null
  if (res === null || typeof res !== 'object' || Array.isArray(res)) throw new DecodeError('raft client response', 'not an object')
  if (res.ok === true) {
    if (!Number.isSafeInteger(res.i) || (res.i as number) < 0) throw new DecodeError('raft client response', 'bad index (i)')
    return { ok: true, r: res.r, i: res.i as number }
  }
  if (res.ok === false) {
    if (typeof res.code !== 'string' || !/^ERR_[A-Z0-9_]{1,60}$/.test(res.code)) throw new DecodeError('raft client response', 'bad error code')
    if (typeof res.message !== 'string') throw new DecodeError('raft client response', 'bad message')
    if (res.retryAfterMs === undefined) return { ok: false, code: res.code, message: res.message }
    if (!Number.isSafeInteger(res.retryAfterMs) || (res.retryAfterMs as number) < 0 || (res.retryAfterMs as number) > CLIENT_RETRY_AFTER_MS_MAX) throw new DecodeError('raft client response', 'bad retryAfterMs')
    return { ok: false, code: res.code, message: res.message, retryAfterMs: res.retryAfterMs as number }
  }
  throw new DecodeError('raft client response', 'ok is not a boolean')
}

/** What a member checks of a client's command before proposing it (the mesh application's `check`). */
export type CommandCheck = (command: Uint8Array) => { code: string, message: string } | undefined

/**
 * Serves client requests on a group member. Each client peer has a quota of requests and bytes
 * (quota.ts), and every command is checked before it is proposed, so junk and floods never reach the log.
 */
export class RaftClientServer {
  private inflight = 0
  private readonly inflightByPeer = new Map<string, number>()
  private watches = 0
  private readonly watchesByPeer = new Map<string, number>()
  readonly stats = { served: 0, refused: 0, malformed: 0, rateLimited: 0, invalid: 0 }
  readonly quota: PeerQuota

  constructor (private readonly node: AgoraLibp2p, private readonly mesh: string, private readonly driver: LiveRaftDriver, private readonly read: (name: string) => unknown, private readonly log: Logger, private readonly check: CommandCheck = () => undefined, quota: Partial<QuotaLimits> = {}, private readonly watch?: WatchFn) {
    this.quota = new PeerQuota(quota)
  }

  async start (): Promise<void> {
    await this.node.handle(raftClientProtocol(this.mesh), (stream, connection) => { void this.serve(stream, connection.remotePeer.toString()) }, { maxInboundStreams: CLIENT_INBOUND_MAX })
  }

  async stop (): Promise<void> {
    await this.node.unhandle(raftClientProtocol(this.mesh)).catch(() => {})
  }

  private async serve (stream: Stream, remotePeer: string): Promise<void> {
    const mine = this.inflightByPeer.get(remotePeer) ?? 0
    if (this.inflight >= CLIENT_INBOUND_MAX || mine >= CLIENT_INBOUND_PER_PEER_MAX) { this.stats.refused++; stream.abort(new Error('too many client requests')); return }
    this.inflight++
    this.inflightByPeer.set(remotePeer, mine + 1)
    let slot: 'request' | 'watch' = 'request'
    const lp = framedStream(stream, CLIENT_FRAME_BYTES_MAX)
    try {
      let req: Request
      try {
        req = decodeClientRequest((await lp.read({ signal: AbortSignal.timeout(CLIENT_REQUEST_READ_MS) })).subarray())
      } catch (err) {
        this.stats.malformed++
        await lp.write(encode({ ok: false, code: 'ERR_DECODE', message: (err as Error).message }))
        await stream.close().catch(() => {})
        return
      }
      if (req.t === 'watch') {
        // From here on the watch holds a watch slot, not a request slot (see CLIENT_WATCHES_PER_PEER_MAX).
        slot = 'watch'
        this.inflight--
        dec(this.inflightByPeer, remotePeer)
        const w = this.watchesByPeer.get(remotePeer) ?? 0
        this.watches++
        this.watchesByPeer.set(remotePeer, w + 1)
        if (this.watches > CLIENT_WATCHES_MAX || w >= CLIENT_WATCHES_PER_PEER_MAX) {
          this.stats.refused++
          await lp.write(encode({ ok: false, code: 'ERR_LIMIT_EXCEEDED', message: `more than ${CLIENT_WATCHES_PER_PEER_MAX} watches of one peer (${CLIENT_WATCHES_MAX} in all) waiting on this member` }))
          await stream.close().catch(() => {})
          return
        }
      }
      let res: Response
      try {
        const command = req.t === 'propose' ? Buffer.from(req.d, 'base64') : undefined
        const now = Date.now()
        const over = this.quota.take(remotePeer, command?.length ?? 0, now)
        const bad = command !== undefined && over === undefined ? this.check(command) : undefined
        if (over !== undefined) {
          this.stats.rateLimited++
          const e = new RateLimitedError('peerProposals', this.quota.retryAfterMs(remotePeer, command?.length ?? 0, now), { peer: remotePeer, quota: over }, `peer ${remotePeer} exceeded its Raft client ${over} quota`)
          res = { ok: false, code: e.code, message: e.message, retryAfterMs: e.details.retryAfterMs as number }
        } else if (bad !== undefined) {
          this.stats.invalid++
          res = { ok: false, code: bad.code, message: bad.message }
        } else if (command !== undefined && isGenesis(command)) {
          res = { ok: false, code: 'ERR_UNAUTHORIZED', message: 'only Raft members propose the economy genesis' }
        } else if (req.t === 'propose') {
          // The session belongs to the authenticated peer: no peer can use (or poison) another's.
          const r = await this.driver.propose(command as Uint8Array, { clientId: `${remotePeer}/${req.c}`, seq: req.s }, req.g === undefined ? undefined : new Uint8Array(Buffer.from(req.g, 'base64')))
          res = { ok: true, r: r.result, i: r.index }
        } else {
          // A watch waits (bounded) for the object to change past the client's revision, then reads.
          if (req.t === 'watch' && this.watch !== undefined) await this.watch(req.n, req.v, req.ms)
          const i = await this.driver.readIndexReliably()
          res = { ok: true, r: this.read(req.n) ?? null, i }
        }
      } catch (err) {
        res = { ok: false, code: (err as { code?: string }).code ?? 'ERR_INTERNAL', message: (err as Error).message }
      }
      this.stats.served++
      await lp.write(encode(res))
      await stream.close().catch(() => {})
    } catch (err) {
      this.log.debug('raft client request failed', { error: (err as Error).message })
      stream.abort(err as Error)
    } finally {
      if (slot === 'request') {
        this.inflight--
        dec(this.inflightByPeer, remotePeer)
      } else {
        this.watches--
        dec(this.watchesByPeer, remotePeer)
      }
    }
  }
}

/** One less for `key` (its entry gone at 0). */
function dec (m: Map<string, number>, key: string): void {
  const left = (m.get(key) ?? 1) - 1
  if (left <= 0) m.delete(key)
  else m.set(key, left)
}

function encode (x: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(x))
}

/** Sends commands and reads from a peer outside the group to a group member. */
export class RaftClient {
  private readonly clientId = 'c' + randomBytes(8).toString('hex')
  private seq = 0
  /** Called with each committed proposal's round trip (ms): the health monitor's commit latency (peers/health). */
  onCommitted: ((ms: number) => void) | undefined

  /** `signer`: this peer's key; it signs commands that need their origin's signature (economy). */
  constructor (private readonly node: AgoraLibp2p, private readonly mesh: string, private readonly members: () => string[], private readonly timeoutMs = 5000, private readonly signer?: Signer) {}

  /** Connected peers that serve the client protocol (Raft group members). */
  async servers (): Promise<string[]> {
    const proto = raftClientProtocol(this.mesh)
    const out: string[] = []
    for (const id of this.members()) {
      const p = await this.node.peerStore.get(peerIdFromString(id)).catch(() => undefined)
      if (p?.protocols.includes(proto) === true) out.push(id)
    }
    return out
  }

  private async request (req: Request, deadline: number): Promise<{ r: unknown, i: number }> {
    let last: Error | undefined
    for (let attempt = 0; Date.now() < deadline; attempt++) {
      const servers = await this.servers()
      if (servers.length === 0) throw new NoRaftError('the Raft client path')
      const target = servers[attempt % servers.length]!
      let stream: Stream | undefined
      try {
        stream = await this.node.dialProtocol(peerIdFromString(target), raftClientProtocol(this.mesh), { signal: AbortSignal.timeout(Math.max(1, deadline - Date.now())) })
        const lp = framedStream(stream, CLIENT_FRAME_BYTES_MAX)
        await lp.write(encode(req))
        let res: Response
        try {
          res = decodeClientResponse((await lp.read({ signal: AbortSignal.timeout(Math.max(1, deadline - Date.now())) })).subarray())
        } catch (err) {
          // A malformed answer says nothing of the command's fate: retried like a transport failure.
          if (err instanceof DecodeError) throw new IndefiniteError('proposal', err.message)
          throw err
        }
        await stream.close().catch(() => {})
        stream = undefined
        if (res.ok) return { r: res.r, i: res.i }
        if (res.code === 'ERR_RATE_LIMITED') throw new RateLimitedError('peerProposals', res.retryAfterMs ?? 1000, { member: target }, res.message)
        // Certain failures are final; unknown outcomes and missing leaders are retried with the same session.
        if (res.code !== 'ERR_INDEFINITE' && res.code !== 'ERR_PROPOSAL_DROPPED' && res.code !== 'ERR_TIMEOUT' && res.code !== 'ERR_NOT_STARTED') throw new AgoraError(res.code, res.message)
        last = new AgoraError(res.code, res.message)
      } catch (err) {
        stream?.abort(err as Error)
        if (err instanceof AgoraError && !['ERR_INDEFINITE', 'ERR_PROPOSAL_DROPPED', 'ERR_TIMEOUT', 'ERR_NOT_STARTED'].includes(err.code)) throw err
        last = err as Error
      }
      await new Promise(resolve => setTimeout(resolve, Math.min(200, 20 * (attempt + 1))))
    }
    throw new IndefiniteError(req.t === 'propose' ? 'proposal' : 'read', last?.message ?? 'deadline passed')
  }

  async propose (command: Uint8Array): Promise<{ index: number, result: unknown }> {
    const seq = ++this.seq
    const req: Request = { t: 'propose', c: this.clientId, s: seq, d: Buffer.from(command).toString('base64') }
    // The member names the session after this (Noise-authenticated) peer: sign what it will propose.
    if (this.signer !== undefined && (command[0] === ECON_TAG || command[0] === COORD_TAG || command[0] === TASK_TAG || command[0] === BUDGET_TAG)) req.g = Buffer.from(this.signer.sign(signedPayload(`${this.signer.id}/${this.clientId}`, seq, command))).toString('base64')
    const t0 = performance.now()
    const { r, i } = await this.request(req, Date.now() + this.timeoutMs)
    this.onCommitted?.(performance.now() - t0)
    return { index: i, result: r }
  }

  async read (name: string): Promise<unknown> {
    return (await this.request({ t: 'read', n: name }, Date.now() + this.timeoutMs)).r
  }

  /** Waits (at most `ms`, bounded by {@link CLIENT_WATCH_MS_MAX}) for coordination object or task `name` to change past revision `rev`; its latest state. */
  async watch (name: string, rev: number, ms: number): Promise<unknown> {
    const wait = Math.min(Math.max(0, Math.floor(ms)), CLIENT_WATCH_MS_MAX)
    return (await this.request({ t: 'watch', n: name, v: rev, ms: wait }, Date.now() + wait + this.timeoutMs)).r
  }
}
