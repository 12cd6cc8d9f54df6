/**
 * The economy through three daemons (real child processes on loopback): agents on different daemons bid
 * in an auction through HTTP bid callbacks (served by this test process) and a long-poll, the ledger
 * and auction routes, their 4xx errors, auction events over SSE, the economy metrics, and the CLI.
 * The mesh is shared; each test funds and registers its own accounts and agents, names its own
 * auctions, closes what it opens, and checks counters as differences, so any order works.
 */
import { execFile, execFileSync } from 'node:child_process'
import { promisify } from 'node:util'
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { CLI, NODE, api, ensureMesh, metrics, startMesh, stopAll } from './helpers.js'
import type { Daemon, DaemonMesh } from './helpers.js'
import { waitUntil } from '../helpers/wait.js'

let root: string
let mesh: DaemonMesh
let d0: Daemon, d1: Daemon, d2: Daemon
let bidServer: Server
let bidUrl: string
/** The bid each callback agent answers with (absent: abstain). */
const bids: Record<string, unknown> = {}
/** Bid requests the callback server received. */
const received: Array<Record<string, any>> = []

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'agora-economy-'))
  mesh = await startMesh(root)
  bidServer = createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => { body += c.toString() })
    req.on('end', () => {
      const agent = (req.url ?? '').split('/').pop()!
      received.push({ agent, ...JSON.parse(body) })
      res.writeHead(200, { 'content-type': 'application/json' })
      if (agent === 'broken') { res.end('<html>not json</html>'); return }
      res.end(JSON.stringify({ bid: bids[agent] ?? null }))
    })
  })
  await new Promise<void>(resolve => bidServer.listen(0, '127.0.0.1', resolve))
  bidUrl = `http://127.0.0.1:${(bidServer.address() as AddressInfo).port}/bid`
})

beforeEach(async () => {
  await ensureMesh(mesh)
  ;[d0, d1, d2] = mesh.daemons
})

afterAll(async () => {
  await stopAll()
  await new Promise<void>(resolve => bidServer.close(() => resolve()))
  await rm(root, { recursive: true, force: true })
})

/** The treasury (d0) mints `amount` to `account`, owned by `owner`. */
async function fund (account: string, amount: number, owner: Daemon): Promise<void> {
  const m = await api(d0, 'POST', '/v1/ledger/mint', { account, amount, owner: owner.peerId })
  expect(m.json.account).toMatchObject({ account, free: amount, owner: owner.peerId })
}

/** Registers agent `id` on its host daemon. */
async function agent (host: Daemon, id: string, capabilities: string[]): Promise<void> {
  expect((await api(host, 'POST', '/v1/agents', { id, capabilities })).status).toBe(201)
}

/** Collects one daemon's SSE stream until `done(text)` holds (bounded). */
function sse (d: Daemon, done: (text: string) => boolean, timeoutMs = 30_000): { text: Promise<string>, ready: Promise<void> } {
  const ctrl = new AbortController()
  let onReady!: () => void
  const ready = new Promise<void>(resolve => { onReady = resolve })
  const text = (async () => {
    const timer = setTimeout(() => ctrl.abort(), timeoutMs)
    let t = ''
    try {
      const res = await fetch(`http://${d.http}/v1/events`, { headers: { authorization: `Bearer ${d.token}` }, signal: ctrl.signal })
      onReady()
      const reader = res.body!.getReader()
      for (;;) {
        const { value, done: end } = await reader.read()
        if (end) return t
        t += new TextDecoder().decode(value)
        if (done(t)) return t
      }
    } catch {
      return t
    } finally {
      clearTimeout(timer)
      ctrl.abort()
    }
  })()
  return { text, ready }
}

