/**
 * The economy against names that are property names of Object.prototype. Reported break: the treasury
 * minted to `__proto__`, which bid 700 against 300 in a Vickrey auction, won at 300 with `payments: {}`
 * (the seller got nothing, the winner kept its escrow), and the next snapshot dropped its balance so a
 * restarted voter failed ERR_DECODE (circulating != minted).
 */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { Economy, type MarketResult } from '../../protocols/market/index.js'

class Book {
  e: Economy
  index = 0
  at = 1000
  constructor (e?: Economy) { this.e = e ?? new Economy({ authorities: ['op'], unbondingDelayEntries: 5 }) }
  run (origin: string, cmd: Record<string, unknown>): MarketResult {
    const r = this.e.apply(cmd, ++this.index, { origin, at: ++this.at })
    expect(this.e.invariants(), JSON.stringify(cmd)).toEqual([])
    return r
  }

  ok (origin: string, cmd: Record<string, unknown>): Record<string, unknown> {
    const r = this.run(origin, cmd)
    if (!r.ok) throw new Error(`${JSON.stringify(cmd)} failed: ${r.code} ${r.message}`)
    return r
  }

  code (origin: string, cmd: Record<string, unknown>): string {
    const r = this.run(origin, cmd)
    return r.ok ? 'ok' : r.code
  }

  fund (account: string, owner: string, amount: number): void {
    this.ok('op', { type: 'mint', by: 'treasury', account, owner, amount })
  }

  /** Snapshot → JSON → restore, as a restarted voter does; the restored book continues from it. */
  restart (): Book {
    const text = JSON.stringify(this.e.snapshot())
    const b = new Book(Economy.restore(JSON.parse(text)))
    expect(JSON.stringify(b.e.snapshot())).toBe(text)
    b.index = this.index
    b.at = this.at
    return b
  }
}

function supplyOk (e: Economy): void {
  const s = e.supply()
  expect(s.total).toBe(s.minted)
}

/** The reported attack, with `name` as the high bidder against 300. */
function vickreyAttack (b: Book, name: string, auction = 'v1'): Record<string, unknown> {
  b.ok('ps', { type: 'auction.open', by: 'seller', auction: { id: auction, mechanism: 'vickrey', items: ['gpu'], durationMs: 100 } })
  b.ok('pa', { type: 'auction.bid', by: name, auction, bid: { amount: 700 } })
  b.ok('pb', { type: 'auction.bid', by: 'honest', auction, bid: { amount: 300 } })
  return b.ok('ps', { type: 'auction.close', by: 'seller', auction })
}

describe('economy: reserved names', () => {
  for (const name of ['__proto__', 'constructor', 'prototype']) {
    it(`the treasury cannot mint to "${name}" nor can anyone open it (ERR_RESERVED_NAME); supply unchanged`, () => {
      const b = new Book()
      b.fund('seller', 'ps', 1)
      const minted = b.e.supply().minted
      expect(b.code('op', { type: 'mint', by: 'treasury', account: name, owner: 'pa', amount: 1000 })).toBe('ERR_RESERVED_NAME')
      expect(b.code('pa', { type: 'open', by: name, account: name })).toBe('ERR_RESERVED_NAME')
      expect(b.code('op', { type: 'open', by: 'treasury', account: name, owner: 'pa' })).toBe('ERR_RESERVED_NAME')
      expect(b.e.account(name)).toBeUndefined()
      expect(b.e.ownerOf(name)).toBeNull()
      expect(b.e.supply().minted).toBe(minted)
      expect(b.code('pa', { type: 'auction.bid', by: name, auction: 'none', bid: { amount: 1 } })).toBe('ERR_UNKNOWN_AUCTION')
      supplyOk(b.restart().e)
    })

    it(`"${name}" is refused as an auction id or an item name`, () => {
      const b = new Book()
      b.fund('seller', 'ps', 1)
      expect(b.code('ps', { type: 'auction.open', by: 'seller', auction: { id: name, mechanism: 'vickrey', items: ['gpu'], durationMs: 100 } })).toBe('ERR_RESERVED_NAME')
      expect(b.code('ps', { type: 'auction.open', by: 'seller', auction: { id: 'a', mechanism: 'vickrey', items: [name], durationMs: 100 } })).toBe('ERR_RESERVED_NAME')
      const reserves = JSON.parse(`{"${name}": 5}`) as Record<string, number>
      expect(b.code('ps', { type: 'auction.open', by: 'seller', auction: { id: 'c', mechanism: 'combinatorial', items: ['x', name], durationMs: 100, reserves } })).toBe('ERR_RESERVED_NAME')
      expect(b.e.auctionIds()).toEqual([])
    })
  }
})

