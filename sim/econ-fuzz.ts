/**
 * Economy fuzzing: for each seed, a random scenario of agents, mints and auctions of every mechanism,
 * interleaved with partitions, isolations, leader and follower crashes and restarts, compactions (auctions are given
 * short verb bounds, so faults hit them mid-flight), then a heal phase. The run must end with no
 * violation (the simulator reports `conservation` when an economy invariant breaks or an auction settles
 * twice, `state-machine-safety` when economies diverge), supply conserved (minted == total), and every
 * auction settled exactly once (`settled` or `no-sale`). Everything derives from the seed.
 *
 * With `ledger`, a client workload (ledger-fuzz.ts) also issues random transfers between a few dedicated
 * accounts and linearizable balance reads all along; at the end its history must pass
 * `checkLinearizable(ledgerModel(n), history)` (else a `linearizability` violation naming the seed).
 *
 * Unless `coordination: false`, random coordination traffic (coord-fuzz.ts) runs alongside too, with
 * every node's coordination services on, so the coordination checkers check every seed. (The seed's
 * scenario does not hold it: replay a failing seed with its command, not with the scenario alone.)
 */
import { nullObject } from '../src/base/input.js'
import { createRand } from '../src/base/prng.js'
import type { Rand } from '../src/base/prng.js'
import type { Report } from './report.js'
import { combineWorkloads, runScenario } from './runner.js'
import type { Workload } from './runner.js'
import { CoordWorkload } from './coord-fuzz.js'
import type { CoordWorkloadOptions, CoordWorkloadResult } from './coord-fuzz.js'
import { validateScenario } from './scenario.js'
import { LedgerWorkload } from './ledger-fuzz.js'
import type { LedgerWorkloadOptions, LedgerWorkloadResult } from './ledger-fuzz.js'

export interface EconFuzzOptions {
  /** Auctions per seed. Default 4. */
  auctions?: number
  /** Agents per seed. Default 6. */
  agents?: number
  nodes?: number
  /** Run the ledger linearizability workload (ledger-fuzz.ts) alongside; `true`: its defaults. */
  ledger?: boolean | LedgerWorkloadOptions
  /** Random coordination traffic alongside (coord-fuzz.ts); `false`: none. Default true. */
  coordination?: boolean | CoordWorkloadOptions
}

export interface EconFuzzResult {
  seed: number
  ok: boolean
  failures: string[]
  trace: string
  /** Auction statuses at the end. */
  statuses: Record<string, string>
  report: Report
  /** The ledger workload's history and check (with the `ledger` option). */
  ledger?: LedgerWorkloadResult
  /** The coordination traffic (absent with `coordination: false`). */
  coordination?: CoordWorkloadResult
}

/**
 * Mechanisms the fuzzer draws from. Scenarios also take `uniform` (it needs `units`); it is left out here
 * so every seed keeps the scenario (and trace) it had before uniform auctions were scenario verbs.
 */
export const FUZZ_AUCTION_TYPES = ['english', 'dutch', 'first-price', 'vickrey', 'combinatorial', 'double'] as const

