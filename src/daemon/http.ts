/**
 * The daemon's HTTP + JSON API (O2) over a running peer. Bound to loopback by default; every route but
 * the probes `GET /health` and `GET /ready` (they reveal only state) needs `Authorization: Bearer <token>`. Errors are `{ error: { code, message, path? } }`
 * with a 4xx/5xx status; bodies are JSON, at most `bodyBytesMax` bytes, every string (keys included)
 * well-formed Unicode (else 400 ERR_BAD_REQUEST naming the path) and no `__proto__` key (400
 * ERR_RESERVED_NAME); JSON query parameters likewise.
 *
 *   GET    /health                          liveness (no token)
 *   GET    /ready                           200 when the peer is started (and Raft has a leader if it runs Raft); no token
 *   GET    /ui/                             the dashboard's static files (no token; the page asks for it and sends it to /v1)
 *   GET    /metrics                         Prometheus text format
 *   GET    /v1/status                       peer id, addresses, members, sync health, Raft status, breakers not closed, rate limits
 *   GET    /v1/openapi.json                 this API as an OpenAPI 3.1 document
 *   POST   /v1/agents                       register (body: agent)
 *   GET    /v1/agents?capability=&zone=&health=&host=&limit=   query
 *   POST   /v1/agents/query                 query (body: criteria, with `where`, `orderBy`)
 *   GET    /v1/agents/:id                   lookup
 *   PATCH  /v1/agents/:id                   update (body: patch)
 *   DELETE /v1/agents/:id                   unregister
 *   GET    /v1/variables/eventual?prefix=&limit=&cursor=     list eventual variables (this replica), name order
 *   GET    /v1/variables/strong?prefix=&limit=&cursor=&linearizable=false   list strong variables (a Raft member's replica)
 *   GET    /v1/variables/eventual/:name?merge=lww&initial=<json>
 *   PUT    /v1/variables/eventual/:name     body { value, merge, initial?, weight?, fence? } (counter: { add, merge, fence? })
 *   GET    /v1/variables/strong/:name?linearizable=false
 *   PUT    /v1/variables/strong/:name       body { value, fence? }
 *   POST   /v1/variables/strong/:name/cas   body { expected, value, fence? } → { swapped }
 *   (fence: a held lock's { lock, token }; refused 409 ERR_FENCED once the lock has a newer token)
 *   GET    /v1/events?types=&prefix=&lastEventId=&keepaliveMs=   Server-Sent Events with ids and resume (events.ts):
 *                                           agent:*, variable:changed (eventual, and strong on Raft members), contribution:rejected,
 *                                           raft:role, member:*, update:rejected, auction:*, and (Raft members) the
 *                                           coordination machine's lease:*, lock:*, election:*, barrier:*, vote:*, plus
 *                                           lease:lost (a lease of this daemon's peer lost), the task machine's task:*, and
 *                                           group:message of the group topics this daemon follows, breaker:* (agents' circuit breakers)
 *   /v1/members, /v1/raft*                  members and Raft membership (raft-routes.ts)
 *   /v1/ledger/*, /v1/auctions*, /v1/agents/:id/bidder, /v1/bid-requests*   the economy (economy-routes.ts)
 *   /v1/coordination/*, /v1/agents/:id/voter, /v1/vote-requests*   leases, locks, elections, barriers, votes (coordination-routes.ts)
 *   /v1/agents/:id/handler, /v1/agents/:id/inbox*, /v1/agents/:id/request, /v1/agents/:id/message, /v1/request,
 *   /v1/groups/:topic/*                     agents' HTTP handlers, calls to agents, group topics (agent-routes.ts)
 *   /v1/tasks*                              durable tasks: submit, get, list, cancel, wait (task-routes.ts)
 *   GET    /v1/health/mesh                  the mesh health report (health-routes.ts); alert:raised, alert:cleared on the event stream
 *   /v1/agents/:id/checks*, /v1/checks      agents' health checks: declare, check in, read (check-routes.ts)
 *   /v1/budgets*                            mesh-wide budgets: define, join, leave, take (budget-routes.ts); SSE
 *                                           budget:share (this daemon's share changed) and, on Raft members, the budget
 *                                           machine's budget:defined, budget:joined, budget:left, budget:deleted
 *   GET    /v1/health/heals?limit=&since=   partition and heal reports, newest first (heal-routes.ts); SSE heal:reported
 */
