/**
 * `peer.agents`: the agents' one request interface (FEATURES C5). An agent hosted here registers its
 * handlers once (`handle(agentId, { onRequest, onMessage, onTask, onVote, onBidRequest, protocols })`);
 * any peer reaches it by id or by capability with `request`, `send`, or a named protocol, and groups of
 * agents talk over gossipsub topics with `publish` / `subscribe`.
 *
 * Every call between hosts travels over one multiplexed channel per (requester, host) pair,
 * `/agora/<mesh>/agents/1.0.0` (peers/agents/channel.ts: backpressure, frame and pending limits, idle
 * close), which also carries the auction and vote frames of peer.economy and peer.coordination; the
 * auction protocol id of earlier versions is still served. The sending host is the connection's
 * authenticated peer; a sender agent named in a frame is kept only when the registry has that host
 * claiming it. Group messages are gossipsub messages sealed by the publishing peer (peers/seal.ts).
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { SealedMessage, SealedPubsub } from '../seal.js'
import type { Stream, PeerId } from '@libp2p/interface'
import { AgoraError, InvalidOptionError, LimitExceededError } from '../../src/base/errors.js'
import { TypedEmitter } from '../../src/base/events.js'
import { describeJsonProblem, isReservedName, isWellFormed, plainJsonProblem } from '../../src/base/input.js'
import type { Logger } from '../../src/base/log.js'
import type { AgentView, LookupStrategy, QueryCriteria } from '../../crdt/types.js'
import type { AgoraLibp2p } from '../node.js'
import type { PeerEconomy } from '../economy/economy.js'
import { auctionProtocol } from '../economy/economy.js'
import type { AuctionFrame } from '../economy/frames.js'
import type { PeerCoordination } from '../coordination/service.js'
import { Channel, REPLY_RETRY_AFTER_MS_MAX, serveChannel, type Reply } from './channel.js'
import { PROTOCOL_NAME_RE, REQUEST_TIMEOUT_MS_MAX, validChannelFrame, type AgentFrame, type ChannelFrame } from './frames.js'
import { AgentError, agentErrorOf } from './errors.js'
import type { AgentContext, AgentHandlers, AgentProtocol, CapabilityRoute, FallbackRoute, GroupMessage, PayloadSchema, RequestOptions, Sender } from './types.js'
import { AgentBreakers, type BreakerEvents, type BreakerView } from '../protect/breakers.js'
import type { PeerRateLimits, Refusal } from '../protect/limits.js'
import { BREAKER_DEFAULTS, type ResolvedBreakerOptions } from '../../protocols/infrastructure/breaker.js'

/** The agents' protocol id. */
export function agentsProtocol (mesh: string): string {
  return `/agora/${mesh}/agents/1.0.0`
}

/** The gossipsub topic of group `topic` in mesh `mesh`. */
export function groupTopic (mesh: string, topic: string): string {
  return `/agora/${mesh}/agents/group-2/${topic}`
}

/** Default time a request, message or protocol call waits for its reply. */
export const REQUEST_TIMEOUT_MS = 5000
/** Bytes of a request, reply, message or group message payload (JSON text; the frame around it fits CHANNEL_FRAME_BYTES_MAX). */
export const AGENT_PAYLOAD_BYTES_MAX = 60 * 1024
/** Agents with handlers on one peer. */
export const AGENT_HANDLERS_MAX = 10_000
/** Channels one connection may open to this peer at once (one is the norm; reopens overlap). */
export const CHANNELS_PER_CONNECTION_MAX = 8
/** Channels to hosts kept open at once (oldest closed first). */
export const CHANNELS_MAX = 256
/** Requests a host handles at once over all channels together (beyond: `ERR_LIMIT_EXCEEDED`, seen as `ERR_OVERLOADED`). */
export const AGENT_INBOUND_MAX = 512
/** Requests a host handles at once for one remote peer (its quota of {@link AGENT_INBOUND_MAX}). */
export const AGENT_INBOUND_PER_PEER_MAX = 128
/** Named protocols registered on one peer. */
export const PROTOCOLS_MAX = 256
/** Group topics one peer subscribes to, and handlers per topic. */
export const TOPICS_MAX = 256
export const TOPIC_HANDLERS_MAX = 64
/** Group-message handler calls running at once on one peer (beyond: the message is dropped here and counted). */
export const GROUP_INFLIGHT_MAX = 1024
/** Default and largest number of candidates tried by a capability route. */
export const ROUTE_ATTEMPTS_DEFAULT = 3
export const ROUTE_ATTEMPTS_MAX = 16

/** Codes after which a capability route tries the next candidate: the request was refused before any handler ran. */
const RETRYABLE = new Set(['ERR_UNREACHABLE', 'ERR_OVERLOADED', 'ERR_UNKNOWN_AGENT', 'ERR_NO_HANDLER', 'ERR_CIRCUIT_OPEN', 'ERR_RATE_LIMITED'])
/** The same for a message (at most once): only refusals that prove it was not delivered (an unreachable host may have taken it). */
const MESSAGE_RETRYABLE = new Set(['ERR_OVERLOADED', 'ERR_UNKNOWN_AGENT', 'ERR_NO_HANDLER', 'ERR_CIRCUIT_OPEN', 'ERR_RATE_LIMITED'])
/** Capabilities of the target a `fallback: true` looks through, in the agent's order. */
export const FALLBACK_CAPABILITIES_MAX = 8

const enc = new TextEncoder()
const dec = new TextDecoder()

export interface PeerAgentsEvents extends Record<string, unknown>, BreakerEvents {
  /** A request, message or protocol call reached one of this peer's agents: its outcome (`reply`, `delivered` or an error code). */
  'agent:served': { agent: string, kind: 'request' | 'message', protocol?: string, from: Sender, outcome: string, ms: number }
  /** A group message arrived on a subscribed topic (before the handlers ran). */
  'group:message': { topic: string, from: Sender }
  /** A direct call found its agent's breaker open and went to `to`, another agent of the capability (`fallback` option). */
  'breaker:fallback': { agent: string, to: string, capability: string }
}

