/**
 * The economy replica each simulated node runs next to its KV state machine: protocols/market's
 * {@link Economy} plus a session table that makes proposals exactly-once under retries.
 *
 * Economy commands travel in normal Raft entries as readable text:
 *
 *     econ:{"cmd":{"type":"mint","by":"treasury","account":"a1","amount":100},"o":"operator","t":2000,"c":1,"s":7,"a":0}
 *
 * - `cmd`: the economy command; `o`: its origin (`n<i>` for node i's agents, `operator` for the
 *   authority); `t`: the proposer's virtual clock (the economy's log time is the running maximum);
 * - `c`, `s`: the session (client id, sequence number); `a`: the attempt (retries keep `c` and `s`).
 *
 * A command whose (c, s) was already applied is a duplicate: it is skipped (the economy never sees it),
 * on every replica alike. The session table travels in the node's snapshot with the economy.
 */
import { Economy } from '../protocols/market/index.js'
import type { EconomySnapshot, MarketResult } from '../protocols/market/index.js'

export const ECON_PREFIX = 'econ:'
/** The origin acting as the treasury (mint, slash) in the simulator. */
export const OPERATOR = 'operator'
/** Out-of-order sequence numbers remembered per session above its contiguous prefix. */
export const ECON_SESSION_GAP_MAX = 65_536

export interface EconEnvelope {
  cmd: Record<string, unknown>
  o: string
  t: number
  c: number
  s: number
  a: number
}

export function encodeEcon (env: EconEnvelope): string {
  return ECON_PREFIX + JSON.stringify({ cmd: env.cmd, o: env.o, t: env.t, c: env.c, s: env.s, a: env.a })
}

/** Decode an entry's text; undefined when it is not an economy entry (or is malformed). */
export function decodeEcon (text: string): EconEnvelope | undefined {
  if (!text.startsWith(ECON_PREFIX)) return undefined
  let v: unknown
  try { v = JSON.parse(text.slice(ECON_PREFIX.length)) } catch { return undefined }
  if (v === null || typeof v !== 'object') return undefined
  const e = v as Record<string, unknown>
  if (typeof e.o !== 'string' || typeof e.t !== 'number' || !Number.isSafeInteger(e.c) || !Number.isSafeInteger(e.s) || e.cmd === null || typeof e.cmd !== 'object') return undefined
  return { cmd: e.cmd as Record<string, unknown>, o: e.o, t: e.t, c: e.c as number, s: e.s as number, a: typeof e.a === 'number' ? e.a : 0 }
}

/** Applied sequence numbers of one session: every seq <= low, plus `above` (sorted). */
interface Session { low: number, above: number[] }

export interface EconApplied {
  env: EconEnvelope
  /** The economy's result; undefined for a duplicate (already applied: not re-applied). */
  result: MarketResult | undefined
}

export interface EconReplicaSnapshot {
  econ: EconomySnapshot
  sessions: Array<[number, Session]>
}

export function newEconomy (): Economy {
  return new Economy({ authorities: [OPERATOR] })
}

export class EconReplica {
  economy: Economy
  private sessions = new Map<number, Session>()

  constructor (economy: Economy = newEconomy()) { this.economy = economy }

  /** Apply a committed entry's text at `index`; undefined when it is not an economy entry. */
  apply (index: number, text: string): EconApplied | undefined {
    const env = decodeEcon(text)
    if (env === undefined) return undefined
    if (!this.claim(env.c, env.s)) return { env, result: undefined }
    return { env, result: this.economy.apply(env.cmd, index, { origin: env.o, at: env.t }) }
  }

  /** Record (c, s) as applied; false when it already was. */
  private claim (c: number, s: number): boolean {
    let ses = this.sessions.get(c)
    if (ses === undefined) { ses = { low: 0, above: [] }; this.sessions.set(c, ses) }
    if (s <= ses.low) return false
    const at = lowerBound(ses.above, s)
    if (ses.above[at] === s) return false
    ses.above.splice(at, 0, s)
    while (ses.above.length > 0 && ses.above[0] === ses.low + 1) { ses.low++; ses.above.shift() }
    // Bound: forget the oldest gap (a lost proposal's seq can then no longer apply: at most once).
    while (ses.above.length > ECON_SESSION_GAP_MAX) ses.low = ses.above.shift() as number
    return true
  }

  snapshot (): EconReplicaSnapshot {
    return { econ: this.economy.snapshot(), sessions: [...this.sessions].map(([c, s]) => [c, { low: s.low, above: s.above.slice() }]) }
  }

  static restore (snap: EconReplicaSnapshot): EconReplica {
    const r = new EconReplica(Economy.restore(snap.econ))
    r.sessions = new Map(snap.sessions.map(([c, s]) => [c, { low: s.low, above: s.above.slice() }]))
    return r
  }
}

function lowerBound (a: number[], x: number): number {
  let lo = 0
  let hi = a.length
  while (lo < hi) { const m = (lo + hi) >> 1; if ((a[m] as number) < x) lo = m + 1; else hi = m }
  return lo
}

const enc = new TextEncoder()
const dec = new TextDecoder()

/** A node's snapshot data when the economy runs: the KV snapshot (as text) and the economy replica. */
export function encodeNodeSnapshot (kv: Uint8Array, econ: EconReplica): Uint8Array {
  return enc.encode(JSON.stringify({ kv: dec.decode(kv), econ: econ.snapshot() }))
}

export function decodeNodeSnapshot (data: Uint8Array): { kv: Uint8Array, econ: EconReplica } {
  const v = JSON.parse(dec.decode(data)) as { kv: string, econ: EconReplicaSnapshot }
  return { kv: enc.encode(v.kv), econ: EconReplica.restore(v.econ) }
}

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
  const auctions: Record<string, AuctionReport> = {}
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
  const accounts: Record<string, AccountReport> = {}
  for (const id of e.accountIds()) {
    const a = e.account(id)
    if (a !== undefined) accounts[id] = { free: a.free, staked: a.staked, escrow: a.escrow, reputation: a.reputation }
  }
  const s = e.supply()
  return { auctions, accounts, supply: { minted: s.minted, total: s.total } }
}
