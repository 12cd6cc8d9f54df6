/**
 * Registry figures at 100k agents (issue targets in brackets): lookup by id p50 [<= 0.1 µs], capability
 * query returning 10 [<= 2 µs], capability + zone + numeric criterion returning 10 [<= 20 µs], a remote
 * update applied with index maintenance [<= 60 µs], memory per agent per replica [<= 1.5 KB], and a late
 * joiner applying the whole 100k registry from a checkpoint (in process; the network part is in the
 * mesh bench).
 *
 * Each figure of ours has its raw baseline run in the same process, interleaved with ours, and the ratio
 * (issue 17: queries within 3× of a plain index with the same filter, a verified remote update within 2×
 * of Yjs apply + index): the baseline is {@link RawIndex}, plain objects in Maps of Sets, fed by a bare
 * Y.Doc's observer.
 */
import { generateKeyPairSync, sign, verify, createPublicKey } from 'node:crypto'
import os from 'node:os'
import * as Y from 'yjs'
import { LeaseTable } from '../../crdt/liveness.js'
import { ReplicatedRegistry } from '../../crdt/registry.js'
import { Replica } from '../../crdt/replica.js'
import { normaliseAgent } from '../../crdt/descriptor.js'
import { DEFAULT_LIMITS } from '../../crdt/limits.js'
import { createRand } from '../../src/base/prng.js'
import type { KeyObject } from 'node:crypto'
import { decodeSignedBlob } from '../../crdt/codec.js'
import { signingContext, withContext } from '../../crdt/signing.js'
import type { SignedBlob } from '../../crdt/codec.js'
import { RawIndex } from './raw-index.js'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createSigner, createVerifier } from '../../peers/keys.js'

export const name = 'registry'

const N = Number(process.env.BENCH_AGENTS ?? 100_000)
const ZONES = 10
const CAPS = 1000

function pct (xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!
}

function round (x: number, d = 3): number {
  return Number(x.toFixed(d))
}

function heapUsed (): number {
  const g = (globalThis as { gc?: () => void }).gc
  if (g !== undefined) { g(); g() }
  return process.memoryUsage().heapUsed
}

/**
 * The peer's verifier ({@link createVerifier}: a host's key found by its peer id in an LRU, then
 * node:crypto's Ed25519) against its floor, `crypto.verify` with the KeyObject at hand, over the same
 * signed bytes, call by call, alternating: p50 of single calls (a batch's mean would count the time
 * slices other processes take on a shared machine).
 */
async function verifierVsFloor (signed: Uint8Array): Promise<Record<string, number>> {
  const key = await generateKeyPair('Ed25519')
  const host = peerIdFromPrivateKey(key).toString()
  const data = withContext(signingContext('bench'), signed)
  const signature = createSigner(host, key).sign(data)
  const pub = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), key.publicKey.raw]), format: 'der', type: 'spki' })
  const ours = createVerifier()
  if (!ours(host, data, signature) || !verify(null, data, pub, signature)) throw new Error('verifier bench: bad signature')
  const CALLS = 3000
  const oursUs: number[] = []
  const floorUs: number[] = []
  let ok = 0
  for (let i = 0; i < CALLS; i++) {
    let t0 = performance.now()
    if (ours(host, data, signature)) ok++
    oursUs.push((performance.now() - t0) * 1000)
    t0 = performance.now()
    if (verify(null, data, pub, signature)) ok++
    floorUs.push((performance.now() - t0) * 1000)
  }
  if (ok !== 2 * CALLS) throw new Error('verifier bench: a verification failed')
  const p50 = pct(oursUs, 0.5)
  const floorP50 = pct(floorUs, 0.5)
  return { bytes: data.length, peerVerifierP50: round(p50, 1), cryptoVerifyFloorP50: round(floorP50, 1), ratioP50: round(p50 / floorP50, 2) }
}

