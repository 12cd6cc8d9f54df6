/**
 * The listings a dashboard reads in one request per page (issue 16), through three real daemons (child
 * processes on loopback, all Raft voters): ledger accounts with balances, stakes and their slashing
 * summary; auction summaries beside the old id list; elections, barriers and votes with their state; and
 * the topology (who reaches whom, from the peers' gossiped reachability views), which changes when a
 * daemon is killed. Pages are followed by their `next` cursor; bad parameters are 400 ERR_BAD_REQUEST
 * naming the parameter. The topology test kills a daemon; after it, a daemon outside the Raft group reads
 * the listings through the client path, in pages cut at 256 KiB.
 */
import { execFileSync } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CLI, NODE, api, exitOf, startDaemon, stopAll } from './helpers.js'
import type { Daemon } from './helpers.js'
import { ROUTE_TEMPLATES } from '../../src/daemon/routes.js'
import { waitUntil } from '../helpers/wait.js'

let root: string
let config: string
let d0: Daemon, d1: Daemon, d2: Daemon

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'agora-listings-'))
  const dirs = [0, 1, 2].map(i => join(root, `d${i}`))
  const ids = dirs.map(dir => execFileSync(NODE, [CLI, 'id', '--data-dir', dir]).toString().trim())
  // A short heartbeat: views (sent every 10 heartbeats, and on a change) arrive within seconds.
  config = join(root, 'agora.json')
  await writeFile(config, JSON.stringify({ heartbeatIntervalMs: 500 }))
  const args = ['--config', config, '--raft-voters', ids.join(',')]
  d0 = await startDaemon(dirs[0]!, args)
  d1 = await startDaemon(dirs[1]!, [...args, '--bootstrap', d0.addresses[0]!])
  d2 = await startDaemon(dirs[2]!, [...args, '--bootstrap', d0.addresses[0]!])
  for (const d of [d0, d1, d2]) await waitUntil(async () => (await api(d, 'GET', '/ready')).status === 200, { what: `daemon ${d.peerId.slice(-6)} ready`, timeoutMs: 60_000 })
})

afterAll(async () => {
  await stopAll()
  await rm(root, { recursive: true, force: true })
})

