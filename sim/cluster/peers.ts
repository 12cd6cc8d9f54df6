/**
 * The peer processes of a cluster run: the real daemon (`agora start`, dist/src/cli.js) in each peer's
 * namespace, with its own data dir and identity, libp2p on its mesh address, and its HTTP API on its
 * control address (reached by the harness over the unshaped control bridge).
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { createWriteStream, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { loadOrCreateIdentity } from '../../peers/keys.js'
import { ClusterHttpError, ClusterPeerStartError } from './errors.js'
import { controlAddr, meshAddr, peerNs, runDir } from './net.js'

/** libp2p TCP port of every peer (each has its own address). */
export const P2P_PORT = 4001
/** HTTP API port of every peer, on its control address. */
export const HTTP_PORT = 7070
/** Bootstrap addresses each peer is given (see {@link bootstrapOf}). */
export const BOOTSTRAP_PEERS_MAX = 3

/**
 * The bootstrap peers of peer `i`: up to {@link BOOTSTRAP_PEERS_MAX} of the peers already serving (`served`,
 * in the order they came up), spread over them (the latest, the middle one, and one picked by `i`), so no
 * peer takes every joiner's dial, identify and anti-entropy exchange (with the first three peers as every
 * peer's bootstrap, their event loops starved at N = 25 and joiners' dials timed out). The first peers,
 * started before any serves, are given each other (`firstBatch`).
 */
export function bootstrapOf (i: number, served: readonly number[], firstBatch: readonly number[]): number[] {
  // While fewer than BOOTSTRAP_PEERS_MAX serve, the first batch (starting, or up) makes up the rest.
  const pool = (served.length >= BOOTSTRAP_PEERS_MAX ? [...served] : [...new Set([...served, ...firstBatch])]).filter(j => j !== i)
  if (pool.length <= BOOTSTRAP_PEERS_MAX) return [...pool]
  const out: number[] = []
  // The third by `i` times the golden ratio (mod 1): spread evenly, deterministic.
  const picked = Math.floor(((i * 0.6180339887) % 1) * pool.length)
  for (const k of [pool.length - 1, Math.floor((pool.length - 1) / 2), picked]) {
    const j = pool[k]!
    if (!out.includes(j)) out.push(j)
  }
  // On a collision, the next ones down from the pick.
  for (let k = 1; out.length < BOOTSTRAP_PEERS_MAX; k++) {
    const j = pool[(picked + pool.length - k) % pool.length]!
    if (!out.includes(j)) out.push(j)
  }
  return out
}
/** Time a daemon has to print its `started` line (generous: start-up takes 20–60 s on this shared machine under load). */
export const PEER_START_TIMEOUT_MS = 180_000
/** Time one HTTP request to a daemon may take. */
export const HTTP_TIMEOUT_MS = 15_000
/** Bytes of a daemon's stdout the harness reads while waiting for `started`. */
export const STARTED_LINE_BYTES_MAX = 64 * 1024
/** Events one SSE reader buffers before it drops (the harness consumes them at once). */
export const SSE_BUFFER_BYTES_MAX = 1024 * 1024

/** The Node.js that runs the daemons (>= 22: libp2p needs it). */
export function nodeBinary (): string {
  if (Number(process.versions.node.split('.')[0]) >= 22) return process.execPath
  const bin = fileURLToPath(new URL('../../../node_modules/node/bin/node', import.meta.url))
  return existsSync(bin) ? bin : process.execPath
}

/** The daemon's entry point, dist/src/cli.js. */
export const CLI_JS = fileURLToPath(new URL('../../src/cli.js', import.meta.url))

export interface PeerSpec {
  /** Peer number, 1-based. */
  i: number
  dataDir: string
  peerId: string
  /** `/ip4/10.77.0.x/tcp/4001/p2p/<id>` */
  p2p: string
  /** `10.78.0.x:7070` */
  http: string
}

export interface PeerProcess extends PeerSpec {
  child: ChildProcess
  pid: number
  /** Set once the process exited. */
  exited: boolean
}

/** Makes peer i's data dir and identity (before any process starts, so every peer id is known). */
export async function preparePeer (run: string, i: number): Promise<PeerSpec> {
  const dataDir = join(runDir(run), `p${i}`)
  mkdirSync(dataDir, { recursive: true })
  const { key } = await loadOrCreateIdentity(dataDir)
  const peerId = peerIdFromPrivateKey(key).toString()
  return { i, dataDir, peerId, p2p: `/ip4/${meshAddr(i)}/tcp/${P2P_PORT}/p2p/${peerId}`, http: `${controlAddr(i)}:${HTTP_PORT}` }
}

export interface DaemonSettings {
  token: string
  heartbeatIntervalMs: number
  /** Raft voters' peer ids (only voters run Raft). */
  voters: string[]
  bootstrap: string[]
  /** Extra config keys (the run's `daemon` option), under the harness's own. */
  extra: Record<string, unknown>
  /** The daemon entry point (default {@link CLI_JS}). */
  cli?: string
  /** Old-space heap limit, MB; 0: node's default. */
  heapMb: number
}

