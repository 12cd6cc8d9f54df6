/**
 * Account and escrow ids that are property names of Object.prototype. Reserved names (`__proto__`,
 * `constructor`, `prototype`) are refused when they would create an account or escrow; every other
 * name (`toString`, `hasOwnProperty`...) is an ordinary id; and a snapshot keeps every account, so
 * snapshot → restore never fails on supply.
 */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { Ledger, snapshotJSON } from '../../protocols/ledger/index.js'
import type { LedgerResult } from '../../protocols/ledger/index.js'

const T = 'treasury'
const RESERVED = ['__proto__', 'constructor', 'prototype']
const ORDINARY = ['toString', 'hasOwnProperty', 'valueOf', '__defineGetter__', 'isPrototypeOf']

function code (r: LedgerResult): string { return r.ok ? 'ok' : r.code }

function harness (): { l: Ledger, ap: (c: unknown) => LedgerResult } {
  const l = new Ledger({ authorities: [T], unbondingDelayEntries: 3 })
  let i = 0
  return {
    l,
    ap: (c) => {
      const r = l.apply(c, ++i)
      expect(l.invariants()).toEqual([])
      return r
    }
  }
}

/** JSON round trip, as a snapshot stored on disk or sent to a lagging follower. */
function viaDisk (l: Ledger): Ledger {
  return Ledger.restore(JSON.parse(JSON.stringify(l.snapshot())))
}

const account = (free: number): string => JSON.stringify({ escrow: 0, free, history: [], offences: {}, reputation: { cooperation: 500000, honesty: 500000, performance: 500000, reliability: 500000 }, slashCount: 0, staked: 0, unbonding: 0 })

describe('ledger: reserved names', () => {
  for (const name of RESERVED) {
    it(`"${name}" cannot become an account or an escrow id (ERR_RESERVED_NAME), and nothing changes`, () => {
      const { l, ap } = harness()
      expect(code(ap({ type: 'mint', by: T, account: 'a', amount: 100 }))).toBe('ok')
      const before = snapshotJSON(l)
      expect(code(ap({ type: 'mint', by: T, account: name, amount: 100 }))).toBe('ERR_RESERVED_NAME')
      expect(code(ap({ type: 'open', by: name, account: name }))).toBe('ERR_RESERVED_NAME')
      expect(code(ap({ type: 'transfer', by: 'a', from: 'a', to: name, amount: 10 }))).toBe('ERR_RESERVED_NAME')
      expect(code(ap({ type: 'escrow', by: 'a', id: name, account: 'a', amount: 10 }))).toBe('ERR_RESERVED_NAME')
      expect(code(ap({ type: 'collect', by: T, account: 'a', to: name, amount: 10 }))).toBe('ERR_RESERVED_NAME')
      expect(code(ap({ type: 'escrow', by: 'a', id: 'e1', account: 'a', amount: 10 }))).toBe('ok')
      expect(code(ap({ type: 'release', by: T, id: 'e1', payTo: name, payAmount: 5 }))).toBe('ERR_RESERVED_NAME')
      expect(code(ap({ type: 'release', by: T, id: 'e1' }))).toBe('ok')
      expect(l.account(name)).toBeUndefined()
      expect(l.accountIds()).toEqual(['a'])
      // Only log time moved.
      expect(JSON.parse(snapshotJSON(l))).toEqual({ ...JSON.parse(before), appliedIndex: l.appliedIndex })
      expect(l.circulating()).toBe(l.minted)
    })
  }
})

describe('ledger: names of Object.prototype properties are ordinary ids', () => {
  it('accounts named toString, hasOwnProperty... mint, transfer, escrow, stake, slash, and survive snapshot → restore', () => {
    const { l, ap } = harness()
    for (const name of ORDINARY) expect(code(ap({ type: 'mint', by: T, account: name, amount: 1000 }))).toBe('ok')
    expect(code(ap({ type: 'transfer', by: 'toString', from: 'toString', to: 'valueOf', amount: 100 }))).toBe('ok')
    expect(code(ap({ type: 'escrow', by: 'hasOwnProperty', id: 'toString', account: 'hasOwnProperty', amount: 50, arbiter: 'valueOf' }))).toBe('ok')
    expect(code(ap({ type: 'stake', by: '__defineGetter__', account: '__defineGetter__', amount: 400 }))).toBe('ok')
    expect(code(ap({ type: 'unstake', by: '__defineGetter__', account: '__defineGetter__', amount: 100 }))).toBe('ok')
    expect(code(ap({ type: 'slash', by: T, account: '__defineGetter__', condition: 'byzantine_behavior' }))).toBe('ok')
    expect(l.accountIds()).toEqual([...ORDINARY].sort())
    expect(l.account('valueOf')?.free).toBe(1100)
    expect(l.escrowOf('toString')).toEqual({ account: 'hasOwnProperty', amount: 50, arbiter: 'valueOf' })
    expect(l.circulating() + l.burned).toBe(l.minted)
    const r = viaDisk(l)
    expect(snapshotJSON(r)).toBe(snapshotJSON(l))
    expect(r.invariants()).toEqual([])
    // The restored replica goes on exactly like the original.
    const next = l.appliedIndex + 1
    for (const x of [l, r]) expect(code(x.apply({ type: 'release', by: 'valueOf', id: 'toString', payTo: 'isPrototypeOf', payAmount: 20 }, next))).toBe('ok')
    expect(snapshotJSON(r)).toBe(snapshotJSON(l))
    expect(r.account('isPrototypeOf')?.free).toBe(1020)
  })

  it('unknown ids named like Object.prototype properties are unknown, not inherited', () => {
    const { l, ap } = harness()
    ap({ type: 'mint', by: T, account: 'a', amount: 10 })
    expect(l.account('toString')).toBeUndefined()
    expect(l.biddingPower('constructor')).toBe(0)
    expect(code(l.checkBid('hasOwnProperty', 1))).toBe('ERR_UNKNOWN_ACCOUNT')
    expect(code(ap({ type: 'transfer', by: 'toString', from: 'toString', to: 'a', amount: 1 }))).toBe('ERR_UNKNOWN_ACCOUNT')
    expect(code(ap({ type: 'release', by: T, id: 'constructor' }))).toBe('ERR_UNKNOWN_ESCROW')
  })
})

