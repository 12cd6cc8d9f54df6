/**
 * A replica whose worker is slower than the closing peer's pauses applying at the combinatorial settle
 * (protocols/raft/driver.ts `applyWaitMs`) instead of solving inside apply: its Raft keeps acknowledging,
 * its event loop keeps running, and it applies the same outcome as the others once its worker answers
 * (or, after the bounded wait, by solving in apply). Live, 3 voters over TCP; the slow worker is the pool's
 * injected `delayMs`.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createLiveMesh, type LiveMesh } from '../../sim/live.js'
import type { Peer } from '../../peers/peer.js'
import { combinatorial } from '../../protocols/auctions/combinatorial.js'
import { combinatorialInput } from '../../protocols/market/economy.js'

let mesh: LiveMesh | undefined
const dirs: string[] = []
afterEach(async () => {
  await mesh?.stop()
  mesh = undefined
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})

const ITEMS = ['A', 'B', 'C', 'D']
const bundlesOf = (k: number): Array<{ items: string[], value: number }> => [
  { items: [ITEMS[k % 4]!], value: 3 + (k % 5) },
  { items: [ITEMS[k % 4]!, ITEMS[(k + 1) % 4]!], value: 6 + (k % 7) }
]

/**
 * A 3-voter group (assigned to `mesh`) with combinatorial auction `auction` of `seller` open and 9 bids
 * in; its first follower (`slow`; with `slowLeader`, the leader) gets a worker `delayMs` late. `closer`
 * owns the seller: the leader, or with `slowLeader` the first follower.
 */
async function slowFollowerGroup (auction: string, delayMs: number, o: { applyWaitMs?: number, dataDir?: string, slowLeader?: boolean } = {}): Promise<{ m: LiveMesh, leader: Peer, slow: Peer, victim: number, closer: Peer }> {
  const m = await createLiveMesh({
    peers: 3,
    logLevel: 'silent',
    heartbeatIntervalMs: 200,
    ...(o.dataDir !== undefined ? { dataDir: o.dataDir } : {}),
    raft: { voters: 3, tickMs: 20, electionTick: 10, ...(o.applyWaitMs !== undefined ? { applyWaitMs: o.applyWaitMs } : {}) }
  })
  mesh = m
  await m.waitFor(p => p.economy.replica !== undefined && p.raft?.status().leader !== undefined, { what: 'genesis applied everywhere' })
  const lead = m.peers.findIndex(p => p.raft?.status().role === 'leader')
  expect(lead).toBeGreaterThanOrEqual(0)
  const leader = m.peers[lead]!
  const follower = (lead + 1) % 3
  const closer = o.slowLeader === true ? m.peers[follower]! : leader
  await leader.economy.mint('seller', 1, { owner: closer.id })
  for (let k = 0; k < 9; k++) await leader.economy.mint(`w${k}`, 1000, { owner: leader.id })
  await closer.economy.openAuction({ id: auction, mechanism: 'combinatorial', items: ITEMS, durationMs: 600_000 }, 'seller')
  for (let k = 0; k < 9; k++) await leader.economy.bid(auction, `w${k}`, { bundles: bundlesOf(k) })
  const victim = o.slowLeader === true ? lead : follower
  const slow = m.peers[victim]!
  slow.economy.solvePoolOptions = { delayMs }
  return { m, leader, slow, victim, closer }
}

/** The synchronous solve of auction `id` as `p`'s replica holds it (closed or settled: the frozen bids). */
function syncSolve (p: Peer, id: string): ReturnType<typeof combinatorial> {
  const a = p.economy.replica!.auction(id)!
  const { params, bids } = combinatorialInput(a.spec, a.bids)
  return combinatorial(params, bids, p.economy.replica!.auctionLimits)
}

/** Every replica's whole state (session table and application) once all have applied the same index: byte-identical. */
async function sameSnapshots (m: LiveMesh): Promise<void> {
  await m.waitFor(() => {
    const applied = m.peers.map(p => p.raft!.driver!.applied)
    return applied.every(x => x === applied[0]) && applied[0] === m.peers[0]!.raft!.status().commit
  }, { what: 'every replica applied the same index', timeoutMs: 30_000 })
  const snaps = m.peers.map(p => Buffer.from(p.raft!.driver!.replica.snapshot()).toString('base64'))
  expect(new Set(snaps).size).toBe(1)
}

