/**
 * Durable tasks over HTTP, through `peer.tasks` (peers/tasks: recorded in the Raft log, given to one agent,
 * reassigned when its attempt times out or its host is lost, completed at most once). An agent hosted by a
 * daemon takes tasks with an HTTP handler of kind `task` (`PUT /v1/agents/:id/handler { kinds: ['task'] }`,
 * agent-routes.ts): its reply completes the attempt, its error fails it.
 *
 *   POST   /v1/tasks                { agent | capability | query, payload?, allocation?, retries?, timeoutMs?,
 *                                     graceMs?, ackMs?, idempotencyKey?, account?, reward? }
 *                                   → 201 { id, created } (created false: the idempotency key's earlier task)
 *   GET    /v1/tasks?state=&agent=&capability=&limit=   { tasks } (oldest first, at most 1000)
 *   GET    /v1/tasks/:id            { task: { id, state, agent, attempts, result?, error?, record } }
 *   POST   /v1/tasks/:id/cancel     cancel a task this daemon submitted → { task }
 *   GET    /v1/tasks/:id/wait?waitMs=   { task, finished }: answered once the task is completed, failed or
 *                                   cancelled, or after waitMs (default 30000, at most {@link TASK_HTTP_WAIT_MS_MAX})
 *                                   with its state then (finished false)
 *
 * | status | codes |
 * |---|---|
 * | 400 | ERR_BAD_REQUEST, ERR_INVALID_OPTION, ERR_INVALID_COMMAND (the machine refused the command's shape), ERR_LIMIT_EXCEEDED |
 * | 403 | ERR_NOT_OWNER (cancel: the task is another peer's) |
 * | 404 | ERR_TASK_NOT_FOUND (unknown or forgotten) |
 * | 409 | ERR_TASK_STATE (cancel: already finished) |
 * | 422 | ERR_NO_ECONOMY (a reward without an economy), ERR_INSUFFICIENT_FUNDS |
 * | 503 | ERR_NO_RAFT, ERR_STOPPED, ERR_INDEFINITE |
 */
import { z } from 'zod'
import { AgoraError } from '../base/errors.js'
import type { Peer } from '../../peers/peer.js'
import type { TaskSpec } from '../../peers/agents/types.js'
import { TASK_LIMITS } from '../../protocols/tasks/types.js'
import { nonNegInt, parseBody } from './route-util.js'
import type { RouteContext } from './route-util.js'

export const TASK_STATUS: Record<string, number> = {
  ERR_TASK_NOT_FOUND: 404,
  ERR_TASK_STATE: 409,
  ERR_STALE_ATTEMPT: 409,
  ERR_TARGET_MISMATCH: 409,
  ERR_NO_ECONOMY: 422,
  ERR_STOPPED: 503
}

/** Default and longest wait of `GET /v1/tasks/:id/wait`. */
export const TASK_HTTP_WAIT_MS_DEFAULT = 30_000
export const TASK_HTTP_WAIT_MS_MAX = 120_000

const STATES = ['submitted', 'assigned', 'completed', 'failed', 'cancelled'] as const
const short = z.string().min(1).max(TASK_LIMITS.idCharsMax)

export const taskSchemas = {
  submit: z.object({
    agent: short.optional(),
    capability: short.optional(),
    query: z.record(z.string(), z.unknown()).optional(),
    payload: z.unknown().optional(),
    allocation: z.enum(['least-loaded', 'round-robin', 'auction']).optional(),
    retries: z.number().int().min(0).max(TASK_LIMITS.retriesMax).optional(),
    timeoutMs: z.number().int().min(TASK_LIMITS.timeoutMsMin).max(TASK_LIMITS.timeoutMsMax).optional(),
    graceMs: z.number().int().min(0).max(TASK_LIMITS.graceMsMax).optional(),
    ackMs: z.number().int().min(TASK_LIMITS.ackMsMin).max(TASK_LIMITS.ackMsMax).optional(),
    idempotencyKey: z.string().min(1).max(TASK_LIMITS.keyCharsMax).optional(),
    account: z.string().min(1).max(256).optional(),
    reward: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional()
  }).strict().superRefine((b, ctx) => {
    const n = [b.agent, b.capability, b.query].filter(v => v !== undefined).length
    if (n !== 1) ctx.addIssue({ code: 'custom', path: ['agent'], message: 'give exactly one of agent, capability, query' })
    if ((b.account === undefined) !== (b.reward === undefined)) ctx.addIssue({ code: 'custom', path: ['reward'], message: 'account and reward go together' })
  })
}

