/**
 * The agents' routes: HTTP handlers of hosted agents (agent-handlers.ts), calls to any agent through
 * `peer.agents`, and group topics. Bodies are validated with zod (`400 ERR_BAD_REQUEST` naming the field).
 *
 *   PUT    /v1/agents/:id/handler   { kinds: ['request','message','task','vote','bid','protocol:<name>'...],
 *                                     callback?, timeoutMs? }   the agent's handlers (replaces every earlier
 *                                     one, its bidder and voter included); without callback: long-poll
 *   GET    /v1/agents/:id/handler   { handler: { agent, kinds, bindings } } (404 ERR_NO_HANDLER)
 *   DELETE /v1/agents/:id/handler   remove them all
 *   GET    /v1/agents/:id/inbox?waitMs=&kinds=   long-poll: { calls: [CallView] }, each call handed out once
 *                                     (again after INBOX_REDELIVER_MS unanswered)
 *   POST   /v1/agents/:id/inbox/:callId           { reply } | { error: { message } }   answer a call
 *   POST   /v1/agents/:id/inbox/:callId/progress  { progress: 0..1, note? }           a task call's progress (long-poll or callback)
 *   POST   /v1/agents/:id/request   { payload, timeoutMs?, from?, protocol?, fallback? }  → { agent, reply }
 *   POST   /v1/agents/:id/message   { message, timeoutMs?, from?, fallback? }             → { agent, delivered: true }
 *   POST   /v1/request              { capability, strategy?, attempts?, payload, timeoutMs?, from?, protocol? } → { reply }
 *   POST   /v1/groups/:topic/publish        { message, from? }  → { topic, recipients }
 *   PUT    /v1/groups/:topic/subscription   this daemon buffers the topic's messages (also SSE `group:message`)
 *   DELETE /v1/groups/:topic/subscription
 *   GET    /v1/groups/:topic/messages?after=&waitMs=   long-poll the buffered messages after seq `after`
 *
 *   POST|PUT|GET|DELETE /v1/agents/:id/<role>, GET /v1/<requestsPath>?agent=&waitMs=   the bidder and voter
 *                                     routes of earlier versions ({@link kindRoutes}): views of the same bindings
 *
 * Errors of calls keep the request interface's codes (peers/agents/errors.ts), with these statuses
 * ({@link AGENT_STATUS}): 400 ERR_INVALID_PAYLOAD; 404 ERR_UNKNOWN_AGENT, ERR_NO_HANDLER, ERR_NO_CANDIDATE;
 * 422 ERR_HANDLER (the agent's handler failed: its message); 429 ERR_TOO_MANY_POLLS; 502 ERR_UNREACHABLE
 * (the agent's host), ERR_CALLBACK_FAILED; 503 ERR_OVERLOADED (over a host's limits: try later or
 * elsewhere), ERR_TOO_MANY_SUBSCRIPTIONS; 504 ERR_TIMEOUT.
 */
import { z } from 'zod'
import { AgoraError, LimitExceededError } from '../base/errors.js'
import type { Peer } from '../../peers/peer.js'
import type { GroupMessage, Sender } from '../../peers/agents/types.js'
import { PROTOCOL_NAME_RE, REQUEST_TIMEOUT_MS_MAX } from '../../peers/agents/frames.js'
import { ROUTE_ATTEMPTS_MAX } from '../../peers/agents/service.js'
import { BASE_KINDS, HANDLER_TIMEOUT_MS_MAX, INBOX_POLL_WAIT_MS_MAX, KINDS_PER_AGENT_MAX, POLL_RETRY_AFTER_S, kindFamily } from './agent-handlers.js'
import type { AgentHandlerStore, Binding } from './agent-handlers.js'
import type { KindView } from './bidders.js'
import { clientGone, nonNegInt, parseBody } from './route-util.js'
import type { RouteContext } from './route-util.js'

