/**
 * Commits of unrelated commands while a combinatorial auction of 50 goods × 1,000 bids settles (issue
 * 17), on a live 3-voter Raft group over TCP on loopback, in one process, fsync off:
 *
 * - `inApply` (before): `auction.close` settles inside apply, the VCG solve on every replica's apply path;
 * - `offApply` (after): a deferred close, every replica solving in its worker thread, then
 *   `auction.settle` carrying the solution (apply checks it and takes its own worker's result).
 *
 * A probe writes one strong variable after another on the leader the whole time; its commit latency
 * before the close (the baseline, same window) and between the close and the settle applied on every
 * replica is reported, with the event loop's longest stall and the time to settle. The three replicas
 * share one event loop here, so `inApply` stalls it for the three solves one after another (a peer per
 * process would stall each for one). Both modes of a run solve the same instance (seeded `bundleInstance`,
 * one value changed per run), one after the other, `RUNS` runs; medians per figure, and whether both
 * modes reached the same outcome in every run.
 *
 * `slowFollower`: the deferred settle with one follower whose worker hands its result over
 * `SLOW_DELAY_MS` late (the pool's `delayMs`), so the settle reaches it before its own solve:
 * - `before` (`applyWaitMs: 0`, the earlier behaviour): it solves inside apply, on the event loop;
 * - `after` (the default `applyWaitMs`): its applying pauses at the settle until its worker answers,
 *   its Raft and event loop running on.
 * `followers*`: the probes in flight between the settle applied on the leader (the closing peer) and on
 * every replica, which is when the slow follower applies it.
 * Each mode in a group of its own (3 new voters), `RUNS` runs, the same instances as above. The longest
 * event-loop stall is the process's: the three peers share one loop here, so it is the slow follower's.
 * `BENCH_SETTLE=slow` runs only this case.
 */
import { createPeer } from '../../peers/peer.js'
import type { Peer } from '../../peers/peer.js'
import { bundleInstance } from './auction-instances.js'
import { combinatorial } from '../../protocols/auctions/combinatorial.js'
import { Economy, combinatorialInput } from '../../protocols/market/economy.js'

export const name = 'settle'

const progress = (msg: string): void => { process.stderr.write(`  settle: ${msg}\n`) }
const RAFT = { tickMs: 50, electionTick: 8 }
const RUNS = 3
/** The instance: seed 3 is the slowest of seeds 1–10 (50 goods × 1,000 bids, one agent per bid). */
const SEED = 3
const GOODS = 50
const BIDS = 1000
/** How late the slow follower's worker hands over its results: past the closing peer's margin (at most 5 s, SETTLE_MARGIN_MS_MAX). */
const SLOW_DELAY_MS = 6000

