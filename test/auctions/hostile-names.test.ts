/**
 * Agent and item names that are property names of Object.prototype (`__proto__`, `constructor`,
 * `toString`, `hasOwnProperty`) must be ordinary names to the mechanisms: every winner appears in
 * `payments` with what it owes, and settlement collects it.
 */
import { describe, expect, it } from 'vitest'
import { callMarket, combinatorial, dutch, english, firstPrice, settlementCommands, uniformPrice, vickrey } from '../../protocols/auctions/index.js'
import type { Outcome } from '../../protocols/auctions/index.js'
import { Ledger } from '../../protocols/ledger/index.js'

const HOSTILE = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'prototype']

/** Every winner owes the sum of its awards, as an own key of `payments`, and nothing else is owed. */
function paymentsMatchWinners (o: Outcome): void {
  const owed = new Map<string, number>()
  for (const w of o.winners) owed.set(w.agent, (owed.get(w.agent) ?? 0) + w.price)
  expect(Object.keys(o.payments).sort()).toEqual([...owed.keys()].sort())
  for (const [agent, amount] of owed) {
    expect(Object.hasOwn(o.payments, agent), agent).toBe(true)
    expect(o.payments[agent]).toBe(amount)
  }
  // JSON (snapshots, HTTP answers) keeps every payment.
  const back = JSON.parse(JSON.stringify(o.payments)) as Record<string, number>
  expect(Object.keys(back).sort()).toEqual([...owed.keys()].sort())
  for (const [agent, amount] of owed) expect(back[agent]).toBe(amount)
}

describe('mechanisms: hostile agent names are ordinary names', () => {
  for (const name of HOSTILE) {
    it(`"${name}" wins and owes its price in every mechanism`, () => {
      const v = vickrey({ item: 'gpu', reserve: 0 }, [{ agent: name, amount: 700 }, { agent: 'b', amount: 300 }])
      expect(v.winners.map(w => [w.agent, w.price])).toEqual([[name, 300]])
      paymentsMatchWinners(v)
      paymentsMatchWinners(firstPrice({ item: 'gpu', reserve: 0 }, [{ agent: name, amount: 700 }, { agent: 'b', amount: 300 }]))
      paymentsMatchWinners(english({ item: 'gpu', reserve: 0, increment: 10 }, [{ agent: name, maxPrice: 700 }, { agent: 'b', maxPrice: 300 }]))
      paymentsMatchWinners(dutch({ item: 'gpu', startPrice: 1000, decrement: 10 }, [{ agent: name, maxPrice: 700 }, { agent: 'b', maxPrice: 300 }]))
      paymentsMatchWinners(uniformPrice({ item: 'gpu', units: 3, reserve: 1 }, [{ agent: name, price: 9, quantity: 2 }, { agent: 'b', price: 5, quantity: 2 }]))
      const d = callMarket({ item: 'gpu' }, [{ agent: name, side: 'buy', limit: 20, quantity: 2 }, { agent: 'toString', side: 'sell', limit: 5, quantity: 2 }, { agent: 'c', side: 'sell', limit: 6, quantity: 1 }])
      expect(d.status).toBe('sold')
      paymentsMatchWinners(d)
      const c = combinatorial({ items: ['x', 'y'] }, [{ agent: name, items: ['x', 'y'], value: 50 }, { agent: 'b', items: ['x'], value: 20 }, { agent: 'c', items: ['y'], value: 10 }])
      expect(c.winners.map(w => w.agent)).toEqual([name])
      paymentsMatchWinners(c)
    })
  }

  it('items named like Object.prototype properties take their own reserves only', () => {
    const o = combinatorial({ items: ['toString', 'constructor', '__proto__'], reserves: { __proto__: 0, constructor: 4 } as unknown as Record<string, number> },
      [{ agent: 'a', items: ['toString', 'constructor'], value: 3 }, { agent: 'b', items: ['toString'], value: 2 }])
    // a's bundle is below constructor's reserve (4): b wins toString at its reserve (0).
    expect(o.winners.map(w => [w.agent, w.items, w.price])).toEqual([['b', ['toString'], 0]])
    paymentsMatchWinners(o)
  })

  it('settlement collects the price of a "__proto__" winner and pays the seller', () => {
    // The ledger refuses to create an account with a reserved name; a snapshot can still hold one
    // (written before that rule), so the winner is restored from one: JSON text with a "__proto__" key.
    const config = JSON.stringify(new Ledger({ authorities: ['house'] }).snapshot().config)
    const acct = (free: number): string => JSON.stringify({ escrow: 0, free, history: [], offences: {}, reputation: { cooperation: 500000, honesty: 500000, performance: 500000, reliability: 500000 }, slashCount: 0, staked: 0, unbonding: 0 })
    const text = `{"accounts":{"__proto__":${acct(1000)},"b":${acct(1000)},"seller":${acct(0)}},"appliedIndex":0,"burned":0,"config":${config},"escrows":{},"minted":2000,"unbonding":[]}`
    let i = 0
    const r = Ledger.restore(JSON.parse(text))
    expect(r.account('__proto__')?.free).toBe(1000)
    const ap = (c: unknown): void => { const x = r.apply(c, ++i); expect(x.ok, JSON.stringify(x)).toBe(true); expect(r.invariants()).toEqual([]) }
    ap({ type: 'escrow', by: 'house', id: 'g/p', account: '__proto__', amount: 700 })
    ap({ type: 'escrow', by: 'house', id: 'g/b', account: 'b', amount: 300 })
    const o = vickrey({ item: 'gpu', reserve: 0 }, [{ agent: '__proto__', amount: 700 }, { agent: 'b', amount: 300 }])
    const cmds = settlementCommands({ by: 'house', payee: 'seller', outcome: o, escrows: [{ agent: '__proto__', escrowId: 'g/p', amount: 700 }, { agent: 'b', escrowId: 'g/b', amount: 300 }] })
    expect(cmds.filter(c => c.type === 'collect')).toEqual([{ type: 'collect', by: 'house', account: '__proto__', to: 'seller', amount: 300, escrowId: 'g/p' }])
    for (const c of cmds) ap(c)
    expect(r.account('seller')?.free).toBe(300)
    expect(r.account('__proto__')?.free).toBe(700)
    expect(r.account('b')?.free).toBe(1000)
    expect(r.circulating()).toBe(r.minted)
  })
})
