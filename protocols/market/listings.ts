/**
 * Listings of the economy for the client path (the dashboard's pages; src/daemon/listing-routes.ts):
 * pages of accounts (balances, stakes, reputation and a summary of the slashing history the ledger keeps
 * per account) and of auctions (state, goods, times, bids, winners), read from the replica's state as
 * {@link Economy} holds it. Pure reads: the clock is never read.
 *
 *   econ:accounts:<limit>:<after>              accounts with ids > after, ascending
 *   econ:auction-page:<limit>:<status>:<before> auctions opened before the one at log index `before`
 *                                              (empty: the newest), newest first; status empty = any
 */
import { boundedPage, parseListingArg, type ListingPage } from '../../src/base/page.js'
import { PPM, scorePpm } from '../ledger/reputation.js'
import type { SlashCondition } from '../ledger/slashing.js'
import type { AccountView, Economy } from './economy.js'
import type { AuctionStatus } from './types.js'

export const AUCTION_STATUSES: readonly AuctionStatus[] = ['open', 'reveal', 'closed', 'settled', 'no-sale', 'failed']
/** Items an auction's summary names at most (the rest are counted in `itemsMore`). */
export const SUMMARY_ITEMS_MAX = 8
/** Winners an auction's summary names at most (the rest are counted in `winnersMore`). */
export const SUMMARY_WINNERS_MAX = 8

/** An account as GET /v1/ledger/accounts/:id shows it, its slashing history summarised. */
export interface AccountSummary extends Omit<AccountView, 'slashCount' | 'history'> {
  slashing: {
    /** Effective slashes (not warnings), all conditions, over the account's life. */
    count: number
    /** Offences per condition, warnings included, over the account's life. */
    offences: Partial<Record<SlashCondition, number>>
    /** Slash records the ledger keeps (the newest, at most its `historyEntriesMax`). */
    kept: number
    /** Amount taken by the kept records. */
    keptAmount: number
    /** The newest record, without its evidence (GET /v1/ledger/accounts/:id has the whole history). */
    last: { index: number, condition: SlashCondition, severity: string, offence: number, graced: boolean, amount: number } | null
  }
}

export interface AuctionSummary {
  id: string
  mechanism: string
  seller: string
  status: AuctionStatus
  items: string[]
  itemsMore: number
  /** Log times (ms) of the open and the close; `revealUntil` for commit-reveal. */
  openedAt: number
  openedIndex: number
  closesAt: number
  revealUntil: number | null
  settledIndex: number | null
  bids: number
  /** `sold` or `no-sale` once closed; null while open. */
  outcome: 'sold' | 'no-sale' | null
  clearingPrice: number | null
  winners: Array<{ agent: string, price: number, quantity: number }>
  winnersMore: number
}

function accountSummary (e: Economy, id: string): AccountSummary | undefined {
  const a = e.ledger.account(id)
  if (a === undefined) return undefined
  const last = a.history[a.history.length - 1]
  let keptAmount = 0
  for (const h of a.history) keptAmount += h.amount
  const offences = Object.create(null) as Partial<Record<SlashCondition, number>>
  for (const [k, n] of Object.entries(a.offences)) offences[k as SlashCondition] = n
  return {
    account: id,
    owner: e.ownerOf(id),
    free: a.free,
    escrow: a.escrow,
    staked: a.staked,
    unbonding: a.unbonding,
    reputation: scorePpm(a.reputation) / PPM,
    biddingPower: e.ledger.biddingPower(id),
    slashing: {
      count: a.slashCount,
      offences,
      kept: a.history.length,
      keptAmount,
      last: last === undefined ? null : { index: last.index, condition: last.condition, severity: last.severity, offence: last.offence, graced: last.graced, amount: last.amount }
    }
  }
}

