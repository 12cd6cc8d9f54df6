/**
 * The economy as the simulator reports it (SCENARIOS.md "Report": `auctions`, `accounts`, `supply`), and
 * the origin that acts as the treasury. The economy itself is the shipped one: protocols/market inside
 * the mesh application (protocols/mesh), run by every simulated node's driver.
 */
import { nullObject } from '../src/base/input.js'
import type { Economy } from '../protocols/market/index.js'

/** The origin acting as the treasury (mint, slash) in the simulator: the authority of its genesis. */
export const OPERATOR = 'operator'

/** An auction as the report shows it (SCENARIOS.md "Report"). */
export interface AuctionReport {
  status: string
  winners: Array<{ agent: string, items: string[], price: number, side?: 'buy' | 'sell' }>
  welfare: number | null
  clearingPrice: number | null
  quantity: number
}

export interface AccountReport { free: number, staked: number, escrow: number, reputation: number }

/** The report's `auctions`, `accounts` and `supply` from one economy (double auctions' awards add `side`). */
export function economyReport (e: Economy): { auctions: Record<string, AuctionReport>, accounts: Record<string, AccountReport>, supply: { minted: number, total: number } } {
  const auctions = nullObject<AuctionReport>()
  for (const id of e.auctionIds()) {
    const a = e.auction(id)
    if (a === undefined) continue
    const o = a.outcome
    auctions[id] = {
      status: a.status,
      winners: (o?.winners ?? []).map(w => w.side === undefined ? { agent: w.agent, items: [...w.items], price: w.price } : { agent: w.agent, items: [...w.items], price: w.price, side: w.side }),
      welfare: o?.welfare ?? null,
      clearingPrice: o?.clearingPrice ?? null,
      quantity: o?.quantity ?? 0
    }
  }
  const accounts = nullObject<AccountReport>()
  for (const id of e.accountIds()) {
    const a = e.account(id)
    if (a !== undefined) accounts[id] = { free: a.free, staked: a.staked, escrow: a.escrow, reputation: a.reputation }
  }
  const s = e.supply()
  return { auctions, accounts, supply: { minted: s.minted, total: s.total } }
}