export interface PeerAgentsStats {
  requestsServed: number
  messagesDelivered: number
  /** Frames refused over the host's limits (all kinds), and by the per-peer quota. */
  refused: number
  refusedQuota: number
  /** Frames refused by this peer's rate limits (`agentRequests`, `peerRequests`: peers/protect/limits.ts). */
  rateLimited: number
  /** Direct calls that went to a fallback agent because their agent's breaker was open. */
  fallbacks: number
  malformedFrames: number
  groupPublished: number
  groupReceived: number
  groupRejected: number
  groupDropped: number
}

/** Hooks of the task service (peers/tasks) on the channel. */
export interface TaskHooks {
  /** A `task` hint frame: the host reads the task from the log and runs the attempt if it is this host's. */
  hint: (f: { task: number, attempt: number, agent: string }, from: string) => Promise<string>
}

interface Ctx {
  node: AgoraLibp2p
  /** Gossipsub through the application seal (peers/seal.ts): group messages are signed by their host. */
  pubsub: SealedPubsub
  mesh: string
  self: string
  log: Logger
  lookup: (id: string) => AgentView | undefined
  query: (q: QueryCriteria) => { agents: readonly AgentView[] }
  /** Every host's claim of an agent id. */
  claims: (id: string) => readonly AgentView[]
  lookupWith: (capability: string, strategy: LookupStrategy) => AgentView | undefined
  economy: PeerEconomy
  coordination: PeerCoordination
  /** The per-agent circuit breakers' options (default BREAKER_DEFAULTS). */
  breaker?: ResolvedBreakerOptions
  /** The peer's rate limits (inbound frames per agent and per remote peer); none: unlimited. */
  limits?: PeerRateLimits
}

/** `peer.agents`: handlers of local agents, requests and messages to any agent, group topics. */
export class PeerAgents extends TypedEmitter<PeerAgentsEvents> {
  private readonly handlers = new Map<string, AgentHandlers>()
  private readonly protocols = new Map<string, PayloadSchema | undefined>()
  private readonly channels = new Map<string, Promise<Channel | Reply>>()
  private readonly topics = new Map<string, Set<(m: GroupMessage) => void | Promise<void>>>()
  private readonly inboundOf = new Map<string, number>()
  /** Channels being served (ended when the peer stops). */
  private readonly served = new Set<Stream>()
  private inbound = 0
  private groupInflight = 0
  private running = false
  private stopping = new AbortController()
  private taskHooks: TaskHooks | undefined
  /** @internal Called with each request's and message's duration (ms), whatever its outcome: the health monitor's latency (peers/health). */
  onCall: ((kind: 'request' | 'message', ms: number) => void) | undefined
  readonly stats: PeerAgentsStats = { requestsServed: 0, messagesDelivered: 0, refused: 0, refusedQuota: 0, rateLimited: 0, fallbacks: 0, malformedFrames: 0, groupPublished: 0, groupReceived: 0, groupRejected: 0, groupDropped: 0 }
  /** @internal The per-agent circuit breakers of every call this peer sends (peers/protect/breakers.ts). */
  readonly guard: AgentBreakers

  constructor (private readonly ctx: Ctx) {
    super()
    this.guard = new AgentBreakers(ctx.breaker ?? BREAKER_DEFAULTS, (type, e) => { this.emit(type, e as never) })
  }

  /**
   * The agents' circuit breakers that are not closed (open, or half-open: the next call is a probe),
   * with `all: true` also closed ones with failures in their window; at most BREAKER_LIST_MAX.
   */
  breakers (options: { all?: boolean } = {}): BreakerView[] {
    return this.guard.list(options)
  }

  /** Whether calls to `agentId` are refused now (its breaker is open and its recovery time not over). */
  breakerOpen (agentId: string): boolean {
    return this.guard.isOpen(agentId)
  }

  // ---------------------------------------------------------------- lifecycle

  /** Serves the agents' channel (and the auction protocol id of earlier versions); idempotent. */
  async start (): Promise<void> {
    if (this.running) return
    this.running = true
    this.stopping = new AbortController()
    try {
      await this.ctx.node.handle([agentsProtocol(this.ctx.mesh), auctionProtocol(this.ctx.mesh)], (stream, connection) => {
        void this.serve(stream, connection.remotePeer.toString())
      }, { maxInboundStreams: CHANNELS_PER_CONNECTION_MAX })
      for (const topic of this.topics.keys()) this.join(topic)
    } catch (err) {
      this.running = false
      throw err
    }
  }

  /** Stops serving, aborts running handlers' signals and closes the open channels (idempotent). */
  async stop (): Promise<void> {
    if (!this.running) return
    this.running = false
    this.stopping.abort(new AgentError('ERR_UNREACHABLE', 'the peer stopped'))
    await this.ctx.node.unhandle([agentsProtocol(this.ctx.mesh), auctionProtocol(this.ctx.mesh)]).catch(() => {})
    for (const topic of this.topics.keys()) this.leave(topic)
    for (const stream of this.served) stream.abort(new Error('the peer stopped'))
    this.served.clear()
    const open = [...this.channels.values()]
    this.channels.clear()
    for (const c of open) void c.then(x => { if (x instanceof Channel) x.close() })
  }

  // ---------------------------------------------------------------- handlers

