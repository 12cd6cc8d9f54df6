/**
 * Coordination over HTTP: leases, locks and semaphores with fencing tokens, elections, barriers and
 * votes on the Raft group's coordination machine, through `peer.coordination` (peers/coordination), and
 * HTTP voters. Bodies are validated with zod (`400 ERR_BAD_REQUEST` naming the field); names are 1..128
 * characters of `[A-Za-z0-9._:/-]` (percent-encode `/` as `%2F` in a path). What the daemon holds for its
 * HTTP clients, and how their leases end, is in coordination.ts.
 *
 *   POST   /v1/coordination/leases                { ttlMs }   201 { lease: { lease, ttlMs, expiresInMs, ... } }
 *   GET    /v1/coordination/leases                this daemon's HTTP leases and what each holds
 *   GET    /v1/coordination/leases/:id
 *   POST   /v1/coordination/leases/:id/keepalive  within every ttlMs, or the lease is revoked
 *   DELETE /v1/coordination/leases/:id            revoke: what it holds is free at once
 *   GET    /v1/coordination/locks                 names of the locks held or waited for
 *   POST   /v1/coordination/locks/:name           { waitMs?, try?, permits?, lease? | ttlMs? }
 *                                                  → { name, token, lease, ttlMs, fence }
 *   GET    /v1/coordination/locks/:name           { lock: holders, waiters, newest token | null }
 *   DELETE /v1/coordination/locks/:name?token=N   release
 *   POST   /v1/coordination/elections/:name/campaign  { value?, waitMs?, lease? | ttlMs? } → { name, token, lease, ttlMs }
 *   GET    /v1/coordination/elections/:name/leader    { leader: { owner, token, lease, value } | null }
 *   POST   /v1/coordination/elections/:name/proclaim  { token, value }
 *   POST   /v1/coordination/elections/:name/resign    { token }
 *   POST   /v1/coordination/barriers/:name/arrive     { agent, parties, timeoutMs, zone?, lease? | ttlMs? } → { name, generation }
 *   GET    /v1/coordination/barriers/:name            { barrier: ... | null }
 *   POST   /v1/coordination/votes                 { options, voters: [ids] | query, rule?, deadlineMs, topic?, requestTimeoutMs? }
 *                                                  → the decision: { vote, status, outcome, reason, tally, ballots, responses }
 *   GET    /v1/coordination/votes/:id             { vote: ... } (404 ERR_VOTE_NOT_FOUND)
 *   POST|GET|DELETE /v1/agents/:id/voter          { callback?, timeoutMs? }   an HTTP voter (voters.ts)
 *   GET    /v1/vote-requests?agent=&waitMs=       long-poll a voter's pending vote requests
 *   POST   /v1/vote-requests/:requestId           { choice }   ({ choice: null } abstains); the reply's `outcome`
 *                                                  is `voted`, `abstained` or the code the ballot failed with
 *
 * A lock, campaign or arrival without `lease` gets a dedicated lease of `ttlMs` (default 10 s), named in
 * the answer: keep it alive (`POST .../leases/:lease/keepalive`) within every `ttlMs` or it is revoked,
 * and with it the lock or leadership. Requests that wait (a lock, a campaign, a barrier, a vote) wait at
 * most {@link COORD_WAIT_MS_MAX} (default {@link COORD_WAIT_MS_DEFAULT}), {@link COORD_WAITS_MAX} at a
 * time: they are answered after the request was received, so the daemon's `httpRequestTimeoutMs` (the
 * time to receive a request) does not bound them.
 *
 * | status | codes |
 * |---|---|
 * | 400 | ERR_BAD_REQUEST, ERR_INVALID_OPTION, ERR_INVALID_COMMAND (the machine refused the command's shape), ERR_LIMIT_EXCEEDED |
 * | 403 | ERR_NOT_OWNER, ERR_NOT_HOST (the agent is hosted by another daemon) |
 * | 404 | ERR_LEASE_NOT_FOUND (not an HTTP lease of this daemon), ERR_VOTE_NOT_FOUND, ERR_NO_VOTER, ERR_NO_HANDLER |
 * | 409 | ERR_LOCK_HELD (try), ERR_LOCK_TIMEOUT, ERR_CAMPAIGN_TIMEOUT, ERR_NOT_HOLDER, ERR_PERMITS_MISMATCH, ERR_BARRIER_MISMATCH, ERR_BARRIER_BROKEN, ERR_BARRIER_TIMEOUT, ERR_VOTE_CLOSED, ERR_ALREADY_VOTED, ERR_NOT_VOTER |
 * | 410 | ERR_LEASE_LOST (the lease ended: not kept alive, revoked, or lost by the daemon) |
 * | 503 | ERR_TOO_MANY_WAITS, ERR_ABORTED (the daemon is stopping), ERR_NO_RAFT, ERR_INDEFINITE |
 */
