/**
 * `peer.coordination` figures on a 3-voter Raft group over TCP on loopback, fsync on (data dirs in the
 * OS temp dir), in one process (issue "Coordination on Raft"; targets in brackets):
 *  a. an uncontended lock acquire + release from the leader's peer, p50/p99, next to one strong-variable
 *     commit measured in the same run [lock p50 <= 2 x strong commit p50];
 *  b. a contended lock handed between 10 waiters on the 3 peers: hand-offs per second [>= 500/s];
 *  c. 10,000 live leases held by one peer: Raft entries per second they cost over ~20 s, minus a
 *     baseline without them [<= 2 commands/s];
 *  d. a lock freed after its holder crashed: crash to the next waiter's grant, minus the TTL [<= 1 s].
 *
 * Wall-clock figures depend on the machine's load; the `cpuUs…` figures (CPU time of this process, all
 * threads, per operation) much less. Every peer runs in this process, so work each replica does (a
 * coordination command is signed by its proposer and verified by every replica) adds up on one core here.
 *
 * Election timeout: tickMs 50 x electionTick 8 (as the raft-live bench). BENCH_LEASES, BENCH_LEASE_SECONDS,
 * BENCH_HANDOFF_SECONDS, BENCH_CRASHES, BENCH_SAMPLES change the sizes.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createLiveMesh } from '../../sim/live.js'
import type { LiveMesh } from '../../sim/live.js'
import type { Peer } from '../../peers/peer.js'
import type { Lease } from '../../peers/coordination/service.js'

export const name = 'coordination'

const progress = (msg: string): void => { process.stderr.write(`  coordination: ${msg}\n`) }

function pct (xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!
}
const r2 = (x: number): number => Number(x.toFixed(2))
/** CPU time (µs, every thread of this process: the 3 peers, libuv's fsync workers) spent in `fn`. */
async function cpuOf (fn: () => Promise<void>): Promise<number> {
  const c0 = process.cpuUsage()
  await fn()
  const c = process.cpuUsage(c0)
  return c.user + c.system
}
const dist = (xs: number[]): { p50: number, p99: number, samples: number } => ({ p50: r2(pct(xs, 0.5)), p99: r2(pct(xs, 0.99)), samples: xs.length })

const RAFT = { tickMs: 50, electionTick: 8, fsync: true }
const VOTERS = 3
const LEASE_CLIENT = VOTERS
/** Client peers crashed one per repetition of (d). */
const CRASHES = Number(process.env.BENCH_CRASHES ?? 5)
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 1000)