import { createServer } from 'node:http'
import { createServer as createTlsServer } from 'node:https'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { timingSafeEqual } from 'node:crypto'
import { AgoraError, ReservedNameError } from '../base/errors.js'
import { jsonInputProblem } from '../base/input.js'
import type { Logger } from '../base/log.js'
import type { Peer } from '../../peers/peer.js'
import type { BuiltinMerge } from '../../crdt/variables.js'
import { listEventualVariables } from '../../crdt/variable-list.js'
import { createMetrics } from './metrics.js'
import { OPENAPI } from './openapi.js'
import { ECONOMY_STATUS, economyRoutes } from './economy-routes.js'
import { COORDINATION_STATUS, coordinationRoutes } from './coordination-routes.js'
import { EventHub, streamOptions } from './events.js'
import { RAFT_STATUS, NotRaftMemberError, raftRoutes } from './raft-routes.js'
import { routeTemplate } from './routes.js'
import { handlerStore } from './agent-handlers.js'
import { AGENT_RETRY_AFTER_S, AGENT_STATUS, agentRoutes } from './agent-routes.js'
import { TASK_RETRY_AFTER_S, TASK_STATUS, taskRoutes } from './task-routes.js'
import { healthRoutes } from './health-routes.js'
import { listingRoutes } from './listing-routes.js'
import { CHECK_STATUS, checkRoutes } from './check-routes.js'
import { BUDGET_STATUS, budgetRoutes } from './budget-routes.js'
import { healRoutes } from './heal-routes.js'
import { isUiPath, loadUi, serveUi } from './ui-static.js'
import type { UiAssets } from './ui-static.js'
import { followUndeclaredVariables } from './undeclared-variables.js'

export { SSE_BUFFER_BYTES_MAX, SSE_CLIENTS_MAX } from './events.js'

/** The `fence` of a variable write's body (checked by the variable: a malformed one is a named 400). */
function fenceOf (body: Record<string, unknown>): { fence?: { lock: string, token: number } } {
  if (body.fence === undefined) return {}
  const f = body.fence as { lock?: unknown, token?: unknown } | null
  if (f === null || typeof f !== 'object' || typeof f.lock !== 'string' || !Number.isSafeInteger(f.token)) throw new HttpError(400, 'ERR_BAD_REQUEST', 'fence must be { lock, token } (a held lock\'s fence)', 'fence')
  return { fence: { lock: f.lock, token: f.token as number } }
}

/** Default and max entries of a variable listing (`?limit=`). */
export const LIST_LIMIT_DEFAULT = 100
export const LIST_LIMIT_MAX = 1000

export class HttpError extends AgoraError {
  readonly status: number
  constructor (status: number, code: string, message: string, path?: string) {
    super(code, message, path !== undefined ? { path } : {})
    this.status = status
  }
}

/** `Retry-After` seconds of the 429 and 503 answers a retry can get past (an error's `details.retryAfterS` first). */
const RETRY_AFTER_S: Record<string, number> = { ...AGENT_RETRY_AFTER_S, ...TASK_RETRY_AFTER_S }