  /**
   * Registers the handlers of `agentId` (hosted here); a second call replaces them. `onBidRequest` is the
   * economy's bid handler and `onVote` the coordination's ballot handler: registering them here is the same
   * as `peer.economy.handle` / `peer.coordination.onVote`.
   */
  handle (agentId: string, handlers: AgentHandlers): void {
    checkId('agentId', agentId)
    if (handlers === null || typeof handlers !== 'object') throw new InvalidOptionError('handlers', 'must be an object of handler functions')
    for (const k of ['onRequest', 'onMessage', 'onTask', 'onVote', 'onBidRequest'] as const) {
      if (handlers[k] !== undefined && typeof handlers[k] !== 'function') throw new InvalidOptionError(`handlers.${k}`, 'must be a function')
    }
    let protocols: Map<string, (payload: unknown, ctx: AgentContext) => unknown> | undefined
    if (handlers.protocols !== undefined) {
      if (handlers.protocols === null || typeof handlers.protocols !== 'object') throw new InvalidOptionError('handlers.protocols', 'must be an object of handler functions by protocol name')
      protocols = new Map()
      for (const [name, fn] of Object.entries(handlers.protocols)) {
        if (!PROTOCOL_NAME_RE.test(name)) throw new InvalidOptionError(`handlers.protocols.${name}`, 'a protocol name is 1..128 characters of [A-Za-z0-9._:/-]')
        if (typeof fn !== 'function') throw new InvalidOptionError(`handlers.protocols.${name}`, 'must be a function')
        protocols.set(name, fn)
      }
    }
    if (!this.handlers.has(agentId) && this.handlers.size >= AGENT_HANDLERS_MAX) throw new LimitExceededError('agentHandlersMax', AGENT_HANDLERS_MAX, this.handlers.size + 1, 'agents with handlers')
    // Folded in: the economy's and coordination's own handler tables. A handler this interface registered
    // before and the new set lacks is removed; one registered there directly is left alone.
    const before = this.handlers.get(agentId)
    if (handlers.onBidRequest !== undefined) this.ctx.economy.handle(agentId, handlers.onBidRequest)
    else if (before?.onBidRequest !== undefined) this.ctx.economy.unhandle(agentId)
    if (handlers.onVote !== undefined) this.ctx.coordination.onVote(agentId, handlers.onVote)
    else if (before?.onVote !== undefined) this.ctx.coordination.offVote(agentId)
    this.handlers.set(agentId, { ...handlers, ...(protocols !== undefined ? { protocols: Object.assign(Object.create(null) as Record<string, never>, Object.fromEntries(protocols)) } : {}) })
  }

  /** Removes every handler of `agentId` registered here (bid and vote handlers included). */
  unhandle (agentId: string): void {
    const before = this.handlers.get(agentId)
    if (before === undefined) return
    this.handlers.delete(agentId)
    if (before.onBidRequest !== undefined) this.ctx.economy.unhandle(agentId)
    if (before.onVote !== undefined) this.ctx.coordination.offVote(agentId)
  }

  /** Agents with handlers on this peer. */
  handled (): string[] { return [...this.handlers.keys()] }

  /** Whether `agentId` has an `onTask` handler here (peers/tasks). */
  hasTaskHandler (agentId: string): boolean { return this.handlers.get(agentId)?.onTask !== undefined }

  /**
   * Registers a named protocol (idempotent for the same name; the schema of the first registration stays).
   * With a schema, payloads are checked before they are sent and again on the host before the handler.
   */
  protocol<Req = unknown, Res = unknown> (name: string, schema?: PayloadSchema<Req>): AgentProtocol<Req, Res> {
    if (typeof name !== 'string' || !PROTOCOL_NAME_RE.test(name)) throw new InvalidOptionError('name', 'a protocol name is 1..128 characters of [A-Za-z0-9._:/-]')
    if (schema !== undefined && typeof schema !== 'function' && typeof (schema as { safeParse?: unknown }).safeParse !== 'function') throw new InvalidOptionError('schema', 'must have safeParse (zod) or be a predicate')
    if (!this.protocols.has(name)) {
      if (this.protocols.size >= PROTOCOLS_MAX) throw new LimitExceededError('protocolsMax', PROTOCOLS_MAX, this.protocols.size + 1, 'protocols')
      this.protocols.set(name, schema as PayloadSchema | undefined)
    }
    return {
      name,
      request: async (agent, payload, options = {}) => await this.call(agent, payload, options, name) as Res
    }
  }

  // ---------------------------------------------------------------- calls

  /**
   * Sends `payload` to an agent's `onRequest` (or, with a capability route, to the first candidate that
   * can be reached) and resolves with its reply. Fails with an {@link AgentError}: `ERR_UNKNOWN_AGENT`,
   * `ERR_UNREACHABLE`, `ERR_HANDLER`, `ERR_TIMEOUT`, `ERR_OVERLOADED`, `ERR_NO_HANDLER`,
   * `ERR_INVALID_PAYLOAD`, `ERR_NO_CANDIDATE`, `ERR_CIRCUIT_OPEN` (the agent's breaker is open, and no
   * `fallback` answered), `ERR_RATE_LIMITED` (the host's rate limit; both with `details.retryAfterMs`).
   */
  async request<T = unknown> (target: string | CapabilityRoute, payload: unknown, options: RequestOptions = {}): Promise<T> {
    const protocol = options?.protocol
    if (protocol !== undefined && (typeof protocol !== 'string' || !PROTOCOL_NAME_RE.test(protocol))) throw new InvalidOptionError('protocol', 'a protocol name is 1..128 characters of [A-Za-z0-9._:/-]')
    const t0 = performance.now()
    try { return await this.call(target, payload, options, protocol) as T } finally { this.onCall?.('request', performance.now() - t0) }
  }

