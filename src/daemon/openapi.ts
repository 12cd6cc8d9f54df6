/**
 * The daemon's HTTP API as an OpenAPI 3.1 document, served at `GET /v1/openapi.json`.
 */
import { BUDGET_OPENAPI_PATHS } from './budget-routes.js'
import { LISTING_GETS, LISTING_OPENAPI_PATHS } from './listing-openapi.js'
const json = (schema: Record<string, unknown>): Record<string, unknown> => ({ content: { 'application/json': { schema } } })
const ref = (name: string): Record<string, unknown> => ({ $ref: `#/components/schemas/${name}` })
const ok = (description: string, schema: Record<string, unknown> = { type: 'object' }): Record<string, unknown> => ({ 200: { description, ...json(schema) }, default: { description: 'error', ...json(ref('Error')) } })
const nameParam = { name: 'name', in: 'path', required: true, schema: { type: 'string', pattern: '^[A-Za-z0-9._:/-]{1,128}$' } }
const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string' } }
const obj = (required: string[], properties: Record<string, unknown>): Record<string, unknown> => ({ type: 'object', required, additionalProperties: false, properties })
const str = { type: 'string' }
const int = { type: 'integer', minimum: 0 }
/** A held lock's fence on a variable write. */
const FENCE = { type: 'object', required: ['lock', 'token'], properties: { lock: { type: 'string' }, token: { type: 'integer', minimum: 1 } } }
/** An economy command: 200 with its body, or an error (see the status table in economy-routes.ts). */
const econ = (summary: string, body: Record<string, unknown>, result: Record<string, unknown> = { type: 'object' }, status = 200, params: unknown[] = []): Record<string, unknown> => ({
  post: { summary, parameters: params, requestBody: json(body), responses: { [status]: { description: 'done', ...json(result) }, default: { description: 'error: 400 bad body, 403 not the owner / not an authority, 404 unknown, 409 conflict, 422 funds or reserve, 503 no Raft', ...json(ref('Error')) } } }
})
const accountResult = { type: 'object', properties: { account: ref('Account') } }
const listParams = [
  { name: 'prefix', in: 'query', schema: { type: 'string' }, description: 'names starting with this' },
  { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } },
  { name: 'cursor', in: 'query', schema: { type: 'string' }, description: 'the `next` of the previous page' }
]
const auctionParam = { ...idParam, description: 'auction id' }
/** A coordination route: its body (POST), result, and the errors of the status table in coordination-routes.ts. */
const coordErrors = { description: 'error: 400 bad body, 403 agent hosted elsewhere, 404 unknown lease/vote, 409 held / timed out / not the holder / barrier broken, 410 lease lost, 503 too many waits or no Raft', ...json(ref('Error')) }
const coord = (method: 'get' | 'post' | 'delete', summary: string, result: Record<string, unknown>, o: { body?: Record<string, unknown>, params?: unknown[], status?: number } = {}): Record<string, unknown> => ({
  [method]: { summary, parameters: o.params ?? [], ...(o.body !== undefined ? { requestBody: json(o.body) } : {}), responses: { [o.status ?? 200]: { description: 'done', ...json(result) }, default: coordErrors } }
})
/** An agents route: the errors of the status table in agent-routes.ts. */
const agentOk = (description: string, schema: Record<string, unknown> = { type: 'object' }): Record<string, unknown> => ({ 200: { description, ...json(schema) }, default: { description: 'error: 400 bad body or ERR_INVALID_PAYLOAD, 404 ERR_UNKNOWN_AGENT / ERR_NO_HANDLER / ERR_NO_CANDIDATE / ERR_UNKNOWN_REQUEST, 422 ERR_HANDLER (the agent\'s handler failed), 429 ERR_TOO_MANY_POLLS / ERR_RATE_LIMITED (Retry-After), 502 ERR_UNREACHABLE / ERR_CALLBACK_FAILED, 503 ERR_OVERLOADED / ERR_CIRCUIT_OPEN (Retry-After), 504 ERR_TIMEOUT', ...json(ref('Error')) } })
const callIdParam = { name: 'callId', in: 'path', required: true, schema: str }
const topicParam = { name: 'topic', in: 'path', required: true, schema: { type: 'string', pattern: '^[A-Za-z0-9._:/-]{1,128}$' }, description: 'percent-encode / as %2F' }
const taskErrors = { description: 'error: 400 bad body or ERR_INVALID_COMMAND, 403 ERR_NOT_OWNER, 404 ERR_TASK_NOT_FOUND, 409 ERR_TASK_STATE, 422 ERR_NO_ECONOMY / ERR_INSUFFICIENT_FUNDS, 503 ERR_NO_RAFT / ERR_STOPPED / ERR_INDEFINITE', ...json(ref('Error')) }
const taskIdParam = { name: 'id', in: 'path', required: true, schema: { type: 'integer', minimum: 1 }, description: 'task id' }
const leaseIdParam = { name: 'id', in: 'path', required: true, schema: { type: 'integer', minimum: 1 }, description: 'lease id' }
const ms = (max: number): Record<string, unknown> => ({ type: 'integer', minimum: 1, maximum: max })
const leaseChoice = {
  lease: { type: 'integer', minimum: 1, description: 'an HTTP lease of this daemon (POST /v1/coordination/leases); default: a dedicated lease of ttlMs' },
  ttlMs: { type: 'integer', minimum: 500, maximum: 3600000, default: 10000, description: 'TTL of the dedicated lease: keep it alive within every ttlMs' }
}

