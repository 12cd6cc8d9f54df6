/**
 * Bid requests answered over HTTP, so agents written in any language can bid (O2): the bidder routes of
 * earlier versions, now a view of the agent-handler registrations (agent-handlers.ts): a bidder is an
 * agent's `bid` binding. An agent hosted by the daemon gets a bidder with `POST /v1/agents/:id/bidder`:
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
 * Either way the handler is the agent's `onBidRequest` of `peer.agents.handle` (peer.economy's bid
 * handler); the bid is proposed by this daemon, the owner of the agent's account. The registration is
 * kept in `<dataDir>/handlers.json` with the agent's others (agent-handlers.ts).
 */
import { AgoraError } from '../base/errors.js'
import type { BidRequest } from '../../peers/economy/economy.js'
import type { BidPayload } from '../../protocols/market/types.js'
import { INBOX_POLLERS_MAX, INBOX_POLL_WAIT_MS_MAX, LEGACY_QUEUE_MAX } from './agent-handlers.js'
import type { AgentHandlerStore, HandlerInfo, HandlerSpec, KindStats } from './agent-handlers.js'

export { CALLBACK_RESPONSE_BYTES_MAX } from './agent-handlers.js'

/** Requests waiting for a long-polling agent's answer, per agent. */
export const BID_QUEUE_PER_AGENT_MAX = LEGACY_QUEUE_MAX
/** Long-poll GETs waiting at once (all agents, every long-poll route). */
export const BID_POLLERS_MAX = INBOX_POLLERS_MAX
/** Longest `waitMs` of a long-poll. */
export const BID_POLL_WAIT_MS_MAX = INBOX_POLL_WAIT_MS_MAX
/** Default and maximum time a bidder gets to answer one request. */
export const BIDDER_TIMEOUT_MS_DEFAULT = 5000
export const BIDDER_TIMEOUT_MS_MAX = 60_000

export type BidderSpec = HandlerSpec
export type BidderInfo = HandlerInfo

/** A view of one kind of the agent-handler registrations, as the bidder and voter routes of earlier versions show it. */
export class KindView<Ans> {
  constructor (readonly store: AgentHandlerStore, readonly k: {
    kind: 'bid' | 'vote'
    via: 'bidder' | 'voter'
    /** What an agent with a handler is (`bidder`, `voter`): the last segment of its route `/v1/agents/:id/<role>`. */
    role: string
    noun: string
    missingCode: string
    requestsPath: string
    timeoutMsMax: number
    pollWaitMsMax: number
  }) {}

  get stats (): KindStats { return this.store.stats[this.k.kind] }

  private missing (agent: string, mode: string): AgoraError {
    const k = this.k
    return new AgoraError(k.missingCode, `agent ${agent} has no ${mode}${k.role} on this daemon${mode === '' ? '' : ` (POST /v1/agents/${agent}/${k.role} {})`}`, { path: mode === '' ? 'id' : 'agent' })
  }

  private infoOf (b: { agent: string, mode: 'callback' | 'poll', callback?: string, timeoutMs: number }): HandlerInfo {
    return { agent: b.agent, mode: b.mode, ...(b.callback !== undefined ? { callback: b.callback } : {}), timeoutMs: b.timeoutMs }
  }

  list (): HandlerInfo[] { return this.store.list().filter(b => b.kind === this.k.kind).map(b => this.infoOf(b)) }

  /** The handler of `agent`; 404 (`missingCode`) when it has none here. */
  info (agent: string): HandlerInfo {
    const b = this.store.binding(agent, this.k.kind)
    if (b === undefined) throw this.missing(agent, '')
    return this.infoOf(b)
  }

  /** Gives `agent` (hosted here) a handler of this kind; replaces an earlier one. Resolves once it is on disk (with a data dir). */
  async set (agent: string, spec: HandlerSpec): Promise<HandlerInfo> {
    return this.infoOf((await this.store.set(agent, [this.k.kind], spec, { via: this.k.via, timeoutMsMax: this.k.timeoutMsMax }))[0]!)
  }

  async remove (agent: string): Promise<boolean> { return await this.store.remove(agent, [this.k.kind]) }

  /** Pending requests of a long-polling agent; waits up to `waitMs` for one when there is none. */
  async poll (agent: string, waitMs: number, signal: AbortSignal): Promise<Array<{ requestId: string, expiresAt: number } & Record<string, unknown>>> {
    const calls = await this.store.poll(agent, { waitMs, signal, kinds: [this.k.kind], missing: () => this.missing(agent, 'long-poll ') })
    return calls.map(c => ({ requestId: c.callId, expiresAt: c.expiresAt, ...(c.payload as object) }))
  }

  /** Answers one pending long-poll request; `before` sees its request and agent first. */
  protected answerRequest (requestId: string, answer: Ans, before?: (request: Record<string, unknown>, agent: string) => void): { agent: string, request: Record<string, unknown> } {
    const v = this.store.answer(requestId, { reply: answer }, { kinds: [this.k.kind], noun: `${this.k.noun} request`, path: 'requestId', ...(before !== undefined ? { before: (c) => { before(c.payload as Record<string, unknown>, c.agent) } } : {}) })
    return { agent: v.agent, request: v.payload as Record<string, unknown> }
  }
}

export class Bidders extends KindView<BidPayload | null> {
  constructor (store: AgentHandlerStore) {
    super(store, {
      kind: 'bid',
      via: 'bidder',
      role: 'bidder',
      noun: 'bid',
      missingCode: 'ERR_NO_BIDDER',
      requestsPath: 'bid-requests',
      timeoutMsMax: BIDDER_TIMEOUT_MS_MAX,
      pollWaitMsMax: BID_POLL_WAIT_MS_MAX
    })
  }

  /** Answers one pending long-poll request. */
  answer (requestId: string, bid: BidPayload | null, before?: (auction: string, agent: string) => void): { requestId: string, agent: string, auction: string } {
    const r = this.answerRequest(requestId, bid, before === undefined ? undefined : (req, agent) => { before((req as unknown as BidRequest).auction, agent) })
    return { requestId, agent: r.agent, auction: (r.request as unknown as BidRequest).auction }
  }
}
