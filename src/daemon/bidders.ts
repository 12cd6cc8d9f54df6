/**
 * Bid requests answered over HTTP, so agents written in any language can bid (O2). An agent hosted by
 * the daemon gets a bidder with `POST /v1/agents/:id/bidder`:
 *
 * - `{ "callback": "http://127.0.0.1:9000/bid" }`: for each bid request the daemon POSTs the
 *   {@link BidRequest} JSON (plus `requestId`) there and bids what the JSON response says:
 *   `{ "bid": { "amount": 40 } }`, or `{ "bid": null }` to abstain. Loopback URLs only unless the
 *   daemon's `allowRemoteBidCallbacks` is set; the answer must come within `timeoutMs` and be at most
 *   {@link CALLBACK_RESPONSE_BYTES_MAX} bytes.
 * - `{}` (no callback): long-poll. `GET /v1/bid-requests?agent=X&waitMs=N` returns the agent's pending
 *   requests (waiting up to `waitMs` for one), `POST /v1/bid-requests/:requestId { "bid": ... }` answers
 *   one. At most {@link BID_QUEUE_PER_AGENT_MAX} requests wait per agent; an unanswered request
 *   times out after `timeoutMs` (the auction records ERR_TIMEOUT for the agent).
 *
 * Either way the daemon registers the handler with `peer.economy.handle(agentId, handler)`; the bid is
 * proposed by this daemon, the owner of the agent's account.
 *
 * With a data dir the registrations are kept in `<dataDir>/bidders.json` (written to a temporary file,
 * fsynced, then renamed over the old one) and restored when the daemon starts; a saved bidder whose
 * agent is no longer hosted here, or whose callback is no longer allowed, is dropped with a warning.
 */
import { randomBytes } from 'node:crypto'
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs'
import { AgoraError, LimitExceededError, TimeoutError } from '../base/errors.js'
import { describeJsonProblem, jsonInputProblem } from '../base/input.js'
import type { Peer } from '../../peers/peer.js'
import type { BidRequest } from '../../peers/economy/economy.js'
import type { BidPayload } from '../../protocols/market/types.js'

/** Requests waiting for a long-polling agent's answer, per agent. */
export const BID_QUEUE_PER_AGENT_MAX = 64
/** Long-poll GETs waiting at once (all agents). */
export const BID_POLLERS_MAX = 256
/** Longest `waitMs` of a long-poll. */
export const BID_POLL_WAIT_MS_MAX = 30_000
/** Bytes of a callback's response body. */
export const CALLBACK_RESPONSE_BYTES_MAX = 64 * 1024
/** Default and maximum time a bidder gets to answer one request. */
export const BIDDER_TIMEOUT_MS_DEFAULT = 5000
export const BIDDER_TIMEOUT_MS_MAX = 60_000

/** The file, in the data dir, that keeps the bidders across restarts. */
export const BIDDERS_FILE = 'bidders.json'
/** Version of {@link BIDDERS_FILE}'s format. */
const BIDDERS_FILE_VERSION = 1

export interface BidderSpec { callback?: string, timeoutMs?: number }

export interface BiddersOptions {
  allowRemoteCallbacks: boolean
  /** Where registrations are kept across restarts (default: nowhere, in memory). */
  file?: string
  /** Where restore problems are reported. */
  warn?: (msg: string, fields?: Record<string, unknown>) => void
}

/** The bidders file could not be written; the registration did not change. */
export class BiddersStoreError extends AgoraError {
  static override readonly name = 'BiddersStoreError'
  constructor (file: string, cause: unknown) {
    super('ERR_BIDDERS_STORE', `cannot write ${file}: ${(cause as Error).message}`, { file }, { cause })
  }
}
export interface BidderInfo { agent: string, mode: 'callback' | 'poll', callback?: string, timeoutMs: number }

interface Pending { requestId: string, agent: string, request: BidRequest, expiresAt: number, settle: (bid: BidPayload | null) => void }

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\]|localhost)$/i

export class Bidders {
  private readonly bidders = new Map<string, BidderInfo>()
  private readonly queues = new Map<string, Pending[]>()
  private readonly byId = new Map<string, Pending>()
  private readonly waiters = new Map<string, Set<() => void>>()
  private pollers = 0
  readonly stats = { callbacks: 0, callbackErrors: 0, polled: 0, answered: 0, timedOut: 0 }
  private closing = false

  constructor (private readonly peer: Peer, private readonly options: BiddersOptions) {
    if (options.file !== undefined) this.restore(options.file)
  }

  list (): BidderInfo[] { return [...this.bidders.values()] }

