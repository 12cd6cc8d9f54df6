/**
 * Mesh figures (issue targets in brackets): write-to-visible on every peer, 10 peers in one process, p99
 * over the memory transport [<= 20 ms] and over TCP [<= 50 ms]; 100 peers in one process [p99 <= 300 ms];
 * a late joiner receiving a 100k-agent registry over TCP [<= 1 s], beside the same blobs applied in process by
 * ours and by the raw floor (Yjs apply + plain index), in the same window.
 *
 * With 100 peers in one process every peer verifies every other peer's heartbeats: 100 × 99 Ed25519
 * verifications per heartbeat period on 2 cores, so that figure runs with 10 s heartbeats (in a real
 * deployment each peer verifies only the 99 heartbeats it receives).
 *
 * Write-to-visible: a peer registers an agent; the sample is the time until the last other peer has
 * emitted `agent:joined` for it. Writers take turns; samples are sequential.
 */
import { createLiveMesh } from '../../sim/live.js'
import { createPeer } from '../../peers/peer.js'
import type { Peer } from '../../peers/peer.js'
import os from 'node:os'
import * as Y from 'yjs'
import { encodeDigest, decodeSignedBlob } from '../../crdt/codec.js'
import { LeaseTable } from '../../crdt/liveness.js'
import { ReplicatedRegistry } from '../../crdt/registry.js'
import { Replica } from '../../crdt/replica.js'
import { signingContext, withContext } from '../../crdt/signing.js'
import type { Verifier } from '../../crdt/signing.js'
import { createVerifier } from '../../peers/keys.js'
import { DEFAULT_MESH } from '../../peers/sync/constants.js'
import { RawIndex } from './raw-index.js'

export const name = 'mesh'

function pct (xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!
}

const r2 = (x: number): number => Number(x.toFixed(2))

async function writeToVisible (peers: Peer[], samples: number, tag: string): Promise<{ p50: number, p99: number, max: number, samples: number }> {
  const times: number[] = []
  for (let s = 0; s < samples; s++) {
    const writer = peers[s % peers.length]!
    const id = `${tag}-${s}`
    const others = peers.filter(p => p !== writer)
    const seen = Promise.all(others.map(async p => {
      if (p.registry.lookup(id) !== undefined) return
      await p.registry.once('agent:joined', (e) => e.agent.id === id, 30_000)
    }))
    const t0 = performance.now()
    await writer.registry.register({ id, capabilities: ['bench'] })
    await seen
    times.push(performance.now() - t0)
  }
  return { p50: r2(pct(times, 0.5)), p99: r2(pct(times, 0.99)), max: r2(Math.max(...times)), samples }
}

async function meshFigure (peers: number, transport: 'tcp' | 'memory', samples: number, heartbeatIntervalMs = 1000): Promise<Record<string, number>> {
  const t0 = performance.now()
  const mesh = await createLiveMesh({ peers, transport, logLevel: 'silent', dht: false, heartbeatIntervalMs, antiEntropyIntervalMs: 5 * heartbeatIntervalMs })
  try {
    progress(`${peers} peers up in ${Math.round(performance.now() - t0)} ms`)
    await mesh.whenSynced({ timeoutMs: 600_000 })
    // Settled: every peer holds every host's documents (no anti-entropy catch-up still running).
    await mesh.waitFor(p => p.replica.countDocs('reg') === peers && p.replica.countDocs('var') === peers, { timeoutMs: 600_000, what: 'every peer to hold every host' })
    progress(`synced at ${Math.round(performance.now() - t0)} ms`)
    // Let gossipsub build its mesh (its heartbeat is 1 s) before measuring steady state.
    await writeToVisible(mesh.peers, Math.min(20, samples), `warm-${transport}-${peers}`)
    return await writeToVisible(mesh.peers, samples, `w-${transport}-${peers}`)
  } finally {
    await mesh.stop()
  }
}

