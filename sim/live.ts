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
import { AgoraError, InvalidOptionError, TimeoutError } from '../src/base/errors.js'
import { createRand } from '../src/base/prng.js'
import { checkLinearizable, kvModel } from './linearizability/index.js'
import type { CheckResult } from './linearizability/index.js'
import type { KvInput, KvOperation, KvOutput, KvValue } from './linearizability/index.js'

export interface LiveMeshOptions extends Omit<PeerOptions, 'transports' | 'listen' | 'bootstrap' | 'dataDir' | 'start' | 'raft'> {
  /**
   * Run a Raft group: the first `voters` peers (3 or 5) bootstrap it; the others stay out (clients).
   * Other fields tune the driver (see the peer's `raft` option).
   */
  raft?: { voters: number, tickMs?: number, electionTick?: number, fsync?: boolean, snapshotEntries?: number, proposalTimeoutMs?: number, applyWaitMs?: number }
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
  /** Called as each peer is created, before it dials its links (progress of large meshes; `i` is its index). */
  onPeer?: (i: number, peer: Peer) => void
}

/** A dial of the creation loop that failed (`from` dialled `to`, both peer indices; `attempt` from 1). */
export interface LiveDialFailure {
  from: number
  to: number
  attempt: number
  error: Error
}

/** A new peer of {@link createLiveMesh} could link to none of the earlier peers; `cause`: the last dial error. */
export class MeshFormationError extends AgoraError {
  static override readonly name = 'MeshFormationError'
  constructor (peer: number, attempts: number, cause: unknown) {
    super('ERR_MESH_FORMATION', `live mesh: peer ${peer} could link to no earlier peer (${attempts} dials failed)`, { peer, attempts }, { cause })
  }
}

/** Dials of one link while the mesh forms before another earlier peer is tried instead. */
export const LIVE_DIAL_ATTEMPTS_MAX = 3
/** Links tried in all by one new peer (its `degree` first, then replacements of failed ones). */
export const LIVE_LINK_TRIES_MAX = 16

export interface LiveMesh {
  readonly peers: Peer[]
  /** Dials of the creation loop that failed (each retried, or its link replaced by another). */
  readonly dialFailures: LiveDialFailure[]
  /** Splits the mesh: peers in different groups can no longer connect. Every peer must be in one group. */
  partition: (groups: number[][]) => Promise<void>
  /** Lifts every partition and re-dials the original links. */
  heal: () => Promise<void>
  /** Waits until every peer is connected to at least `min` mesh members and synced. */
  whenSynced: (options?: { timeoutMs?: number }) => Promise<void>
  /** Waits until `predicate` holds for every peer (polled; bounded). */
  waitFor: (predicate: (peer: Peer, index: number) => boolean, options?: { timeoutMs?: number, what?: string }) => Promise<void>
  stop: () => Promise<void>
  /** Stops peer i abruptly (no leave, no handover), keeping its data dir. */
  crash: (i: number) => Promise<void>
  /** Starts peer i again from its data dir; `peers[i]` is then the new instance. Needs `dataDir`. */
  restart: (i: number) => Promise<Peer>
  /** Index of the Raft leader all running voters agree on, if any. */
  leader: () => number | undefined
  /** Waits for a leader all running voters agree on and returns its index. */
  waitForLeader: (options?: { timeoutMs?: number }) => Promise<number>
  /** Delays Raft messages from peer i to peer j by `ms` (0 lifts it). */
  delay: (i: number, j: number, ms: number) => void
  /** A client of the strong variables on peer i whose operations are recorded in {@link history}. */
  client: (i: number) => LiveClient
  /** Every recorded client operation (for the linearizability checker, with `kvModel`). */
  readonly history: KvOperation[]
  /** Checks the recorded history with the linearizability checker. */
  checkLinearizable: () => CheckResult<KvInput, KvOutput>
}

/** Strong-variable operations whose calls and returns are recorded (indefinite outcomes included). */
export interface LiveClient {
  read: (key: string) => Promise<KvValue | undefined>
  write: (key: string, value: KvValue) => Promise<boolean>
  cas: (key: string, expected: KvValue, value: KvValue) => Promise<boolean | undefined>
}