describe('economy: Object.prototype names are ordinary accounts', () => {
  for (const name of ['toString', 'hasOwnProperty', 'valueOf']) {
    it(`"${name}" wins a Vickrey auction at 300 and pays it; the seller is paid; snapshot → restore keeps supply`, () => {
      const b = new Book()
      b.fund('seller', 'ps', 1)
      b.fund(name, 'pa', 1000)
      b.fund('honest', 'pb', 1000)
      const r = vickreyAttack(b, name)
      expect(r).toMatchObject({ status: 'settled', settlementErrors: [] })
      const payments = (r.outcome as { payments: Record<string, number> }).payments
      expect(Object.keys(payments)).toEqual([name])
      expect(payments[name]).toBe(300)
      expect(b.e.account(name)).toMatchObject({ free: 700, escrow: 0 })
      expect(b.e.account('honest')).toMatchObject({ free: 1000, escrow: 0 })
      expect(b.e.account('seller')).toMatchObject({ free: 301 })
      supplyOk(b.e)
      const again = b.restart()
      supplyOk(again.e)
      expect(again.e.account(name)).toMatchObject({ free: 700 })
    })
  }

  it('a double auction pays a seller named "valueOf" what a buyer named "toString" paid, and reports both shortfalls as numbers', () => {
    const b = new Book()
    b.fund('seller', 'ps', 1)
    b.fund('toString', 'pa', 100)
    b.fund('valueOf', 'pb', 100)
    for (let i = 0; i < 60; i++) b.ok('op', { type: 'outcome', by: 'treasury', account: 'toString', delivered: true, onTime: true, qualityPpm: 1_000_000 })
    b.ok('ps', { type: 'auction.open', by: 'seller', auction: { id: 'dd', mechanism: 'double', items: ['x'], durationMs: 100 } })
    b.ok('pa', { type: 'auction.bid', by: 'toString', auction: 'dd', bid: { side: 'buy', limit: 150, quantity: 1 } })
    b.ok('pb', { type: 'auction.bid', by: 'valueOf', auction: 'dd', bid: { side: 'sell', limit: 100, quantity: 1 } })
    const r = b.ok('ps', { type: 'auction.close', by: 'seller', auction: 'dd' })
    // Price 125: the buyer has 100 and defaults on 25; the seller receives the 100 collected.
    expect(r).toMatchObject({ status: 'settled', settlementErrors: [] })
    expect({ ...(r.shortfalls as Record<string, unknown>) }).toEqual({ toString: 25, valueOf: 25 })
    expect(b.e.account('valueOf')).toMatchObject({ free: 200 })
    supplyOk(b.e)
    supplyOk(b.restart().e)
  })

  it('a combinatorial bundle with an item named "toString" still has to cover the other items\' reserves', () => {
    const b = new Book()
    b.fund('seller', 'ps', 1)
    b.fund('a', 'pa', 100)
    b.ok('ps', { type: 'auction.open', by: 'seller', auction: { id: 'c', mechanism: 'combinatorial', items: ['toString', 'x'], durationMs: 100, reserves: { x: 5 } } })
    expect(b.code('pa', { type: 'auction.bid', by: 'a', auction: 'c', bid: { bundles: [{ items: ['toString', 'x'], value: 3 }] } })).toBe('ERR_BELOW_RESERVE')
    expect(b.code('pa', { type: 'auction.bid', by: 'a', auction: 'c', bid: { bundles: [{ items: ['toString'], value: 0 }, { items: ['toString', 'x'], value: 5 }] } })).toBe('ok')
    expect(b.ok('ps', { type: 'auction.close', by: 'seller', auction: 'c' })).toMatchObject({ status: 'settled', outcome: { payments: { a: 5 } } })
    supplyOk(b.e)
  })
})

describe('economy snapshots', () => {
  it('an account named "__proto__" restored from an old snapshot cannot win for free, and survives the next snapshot', () => {
    // Written before the reserved-name rule: the only way such an account can still exist.
    const b0 = new Book()
    b0.fund('seller', 'ps', 1)
    b0.fund('mallory', 'pa', 1000)
    b0.fund('honest', 'pb', 1000)
    const text = JSON.stringify(b0.e.snapshot()).replaceAll('"mallory"', '"__proto__"')
    const b = new Book(Economy.restore(JSON.parse(text)))
    b.index = b0.index
    b.at = b0.at
    expect(b.e.account('__proto__')).toMatchObject({ free: 1000, owner: 'pa' })
    const r = vickreyAttack(b, '__proto__')
    const payments = (r.outcome as { payments: Record<string, number> }).payments
    expect(Object.keys(payments)).toEqual(['__proto__'])
    expect(payments['__proto__']).toBe(300)
    expect(b.e.account('seller')).toMatchObject({ free: 301 })
    expect(b.e.account('__proto__')).toMatchObject({ free: 700, escrow: 0 })
    supplyOk(b.e)
    // A restarted voter restores the next snapshot (it used to fail: circulating != minted).
    const again = b.restart()
    expect(again.e.account('__proto__')).toMatchObject({ free: 700 })
    supplyOk(again.e)
  })

  it('golden blob: an economy snapshot written before these fixes restores to the same bytes and goes on', () => {
    const text = readFileSync(new URL('./fixtures/economy-snapshot-v1.json', import.meta.url), 'utf8').trim()
    const e = Economy.restore(JSON.parse(text))
    expect(e.invariants()).toEqual([])
    expect(JSON.stringify(e.snapshot())).toBe(text)
    expect(e.auction('gold-1')?.outcome?.payments).toEqual({ constructor: 300 })
    expect(e.account('seller')).toMatchObject({ free: 310 })
    supplyOk(e)
    // The open auctions settle; the old account named "constructor" still trades.
    const b = new Book(e)
    b.index = e.ledger.appliedIndex
    b.at = e.now
    expect(b.ok('p0', { type: 'auction.close', by: 'seller', auction: 'gold-2' })).toMatchObject({ status: 'settled', outcome: { payments: { bob: -24, constructor: 24 } } })
    expect(b.ok('p0', { type: 'auction.close', by: 'seller', auction: 'gold-3' })).toMatchObject({ status: 'settled', outcome: { payments: { toString: 3 } } })
    supplyOk(b.e)
    supplyOk(b.restart().e)
  })

  it('a genesis naming an authority with a lone surrogate is refused (ERR_INVALID_OPTION)', () => {
    expect(() => new Economy({ authorities: ['op\ud800'] })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }))
  })
})