/** Every entry of a listing, following `next` with pages of `limit`; also the number of pages read. */
async function all (d: Daemon, path: string, key: string, limit: number): Promise<{ entries: any[], pages: number }> {
  const entries: any[] = []
  let cursor: string | null = null
  let pages = 0
  do {
    const sep = path.includes('?') ? '&' : '?'
    const r = await api(d, 'GET', `${path}${sep}limit=${limit}${cursor !== null ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)
    expect(r.status, JSON.stringify(r.json)).toBe(200)
    expect(r.json[key].length).toBeLessThanOrEqual(limit)
    entries.push(...r.json[key])
    cursor = r.json.next
    pages++
    expect(pages).toBeLessThan(1000)
  } while (cursor !== null)
  return { entries, pages }
}

/** A 400's code and path. */
async function bad (d: Daemon, path: string): Promise<{ status: number, code: string, path: string }> {
  const r = await api(d, 'GET', path)
  return { status: r.status, code: r.json.error?.code, path: r.json.error?.path }
}

async function registered (host: Daemon, id: string): Promise<void> {
  expect((await api(host, 'POST', '/v1/agents', { id, capabilities: ['listing'] })).status).toBe(201)
  for (const d of [d0, d1, d2]) await waitUntil(async () => (await api(d, 'GET', `/v1/agents/${id}`)).status === 200, `${id} known to every daemon`)
}

describe('GET /v1/ledger/accounts', () => {
  it('pages every account in id order with balances, stakes and a slashing summary', async () => {
    for (const [account, amount, owner] of [['lst-a', 100, d0], ['lst-b', 50, d1], ['lst-c', 70, d2], ['lst-d', 5, d1]] as const) {
      expect((await api(d0, 'POST', '/v1/ledger/mint', { account, amount, owner: owner.peerId })).status).toBe(200)
    }
    expect((await api(d1, 'POST', '/v1/ledger/stake', { account: 'lst-b', amount: 40 })).status).toBe(200)
    const slash = await api(d0, 'POST', '/v1/ledger/slash', { account: 'lst-b', condition: 'byzantine_behavior', evidence: { note: 'equivocation' } })
    expect(slash.status).toBe(200)
    const taken = slash.json.result.amount as number
    expect(taken).toBeGreaterThan(0)

    // Pages of 2 from a follower: the same accounts as one page of 1000, in id order.
    const { entries, pages } = await all(d2, '/v1/ledger/accounts', 'accounts', 2)
    const whole = (await api(d2, 'GET', '/v1/ledger/accounts?limit=1000')).json
    expect(whole.next).toBeNull()
    expect(entries).toEqual(whole.accounts)
    expect(pages).toBeGreaterThanOrEqual(2)
    const ids = entries.map(a => a.account)
    expect(ids).toEqual([...ids].sort())
    const mine = entries.filter(a => a.account.startsWith('lst-'))
    expect(mine.map(a => a.account)).toEqual(['lst-a', 'lst-b', 'lst-c', 'lst-d'])
    expect(mine[0]).toMatchObject({ account: 'lst-a', owner: d0.peerId, free: 100, escrow: 0, staked: 0, unbonding: 0, slashing: { count: 0, kept: 0, keptAmount: 0, last: null } })
    expect(mine[1]).toMatchObject({
      account: 'lst-b',
      owner: d1.peerId,
      free: 10,
      staked: 40 - taken,
      slashing: { count: 1, offences: { byzantine_behavior: 1 }, kept: 1, keptAmount: taken, last: { condition: 'byzantine_behavior', severity: 'critical', offence: 1, graced: false, amount: taken } }
    })
    expect(mine[1].slashing.last.evidence).toBeUndefined()
    // The account's own view has the whole record, evidence included.
    expect((await api(d2, 'GET', '/v1/ledger/accounts/lst-b')).json.account.history[0].evidence).toEqual({ note: 'equivocation' })
    // A cursor starts after it; a member's own replica answers the same.
    const after = (await api(d1, 'GET', '/v1/ledger/accounts?cursor=lst-b&limit=2&linearizable=false')).json
    expect(after.accounts.map((a: any) => a.account)).toEqual(ids.slice(ids.indexOf('lst-b') + 1, ids.indexOf('lst-b') + 3))
    // Opening an account is still a POST.
    expect((await api(d1, 'POST', '/v1/ledger/accounts', { account: 'lst-e' })).status).toBe(201)
    expect((await api(d0, 'GET', '/v1/ledger/accounts?cursor=lst-d&limit=1')).json.accounts[0]).toMatchObject({ account: 'lst-e', free: 0, owner: d1.peerId })

    expect(await bad(d0, '/v1/ledger/accounts?limit=0')).toEqual({ status: 400, code: 'ERR_BAD_REQUEST', path: 'limit' })
    expect(await bad(d0, '/v1/ledger/accounts?limit=1001')).toEqual({ status: 400, code: 'ERR_BAD_REQUEST', path: 'limit' })
    expect(await bad(d0, '/v1/ledger/accounts?limit=ten')).toEqual({ status: 400, code: 'ERR_BAD_REQUEST', path: 'limit' })
    expect(await bad(d0, `/v1/ledger/accounts?cursor=${'x'.repeat(257)}`)).toEqual({ status: 400, code: 'ERR_BAD_REQUEST', path: 'cursor' })
    expect(await bad(d0, '/v1/ledger/accounts?linearizable=maybe')).toEqual({ status: 400, code: 'ERR_BAD_REQUEST', path: 'linearizable' })
  })
})

describe('GET /v1/auctions?detail=1', () => {
  it('lists open and settled auctions with state, goods, times, bids and winners, newest first; without detail the ids as before', async () => {
    for (const [account, amount, owner] of [['lst-seller', 1, d0], ['lst-bidder-1', 100, d1], ['lst-bidder-2', 100, d2]] as const) {
      expect((await api(d0, 'POST', '/v1/ledger/mint', { account, amount, owner: owner.peerId })).status).toBe(200)
    }
    expect((await api(d0, 'POST', '/v1/auctions', { id: 'lst-sold', mechanism: 'first-price', items: ['gpu'], reserve: 5, durationMs: 60_000, seller: 'lst-seller' })).status).toBe(201)
    expect((await api(d1, 'POST', '/v1/auctions/lst-sold/bids', { agent: 'lst-bidder-1', bid: { amount: 20 } })).status).toBe(201)
    expect((await api(d2, 'POST', '/v1/auctions/lst-sold/bids', { agent: 'lst-bidder-2', bid: { amount: 30 } })).status).toBe(201)
    expect((await api(d0, 'POST', '/v1/auctions/lst-sold/close', { by: 'lst-seller' })).json.auction.status).toBe('settled')
    expect((await api(d0, 'POST', '/v1/auctions', { id: 'lst-open', mechanism: 'vickrey', items: ['cpu'], reserve: 1, durationMs: 600_000, seller: 'lst-seller' })).status).toBe(201)

    const page = (await api(d2, 'GET', '/v1/auctions?detail=1&limit=2')).json
    expect(page.auctions.map((a: any) => a.id)).toEqual(['lst-open', 'lst-sold'])
    const [open, sold] = page.auctions
    expect(open).toMatchObject({ id: 'lst-open', mechanism: 'vickrey', seller: 'lst-seller', status: 'open', items: ['cpu'], itemsMore: 0, bids: 0, outcome: null, winners: [], settledIndex: null })
    expect(open.closesAt - open.openedAt).toBe(600_000)
    expect(sold).toMatchObject({ id: 'lst-sold', mechanism: 'first-price', status: 'settled', items: ['gpu'], bids: 2, outcome: 'sold', clearingPrice: 30, winners: [{ agent: 'lst-bidder-2', price: 30, quantity: 1 }] })
    expect(sold.settledIndex).toBeGreaterThan(sold.openedIndex)
    expect(open.openedIndex).toBeGreaterThan(sold.openedIndex)
    // Paging: one per page, the cursor is the last auction's open index.
    const first = (await api(d1, 'GET', '/v1/auctions?detail=1&limit=1')).json
    expect(first).toEqual({ auctions: [open], next: String(open.openedIndex) })
    const second = (await api(d1, 'GET', `/v1/auctions?detail=true&limit=1&cursor=${first.next as string}`)).json
    expect(second.auctions).toEqual([sold])
    const { entries } = await all(d0, '/v1/auctions?detail=1', 'auctions', 1)
    expect(entries.slice(0, 2)).toEqual([open, sold])
    // Filtered by state; a member's replica answers the same.
    const onlyOpen = (await api(d0, 'GET', '/v1/auctions?detail=1&status=open&linearizable=false')).json
    expect(onlyOpen.auctions.map((a: any) => a.id)).toContain('lst-open')
    expect(onlyOpen.auctions.every((a: any) => a.status === 'open')).toBe(true)
    expect(onlyOpen.next).toBeNull()
    // Without detail (or detail=0): the ids, oldest first, as before.
    const ids = (await api(d2, 'GET', '/v1/auctions')).json
    expect(Object.keys(ids)).toEqual(['auctions'])
    expect(ids.auctions.slice(-2)).toEqual(['lst-sold', 'lst-open'])
    expect((await api(d2, 'GET', '/v1/auctions?detail=0')).json).toEqual(ids)

    expect(await bad(d0, '/v1/auctions?detail=yes')).toEqual({ status: 400, code: 'ERR_BAD_REQUEST', path: 'detail' })
    expect(await bad(d0, '/v1/auctions?detail=1&status=shut')).toEqual({ status: 400, code: 'ERR_BAD_REQUEST', path: 'status' })
    expect(await bad(d0, '/v1/auctions?detail=1&cursor=lst-open')).toEqual({ status: 400, code: 'ERR_BAD_REQUEST', path: 'cursor' })
    expect(await bad(d0, '/v1/auctions?detail=1&limit=5000')).toEqual({ status: 400, code: 'ERR_BAD_REQUEST', path: 'limit' })
  })
})

describe('GET /v1/coordination/elections, /barriers, /votes', () => {
  it('elections with their leader and candidates, in name order, paged', async () => {
    const led = await api(d1, 'POST', '/v1/coordination/elections/lst.e1/campaign', { value: { who: 'd1' }, ttlMs: 60_000 })
    expect(led.status).toBe(200)
    expect((await api(d2, 'POST', '/v1/coordination/elections/lst.e2/campaign', { value: 'two', ttlMs: 60_000 })).status).toBe(200)
    // A second candidate of lst.e1 waits.
    const waiting = api(d0, 'POST', '/v1/coordination/elections/lst.e1/campaign', { ttlMs: 60_000, waitMs: 60_000 })
    await waitUntil(async () => (await api(d2, 'GET', '/v1/coordination/elections?limit=1000')).json.elections.find((e: any) => e.name === 'lst.e1')?.candidates === 1, { what: 'a candidate waiting at lst.e1', timeoutMs: 30_000 })
    const { entries } = await all(d0, '/v1/coordination/elections', 'elections', 1)
    const mine = entries.filter(e => e.name.startsWith('lst.'))
    expect(mine).toEqual([
      { name: 'lst.e1', leader: { owner: d1.peerId, lease: led.json.lease, token: led.json.token, since: expect.any(Number), value: { who: 'd1' } }, candidates: 1 },
      { name: 'lst.e2', leader: expect.objectContaining({ owner: d2.peerId, value: 'two' }), candidates: 0 }
    ])
    // Resigning hands lst.e1 to the waiting candidate, under a newer token (the election's term).
    expect((await api(d1, 'POST', '/v1/coordination/elections/lst.e1/resign', { token: led.json.token })).status).toBe(200)
    const next = await waiting
    expect(next.status).toBe(200)
    const e1 = (await api(d1, 'GET', '/v1/coordination/elections?cursor=lst.e0&limit=1&linearizable=false')).json
    expect(e1.elections).toEqual([{ name: 'lst.e1', leader: expect.objectContaining({ owner: d0.peerId, token: next.json.token, value: null }), candidates: 0 }])
    expect(next.json.token).toBeGreaterThan(led.json.token)
    expect(e1.next).toBe('lst.e1')
    expect(await bad(d0, '/v1/coordination/elections?cursor=bad%20name')).toEqual({ status: 400, code: 'ERR_BAD_REQUEST', path: 'cursor' })
    expect(await bad(d0, '/v1/coordination/elections?limit=-1')).toEqual({ status: 400, code: 'ERR_BAD_REQUEST', path: 'limit' })
  })

  it('barriers with parties arrived and needed, and how the last generation ended', async () => {
    await registered(d0, 'lst-bar-a')
    await registered(d1, 'lst-bar-b')
    const arrive = async (d: Daemon, agent: string): Promise<{ status: number, json: any }> => await api(d, 'POST', '/v1/coordination/barriers/lst.b1/arrive', { agent, parties: 2, timeoutMs: 60_000 })
    const first = arrive(d0, 'lst-bar-a')
    const state = async (): Promise<any> => (await api(d2, 'GET', '/v1/coordination/barriers?limit=1000')).json.barriers.find((b: any) => b.name === 'lst.b1')
    const waitingAt = await waitUntil(async () => { const b = await state(); return b?.arrived === 1 ? b : undefined }, { what: 'one party arrived at lst.b1', timeoutMs: 30_000 })
    expect(waitingAt).toMatchObject({ name: 'lst.b1', parties: 2, arrived: 1, zone: null, last: null })
    expect(waitingAt.deadline).toEqual(expect.any(Number))
    const [a, b] = await Promise.all([first, arrive(d1, 'lst-bar-b')])
    expect([a.status, b.status]).toEqual([200, 200])
    const released = await state()
    expect(released).toEqual({ name: 'lst.b1', parties: 2, arrived: 0, generation: a.json.generation + 1, deadline: null, zone: null, last: { generation: a.json.generation, status: 'released', reason: null, index: expect.any(Number) } })
    expect(await bad(d0, '/v1/coordination/barriers?cursor=%E2%82%AC')).toEqual({ status: 400, code: 'ERR_BAD_REQUEST', path: 'cursor' })
  })

  it('votes, newest first: open ones with the tally so far, decided ones with the decision', async () => {
    await registered(d1, 'lst-v1')
    await registered(d2, 'lst-v2')
    for (const [d, id] of [[d1, 'lst-v1'], [d2, 'lst-v2']] as const) expect((await api(d, 'POST', `/v1/agents/${id}/voter`, {})).status).toBe(200)
    const answer = async (d: Daemon, id: string, choice: string): Promise<void> => {
      const req = await waitUntil(async () => (await api(d, 'GET', `/v1/vote-requests?agent=${id}&waitMs=2000`)).json.requests[0], { what: `a vote request for ${id}`, timeoutMs: 30_000 })
      expect((await api(d, 'POST', `/v1/vote-requests/${req.requestId as string}`, { choice })).status).toBe(200)
    }
    const decided = api(d0, 'POST', '/v1/coordination/votes', { options: ['yes', 'no'], voters: ['lst-v1', 'lst-v2'], rule: 'unanimous', deadlineMs: 60_000, topic: 'lst.release' })
    await answer(d1, 'lst-v1', 'yes')
    const open = await waitUntil(async () => {
      const v = (await api(d2, 'GET', '/v1/coordination/votes?limit=1')).json.votes[0]
      return v?.topic === 'lst.release' && v.ballots === 1 ? v : undefined
    }, { what: 'the open vote with one ballot', timeoutMs: 30_000 })
    expect(open).toMatchObject({ opener: d0.peerId, options: ['yes', 'no'], rule: { kind: 'unanimous' }, voters: 2, ballots: 1, status: 'open', tally: [['yes', 1], ['no', 0]], outcome: null, reason: null })
    await answer(d2, 'lst-v2', 'yes')
    const r = await decided
    expect(r.json).toMatchObject({ status: 'decided', outcome: 'yes' })
    expect(r.json.vote).toBe(open.vote)
    // A second vote (failing at its deadline: nobody answers) lists first.
    const failed = await api(d0, 'POST', '/v1/coordination/votes', { options: ['a', 'b'], voters: ['lst-v1'], deadlineMs: 1500, requestTimeoutMs: 500, topic: 'lst.late' })
    expect(failed.json).toMatchObject({ status: 'failed', reason: 'deadline' })
    const { entries, pages } = await all(d1, '/v1/coordination/votes', 'votes', 1)
    expect(pages).toBeGreaterThanOrEqual(2)
    expect(entries.map(v => v.vote)).toEqual([...entries.map(v => v.vote)].sort((x, y) => y - x))
    const mine = entries.filter(v => v.vote === failed.json.vote || v.vote === r.json.vote)
    expect(mine).toEqual([
      expect.objectContaining({ vote: failed.json.vote, topic: 'lst.late', status: 'failed', outcome: null, reason: 'deadline', ballots: 0, tally: [['a', 0], ['b', 0]] }),
      expect.objectContaining({ vote: r.json.vote, topic: 'lst.release', status: 'decided', outcome: 'yes', reason: 'threshold', ballots: 2, tally: [['yes', 2], ['no', 0]] })
    ])
    const older = (await api(d2, 'GET', `/v1/coordination/votes?cursor=${failed.json.vote as number}&limit=1&linearizable=false`)).json
    expect(older.votes[0].vote).toBe(r.json.vote)
    expect(await bad(d0, '/v1/coordination/votes?cursor=abc')).toEqual({ status: 400, code: 'ERR_BAD_REQUEST', path: 'cursor' })
    // Opening a vote is still a POST.
    expect((await api(d0, 'POST', '/v1/coordination/votes', {})).json.error.code).toBe('ERR_BAD_REQUEST')
  })
})

describe('OpenAPI', () => {
  it('documents every listing route and the route templates name them', async () => {
    const spec = (await api(d1, 'GET', '/v1/openapi.json')).json
    for (const t of ['/v1/ledger/accounts', '/v1/auctions', '/v1/coordination/elections', '/v1/coordination/barriers', '/v1/coordination/votes', '/v1/topology']) {
      expect(ROUTE_TEMPLATES).toContain(t)
      expect(spec.paths[t]?.get, t).toBeDefined()
    }
    expect(spec.paths['/v1/ledger/accounts'].post).toBeDefined()
    expect(spec.paths['/v1/coordination/votes'].post).toBeDefined()
    expect(spec.paths['/v1/auctions'].get.parameters.map((p: any) => p.name)).toEqual(['detail', 'status', 'limit', 'cursor', 'linearizable'])
    // Every route template is an OpenAPI path (but the two whose actions are documented one by one: /v1/ledger/mint, /v1/auctions/{id}/bids...).
    const generic = new Set(['/v1/ledger/:command', '/v1/auctions/:id/:action'])
    const paths = Object.keys(spec.paths)
    for (const t of ROUTE_TEMPLATES.filter(t => t.startsWith('/v1/') && !generic.has(t))) expect(paths, t).toContain(t.replace(/:([A-Za-z]+)/g, '{$1}'))
  })
})

describe('GET /v1/topology', () => {
  it('who reaches whom from the gossiped views, this daemon\'s connections and the Raft progress; a killed daemon drops out of the others\' reach', async () => {
    const everyone = [d0.peerId, d1.peerId, d2.peerId].sort()
    const others = (id: string): string[] => everyone.filter(x => x !== id)
    const leader = await waitUntil(async () => { const id = (await api(d0, 'GET', '/v1/status')).json.raft?.leader; return [d0, d1, d2].find(d => d.peerId === id) }, { what: 'a leader', timeoutMs: 30_000 })
    const watcher = [d0, d1, d2].find(d => d !== leader && d !== d2) ?? d0
    const full = await waitUntil(async () => {
      const t = (await api(watcher, 'GET', '/v1/topology')).json
      return t.peers.length === 3 && t.peers.every((p: any) => p.reaches !== null && p.reaches.length === 2) ? t : undefined
    }, { what: 'views from both other daemons', timeoutMs: 60_000 })
    expect(full.peerId).toBe(watcher.peerId)
    expect(full.connections).toEqual(others(watcher.peerId))
    expect(full.peers[0]).toMatchObject({ peerId: watcher.peerId, self: true, state: 'reachable', connected: true, view: null, reaches: others(watcher.peerId) })
    for (const p of full.peers.slice(1)) {
      expect(p).toMatchObject({ self: false, state: 'reachable', connected: true, reaches: others(p.peerId), view: { fresh: true, reached: 2, silentTotal: 0, silent: [], complete: true } })
      expect(p.view.ageMs).toBeGreaterThanOrEqual(0)
    }
    expect(full.peers.map((p: any) => p.peerId).slice(1)).toEqual(others(watcher.peerId))
    expect(full.peersMore).toBe(0)
    expect(full.raft).toMatchObject({ leader: leader.peerId, quorum: { voters: 3, ok: true } })
    expect(full.raft.members.map((m: any) => m.peerId).sort()).toEqual(everyone)
    // On the leader, each member's match index and lag.
    const onLeader = (await api(leader, 'GET', '/v1/topology')).json
    expect(onLeader.raft.role).toBe('leader')
    for (const m of onLeader.raft.members) {
      expect(m.match).toEqual(expect.any(Number))
      expect(m.lag).toBeGreaterThanOrEqual(0)
    }

    // d2 dies: the watcher stops reaching it, and the other live daemon's next view says it cannot either.
    const other = [d0, d1].find(d => d !== watcher)!
    d2.proc.kill('SIGKILL')
    await exitOf(d2.proc)
    const cut = await waitUntil(async () => {
      const t = (await api(watcher, 'GET', '/v1/topology')).json
      const dead = t.peers.find((p: any) => p.peerId === d2.peerId)
      const live = t.peers.find((p: any) => p.peerId === other.peerId)
      return dead?.state === 'unreachable' && live?.view?.silent.includes(d2.peerId) === true ? t : undefined
    }, { what: `${watcher.peerId.slice(-6)} to see ${d2.peerId.slice(-6)} gone from both live daemons' reach`, timeoutMs: 60_000 })
    expect(cut.connections).toEqual([other.peerId])
    expect(cut.peers[0].reaches).toEqual([other.peerId])
    expect(cut.peers.find((p: any) => p.peerId === other.peerId)).toMatchObject({ state: 'reachable', reaches: [watcher.peerId], view: { silentTotal: 1, silent: [d2.peerId], complete: true, reached: 1 } })
    expect(cut.peers.find((p: any) => p.peerId === d2.peerId)).toMatchObject({ connected: false })
  })
})