const STATUS_OF: Record<string, number> = {
  ERR_INVALID_DESCRIPTOR: 400,
  ERR_INVALID_QUERY: 400,
  ERR_INVALID_VARIABLE: 400,
  ERR_MERGE_CONFLICT: 409,
  ERR_FENCED: 409,
  ERR_INVALID_OPTION: 400,
  ERR_DECODE: 400,
  ERR_LIMIT_EXCEEDED: 400,
  ERR_RESERVED_NAME: 400,
  ERR_AGENT_NOT_FOUND: 404,
  ERR_AGENT_EXISTS: 409,
  ERR_NOT_OWNER: 403,
  ERR_NO_RAFT: 503,
  ERR_NOT_STARTED: 503,
  ERR_INDEFINITE: 503,
  ERR_PROPOSAL_DROPPED: 503,
  ERR_TIMEOUT: 504,
  ERR_TOO_MANY_CLIENTS: 503,
  ERR_RATE_LIMITED: 429,
  ERR_UNSUPPORTED_MEDIA_TYPE: 415,
  ...ECONOMY_STATUS,
  ...RAFT_STATUS,
  ...COORDINATION_STATUS,
  ...AGENT_STATUS,
  ...TASK_STATUS,
  ...CHECK_STATUS,
  ...BUDGET_STATUS
}

export interface ApiServer {
  readonly server: Server
  /** `host:port` actually bound. */
  readonly address: string
  close: () => Promise<void>
  stats: { requests: number, errors4xx: number, errors5xx: number }
}

export interface ApiOptions {
  peer: Peer
  token: string
  host: string
  port: number
  bodyBytesMax: number
  log: Logger
  /** Bid callbacks to non-loopback hosts (default false). */
  allowRemoteBidCallbacks?: boolean
  /** Calls waiting in one long-polling agent's inbox (default AGENT_INBOX_MAX). */
  agentInboxMax?: number
  /** Conditions an operator should know about, listed in GET /v1/status (default none). */
  warnings?: () => unknown[]
  /** Serve over TLS with this certificate and key (PEM). */
  tls?: { cert: Buffer, key: Buffer }
  /** Connections open at once. Default {@link HTTP_CONNECTIONS_MAX}. */
  connectionsMax?: number
  /** Time to receive a whole request. Default {@link HTTP_REQUEST_TIMEOUT_MS}. */
  requestTimeoutMs?: number
  /** The dashboard's files (`/ui`); default: read from this package's `dist/ui` (404 ERR_UI_NOT_BUILT if absent). */
  ui?: UiAssets
}

/** Default cap of HTTP connections open at once (new ones beyond are refused). */
export const HTTP_CONNECTIONS_MAX = 256
/** Default time to receive a whole request, headers and body. */
export const HTTP_REQUEST_TIMEOUT_MS = 10_000

function send (res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

async function readBody (req: IncomingMessage, max: number): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? 0)
  if (declared > max) throw new HttpError(413, 'ERR_BODY_TOO_LARGE', `request body of ${declared} bytes exceeds ${max}`)
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > max) throw new HttpError(413, 'ERR_BODY_TOO_LARGE', `request body exceeds ${max} bytes`)
    chunks.push(chunk as Buffer)
  }
  if (size === 0) return undefined
  const ct = String(req.headers['content-type'] ?? 'application/json')
  if (!ct.includes('json')) throw new HttpError(415, 'ERR_UNSUPPORTED_MEDIA_TYPE', `content-type must be application/json, got ${ct}`)
  let body: unknown
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown
  } catch (err) {
    throw new HttpError(400, 'ERR_BAD_JSON', `body is not valid JSON: ${(err as Error).message}`)
  }
  checkJsonInput(body, '')
  return body
}

/**
 * Refuses JSON input that would not replicate unchanged: a string (or key) with a lone UTF-16 surrogate
 * (valid JSON as a `\ud800` escape; 400 ERR_BAD_REQUEST) or a `__proto__` key (400 ERR_RESERVED_NAME),
 * anywhere in the value. Bodies and JSON query parameters go through it before any route sees them.
 */
