/**
 * The listings (listing-routes.ts) and `GET /v1/topology` (topology.ts) in the daemon's OpenAPI
 * document: {@link LISTING_GETS} are the `get` operations of paths openapi.ts also lists with other
 * methods, {@link LISTING_OPENAPI_PATHS} the paths of their own (spread into its `paths`).
 */
import { LISTING_PAGE_DEFAULT, LISTING_PAGE_MAX } from '../base/page.js'

const json = (schema: Record<string, unknown>): Record<string, unknown> => ({ content: { 'application/json': { schema } } })
const str = { type: 'string' }
const int = { type: 'integer', minimum: 0 }
const nullable = (schema: Record<string, unknown>): Record<string, unknown> => ({ oneOf: [schema, { type: 'null' }] })
const errors = { description: 'error: 400 ERR_BAD_REQUEST (a bad limit, cursor, status, detail or linearizable; error.path names it), 503 ERR_NO_RAFT / ERR_INDEFINITE', ...json({ $ref: '#/components/schemas/Error' }) }
const q = (name: string, schema: Record<string, unknown>, description: string): Record<string, unknown> => ({ name, in: 'query', schema, description })
const pageParams = (cursor: string): unknown[] => [
  q('limit', { type: 'integer', minimum: 1, maximum: LISTING_PAGE_MAX, default: LISTING_PAGE_DEFAULT }, 'entries at most (a page also ends at 256 KiB: follow `next` until null)'),
  q('cursor', str, `the \`next\` of the previous page (${cursor})`),
  q('linearizable', { type: 'boolean', default: true }, 'false: a Raft member answers from its own replica (possibly stale)')
]
const page = (key: string, item: Record<string, unknown>, description: string): Record<string, unknown> => ({
  200: { description, ...json({ type: 'object', required: [key, 'next'], properties: { [key]: { type: 'array', items: item }, next: { type: ['string', 'null'], description: 'the cursor of the next page; null: the listing ended' } } }) },
  default: errors
})

const accountSummary = {
  type: 'object',
  properties: {
    account: str, owner: { type: ['string', 'null'] }, free: int, escrow: int, staked: int, unbonding: int, reputation: { type: 'number' }, biddingPower: int,
    slashing: {
      type: 'object',
      description: 'the slashing history the ledger keeps per account, summarised (GET /v1/ledger/accounts/{id} has the records with their evidence)',
      properties: {
        count: { ...int, description: 'effective slashes over the account\'s life' },
        offences: { type: 'object', additionalProperties: int, description: 'offences per condition, warnings included' },
        kept: { ...int, description: 'records the ledger keeps (the newest, at most 64)' },
        keptAmount: { ...int, description: 'amount the kept records took' },
        last: nullable({ type: 'object', properties: { index: int, condition: str, severity: str, offence: int, graced: { type: 'boolean' }, amount: int } })
      }
    }
  }
}
const auctionSummary = {
  type: 'object',
  properties: {
    id: str, mechanism: str, seller: str, status: { enum: ['open', 'reveal', 'closed', 'settled', 'no-sale', 'failed'] },
    items: { type: 'array', items: str, maxItems: 8 }, itemsMore: int,
    openedAt: int, openedIndex: int, closesAt: int, revealUntil: { type: ['integer', 'null'] }, settledIndex: { type: ['integer', 'null'] },
    bids: int, outcome: { enum: ['sold', 'no-sale', null] }, clearingPrice: { type: ['integer', 'null'] },
    winners: { type: 'array', maxItems: 8, items: { type: 'object', properties: { agent: str, price: int, quantity: int } } }, winnersMore: int
  }
}

