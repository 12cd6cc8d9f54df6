/**
 * Adversarial probe (issue "Hardening against hostile peers"): real peers over TCP on loopback attack a
 * small mesh, and the bench counts, per category, the attacks tried, refused and accepted (an accepted
 * forgery: a victim replica's state changed as the attacker wanted). Then it checks that every victim
 * still answers (a registry write propagates, a Raft write commits) and that no process died, and measures
 * what a hostile host can add to a victim per minute under the quotas: RSS (after a GC), the bytes the
 * replica holds for it, the data dir on disk, and the Raft log.
 *
 * Cast (every peer real, TCP on 127.0.0.1):
 *   A  honest Raft voter, the economy's only authority (treasury), data dir    — in this process
 *   V  honest Raft voter, data dir, the measured victim                        — its own process (test/helpers/hostile-victim.ts, --expose-gc)
 *   M  Raft voter turned hostile (a member forging economy commands)           — in this process
 *   D  honest peer outside the group: owns agents, accounts, variables         — in this process
 *   R  hostile host outside the group (forged blobs, own-document tricks, client path, frames)
 *   H  a daemon (`agora start`, child process, own mesh and single-voter group): HTTP attacks
 *   Ra..Rd  one fresh hostile host per flood (own identity, so its quotas start full)
 *
 * Outcomes: `refused` (nothing changed, or the attacker's input was refused with an error), `accepted`
 * (a victim changed as the attacker wanted: a break), `documentedLimit` (accepted, but the repository
 * documents it as a known limit: listed apart), `harmless` (reserved-name input that is accepted and
 * reads the same on every replica, with no prototype effect). `acceptedCases` names every accepted case.
 *
 * Bounded: floods run BENCH_HOSTILE_FLOOD_S seconds each (default 20); every wait has a timeout; every
 * peer, child process and data dir is stopped or removed in `finally`.
 */
import { execFileSync, fork } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync, readdirSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as Y from 'yjs'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromString } from '@libp2p/peer-id'
import { byteStream } from '@libp2p/utils'
import type { Stream } from '@libp2p/interface'
import { createPeer } from '../../peers/peer.js'
import type { Peer } from '../../peers/peer.js'
import { createSigner } from '../../peers/keys.js'
import { framedStream } from '../../peers/framing.js'
import { crdtTopic } from '../../peers/sync/gossip/constants.js'
import { heartbeatTopic } from '../../peers/sync/liveness/constants.js'
import { encodeHeartbeat } from '../../peers/sync/liveness/heartbeat.js'
import { FRAME_BYTES_MAX, syncProtocol } from '../../peers/sync/anti-entropy/constants.js'
import { FRAME_BLOB, FRAME_DIGEST, FRAME_END, frame } from '../../peers/sync/anti-entropy/frames.js'
import { raftProtocol } from '../../peers/raft/transport.js'
import { raftClientProtocol } from '../../peers/raft/client.js'
import { auctionProtocol } from '../../peers/economy/economy.js'
import { TAG_CHECKPOINT, TAG_UPDATE, attachSignature, encodeSignedPart, encodeDigest } from '../../crdt/codec.js'
import type { DocKind, SignedBlob } from '../../crdt/codec.js'
import { signingContext, withContext } from '../../crdt/signing.js'
import type { Signer } from '../../crdt/signing.js'
import { encodeEconCommand } from '../../protocols/mesh/application.js'
import { originOf, signedPayload } from '../../protocols/raft/envelope.js'
import type { Envelope } from '../../protocols/raft/envelope.js'
import { VICTIM_FLAG } from '../helpers/hostile-victim.js'
import type { VictimMeasure } from '../helpers/hostile-victim.js'

export const name = 'hostile'

const NODE = join(process.cwd(), 'node_modules/.bin/node')
const CLI = join(process.cwd(), 'dist/src/cli.js')
const FLOOD_S = Number(process.env.BENCH_HOSTILE_FLOOD_S ?? 20)
const MiB = 1024 * 1024
const enc = new TextEncoder()
const dec = new TextDecoder()
const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }
const tick = async (): Promise<void> => { await new Promise(resolve => setImmediate(resolve)) }
const progress = (msg: string): void => { process.stderr.write(`  hostile: ${msg}\n`) }

async function waitFor<T> (cond: () => T | undefined | null | false | Promise<T | undefined | null | false>, what: string, timeoutMs = 20_000, intervalMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const v = await cond()
      if (v !== undefined && v !== null && v !== false) return v
    } catch (err) { last = err }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last !== undefined ? ` (${String((last as Error).message ?? last)})` : ''}`)
    await sleep(intervalMs)
  }
}

// ---- outcome tallies -------------------------------------------------------------------------------

type Outcome = 'refused' | 'accepted' | 'documentedLimit' | 'harmless'
interface Category { tried: number, refused: number, accepted: number, documentedLimit: number, harmless: number, acceptedCases: string[], documentedLimitCases: string[], harmlessCases: string[], notes: string[] }
const category = (): Category => ({ tried: 0, refused: 0, accepted: 0, documentedLimit: 0, harmless: 0, acceptedCases: [], documentedLimitCases: [], harmlessCases: [], notes: [] })
function record (c: Category, name: string, outcome: Outcome, detail?: string): void {
  c.tried++
  c[outcome]++
  const label = detail === undefined ? name : `${name}: ${detail}`
  if (outcome === 'accepted') c.acceptedCases.push(label)
  if (outcome === 'documentedLimit') c.documentedLimitCases.push(label)
  if (outcome === 'harmless') c.harmlessCases.push(label)
}
function compact (c: Category): Record<string, unknown> {
  const out: Record<string, unknown> = { tried: c.tried, refused: c.refused, accepted: c.accepted }
  if (c.documentedLimit > 0) out.documentedLimit = c.documentedLimit
  if (c.harmless > 0) out.harmless = c.harmless
  if (c.acceptedCases.length > 0) out.acceptedCases = c.acceptedCases
  if (c.documentedLimitCases.length > 0) out.documentedLimitCases = c.documentedLimitCases
  if (c.harmlessCases.length > 0) out.harmlessCases = c.harmlessCases
  if (c.notes.length > 0) out.notes = c.notes
  return out
}

// ---- the victim process --------------------------------------------------------------------------

class VictimProc {
  private seq = 0
  private readonly waiting = new Map<number, { resolve: (v: any) => void, reject: (e: Error) => void }>()
  readonly stderr: string[] = []
  exit: { code: number | null, signal: string | null } | undefined

  private constructor (readonly proc: ChildProcess) {
    proc.stderr?.on('data', (d: Buffer) => { this.stderr.push(d.toString()); if (this.stderr.length > 200) this.stderr.shift() })
    proc.on('message', (m: { rid?: number, ok?: boolean, r?: unknown, error?: string, code?: string }) => {
      if (m.rid === undefined) return
      const w = this.waiting.get(m.rid)
      if (w === undefined) return
      this.waiting.delete(m.rid)
      if (m.ok === true) w.resolve(m.r)
      else w.reject(Object.assign(new Error(m.error ?? 'victim error'), { code: m.code ?? undefined }))
    })
    proc.on('exit', (code, signal) => {
      this.exit = { code, signal }
      for (const w of this.waiting.values()) w.reject(new Error(`victim process exited (${String(code)}, ${String(signal)})`))
      this.waiting.clear()
    })
  }

  static async spawn (): Promise<VictimProc> {
    const script = fileURLToPath(new URL('../helpers/hostile-victim.js', import.meta.url))
    const proc = fork(script, [VICTIM_FLAG], { execPath: NODE, execArgv: ['--expose-gc'], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] })
    const v = new VictimProc(proc)
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`victim did not start: ${v.stderr.join('')}`)), 30_000)
      proc.on('message', (m: { ready?: boolean }) => { if (m.ready === true) { clearTimeout(timer); resolve() } })
      proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`victim exited with ${String(code)}: ${v.stderr.join('')}`)) })
    })
    return v
  }

  get alive (): boolean { return this.exit === undefined }

  async call<T = any> (op: string, args: Record<string, unknown> = {}, timeoutMs = 60_000): Promise<T> {
    if (!this.alive) throw new Error('victim process is dead')
    const id = ++this.seq
    return await new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => { this.waiting.delete(id); reject(new Error(`victim ${op} timed out`)) }, timeoutMs)
      this.waiting.set(id, { resolve: (v) => { clearTimeout(timer); resolve(v) }, reject: (e) => { clearTimeout(timer); reject(e) } })
      this.proc.send({ ...args, rid: id, op })
    })
  }

  async kill (): Promise<void> {
    if (!this.alive) return
    try { await this.call('stop', {}, 10_000) } catch {}
    if (this.alive) this.proc.kill('SIGKILL')
    await waitFor(() => !this.alive, 'the victim process to exit', 10_000).catch(() => {})
  }
}

// ---- the daemon ----------------------------------------------------------------------------------

interface DaemonProc { proc: ChildProcess, http: string, peerId: string, token: string, stderr: string[] }

async function startDaemon (dir: string, extra: string[]): Promise<DaemonProc> {
  const { spawn } = await import('node:child_process')
  const proc = spawn(NODE, [CLI, 'start', '--data-dir', dir, '--http', '127.0.0.1:0', '--log-level', 'error', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] })
  const stderr: string[] = []
  proc.stderr!.on('data', (d: Buffer) => { stderr.push(d.toString()) })
  const line = await new Promise<string>((resolve, reject) => {
    let buf = ''
    const timer = setTimeout(() => reject(new Error(`daemon did not start: ${stderr.join('')}`)), 30_000)
    proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString()
      const nl = buf.indexOf('\n')
      if (nl >= 0) { clearTimeout(timer); resolve(buf.slice(0, nl)) }
    })
    proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`daemon exited with ${String(code)}: ${stderr.join('')}`)) })
  })
  const info = JSON.parse(line) as { http: string, peerId: string, tokenFile: string }
  return { proc, http: info.http, peerId: info.peerId, token: readFileSync(info.tokenFile, 'utf8').trim(), stderr }
}

const daemonAlive = (d: DaemonProc): boolean => d.proc.exitCode === null && d.proc.signalCode === null

async function http (d: DaemonProc, method: string, path: string, body?: string, headers: Record<string, string> | null = {}): Promise<{ status: number, json: any }> {
  const h: Record<string, string> = headers === null ? { 'content-type': 'application/json' } : { authorization: `Bearer ${d.token}`, 'content-type': 'application/json', ...headers }
  const res = await fetch(`http://${d.http}${path}`, { method, headers: h, ...(body !== undefined ? { body } : {}), signal: AbortSignal.timeout(15_000) })
  const text = await res.text()
  let json: unknown
  try { json = JSON.parse(text) } catch { json = text.slice(0, 200) }
  return { status: res.status, json }
}