import { z } from 'zod'
import { AgoraError } from '../base/errors.js'
import type { Peer } from '../../peers/peer.js'
import type { VoteSpec } from '../../peers/coordination/service.js'
import { COORD_LIMITS, COORD_NAME_RE } from '../../protocols/coordination/types.js'
import type { AgentHandlerStore } from './agent-handlers.js'
import { kindRoutes } from './agent-routes.js'
import { COORD_WAIT_MS_MAX, COORD_WAITS_MAX, COORD_WAIT_MS_DEFAULT, HttpCoordination } from './coordination.js'
import { ANSWER_OUTCOME_WAIT_MS } from './economy-routes.js'
import { clientGone, parseBody } from './route-util.js'
import type { RouteContext } from './route-util.js'
import { VOTER_TIMEOUT_MS_MAX, Voters } from './voters.js'

export const COORDINATION_STATUS: Record<string, number> = {
  ERR_NOT_HOST: 403,
  ERR_LEASE_NOT_FOUND: 404,
  ERR_VOTE_NOT_FOUND: 404,
  ERR_NO_VOTER: 404,
  ERR_NO_HANDLER: 404,
  ERR_LOCK_HELD: 409,
  ERR_LOCK_TIMEOUT: 409,
  ERR_CAMPAIGN_TIMEOUT: 409,
  ERR_NOT_HOLDER: 409,
  ERR_PERMITS_MISMATCH: 409,
  ERR_BARRIER_MISMATCH: 409,
  ERR_BARRIER_BROKEN: 409,
  ERR_BARRIER_TIMEOUT: 409,
  ERR_VOTE_CLOSED: 409,
  ERR_ALREADY_VOTED: 409,
  ERR_COORDINATION: 409,
  ERR_LEASE_LOST: 410,
  ERR_TOO_MANY_WAITS: 503,
  ERR_ABORTED: 503
}

const ms = (max: number): z.ZodNumber => z.number().int().min(1).max(max)
const id = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER)
const agentId = z.string().min(1).max(COORD_LIMITS.idCharsMax)
const ttlMs = z.number().int().min(COORD_LIMITS.leaseTtlMsMin).max(COORD_LIMITS.leaseTtlMsMax)
/** The lease a request uses: an HTTP lease, or a dedicated one of `ttlMs`. */
const leaseChoice = { lease: id.optional(), ttlMs: ttlMs.optional() }

export const coordinationSchemas = {
  lease: z.object({ ttlMs }).strict(),
  lock: z.object({ ...leaseChoice, waitMs: ms(COORD_WAIT_MS_MAX).optional(), permits: z.number().int().min(1).max(COORD_LIMITS.permitsMax).optional(), try: z.boolean().optional() }).strict(),
  campaign: z.object({ ...leaseChoice, value: z.unknown().optional(), waitMs: ms(COORD_WAIT_MS_MAX).optional() }).strict(),
  proclaim: z.object({ token: id, value: z.unknown() }).strict().refine(b => 'value' in b, { message: 'value is required', path: ['value'] }),
  resign: z.object({ token: id }).strict(),
  arrive: z.object({ ...leaseChoice, agent: agentId, parties: z.number().int().min(1).max(COORD_LIMITS.partiesMax), timeoutMs: ms(COORD_WAIT_MS_MAX), zone: agentId.optional() }).strict(),
  vote: z.object({
    options: z.array(agentId).min(1).max(COORD_LIMITS.optionsMax),
    voters: z.union([z.array(agentId).min(1).max(COORD_LIMITS.votersMax), z.record(z.string(), z.unknown())]),
    rule: z.union([z.enum(['majority', 'unanimous', 'weighted']), z.object({ kind: z.enum(['majority', 'quorum', 'unanimous', 'weighted']), n: z.number().int().min(1).optional() }).strict()]).optional(),
    deadlineMs: ms(COORD_WAIT_MS_MAX),
    topic: z.string().min(1).max(COORD_LIMITS.topicCharsMax).optional(),
    requestTimeoutMs: ms(VOTER_TIMEOUT_MS_MAX).optional()
  }).strict(),
  answer: z.object({ choice: agentId.nullable() }).strict()
}