  private restore (file: string): void {
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.options.warn?.('cannot read the saved bidders', { file, error: (err as Error).message })
      return
    }
    let saved: BidderInfo[]
    try {
      const v = JSON.parse(text) as { version?: unknown, bidders?: unknown }
      if (v.version !== BIDDERS_FILE_VERSION || !Array.isArray(v.bidders)) throw new Error(`not a version ${BIDDERS_FILE_VERSION} bidders file`)
      saved = v.bidders as BidderInfo[]
    } catch (err) {
      this.options.warn?.('the saved bidders are unreadable; starting without them', { file, error: (err as Error).message })
      return
    }
    let dropped = 0
    for (const b of saved) {
      try {
        this.set(String(b.agent), { ...(b.callback !== undefined ? { callback: b.callback } : {}), ...(typeof b.timeoutMs === 'number' ? { timeoutMs: b.timeoutMs } : {}) }, false)
      } catch (err) {
        dropped++
        this.options.warn?.('a saved bidder was dropped', { agent: b.agent, error: (err as Error).message })
      }
    }
    if (dropped > 0) this.save(this.list())
  }

  /** Writes `list` to the bidders file atomically (temporary file, fsync, rename). */
  private save (list: BidderInfo[]): void {
    const file = this.options.file
    if (file === undefined || this.closing) return
    const tmp = `${file}.tmp`
    try {
      const fd = openSync(tmp, 'w', 0o600)
      try {
        writeSync(fd, JSON.stringify({ version: BIDDERS_FILE_VERSION, bidders: list }) + '\n')
        fsyncSync(fd)
      } finally {
        closeSync(fd)
      }
      renameSync(tmp, file)
    } catch (err) {
      throw new BiddersStoreError(file, err)
    }
  }

  /** Makes `agent` (hosted here) a bidder; replaces an earlier bidder of the same agent. */
  set (agent: string, spec: BidderSpec, persist = true): BidderInfo {
    if (!this.peer.registry.localAgents().some(a => a.id === agent)) {
      throw new AgoraError('ERR_AGENT_NOT_FOUND', `agent ${agent} is not hosted by this daemon (register it first)`, { path: 'id' })
    }
    const timeoutMs = spec.timeoutMs ?? BIDDER_TIMEOUT_MS_DEFAULT
    let info: BidderInfo
    if (spec.callback !== undefined) {
      let url: URL
      try { url = new URL(spec.callback) } catch { throw new AgoraError('ERR_BAD_REQUEST', 'callback is not a URL', { path: 'callback' }) }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new AgoraError('ERR_BAD_REQUEST', 'callback must be an http(s) URL', { path: 'callback' })
      if (!this.options.allowRemoteCallbacks && !LOOPBACK.test(url.hostname)) {
        throw new AgoraError('ERR_CALLBACK_NOT_ALLOWED', `callback host ${url.hostname} is not loopback (set allowRemoteBidCallbacks in the daemon config to allow it)`, { path: 'callback' })
      }
      info = { agent, mode: 'callback', callback: url.href, timeoutMs }
    } else {
      info = { agent, mode: 'poll', timeoutMs }
    }
    // On disk first: a registration the daemon could not keep is refused, not half made.
    if (persist) this.save([...this.list().filter(b => b.agent !== agent), info])
    const handler = info.mode === 'callback'
      ? async (req: BidRequest) => await this.callback(info, req)
      : async (req: BidRequest) => await this.enqueue(info, req)
    this.peer.economy.handle(agent, handler)
    this.dropQueue(agent)
    this.bidders.set(agent, info)
    return info
  }

  remove (agent: string): boolean {
    if (!this.bidders.has(agent)) return false
    this.save(this.list().filter(b => b.agent !== agent))
    this.bidders.delete(agent)
    this.peer.economy.unhandle(agent)
    this.dropQueue(agent)
    return true
  }

  /** Stops serving every bidder; the saved registrations stay for the next start. */
  close (): void {
    this.closing = true
    for (const a of [...this.bidders.keys()]) this.remove(a)
    for (const ws of this.waiters.values()) for (const w of ws) w()
  }

  private dropQueue (agent: string): void {
    for (const p of this.queues.get(agent) ?? []) { this.byId.delete(p.requestId); p.settle(null) }
    this.queues.delete(agent)
  }

  private async callback (info: BidderInfo, req: BidRequest): Promise<BidPayload | null> {
    this.stats.callbacks++
    const requestId = randomBytes(8).toString('hex')
    try {
      const res = await fetch(info.callback!, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ requestId, ...req }),
        signal: AbortSignal.timeout(info.timeoutMs),
        redirect: 'error'
      })
      const text = await readLimited(res, CALLBACK_RESPONSE_BYTES_MAX)
      if (!res.ok) throw new AgoraError('ERR_CALLBACK_FAILED', `bid callback of ${info.agent} answered ${res.status}`)
      return parseAnswer(text, `bid callback of ${info.agent}`)
    } catch (err) {
      this.stats.callbackErrors++
      if ((err as Error).name === 'TimeoutError' || (err as Error).name === 'AbortError') throw new TimeoutError(`bid callback of ${info.agent}`, info.timeoutMs)
      if (err instanceof AgoraError) throw err
      throw new AgoraError('ERR_CALLBACK_FAILED', `bid callback of ${info.agent}: ${(err as Error).message}`)
    }
  }

  private async enqueue (info: BidderInfo, req: BidRequest): Promise<BidPayload | null> {
    const q = this.queues.get(info.agent) ?? []
    if (q.length >= BID_QUEUE_PER_AGENT_MAX) throw new LimitExceededError('BID_QUEUE_PER_AGENT_MAX', BID_QUEUE_PER_AGENT_MAX, q.length + 1, `bid requests waiting for ${info.agent}`)
    return await new Promise<BidPayload | null>((resolve, reject) => {
      const requestId = randomBytes(8).toString('hex')
      const timer = setTimeout(() => {
        this.stats.timedOut++
        this.forget(p)
        reject(new TimeoutError(`bid answer of ${info.agent}`, info.timeoutMs))
      }, info.timeoutMs)
      const p: Pending = {
        requestId,
        agent: info.agent,
        request: req,
        expiresAt: Date.now() + info.timeoutMs,
        settle: (bid) => { clearTimeout(timer); resolve(bid) }
      }
      q.push(p)
      this.queues.set(info.agent, q)
      this.byId.set(requestId, p)
      for (const w of this.waiters.get(info.agent) ?? []) w()
    })
  }

  private forget (p: Pending): void {
    this.byId.delete(p.requestId)
    const q = this.queues.get(p.agent)
    if (q === undefined) return
    const i = q.indexOf(p)
    if (i >= 0) q.splice(i, 1)
    if (q.length === 0) this.queues.delete(p.agent)
  }

  /** Pending requests of a long-polling agent; waits up to `waitMs` for one when there is none. */
  async poll (agent: string, waitMs: number, signal: AbortSignal): Promise<Array<{ requestId: string, expiresAt: number } & BidRequest>> {
    const info = this.bidders.get(agent)
    if (info === undefined || info.mode !== 'poll') throw new AgoraError('ERR_NO_BIDDER', `agent ${agent} has no long-poll bidder on this daemon (POST /v1/agents/${agent}/bidder {})`, { path: 'agent' })
    const view = (): Array<{ requestId: string, expiresAt: number } & BidRequest> =>
      (this.queues.get(agent) ?? []).map(p => ({ requestId: p.requestId, expiresAt: p.expiresAt, ...p.request }))
    if (view().length > 0 || waitMs === 0) { this.stats.polled += view().length; return view() }
    if (this.pollers >= BID_POLLERS_MAX) throw new LimitExceededError('BID_POLLERS_MAX', BID_POLLERS_MAX, this.pollers + 1, 'long-polls waiting')
    this.pollers++
    const set = this.waiters.get(agent) ?? new Set<() => void>()
    this.waiters.set(agent, set)
    try {
      await new Promise<void>((resolve) => {
        const done = (): void => { clearTimeout(timer); signal.removeEventListener('abort', done); set.delete(done); resolve() }
        const timer = setTimeout(done, waitMs)
        signal.addEventListener('abort', done)
        set.add(done)
      })
    } finally {
      this.pollers--
      if (set.size === 0) this.waiters.delete(agent)
    }
    this.stats.polled += view().length
    return view()
  }

  /** Answers one pending long-poll request. */
  answer (requestId: string, bid: BidPayload | null, before?: (auction: string, agent: string) => void): { requestId: string, agent: string, auction: string } {
    const p = this.byId.get(requestId)
    if (p === undefined) throw new AgoraError('ERR_UNKNOWN_REQUEST', `no pending bid request ${requestId} (answered, expired or never sent)`, { path: 'requestId' })
    before?.(p.request.auction, p.agent)
    this.forget(p)
    this.stats.answered++
    p.settle(bid)
    return { requestId, agent: p.agent, auction: p.request.auction }
  }
}