// ---- wire helpers --------------------------------------------------------------------------------

const signerOf = (p: Peer): Signer => (p as unknown as { signer: Signer }).signer

/** A signed blob as a host would write it, signed by `signer` (whoever that is). */
function forgeBlob (mesh: string, signer: Signer | { sign: (d: Uint8Array) => Uint8Array }, tag: SignedBlob['tag'], kind: DocKind, host: string, incarnation: number, seq: number, payload: Uint8Array, signature?: Uint8Array): Uint8Array {
  const signed = encodeSignedPart(tag, kind, host, incarnation, seq, payload)
  return attachSignature(signed, signature ?? signer.sign(withContext(signingContext(mesh), signed)))
}

/** A Yjs update against `doc`'s state made by `mutate` on a copy, and the copy's whole state. */
function yjsEdit (doc: Y.Doc, mutate: (d: Y.Doc) => void): { update: Uint8Array, state: Uint8Array } {
  const copy = new Y.Doc()
  Y.applyUpdate(copy, Y.encodeStateAsUpdate(doc))
  const sv = Y.encodeStateVector(copy)
  copy.transact(() => mutate(copy))
  const out = { update: Y.encodeStateAsUpdate(copy, sv), state: Y.encodeStateAsUpdate(copy) }
  copy.destroy()
  return out
}

async function publishRaw (p: Peer, topic: string, data: Uint8Array): Promise<void> {
  const pubsub = (p.libp2p as unknown as { services: { pubsub: { publish: (t: string, d: Uint8Array) => Promise<unknown> } } }).services.pubsub
  await pubsub.publish(topic, data).catch(() => {})
}

/** Runs one anti-entropy exchange as initiator from `from` to `to`, sending `blobs` (forged or not). */
async function injectViaSync (from: Peer, to: string, blobs: Uint8Array[], digest?: Uint8Array): Promise<void> {
  const stream = await from.libp2p.dialProtocol(peerIdFromString(to), syncProtocol(from.options.mesh), { signal: AbortSignal.timeout(5000) })
  try {
    const lp = framedStream(stream, FRAME_BYTES_MAX + 1024)
    await lp.write(frame(FRAME_DIGEST, digest ?? from.replica.digest()), { signal: AbortSignal.timeout(5000) })
    // The responder sends what our digest lacks, then its digest.
    for (;;) {
      const f = (await lp.read({ signal: AbortSignal.timeout(10_000) })).subarray()
      if (f[0] === FRAME_DIGEST) break
    }
    for (const b of blobs) await lp.write(frame(FRAME_BLOB, b), { signal: AbortSignal.timeout(5000) })
    await lp.write(frame(FRAME_END), { signal: AbortSignal.timeout(5000) })
    await stream.close({ signal: AbortSignal.timeout(5000) }).catch(() => {})
  } catch (err) {
    stream.abort(err as Error)
    throw err
  }
}

/** One raw request on the Raft client path from `from` to member `to`; the member's decoded answer. */
async function clientRequest (from: Peer, to: string, req: unknown, timeoutMs = 10_000): Promise<{ ok: boolean, code?: string, r?: unknown, i?: number }> {
  const stream = await from.libp2p.dialProtocol(peerIdFromString(to), raftClientProtocol(from.options.mesh), { signal: AbortSignal.timeout(timeoutMs) })
  try {
    const lp = framedStream(stream, 1024 * 1024)
    await lp.write(enc.encode(JSON.stringify(req)), { signal: AbortSignal.timeout(timeoutMs) })
    const res = JSON.parse(dec.decode((await lp.read({ signal: AbortSignal.timeout(timeoutMs) })).subarray())) as { ok: boolean, code?: string, r?: unknown, i?: number }
    await stream.close().catch(() => {})
    return res
  } catch (err) {
    stream.abort(err as Error)
    throw err
  }
}

interface Corpus { protocol: string, cases: Array<{ name: string, category: string, hex: string, layer?: 'stream', decoder?: string }> }
function loadCorpora (): Map<string, Corpus> {
  const root = fileURLToPath(new URL('../../../test/fixtures/malformed/', import.meta.url))
  const out = new Map<string, Corpus>()
  for (const d of readdirSync(root, { withFileTypes: true })) {
    if (!d.isDirectory()) continue
    out.set(d.name, JSON.parse(readFileSync(join(root, d.name, 'cases.json'), 'utf8')) as Corpus)
  }
  return out
}
const hexBytes = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex, 'hex'))

// ---- the probe -----------------------------------------------------------------------------------

interface Cast {
  root: string
  A: Peer
  V: VictimProc
  vId: string
  vAddr: string
  M: Peer
  D: Peer
  R: Peer
  H: DaemonProc | undefined
  extra: Peer[]
}

/**
 * Every peer: no DHT, libp2p's per-IP inbound limit lifted (all on 127.0.0.1), and a host silent for
 * 3 s + 10 s pruned (default 3 s + 30 s), so a stopped flood's rogue is dropped before the next flood.
 */
const BASE = { logLevel: 'silent' as const, dht: false, inboundConnectionsPerSecondMax: 10_000, pruneAfterMs: 10_000 }

export default async function (): Promise<Record<string, unknown>> {
  const root = await mkdtemp(join(tmpdir(), 'agora-hostile-'))
  const peers: Peer[] = []
  let V: VictimProc | undefined
  let H: DaemonProc | undefined
  const t0 = performance.now()
  try {
    progress('starting peers')
    const A = await createPeer({ ...BASE, dataDir: join(root, 'A') }); peers.push(A)
    V = await VictimProc.spawn()
    const vInfo = await V.call<{ id: string, addresses: string[] }>('start', { dataDir: join(root, 'V'), options: BASE })
    const M = await createPeer({ ...BASE, dataDir: join(root, 'M') }); peers.push(M)
    const D = await createPeer({ ...BASE }); peers.push(D)
    const R = await createPeer({ ...BASE, limits: { agentsPerHostMax: 10_000_000, variablesPerHostMax: 10_000_000 } }); peers.push(R)
    const vAddr = vInfo.addresses[0]!
    for (const [i, p] of [A, M, D, R].entries()) {
      await p.dial(vAddr)
      for (const q of [A, M, D, R].slice(0, i)) await p.dial(q.addresses()[0]!)
    }
    const voters = [A.id, vInfo.id, M.id]
    const raft = { voters, economyAuthorities: [A.id], tickMs: 50, electionTick: 10 }
    await Promise.all([A.startRaft(raft), V.call('startRaft', { raft }), M.startRaft(raft)])
    await waitFor(async () => A.raft?.economy !== undefined && M.raft?.economy !== undefined && (await V!.call('status')).economy === true && A.raft.status().leader !== undefined, 'a leader and the economy genesis on every voter', 30_000)
    const daemonDir = join(root, 'H')
    const hId = execFileSync(NODE, [CLI, 'id', '--data-dir', daemonDir]).toString().trim()
    H = await startDaemon(daemonDir, ['--mesh', 'hostile-http', '--raft-voters', hId])
    const cast: Cast = { root, A, V, vId: vInfo.id, vAddr, M, D, R, H, extra: peers }
    progress(`cast up in ${Math.round(performance.now() - t0)} ms`)

    const fixtures = await setUpFixtures(cast)
    progress('fixtures ready')
    const attacks: Record<string, unknown> = {}
    attacks.forgedBlobs = compact(await forgedBlobs(cast, fixtures))
    progress('forged blobs done')
    attacks.agentIdClaims = compact(await agentIdClaims(cast))
    progress('agent-id claims done')
    attacks.farFutureStamps = compact(await farFuture(cast))
    progress('far-future stamps done')
    attacks.reservedNamesAndSurrogates = compact(await reservedNames(cast))
    progress('reserved names done')
    attacks.clientPathForgeries = compact(await clientPath(cast, fixtures))
    progress('client path done')
    attacks.economyThroughMember = compact(await economyThroughMember(cast, fixtures))
    progress('economy through a member done')
    attacks.httpTokens = compact(await httpTokens(cast))
    progress('http tokens done')
    attacks.malformedFrames = await malformedFrames(cast)
    progress('malformed frames done')
    const totals = { tried: 0, refused: 0, accepted: 0, documentedLimit: 0, harmless: 0 }
    for (const c of Object.values(attacks) as Array<Record<string, any>>) {
      const x = (c.total ?? c) as Record<string, number>
      for (const k of Object.keys(totals) as Array<keyof typeof totals>) totals[k] += x[k] ?? 0
    }
    const floods = await runFloods(cast)
    const liveness = await finalLiveness(cast)
    return {
      floodSeconds: FLOOD_S,
      forgeriesAccepted: totals.accepted,
      totals,
      attacks,
      crashesAndHangs: liveness,
      floodsPerMinute: floods,
      wallSeconds: Math.round((performance.now() - t0) / 1000)
    }
  } finally {
    progress('stopping everything')
    await Promise.allSettled(peers.map(async p => await p.stop()))
    await V?.kill()
    if (H !== undefined && daemonAlive(H)) {
      H.proc.kill('SIGTERM')
      await waitFor(() => !daemonAlive(H!), 'the daemon to exit', 10_000).catch(() => { H!.proc.kill('SIGKILL') })
    }
    await rm(root, { recursive: true, force: true }).catch(() => {})
  }
}

// ---- fixtures ------------------------------------------------------------------------------------

interface Fixtures {
  /** D's signed transfer d-funds → m-shop (10), as M saw it applied. */
  transfer: Envelope
  dFunds: number
  mShop: number
  minted: number
}

