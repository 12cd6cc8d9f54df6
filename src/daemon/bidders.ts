/**
 * Bid requests answered over HTTP, so agents written in any language can bid (O2), on the machinery of
 * agent-requests.ts. An agent hosted by the daemon gets a bidder with `POST /v1/agents/:id/bidder`:
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
import { AgoraError } from '../base/errors.js'
import type { Peer } from '../../peers/peer.js'
import type { BidRequest } from '../../peers/economy/economy.js'
import type { BidPayload } from '../../protocols/market/types.js'
import { AgentRequests, CallbackFailedError } from './agent-requests.js'
import type { AgentRequestsOptions, HandlerInfo, HandlerSpec } from './agent-requests.js'

export { CALLBACK_RESPONSE_BYTES_MAX } from './agent-requests.js'

/** Requests waiting for a long-polling agent's answer, per agent. */
export const BID_QUEUE_PER_AGENT_MAX = 64
/** Long-poll GETs waiting at once (all agents). */
export const BID_POLLERS_MAX = 256
/** Longest `waitMs` of a long-poll. */
export const BID_POLL_WAIT_MS_MAX = 30_000
/** Default and maximum time a bidder gets to answer one request. */
export const BIDDER_TIMEOUT_MS_DEFAULT = 5000
export const BIDDER_TIMEOUT_MS_MAX = 60_000

/** The file, in the data dir, that keeps the bidders across restarts. */
export const BIDDERS_FILE = 'bidders.json'

export type BidderSpec = HandlerSpec
export type BidderInfo = HandlerInfo
export type BiddersOptions = AgentRequestsOptions

/** The bidders file could not be written; the registration did not change. */
export class BiddersStoreError extends AgoraError {
  static override readonly name = 'BiddersStoreError'
  constructor (file: string, cause: unknown) {
    super('ERR_BIDDERS_STORE', `cannot write ${file}: ${(cause as Error).message}`, { file }, { cause })
  }
}

export class Bidders extends AgentRequests<BidRequest, BidPayload | null> {
  constructor (peer: Peer, options: BiddersOptions) {
    super({
      noun: 'bid',
      role: 'bidder',
      missingCode: 'ERR_NO_BIDDER',
      requestsPath: 'bid-requests',
      listKey: 'bidders',
      remoteCallbacksKey: 'allowRemoteBidCallbacks',
      timeoutMsDefault: BIDDER_TIMEOUT_MS_DEFAULT,
      timeoutMsMax: BIDDER_TIMEOUT_MS_MAX,
      pollWaitMsMax: BID_POLL_WAIT_MS_MAX,
      queuePerAgentMax: BID_QUEUE_PER_AGENT_MAX,
      queueLimit: 'BID_QUEUE_PER_AGENT_MAX',
      pollersMax: BID_POLLERS_MAX,
      pollersLimit: 'BID_POLLERS_MAX',
      isLocal: (agent) => peer.registry.localAgents().some(a => a.id === agent),
      attach: (agent, handler) => { peer.economy.handle(agent, handler) },
      detach: (agent) => { peer.economy.unhandle(agent) },
      parseAnswer: (v, what) => {
        if (!('bid' in v)) throw new CallbackFailedError(`${what}: the response must be {"bid": {...}} or {"bid": null}`)
        if (v.bid !== null && (typeof v.bid !== 'object' || Array.isArray(v.bid))) throw new CallbackFailedError(`${what}: bid must be an object or null`)
        return v.bid as BidPayload | null
      },
      dropped: null,
      storeError: (file, cause) => new BiddersStoreError(file, cause)
    }, options)
  }

  /** Answers one pending long-poll request. */
  answer (requestId: string, bid: BidPayload | null, before?: (auction: string, agent: string) => void): { requestId: string, agent: string, auction: string } {
    const r = this.answerRequest(requestId, bid, before === undefined ? undefined : (req, agent) => { before(req.auction, agent) })
    return { requestId, agent: r.agent, auction: r.request.auction }
  }
}