/** The random scenario of a seed (JSON, the public scenario format). */
export function econFuzzScenario (seed: number, options: EconFuzzOptions = {}): Record<string, unknown> {
  const rand = createRand(seed)
  const nodes = options.nodes ?? 5
  const nAgents = options.agents ?? 6
  const nAuctions = options.auctions ?? 4
  const node = (): number => 1 + rand.int(nodes)
  const steps: Array<Record<string, unknown>> = [{ run: 1000 }]
  for (let i = 1; i <= nAgents; i++) {
    const bundles = [{ items: ['A'], value: 1 + rand.int(20) }, { items: ['B'], value: 1 + rand.int(20) }, { items: ['A', 'B'], value: 1 + rand.int(40) }]
    steps.push({
      agent: {
        id: `a${i}`,
        node: node(),
        capabilities: ['gpu'],
        valuation: 10 + rand.int(40),
        bid: 5 + rand.int(40),
        bundles: bundles.slice(0, 2).filter(() => rand.int(2) === 0).concat(bundles.slice(2)),
        side: rand.int(2) === 0 ? 'buy' : 'sell',
        limit: 1 + rand.int(20),
        quantity: 1 + rand.int(3)
      }
    })
    steps.push({ mint: { account: `a${i}`, amount: 100 + rand.int(100) } })
  }
  let crashed: number[] = []
  for (let k = 1; k <= nAuctions; k++) {
    const type = FUZZ_AUCTION_TYPES[rand.int(FUZZ_AUCTION_TYPES.length)] as string
    steps.push({
      auction: {
        id: `x${k}`,
        node: node(),
        type,
        items: type === 'combinatorial' ? ['A', 'B'] : ['gpu'],
        reserve: rand.int(10),
        increment: 1 + rand.int(3),
        startPrice: 40 + rand.int(20),
        decrement: 1 + rand.int(5),
        bidders: { capability: 'gpu' },
        timeoutMs: 5 + rand.int(60)
      }
    })
    // A fault while the auction is in flight.
    switch (rand.int(7)) {
      case 0: {
        const ids = Array.from({ length: nodes }, (_, i) => i + 1)
        for (let i = ids.length - 1; i > 0; i--) { const j = rand.int(i + 1); [ids[i], ids[j]] = [ids[j] as number, ids[i] as number] }
        const cut = 1 + rand.int(nodes - 1)
        steps.push({ partition: [ids.slice(0, cut), ids.slice(cut)] })
        break
      }
      case 1: steps.push({ isolate: node() }); break
      case 2: case 3: {
        const n = node()
        if (!crashed.includes(n) && crashed.length < Math.floor((nodes - 1) / 2)) { steps.push({ crash: n }); crashed.push(n) }
        break
      }
      case 4: for (const n of crashed) steps.push({ restart: n }); crashed = []; break
      // A snapshot carrying the economy; refused (harmlessly) when the index is not applied there yet.
      case 5: steps.push({ compact: { node: node(), index: 10 + rand.int(25) } }); break
      default: break
    }
    steps.push({ run: rand.int(400) })
    if (rand.int(3) === 0) steps.push({ recover: true })
  }
  // Heal: every auction must then settle.
  steps.push({ recover: true })
  for (const n of crashed) steps.push({ restart: n })
  steps.push({ run: 8000 })
  steps.push({ expect: { violations: 0 } })
  return { name: `econ-fuzz-${seed}`, nodes, seed, network: { latencyMs: [1, 10], drop: rand.int(2) === 0 ? 0 : 0.02, duplicate: rand.int(2) === 0 ? 0 : 0.05 }, steps }
}

/** Run one seed and check conservation and single settlement. */
export function econFuzzSeed (seed: number, options: EconFuzzOptions = {}): EconFuzzResult {
  const scenario = validateScenario(econFuzzScenario(seed, options))
  const ledger = options.ledger === undefined || options.ledger === false ? undefined : new LedgerWorkload(seed, options.ledger === true ? {} : options.ledger)
  const coord = options.coordination === false ? undefined : new CoordWorkload(seed, options.coordination === true || options.coordination === undefined ? {} : options.coordination)
  const workloads: Workload[] = []
  if (ledger !== undefined) workloads.push(ledger)
  if (coord !== undefined) workloads.push(coord)
  const workload = workloads.length === 0 ? undefined : workloads.length === 1 ? workloads[0] : combineWorkloads(...workloads)
  const report = runScenario(scenario, { workload, coordination: coord !== undefined })
  const failures: string[] = report.violations.map(v => `${v.invariant} at step ${v.step}: ${v.detail}`)
  if (ledger !== undefined) for (const u of ledger.result.unexpected) failures.push(`ledger workload: unexpected refusal: ${u}`)
  if (report.supply.minted !== report.supply.total) failures.push(`supply: minted ${report.supply.minted} != total ${report.supply.total}`)
  const statuses = nullObject<string>()
  for (const s of scenario.steps) {
    if (s.kind !== 'auction') continue
    const id = s.auction.id as string
    const a = report.auctions[id] as { status: string } | undefined
    statuses[id] = a?.status ?? 'missing'
    if (a === undefined || (a.status !== 'settled' && a.status !== 'no-sale')) failures.push(`auction ${id}: ${a?.status ?? 'never opened'} after the heal`)
  }
  return { seed, ok: failures.length === 0, failures, trace: report.trace, statuses, report, ...(ledger !== undefined ? { ledger: ledger.result } : {}), ...(coord !== undefined ? { coordination: coord.result } : {}) }
}
