/**
 * A worker thread of the settle solver pool (settle-solver.ts): solves one combinatorial auction at a
 * time with the same deterministic `combinatorial()` the state machine runs, and posts the outcome back.
 */
import { parentPort } from 'node:worker_threads'
import { combinatorial, type BundleBid, type CombinatorialParams } from '../../protocols/auctions/combinatorial.js'
import type { AuctionLimits } from '../../protocols/auctions/types.js'

export interface SolveRequest { id: number, params: CombinatorialParams, bids: BundleBid[], limits: AuctionLimits }

parentPort?.on('message', (m: SolveRequest) => {
  try {
    const o = combinatorial(m.params, m.bids, m.limits)
    // Payments are a prototype-free object; a plain copy crosses the thread boundary with every own key.
    parentPort!.postMessage({ id: m.id, ok: true, outcome: { ...o, payments: Object.fromEntries(Object.entries(o.payments)) } })
  } catch (err) {
    parentPort!.postMessage({ id: m.id, ok: false, code: (err as { code?: string }).code ?? 'ERR_SOLVE_FAILED', message: (err as Error).message })
  }
})
