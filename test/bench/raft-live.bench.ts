/**
 * Live Raft figures, 3 voters over TCP on loopback in one process, each beside the raw floor of the
 * same shape run in the same window (raft-floor.ts: libp2p stream replication, leader WAL in parallel,
 * fsync per batch), as ours / floor ratios (issue 17 targets in brackets): commit latency at one client,
 * p50 [<= 1.3x] and p99 [<= 2x]; throughput with 256 concurrent clients [>= 30,000 commands/s]; time for
 * commits to resume after the leader is killed, p99 over 20 trials [<= 1.5 s]. With fsync on (data dirs
 * in the OS temp dir) and off (in memory). Each figure is the median of BENCH_ROUNDS (3) rounds, each
 * round the floor then ours on fresh nodes. Then the same figures with each voter in its own process, as
 * deployed (raft-procs.ts; `votersInProcesses`, BENCH_PROCS=0 to skip), ours beside the floor's.
 *
 * Election timeout: tickMs 50 × electionTick 8 → uniform in [400, 800) ms (BENCH_ELECTION_TICK to change), with PreVote and
 * CheckQuorum.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { createPeer } from '../../peers/peer.js'
import type { Peer } from '../../peers/peer.js'
import { startFloor } from './raft-floor.js'
import { CLIENTS, floorInProcesses, latencyAndThroughput, oursInProcesses, PER_CLIENT, pct, RAFT, SAMPLES, type Figures } from './raft-procs.js'

export const name = 'raft-live'

const progress = (msg: string): void => { process.stderr.write(`  raft-live: ${msg}\n`) }

const r2 = (x: number): number => Number(x.toFixed(2))


async function waitFor (cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`)
    await new Promise(resolve => setTimeout(resolve, 2))
  }
}

async function group (dirs: string[] | undefined, asyncLeaderWrites = true): Promise<Peer[]> {
  const peers: Peer[] = []
  for (let i = 0; i < 3; i++) {
    peers.push(await createPeer({ logLevel: 'silent', dht: false, inboundConnectionsPerSecondMax: 1000, ...(dirs !== undefined ? { dataDir: dirs[i]! } : {}) }))
  }
  for (let i = 1; i < 3; i++) for (let j = 0; j < i; j++) await peers[i]!.dial(peers[j]!.addresses()[0]!)
  const voters = peers.map(p => p.id)
  for (const p of peers) await p.startRaft({ voters, ...RAFT, fsync: true, asyncLeaderWrites })
  await waitFor(() => peers.some(p => p.raft?.status().role === 'leader'), 10_000, 'a leader')
  return peers
}

const leaderOf = (peers: Peer[]): Peer | undefined => peers.find(p => p.started && p.raft?.status().role === 'leader')

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)

const median = (xs: number[]): number => pct(xs, 0.5)

/** Median over the rounds of each figure, ours beside the floor's, and ours / floor. */
function summarize (ours: Figures[], floor: Figures[]): Record<string, unknown> {
  const m = (fs: Figures[], k: keyof Figures): number => median(fs.map(f => f[k]))
  const o = { p50: m(ours, 'p50'), p99: m(ours, 'p99'), tput: m(ours, 'commandsPerSec') }
  const f = { p50: m(floor, 'p50'), p99: m(floor, 'p99'), tput: m(floor, 'commandsPerSec') }
  return {
    commitLatencyMs: { p50: r2(o.p50), p99: r2(o.p99), samples: SAMPLES },
    floorCommitLatencyMs: { p50: r2(f.p50), p99: r2(f.p99) },
    ratio: { p50: r2(o.p50 / f.p50), p99: r2(o.p99 / f.p99), throughput: r2(o.tput / f.tput) },
    // The same ratios taken within each round (both sides in the same minute), then the median.
    ratioWithinRounds: {
      p50: r2(median(ours.map((x, i) => x.p50 / floor[i]!.p50))),
      p99: r2(median(ours.map((x, i) => x.p99 / floor[i]!.p99))),
      throughput: r2(median(ours.map((x, i) => x.commandsPerSec / floor[i]!.commandsPerSec)))
    },
    throughput: { commandsPerSec: Math.round(o.tput), clients: CLIENTS, commands: CLIENTS * PER_CLIENT },
    floorThroughput: { commandsPerSec: Math.round(f.tput) },
    rounds: ours.map((x, i) => ({ ours: { p50: r2(x.p50), p99: r2(x.p99), commandsPerSec: Math.round(x.commandsPerSec) }, floor: { p50: r2(floor[i]!.p50), p99: r2(floor[i]!.p99), commandsPerSec: Math.round(floor[i]!.commandsPerSec) } }))
  }
}

/** Our group's figures over fresh nodes (and fresh data dirs when `fsync`). */
async function ours (fsync: boolean, asyncLeaderWrites: boolean): Promise<Figures> {
  const dirs = fsync ? await Promise.all([0, 1, 2].map(async () => await mkdtemp(join(tmpdir(), 'agora-bench-raft-')))) : undefined
  const peers = await group(dirs, asyncLeaderWrites)
  try {
    const d = leaderOf(peers)!.raft!.driver!
    return await latencyAndThroughput(async (c) => await d.propose(c))
  } finally {
    await Promise.all(peers.map(async p => await p.stop()))
    if (dirs !== undefined) await Promise.all(dirs.map(async d => await rm(d, { recursive: true, force: true })))
  }
}

/**
 * One round: the raw floor, then our group, then (fsync on) our group with the leader writing before
 * it sends (`asyncLeaderWrites: false`, as before issue 17), each over fresh nodes.
 */
