/**
 * The agents' health checks over the daemon's HTTP API (peers/checks; FEATURES I4). Checks are declared
 * with the registration or later, the agents check in over HTTP, the daemon polls HTTP checks itself.
 *
 *   POST   /v1/agents                        { ...agent, checks: [CheckDefinition] }   register with checks (one write)
 *   PUT    /v1/agents/:id/checks             { checks: [CheckDefinition] }   replace the agent's checks ([]: none)
 *   GET    /v1/agents/:id/checks             { agent, local, checks }   live checks of an agent hosted here
 *                                            (local: true), else the results its entry carries (local: false)
 *   DELETE /v1/agents/:id/checks             { agent, removed }
 *   PUT    /v1/agents/:id/checks/:check/pass|warn|fail   { output? }   a TTL check-in (Consul's
 *                                            /v1/agent/check/pass/:id); POST too → { check: CheckView }
 *   GET    /v1/checks?status=                every check of this daemon's agents (optionally of one status)
 *
 * A CheckDefinition: `{ id, ttlMs }` (TTL) or `{ id, http, method?, intervalMs?, timeoutMs? }` (HTTP), with
 * `initialStatus?`, `successesBeforePassing?`, `failuresBeforeCritical?` (peers/checks/definition.ts). An
 * HTTP check's URL must be loopback (127.0.0.0/8, ::1, localhost) unless the config's `checks.allowHosts`
 * names its host: else `400 ERR_CHECK_URL_NOT_ALLOWED`. Other errors: 400 ERR_INVALID_CHECK (the field in
 * `path`), 400 ERR_LIMIT_EXCEEDED (CHECKS_PER_AGENT_MAX, CHECKS_PER_PEER_MAX), 404 ERR_AGENT_NOT_FOUND,
 * ERR_CHECK_NOT_FOUND, 403 ERR_NOT_OWNER, 409 ERR_CHECK_KIND (a check-in on an HTTP check), 500
 * ERR_CHECKS_STORE.
 *
 * With a data dir the declarations are kept in `<dataDir>/checks.json` (written atomically, fsynced) and
 * declared again when the daemon starts: a check keeps the status its agent's entry carries (so an agent
 * that was unhealthy stays so until its checks pass), TTL checks get a full TTL from the start. A saved
 * declaration whose agent is no longer hosted here, or that the config no longer allows, is dropped with
 * a warning. SSE: `check:passing`, `check:warning`, `check:critical`, `agent:health`.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { z } from 'zod'
import { Counter, Gauge } from 'prom-client'
import type { Registry as MetricsRegistry } from 'prom-client'
import { AgoraError } from '../base/errors.js'
import type { Peer } from '../../peers/peer.js'
import { CHECK_OUTPUT_CHARS_MAX } from '../../crdt/checks.js'
import type { CheckDefinition } from '../../peers/checks/definition.js'
import { writeAtomically } from './agent-handlers.js'
import { parseBody } from './route-util.js'
import type { RouteContext } from './route-util.js'

/** HTTP status of the checks' codes. */
export const CHECK_STATUS: Record<string, number> = {
  ERR_INVALID_CHECK: 400,
  ERR_CHECK_URL_NOT_ALLOWED: 400,
  ERR_CHECK_NOT_FOUND: 404,
  ERR_CHECK_KIND: 409,
  ERR_CHECKS_STORE: 500
}

/** The file, in the data dir, that keeps the declarations across restarts. */
export const CHECKS_FILE = 'checks.json'
const FILE_VERSION = 1
/** Length of a check-in's output in a body (it is cut to CHECK_OUTPUT_CHARS_MAX on the entry). */
const CHECK_IN_OUTPUT_CHARS_MAX = 4 * CHECK_OUTPUT_CHARS_MAX

/** The declarations file could not be written. */
export class ChecksStoreError extends AgoraError {
  static override readonly name = 'ChecksStoreError'
  constructor (file: string, cause: unknown) {
    super('ERR_CHECKS_STORE', `cannot write ${file}: ${(cause as Error).message}`, { file }, { cause })
  }
}

const schemas = {
  declare: z.object({ checks: z.array(z.unknown()) }).strict(),
  checkIn: z.object({ output: z.string().max(CHECK_IN_OUTPUT_CHARS_MAX).optional() }).strict()
}

export interface CheckRoutes {
  handle: (c: RouteContext) => Promise<boolean>
  /** POST /v1/agents with a `checks` list: the agent and its checks in one write. */
  register: (body: Record<string, unknown>) => Promise<unknown>
  /** Resolves once the saved declarations were declared again (tests, shutdown). */
  restored: Promise<void>
  close: () => void
}

export interface CheckRoutesOptions {
  dataDir?: string
  broadcast: (type: string, data: unknown) => void
  warn: (msg: string, fields?: Record<string, unknown>) => void
}

