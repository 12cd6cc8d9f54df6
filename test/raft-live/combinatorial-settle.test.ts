/**
 * Combinatorial auctions settled off the apply path on a live 3-voter Raft group over TCP (plus one peer
 * outside the group): the deferred close, each replica's worker solve, the settle carrying the solution.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createLiveMesh, type LiveMesh } from '../../sim/live.js'
import type { Peer } from '../../peers/peer.js'
import { combinatorial } from '../../protocols/auctions/combinatorial.js'
import { combinatorialInput } from '../../protocols/market/economy.js'
import type { EconomyAppliedEvent } from '../../peers/economy/economy.js'

let mesh: LiveMesh | undefined
const dirs: string[] = []
afterEach(async () => {
  await mesh?.stop()
  mesh = undefined
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})

async function economyMesh (n: number): Promise<LiveMesh> {
  const m = await createLiveMesh({ peers: n, logLevel: 'silent', heartbeatIntervalMs: 200, raft: { voters: 3, tickMs: 20, electionTick: 10 } })
  await m.waitFor((p, i) => i >= 3 || p.raft?.status().leader !== undefined, { what: 'a known leader' })
  return m
}

const ITEMS = ['A', 'B', 'C', 'D']
/** Agent `k`'s XOR bundles (deterministic, ties included). */
const bundlesOf = (k: number): Array<{ items: string[], value: number }> => [
  { items: [ITEMS[k % 4]!], value: 3 + (k % 5) },
  { items: [ITEMS[k % 4]!, ITEMS[(k + 1) % 4]!], value: 6 + (k % 7) }
]

/** Agents c0..c11 hosted round-robin on the four peers, funded, each with a bid handler. */
async function bidders (m: LiveMesh): Promise<string[]> {
  const ids: string[] = []
  for (let k = 0; k < 12; k++) {
    const host = m.peers[k % 4]!
    const id = `c${k}`
    await m.peers[0]!.economy.mint(id, 100, { owner: host.id })
    await host.registry.register({ id, capabilities: ['bundle'] })
    host.economy.handle(id, () => ({ bundles: bundlesOf(k) }))
    ids.push(id)
  }
  return ids
}

/** Every member's replica of auction `id` (settled), as JSON. */
async function replicas (m: LiveMesh, id: string): Promise<string[]> {
  await m.waitFor((p, i) => i >= 3 || p.economy.replica?.auction(id)?.status === 'settled', { what: `${id} settled on every member` })
  return m.peers.slice(0, 3).map(p => JSON.stringify(p.economy.replica!.auction(id)))
}