describe('a settle waits for a slow replica\'s worker without blocking it', () => {
  it('a follower with a slow worker pauses at the settle: it keeps acknowledging appends, its event loop keeps ticking, then it applies the same outcome', async () => {
    const { m, leader, slow } = await slowFollowerGroup('sw', 3000)
    const driver = slow.raft!.driver!

    // While the slow follower is paused: a heartbeat of the event loop (a 10 ms timer), and proposals
    // on the leader whose entries the paused follower must acknowledge.
    let paused: { index: number, at: number } | undefined
    let resumed: { reason: string, at: number } | undefined
    let ticks = 0
    let lastTick = 0
    let maxGap = 0
    let heartbeat: ReturnType<typeof setInterval> | undefined
    const acked: number[] = []
    const lastIndexes: number[] = []
    const appliedWhilePaused: number[] = []
    driver.on('raft:apply-paused', (e) => {
      paused = { index: e.index, at: performance.now() }
      lastTick = performance.now()
      heartbeat = setInterval(() => {
        const now = performance.now()
        maxGap = Math.max(maxGap, now - lastTick)
        lastTick = now
        ticks++
        appliedWhilePaused.push(driver.applied)
        lastIndexes.push(driver.node.status().lastIndex)
        const pr = leader.raft!.driver!.status().progress?.[driver.id]
        if (pr !== undefined) acked.push(pr.match)
      }, 10)
    })
    driver.on('raft:apply-resumed', (e) => {
      resumed = { reason: e.reason, at: performance.now() }
      clearInterval(heartbeat)
    })
    const probing = (async () => {
      const v = leader.variables.strong<number>('probe')
      const settledHere = (): boolean => slow.economy.replica?.auction('sw')?.status === 'settled'
      for (let i = 0; resumed === undefined && !settledHere() && i < 10_000; i++) {
        await v.set(i)
        if (paused === undefined) await new Promise(resolve => setTimeout(resolve, 20))
      }
    })()

    const closed = await leader.economy.closeAuction('sw', 'seller', 'combinatorial')
    expect(closed).toMatchObject({ status: 'settled', solution: 'verified' })
    await m.waitFor(p => p.economy.replica?.auction('sw')?.status === 'settled', { what: 'settled everywhere', timeoutMs: 60_000 })
    await probing
    clearInterval(heartbeat)

    // It paused at the settle (the leader applied that entry: its index), and resumed when its worker answered.
    expect(paused).toBeDefined()
    expect(leader.economy.replica!.auction('sw')!.status).toBe('settled')
    expect(resumed?.reason).toBe('done')
    expect(driver.stats.applyPauses).toBe(1)
    expect(driver.stats.applyPausesTimedOut).toBe(0)
    // Meanwhile its applied index stayed before the settle while its log and its acknowledgements went past it.
    expect(Math.max(...appliedWhilePaused)).toBeLessThan(paused!.index)
    expect(Math.max(...lastIndexes)).toBeGreaterThan(paused!.index)
    expect(Math.max(...acked)).toBeGreaterThan(paused!.index)
    // The event loop was not blocked by the wait: the heartbeat kept ticking, its longest gap a small part of the pause.
    const pauseMs = resumed!.at - paused!.at
    expect(ticks).toBeGreaterThanOrEqual(10)
    expect(maxGap).toBeLessThan(pauseMs / 2)
    // Its outcome is its own worker's, the same as the others' and as the synchronous solve.
    expect(slow.economy.replica!.solveStats).toMatchObject({ fromWorker: 1, inApply: 0 })
    const sync = syncSolve(slow, 'sw')
    expect(slow.economy.replica!.auction('sw')!.outcome).toMatchObject({ winners: sync.winners, welfare: sync.welfare, allocation: sync.allocation })
    await sameSnapshots(m)
  }, 120_000)

  it('after the bounded wait (applyWaitMs) the paused follower solves in apply: the same outcome', async () => {
    const { m, leader, slow } = await slowFollowerGroup('sf', 60_000, { applyWaitMs: 300 })
    const driver = slow.raft!.driver!
    const reasons: string[] = []
    driver.on('raft:apply-resumed', (e) => { reasons.push(e.reason) })
    await leader.economy.closeAuction('sf', 'seller', 'combinatorial')
    await m.waitFor(p => p.economy.replica?.auction('sf')?.status === 'settled', { what: 'settled everywhere', timeoutMs: 60_000 })
    expect(reasons).toEqual(['timeout'])
    expect(driver.stats.applyPausesTimedOut).toBe(1)
    // No worker result there: it solved in apply; the leader used its worker's.
    expect(slow.economy.replica!.solveStats).toMatchObject({ fromWorker: 0, inApply: 1 })
    expect(leader.economy.replica!.solveStats).toMatchObject({ fromWorker: 1, inApply: 0 })
    await sameSnapshots(m)
  }, 120_000)

  it('when the paused follower\'s solver goes away mid-wait (its pool stopped), the settle applies at once, solved in apply: the same outcome', async () => {
    const { m, leader, slow } = await slowFollowerGroup('sg', 60_000)
    const driver = slow.raft!.driver!
    const reasons: string[] = []
    let paused = false
    driver.on('raft:apply-paused', () => { paused = true })
    driver.on('raft:apply-resumed', (e) => { reasons.push(e.reason) })
    await leader.economy.closeAuction('sg', 'seller', 'combinatorial')
    await m.waitFor(() => paused, { what: 'the follower paused at the settle', timeoutMs: 30_000 })
    await slow.economy.stopSolver()
    await m.waitFor(p => p.economy.replica?.auction('sg')?.status === 'settled', { what: 'settled everywhere', timeoutMs: 60_000 })
    expect(reasons).toEqual(['done'])
    expect(driver.stats.applyPausesTimedOut).toBe(0)
    expect(slow.economy.replica!.solveStats).toMatchObject({ fromWorker: 0, inApply: 1 })
    await sameSnapshots(m)
  }, 120_000)

  it('a read issued on the paused follower returns after the settle applied there', async () => {
    const { m, leader, slow } = await slowFollowerGroup('sr', 2000)
    const driver = slow.raft!.driver!
    let read: Promise<string | undefined> | undefined
    let statusAtRead: string | undefined
    driver.on('raft:apply-paused', () => {
      statusAtRead = slow.economy.replica!.auction('sr')!.status
      // A linearizable read: its index is at least the settle's, so it is served once that applied here.
      read = slow.economy.auction('sr').then(a => a?.status)
    })
    await leader.economy.closeAuction('sr', 'seller', 'combinatorial')
    await m.waitFor(() => read !== undefined, { what: 'the follower paused and a read was issued', timeoutMs: 30_000 })
    expect(statusAtRead).toBe('closed')
    expect(await read).toBe('settled')
    expect(slow.economy.replica!.solveStats).toMatchObject({ fromWorker: 1, inApply: 0 })
  }, 120_000)

  it('a follower restarted while paused replays the close and the settle, waits for its worker again, and ends identical', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'agora-settlewait-'))
    dirs.push(dir)
    const { m, leader, slow, victim } = await slowFollowerGroup('sx', 60_000, { dataDir: dir })
    let paused = false
    slow.raft!.driver!.on('raft:apply-paused', () => { paused = true })
    await leader.economy.closeAuction('sx', 'seller', 'combinatorial')
    await m.waitFor(() => paused, { what: 'the follower paused at the settle', timeoutMs: 30_000 })
    expect(slow.economy.replica!.auction('sx')!.status).toBe('closed')
    await m.crash(victim)
    // More entries while it is down.
    for (let k = 0; k < 5; k++) await leader.economy.transfer('w0', 'w1', 1)
    const again = await m.restart(victim)
    await m.waitFor(p => p.economy.replica?.auction('sx')?.status === 'settled', { what: 'settled everywhere', timeoutMs: 60_000 })
    // Its replay reached the settle before any solve had finished: it started one in its worker and waited.
    expect(again.raft!.driver!.stats.applyPauses).toBeGreaterThanOrEqual(1)
    expect(again.economy.replica!.solveStats).toMatchObject({ fromWorker: 1, inApply: 0 })
    await sameSnapshots(m)
  }, 120_000)

  it('a paused leader keeps replicating and committing, hands over leadership mid-wait, and applies the same outcome', async () => {
    const { m, slow, closer } = await slowFollowerGroup('sl', 12_000, { slowLeader: true, applyWaitMs: 30_000 })
    const driver = slow.raft!.driver!
    let paused = false
    driver.on('raft:apply-paused', () => { paused = true })
    const closing = closer.economy.closeAuction('sl', 'seller', 'combinatorial')
    await m.waitFor(() => paused, { what: 'the leader paused at the settle', timeoutMs: 30_000 })
    expect(driver.isLeader).toBe(true)
    // A command through a follower commits (the paused leader replicates it and counts the acks) and applies there.
    await closer.variables.strong<number>('during-pause').set(1)
    expect(driver.applyPausedAt).toBeGreaterThan(0)
    expect(driver.status().commit).toBeGreaterThan(driver.applyPausedAt)
    // Leadership moves away while it waits; its held entries stay and apply in order afterwards.
    const to = closer.raft!.driver!.id
    await m.waitFor(() => {
      // Asked again while it still leads (a transfer the transferee did not finish in time is aborted).
      if (driver.isLeader && driver.status().leadTransferee === 0) driver.transferLeadership(to)
      return closer.raft!.status().role === 'leader'
    }, { what: 'the closer leads', timeoutMs: 30_000 })
    expect(driver.applyPausedAt).toBeGreaterThan(0)
    expect(await closing).toMatchObject({ status: 'settled', solution: 'verified' })
    await m.waitFor(p => p.economy.replica?.auction('sl')?.status === 'settled', { what: 'settled everywhere', timeoutMs: 60_000 })
    expect(slow.economy.replica!.solveStats).toMatchObject({ fromWorker: 1, inApply: 0 })
    expect(driver.stats.applyPausesTimedOut).toBe(0)
    await sameSnapshots(m)
  }, 120_000)
})
