/**
 * Live Raft figures, 3 voters over TCP on loopback in one process (issue targets in brackets):
 * commit latency at one client, p50 [<= 1 ms] and p99 [<= 10 ms]; throughput with many concurrent
 * clients [>= 20,000 commands/s]; time for commits to resume after the leader is killed, p99 over 20
 * trials [<= 1.5 s]. With fsync on (data dirs in the OS temp dir) and off (in memory).
 *
 * Election timeout: tickMs 50 × electionTick 8 → uniform in [400, 800) ms (BENCH_ELECTION_TICK to change), with PreVote and
 * CheckQuorum.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createPeer } from '../../peers/peer.js'
import type { Peer } from '../../peers/peer.js'

export const name = 'raft-live'

const progress = (msg: string): void => { process.stderr.write(`  raft-live: ${msg}\n`) }

function pct (xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!
}
const r2 = (x: number): number => Number(x.toFixed(2))

const RAFT = { tickMs: 50, electionTick: Number(process.env.BENCH_ELECTION_TICK ?? 8) }

async function waitFor (cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`)
    await new Promise(resolve => setTimeout(resolve, 2))
  }
}

async function group (dirs: string[] | undefined): Promise<Peer[]> {
  const peers: Peer[] = []
  for (let i = 0; i < 3; i++) {
    peers.push(await createPeer({ logLevel: 'silent', dht: false, inboundConnectionsPerSecondMax: 1000, ...(dirs !== undefined ? { dataDir: dirs[i]! } : {}) }))
  }
  for (let i = 1; i < 3; i++) for (let j = 0; j < i; j++) await peers[i]!.dial(peers[j]!.addresses()[0]!)
  const voters = peers.map(p => p.id)
  for (const p of peers) await p.startRaft({ voters, ...RAFT, fsync: true })
  await waitFor(() => peers.some(p => p.raft?.status().role === 'leader'), 10_000, 'a leader')
  return peers
}

const leaderOf = (peers: Peer[]): Peer | undefined => peers.find(p => p.started && p.raft?.status().role === 'leader')

async function latencyAndThroughput (peers: Peer[]): Promise<Record<string, unknown>> {
  const leader = leaderOf(peers)!
  const d = leader.raft!.driver!
  const cmd = new TextEncoder().encode(JSON.stringify({ op: 'set', name: 'bench', value: '1' }))
  for (let i = 0; i < 200; i++) await d.propose(cmd)
  const lat: number[] = []
  for (let i = 0; i < 2000; i++) {
    const t0 = performance.now()
    await d.propose(cmd)
    lat.push(performance.now() - t0)
  }
  const clients = 256
  const perClient = 80
  const t0 = performance.now()
  await Promise.all(Array.from({ length: clients }, async () => {
    for (let k = 0; k < perClient; k++) await d.propose(cmd)
  }))
  const secs = (performance.now() - t0) / 1000
  return {
    commitLatencyMs: { p50: r2(pct(lat, 0.5)), p99: r2(pct(lat, 0.99)), samples: lat.length },
    throughput: { commandsPerSec: Math.round(clients * perClient / secs), clients, commands: clients * perClient }
  }
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
  const out: Record<string, unknown> = { electionTimeoutMs: `${RAFT.tickMs * RAFT.electionTick}-${2 * RAFT.tickMs * RAFT.electionTick} (tickMs ${RAFT.tickMs}, electionTick ${RAFT.electionTick}), preVote, checkQuorum` }
  const dirs = await Promise.all([0, 1, 2].map(async () => await mkdtemp(join(tmpdir(), 'agora-bench-raft-'))))
  try {
    progress('fsync on')
    let peers = await group(dirs)
    out.fsyncOn = await latencyAndThroughput(peers)
    const trials = Number(process.env.BENCH_TRIALS ?? 20)
    if (trials > 0) {
      progress('failover')
      out.failover = await failover(peers, dirs, trials)
    }
    await Promise.all(peers.map(async p => await p.stop()))
    progress('in memory (no fsync)')
    peers = await group(undefined)
    out.inMemory = await latencyAndThroughput(peers)
    await Promise.all(peers.map(async p => await p.stop()))
  } finally {
    await Promise.all(dirs.map(async d => await rm(d, { recursive: true, force: true })))
  }
  return out
}
