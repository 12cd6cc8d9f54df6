/** The report of a scenario run, exactly the shape of SCENARIOS.md plus a few added fields. */
import type { Violation } from './checkers.js'
import type { CoordinationReport } from './coordination.js'
import type { TasksReport } from './tasks.js'

export interface NodeReport {
  role: 'follower' | 'pre-candidate' | 'candidate' | 'leader' | 'learner' | 'crashed'
  term: number
  vote: number
  leader: number
  /** `[index, term, data]` of each entry still in the log. */
  log: Array<[number, number, string]>
  commit: number
  applied: number
  firstIndex: number
}

/**
 * One client operation. `value` is the written value (write, cas) or the value read (read); `expected`
 * the cas comparand. `result`: `ok` (done; for cas: swapped), `failed` (cas compared unequal), or
 * `indefinite` (fate unknown: `return` is null).
 */
export interface HistoryEntry {
  node: number
  op: 'read' | 'write' | 'cas'
  key: string
  value?: string | number | null
  expected?: string | number | null
  result: 'ok' | 'failed' | 'indefinite'
  call: number
  return: number | null
}

export interface Report {
  name: string
  seed: number
  ok: boolean
  nodes: Record<string, NodeReport>
  readStates: Record<string, Array<{ index: number, ctx: string }>>
  /** Auction id → `{status, winners, welfare, clearingPrice, quantity}` (sim/economy.ts); empty without the economy. */
  auctions: Record<string, unknown>
  /** Account id → `{free, staked, escrow, reputation}`; empty without the economy. */
  accounts: Record<string, unknown>
  supply: { minted: number, total: number }
  history: HistoryEntry[]
  violations: Violation[]
  trace: string
  /** Added: steps the cluster refused (not scenario errors; `ok` is unaffected). */
  refusals: Array<{ step: number, detail: string }>
  /** Added: failed expectations (each makes `ok` false). */
  expectFailures: Array<{ step: number, detail: string }>
  /** Added: virtual time at the end (ms in timed mode, 0 in pure step mode) and events traced. */
  timeMs: number
  events: number
  /** Added: leases, locks, elections, barriers and votes (scenarios using coordination; sim/coordination.ts). */
  coordination?: CoordinationReport
  /** Added: tasks and messages (scenarios using them; sim/tasks.ts). */
  tasks?: TasksReport
}