async function waitFor (cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`)
    await new Promise(resolve => setTimeout(resolve, 5))
  }
}

async function group (raft: { applyWaitMs?: number } = {}): Promise<Peer[]> {
  const peers: Peer[] = []
  for (let i = 0; i < 3; i++) peers.push(await createPeer({ logLevel: 'silent', dht: false, inboundConnectionsPerSecondMax: 1000, rateLimits: { proposals: false, writes: false } }))
  for (let i = 1; i < 3; i++) for (let j = 0; j < i; j++) await peers[i]!.dial(peers[j]!.addresses()[0]!)
  const voters = peers.map(p => p.id)
  for (const p of peers) await p.startRaft({ voters, ...RAFT, ...raft, fsync: false })
  await waitFor(() => peers.some(p => p.raft?.status().role === 'leader' && p.economy.replica !== undefined), 30_000, 'a leader with the economy genesis')
  return peers
}

async function pool<T> (items: T[], n: number, fn: (x: T) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: n }, async () => { while (next < items.length) await fn(items[next++]!) }))
}

const q = (xs: number[], f: number): number => {
  if (xs.length === 0) return 0
  const s = [...xs].sort((a, b) => a - b)
  return Number(s[Math.min(s.length - 1, Math.floor(s.length * f))]!.toFixed(2))
}
const median = (xs: number[]): number => q(xs, 0.5)

interface Run { slow?: { applyPauses: number, applyPausesTimedOut: number, fromWorker: number, inApply: number }, baselineP50Ms: number, baselineP99Ms: number, duringP50Ms: number, duringP99Ms: number, duringP999Ms: number, duringOver100Ms: number, followersMs: number, followersProbes: number, followersP99Ms: number, followersMaxMs: number, duringMaxMs: number, probesDuring: number, probesFailed: number, closeError: string | null, settleMs: number, eventLoopMaxStallMs: number, outcome: string }

/**
 * Run `run`'s instance: the seeded one with the first bid's value raised by `run` (a new digest per run,
 * so no run reuses an earlier run's finished solve; both modes of a run solve the same instance).
 */
function instanceOf (run: number): ReturnType<typeof bundleInstance> {
  const inst = bundleInstance(SEED, GOODS, BIDS)
  inst.bids[0]!.value += run
  return inst
}

async function once (peers: Peer[], leader: Peer, id: string, mode: 'inApply' | 'offApply', run: number, slow?: Peer): Promise<Run> {
  const { items, bids } = instanceOf(run)
  const slowDriver = slow?.raft?.driver
  const slowBefore = slow === undefined || slowDriver === undefined ? undefined : { pauses: slowDriver.stats.applyPauses, timedOut: slowDriver.stats.applyPausesTimedOut, ...slow.economy.replica!.solveStats }
  await leader.economy.openAuction({ id, mechanism: 'combinatorial', items, durationMs: 3_600_000 }, 'seller')
  await pool(bids, 64, async (b) => { await leader.economy.bid(id, b.agent, { bundles: [{ items: b.items, value: b.value }] }) })
  // A probe whose outcome is unknown after the driver's proposal timeout (5 s) counts as failed, with
  // the time it took to fail as its latency.
  const probes: Array<{ at: number, ms: number, failed: boolean }> = []
  let probing = true
  const probe = (async () => {
    const v = leader.variables.strong<number>(`probe-${id}`)
    for (let i = 0; probing; i++) {
      const t0 = performance.now()
      let failed = false
      try { await v.set(i) } catch { failed = true }
      probes.push({ at: t0, ms: performance.now() - t0, failed })
    }
  })()
  await new Promise(resolve => setTimeout(resolve, 500))
  // The event loop's longest stall: the largest gap between ticks of a 10 ms timer.
  let lastTick = performance.now()
  let maxGap = 0
  const ticker = setInterval(() => { const now = performance.now(); maxGap = Math.max(maxGap, now - lastTick); lastTick = now }, 10)
  const t0 = performance.now()
  // In apply, the close's own proposal may time out (its apply is the solve): the settle still happens.
  const closing = mode === 'inApply' ? leader.economy.command({ type: 'auction.close', by: 'seller', auction: id }) : leader.economy.closeAuction(id, 'seller', 'combinatorial')
  const closeError = await closing.then(() => undefined, (err: { code?: string }) => err.code ?? 'error')
  // The closing peer has its result (for `offApply`: the settle applied on the leader); the others follow.
  const tLeader = performance.now()
  await waitFor(() => peers.every(p => p.economy.replica?.auction(id)?.status === 'settled'), 120_000, `${id} settled on every replica`)
  const t1 = performance.now()
  clearInterval(ticker)
  maxGap = Math.max(maxGap, t1 - lastTick)
  await new Promise(resolve => setTimeout(resolve, 300))
  probing = false
  await probe
  const before = probes.filter(p => p.at < t0).map(p => p.ms)
  // Every probe in flight at some point between the close and the settle on every replica.
  const inWindow = probes.filter(p => p.at + p.ms >= t0 && p.at <= t1)
  const during = inWindow.map(p => p.ms)
  // Probes in flight between the settle applied on the leader and on every replica (the slow follower's turn).
  const tail = probes.filter(p => p.at + p.ms >= tLeader && p.at <= t1).map(p => p.ms)
  const a = leader.economy.replica!.auction(id)!
  return {
    // The slow follower in this run: pauses of its applying, and where its settle's outcome came from.
    ...(slowBefore !== undefined
      ? { slow: { applyPauses: slowDriver!.stats.applyPauses - slowBefore.pauses, applyPausesTimedOut: slowDriver!.stats.applyPausesTimedOut - slowBefore.timedOut, fromWorker: slow!.economy.replica!.solveStats.fromWorker - slowBefore.fromWorker, inApply: slow!.economy.replica!.solveStats.inApply - slowBefore.inApply } }
      : {}),
    baselineP50Ms: q(before, 0.5),
    baselineP99Ms: q(before, 0.99),
    duringP50Ms: q(during, 0.5),
    duringP99Ms: q(during, 0.99),
    duringP999Ms: q(during, 0.999),
    // Probes that took over 100 ms (a stall of the loop holds up the few in flight, which p99 of thousands hides).
    duringOver100Ms: during.filter(ms => ms > 100).length,
    followersMs: Number((t1 - tLeader).toFixed(1)),
    followersProbes: tail.length,
    followersP99Ms: q(tail, 0.99),
    followersMaxMs: q(tail, 1),
    duringMaxMs: q(during, 1),
    probesDuring: during.length,
    probesFailed: inWindow.filter(p => p.failed).length,
    closeError: closeError ?? null,
    settleMs: Number((t1 - t0).toFixed(1)),
    eventLoopMaxStallMs: Number(maxGap.toFixed(1)),
    outcome: JSON.stringify([a.outcome?.winners, a.outcome?.welfare])
  }
}

/**
 * One replica's apply time, no Raft: the synchronous close (the solve inside apply) against the deferred
 * close plus the settle that finds its worker's result (what apply costs once the solve is off its path).
 */
function applyOnly (run: number): { inApplyMs: number, offApplyCloseMs: number, offApplySettleMs: number } {
  const { items, bids } = instanceOf(run)
  /** An economy with the auction open and every bid in; `apply(origin, cmd)` times one command. */
  const book = (): { e: Economy, apply: (origin: string, cmd: Record<string, unknown>) => { ms: number, r: Record<string, unknown> } } => {
    const e = new Economy({ authorities: ['op'] })
    let index = 0
    const apply = (origin: string, cmd: Record<string, unknown>): { ms: number, r: Record<string, unknown> } => {
      index++
      const t = performance.now()
      const r = e.apply(cmd, index, { origin, at: 1000 + index }) as Record<string, unknown>
      const ms = performance.now() - t
      if (r.ok !== true) throw new Error(`apply-only: ${String(cmd.type)} failed: ${String(r.code)} ${String(r.message)}`)
      return { ms, r }
    }
    apply('op', { type: 'mint', by: 'treasury', account: 'seller', owner: 'pb', amount: 1 })
    apply('pb', { type: 'auction.open', by: 'seller', auction: { id: 'c', mechanism: 'combinatorial', items, durationMs: 3_600_000 } })
    for (const b of bids) {
      apply('op', { type: 'mint', by: 'treasury', account: b.agent, owner: 'pb', amount: 1_000_000 })
      apply('pb', { type: 'auction.bid', by: b.agent, auction: 'c', bid: { bundles: [{ items: b.items, value: b.value }] } })
    }
    return { e, apply }
  }
  const sync = book()
  const inApplyMs = sync.apply('pb', { type: 'auction.close', by: 'seller', auction: 'c' }).ms
  const off = book()
  const closed = off.apply('pb', { type: 'auction.close', by: 'seller', auction: 'c', settle: 'deferred' })
  const a = off.e.auction('c')!
  const { params, bids: flat } = combinatorialInput(a.spec, a.bids)
  const solved = combinatorial(params, flat, off.e.auctionLimits) // what the worker hands over
  off.e.solutionLookup = (d) => d === closed.r.digest ? solved : undefined
  const offApplySettleMs = off.apply('pb', { type: 'auction.settle', by: 'seller', auction: 'c' }).ms
  if (JSON.stringify(sync.e.auction('c')!.outcome) !== JSON.stringify(off.e.auction('c')!.outcome)) throw new Error('apply-only: outcomes differ')
  return { inApplyMs, offApplyCloseMs: closed.ms, offApplySettleMs }
}

function summary (runs: Run[]): Record<string, unknown> {
  const out: Record<string, unknown> = { runs: runs.length }
  for (const k of ['baselineP50Ms', 'baselineP99Ms', 'duringP50Ms', 'duringP99Ms', 'duringP999Ms', 'duringOver100Ms', 'followersMs', 'followersProbes', 'followersP99Ms', 'followersMaxMs', 'duringMaxMs', 'probesDuring', 'probesFailed', 'settleMs', 'eventLoopMaxStallMs'] as const) out[k] = median(runs.map(r => r[k]))
  out.each = runs.map(({ outcome, ...r }) => r)
  return out
}

/** Mints the seller and the 1,000 bidders on a new group. */
async function fund (leader: Peer): Promise<void> {
  await leader.economy.mint('seller', 1, { owner: leader.id })
  progress('funding 1,000 bidders')
  const { bids } = bundleInstance(SEED, GOODS, BIDS)
  await pool(bids, 64, async (b) => { await leader.economy.mint(b.agent, 1_000_000, { owner: leader.id }) })
}

/** The deferred settle with one follower's worker `SLOW_DELAY_MS` late: `applyWaitMs` 0 (before) or the default (after). */
async function slowFollower (): Promise<Record<string, unknown>> {
  const out: Record<string, Run[]> = {}
  for (const mode of ['before', 'after'] as const) {
    const peers = await group(mode === 'before' ? { applyWaitMs: 0 } : {})
    try {
      const leader = peers.find(p => p.raft?.status().role === 'leader')!
      const slow = peers.find(p => p !== leader)!
      slow.economy.solvePoolOptions = { delayMs: SLOW_DELAY_MS }
      await fund(leader)
      out[mode] = []
      for (let i = 0; i < RUNS; i++) {
        progress(`slow follower, ${mode}: run ${i + 1}/${RUNS}`)
        out[mode]!.push(await once(peers, leader, `slow-${mode}${i}`, 'offApply', i, slow))
      }
    } finally {
      for (const p of peers) await p.stop().catch(() => {})
    }
  }
  const b = summary(out.before!)
  const a = summary(out.after!)
  return {
    delayMs: SLOW_DELAY_MS,
    before: b,
    after: a,
    eventLoopMaxStallRatio: Number(((a.eventLoopMaxStallMs as number) / (b.eventLoopMaxStallMs as number)).toFixed(3)),
    probeDuringP99Ratio: Number(((a.duringP99Ms as number) / (b.duringP99Ms as number)).toFixed(3)),
    probeDuringP999Ratio: Number(((a.duringP999Ms as number) / (b.duringP999Ms as number)).toFixed(3)),
    probeDuringMaxRatio: Number(((a.duringMaxMs as number) / (b.duringMaxMs as number)).toFixed(3)),
    probeFollowersP99Ratio: Number(((a.followersP99Ms as number) / (b.followersP99Ms as number)).toFixed(3)),
    afterDuringP99VsBaseline: Number(((a.duringP99Ms as number) / (a.baselineP99Ms as number)).toFixed(2)),
    outcomesIdentical: out.before!.every((r, i) => r.outcome === out.after![i]!.outcome)
  }
}

export default async function (): Promise<Record<string, unknown>> {
  if (process.env.BENCH_SETTLE === 'slow') return { instance: `bundleInstance(seed ${SEED}, ${GOODS} goods, ${BIDS} bids), 3 voters over TCP in one process, fsync off`, slowFollower: await slowFollower() }
  progress('one replica\'s apply time, no Raft')
  const only = [0, 1, 2].map(applyOnly)
  const applyOnePerReplica = {
    inApplyMs: median(only.map(o => o.inApplyMs)),
    offApplyCloseMs: median(only.map(o => o.offApplyCloseMs)),
    offApplySettleMs: median(only.map(o => o.offApplySettleMs)),
    each: only.map(o => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Number(v.toFixed(2))])))
  }
  const peers = await group()
  let result: Record<string, unknown>
  try {
    const leader = peers.find(p => p.raft?.status().role === 'leader')!
    await fund(leader)
    const before: Run[] = []
    const after: Run[] = []
    for (let i = 0; i < RUNS; i++) {
      progress(`run ${i + 1}/${RUNS}: settle in apply`)
      before.push(await once(peers, leader, `in${i}`, 'inApply', i))
      progress(`run ${i + 1}/${RUNS}: settle off apply`)
      after.push(await once(peers, leader, `off${i}`, 'offApply', i))
    }
    const stats = peers.map(p => p.economy.replica!.solveStats)
    const b = summary(before)
    const a = summary(after)
    result = {
      instance: `bundleInstance(seed ${SEED}, ${GOODS} goods, ${BIDS} bids), 3 voters over TCP in one process, fsync off`,
      applyOnePerReplica,
      inApply: b,
      offApply: a,
      probeDuringP99Ratio: Number(((a.duringP99Ms as number) / (b.duringP99Ms as number)).toFixed(3)),
      probeDuringMaxRatio: Number(((a.duringMaxMs as number) / (b.duringMaxMs as number)).toFixed(3)),
      offApplyDuringP99VsBaseline: Number(((a.duringP99Ms as number) / (a.baselineP99Ms as number)).toFixed(2)),
      outcomesIdentical: before.every((r, i) => r.outcome === after[i]!.outcome),
      solveStatsPerReplica: stats
    }
  } finally {
    for (const p of peers) await p.stop().catch(() => {})
  }
  return { ...result, slowFollower: await slowFollower() }
}
