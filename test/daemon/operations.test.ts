/**
 * The daemon as operators run it, with real child processes (`agora start`, built CLI, Node 22):
 * eventual variables read after a restart, bidders kept across restarts, the events that matter in the
 * logs, warnings for what cannot be validated up front, and the CLI finding a daemon from its data dir.
 */
import { execFileSync, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { defaultLogFormat, formatHuman } from '../../src/base/log.js'
import { CLI, NODE, api, exitOf, startDaemon, stopAll } from './helpers.js'
import type { Daemon } from './helpers.js'
import { waitUntil } from '../helpers/wait.js'

interface LogLine { level: string, component: string, msg: string, [k: string]: unknown }

/** The daemon's JSON log lines so far. */
function logs (d: Daemon): LogLine[] {
  return d.stderr.join('').split('\n').filter(l => l.startsWith('{')).map(l => JSON.parse(l) as LogLine)
}

/** The first log line with message `msg` (and the given fields), once there is one. */
async function logged (d: Daemon, msg: string | RegExp, fields: Record<string, unknown> = {}): Promise<LogLine> {
  return await waitUntil(() => logs(d).find(l => (typeof msg === 'string' ? l.msg === msg : msg.test(l.msg)) &&
    Object.entries(fields).every(([k, v]) => JSON.stringify(l[k]) === JSON.stringify(v))), `log "${String(msg)}" ${JSON.stringify(fields)}`)
}

/** Runs the built CLI as a child process. */
async function cli (args: string[], env: Record<string, string> = {}): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const p = spawn(NODE, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, AGORA_TOKEN: '', AGORA_HTTP: '', ...env } })
  let stdout = ''
  let stderr = ''
  p.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  p.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const code = await new Promise<number | null>(resolve => p.once('exit', (c) => resolve(c)))
  return { code, stdout, stderr }
}

async function configFile (name: string, config: Record<string, unknown>): Promise<string> {
  const file = join(root, name)
  await writeFile(file, JSON.stringify(config))
  return file
}

const peerIdOf = (dir: string): string => execFileSync(NODE, [CLI, 'id', '--data-dir', dir]).toString().trim()

/** A TCP port nothing listens on. */
async function closedPort (): Promise<number> {
  const s = createServer()
  await new Promise<void>(resolve => s.listen(0, '127.0.0.1', resolve))
  const port = (s.address() as AddressInfo).port
  await new Promise<void>(resolve => s.close(() => resolve()))
  return port
}

/** A peer id no daemon here has. */
const NOBODY = '12D3KooWQUZBNEbpftzeY3N953cjsnh7JcLGNtwLo2nCNhhmE3x6'

async function warningCodes (d: Daemon): Promise<string[]> {
  return ((await api(d, 'GET', '/v1/status')).json.warnings as Array<{ code: string }>).map(w => w.code).sort()
}

let root: string
beforeAll(async () => { root = await mkdtemp(join(tmpdir(), 'agora-ops-')) })
afterAll(async () => {
  await stopAll()
  await rm(root, { recursive: true, force: true })
})

async function restart (d: Daemon, extra: string[] = []): Promise<Daemon> {
  d.proc.kill('SIGTERM')
  expect((await exitOf(d.proc)).code).toBe(0)
  return await startDaemon(d.dir, extra)
}