function name (v: string | undefined): string {
  if (v === undefined || !COORD_NAME_RE.test(v)) throw new AgoraError('ERR_BAD_REQUEST', 'name must be 1..128 characters of [A-Za-z0-9._:/-]', { path: 'name' })
  return v
}

/** A positive integer (a lease id, a token, a vote id) from the path or the query; else a 400 naming it. */
function positive (v: string | null | undefined, path: string): number {
  const n = v !== null && v !== undefined && /^[1-9][0-9]{0,15}$/.test(v) ? Number(v) : NaN
  if (!Number.isSafeInteger(n)) throw new AgoraError('ERR_BAD_REQUEST', `${path} must be a positive integer`, { path })
  return n
}

/** With `lease`, `ttlMs` has no meaning: refused rather than ignored. */
function leaseOrTtl<T extends { lease?: number, ttlMs?: number }> (b: T): T {
  if (b.lease !== undefined && b.ttlMs !== undefined) throw new AgoraError('ERR_BAD_REQUEST', 'ttlMs: give lease or ttlMs, not both (ttlMs makes a dedicated lease)', { path: 'ttlMs' })
  return b
}

export interface CoordinationRoutes {
  http: HttpCoordination
  voters: Voters
  handle: (c: RouteContext) => Promise<boolean>
  close: () => void
}