async function setUpFixtures (c: Cast): Promise<Fixtures> {
  const { A, M, D, R, V } = c
  const seen: Envelope[] = []
  const off = M.raft!.driver!.on('command:applied', (e) => { if (originOf(e.envelope.clientId) === D.id) seen.push(e.envelope) })
  await waitFor(async () => { try { await A.economy.mint('d-funds', 1000, { owner: D.id }); return true } catch { return false } }, 'the treasury mint', 20_000, 200)
  await M.economy.open('m-shop')
  await waitFor(async () => { try { await D.economy.open('d-spare'); return true } catch (err) { if ((err as { code?: string }).code === 'ERR_DUPLICATE_ACCOUNT') return true; return false } }, 'D to reach the client path', 20_000, 200)
  await D.economy.transfer('d-funds', 'm-shop', 10)
  await R.economy.open('r-acct')
  const transfer = await waitFor(() => seen.find(e => e.command[0] === 0x01 && dec.decode(e.command.subarray(1)).includes('"transfer"')), 'M to see D\'s transfer applied')
  off?.()
  // Registry and variables of D.
  await D.registry.register({ id: 'gpu-1', capabilities: ['gpu'], metadata: { owner: 'victim' } })
  await D.registry.update('gpu-1', { health: 'healthy', load: 0.1 })
  for (const id of ['gpu-2', 'gpu-3', 'gpu-4']) await D.registry.register({ id, capabilities: ['gpu'], metadata: { owner: 'victim' } })
  for (const p of [A, M, D]) p.variables.eventual('config', { initial: 'none', merge: 'lww' })
  await D.variables.eventual<string>('config', { initial: 'none', merge: 'lww' }).set('honest-1')
  await waitFor(async () => {
    for (const p of [A, M, R]) if (p.registry.lookup('gpu-4') === undefined || p.variables.read('config').value !== 'honest-1') return false
    const v = await V.call('variable', { name: 'config', initial: 'none' })
    return (await V.call('agent', { id: 'gpu-4' })) !== null && v.json === '"honest-1"'
  }, 'D\'s agents and variable on every peer', 30_000, 50)
  const acct = A.raft!.economy!.account('d-funds')!
  return { transfer, dFunds: acct.free, mShop: A.raft!.economy!.account('m-shop')!.free, minted: A.raft!.economy!.supply().minted }
}

/** What the victims (A, M and V) hold of D's documents and agent gpu-1, as one comparable string each. */
async function victimView (c: Cast, extraIds: string[] = []): Promise<string[]> {
  const local = (p: Peer): string => JSON.stringify({
    reg: p.replica.entry('reg', c.D.id), var: p.replica.entry('var', c.D.id),
    gpu: p.registry.lookup('gpu-1')?.host === c.D.id ? JSON.stringify(p.registry.lookup('gpu-1')?.metadata) : p.registry.lookup('gpu-1')?.host,
    config: JSON.stringify(p.variables.read('config').value),
    extra: extraIds.map(id => p.registry.lookup(id)?.host ?? null)
  })
  const v = c.V
  const remote = JSON.stringify({
    reg: await v.call('entry', { kind: 'reg', host: c.D.id }), var: await v.call('entry', { kind: 'var', host: c.D.id }),
    gpu: await v.call('agent', { id: 'gpu-1' }).then((a: any) => a?.host === c.D.id ? a.json : a?.host),
    config: (await v.call('variable', { name: 'config', initial: 'none' })).json,
    extra: await Promise.all(extraIds.map(async id => (await v.call('agent', { id }))?.host ?? null))
  })
  return [local(c.A), local(c.M), remote]
}

// ---- 1. forged and tampered blobs for D's documents -------------------------------------------------

async function forgedBlobs (c: Cast, _f: Fixtures): Promise<Category> {
  const out = category()
  const { D, R } = c
  const mesh = D.options.mesh
  const rs = signerOf(R)
  const reg = D.replica.get('reg', D.id)!
  const vdoc = D.replica.get('var', D.id)!
  const real = reg.log[reg.log.length - 1]!
  const old = reg.log[0]!
  const cp = reg.checkpoint!
  const stranger = createSigner('x', await generateKeyPair('Ed25519'))
  const stored = (owner: string) => ({ capabilities: ['gpu'], resources: {}, health: 'healthy', metadata: { owner }, updatedAt: Date.now(), claimedAt: 1 })
  type Case = { name: string, blob: (k: string) => Uint8Array }
  const pwn = (k: string) => yjsEdit(reg.doc, (d) => { const m = d.getMap('agents'); m.set(`pwn-${k}`, stored('rogue')); m.set('gpu-1', stored('rogue')) })
  const cases: Case[] = [
    { name: 'wrong signer: update past the host\'s seq', blob: (k) => forgeBlob(mesh, rs, TAG_UPDATE, 'reg', D.id, reg.incarnation, reg.seq + 1, pwn(k).update) },
    { name: 'wrong signer: checkpoint past the host\'s seq', blob: (k) => forgeBlob(mesh, rs, TAG_CHECKPOINT, 'reg', D.id, reg.incarnation, reg.seq + 5, pwn(k).state) },
    { name: 'wrong signer: checkpoint of a new incarnation', blob: (k) => forgeBlob(mesh, rs, TAG_CHECKPOINT, 'reg', D.id, reg.incarnation + 1000, 1, pwn(k).state) },
    { name: 'stranger key: update past the host\'s seq', blob: (k) => forgeBlob(mesh, stranger, TAG_UPDATE, 'reg', D.id, reg.incarnation, reg.seq + 1, pwn(k).update) },
    { name: 'modified payload under the host\'s real signature', blob: (k) => forgeBlob(mesh, rs, TAG_UPDATE, 'reg', D.id, real.incarnation, real.seq, pwn(k).update, real.signature) },
    { name: 'modified payload (one bit) of the next seq under a real signature', blob: () => { const p = new Uint8Array(real.payload); p[p.length - 1] = (p[p.length - 1] ?? 0) ^ 1; return forgeBlob(mesh, rs, TAG_UPDATE, 'reg', D.id, real.incarnation, real.seq + 1, p, real.signature) } },
    { name: 'replayed old update with a new counter', blob: () => forgeBlob(mesh, rs, TAG_UPDATE, 'reg', D.id, old.incarnation, reg.seq + 1, old.payload, old.signature) },
    { name: 'replayed old checkpoint with a new incarnation', blob: () => forgeBlob(mesh, rs, TAG_CHECKPOINT, 'reg', D.id, cp.incarnation + 1, cp.seq, cp.payload, cp.signature) },
    { name: 'replayed old checkpoint with a higher seq', blob: () => forgeBlob(mesh, rs, TAG_CHECKPOINT, 'reg', D.id, cp.incarnation, reg.seq + 3, cp.payload, cp.signature) },
    { name: 'document kind swapped (reg update as var)', blob: () => forgeBlob(mesh, rs, TAG_UPDATE, 'var', D.id, real.incarnation, vdoc.seq + 1, real.payload, real.signature) },
    { name: 'exact replay of an old update', blob: () => old.bytes },
    { name: 'empty signature', blob: (k) => forgeBlob(mesh, rs, TAG_UPDATE, 'reg', D.id, reg.incarnation, reg.seq + 1, pwn(k).update, new Uint8Array(0)) },
    { name: 'signature from another mesh (R\'s own update re-labelled for D)', blob: (k) => { const s = encodeSignedPart(TAG_UPDATE, 'reg', D.id, reg.incarnation, reg.seq + 1, pwn(k).update); return attachSignature(s, rs.sign(withContext(signingContext('other-mesh'), s))) } },
    { name: 'forged variable contribution (wrong signer)', blob: (k) => forgeBlob(mesh, rs, TAG_UPDATE, 'var', D.id, vdoc.incarnation, vdoc.seq + 1, yjsEdit(vdoc.doc, (d) => { d.getMap('vars').set('config', { v: `pwned-${k}`, t: [Date.now() + 1000, 0], w: 1, m: 'lww' }) }).update) },
    { name: 'forged variable checkpoint (wrong signer, new incarnation)', blob: (k) => forgeBlob(mesh, rs, TAG_CHECKPOINT, 'var', D.id, vdoc.incarnation + 1000, 1, yjsEdit(vdoc.doc, (d) => { d.getMap('vars').set('config', { v: `pwned-${k}`, t: [Date.now() + 1000, 0], w: 1, m: 'lww' }) }).state) }
  ]
  const before = JSON.stringify(await victimView(c))
  const vStats = async (): Promise<number> => { const s = await c.V.call('stats'); return s.sync.syncRejected + s.sync.syncFailed + s.sync.gossipRejected + s.sync.gossipIgnored + s.sync.gossipDuplicates }
  for (const [i, x] of cases.entries()) {
    for (const via of ['gossip', 'sync'] as const) {
      const k = `${i}${via[0]}`
      const n0 = await vStats()
      if (via === 'gossip') {
        await publishRaw(R, crdtTopic(R.options.mesh), x.blob(k))
      } else {
        await injectViaSync(R, c.vId, [x.blob(k)]).catch(() => {})
      }
      // Wait until the measured victim has dealt with it (counted), at most 3 s.
      await waitFor(async () => (await vStats()) > n0, 'the victim to count the blob', 3000, 25).catch(() => {})
      await sleep(50)
      const after = JSON.stringify(await victimView(c, [`pwn-${k}`]))
      const expected = JSON.stringify((JSON.parse(before) as string[]).map(s => { const o = JSON.parse(s); o.extra = [null]; return JSON.stringify(o) }))
      if (after === expected) record(out, `${x.name} (via ${via})`, 'refused')
      else record(out, `${x.name} (via ${via})`, 'accepted', after)
    }
  }
  return out
}

// ---- 2. agent-id claims by a later host ------------------------------------------------------------