describe('eventual variables through the daemon', () => {
  it('a plain read after a restart shows the merged value and declares nothing; a conflicting rule is a 409 that changes nothing', async () => {
    const a = await startDaemon(join(root, 'var-a'))
    let b = await startDaemon(join(root, 'var-b'), ['--bootstrap', a.addresses[0]!])
    expect((await api(a, 'PUT', '/v1/variables/eventual/team.temperature', { value: 1.5, merge: 'max' })).status).toBe(200)
    expect((await api(b, 'PUT', '/v1/variables/eventual/team.temperature', { value: 1, merge: 'max' })).status).toBe(200)
    await waitUntil(async () => (await api(a, 'GET', '/v1/variables/eventual/team.temperature?merge=max')).json.contributions === 2, 'both contributions on a')
    b = await restart(b, ['--bootstrap', a.addresses[0]!])
    const read = await waitUntil(async () => {
      const r = await api(b, 'GET', '/v1/variables/eventual/team.temperature')
      return r.json.contributions === 2 ? r : undefined
    }, 'a plain read on the restarted daemon to see both contributions')
    expect(read.status).toBe(200)
    expect(read.json).toEqual({ name: 'team.temperature', merge: 'max', value: 1.5, contributions: 2 })
    // The plain read declared nothing: the rule the data carries still works, another one is refused.
    expect((await api(b, 'GET', '/v1/variables/eventual/team.temperature?merge=max')).json.value).toBe(1.5)
    const wrongRead = await api(b, 'GET', '/v1/variables/eventual/team.temperature?merge=lww')
    expect(wrongRead.status).toBe(409)
    expect(wrongRead.json.error.code).toBe('ERR_MERGE_CONFLICT')
    const wrongWrite = await api(b, 'PUT', '/v1/variables/eventual/team.temperature', { add: 1, merge: 'counter' })
    expect(wrongWrite.status).toBe(409)
    expect(wrongWrite.json.error.code).toBe('ERR_MERGE_CONFLICT')
    // Nothing changed: a write without a rule uses the variable's own.
    const w = await api(b, 'PUT', '/v1/variables/eventual/team.temperature', { value: 2 })
    expect(w.json).toEqual({ name: 'team.temperature', merge: 'max', value: 2 })
    await waitUntil(async () => (await api(a, 'GET', '/v1/variables/eventual/team.temperature')).json.value === 2, 'the new maximum on a')
    // A name nobody wrote has no rule yet.
    expect((await api(b, 'GET', '/v1/variables/eventual/nobody.wrote')).json).toEqual({ name: 'nobody.wrote', merge: null, value: null, contributions: 0 })
    // Another name can still become a counter after reads of it.
    expect((await api(b, 'PUT', '/v1/variables/eventual/nobody.wrote', { add: 3, merge: 'counter' })).json.value).toBe(3)
  })
})

describe('HTTP bidders across restarts', () => {
  it('a restarted daemon serves the bidders it had; a removed one stays removed', async () => {
    let d = await startDaemon(join(root, 'bidders'))
    for (const id of ['poller', 'caller', 'gone']) expect((await api(d, 'POST', '/v1/agents', { id, capabilities: ['gpu'] })).status).toBe(201)
    const poll = (await api(d, 'POST', '/v1/agents/poller/bidder', { timeoutMs: 1500 })).json.bidder
    const call = (await api(d, 'POST', '/v1/agents/caller/bidder', { callback: 'http://127.0.0.1:9/bid' })).json.bidder
    expect((await api(d, 'POST', '/v1/agents/gone/bidder', {})).status).toBe(200)
    expect((await api(d, 'DELETE', '/v1/agents/gone/bidder')).status).toBe(200)
    d = await restart(d)
    expect((await api(d, 'GET', '/v1/agents/poller/bidder')).json.bidder).toEqual(poll)
    expect((await api(d, 'GET', '/v1/agents/caller/bidder')).json.bidder).toEqual(call)
    expect((await api(d, 'GET', '/v1/agents/gone/bidder')).json.error.code).toBe('ERR_NO_BIDDER')
    // The restored long-poll bidder is served (a daemon without it answers ERR_NO_BIDDER).
    const polled = await api(d, 'GET', '/v1/bid-requests?agent=poller&waitMs=0')
    expect(polled.status).toBe(200)
    expect(polled.json.requests).toEqual([])
    // Unregistering the agent removes its bidder for good.
    expect((await api(d, 'DELETE', '/v1/agents/caller')).status).toBe(200)
    d = await restart(d)
    expect((await api(d, 'GET', '/v1/agents/caller/bidder')).json.error.code).toBe('ERR_NO_BIDDER')
    expect((await api(d, 'GET', '/v1/agents/poller/bidder')).json.bidder).toEqual(poll)
  })
})