/** HTTP status of the request interface's codes and of these routes'. */
export const AGENT_STATUS: Record<string, number> = {
  ERR_INVALID_PAYLOAD: 400,
  ERR_UNKNOWN_AGENT: 404,
  ERR_NO_HANDLER: 404,
  ERR_NO_CANDIDATE: 404,
  ERR_HANDLER: 422,
  ERR_TOO_MANY_POLLS: 429,
  ERR_UNREACHABLE: 502,
  ERR_CALLBACK_FAILED: 502,
  ERR_OVERLOADED: 503,
  ERR_CIRCUIT_OPEN: 503,
  ERR_TOO_MANY_SUBSCRIPTIONS: 503,
  ERR_HANDLERS_STORE: 500
}

/**
 * `Retry-After` (seconds) of the 429 and 503 answers a retry can get past: too many long-polls, an agent's
 * host over its limits (a full inbox, too many pending calls).
 */
export const AGENT_RETRY_AFTER_S: Record<string, number> = {
  ERR_TOO_MANY_POLLS: POLL_RETRY_AFTER_S,
  ERR_OVERLOADED: POLL_RETRY_AFTER_S
}

/**
 * Distinct protocol names HTTP callers may send named-protocol requests on (`protocol` of
 * `POST /v1/agents/:id/request` and `POST /v1/request`). Sending on a name registers it on the peer for
 * good (peer.agents.protocol; idempotent per name, at most PROTOCOLS_MAX = 256 per peer): the daemon lets
 * HTTP input name at most this many, so that it cannot take the slots of the peer's own protocols. A name
 * used once stays usable; a new name past the bound is `400 ERR_LIMIT_EXCEEDED` naming this limit.
 */
export const HTTP_PROTOCOLS_MAX = 64

/** Group topics this daemon buffers at once for HTTP clients. */
export const GROUP_FEEDS_MAX = 64
/** Messages kept per buffered topic (the oldest go first). */
export const GROUP_BUFFER_MAX = 256
/** Bytes of the messages kept per buffered topic (JSON of message and sender; the oldest go first). */
export const GROUP_BUFFER_BYTES_MAX = 4 * 1024 * 1024
/** Bytes of the messages kept over every buffered topic (the oldest of all go first). */
export const GROUP_FEEDS_BYTES_MAX = 32 * 1024 * 1024
/** Long-polls of group messages waiting at once. */
export const GROUP_POLLERS_MAX = 256

const agentId = z.string().min(1).max(256)
const kind = z.string().min(1).max(200).refine(k => kindFamily(k) !== undefined, { message: `one of ${BASE_KINDS.join(', ')}, protocol:<name>` })
const protocol = z.string().regex(PROTOCOL_NAME_RE, '1..128 characters of [A-Za-z0-9._:/-]')
const timeoutMs = z.number().int().min(1).max(REQUEST_TIMEOUT_MS_MAX)
/** A direct call's fallback when the agent's circuit breaker is open (RequestOptions.fallback). */
const fallback = z.union([z.boolean(), z.object({ capability: z.string().min(1).max(256), strategy: z.enum(['nearest-healthy', 'least-loaded', 'random-healthy']).optional(), attempts: z.number().int().min(1).max(ROUTE_ATTEMPTS_MAX).optional() }).strict()])

export const agentSchemas = {
  handler: z.object({ kinds: z.array(kind).min(1).max(KINDS_PER_AGENT_MAX), callback: z.string().min(1).max(2048).optional(), timeoutMs: z.number().int().positive().max(HANDLER_TIMEOUT_MS_MAX).optional() }).strict(),
  answer: z.union([
    z.object({ reply: z.unknown() }).strict(),
    z.object({ error: z.union([z.string().min(1).max(1024), z.object({ message: z.string().min(1).max(1024), code: z.string().max(64).optional() }).strict()]) }).strict()
  ]),
  progress: z.object({ progress: z.number().min(0).max(1), note: z.string().max(256).optional() }).strict(),
  request: z.object({ payload: z.unknown().optional(), timeoutMs: timeoutMs.optional(), from: agentId.optional(), protocol: protocol.optional(), fallback: fallback.optional() }).strict(),
  message: z.object({ message: z.unknown().optional(), timeoutMs: timeoutMs.optional(), from: agentId.optional(), fallback: fallback.optional() }).strict(),
  route: z.object({
    capability: z.string().min(1).max(256),
    strategy: z.enum(['nearest-healthy', 'least-loaded', 'random-healthy']).optional(),
    attempts: z.number().int().min(1).max(ROUTE_ATTEMPTS_MAX).optional(),
    payload: z.unknown().optional(),
    timeoutMs: timeoutMs.optional(),
    from: agentId.optional(),
    protocol: protocol.optional()
  }).strict(),
  publish: z.object({ message: z.unknown().optional(), from: agentId.optional() }).strict()
}