async function agentIdClaims (c: Cast): Promise<Category> {
  const out = category()
  const { D, R } = c
  const claim = async (id: string, fields: Record<string, unknown>): Promise<void> => {
    const blob = R.replica.transact('reg', (doc) => { doc.getMap('agents').set(id, { capabilities: ['gpu'], resources: {}, health: 'healthy', metadata: { owner: 'rogue' }, ...fields }) })!
    R.sync.publish(blob)
    await waitFor(async () => {
      for (const p of [c.A, c.M]) if ((p.replica.entry('reg', R.id)?.seq ?? 0) < blob.seq) return false
      return ((await c.V.call('entry', { kind: 'reg', host: R.id }))?.seq ?? 0) >= blob.seq
    }, 'the rogue claim to reach every victim', 10_000)
  }
  const owners = async (id: string): Promise<string[]> => [c.A.registry.lookup(id)?.host ?? '-', c.M.registry.lookup(id)?.host ?? '-', (await c.V.call('agent', { id }))?.host ?? '-']
  const judge = async (id: string, what: string, documented: boolean): Promise<void> => {
    const o = await owners(id)
    if (o.every(h => h === D.id)) record(out, what, 'refused')
    else record(out, what, documented ? 'documentedLimit' : 'accepted', `owners ${o.map(h => h === D.id ? 'D' : h === R.id ? 'R' : h).join(',')}`)
  }
  const now = Date.now()
  const dClaim = D.registry.lookup('gpu-4')!.claimedAt!
  await claim('gpu-1', { updatedAt: now, claimedAt: now })
  await judge('gpu-1', 'later claim (honest claim time)', false)
  await claim('gpu-1', { updatedAt: now + 1 })
  await judge('gpu-1', 'later claim without claimedAt (old-peer form, ranks by updatedAt)', false)
  await claim('gpu-1', { updatedAt: now + 2, claimedAt: Number.MAX_SAFE_INTEGER })
  await judge('gpu-1', 'claim far in the future', false)
  await claim('gpu-2', { updatedAt: now, claimedAt: 0 })
  await judge('gpu-2', 'claim backdated to 0 (crdt/README.md "Who owns an agent id": convergent, not hijack-proof)', true)
  await claim('gpu-3', { updatedAt: 0 })
  await judge('gpu-3', 'old-peer form backdated (no claimedAt, updatedAt 0)', true)
  await claim('gpu-4', { updatedAt: now, claimedAt: dClaim })
  await judge('gpu-4', `claim in the owner's millisecond (tie broken by host id; rogue id ${R.id < D.id ? 'sorts first' : 'sorts last'})`, true)
  return out
}

// ---- 3. far-future stamps ------------------------------------------------------------------------

async function farFuture (c: Cast): Promise<Category> {
  const out = category()
  const { D, R } = c
  const cfg = D.variables.eventual<string>('config', { initial: 'none', merge: 'lww' })
  const configs = async (): Promise<string[]> => [JSON.stringify(c.A.variables.read('config').value), JSON.stringify(c.M.variables.read('config').value), (await c.V.call('variable', { name: 'config', initial: 'none' })).json]
  let k = 0
  for (const [what, t] of [['lww contribution stamped [MAX_SAFE_INTEGER, 0]', [Number.MAX_SAFE_INTEGER, 0]], ['lww contribution stamped 10 minutes ahead', [Date.now() + 600_000, 0]], ['lww contribution stamped 2 minutes ahead with a huge counter', [Date.now() + 120_000, Number.MAX_SAFE_INTEGER]]] as Array<[string, number[]]>) {
    const value = `future-${k++}`
    const blob = R.replica.transact('var', (doc) => { doc.getMap('vars').set('config', { v: value, t, w: 1, m: 'lww' }) })!
    R.sync.publish(blob)
    await waitFor(async () => (c.A.replica.entry('var', R.id)?.seq ?? 0) >= blob.seq && ((await c.V.call('entry', { kind: 'var', host: R.id }))?.seq ?? 0) >= blob.seq, 'the stamp to arrive', 10_000)
    // Then an honest write: it must win everywhere.
    const honest = `honest-after-${k}`
    await cfg.set(honest)
    const ok = await waitFor(async () => (await configs()).every(v => v === JSON.stringify(honest)), 'the honest write to win', 5000).catch(() => false)
    if (ok === true) record(out, what, 'refused')
    else record(out, what, 'accepted', (await configs()).join(' '))
  }
  // Heartbeats stamped far ahead, then R's own honest heartbeats must still count.
  for (const [what, sentAtMs] of [['heartbeat stamped MAX_SAFE_INTEGER', Number.MAX_SAFE_INTEGER], ['heartbeat stamped 10 minutes ahead', Date.now() + 600_000]] as Array<[string, number]>) {
    const f0 = (await c.V.call('stats')).sync.heartbeatsFuture as number
    await publishRaw(R, heartbeatTopic(R.options.mesh), encodeHeartbeat({ sentAtMs, load: 0, docs: [] }))
    const counted = await waitFor(async () => ((await c.V.call('stats')).sync.heartbeatsFuture as number) > f0, 'the future heartbeat to be counted', 3000).catch(() => false)
    // R's own later heartbeats still renew its lease on V (the future stamp was not recorded).
    await sleep(3500)
    const hs = await c.V.call('hostStatus', { host: R.id })
    const later = hs.status === 'alive' && (hs.silentMs ?? 1e9) < 2500
    if (counted === true && later === true) record(out, what, 'refused')
    else record(out, what, 'accepted', `counted=${String(counted)} laterAccepted=${String(later)}`)
  }
  return out
}

// ---- 4. reserved names and lone surrogates ---------------------------------------------------------

