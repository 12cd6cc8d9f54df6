/**
 * Registry figures at 100k agents (issue targets in brackets): lookup by id p50 [<= 0.1 µs], capability
 * query returning 10 [<= 2 µs], capability + zone + numeric criterion returning 10 [<= 20 µs], a remote
 * update applied with index maintenance [<= 60 µs], memory per agent per replica [<= 1.5 KB], and a late
 * joiner applying the whole 100k registry from a checkpoint (in process; the network part is in the
 * mesh bench).
 */
import { generateKeyPairSync, sign, verify, createPublicKey } from 'node:crypto'
import { LeaseTable } from '../../crdt/liveness.js'
import { ReplicatedRegistry } from '../../crdt/registry.js'
import { Replica } from '../../crdt/replica.js'
import { normaliseAgent } from '../../crdt/descriptor.js'
import { DEFAULT_LIMITS } from '../../crdt/limits.js'
import { createRand } from '../../src/base/prng.js'
import type { KeyObject } from 'node:crypto'
import type { SignedBlob } from '../../crdt/codec.js'

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

  // A late joiner applies the owner's whole state (checkpoint + log), verifying every signature.
  const heap0 = heapUsed()
  const joiner = mk('joiner')
  const tJoin = performance.now()
  const msgs = owner.replica.missingFor(joiner.replica.digest())
  const tJoinMissing = performance.now()
  for (const m of msgs) joiner.replica.apply(m)
  const joinApplyMs = performance.now() - tJoinMissing
  const joinBytes = msgs.reduce((n, m) => n + m.length, 0)
  const heap1 = heapUsed()
  if (joiner.registry.size !== N) throw new Error(`joiner has ${joiner.registry.size} agents, expected ${N}`)

  // Lookup by id: batches of 1000 random lookups; p50 of the per-lookup mean of each batch.
  const reg = joiner.registry
  const probe = Array.from({ length: 1000 }, () => ids[rand.int(N)]!)
  const lookupNs: number[] = []
  let sink = 0
  for (let b = 0; b < 2000; b++) {
    const t0 = performance.now()
    for (let i = 0; i < probe.length; i++) if (reg.lookup(probe[i]!) !== undefined) sink++
    lookupNs.push((performance.now() - t0) * 1e6 / probe.length)
  }

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
  const capQuery = timeQuery(() => reg.query({ capability: `cap-${rand.int(CAPS)}`, limit: 10 }).agents.length, 20_000)
  const comboQuery = timeQuery(() => reg.query({
    capability: `cap-${rand.int(CAPS)}`,
    zone: `zone-${rand.int(ZONES)}`,
    where: [['resources.gpu', 'gte', 1]],
    limit: 10
  }).agents.length, 20_000)
  const orderedQuery = timeQuery(() => reg.query({ capability: `cap-${rand.int(CAPS)}`, orderBy: 'load', limit: 10 }).agents.length, 5_000)
  const strategy = timeQuery(() => reg.lookupWith(`cap-${rand.int(CAPS)}`, 'least-loaded') !== undefined ? 1 : 0, 5_000)

  // Remote updates: the owner changes one agent at a time; the joiner applies the signed update.
  const remoteUs: number[] = []
  const remoteNoVerifyUs: number[] = []
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
  }
  const localUs: number[] = []
  for (let i = 0; i < 2000; i++) {
    const id = ids[rand.int(N)]!
    const t0 = performance.now()
    await owner.registry.update(id, { load: rand.next() })
    localUs.push((performance.now() - t0) * 1000)
  }

  return {
    agents: N,
    buildOwnerMs: round(buildMs, 0),
    lookupByIdNs: { p50: round(pct(lookupNs, 0.5), 1), p99: round(pct(lookupNs, 0.99), 1), targetP50: 100 },
    queryCapability10: { ...capQuery, targetUs: 2 },
    queryCapabilityZoneNumeric10: { ...comboQuery, targetUs: 20 },
    queryCapabilityOrderedByLoad10: orderedQuery,
    lookupWithLeastLoaded: strategy,
    remoteUpdateApplyUs: { p50: round(pct(remoteUs, 0.5), 1), p99: round(pct(remoteUs, 0.99), 1), withSignatureVerify: true, target: 60 },
    remoteUpdateApplyNoVerifyUs: { p50: round(pct(remoteNoVerifyUs, 0.5), 1), p99: round(pct(remoteNoVerifyUs, 0.99), 1) },
    localUpdateSignedUs: { p50: round(pct(localUs, 0.5), 1), p99: round(pct(localUs, 0.99), 1) },
    lateJoinerInProcess: { messages: msgs.length, bytes: joinBytes, encodeMs: round(tJoinMissing - tJoin, 0), applyAndIndexMs: round(joinApplyMs, 0) },
    memoryPerAgentBytes: { value: Math.round((heap1 - heap0) / N), gcExposed: (globalThis as { gc?: unknown }).gc !== undefined, target: 1536 },
    sink
  }
}
