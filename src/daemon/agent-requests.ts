/**
 * Requests to the daemon's agents answered over HTTP, so agents written in any language take part: bid
 * requests (bidders.ts) and vote requests (voters.ts). An agent hosted by the daemon gets a handler:
 *
 * - with a `callback` URL: for each request the daemon POSTs the request's JSON (plus `requestId`) there
 *   and takes what the JSON response says. Loopback URLs only unless the daemon allows remote callbacks;
 *   the answer must come within `timeoutMs` and be at most {@link CALLBACK_RESPONSE_BYTES_MAX} bytes.
 * - without one: long-poll. A GET returns the agent's pending requests (waiting up to `waitMs` for one),
 *   a POST answers one by its `requestId`. At most `queuePerAgentMax` requests wait per agent and
 *   `pollersMax` GETs wait at once; an unanswered request times out after `timeoutMs`.
 *
 * With a data dir the registrations are kept in a file there (written to a temporary file, fsynced,
 * then renamed over the old one) and restored when the daemon starts; a saved registration whose agent
 * is no longer hosted here, or whose callback is no longer allowed, is dropped with a warning.
 */
import { randomBytes } from 'node:crypto'
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs'
import { AgoraError, LimitExceededError, TimeoutError } from '../base/errors.js'
import { describeJsonProblem, jsonInputProblem } from '../base/input.js'

/** Bytes of a callback's response body. */
export const CALLBACK_RESPONSE_BYTES_MAX = 64 * 1024
/** Version of the registration files' format. */
const FILE_VERSION = 1

export interface HandlerSpec { callback?: string, timeoutMs?: number }
export interface HandlerInfo { agent: string, mode: 'callback' | 'poll', callback?: string, timeoutMs: number }

/** What differs between the kinds of requests (bids, votes). */
export interface RequestKind<Req, Ans> {
  /** Names a request in messages: `bid`, `vote`. */
  noun: string
  /** What an agent with a handler is (`bidder`, `voter`): the last segment of its route `/v1/agents/:id/<role>`. */
  role: string
  /** The code of "this agent has no handler here" (404): `ERR_NO_BIDDER`, `ERR_NO_VOTER`. */
  missingCode: string
  /** Where long-polls go: `/v1/<requestsPath>?agent=&waitMs=`, answers to `/v1/<requestsPath>/:requestId`. */
  requestsPath: string
  /** The key of the list in the registration file (`bidders`, `voters`). */
  listKey: string
  /** The daemon config key that lets callbacks go beyond loopback. */
  remoteCallbacksKey: string
  /** Default and longest `timeoutMs` of a handler. */
  timeoutMsDefault: number
  timeoutMsMax: number
  /** Longest `waitMs` of a long-poll. */
  pollWaitMsMax: number
  /** Requests waiting for a long-polling agent, and its named limit. */
  queuePerAgentMax: number
  queueLimit: string
  /** Long-poll GETs waiting at once, and its named limit. */
  pollersMax: number
  pollersLimit: string
  /** Whether the agent is hosted by this daemon. */
  isLocal: (agent: string) => boolean
  attach: (agent: string, handler: (req: Req) => Promise<Ans>) => void
  detach: (agent: string) => void
  /** The answer in a callback's JSON response; throws {@link CallbackFailedError} when it is not one. */
  parseAnswer: (response: Record<string, unknown>, what: string) => Ans
  /** What a waiting request settles with when its agent's handler is removed. */
  dropped: Ans
  /** The registration file could not be written. */
  storeError: (file: string, cause: unknown) => AgoraError
}

export interface AgentRequestsOptions {
  allowRemoteCallbacks: boolean
  /** Where registrations are kept across restarts (default: nowhere, in memory). */
  file?: string
  /** Where restore problems are reported. */
  warn?: (msg: string, fields?: Record<string, unknown>) => void
}

/** A callback failed: an error status, a body that is not the expected JSON. */
export class CallbackFailedError extends AgoraError {
  static override readonly name = 'CallbackFailedError'
  constructor (message: string) {
    super('ERR_CALLBACK_FAILED', message)
  }
}

interface Pending<Req, Ans> { requestId: string, agent: string, request: Req, expiresAt: number, settle: (answer: Ans) => void }

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\]|localhost)$/i

export class AgentRequests<Req extends object, Ans> {
  private readonly handlers = new Map<string, HandlerInfo>()
  private readonly queues = new Map<string, Array<Pending<Req, Ans>>>()
  private readonly byId = new Map<string, Pending<Req, Ans>>()
  private readonly waiters = new Map<string, Set<() => void>>()
  private pollers = 0
  readonly stats = { callbacks: 0, callbackErrors: 0, polled: 0, answered: 0, timedOut: 0 }
  private closing = false

  constructor (readonly kind: RequestKind<Req, Ans>, private readonly options: AgentRequestsOptions) {
    if (options.file !== undefined) this.restore(options.file)
  }

