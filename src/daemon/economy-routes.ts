/**
 * The economy's HTTP routes (O2): the ledger, auctions and HTTP bidders over `peer.economy`. Bodies are
 * validated with zod; a bad body is `400 ERR_BAD_REQUEST` naming the field in `error.path`. Economy
 * errors keep their code; their HTTP status is {@link ECONOMY_STATUS}.
 *
 *   GET    /v1/ledger/accounts/:id?linearizable=false   account view (404 ERR_UNKNOWN_ACCOUNT)
 *   POST   /v1/ledger/accounts      { account }                       open an account owned by this daemon
 *   POST   /v1/ledger/mint          { account, amount, owner? }       treasury (authority daemons) only
 *   POST   /v1/ledger/transfer      { from, to, amount }
 *   POST   /v1/ledger/stake         { account, amount }
 *   POST   /v1/ledger/unstake       { account, amount }
 *   POST   /v1/ledger/slash         { account, condition, evidence? } treasury only
 *   POST   /v1/ledger/assign        { account, owner }                treasury only: move an account to another owner peer
 *   GET    /v1/ledger/supply
 *   POST   /v1/auctions             { id?, mechanism, items | item, reserve?, ..., durationMs, seller,
 *                                     bidders?, requestTimeoutMs?, run? }   run=true: the live flow, 200 + report;
 *                                     otherwise open only, 201 { auction, closesAt }
 *   GET    /v1/auctions             { auctions: ids } (latest 1000, oldest first)
 *   GET    /v1/auctions/:id         the auction's state
 *   POST   /v1/auctions/:id/bids    { agent, bid }   bid as an agent whose account this daemon owns
 *   POST   /v1/auctions/:id/close   { by }
 *   POST   /v1/auctions/:id/settle  { by }
 *   POST   /v1/agents/:id/bidder    { callback?, timeoutMs? }   make a hosted agent a bidder (see bidders.ts)
 *   GET    /v1/agents/:id/bidder    DELETE /v1/agents/:id/bidder
 *   GET    /v1/bid-requests?agent=&waitMs=      long-poll pending bid requests
 *   POST   /v1/bid-requests/:requestId { bid }  answer one ({ bid: null } abstains); the reply's `outcome`
 *                                                 says what became of it: bid, declined, or the log's error code
 */
import { randomBytes } from 'node:crypto'
import { z } from 'zod'
import { AgoraError } from '../base/errors.js'
import type { Peer } from '../../peers/peer.js'
import { MECHANISMS } from '../../protocols/market/types.js'
import type { AuctionSpec, BidPayload } from '../../protocols/market/types.js'
import { BIDDER_TIMEOUT_MS_MAX, Bidders } from './bidders.js'
import type { AgentHandlerStore } from './agent-handlers.js'
import { kindRoutes } from './agent-routes.js'
import { parseBody } from './route-util.js'
import type { RouteContext } from './route-util.js'

export { parseBody } from './route-util.js'

/**
 * HTTP status of the economy's error codes (the rest of the API's codes are in http.ts):
 *
 * | status | codes |
 * |---|---|
 * | 400 | ERR_BAD_REQUEST, ERR_INVALID_COMMAND, ERR_INVALID_AUCTION, ERR_INVALID_BID, ERR_INVALID_EVIDENCE, ERR_CALLBACK_NOT_ALLOWED, ERR_RESERVED_NAME |
 * | 403 | ERR_UNAUTHORIZED (the acting account is not owned by this daemon, or it is not an authority), ERR_RESERVED_ACCOUNT |
 * | 404 | ERR_UNKNOWN_ACCOUNT, ERR_UNKNOWN_AUCTION, ERR_UNKNOWN_ESCROW, ERR_UNKNOWN_REQUEST, ERR_NO_BIDDER |
 * | 409 | ERR_DUPLICATE_AUCTION, ERR_DUPLICATE_BID, ERR_DUPLICATE_ESCROW, ERR_AUCTION_CLOSED, ERR_WRONG_PHASE, ERR_TOO_EARLY |
 * | 422 | ERR_INSUFFICIENT_FUNDS, ERR_EXCEEDS_BIDDING_POWER, ERR_BELOW_RESERVE, ERR_SELF_BID |
 * | 503 | ERR_NO_RAFT, ERR_NO_GENESIS, ERR_STALE_INDEX, ERR_INDEFINITE (outcome unknown: read before retrying) |
 *
 * A 401 with ERR_UNAUTHORIZED is a missing or wrong bearer token; a 403 with the same code is the
 * economy refusing the acting account.
 */