async function reservedNames (c: Cast): Promise<Category> {
  const out = category()
  const { A, D, R, V } = c
  const LONE = '\ud800'
  const refusedIf = async (what: string, fn: () => Promise<unknown>, stillAbsent: () => Promise<boolean> | boolean = () => true): Promise<void> => {
    let threw: string | undefined
    try { await fn() } catch (err) { threw = (err as { code?: string }).code ?? (err as Error).message }
    const absent = await stillAbsent()
    if (threw !== undefined && absent) record(out, what, 'refused')
    else record(out, what, 'accepted', threw === undefined ? 'no error' : `error ${threw} but state changed`)
  }
  // Registry (library entry).
  for (const id of ['__proto__', 'constructor', 'prototype']) {
    await refusedIf(`registry: agent id ${id}`, async () => await A.registry.register({ id }), async () => (await V.call('agent', { id })) === null)
  }
  const badAgents: Array<[string, Record<string, unknown>]> = [
    ['registry: capability with a lone surrogate', { id: 'rn-1', capabilities: [`${LONE}gpu`] }],
    ['registry: zone with a lone surrogate', { id: 'rn-2', zone: `eu${'\udc00'}` }],
    ['registry: metadata __proto__ key', { id: 'rn-3', metadata: JSON.parse('{"role":{"__proto__":{"admin":true}}}') }],
    ['registry: resource named constructor', { id: 'rn-4', resources: { constructor: 1 } }],
    ['registry: metadata value with a lone surrogate', { id: 'rn-5', metadata: { k: `a${LONE}` } }],
    ['registry: metadata key with a lone surrogate', { id: 'rn-6', metadata: { [`k${LONE}`]: 1 } }]
  ]
  for (const [what, agent] of badAgents) await refusedIf(what, async () => await A.registry.register(agent as never), () => A.registry.lookup(agent.id as string) === undefined)
  await refusedIf('registry: registerMany with one __proto__ id', async () => await A.registry.registerMany([{ id: 'rn-ok' }, { id: '__proto__' }]), () => A.registry.lookup('rn-ok') === undefined)
  await A.registry.register({ id: 'rn-upd' })
  await refusedIf('registry: update with metadata __proto__', async () => await A.registry.update('rn-upd', { metadata: JSON.parse('{"__proto__":{"admin":true}}') }), () => JSON.stringify(A.registry.lookup('rn-upd')?.metadata) === '{}')
  // Eventual variables.
  const ev = A.variables.eventual<unknown>('rv-1', { initial: null, merge: 'lww' })
  await refusedIf('variables: value with a __proto__ key', async () => await ev.set(JSON.parse('{"__proto__":{"admin":true}}')), () => ev.get() === null)
  await refusedIf('variables: value with a lone surrogate', async () => await ev.set(`x${LONE}`), () => ev.get() === null)
  await refusedIf('variables: initial value with a lone surrogate', async () => A.variables.eventual('rv-2', { initial: LONE, merge: 'lww' }))
  // Reserved words as variable names: accepted; harmless when every replica reads the same own value.
  try {
    const pv = A.variables.eventual<number>('__proto__', { initial: 0, merge: 'max' })
    await pv.set(7)
    const vRead = await waitFor(async () => { const r = await V.call('variable', { name: '__proto__', initial: 0, merge: 'max' }); return r.json === '7' ? r : false }, 'the __proto__ variable on V', 5000).catch(() => false)
    record(out, 'variables: eventual variable named __proto__', vRead === false ? 'accepted' : 'harmless', vRead === false ? 'reads differently on V' : 'same value on every replica')
  } catch (err) { record(out, 'variables: eventual variable named __proto__', 'refused', (err as { code?: string }).code) }
  // Strong variables (Raft).
  try {
    await A.variables.strong('constructor').set(3)
    const sRead = await waitFor(async () => (await V.call('strongRead', { name: 'constructor' })) === '3', 'the strong constructor variable on V', 5000).catch(() => false)
    record(out, 'strong variables: name constructor', sRead === true ? 'harmless' : 'accepted')
  } catch (err) { record(out, 'strong variables: name constructor', 'refused', (err as { code?: string }).code) }
  await A.variables.strong('rs-1').set(JSON.parse('{"__proto__":{"admin":true}}'))
  const sText = await waitFor(async () => await V.call<string | null>('strongRead', { name: 'rs-1' }), 'rs-1 on V', 5000).catch(() => null)
  const sVal = sText === null ? undefined : JSON.parse(sText) as Record<string, unknown>
  record(out, 'strong variables: value with a __proto__ key', sVal !== undefined && (sVal as { admin?: unknown }).admin === undefined ? 'harmless' : 'accepted', `stored ${String(sText)}`)
  // Ledger and auctions (D through the client path; A as the treasury).
  for (const acct of ['__proto__', 'constructor', 'prototype', `x${LONE}`]) {
    await refusedIf(`ledger: open account ${JSON.stringify(acct)}`, async () => await D.economy.open(acct), () => A.raft!.economy!.account(acct) === undefined)
  }
  const minted0 = A.raft!.economy!.supply().minted
  await refusedIf('ledger: treasury mint to constructor', async () => await A.economy.mint('constructor', 5), () => A.raft!.economy!.supply().minted === minted0)
  const before = A.raft!.economy!.account('d-funds')!.free
  await refusedIf('ledger: transfer to __proto__', async () => await D.economy.transfer('d-funds', '__proto__', 1), () => A.raft!.economy!.account('d-funds')!.free === before)
  await refusedIf('auctions: auction id __proto__', async () => await D.economy.openAuction({ id: '__proto__', mechanism: 'first-price', items: ['x'], durationMs: 1000 }, 'd-funds'), () => A.raft!.economy!.auction('__proto__') === undefined)
  await refusedIf('auctions: item named constructor', async () => await D.economy.openAuction({ id: 'au-1', mechanism: 'first-price', items: ['constructor'], durationMs: 1000 }, 'd-funds'), () => A.raft!.economy!.auction('au-1') === undefined)
  // The remote path: a rogue host writes straight into its own signed documents (bypassing its checks).
  const rogueWrite = async (kind: DocKind, fn: (d: Y.Doc) => void): Promise<number> => {
    const blob = R.replica.transact(kind, fn)!
    R.sync.publish(blob)
    await waitFor(async () => ((await V.call('entry', { kind, host: R.id }))?.seq ?? 0) >= blob.seq && (A.replica.entry(kind, R.id)?.seq ?? 0) >= blob.seq, 'the rogue write on the victims', 10_000)
    return blob.seq
  }
  const agentValue = (metadata: unknown): Record<string, unknown> => ({ capabilities: ['x'], resources: {}, health: 'healthy', metadata, updatedAt: Date.now(), claimedAt: Date.now() })
  for (const id of ['__proto__', 'constructor', 'prototype']) {
    await rogueWrite('reg', (d) => { d.getMap('agents').set(id, agentValue({})) })
    const held = [A.registry.lookup(id)?.host, (await V.call('agent', { id }))?.host]
    record(out, `remote: agent id ${id} in the rogue's own document`, held.every(h => h === undefined) ? 'refused' : 'accepted', `hosts ${JSON.stringify(held)}`)
  }
  await rogueWrite('reg', (d) => { d.getMap('agents').set('rp-1', agentValue({ role: JSON.parse('{"__proto__":{"admin":true}}') })) })
  const rp = await V.call('agent', { id: 'rp-1', path: 'role' })
  const rpA = A.registry.lookup('rp-1')?.metadata as Record<string, any> | undefined
  record(out, 'remote: nested __proto__ key in agent metadata (becomes a prototype on receivers)', rp === null ? 'refused' : (rp.inheritedAdmin === true || rpA?.role?.admin === true ? 'accepted' : 'refused'),
    rp === null ? undefined : `victim V: metadata ${String(rp.json)} but metadata.role.admin === ${String(rp.inheritedAdmin)} (inherited); host R holds ${JSON.stringify(R.registry.lookup('rp-1')?.metadata)}`)
  await V.call('variable', { name: 'rp-var', initial: null })
  const rpVar = A.variables.eventual<unknown>('rp-var', { initial: null, merge: 'lww' })
  await rogueWrite('var', (d) => { d.getMap('vars').set('rp-var', { v: JSON.parse('{"__proto__":{"admin":true}}'), t: [Date.now(), 0], w: 1, m: 'lww' }) })
  const vv = await V.call('variable', { name: 'rp-var', initial: null })
  record(out, 'remote: __proto__ key in an eventual variable value (becomes a prototype on receivers)', vv.inheritedAdmin === true || (rpVar.get() as { admin?: unknown } | null)?.admin === true ? 'accepted' : 'refused',
    `victim V reads ${String(vv.json)} with .admin === ${String(vv.inheritedAdmin)}`)
  await V.call('variable', { name: 'rp-big', initial: null })
  A.variables.eventual<unknown>('rp-big', { initial: null, merge: 'lww' })
  await rogueWrite('var', (d) => { d.getMap('vars').set('rp-big', { v: 10n, t: [Date.now(), 0], w: 1, m: 'lww' }) }).catch(() => {})
  await sleep(300)
  const bigV = await V.call('variable', { name: 'rp-big', initial: null })
  let declareErr: string | undefined
  try { c.M.variables.eventual<unknown>('rp-big', { initial: null, merge: 'lww' }) } catch (err) { declareErr = (err as Error).message }
  record(out, 'remote: BigInt eventual-variable value (not JSON; lib0 decodes it)', declareErr === undefined && bigV.ok === true && bigV.type !== 'bigint' ? 'refused' : 'accepted',
    `declaring rp-big on a replica holding it: ${declareErr ?? 'ok'}; victim V: ${bigV.ok === true ? `value type ${String(bigV.type)}` : String(bigV.error)}`)
  await rogueWrite('reg', (d) => { d.getMap('agents').set('rp-2', agentValue({ n: 10n })) })
  record(out, 'remote: BigInt in agent metadata', (await V.call('agent', { id: 'rp-2' })) === null && A.registry.lookup('rp-2') === undefined ? 'refused' : 'accepted')
  await rogueWrite('reg', (d) => { d.getMap('agents').set('rp-3', { ...agentValue({}), capabilities: [`${LONE}gpu`] }) })
  const caps = [JSON.stringify(A.registry.lookup('rp-3')?.capabilities), JSON.stringify(c.M.registry.lookup('rp-3')?.capabilities)]
  record(out, 'remote: lone surrogate in the rogue\'s own capability (receivers all read U+FFFD; only the rogue\'s own view differs)', caps[0] === caps[1] ? 'harmless' : 'accepted', `receivers ${caps.join(' / ')}`)
  // HTTP (the daemon).
  const H = c.H!
  const h400 = async (what: string, method: string, path: string, body: string | undefined, absent: () => Promise<boolean>): Promise<void> => {
    const r = await http(H, method, path, body)
    if (r.status >= 400 && r.status < 500 && await absent()) record(out, `http: ${what}`, 'refused')
    else record(out, `http: ${what}`, 'accepted', `${r.status} ${JSON.stringify(r.json).slice(0, 160)}`)
  }
  const agentAbsent = (id: string) => async () => (await http(H, 'GET', `/v1/agents/${encodeURIComponent(id)}`)).status === 404
  await h400('POST /v1/agents id __proto__', 'POST', '/v1/agents', '{"id":"__proto__"}', async () => true)
  await h400('POST /v1/agents id constructor', 'POST', '/v1/agents', '{"id":"constructor"}', agentAbsent('constructor'))
  await h400('POST /v1/agents metadata __proto__ key', 'POST', '/v1/agents', '{"id":"h1","metadata":{"__proto__":{"admin":true}}}', agentAbsent('h1'))
  await h400('POST /v1/agents capability with \\ud800', 'POST', '/v1/agents', '{"id":"h2","capabilities":["\\ud800gpu"]}', agentAbsent('h2'))
  await h400('POST /v1/agents body key with \\udc00', 'POST', '/v1/agents', '{"id":"h3","metadata":{"k\\udc00":1}}', agentAbsent('h3'))
  await h400('PUT eventual value with __proto__ key', 'PUT', '/v1/variables/eventual/hv1', '{"value":{"__proto__":{"a":1}}}', async () => (await http(H, 'GET', '/v1/variables/eventual/hv1')).json?.value === null)
  await h400('PUT eventual value \\udfff', 'PUT', '/v1/variables/eventual/hv2', '{"value":"\\udfff"}', async () => (await http(H, 'GET', '/v1/variables/eventual/hv2')).json?.value === null)
  await h400('PUT strong value with __proto__ key', 'PUT', '/v1/variables/strong/hs1', '{"value":{"__proto__":{"a":1}}}', async () => (await http(H, 'GET', '/v1/variables/strong/hs1')).json?.value == null)
  await h400('GET eventual with initial={"__proto__":1}', 'GET', `/v1/variables/eventual/hv3?initial=${encodeURIComponent('{"__proto__":1}')}`, undefined, async () => true)
  for (const acct of ['__proto__', 'constructor']) {
    await h400(`POST /v1/ledger/accounts ${acct}`, 'POST', '/v1/ledger/accounts', JSON.stringify({ account: acct }), async () => (await http(H, 'GET', `/v1/ledger/accounts/${acct}`)).status === 404)
  }
  await h400('POST /v1/ledger/accounts "a\\ud800"', 'POST', '/v1/ledger/accounts', '{"account":"a\\ud800"}', async () => true)
  await h400('GET /v1/agents/constructor (nothing leaks)', 'GET', '/v1/agents/constructor', undefined, async () => true)
  await h400('GET /v1/ledger/accounts/constructor (nothing leaks)', 'GET', '/v1/ledger/accounts/constructor', undefined, async () => true)
  await h400('GET /v1/auctions/__proto__ (nothing leaks)', 'GET', '/v1/auctions/__proto__', undefined, async () => true)
  await h400('GET /v1/agents/%ED%A0%80 (lone surrogate as UTF-8 bytes)', 'GET', '/v1/agents/%ED%A0%80', undefined, async () => true)
  await h400('GET /v1/agents/%E0 (malformed percent-encoding)', 'GET', '/v1/agents/%E0', undefined, async () => true)
  const pe = await http(H, 'PUT', '/v1/variables/eventual/__proto__', '{"value":5,"merge":"max"}')
  const pg = await http(H, 'GET', '/v1/variables/eventual/__proto__')
  record(out, 'http: PUT/GET eventual variable named __proto__', pe.status >= 400 ? 'refused' : (pg.json?.value === 5 ? 'harmless' : 'accepted'), `${pe.status} then ${JSON.stringify(pg.json)}`)
  return out
}

// ---- 5. client-path forgeries (R, outside the group) -----------------------------------------------