async function round (fsync: boolean): Promise<{ ours: Figures, floor: Figures, sequential?: Figures }> {
  const fl = await startFloor(fsync)
  let floor: Figures
  try { floor = await latencyAndThroughput(fl.propose) } finally { await fl.stop() }
  const o = await ours(fsync, true)
  if (!fsync) return { ours: o, floor }
  return { ours: o, floor, sequential: await ours(fsync, false) }
}

async function failover (peers: Peer[], dirs: string[], trials: number): Promise<Record<string, unknown>> {
  const times: number[] = []
  for (let t = 0; t < trials; t++) {
    const old = leaderOf(peers)!
    const idx = peers.indexOf(old)
    const others = peers.filter(p => p !== old)
    await others[0]!.variables.strong('f').set(t)
    const t0 = performance.now()
    await old.stop()
    // Commits resume: a survivor's write succeeds.
    for (;;) {
      try {
        await others[0]!.raft!.driver!.propose(new TextEncoder().encode(JSON.stringify({ op: 'set', name: 'f', value: String(-t) })))
        break
      } catch {
        await new Promise(resolve => setTimeout(resolve, 5))
      }
    }
    times.push(performance.now() - t0)
    // Bring the old leader back from its data dir for the next trial.
    const back = await createPeer({ logLevel: 'silent', dht: false, inboundConnectionsPerSecondMax: 1000, dataDir: dirs[idx]! })
    for (const o of others) await back.dial(o.addresses()[0]!)
    await back.startRaft({ voters: peers.map(p => p.id), ...RAFT, fsync: true })
    peers[idx] = back
    await waitFor(() => back.raft!.status().leader !== undefined && back.raft!.status().applied >= others[0]!.raft!.status().commit, 10_000, 'the restarted voter to catch up')
    progress(`failover trial ${t + 1}: ${Math.round(times[times.length - 1]!)} ms`)
  }
  return { resumeMs: { p50: Math.round(pct(times, 0.5)), p99: Math.round(pct(times, 0.99)), max: Math.round(Math.max(...times)), trials } }
}

export default async function (): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {
    electionTimeoutMs: `${RAFT.tickMs * RAFT.electionTick}-${2 * RAFT.tickMs * RAFT.electionTick} (tickMs ${RAFT.tickMs}, electionTick ${RAFT.electionTick}), preVote, checkQuorum`,
    loadAverage1mBefore: r2(loadavg()[0]!)
  }
  for (const fsync of [true, false]) {
    const ourFigures: Figures[] = []
    const floor: Figures[] = []
    const sequential: Figures[] = []
    for (let r = 0; r < ROUNDS; r++) {
      progress(`${fsync ? 'fsync on' : 'in memory (no fsync)'}: round ${r + 1} of ${ROUNDS}`)
      const x = await round(fsync)
      ourFigures.push(x.ours)
      floor.push(x.floor)
      if (x.sequential !== undefined) sequential.push(x.sequential)
      progress(`  ours p50 ${r2(x.ours.p50)} p99 ${r2(x.ours.p99)} ms, ${Math.round(x.ours.commandsPerSec)}/s; floor p50 ${r2(x.floor.p50)} p99 ${r2(x.floor.p99)} ms, ${Math.round(x.floor.commandsPerSec)}/s` +
        (x.sequential !== undefined ? `; sequential leader writes p50 ${r2(x.sequential.p50)} p99 ${r2(x.sequential.p99)} ms, ${Math.round(x.sequential.commandsPerSec)}/s` : ''))
    }
    const summary = summarize(ourFigures, floor)
    if (sequential.length > 0) summary.leaderWritesSequential = summarize(sequential, floor)
    out[fsync ? 'fsyncOn' : 'inMemory'] = summary
  }
  // The same figures with each voter in its own process (as deployed), ours and the floor's, in rounds
  // of their own (BENCH_PROCS=0: none).
  if (process.env.BENCH_PROCS !== '0') {
    const procs: Record<string, unknown> = {}
    for (const fsync of [true, false]) {
      const ourFigures: Figures[] = []
      const floor: Figures[] = []
      for (let r = 0; r < ROUNDS; r++) {
        progress(`voters in processes, ${fsync ? 'fsync on' : 'in memory (no fsync)'}: round ${r + 1} of ${ROUNDS}`)
        const f = await floorInProcesses(fsync)
        const o = await oursInProcesses(fsync)
        floor.push(f)
        ourFigures.push(o)
        progress(`  ours p50 ${r2(o.p50)} p99 ${r2(o.p99)} ms, ${Math.round(o.commandsPerSec)}/s; floor p50 ${r2(f.p50)} p99 ${r2(f.p99)} ms, ${Math.round(f.commandsPerSec)}/s`)
      }
      procs[fsync ? 'fsyncOn' : 'inMemory'] = summarize(ourFigures, floor)
    }
    out.votersInProcesses = procs
  }
  const trials = Number(process.env.BENCH_TRIALS ?? 20)
  if (trials > 0) {
    const dirs = await Promise.all([0, 1, 2].map(async () => await mkdtemp(join(tmpdir(), 'agora-bench-raft-'))))
    try {
      progress('failover')
      const peers = await group(dirs)
      out.failover = await failover(peers, dirs, trials)
      await Promise.all(peers.map(async p => await p.stop()))
    } finally {
      await Promise.all(dirs.map(async d => await rm(d, { recursive: true, force: true })))
    }
  }
  out.loadAverage1mAfter = r2(loadavg()[0]!)
  return out
}
