/**
 * The daemon's event stream (`GET /v1/events`, Server-Sent Events) with ids, resume, filters and
 * keepalives.
 *
 * - Every event has an id `<stream>-<seq>`: `stream` names this daemon process's stream (it changes on a
 *   restart), `seq` counts from 1. A client that reconnects with `Last-Event-ID` (header, as browsers'
 *   EventSource send it) or `?lastEventId=` gets every event after that id again from a replay buffer of
 *   the last {@link SSE_REPLAY_EVENTS_MAX} events (at most {@link SSE_REPLAY_BYTES_MAX} bytes), then the
 *   live stream.
 * - When that is impossible (the id is older than the buffer, or of another stream: the daemon
 *   restarted), the first event is `reset` (`{ reason: 'too-far-behind' | 'unknown-stream', latest }`,
 *   carrying the current id): the client missed events and should re-read what it watches (the list
 *   routes) before following the stream.
 * - `?types=a,b` keeps those event types (`agent:*` for a family); `?prefix=p` keeps events whose subject
 *   starts with `p` (a variable's name, an agent's id, an auction's id, a lock's, election's or barrier's
 *   name, a vote's, lease's or task's id, a group message's topic) and drops events without one.
 *   `reset` always passes.
 * - A comment line (`: keepalive`) every {@link SSE_KEEPALIVE_MS_DEFAULT} ms (`?keepaliveMs=` within
 *   {@link SSE_KEEPALIVE_MS_MIN}..{@link SSE_KEEPALIVE_MS_MAX}) keeps idle connections through proxies.
 */
import { randomBytes } from 'node:crypto'
import type { ServerResponse } from 'node:http'
import { AgoraError } from '../base/errors.js'

/** Server-Sent Events clients at once. */
export const SSE_CLIENTS_MAX = 64
/** Bytes buffered for one slow SSE client before it is dropped. */
export const SSE_BUFFER_BYTES_MAX = 1024 * 1024
/** Events kept for clients resuming with `Last-Event-ID`. */
export const SSE_REPLAY_EVENTS_MAX = 1024
/** Bytes of events kept for resuming clients (the oldest go first when over). */
export const SSE_REPLAY_BYTES_MAX = 4 * 1024 * 1024
/** Default period of keepalive comments. */
export const SSE_KEEPALIVE_MS_DEFAULT = 15_000
/** Bounds of `?keepaliveMs=`. */
export const SSE_KEEPALIVE_MS_MIN = 1000
export const SSE_KEEPALIVE_MS_MAX = 300_000
/** Max entries of `?types=`. */
export const SSE_FILTER_TYPES_MAX = 64
/** Max length of `?prefix=`. */
export const SSE_PREFIX_CHARS_MAX = 256

/** Event types the stream carries (what `?types=` accepts, plus `family:*`). */
export const EVENT_TYPES = [
  'agent:joined', 'agent:updated', 'agent:left', 'agent:unreachable', 'agent:reachable',
  'variable:changed', 'contribution:rejected',
  'member:joined', 'member:left', 'update:rejected',
  'raft:role',
  'auction:opened', 'auction:bid', 'auction:settled', 'auction:request', 'auction:result',
  'lease:granted', 'lease:expired', 'lease:revoked', 'lease:lost',
  'lock:acquired', 'lock:released', 'lock:queued', 'lock:timeout', 'lock:cancelled',
  'election:elected', 'election:ended', 'election:queued', 'election:timeout', 'election:cancelled', 'election:proclaimed',
  'barrier:arrived', 'barrier:released', 'barrier:broken',
  'vote:opened', 'vote:ballot', 'vote:decided',
  'group:message',
  'task:submitted', 'task:assigned', 'task:progress', 'task:completed', 'task:failed', 'task:reassigned', 'task:cancelled',
  'alert:raised', 'alert:cleared',
  'check:passing', 'check:warning', 'check:critical', 'agent:health',
  'breaker:open', 'breaker:half-open', 'breaker:closed', 'breaker:fallback',
  'budget:defined', 'budget:joined', 'budget:left', 'budget:deleted', 'budget:share',
  'heal:reported'
] as const
export type EventType = typeof EVENT_TYPES[number]

