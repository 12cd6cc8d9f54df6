/**
 * Checkers of the mesh-wide budget machine (protocols/infrastructure/budget.ts), run by the simulator on
 * every node's applied budget events (`budget:event`), whatever drives the traffic. Each is reported as a
 * violation of its own kind:
 *
 * - `budget-split`: on every replica, after every change, no budget is split beyond its rate (the shares
 *   of its hosts add up to at most `ratePerSecond`) and the machine's own invariants hold (indexes, limits).
 * - `budget-agreement`: every replica makes the same changes at the same entries (the k-th budget event of
 *   entry i is the same everywhere), so every host is told the same share.
 *
 * A node's checker follows one machine at a time: {@link BudgetChecker.attach} at boot and whenever a
 * snapshot restore replaces the machine.
 */
import type { BudgetMachine } from '../protocols/infrastructure/budget.js'
import type { BudgetEvent } from '../protocols/infrastructure/budget-types.js'
import type { ViolationSink } from './coord-checkers.js'

/** The invariants these checkers report (the report's `violations[].invariant`). */
export const BUDGET_INVARIANTS = ['budget-split', 'budget-agreement'] as const
export type BudgetInvariant = typeof BUDGET_INVARIANTS[number]

/** Budget events remembered for the cross-node comparison (the oldest forgotten beyond it). */
export const BUDGET_AGREEMENT_MAX = 100_000

/** The first replica's version of each budget event (by entry and rank within it) is the reference. */
export class BudgetAgreement {
  private readonly seen = new Map<string, { node: number, event: string }>()

  event (node: number, index: number, rank: number, event: string, sink: ViolationSink): void {
    const key = `${index}#${rank}`
    const first = this.seen.get(key)
    if (first === undefined) {
      this.seen.set(key, { node, event })
      if (this.seen.size > BUDGET_AGREEMENT_MAX) this.seen.delete(this.seen.keys().next().value!)
    } else if (first.node !== node && first.event !== event) {
      sink.report('budget-agreement', `entry ${index} budget event ${rank}: node ${first.node} applied ${first.event}, node ${node} ${event}`)
    }
  }
}

export class BudgetChecker {
  private machine: BudgetMachine | undefined
  private index = -1
  private rank = 0

  constructor (private readonly node: number, private readonly sink: ViolationSink, private readonly agreement: BudgetAgreement) {}

  /** Follows `m` from now on (a new machine at boot or after a snapshot restore). */
  attach (m: BudgetMachine): void {
    this.machine = m
    this.index = -1
    this.rank = 0
  }

  onEvent (e: BudgetEvent): void {
    if (e.index === this.index) this.rank++
    else { this.index = e.index; this.rank = 0 }
    this.agreement.event(this.node, e.index, this.rank, JSON.stringify(e), this.sink)
    const m = this.machine
    if (m === undefined) return
    const v = m.get(e.name)
    if (v !== undefined) {
      const sum = v.hosts.reduce((s, h) => s + h.ratePerSecond, 0)
      if (sum > v.ratePerSecond * (1 + 1e-9)) this.sink.report('budget-split', `node ${this.node} entry ${e.index}: budget ${e.name}'s shares add up to ${sum} > its rate ${v.ratePerSecond}`)
    }
    const bad = m.invariants()
    if (bad.length > 0) this.sink.report('budget-split', `node ${this.node} entry ${e.index}: ${bad.slice(0, 3).join('; ')}`)
  }
}