/** The routes of one kind's view in the shape of earlier versions (bidders, voters). */
export async function kindRoutes<Ans> (c: RouteContext, view: KindView<Ans>): Promise<boolean> {
  const { method, parts, send, url } = c
  const k = view.k
  if (parts[1] === 'agents' && parts.length === 4 && parts[3] === k.role) {
    const agent = parts[2]!
    if (method === 'POST' || method === 'PUT') {
      const spec = z.object({ callback: z.string().min(1).max(2048).optional(), timeoutMs: z.number().int().positive().max(k.timeoutMsMax).optional() }).strict()
      send(200, { [k.role]: await view.set(agent, parseBody(spec, await c.body(), k.role)) })
      return true
    }
    if (method === 'GET') { send(200, { [k.role]: view.info(agent) }); return true }
    if (method === 'DELETE') {
      view.info(agent)
      await view.remove(agent)
      send(200, { removed: agent })
      return true
    }
    return false
  }
  if (parts[1] === k.requestsPath && parts.length === 2 && method === 'GET') {
    const agent = url.searchParams.get('agent')
    if (agent === null || agent.length === 0) throw new AgoraError('ERR_BAD_REQUEST', 'agent is required', { path: 'agent' })
    const waitMs = nonNegInt(url.searchParams.get('waitMs'), 'waitMs', k.pollWaitMsMax) ?? 0
    send(200, { requests: await view.poll(agent, waitMs, clientGone(c.res)) })
    return true
  }
  return false
}

interface FeedMessage { seq: number, message: unknown, from: Sender, at: number }
interface Feed {
  seq: number
  messages: FeedMessage[]
  /** Bytes of `messages`, and of each (same order). */
  bytes: number
  sizes: number[]
  /** Messages dropped to keep the bounds (count, bytes and total bytes). */
  dropped: number
  waiters: Set<() => void>
  off: () => void
}

/**
 * Group topics this daemon follows for HTTP clients: a buffer per topic bounded in messages
 * ({@link GROUP_BUFFER_MAX}) and bytes ({@link GROUP_BUFFER_BYTES_MAX}), all of them bounded in bytes
 * ({@link GROUP_FEEDS_BYTES_MAX}); the oldest messages are dropped first and counted (`dropped` of a
 * poll, per topic; {@link GroupFeeds.dropped} over all); long-polled by seq.
 */
export class GroupFeeds {
  private readonly feeds = new Map<string, Feed>()
  private pollers = 0
  /** Bytes buffered over all topics. */
  bytes = 0
  /** Messages dropped over all topics to keep the bounds. */
  dropped = 0
  constructor (private readonly peer: Peer, private readonly broadcast: (type: string, data: unknown) => void) {}

  get size (): number { return this.feeds.size }
  topics (): string[] { return [...this.feeds.keys()] }

