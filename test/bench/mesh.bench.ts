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
import { spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as Y from 'yjs'
import { encodeDigest, decodeSignedBlob } from '../../crdt/codec.js'
import { LeaseTable } from '../../crdt/liveness.js'
import { ReplicatedRegistry } from '../../crdt/registry.js'
import { Replica } from '../../crdt/replica.js'
import { signingContext, withContext } from '../../crdt/signing.js'
import type { Verifier } from '../../crdt/signing.js'
import { createSigner, createVerifier } from '../../peers/keys.js'
import { gossipMsgId } from '../../peers/node.js'
import { GossipSeal } from '../../peers/seal.js'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { RPC } from '@libp2p/gossipsub/message'
import { DEFAULT_MESH } from '../../peers/sync/constants.js'
import { RawIndex } from './raw-index.js'
import { createRawMesh, RAW_CRDT_TOPIC } from './raw-mesh.js'
import { lateJoinerAgents } from './late-owner.js'

export const name = 'mesh'

function pct (xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!
}

const r2 = (x: number): number => Number(x.toFixed(2))

async function writeToVisible (peers: Peer[], samples: number, tag: string): Promise<{ p50: number, p99: number, max: number, samples: number, cpuUsPerWritePerPeer: number }> {
  const times: number[] = []
  const c0 = process.cpuUsage()
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
  return { p50: r2(pct(times, 0.5)), p99: r2(pct(times, 0.99)), max: r2(Math.max(...times)), samples, cpuUsPerWritePerPeer: Math.round(cpuMsSince(c0) * 1000 / samples / peers.length) }
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

/**
 * The raw baseline of the 100-peer figure, run in the same process window: bare libp2p + gossipsub nodes
 * (test/bench/raw-mesh.ts, with the same heartbeat period) each holding a Y.Doc; a node sets one key of
 * its document and publishes the Yjs update; every other node applies it to its own document. The sample
 * is the time until the last node applied it. Writers take turns; samples are sequential.
 */
async function rawWriteToVisible (n: number, samples: number, heartbeatMs: number): Promise<Record<string, number>> {
  const t0 = performance.now()
  const mesh = await createRawMesh(n, { tag: 'mesh', heartbeatMs })
  try {
    progress(`raw: ${n} nodes up in ${Math.round(performance.now() - t0)} ms`)
    const docs = mesh.nodes.map(() => new Y.Doc())
    const applied = new Map<string, { count: number, done: () => void }>()
    mesh.nodes.forEach((_, i) => {
      mesh.pubsub(i).addEventListener('message', (evt) => {
        if (evt.detail.topic !== RAW_CRDT_TOPIC) return
        const doc = docs[i]!
        const before = doc.getMap('agents').size
        Y.applyUpdate(doc, evt.detail.data)
        const keys = doc.getMap('agents')
        if (keys.size === before) return
        // The key this update added: the last sample's id (samples are sequential).
        for (const [id, w] of applied) if (keys.has(id) && --w.count === 0) { applied.delete(id); w.done() }
      })
    })
    const sample = async (tag: string, count: number): Promise<number[]> => {
      const times: number[] = []
      for (let s = 0; s < count; s++) {
        const w = s % n
        const id = `${tag}-${s}`
        const seen = new Promise<void>((resolve) => { applied.set(id, { count: n - 1, done: resolve }) })
        const t1 = performance.now()
        let update: Uint8Array | undefined
        const onUpdate = (u: Uint8Array): void => { update = u }
        docs[w]!.once('update', onUpdate)
        docs[w]!.getMap('agents').set(id, { id, capabilities: ['bench'] })
        await mesh.pubsub(w).publish(RAW_CRDT_TOPIC, update!)
        await Promise.race([seen, new Promise((_resolve, reject) => setTimeout(() => { reject(new Error(`raw sample ${id}: ${applied.get(id)?.count ?? 0} nodes still missing after 30 s`)) }, 30_000).unref())])
        times.push(performance.now() - t1)
      }
      return times
    }
    // Let gossipsub build its mesh (its heartbeat is 1 s) before measuring steady state.
    await sample('raw-warm', Math.min(20, samples))
    const c0 = process.cpuUsage()
    const times = await sample('raw', samples)
    return { p50: r2(pct(times, 0.5)), p99: r2(pct(times, 0.99)), max: r2(Math.max(...times)), samples, cpuUsPerWritePerPeer: Math.round(cpuMsSince(c0) * 1000 / samples / n) }
  } finally {
    await mesh.stop()
  }
}

/**
 * Cost of the application seal of gossip messages (peers/seal.ts) on a 64-byte payload, as a heartbeat's:
 * µs to seal (sign) and to open (verify) one, median of rounds of 1,000. Each receiver opens each message
 * once; gossipsub (StrictNoSign) adds a SHA-256 message id (`gossipMsgId`), timed too.
 */
async function sealCost (): Promise<Record<string, number>> {
  const key = await generateKeyPair('Ed25519')
  const id = peerIdFromPrivateKey(key).toString()
  const seal = new GossipSeal(createSigner(id, key), createVerifier())
  const topic = '/agora/bench/heartbeat/2'
  const payload = new Uint8Array(64)
  const m = seal.seal(topic, payload)
  // What gossipsub's StrictSign did per message, with its own steps (utils/buildRawMessage.js): sign the
  // protobuf of from, data, seqno and topic behind 'libp2p-pubsub:'; a receiver decodes the author's peer
  // id (here from its string form: multiformats is not a dependency of ours) and verifies (awaiting a
  // promise, as there). Rounds interleave the five.
  const prefix = new TextEncoder().encode('libp2p-pubsub:')
  const from = peerIdFromPrivateKey(key).toMultihash().bytes
  const seqno = new Uint8Array(8)
  const toSign = (): Uint8Array => { const body = RPC.Message.encode({ from, data: payload, seqno, topic }); const out = new Uint8Array(prefix.length + body.length); out.set(prefix, 0); out.set(body, prefix.length); return out }
  const signature = await key.sign(toSign())
  const ops: Record<string, () => Promise<void> | void> = {
    sealUs: () => { seal.seal(topic, payload) },
    openUs: () => { if ('error' in seal.open(topic, m)) throw new Error('seal bench: refused') },
    msgIdUs: () => { gossipMsgId({ topic, data: m }) },
    gossipsubSignUs: async () => { await key.sign(toSign()) },
    gossipsubVerifyUs: async () => {
      const pub = peerIdFromString(id).publicKey!
      if (!(await pub.verify(toSign(), signature))) throw new Error('seal bench: gossipsub signature refused')
    }
  }
  const times: Record<string, number[]> = {}
  for (let r = 0; r < 9; r++) {
    for (const [name, fn] of Object.entries(ops)) {
      const t0 = performance.now()
      // 1,000 operations: the total in ms is the µs of one.
      for (let k = 0; k < 1000; k++) await fn()
      ;(times[name] ??= []).push(performance.now() - t0)
    }
  }
  const f = Object.fromEntries(Object.entries(times).map(([k, xs]) => [k, r2(pct(xs, 0.5))]))
  return {
    ...f,
    ratioSign: r2(f.sealUs! / f.gossipsubSignUs!),
    ratioVerify: r2(f.openUs! / f.gossipsubVerifyUs!),
    bytes: m.length
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
function oursInProcess (blobs: Uint8Array[], agents: number): { ms: number, settledMs: number, cpuMs: number, agents: number } {
  const replica = new Replica({ signer: { id: 'in-process-joiner', sign: () => new Uint8Array(64) }, verify: createVerifier(), mesh: DEFAULT_MESH, limits: { agentsPerHostMax: agents + 10 } })
  const registry = new ReplicatedRegistry({ replica, leases: new LeaseTable(replica.id, { leaseMs: 1e9, pruneAfterMs: 1e9, prunedHostsMax: 10 }, Date.now) })
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  for (const b of blobs) {
    const r = replica.apply(b)
    if (r.status !== 'applied') throw new Error(`in-process joiner: ${r.status}`)
  }
  const ms = performance.now() - t0
  const cpuMs = cpuMsSince(c0)
  // With the index entries the bulk attach deferred (no `later` here: the first read would make them).
  registry.index.settleSome(Number.MAX_SAFE_INTEGER)
  return { ms, settledMs: performance.now() - t0, cpuMs, agents: registry.size }
}

/** One late join over TCP: a fresh peer dials `address`, from its creation to synced, then until its index settled. */
async function joinOver (address: string, agents: number): Promise<{ ms: number, settledMs: number, cpuMs: number, bytes: number }> {
  collectGarbage()
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  const joiner = await createPeer({ logLevel: 'silent', dht: false, bootstrap: [address], limits: { agentsPerHostMax: agents + 10 } })
  try {
    await joiner.whenSynced({ timeoutMs: 60_000 })
    const ms = performance.now() - t0
    const cpuMs = cpuMsSince(c0)
    // The index entries the bulk attach deferred, made in the background after sync (reads made before
    // then settle what is left first): until none is left.
    while (joiner.registry.index.settleSome(0) > 0) await new Promise<void>(resolve => setImmediate(resolve))
    const settledMs = performance.now() - t0
    if (joiner.registry.size !== agents) throw new Error(`late joiner has ${joiner.registry.size} of ${agents} agents`)
    return { ms, settledMs, cpuMs, bytes: joiner.stats().sync.syncBytesReceived }
  } finally {
    await joiner.stop()
  }
}

/** The owner in a process of its own (late-owner.ts), as deployed: its address, and a stop that ends it. */
async function ownerProcess (agents: number): Promise<{ address: string, stop: () => void }> {
  const child = spawn(process.execPath, [join(dirname(fileURLToPath(import.meta.url)), 'late-owner.js')], { env: { ...process.env, LATE_OWNER_AGENTS: String(agents) }, stdio: ['pipe', 'pipe', 'inherit'] })
  const stop = (): void => { child.stdin.end(); child.kill() }
  try {
    const line = await new Promise<string>((resolve, reject) => {
      let out = ''
      child.stdout.on('data', (d: Buffer) => { out += d.toString(); const nl = out.indexOf('\n'); if (nl >= 0) resolve(out.slice(0, nl)) })
      child.once('exit', (code) => { reject(new Error(`late owner exited (${String(code)}) before its address`)) })
    })
    return { address: (JSON.parse(line) as { address: string }).address, stop }
  } catch (err) {
    stop()
    throw err
  }
}

/**
 * A late joiner receiving a registry of `agents` over TCP (from peer start to synced), beside the same
 * blobs applied in process by ours and by the raw floor, in the same window: rounds interleave them. Two
 * TCP figures: the owner in this process (every figure before session 11: both peers' CPU on one thread),
 * and the owner in a process of its own (as deployed).
 */
async function lateJoiner (agents: number): Promise<Record<string, unknown>> {
  const remote = ownerProcess(agents)
  remote.catch(() => {})
  const owner = await createPeer({ logLevel: 'silent', dht: false, limits: { agentsPerHostMax: agents + 10 } })
  let stopRemote: (() => void) | undefined
  try {
    const tBuild = performance.now()
    await owner.registry.registerMany(lateJoinerAgents(agents))
    const buildMs = performance.now() - tBuild
    // The owner compacts its document to one checkpoint (what a long-lived host holds).
    owner.replica.compact('reg')
    const remoteOwner = await remote
    stopRemote = remoteOwner.stop
    const blobs = owner.replica.missingFor(encodeDigest([]))
    const verify = createVerifier()
    const context = signingContext(DEFAULT_MESH)
    const tcp: Array<{ ms: number, settledMs: number, cpuMs: number, bytes: number }> = []
    const tcpOwnProcess: Array<{ ms: number, settledMs: number, cpuMs: number, bytes: number }> = []
    const inProcess: number[] = []
    const inProcessSettled: number[] = []
    const floor: number[] = []
    const cpu = { inProcess: [] as number[], floor: [] as number[] }
    for (let round = 0; round < LATE_JOINER_ROUNDS; round++) {
      // Each starts on a collected heap: none pays for the garbage of the one before (the ~150 MB of a
      // dropped 100k-agent replica: a full GC of the heap, which fell on whichever ran next).
      collectGarbage()
      const f = rawJoin(blobs, verify, context)
      if (f.agents !== agents) throw new Error(`raw floor has ${f.agents} of ${agents} agents`)
      floor.push(f.ms)
      cpu.floor.push(f.cpuMs)
      collectGarbage()
      const o = oursInProcess(blobs, agents)
      if (o.agents !== agents) throw new Error(`in-process joiner has ${o.agents} of ${agents} agents`)
      inProcess.push(o.ms)
      inProcessSettled.push(o.settledMs)
      cpu.inProcess.push(o.cpuMs)
      tcp.push(await joinOver(owner.addresses()[0]!, agents))
      tcpOwnProcess.push(await joinOver(remoteOwner.address, agents))
      progress(`late joiner round ${round + 1}: tcp ${Math.round(tcp[round]!.ms)} ms (index settled ${Math.round(tcp[round]!.settledMs)}), owner in its own process ${Math.round(tcpOwnProcess[round]!.ms)} ms (settled ${Math.round(tcpOwnProcess[round]!.settledMs)}), in process ${Math.round(inProcess[round]!)} ms, raw floor ${Math.round(floor[round]!)} ms`)
    }
    const ms = median(tcp.map(t => t.ms))
    const ownMs = median(tcpOwnProcess.map(t => t.ms))
    const floorMs = median(floor)
    const inProcessMs = median(inProcess)
    return {
      agents,
      ms: Math.round(ms),
      targetMs: 1000,
      // Until the joiner's index holds no deferred entry (made in slices on the turns after sync).
      indexSettledMs: Math.round(median(tcp.map(t => t.settledMs))),
      ownerOwnProcessMs: Math.round(ownMs),
      ownerOwnProcessIndexSettledMs: Math.round(median(tcpOwnProcess.map(t => t.settledMs))),
      inProcessApplyIndexMs: Math.round(inProcessMs),
      inProcessIndexSettledMs: Math.round(median(inProcessSettled)),
      rawFloorMs: Math.round(floorMs),
      ratioToRawFloor: r2(ms / floorMs),
      ownerOwnProcessRatioToRawFloor: r2(ownMs / floorMs),
      inProcessRatioToRawFloor: r2(inProcessMs / floorMs),
      runsMs: { tcp: tcp.map(t => Math.round(t.ms)), indexSettled: tcp.map(t => Math.round(t.settledMs)), ownerOwnProcess: tcpOwnProcess.map(t => Math.round(t.ms)), inProcess: inProcess.map(Math.round), rawFloor: floor.map(Math.round) },
      // CPU time of this process until synced (with the owner here, both peers'; with the owner in its own
      // process, the joiner's only), medians, and their ratios to the floor's.
      cpuMs: { tcp: Math.round(median(tcp.map(t => t.cpuMs))), ownerOwnProcess: Math.round(median(tcpOwnProcess.map(t => t.cpuMs))), inProcess: Math.round(median(cpu.inProcess)), rawFloor: Math.round(median(cpu.floor)) },
      cpuRatioToRawFloor: { tcp: r2(median(tcp.map(t => t.cpuMs)) / median(cpu.floor)), ownerOwnProcess: r2(median(tcpOwnProcess.map(t => t.cpuMs)) / median(cpu.floor)), inProcess: r2(median(cpu.inProcess) / median(cpu.floor)) },
      bytes: tcp[0]?.bytes,
      ownerBuildMs: Math.round(buildMs),
      load1: r2(os.loadavg()[0]!)
    }
  } finally {
    if (stopRemote !== undefined) stopRemote()
    else void remote.then(r => { r.stop() }, () => {})
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
  if (want('w100m')) {
    // Raw first, then ours, in the same process window; the ratios are ours / raw.
    const n = Number(process.env.BENCH_MESH_PEERS ?? 100)
    progress(`${n} peers, memory: raw baseline`)
    const raw = await rawWriteToVisible(n, 100, 10_000)
    progress(`raw: ${JSON.stringify(raw)}`)
    progress(`${n} peers, memory: ours`)
    const ours = await meshFigure(n, 'memory', 100, 10_000)
    out.writeToVisible100Memory = { ...ours, heartbeatIntervalMs: 10_000, peers: n, raw, ratioP50: r2(ours.p50! / raw.p50!), ratioP99: r2(ours.p99! / raw.p99!), cpuRatio: r2(ours.cpuUsPerWritePerPeer! / raw.cpuUsPerWritePerPeer!) }
  }
  if (want('seal')) { progress('seal'); out.seal = await sealCost() }
  if (want('late')) { progress('late joiner'); out.lateJoiner100k = await lateJoiner(Number(process.env.BENCH_AGENTS ?? 100_000)) }
  return out
}
