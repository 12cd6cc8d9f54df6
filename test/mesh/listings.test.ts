/**
 * The listing reads of the client path (protocols/market/listings.ts, protocols/coordination/listings.ts)
 * as MeshApplication.read and the economy serve them: keyset pages that end at `limit` entries or at
 * LISTING_PAGE_BYTES_MAX bytes, cursors that resume exactly after the last entry, filters, and malformed
 * names answered as absent.
 */
import { describe, expect, it } from 'vitest'
import { LISTING_PAGE_BYTES_MAX, LISTING_PAGE_MAX, boundedPage, parseListingArg } from '../../src/base/page.js'
import { MeshApplication, encodeCoordCommand } from '../../protocols/mesh/application.js'
import { Economy } from '../../protocols/market/index.js'
import { accountsPage, auctionsPage, readEconomyListing } from '../../protocols/market/listings.js'

describe('boundedPage', () => {
  it('ends a page at limit entries or at the byte bound (never empty), with the last key as the cursor', () => {
    const keys = Array.from({ length: 10 }, (_, i) => i)
    expect(boundedPage(keys, 4, k => ({ k }), String)).toEqual({ entries: [0, 1, 2, 3].map(k => ({ k })), next: '3' })
    expect(boundedPage(keys, 10, k => ({ k }), String).next).toBeNull()
    // Skipped keys do not count, and a page that ends with the keys has no cursor.
    expect(boundedPage(keys, 5, k => k % 2 === 0 ? k : undefined, String)).toEqual({ entries: [0, 2, 4, 6, 8], next: null })
    expect(boundedPage(keys, 4, k => k % 2 === 0 ? k : undefined, String)).toEqual({ entries: [0, 2, 4, 6], next: '6' })
    // 100 KiB entries: two fit under 256 KiB, a third does not.
    const big = 'x'.repeat(100 * 1024)
    const p = boundedPage(keys, 1000, k => ({ k, big }), String)
    expect(p.entries.map(e => e.k)).toEqual([0, 1])
    expect(p.next).toBe('1')
    expect(JSON.stringify(p.entries).length).toBeLessThanOrEqual(LISTING_PAGE_BYTES_MAX)
    // One entry larger than the bound still makes a page.
    const huge = 'y'.repeat(LISTING_PAGE_BYTES_MAX + 1)
    expect(boundedPage([1, 2], 10, k => ({ k, huge }), String).entries).toHaveLength(1)
    // limit is clamped to 1..LISTING_PAGE_MAX.
    expect(boundedPage(Array.from({ length: 1500 }, (_, i) => i), 5000, k => k, String).entries).toHaveLength(LISTING_PAGE_MAX)
  })

  it('parses <limit>:<cursor> (the cursor may hold colons) and refuses the rest', () => {
    expect(parseListingArg('10:')).toEqual({ limit: 10, cursor: '' })
    expect(parseListingArg('2:a:b/c')).toEqual({ limit: 2, cursor: 'a:b/c' })
    expect(parseListingArg('5000:x')).toEqual({ limit: LISTING_PAGE_MAX, cursor: 'x' })
    for (const bad of ['', ':x', '0:', '-1:', 'ten:', '10', '99999:']) expect(parseListingArg(bad), bad).toBeUndefined()
  })
})

/** Coordination commands applied through the mesh application at increasing indexes. */
function coordination (): { app: MeshApplication, run: (origin: string, cmd: Record<string, unknown>, at?: number) => any, list: (name: string) => any } {
  const app = new MeshApplication()
  let index = 0
  const run = (origin: string, cmd: Record<string, unknown>, at = 0): any => app.apply(encodeCoordCommand(cmd), ++index, { origin, at })
  const list = (name: string): any => { const r = app.read(name); return r === undefined ? undefined : JSON.parse(r) }
  return { app, run, list }
}

