/**
 * `GET /v1/tasks/:id/wait` (src/daemon/task-routes.ts) against a stand-in peer: at most
 * TASK_HTTP_WAITS_MAX waits at once (429 ERR_TOO_MANY_TASK_WAITS with a Retry-After), and a wait whose
 * client went away stops watching the task within a round.
 */
import { EventEmitter } from 'node:events'
import { describe, expect, it } from 'vitest'
import { TASK_HTTP_WAITS_MAX, TASK_HTTP_WAIT_ROUND_MS, TASK_RETRY_AFTER_S, taskRoutes } from '../../src/daemon/task-routes.js'
import type { RouteContext } from '../../src/daemon/route-util.js'

/** A task that never finishes; counts the watches open now. */
function stand (): { peer: any, open: () => number } {
  let open = 0
  const task = { id: 1, state: 'assigned', agent: 'w', attempts: 1, record: {} }
  const peer = {
    tasks: {
      get: async (id: number) => id === 1 ? task : undefined,
      wait: async (_id: number, o: { timeoutMs: number }) => {
        open++
        await new Promise(resolve => setTimeout(resolve, o.timeoutMs))
        open--
        throw Object.assign(new Error('timeout'), { code: 'ERR_TIMEOUT' })
      }
    }
  }
  return { peer, open: () => open }
}

function request (path: string): { c: RouteContext, res: EventEmitter & { writableFinished: boolean }, answer: Promise<{ status: number, body: any }> } {
  const res = Object.assign(new EventEmitter(), { writableFinished: false })
  let done!: (v: { status: number, body: any }) => void
  const answer = new Promise<{ status: number, body: any }>(resolve => { done = resolve })
  const url = new URL(`http://x${path}`)
  const c = {
    method: 'GET',
    parts: url.pathname.split('/').filter(Boolean),
    url,
    req: {} as never,
    res: res as never,
    body: async () => undefined,
    send: (status: number, body: unknown) => { res.writableFinished = true; done({ status, body }) }
  }
  return { c, res, answer }
}

describe('task waits over HTTP', () => {
  it('are bounded (TASK_HTTP_WAITS_MAX, 429 with a retry hint) and end within a round when their client goes away', async () => {
    const { peer, open } = stand()
    const routes = taskRoutes(peer)
    const waiting = Array.from({ length: TASK_HTTP_WAITS_MAX }, () => request('/v1/tasks/1/wait?waitMs=60000'))
    const handled = waiting.map(async w => await routes.handle(w.c))
    await new Promise(resolve => setTimeout(resolve, 20))
    expect(routes.waiting()).toBe(TASK_HTTP_WAITS_MAX)
    const over = request('/v1/tasks/1/wait?waitMs=60000')
    await expect(routes.handle(over.c)).rejects.toMatchObject({ code: 'ERR_TOO_MANY_TASK_WAITS', details: { limit: 'TASK_HTTP_WAITS_MAX', retryAfterS: TASK_RETRY_AFTER_S.ERR_TOO_MANY_TASK_WAITS } })
    // Every client goes away: the routes return at once, the watches end within a round, the slots free.
    const t0 = Date.now()
    for (const w of waiting) w.res.emit('close')
    expect(await Promise.all(handled)).toEqual(Array(TASK_HTTP_WAITS_MAX).fill(true))
    await new Promise(resolve => setTimeout(resolve, TASK_HTTP_WAIT_ROUND_MS + 100))
    expect(open()).toBe(0)
    expect(routes.waiting()).toBe(0)
    expect(Date.now() - t0).toBeLessThan(TASK_HTTP_WAIT_ROUND_MS * 3)
    // A wait that runs out answers the task as it is then.
    const short = request('/v1/tasks/1/wait?waitMs=50')
    await routes.handle(short.c)
    expect(await short.answer).toEqual({ status: 200, body: { task: expect.objectContaining({ id: 1, state: 'assigned' }), finished: false } })
  })
})