/** A `?types=`, `?prefix=`, `?keepaliveMs=` or `Last-Event-ID` the stream cannot take (400). */
export class EventStreamOptionError extends AgoraError {
  static override readonly name = 'EventStreamOptionError'
  readonly status = 400
  constructor (path: string, message: string) {
    super('ERR_BAD_REQUEST', `${path}: ${message}`, { path })
  }
}

/** Too many clients already (503). */
export class TooManyStreamsError extends AgoraError {
  static override readonly name = 'TooManyStreamsError'
  readonly status = 503
  constructor () {
    super('ERR_TOO_MANY_CLIENTS', `at most ${SSE_CLIENTS_MAX} event streams`)
  }
}

export interface StreamOptions {
  /** Resume after this id (`Last-Event-ID`). */
  lastEventId?: string
  /** Keep only these types (`family:*` allowed); undefined keeps all. */
  types?: string[]
  /** Keep only events whose subject starts with this. */
  prefix?: string
  keepaliveMs?: number
}

/** An event id: `<stream>-<seq>`. */
const EVENT_ID_RE = /^([0-9a-f]{1,32})-([0-9]{1,15})$/

interface Entry { seq: number, type: string, subject: string | undefined, frame: string }
interface Client { res: ServerResponse, matches: (type: string, subject: string | undefined) => boolean, timer: ReturnType<typeof setInterval> }

/** The subject of an event, for `?prefix=`. */
function subjectOf (type: string, data: unknown): string | undefined {
  const d = data as Record<string, unknown> | null
  if (d === null || typeof d !== 'object') return undefined
  if (type === 'variable:changed' || type === 'contribution:rejected') return typeof d.name === 'string' ? d.name : undefined
  if (type.startsWith('agent:')) { const a = d.agent as { id?: unknown } | undefined; return typeof a?.id === 'string' ? a.id : undefined }
  if (type.startsWith('auction:')) return typeof d.auction === 'string' ? d.auction : undefined
  if (type.startsWith('lock:') || type.startsWith('election:') || type.startsWith('barrier:')) return typeof d.name === 'string' ? d.name : undefined
  if (type.startsWith('vote:')) return typeof d.vote === 'number' ? String(d.vote) : undefined
  if (type.startsWith('lease:')) return typeof d.lease === 'number' ? String(d.lease) : undefined
  if (type === 'group:message') return typeof d.topic === 'string' ? d.topic : undefined
  if (type.startsWith('task:')) return typeof d.task === 'number' ? String(d.task) : undefined
  if (type.startsWith('check:')) return typeof d.agent === 'string' ? d.agent : undefined
  if (type.startsWith('breaker:')) return typeof d.agent === 'string' ? d.agent : undefined
  if (type.startsWith('budget:')) return typeof d.name === 'string' ? d.name : undefined
  return undefined
}

/** Parses and checks the query parameters of `GET /v1/events` (and the `Last-Event-ID` header). */
export function streamOptions (params: URLSearchParams, lastEventIdHeader: string | undefined): StreamOptions {
  const o: StreamOptions = {}
  const last = params.get('lastEventId') ?? lastEventIdHeader
  if (last !== undefined && last !== null && last !== '') {
    if (!EVENT_ID_RE.test(last)) throw new EventStreamOptionError('lastEventId', 'an event id <stream>-<seq> as the stream sent it')
    o.lastEventId = last
  }
  const types = params.get('types')
  if (types !== null) {
    const list = types.split(',').map(t => t.trim()).filter(t => t.length > 0)
    if (list.length === 0 || list.length > SSE_FILTER_TYPES_MAX) throw new EventStreamOptionError('types', `1..${SSE_FILTER_TYPES_MAX} comma-separated event types`)
    for (const t of list) {
      const family = t.endsWith(':*') ? t.slice(0, -1) : undefined
      const known = family !== undefined ? EVENT_TYPES.some(e => e.startsWith(family)) : (EVENT_TYPES as readonly string[]).includes(t)
      if (!known) throw new EventStreamOptionError('types', `unknown event type ${JSON.stringify(t)} (one of ${EVENT_TYPES.join(', ')}, or family:*)`)
    }
    o.types = list
  }
  const prefix = params.get('prefix')
  if (prefix !== null) {
    if (prefix.length > SSE_PREFIX_CHARS_MAX) throw new EventStreamOptionError('prefix', `at most ${SSE_PREFIX_CHARS_MAX} characters`)
    o.prefix = prefix
  }
  const ka = params.get('keepaliveMs')
  if (ka !== null) {
    const n = /^[0-9]{1,9}$/.test(ka) ? Number(ka) : NaN
    if (!(n >= SSE_KEEPALIVE_MS_MIN && n <= SSE_KEEPALIVE_MS_MAX)) throw new EventStreamOptionError('keepaliveMs', `an integer in ${SSE_KEEPALIVE_MS_MIN}..${SSE_KEEPALIVE_MS_MAX}`)
    o.keepaliveMs = n
  }
  return o
}

