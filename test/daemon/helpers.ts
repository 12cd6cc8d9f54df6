/**
 * Helpers of the daemon tests: spawn `agora start` as a child process, call its API, read its metrics,
 * and keep a three-daemon mesh running for every test (waits: test/helpers/wait.ts).
 */
import { execFileSync, spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { waitUntil } from '../helpers/wait.js'

export const NODE = join(process.cwd(), 'node_modules/.bin/node')
export const CLI = join(process.cwd(), 'dist/src/cli.js')

export interface Daemon { proc: ChildProcess, http: string, peerId: string, addresses: string[], token: string, dir: string, stderr: string[] }

/** Every daemon started, for the tests' cleanup. */
export const started: Daemon[] = []

export async function startDaemon (dir: string, extra: string[] = []): Promise<Daemon> {
  const proc = spawn(NODE, [CLI, 'start', '--data-dir', dir, '--http', '127.0.0.1:0', '--log-level', 'warn', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] })
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
  const info = JSON.parse(line) as { http: string, peerId: string, addresses: string[], tokenFile: string }
  const token = (await readFile(info.tokenFile, 'utf8')).trim()
  const d: Daemon = { proc, http: info.http, peerId: info.peerId, addresses: info.addresses, token, dir, stderr }
  started.push(d)
  return d
}

export async function api (d: Daemon, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number, json: any }> {
  const res = await fetch(`http://${d.http}${path}`, {
    method,
    headers: { authorization: `Bearer ${d.token}`, 'content-type': 'application/json', ...headers },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {})
  })
  return { status: res.status, json: await res.json().catch(() => undefined) }
}

/** The daemon's Prometheus metrics: `name{labels}` → value. */
export async function metrics (d: Daemon): Promise<Map<string, number>> {
  const res = await fetch(`http://${d.http}/metrics`, { headers: { authorization: `Bearer ${d.token}` } })
  const out = new Map<string, number>()
  for (const line of (await res.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const sp = line.lastIndexOf(' ')
    out.set(line.slice(0, sp), Number(line.slice(sp + 1)))
  }
  return out
}

export const running = (d: Daemon): boolean => d.proc.exitCode === null && d.proc.signalCode === null

export async function exitOf (p: ChildProcess): Promise<{ code: number | null, signal: NodeJS.Signals | null }> {
  if (p.exitCode !== null || p.signalCode !== null) return { code: p.exitCode, signal: p.signalCode }
  return await new Promise(resolve => p.once('exit', (code, signal) => resolve({ code, signal })))
}

/** Runs the built CLI against `d` (AGORA_HTTP and AGORA_TOKEN set): its exit code and output. */
export async function cli (d: Daemon, args: string[]): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const p = spawn(NODE, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, AGORA_HTTP: d.http, AGORA_TOKEN: d.token } })
  let stdout = ''
  let stderr = ''
  p.stdout.on('data', (b: Buffer) => { stdout += b.toString() })
  p.stderr.on('data', (b: Buffer) => { stderr += b.toString() })
  const { code } = await exitOf(p)
  return { code, stdout, stderr }
}

/** Three daemons, all Raft voters (so all economy authorities), with data dirs `dirs[i]`. */
export interface DaemonMesh { daemons: [Daemon, Daemon, Daemon], dirs: string[], ids: string[] }

/** Three daemons (all Raft voters, so all economy authorities) with data dirs `<root>/d0..d2`. */
export async function startMesh (root: string): Promise<DaemonMesh> {
  const dirs = [0, 1, 2].map(i => join(root, `d${i}`))
  // Identities first, so every daemon can be told the Raft voters.
  const ids = dirs.map(dir => execFileSync(NODE, [CLI, 'id', '--data-dir', dir]).toString().trim())
  const voters = ['--raft-voters', ids.join(',')]
  const d0 = await startDaemon(dirs[0]!, voters)
  const d1 = await startDaemon(dirs[1]!, [...voters, '--bootstrap', d0.addresses[0]!])
  const d2 = await startDaemon(dirs[2]!, [...voters, '--bootstrap', d0.addresses[0]!])
  return { daemons: [d0, d1, d2], dirs, ids }
}

/**
 * Every test's precondition: the mesh's three daemons run and each knows a Raft leader. A daemon an
 * earlier test stopped is restarted from its data dir (same identity), bootstrapping from a running one.
 */
export async function ensureMesh (mesh: DaemonMesh): Promise<void> {
  for (let i = 0; i < 3; i++) {
    if (running(mesh.daemons[i]!)) continue
    const via = mesh.daemons.find(running)
    mesh.daemons[i] = await startDaemon(mesh.dirs[i]!, ['--raft-voters', mesh.ids.join(','), ...(via !== undefined ? ['--bootstrap', via.addresses[0]!] : [])])
  }
  for (const d of mesh.daemons) await waitUntil(async () => (await api(d, 'GET', '/ready')).status === 200, `daemon ${d.peerId.slice(-6)} to be ready (a Raft leader)`)
}

/** SIGKILLs every daemon still running and waits for the exits. */
export async function stopAll (): Promise<void> {
  for (const d of started) if (d.proc.exitCode === null && d.proc.signalCode === null) d.proc.kill('SIGKILL')
  await Promise.all(started.map(async d => await exitOf(d.proc)))
}