  /** Follows `topic` (idempotent); returns its feed. */
  follow (topic: string): Feed {
    const f = this.feeds.get(topic)
    if (f !== undefined) return f
    if (this.feeds.size >= GROUP_FEEDS_MAX) throw new AgoraError('ERR_TOO_MANY_SUBSCRIPTIONS', `at most ${GROUP_FEEDS_MAX} group topics are followed for HTTP clients (GROUP_FEEDS_MAX); unsubscribe one first`, { limit: 'GROUP_FEEDS_MAX' })
    const feed: Feed = { seq: 0, messages: [], bytes: 0, sizes: [], dropped: 0, waiters: new Set(), off: () => {} }
    feed.off = this.peer.agents.subscribe(topic, (m: GroupMessage) => {
      const entry = { seq: ++feed.seq, message: m.message, from: m.from, at: Date.now() }
      const size = Buffer.byteLength(JSON.stringify({ message: m.message ?? null, from: m.from })) + 64
      feed.messages.push(entry)
      feed.sizes.push(size)
      feed.bytes += size
      this.bytes += size
      while (feed.messages.length > 1 && (feed.messages.length > GROUP_BUFFER_MAX || feed.bytes > GROUP_BUFFER_BYTES_MAX)) this.dropOldest(feed)
      while (this.bytes > GROUP_FEEDS_BYTES_MAX) {
        // The oldest message of all (the newest one just kept stays).
        let oldest: Feed | undefined
        for (const f of this.feeds.values()) {
          const first = f === feed && f.messages.length === 1 ? undefined : f.messages[0]
          if (first !== undefined && (oldest === undefined || first.at < oldest.messages[0]!.at)) oldest = f
        }
        if (oldest === undefined) break
        this.dropOldest(oldest)
      }
      this.broadcast('group:message', { topic, ...entry })
      for (const w of [...feed.waiters]) w()
    })
    this.feeds.set(topic, feed)
    return feed
  }

  private dropOldest (f: Feed): void {
    f.messages.shift()
    const size = f.sizes.shift() ?? 0
    f.bytes -= size
    this.bytes -= size
    f.dropped++
    this.dropped++
  }

  unfollow (topic: string): boolean {
    const f = this.feeds.get(topic)
    if (f === undefined) return false
    this.feeds.delete(topic)
    this.bytes -= f.bytes
    f.off()
    for (const w of [...f.waiters]) w()
    return true
  }

  async poll (topic: string, after: number, waitMs: number, signal: AbortSignal): Promise<{ topic: string, messages: FeedMessage[], next: number, dropped: number }> {
    const feed = this.follow(topic)
    const view = (): { topic: string, messages: FeedMessage[], next: number, dropped: number } => {
      const messages = feed.messages.filter(m => m.seq > after)
      return { topic, messages, next: messages.length > 0 ? messages[messages.length - 1]!.seq : Math.max(after, feed.seq), dropped: feed.dropped }
    }
    if (view().messages.length > 0 || waitMs === 0) return view()
    if (this.pollers >= GROUP_POLLERS_MAX) throw new AgoraError('ERR_TOO_MANY_POLLS', `at most ${GROUP_POLLERS_MAX} group long-polls wait at once (GROUP_POLLERS_MAX)`, { limit: 'GROUP_POLLERS_MAX', retryAfterS: POLL_RETRY_AFTER_S })
    this.pollers++
    try {
      await new Promise<void>((resolve) => {
        const done = (): void => { clearTimeout(timer); signal.removeEventListener('abort', done); feed.waiters.delete(done); resolve() }
        const timer = setTimeout(done, waitMs)
        signal.addEventListener('abort', done)
        feed.waiters.add(done)
      })
    } finally {
      this.pollers--
    }
    return view()
  }

  close (): void { for (const t of [...this.feeds.keys()]) this.unfollow(t) }
}

function checkTopic (topic: string | undefined): string {
  if (topic === undefined || !PROTOCOL_NAME_RE.test(topic)) throw new AgoraError('ERR_BAD_REQUEST', 'topic must be 1..128 characters of [A-Za-z0-9._:/-] (percent-encode / as %2F in a path)', { path: 'topic' })
  return topic
}

function handlerView (agent: string, bindings: Binding[]): Record<string, unknown> {
  return { agent, kinds: bindings.map(b => b.kind), bindings: bindings.map(({ agent: _a, ...b }) => b) }
}

export interface AgentRoutes {
  groups: GroupFeeds
  handle: (c: RouteContext) => Promise<boolean>
  close: () => void
}