describe('coordination listings (coord:list:…)', () => {
  it('elections in name order with leader, token and candidates; idle ones are not listed', () => {
    const h = coordination()
    const a = h.run('A', { t: 'lease.grant', ttlMs: 60_000 }).lease
    const b = h.run('B', { t: 'lease.grant', ttlMs: 60_000 }).lease
    for (const name of ['e.c', 'e.a', 'e.b']) h.run('A', { t: 'lock.acquire', kind: 'election', name, lease: a, value: JSON.stringify({ name }) })
    h.run('B', { t: 'lock.acquire', kind: 'election', name: 'e.a', lease: b, wait: true })
    const p1 = h.list('coord:list:elections:2:')
    expect(p1.entries.map((e: any) => e.name)).toEqual(['e.a', 'e.b'])
    expect(p1.entries[0]).toMatchObject({ name: 'e.a', leader: { owner: 'A', lease: a, value: { name: 'e.a' } }, candidates: 1 })
    expect(p1.next).toBe('e.b')
    expect(h.list(`coord:list:elections:2:${p1.next as string}`)).toEqual({ entries: [expect.objectContaining({ name: 'e.c', candidates: 0 })], next: null })
    // The leader resigns: its candidate leads under a newer token; an election nobody holds or wants is gone.
    const token = p1.entries[0].leader.token
    h.run('A', { t: 'lock.release', kind: 'election', name: 'e.a', token })
    const e2 = p1.entries[1].leader.token
    h.run('A', { t: 'lock.release', kind: 'election', name: 'e.b', token: e2 })
    const p2 = h.list('coord:list:elections:10:')
    expect(p2.entries.map((e: any) => e.name)).toEqual(['e.a', 'e.c'])
    expect(p2.entries[0].leader).toMatchObject({ owner: 'B', value: null })
    expect(p2.entries[0].leader.token).toBeGreaterThan(token)
  })

  it('barriers with arrived and needed parties and the last outcome; votes newest first with the tally', () => {
    const h = coordination()
    const a = h.run('A', { t: 'lease.grant', ttlMs: 60_000 }).lease
    h.run('A', { t: 'barrier.arrive', name: 'b.one', agent: 'x', parties: 1, lease: a, timeoutMs: 10_000 })
    h.run('A', { t: 'barrier.arrive', name: 'b.two', agent: 'x', parties: 3, lease: a, timeoutMs: 10_000 })
    expect(h.list('coord:list:barriers:10:')).toEqual({
      entries: [
        { name: 'b.one', parties: 1, arrived: 0, generation: 2, deadline: null, zone: null, last: { generation: 1, status: 'released', reason: null, index: expect.any(Number) } },
        { name: 'b.two', parties: 3, arrived: 1, generation: 1, deadline: 10_000, zone: null, last: null }
      ],
      next: null
    })
    const voters = [{ agent: 'v1', host: 'A' }, { agent: 'v2', host: 'A' }, { agent: 'v3', host: 'A' }]
    const ids = [1, 2, 3].map(() => h.run('O', { t: 'vote.open', options: ['yes', 'no'], voters, rule: { kind: 'majority' }, deadlineMs: 60_000 }).vote as number)
    h.run('A', { t: 'vote.ballot', vote: ids[0], agent: 'v1', choice: 'yes' })
    h.run('A', { t: 'vote.ballot', vote: ids[0], agent: 'v2', choice: 'yes' })
    h.run('A', { t: 'vote.ballot', vote: ids[2], agent: 'v3', choice: 'no' })
    const p1 = h.list('coord:list:votes:2:')
    expect(p1.entries.map((v: any) => v.vote)).toEqual([ids[2], ids[1]])
    expect(p1.entries[0]).toMatchObject({ status: 'open', ballots: 1, voters: 3, tally: [['yes', 0], ['no', 1]], outcome: null, reason: null, topic: null })
    expect(p1.next).toBe(String(ids[1]))
    const p2 = h.list(`coord:list:votes:2:${p1.next as string}`)
    expect(p2).toEqual({ entries: [expect.objectContaining({ vote: ids[0], status: 'decided', outcome: 'yes', reason: 'threshold', ballots: 2, tally: [['yes', 2], ['no', 0]] })], next: null })
  })

  it('answers malformed listing names as absent', () => {
    const h = coordination()
    for (const name of ['coord:list:', 'coord:list:locks:10:', 'coord:list:votes:10:abc', 'coord:list:elections:0:', 'coord:list:barriers']) expect(h.app.read(name), name).toBeUndefined()
  })
})