describe('the economy through the daemon API', () => {
  it('agents on two daemons bid through HTTP callbacks and a long-poll; the auction settles and every daemon shows the balances', async () => {
    // d2's counters and supply before (a linearizable read first: d2's replica has applied every earlier command).
    const supplyBefore = (await api(d2, 'GET', '/v1/ledger/supply')).json.supply ?? { minted: 0, burned: 0 }
    const before = await metrics(d2)
    // Funds: the treasury (any voter daemon) mints to accounts owned by the agents' host daemons.
    await fund('seller', 1, d0)
    for (const [id, host] of [['gpu-b', d1], ['gpu-c', d2], ['gpu-p', d2]] as const) {
      await fund(id, 100, host)
      await agent(host, id, ['gpu'])
    }
    bids['gpu-b'] = { amount: 40 }
    bids['gpu-c'] = { amount: 55 }
    expect((await api(d1, 'POST', '/v1/agents/gpu-b/bidder', { callback: `${bidUrl}/gpu-b` })).json.bidder).toMatchObject({ mode: 'callback' })
    expect((await api(d2, 'POST', '/v1/agents/gpu-c/bidder', { callback: `${bidUrl}/gpu-c`, timeoutMs: 10_000 })).status).toBe(200)
    expect((await api(d2, 'POST', '/v1/agents/gpu-p/bidder', {})).json.bidder).toMatchObject({ agent: 'gpu-p', mode: 'poll' })
    expect((await api(d2, 'GET', '/v1/agents/gpu-p/bidder')).json.bidder.mode).toBe('poll')

    // The long-polling agent: waits for its request and answers it with 50.
    const poller = (async () => {
      const req = await waitUntil(async () => (await api(d2, 'GET', '/v1/bid-requests?agent=gpu-p&waitMs=2000')).json.requests[0], { timeoutMs: 30_000, what: 'a bid request for gpu-p' })
      expect(req).toMatchObject({ agent: 'gpu-p', auction: 'g1', seller: 'seller', spec: { mechanism: 'vickrey' } })
      return await api(d2, 'POST', `/v1/bid-requests/${req.requestId as string}`, { bid: { amount: 50 } })
    })()

    // d1 hosts a bidder and is a Raft member: it sees every auction event.
    const events = sse(d1, t => /event: auction:result/.test(t) && /event: auction:settled\ndata: .*"auction":"g1"/.test(t))
    await events.ready
    await waitUntil(async () => (await api(d0, 'GET', '/v1/agents?capability=gpu')).json.agents.length === 3, 'd0 sees the three bidders')
    const run = await api(d0, 'POST', '/v1/auctions', { id: 'g1', mechanism: 'vickrey', item: 'gpu', reserve: 10, durationMs: 60_000, seller: 'seller', bidders: { capability: 'gpu' }, requestTimeoutMs: 15_000, run: true })
    expect(run.status).toBe(200)
    expect(run.json.responses).toEqual({ 'gpu-b': 'bid', 'gpu-c': 'bid', 'gpu-p': 'bid' })
    expect(run.json.auction.status).toBe('settled')
    expect(run.json.auction.outcome.winners).toEqual([{ agent: 'gpu-c', items: ['gpu'], quantity: 1, price: 50 }])
    const answered = await poller
    // The answer reports what became of the bid: committed to the log.
    expect(answered.json).toMatchObject({ accepted: true, agent: 'gpu-p', auction: 'g1', outcome: 'bid' })
    const g1Requests = received.filter(r => r.auction === 'g1')
    expect(g1Requests.map(r => r.agent).sort()).toEqual(['gpu-b', 'gpu-c'])
    for (const r of g1Requests) {
      expect(r).toMatchObject({ seller: 'seller', spec: { id: 'g1', mechanism: 'vickrey', items: ['gpu'] } })
      expect(r.requestId).toMatch(/^\S+$/)
    }

    // The same ledger on every daemon (linearizable reads).
    for (const d of [d0, d1, d2]) {
      expect((await api(d, 'GET', '/v1/ledger/accounts/gpu-c')).json.account).toMatchObject({ free: 50, escrow: 0 })
      expect((await api(d, 'GET', '/v1/ledger/accounts/gpu-b')).json.account).toMatchObject({ free: 100, escrow: 0 })
      expect((await api(d, 'GET', '/v1/ledger/accounts/gpu-p')).json.account).toMatchObject({ free: 100, escrow: 0 })
      expect((await api(d, 'GET', '/v1/ledger/accounts/seller')).json.account).toMatchObject({ free: 51 })
    }
    expect((await api(d1, 'GET', '/v1/auctions/g1')).json.auction.outcome.winners[0].agent).toBe('gpu-c')
    expect((await api(d2, 'GET', '/v1/ledger/supply')).json.supply).toMatchObject({ minted: supplyBefore.minted + 301, burned: supplyBefore.burned })

    const text = await events.text
    for (const ev of ['auction:opened', 'auction:bid', 'auction:settled', 'auction:request', 'auction:result']) expect(text).toContain(`event: ${ev}\n`)
    expect(text).toMatch(/event: auction:settled\ndata: .*"auction":"g1".*"status":"settled"/)

    // d2's metrics moved by exactly this auction (d2 applied it: the reads above were linearizable).
    const after = await metrics(d2)
    const delta = (k: string): number => (after.get(k) ?? 0) - (before.get(k) ?? 0)
    expect({
      settled: delta('agora_auctions_settled_total{status="settled"}'),
      mints: delta('agora_economy_commands_total{type="mint",result="ok"}'),
      bids: delta('agora_economy_commands_total{type="auction.bid",result="ok"}'),
      served: delta('agora_bid_requests_total{result="served"}'),
      polledAnswered: delta('agora_bid_requests_total{result="polled_answered"}'),
      minted: delta('agora_ledger_supply{kind="minted"}'),
      open: delta('agora_auctions_open')
    }).toEqual({ settled: 1, mints: 4, bids: 3, served: 2, polledAnswered: 1, minted: 301, open: 0 })
    expect(after.has('agora_auctions_open')).toBe(true)
  })

  it('opens an auction, takes bids through the hosts\' daemons, and settles on close', async () => {
    await fund('open-seller', 1, d0)
    await fund('open-b', 100, d1)
    await fund('open-c', 100, d2)
    await fund('open-p', 100, d2)
    const opened = await api(d0, 'POST', '/v1/auctions', { id: 'g2', mechanism: 'first-price', items: ['gpu'], reserve: 5, durationMs: 60_000, seller: 'open-seller' })
    expect(opened.status).toBe(201)
    expect(opened.json.auction).toBe('g2')
    expect(opened.json.closesAt).toBeGreaterThan(0)
    // d1 sees the open (a linearizable read: its replica has applied it).
    expect((await api(d1, 'GET', '/v1/auctions/g2')).json.auction.status).toBe('open')
    expect((await api(d1, 'POST', '/v1/auctions/g2/bids', { agent: 'open-b', bid: { amount: 20 } })).json).toMatchObject({ escrowed: 20 })
    expect((await api(d2, 'POST', '/v1/auctions/g2/bids', { agent: 'open-c', bid: { amount: 30 } })).status).toBe(201)
    const dup = await api(d1, 'POST', '/v1/auctions/g2/bids', { agent: 'open-b', bid: { amount: 25 } })
    expect([dup.status, dup.json.error.code]).toEqual([409, 'ERR_DUPLICATE_BID'])
    // d2 does not own open-b's account.
    const foreign = await api(d2, 'POST', '/v1/auctions/g2/bids', { agent: 'open-b', bid: { amount: 25 } })
    expect([foreign.status, foreign.json.error.code]).toEqual([403, 'ERR_UNAUTHORIZED'])
    const low = await api(d2, 'POST', '/v1/auctions/g2/bids', { agent: 'open-p', bid: { amount: 1 } })
    expect([low.status, low.json.error.code]).toEqual([422, 'ERR_BELOW_RESERVE'])
    const rich = await api(d2, 'POST', '/v1/auctions/g2/bids', { agent: 'open-p', bid: { amount: 1_000_000 } })
    expect(rich.status).toBe(422)
    expect(['ERR_EXCEEDS_BIDDING_POWER', 'ERR_INSUFFICIENT_FUNDS']).toContain(rich.json.error.code)
    const closed = await api(d0, 'POST', '/v1/auctions/g2/close', { by: 'open-seller' })
    expect(closed.status).toBe(200)
    expect(closed.json.auction.status).toBe('settled')
    expect(closed.json.auction.outcome.winners).toEqual([{ agent: 'open-c', items: ['gpu'], quantity: 1, price: 30 }])
    // Only the seller's daemon may act as the seller; a second close is a conflict.
    expect((await api(d1, 'POST', '/v1/auctions/g2/close', { by: 'open-seller' })).status).toBe(403)
    const late = await api(d0, 'POST', '/v1/auctions/g2/close', { by: 'open-seller' })
    expect([late.status, late.json.error.code]).toEqual([409, 'ERR_WRONG_PHASE'])
    // The latest auction, listed last (oldest first).
    expect((await api(d2, 'GET', '/v1/auctions')).json.auctions.at(-1)).toBe('g2')
    expect((await api(d1, 'GET', '/v1/ledger/accounts/open-c')).json.account.free).toBe(70)
    expect((await api(d1, 'GET', '/v1/ledger/accounts/open-b')).json.account).toMatchObject({ free: 100, escrow: 0 })
    expect((await api(d1, 'GET', '/v1/ledger/accounts/open-seller')).json.account.free).toBe(31)
  })

  it('a combinatorial auction closed over HTTP settles off the apply path: the daemon (from dist) solves it in its worker and the settle carries that solution', async () => {
    await fund('comb-seller', 1, d0)
    await fund('comb-x', 100, d1)
    await fund('comb-y', 100, d2)
    await fund('comb-z', 100, d2)
    const opened = await api(d0, 'POST', '/v1/auctions', { id: 'comb-1', mechanism: 'combinatorial', items: ['cpu', 'ram'], reserves: { cpu: 2 }, durationMs: 60_000, seller: 'comb-seller' })
    expect(opened.status).toBe(201)
    expect((await api(d1, 'POST', '/v1/auctions/comb-1/bids', { agent: 'comb-x', bid: { bundles: [{ items: ['cpu', 'ram'], value: 10 }] } })).status).toBe(201)
    expect((await api(d2, 'POST', '/v1/auctions/comb-1/bids', { agent: 'comb-y', bid: { bundles: [{ items: ['cpu'], value: 7 }] } })).status).toBe(201)
    expect((await api(d2, 'POST', '/v1/auctions/comb-1/bids', { agent: 'comb-z', bid: { bundles: [{ items: ['ram'], value: 6 }, { items: ['cpu'], value: 5 }] } })).status).toBe(201)
    const closed = await api(d0, 'POST', '/v1/auctions/comb-1/close', { by: 'comb-seller' })
    expect(closed.status).toBe(200)
    // 'verified': the closing daemon carried its worker's solve (it carries none when the worker failed to
    // load or solve), and every replica's own solve agreed with it.
    expect(closed.json.result).toMatchObject({ ok: true, type: 'auction.settle', status: 'settled', solution: 'verified' })
    // VCG with reserves: y and z win cpu and ram (welfare 13 > 10); each pays 10 less the other's value, at least its reserves.
    expect(closed.json.auction.outcome.winners).toEqual([{ agent: 'comb-y', items: ['cpu'], quantity: 1, price: 4 }, { agent: 'comb-z', items: ['ram'], quantity: 1, price: 3 }])
    expect((await api(d1, 'GET', '/v1/auctions/comb-1')).json.auction).toMatchObject({ status: 'settled', outcome: closed.json.auction.outcome })
    expect((await api(d1, 'GET', '/v1/ledger/accounts/comb-x')).json.account).toMatchObject({ free: 100, escrow: 0 })
    expect((await api(d1, 'GET', '/v1/ledger/accounts/comb-seller')).json.account.free).toBe(8)
  })

  it('ledger commands: open, transfer, stake, unstake, slash', async () => {
    await fund('ledger-b', 100, d1)
    const opened = await api(d1, 'POST', '/v1/ledger/accounts', { account: 'd1-wallet' })
    expect(opened.status).toBe(201)
    expect(opened.json.account).toMatchObject({ owner: d1.peerId, free: 0 })
    expect((await api(d1, 'POST', '/v1/ledger/transfer', { from: 'ledger-b', to: 'd1-wallet', amount: 30 })).json.to.free).toBe(30)
    expect((await api(d1, 'POST', '/v1/ledger/stake', { account: 'ledger-b', amount: 20 })).json.account).toMatchObject({ free: 50, staked: 20 })
    expect((await api(d1, 'POST', '/v1/ledger/unstake', { account: 'ledger-b', amount: 5 })).json.account).toMatchObject({ staked: 15 })
    const slashed = await api(d0, 'POST', '/v1/ledger/slash', { account: 'ledger-b', condition: 'byzantine_behavior', evidence: { note: 'test' } })
    expect(slashed.status).toBe(200)
    expect(slashed.json.account.staked).toBe(0)
  })

  it('bad bodies, unknown ids and refused commands get the right 4xx and the daemon keeps serving', async () => {
    const check = async (d: Daemon, method: string, path: string, body: unknown, status: number, code: string, path_?: string): Promise<void> => {
      const r = await api(d, method, path, body)
      expect([r.status, r.json?.error?.code], `${method} ${path}`).toEqual([status, code])
      if (path_ !== undefined) expect(r.json.error.path).toBe(path_)
    }
    // bad-b on d1 bids through a callback, bad-p on d2 through a long-poll; bad-c is d2's.
    await fund('bad-seller', 1, d0)
    await fund('bad-b', 100, d1)
    await fund('bad-c', 100, d2)
    await agent(d1, 'bad-b', ['bad'])
    await agent(d2, 'bad-c', ['bad'])
    await agent(d2, 'bad-p', ['bad'])
    expect((await api(d1, 'POST', '/v1/agents/bad-b/bidder', { callback: `${bidUrl}/bad-b` })).status).toBe(200)
    expect((await api(d2, 'POST', '/v1/agents/bad-p/bidder', {})).status).toBe(200)
    // An open auction, for the duplicate.
    expect((await api(d0, 'POST', '/v1/auctions', { id: 'bad-dup', mechanism: 'vickrey', item: 'gpu', durationMs: 60_000, seller: 'bad-seller' })).status).toBe(201)
    await check(d1, 'POST', '/v1/ledger/transfer', { from: 'bad-c', to: 'bad-b', amount: 1 }, 403, 'ERR_UNAUTHORIZED')
    await check(d2, 'POST', '/v1/ledger/transfer', { from: 'bad-c', to: 'bad-b', amount: 1_000_000 }, 422, 'ERR_INSUFFICIENT_FUNDS')
    await check(d1, 'POST', '/v1/ledger/transfer', { from: 'bad-b', to: 'bad-c', amount: 'ten' }, 400, 'ERR_BAD_REQUEST', 'amount')
    await check(d1, 'POST', '/v1/ledger/transfer', { from: 'bad-b', to: 'bad-c', amount: 1, memo: 'x' }, 400, 'ERR_BAD_REQUEST', 'memo')
    await check(d1, 'POST', '/v1/ledger/mint', { amount: 1 }, 400, 'ERR_BAD_REQUEST', 'account')
    await check(d1, 'POST', '/v1/ledger/slash', { account: 'bad-b', condition: 'mischief' }, 400, 'ERR_BAD_REQUEST', 'condition')
    await check(d1, 'POST', '/v1/ledger/transfer', '[1,2', 400, 'ERR_BAD_JSON')
    await check(d0, 'POST', '/v1/ledger/assign', { account: 'nobody', owner: 'someone' }, 404, 'ERR_UNKNOWN_ACCOUNT')
    await check(d0, 'POST', '/v1/ledger/assign', { account: 'bad-b' }, 400, 'ERR_BAD_REQUEST', 'owner')
    await check(d0, 'GET', '/v1/ledger/accounts/nobody', undefined, 404, 'ERR_UNKNOWN_ACCOUNT')
    await check(d0, 'GET', '/v1/auctions/nope', undefined, 404, 'ERR_UNKNOWN_AUCTION')
    await check(d0, 'POST', '/v1/auctions/nope/close', { by: 'bad-seller' }, 404, 'ERR_UNKNOWN_AUCTION')
    await check(d0, 'POST', '/v1/auctions/nope/bids', { agent: 'bad-b', bid: { amount: 'x' } }, 400, 'ERR_BAD_REQUEST')
    await check(d0, 'POST', '/v1/auctions', { id: 'bad-dup', mechanism: 'vickrey', item: 'gpu', durationMs: 1000, seller: 'bad-seller' }, 409, 'ERR_DUPLICATE_AUCTION')
    await check(d0, 'POST', '/v1/auctions', { mechanism: 'haggle', item: 'gpu', durationMs: 1000, seller: 'bad-seller' }, 400, 'ERR_BAD_REQUEST', 'mechanism')
    await check(d0, 'POST', '/v1/auctions', { mechanism: 'english', item: 'gpu', durationMs: 1000, seller: 'bad-seller', sealed: 'commit' }, 400, 'ERR_INVALID_AUCTION')
    await check(d1, 'POST', '/v1/auctions', { mechanism: 'vickrey', item: 'gpu', durationMs: 1000, seller: 'bad-seller' }, 403, 'ERR_UNAUTHORIZED')
    await check(d0, 'POST', '/v1/auctions', { id: 'bad-query', mechanism: 'vickrey', item: 'gpu', durationMs: 1000, seller: 'bad-seller', bidders: { where: [['load', 'like', 1]] }, run: true }, 400, 'ERR_INVALID_QUERY')
    await check(d0, 'GET', '/v1/auctions/bad-query', undefined, 404, 'ERR_UNKNOWN_AUCTION')
    // Agent ids from the body key the run report's responses: none is dropped, whatever its name.
    const hostile = await api(d0, 'POST', '/v1/auctions', { id: 'hostile-bidders', mechanism: 'vickrey', item: 'gpu', durationMs: 60_000, seller: 'bad-seller', bidders: ['__proto__', 'nobody'], run: true })
    expect(hostile.status).toBe(200)
    expect(Object.entries(hostile.json.responses)).toEqual([['__proto__', 'ERR_UNKNOWN_AGENT'], ['nobody', 'ERR_UNKNOWN_AGENT']])
    expect(hostile.json.auction.status).toBe('no-sale')
    await check(d0, 'POST', '/v1/ledger/mint', { account: 'constructor', owner: d1.peerId, amount: 5 }, 400, 'ERR_RESERVED_NAME')
    await check(d1, 'POST', '/v1/agents/bad-b/bidder', { callback: 'http://example.com/bid' }, 400, 'ERR_CALLBACK_NOT_ALLOWED', 'callback')
    await check(d1, 'POST', '/v1/agents/bad-c/bidder', {}, 404, 'ERR_AGENT_NOT_FOUND')
    await check(d1, 'DELETE', '/v1/agents/bad-c/bidder', undefined, 404, 'ERR_NO_BIDDER')
    await check(d1, 'GET', '/v1/bid-requests?agent=bad-b', undefined, 404, 'ERR_NO_BIDDER')
    await check(d1, 'GET', '/v1/bid-requests', undefined, 400, 'ERR_BAD_REQUEST', 'agent')
    await check(d2, 'GET', '/v1/bid-requests?agent=bad-p&waitMs=soon', undefined, 400, 'ERR_BAD_REQUEST', 'waitMs')
    await check(d2, 'POST', '/v1/bid-requests/0123abcd', { bid: null }, 404, 'ERR_UNKNOWN_REQUEST')
    await check(d2, 'POST', '/v1/bid-requests/0123abcd', { bid: { amount: -1 } }, 400, 'ERR_BAD_REQUEST')
    // An empty long-poll returns at once with waitMs=0.
    expect((await api(d2, 'GET', '/v1/bid-requests?agent=bad-p&waitMs=0')).json.requests).toEqual([])
    expect((await api(d1, 'DELETE', '/v1/agents/bad-b/bidder')).json.removed).toBe('bad-b')
    // The open auction closes with no bid.
    const closed = await api(d0, 'POST', '/v1/auctions/bad-dup/close', { by: 'bad-seller' })
    expect([closed.status, closed.json.auction.status]).toEqual([200, 'no-sale'])
    // Unregistering an agent drops its bidder.
    expect((await api(d1, 'POST', '/v1/agents', { id: 'short-lived', capabilities: ['none'] })).status).toBe(201)
    expect((await api(d1, 'POST', '/v1/agents/short-lived/bidder', {})).status).toBe(200)
    expect((await api(d1, 'DELETE', '/v1/agents/short-lived')).status).toBe(200)
    await check(d1, 'GET', '/v1/agents/short-lived/bidder', undefined, 404, 'ERR_NO_BIDDER')
    expect((await api(d1, 'GET', '/v1/status')).json.peerId).toBe(d1.peerId)
    const spec = (await api(d1, 'GET', '/v1/openapi.json')).json
    for (const p of ['/v1/ledger/accounts/{id}', '/v1/ledger/mint', '/v1/auctions', '/v1/auctions/{id}/bids', '/v1/agents/{id}/bidder', '/v1/bid-requests', '/v1/bid-requests/{requestId}']) expect(Object.keys(spec.paths)).toContain(p)
  })

  it('the CLI opens, runs and shows auctions and shows and moves ledger balances', async () => {
    const cli = (d: Daemon, ...args: string[]): any => JSON.parse(execFileSync(NODE, [CLI, ...args, '--http', d.http, '--data-dir', d.dir]).toString())
    const run = (args: string[]): { status: number | null, stdout: string, stderr: string } => {
      try {
        return { status: 0, stdout: execFileSync(NODE, [CLI, ...args], { stdio: 'pipe' }).toString(), stderr: '' }
      } catch (err) {
        const e = err as { status: number | null, stdout: Buffer, stderr: Buffer }
        return { status: e.status, stdout: e.stdout.toString(), stderr: e.stderr.toString() }
      }
    }
    // Bidders with the capability cli-gpu: cli-b's callback answers garbage, cli-p's long-poll goes unanswered.
    await fund('cli-seller', 10, d0)
    for (const [id, host] of [['cli-b', d1], ['cli-c', d2], ['cli-p', d2]] as const) {
      await fund(id, 100, host)
      await agent(host, id, ['cli-gpu'])
    }
    expect((await api(d1, 'POST', '/v1/agents/cli-b/bidder', { callback: `${bidUrl}/broken` })).status).toBe(200)
    expect((await api(d2, 'POST', '/v1/agents/cli-c/bidder', { callback: `${bidUrl}/cli-c` })).status).toBe(200)
    expect((await api(d2, 'POST', '/v1/agents/cli-p/bidder', {})).status).toBe(200)
    await waitUntil(async () => (await api(d0, 'GET', '/v1/agents?capability=cli-gpu')).json.agents.length === 3, 'd0 sees the three cli-gpu bidders')
    expect(cli(d0, 'ledger', 'show', 'cli-seller').account.free).toBe(10)
    expect(cli(d0, 'ledger', 'mint', 'cli-acct', '--amount', '9', '--owner', d0.peerId).account.free).toBe(9)
    expect(cli(d0, 'ledger', 'transfer', '--from', 'cli-acct', '--to', 'cli-seller', '--amount', '4').from.free).toBe(5)
    expect(cli(d0, 'ledger', 'stake', 'cli-acct', '--amount', '2').account.staked).toBe(2)
    const opened = cli(d0, 'auction', 'open', '--seller', 'cli-seller', '--mechanism', 'vickrey', '--item', 'gpu', '--reserve', '5', '--duration-ms', '30000', '--id', 'cli-1')
    expect(opened.auction).toBe('cli-1')
    expect(cli(d1, 'auction', 'show', 'cli-1').auction.status).toBe('open')
    expect((await api(d0, 'POST', '/v1/auctions/cli-1/close', { by: 'cli-seller' })).json.auction.status).toBe('no-sale')
    // Only cli-c bids: it wins at the reserve.
    bids['cli-c'] = { amount: 7 }
    // Not execFileSync: this process serves the bid callbacks meanwhile.
    const report = JSON.parse((await promisify(execFile)(NODE, [CLI, 'auction', 'open', '--http', d0.http, '--data-dir', d0.dir, '--seller', 'cli-seller', '--mechanism', 'vickrey', '--item', 'gpu', '--reserve', '5', '--duration-ms', '30000', '--capability', 'cli-gpu', '--request-timeout-ms', '1500', '--run'])).stdout)
    expect(report.responses).toEqual({ 'cli-b': 'ERR_CALLBACK_FAILED', 'cli-c': 'bid', 'cli-p': 'ERR_TIMEOUT' })
    expect(report.auction.status).toBe('settled')
    expect(report.auction.outcome.winners[0]).toMatchObject({ agent: 'cli-c', price: 5 })
    expect(cli(d2, 'auction', 'list').auctions).toContain(report.auction.spec.id)
    expect(cli(d1, 'ledger', 'show', 'cli-seller').account.free).toBe(19)
    for (const cmd of [['auction', '--help'], ['auction', 'open', '--help'], ['ledger', '--help'], ['ledger', 'show', '--help']]) {
      const r = run(cmd)
      expect(r.status, cmd.join(' ')).toBe(0)
      expect(r.stdout).toMatch(/usage: agora (auction|ledger)/)
    }
    const bad = run(['auction', 'open', '--seller', 's', '--mechanism', 'vickrey', '--item', 'gpu', '--reserve', 'five', '--duration-ms', '1000', '--http', d0.http, '--data-dir', d0.dir])
    expect(bad.status).toBe(2)
    expect(bad.stderr).toMatch(/--reserve/)
    const missing = run(['auction', 'open', '--mechanism', 'vickrey', '--item', 'gpu', '--duration-ms', '1000', '--http', d0.http, '--data-dir', d0.dir])
    expect(missing.status).toBe(2)
    expect(missing.stderr).toMatch(/--seller/)
    const unknownFlag = run(['ledger', 'show', 'x', '--colour', 'red'])
    expect(unknownFlag.status).toBe(2)
    expect(unknownFlag.stderr).toMatch(/--colour/)
    const notFound = run(['ledger', 'show', 'nobody', '--http', d0.http, '--data-dir', d0.dir])
    expect(notFound.status).toBe(1)
    expect(notFound.stderr).toMatch(/ERR_UNKNOWN_ACCOUNT/)
  })
})

