/**
 * Vote requests answered over HTTP, so agents written in any language vote in coordination votes
 * (`peer.coordination.vote`): the voter routes of earlier versions, now a view of the agent-handler
 * registrations (agent-handlers.ts): a voter is an agent's `vote` binding. An agent hosted by the daemon
 * gets a voter with `POST /v1/agents/:id/voter`:
 *
 * - `{ "callback": "http://127.0.0.1:9000/vote" }`: for each vote request the daemon POSTs the
 *   {@link VoteRequest} JSON (`vote`, `agent`, `opener`, `topic`, `options`, `deadline`, plus
 *   `requestId`) there and casts what the JSON response says: `{ "choice": "yes" }`, or
 *   `{ "choice": null }` to abstain. Loopback URLs only unless the daemon's `allowRemoteBidCallbacks` is
 *   set (one switch for every agent callback); the answer must come within `timeoutMs`.
 * - `{}` (no callback): long-poll. `GET /v1/vote-requests?agent=X&waitMs=N` returns the agent's pending
 *   requests, `POST /v1/vote-requests/:requestId { "choice": ... }` answers one. At most
 *   {@link VOTE_QUEUE_PER_AGENT_MAX} requests wait per agent; an unanswered request times out after
 *   `timeoutMs` (the vote's opener records ERR_TIMEOUT for the agent, which may still vote until the
 *   vote is decided).
 *
 * Either way the handler is the agent's `onVote` of `peer.agents.handle` (peer.coordination's ballot
 * handler): the daemon reads the vote from the log and proposes the ballot as the agent's host. The
 * registration is kept in `<dataDir>/handlers.json` with the agent's others (agent-handlers.ts).
 */
import type { VoteRequest } from '../../peers/coordination/service.js'
import { VOTE_HANDLER_TIMEOUT_MS } from '../../peers/coordination/service.js'
import { INBOX_POLLERS_MAX, INBOX_POLL_WAIT_MS_MAX, LEGACY_QUEUE_MAX } from './agent-handlers.js'
import type { AgentHandlerStore, HandlerInfo, HandlerSpec } from './agent-handlers.js'
import { KindView } from './bidders.js'

/** Requests waiting for a long-polling voter's answer, per agent. */
export const VOTE_QUEUE_PER_AGENT_MAX = LEGACY_QUEUE_MAX
/** Long-poll GETs waiting at once (all agents, every long-poll route). */
export const VOTE_POLLERS_MAX = INBOX_POLLERS_MAX
/** Longest `waitMs` of a long-poll. */
export const VOTE_POLL_WAIT_MS_MAX = INBOX_POLL_WAIT_MS_MAX
/** Default and maximum time a voter gets to answer one request (the peer stops waiting for any handler after VOTE_HANDLER_TIMEOUT_MS). */
export const VOTER_TIMEOUT_MS_DEFAULT = 5000
export const VOTER_TIMEOUT_MS_MAX = VOTE_HANDLER_TIMEOUT_MS

export type VoterSpec = HandlerSpec
export type VoterInfo = HandlerInfo

export class Voters extends KindView<string | null> {
  constructor (store: AgentHandlerStore) {
    super(store, {
      kind: 'vote',
      via: 'voter',
      role: 'voter',
      noun: 'vote',
      missingCode: 'ERR_NO_VOTER',
      requestsPath: 'vote-requests',
      timeoutMsMax: VOTER_TIMEOUT_MS_MAX,
      pollWaitMsMax: VOTE_POLL_WAIT_MS_MAX
    })
  }

  /** Answers one pending long-poll request; `before` sees the vote and agent first. */
  answer (requestId: string, choice: string | null, before?: (vote: number, agent: string) => void): { requestId: string, agent: string, vote: number } {
    const r = this.answerRequest(requestId, choice, before === undefined ? undefined : (req, agent) => { before((req as unknown as VoteRequest).vote, agent) })
    return { requestId, agent: r.agent, vote: (r.request as unknown as VoteRequest).vote }
  }
}
