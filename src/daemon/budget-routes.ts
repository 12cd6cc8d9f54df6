/**
 * Mesh-wide budgets over HTTP, through `peer.budgets` (peers/budget: a budget in the Raft log split among
 * the hosts that joined it by capacity; this daemon's share enforced here, with no Raft round per take).
 *
 *   GET    /v1/budgets                   { budgets: [names] (linearizable), joined: [status of each budget joined here] }
 *   GET    /v1/budgets/:name             { budget: { ...every host's share } (linearizable), status: this daemon's share or null }
 *   PUT    /v1/budgets/:name             { ratePerSecond, burst } → 201 { budget, created: true } (this daemon owns it),
 *                                         200 { budget, created: false, changed } (the owner or an economy authority changes it;
 *                                         the same values from anyone change nothing)
 *   DELETE /v1/budgets/:name             → { deleted: true } (the owner or an economy authority)
 *   POST   /v1/budgets/:name/join        { capacity } → { status } (this daemon's share, tied to its session lease)
 *   POST   /v1/budgets/:name/leave       → { left: true }
 *   POST   /v1/budgets/:name/take        { n? } → { ok: true, available } or 429 ERR_BUDGET_EXHAUSTED with `Retry-After`
 *                                         (seconds) and `error.retryAfterMs`
 *
 * | status | codes |
 * |---|---|
 * | 400 | ERR_BAD_REQUEST, ERR_INVALID_OPTION, ERR_INVALID_COMMAND, ERR_LIMIT_EXCEEDED |
 * | 403 | ERR_NOT_OWNER (another peer's budget) |
 * | 404 | ERR_BUDGET_NOT_FOUND, ERR_LEASE_NOT_FOUND (join: the session lease ended meanwhile; retry) |
 * | 409 | ERR_BUDGET_NOT_JOINED (take before join) |
 * | 429 | ERR_BUDGET_EXHAUSTED (`Retry-After`) |
 * | 503 | ERR_NO_RAFT, ERR_NOT_STARTED, ERR_INDEFINITE |
 */
import { z } from 'zod'
import { AgoraError } from '../base/errors.js'
import type { Peer } from '../../peers/peer.js'
import { BUDGET_LIMITS, BUDGET_NAME_RE } from '../../protocols/infrastructure/budget-types.js'
import { TAKE_MAX } from '../../peers/budget/service.js'
import { parseBody } from './route-util.js'
import type { RouteContext } from './route-util.js'

export const BUDGET_STATUS: Record<string, number> = {
  ERR_BUDGET_NOT_FOUND: 404,
  ERR_BUDGET_NOT_JOINED: 409,
  ERR_BUDGET_EXHAUSTED: 429
}

export const budgetSchemas = {
  define: z.object({
    ratePerSecond: z.number().min(0).max(BUDGET_LIMITS.ratePerSecondMax),
    burst: z.number().int().min(1).max(BUDGET_LIMITS.burstMax)
  }).strict(),
  join: z.object({ capacity: z.number().int().min(1).max(BUDGET_LIMITS.capacityMax) }).strict(),
  take: z.object({ n: z.number().int().min(1).max(TAKE_MAX).optional() }).strict()
}

function budgetName (v: string | undefined): string {
  if (v === undefined || !BUDGET_NAME_RE.test(v)) throw new AgoraError('ERR_BAD_REQUEST', `a budget name is 1..${BUDGET_LIMITS.nameCharsMax} characters of [A-Za-z0-9._:-]`, { path: 'name' })
  return v
}

/** The budget routes; `handle` returns false when the request is not one of them. */
export function budgetRoutes (peer: Pick<Peer, 'budgets'>): { handle: (c: RouteContext) => Promise<boolean> } {
  const budgets = peer.budgets
  const handle = async (c: RouteContext): Promise<boolean> => {
    const { method, parts, send } = c
    if (parts[1] !== 'budgets') return false
    if (parts.length === 2 && method === 'GET') {
      send(200, { budgets: await budgets.list(), joined: budgets.statuses() })
      return true
    }
    if (parts.length < 3 || parts.length > 4) return false
    const name = budgetName(parts[2])
    if (parts.length === 3) {
      if (method === 'GET') {
        const budget = await budgets.get(name)
        if (budget === undefined) throw new AgoraError('ERR_BUDGET_NOT_FOUND', `budget ${name} does not exist`, { path: 'name' })
        send(200, { budget, status: budgets.status(name) ?? null })
        return true
      }
      if (method === 'PUT') {
        const b = parseBody(budgetSchemas.define, await c.body(), 'budget')
        const { created, changed, ...budget } = await budgets.define(name, b)
        send(created ? 201 : 200, { budget, created, changed })
        return true
      }
      if (method === 'DELETE') {
        await budgets.delete(name)
        send(200, { deleted: true })
        return true
      }
      return false
    }
    if (method !== 'POST') return false
    switch (parts[3]) {
      case 'join': {
        const b = parseBody(budgetSchemas.join, await c.body(), 'join')
        send(200, { status: await budgets.join(name, b) })
        return true
      }
      case 'leave':
        await budgets.leave(name)
        send(200, { left: true })
        return true
      case 'take': {
        const b = parseBody(budgetSchemas.take, await c.body(), 'take')
        // Refused with BudgetExhaustedError: 429, `Retry-After` from its details.retryAfterS.
        budgets.take(name, b.n ?? 1)
        send(200, { ok: true, available: budgets.status(name)?.available ?? 0 })
        return true
      }
      default:
        return false
    }
  }
  return { handle }
}