describe('economy listings (econ:accounts:…, econ:auction-page:…)', () => {
  /** An economy with accounts funded by the treasury, commands at increasing indexes. */
  const book = (): { e: Economy, ok: (origin: string, cmd: Record<string, unknown>) => Record<string, unknown> } => {
    const e = new Economy({ authorities: ['op'], unbondingDelayEntries: 5 })
    let index = 0
    const ok = (origin: string, cmd: Record<string, unknown>): Record<string, unknown> => {
      const r = e.apply(cmd, ++index, { origin, at: 1000 + index })
      if (!r.ok) throw new Error(`${JSON.stringify(cmd)}: ${r.code} ${r.message}`)
      return r
    }
    return { e, ok }
  }

  it('pages every account once, in id order, with the slashing summary', () => {
    const { e, ok } = book()
    const ids = Array.from({ length: 1205 }, (_, i) => `acct-${String(i).padStart(5, '0')}`)
    for (const account of [...ids].reverse()) ok('op', { type: 'mint', by: 'treasury', account, owner: 'p1', amount: 10 })
    ok('p1', { type: 'stake', by: ids[3], account: ids[3], amount: 10 })
    ok('op', { type: 'slash', by: 'treasury', account: ids[3], condition: 'timeout_violation' })
    ok('op', { type: 'slash', by: 'treasury', account: ids[3], condition: 'timeout_violation' })
    const seen: string[] = []
    let cursor = ''
    for (let pages = 0; pages < 10; pages++) {
      const p = JSON.parse(readEconomyListing(e, `econ:accounts:1000:${cursor}`)!)
      seen.push(...p.entries.map((a: any) => a.account))
      if (p.next === null) break
      cursor = p.next
    }
    expect(seen.filter(id => id.startsWith('acct-'))).toEqual(ids)
    const slashed = accountsPage(e, 1, ids[2]!).entries[0]!
    expect(slashed.account).toBe(ids[3])
    // timeout_violation: the first offence is a graced warning, the second slashes.
    expect(slashed.slashing).toMatchObject({ count: 1, offences: { timeout_violation: 2 }, kept: 2, last: { condition: 'timeout_violation', offence: 2, graced: false } })
    expect(slashed.slashing.keptAmount).toBe(slashed.slashing.last!.amount)
    expect(slashed.staked + slashed.slashing.keptAmount).toBe(10)
    // An account opened after a page was read is in the next read (the sorted ids are not kept stale).
    expect(accountsPage(e, 2, '').entries.map(a => a.account)).toEqual([ids[0], ids[1]])
    ok('p2', { type: 'open', by: 'acct-00000a', account: 'acct-00000a' })
    expect(accountsPage(e, 2, '').entries.map(a => a.account)).toEqual([ids[0], 'acct-00000a'])
    for (const bad of ['econ:accounts:', 'econ:accounts:0:', 'econ:accounts:x:']) expect(readEconomyListing(e, bad), bad).toBeUndefined()
  })

  it('pages auctions newest first, filtered by state, resuming before the cursor\'s open index', () => {
    const { e, ok } = book()
    ok('op', { type: 'mint', by: 'treasury', account: 'seller', owner: 's', amount: 1 })
    ok('op', { type: 'mint', by: 'treasury', account: 'buyer', owner: 'b', amount: 100 })
    for (const id of ['au-1', 'au-2', 'au-3']) ok('s', { type: 'auction.open', by: 'seller', auction: { id, mechanism: 'first-price', items: ['gpu'], reserve: 1, durationMs: 60_000 } })
    ok('b', { type: 'auction.bid', by: 'buyer', auction: 'au-2', bid: { amount: 7 } })
    ok('s', { type: 'auction.close', by: 'seller', auction: 'au-2' })
    const all = auctionsPage(e, 2, Number.MAX_SAFE_INTEGER)
    expect(all.entries.map(a => a.id)).toEqual(['au-3', 'au-2'])
    expect(all.entries[1]).toMatchObject({ status: 'settled', bids: 1, outcome: 'sold', clearingPrice: 7, winners: [{ agent: 'buyer', price: 7, quantity: 1 }] })
    const rest = JSON.parse(readEconomyListing(e, `econ:auction-page:2::${all.next!}`)!)
    expect(rest).toEqual({ entries: [expect.objectContaining({ id: 'au-1', status: 'open', outcome: null })], next: null })
    expect(JSON.parse(readEconomyListing(e, 'econ:auction-page:10:open:')!).entries.map((a: any) => a.id)).toEqual(['au-3', 'au-1'])
    for (const bad of ['econ:auction-page:10:shut:', 'econ:auction-page:10:open:x', 'econ:auction-page:10']) expect(readEconomyListing(e, bad), bad).toBeUndefined()
  })
})
