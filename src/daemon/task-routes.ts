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
 *                                   with its state then (finished false); at most {@link TASK_HTTP_WAITS_MAX}
 *                                   wait at once (429 ERR_TOO_MANY_TASK_WAITS, `Retry-After`), and a wait
 *                                   ends within {@link TASK_HTTP_WAIT_ROUND_MS} of its client going away
 *
 * | status | codes |
 * |---|---|
 * | 400 | ERR_BAD_REQUEST, ERR_INVALID_OPTION, ERR_INVALID_COMMAND (the machine refused the command's shape), ERR_LIMIT_EXCEEDED |
 * | 403 | ERR_NOT_OWNER (cancel: the task is another peer's) |
 * | 404 | ERR_TASK_NOT_FOUND (unknown or forgotten) |
 * | 409 | ERR_TASK_STATE (cancel: already finished) |
 * | 422 | ERR_NO_ECONOMY (a reward without an economy), ERR_INSUFFICIENT_FUNDS |
 * | 429 | ERR_TOO_MANY_TASK_WAITS (wait: too many at once; `Retry-After`) |
 * | 503 | ERR_NO_RAFT, ERR_STOPPED, ERR_INDEFINITE |
 */
import { z } from 'zod'
import { AgoraError } from '../base/errors.js'
import type { Peer } from '../../peers/peer.js'
import type { TaskSpec } from '../../peers/agents/types.js'
import { TASK_LIMITS } from '../../protocols/tasks/types.js'
import { clientGone, nonNegInt, parseBody } from './route-util.js'
import type { RouteContext } from './route-util.js'

export const TASK_STATUS: Record<string, number> = {
  ERR_TASK_NOT_FOUND: 404,
  ERR_TASK_STATE: 409,
  ERR_STALE_ATTEMPT: 409,
  ERR_TARGET_MISMATCH: 409,
  ERR_NO_ECONOMY: 422,
  ERR_TOO_MANY_TASK_WAITS: 429,
  ERR_STOPPED: 503
}

/** `Retry-After` (seconds) of the task routes' answers a retry can get past. */
export const TASK_RETRY_AFTER_S: Record<string, number> = { ERR_TOO_MANY_TASK_WAITS: 1 }

/** `GET /v1/tasks/:id/wait` requests waiting at once (each holds a watch of the task). */
export const TASK_HTTP_WAITS_MAX = 64
/** A wait watches the task in rounds of at most this; a client that went away is let go within one round. */
export const TASK_HTTP_WAIT_ROUND_MS = 1000

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
export function taskRoutes (peer: Pick<Peer, 'tasks'>): { handle: (c: RouteContext) => Promise<boolean>, waiting: () => number } {
  const tasks = peer.tasks
  /** Waits holding a watch now (a round still running after its client went away included). */
  let waits = 0
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
      if (waits >= TASK_HTTP_WAITS_MAX) throw new AgoraError('ERR_TOO_MANY_TASK_WAITS', `at most ${TASK_HTTP_WAITS_MAX} task waits at once (TASK_HTTP_WAITS_MAX); wait again later`, { limit: 'TASK_HTTP_WAITS_MAX', retryAfterS: TASK_RETRY_AFTER_S.ERR_TOO_MANY_TASK_WAITS })
      waits++
      let round: Promise<unknown> = Promise.resolve()
      try {
        const r = await waitFor(id, waitMs, clientGone(c.res), (p) => { round = p })
        if (r !== undefined) send(200, r)
      } finally {
        // The slot is free once the last round's watch ended (at most one round after the client left).
        void round.then(() => { waits-- }, () => { waits-- })
      }
      return true
    }
    return false
  }

  /**
   * The task once finished, or its state after `waitMs`: watched in rounds of at most
   * {@link TASK_HTTP_WAIT_ROUND_MS} (peer.tasks.wait takes no signal), so that a client that went away
   * stops the wait within a round; undefined when it went away.
   */
  const waitFor = async (id: number, waitMs: number, gone: AbortSignal, onRound: (p: Promise<unknown>) => void): Promise<{ task: unknown, finished: boolean } | undefined> => {
    const deadline = Date.now() + waitMs
    const left = new Promise<undefined>(resolve => { gone.addEventListener('abort', () => { resolve(undefined) }, { once: true }) })
    for (;;) {
      const ms = Math.min(TASK_HTTP_WAIT_ROUND_MS, Math.max(0, deadline - Date.now()))
      const p = tasks.wait(id, { timeoutMs: ms }).then(task => ({ task, finished: true }), (err: AgoraError) => {
        if (err.code !== 'ERR_TIMEOUT') throw err
        return undefined
      })
      onRound(p.catch(() => {}))
      const r = await Promise.race([p, left])
      if (gone.aborted) return undefined
      if (r !== undefined) return r
      if (Date.now() >= deadline) return { task: await get(id), finished: false }
    }
  }
  return { handle, waiting: () => waits }
}