async function clientPath (c: Cast, f: Fixtures): Promise<Category> {
  const out = category()
  const { A, R, D } = c
  const e = f.transfer
  const rs = signerOf(R)
  const member = A.id
  const balances = (): string => JSON.stringify([A.raft!.economy!.account('d-funds')?.free, A.raft!.economy!.account('r-acct')?.free, A.raft!.economy!.account('m-shop')?.free, A.raft!.economy!.supply().minted, A.raft!.economy!.account('d-funds')?.owner])
  const b0 = balances()
  let seq = 1000
  const send = async (what: string, command: Uint8Array, opts: { c?: string, s?: number, g?: Uint8Array | 'self' } = {}): Promise<void> => {
    const cs = opts.c ?? 'probe'
    const s = opts.s ?? ++seq
    const g = opts.g === 'self' ? rs.sign(signedPayload(`${R.id}/${cs}`, s, command)) : opts.g
    const req = { t: 'propose', c: cs, s, d: Buffer.from(command).toString('base64'), ...(g !== undefined ? { g: Buffer.from(g).toString('base64') } : {}) }
    let res: { ok: boolean, code?: string, r?: unknown, i?: number }
    try { res = await clientRequest(R, member, req) } catch (err) { res = { ok: false, code: `transport: ${(err as Error).message}` } }
    if (res.ok && res.i !== undefined) await waitFor(() => A.raft!.status().applied >= res.i!, 'the entry applied', 5000).catch(() => {})
    const changed = balances() !== b0
    const appliedOk = res.ok && (res.r as { ok?: boolean } | null)?.ok === true
    if (!changed && !appliedOk) record(out, what, 'refused')
    else record(out, what, 'accepted', `${JSON.stringify(res).slice(0, 200)} balances ${balances()}`)
  }
  const steal = encodeEconCommand({ type: 'transfer', by: 'd-funds', from: 'd-funds', to: 'r-acct', amount: 100 })
  await send('transfer from the victim\'s account, unsigned', steal)
  await send('transfer from the victim\'s account, signed by the rogue', steal, { g: 'self' })
  await send('transfer from the victim\'s account with the victim\'s signature of another command', steal, { g: e.signature! })
  await send('victim\'s signed transfer replayed (same c, s, d, g) from the rogue\'s connection', e.command, { c: e.clientId.slice(D.id.length + 1), s: e.seq, g: e.signature! })
  await send('session suffix naming the victim ("x/../<victim>")', steal, { c: `x/../${D.id}`, g: 'self' })
  await send('treasury mint, signed by the rogue', encodeEconCommand({ type: 'mint', by: 'treasury', account: 'r-acct', amount: 1_000_000 }), { g: 'self' })
  await send('economy genesis from a client', encodeEconCommand({ type: 'economy.genesis', authorities: [R.id], signatures: 'required' }), { g: 'self' })
  await send('assign the victim\'s account to the rogue', encodeEconCommand({ type: 'account.assign', by: 'treasury', account: 'd-funds', owner: R.id }), { g: 'self' })
  await send('stake the victim\'s account', encodeEconCommand({ type: 'stake', by: 'd-funds', account: 'd-funds', amount: 50 }), { g: 'self' })
  // Malformed-but-decodable requests: session/seq edge values.
  for (const [what, req] of [
    ['seq 0', { t: 'propose', c: 'z', s: 0, d: Buffer.from(steal).toString('base64') }],
    ['non-canonical base64 command', { t: 'propose', c: 'z', s: 5, d: Buffer.from(steal).toString('base64').replace(/=+$/, '') }],
    ['signature of 200 bytes', { t: 'propose', c: 'z', s: 6, d: Buffer.from(steal).toString('base64'), g: Buffer.from(new Uint8Array(200)).toString('base64') }],
    ['session suffix of 129 characters', { t: 'propose', c: 'c'.repeat(129), s: 7, d: Buffer.from(steal).toString('base64') }]
  ] as Array<[string, unknown]>) {
    let res: { ok: boolean, code?: string }
    try { res = await clientRequest(R, member, req) } catch (err) { res = { ok: false, code: (err as Error).message } }
    record(out, `request with ${what}`, !res.ok && balances() === b0 ? 'refused' : 'accepted', JSON.stringify(res).slice(0, 120))
  }
  return out
}

// ---- 6. forged economy commands through a member (M) ----------------------------------------------

async function economyThroughMember (c: Cast, f: Fixtures): Promise<Category> {
  const out = category()
  const { A, M, D, V } = c
  const driver = M.raft!.driver!
  const e = f.transfer
  const ms = signerOf(M)
  const stranger = createSigner('x', await generateKeyPair('Ed25519'))
  const view = async (): Promise<string> => {
    const a = A.raft!.economy!
    const v = await V.call('account', { id: 'd-funds' })
    const vs = await V.call('account', { id: 'm-shop' })
    return JSON.stringify([a.account('d-funds')?.free, a.account('m-shop')?.free, a.account('m-loot')?.free ?? null, a.supply().minted, a.account('d-funds')?.owner, v?.free, vs?.free])
  }
  const v0 = await view()
  const prop = async (what: string, command: Uint8Array, session: { clientId: string, seq: number }, sig?: Uint8Array, documented = false): Promise<void> => {
    let r: { index: number, result: unknown } | undefined
    let err: string | undefined
    try { r = await driver.propose(command, session, sig) } catch (x) { err = (x as Error).message }
    if (r !== undefined) await waitFor(async () => A.raft!.status().applied >= r!.index && (await V.call('status')).raft.applied >= r!.index, 'every voter to apply', 10_000).catch(() => {})
    const now = await view()
    if (now === v0) record(out, what, 'refused')
    else record(out, what, documented ? 'documentedLimit' : 'accepted', `result ${JSON.stringify(r?.result ?? err).slice(0, 160)}; [d-funds, m-shop, m-loot, minted, owner, V d-funds, V m-shop] ${v0} → ${now}`)
  }
  const loot = encodeEconCommand({ type: 'transfer', by: 'd-funds', from: 'd-funds', to: 'm-shop', amount: 500 })
  const mint = encodeEconCommand({ type: 'mint', by: 'treasury', account: 'm-loot', amount: 1_000_000, owner: M.id })
  const dSession = { clientId: `${D.id}/forged`, seq: 1 }
  const aSession = { clientId: `${A.id}/forged`, seq: 1 }
  await prop('unsigned transfer under the victim\'s session', loot, dSession)
  await prop('transfer under the victim\'s session signed by the member\'s key', loot, dSession, ms.sign(signedPayload(dSession.clientId, dSession.seq, loot)))
  await prop('transfer under the victim\'s session signed by a stranger', loot, dSession, stranger.sign(signedPayload(dSession.clientId, dSession.seq, loot)))
  await prop('unsigned treasury mint under the authority\'s session', mint, aSession)
  await prop('treasury mint under the authority\'s session signed by the member', mint, aSession, ms.sign(signedPayload(aSession.clientId, aSession.seq, mint)))
  await prop('victim\'s signed transfer replayed with a new seq', e.command, { clientId: e.clientId, seq: e.seq + 1000 }, e.signature)
  await prop('victim\'s signature on a changed command (amount)', loot, { clientId: e.clientId, seq: e.seq }, e.signature)
  await prop('victim\'s signed transfer replayed under another session of the victim', e.command, { clientId: `${D.id}/other`, seq: e.seq }, e.signature)
  await prop('victim\'s signed transfer replayed as is (session remembers it)', e.command, { clientId: e.clientId, seq: e.seq }, e.signature)
  await prop('member assigns the victim\'s account to itself (its own signed session)', encodeEconCommand({ type: 'account.assign', by: 'treasury', account: 'd-funds', owner: M.id }), driver.newSession())
  await prop('member transfers from the victim\'s account (its own signed session)', loot, driver.newSession())
  // The documented limit (protocols/raft/README.md, "Faults the group survives"): once the victim's session
  // is pushed out of the 10,000 remembered, its signed command applies again. Sessions of made-up origins.
  const t0 = Date.now()
  const set = enc.encode(JSON.stringify({ op: 'set', name: 'evict', value: '1' }))
  const N = 10_050
  for (let i = 0; i < N; i += 1000) {
    await Promise.all(Array.from({ length: Math.min(1000, N - i) }, async (_, k) => await driver.propose(set, { clientId: `evict${i + k}/s`, seq: 1 }).catch(() => {})))
  }
  out.notes.push(`session eviction: ${N} one-command sessions of made-up origins proposed by the member in ${Date.now() - t0} ms`)
  await prop('victim\'s signed transfer replayed as is after its session was pushed out (10,050 made-up sessions)', e.command, { clientId: e.clientId, seq: e.seq }, e.signature, true)
  return out
}

// ---- 7. HTTP tokens ------------------------------------------------------------------------------

async function httpTokens (c: Cast): Promise<Category> {
  const out = category()
  const H = c.H!
  const t = H.token
  const variants: Array<[string, Record<string, string> | null]> = [
    ['no Authorization header', null],
    ['"Bearer" alone', { authorization: 'Bearer' }],
    ['"Bearer " and an empty token', { authorization: 'Bearer ' }],
    ['wrong token of the same length', { authorization: `Bearer ${t.slice(0, -1)}${t.endsWith('a') ? 'b' : 'a'}` }],
    ['token prefix', { authorization: `Bearer ${t.slice(0, 8)}` }],
    ['token with a suffix', { authorization: `Bearer ${t}x` }],
    ['token without "Bearer "', { authorization: t }],
    ['lower-case scheme', { authorization: `bearer ${t}` }],
    ['Basic scheme', { authorization: `Basic ${Buffer.from(`agora:${t}`).toString('base64')}` }],
    ['token in X-Api-Key', { 'x-api-key': t }]
  ]
  const routes: Array<[string, string, string | undefined]> = [
    ['GET', '/v1/status', undefined],
    ['GET', '/metrics', undefined],
    ['POST', '/v1/agents', '{"id":"tok-probe"}'],
    ['PUT', '/v1/variables/strong/tok-probe', '{"value":1}'],
    ['PUT', '/v1/variables/eventual/tok-probe', '{"value":1}'],
    ['POST', '/v1/ledger/accounts', '{"account":"tok-probe"}'],
    ['GET', '/v1/events', undefined],
    ['GET', '/v1/agents?capability=x', undefined]
  ]
  for (const [what, headers] of variants) {
    for (const [method, path, body] of routes) {
      const h = headers === null ? null : { 'content-type': 'application/json', ...headers }
      let status: number
      try {
        const res = await fetch(`http://${H.http}${path}`, { method, headers: h === null ? { 'content-type': 'application/json' } : h, ...(body !== undefined ? { body } : {}), signal: AbortSignal.timeout(5000) })
        status = res.status
        await res.body?.cancel().catch(() => {})
      } catch (err) { status = -1; void err }
      record(out, `${what}: ${method} ${path}`, status === 401 ? 'refused' : 'accepted', String(status))
    }
  }
  // Also with the token as a query parameter.
  const q = await fetch(`http://${H.http}/v1/status?token=${t}`, { signal: AbortSignal.timeout(5000) })
  record(out, 'token as a query parameter: GET /v1/status', q.status === 401 ? 'refused' : 'accepted', String(q.status))
  // Nothing was written by the unauthorized requests.
  const agent = await http(H, 'GET', '/v1/agents/tok-probe')
  const strong = await http(H, 'GET', '/v1/variables/strong/tok-probe')
  const account = await http(H, 'GET', '/v1/ledger/accounts/tok-probe')
  if (agent.status !== 404 || strong.json?.value != null || account.status !== 404) out.notes.push(`state after the unauthorized requests: agent ${agent.status}, strong ${JSON.stringify(strong.json)}, account ${account.status}`)
  out.notes.push('GET /health and GET /ready answer without a token by design: they reveal only state (not counted)')
  return out
}