export default async function (): Promise<Record<string, unknown>> {
  const keys = new Map<string, { priv: KeyObject, pub: KeyObject }>()
  const signerOf = (id: string): { id: string, sign: (d: Uint8Array) => Uint8Array } => {
    const { privateKey } = generateKeyPairSync('ed25519')
    keys.set(id, { priv: privateKey, pub: createPublicKey(privateKey) })
    return { id, sign: (d) => new Uint8Array(sign(null, d, privateKey)) }
  }
  const verifier = (host: string, d: Uint8Array, s: Uint8Array): boolean => verify(null, d, keys.get(host)!.pub, s)
  const mk = (id: string, verifyOn = true): { replica: Replica, registry: ReplicatedRegistry, out: SignedBlob[] } => {
    const out: SignedBlob[] = []
    const replica = new Replica({ signer: signerOf(id), verify: verifyOn ? verifier : () => true, mesh: 'bench', limits: { agentsPerHostMax: N + 10 } })
    const leases = new LeaseTable(id, { leaseMs: 1e9, pruneAfterMs: 1e9, prunedHostsMax: 10 }, Date.now)
    const registry = new ReplicatedRegistry({ replica, leases, publish: (b) => out.push(b) })
    return { replica, registry, out }
  }
  const rand = createRand(1)
  const ids: string[] = []
  // The owner builds its registry in batches of one transaction each.
  const owner = mk('owner')
  const tBuild = performance.now()
  const BATCH = 5000
  for (let i = 0; i < N; i += BATCH) {
    owner.replica.transact('reg', (doc) => {
      const m = doc.getMap('agents')
      for (let j = i; j < Math.min(N, i + BATCH); j++) {
        const id = `agent-${j}`
        ids.push(id)
        m.set(id, normaliseAgent({
          capabilities: [`cap-${j % CAPS}`, `cap-${(j * 7 + 3) % CAPS}`],
          zone: `zone-${Math.floor(j / CAPS) % ZONES}`,
          resources: { cpu: 1 + (j % 16), gpu: j % 4, memoryMb: 1024 * (1 + (j % 8)) },
          health: j % 10 === 0 ? 'degraded' : 'healthy',
          metadata: { model: `m${j % 50}` },
          load: (j % 100) / 100
        }, Date.now(), DEFAULT_LIMITS))
      }
    })
  }
  const buildMs = performance.now() - tBuild

  // A late joiner applies the owner's whole state (checkpoint + log), verifying every signature; the raw
  // floor applies the same payloads to a bare Y.Doc (one signature check per message) and indexes it.
  const context = signingContext('bench')
  const msgs = owner.replica.missingFor(mk('probe').replica.digest())
  const joinBytes = msgs.reduce((n, m) => n + m.length, 0)
  const rawJoin = (): { ms: number, raw: RawIndex, doc: Y.Doc } => {
    const t0 = performance.now()
    const doc = new Y.Doc()
    const raw = new RawIndex()
    for (const m of msgs) {
      const b = decodeSignedBlob(m, Number.MAX_SAFE_INTEGER)
      if (!verifier(b.host, withContext(context, b.signed), b.signature)) throw new Error('raw baseline: bad signature')
      Y.applyUpdate(doc, b.payload)
    }
    for (const [id, v] of doc.getMap<Record<string, unknown>>('agents')) raw.upsert(id, v)
    raw.follow(doc)
    return { ms: performance.now() - t0, raw, doc }
  }
  const rawJoined = rawJoin()
  const heap0 = heapUsed()
  const joiner = mk('joiner')
  const tJoin = performance.now()
  for (const m of msgs) joiner.replica.apply(m)
  const joinApplyMs = performance.now() - tJoin
  const heap1 = heapUsed()
  if (joiner.registry.size !== N) throw new Error(`joiner has ${joiner.registry.size} agents, expected ${N}`)
  const raw = rawJoined.raw
  if (raw.byId.size !== N) throw new Error(`raw baseline has ${raw.byId.size} agents, expected ${N}`)

  // Lookup by id: batches of 1000 random lookups; p50 of the per-lookup mean of each batch.
  const reg = joiner.registry
  const probe = Array.from({ length: 1000 }, () => ids[rand.int(N)]!)
  const lookupNs: number[] = []
  const rawLookupNs: number[] = []
  let sink = 0
  for (let b = 0; b < 2000; b++) {
    let t0 = performance.now()
    for (let i = 0; i < probe.length; i++) if (reg.lookup(probe[i]!) !== undefined) sink++
    lookupNs.push((performance.now() - t0) * 1e6 / probe.length)
    t0 = performance.now()
    for (let i = 0; i < probe.length; i++) if (raw.byId.get(probe[i]!) !== undefined) sink++
    rawLookupNs.push((performance.now() - t0) * 1e6 / probe.length)
  }

  // Queries: ours and the raw index's, alternating in rounds so both see the same machine.
  const timeQueries = (fns: { ours: () => number, raw: () => number }, reps: number): Record<string, unknown> => {
    const us = { ours: [] as number[], raw: [] as number[] }
    const results = { ours: 0, raw: 0 }
    for (let i = 0; i < 200; i++) { fns.ours(); fns.raw() }
    const ROUNDS = 10
    for (let round = 0; round < ROUNDS; round++) {
      for (const side of ['ours', 'raw'] as const) {
        const fn = fns[side]
        for (let i = 0; i < reps / ROUNDS; i++) {
          const t0 = performance.now()
          results[side] = fn()
          us[side].push((performance.now() - t0) * 1000)
        }
      }
    }
    const p50 = pct(us.ours, 0.5)
    const rawP50 = pct(us.raw, 0.5)
    return { p50Us: round(p50), p99Us: round(pct(us.ours, 0.99)), results: results.ours, rawP50Us: round(rawP50), rawP99Us: round(pct(us.raw, 0.99)), rawResults: results.raw, ratioP50: round(p50 / rawP50, 2) }
  }
  const capQuery = timeQueries({
    ours: () => reg.query({ capability: `cap-${rand.int(CAPS)}`, limit: 10 }).agents.length,
    raw: () => raw.capability(`cap-${rand.int(CAPS)}`, 10).agents.length
  }, 20_000)
  const comboQuery = timeQueries({
    ours: () => reg.query({
      capability: `cap-${rand.int(CAPS)}`,
      zone: `zone-${rand.int(ZONES)}`,
      where: [['resources.gpu', 'gte', 1]],
      limit: 10
    }).agents.length,
    raw: () => raw.capabilityZoneGpu(`cap-${rand.int(CAPS)}`, `zone-${rand.int(ZONES)}`, 1, 10).agents.length
  }, 20_000)
  const timeQuery = (fn: () => number, reps: number): { p50Us: number, p99Us: number, results: number } => {
    const us: number[] = []
    let results = 0
    for (let i = 0; i < 200; i++) fn()
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now()
      results = fn()
      us.push((performance.now() - t0) * 1000)
    }
    return { p50Us: round(pct(us, 0.5)), p99Us: round(pct(us, 0.99)), results }
  }
  const orderedQuery = timeQuery(() => reg.query({ capability: `cap-${rand.int(CAPS)}`, orderBy: 'load', limit: 10 }).agents.length, 5_000)
  const strategy = timeQuery(() => reg.lookupWith(`cap-${rand.int(CAPS)}`, 'least-loaded') !== undefined ? 1 : 0, 5_000)

  // Remote updates: the owner changes one agent at a time; the joiner applies the signed update (with
  // verification), `other` the same without, the raw baseline's bare Y.Doc the payload; and the same
  // Ed25519 check alone (the signature's share of ours).
  const remoteUs: number[] = []
  const remoteNoVerifyUs: number[] = []
  const rawRemoteUs: number[] = []
  const verifyOnlyUs: number[] = []
  const other = mk('other', false)
  for (const m of owner.replica.missingFor(other.replica.digest())) other.replica.apply(m)
  for (let i = 0; i < 3000; i++) {
    const id = ids[rand.int(N)]!
    await owner.registry.update(id, { load: rand.next(), health: rand.chance(0.5) ? 'healthy' : 'degraded' })
    const blob = owner.out.pop()!
    let t0 = performance.now()
    const r = joiner.replica.apply(blob.bytes)
    remoteUs.push((performance.now() - t0) * 1000)
    if (r.status !== 'applied') throw new Error(`remote update ${r.status}`)
    t0 = performance.now()
    other.replica.apply(blob.bytes)
    remoteNoVerifyUs.push((performance.now() - t0) * 1000)
    t0 = performance.now()
    Y.applyUpdate(rawJoined.doc, blob.payload)
    rawRemoteUs.push((performance.now() - t0) * 1000)
    t0 = performance.now()
    if (verifier('owner', withContext(context, blob.signed), blob.signature)) sink++
    verifyOnlyUs.push((performance.now() - t0) * 1000)
  }
  if (raw.byId.get(ids[0]!)?.updatedAt !== (joiner.registry.lookup(ids[0]!) as { updatedAt: number }).updatedAt) throw new Error('raw baseline diverged')
  const localUs: number[] = []
  for (let i = 0; i < 2000; i++) {
    const id = ids[rand.int(N)]!
    const t0 = performance.now()
    await owner.registry.update(id, { load: rand.next() })
    localUs.push((performance.now() - t0) * 1000)
  }
  const verifyFloor = await verifierVsFloor(owner.out.length > 0 ? owner.out[0]!.signed : withContext(context, new Uint8Array(200)))
  const remoteP50 = pct(remoteUs, 0.5)
  const rawRemoteP50 = pct(rawRemoteUs, 0.5)
  // The floor with every update verified: the raw apply plus the Ed25519 check, sample by sample.
  const rawPlusVerifyP50 = pct(rawRemoteUs.map((x, i) => x + verifyOnlyUs[i]!), 0.5)

  return {
    agents: N,
    load1: round(os.loadavg()[0]!, 2),
    buildOwnerMs: round(buildMs, 0),
    lookupByIdNs: { p50: round(pct(lookupNs, 0.5), 1), p99: round(pct(lookupNs, 0.99), 1), targetP50: 100, rawMapP50: round(pct(rawLookupNs, 0.5), 1) },
    queryCapability10: { ...capQuery, targetUs: 2, targetRatio: 3 },
    queryCapabilityZoneNumeric10: { ...comboQuery, targetUs: 20, targetRatio: 3 },
    queryCapabilityOrderedByLoad10: orderedQuery,
    lookupWithLeastLoaded: strategy,
    remoteUpdateApplyUs: {
      p50: round(remoteP50, 1),
      p99: round(pct(remoteUs, 0.99), 1),
      withSignatureVerify: true,
      target: 60,
      rawYjsApplyIndexP50: round(rawRemoteP50, 1),
      ratioP50: round(remoteP50 / rawRemoteP50, 2),
      targetRatio: 2,
      ed25519VerifyAloneP50: round(pct(verifyOnlyUs, 0.5), 1),
      rawPlusVerifyP50: round(rawPlusVerifyP50, 1),
      ratioToRawPlusVerifyP50: round(remoteP50 / rawPlusVerifyP50, 2)
    },
    verifyUs: verifyFloor,
    remoteUpdateApplyNoVerifyUs: { p50: round(pct(remoteNoVerifyUs, 0.5), 1), p99: round(pct(remoteNoVerifyUs, 0.99), 1), ratioP50: round(pct(remoteNoVerifyUs, 0.5) / rawRemoteP50, 2) },
    localUpdateSignedUs: { p50: round(pct(localUs, 0.5), 1), p99: round(pct(localUs, 0.99), 1) },
    lateJoinerInProcess: { messages: msgs.length, bytes: joinBytes, applyAndIndexMs: round(joinApplyMs, 0), rawYjsApplyIndexMs: round(rawJoined.ms, 0), ratio: round(joinApplyMs / rawJoined.ms, 2) },
    memoryPerAgentBytes: { value: Math.round((heap1 - heap0) / N), gcExposed: (globalThis as { gc?: unknown }).gc !== undefined, target: 1536 },
    sink
  }
}
