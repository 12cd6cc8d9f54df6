/**
 * The Raft bench's figures with each of the 3 voters in its own process, as deployed (raft-live.bench.ts
 * reports them beside the in-process ones): ours (3 peers, each a child process with its own data dir,
 * talking Raft over TCP loopback) and the raw floor of the same shape (raft-floor.ts: its leader and each
 * follower a child process). The measuring client runs in the leader's process (as a local proposer);
 * the parent only starts the children, wires them and collects the figures over IPC.
 *
 * This file is also the children's entry point (`node raft-procs.js child`): each child waits for
 * commands from the parent, one at a time, and answers each.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { multiaddr } from '@multiformats/multiaddr'
import { startFloorFollower, startFloorLeader, type Floor, type FloorFollower } from './raft-floor.js'

export interface Figures { p50: number, p99: number, commandsPerSec: number }

export const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 2000)
export const CLIENTS = 256
export const PER_CLIENT = 80
export const RAFT = { tickMs: 50, electionTick: Number(process.env.BENCH_ELECTION_TICK ?? 8) }

export function pct (xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!
}

/** Commit latency at one client, then throughput with many concurrent clients, of any `propose`. */
export async function latencyAndThroughput (propose: (cmd: Uint8Array) => Promise<unknown>): Promise<Figures> {
  const cmd = new TextEncoder().encode(JSON.stringify({ op: 'set', name: 'bench', value: '1' }))
  for (let i = 0; i < 200; i++) await propose(cmd)
  const lat: number[] = []
  for (let i = 0; i < SAMPLES; i++) {
    const t0 = performance.now()
    await propose(cmd)
    lat.push(performance.now() - t0)
  }
  const t0 = performance.now()
  await Promise.all(Array.from({ length: CLIENTS }, async () => {
    for (let k = 0; k < PER_CLIENT; k++) await propose(cmd)
  }))
  const secs = (performance.now() - t0) / 1000
  return { p50: pct(lat, 0.5), p99: pct(lat, 0.99), commandsPerSec: CLIENTS * PER_CLIENT / secs }
}

/** A command from the parent and the child's answer. */
type Command =
  | { cmd: 'peer', fsync: boolean }
  | { cmd: 'dial', addrs: string[] }
  | { cmd: 'raft', voters: string[] }
  | { cmd: 'role' }
  | { cmd: 'floorFollower', fsync: boolean, tag: number }
  | { cmd: 'floorLeader', fsync: boolean, addrs: string[] }
  | { cmd: 'measure' }
  | { cmd: 'stop' }

/** Waits this long at most for any child's answer. */
const ANSWER_TIMEOUT_MS = 120_000

/** A child process and a way to ask it one command at a time. */
class Child {
  private readonly proc: ChildProcess
  private waiting: { resolve: (v: unknown) => void, reject: (e: Error) => void } | undefined

  constructor () {
    this.proc = fork(fileURLToPath(import.meta.url), ['child'], { serialization: 'advanced', stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
    this.proc.on('message', (m: { ok: boolean, value?: unknown, error?: string }) => {
      const w = this.waiting
      this.waiting = undefined
      if (m.ok) w?.resolve(m.value)
      else w?.reject(new Error(m.error))
    })
    this.proc.on('exit', (code) => { this.waiting?.reject(new Error(`bench child exited (${code})`)); this.waiting = undefined })
  }

  async ask<T> (c: Command): Promise<T> {
    if (this.waiting !== undefined) throw new Error('one command at a time')
    return await new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`no answer to ${c.cmd} within ${ANSWER_TIMEOUT_MS} ms`)) }, ANSWER_TIMEOUT_MS)
      this.waiting = { resolve: (v) => { clearTimeout(timer); resolve(v as T) }, reject: (e) => { clearTimeout(timer); reject(e) } }
      this.proc.send(c)
    })
  }

  /** Asks it to stop, then ends it if it has not exited on its own. */
  async stop (): Promise<void> {
    if (this.proc.exitCode !== null) return
    const exited = new Promise<void>((resolve) => { this.proc.once('exit', () => { resolve() }) })
    await this.ask({ cmd: 'stop' }).catch(() => {})
    const timer = setTimeout(() => { this.proc.kill('SIGKILL') }, 10_000)
    await exited
    clearTimeout(timer)
  }
}