function checkJsonInput (value: unknown, base: string): void {
  const p = jsonInputProblem(value, base)
  if (p === undefined) return
  const path = p.path === '' ? '(body)' : p.path
  if (p.reason === 'proto-key') throw new ReservedNameError(path, '__proto__')
  throw new HttpError(400, 'ERR_BAD_REQUEST', `${path}: strings must be well-formed Unicode (no lone UTF-16 surrogate)`, path)
}

function objectBody (body: unknown, what: string): Record<string, unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new HttpError(400, 'ERR_BAD_REQUEST', `${what}: the body must be a JSON object`, '(body)')
  return body as Record<string, unknown>
}

/** An integer query parameter in `min..max` (undefined when absent); else 400 naming it. */
function intParam (v: string | null, name: string, min: number, max: number): number | undefined {
  if (v === null) return undefined
  const n = /^[0-9]{1,9}$/.test(v) ? Number(v) : NaN
  if (!(n >= min && n <= max)) throw new HttpError(400, 'ERR_BAD_REQUEST', `${name} must be an integer in ${min}..${max}`, name)
  return n
}

function parseJsonParam (v: string | null, name: string): unknown {
  if (v === null) return undefined
  let value: unknown
  try { value = JSON.parse(v) as unknown } catch { throw new HttpError(400, 'ERR_BAD_REQUEST', `query parameter ${name} must be JSON`, name) }
  checkJsonInput(value, name)
  return value
}

