/**
 * Integrity indicators (FEATURES E6) computed from settled auction histories, deterministic, reported
 * as JSON evidence that can be attached to a `slash` command (size-bounded: `auctionsInEvidenceMax`).
 *
 * Shill bidding (a bidder acting for a seller to raise prices), per (agent, seller) pair:
 * - `auctions`: the seller's auctions the agent bid in; `concentration` = that / all auctions it bid in;
 * - `winRate`: its wins among them; `priceSetterRate`: the share of them in which its bid was the
 *   second highest (the price-setting bid under second-price rules) and below the winner's.
 * Flagged when `auctions >= minAuctions` (3), `concentration >= 0.8`, `winRate <= 0.1` and
 * `priceSetterRate >= 0.5`.
 *
 * Collusion (bid rotation with cover bids), per unordered pair of agents that bid in the same auctions:
 * - `coAuctions`: auctions where both bid and one of them won; `coverRate`: the share of those in which
 *   the other's bid was at most `coverRatio` (0.5) of the winner's; `winsA`, `winsB`.
 * Flagged when `coAuctions >= minAuctions`, `coverRate >= 0.8`, and both won at least once (rotation).
 */

export interface AuctionRecord {
  auction: string
  seller: string
  bids: Array<{ agent: string, amount: number }>
  winner: string | null
}

export interface IntegrityOptions {
  /** Minimum auctions before a pattern is flagged. Default 3. */
  minAuctions?: number
  /** A losing bid at most this fraction of the winning bid is a cover bid. Default 0.5. */
  coverRatio?: number
  /** Auction ids listed in one evidence object. Default 20. */
  auctionsInEvidenceMax?: number
}

export interface ShillReport {
  kind: 'shill'
  agent: string
  seller: string
  auctions: number
  concentration: number
  winRate: number
  priceSetterRate: number
  flagged: boolean
  /** Auction ids where the agent set the price (first `auctionsInEvidenceMax`). */
  evidence: string[]
}

export interface CollusionReport {
  kind: 'collusion'
  agents: [string, string]
  coAuctions: number
  coverRate: number
  winsA: number
  winsB: number
  flagged: boolean
  /** Auction ids with a cover bid (first `auctionsInEvidenceMax`). */
  evidence: string[]
}

function cmp (a: string, b: string): number { return a < b ? -1 : a > b ? 1 : 0 }

/** Highest bid per agent in an auction (an agent may appear once per auction in practice). */
function best (r: AuctionRecord): Map<string, number> {
  const m = new Map<string, number>()
  for (const b of r.bids) m.set(b.agent, Math.max(m.get(b.agent) ?? 0, b.amount))
  return m
}

export function shillIndicators (history: AuctionRecord[], opts: IntegrityOptions = {}): ShillReport[] {
  const minAuctions = opts.minAuctions ?? 3
  const evMax = opts.auctionsInEvidenceMax ?? 20
  const total = new Map<string, number>()
  const pair = new Map<string, { agent: string, seller: string, n: number, wins: number, setter: number, ev: string[] }>()
  for (const r of history) {
    const m = best(r)
    const ranked = [...m.entries()].sort((x, y) => y[1] - x[1] || cmp(x[0], y[0]))
    const winAmount = r.winner !== null ? (m.get(r.winner) ?? 0) : 0
    const second = ranked.find(([a]) => a !== r.winner)
    for (const [agent, amount] of m) {
      total.set(agent, (total.get(agent) ?? 0) + 1)
      const key = JSON.stringify([agent, r.seller])
      let p = pair.get(key)
      if (p === undefined) { p = { agent, seller: r.seller, n: 0, wins: 0, setter: 0, ev: [] }; pair.set(key, p) }
      p.n++
      if (r.winner === agent) p.wins++
      else if (r.winner !== null && second?.[0] === agent && amount < winAmount) {
        p.setter++
        if (p.ev.length < evMax) p.ev.push(r.auction)
      }
    }
  }
  const out: ShillReport[] = []
  for (const p of pair.values()) {
    if (p.agent === p.seller) continue
    const concentration = p.n / total.get(p.agent)!
    const winRate = p.wins / p.n
    const priceSetterRate = p.setter / p.n
    const flagged = p.n >= minAuctions && concentration >= 0.8 && winRate <= 0.1 && priceSetterRate >= 0.5
    out.push({ kind: 'shill', agent: p.agent, seller: p.seller, auctions: p.n, concentration, winRate, priceSetterRate, flagged, evidence: p.ev })
  }
  return out.sort((a, b) => cmp(a.agent, b.agent) || cmp(a.seller, b.seller))
}

export function collusionIndicators (history: AuctionRecord[], opts: IntegrityOptions = {}): CollusionReport[] {
  const minAuctions = opts.minAuctions ?? 3
  const coverRatio = opts.coverRatio ?? 0.5
  const evMax = opts.auctionsInEvidenceMax ?? 20
  const pairs = new Map<string, { a: string, b: string, n: number, cover: number, winsA: number, winsB: number, ev: string[] }>()
  for (const r of history) {
    if (r.winner === null) continue
    const m = best(r)
    const w = r.winner
    const wAmount = m.get(w)
    if (wAmount === undefined) continue
    for (const [other, amount] of m) {
      if (other === w) continue
      const [a, b] = cmp(w, other) < 0 ? [w, other] : [other, w]
      const key = JSON.stringify([a, b])
      let p = pairs.get(key)
      if (p === undefined) { p = { a, b, n: 0, cover: 0, winsA: 0, winsB: 0, ev: [] }; pairs.set(key, p) }
      p.n++
      if (w === a) p.winsA++
      else p.winsB++
      if (amount <= coverRatio * wAmount) {
        p.cover++
        if (p.ev.length < evMax) p.ev.push(r.auction)
      }
    }
  }
  const out: CollusionReport[] = []
  for (const p of pairs.values()) {
    const coverRate = p.cover / p.n
    const flagged = p.n >= minAuctions && coverRate >= 0.8 && p.winsA > 0 && p.winsB > 0
    out.push({ kind: 'collusion', agents: [p.a, p.b], coAuctions: p.n, coverRate, winsA: p.winsA, winsB: p.winsB, flagged, evidence: p.ev })
  }
  return out.sort((x, y) => cmp(x.agents[0], y.agents[0]) || cmp(x.agents[1], y.agents[1]))
}