  /**
   * Sends a message to an agent's `onMessage`: at most once (never resent), and resolved once its host
   * acknowledged it (the handler returned). A failure means the message may not have been delivered;
   * after `ERR_TIMEOUT` it may have been.
   */
  async send (agentId: string, message: unknown, options: RequestOptions = {}): Promise<void> {
    const timeoutMs = this.timeout(options)
    const body = this.payload(message, 'message')
    const from = this.sender(options)
    const fallback = fallbackOf(options.fallback)
    const a = this.target(agentId)
    const frame = (to: string): AgentFrame => ({ t: 'message', to, body, ...(from !== undefined ? { from } : {}) })
    const started = Date.now()
    const t0 = performance.now()
    try {
      const r = await this.ask(a.host, frame(a.id), timeoutMs, options.signal)
      if (fallback !== undefined && !r.ok && r.code === 'ERR_CIRCUIT_OPEN') { await this.fallback(a, fallback, frame, started + timeoutMs, options.signal, MESSAGE_RETRYABLE, r); return }
      if (!r.ok) throw agentErrorOf(r.code, r.message, { agent: agentId, host: a.host }, r.retryAfterMs)
    } finally {
      this.onCall?.('message', performance.now() - t0)
    }
  }

  private async call (target: string | CapabilityRoute, payload: unknown, options: RequestOptions, protocol: string | undefined): Promise<unknown> {
    const timeoutMs = this.timeout(options)
    if (protocol !== undefined) this.validate(protocol, payload)
    const body = this.payload(payload, 'payload')
    const from = this.sender(options)
    const frame = (to: string, ms: number): AgentFrame => ({ t: 'request', to, body, ms, ...(from !== undefined ? { from } : {}), ...(protocol !== undefined ? { p: protocol } : {}) })
    if (typeof target === 'string') {
      const fallback = fallbackOf(options.fallback)
      const a = this.target(target)
      const started = Date.now()
      const r = await this.ask(a.host, frame(a.id, timeoutMs), timeoutMs, options.signal)
      if (fallback !== undefined && !r.ok && r.code === 'ERR_CIRCUIT_OPEN') return await this.fallback(a, fallback, frame, started + timeoutMs, options.signal, RETRYABLE, r)
      return this.replyOf(r, a)
    }
    const candidates = this.routeCandidates(target)
    return await this.tryCandidates(candidates, target.capability, frame, Date.now() + timeoutMs, options.signal, RETRYABLE)
  }

  /**
   * Sends `frame` to each candidate in turn until one answers, past those that refused it before any
   * handler ran (`retryable`), within `deadline`.
   */
  private async tryCandidates (candidates: readonly AgentView[], capability: string, frame: (to: string, ms: number) => AgentFrame, deadline: number, signal: AbortSignal | undefined, retryable: ReadonlySet<string>): Promise<unknown> {
    let last: AgentError | undefined
    for (const a of candidates) {
      const left = deadline - Date.now()
      if (left <= 0) break
      const r = await this.ask(a.host, frame(a.id, left), left, signal)
      try {
        return this.replyOf(r, a)
      } catch (err) {
        last = err as AgentError
        if (!retryable.has(last.code)) throw last
      }
    }
    throw last ?? new AgentError('ERR_TIMEOUT', `no candidate answered in time`, { capability })
  }

  /**
   * A direct call whose agent's breaker is open, when the caller asked for a fallback: the same call to
   * another agent of the capability (`lookupWith` first, open breakers skipped). No candidate: the
   * breaker's refusal `open` stands.
   */
  private async fallback (a: AgentView, route: true | FallbackRoute, frame: (to: string, ms: number) => AgentFrame, deadline: number, signal: AbortSignal | undefined, retryable: ReadonlySet<string>, open: Extract<Reply, { ok: false }>): Promise<unknown> {
    const capabilities = route === true ? (a.capabilities ?? []).slice(0, FALLBACK_CAPABILITIES_MAX) : [route.capability]
    for (const capability of capabilities) {
      const candidates = this.candidates({ capability, ...(route !== true && route.strategy !== undefined ? { strategy: route.strategy } : {}), ...(route !== true && route.attempts !== undefined ? { attempts: route.attempts } : {}) }).filter(c => c.id !== a.id)
      if (candidates.length === 0) continue
      this.stats.fallbacks++
      this.emit('breaker:fallback', { agent: a.id, to: candidates[0]!.id, capability })
      return await this.tryCandidates(candidates, capability, frame, deadline, signal, retryable)
    }
    return this.replyOf(open, a)
  }

  /** A capability route's candidates; none because every one's breaker is open: `ERR_CIRCUIT_OPEN`. */
  private routeCandidates (route: CapabilityRoute): AgentView[] {
    const candidates = this.candidates(route)
    if (candidates.length > 0) return candidates
    const skipped = this.candidates(route, false)
    if (skipped.length === 0) throw new AgentError('ERR_NO_CANDIDATE', `no healthy reachable agent with capability ${route.capability}`, { capability: route.capability })
    const retryAfterMs = Math.min(...skipped.map(a => this.guard.retryAfterMs(a.id)))
    throw new AgentError('ERR_CIRCUIT_OPEN', `the circuit breakers of every agent with capability ${route.capability} are open: retry in ${retryAfterMs} ms`, { capability: route.capability, retryAfterMs })
  }

  private replyOf (r: Reply, a: AgentView): unknown {
    if (!r.ok) throw agentErrorOf(r.code, r.message, { agent: a.id, host: a.host }, r.retryAfterMs)
    return r.value ?? null
  }