// ---- 8. malformed frames on every stream protocol and gossip topic -------------------------------------

async function malformedFrames (c: Cast): Promise<Record<string, unknown>> {
  const corpora = loadCorpora()
  const { M, R, V, A } = c
  const target = peerIdFromString(c.vId)
  const mesh = M.options.mesh
  const per: Record<string, Category> = {}
  const stats = async (): Promise<any> => await V.call('stats')
  const hostCases = (p: string): Corpus['cases'] => (corpora.get(p)?.cases ?? []).filter(x => x.decoder !== 'response' && x.decoder !== 'reply')
  const open = async (protocol: string): Promise<Stream> => await M.libp2p.dialProtocol(target, protocol, { signal: AbortSignal.timeout(5000) })
  const send = async (protocol: string, x: Corpus['cases'][number], before: Uint8Array[] = []): Promise<Stream> => {
    const stream = await open(protocol)
    if (x.layer === 'stream') await byteStream(stream).write(hexBytes(x.hex), { signal: AbortSignal.timeout(5000) })
    else {
      const lp = framedStream(stream, 512 * 1024 * 1024)
      for (const fr of [...before, hexBytes(x.hex)]) await lp.write(fr, { signal: AbortSignal.timeout(5000) })
    }
    return stream
  }
  const counted = async (read: (s: any) => number, n0: number, what: string): Promise<boolean> => await waitFor(async () => read(await stats()) > n0, what, 5000, 20).then(() => true, () => false)
  // sync
  per.sync = category()
  for (const x of hostCases('sync')) {
    const read = (s: any): number => s.sync.syncFailed + s.sync.syncRejected
    const n0 = read(await stats())
    const first = x.layer === 'stream' || hexBytes(x.hex)[0] === FRAME_DIGEST ? [] : [frame(FRAME_DIGEST, encodeDigest([]))]
    const stream = await send(syncProtocol(mesh), x, first).catch(() => undefined)
    const ok = await counted(read, n0, `sync/${x.name}`)
    stream?.abort(new Error('done'))
    record(per.sync, x.name, ok ? 'refused' : 'accepted', ok ? undefined : 'not counted by the target')
  }
  // raft (M is a voter: its frames are read)
  per.raft = category()
  {
    const read = (s: any): number => s.raftTransport.droppedMalformed
    const msgs = hostCases('raft').filter(x => x.layer !== 'stream')
    const stream = await open(raftProtocol(mesh))
    const lp = framedStream(stream, 512 * 1024 * 1024)
    for (const x of msgs) {
      const n0 = read(await stats())
      await lp.write(hexBytes(x.hex), { signal: AbortSignal.timeout(5000) }).catch(() => {})
      record(per.raft, x.name, await counted(read, n0, `raft/${x.name}`) ? 'refused' : 'accepted', 'not counted')
    }
    stream.abort(new Error('done'))
    for (const x of hostCases('raft').filter(x => x.layer === 'stream')) {
      const n0 = read(await stats())
      const s = await send(raftProtocol(mesh), x).catch(() => undefined)
      record(per.raft, x.name, await counted(read, n0, `raft/${x.name}`) ? 'refused' : 'accepted', 'not counted')
      s?.abort(new Error('done'))
    }
  }
  // raft-client
  per.raftClient = category()
  for (const x of hostCases('raft-client')) {
    let res: { ok?: boolean, code?: string } = {}
    try {
      const stream = await send(raftClientProtocol(mesh), x)
      const lp = framedStream(x.layer === 'stream' ? byteStream(stream).unwrap() : stream, 1024 * 1024)
      res = JSON.parse(dec.decode((await lp.read({ signal: AbortSignal.timeout(10_000) })).subarray())) as typeof res
      stream.abort(new Error('done'))
    } catch (err) { res = { code: `no answer: ${(err as Error).message}` } }
    record(per.raftClient, x.name, res.ok === false && res.code === 'ERR_DECODE' ? 'refused' : 'accepted', JSON.stringify(res))
  }
  // auction
  per.auction = category()
  for (const x of hostCases('auction')) {
    const read = (s: any): number => s.economy.malformedFrames
    const n0 = read(await stats())
    const stream = await send(auctionProtocol(mesh), x).catch(() => undefined)
    const ok = await counted(read, n0, `auction/${x.name}`)
    stream?.abort(new Error('done'))
    record(per.auction, x.name, ok ? 'refused' : 'accepted', 'not counted')
  }
  // gossip topics, published by R
  per.crdtGossip = category()
  for (const x of hostCases('crdt-gossip')) {
    const read = (s: any): number => s.sync.gossipRejected + s.sync.gossipIgnored + s.sync.gossipDuplicates
    const n0 = read(await stats())
    const d0 = JSON.stringify(await V.call('entry', { kind: 'reg', host: c.D.id }))
    await publishRaw(R, crdtTopic(mesh), hexBytes(x.hex))
    const ok = await counted(read, n0, `crdt-gossip/${x.name}`)
    const d1 = JSON.stringify(await V.call('entry', { kind: 'reg', host: c.D.id }))
    record(per.crdtGossip, x.name, d0 === d1 ? 'refused' : 'accepted', d0 === d1 ? undefined : `${d0} → ${d1}`)
    if (!ok) per.crdtGossip.notes.push(`${x.name}: not counted by the target (dropped before the validator?)`)
  }
  per.heartbeat = category()
  for (const x of hostCases('heartbeat')) {
    const read = (s: any): number => s.sync.heartbeatsRejected + s.sync.heartbeatsStale + s.sync.heartbeatsFuture
    const n0 = read(await stats())
    await publishRaw(R, heartbeatTopic(mesh), hexBytes(x.hex))
    const ok = await counted(read, n0, `heartbeat/${x.name}`)
    record(per.heartbeat, x.name, 'refused')
    if (!ok) per.heartbeat.notes.push(`${x.name}: not counted by the target (dropped before the validator?)`)
  }
  // Raft entries: envelope cases proposed raw by the member M (every replica must skip them alike).
  per.raftEntry = category()
  for (const x of (corpora.get('raft-entry')?.cases ?? []).filter(y => y.decoder === 'envelope' || y.decoder === undefined)) {
    const m0 = A.raft!.driver!.replica.stats.malformed
    const s0 = JSON.stringify(A.raft!.economy!.supply())
    const reason = M.raft!.driver!.submitRaw(hexBytes(x.hex))
    const ok = reason === undefined && await waitFor(() => A.raft!.driver!.replica.stats.malformed > m0, 'the entry skipped', 5000).then(() => true, () => false)
    record(per.raftEntry, x.name, JSON.stringify(A.raft!.economy!.supply()) === s0 ? 'refused' : 'accepted')
    if (!ok) per.raftEntry.notes.push(`${x.name}: not counted as malformed on A (${String(reason ?? 'no refusal')})`)
  }
  const total = { tried: 0, refused: 0, accepted: 0 }
  const outPer: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(per)) { total.tried += v.tried; total.refused += v.refused; total.accepted += v.accepted; outPer[k] = compact(v) }
  return { total, ...outPer, victimAlive: V.alive }
}

// ---- 9. floods -----------------------------------------------------------------------------------

interface FloodResult {
  seconds: number
  rogueSent: Record<string, number>
  victim: Record<string, number | boolean | string>
  perMinute: Record<string, number>
}

