/**
 * The economy through three daemons (real child processes on loopback): agents on different daemons bid
 * in an auction through HTTP bid callbacks (served by this test process) and a long-poll, the ledger
 * and auction routes, their 4xx errors, auction events over SSE, the economy metrics, and the CLI.
 */
import { execFile, execFileSync } from 'node:child_process'
import { promisify } from 'node:util'
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CLI, NODE, api, startMesh, stopAll, until } from './helpers.js'
import type { Daemon } from './helpers.js'

let root: string
let d0: Daemon, d1: Daemon, d2: Daemon
let bidServer: Server
let bidUrl: string
/** The bid each callback agent answers with (absent: abstain). */
const bids: Record<string, unknown> = {}
/** Bid requests the callback server received. */
const received: Array<Record<string, any>> = []

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'agora-economy-'))
  ;({ daemons: [d0, d1, d2] } = await startMesh(root))
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
  await until(async () => (await api(d0, 'GET', '/ready')).status === 200 ? true : undefined, 'a Raft leader')
})

afterAll(async () => {
  await stopAll()
  await new Promise<void>(resolve => bidServer.close(() => resolve()))
  await rm(root, { recursive: true, force: true })
})

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
    // Funds: the treasury (any voter daemon) mints to accounts owned by the agents' host daemons.
    expect((await api(d0, 'POST', '/v1/ledger/mint', { account: 'seller', amount: 1, owner: d0.peerId })).status).toBe(200)
    for (const [agent, host] of [['gpu-b', d1], ['gpu-c', d2], ['gpu-p', d2]] as const) {
      const m = await api(d0, 'POST', '/v1/ledger/mint', { account: agent, amount: 100, owner: host.peerId })
      expect(m.json.account).toMatchObject({ account: agent, free: 100, owner: host.peerId })
      expect((await api(host, 'POST', '/v1/agents', { id: agent, capabilities: ['gpu'] })).status).toBe(201)
    }
    bids['gpu-b'] = { amount: 40 }
    bids['gpu-c'] = { amount: 55 }
    expect((await api(d1, 'POST', '/v1/agents/gpu-b/bidder', { callback: `${bidUrl}/gpu-b` })).json.bidder).toMatchObject({ mode: 'callback' })
    expect((await api(d2, 'POST', '/v1/agents/gpu-c/bidder', { callback: `${bidUrl}/gpu-c`, timeoutMs: 10_000 })).status).toBe(200)
    expect((await api(d2, 'POST', '/v1/agents/gpu-p/bidder', {})).json.bidder).toMatchObject({ agent: 'gpu-p', mode: 'poll' })
    expect((await api(d2, 'GET', '/v1/agents/gpu-p/bidder')).json.bidder.mode).toBe('poll')

    // The long-polling agent: waits for its request and answers it with 50.
    const poller = (async () => {
      const deadline = Date.now() + 30_000
      while (Date.now() < deadline) {
        const r = await api(d2, 'GET', '/v1/bid-requests?agent=gpu-p&waitMs=2000')
        expect(r.status).toBe(200)
        const req = r.json.requests[0]
        if (req === undefined) continue
        expect(req).toMatchObject({ agent: 'gpu-p', auction: 'g1', seller: 'seller', spec: { mechanism: 'vickrey' } })
        return await api(d2, 'POST', `/v1/bid-requests/${req.requestId as string}`, { bid: { amount: 50 } })
      }
      throw new Error('no bid request for gpu-p within 30 s')
    })()

    // d1 hosts a bidder and is a Raft member: it sees every auction event.
    const events = sse(d1, t => /event: auction:result/.test(t) && /event: auction:settled/.test(t))
    await events.ready
    await until(async () => (await api(d0, 'GET', '/v1/agents?capability=gpu')).json.agents.length === 3 ? true : undefined, 'd0 sees the three bidders')
    const run = await api(d0, 'POST', '/v1/auctions', { id: 'g1', mechanism: 'vickrey', item: 'gpu', reserve: 10, durationMs: 60_000, seller: 'seller', bidders: { capability: 'gpu' }, requestTimeoutMs: 15_000, run: true })
    expect(run.status).toBe(200)
    expect(run.json.responses).toEqual({ 'gpu-b': 'bid', 'gpu-c': 'bid', 'gpu-p': 'bid' })
    expect(run.json.auction.status).toBe('settled')
    expect(run.json.auction.outcome.winners).toEqual([{ agent: 'gpu-c', items: ['gpu'], quantity: 1, price: 50 }])
    const answered = await poller
    // The answer reports what became of the bid: committed to the log.
    expect(answered.json).toMatchObject({ accepted: true, agent: 'gpu-p', auction: 'g1', outcome: 'bid' })
    expect(received.filter(r => r.auction === 'g1').map(r => r.agent).sort()).toEqual(['gpu-b', 'gpu-c'])
    expect(received[0]).toMatchObject({ seller: 'seller', spec: { id: 'g1', mechanism: 'vickrey', items: ['gpu'] } })
    expect(typeof received[0]!.requestId).toBe('string')

    // The same ledger on every daemon (linearizable reads).
    for (const d of [d0, d1, d2]) {
      expect((await api(d, 'GET', '/v1/ledger/accounts/gpu-c')).json.account).toMatchObject({ free: 50, escrow: 0 })
      expect((await api(d, 'GET', '/v1/ledger/accounts/gpu-b')).json.account).toMatchObject({ free: 100, escrow: 0 })
      expect((await api(d, 'GET', '/v1/ledger/accounts/gpu-p')).json.account).toMatchObject({ free: 100, escrow: 0 })
      expect((await api(d, 'GET', '/v1/ledger/accounts/seller')).json.account).toMatchObject({ free: 51 })
    }
    expect((await api(d1, 'GET', '/v1/auctions/g1')).json.auction.outcome.winners[0].agent).toBe('gpu-c')
    expect((await api(d2, 'GET', '/v1/ledger/supply')).json.supply).toMatchObject({ minted: 301, burned: 0 })

    const text = await events.text
    for (const ev of ['auction:opened', 'auction:bid', 'auction:settled', 'auction:request', 'auction:result']) expect(text).toContain(`event: ${ev}\n`)
    expect(text).toMatch(/event: auction:settled\ndata: .*"auction":"g1".*"status":"settled"/)

    const metrics = await (await fetch(`http://${d2.http}/metrics`, { headers: { authorization: `Bearer ${d2.token}` } })).text()
    expect(metrics).toMatch(/agora_auctions_settled_total\{status="settled"\} 1/)
    expect(metrics).toMatch(/agora_economy_commands_total\{type="mint",result="ok"\} 4/)
    expect(metrics).toMatch(/agora_economy_commands_total\{type="auction.bid",result="ok"\} 3/)
    expect(metrics).toMatch(/agora_bid_requests_total\{result="served"\} 2/)
    expect(metrics).toMatch(/agora_bid_requests_total\{result="polled_answered"\} 1/)
    expect(metrics).toMatch(/agora_ledger_supply\{kind="minted"\} 301/)
    expect(metrics).toMatch(/agora_auctions_open 0/)
  })

  it('opens an auction, takes bids through the hosts\' daemons, and settles on close', async () => {
    const opened = await api(d0, 'POST', '/v1/auctions', { id: 'g2', mechanism: 'first-price', items: ['gpu'], reserve: 5, durationMs: 60_000, seller: 'seller' })
    expect(opened.status).toBe(201)
    expect(opened.json.auction).toBe('g2')
    expect(typeof opened.json.closesAt).toBe('number')
    // d1's replica applies the open (a follower may lag the commit a little).
    await until(async () => /agora_auctions_open 1/.test(await (await fetch(`http://${d1.http}/metrics`, { headers: { authorization: `Bearer ${d1.token}` } })).text()) ? true : undefined, 'agora_auctions_open 1 on d1')
    expect((await api(d1, 'POST', '/v1/auctions/g2/bids', { agent: 'gpu-b', bid: { amount: 20 } })).json).toMatchObject({ escrowed: 20 })
    expect((await api(d2, 'POST', '/v1/auctions/g2/bids', { agent: 'gpu-c', bid: { amount: 30 } })).status).toBe(201)
    const dup = await api(d1, 'POST', '/v1/auctions/g2/bids', { agent: 'gpu-b', bid: { amount: 25 } })
    expect([dup.status, dup.json.error.code]).toEqual([409, 'ERR_DUPLICATE_BID'])
    // d2 does not own gpu-b's account.
    const foreign = await api(d2, 'POST', '/v1/auctions/g2/bids', { agent: 'gpu-b', bid: { amount: 25 } })
    expect([foreign.status, foreign.json.error.code]).toEqual([403, 'ERR_UNAUTHORIZED'])
    const low = await api(d2, 'POST', '/v1/auctions/g2/bids', { agent: 'gpu-p', bid: { amount: 1 } })
    expect([low.status, low.json.error.code]).toEqual([422, 'ERR_BELOW_RESERVE'])
    const rich = await api(d2, 'POST', '/v1/auctions/g2/bids', { agent: 'gpu-p', bid: { amount: 1_000_000 } })
    expect(rich.status).toBe(422)
    expect(['ERR_EXCEEDS_BIDDING_POWER', 'ERR_INSUFFICIENT_FUNDS']).toContain(rich.json.error.code)
    const closed = await api(d0, 'POST', '/v1/auctions/g2/close', { by: 'seller' })
    expect(closed.status).toBe(200)
    expect(closed.json.auction.status).toBe('settled')
    expect(closed.json.auction.outcome.winners).toEqual([{ agent: 'gpu-c', items: ['gpu'], quantity: 1, price: 30 }])
    // Only the seller's daemon may act as the seller; a second close is a conflict.
    expect((await api(d1, 'POST', '/v1/auctions/g2/close', { by: 'seller' })).status).toBe(403)
    const late = await api(d0, 'POST', '/v1/auctions/g2/close', { by: 'seller' })
    expect([late.status, late.json.error.code]).toEqual([409, 'ERR_WRONG_PHASE'])
    expect((await api(d2, 'GET', '/v1/auctions')).json.auctions).toEqual(['g1', 'g2'])
    expect((await api(d1, 'GET', '/v1/ledger/accounts/gpu-c')).json.account.free).toBe(20)
    expect((await api(d1, 'GET', '/v1/ledger/accounts/seller')).json.account.free).toBe(81)
  })

  it('ledger commands: open, transfer, stake, unstake, slash', async () => {
    const opened = await api(d1, 'POST', '/v1/ledger/accounts', { account: 'd1-wallet' })
    expect(opened.status).toBe(201)
    expect(opened.json.account).toMatchObject({ owner: d1.peerId, free: 0 })
    expect((await api(d1, 'POST', '/v1/ledger/transfer', { from: 'gpu-b', to: 'd1-wallet', amount: 30 })).json.to.free).toBe(30)
    expect((await api(d1, 'POST', '/v1/ledger/stake', { account: 'gpu-b', amount: 20 })).json.account).toMatchObject({ free: 50, staked: 20 })
    expect((await api(d1, 'POST', '/v1/ledger/unstake', { account: 'gpu-b', amount: 5 })).json.account).toMatchObject({ staked: 15 })
    const slashed = await api(d0, 'POST', '/v1/ledger/slash', { account: 'gpu-b', condition: 'byzantine_behavior', evidence: { note: 'test' } })
    expect(slashed.status).toBe(200)
    expect(slashed.json.account.staked).toBe(0)
  })

  it('bad bodies, unknown ids and refused commands get the right 4xx and the daemon keeps serving', async () => {
    const check = async (d: Daemon, method: string, path: string, body: unknown, status: number, code: string, path_?: string): Promise<void> => {
      const r = await api(d, method, path, body)
      expect([r.status, r.json?.error?.code], `${method} ${path}`).toEqual([status, code])
      if (path_ !== undefined) expect(r.json.error.path).toBe(path_)
    }
    await check(d1, 'POST', '/v1/ledger/transfer', { from: 'gpu-c', to: 'gpu-b', amount: 1 }, 403, 'ERR_UNAUTHORIZED')
    await check(d2, 'POST', '/v1/ledger/transfer', { from: 'gpu-c', to: 'gpu-b', amount: 1_000_000 }, 422, 'ERR_INSUFFICIENT_FUNDS')
    await check(d1, 'POST', '/v1/ledger/transfer', { from: 'gpu-b', to: 'gpu-c', amount: 'ten' }, 400, 'ERR_BAD_REQUEST', 'amount')
    await check(d1, 'POST', '/v1/ledger/transfer', { from: 'gpu-b', to: 'gpu-c', amount: 1, memo: 'x' }, 400, 'ERR_BAD_REQUEST', 'memo')
    await check(d1, 'POST', '/v1/ledger/mint', { amount: 1 }, 400, 'ERR_BAD_REQUEST', 'account')
    await check(d1, 'POST', '/v1/ledger/slash', { account: 'gpu-b', condition: 'mischief' }, 400, 'ERR_BAD_REQUEST', 'condition')
    await check(d1, 'POST', '/v1/ledger/transfer', '[1,2', 400, 'ERR_BAD_JSON')
    await check(d0, 'POST', '/v1/ledger/assign', { account: 'nobody', owner: 'someone' }, 404, 'ERR_UNKNOWN_ACCOUNT')
    await check(d0, 'POST', '/v1/ledger/assign', { account: 'gpu-b' }, 400, 'ERR_BAD_REQUEST', 'owner')
    await check(d0, 'GET', '/v1/ledger/accounts/nobody', undefined, 404, 'ERR_UNKNOWN_ACCOUNT')
    await check(d0, 'GET', '/v1/auctions/nope', undefined, 404, 'ERR_UNKNOWN_AUCTION')
    await check(d0, 'POST', '/v1/auctions/nope/close', { by: 'seller' }, 404, 'ERR_UNKNOWN_AUCTION')
    await check(d0, 'POST', '/v1/auctions/nope/bids', { agent: 'gpu-b', bid: { amount: 'x' } }, 400, 'ERR_BAD_REQUEST')
    await check(d0, 'POST', '/v1/auctions', { id: 'g1', mechanism: 'vickrey', item: 'gpu', durationMs: 1000, seller: 'seller' }, 409, 'ERR_DUPLICATE_AUCTION')
    await check(d0, 'POST', '/v1/auctions', { mechanism: 'haggle', item: 'gpu', durationMs: 1000, seller: 'seller' }, 400, 'ERR_BAD_REQUEST', 'mechanism')
    await check(d0, 'POST', '/v1/auctions', { mechanism: 'english', item: 'gpu', durationMs: 1000, seller: 'seller', sealed: 'commit' }, 400, 'ERR_INVALID_AUCTION')
    await check(d1, 'POST', '/v1/auctions', { mechanism: 'vickrey', item: 'gpu', durationMs: 1000, seller: 'seller' }, 403, 'ERR_UNAUTHORIZED')
    await check(d0, 'POST', '/v1/auctions', { id: 'bad-query', mechanism: 'vickrey', item: 'gpu', durationMs: 1000, seller: 'seller', bidders: { where: [['load', 'like', 1]] }, run: true }, 400, 'ERR_INVALID_QUERY')
    await check(d0, 'GET', '/v1/auctions/bad-query', undefined, 404, 'ERR_UNKNOWN_AUCTION')
    // Agent ids from the body key the run report's responses: none is dropped, whatever its name.
    const hostile = await api(d0, 'POST', '/v1/auctions', { id: 'hostile-bidders', mechanism: 'vickrey', item: 'gpu', durationMs: 60_000, seller: 'seller', bidders: ['__proto__', 'nobody'], run: true })
    expect(hostile.status).toBe(200)
    expect(Object.entries(hostile.json.responses)).toEqual([['__proto__', 'ERR_UNKNOWN_AGENT'], ['nobody', 'ERR_UNKNOWN_AGENT']])
    expect(hostile.json.auction.status).toBe('no-sale')
    await check(d0, 'POST', '/v1/ledger/mint', { account: 'constructor', owner: d1.peerId, amount: 5 }, 400, 'ERR_RESERVED_NAME')
    await check(d1, 'POST', '/v1/agents/gpu-b/bidder', { callback: 'http://example.com/bid' }, 400, 'ERR_CALLBACK_NOT_ALLOWED', 'callback')
    await check(d1, 'POST', '/v1/agents/gpu-c/bidder', {}, 404, 'ERR_AGENT_NOT_FOUND')
    await check(d1, 'DELETE', '/v1/agents/gpu-c/bidder', undefined, 404, 'ERR_NO_BIDDER')
    await check(d1, 'GET', '/v1/bid-requests?agent=gpu-b', undefined, 404, 'ERR_NO_BIDDER')
    await check(d1, 'GET', '/v1/bid-requests', undefined, 400, 'ERR_BAD_REQUEST', 'agent')
    await check(d2, 'GET', '/v1/bid-requests?agent=gpu-p&waitMs=soon', undefined, 400, 'ERR_BAD_REQUEST', 'waitMs')
    await check(d2, 'POST', '/v1/bid-requests/0123abcd', { bid: null }, 404, 'ERR_UNKNOWN_REQUEST')
    await check(d2, 'POST', '/v1/bid-requests/0123abcd', { bid: { amount: -1 } }, 400, 'ERR_BAD_REQUEST')
    // An empty long-poll returns at once with waitMs=0.
    expect((await api(d2, 'GET', '/v1/bid-requests?agent=gpu-p&waitMs=0')).json.requests).toEqual([])
    expect((await api(d1, 'DELETE', '/v1/agents/gpu-b/bidder')).json.removed).toBe('gpu-b')
    // A callback that answers garbage: the auction records ERR_CALLBACK_FAILED for the agent (CLI test below).
    expect((await api(d1, 'POST', '/v1/agents/gpu-b/bidder', { callback: `${bidUrl}/broken` })).status).toBe(200)
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
    expect(cli(d0, 'ledger', 'show', 'seller').account.free).toBe(81)
    expect(cli(d0, 'ledger', 'mint', 'cli-acct', '--amount', '9', '--owner', d0.peerId).account.free).toBe(9)
    expect(cli(d0, 'ledger', 'transfer', '--from', 'cli-acct', '--to', 'seller', '--amount', '4').from.free).toBe(5)
    expect(cli(d0, 'ledger', 'stake', 'cli-acct', '--amount', '2').account.staked).toBe(2)
    const opened = cli(d0, 'auction', 'open', '--seller', 'seller', '--mechanism', 'vickrey', '--item', 'gpu', '--reserve', '5', '--duration-ms', '30000', '--id', 'cli-1')
    expect(opened.auction).toBe('cli-1')
    expect(cli(d1, 'auction', 'show', 'cli-1').auction.status).toBe('open')
    // Only gpu-c bids (gpu-b's callback answers garbage, gpu-p's long-poll is unanswered): gpu-c wins at the reserve.
    bids['gpu-c'] = { amount: 7 }
    // Not execFileSync: this process serves the bid callbacks meanwhile.
    const report = JSON.parse((await promisify(execFile)(NODE, [CLI, 'auction', 'open', '--http', d0.http, '--data-dir', d0.dir, '--seller', 'seller', '--mechanism', 'vickrey', '--item', 'gpu', '--reserve', '5', '--duration-ms', '30000', '--capability', 'gpu', '--request-timeout-ms', '1500', '--run'])).stdout)
    expect(report.responses).toEqual({ 'gpu-b': 'ERR_CALLBACK_FAILED', 'gpu-c': 'bid', 'gpu-p': 'ERR_TIMEOUT' })
    expect(report.auction.status).toBe('settled')
    expect(report.auction.outcome.winners[0]).toMatchObject({ agent: 'gpu-c', price: 5 })
    expect(report.responses['gpu-p']).toBe('ERR_TIMEOUT')
    expect(cli(d2, 'auction', 'list').auctions).toContain(report.auction.spec.id)
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
    bids['gpu-c'] = { amount: 9 }
    const before = (await api(d1, 'GET', '/v1/ledger/accounts/gpu-c')).json.account.free as number
    const run = await api(d0, 'POST', '/v1/auctions', { id: 'sealed-1', mechanism: 'first-price', item: 'gpu', reserve: 2, sealed: 'commit', deposit: 1, revealMs: 60_000, durationMs: 2000, seller: 'seller', bidders: ['gpu-c'], run: true })
    expect(run.status).toBe(200)
    expect(run.json.responses).toEqual({ 'gpu-c': 'bid' })
    expect(run.json.auction.status).toBe('settled')
    expect(run.json.auction.bids[0]).toMatchObject({ agent: 'gpu-c', revealed: { amount: 9 } })
    expect(run.json.auction.bids[0].bid.commitment).toMatch(/^[0-9a-f]+$/)
    expect(run.json.auction.outcome.winners).toEqual([{ agent: 'gpu-c', items: ['gpu'], quantity: 1, price: 9 }])
    expect(run.json.auction.forfeits).toEqual([])
    expect((await api(d1, 'GET', '/v1/ledger/accounts/gpu-c')).json.account).toMatchObject({ free: before - 9, escrow: 0 })
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