/** `get` operations of paths openapi.ts lists with other methods too. */
export const LISTING_GETS = {
  accounts: { summary: 'a page of accounts in id order: balances, stakes, reputation, slashing summary', parameters: pageParams('an account id'), responses: page('accounts', accountSummary, 'accounts') },
  auctions: {
    summary: 'without detail: ids of the latest auctions (at most 1000, oldest first); with detail=1: a page of auction summaries, newest first',
    parameters: [
      q('detail', { type: 'boolean', default: false }, 'true: summaries, paged'),
      q('status', { enum: ['open', 'reveal', 'closed', 'settled', 'no-sale', 'failed'] }, 'with detail: only auctions in this state'),
      ...pageParams('with detail: a log index')
    ],
    responses: {
      200: { description: 'ids, or with detail a page of summaries', ...json({ type: 'object', properties: { auctions: { oneOf: [{ type: 'array', items: str }, { type: 'array', items: auctionSummary }] }, next: { type: ['string', 'null'], description: 'with detail: the cursor of the next page' } } }) },
      default: errors
    }
  },
  votes: {
    summary: 'a page of the votes the group remembers (open, and decided up to 10000), newest first: options, rule, ballots, tally and decision',
    parameters: pageParams('a vote id'),
    responses: page('votes', { type: 'object', properties: { vote: int, opener: str, topic: { type: ['string', 'null'] }, options: { type: 'array', items: str }, rule: { type: 'object' }, deadline: int, voters: int, ballots: int, status: { enum: ['open', 'decided', 'failed'] }, tally: { type: 'array', items: { type: 'array', prefixItems: [str, int] } }, outcome: { type: ['string', 'null'] }, reason: { enum: ['threshold', 'unreachable', 'deadline', null] } } }, 'votes')
  }
}

const topologyPeer = {
  type: 'object',
  properties: {
    peerId: str, self: { type: 'boolean' }, state: { enum: ['reachable', 'suspected', 'unreachable', 'left'] }, connected: { type: 'boolean' }, raft: { enum: ['leader', 'voter', 'learner', null] },
    view: nullable({ type: 'object', description: 'its last reachability view as received here', properties: { ageMs: int, fresh: { type: 'boolean' }, reached: int, silentTotal: int, silent: { type: 'array', items: str }, complete: { type: 'boolean' } } }),
    reaches: { type: ['array', 'null'], items: str, description: 'peers it reaches: hosts known here minus the silent ones its view lists (this daemon: the hosts it hears); null without a view, or for the others past 200 hosts known (reachesListed false)' }
  }
}

/** Paths of their own. */
export const LISTING_OPENAPI_PATHS = {
  '/v1/coordination/elections': { get: { summary: 'a page of the elections led or campaigned for, in name order: leader {owner, lease, token (the term), since (the log index of the grant), value} and candidates waiting', parameters: pageParams('a name'), responses: page('elections', { type: 'object', properties: { name: str, leader: nullable({ type: 'object', properties: { owner: str, lease: int, token: int, since: int, value: {} } }), candidates: int } }, 'elections') } },
  '/v1/coordination/barriers': { get: { summary: 'a page of the barriers the group remembers, in name order: parties, arrived, generation, deadline (null: nobody waits), how the last generation ended', parameters: pageParams('a name'), responses: page('barriers', { type: 'object', properties: { name: str, parties: int, arrived: int, generation: int, deadline: { type: ['integer', 'null'] }, zone: { type: ['string', 'null'] }, last: nullable({ type: 'object', properties: { generation: int, status: { enum: ['released', 'broken'] }, reason: { type: ['string', 'null'] }, index: int } }) } }, 'barriers') } },
  '/v1/topology': {
    get: {
      summary: 'which peers reach which as this daemon knows it: its open connections, every known host with its last reachability view (age, silent hosts) and the peers it reaches (derived from the view), and the Raft group (per member match and lag on the leader)',
      responses: { 200: { description: 'topology', ...json({ type: 'object', properties: { peerId: str, at: int, connections: { type: 'array', items: str }, peers: { type: 'array', items: topologyPeer }, peersMore: int, raft: { type: ['object', 'null'], description: 'as in GET /v1/health/mesh' }, reachesListed: { type: 'boolean' } } }) }, default: errors }
    }
  }
}
