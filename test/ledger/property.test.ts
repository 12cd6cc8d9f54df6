import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { Ledger, snapshotJSON } from '../../protocols/ledger/index.js'
import { assertProperty } from '../helpers/seed.js'

const T = 'treasury'
const ids = ['a', 'b', 'c', 'd']
const acct = fc.constantFrom(...ids)
const amt = fc.oneof(fc.integer({ min: 1, max: 200 }), fc.constantFrom(0, -3, 1.5, 2 ** 55))
const esc = fc.constantFrom('e1', 'e2', 'e3')
const cond = fc.constantFrom('task_failure', 'timeout_violation', 'byzantine_behavior', 'reputation_threshold', 'bogus')
const by = fc.oneof(acct, fc.constant(T))

const command = fc.oneof(
  fc.record({ type: fc.constant('mint'), by, account: acct, amount: amt }),
  fc.record({ type: fc.constant('transfer'), by: acct, from: acct, to: acct, amount: amt }),
  fc.record({ type: fc.constant('escrow'), by: acct, id: esc, account: acct, amount: amt }),
  fc.record({ type: fc.constant('release'), by, id: esc }),
  fc.record({ type: fc.constant('release'), by, id: esc, payTo: acct, payAmount: fc.integer({ min: 0, max: 150 }) }),
  fc.record({ type: fc.constant('collect'), by, account: acct, to: acct, amount: fc.integer({ min: 0, max: 400 }) }),
  fc.record({ type: fc.constant('collect'), by, account: acct, to: acct, amount: fc.integer({ min: 0, max: 400 }), escrowId: esc }),
  fc.record({ type: fc.constant('stake'), by: acct, account: acct, amount: amt }),
  fc.record({ type: fc.constant('unstake'), by: acct, account: acct, amount: amt }),
  fc.record({ type: fc.constant('slash'), by, account: acct, condition: cond, evidence: fc.option(fc.jsonValue({ maxDepth: 2 })) }),
  fc.record({ type: fc.constant('outcome'), by, account: acct, delivered: fc.boolean(), onTime: fc.boolean(), qualityPpm: fc.integer({ min: 0, max: 1_000_000 }) }),
  fc.anything()
)

// Step: a command at a log-index gap (1..4), so unbonding maturities fall between commands too.
const steps = fc.array(fc.tuple(command, fc.integer({ min: 1, max: 4 })), { maxLength: 120 })

const runs = Number(process.env.LEDGER_RUNS ?? 300)

function check<Ts> (prop: fc.IProperty<Ts>): void {
  assertProperty(prop, { numRuns: runs })
}

describe('ledger properties (fast-check)', () => {
  it('random command sequences never break an invariant and never throw', () => {
    check(fc.property(steps, (seq) => {
      const l = new Ledger({ authorities: [T], unbondingDelayEntries: 5 })
      let i = 0
      for (const [c, gap] of seq) {
        i += gap
        const r = l.apply(c, i)
        expect(typeof r.ok).toBe('boolean')
        expect(l.invariants()).toEqual([])
      }
    }))
  })

  it('a failed command changes nothing but log time (same state as advancing a clone)', () => {
    let failed = 0
    check(fc.property(steps, (seq) => {
      const l = new Ledger({ authorities: [T], unbondingDelayEntries: 5 })
      let i = 0
      for (const [c, gap] of seq) {
        i += gap
        const clone = Ledger.restore(l.snapshot())
        const r = l.apply(c, i)
        if (!r.ok) {
          failed++
          expect(clone.advance(i).ok).toBe(true)
          expect(snapshotJSON(l)).toBe(snapshotJSON(clone))
        }
      }
    }))
    // Not vacuous: the generated sequences do contain refused commands.
    expect(failed).toBeGreaterThan(0)
  })

  it('replicas agree: a replica restored from a mid-log snapshot ends identical', () => {
    check(fc.property(steps, fc.nat(), (seq, cut) => {
      const a = new Ledger({ authorities: [T], unbondingDelayEntries: 3 })
      const k = seq.length === 0 ? 0 : cut % seq.length
      let i = 0
      let b: Ledger | null = null
      const resultsA: unknown[] = []
      const resultsB: unknown[] = []
      seq.forEach(([c, gap], n) => {
        i += gap
        if (n === k) b = Ledger.restore(JSON.parse(JSON.stringify(a.snapshot())))
        resultsA.push(a.apply(c, i))
        if (b !== null) resultsB.push((b as Ledger).apply(c, i))
      })
      if (b !== null) {
        expect(snapshotJSON(b)).toBe(snapshotJSON(a))
        expect(resultsB.map(r => JSON.stringify(r))).toEqual(resultsA.slice(k).map(r => JSON.stringify(r)))
      }
    }))
  })
})
