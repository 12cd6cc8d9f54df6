/**
 * Listings for the dashboard (issue 16) and other clients, each one request per page rather than one per
 * object:
 *
 *   GET /v1/ledger/accounts?limit=&cursor=&linearizable=     accounts in id order: balances, stakes,
 *        reputation and a summary of the slashing history the ledger keeps per account
 *        → { accounts: [...], next }   (next: the cursor of the next page, null at the end)
 *   GET /v1/auctions?detail=1&limit=&cursor=&status=&linearizable=   auction summaries, newest first:
 *        state, goods, times, bid count, winners → { auctions: [...], next }. Without `detail` the
 *        answer is as before: { auctions: ids } (latest 1000, oldest first; economy-routes.ts).
 *   GET /v1/coordination/elections?limit=&cursor=&linearizable=   elections held or campaigned for, in
 *        name order: leader (owner, token = the election's term, value) and candidates → { elections, next }
 *   GET /v1/coordination/barriers?limit=&cursor=&linearizable=    barriers remembered, in name order:
 *        parties, arrived, generation, how the last generation ended → { barriers, next }
 *   GET /v1/coordination/votes?limit=&cursor=&linearizable=       votes remembered (open and decided),
 *        newest first: options, rule, ballots, tally, decision → { votes, next }
 *   GET /v1/topology        which peers reach which (topology.ts)
 *
 * `limit` is 1..{@link LISTING_PAGE_MAX} (default {@link LISTING_PAGE_DEFAULT}); a page also stops at
 * {@link LISTING_PAGE_BYTES_MAX} bytes, so follow `next` until it is null rather than counting entries.
 * Pages are linearizable reads through the Raft group; `linearizable=false` on a Raft member reads its
 * own replica (cheaper, possibly stale). A bad parameter is 400 ERR_BAD_REQUEST naming it in
 * `error.path`; without Raft, 503 ERR_NO_RAFT.
 */
import type { Peer } from '../../peers/peer.js'
import { LISTING_PAGE_DEFAULT, LISTING_PAGE_MAX, LISTING_PAGE_BYTES_MAX } from '../base/page.js'
import type { ListingPage } from '../base/page.js'
import { AgoraError } from '../base/errors.js'
import { AUCTION_STATUSES, accountsPage, auctionsPage } from '../../protocols/market/listings.js'
import { barriersPage, electionsPage, votesPage } from '../../protocols/coordination/listings.js'
import { COORD_NAME_RE } from '../../protocols/coordination/types.js'
import type { AuctionStatus } from '../../protocols/market/types.js'
import { topology } from './topology.js'
import type { RouteContext } from './route-util.js'

export { LISTING_PAGE_BYTES_MAX, LISTING_PAGE_DEFAULT, LISTING_PAGE_MAX }

/** Longest account id (as the economy's routes accept). */
const ACCOUNT_CHARS_MAX = 256
const INDEX_RE = /^[0-9]{1,16}$/

const bad = (path: string, message: string): AgoraError => new AgoraError('ERR_BAD_REQUEST', `${path} ${message}`, { path })

function limitOf (url: URL): number {
  const v = url.searchParams.get('limit')
  if (v === null) return LISTING_PAGE_DEFAULT
  const n = /^[0-9]{1,9}$/.test(v) ? Number(v) : NaN
  if (!(n >= 1 && n <= LISTING_PAGE_MAX)) throw bad('limit', `must be an integer in 1..${LISTING_PAGE_MAX}`)
  return n
}

/** The cursor (empty when absent), checked by `ok`. */
function cursorOf (url: URL, ok: (v: string) => boolean, what: string): string {
  const v = url.searchParams.get('cursor')
  if (v === null) return ''
  if (!ok(v)) throw bad('cursor', `must be ${what} (the \`next\` of the previous page)`)
  return v
}

function flag (url: URL, name: string, absent: boolean): boolean {
  const v = url.searchParams.get(name)
  if (v === null) return absent
  if (v === '1' || v === 'true') return true
  if (v === '0' || v === 'false') return false
  throw bad(name, 'must be true, false, 1 or 0')
}

export function listingRoutes (peer: Peer): { handle: (c: RouteContext) => Promise<boolean> } {
  /** The local replica's state when asked not to read linearizably and this peer is a Raft member. */
  const local = (url: URL): NonNullable<NonNullable<Peer['raft']>['app']> | undefined => flag(url, 'linearizable', true) ? undefined : peer.raft?.app

  const page = <T>(c: RouteContext, key: string, p: ListingPage<T>): true => {
    c.send(200, { [key]: p.entries, next: p.next })
    return true
  }

  const coordination = async (c: RouteContext, what: 'elections' | 'barriers' | 'votes'): Promise<boolean> => {
    const limit = limitOf(c.url)
    const cursor = what === 'votes' ? cursorOf(c.url, v => INDEX_RE.test(v), 'a vote id') : cursorOf(c.url, v => COORD_NAME_RE.test(v), 'a name')
    const app = local(c.url)
    if (app === undefined) return page(c, what, await peer.coordination.listing(what, limit, cursor))
    const m = app.coordination
    switch (what) {
      case 'elections': return page(c, what, electionsPage(m, limit, cursor))
      case 'barriers': return page(c, what, barriersPage(m, limit, cursor))
      case 'votes': return page(c, what, votesPage(m, limit, cursor === '' ? Number.MAX_SAFE_INTEGER : Number(cursor)))
    }
  }

  const handle = async (c: RouteContext): Promise<boolean> => {
    const { method, parts, url } = c
    if (method !== 'GET') return false
    if (parts.length === 2 && parts[1] === 'topology') { c.send(200, topology(peer)); return true }
    if (parts.length === 3 && parts[1] === 'ledger' && parts[2] === 'accounts') {
      const limit = limitOf(url)
      const cursor = cursorOf(url, v => v.length <= ACCOUNT_CHARS_MAX, `an account id (at most ${ACCOUNT_CHARS_MAX} characters)`)
      const e = local(url)?.economy
      return page(c, 'accounts', e !== undefined ? accountsPage(e, limit, cursor) : await peer.economy.accountsPage(limit, cursor))
    }
    if (parts.length === 2 && parts[1] === 'auctions') {
      if (!flag(url, 'detail', false)) return false
      const limit = limitOf(url)
      const cursor = cursorOf(url, v => INDEX_RE.test(v), 'a log index')
      const s = url.searchParams.get('status')
      if (s !== null && !AUCTION_STATUSES.includes(s as AuctionStatus)) throw bad('status', `must be one of ${AUCTION_STATUSES.join(', ')}`)
      const status = s === null ? undefined : s as AuctionStatus
      const e = local(url)?.economy
      return page(c, 'auctions', e !== undefined
        ? auctionsPage(e, limit, cursor === '' ? Number.MAX_SAFE_INTEGER : Number(cursor), status)
        : await peer.economy.auctionsPage(limit, { ...(status !== undefined ? { status } : {}), before: cursor }))
    }
    if (parts.length === 3 && parts[1] === 'coordination' && (parts[2] === 'elections' || parts[2] === 'barriers' || parts[2] === 'votes')) return await coordination(c, parts[2])
    return false
  }
  return { handle }
}