export async function startApi (o: ApiOptions): Promise<ApiServer> {
  const { peer, log } = o
  const stats = { requests: 0, errors4xx: 0, errors5xx: 0 }
  const metrics = createMetrics(peer, stats)
  metrics.watchRaft()
  const expected = Buffer.from(`Bearer ${o.token}`)
  const events = new EventHub()
  const ui = o.ui ?? loadUi()

  const authorized = (req: IncomingMessage): boolean => {
    const got = Buffer.from(String(req.headers.authorization ?? ''))
    return got.length === expected.length && timingSafeEqual(got, expected)
  }

  const broadcast = (type: string, data: unknown): void => { events.publish(type, data) }
  const offs: Array<() => void> = []
  for (const ev of ['agent:joined', 'agent:updated', 'agent:left', 'agent:unreachable', 'agent:reachable'] as const) {
    offs.push(peer.registry.on(ev, (e) => broadcast(ev, { agent: e.agent, ...('reason' in e ? { reason: e.reason } : {}) })))
  }
  offs.push(peer.variables.on('variable:changed', (e) => broadcast('variable:changed', { kind: 'eventual', ...e })))
  offs.push(followUndeclaredVariables(peer, broadcast).stop)
  offs.push(peer.variables.on('contribution:rejected', (e) => broadcast('contribution:rejected', e)))
  for (const ev of ['member:joined', 'member:left', 'update:rejected', 'alert:raised', 'alert:cleared'] as const) {
    offs.push(peer.on(ev, (e) => broadcast(ev, e)))
  }
  for (const ev of ['auction:opened', 'auction:bid', 'auction:settled', 'auction:request', 'auction:result'] as const) {
    offs.push(peer.economy.on(ev, (e) => broadcast(ev, e)))
  }
  // The coordination machine's changes (on Raft members, from their replica), without the type inside.
  offs.push(peer.coordination.on('coord:event', ({ type, ...e }) => broadcast(type, e)))
  offs.push(peer.coordination.on('lease:lost', (e) => broadcast('lease:lost', e)))
  // The agents' circuit breakers on this peer (peers/protect/breakers.ts).
  for (const ev of ['breaker:open', 'breaker:half-open', 'breaker:closed', 'breaker:fallback'] as const) offs.push(peer.agents.on(ev, (e) => broadcast(ev, e)))
  // Every HTTP handler of the daemon's agents (bidders and voters included), kept in the data dir.
  const handlers = handlerStore(peer, {
    allowRemoteCallbacks: o.allowRemoteBidCallbacks === true,
    ...(o.agentInboxMax !== undefined ? { inboxMax: o.agentInboxMax } : {}),
    ...(peer.options.dataDir !== undefined ? { dataDir: peer.options.dataDir } : {}),
    warn: (msg, fields) => { peer.log.warn(msg, fields) }
  })
  const economy = economyRoutes(peer, handlers)
  const coordination = coordinationRoutes(peer, handlers)
  const agentsRoute = agentRoutes(peer, handlers, broadcast)
  const tasksRoute = taskRoutes(peer)
  const healthRoute = healthRoutes(peer)
  const listingsRoute = listingRoutes(peer)
  const checksRoute = checkRoutes(peer, { broadcast, warn: (msg, fields) => { peer.log.warn(msg, fields) }, ...(peer.options.dataDir !== undefined ? { dataDir: peer.options.dataDir } : {}) })
  const budgetsRoute = budgetRoutes(peer)
  offs.push(peer.budgets.on('budget:share', (e) => broadcast('budget:share', e)))
  const healsRoute = healRoutes(peer)
  offs.push(peer.on('heal:reported', (r) => broadcast('heal:reported', r)))
  // The task machine's changes (on Raft members, from their replica).
  for (const ev of ['task:submitted', 'task:assigned', 'task:progress', 'task:completed', 'task:failed', 'task:reassigned', 'task:cancelled'] as const) {
    offs.push(peer.tasks.on(ev, ({ type: _type, ...e }) => broadcast(ev, e)))
  }
  metrics.watchHandlers(handlers)
  metrics.watchCoordination(coordination)
  const raftRoute = raftRoutes(peer)
  const raftOffs: Array<() => void> = []
  let raftWatched: unknown
  const watchRaft = (): void => {
    metrics.watchRaft()
    const r = peer.raft
    if (r === undefined || raftWatched === r) return
    raftWatched = r
    raftOffs.push(r.on('raft:role', (e) => broadcast('raft:role', e)))
    // Strong variables change on members only (applied from the log here); outside the group none stream.
    raftOffs.push(r.on('variable:changed', (e) => broadcast('variable:changed', { kind: 'strong', ...e })))
    // The budget machine's changes (budget:defined, budget:joined, budget:left, budget:deleted), members only.
    raftOffs.push(r.on('budget:event', ({ type, ...e }) => broadcast(type, e)))
  }
  watchRaft()

  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost')
    const method = req.method ?? 'GET'
    watchRaft()
    // Probes: no token (orchestrators call them without one); they reveal only state.
    if (method === 'GET' && url.pathname === '/health') { send(res, 200, { ok: true }); return }
    if (method === 'GET' && url.pathname === '/ready') {
      const rs = peer.raft?.status()
      const raftOk = rs === undefined || (rs.leader !== undefined && rs.failed === undefined)
      send(res, peer.started && raftOk ? 200 : 503, { ready: peer.started && raftOk, started: peer.started, raftLeader: peer.raft?.status().leader ?? null })
      return
    }
    // The dashboard's static files: no secret in them, so no token (the page sends it with every /v1 call).
    if (isUiPath(url.pathname)) {
      const refused = serveUi(ui, req, res, url.pathname, url.search)
      if (refused !== undefined) throw new HttpError(refused.status, refused.code, refused.message)
      return
    }
    if (!authorized(req)) throw new HttpError(401, 'ERR_UNAUTHORIZED', 'missing or wrong bearer token (Authorization: Bearer <token>)')
    let parts: string[]
    try {
      parts = url.pathname.split('/').filter(p => p.length > 0).map(decodeURIComponent)
    } catch {
      throw new HttpError(400, 'ERR_BAD_REQUEST', 'malformed percent-encoding in the path')
    }
    if (method === 'GET' && url.pathname === '/metrics') {
      const text = await metrics.registry.metrics()
      res.writeHead(200, { 'content-type': metrics.registry.contentType })
      res.end(text)
      return
    }
    if (parts[0] !== 'v1') throw new HttpError(404, 'ERR_NOT_FOUND', `no route ${method} ${url.pathname}`)
    const [, area, a, b] = parts
    if (area === 'openapi.json' && parts.length === 2 && method === 'GET') { send(res, 200, OPENAPI); return }
    if (area === 'status' && parts.length === 2 && method === 'GET') {
      send(res, 200, {
        peerId: peer.id,
        mesh: peer.options.mesh,
        addresses: peer.addresses(),
        started: peer.started,
        members: peer.members(),
        agents: peer.registry.size,
        localAgents: peer.registry.localAgents().length,
        sync: peer.syncHealth(),
        raft: peer.raft?.status() ?? null,
        breakers: peer.agents.breakers(),
        rateLimits: peer.rateLimits.states(),
        warnings: o.warnings?.() ?? []
      })
      return
    }
    if (area === 'events' && parts.length === 2 && method === 'GET') {
      const header = req.headers['last-event-id']
      const options = streamOptions(url.searchParams, typeof header === 'string' ? header : undefined)
      events.subscribe(res, options, `agora events of ${peer.id}${peer.raft === undefined ? ' (not a Raft member: strong-variable changes are not streamed here)' : ''}`)
      return
    }
    if (area === 'agents') {
      if (parts.length === 2 && method === 'POST') {
        const body = objectBody(await readBody(req, o.bodyBytesMax), 'register')
        const agent = Object.hasOwn(body, 'checks') ? await checksRoute.register(body) : await peer.registry.register(body as never)
        send(res, 201, { agent })
        return
      }
      if (parts.length === 2 && method === 'GET') {
        const c: Record<string, unknown> = {}
        for (const k of ['capability', 'zone', 'health', 'host']) { const v = url.searchParams.get(k); if (v !== null) c[k] = v }
        const limit = url.searchParams.get('limit')
        if (limit !== null) {
          if (!/^[0-9]+$/.test(limit)) throw new HttpError(400, 'ERR_BAD_REQUEST', 'limit must be a non-negative integer', 'limit')
          c.limit = Number(limit)
        }
        send(res, 200, peer.registry.query(c))
        return
      }
      if (parts.length === 3 && a === 'query' && method === 'POST') {
        send(res, 200, peer.registry.query(objectBody(await readBody(req, o.bodyBytesMax), 'query') as never))
        return
      }
      if (parts.length === 3 && a !== undefined) {
        if (method === 'GET') {
          const agent = peer.registry.lookup(a)
          if (agent === undefined) throw new HttpError(404, 'ERR_AGENT_NOT_FOUND', `no agent ${a}`, 'id')
          send(res, 200, { agent })
          return
        }
        if (method === 'PATCH') {
          send(res, 200, { agent: await peer.registry.update(a, objectBody(await readBody(req, o.bodyBytesMax), 'update') as never) })
          return
        }
        if (method === 'DELETE') {
          if (!await peer.registry.unregister(a)) throw new HttpError(404, 'ERR_AGENT_NOT_FOUND', `no agent ${a} on this peer`, 'id')
          await handlers.remove(a)
          send(res, 200, { removed: a })
          return
        }
      }
    }
    if (area === 'variables' && (a === 'eventual' || a === 'strong') && parts.length === 3 && method === 'GET') {
      const limit = intParam(url.searchParams.get('limit'), 'limit', 1, LIST_LIMIT_MAX) ?? LIST_LIMIT_DEFAULT
      const prefix = url.searchParams.get('prefix') ?? ''
      const cursor = url.searchParams.get('cursor') ?? undefined
      const list = { limit, prefix, ...(cursor !== undefined ? { after: cursor } : {}) }
      if (a === 'eventual') {
        const page = listEventualVariables(peer.replica, peer.variables, list)
        send(res, 200, { variables: page.entries, next: page.next ?? null })
        return
      }
      const r = peer.raft
      if (r === undefined) throw new NotRaftMemberError('listing strong variables (a local replica)')
      if (url.searchParams.get('linearizable') !== 'false') await r.readBarrier()
      const app = r.app
      if (app === undefined) throw new HttpError(503, 'ERR_NOT_STARTED', 'the Raft service is not running')
      const page = app.strong.list(list)
      send(res, 200, { variables: page.entries, next: page.next ?? null })
      return
    }
    if (area === 'variables' && (a === 'eventual' || a === 'strong') && b !== undefined) {
      if (a === 'eventual' && parts.length === 4) {
        if (method === 'GET') {
          // A read never declares: the merge rule is learnt from the variable's contributions.
          const merge = url.searchParams.get('merge') ?? undefined
          const initial = parseJsonParam(url.searchParams.get('initial'), 'initial')
          const r = peer.variables.read(b, { ...(merge !== undefined ? { merge: merge as BuiltinMerge } : {}), ...(initial !== undefined ? { initial } : {}) })
          send(res, 200, { name: b, merge: r.merge, value: r.value, contributions: r.contributions })
          return
        }
        if (method === 'PUT') {
          const body = objectBody(await readBody(req, o.bodyBytesMax), 'set')
          const merge = (body.merge ?? peer.variables.mergeOf(b) ?? 'lww') as BuiltinMerge
          const v = peer.variables.eventual(b, { initial: body.initial ?? (merge === 'lww' ? null : 0), merge })
          if (merge === 'counter') {
            if (typeof body.add !== 'number') throw new HttpError(400, 'ERR_BAD_REQUEST', 'a counter takes { add: number }', 'add')
            await (v as { add: (d: number, o: { fence?: { lock: string, token: number } }) => Promise<void> }).add(body.add, fenceOf(body))
          } else {
            if (!('value' in body)) throw new HttpError(400, 'ERR_BAD_REQUEST', 'body needs a value', 'value')
            await v.set(body.value as never, { ...(typeof body.weight === 'number' ? { weight: body.weight } : {}), ...fenceOf(body) })
          }
          send(res, 200, { name: b, merge, value: v.get() })
          return
        }
      }
      if (a === 'strong') {
        const v = peer.variables.strong(b)
        if (parts.length === 4 && method === 'GET') {
          send(res, 200, { name: b, value: await v.get({ linearizable: url.searchParams.get('linearizable') !== 'false' }) })
          return
        }
        if (parts.length === 4 && method === 'PUT') {
          const body = objectBody(await readBody(req, o.bodyBytesMax), 'set')
          if (!('value' in body)) throw new HttpError(400, 'ERR_BAD_REQUEST', 'body needs a value', 'value')
          await v.set(body.value, fenceOf(body))
          send(res, 200, { name: b, value: body.value })
          return
        }
        if (parts.length === 5 && parts[4] === 'cas' && method === 'POST') {
          const body = objectBody(await readBody(req, o.bodyBytesMax), 'cas')
          if (!('expected' in body) || !('value' in body)) throw new HttpError(400, 'ERR_BAD_REQUEST', 'body needs expected and value', !('expected' in body) ? 'expected' : 'value')
          send(res, 200, { name: b, swapped: await v.compareAndSet(body.expected, body.value, fenceOf(body)) })
          return
        }
      }
    }
    const ctx = { method, parts, url, req, res, body: async () => await readBody(req, o.bodyBytesMax), send: (status: number, body: unknown) => send(res, status, body) }
    if (await checksRoute.handle(ctx)) return
    if (await raftRoute.handle(ctx)) return
    if (await listingsRoute.handle(ctx)) return
    if (await economy.handle(ctx)) return
    if (await coordination.handle(ctx)) return
    if (await agentsRoute.handle(ctx)) return
    if (await tasksRoute.handle(ctx)) return
    if (await healthRoute.handle(ctx)) return
    if (await budgetsRoute.handle(ctx)) return
    if (await healsRoute.handle(ctx)) return
    throw new HttpError(404, 'ERR_NOT_FOUND', `no route ${method} ${url.pathname}`)
  }

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    stats.requests++
    const started = performance.now()
    const template = routeTemplate(new URL(req.url ?? '/', 'http://localhost').pathname)
    // Event streams last as long as their client: not a latency.
    if (template !== '/v1/events') res.once('finish', () => { metrics.observeHttp(req.method ?? 'GET', template, res.statusCode, (performance.now() - started) / 1000) })
    route(req, res).catch((err: unknown) => {
      const e = err as AgoraError & { status?: number }
      const status = e instanceof HttpError ? e.status : (typeof e.code === 'string' ? (Object.hasOwn(STATUS_OF, e.code) ? STATUS_OF[e.code] : undefined) ?? 500 : 500)
      if (status >= 500) { stats.errors5xx++; log.warn('request failed', { method: req.method, url: req.url, error: e.message }) } else stats.errors4xx++
      if (res.headersSent) { res.destroy(); return }
      const details = e.details as { path?: unknown, leader?: unknown, reason?: unknown, retryAfterS?: unknown, retryAfterMs?: unknown } | undefined
      // Overload answers a retry can get past say when (agents and tasks routes; rate limits and breakers in ms).
      if (status === 429 || status === 503) {
        const retryAfter = typeof details?.retryAfterS === 'number' ? details.retryAfterS : typeof details?.retryAfterMs === 'number' ? details.retryAfterMs / 1000 : typeof e.code === 'string' && Object.hasOwn(RETRY_AFTER_S, e.code) ? RETRY_AFTER_S[e.code] : undefined
        if (retryAfter !== undefined) res.setHeader('retry-after', String(Math.max(1, Math.ceil(retryAfter))))
      }
      const extra = {
        ...(typeof details?.path === 'string' ? { path: details.path } : {}),
        ...(e.code === 'ERR_NOT_LEADER' ? { leader: details?.leader ?? null } : {}),
        ...(e.code === 'ERR_CONF_CHANGE_REFUSED' && typeof details?.reason === 'string' ? { reason: details.reason } : {})
      }
      send(res, status, { error: { code: typeof e.code === 'string' ? e.code : 'ERR_INTERNAL', message: status >= 500 && !(e instanceof AgoraError) ? 'internal error' : e.message, ...extra } })
      // A body we did not read keeps the socket busy; drop the rest.
      if (!req.complete) req.resume()
    })
  }
  // Slow senders are cut off: a whole request (headers and body) within requestTimeoutMs, checked often
  // enough to hold that deadline (Node checks every 30 s by default).
  const requestTimeoutMs = o.requestTimeoutMs ?? HTTP_REQUEST_TIMEOUT_MS
  const serverOptions = { connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(requestTimeoutMs / 4))) }
  const server = o.tls !== undefined ? createTlsServer({ ...serverOptions, cert: o.tls.cert, key: o.tls.key }, handler) : createServer(serverOptions, handler)
  server.requestTimeout = requestTimeoutMs
  server.headersTimeout = Math.min(10_000, requestTimeoutMs)
  server.maxHeadersCount = 100
  server.maxConnections = o.connectionsMax ?? HTTP_CONNECTIONS_MAX
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(o.port, o.host, () => { server.off('error', reject); resolve() })
  })
  const addr = server.address() as AddressInfo
  return {
    server,
    address: `${o.host}:${addr.port}`,
    stats,
    close: async () => {
      for (const off of offs) off()
      for (const off of raftOffs) off()
      metrics.close()
      agentsRoute.close()
      checksRoute.close()
      handlers.close()
      coordination.close()
      events.close()
      await new Promise<void>(resolve => { server.close(() => resolve()); server.closeAllConnections() })
    }
  }
}
