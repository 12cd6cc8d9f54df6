/**
 * Vote requests answered over HTTP, so agents written in any language vote in coordination votes
 * (`peer.coordination.vote`), on the machinery of agent-requests.ts, as bidders answer bid requests. An
 * agent hosted by the daemon gets a voter with `POST /v1/agents/:id/voter`:
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
 * Either way the daemon registers the handler with `peer.coordination.onVote(agentId, handler)`: the
 * daemon reads the vote from the log and proposes the ballot as the agent's host. With a data dir the
 * registrations are kept in `<dataDir>/voters.json` (atomically, as bidders.json) and restored at start.
 */
import { AgoraError } from '../base/errors.js'
import type { Peer } from '../../peers/peer.js'
import type { VoteRequest } from '../../peers/coordination/service.js'
import { VOTE_HANDLER_TIMEOUT_MS } from '../../peers/coordination/service.js'
import { COORD_LIMITS } from '../../protocols/coordination/types.js'
import { AgentRequests, CallbackFailedError } from './agent-requests.js'
import type { AgentRequestsOptions, HandlerInfo, HandlerSpec } from './agent-requests.js'

/** Requests waiting for a long-polling voter's answer, per agent. */
export const VOTE_QUEUE_PER_AGENT_MAX = 64
/** Long-poll GETs of vote requests waiting at once (all agents). */
export const VOTE_POLLERS_MAX = 256
/** Longest `waitMs` of a long-poll. */
export const VOTE_POLL_WAIT_MS_MAX = 30_000
/** Default and maximum time a voter gets to answer one request (the peer stops waiting for any handler after VOTE_HANDLER_TIMEOUT_MS). */
export const VOTER_TIMEOUT_MS_DEFAULT = 5000
export const VOTER_TIMEOUT_MS_MAX = VOTE_HANDLER_TIMEOUT_MS

/** The file, in the data dir, that keeps the voters across restarts. */
export const VOTERS_FILE = 'voters.json'

export type VoterSpec = HandlerSpec
export type VoterInfo = HandlerInfo

/** The voters file could not be written; the registration did not change. */
export class VotersStoreError extends AgoraError {
  static override readonly name = 'VotersStoreError'
  constructor (file: string, cause: unknown) {
    super('ERR_VOTERS_STORE', `cannot write ${file}: ${(cause as Error).message}`, { file }, { cause })
  }
}

/** A choice as a vote takes it: an option name, or null to abstain. */
function isChoice (v: unknown): v is string | null {
  return v === null || (typeof v === 'string' && v.length > 0 && v.length <= COORD_LIMITS.idCharsMax)
}

export class Voters extends AgentRequests<VoteRequest, string | null> {
  constructor (peer: Peer, options: AgentRequestsOptions) {
    super({
      noun: 'vote',
      role: 'voter',
      missingCode: 'ERR_NO_VOTER',
      requestsPath: 'vote-requests',
      listKey: 'voters',
      remoteCallbacksKey: 'allowRemoteBidCallbacks',
      timeoutMsDefault: VOTER_TIMEOUT_MS_DEFAULT,
      timeoutMsMax: VOTER_TIMEOUT_MS_MAX,
      pollWaitMsMax: VOTE_POLL_WAIT_MS_MAX,
      queuePerAgentMax: VOTE_QUEUE_PER_AGENT_MAX,
      queueLimit: 'VOTE_QUEUE_PER_AGENT_MAX',
      pollersMax: VOTE_POLLERS_MAX,
      pollersLimit: 'VOTE_POLLERS_MAX',
      isLocal: (agent) => peer.registry.localAgents().some(a => a.id === agent),
      attach: (agent, handler) => { peer.coordination.onVote(agent, handler) },
      detach: (agent) => { peer.coordination.offVote(agent) },
      parseAnswer: (v, what) => {
        if (!('choice' in v) || !isChoice(v.choice)) throw new CallbackFailedError(`${what}: the response must be {"choice": "<option>"} or {"choice": null}`)
        return v.choice
      },
      dropped: null,
      storeError: (file, cause) => new VotersStoreError(file, cause)
    }, options)
  }

  /** Answers one pending long-poll request; `before` sees the vote and agent first. */
  answer (requestId: string, choice: string | null, before?: (vote: number, agent: string) => void): { requestId: string, agent: string, vote: number } {
    const r = this.answerRequest(requestId, choice, before === undefined ? undefined : (req, agent) => { before(req.vote, agent) })
    return { requestId, agent: r.agent, vote: r.request.vote }
  }
}