/** Writes peer i's config file and starts its daemon in its namespace; resolves once it serves. */
export async function startPeer (run: string, spec: PeerSpec, s: DaemonSettings): Promise<PeerProcess> {
  const cfg = {
    ...s.extra,
    mesh: `cluster-${run}`,
    dataDir: spec.dataDir,
    listen: [`/ip4/${meshAddr(spec.i)}/tcp/${P2P_PORT}`],
    ...(s.bootstrap.length > 0 ? { bootstrap: s.bootstrap } : {}),
    http: spec.http,
    httpInsecure: true,
    token: s.token,
    heartbeatIntervalMs: s.heartbeatIntervalMs,
    ...(s.voters.includes(spec.peerId) ? { raft: { voters: s.voters } } : {}),
    logLevel: 'warn',
    logFormat: 'json',
    exitWithParent: true
  }
  const file = join(spec.dataDir, 'cluster-peer.json')
  writeFileSync(file, JSON.stringify(cfg, null, 2))
  const log = openSync(join(spec.dataDir, 'daemon.log'), 'a')
  const heap = s.heapMb > 0 ? [`--max-old-space-size=${s.heapMb}`] : []
  const child = spawn('ip', ['netns', 'exec', peerNs(run, spec.i), nodeBinary(), ...heap, s.cli ?? CLI_JS, 'start', '--config', file], {
    stdio: ['ignore', 'pipe', log],
    env: { ...process.env, AGORA_EXIT_WITH_PARENT: '1', AGORA_TOKEN: '' }
  })
  const p: PeerProcess = { ...spec, child, pid: child.pid ?? -1, exited: false }
  child.on('exit', () => { p.exited = true })
  const out = createWriteStream(join(spec.dataDir, 'daemon.out'))
  return await new Promise<PeerProcess>((resolve, reject) => {
    let buf = ''
    const timer = setTimeout(() => { fail(`no "started" line within ${PEER_START_TIMEOUT_MS} ms`) }, PEER_START_TIMEOUT_MS)
    const fail = (why: string): void => {
      clearTimeout(timer)
      child.kill('SIGKILL')
      let tail = ''
      try { tail = readFileSync(join(spec.dataDir, 'daemon.log'), 'utf8').slice(-800) } catch {}
      reject(new ClusterPeerStartError(spec.i, `${why}${tail.length > 0 ? `; log: ${tail}` : ''}`))
    }
    child.on('exit', (code, sig) => { fail(`exited (${code ?? sig ?? '?'})`) })
    child.on('error', (err) => { fail(err.message) })
    child.stdout!.on('data', (d: Buffer) => {
      out.write(d)
      if (buf.length > STARTED_LINE_BYTES_MAX) return
      buf += d.toString('utf8')
      const line = buf.split('\n').find(l => l.includes('"event":"started"'))
      if (line === undefined) return
      clearTimeout(timer)
      child.removeAllListeners('exit')
      child.on('exit', () => { p.exited = true })
      try {
        const j = JSON.parse(line) as { pid?: number }
        if (typeof j.pid === 'number') p.pid = j.pid
      } catch {}
      resolve(p)
    })
  })
}

/** One JSON request to peer `p`'s API. */
export async function api<T = unknown> (p: PeerSpec, token: string, method: string, path: string, body?: unknown): Promise<T> {
  const [host, port] = p.http.split(':') as [string, string]
  return await new Promise<T>((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
    const req = request({ host, port: Number(port), method, path, timeout: HTTP_TIMEOUT_MS, headers: { authorization: `Bearer ${token}`, ...(data !== undefined ? { 'content-type': 'application/json', 'content-length': data.length } : {}) } }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        if ((res.statusCode ?? 500) >= 400) { reject(new ClusterHttpError(p.i, `${method} ${path}`, `${res.statusCode ?? '?'} ${text}`)); return }
        if (path === '/metrics') { resolve(text as T); return }
        try { resolve(JSON.parse(text) as T) } catch (err) { reject(new ClusterHttpError(p.i, `${method} ${path}`, `not JSON: ${(err as Error).message}`)) }
      })
      res.on('error', (err) => { reject(new ClusterHttpError(p.i, `${method} ${path}`, err.message)) })
    })
    req.on('timeout', () => { req.destroy(new Error(`no answer within ${HTTP_TIMEOUT_MS} ms`)) })
    req.on('error', (err) => { reject(new ClusterHttpError(p.i, `${method} ${path}`, err.message)) })
    req.end(data)
  })
}

/**
 * Follows peer `p`'s event stream (`GET /v1/events?types=...`) and calls `onEvent` with each event's
 * type, its data and when it arrived (performance.now()). Returns a function that closes the stream.
 */
export function follow (p: PeerSpec, token: string, types: string, onEvent: (type: string, data: unknown, at: number) => void): () => void {
  const [host, port] = p.http.split(':') as [string, string]
  const req = request({ host, port: Number(port), method: 'GET', path: `/v1/events?types=${encodeURIComponent(types)}`, headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' } }, (res) => {
    let buf = ''
    res.setEncoding('utf8')
    res.on('data', (chunk: string) => {
      const at = performance.now()
      buf += chunk
      if (buf.length > SSE_BUFFER_BYTES_MAX) { buf = ''; return }
      let end
      while ((end = buf.indexOf('\n\n')) >= 0) {
        const frame = buf.slice(0, end)
        buf = buf.slice(end + 2)
        let type = 'message'
        let data = ''
        for (const line of frame.split('\n')) {
          if (line.startsWith('event: ')) type = line.slice(7)
          else if (line.startsWith('data: ')) data += line.slice(6)
        }
        if (data.length === 0) continue
        try { onEvent(type, JSON.parse(data), at) } catch {}
      }
    })
    res.on('error', () => {})
  })
  req.on('error', () => {})
  req.end()
  return () => { req.destroy() }
}