async function readLimited (res: Response, max: number): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? 0)
  if (declared > max) throw new LimitExceededError('CALLBACK_RESPONSE_BYTES_MAX', max, declared, 'bid callback response')
  if (res.body === null) return ''
  const chunks: Uint8Array[] = []
  let size = 0
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.length
    if (size > max) throw new LimitExceededError('CALLBACK_RESPONSE_BYTES_MAX', max, size, 'bid callback response')
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}

function parseAnswer (text: string, what: string): BidPayload | null {
  let v: unknown
  try { v = JSON.parse(text) } catch { throw new AgoraError('ERR_CALLBACK_FAILED', `${what}: the response is not JSON`) }
  const p = jsonInputProblem(v)
  if (p !== undefined) throw new AgoraError('ERR_CALLBACK_FAILED', `${what}: ${p.path}: ${describeJsonProblem(p)}`)
  if (v === null || typeof v !== 'object' || !('bid' in v)) throw new AgoraError('ERR_CALLBACK_FAILED', `${what}: the response must be {"bid": {...}} or {"bid": null}`)
  const bid = (v as { bid: unknown }).bid
  if (bid !== null && (typeof bid !== 'object' || Array.isArray(bid))) throw new AgoraError('ERR_CALLBACK_FAILED', `${what}: bid must be an object or null`)
  return bid as BidPayload | null
}
