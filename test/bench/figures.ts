/**
 * Helpers of the agents and tasks benches (not a bench: run.ts loads `*.bench.js` only): percentiles,
 * rounding, a latency distribution, CPU time of an async section, polling, and a live mesh of Raft voters
 * (and client peers) over TCP with its data dirs in the OS temp dir.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createLiveMesh, type LiveMesh, type LiveMeshOptions } from '../../sim/live.js'

/** The `p` quantile (0..1) of `xs` (nearest rank, from below). */
export function pct (xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!
}

/** `x` rounded to `digits` decimals (2 by default), as a number. */
export const round = (x: number, digits = 2): number => Number(x.toFixed(digits))

/** p50, p99, max and count of latencies `xs` (ms), rounded to `digits` decimals. */
export function dist (xs: number[], digits = 2): { p50: number, p99: number, max: number, samples: number } {
  return { p50: round(pct(xs, 0.5), digits), p99: round(pct(xs, 0.99), digits), max: round(Math.max(...xs), digits), samples: xs.length }
}

/** CPU time (µs, every thread of this process: all its peers, libuv's fsync workers) spent while `fn` ran. */
export async function cpuOf (fn: () => Promise<void>): Promise<number> {
  const c0 = process.cpuUsage()
  await fn()
  const c = process.cpuUsage(c0)
  return c.user + c.system
}

export const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

/** Polls `cond` every 5 ms until it holds; throws naming `what` after `timeoutMs`. */
export async function waitFor (cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!await cond()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`)
    await sleep(5)
  }
}

/**
 * Runs `fn` on a live mesh of `peers` peers over TCP, the first `raft.voters` of them Raft voters (data
 * dirs under a fresh temp dir, removed after), once it has a leader and every other peer reaches the
 * group's client path; stops the mesh after.
 */
export async function withVoterMesh<T> (tag: string, peers: number, raft: NonNullable<LiveMeshOptions['raft']>, fn: (m: LiveMesh, leader: number) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), `agora-bench-${tag}-`))
  let m: LiveMesh | undefined
  try {
    m = await createLiveMesh({ peers, logLevel: 'silent', dht: false, dataDir: dir, raft })
    const mesh = m
    const leader = await mesh.waitForLeader()
    await waitFor(async () => {
      for (const c of mesh.peers.slice(raft.voters)) {
        try { await c.tasks.list({ limit: 1 }) } catch { return false }
      }
      return true
    }, 30_000, 'clients reach the group')
    return await fn(mesh, leader)
  } finally {
    await m?.stop()
    await rm(dir, { recursive: true, force: true })
  }
}