describe('commit-reveal through the daemon', () => {
  it('a sealed first-price auction: the callback\'s amount is committed, revealed by its host daemon, and settles', async () => {
    await fund('sealed-seller', 1, d0)
    await fund('sealed-c', 100, d2)
    await agent(d2, 'sealed-c', ['sealed'])
    expect((await api(d2, 'POST', '/v1/agents/sealed-c/bidder', { callback: `${bidUrl}/sealed-c` })).status).toBe(200)
    bids['sealed-c'] = { amount: 9 }
    const run = await api(d0, 'POST', '/v1/auctions', { id: 'sealed-1', mechanism: 'first-price', item: 'gpu', reserve: 2, sealed: 'commit', deposit: 1, revealMs: 60_000, durationMs: 2000, seller: 'sealed-seller', bidders: ['sealed-c'], run: true })
    expect(run.status).toBe(200)
    expect(run.json.responses).toEqual({ 'sealed-c': 'bid' })
    expect(run.json.auction.status).toBe('settled')
    expect(run.json.auction.bids[0]).toMatchObject({ agent: 'sealed-c', revealed: { amount: 9 } })
    expect(run.json.auction.bids[0].bid.commitment).toMatch(/^[0-9a-f]+$/)
    expect(run.json.auction.outcome.winners).toEqual([{ agent: 'sealed-c', items: ['gpu'], quantity: 1, price: 9 }])
    expect(run.json.auction.forfeits).toEqual([])
    expect((await api(d1, 'GET', '/v1/ledger/accounts/sealed-c')).json.account).toMatchObject({ free: 91, escrow: 0 })
    expect((await api(d1, 'GET', '/v1/ledger/accounts/sealed-seller')).json.account.free).toBe(10)
  })
})

describe('examples/gpu-auction', () => {
  it('run.mjs runs the auction across its three daemons and trainer-b wins at the second price', async () => {
    const { stdout } = await promisify(execFile)(NODE, [join(process.cwd(), 'examples/gpu-auction/run.mjs')], { timeout: 90_000 })
    expect(stdout).toMatch(/status settled: winner trainer-b pays 48/)
    expect(stdout).toMatch(/trainer-b\s+free\s+52/)
    expect(stdout).toMatch(/long-poll: render-c asked to bid in gpu-hour-1/)
  }, 120_000)
})