export const ECONOMY_STATUS: Record<string, number> = {
  ERR_INVALID_COMMAND: 400,
  ERR_INVALID_AUCTION: 400,
  ERR_INVALID_BID: 400,
  ERR_INVALID_EVIDENCE: 400,
  ERR_CALLBACK_NOT_ALLOWED: 400,
  ERR_BAD_REQUEST: 400,
  ERR_RESERVED_NAME: 400,
  ERR_UNAUTHORIZED: 403,
  ERR_RESERVED_ACCOUNT: 403,
  ERR_UNKNOWN_ACCOUNT: 404,
  ERR_UNKNOWN_AUCTION: 404,
  ERR_UNKNOWN_ESCROW: 404,
  ERR_UNKNOWN_REQUEST: 404,
  ERR_NO_BIDDER: 404,
  ERR_DUPLICATE_AUCTION: 409,
  ERR_DUPLICATE_BID: 409,
  ERR_DUPLICATE_ESCROW: 409,
  ERR_AUCTION_CLOSED: 409,
  ERR_WRONG_PHASE: 409,
  ERR_TOO_EARLY: 409,
  ERR_INSUFFICIENT_FUNDS: 422,
  ERR_EXCEEDS_BIDDING_POWER: 422,
  ERR_BELOW_RESERVE: 422,
  ERR_SELF_BID: 422,
  ERR_NO_GENESIS: 503,
  ERR_STALE_INDEX: 503
}

/** How long answering a long-polled bid request waits to report what became of the bid. */
export const ANSWER_OUTCOME_WAIT_MS = 10_000

const id = z.string().min(1).max(256)
const money = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)
const amount = money
const bidPayload = z.union([
  z.object({ maxPrice: money }).strict(),
  z.object({ amount: money }).strict(),
  z.object({ commitment: z.string().min(1).max(256) }).strict(),
  z.object({ bundles: z.array(z.object({ items: z.array(id).min(1), value: money }).strict()).min(1).max(64) }).strict(),
  z.object({ price: money, quantity: z.number().int().positive() }).strict(),
  z.object({ side: z.enum(['buy', 'sell']), limit: money, quantity: z.number().int().positive() }).strict()
])

export const schemas = {
  open: z.object({ account: id }).strict(),
  mint: z.object({ account: id, amount, owner: id.optional() }).strict(),
  transfer: z.object({ from: id, to: id, amount }).strict(),
  stake: z.object({ account: id, amount }).strict(),
  assign: z.object({ account: id, owner: z.string().min(1).max(256) }).strict(),
  slash: z.object({ account: id, condition: z.enum(['task_failure', 'timeout_violation', 'byzantine_behavior', 'reputation_threshold']), evidence: z.unknown().optional() }).strict(),
  auction: z.object({
    id: z.string().min(1).max(64).regex(/^[A-Za-z0-9._:-]+$/, 'letters, digits and . _ : - only').optional(),
    mechanism: z.enum(MECHANISMS as [string, ...string[]]),
    items: z.array(id).min(1).max(64).optional(),
    item: id.optional(),
    reserve: money.optional(),
    reserves: z.record(z.string(), money).optional(),
    increment: money.optional(),
    startPrice: money.optional(),
    decrement: money.optional(),
    units: z.number().int().positive().optional(),
    sealed: z.enum(['open', 'commit']).optional(),
    deposit: money.optional(),
    durationMs: z.number().int().positive(),
    revealMs: z.number().int().positive().optional(),
    seller: id,
    bidders: z.union([z.array(id).max(10_000), z.record(z.string(), z.unknown())]).optional(),
    requestTimeoutMs: z.number().int().positive().max(BIDDER_TIMEOUT_MS_MAX).optional(),
    run: z.boolean().optional()
  }).strict(),
  bid: z.object({ agent: id, bid: bidPayload }).strict(),
  by: z.object({ by: id }).strict(),
  answer: z.object({ bid: bidPayload.nullable() }).strict()
}

export type EconomyRouteContext = RouteContext

const SPEC_KEYS = ['id', 'mechanism', 'items', 'reserve', 'reserves', 'increment', 'startPrice', 'decrement', 'units', 'sealed', 'deposit', 'durationMs', 'revealMs'] as const