/** The routes of HTTP handlers, calls and groups; `handle` returns false when the request is not one of them. */
export function agentRoutes (peer: Peer, store: AgentHandlerStore, broadcast: (type: string, data: unknown) => void): AgentRoutes {
  const groups = new GroupFeeds(peer, broadcast)
  const agents = peer.agents
  /** The protocol names HTTP input registered (bounded by {@link HTTP_PROTOCOLS_MAX}). */
  const httpProtocols = new Set<string>()
  const protocolOf = (name: string): ReturnType<typeof agents.protocol> => {
    if (!httpProtocols.has(name) && httpProtocols.size >= HTTP_PROTOCOLS_MAX) {
      throw new LimitExceededError('HTTP_PROTOCOLS_MAX', HTTP_PROTOCOLS_MAX, httpProtocols.size + 1, 'protocol names sent on over HTTP')
    }
    const p = agents.protocol(name)
    httpProtocols.add(name)
    return p
  }

  const handler = async (c: RouteContext, agent: string): Promise<boolean> => {
    const { method, send } = c
    if (method === 'PUT' || method === 'POST') {
      const b = parseBody(agentSchemas.handler, await c.body(), 'handler')
      const made = await store.set(agent, b.kinds, { ...(b.callback !== undefined ? { callback: b.callback } : {}), ...(b.timeoutMs !== undefined ? { timeoutMs: b.timeoutMs } : {}) }, { replaceAll: true })
      send(200, { handler: handlerView(agent, made) })
      return true
    }
    const bindings = store.of(agent)
    if (method === 'GET' || method === 'DELETE') {
      if (bindings.length === 0) throw new AgoraError('ERR_NO_HANDLER', `agent ${agent} has no HTTP handler on this daemon (PUT /v1/agents/${agent}/handler)`, { path: 'id' })
      if (method === 'GET') { send(200, { handler: handlerView(agent, bindings) }); return true }
      await store.remove(agent)
      send(200, { removed: agent })
      return true
    }
    return false
  }

  const inbox = async (c: RouteContext, agent: string, rest: string[]): Promise<boolean> => {
    const { method, send, url } = c
    if (rest.length === 0 && method === 'GET') {
      const waitMs = nonNegInt(url.searchParams.get('waitMs'), 'waitMs', INBOX_POLL_WAIT_MS_MAX) ?? 0
      const k = url.searchParams.get('kinds')
      const kinds = k === null || k === '' ? undefined : k.split(',')
      kinds?.forEach((x, i) => { if (kindFamily(x) === undefined) throw new AgoraError('ERR_BAD_REQUEST', `kinds.${i}: ${JSON.stringify(x)} is not a kind of call`, { path: 'kinds' }) })
      const calls = await store.poll(agent, {
        waitMs,
        signal: clientGone(c.res),
        fresh: true,
        ...(kinds !== undefined ? { kinds } : {}),
        missing: () => new AgoraError('ERR_NO_HANDLER', `agent ${agent} has no long-poll handler${kinds !== undefined ? ` of ${kinds.join(', ')}` : ''} on this daemon (PUT /v1/agents/${agent}/handler without callback)`, { path: 'id' })
      })
      send(200, { calls })
      return true
    }
    if (rest.length === 1 && method === 'POST') {
      const b = parseBody(agentSchemas.answer, await c.body(), 'answer')
      const v = await store.answerAny(rest[0]!, b as { reply?: unknown, error?: unknown }, agent)
      send(200, { callId: v.callId, agent, kind: v.kind, accepted: true, ...(v.recovered === true ? { recovered: true } : {}) })
      return true
    }
    if (rest.length === 2 && rest[1] === 'progress' && method === 'POST') {
      const b = parseBody(agentSchemas.progress, await c.body(), 'progress')
      await store.progress(rest[0]!, agent, b.progress, b.note)
      send(200, { callId: rest[0], agent, progress: b.progress })
      return true
    }
    return false
  }

  const call = async (c: RouteContext, agent: string, what: 'request' | 'message'): Promise<void> => {
    const gone = clientGone(c.res)
    if (what === 'request') {
      const b = parseBody(agentSchemas.request, await c.body(), 'request')
      const o = { ...(b.timeoutMs !== undefined ? { timeoutMs: b.timeoutMs } : {}), ...(b.from !== undefined ? { from: b.from } : {}), ...(b.fallback !== undefined ? { fallback: b.fallback } : {}), signal: gone }
      const reply = b.protocol !== undefined ? await protocolOf(b.protocol).request(agent, b.payload ?? null, o) : await agents.request(agent, b.payload ?? null, o)
      c.send(200, { agent, reply: reply ?? null })
      return
    }
    const b = parseBody(agentSchemas.message, await c.body(), 'message')
    await agents.send(agent, b.message ?? null, { ...(b.timeoutMs !== undefined ? { timeoutMs: b.timeoutMs } : {}), ...(b.from !== undefined ? { from: b.from } : {}), ...(b.fallback !== undefined ? { fallback: b.fallback } : {}), signal: gone })
    c.send(200, { agent, delivered: true })
  }

  const group = async (c: RouteContext, topic: string, rest: string[]): Promise<boolean> => {
    const { method, send, url } = c
    if (rest.length !== 1) return false
    if (rest[0] === 'publish' && method === 'POST') {
      const b = parseBody(agentSchemas.publish, await c.body(), 'publish')
      const recipients = await agents.publish(topic, b.message ?? null, b.from !== undefined ? { from: b.from } : {})
      send(200, { topic, recipients })
      return true
    }
    if (rest[0] === 'subscription') {
      if (method === 'PUT' || method === 'POST') { const f = groups.follow(topic); send(200, { topic, subscribed: true, next: f.seq }); return true }
      if (method === 'DELETE') { send(200, { topic, subscribed: false, removed: groups.unfollow(topic) }); return true }
      if (method === 'GET') { send(200, { topic, subscribed: groups.topics().includes(topic) }); return true }
    }
    if (rest[0] === 'messages' && method === 'GET') {
      const after = nonNegInt(url.searchParams.get('after'), 'after', Number.MAX_SAFE_INTEGER) ?? 0
      const waitMs = nonNegInt(url.searchParams.get('waitMs'), 'waitMs', INBOX_POLL_WAIT_MS_MAX) ?? 0
      send(200, await groups.poll(topic, after, waitMs, clientGone(c.res)))
      return true
    }
    return false
  }

  const handle = async (c: RouteContext): Promise<boolean> => {
    const { method, parts } = c
    if (parts[1] === 'request' && parts.length === 2 && method === 'POST') {
      const b = parseBody(agentSchemas.route, await c.body(), 'request')
      const route = { capability: b.capability, ...(b.strategy !== undefined ? { strategy: b.strategy } : {}), ...(b.attempts !== undefined ? { attempts: b.attempts } : {}) }
      const o = { ...(b.timeoutMs !== undefined ? { timeoutMs: b.timeoutMs } : {}), ...(b.from !== undefined ? { from: b.from } : {}), signal: clientGone(c.res) }
      const reply = b.protocol !== undefined ? await protocolOf(b.protocol).request(route, b.payload ?? null, o) : await agents.request(route, b.payload ?? null, o)
      c.send(200, { capability: b.capability, reply: reply ?? null })
      return true
    }
    if (parts[1] === 'groups' && parts.length >= 4) return await group(c, checkTopic(parts[2]), parts.slice(3))
    if (parts[1] !== 'agents' || parts.length < 4) return false
    const agent = parts[2]!
    switch (parts[3]) {
      case 'handler': return parts.length === 4 && await handler(c, agent)
      case 'inbox': return await inbox(c, agent, parts.slice(4))
      case 'request':
      case 'message':
        if (parts.length !== 4 || method !== 'POST') return false
        await call(c, agent, parts[3])
        return true
      default: return false
    }
  }

  return { groups, handle, close: () => { groups.close() } }
}