/** Numbers, buffers and fans out the daemon's events to SSE clients. */
export class EventHub {
  /** This process's stream name (the part of every id before `-`). */
  readonly stream: string
  private seq = 0
  private readonly replay: Entry[] = []
  private replayBytes = 0
  private readonly clients = new Set<Client>()
  readonly stats = { published: 0, clientsDropped: 0, resets: 0, replayed: 0 }

  constructor (stream = randomBytes(4).toString('hex')) {
    this.stream = stream
  }

  get size (): number { return this.clients.size }

  /** The id of the latest event (`<stream>-0` before the first). */
  get latestId (): string { return `${this.stream}-${this.seq}` }

  publish (type: string, data: unknown): void {
    let json: string
    try { json = JSON.stringify(data) } catch { return }
    const seq = ++this.seq
    const frame = `id: ${this.stream}-${seq}\nevent: ${type}\ndata: ${json}\n\n`
    const e: Entry = { seq, type, subject: subjectOf(type, data), frame }
    this.stats.published++
    this.replay.push(e)
    this.replayBytes += frame.length
    while (this.replay.length > SSE_REPLAY_EVENTS_MAX || this.replayBytes > SSE_REPLAY_BYTES_MAX) {
      this.replayBytes -= this.replay.shift()!.frame.length
    }
    for (const c of this.clients) {
      if (c.matches(e.type, e.subject)) this.write(c, e.frame)
    }
  }

  /** Starts a stream on `res` (headers, replay or reset, then live events and keepalives). */
  subscribe (res: ServerResponse, o: StreamOptions, greeting: string): void {
    if (this.clients.size >= SSE_CLIENTS_MAX) throw new TooManyStreamsError()
    const types = o.types
    const exact = new Set(types?.filter(t => !t.endsWith(':*')))
    const families = (types ?? []).filter(t => t.endsWith(':*')).map(t => t.slice(0, -1))
    const matches = (type: string, subject: string | undefined): boolean =>
      (types === undefined || exact.has(type) || families.some(f => type.startsWith(f))) &&
      (o.prefix === undefined || (subject !== undefined && subject.startsWith(o.prefix)))
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' })
    res.write(`: ${greeting}\n\n`)
    if (o.lastEventId !== undefined) {
      const m = EVENT_ID_RE.exec(o.lastEventId)
      const after = Number(m?.[2] ?? -1)
      const oldest = this.replay[0]?.seq ?? this.seq + 1
      let reason: string | undefined
      if (m === null || m[1] !== this.stream || after > this.seq) reason = 'unknown-stream'
      else if (after + 1 < oldest) reason = 'too-far-behind'
      if (reason !== undefined) {
        this.stats.resets++
        res.write(`id: ${this.latestId}\nevent: reset\ndata: ${JSON.stringify({ reason, latest: this.latestId, lastEventId: o.lastEventId })}\n\n`)
      } else {
        for (const e of this.replay) {
          if (e.seq > after && matches(e.type, e.subject)) { res.write(e.frame); this.stats.replayed++ }
        }
      }
    }
    const client: Client = {
      res,
      matches,
      timer: setInterval(() => { this.write(client, ': keepalive\n\n') }, o.keepaliveMs ?? SSE_KEEPALIVE_MS_DEFAULT)
    }
    client.timer.unref()
    this.clients.add(client)
    res.on('close', () => { this.drop(client) })
  }

  private write (c: Client, text: string): void {
    if (c.res.writableLength > SSE_BUFFER_BYTES_MAX) {
      this.stats.clientsDropped++
      c.res.destroy()
      this.drop(c)
      return
    }
    c.res.write(text)
  }

  private drop (c: Client): void {
    clearInterval(c.timer)
    this.clients.delete(c)
  }

  /** Ends every stream. */
  close (): void {
    for (const c of [...this.clients]) { this.drop(c); c.res.end() }
  }
}
