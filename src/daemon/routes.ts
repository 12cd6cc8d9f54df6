/**
 * The HTTP API's route templates: what metrics label a request with (`/v1/agents/:id`, never the raw
 * path, so label values stay few whatever clients send). A path no template fits is `(unmatched)`.
 */

/** Every route of the API (http.ts and the *-routes.ts files beside it), `:name` for a path parameter. */
export const ROUTE_TEMPLATES: readonly string[] = [
  '/health', '/ready', '/metrics',
  '/v1/status', '/v1/openapi.json', '/v1/events', '/v1/members',
  '/v1/agents', '/v1/agents/query', '/v1/agents/:id', '/v1/agents/:id/bidder',
  '/v1/variables/eventual', '/v1/variables/eventual/:name',
  '/v1/variables/strong', '/v1/variables/strong/:name', '/v1/variables/strong/:name/cas',
  '/v1/ledger/supply', '/v1/ledger/accounts', '/v1/ledger/accounts/:id', '/v1/ledger/:command',
  '/v1/auctions', '/v1/auctions/:id', '/v1/auctions/:id/:action',
  '/v1/bid-requests', '/v1/bid-requests/:requestId',
  '/v1/raft', '/v1/raft/learners', '/v1/raft/promote', '/v1/raft/members/:peerId', '/v1/raft/replace', '/v1/raft/transfer',
  '/v1/coordination/leases', '/v1/coordination/leases/:id', '/v1/coordination/leases/:id/keepalive',
  '/v1/coordination/locks', '/v1/coordination/locks/:name',
  '/v1/coordination/elections/:name/campaign', '/v1/coordination/elections/:name/leader',
  '/v1/coordination/elections/:name/proclaim', '/v1/coordination/elections/:name/resign',
  '/v1/coordination/barriers/:name', '/v1/coordination/barriers/:name/arrive',
  '/v1/coordination/votes', '/v1/coordination/votes/:id',
  '/v1/agents/:id/voter', '/v1/vote-requests', '/v1/vote-requests/:requestId',
  '/v1/agents/:id/handler', '/v1/agents/:id/inbox', '/v1/agents/:id/inbox/:callId', '/v1/agents/:id/inbox/:callId/progress',
  '/v1/agents/:id/request', '/v1/agents/:id/message', '/v1/request',
  '/v1/groups/:topic/publish', '/v1/groups/:topic/subscription', '/v1/groups/:topic/messages',
  '/v1/tasks', '/v1/tasks/:id', '/v1/tasks/:id/cancel', '/v1/tasks/:id/wait',
  '/v1/health/mesh',
  '/v1/agents/:id/checks', '/v1/agents/:id/checks/:check/:result', '/v1/checks',
  '/v1/budgets', '/v1/budgets/:name', '/v1/budgets/:name/join', '/v1/budgets/:name/leave', '/v1/budgets/:name/take',
  '/v1/health/heals',
  '/v1/coordination/elections', '/v1/coordination/barriers', '/v1/topology',
  '/ui', '/ui/:file'
]

export const UNMATCHED_ROUTE = '(unmatched)'

const SPLIT = ROUTE_TEMPLATES.map(t => t.split('/').filter(s => s.length > 0))

/** The template of a path: the one with the most literal segments among those that fit. */
export function routeTemplate (pathname: string): string {
  const parts = pathname.split('/').filter(s => s.length > 0)
  let best: string | undefined
  let bestScore = -1
  SPLIT.forEach((segs, i) => {
    if (segs.length !== parts.length) return
    let score = 0
    for (let k = 0; k < segs.length; k++) {
      const s = segs[k]!
      if (s.startsWith(':')) continue
      if (s !== parts[k]) return
      score++
    }
    if (score > bestScore) { best = ROUTE_TEMPLATES[i]; bestScore = score }
  })
  return best ?? UNMATCHED_ROUTE
}
