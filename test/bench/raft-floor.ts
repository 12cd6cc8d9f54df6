/**
 * The raw floor of the Raft commit path on this stack, run beside the real thing by raft-live.bench.ts:
 * libp2p stream replication of the same shape without Raft. Three bare libp2p nodes over TCP loopback
 * (Noise, Yamux), a leader and two followers, one long-lived stream per follower carrying
 * length-prefixed frames (peers/raft/frames.ts, as the Raft transport reads them). The leader batches
 * the commands of one event-loop turn into one frame, sends it to both followers and writes it to its
 * own WAL in parallel; a follower writes each batch to its WAL, then acknowledges on the same stream. A
 * command commits once two of the three (the leader's WAL counts only once written) hold it.
 *
 * WAL: a LevelDB synced batch per write, as the Raft storage uses (with `fsync`; on this machine a raw
 * file's write + fdatasync measured no faster), group-committed (the batches that arrive during a write
 * go in the next one). Without `fsync`, no disk at all (as the in-memory Raft group).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createLibp2p, type Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { ClassicLevel } from 'classic-level'
import type { Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { encodeFrames, readFrames } from '../../peers/raft/frames.js'
import { raftTrace } from '../../protocols/raft/trace.js'

const PROTOCOL = '/agora-bench/floor/1.0.0'
const FRAME_MAX = 64 * 1024 * 1024

/** A group-committing WAL: one synced batch at a time; what arrives meanwhile goes in the next. */
class Wal {
  private queue: Array<{ key: string, value: Uint8Array, done: () => void }> = []
  private busy = false
  private seq = 0
  /** `tag`: the node's number in trace stages (protocols/raft/trace.ts). */
  constructor (private readonly db: ClassicLevel<string, Uint8Array> | undefined, private readonly tag = 0) {}

  write (value: Uint8Array, done: () => void): void {
    if (this.db === undefined) { done(); return }
    this.queue.push({ key: String(++this.seq).padStart(16, '0'), value, done })
    if (!this.busy) this.flush()
  }

  private flush (): void {
    const batch = this.queue
    this.queue = []
    this.busy = true
    raftTrace?.(this.tag, 'write start')
    const written = this.db!.batch(batch.map(b => ({ type: 'put' as const, key: b.key, value: b.value })), { sync: true })
    raftTrace?.(this.tag, 'write handed off')
    written.then(() => {
      raftTrace?.(this.tag, 'write done')
      this.busy = false
      for (const b of batch) b.done()
      if (this.queue.length > 0) this.flush()
    }, () => { this.busy = false }) // only when the group stops: its database closed under it
  }
}

async function node (): Promise<Libp2p> {
  return await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()]
  })
}

export interface Floor {
  propose: (data: Uint8Array) => Promise<void>
  stop: () => Promise<void>
}

function u32 (b: Uint8Array, at: number): number {
  return ((b[at]! << 24) >>> 0) + (b[at + 1]! << 16) + (b[at + 2]! << 8) + b[at + 3]!
}

function putU32 (b: Uint8Array, at: number, n: number): void {
  b[at] = n >>> 24; b[at + 1] = (n >>> 16) & 255; b[at + 2] = (n >>> 8) & 255; b[at + 3] = n & 255
}

/** A WAL in a fresh temp dir (`fsync`), or none (in memory); `close` closes and removes it. */
async function openWal (fsync: boolean, tag: number): Promise<{ wal: Wal, close: () => Promise<void> }> {
  if (!fsync) return { wal: new Wal(undefined, tag), close: async () => {} }
  const dir = await mkdtemp(join(tmpdir(), 'agora-bench-floor-'))
  const db = new ClassicLevel<string, Uint8Array>(dir, { valueEncoding: 'view' })
  await db.open()
  return { wal: new Wal(db, tag), close: async () => { await db.close(); await rm(dir, { recursive: true, force: true }) } }
}