/** An agent's health check: a TTL check ({id, ttlMs}) or an HTTP check ({id, http, ...}) (check-routes.ts). */
const streakSchema = { type: 'integer', minimum: 1, maximum: 100 }
const CHECK_DEFINITION = {
  description: 'exactly one of ttlMs (the agent checks in within every ttlMs) or http (polled by this daemon: 2xx passes, 429 warns, else fails; loopback hosts only unless checks.allowHosts)',
  type: 'object',
  required: ['id'],
  additionalProperties: false,
  properties: {
    id: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,64}$' },
    ttlMs: { type: 'integer', minimum: 100, maximum: 86400000 },
    http: { type: 'string', maxLength: 2048 },
    method: { enum: ['GET', 'HEAD'] },
    intervalMs: { type: 'integer', minimum: 100, maximum: 86400000, default: 10000 },
    timeoutMs: { type: 'integer', minimum: 10, maximum: 60000, default: 5000 },
    initialStatus: { enum: ['passing', 'warning', 'critical'], default: 'passing' },
    successesBeforePassing: { ...streakSchema, default: 2 },
    failuresBeforeCritical: { ...streakSchema, description: 'default 1 (TTL), 3 (HTTP)' }
  }
}
const checkErrors = { description: 'error: 400 ERR_INVALID_CHECK / ERR_CHECK_URL_NOT_ALLOWED / ERR_LIMIT_EXCEEDED, 403 ERR_NOT_OWNER, 404 ERR_AGENT_NOT_FOUND / ERR_CHECK_NOT_FOUND, 409 ERR_CHECK_KIND, 500 ERR_CHECKS_STORE', ...json(ref('Error')) }
const checkOk = (description: string, schema: Record<string, unknown> = { type: 'object' }): Record<string, unknown> => ({ 200: { description, ...json(schema) }, default: checkErrors })
const checkView = { type: 'object', properties: { agent: str, id: str, kind: { enum: ['ttl', 'http'] }, status: { enum: ['passing', 'warning', 'critical'] }, last: { enum: ['passing', 'warning', 'critical'] }, output: str, at: int, since: int, failures: int, successes: int, dueAt: int, definition: CHECK_DEFINITION } }