export function checkRoutes (peer: Peer, o: CheckRoutesOptions): CheckRoutes {
  const file = o.dataDir !== undefined ? join(o.dataDir, CHECKS_FILE) : undefined
  const offs: Array<() => void> = []
  for (const ev of ['check:passing', 'check:warning', 'check:critical'] as const) offs.push(peer.checks.on(ev, (e) => { o.broadcast(ev, e) }))
  offs.push(peer.checks.on('agent:health', ({ view, health, previous }) => { o.broadcast('agent:health', { agent: view, health, previous: previous ?? null }) }))

  // ---- the file: one write in flight, the next one writes the declarations as they are then
  /** True until the saved declarations were declared again (and `restored` resolves). */
  let restoring = true
  let chain: Promise<void> = Promise.resolve()
  let queued: Promise<void> | undefined
  let closed = false
  const save = async (): Promise<void> => {
    if (file === undefined || closed) return
    // While the saved declarations are declared again, the file keeps them: this save waits for the
    // restore, then writes every declaration.
    if (restoring) { await restored; return await save() }
    if (queued !== undefined) return await queued
    const run = chain.catch(() => {}).then(async () => {
      queued = undefined
      const text = JSON.stringify({ version: FILE_VERSION, checks: peer.checks.declarations() }, null, 1)
      try { await writeAtomically(file, text) } catch (err) { throw new ChecksStoreError(file, (err as { cause?: unknown }).cause ?? err) }
    })
    queued = run
    chain = run
    await run
  }
  // Declarations that change without a route (an agent unregistered) are saved too; not while the saved
  // ones are declared again (a crash then would lose those not yet declared).
  offs.push(peer.checks.on('checks:declared', () => { if (!restoring) save().catch((err: Error) => { o.warn('cannot save the agents\' checks', { error: err.message }) }) }))

  const restore = async (): Promise<void> => {
    if (file === undefined) return
    let saved: Array<{ agent?: unknown, checks?: unknown }>
    try {
      const v = JSON.parse(readFileSync(file, 'utf8')) as { version?: unknown, checks?: unknown }
      if (v.version !== FILE_VERSION || !Array.isArray(v.checks)) throw new Error(`not a version ${FILE_VERSION} checks file`)
      saved = v.checks as typeof saved
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') o.warn('the saved agents\' checks are unreadable; starting without them', { file, error: (err as Error).message })
      return
    }
    for (const s of saved) {
      try {
        if (s === null || typeof s !== 'object' || typeof s.agent !== 'string' || !Array.isArray(s.checks)) throw new Error('not a declaration')
        await peer.checks.declare(s.agent, s.checks as CheckDefinition[])
      } catch (err) {
        o.warn('saved checks of an agent were dropped', { agent: (s as { agent?: unknown })?.agent, error: (err as Error).message })
      }
    }
    restoring = false
    await save()
  }
  const restored = restore()
    .catch((err: Error) => { o.warn('cannot restore the agents\' checks', { error: err.message }) })
    .finally(() => { restoring = false })

  const checkInRe = /^(pass|warn|fail)$/
  const handle = async (c: RouteContext): Promise<boolean> => {
    const { method, parts, send } = c
    if (parts[1] === 'checks' && parts.length === 2 && method === 'GET') {
      const status = c.url.searchParams.get('status')
      if (status !== null && status !== 'passing' && status !== 'warning' && status !== 'critical') throw new AgoraError('ERR_BAD_REQUEST', 'status must be passing, warning or critical', { path: 'status' })
      send(200, { checks: peer.checks.list(status ?? undefined), stats: peer.checks.stats() })
      return true
    }
    if (parts[1] !== 'agents' || parts[3] !== 'checks') return false
    const agent = parts[2]!
    if (parts.length === 4) {
      if (method === 'PUT') {
        const body = parseBody(schemas.declare, await c.body(), 'checks')
        const view = await peer.checks.declare(agent, body.checks as CheckDefinition[])
        await save()
        send(200, { agent: view, checks: peer.checks.get(agent) ?? [] })
        return true
      }
      if (method === 'GET') {
        const live = peer.checks.get(agent)
        if (live !== undefined) { send(200, { agent, local: true, checks: live }); return true }
        const entry = peer.registry.lookup(agent)
        if (entry === undefined) throw new AgoraError('ERR_AGENT_NOT_FOUND', `no agent ${agent}`, { path: 'id' })
        send(200, { agent, local: false, checks: entry.checks })
        return true
      }
      if (method === 'DELETE') {
        const removed = await peer.checks.remove(agent)
        await save()
        send(200, { agent, removed })
        return true
      }
      return false
    }
    if (parts.length === 6 && (method === 'PUT' || method === 'POST') && checkInRe.test(parts[5]!)) {
      const body = parseBody(schemas.checkIn, await c.body(), 'check-in')
      const result = parts[5] as 'pass' | 'warn' | 'fail'
      send(200, { check: peer.checks[result](agent, parts[4]!, body.output ?? '') })
      return true
    }
    return false
  }

  return {
    handle,
    restored,
    register: async (body) => {
      const { checks, ...agent } = body
      const view = await peer.checks.register(agent as never, checks as CheckDefinition[])
      await save()
      return view
    },
    close: () => {
      closed = true
      for (const off of offs) off()
      offs.length = 0
    }
  }
}

/** The checks' metrics: checks by kind and status (gauge), results by status (counter), polls in flight. */
export function checkMetrics (registry: MetricsRegistry, peer: Peer): void {
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'agora_checks',
    help: 'Health checks of this peer\'s agents by kind and damped status',
    labelNames: ['kind', 'status'],
    registers: [registry],
    collect () {
      this.reset()
      const counts = new Map<string, number>()
      for (const c of peer.checks.list()) counts.set(`${c.kind}\u0000${c.status}`, (counts.get(`${c.kind}\u0000${c.status}`) ?? 0) + 1)
      for (const kind of ['ttl', 'http']) for (const status of ['passing', 'warning', 'critical']) this.set({ kind, status }, counts.get(`${kind}\u0000${status}`) ?? 0)
    }
  })
  // eslint-disable-next-line no-new
  new Counter({
    name: 'agora_check_results_total',
    help: 'Health check results (check-ins, polls, TTL expiries) by status',
    labelNames: ['status'],
    registers: [registry],
    collect () {
      this.reset()
      const r = peer.checks.stats().results
      for (const status of ['passing', 'warning', 'critical'] as const) this.inc({ status }, r[status])
    }
  })
  // eslint-disable-next-line no-new
  new Gauge({ name: 'agora_check_http_in_flight', help: 'HTTP health check polls in flight', registers: [registry], collect () { this.set(peer.checks.stats().httpInFlight) } })
}