  /**
   * The candidates of a capability route, best first: the registry's `lookupWith` choice, then the other
   * healthy reachable agents with the capability in the strategy's order; agents whose circuit breaker is
   * open are skipped (`skipOpen: false` keeps them).
   */
  candidates (route: CapabilityRoute, skipOpen = true): AgentView[] {
    if (route === null || typeof route !== 'object' || typeof route.capability !== 'string' || route.capability.length === 0) throw new InvalidOptionError('capability', 'must be a non-empty string')
    const strategy = route.strategy ?? 'least-loaded'
    const n = route.attempts ?? ROUTE_ATTEMPTS_DEFAULT
    if (!Number.isSafeInteger(n) || n < 1 || n > ROUTE_ATTEMPTS_MAX) throw new InvalidOptionError('attempts', `must be an integer in 1..${ROUTE_ATTEMPTS_MAX}`)
    const first = this.ctx.lookupWith(route.capability, strategy)
    if (first === undefined) return []
    // The registry's view carries load but not round-trip times: after the first choice, local agents first
    // for nearest-healthy, least load first otherwise.
    const key = (a: AgentView): number => strategy === 'nearest-healthy' ? (a.host === this.ctx.self ? 0 : 1) : (a.load ?? 0)
    const rest = this.ctx.query({ capability: route.capability, health: 'healthy', reachableOnly: true, limit: ROUTE_ATTEMPTS_MAX * 4 }).agents
      .filter(a => a.id !== first.id)
      .sort((x, y) => strategy === 'random-healthy' ? 0 : (key(x) - key(y)) || (x.id < y.id ? -1 : 1))
    const all = [first, ...rest]
    return (skipOpen ? all.filter(a => !this.guard.isOpen(a.id)) : all).slice(0, n)
  }

  // ---------------------------------------------------------------- groups

  /**
   * Publishes `message` on group `topic` (gossipsub, signed by this peer). Subscribers on this peer get it
   * too. Resolves with the number of peers it was sent to (0 is not an error: nobody else listens yet).
   */
  async publish (topic: string, message: unknown, options: { from?: string } = {}): Promise<number> {
    checkTopic(topic)
    const body = this.payload(message, 'message')
    const from = this.sender(options)
    const data = enc.encode(JSON.stringify({ body, ...(from !== undefined ? { from } : {}) }))
    this.stats.groupPublished++
    this.deliverGroup(topic, { topic, message: body, from: { host: this.ctx.self, ...(from !== undefined ? { agent: from } : {}) } })
    if (!this.running) return 0
    try {
      const r = await this.ctx.pubsub.publish(groupTopic(this.ctx.mesh, topic), data)
      return r.recipients.length
    } catch (err) {
      // gossipsub refuses to publish with no peer on the topic: nobody else listens yet.
      if (/NoPeersSubscribedToTopic|PublishError\.(NoPeersSubscribedToTopic|InsufficientPeers)/.test(String((err as Error).message))) return 0
      throw new AgentError('ERR_UNREACHABLE', `publish on ${topic} failed: ${(err as Error).message}`, { topic })
    }
  }

  /** Calls `handler` with every message of group `topic`; returns the unsubscribe. */
  subscribe (topic: string, handler: (m: GroupMessage) => void | Promise<void>): () => void {
    checkTopic(topic)
    if (typeof handler !== 'function') throw new InvalidOptionError('handler', 'must be a function')
    let set = this.topics.get(topic)
    if (set === undefined) {
      if (this.topics.size >= TOPICS_MAX) throw new LimitExceededError('topicsMax', TOPICS_MAX, this.topics.size + 1, 'group topics')
      set = new Set()
      this.topics.set(topic, set)
      if (this.running) this.join(topic)
    }
    if (set.size >= TOPIC_HANDLERS_MAX) throw new LimitExceededError('topicHandlersMax', TOPIC_HANDLERS_MAX, set.size + 1, `handlers of ${topic}`)
    set.add(handler)
    return () => {
      const s = this.topics.get(topic)
      if (s === undefined || !s.delete(handler) || s.size > 0) return
      this.topics.delete(topic)
      if (this.running) this.leave(topic)
    }
  }

  /** Peers this peer knows to subscribe to group `topic` (gossipsub's view). */
  subscribers (topic: string): string[] {
    checkTopic(topic)
    return this.ctx.pubsub.getSubscribers(groupTopic(this.ctx.mesh, topic)).map(p => p.toString())
  }

  private join (topic: string): void {
    const t = groupTopic(this.ctx.mesh, topic)
    const pubsub = this.ctx.pubsub
    pubsub.topicValidators.set(t, (peer, msg) => this.onGroup(topic, peer, msg))
    pubsub.subscribe(t)
  }

  private leave (topic: string): void {
    const t = groupTopic(this.ctx.mesh, topic)
    const pubsub = this.ctx.pubsub
    pubsub.topicValidators.delete(t)
    try { pubsub.unsubscribe(t) } catch {}
  }

  private onGroup (topic: string, _relay: PeerId, msg: SealedMessage): TopicValidatorResult {
    if (msg.data.length > AGENT_PAYLOAD_BYTES_MAX + 1024) { this.stats.groupRejected++; return TopicValidatorResult.Reject }
    let m: { body?: unknown, from?: unknown }
    try {
      m = JSON.parse(dec.decode(msg.data)) as { body?: unknown, from?: unknown }
    } catch {
      this.stats.groupRejected++
      return TopicValidatorResult.Reject
    }
    if (m === null || typeof m !== 'object' || Array.isArray(m) || !('body' in m) || (m.from !== undefined && typeof m.from !== 'string') || plainJsonProblem(m.body) !== undefined) {
      this.stats.groupRejected++
      return TopicValidatorResult.Reject
    }
    const host = msg.from
    this.stats.groupReceived++
    this.deliverGroup(topic, { topic, message: m.body, from: this.senderOf(host, m.from as string | undefined) })
    return TopicValidatorResult.Accept
  }

  private deliverGroup (topic: string, m: GroupMessage): void {
    const set = this.topics.get(topic)
    if (set === undefined || set.size === 0) return
    this.emit('group:message', { topic, from: m.from })
    for (const h of set) {
      if (this.groupInflight >= GROUP_INFLIGHT_MAX) { this.stats.groupDropped++; continue }
      this.groupInflight++
      void (async () => { await h(m) })()
        .catch((err: Error) => { this.ctx.log.debug('group handler threw', { topic, error: err?.message }) })
        .finally(() => { this.groupInflight-- })
    }
  }

  // ---------------------------------------------------------------- the channel