/** CPU time (user + system, every thread of this process) since `c0`, in ms: steadier than wall time on a shared machine. */
function cpuMsSince (c0: NodeJS.CpuUsage): number {
  const c = process.cpuUsage(c0)
  return (c.user + c.system) / 1000
}

/** A full GC when the bench runs with `--expose-gc` (`npm run bench` does), else nothing. */
function collectGarbage (): void {
  (globalThis as { gc?: () => void }).gc?.()
}

/** Runs of the late joiner (TCP, in process, raw floor), interleaved; medians reported. */
const LATE_JOINER_ROUNDS = 3

function median (xs: number[]): number {
  return pct(xs, 0.5)
}

/**
 * The raw floor of a late joiner in process: every blob decoded and its signature verified (one check per
 * blob, as ours), the payloads applied to bare Y.Docs, and the agents indexed in plain Maps of Sets.
 */
function rawJoin (blobs: Uint8Array[], verify: Verifier, context: Uint8Array): { ms: number, cpuMs: number, agents: number } {
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  const docs = new Map<string, Y.Doc>()
  for (const bytes of blobs) {
    const b = decodeSignedBlob(bytes, Number.MAX_SAFE_INTEGER)
    if (!verify(b.host, withContext(context, b.signed), b.signature)) throw new Error('raw floor: bad signature')
    let d = docs.get(b.kind)
    if (d === undefined) { d = new Y.Doc(); docs.set(b.kind, d) }
    Y.applyUpdate(d, b.payload)
  }
  const raw = new RawIndex()
  for (const [id, v] of docs.get('reg')?.getMap<Record<string, unknown>>('agents') ?? []) raw.upsert(id, v)
  return { ms: performance.now() - t0, cpuMs: cpuMsSince(c0), agents: raw.byId.size }
}

/** Our in-process late joiner: a fresh replica and registry applying the same blobs (no network). */
function oursInProcess (blobs: Uint8Array[], agents: number): { ms: number, cpuMs: number, agents: number } {
  const replica = new Replica({ signer: { id: 'in-process-joiner', sign: () => new Uint8Array(64) }, verify: createVerifier(), mesh: DEFAULT_MESH, limits: { agentsPerHostMax: agents + 10 } })
  const registry = new ReplicatedRegistry({ replica, leases: new LeaseTable(replica.id, { leaseMs: 1e9, pruneAfterMs: 1e9, prunedHostsMax: 10 }, Date.now) })
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  for (const b of blobs) {
    const r = replica.apply(b)
    if (r.status !== 'applied') throw new Error(`in-process joiner: ${r.status}`)
  }
  return { ms: performance.now() - t0, cpuMs: cpuMsSince(c0), agents: registry.size }
}

/**
 * A late joiner receiving a registry of `agents` over TCP (from peer start to synced), beside the same
 * blobs applied in process by ours and by the raw floor, in the same window: rounds interleave the three.
 */