describe('ledger snapshots keep every account', () => {
  it('an account named "__proto__" (from a snapshot written before the rule) survives snapshot → restore with supply conserved', () => {
    const config = JSON.stringify(new Ledger({ authorities: [T] }).snapshot().config)
    const text = `{"accounts":{"__proto__":${account(700)},"b":${account(300)}},"appliedIndex":5,"burned":0,"config":${config},"escrows":{"__proto__":{"account":"b","amount":0,"arbiter":null}},"minted":1000,"unbonding":[]}`
    // (an escrow of 0 is not valid: the restore must refuse it, whatever its key)
    expect(() => Ledger.restore(JSON.parse(text))).toThrow(expect.objectContaining({ code: 'ERR_DECODE' }))
    const good = JSON.parse(text.replace(',"escrows":{"__proto__":{"account":"b","amount":0,"arbiter":null}}', ',"escrows":{}')) as unknown
    const l = Ledger.restore(good)
    expect(l.account('__proto__')?.free).toBe(700)
    expect(l.circulating()).toBe(1000)
    // Its funds move like any other account's, and every later snapshot still holds it.
    expect(code(l.apply({ type: 'transfer', by: '__proto__', from: '__proto__', to: 'b', amount: 200 }, 6))).toBe('ok')
    expect(code(l.apply({ type: 'stake', by: '__proto__', account: '__proto__', amount: 100 }, 7))).toBe('ok')
    const snap = snapshotJSON(l)
    expect(snap).toContain('"__proto__":{')
    const r = viaDisk(l)
    expect(r.account('__proto__')).toMatchObject({ free: 400, staked: 100 })
    expect(r.circulating()).toBe(r.minted)
    expect(snapshotJSON(r)).toBe(snap)
  })

  it('golden blob: a snapshot written before these fixes restores, and snapshots to the same bytes', () => {
    const text = readFileSync(new URL('./fixtures/ledger-snapshot-v1.json', import.meta.url), 'utf8').trim()
    const l = Ledger.restore(JSON.parse(text))
    expect(l.invariants()).toEqual([])
    expect(l.accountIds()).toEqual(['alice', 'bob', 'constructor', 'hasOwnProperty', 'toString'])
    expect(l.account('constructor')).toMatchObject({ free: 950, escrow: 50 })
    expect(l.escrowOf('job-1')).toEqual({ account: 'constructor', amount: 50, arbiter: 'alice' })
    expect(snapshotJSON(l)).toBe(text)
    // An existing account with a now-reserved name still works.
    expect(code(l.apply({ type: 'release', by: 'alice', id: 'job-1', payTo: 'constructor', payAmount: 50 }, l.appliedIndex + 1))).toBe('ok')
    expect(code(l.apply({ type: 'transfer', by: 'constructor', from: 'constructor', to: 'alice', amount: 1 }, l.appliedIndex + 1))).toBe('ok')
    expect(l.circulating() + l.burned).toBe(l.minted)
  })
})

describe('ledger: strings must be well-formed Unicode', () => {
  it('refuses a lone surrogate in any id or in slash evidence (ERR_INVALID_COMMAND), changing nothing', () => {
    const { l, ap } = harness()
    ap({ type: 'mint', by: T, account: 'a', amount: 100 })
    ap({ type: 'stake', by: 'a', account: 'a', amount: 10 })
    const before = snapshotJSON(l)
    const bad: unknown[] = [
      { type: 'mint', by: T, account: 'b\ud800', amount: 5 },
      { type: 'open', by: '\udc00', account: '\udc00' },
      { type: 'transfer', by: 'a', from: 'a', to: 'a\ud800', amount: 5 },
      { type: 'escrow', by: 'a', id: 'job\ud800', account: 'a', amount: 5 },
      { type: 'escrow', by: 'a', id: 'job', account: 'a', amount: 5, arbiter: '\ud800' },
      { type: 'slash', by: T, account: 'a', condition: 'task_failure', evidence: { note: 'x\ud800' } },
      { type: 'slash', by: T, account: 'a', condition: 'task_failure', evidence: { ['k\udfff']: 1 } }
    ]
    for (const c of bad) expect(code(ap(c)), JSON.stringify(c)).toBe('ERR_INVALID_COMMAND')
    // (In-process callers can pass what JSON cannot hold: a cycle is refused, not walked forever.)
    const cyclic: Record<string, unknown> = { note: 'x' }
    cyclic.self = cyclic
    expect(code(ap({ type: 'slash', by: T, account: 'a', condition: 'task_failure', evidence: cyclic }))).toBe('ERR_INVALID_COMMAND')
    expect(JSON.parse(snapshotJSON(l))).toEqual({ ...JSON.parse(before), appliedIndex: l.appliedIndex })
    // Well-formed non-ASCII ids are fine.
    expect(code(ap({ type: 'mint', by: T, account: 'caf\u00e9-\ud83d\ude00', amount: 5 }))).toBe('ok')
    expect(viaDisk(l).account('caf\u00e9-\ud83d\ude00')?.free).toBe(5)
  })
})