describe('combinatorial settle off the apply path, live', () => {
  it('runAuction closes deferred, solves in workers, settles with a verified solution; every replica equals the synchronous solve', async () => {
    mesh = await economyMesh(4)
    const m = mesh
    const [a, , , d] = m.peers as [Peer, Peer, Peer, Peer]
    await a.economy.mint('seller', 1, { owner: a.id })
    await m.peers[0]!.economy.mint('dseller', 1, { owner: d.id })
    const ids = await bidders(m)
    const settles: EconomyAppliedEvent[] = []
    a.economy.on('economy:applied', (e) => { if (e.command.type === 'auction.settle') settles.push(e) })
    await m.waitFor(p => p !== a || p.registry.query({ capability: 'bundle' }).agents.length === 12, { what: 'a sees the bidders' })
    const report = await a.economy.runAuction({ id: 'cx', mechanism: 'combinatorial', items: ITEMS, durationMs: 60_000 }, { seller: 'seller', bidders: ids, requestTimeoutMs: 30_000 })
    expect(Object.values(report.responses).every(r => r === 'bid')).toBe(true)
    expect(report.auction.status).toBe('settled')
    // The outcome is the synchronous solve of the bids in log order.
    const { params, bids } = combinatorialInput(report.auction.spec, report.auction.bids)
    const sync = combinatorial(params, bids)
    expect(report.auction.outcome).toMatchObject({ winners: sync.winners, welfare: sync.welfare, allocation: sync.allocation })
    expect(settles.map(e => e.result)).toMatchObject([{ ok: true, status: 'settled', solution: 'verified' }])
    expect(new Set(await replicas(m, 'cx')).size).toBe(1)
    // The leader's own replica took its worker's result (the settle waited for it).
    expect(a.economy.replica!.solveStats.fromWorker).toBeGreaterThanOrEqual(1)

    // A peer outside the group closes through a member: it solves in its own worker and carries that.
    await d.economy.openAuction({ id: 'cy', mechanism: 'combinatorial', items: ITEMS, durationMs: 600_000 }, 'dseller')
    for (let k = 0; k < 12; k += 4) await m.peers[k % 4]!.economy.bid('cy', `c${k}`, { bundles: bundlesOf(k) })
    const closed = await d.economy.closeAuction('cy', 'dseller')
    expect(closed).toMatchObject({ status: 'settled', solution: 'verified' })
    expect(new Set(await replicas(m, 'cy')).size).toBe(1)
    for (const p of m.peers.slice(0, 3)) expect(p.economy.replica!.invariants()).toEqual([])
  })

  it('a hostile settle carrying a feasible but wrong allocation changes nothing: every replica settles the optimum', async () => {
    mesh = await economyMesh(3)
    const m = mesh
    const [a, b] = m.peers as [Peer, Peer, Peer]
    await a.economy.mint('seller', 1, { owner: a.id })
    for (let k = 0; k < 9; k++) await a.economy.mint(`h${k}`, 100, { owner: m.peers[k % 3]!.id })
    await a.economy.openAuction({ id: 'hz', mechanism: 'combinatorial', items: ITEMS, durationMs: 600_000 }, 'seller')
    for (let k = 0; k < 9; k++) await m.peers[k % 3]!.economy.bid('hz', `h${k}`, { bundles: bundlesOf(k) })
    const closed = await a.economy.command({ type: 'auction.close', by: 'seller', auction: 'hz', settle: 'deferred' })
    expect(closed).toMatchObject({ status: 'closed' })
    const auction = b.economy.replica!.auction('hz')!
    const { params, bids } = combinatorialInput(auction.spec, auction.bids)
    const sync = combinatorial(params, bids)
    // The lowest-valued single bid alone, paying its whole value: feasible, passes the cheap checks, not optimal.
    const pick = bids.findIndex(x => x.items.length === 1)
    const lie = { digest: closed.digest, allocation: [pick], prices: [bids[pick]!.value], welfare: bids[pick]!.value }
    const r = await b.economy.command({ type: 'auction.settle', by: 'h1', auction: 'hz', solution: lie })
    expect(r).toMatchObject({ status: 'settled', solution: 'replaced', outcome: { welfare: sync.welfare, allocation: sync.allocation } })
    const states = await replicas(m, 'hz')
    expect(new Set(states).size).toBe(1)
    expect(JSON.parse(states[0]!).outcome.winners).toEqual(sync.winners)
  })

  it('a voter restarted from a snapshot holding a closed auction solves it in its worker before the settle', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'agora-settle-'))
    dirs.push(dir)
    mesh = await createLiveMesh({ peers: 3, logLevel: 'silent', heartbeatIntervalMs: 200, dataDir: dir, raft: { voters: 3, tickMs: 20, electionTick: 10, snapshotEntries: 20 } })
    const m = mesh
    const [a] = m.peers as [Peer, Peer, Peer]
    await m.waitFor(p => p.economy.replica !== undefined, { what: 'genesis applied everywhere' })
    await a.economy.mint('seller', 1, { owner: a.id })
    for (let k = 0; k < 6; k++) await a.economy.mint(`r${k}`, 100, { owner: a.id })
    await a.economy.openAuction({ id: 'rz', mechanism: 'combinatorial', items: ITEMS, durationMs: 600_000 }, 'seller')
    for (let k = 0; k < 6; k++) await a.economy.bid('rz', `r${k}`, { bundles: bundlesOf(k) })
    const closed = await a.economy.command({ type: 'auction.close', by: 'seller', auction: 'rz', settle: 'deferred' })
    const digest = String(closed.digest)
    // Enough entries after the close for a snapshot that holds the closed auction (every 20 applied).
    for (let k = 0; k < 30; k++) await a.economy.transfer('r0', 'r1', 1)
    const victim = [1, 2].find(i => m.peers[i]!.raft?.status().role !== 'leader')!
    await m.crash(victim)
    const again = await m.restart(victim)
    await m.waitFor((p, i) => i !== victim || p.economy.replica?.auction('rz')?.status === 'closed', { what: 'the restarted voter holds the closed auction' })
    expect(again.raft!.driver!.memory.snapshot().metadata.index).toBeGreaterThan(Number(closed.index))
    // Its close came in the snapshot (no close entry applied after the restart): it solved anyway.
    await m.waitFor((p, i) => i !== victim || p.economy.hasSolve(digest), { what: 'the restarted voter solved the closed auction' })
    await a.economy.command({ type: 'auction.settle', by: 'seller', auction: 'rz' })
    await m.waitFor(p => p.economy.replica?.auction('rz')?.status === 'settled', { what: 'settled everywhere' })
    expect(again.economy.replica!.solveStats).toMatchObject({ fromWorker: 1, inApply: 0 })
    expect(new Set(m.peers.map(p => JSON.stringify(p.economy.replica!.auction('rz')))).size).toBe(1)
  })
  it('a follower brought up to date by the leader\'s snapshot (cut off while the auction closed) solves it in its worker before the settle', async () => {
    mesh = await createLiveMesh({ peers: 3, logLevel: 'silent', heartbeatIntervalMs: 200, raft: { voters: 3, tickMs: 20, electionTick: 10, snapshotEntries: 20 } })
    const m = mesh
    await m.waitFor(p => p.economy.replica !== undefined && p.raft?.status().leader !== undefined, { what: 'genesis applied everywhere' })
    const lead = m.peers.findIndex(p => p.raft?.status().role === 'leader')
    expect(lead).toBeGreaterThanOrEqual(0)
    const victim = (lead + 1) % 3
    const a = m.peers[lead]!
    await a.economy.mint('seller', 1, { owner: a.id })
    for (let k = 0; k < 6; k++) await a.economy.mint(`s${k}`, 100, { owner: a.id })
    await a.economy.openAuction({ id: 'sz', mechanism: 'combinatorial', items: ITEMS, durationMs: 600_000 }, 'seller')
    for (let k = 0; k < 6; k++) await a.economy.bid('sz', `s${k}`, { bundles: bundlesOf(k) })
    await m.partition([[victim], [0, 1, 2].filter(i => i !== victim)])
    const closed = await a.economy.command({ type: 'auction.close', by: 'seller', auction: 'sz', settle: 'deferred' })
    const digest = String(closed.digest)
    // Enough entries after the close for the majority to snapshot and compact past it (every 20 applied).
    for (let k = 0; k < 30; k++) await a.economy.transfer('s0', 's1', 1)
    await m.heal()
    const v = m.peers[victim]!
    await m.waitFor((p, i) => i !== victim || p.economy.replica?.auction('sz')?.status === 'closed', { what: 'the cut-off follower holds the closed auction', timeoutMs: 45_000 })
    // It got there by the leader's snapshot: no close entry was applied on it.
    expect(v.raft!.driver!.stats.snapshotsInstalled).toBeGreaterThan(0)
    await m.waitFor((p, i) => i !== victim || p.economy.hasSolve(digest), { what: 'the follower solved the closed auction it got in a snapshot', timeoutMs: 45_000 })
    await a.economy.command({ type: 'auction.settle', by: 'seller', auction: 'sz' })
    await m.waitFor(p => p.economy.replica?.auction('sz')?.status === 'settled', { what: 'settled everywhere' })
    expect(v.economy.replica!.solveStats).toMatchObject({ fromWorker: 1, inApply: 0 })
    expect(new Set(m.peers.map(p => JSON.stringify(p.economy.replica!.auction('sz')))).size).toBe(1)
  }, 180_000)
})