async function lateJoiner (agents: number): Promise<Record<string, unknown>> {
  const owner = await createPeer({ logLevel: 'silent', dht: false, limits: { agentsPerHostMax: agents + 10 } })
  try {
    const batch = []
    for (let i = 0; i < agents; i++) {
      batch.push({ id: `agent-${i}`, capabilities: [`cap-${i % 1000}`, 'any'], zone: `z${i % 10}`, resources: { cpu: i % 16, mem: 1024 }, metadata: { n: i } })
    }
    const tBuild = performance.now()
    await owner.registry.registerMany(batch)
    const buildMs = performance.now() - tBuild
    // The owner compacts its document to one checkpoint (what a long-lived host holds).
    owner.replica.compact('reg')
    const blobs = owner.replica.missingFor(encodeDigest([]))
    const verify = createVerifier()
    const context = signingContext(DEFAULT_MESH)
    const tcp: number[] = []
    const inProcess: number[] = []
    const floor: number[] = []
    const cpu = { tcp: [] as number[], inProcess: [] as number[], floor: [] as number[] }
    let bytes = 0
    for (let round = 0; round < LATE_JOINER_ROUNDS; round++) {
      // Each of the three starts on a collected heap: none pays for the garbage of the one before (the
      // ~150 MB of a dropped 100k-agent replica: a full GC of the heap, which fell on whichever ran next).
      collectGarbage()
      const f = rawJoin(blobs, verify, context)
      if (f.agents !== agents) throw new Error(`raw floor has ${f.agents} of ${agents} agents`)
      floor.push(f.ms)
      cpu.floor.push(f.cpuMs)
      collectGarbage()
      const o = oursInProcess(blobs, agents)
      if (o.agents !== agents) throw new Error(`in-process joiner has ${o.agents} of ${agents} agents`)
      inProcess.push(o.ms)
      cpu.inProcess.push(o.cpuMs)
      collectGarbage()
      const c0 = process.cpuUsage()
      const t0 = performance.now()
      const joiner = await createPeer({ logLevel: 'silent', dht: false, bootstrap: [owner.addresses()[0]!], limits: { agentsPerHostMax: agents + 10 } })
      try {
        await joiner.whenSynced({ timeoutMs: 60_000 })
        tcp.push(performance.now() - t0)
        cpu.tcp.push(cpuMsSince(c0))
        if (joiner.registry.size !== agents) throw new Error(`late joiner has ${joiner.registry.size} of ${agents} agents`)
        bytes = joiner.stats().sync.syncBytesReceived
      } finally {
        await joiner.stop()
      }
      progress(`late joiner round ${round + 1}: tcp ${Math.round(tcp[round]!)} ms, in process ${Math.round(inProcess[round]!)} ms, raw floor ${Math.round(floor[round]!)} ms`)
    }
    const ms = median(tcp)
    const floorMs = median(floor)
    const inProcessMs = median(inProcess)
    return {
      agents,
      ms: Math.round(ms),
      targetMs: 1000,
      inProcessApplyIndexMs: Math.round(inProcessMs),
      rawFloorMs: Math.round(floorMs),
      ratioToRawFloor: r2(ms / floorMs),
      inProcessRatioToRawFloor: r2(inProcessMs / floorMs),
      runsMs: { tcp: tcp.map(Math.round), inProcess: inProcess.map(Math.round), rawFloor: floor.map(Math.round) },
      // CPU time (both peers' for TCP: they share this process), medians, and their ratios to the floor's.
      cpuMs: { tcp: Math.round(median(cpu.tcp)), inProcess: Math.round(median(cpu.inProcess)), rawFloor: Math.round(median(cpu.floor)) },
      cpuRatioToRawFloor: { tcp: r2(median(cpu.tcp) / median(cpu.floor)), inProcess: r2(median(cpu.inProcess) / median(cpu.floor)) },
      bytes,
      ownerBuildMs: Math.round(buildMs),
      load1: r2(os.loadavg()[0]!)
    }
  } finally {
    await owner.stop()
  }
}

const progress = (msg: string): void => { process.stderr.write(`  mesh: ${msg}\n`) }

export default async function (): Promise<Record<string, unknown>> {
  const only = process.env.BENCH_MESH?.split(',')
  const want = (k: string): boolean => only === undefined || only.includes(k)
  const out: Record<string, unknown> = {}
  if (want('w10m')) { progress('10 peers, memory'); out.writeToVisible10Memory = await meshFigure(10, 'memory', 300) }
  if (want('w10t')) { progress('10 peers, tcp'); out.writeToVisible10Tcp = await meshFigure(10, 'tcp', 300) }
  if (want('w100m')) { progress('100 peers, memory'); out.writeToVisible100Memory = { ...await meshFigure(100, 'memory', 100, 10_000), heartbeatIntervalMs: 10_000 } }
  if (want('late')) { progress('late joiner'); out.lateJoiner100k = await lateJoiner(Number(process.env.BENCH_AGENTS ?? 100_000)) }
  return out
}