/** Pause of a recorded client after an operation failed. */
const CLIENT_BACKOFF_MS = 10
/** Polling period of {@link LiveMesh.waitFor}. */
const WAIT_POLL_MS = 10

export async function createLiveMesh (options: LiveMeshOptions): Promise<LiveMesh> {
  const { peers: n, transport = 'tcp', dataDir, degree, seed = 1, raft, onPeer, ...peerOptions } = options
  if (raft !== undefined && (!Number.isInteger(raft.voters) || raft.voters < 1 || raft.voters > Math.min(7, n))) {
    throw new InvalidOptionError('raft.voters', `must be an integer in 1..${Math.min(7, n)}`)
  }
  if (!Number.isInteger(n) || n < 1 || n > 200) throw new InvalidOptionError('peers', 'must be an integer in 1..200')
  const links = degree ?? (n <= 12 ? n : 4)
  const rand = createRand(seed)
  const peers: Peer[] = []
  const edges: Array<[number, number]> = []
  const dialFailures: LiveDialFailure[] = []
  /**
   * Links peer i to `to`: up to LIVE_DIAL_ATTEMPTS_MAX dials (a dial can exceed libp2p's dial timeout on a
   * starved event loop, as at 150 peers in one process). Returns the last error if every one failed.
   */
  const link = async (i: number, to: number): Promise<Error | undefined> => {
    let last: Error | undefined
    for (let attempt = 1; attempt <= LIVE_DIAL_ATTEMPTS_MAX; attempt++) {
      try {
        await peers[i]!.dial(peers[to]!.addresses()[0]!)
        return undefined
      } catch (err) {
        last = err as Error
        dialFailures.push({ from: i, to, attempt, error: last })
      }
    }
    return last
  }
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
      onPeer?.(i, p)
      const targets = new Set<number>()
      if (i > 0) targets.add(0)
      const earlier = Array.from({ length: i }, (_, k) => k)
      while (targets.size < Math.min(links, i) && earlier.length > 0) {
        const k = earlier.splice(rand.int(earlier.length), 1)[0]!
        targets.add(k)
      }
      // A link that cannot be made is replaced by another earlier peer (bounded); the failures are
      // reported in `dialFailures`. Membership and anti-entropy do not need every chosen link.
      let linked = 0
      let tries = 0
      let lastError: Error | undefined
      const pending = [...targets]
      while (pending.length > 0 && tries < LIVE_LINK_TRIES_MAX) {
        const t = pending.shift()!
        tries++
        const err = await link(i, t)
        if (err === undefined) {
          edges.push([i, t])
          linked++
          continue
        }
        lastError = err
        const spare = earlier.filter(k => !targets.has(k))
        if (spare.length > 0) {
          const k = spare[rand.int(spare.length)]!
          targets.add(k)
          pending.push(k)
        }
      }
      if (i > 0 && linked === 0) throw new MeshFormationError(i, dialFailures.filter(f => f.from === i).length, lastError)
    }
  } catch (err) {
    await Promise.allSettled(peers.map(async p => await p.stop()))
    throw err
  }

  const { voters: voterCount = 0, ...raftTuning } = raft ?? { voters: 0 }
  const voterIds = peers.slice(0, voterCount).map(p => p.id)
  const raftOptions = { voters: voterIds, ...raftTuning }
  const running = new Set<number>(peers.map((_, i) => i))
  if (raft !== undefined) {
    try {
      for (const p of peers.slice(0, voterCount)) await p.startRaft(raftOptions)
    } catch (err) {
      await Promise.allSettled(peers.map(async p => await p.stop()))
      throw err
    }
  }
  const delays = new Map<string, number>()
  const history: KvOperation[] = []
  let clientSeq = 0

  let groupOf: number[] | undefined

  const connect = async (a: number, b: number): Promise<void> => {
    const pa = peers[a]!
    const pb = peers[b]!
    await pa.dial(pb.addresses()[0]!).catch(() => {})
  }

  const mesh: LiveMesh = {
    peers,
    dialFailures,
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
    },
    async crash (i) {
      const p = peers[i]
      if (p === undefined) throw new InvalidOptionError('i', `peer index ${i} out of range`)
      running.delete(i)
      await p.stop({ leave: false })
    },
    async restart (i) {
      if (dataDir === undefined) throw new InvalidOptionError('dataDir', 'restart needs the mesh to have a dataDir')
      const old = peers[i]
      if (old === undefined) throw new InvalidOptionError('i', `peer index ${i} out of range`)
      if (old.started) await old.stop()
      const p = await createPeer({
        inboundConnectionsPerSecondMax: 10_000,
        ...peerOptions,
        transports: [transport],
        dataDir: join(dataDir, `peer-${i}`),
        start: true
      })
      for (const j of running) if (j !== i && groupOf?.[j] === groupOf?.[i]) await p.dial(peers[j]!.addresses()[0]!).catch(() => {})
      if (raft !== undefined && i < voterCount) await p.startRaft(raftOptions)
      peers[i] = p
      running.add(i)
      applyDelays(i)
      return p
    },
    leader () {
      const vs = [...running].filter(i => i < voterCount)
      const l = vs.find(i => peers[i]!.raft?.status().role === 'leader')
      if (l === undefined) return undefined
      const lid = peers[l]!.id
      const agree = vs.filter(i => groupOf === undefined || groupOf[i] === groupOf[l]).every(i => peers[i]!.raft?.status().leader === lid)
      return agree ? l : undefined
    },
    async waitForLeader (opts = {}) {
      let found: number | undefined
      await mesh.waitFor(() => (found = mesh.leader()) !== undefined, { timeoutMs: opts.timeoutMs ?? 20_000, what: 'a Raft leader known to every running voter' })
      return found!
    },
    delay (i, j, ms) {
      const a = peers[i]
      const b = peers[j]
      if (a === undefined || b === undefined) throw new InvalidOptionError('i', 'peer index out of range')
      if (ms > 0) delays.set(`${i}>${j}`, ms)
      else delays.delete(`${i}>${j}`)
      applyDelays(i)
    },
    client (i) {
      const clientId = ++clientSeq
      const run = async <T>(input: KvInput, op: () => Promise<T>, output: (r: T) => KvOutput): Promise<T | undefined> => {
        const rec: KvOperation = { clientId, input, call: performance.now(), output: undefined, return: null }
        history.push(rec)
        try {
          const r = await op()
          rec.output = output(r)
          rec.return = performance.now()
          return r
        } catch (err) {
          // Unknown outcome: recorded as indefinite (concurrent with everything after its call). Yield
          // to the event loop: a failure can be synchronous (peer stopped), and a client loop must not
          // starve the mesh.
          void err
          await new Promise(resolve => setTimeout(resolve, CLIENT_BACKOFF_MS))
          return undefined
        }
      }
      const v = (key: string): ReturnType<Peer['variables']['strong']> => peers[i]!.variables.strong<KvValue>(key, { initial: null })
      return {
        read: async (key) => await run({ op: 'read', key }, async () => await v(key).get() as KvValue, (value) => ({ value })),
        write: async (key, value) => (await run({ op: 'write', key, value }, async () => { await v(key).set(value); return true }, () => ({}))) ?? false,
        cas: async (key, expected, value) => await run({ op: 'cas', key, expected, value }, async () => await v(key).compareAndSet(expected, value), (ok) => ({ ok }))
      }
    },
    history,
    checkLinearizable () {
      return checkLinearizable(kvModel, history)
    }
  }

  function applyDelays (i: number): void {
    const t = peers[i]?.raft?.links
    if (t === undefined) return
    const map = new Map<string, number>()
    for (const [k, ms] of delays) {
      const [from, to] = k.split('>').map(Number) as [number, number]
      if (from === i && peers[to] !== undefined) map.set(peers[to].id, ms)
    }
    t.setDelays(map)
  }
  return mesh
}