  list (): HandlerInfo[] { return [...this.handlers.values()] }

  /** The handler of `agent`; 404 (`missingCode`) when it has none here. */
  info (agent: string): HandlerInfo {
    const info = this.handlers.get(agent)
    if (info === undefined) throw this.missing(agent, '')
    return info
  }

  private missing (agent: string, mode: string): AgoraError {
    const k = this.kind
    return new AgoraError(k.missingCode, `agent ${agent} has no ${mode}${k.role} on this daemon${mode === '' ? '' : ` (POST /v1/agents/${agent}/${k.role} {})`}`, { path: mode === '' ? 'id' : 'agent' })
  }

  private restore (file: string): void {
    const k = this.kind
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.options.warn?.(`cannot read the saved ${k.listKey}`, { file, error: (err as Error).message })
      return
    }
    let saved: HandlerInfo[]
    try {
      const v = JSON.parse(text) as Record<string, unknown>
      const list = v[k.listKey]
      if (v.version !== FILE_VERSION || !Array.isArray(list)) throw new Error(`not a version ${FILE_VERSION} ${k.listKey} file`)
      saved = list as HandlerInfo[]
    } catch (err) {
      this.options.warn?.(`the saved ${k.listKey} are unreadable; starting without them`, { file, error: (err as Error).message })
      return
    }
    let dropped = 0
    for (const b of saved) {
      try {
        this.set(String(b.agent), { ...(b.callback !== undefined ? { callback: b.callback } : {}), ...(typeof b.timeoutMs === 'number' ? { timeoutMs: b.timeoutMs } : {}) }, false)
      } catch (err) {
        dropped++
        this.options.warn?.(`a saved ${k.noun} handler was dropped`, { agent: b.agent, error: (err as Error).message })
      }
    }
    if (dropped > 0) this.save(this.list())
  }

  /** Writes `list` to the registration file atomically (temporary file, fsync, rename). */
  private save (list: HandlerInfo[]): void {
    const file = this.options.file
    if (file === undefined || this.closing) return
    const tmp = `${file}.tmp`
    try {
      const fd = openSync(tmp, 'w', 0o600)
      try {
        writeSync(fd, JSON.stringify({ version: FILE_VERSION, [this.kind.listKey]: list }) + '\n')
        fsyncSync(fd)
      } finally {
        closeSync(fd)
      }
      renameSync(tmp, file)
    } catch (err) {
      throw this.kind.storeError(file, err)
    }
  }

  /** Gives `agent` (hosted here) a handler; replaces an earlier one of the same agent. */
  set (agent: string, spec: HandlerSpec, persist = true): HandlerInfo {
    if (!this.kind.isLocal(agent)) {
      throw new AgoraError('ERR_AGENT_NOT_FOUND', `agent ${agent} is not hosted by this daemon (register it first)`, { path: 'id' })
    }
    const timeoutMs = spec.timeoutMs ?? this.kind.timeoutMsDefault
    let info: HandlerInfo
    if (spec.callback !== undefined) {
      let url: URL
      try { url = new URL(spec.callback) } catch { throw new AgoraError('ERR_BAD_REQUEST', 'callback is not a URL', { path: 'callback' }) }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new AgoraError('ERR_BAD_REQUEST', 'callback must be an http(s) URL', { path: 'callback' })
      if (!this.options.allowRemoteCallbacks && !LOOPBACK.test(url.hostname)) {
        throw new AgoraError('ERR_CALLBACK_NOT_ALLOWED', `callback host ${url.hostname} is not loopback (set ${this.kind.remoteCallbacksKey} in the daemon config to allow it)`, { path: 'callback' })
      }
      info = { agent, mode: 'callback', callback: url.href, timeoutMs }
    } else {
      info = { agent, mode: 'poll', timeoutMs }
    }
    // On disk first: a registration the daemon could not keep is refused, not half made.
    if (persist) this.save([...this.list().filter(b => b.agent !== agent), info])
    const handler = info.mode === 'callback'
      ? async (req: Req) => await this.callback(info, req)
      : async (req: Req) => await this.enqueue(info, req)
    this.kind.attach(agent, handler)
    this.dropQueue(agent)
    this.handlers.set(agent, info)
    return info
  }

  remove (agent: string): boolean {
    if (!this.handlers.has(agent)) return false
    this.save(this.list().filter(b => b.agent !== agent))
    this.handlers.delete(agent)
    this.kind.detach(agent)
    this.dropQueue(agent)
    return true
  }

  /** Stops serving every agent; the saved registrations stay for the next start. */
  close (): void {
    this.closing = true
    for (const a of [...this.handlers.keys()]) this.remove(a)
    for (const ws of this.waiters.values()) for (const w of ws) w()
  }

  private dropQueue (agent: string): void {
    for (const p of this.queues.get(agent) ?? []) { this.byId.delete(p.requestId); p.settle(this.kind.dropped) }
    this.queues.delete(agent)
  }

  private async callback (info: HandlerInfo, req: Req): Promise<Ans> {
    const what = `${this.kind.noun} callback of ${info.agent}`
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
      const text = await readLimited(res, CALLBACK_RESPONSE_BYTES_MAX, `${what} response`)
      if (!res.ok) throw new CallbackFailedError(`${what} answered ${res.status}`)
      return this.kind.parseAnswer(parseJsonObject(text, what), what)
    } catch (err) {
      this.stats.callbackErrors++
      if ((err as Error).name === 'TimeoutError' || (err as Error).name === 'AbortError') throw new TimeoutError(what, info.timeoutMs)
      if (err instanceof AgoraError) throw err
      throw new CallbackFailedError(`${what}: ${(err as Error).message}`)
    }
  }

  private async enqueue (info: HandlerInfo, req: Req): Promise<Ans> {
    const q = this.queues.get(info.agent) ?? []
    if (q.length >= this.kind.queuePerAgentMax) throw new LimitExceededError(this.kind.queueLimit, this.kind.queuePerAgentMax, q.length + 1, `${this.kind.noun} requests waiting for ${info.agent}`)
    return await new Promise<Ans>((resolve, reject) => {
      const requestId = randomBytes(8).toString('hex')
      const timer = setTimeout(() => {
        this.stats.timedOut++
        this.forget(p)
        reject(new TimeoutError(`${this.kind.noun} answer of ${info.agent}`, info.timeoutMs))
      }, info.timeoutMs)
      const p: Pending<Req, Ans> = {
        requestId,
        agent: info.agent,
        request: req,
        expiresAt: Date.now() + info.timeoutMs,
        settle: (answer) => { clearTimeout(timer); resolve(answer) }
      }
      q.push(p)
      this.queues.set(info.agent, q)
      this.byId.set(requestId, p)
      for (const w of this.waiters.get(info.agent) ?? []) w()
    })
  }

  private forget (p: Pending<Req, Ans>): void {
    this.byId.delete(p.requestId)
    const q = this.queues.get(p.agent)
    if (q === undefined) return
    const i = q.indexOf(p)
    if (i >= 0) q.splice(i, 1)
    if (q.length === 0) this.queues.delete(p.agent)
  }

  /** Pending requests of a long-polling agent; waits up to `waitMs` for one when there is none. */
  async poll (agent: string, waitMs: number, signal: AbortSignal): Promise<Array<{ requestId: string, expiresAt: number } & Req>> {
    const info = this.handlers.get(agent)
    if (info === undefined || info.mode !== 'poll') throw this.missing(agent, 'long-poll ')
    const view = (): Array<{ requestId: string, expiresAt: number } & Req> =>
      (this.queues.get(agent) ?? []).map(p => ({ requestId: p.requestId, expiresAt: p.expiresAt, ...p.request }))
    if (view().length > 0 || waitMs === 0) { this.stats.polled += view().length; return view() }
    if (this.pollers >= this.kind.pollersMax) throw new LimitExceededError(this.kind.pollersLimit, this.kind.pollersMax, this.pollers + 1, 'long-polls waiting')
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

  /** Answers one pending long-poll request; `before` sees it first. */
  protected answerRequest (requestId: string, answer: Ans, before?: (request: Req, agent: string) => void): { requestId: string, agent: string, request: Req } {
    const p = this.byId.get(requestId)
    if (p === undefined) throw new AgoraError('ERR_UNKNOWN_REQUEST', `no pending ${this.kind.noun} request ${requestId} (answered, expired or never sent)`, { path: 'requestId' })
    before?.(p.request, p.agent)
    this.forget(p)
    this.stats.answered++
    p.settle(answer)
    return { requestId, agent: p.agent, request: p.request }
  }
}

async function readLimited (res: Response, max: number, what: string): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? 0)
  if (declared > max) throw new LimitExceededError('CALLBACK_RESPONSE_BYTES_MAX', max, declared, what)
  if (res.body === null) return ''
  const chunks: Uint8Array[] = []
  let size = 0
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.length
    if (size > max) throw new LimitExceededError('CALLBACK_RESPONSE_BYTES_MAX', max, size, what)
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/** A callback's response: a JSON object of well-formed input, else {@link CallbackFailedError}. */
function parseJsonObject (text: string, what: string): Record<string, unknown> {
  let v: unknown
  try { v = JSON.parse(text) } catch { throw new CallbackFailedError(`${what}: the response is not JSON`) }
  const p = jsonInputProblem(v)
  if (p !== undefined) throw new CallbackFailedError(`${what}: ${p.path}: ${describeJsonProblem(p)}`)
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new CallbackFailedError(`${what}: the response must be a JSON object`)
  return v as Record<string, unknown>
}