/** The coordination routes; `handle` returns false when the request is not one of them. */
export function coordinationRoutes (peer: Peer, store: AgentHandlerStore): CoordinationRoutes {
  const coord = peer.coordination
  const http = new HttpCoordination(coord, peer.log)
  // The agents' `vote` bindings (agent-handlers.ts), kept across restarts with the agents' other handlers.
  const voters = new Voters(store)

  const leases = async (c: RouteContext, rest: string[]): Promise<boolean> => {
    const { method, send } = c
    if (rest.length === 0 && method === 'POST') {
      const b = parseBody(coordinationSchemas.lease, await c.body(), 'lease')
      send(201, { lease: http.view(await http.grant(b.ttlMs)) })
      return true
    }
    if (rest.length === 0 && method === 'GET') { send(200, { leases: http.list() }); return true }
    const lease = positive(rest[0], 'id')
    if (rest.length === 1 && method === 'GET') { send(200, { lease: http.view(http.get(lease)) }); return true }
    if (rest.length === 1 && method === 'DELETE') { await http.revoke(lease); send(200, { revoked: lease }); return true }
    if (rest.length === 2 && rest[1] === 'keepalive' && method === 'POST') { send(200, { lease: http.keepalive(lease) }); return true }
    return false
  }

  const locks = async (c: RouteContext, rest: string[]): Promise<boolean> => {
    const { method, send, url } = c
    if (rest.length === 0 && method === 'GET') { send(200, { locks: await coord.locks() }); return true }
    if (rest.length !== 1) return false
    const n = name(rest[0])
    if (method === 'GET') { send(200, { lock: await coord.lockState(n) ?? null }); return true }
    if (method === 'POST') {
      const b = leaseOrTtl(parseBody(coordinationSchemas.lock, await c.body(), 'lock'))
      if (b.try === true && b.waitMs !== undefined) throw new AgoraError('ERR_BAD_REQUEST', 'waitMs: a try does not wait', { path: 'waitMs' })
      const gone = clientGone(c.res)
      send(200, b.try === true ? await http.lock(n, b, gone) : await http.wait(gone, async (signal) => await http.lock(n, b, signal)))
      return true
    }
    if (method === 'DELETE') {
      const token = positive(url.searchParams.get('token'), 'token')
      await http.release(n, token)
      send(200, { released: true, name: n, token })
      return true
    }
    return false
  }

  const elections = async (c: RouteContext, rest: string[]): Promise<boolean> => {
    const { method, send } = c
    if (rest.length !== 2) return false
    const n = name(rest[0])
    const action = rest[1]
    if (action === 'leader' && method === 'GET') { send(200, { leader: await coord.election(n).leader() ?? null }); return true }
    if (method !== 'POST') return false
    if (action === 'campaign') {
      const b = leaseOrTtl(parseBody(coordinationSchemas.campaign, await c.body(), 'campaign'))
      send(200, await http.wait(clientGone(c.res), async (signal) => await http.campaign(n, b.value ?? null, b, signal)))
      return true
    }
    if (action === 'proclaim') {
      const b = parseBody(coordinationSchemas.proclaim, await c.body(), 'proclaim')
      await http.proclaim(n, b.token, b.value)
      send(200, { name: n, token: b.token, value: b.value })
      return true
    }
    if (action === 'resign') {
      const b = parseBody(coordinationSchemas.resign, await c.body(), 'resign')
      await http.resign(n, b.token)
      send(200, { resigned: true, name: n, token: b.token })
      return true
    }
    return false
  }

  const barriers = async (c: RouteContext, rest: string[]): Promise<boolean> => {
    const { method, send } = c
    const n = name(rest[0])
    if (rest.length === 1 && method === 'GET') { send(200, { barrier: await coord.barrierState(n) ?? null }); return true }
    if (rest.length === 2 && rest[1] === 'arrive' && method === 'POST') {
      const b = leaseOrTtl(parseBody(coordinationSchemas.arrive, await c.body(), 'arrive'))
      send(200, await http.wait(clientGone(c.res), async (signal) => await http.arrive(n, b.agent, b, signal)))
      return true
    }
    return false
  }

  const votes = async (c: RouteContext, rest: string[]): Promise<boolean> => {
    const { method, send } = c
    if (rest.length === 0 && method === 'POST') {
      const b = parseBody(coordinationSchemas.vote, await c.body(), 'vote')
      const spec: VoteSpec = {
        options: b.options,
        voters: b.voters as VoteSpec['voters'],
        deadlineMs: b.deadlineMs,
        ...(b.rule !== undefined ? { rule: typeof b.rule === 'string' ? b.rule : { kind: b.rule.kind, ...(b.rule.n !== undefined ? { n: b.rule.n } : {}) } } : {}),
        ...(b.topic !== undefined ? { topic: b.topic } : {}),
        ...(b.requestTimeoutMs !== undefined ? { requestTimeoutMs: b.requestTimeoutMs } : {})
      }
      send(200, await http.wait(clientGone(c.res), async () => await coord.vote(spec)))
      return true
    }
    if (rest.length === 1 && method === 'GET') {
      const vote = positive(rest[0], 'id')
      const v = await coord.voteState(vote)
      if (v === undefined) throw new AgoraError('ERR_VOTE_NOT_FOUND', `vote ${vote} does not exist (or was forgotten)`, { path: 'id' })
      send(200, { vote: v })
      return true
    }
    return false
  }

  const answer = async (c: RouteContext, requestId: string): Promise<void> => {
    const b = parseBody(coordinationSchemas.answer, await c.body(), 'answer')
    // Answer, then report what became of the ballot (cast, abstained, refused by the log with its code...).
    let waiting: Promise<{ outcome: string } | undefined> = Promise.resolve(undefined)
    const r = voters.answer(requestId, b.choice, (vote, agent) => {
      waiting = coord.once('vote:answered', (x) => x.vote === vote && x.agent === agent, ANSWER_OUTCOME_WAIT_MS).catch(() => undefined)
    })
    const done = await waiting
    c.send(200, { ...r, accepted: true, outcome: done?.outcome ?? 'pending' })
  }

  const handle = async (c: RouteContext): Promise<boolean> => {
    const { parts, method } = c
    if (await kindRoutes(c, voters)) return true
    if (parts[1] === 'vote-requests' && parts.length === 3 && method === 'POST') { await answer(c, parts[2]!); return true }
    if (parts[1] !== 'coordination' || parts.length < 3) return false
    const rest = parts.slice(3)
    switch (parts[2]) {
      case 'leases': return await leases(c, rest)
      case 'locks': return await locks(c, rest)
      case 'elections': return await elections(c, rest)
      case 'barriers': return rest.length > 0 && await barriers(c, rest)
      case 'votes': return await votes(c, rest)
      default: return false
    }
  }

  return {
    http,
    voters,
    handle,
    close: () => { http.close() }
  }
}

export { COORD_WAIT_MS_DEFAULT, COORD_WAIT_MS_MAX, COORD_WAITS_MAX }
