/**
 * The dashboard's listing reads (protocols/market/listings.ts, protocols/coordination/listings.ts) on a
 * full replica, what a Raft member pays per page on its event loop:
 *  - `econ:accounts` pages of 1000 over 100,000 accounts (the ledger's accountsMax), one with a slashing
 *    history: the first page, a page from the middle, and a whole sweep following `next`;
 *  - `econ:auction-page` pages of 100 over 10,000 kept auctions, and filtered by `status=open`;
 *  - `coord:list:elections` pages of 1000 over 10,000 busy elections, `coord:list:votes` pages of 1000
 *    over 10,000 remembered votes.
 * BENCH_LISTING_ACCOUNTS, BENCH_LISTING_AUCTIONS, BENCH_LISTING_COORD and BENCH_LISTING_ROUNDS change the sizes.
 */
import { MeshApplication, encodeCoordCommand } from '../../protocols/mesh/application.js'
import { Economy } from '../../protocols/market/economy.js'
import { readEconomyListing } from '../../protocols/market/listings.js'
import { pct, round } from './figures.js'

export const name = 'listings'

const ACCOUNTS = Number(process.env.BENCH_LISTING_ACCOUNTS ?? 100_000)
const AUCTIONS = Number(process.env.BENCH_LISTING_AUCTIONS ?? 10_000)
const COORD = Number(process.env.BENCH_LISTING_COORD ?? 10_000)
const ROUNDS = Number(process.env.BENCH_LISTING_ROUNDS ?? 50)

function timed (fn: () => unknown, rounds = ROUNDS): { p50Ms: number, p99Ms: number, bytes: number } {
  const ms: number[] = []
  let bytes = 0
  for (let i = 0; i < rounds; i++) {
    const t0 = performance.now()
    const out = fn()
    ms.push(performance.now() - t0)
    bytes = typeof out === 'string' ? out.length : 0
  }
  return { p50Ms: round(pct(ms, 0.5)), p99Ms: round(pct(ms, 0.99)), bytes }
}

export default async function (): Promise<Record<string, unknown>> {
  const e = new Economy({ authorities: ['op'], unbondingDelayEntries: 5 })
  let index = 0
  const run = (origin: string, cmd: Record<string, unknown>): void => {
    const r = e.apply(cmd, ++index, { origin, at: 1000 + index })
    if (!r.ok) throw new Error(`${JSON.stringify(cmd)}: ${r.code}`)
  }
  for (let i = 0; i < ACCOUNTS; i++) run('op', { type: 'mint', by: 'treasury', account: `acct-${i}`, owner: `peer-${i % 50}`, amount: 100 })
  run('peer-7', { type: 'stake', by: 'acct-7', account: 'acct-7', amount: 50 })
  run('op', { type: 'slash', by: 'treasury', account: 'acct-7', condition: 'byzantine_behavior' })
  const middle = `acct-${Math.floor(ACCOUNTS / 2)}`
  const sweep = (): number => {
    let cursor = ''
    let pages = 0
    for (;;) {
      const p = JSON.parse(readEconomyListing(e, `econ:accounts:1000:${cursor}`)!) as { next: string | null }
      pages++
      if (p.next === null) return pages
      cursor = p.next
    }
  }
  const t0 = performance.now()
  const pages = sweep()
  const sweepMs = performance.now() - t0

  const a = new Economy({ authorities: ['op'], unbondingDelayEntries: 5 })
  let ai = 0
  const runA = (origin: string, cmd: Record<string, unknown>): void => {
    const r = a.apply(cmd, ++ai, { origin, at: 1000 + ai })
    if (!r.ok) throw new Error(`${JSON.stringify(cmd)}: ${r.code}`)
  }
  runA('op', { type: 'mint', by: 'treasury', account: 'seller', owner: 's', amount: 1 })
  for (let i = 0; i < AUCTIONS; i++) {
    runA('s', { type: 'auction.open', by: 'seller', auction: { id: `au-${i}`, mechanism: 'first-price', items: ['gpu'], reserve: 1, durationMs: 600_000 } })
    if (i % 20 !== 0) runA('s', { type: 'auction.close', by: 'seller', auction: `au-${i}` })
  }

  const app = new MeshApplication()
  let ci = 0
  const runC = (origin: string, cmd: Record<string, unknown>): any => app.apply(encodeCoordCommand(cmd), ++ci, { origin, at: 0 })
  const lease = runC('A', { t: 'lease.grant', ttlMs: 3_600_000 }).lease as number
  for (let i = 0; i < COORD; i++) runC('A', { t: 'lock.acquire', kind: 'election', name: `e.${i}`, lease, value: '"v"' })
  const voters = [{ agent: 'v1', host: 'A' }]
  for (let i = 0; i < COORD; i++) {
    const v = runC('O', { t: 'vote.open', options: ['yes', 'no'], voters, rule: { kind: 'majority' }, deadlineMs: 60_000 }).vote as number
    runC('A', { t: 'vote.ballot', vote: v, agent: 'v1', choice: 'yes' })
  }

  return {
    accounts: ACCOUNTS,
    accountsFirstPage: timed(() => readEconomyListing(e, 'econ:accounts:1000:')),
    accountsMiddlePage: timed(() => readEconomyListing(e, `econ:accounts:1000:${middle}`)),
    accountsSweepPages: pages,
    accountsSweepMs: round(sweepMs),
    auctions: AUCTIONS,
    auctionsFirstPage: timed(() => readEconomyListing(a, 'econ:auction-page:100::')),
    auctionsOpenFirstPage: timed(() => readEconomyListing(a, 'econ:auction-page:100:open:')),
    elections: COORD,
    electionsFirstPage: timed(() => app.read('coord:list:elections:1000:')),
    votes: COORD,
    votesFirstPage: timed(() => app.read('coord:list:votes:1000:'))
  }
}