describe('a daemon outside the Raft group', () => {
  it('reads the listings through a member (the Raft client path); a page ends at 256 KiB whatever the limit', async () => {
    const d3 = await startDaemon(join(root, 'd3'), ['--config', config, '--bootstrap', d0.addresses[0]!])
    expect((await api(d3, 'GET', '/v1/status')).json.raft ?? null).toBeNull()
    // 70 elections with 4 KB values: about 280 KiB, more than one page holds.
    const value = 'v'.repeat(4000)
    const names = Array.from({ length: 70 }, (_, i) => `big.${String(i).padStart(2, '0')}`)
    for (let i = 0; i < names.length; i += 10) {
      const led = await Promise.all(names.slice(i, i + 10).map(async n => await api(d0, 'POST', `/v1/coordination/elections/${n}/campaign`, { value, ttlMs: 600_000 })))
      expect(led.map(r => r.status)).toEqual(led.map(() => 200))
    }
    const first = await waitUntil(async () => { const r = await api(d3, 'GET', '/v1/coordination/elections?limit=1000&cursor=big'); return r.status === 200 ? r.json : undefined }, { what: 'd3 reading through a member', timeoutMs: 60_000 })
    expect(first.elections.length).toBeGreaterThan(1)
    expect(first.elections.length).toBeLessThan(70)
    expect(JSON.stringify(first.elections).length).toBeLessThanOrEqual(256 * 1024)
    expect(first.next).toBe(first.elections.at(-1).name)
    const { entries } = await all(d3, '/v1/coordination/elections', 'elections', 1000)
    expect(entries.filter(e => e.name.startsWith('big.')).map(e => e.name)).toEqual(names)
    expect(entries.find(e => e.name === 'big.42')).toMatchObject({ leader: { owner: d0.peerId, value }, candidates: 0 })
    // The same accounts as a member's; linearizable=false has no replica here: a read through the group.
    const members = (await api(d0, 'GET', '/v1/ledger/accounts?limit=1000')).json
    expect((await api(d3, 'GET', '/v1/ledger/accounts?limit=1000')).json).toEqual(members)
    expect((await api(d3, 'GET', '/v1/ledger/accounts?limit=1000&linearizable=false')).json).toEqual(members)
    expect((await api(d3, 'GET', '/v1/auctions?detail=1&limit=2')).json.auctions.map((a: any) => a.id)).toEqual(['lst-open', 'lst-sold'])
  }, 120_000)
})
