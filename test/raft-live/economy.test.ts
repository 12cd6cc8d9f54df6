/** The economy on a live 3-voter Raft group over TCP: ledger, authentication, the live auction flow. */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createLiveMesh } from '../../sim/live.js'
import type { LiveMesh } from '../../sim/live.js'
import type { Peer } from '../../peers/peer.js'
import { lpStream } from '@libp2p/utils'
import { peerIdFromString } from '@libp2p/peer-id'
import { auctionProtocol, type AuctionResultNotice, type BidRequest } from '../../peers/economy/economy.js'
import { checkLinearizable, ledgerModel, type LedgerOperation } from '../../sim/linearizability/index.js'
import { createRand } from '../../src/base/prng.js'
import { seedMessage, testSeed } from '../helpers/seed.js'

let mesh: LiveMesh | undefined
const dirs: string[] = []
afterEach(async () => {
  await mesh?.stop()
  mesh = undefined
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})

const RAFT = { tickMs: 20, electionTick: 10 }

/** `n` peers; the first 3 run the Raft group (and are the economy's authorities). */
async function economyMesh (n: number): Promise<LiveMesh> {
  const m = await createLiveMesh({ peers: n, logLevel: 'silent', heartbeatIntervalMs: 200, raft: { voters: 3, ...RAFT } })
  await m.waitFor((p, i) => i >= 3 || p.raft?.status().leader !== undefined, { what: 'a known leader' })
  return m
}

async function codeOf (p: Promise<unknown>): Promise<string | undefined> {
  try { await p; return undefined } catch (err) { return (err as { code?: string }).code }
}

/** Registers agent `id` with capability gpu on `host`, funds it, and gives it a bid handler. */
async function bidder (m: LiveMesh, host: Peer, id: string, funds: number, bid: (spec: { mechanism: string }) => unknown): Promise<void> {
  await m.peers[0]!.economy.mint(id, funds, { owner: host.id })
  await host.registry.register({ id, capabilities: ['gpu'] })
  host.economy.handle(id, (req) => bid(req.spec) as never)
}