/** One follower of the floor: writes each batch it is sent, then acknowledges its last index on the same stream. */
export interface FloorFollower {
  node: Libp2p
  stop: () => Promise<void>
}

/** Starts a follower (`tag`: its number in trace stages); the leader dials its address. */
export async function startFloorFollower (fsync: boolean, tag: number): Promise<FloorFollower> {
  const { wal, close } = await openWal(fsync, tag)
  const n = await node()
  await n.handle(PROTOCOL, (stream: Stream) => {
    void readFrames(stream, {
      maxFrameBytes: FRAME_MAX,
      onFrame: (frame) => {
        raftTrace?.(tag, 'frame received')
        const copy = frame.slice()
        const last = u32(copy, 0)
        wal.write(copy, () => {
          raftTrace?.(tag, 'write durable')
          const ack = new Uint8Array(4)
          putU32(ack, 0, last)
          if (stream.writeStatus === 'writable') stream.send(encodeFrames([ack]))
        })
      },
      onError: () => {}
    })
  })
  return { node: n, stop: async () => { await n.stop(); await close() } }
}

/** Starts the leader, replicating to the followers at `followers` (multiaddrs). */
export async function startFloorLeader (fsync: boolean, followers: Multiaddr[]): Promise<Floor> {
  const { wal: leaderWal, close } = await openWal(fsync, 0)
  const leader = await node()
  const acked = followers.map(() => 0).concat(0)
  let lastIndex = 0
  let committed = 0
  const waiting: Array<{ index: number, resolve: () => void }> = []
  const advance = (): void => {
    const s = [...acked].sort((a, b) => b - a)
    const c = s[Math.floor(acked.length / 2)]!
    if (c <= committed) return
    committed = c
    raftTrace?.(0, 'resolve')
    let k = 0
    while (k < waiting.length && waiting[k]!.index <= c) waiting[k++]!.resolve()
    waiting.splice(0, k)
  }
  const streams: Stream[] = []
  for (let f = 0; f < followers.length; f++) {
    const s = await leader.dialProtocol(followers[f]!, PROTOCOL)
    streams.push(s)
    void readFrames(s, { maxFrameBytes: 64, onFrame: (b) => { raftTrace?.(0, 'frame received'); acked[f + 1] = Math.max(acked[f + 1]!, u32(b, 0)); advance() }, onError: () => {} })
  }
  let batch: Uint8Array[] = []
  const flush = (): void => {
    const entries = batch
    batch = []
    const first = lastIndex + 1
    lastIndex += entries.length
    // frame = u32 last index · u32 first index · entries as frames
    const body = encodeFrames(entries)
    const frame = new Uint8Array(8 + body.length)
    putU32(frame, 0, lastIndex)
    putU32(frame, 4, first)
    frame.set(body, 8)
    const wire = encodeFrames([frame])
    raftTrace?.(0, 'send')
    for (const s of streams) s.send(wire)
    const last = lastIndex
    leaderWal.write(frame, () => { raftTrace?.(0, 'own write durable'); acked[0] = Math.max(acked[0]!, last); advance() })
  }
  return {
    propose: async (data) => {
      raftTrace?.(0, 'propose')
      if (batch.length === 0) setImmediate(flush)
      batch.push(data)
      const index = lastIndex + batch.length
      await new Promise<void>((resolve) => { waiting.push({ index, resolve }) })
    },
    stop: async () => { await leader.stop(); await close() }
  }
}

/** Starts the raw replication group in this process; `fsync` false runs it without any disk. */
export async function startFloor (fsync: boolean): Promise<Floor> {
  const followers = [await startFloorFollower(fsync, 1), await startFloorFollower(fsync, 2)]
  const leader = await startFloorLeader(fsync, followers.map(f => f.node.getMultiaddrs()[0]!))
  return {
    propose: leader.propose,
    stop: async () => {
      await leader.stop()
      await Promise.all(followers.map(async f => await f.stop()))
    }
  }
}