const json = (schema: Record<string, unknown>): Record<string, unknown> => ({ content: { 'application/json': { schema } } })
const errors = { description: 'error: 400 bad body, 403 ERR_NOT_OWNER, 404 ERR_BUDGET_NOT_FOUND, 404 ERR_LEASE_NOT_FOUND (retry), 409 ERR_BUDGET_NOT_JOINED, 429 ERR_BUDGET_EXHAUSTED (Retry-After), 503 ERR_NO_RAFT / ERR_INDEFINITE', ...json({ $ref: '#/components/schemas/Error' }) }
const param = { name: 'name', in: 'path', required: true, schema: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,128}$' } }
const share = { type: 'object', properties: { ratePerSecond: { type: 'number' }, burst: { type: 'number' } } }
const status = { type: 'object', description: 'this daemon\'s share: state joining / active / rejoining (lease lost: no share until joined again) / deleted', properties: { name: { type: 'string' }, capacity: { type: 'integer' }, state: { enum: ['joining', 'active', 'rejoining', 'deleted'] }, lease: { type: 'integer' }, share, available: { type: 'number' }, budget: { type: 'object' }, admitted: { type: 'integer' }, refused: { type: 'integer' } } }
const view = { type: 'object', properties: { name: { type: 'string' }, ratePerSecond: { type: 'number' }, burst: { type: 'integer' }, owner: { type: 'string' }, rev: { type: 'integer' }, capacity: { type: 'integer' }, hosts: { type: 'array', items: { type: 'object', properties: { host: { type: 'string' }, capacity: { type: 'integer' }, lease: { type: 'integer' }, ratePerSecond: { type: 'number' }, burst: { type: 'number' } } } } } }
const done = (description: string, schema: Record<string, unknown>): Record<string, unknown> => ({ 200: { description, ...json(schema) }, default: errors })

/** The budget routes in the daemon's OpenAPI document (spread into its `paths`). */
export const BUDGET_OPENAPI_PATHS = {
  '/v1/budgets': { get: { summary: 'budget names (linearizable) and this daemon\'s shares', responses: done('budgets', { type: 'object', properties: { budgets: { type: 'array', items: { type: 'string' } }, joined: { type: 'array', items: status } } }) } },
  '/v1/budgets/{name}': {
    get: { parameters: [param], summary: 'a budget with every host\'s share (linearizable), and this daemon\'s', responses: done('budget', { type: 'object', properties: { budget: view, status: { oneOf: [status, { type: 'null' }] } } }) },
    put: { parameters: [param], summary: 'define a mesh-wide budget (201, this daemon owns it) or change it (its owner or an economy authority); the same values from anyone change nothing', requestBody: json({ type: 'object', required: ['ratePerSecond', 'burst'], additionalProperties: false, properties: { ratePerSecond: { type: 'number', minimum: 0 }, burst: { type: 'integer', minimum: 1 } } }), responses: { 201: { description: 'created', ...json({ type: 'object', properties: { budget: view, created: { type: 'boolean' }, changed: { type: 'boolean' } } }) }, ...done('changed or unchanged', { type: 'object' }) } },
    delete: { parameters: [param], summary: 'delete a budget (its owner or an economy authority): every share ends', responses: done('deleted', { type: 'object', properties: { deleted: { type: 'boolean' } } }) }
  },
  '/v1/budgets/{name}/join': { post: { parameters: [param], summary: 'take a share in proportion to capacity, tied to this daemon\'s session lease (its loss drops the share; it joins again by itself)', requestBody: json({ type: 'object', required: ['capacity'], additionalProperties: false, properties: { capacity: { type: 'integer', minimum: 1, maximum: BUDGET_LIMITS.capacityMax } } }), responses: done('joined', { type: 'object', properties: { status } }) } },
  '/v1/budgets/{name}/leave': { post: { parameters: [param], summary: 'give this daemon\'s share back (the others\' grow once the log says so)', responses: done('left', { type: 'object', properties: { left: { type: 'boolean' } } }) } },
  '/v1/budgets/{name}/take': { post: { parameters: [param], summary: 'take n tokens (default 1) from this daemon\'s share, locally (no Raft round); 429 ERR_BUDGET_EXHAUSTED with Retry-After when the share holds too few', requestBody: json({ type: 'object', additionalProperties: false, properties: { n: { type: 'integer', minimum: 1 } } }), responses: done('taken', { type: 'object', properties: { ok: { type: 'boolean' }, available: { type: 'number' } } }) } }
}