function auctionSummary (e: Economy, id: string, status: AuctionStatus | undefined): AuctionSummary | undefined {
  const a = e.auction(id)
  if (a === undefined || (status !== undefined && a.status !== status)) return undefined
  const winners = a.outcome?.winners ?? []
  return {
    id,
    mechanism: a.spec.mechanism,
    seller: a.seller,
    status: a.status,
    items: a.spec.items.slice(0, SUMMARY_ITEMS_MAX),
    itemsMore: Math.max(0, a.spec.items.length - SUMMARY_ITEMS_MAX),
    openedAt: a.openedAt,
    openedIndex: a.openedIndex,
    closesAt: a.closesAt,
    revealUntil: a.revealUntil,
    settledIndex: a.settledIndex,
    bids: a.bids.length,
    outcome: a.outcome?.status ?? null,
    clearingPrice: a.outcome?.clearingPrice ?? null,
    winners: winners.slice(0, SUMMARY_WINNERS_MAX).map(w => ({ agent: w.agent, price: w.price, quantity: w.quantity })),
    winnersMore: Math.max(0, winners.length - SUMMARY_WINNERS_MAX)
  }
}

/**
 * Each ledger's account ids, sorted, while its account count is unchanged: accounts are never removed, so
 * the same count is the same set, and a page costs a binary search rather than sorting up to the ledger's
 * accountsMax ids (a replica restored from a snapshot has a new ledger). One entry per live ledger.
 */
const sortedIds = new WeakMap<object, { count: number, ids: string[] }>()

function sortedAccountIds (e: Economy): string[] {
  const count = e.ledger.accountCount
  const c = sortedIds.get(e.ledger)
  if (c !== undefined && c.count === count) return c.ids
  const ids = e.ledger.accountIds()
  sortedIds.set(e.ledger, { count, ids })
  return ids
}

/** A page of accounts with ids greater than `after` (ascending); next = the last id. */
export function accountsPage (e: Economy, limit: number, after: string): ListingPage<AccountSummary> {
  const ids = sortedAccountIds(e)
  let from = 0
  let hi = ids.length
  while (from < hi) { const mid = (from + hi) >>> 1; if (ids[mid]! <= after) from = mid + 1; else hi = mid }
  function * fromCursor (): Generator<string> { for (let i = from; i < ids.length; i++) yield ids[i]! }
  return boundedPage(fromCursor(), limit, id => accountSummary(e, id), id => id)
}

/** A page of auctions opened before log index `before` (newest first); next = the last one's openedIndex. */
export function auctionsPage (e: Economy, limit: number, before: number, status?: AuctionStatus): ListingPage<AuctionSummary> {
  const ids = e.auctionIds()
  function * newestFirst (): Generator<string> {
    for (let i = ids.length - 1; i >= 0; i--) {
      const a = e.auction(ids[i]!)
      if (a !== undefined && a.openedIndex < before) yield ids[i]!
    }
  }
  return boundedPage(newestFirst(), limit, id => auctionSummary(e, id, status), id => String(e.auction(id)!.openedIndex))
}

/** Serves `econ:accounts:…` and `econ:auction-page:…` reads (undefined: not one of them, or malformed). */
export function readEconomyListing (e: Economy, name: string): string | undefined {
  if (name.startsWith('econ:accounts:')) {
    const p = parseListingArg(name.slice('econ:accounts:'.length))
    return p === undefined ? undefined : JSON.stringify(accountsPage(e, p.limit, p.cursor))
  }
  if (name.startsWith('econ:auction-page:')) {
    const p = parseListingArg(name.slice('econ:auction-page:'.length))
    if (p === undefined) return undefined
    const colon = p.cursor.indexOf(':')
    const status = colon < 0 ? '' : p.cursor.slice(0, colon)
    const before = colon < 0 ? '' : p.cursor.slice(colon + 1)
    if ((status !== '' && !AUCTION_STATUSES.includes(status as AuctionStatus)) || (before !== '' && !/^[0-9]{1,16}$/.test(before))) return undefined
    return JSON.stringify(auctionsPage(e, p.limit, before === '' ? Number.MAX_SAFE_INTEGER : Number(before), status === '' ? undefined : status as AuctionStatus))
  }
  return undefined
}