/** The economy routes; `handle` returns false when the request is not one of them. */
export function economyRoutes (peer: Peer, store: AgentHandlerStore): { bidders: Bidders, handle: (c: EconomyRouteContext) => Promise<boolean> } {
  // The agents' `bid` bindings (agent-handlers.ts), kept across restarts with the agents' other handlers.
  const bidders = new Bidders(store)
  const e = peer.economy

  const ledger = async (c: EconomyRouteContext, what: string): Promise<boolean> => {
    const { send } = c
    switch (what) {
      case 'accounts': {
        const b = parseBody(schemas.open, await c.body(), 'open')
        await e.open(b.account)
        send(201, { account: await e.account(b.account) })
        return true
      }
      case 'mint': {
        const b = parseBody(schemas.mint, await c.body(), 'mint')
        await e.mint(b.account, b.amount, b.owner !== undefined ? { owner: b.owner } : {})
        send(200, { account: await e.account(b.account) })
        return true
      }
      case 'transfer': {
        const b = parseBody(schemas.transfer, await c.body(), 'transfer')
        await e.transfer(b.from, b.to, b.amount)
        send(200, { from: await e.account(b.from), to: await e.account(b.to) })
        return true
      }
      case 'stake':
      case 'unstake': {
        const b = parseBody(schemas.stake, await c.body(), what)
        await (what === 'stake' ? e.stake(b.account, b.amount) : e.unstake(b.account, b.amount))
        send(200, { account: await e.account(b.account) })
        return true
      }
      case 'slash': {
        const b = parseBody(schemas.slash, await c.body(), 'slash')
        const result = await e.slash(b.account, b.condition, b.evidence)
        send(200, { result, account: await e.account(b.account) })
        return true
      }
      case 'assign': {
        const b = parseBody(schemas.assign, await c.body(), 'assign')
        await e.assign(b.account, b.owner)
        send(200, { account: await e.account(b.account) })
        return true
      }
    }
    return false
  }

  const auctions = async (c: EconomyRouteContext): Promise<boolean> => {
    const { method, parts, send } = c
    const [, , aid, action] = parts
    if (parts.length === 2 && method === 'GET') { send(200, { auctions: await e.auctions() }); return true }
    if (parts.length === 2 && method === 'POST') {
      const b = parseBody(schemas.auction, await c.body(), 'auction')
      if ((b.items === undefined) === (b.item === undefined)) throw new AgoraError('ERR_BAD_REQUEST', 'auction: give exactly one of items and item', { path: 'items' })
      const spec: Record<string, unknown> = {}
      for (const k of SPEC_KEYS) if (b[k] !== undefined) spec[k] = b[k]
      spec.items = b.items ?? [b.item]
      spec.id ??= `auction-${randomBytes(6).toString('hex')}`
      if (b.run === true) {
        // A bad bidder query must fail before the auction is opened.
        if (b.bidders !== undefined && !Array.isArray(b.bidders)) peer.registry.query({ ...b.bidders, limit: 1 } as never)
        const report = await e.runAuction(spec as unknown as AuctionSpec, {
          seller: b.seller,
          ...(b.bidders !== undefined ? { bidders: b.bidders as never } : {}),
          ...(b.requestTimeoutMs !== undefined ? { requestTimeoutMs: b.requestTimeoutMs } : {})
        })
        send(200, report)
      } else {
        const { closesAt } = await e.openAuction(spec as unknown as AuctionSpec, b.seller)
        send(201, { auction: spec.id, closesAt })
      }
      return true
    }
    if (aid === undefined) return false
    if (parts.length === 3 && method === 'GET') {
      const state = await e.auction(aid)
      if (state === undefined) throw new AgoraError('ERR_UNKNOWN_AUCTION', `no auction ${aid}`, { path: 'id' })
      send(200, { auction: state })
      return true
    }
    if (parts.length !== 4 || method !== 'POST') return false
    if (action === 'bids') {
      const b = parseBody(schemas.bid, await c.body(), 'bid')
      send(201, { auction: aid, agent: b.agent, ...(await e.bid(aid, b.agent, b.bid as BidPayload)) })
      return true
    }
    if (action === 'close' || action === 'settle') {
      const b = parseBody(schemas.by, await c.body(), action)
      const result = action === 'close' ? await e.closeAuction(aid, b.by) : await e.settle(aid, b.by)
      send(200, { result, auction: await e.auction(aid) })
      return true
    }
    return false
  }

  const handle = async (c: EconomyRouteContext): Promise<boolean> => {
    const { method, parts, send, url } = c
    const area = parts[1]
    if (area === 'ledger') {
      if (parts[2] === 'supply' && parts.length === 3 && method === 'GET') { send(200, { supply: await e.supply() ?? null }); return true }
      if (parts[2] === 'accounts' && parts.length === 4 && method === 'GET') {
        const accountId = parts[3]!
        const view = url.searchParams.get('linearizable') === 'false' && e.replica !== undefined ? e.replica.account(accountId) : await e.account(accountId)
        if (view === undefined) throw new AgoraError('ERR_UNKNOWN_ACCOUNT', `no account ${accountId}`, { path: 'id' })
        send(200, { account: view })
        return true
      }
      if (parts.length === 3 && method === 'POST') return await ledger(c, parts[2]!)
      return false
    }
    if (area === 'auctions') return await auctions(c)
    if (await kindRoutes(c, bidders)) return true
    if (area === 'bid-requests') {
      if (parts.length === 3 && method === 'POST') {
        const b = parseBody(schemas.answer, await c.body(), 'answer')
        // Answer, then report what became of the bid (committed, refused by the log with its code...).
        let waiting: Promise<{ outcome: string } | undefined> = Promise.resolve(undefined)
        const r = bidders.answer(parts[2]!, b.bid as BidPayload | null, (auction, agent) => {
          waiting = e.once('auction:answered', (x) => x.auction === auction && x.agent === agent, ANSWER_OUTCOME_WAIT_MS).catch(() => undefined)
        })
        const done = await waiting
        send(200, { ...r, accepted: true, outcome: done?.outcome ?? 'pending' })
        return true
      }
    }
    return false
  }

  return { bidders, handle }
}