async function waitFor (cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!await cond()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`)
    await new Promise(resolve => setTimeout(resolve, 5))
  }
}

/** (a) One peer, nobody else on the lock: acquire + release cycles and strong commits, interleaved in rounds. */
async function uncontended (p: Peer): Promise<Record<string, unknown>> {
  const v = p.variables.strong<number>('bench-strong', { initial: 0 })
  // Warm-up (the session lease is granted by the first lock).
  for (let i = 0; i < 100; i++) { await (await p.coordination.lock('bench-a')).release(); await v.set(i) }
  const acquire: number[] = []
  const release: number[] = []
  const cycle: number[] = []
  const strong: number[] = []
  let lockCpuUs = 0
  let strongCpuUs = 0
  // Rounds of 50 of each, alternating, so both see the same state of the machine (disk, GC, load).
  for (let round = 0; round < SAMPLES / 50; round++) {
    lockCpuUs += await cpuOf(async () => {
      for (let i = 0; i < 50; i++) {
        const t0 = performance.now()
        const h = await p.coordination.lock('bench-a')
        const t1 = performance.now()
        await h.release()
        const t2 = performance.now()
        acquire.push(t1 - t0)
        release.push(t2 - t1)
        cycle.push(t2 - t0)
      }
    })
    strongCpuUs += await cpuOf(async () => {
      for (let i = 0; i < 50; i++) {
        const t0 = performance.now()
        await v.set(round * 50 + i)
        strong.push(performance.now() - t0)
      }
    })
  }
  const strongP50 = pct(strong, 0.5)
  return {
    lockAcquireMs: dist(acquire),
    lockReleaseMs: dist(release),
    lockAcquireReleaseMs: dist(cycle),
    strongCommitMs: dist(strong),
    ratioAcquireReleaseP50ToStrongP50: r2(pct(cycle, 0.5) / strongP50),
    ratioAcquireP50ToStrongP50: r2(pct(acquire, 0.5) / strongP50),
    cpuUsPerAcquireRelease: Math.round(lockCpuUs / cycle.length),
    cpuUsPerStrongCommit: Math.round(strongCpuUs / strong.length),
    target: 'lock acquire+release p50 <= 2 x strong commit p50'
  }
}

/** (b) 10 waiters (4, 3, 3 on the voters), each with its own lease, take the lock in turn for `seconds`. */
async function contended (peers: Peer[], seconds: number): Promise<Record<string, unknown>> {
  const placement = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]
  // One lease per waiter: grants are per lease (a lease asking again for a lock it holds gets its own grant back).
  const leases: Lease[] = await Promise.all(placement.map(async i => await peers[i]!.coordination.grantLease({ ttlMs: 10_000 })))
  let handoffs = 0
  let lastToken = 0
  let outOfOrder = 0
  const perPeer = [0, 0, 0]
  const until = performance.now() + seconds * 1000
  const t0 = performance.now()
  const cpuUs = await cpuOf(async () => { await Promise.all(placement.map(async (i, w) => {
    while (performance.now() < until) {
      const h = await peers[i]!.coordination.lock('bench-hot', { lease: leases[w]!, waitMs: 60_000 })
      if (h.token <= lastToken) outOfOrder++
      lastToken = h.token
      handoffs++
      perPeer[i]!++
      await h.release()
    }
  })) })
  const secs = (performance.now() - t0) / 1000
  await Promise.all(leases.map(async l => { await l.revoke() }))
  return { handoffsPerSec: Math.round(handoffs / secs), cpuUsPerHandoff: Math.round(cpuUs / handoffs), handoffs, seconds: r2(secs), waiters: placement.length, grantsPerPeer: perPeer, tokensOutOfOrder: outOfOrder, target: '>= 500 hand-offs/s' }
}

/** Raft entries applied on `p` over `seconds`, per second. */
async function entryRate (p: Peer, seconds: number): Promise<{ entriesPerSec: number, entries: number, seconds: number }> {
  await p.raft!.readBarrier()
  const from = p.raft!.status().applied
  const t0 = performance.now()
  await new Promise(resolve => setTimeout(resolve, seconds * 1000))
  await p.raft!.readBarrier()
  const entries = p.raft!.status().applied - from
  const secs = (performance.now() - t0) / 1000
  return { entriesPerSec: r2(entries / secs), entries, seconds: r2(secs) }
}

/** (c) A client peer holds `count` leases (default TTL): the entries they cost, against a baseline without them. */
async function manyLeases (m: LiveMesh, count: number, seconds: number): Promise<Record<string, unknown>> {
  const holder = m.peers[LEASE_CLIENT]!
  const counter = m.peers[1]!
  progress(`baseline, ${seconds} s`)
  const baseline = await entryRate(counter, seconds)
  progress(`granting ${count} leases`)
  const t0 = performance.now()
  const leases: Lease[] = []
  let next = 0
  await Promise.all(Array.from({ length: 64 }, async () => {
    while (next < count) {
      next++
      leases.push(await holder.coordination.grantLease())
    }
  }))
  const grantSecs = (performance.now() - t0) / 1000
  // Let the grants' keepalive schedule settle, then count.
  await new Promise(resolve => setTimeout(resolve, 2000))
  const keepalivesBefore = holder.coordination.stats.keepalives
  progress(`${count} leases, ${seconds} s`)
  const withLeases = await entryRate(counter, seconds)
  const keepalives = holder.coordination.stats.keepalives - keepalivesBefore
  const live = leases.filter(l => !l.lost).length
  const groupLeases = counter.raft!.app!.coordination.leaseCount
  // A graceful stop revokes all of them in one command (the client is not used again).
  await holder.stop()
  return {
    leases: count,
    leasesLiveAtEnd: live,
    leasesInGroupAtEnd: groupLeases,
    grantsPerSec: Math.round(count / grantSecs),
    baselineEntriesPerSec: baseline.entriesPerSec,
    withLeasesEntriesPerSec: withLeases.entriesPerSec,
    costCommandsPerSec: r2(withLeases.entriesPerSec - baseline.entriesPerSec),
    holderKeepalivesPerSec: r2(keepalives / withLeases.seconds),
    seconds,
    target: '<= 2 commands/s'
  }
}

/** (d) A client holds a lock under a lease of `ttlMs` and crashes; a voter waits for it. */
async function crashFree (m: LiveMesh, ttlMs: number, reps: number): Promise<Record<string, unknown>> {
  const waiter = m.peers[1]!
  const reader = m.peers[0]!
  const beyondTtl: number[] = []
  const beyondExpiry: number[] = []
  for (let r = 0; r < reps; r++) {
    const i = LEASE_CLIENT + 1 + r
    const name = `bench-crash-${r}`
    const held = await m.peers[i]!.coordination.lock(name, { ttlMs })
    const waiting = waiter.coordination.lock(name, { waitMs: 60_000 }).then(h => ({ h, at: Date.now() }))
    await waitFor(async () => ((await waiter.coordination.lockState(name))?.waiters.length ?? 0) > 0, 10_000, 'the waiter queued')
    const crashedAt = Date.now()
    await m.crash(i)
    await reader.raft!.readBarrier()
    const raw = reader.raft!.app!.read(`coord:lease:${held.lease}`)
    const expiresAt = raw === undefined ? undefined : (JSON.parse(raw) as { expiresAt: number }).expiresAt
    const got = await waiting
    beyondTtl.push(got.at - crashedAt - ttlMs)
    if (expiresAt !== undefined) beyondExpiry.push(got.at - expiresAt)
    await got.h.release()
    progress(`crash ${r + 1}: granted ${got.at - crashedAt} ms after the crash (TTL ${ttlMs} ms)`)
  }
  return {
    ttlMs,
    crashToGrantMinusTtlMs: { ...dist(beyondTtl), max: Math.max(...beyondTtl), all: beyondTtl },
    grantAfterGroupExpiryMs: beyondExpiry.length > 0 ? { ...dist(beyondExpiry), max: Math.max(...beyondExpiry) } : null,
    note: 'the group expires a lease TTL after its last keepalive, sent up to TTL/3 before the crash: crash-to-grant minus TTL is negative by up to TTL/3',
    target: '<= 1000 ms beyond the TTL'
  }
}

export default async function (): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = { setup: `3 voters over TCP loopback, fsync on, 1 + ${CRASHES} client peers; tickMs ${RAFT.tickMs}, electionTick ${RAFT.electionTick}` }
  const dir = await mkdtemp(join(tmpdir(), 'agora-bench-coord-'))
  let m: LiveMesh | undefined
  try {
    m = await createLiveMesh({ peers: VOTERS + 1 + CRASHES, logLevel: 'silent', dht: false, dataDir: dir, raft: { voters: VOTERS, ...RAFT } })
    const mesh = m
    const leader = await mesh.waitForLeader()
    // Clients know every member serves the client path.
    await waitFor(async () => {
      for (const c of mesh.peers.slice(VOTERS)) {
        try { await c.coordination.locks() } catch { return false }
      }
      return true
    }, 30_000, 'clients reach the group')
    progress('a: uncontended lock vs strong commit')
    out.uncontended = await uncontended(mesh.peers[leader]!)
    progress('b: contended lock, 10 waiters on 3 peers')
    out.contended = await contended(mesh.peers.slice(0, VOTERS), Number(process.env.BENCH_HANDOFF_SECONDS ?? 10))
    progress('c: 10,000 leases on one peer')
    out.manyLeases = await manyLeases(mesh, Number(process.env.BENCH_LEASES ?? 10_000), Number(process.env.BENCH_LEASE_SECONDS ?? 20))
    progress('d: lock freed after the holder crashed')
    out.crashFree = await crashFree(mesh, 3000, CRASHES)
  } finally {
    await m?.stop()
    await rm(dir, { recursive: true, force: true })
  }
  return out
}
