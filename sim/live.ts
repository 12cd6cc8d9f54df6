/**
 * The live harness (O5): n real peers in one process over a real transport (TCP on loopback by default,
 * or libp2p's in-memory transport), with partitions enforced at the connection level: each side's
 * connection gater refuses the other side and the open connections between them are closed. Nothing is
 * paused or mocked; gossip, heartbeats and anti-entropy run as in production.
 *
 *   const mesh = await createLiveMesh({ peers: 5 })
 *   await mesh.partition([[0, 1, 2], [3, 4]])
 *   ...
 *   await mesh.heal()
 *   await mesh.stop()
 */
import { join } from 'node:path'
import { createPeer } from '../peers/peer.js'
import type { Peer } from '../peers/peer.js'
import type { PeerOptions } from '../peers/options.js'
import { InvalidOptionError, TimeoutError } from '../src/errors.js'
import { createRand } from './prng.js'

export interface LiveMeshOptions extends Omit<PeerOptions, 'transports' | 'listen' | 'bootstrap' | 'dataDir' | 'start'> {
  /** Number of peers (1..200). */
  peers: number
  /** Transport between the peers. Default 'tcp'. */
  transport?: 'tcp' | 'memory'
  /** Each peer gets its own data dir `<dataDir>/peer-<i>`. Default: in memory. */
  dataDir?: string
  /**
   * Links each new peer dials among the peers before it (plus peer 0). Default: all (a full mesh) up to
   * 12 peers, else 4. Seeded by `seed`.
   */
  degree?: number
  /** Seed of the link choice. Default 1. */
  seed?: number
}

export interface LiveMesh {
  readonly peers: Peer[]
  /** Splits the mesh: peers in different groups can no longer connect. Every peer must be in one group. */
  partition: (groups: number[][]) => Promise<void>
  /** Lifts every partition and re-dials the original links. */
  heal: () => Promise<void>
  /** Waits until every peer is connected to at least `min` mesh members and synced. */
  whenSynced: (options?: { timeoutMs?: number }) => Promise<void>
  /** Waits until `predicate` holds for every peer (polled; bounded). */
  waitFor: (predicate: (peer: Peer, index: number) => boolean, options?: { timeoutMs?: number, what?: string }) => Promise<void>
  stop: () => Promise<void>
}

/** Polling period of {@link LiveMesh.waitFor}. */
const WAIT_POLL_MS = 10

export async function createLiveMesh (options: LiveMeshOptions): Promise<LiveMesh> {
  const { peers: n, transport = 'tcp', dataDir, degree, seed = 1, ...peerOptions } = options
  if (!Number.isInteger(n) || n < 1 || n > 200) throw new InvalidOptionError('peers', 'must be an integer in 1..200')
  const links = degree ?? (n <= 12 ? n : 4)
  const rand = createRand(seed)
  const peers: Peer[] = []
  const edges: Array<[number, number]> = []
  try {
    for (let i = 0; i < n; i++) {
      const p = await createPeer({
        // Every peer of the harness dials from 127.0.0.1: lift libp2p's per-IP inbound rate limit.
        inboundConnectionsPerSecondMax: 10_000,
        ...peerOptions,
        transports: [transport],
        ...(dataDir !== undefined ? { dataDir: join(dataDir, `peer-${i}`) } : {}),
        start: true
      })
      peers.push(p)
      const targets = new Set<number>()
      if (i > 0) targets.add(0)
      const earlier = Array.from({ length: i }, (_, k) => k)
      while (targets.size < Math.min(links, i) && earlier.length > 0) {
        const k = earlier.splice(rand.int(earlier.length), 1)[0]!
        targets.add(k)
      }
      for (const t of targets) {
        edges.push([i, t])
        await p.dial(peers[t]!.addresses()[0]!)
      }
    }
  } catch (err) {
    await Promise.allSettled(peers.map(async p => await p.stop()))
    throw err
  }

  let groupOf: number[] | undefined

  const connect = async (a: number, b: number): Promise<void> => {
    const pa = peers[a]!
    const pb = peers[b]!
    await pa.dial(pb.addresses()[0]!).catch(() => {})
  }

  const mesh: LiveMesh = {
    peers,
    async partition (groups) {
      const seen = new Array<number>(n).fill(-1)
      groups.forEach((g, gi) => {
        for (const i of g) {
          if (!Number.isInteger(i) || i < 0 || i >= n) throw new InvalidOptionError('groups', `peer index ${String(i)} out of range 0..${n - 1}`)
          if (seen[i] !== -1) throw new InvalidOptionError('groups', `peer ${i} is in two groups`)
          seen[i] = gi
        }
      })
      if (seen.includes(-1)) throw new InvalidOptionError('groups', `peer ${seen.indexOf(-1)} is in no group`)
      groupOf = seen
      await Promise.all(peers.map(async (p, i) => {
        const others = peers.filter((_, j) => seen[j] !== seen[i]).map(q => q.id)
        p.unblock(peers.map(q => q.id))
        await p.block(others)
      }))
      // Keep every group connected inside: a ring over its members.
      for (const g of groups) {
        for (let k = 0; k + 1 < g.length; k++) await connect(g[k]!, g[k + 1]!)
      }
    },
    async heal () {
      groupOf = undefined
      for (const p of peers) p.unblock(peers.map(q => q.id))
      for (const [a, b] of edges) await connect(a, b)
    },
    async whenSynced (opts = {}) {
      const timeoutMs = opts.timeoutMs ?? 30_000
      await Promise.all(peers.map(async p => await p.whenSynced({ timeoutMs, peers: n > 1 ? 1 : 0 })))
    },
    async waitFor (predicate, opts = {}) {
      const timeoutMs = opts.timeoutMs ?? 30_000
      const deadline = Date.now() + timeoutMs
      for (;;) {
        if (peers.every((p, i) => predicate(p, i))) return
        if (Date.now() >= deadline) throw new TimeoutError(opts.what ?? 'mesh condition', timeoutMs)
        await new Promise(resolve => setTimeout(resolve, WAIT_POLL_MS))
      }
    },
    async stop () {
      void groupOf
      await Promise.allSettled(peers.map(async p => await p.stop()))
    }
  }
  return mesh
}