describe('economy on live Raft', () => {
  it('accounts are owned by peers; only authorities mint; a peer outside the group works through a member', async () => {
    mesh = await economyMesh(4)
    const [a, b, , d] = mesh.peers as [Peer, Peer, Peer, Peer]
    await a.economy.mint('alice', 100, { owner: b.id })
    // Not an authority (d is outside the group, b is a member but not... every voter is an authority by default).
    expect(await codeOf(d.economy.mint('x', 5, { owner: d.id }))).toBe('ERR_UNAUTHORIZED')
    // d opens its own account through a member; b cannot spend it, and d cannot spend alice's.
    await d.economy.open('dave')
    expect(await codeOf(d.economy.transfer('alice', 'dave', 10))).toBe('ERR_UNAUTHORIZED')
    await b.economy.transfer('alice', 'dave', 30)
    expect(await codeOf(b.economy.transfer('dave', 'alice', 1))).toBe('ERR_UNAUTHORIZED')
    expect(await codeOf(b.economy.transfer('alice', 'dave', 1000))).toBe('ERR_INSUFFICIENT_FUNDS')
    await b.economy.stake('alice', 20)
    // Linearizable reads from any peer, members or not.
    expect(await d.economy.account('alice')).toMatchObject({ free: 50, staked: 20, owner: b.id })
    expect(await a.economy.account('dave')).toMatchObject({ free: 30, owner: d.id })
    expect(await d.economy.supply()).toMatchObject({ minted: 100, total: 100 })
    // Slashing by the treasury takes from the stake (byzantine_behavior: critical, 100 %).
    const r = await a.economy.slash('alice', 'byzantine_behavior', { note: 'test' })
    expect(r).toMatchObject({ ok: true })
    expect(await b.economy.account('alice')).toMatchObject({ staked: 0, free: 50 })
    expect(await b.economy.supply()).toMatchObject({ minted: 100, burned: 20, total: 100 })
  })

  it('runAuction: bid requests reach agents on other peers, the auction settles identically everywhere, results reach the bidders', async () => {
    mesh = await economyMesh(4)
    const m = mesh
    const [a, b, c, d] = m.peers as [Peer, Peer, Peer, Peer]
    await a.economy.mint('seller', 1, { owner: a.id })
    await bidder(m, b, 'gpu-b', 100, () => ({ amount: 40 }))
    await bidder(m, c, 'gpu-c', 100, () => ({ amount: 55 }))
    await bidder(m, d, 'gpu-d', 100, () => null) // abstains
    const results: AuctionResultNotice[] = []
    c.economy.on('auction:result', (n) => results.push(n))
    const settledOn = new Set<string>()
    for (const p of [a, b, c]) p.economy.on('auction:settled', (e) => { if (e.auction === 'g1') settledOn.add(p.id) })
    await m.waitFor(p => p !== a || p.registry.query({ capability: 'gpu' }).agents.length === 3, { what: 'a sees the bidders' })
    const report = await a.economy.runAuction({ id: 'g1', mechanism: 'vickrey', items: ['gpu'], reserve: 10, durationMs: 60_000 }, { seller: 'seller', bidders: { capability: 'gpu' } })
    expect(report.responses).toEqual({ 'gpu-b': 'bid', 'gpu-c': 'bid', 'gpu-d': 'declined' })
    expect(report.auction.status).toBe('settled')
    expect(report.auction.outcome?.winners).toEqual([{ agent: 'gpu-c', items: ['gpu'], quantity: 1, price: 40 }])
    expect(await d.economy.account('gpu-c')).toMatchObject({ free: 60, escrow: 0 })
    expect(await d.economy.account('gpu-b')).toMatchObject({ free: 100, escrow: 0 })
    expect(await b.economy.account('seller')).toMatchObject({ free: 41 })
    expect(results).toMatchObject([{ auction: 'g1', status: 'settled', winners: [{ agent: 'gpu-c', price: 40 }] }])
    await m.waitFor((p, i) => i >= 3 || settledOn.has(p.id), { what: 'auction:settled on every member' })
    // Every replica holds the same economy.
    await m.waitFor((p, i) => i >= 3 || p.economy.replica?.auction('g1')?.status === 'settled', { what: 'replicas settled' })
    const snaps = [a, b, c].map(p => { const s = p.economy.replica!.snapshot(); return JSON.stringify({ ...s, ledger: { ...s.ledger, appliedIndex: 0 } }) })
    expect(new Set(snaps).size).toBe(1)
    expect(a.economy.replica!.invariants()).toEqual([])
  })

  it('commit-reveal through the live flow; an unreachable bidder is recorded and the auction still settles', async () => {
    mesh = await economyMesh(4)
    const m = mesh
    const [a, b, c, d] = m.peers as [Peer, Peer, Peer, Peer]
    await a.economy.mint('seller', 1, { owner: a.id })
    await bidder(m, b, 'gpu-b', 100, () => ({ amount: 30 }))
    await bidder(m, c, 'gpu-c', 100, () => ({ amount: 20 }))
    await bidder(m, d, 'gpu-d', 100, () => ({ amount: 90 }))
    await m.waitFor(p => p !== a || p.registry.query({ capability: 'gpu' }).agents.length === 3, { what: 'a sees the bidders' })
    // d goes away without notice: its host no longer answers.
    await d.stop({ leave: false })
    const report = await a.economy.runAuction(
      { id: 's1', mechanism: 'first-price', items: ['gpu'], reserve: 0, sealed: 'commit', deposit: 5, revealMs: 60_000, durationMs: 2000 },
      { seller: 'seller', bidders: ['gpu-b', 'gpu-c', 'gpu-d'], requestTimeoutMs: 1500 })
    expect(report.responses['gpu-b']).toBe('bid')
    expect(report.responses['gpu-c']).toBe('bid')
    expect(['ERR_UNREACHABLE', 'ERR_TIMEOUT']).toContain(report.responses['gpu-d'])
    expect(report.auction.status).toBe('settled')
    expect(report.auction.outcome?.winners).toEqual([{ agent: 'gpu-b', items: ['gpu'], quantity: 1, price: 30 }])
    expect(report.auction.forfeits).toEqual([])
    expect(await b.economy.account('gpu-b')).toMatchObject({ free: 70, escrow: 0 })
    expect(await b.economy.account('gpu-c')).toMatchObject({ free: 100, escrow: 0 })
    expect(await b.economy.account('seller')).toMatchObject({ free: 31 })
  })

  it('ledger histories are linearizable: concurrent transfers and reads from three peers, with the leader crashed midway', async () => {
    mesh = await economyMesh(4)
    const m = mesh
    const seed = testSeed(4242)
    const rand = createRand(seed)
    // Accounts x, y, z owned by peers 1, 2, 3 (3 is outside the Raft group).
    const names = ['x', 'y', 'z']
    const owners = [1, 2, 3]
    const history: LedgerOperation[] = []
    const t0 = performance.now()
    const now = (): number => performance.now() - t0
    for (let k = 0; k < 3; k++) {
      const call = now()
      await m.peers[0]!.economy.mint(names[k]!, 20, { owner: m.peers[owners[k]!]!.id })
      history.push({ clientId: 100 + k, input: { op: 'mint', account: k, amount: 20 }, call, return: now(), output: {} })
    }
    const leader = await m.waitForLeader()
    let crashed = false
    const client = async (k: number): Promise<void> => {
      const peer = m.peers[owners[k]!]!
      for (let n = 0; n < 25; n++) {
        if (n === 10 && k === 0 && !crashed) { crashed = true; await m.crash(leader) }
        const read = rand.int(2) === 0
        const other = (k + 1 + rand.int(2)) % 3
        const input: LedgerOperation['input'] = read ? { op: 'read', account: rand.int(3) } : { op: 'transfer', from: k, to: other, amount: 1 + rand.int(15) }
        const call = now()
        try {
          if (input.op === 'read') {
            const a = await peer.economy.account(names[input.account]!)
            history.push({ clientId: k, input, call, return: now(), output: { free: a?.free ?? 0 } })
          } else if (input.op === 'transfer') {
            try {
              await peer.economy.transfer(names[input.from]!, names[input.to]!, input.amount)
              history.push({ clientId: k, input, call, return: now(), output: { ok: true } })
            } catch (err) {
              if ((err as { code?: string }).code !== 'ERR_INSUFFICIENT_FUNDS') throw err
              history.push({ clientId: k, input, call, return: now(), output: { ok: false } })
            }
          }
        } catch {
          // Fate unknown (the leader crashed, this peer was the crashed one...): indefinite, and this client stops.
          if (input.op === 'transfer') history.push({ clientId: k, input, call, return: null, output: undefined })
          return
        }
      }
    }
    await Promise.all([0, 1, 2].map(client))
    const r = checkLinearizable(ledgerModel(3), history)
    expect(r.result, `ledger history not linearizable (${seedMessage(seed)}):\n${r.detail ?? ''}`).toBe('ok')
    expect(history.filter(h => h.output !== undefined && h.input.op !== 'mint').length).toBeGreaterThan(30)
  })

  it('a voter restarted from its data dir recovers the economy from its snapshot and log', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'agora-econ-'))
    dirs.push(dir)
    mesh = await createLiveMesh({ peers: 3, logLevel: 'silent', heartbeatIntervalMs: 200, dataDir: dir, raft: { voters: 3, ...RAFT, snapshotEntries: 20 } })
    const m = mesh
    const [a, b] = m.peers as [Peer, Peer, Peer]
    await m.waitFor(p => p.economy.replica !== undefined, { what: 'genesis applied everywhere' })
    await a.economy.mint('s', 1, { owner: a.id })
    await a.economy.mint('w', 500, { owner: b.id })
    // Enough entries for snapshots (every 20 applied), then an auction left open across the restart.
    for (let i = 0; i < 30; i++) await b.economy.transfer('w', 's', 1)
    await a.economy.openAuction({ id: 'open-1', mechanism: 'vickrey', items: ['gpu'], reserve: 1, durationMs: 600_000 }, 's')
    await b.economy.bid('open-1', 'w', { amount: 25 })
    // A follower other than a (a's handle is used after the restart).
    const victim = [1, 2].find(i => m.peers[i]!.raft?.status().role !== 'leader')!
    await m.crash(victim)
    const again = await m.restart(victim)
    await m.waitFor((p, i) => i !== victim || p.economy.replica?.auction('open-1')?.bids.length === 1, { what: 'the restarted voter caught up' })
    // It came back from a snapshot holding the economy (taken every 20 entries), then the log after it.
    expect(again.raft!.driver!.memory.snapshot().metadata.index).toBeGreaterThanOrEqual(20)
    expect(again.economy.replica!.account('w')).toMatchObject({ free: 470 - 25, escrow: 25 })
    // The auction settles after the restart, on every replica alike.
    await a.economy.closeAuction('open-1', 's')
    expect(await again.economy.account('s')).toMatchObject({ free: 1 + 30 + 1 })
    await m.waitFor(p => p.economy.replica?.auction('open-1')?.status === 'settled', { what: 'settled everywhere' })
    const snaps = m.peers.map(p => { const s = p.economy.replica!.snapshot(); return JSON.stringify({ ...s, ledger: { ...s.ledger, appliedIndex: 0 } }) })
    expect(new Set(snaps).size).toBe(1)
  })

  it('hosts trust the log, not the frames: forged specs, repeated requests and dropped streams do no harm', async () => {
    mesh = await economyMesh(4)
    const m = mesh
    const [a, b, , d] = m.peers as [Peer, Peer, Peer, Peer]
    await a.economy.mint('seller', 1, { owner: a.id })
    const seen: BidRequest[] = []
    await bidder(m, b, 'gpu-b', 100, () => ({ amount: 30 }))
    b.economy.handle('gpu-b', (req) => { seen.push(req); return { amount: 30 } })
    await a.economy.openAuction({ id: 'fp', mechanism: 'first-price', items: ['gpu'], reserve: 5, durationMs: 60_000 }, 'seller')
    // d (any peer) sends b a bid request that lies about the auction (one request per fresh channel).
    const send = async (frame: unknown, abort = false, raw = false): Promise<unknown> => {
      const stream = await d.libp2p.dialProtocol(peerIdFromString(b.id), auctionProtocol('agora'))
      const lp = lpStream(stream)
      await lp.write(new TextEncoder().encode(JSON.stringify(raw ? frame : { id: 7, f: frame })))
      if (abort) { stream.abort(new Error('gone')); return undefined }
      const reply = JSON.parse(new TextDecoder().decode((await lp.read()).subarray())) as { id: number, r: unknown }
      expect(reply.id).toBe(7)
      await stream.close()
      return reply.r
    }
    const lie = { t: 'bid-request', req: { auction: 'fp', agent: 'gpu-b', seller: 'someone', closesAt: 1, spec: { id: 'fp', mechanism: 'vickrey', items: ['gpu'], reserve: 0, durationMs: 1 } } }
    expect(await send(lie)).toEqual({ ok: true, outcome: 'bid' })
    // The handler saw the auction as the log has it.
    expect(seen).toHaveLength(1)
    expect(seen[0]).toMatchObject({ auction: 'fp', seller: 'seller', spec: { mechanism: 'first-price', reserve: 5 } })
    // A repeated request is refused without asking the handler again.
    expect(await send(lie)).toMatchObject({ ok: false, code: 'ERR_DUPLICATE_BID' })
    expect(seen).toHaveLength(1)
    // Requesters that vanish before the reply (a request, a result notice) leave the host serving.
    await send({ t: 'result', notice: { auction: 'fp', status: 'settled', winners: [], clearingPrice: null }, agents: ['gpu-b'] }, true)
    await send({ t: 'bid-request', req: { ...lie.req, auction: 'nope' } }, true)
    await send({ t: 'garbage' }, true)
    await send({ no: 'id' }, true, true)
    const r = await a.economy.runAuction({ id: 'after', mechanism: 'vickrey', items: ['gpu'], reserve: 1, durationMs: 60_000 }, { seller: 'seller', bidders: ['gpu-b', 'gpu-b'] })
    expect(r.responses).toEqual({ 'gpu-b': 'bid' })
    expect(r.auction.outcome?.winners).toMatchObject([{ agent: 'gpu-b', price: 1 }])
    await m.waitFor(() => b.agents.stats.malformedFrames >= 2, { what: 'the garbage frames counted' })
  })
})