describe('logs people can read', () => {
  it('JSON lines (stderr is no terminal) with the events that matter at info: listening, connections, members, Raft roles and leader, snapshots, slow fsyncs, shutdown steps', async () => {
    const dirA = join(root, 'log-a')
    const idA = peerIdOf(dirA)
    // A one-voter group elects itself; a snapshot every 3 entries; every fsync counts as slow.
    const cfg = await configFile('log-a.json', { raft: { snapshotEntries: 3, fsyncSlowMs: 0 } })
    const a = await startDaemon(dirA, ['--log-level', 'info', '--raft-voters', idA, '--config', cfg])
    const listening = await logged(a, 'listening')
    expect(listening).toMatchObject({ level: 'info', component: 'agora:daemon', peerId: a.peerId, http: a.http, p2p: a.addresses })
    await logged(a, 'raft leader elected', { leader: idA, self: true })
    await logged(a, 'raft role changed', { role: 'leader' })
    const b = await startDaemon(join(root, 'log-b'), ['--log-level', 'info', '--bootstrap', a.addresses[0]!])
    await logged(a, 'member joined', { peerId: b.peerId })
    await logged(b, 'member joined', { peerId: a.peerId })
    await logged(a, 'connected to 1 peer', { peers: 1 })
    for (let i = 0; i < 4; i++) expect((await api(a, 'PUT', `/v1/variables/strong/log.v${i}`, { value: i })).status).toBe(200)
    expect((await logged(a, 'snapshot taken')).index).toBeGreaterThanOrEqual(3)
    expect(await logged(a, 'slow fsync of the Raft log', { thresholdMs: 0 })).toMatchObject({ level: 'warn' })
    a.proc.kill('SIGTERM')
    expect((await exitOf(a.proc)).code).toBe(0)
    const steps = logs(a).map(l => l.msg)
    const order = ['shutting down', 'HTTP API closed', 'peer stopped: left the mesh, storage flushed', 'stopped'].map(m => steps.indexOf(m))
    expect(order.every(i => i >= 0)).toBe(true)
    expect([...order].sort((x, y) => x - y)).toEqual(order)
    expect(logs(a).find(l => l.msg === 'shutting down')!.reason).toBe('SIGTERM')
    await logged(b, 'member left', { peerId: a.peerId })
    // Every line of stderr is one JSON object.
    expect(a.stderr.join('').trim().split('\n').every(l => l.startsWith('{') && l.endsWith('}'))).toBe(true)
  })

  it('--log-format human: one readable line per event, no JSON; the default follows whether stderr is a terminal', async () => {
    const d = await startDaemon(join(root, 'log-human'), ['--log-level', 'info', '--log-format', 'human'])
    const line = await waitUntil(() => d.stderr.join('').split('\n').find(l => l.includes(' listening ')), 'the listening line')
    expect(line).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z INFO  agora:daemon  listening peerId=${d.peerId} mesh=agora p2p=\\[.*\\] http=${d.http.replace(/\./g, '\\.')} `))
    d.proc.kill('SIGTERM')
    expect((await exitOf(d.proc)).code).toBe(0)
    const lines = d.stderr.join('').trim().split('\n')
    expect(lines.some(l => l.startsWith('{'))).toBe(false)
    expect(lines.at(-1)).toMatch(/ INFO  agora:daemon  stopped$/)
    expect(defaultLogFormat({ isTTY: true })).toBe('human')
    expect(defaultLogFormat({ isTTY: false })).toBe('json')
    expect(defaultLogFormat({})).toBe('json')
    expect(formatHuman(new Date(0), 'warn', 'agora:x', 'dial failed', { address: '/ip4/1.2.3.4/tcp/1', error: 'connection refused', attempt: 2, tags: ['a'] }))
      .toBe('1970-01-01 00:00:00.000Z WARN  agora:x  dial failed address=/ip4/1.2.3.4/tcp/1 error="connection refused" attempt=2 tags=["a"]')
  })
})

describe('what cannot be validated up front is a warning: logged and in GET /v1/status', () => {
  it('a dead bootstrap peer: dial failures logged, WARN_NO_PEERS and WARN_BOOTSTRAP_UNREACHABLE, shown by agora status', async () => {
    const address = `/ip4/127.0.0.1/tcp/${await closedPort()}/p2p/${NOBODY}`
    const dir = join(root, 'dead-bootstrap')
    const d = await startDaemon(dir, ['--log-level', 'info', '--bootstrap', address, '--config', await configFile('warn-fast.json', { warnAfterMs: 300 })])
    await waitUntil(async () => (await warningCodes(d)).length === 2, 'two warnings')
    expect(await warningCodes(d)).toEqual(['WARN_BOOTSTRAP_UNREACHABLE', 'WARN_NO_PEERS'])
    expect(await logged(d, 'dial failed', { address })).toMatchObject({ level: 'info' })
    expect(logs(d).find(l => l.code === 'WARN_NO_PEERS')).toMatchObject({ level: 'warn' })
    // The CLI finds the daemon from its data dir alone (http.addr, http.token) and repeats the warnings on stderr.
    const st = await cli(['status', '--data-dir', dir])
    expect(st.code).toBe(0)
    expect(JSON.parse(st.stdout).peerId).toBe(d.peerId)
    expect(st.stderr).toMatch(/^warning: no peer reachable.*\(WARN_NO_PEERS\)$/m)
  })

  it('a mesh name no connected peer shares: WARN_MESH_NOT_SHARED naming theirs', async () => {
    const blue = await startDaemon(join(root, 'mesh-blue'), ['--mesh', 'blue'])
    const green = await startDaemon(join(root, 'mesh-green'), ['--mesh', 'green', '--bootstrap', blue.addresses[0]!, '--config', await configFile('warn-fast.json', { warnAfterMs: 300 })])
    const w = await waitUntil(async () => ((await api(green, 'GET', '/v1/status')).json.warnings as any[]).find(x => x.code === 'WARN_MESH_NOT_SHARED'), 'WARN_MESH_NOT_SHARED')
    expect(w.details).toMatchObject({ mesh: 'green', theirMeshes: ['blue'] })
    expect(w.message).toMatch(/mesh "green".*"blue"/)
  })

  it('Raft voters not connected: warnings until the other voter runs, then cleared', async () => {
    const dirs = [join(root, 'voter-1'), join(root, 'voter-2')]
    const ids = dirs.map(peerIdOf)
    const cfg = await configFile('warn-fast.json', { warnAfterMs: 300 })
    const v1 = await startDaemon(dirs[0]!, ['--log-level', 'info', '--raft-voters', ids.join(','), '--config', cfg])
    await waitUntil(async () => (await warningCodes(v1)).length === 2, 'two warnings')
    expect(await warningCodes(v1)).toEqual(['WARN_RAFT_NO_LEADER', 'WARN_RAFT_VOTERS_NOT_CONNECTED'])
    const w = ((await api(v1, 'GET', '/v1/status')).json.warnings as any[]).find(x => x.code === 'WARN_RAFT_VOTERS_NOT_CONNECTED')
    expect(w.details.missing).toEqual([ids[1]])
    expect((await api(v1, 'GET', '/ready')).status).toBe(503)
    await startDaemon(dirs[1]!, ['--raft-voters', ids.join(','), '--bootstrap', v1.addresses[0]!, '--config', cfg])
    await waitUntil(async () => (await warningCodes(v1)).length === 0, 'the warnings to clear')
    await logged(v1, 'warning cleared', { code: 'WARN_RAFT_VOTERS_NOT_CONNECTED' })
    expect((await api(v1, 'GET', '/ready')).status).toBe(200)
  })
})

describe('the CLI finds a daemon', () => {
  it('from its data dir (http.addr, removed at shutdown) or from AGORA_HTTP and AGORA_TOKEN', async () => {
    const dir = join(root, 'find-me')
    const d = await startDaemon(dir)
    expect((await api(d, 'POST', '/v1/agents', { id: 'findable', capabilities: ['x'] })).status).toBe(201)
    const byDir = await cli(['agents', 'list', '--data-dir', dir])
    expect(byDir.code).toBe(0)
    expect(JSON.parse(byDir.stdout).agents.map((a: { id: string }) => a.id)).toEqual(['findable'])
    const byEnv = await cli(['agents', 'list'], { AGORA_HTTP: d.http, AGORA_TOKEN: d.token })
    expect(byEnv.code).toBe(0)
    expect(JSON.parse(byEnv.stdout).agents.map((a: { id: string }) => a.id)).toEqual(['findable'])
    const badToken = await cli(['agents', 'list'], { AGORA_HTTP: d.http, AGORA_TOKEN: 'x'.repeat(20) })
    expect(badToken.code).toBe(1)
    expect(badToken.stderr).toMatch(/ERR_UNAUTHORIZED/)
    d.proc.kill('SIGTERM')
    expect((await exitOf(d.proc)).code).toBe(0)
    expect(existsSync(join(dir, 'http.addr'))).toBe(false)
    const gone = await cli(['status', '--data-dir', dir])
    expect(gone.code).toBe(1)
    expect(gone.stderr).toMatch(/ERR_DAEMON_UNREACHABLE.*no daemon is running on data dir/)
  })
})