/** A task id from the path; else a 400 naming it. */
function taskId (v: string | undefined): number {
  const n = v !== undefined && /^[1-9][0-9]{0,15}$/.test(v) ? Number(v) : NaN
  if (!Number.isSafeInteger(n)) throw new AgoraError('ERR_BAD_REQUEST', 'a task id is a positive integer', { path: 'id' })
  return n
}

/** The task routes; `handle` returns false when the request is not one of them. */
export function taskRoutes (peer: Peer): { handle: (c: RouteContext) => Promise<boolean> } {
  const tasks = peer.tasks
  const get = async (id: number): Promise<unknown> => {
    const t = await tasks.get(id)
    if (t === undefined) throw new AgoraError('ERR_TASK_NOT_FOUND', `task ${id} does not exist (or was forgotten)`, { path: 'id' })
    return t
  }

  const handle = async (c: RouteContext): Promise<boolean> => {
    const { method, parts, send, url } = c
    if (parts[1] !== 'tasks') return false
    if (parts.length === 2 && method === 'POST') {
      const b = parseBody(taskSchemas.submit, await c.body(), 'task')
      const spec: Record<string, unknown> = {}
      for (const [k, v] of Object.entries(b)) if (v !== undefined) spec[k] = v
      const r = await tasks.submit(spec as TaskSpec)
      send(r.created ? 201 : 200, { id: r.id, created: r.created })
      return true
    }
    if (parts.length === 2 && method === 'GET') {
      const state = url.searchParams.get('state')
      if (state !== null && !(STATES as readonly string[]).includes(state)) throw new AgoraError('ERR_BAD_REQUEST', `state must be one of ${STATES.join(', ')}`, { path: 'state' })
      const limit = nonNegInt(url.searchParams.get('limit'), 'limit', TASK_LIMITS.listPageMax)
      if (limit === 0) throw new AgoraError('ERR_BAD_REQUEST', `limit must be in 1..${TASK_LIMITS.listPageMax}`, { path: 'limit' })
      const agent = url.searchParams.get('agent')
      const capability = url.searchParams.get('capability')
      send(200, {
        tasks: await tasks.list({
          ...(state !== null ? { state: state as typeof STATES[number] } : {}),
          ...(agent !== null ? { agent } : {}),
          ...(capability !== null ? { capability } : {}),
          ...(limit !== undefined ? { limit } : {})
        })
      })
      return true
    }
    const id = taskId(parts[2])
    if (parts.length === 3 && method === 'GET') { send(200, { task: await get(id) }); return true }
    if (parts.length !== 4) return false
    if (parts[3] === 'cancel' && method === 'POST') {
      await tasks.cancel(id)
      send(200, { task: await get(id) })
      return true
    }
    if (parts[3] === 'wait' && method === 'GET') {
      const waitMs = nonNegInt(url.searchParams.get('waitMs'), 'waitMs', TASK_HTTP_WAIT_MS_MAX) ?? TASK_HTTP_WAIT_MS_DEFAULT
      try {
        send(200, { task: await tasks.wait(id, { timeoutMs: waitMs }), finished: true })
      } catch (err) {
        if ((err as AgoraError).code !== 'ERR_TIMEOUT') throw err
        send(200, { task: await get(id), finished: false })
      }
      return true
    }
    return false
  }
  return { handle }
}