  /** @internal peers/tasks receives task hints through this. */
  setTaskHooks (hooks: TaskHooks): void { this.taskHooks = hooks }

  /** @internal Tells `host` a task attempt of its agent was assigned (a hint: the host reads the log). */
  async hintTask (host: string, f: { task: number, attempt: number, agent: string }, timeoutMs: number): Promise<Reply> {
    return await this.ask(host, { t: 'task', ...f }, timeoutMs)
  }

  /**
   * @internal Runs the `onTask` handler of a local agent (peers/tasks); throws `ERR_NO_HANDLER` when it has none.
   */
  async runTask (agentId: string, ...args: Parameters<NonNullable<AgentHandlers['onTask']>>): Promise<unknown> {
    const h = this.handlers.get(agentId)?.onTask
    if (h === undefined) throw new AgentError('ERR_NO_HANDLER', `agent ${agentId} has no onTask handler on this peer`, { agent: agentId })
    return await h(...args)
  }

  /**
   * Sends one frame to `host` (or handles it here when `host` is this peer) and returns the reply. Never
   * rejects: failures are `{ ok: false, code }` replies.
   */
  async ask (host: string, f: ChannelFrame, timeoutMs: number, signal?: AbortSignal): Promise<Reply> {
    if (signal?.aborted === true) return { ok: false, code: 'ERR_TIMEOUT', message: 'aborted before it was sent', local: true }
    // Every frame for an agent goes through the agent's circuit breaker (result notices name none).
    const agent = agentOf(f)
    if (agent === undefined) return await this.deliver(host, f, timeoutMs, signal)
    const refused = this.guard.admit(agent)
    if (refused !== undefined) return refused
    let r: Reply = { ok: false, code: 'ERR_INTERNAL', message: 'the call threw', local: true }
    try {
      r = await this.deliver(host, f, timeoutMs, signal)
      return r
    } finally {
      // A task hint's timeout says the host is slow to read the log, not that the agent fails.
      this.guard.record(agent, f.t === 'task' && !r.ok && r.code === 'ERR_TIMEOUT' ? { ...r, local: true } : r)
    }
  }

  private async deliver (host: string, f: ChannelFrame, timeoutMs: number, signal: AbortSignal | undefined): Promise<Reply> {
    if (host === this.ctx.self) return await this.local(f, timeoutMs)
    const c = await this.channel(host, timeoutMs)
    if (!(c instanceof Channel)) return c
    if (signal === undefined) return await c.request(f, timeoutMs)
    return await Promise.race([
      c.request(f, timeoutMs),
      new Promise<Reply>((resolve) => { signal.addEventListener('abort', () => { resolve({ ok: false, code: 'ERR_TIMEOUT', message: 'aborted by the caller', local: true }) }, { once: true }) })
    ])
  }

  /** The local agent a frame is for, when this peer hosts it (a rate limit's key); undefined otherwise. */
  private limitedAgent (f: ChannelFrame): string | undefined {
    const a = agentOf(f)
    return a !== undefined && this.handlers.has(a) ? a : undefined
  }

  /** The reply of a rate limit's refusal (logged at debug, counted). */
  private refusal (r: Refusal, remote: string): Reply {
    this.stats.rateLimited++
    this.ctx.log.debug('agents-channel frame rate-limited', { limit: r.limit, key: r.key, remote })
    const retryAfterMs = Math.min(REPLY_RETRY_AFTER_MS_MAX, Math.ceil(r.retryAfterMs))
    return { ok: false, code: 'ERR_RATE_LIMITED', message: `over this host's ${r.limit} rate limit for ${r.key}: retry in ${retryAfterMs} ms`, retryAfterMs }
  }

