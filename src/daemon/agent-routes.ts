/**
 * The routes of agents answering requests over HTTP (agent-requests.ts), the same for every kind:
 *
 *   POST|PUT /v1/agents/:id/<role>  { callback?, timeoutMs? }   give a hosted agent a handler (callback or long-poll)
 *   GET      /v1/agents/:id/<role>                              its handler (404 `missingCode` when none)
 *   DELETE   /v1/agents/:id/<role>                              remove it
 *   GET      /v1/<requestsPath>?agent=&waitMs=                  long-poll the agent's pending requests
 *
 * with `<role>` `bidder` or `voter` and `<requestsPath>` `bid-requests` or `vote-requests`. Answering a
 * request (`POST /v1/<requestsPath>/:requestId`) differs by kind and stays with its routes.
 */
import { z } from 'zod'
import { AgoraError } from '../base/errors.js'
import type { AgentRequests } from './agent-requests.js'
import { clientGone, nonNegInt, parseBody } from './route-util.js'
import type { RouteContext } from './route-util.js'

/** Handles the request when it is one of these routes of `requests`; false otherwise. */
export async function agentRequestRoutes<Req extends object, Ans> (c: RouteContext, requests: AgentRequests<Req, Ans>): Promise<boolean> {
  const { method, parts, send, url } = c
  const k = requests.kind
  if (parts[1] === 'agents' && parts.length === 4 && parts[3] === k.role) {
    const agent = parts[2]!
    if (method === 'POST' || method === 'PUT') {
      const spec = z.object({ callback: z.string().min(1).max(2048).optional(), timeoutMs: z.number().int().positive().max(k.timeoutMsMax).optional() }).strict()
      send(200, { [k.role]: requests.set(agent, parseBody(spec, await c.body(), k.role)) })
      return true
    }
    if (method === 'GET') { send(200, { [k.role]: requests.info(agent) }); return true }
    if (method === 'DELETE') {
      requests.info(agent)
      requests.remove(agent)
      send(200, { removed: agent })
      return true
    }
    return false
  }
  if (parts[1] === k.requestsPath && parts.length === 2 && method === 'GET') {
    const agent = url.searchParams.get('agent')
    if (agent === null || agent.length === 0) throw new AgoraError('ERR_BAD_REQUEST', 'agent is required', { path: 'agent' })
    const waitMs = nonNegInt(url.searchParams.get('waitMs'), 'waitMs', k.pollWaitMsMax) ?? 0
    send(200, { requests: await requests.poll(agent, waitMs, clientGone(c.res)) })
    return true
  }
  return false
}
