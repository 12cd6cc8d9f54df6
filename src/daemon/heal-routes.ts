/**
 * Partition and heal reports over HTTP (FEATURES I5), from `peer.heals()` (peers/health/heals.ts):
 *
 *   GET /v1/health/heals?limit=&since=   { open, heals: [report...] } newest first: at most `limit` (default
 *                                        and max {@link HEAL_LIMITS.reportsMax}), only those with `seq` > `since`
 *
 * `open` says whether a partition episode is open on this peer now (hosts lost, not yet back and caught
 * up). The SSE stream carries each new report as `heal:reported`. A bad `limit` or `since` is 400
 * ERR_BAD_REQUEST naming it.
 */
import type { Peer } from '../../peers/peer.js'
import { HEAL_LIMITS } from '../../peers/health/heal-types.js'
import { AgoraError } from '../base/errors.js'
import { nonNegInt } from './route-util.js'
import type { RouteContext } from './route-util.js'

export function healRoutes (peer: Peer): { handle: (c: RouteContext) => Promise<boolean> } {
  const handle = async (c: RouteContext): Promise<boolean> => {
    const { method, parts, url } = c
    if (parts[1] !== 'health' || parts[2] !== 'heals' || parts.length !== 3 || method !== 'GET') return false
    const limit = nonNegInt(url.searchParams.get('limit'), 'limit', HEAL_LIMITS.reportsMax) ?? HEAL_LIMITS.reportsMax
    if (limit === 0) throw new AgoraError('ERR_BAD_REQUEST', `limit must be in 1..${HEAL_LIMITS.reportsMax}`, { path: 'limit' })
    const since = nonNegInt(url.searchParams.get('since'), 'since', Number.MAX_SAFE_INTEGER) ?? 0
    const heals = peer.heals().filter(r => r.seq > since).slice(0, limit)
    c.send(200, { open: peer.healReports.open, heals })
    return true
  }
  return { handle }
}