  private async local (f: ChannelFrame, timeoutMs: number): Promise<Reply> {
    if (f.t !== 'result' && this.ctx.limits !== undefined) {
      const refused = this.ctx.limits.inbound(undefined, this.limitedAgent(f))
      if (refused !== undefined) return this.refusal(refused, this.ctx.self)
    }
    let timer: ReturnType<typeof setTimeout> | undefined
    const timeout = new Promise<Reply>((resolve) => { timer = setTimeout(() => { resolve({ ok: false, code: 'ERR_TIMEOUT', message: `no reply within ${timeoutMs} ms` }) }, timeoutMs) })
    try {
      return await Promise.race([this.route(f, this.ctx.self), timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  private async serve (stream: Stream, remote: string): Promise<void> {
    this.served.add(stream)
    try {
      await this.serveOne(stream, remote)
    } finally {
      this.served.delete(stream)
    }
  }

  private async serveOne (stream: Stream, remote: string): Promise<void> {
    await serveChannel(stream, {
      valid: validChannelFrame,
      admit: (f) => {
        // Rate limits first (no slot taken by a refusal). A result notice names no agent it is for, but
        // costs the host a read of the auction: it counts against its sender's peer limit.
        if (this.ctx.limits !== undefined) {
          const refused = this.ctx.limits.inbound(remote, (f as ChannelFrame).t === 'result' ? undefined : this.limitedAgent(f as ChannelFrame))
          if (refused !== undefined) return this.refusal(refused, remote)
        }
        const mine = this.inboundOf.get(remote) ?? 0
        const isEconomy = (f as ChannelFrame).t !== 'request' && (f as ChannelFrame).t !== 'message' && (f as ChannelFrame).t !== 'task'
        if (this.inbound >= AGENT_INBOUND_MAX || mine >= AGENT_INBOUND_PER_PEER_MAX) {
          this.stats.refused++
          if (mine >= AGENT_INBOUND_PER_PEER_MAX) this.stats.refusedQuota++
          if (isEconomy) this.ctx.economy.stats.bidRequestsRefused++
          return false
        }
        this.inbound++
        this.inboundOf.set(remote, mine + 1)
        return true
      },
      release: () => {
        this.inbound--
        const mine = (this.inboundOf.get(remote) ?? 1) - 1
        if (mine <= 0) this.inboundOf.delete(remote)
        else this.inboundOf.set(remote, mine)
      },
      malformed: (why) => {
        this.stats.malformedFrames++
        this.ctx.log.debug('malformed agents-channel frame', { why, remote })
      },
      handle: async (frame) => await this.route(frame as ChannelFrame, remote)
    })
  }

  /** Handles one frame from `remote` (this peer for local calls). Never rejects. */
  private async route (f: ChannelFrame, remote: string): Promise<Reply> {
    try {
      switch (f.t) {
        case 'request': return await this.serveRequest(f, remote)
        case 'message': return await this.serveMessage(f, remote)
        case 'task': {
          if (this.taskHooks === undefined) throw new AgentError('ERR_NO_HANDLER', 'this peer runs no tasks')
          return { ok: true, outcome: await this.taskHooks.hint(f, remote) }
        }
        default: {
          const outcome = await this.ctx.economy.serveFrame(f as AuctionFrame)
          if (f.t !== 'result') this.ctx.economy.stats.bidRequestsServed++
          return { ok: true, outcome }
        }
      }
    } catch (err) {
      return { ok: false, code: (err as { code?: string }).code ?? 'ERR_HANDLER', message: (err as Error).message ?? 'handler failed' }
    }
  }

  private async serveRequest (f: Extract<AgentFrame, { t: 'request' }>, remote: string): Promise<Reply> {
    const from = this.senderOf(remote, f.from)
    const started = performance.now()
    const served = (outcome: string): void => {
      this.emit('agent:served', { agent: f.to, kind: 'request', ...(f.p !== undefined ? { protocol: f.p } : {}), from, outcome, ms: performance.now() - started })
    }
    try {
      const hs = this.handlers.get(f.to)
      if (hs === undefined) throw this.unknown(f.to)
      const fn = f.p === undefined ? hs.onRequest : hs.protocols?.[f.p]
      if (fn === undefined) throw new AgentError('ERR_NO_HANDLER', f.p === undefined ? `agent ${f.to} has no onRequest handler` : `agent ${f.to} does not speak protocol ${f.p}`, { agent: f.to })
      if (f.p !== undefined) this.validate(f.p, f.body)
      const value = await this.invoke(f.ms, async (signal) => await fn(f.body, { agent: f.to, from, signal, ...(f.p !== undefined ? { protocol: f.p } : {}) }))
      const body = this.replyValue(value)
      this.stats.requestsServed++
      served('reply')
      return { ok: true, outcome: 'reply', value: body }
    } catch (err) {
      const e = asAgentError(err)
      served(e.code)
      return { ok: false, code: e.code, message: e.message }
    }
  }

  private async serveMessage (f: Extract<AgentFrame, { t: 'message' }>, remote: string): Promise<Reply> {
    const from = this.senderOf(remote, f.from)
    const started = performance.now()
    try {
      const hs = this.handlers.get(f.to)
      if (hs === undefined) throw this.unknown(f.to)
      const fn = hs.onMessage
      if (fn === undefined) throw new AgentError('ERR_NO_HANDLER', `agent ${f.to} has no onMessage handler`, { agent: f.to })
      await this.invoke(REQUEST_TIMEOUT_MS_MAX, async (signal) => { await fn(f.body, { agent: f.to, from, signal }) })
      this.stats.messagesDelivered++
      this.emit('agent:served', { agent: f.to, kind: 'message', from, outcome: 'delivered', ms: performance.now() - started })
      return { ok: true, outcome: 'delivered' }
    } catch (err) {
      const e = asAgentError(err)
      this.emit('agent:served', { agent: f.to, kind: 'message', from, outcome: e.code, ms: performance.now() - started })
      return { ok: false, code: e.code, message: e.message }
    }
  }

  /**
   * Runs a handler with a signal aborted at `ms` (reason: a `TimeoutError`) or when the peer stops (the
   * stop's reason); its throw becomes `ERR_HANDLER`. One controller and one timer per call (an
   * `AbortSignal.any` of an `AbortSignal.timeout` cost several times more, and more garbage).
   */
  private async invoke<T> (ms: number, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const controller = new AbortController()
    const stopping = this.stopping.signal
    let reject!: (err: Error) => void
    const aborted = new Promise<never>((_resolve, rej) => { reject = rej })
    const timer = setTimeout(() => {
      controller.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError'))
      reject(new AgentError('ERR_TIMEOUT', `the handler did not answer within ${ms} ms`))
    }, ms)
    const onStop = (): void => {
      controller.abort(stopping.reason)
      reject(new AgentError('ERR_TIMEOUT', `the handler did not answer within ${ms} ms`))
    }
    // As AbortSignal.any did: a peer already stopped gives the handler an aborted signal (no race).
    if (stopping.aborted) controller.abort(stopping.reason)
    else stopping.addEventListener('abort', onStop, { once: true })
    try {
      return await Promise.race([
        fn(controller.signal).catch((err: unknown) => {
          if (err instanceof AgentError) throw err
          throw new AgentError('ERR_HANDLER', (err as Error)?.message ?? String(err))
        }),
        aborted
      ])
    } finally {
      clearTimeout(timer)
      stopping.removeEventListener('abort', onStop)
    }
  }

  private unknown (agent: string): AgentError {
    return new AgentError('ERR_UNKNOWN_AGENT', `agent ${agent} is not hosted by this peer`, { agent })
  }

  /** The channel to `host`, opened on first use and reused while it lives. */
  private async channel (host: string, timeoutMs: number): Promise<Channel | Reply> {
    const existing = this.channels.get(host)
    if (existing !== undefined) {
      const c = await existing
      if (!(c instanceof Channel) || !c.closed) return c
      if (this.channels.get(host) === existing) this.channels.delete(host)
      return await this.channel(host, timeoutMs)
    }
    const opening = (async (): Promise<Channel | Reply> => {
      try {
        const stream = await this.ctx.node.dialProtocol(peerIdFromString(host), agentsProtocol(this.ctx.mesh), { signal: AbortSignal.timeout(timeoutMs) })
        return new Channel(stream)
      } catch (err) {
        this.channels.delete(host)
        const timedOut = (err as Error).name === 'TimeoutError' || (err as Error).name === 'AbortError'
        return { ok: false, code: timedOut ? 'ERR_TIMEOUT' : 'ERR_UNREACHABLE', message: (err as Error).message }
      }
    })()
    this.channels.set(host, opening)
    if (this.channels.size > CHANNELS_MAX) {
      const [oldest, c] = this.channels.entries().next().value!
      this.channels.delete(oldest)
      void c.then(x => { if (x instanceof Channel) x.close() })
    }
    return await opening
  }

  // ---------------------------------------------------------------- checks

  private timeout (options: RequestOptions): number {
    if (options === null || typeof options !== 'object') throw new InvalidOptionError('options', 'must be an object')
    const ms = options.timeoutMs ?? REQUEST_TIMEOUT_MS
    if (!Number.isSafeInteger(ms) || ms < 1 || ms > REQUEST_TIMEOUT_MS_MAX) throw new InvalidOptionError('timeoutMs', `must be an integer in 1..${REQUEST_TIMEOUT_MS_MAX}`)
    return ms
  }

  /** The payload as the wire carries it: plain JSON of at most {@link AGENT_PAYLOAD_BYTES_MAX} bytes. */
  private payload (v: unknown, what: string): unknown {
    const body = v === undefined ? null : v
    const p = plainJsonProblem(body)
    if (p !== undefined) throw new AgentError('ERR_INVALID_PAYLOAD', `${what}${p.path === '' ? '' : `.${p.path}`}: ${describeJsonProblem(p)}`)
    const n = Buffer.byteLength(JSON.stringify(body))
    if (n > AGENT_PAYLOAD_BYTES_MAX) throw new AgentError('ERR_INVALID_PAYLOAD', `${what} has ${n} bytes of JSON, more than ${AGENT_PAYLOAD_BYTES_MAX}`)
    return body
  }

  /** A handler's reply: plain JSON within the payload limit (else the caller gets `ERR_HANDLER`). */
  private replyValue (v: unknown): unknown {
    try {
      return this.payload(v, 'reply')
    } catch (err) {
      throw new AgentError('ERR_HANDLER', (err as Error).message)
    }
  }

  private validate (protocol: string, payload: unknown): void {
    const schema = this.protocols.get(protocol)
    if (schema === undefined) return
    if (typeof schema === 'function') {
      if (schema(payload) !== true) throw new AgentError('ERR_INVALID_PAYLOAD', `the payload does not match protocol ${protocol}'s schema`)
      return
    }
    const r = schema.safeParse(payload)
    if (!r.success) throw new AgentError('ERR_INVALID_PAYLOAD', `the payload does not match protocol ${protocol}'s schema: ${r.error.message}`)
  }

  private sender (options: { from?: string }): string | undefined {
    if (options.from === undefined) return undefined
    checkId('from', options.from)
    const a = this.ctx.lookup(options.from)
    if (!this.handlers.has(options.from) && (a === undefined || a.host !== this.ctx.self)) throw new InvalidOptionError('from', `agent ${options.from} is not hosted by this peer`)
    return options.from
  }

  /** The sender as the receiving host sees it: the agent is kept only when `host` claims it in the registry. */
  private senderOf (host: string, agent: string | undefined): Sender {
    if (agent === undefined) return { host }
    if (host === this.ctx.self) return { host, agent }
    return this.ctx.claims(agent).some(c => c.host === host) ? { host, agent } : { host }
  }

  /** The agent to send to: the registry's view (a contested id goes to the registry's owner). */
  private target (agentId: string): AgentView {
    checkId('agent', agentId)
    const a = this.ctx.lookup(agentId)
    if (a !== undefined) return a
    if (this.handlers.has(agentId)) return { id: agentId, host: this.ctx.self } as AgentView
    throw new AgentError('ERR_UNKNOWN_AGENT', `no agent ${agentId} in the registry`, { agent: agentId })
  }
}

/** The agent a frame is for (its breaker's and rate limit's key); undefined for result notices. */
function agentOf (f: ChannelFrame): string | undefined {
  switch (f.t) {
    case 'request': case 'message': return f.to
    case 'task': case 'reveal-request': case 'vote-request': return f.agent
    case 'bid-request': return f.req.agent
    default: return undefined
  }
}

/** The `fallback` option, checked: undefined when none is asked for. */
function fallbackOf (v: RequestOptions['fallback']): true | FallbackRoute | undefined {
  if (v === undefined || v === false) return undefined
  if (v === true) return true
  if (v === null || typeof v !== 'object' || typeof v.capability !== 'string' || v.capability.length === 0) throw new InvalidOptionError('fallback', 'must be true, false, or { capability, strategy?, attempts? }')
  return v
}

function asAgentError (err: unknown): AgentError {
  if (err instanceof AgentError) return err
  if (err instanceof AgoraError) return agentErrorOf(err.code, err.message)
  return new AgentError('ERR_HANDLER', (err as Error)?.message ?? String(err))
}

function checkId (path: string, v: unknown): asserts v is string {
  if (typeof v !== 'string' || v.length === 0 || v.length > 256 || !isWellFormed(v) || isReservedName(v)) throw new InvalidOptionError(path, 'must be an agent id (1..256 well-formed characters)')
}

function checkTopic (topic: unknown): asserts topic is string {
  if (typeof topic !== 'string' || !PROTOCOL_NAME_RE.test(topic)) throw new InvalidOptionError('topic', 'a topic is 1..128 characters of [A-Za-z0-9._:/-]')
}