async function runFloods (c: Cast): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {
    note: 'Measured on the victim V (its own process, data dir, Raft voter) with the default limits, each flood by a fresh rogue identity. perMinute = window delta × 60 / window seconds (MiB). RSS is after global.gc() in the victim (it keeps memory freed earlier, so it is noisy); liveHeapAndExternal is the V8 heap in use plus external buffers, also after the GC. A document that reached docBytesMax (heldCapped) stops growing until the rogue compacts, so its per-minute figure is a burst bounded by 64 MiB per document, not a sustained rate. The rogues of floods a-c sign updates straight from a scratch Yjs document (no checkpoints); a gossips them, b and c push them through anti-entropy exchanges (ordered, flow-controlled: gossip drops under load leave a gap such a rogue cannot fill). After each flood its rogue stops and the victim prunes it before the next. 2 cores are shared by the victim, the rogue and the other peers (A, M, D also receive the flood through V).',
    limits: { docBytesMax: '64 MiB', hostUpdateBytesPerSecondMax: '4 MiB/s', hostUpdateBytesBurstMax: '64 MiB', clientBytesPerSecondPerMember: '1 MiB/s', clientRequestsPerSecondPerMember: 200 }
  }
  const flood = async (label: string, run: (r: Peer, deadline: number) => Promise<Record<string, number>>, connect: Array<string> = [c.vAddr], last = false): Promise<FloodResult> => {
    progress(`flood ${label}`)
    const r = await createPeer({ ...BASE, limits: { agentsPerHostMax: 10_000_000, variablesPerHostMax: 10_000_000 } })
    c.extra.push(r)
    for (const a of connect) await r.dial(a)
    await sleep(1500)
    const m0 = await c.V.call<VictimMeasure>('measure', { hosts: [r.id] })
    const t0 = Date.now()
    const sent = await run(r, t0 + FLOOD_S * 1000)
    const seconds = (Date.now() - t0) / 1000
    // Let what is in flight land.
    await sleep(3000)
    const m1 = await c.V.call<VictimMeasure>('measure', { hosts: [r.id] }, 120_000)
    // The rogue goes silent; the next flood starts once the victim pruned its registry document (so it
    // frees nothing the next flood measures). Variables documents are never pruned (crdt/README.md:
    // a dead host's contribution still counts): what flood c added stays.
    await r.stop()
    const pruned = last ? 'not awaited' : await waitFor(async () => (await c.V.call('hostStatus', { host: r.id })).docBytes.reg === 0, 'the victim to prune the rogue', 25_000, 250).then(() => true, () => false)
    const held = (m: VictimMeasure): number => m.docBytes[r.id]!.reg + m.docBytes[r.id]!.var
    const usage = m1.hostUsage[r.id] as { overQuota: boolean, rejectedBlobs: number, rejectedBytes: number }
    const victim = {
      rssDeltaBytes: m1.rss - m0.rss,
      heapUsedDeltaBytes: m1.heapUsed - m0.heapUsed,
      externalDeltaBytes: m1.external - m0.external,
      heldBytesForRogue: held(m1),
      heldCapped: usage.overQuota,
      dbBytesForRogue: m1.dbDocBytes[r.id]!,
      dataDirDeltaBytes: m1.dirBytes - m0.dirBytes,
      raftLogDeltaBytes: m1.dbRaftBytes - m0.dbRaftBytes,
      raftEntriesCommitted: (m1.raft?.commit ?? 0) - (m0.raft?.commit ?? 0),
      strongVariablesAdded: m1.strongVariables - m0.strongVariables,
      agentsAdded: m1.agents - m0.agents,
      rejectedBlobs: usage.rejectedBlobs,
      rejectedBytes: usage.rejectedBytes,
      prunedAfter: pruned
    }
    const pm = (x: number): number => Number((x * 60 / seconds / MiB).toFixed(1))
    return {
      seconds: Number(seconds.toFixed(1)),
      rogueSent: sent,
      victim,
      perMinute: { rssMiB: pm(victim.rssDeltaBytes), liveHeapAndExternalMiB: pm(victim.heapUsedDeltaBytes + victim.externalDeltaBytes), heldMiB: pm(victim.heldBytesForRogue), docStoreMiB: pm(victim.dbBytesForRogue), dataDirMiB: pm(victim.dataDirDeltaBytes), raftLogMiB: pm(victim.raftLogDeltaBytes) }
    }
  }

  /** Paces a loop at `bytesPerSecond`, yielding to the event loop at least once per turn. */
  const pace = async (t0: number, sent: number, bytesPerSecond: number): Promise<void> => {
    const ahead = sent / bytesPerSecond * 1000 - (Date.now() - t0)
    if (ahead > 0) await sleep(ahead)
    else await tick()
  }

  /**
   * A rogue that signs its own updates straight from a scratch Yjs document (no checkpoints, no local
   * replica work): the cheapest way to push bytes at the victims. `fill` writes one update's content.
   */
  const signedFlood = (kind: DocKind, bytesPerSecond: number | undefined, via: 'gossip' | 'sync', fill: (d: Y.Doc, n: number) => number) => async (r: Peer, deadline: number): Promise<Record<string, number>> => {
    const scratch = new Y.Doc()
    let captured: Uint8Array | undefined
    scratch.on('update', (u: Uint8Array) => { captured = u })
    const inc = r.replica.local(kind).incarnation
    let seq = r.replica.local(kind).seq
    const signer = signerOf(r)
    const topic = crdtTopic(r.options.mesh)
    const t0 = Date.now()
    let sent = 0
    let updates = 0
    let items = 0
    let exchanges = 0
    let failedExchanges = 0
    // Through anti-entropy: the victim's own digest (so it sends nothing back), then our blobs in order,
    // a few MB per exchange (stream flow control paces us; nothing is lost to a gap).
    const vDigest = via === 'sync' ? encodeDigest(await c.V.call('digest')) : undefined
    let batch: Uint8Array[] = []
    let batchBytes = 0
    const flush = async (): Promise<void> => {
      if (batch.length === 0) return
      exchanges++
      await injectViaSync(r, c.vId, batch, vDigest).catch(() => { failedExchanges++ })
      batch = []
      batchBytes = 0
    }
    while (Date.now() < deadline) {
      captured = undefined
      scratch.transact(() => { items += fill(scratch, items) })
      const blob = forgeBlob(r.options.mesh, signer, TAG_UPDATE, kind, r.id, inc, ++seq, captured!)
      if (via === 'gossip') await publishRaw(r, topic, blob)
      else { batch.push(blob); batchBytes += blob.length; if (batchBytes >= 4 * MiB) await flush() }
      sent += blob.length
      updates++
      if (bytesPerSecond !== undefined) await pace(t0, sent, bytesPerSecond)
      else await tick()
    }
    await flush()
    scratch.destroy()
    return via === 'gossip' ? { updates, items, bytes: sent } : { updates, items, bytes: sent, syncExchanges: exchanges, failedExchanges }
  }

  out.largeUpdates = await flood('a: large updates to its own document (~0.9 MB each, paced at 8 MiB/s: twice the rate quota)', signedFlood('reg', 8 * MiB, 'gossip', (d, n) => {
    d.getMap('junk').set(`k${n}`, randomBytes(675 * 1024).toString('base64'))
    return 1
  }))
  const now = Date.now()
  out.manyAgents = await flood('b: many agents (4,000 valid descriptors per update, pushed through anti-entropy exchanges as fast as the victim reads)', signedFlood('reg', undefined, 'sync', (d, n) => {
    const m = d.getMap('agents')
    for (let k = 0; k < 4000; k++) m.set(`fa-${n + k}`, { capabilities: [`cap-${(n + k) % 64}`], resources: { cpu: (n + k) % 16 }, health: 'healthy', metadata: { n: n + k }, updatedAt: now, claimedAt: now })
    return 4000
  }))
  out.variableContributions = await flood('c: eventual-variable contributions (800 names of 1 KB per update, pushed through anti-entropy exchanges as fast as the victim reads)', signedFlood('var', undefined, 'sync', (d, n) => {
    const m = d.getMap('vars')
    const t = Date.now()
    const value = 'v'.repeat(1000)
    for (let k = 0; k < 800; k++) m.set(`fv-${n + k}`, { v: value, t: [t, k], w: 1, m: 'lww' })
    return 800
  }))
  out.clientCommands = await flood('d: client-path commands to every member', async (r, deadline) => {
    const members = [c.A.id, c.vId, c.M.id]
    const value = JSON.stringify('x'.repeat(60_000))
    let accepted = 0
    let acceptedBytes = 0
    let limited = 0
    let failed = 0
    let n = 0
    const sess = 'flood'
    let seq = 0
    await Promise.all(members.flatMap(m => Array.from({ length: 8 }, async () => {
      while (Date.now() < deadline) {
        const command = enc.encode(JSON.stringify({ op: 'set', name: `fl-${n++}`, value }))
        try {
          const res = await clientRequest(r, m, { t: 'propose', c: sess, s: ++seq, d: Buffer.from(command).toString('base64') }, 6000)
          if (res.ok) { accepted++; acceptedBytes += command.length } else if (res.code === 'ERR_RATE_LIMITED') { limited++; await sleep(20) } else { failed++; await sleep(20) }
        } catch { failed++; await sleep(50) }
      }
    })))
    return { accepted, acceptedBytes, rateLimited: limited, failed }
  }, [c.vAddr, c.A.addresses()[0]!, c.M.addresses()[0]!], true)
  return out
}

// ---- 10. crashes and hangs -----------------------------------------------------------------------

async function finalLiveness (c: Cast): Promise<Record<string, unknown>> {
  progress('final liveness')
  const { A, V, D, M } = c
  const checks: Record<string, boolean | string> = {}
  const attempt = async (k: string, fn: () => Promise<unknown>): Promise<void> => {
    try { await fn(); checks[k] = true } catch (err) { checks[k] = `failed: ${(err as Error).message}` }
  }
  await attempt('V registry write propagates to A', async () => { await V.call('register', { agent: { id: 'final-v', capabilities: ['final'] } }); await waitFor(() => A.registry.lookup('final-v')?.host === c.vId, 'final-v on A', 20_000) })
  await attempt('A registry write propagates to V', async () => { await A.registry.register({ id: 'final-a', capabilities: ['final'] }); await waitFor(async () => (await V.call('agent', { id: 'final-a' }))?.host === A.id, 'final-a on V', 20_000) })
  await attempt('D registry write propagates to V and A', async () => { await D.registry.register({ id: 'final-d', capabilities: ['final'] }); await waitFor(async () => (await V.call('agent', { id: 'final-d' }))?.host === D.id && A.registry.lookup('final-d') !== undefined, 'final-d on V and A', 20_000) })
  await attempt('V Raft write commits', async () => { await V.call('strongSet', { name: 'final-v', value: 1 }, 20_000); await waitFor(() => A.raft!.app?.read('final-v') === '1', 'final-v applied on A', 10_000) })
  await attempt('A Raft write commits', async () => { await A.variables.strong('final-a').set(2); await waitFor(async () => (await V.call('strongRead', { name: 'final-a' })) === '2', 'final-a applied on V', 10_000) })
  await attempt('D client-path write commits', async () => { await D.variables.strong('final-d').set(3); await waitFor(async () => (await V.call('strongRead', { name: 'final-d' })) === '3', 'final-d applied on V', 10_000) })
  await attempt('D economy command commits', async () => { await D.economy.transfer('d-funds', 'd-spare', 1) })
  const H = c.H!
  await attempt('daemon ready', async () => { const r = await http(H, 'GET', '/ready'); if (r.status !== 200) throw new Error(String(r.status)) })
  await attempt('daemon registry write', async () => { const r = await http(H, 'POST', '/v1/agents', '{"id":"final-h"}'); if (r.status !== 201) throw new Error(String(r.status)) })
  await attempt('daemon Raft write', async () => { const r = await http(H, 'PUT', '/v1/variables/strong/final-h', '{"value":1}'); if (r.status !== 200) throw new Error(String(r.status)) })
  const vStatus = await V.call('status').catch((err: Error) => ({ error: err.message }))
  const failedRaft = [A, M].map(p => p.raft?.status().failed).filter(x => x !== undefined)
  const processesDied = (V.alive ? 0 : 1) + (daemonAlive(H) ? 0 : 1)
  const answered = Object.values(checks).filter(x => x === true).length
  return {
    crashes: processesDied,
    hangs: Object.keys(checks).length - answered,
    raftLoopsFailed: failedRaft.length + ((vStatus as any).raft?.failed != null ? 1 : 0),
    checks,
    victimProcess: V.alive ? 'alive' : `died ${JSON.stringify(V.exit)}: ${V.stderr.join('').slice(-500)}`,
    daemonProcess: daemonAlive(H) ? 'alive' : `died ${String(H.proc.exitCode)}: ${H.stderr.join('').slice(-500)}`
  }
}