describe('economy: strings must be well-formed Unicode', () => {
  it('refuses a lone surrogate anywhere in a command (ERR_INVALID_COMMAND): ids, owner, auction spec, bids, reveals', () => {
    const b = new Book()
    b.fund('seller', 'ps', 1)
    b.fund('a', 'pa', 100)
    b.ok('ps', { type: 'auction.open', by: 'seller', auction: { id: 'c', mechanism: 'combinatorial', items: ['x', 'y'], durationMs: 100 } })
    b.ok('ps', { type: 'auction.open', by: 'seller', auction: { id: 's', mechanism: 'vickrey', items: ['x'], durationMs: 100, sealed: 'commit' } })
    const before = JSON.stringify(b.e.snapshot().ledger.accounts)
    const bad: Array<[string, Record<string, unknown>]> = [
      ['op', { type: 'mint', by: 'treasury', account: 'z\ud800', owner: 'pz', amount: 1 }],
      ['op', { type: 'mint', by: 'treasury', account: 'z', owner: 'p\ud800', amount: 1 }],
      ['pz', { type: 'open', by: 'z\udc00', account: 'z\udc00' }],
      ['pa', { type: 'transfer', by: 'a', from: 'a', to: 'seller\ud800', amount: 1 }],
      ['ps', { type: 'auction.open', by: 'seller', auction: { id: 'v\ud800', mechanism: 'vickrey', items: ['x'], durationMs: 100 } }],
      ['ps', { type: 'auction.open', by: 'seller', auction: { id: 'v', mechanism: 'vickrey', items: ['x\ud800'], durationMs: 100 } }],
      ['ps', { type: 'auction.open', by: 'seller', auction: { id: 'v', mechanism: 'combinatorial', items: ['x'], durationMs: 100, reserves: { ['x\ud800']: 1 } } }],
      ['pa', { type: 'auction.bid', by: 'a', auction: 'c', bid: { bundles: [{ items: ['x\ud800'], value: 5 }] } }],
      ['pa', { type: 'auction.bid', by: 'a', auction: 'c\ud800', bid: { bundles: [{ items: ['x'], value: 5 }] } }],
      ['pa', { type: 'auction.reveal', by: 'a', auction: 's', amount: 1, nonce: 'n\ud800' }],
      ['op', { type: 'slash', by: 'treasury', account: 'a', condition: 'task_failure', evidence: ['\udfff'] }]
    ]
    for (const [origin, cmd] of bad) expect(b.code(origin, cmd), JSON.stringify(cmd)).toBe('ERR_INVALID_COMMAND')
    expect(JSON.stringify(b.e.snapshot().ledger.accounts)).toBe(before)
    expect(b.e.auctionIds()).toEqual(['c', 's'])
    expect(b.e.auction('c')?.bids).toEqual([])
    // A `__proto__` key anywhere in a command is refused too.
    expect(b.code('pa', JSON.parse('{"type":"auction.bid","by":"a","auction":"c","bid":{"bundles":[{"items":["x"],"value":5}]},"__proto__":{"x":1}}') as Record<string, unknown>)).toBe('ERR_RESERVED_NAME')
    // Well-formed non-ASCII names are ordinary.
    b.ok('ps', { type: 'auction.open', by: 'seller', auction: { id: 'caf\u00e9', mechanism: 'vickrey', items: ['\ud83d\ude00'], durationMs: 100 } })
    b.ok('pa', { type: 'auction.bid', by: 'a', auction: 'caf\u00e9', bid: { amount: 3 } })
    supplyOk(b.restart().e)
  })

  it('a genesis naming an authority with a lone surrogate is refused (ERR_INVALID_OPTION)', () => {
    expect(() => new Economy({ authorities: ['op\ud800'] })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }))
  })
})