/** Our group, one peer per process: the leader's figures. */
export async function oursInProcesses (fsync: boolean): Promise<Figures> {
  const children = [new Child(), new Child(), new Child()]
  try {
    const peers = await Promise.all(children.map(async c => await c.ask<{ id: string, addr: string }>({ cmd: 'peer', fsync })))
    for (let i = 1; i < 3; i++) await children[i]!.ask({ cmd: 'dial', addrs: peers.slice(0, i).map(p => p.addr) })
    for (const c of children) await c.ask({ cmd: 'raft', voters: peers.map(p => p.id) })
    const deadline = Date.now() + 20_000
    for (;;) {
      const roles = await Promise.all(children.map(async c => await c.ask<string>({ cmd: 'role' })))
      const leader = roles.indexOf('leader')
      if (leader >= 0) return await children[leader]!.ask<Figures>({ cmd: 'measure' })
      if (Date.now() > deadline) throw new Error('no leader within 20 s')
      await new Promise(resolve => setTimeout(resolve, 20))
    }
  } finally {
    await Promise.all(children.map(async c => await c.stop()))
  }
}

/** The raw floor, its leader and each follower a process: the leader's figures. */
export async function floorInProcesses (fsync: boolean): Promise<Figures> {
  const children = [new Child(), new Child(), new Child()]
  try {
    const addrs = [await children[1]!.ask<string>({ cmd: 'floorFollower', fsync, tag: 1 }), await children[2]!.ask<string>({ cmd: 'floorFollower', fsync, tag: 2 })]
    await children[0]!.ask({ cmd: 'floorLeader', fsync, addrs })
    return await children[0]!.ask<Figures>({ cmd: 'measure' })
  } finally {
    await Promise.all(children.map(async c => await c.stop()))
  }
}

/** A child: one peer of ours, or one node of the floor. */
async function child (): Promise<void> {
  const { createPeer } = await import('../../peers/peer.js')
  let peer: Awaited<ReturnType<typeof createPeer>> | undefined
  let dir: string | undefined
  let follower: FloorFollower | undefined
  let leader: Floor | undefined
  const run = async (c: Command): Promise<unknown> => {
    switch (c.cmd) {
      case 'peer':
        if (c.fsync) dir = await mkdtemp(join(tmpdir(), 'agora-bench-raft-'))
        peer = await createPeer({ logLevel: 'silent', dht: false, inboundConnectionsPerSecondMax: 1000, ...(dir !== undefined ? { dataDir: dir } : {}) })
        return { id: peer.id, addr: peer.addresses()[0]! }
      case 'dial':
        for (const a of c.addrs) await peer!.dial(a)
        return null
      case 'raft':
        await peer!.startRaft({ voters: c.voters, ...RAFT, fsync: true })
        return null
      case 'role':
        return peer?.raft?.status().role ?? 'none'
      case 'floorFollower':
        follower = await startFloorFollower(c.fsync, c.tag)
        return follower.node.getMultiaddrs()[0]!.toString()
      case 'floorLeader':
        leader = await startFloorLeader(c.fsync, c.addrs.map(a => multiaddr(a)))
        return null
      case 'measure': {
        if (leader !== undefined) return await latencyAndThroughput(leader.propose)
        const d = peer!.raft!.driver!
        return await latencyAndThroughput(async (x) => await d.propose(x))
      }
      case 'stop':
        await peer?.stop()
        await follower?.stop()
        await leader?.stop()
        if (dir !== undefined) await rm(dir, { recursive: true, force: true })
        return null
    }
  }
  process.on('message', (c: Command) => {
    run(c).then((value) => {
      process.send!({ ok: true, value }, () => { if (c.cmd === 'stop') process.exit(0) })
    }, (err: Error) => { process.send!({ ok: false, error: err.stack ?? err.message }) })
  })
  // The parent gone: nothing is left to do.
  process.on('disconnect', () => { process.exit(0) })
}

if (process.argv[2] === 'child' && process.send !== undefined) await child()