export const OPENAPI = {
  openapi: '3.1.0',
  info: { title: 'agora-mesh daemon API', version: '1' },
  security: [{ bearer: [] }],
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'the token in <dataDir>/http.token' } },
    schemas: {
      Error: { type: 'object', required: ['error'], properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' }, path: { type: 'string' }, leader: { type: ['string', 'null'], description: 'ERR_NOT_LEADER: the leader\'s peer id' }, reason: { type: 'string', description: 'ERR_CONF_CHANGE_REFUSED: the Raft core\'s reason' } } } } },
      AgentInput: {
        type: 'object',
        required: ['id'],
        properties: {
          id: { type: 'string' },
          capabilities: { type: 'array', items: { type: 'string' } },
          zone: { type: 'string' },
          resources: { type: 'object', additionalProperties: { type: 'number' } },
          health: { enum: ['healthy', 'degraded', 'unhealthy'] },
          metadata: { type: 'object' },
          load: { type: 'number', minimum: 0, maximum: 1 }
        }
      },
      Agent: { allOf: [{ $ref: '#/components/schemas/AgentInput' }, { type: 'object', properties: { host: { type: 'string' }, updatedAt: { type: 'number' }, status: { enum: ['reachable', 'unreachable'] }, hostSilentMs: { type: 'number' }, health: { enum: ['healthy', 'degraded', 'unhealthy'], description: 'the host\'s checks\' verdict on the agent\'s report; unhealthy while the host is unreachable' }, reportedHealth: { enum: ['healthy', 'degraded', 'unhealthy'], description: 'with checks: the agent\'s own report' }, checks: { type: 'array', items: { type: 'object', properties: { id: { type: 'string' }, kind: { type: 'string' }, status: { enum: ['passing', 'warning', 'critical'] }, output: { type: 'string' }, at: { type: 'number' } } } } } }] },
      QueryCriteria: {
        type: 'object',
        properties: {
          capability: { type: 'string' },
          health: { enum: ['healthy', 'degraded', 'unhealthy'] },
          host: { type: 'string' },
          zone: { type: 'string' },
          where: { type: 'array', items: { type: 'array', prefixItems: [{ type: 'string' }, { enum: ['eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'in', 'notIn', 'exists'] }, {}] } },
          orderBy: { oneOf: [{ type: 'string' }, { type: 'object', properties: { path: { type: 'string' }, desc: { type: 'boolean' } } }] },
          limit: { type: 'integer', minimum: 0 }
        }
      },
      Account: { type: 'object', properties: { account: str, owner: { type: ['string', 'null'] }, free: int, escrow: int, staked: int, unbonding: int, reputation: { type: 'number' }, biddingPower: int, slashCount: int, history: { type: 'array' } } },
      Supply: { type: 'object', properties: { minted: int, burned: int, circulating: int, total: int } },
      Bid: { description: 'by mechanism: english/dutch {maxPrice}; first-price/vickrey {amount} or {commitment}; combinatorial {bundles}; uniform {price, quantity}; double {side, limit, quantity}', oneOf: [obj(['maxPrice'], { maxPrice: int }), obj(['amount'], { amount: int }), obj(['commitment'], { commitment: str }), obj(['bundles'], { bundles: { type: 'array', items: obj(['items', 'value'], { items: { type: 'array', items: str }, value: int }) } }), obj(['price', 'quantity'], { price: int, quantity: int }), obj(['side', 'limit', 'quantity'], { side: { enum: ['buy', 'sell'] }, limit: int, quantity: int })] },
      AuctionInput: obj(['mechanism', 'durationMs', 'seller'], {
        id: { type: 'string', description: 'default: generated' },
        mechanism: { enum: ['english', 'dutch', 'first-price', 'vickrey', 'combinatorial', 'uniform', 'double'] },
        items: { type: 'array', items: str, description: 'or item' },
        item: str,
        reserve: int,
        reserves: { type: 'object', additionalProperties: int },
        increment: int,
        startPrice: int,
        decrement: int,
        units: int,
        sealed: { enum: ['open', 'commit'] },
        deposit: int,
        durationMs: int,
        revealMs: int,
        seller: { type: 'string', description: 'account owned by this daemon' },
        bidders: { oneOf: [{ type: 'array', items: str }, { $ref: '#/components/schemas/QueryCriteria' }], description: 'run: agent ids or a registry query (default every reachable agent)' },
        requestTimeoutMs: int,
        run: { type: 'boolean', description: 'true: run the live flow and return the report; default: open only' }
      }),
      Auction: { type: 'object', description: 'AuctionState: spec, seller, status (open|reveal|settled|no-sale|failed), bids, outcome...', properties: { spec: { type: 'object' }, seller: str, status: str, bids: { type: 'array' }, outcome: {} } },
      BidRequest: { type: 'object', properties: { requestId: str, auction: str, agent: str, seller: str, spec: { type: 'object' }, closesAt: int, expiresAt: { type: 'integer', description: 'long-poll only: when the daemon stops waiting for the answer' } } },
      Lease: { type: 'object', description: 'an HTTP lease of this daemon: revoked unless kept alive within every ttlMs (expiresInMs is null while a request of its client waits)', properties: { lease: int, ttlMs: int, dedicated: { type: 'boolean' }, expiresInMs: { type: ['integer', 'null'] }, holds: { type: 'array', items: { type: 'object', properties: { kind: { enum: ['lock', 'election'] }, name: str, token: int } } } } },
      Grant: { type: 'object', description: 'a lock or leadership held under `lease` (keep it alive)', properties: { name: str, token: { type: 'integer', description: 'fencing token: grows with every grant of the lock' }, lease: int, ttlMs: int, fence: { type: 'object', properties: { lock: str, token: int } } } },
      LockView: { type: 'object', properties: { kind: { enum: ['lock', 'election'] }, name: str, permits: int, holders: { type: 'array', items: { type: 'object', properties: { lease: int, owner: str, token: int, since: int, value: {} } } }, waiters: { type: 'array', items: { type: 'object', properties: { ticket: int, lease: int, owner: str, deadline: int } } }, newest: int, rev: int } },
      VoteRequest: { type: 'object', properties: { requestId: str, vote: int, agent: str, opener: str, topic: str, options: { type: 'array', items: str }, deadline: int, expiresAt: { type: 'integer', description: 'long-poll only: when the daemon stops waiting for the answer' } } },
      VoteResult: { type: 'object', properties: { vote: int, status: { enum: ['decided', 'failed'] }, outcome: { type: ['string', 'null'] }, reason: { enum: ['threshold', 'unreachable', 'deadline'] }, tally: { type: 'array', items: { type: 'array' } }, ballots: { type: 'array', items: { type: 'object' } }, responses: { type: 'object', additionalProperties: str, description: 'per voter: voted, abstained, or the error code of its host' } } },
      CallView: { type: 'object', description: 'a call to an agent\'s HTTP handler (inbox entry, or the body POSTed to a `handler` callback)', properties: { callId: str, kind: { type: 'string', description: 'request, message, task, vote, bid or protocol:<name>' }, agent: str, payload: { description: 'the request\'s payload, the message, the task\'s payload, the VoteRequest, the BidRequest' }, from: { type: 'object', properties: { host: str, agent: str } }, protocol: str, task: { type: 'object', properties: { id: int, attempt: int, submitter: str, deadline: int } }, expiresAt: int } },
      Handler: { type: 'object', properties: { agent: str, kinds: { type: 'array', items: str }, bindings: { type: 'array', items: { type: 'object', properties: { kind: str, via: { enum: ['handler', 'bidder', 'voter'] }, mode: { enum: ['callback', 'poll'] }, callback: str, timeoutMs: int } } } } },
      Task: { type: 'object', description: 'peer.tasks.get: state, the current (or last) attempt\'s agent, attempts, the parsed result of a completed task, the last error of a failed one, and the record as the log has it', properties: { id: int, state: { enum: ['submitted', 'assigned', 'completed', 'failed', 'cancelled'] }, agent: { type: ['string', 'null'] }, attempts: int, result: {}, error: str, record: { type: 'object' } } },
      QueryResult: { type: 'object', properties: { agents: { type: 'array', items: { $ref: '#/components/schemas/Agent' } }, truncated: { type: 'boolean' }, freshness: { type: 'object' } } }
    }
  },
  paths: {
    '/health': { get: { security: [], summary: 'liveness', responses: ok('alive') } },
    '/ready': { get: { security: [], summary: 'started, and a Raft leader is known when the peer runs Raft (503 otherwise); no token', responses: ok('ready') } },
    '/metrics': { get: { summary: 'Prometheus metrics', responses: { 200: { description: 'text format', content: { 'text/plain': {} } } } } },
    '/v1/status': { get: { summary: 'peer id, addresses, members, sync health, Raft status, and `warnings` (conditions lasting warnAfterMs: WARN_NO_PEERS, WARN_BOOTSTRAP_UNREACHABLE, WARN_MESH_NOT_SHARED, WARN_RAFT_VOTERS_NOT_CONNECTED, WARN_RAFT_NO_LEADER)', responses: ok('status') } },
    '/v1/openapi.json': { get: { summary: 'this document', responses: ok('OpenAPI') } },
    '/v1/events': {
      get: {
        summary: 'Server-Sent Events with ids (`<stream>-<seq>`): agent:*, variable:changed (kind eventual, or strong on Raft members), contribution:rejected, raft:role, member:*, update:rejected, auction:opened|bid|settled|request|result, and on Raft members the coordination machine\'s lease:granted|expired|revoked, lock:acquired|released|queued|timeout|cancelled, election:elected|ended|queued|timeout|cancelled|proclaimed, barrier:arrived|released|broken, vote:opened|ballot|decided, plus lease:lost (a lease of this daemon lost). Resume with the Last-Event-ID header or lastEventId; a client too far behind (or of another daemon process) first gets a `reset` event.',
        parameters: [
          { name: 'types', in: 'query', schema: str, description: 'comma-separated event types to keep (family:* for a family)' },
          { name: 'prefix', in: 'query', schema: str, description: 'keep events whose variable name, agent id, auction id, lock/election/barrier name or vote/lease id starts with this' },
          { name: 'lastEventId', in: 'query', schema: str, description: 'resume after this id (as the Last-Event-ID header)' },
          { name: 'keepaliveMs', in: 'query', schema: { type: 'integer', minimum: 1000, maximum: 300000, default: 15000 } },
          { name: 'Last-Event-ID', in: 'header', schema: str }
        ],
        responses: { 200: { description: 'event stream', content: { 'text/event-stream': {} } }, default: { description: 'error', ...json(ref('Error')) } }
      }
    },
    '/v1/members': { get: { summary: 'known peers: peerId, self, connected, addresses, zone, reachability, lastSeenAt, raft (leader|voter|learner|null), syncLag, lastSyncAt, rttMs', responses: ok('members', { type: 'object', properties: { members: { type: 'array', items: { type: 'object' } }, more: int } }) } },
    '/v1/raft': { get: { summary: 'this member\'s Raft status (409 ERR_NOT_RAFT_MEMBER off the group)', responses: ok('raft') } },
    '/v1/raft/learners': { post: { summary: 'add a learner (leader only: else 409 ERR_NOT_LEADER naming the leader)', requestBody: json(obj(['peerId'], { peerId: str })), responses: ok('raft status after the change') } },
    '/v1/raft/promote': { post: { summary: 'promote a learner to voter (leader only)', requestBody: json(obj(['peerId'], { peerId: str })), responses: ok('raft status after the change') } },
    '/v1/raft/members/{peerId}': { delete: { parameters: [{ name: 'peerId', in: 'path', required: true, schema: str }], summary: 'remove a voter or learner (leader only)', responses: ok('raft status after the change') } },
    '/v1/raft/replace': { post: { summary: 'replace voter dead by live: learner, caught up, promoted, dead removed (leader only)', requestBody: json(obj(['dead', 'live'], { dead: str, live: str, timeoutMs: { type: 'integer', minimum: 1, maximum: 120000 } })), responses: ok('raft status after the change') } },
    '/v1/raft/transfer': { post: { summary: 'hand leadership to voter `to` (leader only; 503 ERR_TRANSFER_FAILED when it did not move in time)', requestBody: json(obj(['to'], { to: str, timeoutMs: { type: 'integer', minimum: 1, maximum: 120000 } })), responses: ok('transferred') } },
    '/v1/variables/eventual': { get: { summary: 'eventual variables of this replica in name order, each read as GET /v1/variables/eventual/{name} reads it: {variables: [{name, merge, value, contributions, conflicting}], next}', parameters: listParams, responses: ok('page') } },
    '/v1/variables/strong': { get: { summary: 'strong variables of this Raft member\'s replica in name order (linearizable unless linearizable=false; 409 ERR_NOT_RAFT_MEMBER off the group): {variables: [{name, value}], next}', parameters: [...listParams, { name: 'linearizable', in: 'query', schema: { type: 'boolean', default: true } }], responses: ok('page') } },
    '/v1/agents': {
      post: { summary: 'register an agent hosted by this daemon (with `checks`: its health checks, in the same write)', requestBody: json({ allOf: [ref('AgentInput'), { type: 'object', properties: { checks: { type: 'array', maxItems: 8, items: CHECK_DEFINITION } } }] }), responses: { 201: { description: 'registered', ...json({ type: 'object', properties: { agent: ref('Agent') } }) }, default: { description: 'error', ...json(ref('Error')) } } },
      get: {
        summary: 'query by indexed fields',
        parameters: ['capability', 'zone', 'health', 'host', 'limit'].map(n => ({ name: n, in: 'query', schema: { type: n === 'limit' ? 'integer' : 'string' } })),
        responses: ok('result', ref('QueryResult'))
      }
    },
    '/v1/agents/query': { post: { summary: 'query with where clauses and ordering', requestBody: json(ref('QueryCriteria')), responses: ok('result', ref('QueryResult')) } },
    '/v1/agents/{id}': {
      get: { parameters: [idParam], summary: 'lookup', responses: ok('agent', { type: 'object', properties: { agent: ref('Agent') } }) },
      patch: { parameters: [idParam], summary: 'update an agent of this daemon', requestBody: json({ type: 'object' }), responses: ok('agent', { type: 'object', properties: { agent: ref('Agent') } }) },
      delete: { parameters: [idParam], summary: 'unregister an agent of this daemon', responses: ok('removed') }
    },
    '/v1/agents/{id}/checks': {
      put: { parameters: [idParam], summary: 'replace the health checks of an agent of this daemon ([]: none); a check keeping its id and kind keeps its status', requestBody: json(obj(['checks'], { checks: { type: 'array', maxItems: 8, items: CHECK_DEFINITION } })), responses: checkOk('declared', { type: 'object', properties: { agent: ref('Agent'), checks: { type: 'array', items: checkView } } }) },
      get: { parameters: [idParam], summary: 'an agent\'s checks: live ones for an agent of this daemon (local: true), else the results its registry entry carries', responses: checkOk('checks', { type: 'object', properties: { agent: str, local: { type: 'boolean' }, checks: { type: 'array' } } }) },
      delete: { parameters: [idParam], summary: 'remove every check of an agent of this daemon (its health is its own report again)', responses: checkOk('removed', { type: 'object', properties: { agent: str, removed: { type: 'boolean' } } }) }
    },
    '/v1/agents/{id}/checks/{check}/{result}': {
      put: { parameters: [idParam, { name: 'check', in: 'path', required: true, schema: str }, { name: 'result', in: 'path', required: true, schema: { enum: ['pass', 'warn', 'fail'] } }], summary: 'a TTL check-in (POST too): resets the TTL and counts as a result', requestBody: json(obj([], { output: { type: 'string', maxLength: 1024 } })), responses: checkOk('check', { type: 'object', properties: { check: checkView } }) }
    },
    '/v1/checks': { get: { summary: 'every health check of this daemon\'s agents, and counts', parameters: [{ name: 'status', in: 'query', schema: { enum: ['passing', 'warning', 'critical'] } }], responses: checkOk('checks', { type: 'object', properties: { checks: { type: 'array', items: checkView }, stats: { type: 'object' } } }) } },
    '/v1/agents/{id}/bidder': {
      post: { parameters: [idParam], summary: 'make an agent hosted here a bidder: {callback} gets each BidRequest POSTed and answers {bid} or {bid: null} (loopback URLs only unless allowRemoteBidCallbacks); {} long-polls /v1/bid-requests', requestBody: json(obj([], { callback: str, timeoutMs: { type: 'integer', minimum: 1, maximum: 60000 } })), responses: ok('bidder') },
      get: { parameters: [idParam], summary: 'the agent\'s bidder', responses: ok('bidder') },
      delete: { parameters: [idParam], summary: 'stop bidding for the agent', responses: ok('removed') }
    },
    '/v1/bid-requests': { get: { summary: 'long-poll: pending bid requests of an agent with a long-poll bidder', parameters: [{ name: 'agent', in: 'query', required: true, schema: str }, { name: 'waitMs', in: 'query', schema: { type: 'integer', minimum: 0, maximum: 30000, default: 0 } }], responses: ok('requests', { type: 'object', properties: { requests: { type: 'array', items: ref('BidRequest') } } }) } },
    '/v1/bid-requests/{requestId}': econ('answer a pending bid request ({bid: null} abstains)', obj(['bid'], { bid: { oneOf: [ref('Bid'), { type: 'null' }] } }), { type: 'object', properties: { accepted: { type: 'boolean' } } }, 200, [{ name: 'requestId', in: 'path', required: true, schema: str }]),
    '/v1/ledger/accounts': { ...econ('open an account owned by this daemon', obj(['account'], { account: str }), accountResult, 201), get: LISTING_GETS.accounts },
    '/v1/ledger/accounts/{id}': { get: { parameters: [idParam, { name: 'linearizable', in: 'query', schema: { type: 'boolean', default: true } }], summary: 'an account (404 ERR_UNKNOWN_ACCOUNT)', responses: ok('account', accountResult) } },
    '/v1/ledger/supply': { get: { summary: 'money supply', responses: ok('supply', { type: 'object', properties: { supply: ref('Supply') } }) } },
    '/v1/ledger/mint': econ('mint (treasury: authority daemons only); owner names the owning peer of a new account', obj(['account', 'amount'], { account: str, amount: int, owner: str }), accountResult),
    '/v1/ledger/transfer': econ('transfer from an account owned by this daemon', obj(['from', 'to', 'amount'], { from: str, to: str, amount: int })),
    '/v1/ledger/stake': econ('stake free funds', obj(['account', 'amount'], { account: str, amount: int }), accountResult),
    '/v1/ledger/unstake': econ('start unbonding staked funds', obj(['account', 'amount'], { account: str, amount: int }), accountResult),
    '/v1/ledger/assign': econ('move an account to another owner peer (treasury only)', obj(['account', 'owner'], { account: str, owner: str })),
    '/v1/ledger/slash': econ('slash (treasury only)', obj(['account', 'condition'], { account: str, condition: { enum: ['task_failure', 'timeout_violation', 'byzantine_behavior', 'reputation_threshold'] }, evidence: {} })),
    '/v1/auctions': {
      ...econ('open an auction (201 {auction, closesAt}), or with run: true run it to the end (200 {auction, requested, responses})', ref('AuctionInput'), { type: 'object' }, 201),
      get: LISTING_GETS.auctions
    },
    '/v1/auctions/{id}': { get: { parameters: [auctionParam], summary: 'an auction\'s state (404 ERR_UNKNOWN_AUCTION)', responses: ok('auction', { type: 'object', properties: { auction: ref('Auction') } }) } },
    '/v1/auctions/{id}/bids': econ('bid as an agent whose account this daemon owns', obj(['agent', 'bid'], { agent: str, bid: ref('Bid') }), { type: 'object', properties: { escrowed: int } }, 201, [auctionParam]),
    '/v1/auctions/{id}/close': econ('close bidding (the seller or treasury any time, anyone after the deadline); settles unless commit-reveal', obj(['by'], { by: str }), { type: 'object', properties: { result: {}, auction: ref('Auction') } }, 200, [auctionParam]),
    '/v1/auctions/{id}/settle': econ('settle a commit-reveal auction after its reveals', obj(['by'], { by: str }), { type: 'object', properties: { result: {}, auction: ref('Auction') } }, 200, [auctionParam]),
    '/v1/coordination/leases': {
      ...coord('post', 'grant an HTTP lease of this daemon; revoked (and what it holds freed) unless kept alive within every ttlMs', { type: 'object', properties: { lease: ref('Lease') } }, { body: obj(['ttlMs'], { ttlMs: leaseChoice.ttlMs }), status: 201 }),
      ...coord('get', 'this daemon\'s HTTP leases and what each holds', { type: 'object', properties: { leases: { type: 'array', items: ref('Lease') } } })
    },
    '/v1/coordination/leases/{id}': {
      ...coord('get', 'an HTTP lease (404 ERR_LEASE_NOT_FOUND, 410 ERR_LEASE_LOST)', { type: 'object', properties: { lease: ref('Lease') } }, { params: [leaseIdParam] }),
      ...coord('delete', 'revoke: its locks and leaderships are free at once', { type: 'object', properties: { revoked: int } }, { params: [leaseIdParam] })
    },
    '/v1/coordination/leases/{id}/keepalive': coord('post', 'keep the lease alive for another ttlMs (410 ERR_LEASE_LOST once it ended)', { type: 'object', properties: { lease: ref('Lease') } }, { params: [leaseIdParam] }),
    '/v1/coordination/locks': coord('get', 'names of the locks held or waited for (at most 1000)', { type: 'object', properties: { locks: { type: 'array', items: str } } }),
    '/v1/coordination/locks/{name}': {
      ...coord('post', 'acquire: wait up to waitMs (default 30000; 409 ERR_LOCK_TIMEOUT), or with try not at all (409 ERR_LOCK_HELD); permits makes it a semaphore', ref('Grant'), { params: [nameParam], body: obj([], { ...leaseChoice, waitMs: ms(120000), try: { type: 'boolean' }, permits: { type: 'integer', minimum: 1, maximum: 1024 } }) }),
      ...coord('get', 'holders, waiters and newest token (null: no record)', { type: 'object', properties: { lock: { oneOf: [ref('LockView'), { type: 'null' }] } } }, { params: [nameParam] }),
      ...coord('delete', 'release the lock held through this daemon under token (409 ERR_NOT_HOLDER)', { type: 'object', properties: { released: { type: 'boolean' }, name: str, token: int } }, { params: [nameParam, { name: 'token', in: 'query', required: true, schema: { type: 'integer', minimum: 1 } }] })
    },
    '/v1/coordination/elections/{name}/campaign': coord('post', 'campaign: answers once leading (waitMs, default 30000; 409 ERR_CAMPAIGN_TIMEOUT); leads while the lease is kept alive', ref('Grant'), { params: [nameParam], body: obj([], { ...leaseChoice, value: { description: 'the leader\'s value (JSON, at most 4096 bytes)' }, waitMs: ms(120000) }) }),
    '/v1/coordination/elections/{name}/leader': coord('get', 'the leader now (linearizable)', { type: 'object', properties: { leader: { oneOf: [{ type: 'object', properties: { owner: str, token: int, lease: int, value: {} } }, { type: 'null' }] } } }, { params: [nameParam] }),
    '/v1/coordination/elections/{name}/proclaim': coord('post', 'change the leader\'s value (the leadership of token, held through this daemon)', { type: 'object' }, { params: [nameParam], body: obj(['token', 'value'], { token: int, value: {} }) }),
    '/v1/coordination/elections/{name}/resign': coord('post', 'end the leadership of token', { type: 'object' }, { params: [nameParam], body: obj(['token'], { token: int }) }),
    '/v1/coordination/barriers/{name}/arrive': coord('post', 'arrive as a hosted agent; answers once parties arrived (409 ERR_BARRIER_TIMEOUT after timeoutMs, ERR_BARRIER_BROKEN when a party\'s lease ended first: a client that goes away breaks the generation)', { type: 'object', properties: { name: str, generation: int } }, { params: [nameParam], body: obj(['agent', 'parties', 'timeoutMs'], { ...leaseChoice, agent: str, parties: { type: 'integer', minimum: 1, maximum: 10000 }, timeoutMs: ms(120000), zone: str }) }),
    '/v1/coordination/barriers/{name}': coord('get', 'generation, arrivals, recent outcomes (null: no record)', { type: 'object', properties: { barrier: { type: ['object', 'null'] } } }, { params: [nameParam] }),
    '/v1/coordination/votes': { get: LISTING_GETS.votes, ...coord('post', 'open a vote, ask every voter\'s host (its onVote handler or HTTP voter), answer with the decision once made (at the rule\'s threshold, when unreachable, or at deadlineMs)', ref('VoteResult'), {
      body: obj(['options', 'voters', 'deadlineMs'], {
        options: { type: 'array', items: str, minItems: 1, maxItems: 64 },
        voters: { oneOf: [{ type: 'array', items: str, minItems: 1, maxItems: 1000 }, ref('QueryCriteria')], description: 'agent ids, or a registry query (reachable agents)' },
        rule: { oneOf: [{ enum: ['majority', 'unanimous', 'weighted'] }, obj(['kind'], { kind: { enum: ['majority', 'quorum', 'unanimous', 'weighted'] }, n: int })], default: 'majority' },
        deadlineMs: ms(120000),
        topic: str,
        requestTimeoutMs: ms(30000)
      })
    }) },
    '/v1/coordination/votes/{id}': coord('get', 'a vote: options, voters, rule, deadline, ballots, decided (404 ERR_VOTE_NOT_FOUND)', { type: 'object', properties: { vote: { type: 'object' } } }, { params: [{ ...idParam, description: 'vote id' }] }),
    '/v1/agents/{id}/voter': {
      post: { parameters: [idParam], summary: 'make an agent hosted here a voter: {callback} gets each VoteRequest POSTed and answers {choice} or {choice: null} (loopback URLs only unless allowRemoteBidCallbacks); {} long-polls /v1/vote-requests', requestBody: json(obj([], { callback: str, timeoutMs: { type: 'integer', minimum: 1, maximum: 30000 } })), responses: ok('voter') },
      get: { parameters: [idParam], summary: 'the agent\'s voter (404 ERR_NO_VOTER)', responses: ok('voter') },
      delete: { parameters: [idParam], summary: 'stop voting for the agent', responses: ok('removed') }
    },
    '/v1/vote-requests': { get: { summary: 'long-poll: pending vote requests of an agent with a long-poll voter', parameters: [{ name: 'agent', in: 'query', required: true, schema: str }, { name: 'waitMs', in: 'query', schema: { type: 'integer', minimum: 0, maximum: 30000, default: 0 } }], responses: ok('requests', { type: 'object', properties: { requests: { type: 'array', items: ref('VoteRequest') } } }) } },
    '/v1/vote-requests/{requestId}': coord('post', 'answer a pending vote request ({choice: null} abstains); outcome: voted, abstained or the code the ballot failed with', { type: 'object', properties: { accepted: { type: 'boolean' }, vote: int, agent: str, outcome: str } }, { params: [{ name: 'requestId', in: 'path', required: true, schema: str }], body: obj(['choice'], { choice: { type: ['string', 'null'] } }) }),
    '/v1/agents/{id}/handler': {
      put: { parameters: [idParam], summary: 'the HTTP handlers of an agent hosted here, one registration for every kind of call (replaces the earlier one, bidder and voter included; kept across restarts): with callback, each call (CallView) is POSTed there and answered {reply} or {error: {message}} (loopback only unless allowRemoteBidCallbacks); without, calls wait in the inbox (at most agentInboxMax)', requestBody: json(obj(['kinds'], { kinds: { type: 'array', minItems: 1, maxItems: 64, items: { type: 'string', description: 'request (onRequest), message (onMessage), task (onTask: the reply completes the attempt, an error fails it), vote (onVote: reply an option or null), bid (onBidRequest: reply a bid or null), protocol:<name>' } }, callback: str, timeoutMs: { type: 'integer', minimum: 1, maximum: 60000, default: 5000, description: 'per call (a task call: until its attempt\'s deadline)' } })), responses: agentOk('handler', { type: 'object', properties: { handler: ref('Handler') } }) },
      get: { parameters: [idParam], summary: 'the agent\'s HTTP handlers (404 ERR_NO_HANDLER)', responses: agentOk('handler', { type: 'object', properties: { handler: ref('Handler') } }) },
      delete: { parameters: [idParam], summary: 'remove them all (waiting calls fail ERR_NO_HANDLER; bids and votes are declined)', responses: agentOk('removed') }
    },
    '/v1/agents/{id}/inbox': { get: { parameters: [idParam, { name: 'waitMs', in: 'query', schema: { type: 'integer', minimum: 0, maximum: 30000, default: 0 } }, { name: 'kinds', in: 'query', schema: str, description: 'comma list: only these kinds' }], summary: 'long-poll the calls waiting for a long-polling agent, each handed out once (again when unanswered after 30 s); 429 ERR_TOO_MANY_POLLS', responses: agentOk('calls', { type: 'object', properties: { calls: { type: 'array', items: ref('CallView') } } }) } },
    '/v1/agents/{id}/inbox/{callId}': { post: { parameters: [idParam, callIdParam], summary: 'answer a call (404 ERR_UNKNOWN_REQUEST when answered, expired or never sent; 400 when its kind cannot take the reply); a task call of the daemon\'s run before a restart is taken (recovered: true) while its attempt is current here, else 409 ERR_STALE_ATTEMPT', requestBody: json({ oneOf: [obj(['reply'], { reply: {} }), obj(['error'], { error: { oneOf: [str, obj(['message'], { message: str, code: str, retry: { type: 'boolean', description: 'false: a task call fails its task without another attempt' } })] } })] }), responses: agentOk('accepted', { type: 'object', properties: { callId: str, agent: str, kind: str, accepted: { type: 'boolean' } } }) } },
    '/v1/agents/{id}/inbox/{callId}/progress': { post: { parameters: [idParam, callIdParam], summary: 'report a task call\'s progress (recorded in the log)', requestBody: json(obj(['progress'], { progress: { type: 'number', minimum: 0, maximum: 1 }, note: str })), responses: agentOk('recorded') } },
    '/v1/agents/{id}/request': { post: { parameters: [idParam], summary: 'request any agent (its onRequest, or protocol\'s handler) and answer with its reply', requestBody: json(obj([], { payload: {}, timeoutMs: { type: 'integer', minimum: 1, maximum: 60000, default: 5000 }, from: { type: 'string', description: 'an agent hosted here, as the sender' }, protocol: str })), responses: agentOk('reply', { type: 'object', properties: { agent: str, reply: {} } }) } },
    '/v1/agents/{id}/message': { post: { parameters: [idParam], summary: 'send a message (at most once; answered once its host acknowledged it)', requestBody: json(obj([], { message: {}, timeoutMs: { type: 'integer', minimum: 1, maximum: 60000 }, from: str })), responses: agentOk('delivered', { type: 'object', properties: { agent: str, delivered: { type: 'boolean' } } }) } },
    '/v1/request': { post: { summary: 'request an agent chosen by capability (the registry\'s lookupWith order; the next candidate when one is unreachable or overloaded)', requestBody: json(obj(['capability'], { capability: str, strategy: { enum: ['nearest-healthy', 'least-loaded', 'random-healthy'] }, attempts: { type: 'integer', minimum: 1, maximum: 16, default: 3 }, payload: {}, timeoutMs: { type: 'integer', minimum: 1, maximum: 60000 }, from: str, protocol: str })), responses: agentOk('reply', { type: 'object', properties: { capability: str, reply: {} } }) } },
    '/v1/groups/{topic}/publish': { post: { parameters: [topicParam], summary: 'publish on a group topic (gossipsub, signed by this peer); recipients: peers it was sent to', requestBody: json(obj([], { message: {}, from: str })), responses: agentOk('published', { type: 'object', properties: { topic: str, recipients: int } }) } },
    '/v1/groups/{topic}/subscription': {
      put: { parameters: [topicParam], summary: 'this daemon follows the topic for HTTP clients: its messages are buffered (the latest 256) and streamed as SSE group:message (at most 64 topics: 503 ERR_TOO_MANY_SUBSCRIPTIONS)', responses: agentOk('subscribed') },
      get: { parameters: [topicParam], summary: 'whether the topic is followed', responses: agentOk('subscribed') },
      delete: { parameters: [topicParam], summary: 'stop following it', responses: agentOk('unsubscribed') }
    },
    '/v1/groups/{topic}/messages': { get: { parameters: [topicParam, { name: 'after', in: 'query', schema: int, description: 'the seq of the last message seen (0: all buffered)' }, { name: 'waitMs', in: 'query', schema: { type: 'integer', minimum: 0, maximum: 30000, default: 0 } }], summary: 'long-poll the topic\'s buffered messages after seq (follows the topic on first use)', responses: agentOk('messages', { type: 'object', properties: { topic: str, next: int, messages: { type: 'array', items: { type: 'object', properties: { seq: int, message: {}, from: { type: 'object', properties: { host: str, agent: str } }, at: int } } } } }) } },
    '/v1/tasks': {
      post: { summary: 'submit a durable task (recorded in the Raft log, given to one agent, reassigned on timeout or host loss up to retries, completed at most once); 201 {id, created: true}, or 200 {id, created: false}: the earlier task of the same idempotencyKey', requestBody: json(obj([], { agent: str, capability: str, query: ref('QueryCriteria'), payload: {}, allocation: { enum: ['least-loaded', 'round-robin', 'auction'] }, retries: { type: 'integer', minimum: 0, maximum: 100, default: 3 }, timeoutMs: { type: 'integer', minimum: 100, maximum: 86400000, default: 60000 }, graceMs: { type: 'integer', minimum: 0, maximum: 3600000 }, ackMs: { type: 'integer', minimum: 100, maximum: 600000 }, idempotencyKey: str, account: str, reward: { type: 'integer', minimum: 1 } })), responses: { 201: { description: 'recorded', ...json({ type: 'object', properties: { id: int, created: { type: 'boolean' } } }) }, default: taskErrors } },
      get: { summary: 'tasks, oldest first (linearizable)', parameters: [{ name: 'state', in: 'query', schema: { enum: ['submitted', 'assigned', 'completed', 'failed', 'cancelled'] } }, { name: 'agent', in: 'query', schema: str }, { name: 'capability', in: 'query', schema: str }, { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 1000, default: 1000 } }], responses: { 200: { description: 'tasks', ...json({ type: 'object', properties: { tasks: { type: 'array', items: ref('Task') } } }) }, default: taskErrors } }
    },
    '/v1/tasks/{id}': { get: { parameters: [taskIdParam], summary: 'a task (linearizable; 404 ERR_TASK_NOT_FOUND)', responses: { 200: { description: 'task', ...json({ type: 'object', properties: { task: ref('Task') } }) }, default: taskErrors } } },
    '/v1/tasks/{id}/cancel': { post: { parameters: [taskIdParam], summary: 'cancel a task this daemon submitted (409 ERR_TASK_STATE once finished)', responses: { 200: { description: 'cancelled', ...json({ type: 'object', properties: { task: ref('Task') } }) }, default: taskErrors } } },
    '/v1/tasks/{id}/wait': { get: { parameters: [taskIdParam, { name: 'waitMs', in: 'query', schema: { type: 'integer', minimum: 0, maximum: 120000, default: 30000 } }], summary: 'answered once the task is completed, failed or cancelled (finished: true), or after waitMs with its state then (finished: false); 429 ERR_TOO_MANY_TASK_WAITS (Retry-After) over TASK_HTTP_WAITS_MAX at once', responses: { 200: { description: 'task', ...json({ type: 'object', properties: { task: ref('Task'), finished: { type: 'boolean' } } }) }, default: taskErrors } } },
    '/v1/health/mesh': { get: { summary: 'the mesh health report as this peer sees it (always 200; FEATURES I3): status (ok|degraded|critical) and reasons [{name, severity, message, value?, threshold?}], peers {known, reachable, suspected, unreachable, left}, partitions [{peers, since, silentMs, suspected, unreachable, reachedBy, confirmedBy}], raft (null off the group: role, term, leader, noLeaderMs, commit, applied, applyLag, quorum {voters, needed, reachable, ok}, members [{peerId, voter, leader, reachable, match, lag}]), sync {lagMax, lagging}, latency {raftCommit, agentRequest, agentMessage: {count, p50Ms, p90Ms, p99Ms, maxMs}}, load {mean, max, overloaded, agents}, breakers {open, halfOpen, list}, rateLimits {limited, list}, alerts [{name, severity, message, since}], hosts [{peerId, self, state, silentMs, connected, rttMs, load, agents, syncLag, syncLagMs, lastSyncAt, raft}], hostsMore', responses: ok('report', { type: 'object', properties: { status: { enum: ['ok', 'degraded', 'critical'] }, reasons: { type: 'array', items: { type: 'object' } }, peers: { type: 'object' }, partitions: { type: 'array', items: { type: 'object' } }, raft: { type: ['object', 'null'] }, hosts: { type: 'array', items: { type: 'object' } }, alerts: { type: 'array', items: { type: 'object' } } } }) } },
    '/v1/health/heals': { get: { summary: 'partition and heal reports of this peer, newest first (FEATURES I5): span, sides, agents changed on each side, eventual variables written during the partition (conflicts first) with the merged value and the winning write, indefinite strong writes and their settled fate, auctions and tasks across it; `open`: an episode is open now', parameters: [{ name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 32, default: 32 } }, { name: 'since', in: 'query', schema: { type: 'integer', minimum: 0 }, description: 'only reports with a greater seq' }], responses: ok('reports', { type: 'object', required: ['open', 'heals'], properties: { open: { type: 'boolean' }, heals: { type: 'array', items: { type: 'object', required: ['seq', 'peer', 'span', 'sides', 'agents', 'variables', 'strongWrites', 'auctions', 'tasks'] } } } }) } },
    '/v1/variables/eventual/{name}': {
      get: { parameters: [nameParam, { name: 'merge', in: 'query', schema: { enum: ['lww', 'max', 'min', 'counter', 'weighted-average'] } }, { name: 'initial', in: 'query', schema: { type: 'string', description: 'JSON' } }], summary: 'merged value under the name\'s merge rule (learnt from its data; a read declares nothing; `merge` null when nobody contributed); 409 ERR_MERGE_CONFLICT when ?merge= conflicts with the rule', responses: ok('value') },
      put: { parameters: [nameParam], summary: 'set this host\'s contribution ({ value, merge, weight, fence } or { add, merge: counter, fence }; without merge, the learnt rule); 409 ERR_MERGE_CONFLICT when merge conflicts; 409 ERR_FENCED when this replica knows a newer token of the fence\'s lock (replicas drop a stale fenced contribution once they hold a newer one)', requestBody: json({ type: 'object' }), responses: ok('value') }
    },
    '/v1/variables/strong/{name}': {
      get: { parameters: [nameParam, { name: 'linearizable', in: 'query', schema: { type: 'boolean', default: true } }], summary: 'value (linearizable by default)', responses: ok('value') },
      put: { parameters: [nameParam], summary: 'set (exactly once, linearizable); with a fence (a held lock\'s {lock, token}), 409 ERR_FENCED once the lock has a newer token', requestBody: json({ type: 'object', required: ['value'], properties: { value: {}, fence: FENCE } }), responses: ok('value') }
    },
    '/v1/variables/strong/{name}/cas': {
      post: { parameters: [nameParam], summary: 'compare-and-set (fence as for set)', requestBody: json({ type: 'object', required: ['expected', 'value'], properties: { expected: {}, value: {}, fence: FENCE } }), responses: ok('swapped', { type: 'object', properties: { swapped: { type: 'boolean' } } }) }
    },
    ...BUDGET_OPENAPI_PATHS,
    ...LISTING_OPENAPI_PATHS
  }
} as const
