/**
 * Three daemons as real child processes (`agora start`, built CLI, Node 22) on loopback with data dirs:
 * the HTTP API end to end, a strong variable on the Raft group, SIGKILL and restart with state intact,
 * SIGTERM, and bad requests that leave the daemon serving. Each test sets up its own agents and
 * variables; `beforeEach` (re)starts whatever daemon an earlier test stopped, so any order works.
 */
import { execFileSync } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { CLI, NODE, api, ensureMesh, exitOf, metrics, startDaemon, startMesh, stopAll } from './helpers.js'
import type { Daemon, DaemonMesh } from './helpers.js'
import { waitUntil } from '../helpers/wait.js'

let root: string
let mesh: DaemonMesh
let d0: Daemon, d1: Daemon, d2: Daemon

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'agora-daemon-'))
  mesh = await startMesh(root)
  expect(mesh.daemons.map(d => d.peerId)).toEqual(mesh.ids)
})

beforeEach(async () => {
  await ensureMesh(mesh)
  ;[d0, d1, d2] = mesh.daemons
})

afterAll(async () => {
  await stopAll()
  await rm(root, { recursive: true, force: true })
})

describe('agora start: three daemons', () => {
  it('registers through one daemon and finds the agents through another', async () => {
    const r = await api(d0, 'POST', '/v1/agents', { id: 'gpu-a', capabilities: ['gpu', 'train'], resources: { gpu: 4 }, zone: 'eu' })
    expect(r.status).toBe(201)
    expect(r.json.agent.host).toBe(d0.peerId)
    expect((await api(d2, 'POST', '/v1/agents', { id: 'cpu-b', capabilities: ['cpu'] })).status).toBe(201)
    const found = await waitUntil(async () => {
      const q = await api(d1, 'POST', '/v1/agents/query', { capability: 'gpu', where: [['resources.gpu', 'gte', 2]] })
      return q.json.agents.length === 1 ? q.json.agents : undefined
    }, 'gpu-a visible on d1')
    expect(found[0].id).toBe('gpu-a')
    const cpu = await waitUntil(async () => (await api(d1, 'GET', '/v1/agents/cpu-b')).json.agent, 'cpu-b visible on d1')
    expect(cpu.host).toBe(d2.peerId)
    // Only the host may change its agent.
    expect((await api(d1, 'PATCH', '/v1/agents/gpu-a', { health: 'degraded' })).json.error.code).toBe('ERR_NOT_OWNER')
  })

  it('reads and compare-and-sets a strong variable across daemons', async () => {
    expect((await api(d0, 'PUT', '/v1/variables/strong/price', { value: 10 })).status).toBe(200)
    expect((await api(d2, 'GET', '/v1/variables/strong/price')).json.value).toBe(10)
    expect((await api(d1, 'POST', '/v1/variables/strong/price/cas', { expected: 10, value: 12 })).json.swapped).toBe(true)
    expect((await api(d2, 'POST', '/v1/variables/strong/price/cas', { expected: 10, value: 99 })).json.swapped).toBe(false)
    expect((await api(d0, 'GET', '/v1/variables/strong/price')).json.value).toBe(12)
    const status = (await api(d1, 'GET', '/v1/status')).json
    expect(status.raft.voters.sort()).toEqual([d0.peerId, d1.peerId, d2.peerId].sort())
    const text = await (await fetch(`http://${d1.http}/metrics`, { headers: { authorization: `Bearer ${d1.token}` } })).text()
    expect(text).toMatch(/agora_raft_role\{role="(leader|follower)"\} 1/)
    // d1 proposed one CAS: its commit latency was observed.
    expect(text).toMatch(/agora_raft_commit_latency_seconds_count [1-9]/)
    // The others' sealed heartbeats and views were opened here (one signature each); what it sealed is counted.
    expect(text).toMatch(/agora_gossip_sealed_total\{result="opened"\} [1-9]/)
    expect(text).toMatch(/agora_gossip_sealed_total\{result="sealed"\} \d/)
    expect(text).toMatch(/agora_gossip_sealed_total\{result="rejected_signature"\} 0/)
    // The registry gauges count what d1's registry holds, its own agent included.
    expect((await api(d1, 'POST', '/v1/agents', { id: 'metrics-probe', capabilities: ['probe'] })).status).toBe(201)
    const counted = await waitUntil(async () => {
      const status = (await api(d1, 'GET', '/v1/status')).json
      const m = await metrics(d1)
      return m.get('agora_registry_agents') === status.agents && m.get('agora_registry_local_agents') === status.localAgents ? status : undefined
    }, 'the registry gauges to match /v1/status')
    expect(counted.localAgents).toBeGreaterThanOrEqual(1)
  })

  it('streams registry events over Server-Sent Events', async () => {
    const ctrl = new AbortController()
    const res = await fetch(`http://${d1.http}/v1/events`, { headers: { authorization: `Bearer ${d1.token}` }, signal: ctrl.signal })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/)
    const reader = res.body!.getReader()
    const seen = (async () => {
      let text = ''
      for (;;) {
        const { value, done } = await reader.read()
        if (done) return text
        text += new TextDecoder().decode(value)
        if (/event: agent:joined\ndata: .*"sse-agent"/.test(text)) return text
      }
    })()
    await api(d0, 'POST', '/v1/agents', { id: 'sse-agent', capabilities: ['events'] })
    const text = await Promise.race([seen, new Promise<string>((_resolve, reject) => setTimeout(() => reject(new Error('no SSE event within 15 s')), 15_000))])
    expect(text).toMatch(/event: agent:joined/)
    ctrl.abort()
  })

  it('the CLI client commands talk to a running daemon', () => {
    const cli = (...args: string[]): any => JSON.parse(execFileSync(NODE, [CLI, ...args, '--http', d0.http, '--data-dir', d0.dir]).toString())
    expect(cli('status').peerId).toBe(d0.peerId)
    expect(cli('agents', 'register', '--json', '{"id":"cli-agent","capabilities":["cli"]}').agent.host).toBe(d0.peerId)
    expect(cli('agents', 'list', '--capability', 'cli').agents.map((a: { id: string }) => a.id)).toEqual(['cli-agent'])
    expect(cli('var', 'set', 'mode', '--value', '"fast"').value).toBe('fast')
    expect(cli('var', 'get', 'mode').value).toBe('fast')
    expect(cli('var', 'set', 'limit', '--strong', '--value', '7').value).toBe(7)
    expect(cli('var', 'get', 'limit', '--strong').value).toBe(7)
    // A wrong token is a failure (exit 1) with the API's error code.
    try {
      execFileSync(NODE, [CLI, 'status', '--http', d0.http, '--token', 'x'.repeat(32)], { stdio: 'pipe' })
      expect.unreachable()
    } catch (err) {
      const e = err as { status: number, stderr: Buffer }
      expect(e.status).toBe(1)
      expect(e.stderr.toString()).toMatch(/ERR_UNAUTHORIZED/)
    }
  })

  it('bad requests get 4xx JSON errors and the daemon keeps serving', async () => {
    const malformed = await api(d1, 'POST', '/v1/agents', '{"id": "x",')
    expect(malformed.status).toBe(400)
    expect(malformed.json.error.code).toBe('ERR_BAD_JSON')
    const big = await api(d1, 'POST', '/v1/agents', JSON.stringify({ id: 'big', metadata: { x: 'y'.repeat(2 * 1024 * 1024) } }))
    expect(big.status).toBe(413)
    const noToken = await fetch(`http://${d1.http}/v1/status`)
    expect(noToken.status).toBe(401)
    expect(((await noToken.json()) as any).error.code).toBe('ERR_UNAUTHORIZED')
    expect((await api(d1, 'GET', '/v1/nope')).status).toBe(404)
    const invalid = await api(d1, 'POST', '/v1/agents', { id: 'bad id with spaces' })
    expect(invalid.status).toBe(400)
    expect(invalid.json.error.code).toBe('ERR_INVALID_DESCRIPTOR')
    const badQuery = await api(d1, 'POST', '/v1/agents/query', { where: [['load', 'like', 1]] })
    expect(badQuery.json.error.code).toBe('ERR_INVALID_QUERY')
    expect((await fetch(`http://${d1.http}/health`)).status).toBe(200)
    const spec = (await api(d1, 'GET', '/v1/openapi.json')).json
    expect(spec.openapi).toBe('3.1.0')
    expect(Object.keys(spec.paths)).toContain('/v1/variables/strong/{name}/cas')
    expect((await api(d1, 'GET', '/v1/status')).json.peerId).toBe(d1.peerId)
  })

  it('JSON bodies with a lone surrogate (400 ERR_BAD_REQUEST) or a __proto__ key (400 ERR_RESERVED_NAME) are refused before anything is written', async () => {
    // Raw JSON text: "\\ud800" is a valid JSON escape that decodes to a lone surrogate.
    const lone = await api(d1, 'POST', '/v1/agents', '{"id":"sur","capabilities":["\\ud800gpu"]}')
    expect(lone.status).toBe(400)
    expect(lone.json.error).toMatchObject({ code: 'ERR_BAD_REQUEST', path: 'capabilities.0' })
    const key = await api(d1, 'POST', '/v1/agents', '{"id":"sur","metadata":{"\\udc00k":1}}')
    expect(key.json.error).toMatchObject({ code: 'ERR_BAD_REQUEST', path: 'metadata.\udc00k' })
    const proto = await api(d1, 'POST', '/v1/agents', '{"id":"sur","metadata":{"a":{"__proto__":{"admin":true}}}}')
    expect(proto.status).toBe(400)
    expect(proto.json.error).toMatchObject({ code: 'ERR_RESERVED_NAME', path: 'metadata.a.__proto__' })
    expect((await api(d1, 'POST', '/v1/agents', { id: 'constructor' })).json.error.code).toBe('ERR_RESERVED_NAME')
    expect((await api(d1, 'GET', '/v1/agents/sur')).status).toBe(404)
    // Variables (eventual and strong) and their query parameters, and the economy's bodies.
    expect((await api(d1, 'PUT', '/v1/variables/eventual/sv', '{"value":"\\ud800"}')).json.error.code).toBe('ERR_BAD_REQUEST')
    expect((await api(d1, 'GET', `/v1/variables/eventual/sv2?initial=${encodeURIComponent('"\\udfff"')}`)).json.error).toMatchObject({ code: 'ERR_BAD_REQUEST', path: 'initial' })
    expect((await api(d1, 'PUT', '/v1/variables/strong/sv', '{"value":{"k":"\\ud800"}}')).json.error).toMatchObject({ code: 'ERR_BAD_REQUEST', path: 'value.k' })
    expect((await api(d1, 'POST', '/v1/ledger/accounts', '{"account":"a\\ud800"}')).json.error).toMatchObject({ code: 'ERR_BAD_REQUEST', path: 'account' })
    expect((await api(d1, 'POST', '/v1/auctions', '{"seller":"s","mechanism":"combinatorial","items":["x"],"durationMs":10,"reserves":{"__proto__":1}}')).json.error).toMatchObject({ code: 'ERR_RESERVED_NAME', path: 'reserves.__proto__' })
    // The daemon keeps serving; a well-formed non-ASCII capability is fine.
    const ok = await api(d1, 'POST', '/v1/agents', { id: 'sur', capabilities: ['\ud83d\ude00gpu'] })
    expect(ok.status).toBe(201)
    expect(ok.json.agent.capabilities).toEqual(['\ud83d\ude00gpu'])
  })

  it('a daemon killed with SIGKILL restarts from its data dir with its identity, agents and Raft log', async () => {
    expect((await api(d2, 'POST', '/v1/agents', { id: 'survivor', capabilities: ['persist'] })).status).toBe(201)
    expect((await api(d2, 'PUT', '/v1/variables/strong/note', { value: 'kept' })).status).toBe(200)
    expect((await api(d0, 'POST', '/v1/ledger/mint', { account: 'survivor-acct', amount: 25, owner: d2.peerId })).status).toBe(200)
    expect((await api(d2, 'POST', '/v1/ledger/stake', { account: 'survivor-acct', amount: 5 })).status).toBe(200)
    d2.proc.kill('SIGKILL')
    expect((await exitOf(d2.proc)).signal).toBe('SIGKILL')
    const again = await startDaemon(mesh.dirs[2]!, ['--raft-voters', mesh.ids.join(','), '--bootstrap', d0.addresses[0]!])
    mesh.daemons[2] = again
    expect(again.peerId).toBe(d2.peerId)
    expect((await api(again, 'GET', '/v1/agents/survivor')).json.agent.host).toBe(d2.peerId)
    expect((await api(again, 'GET', '/v1/variables/strong/note?linearizable=false')).json.value).toBe('kept')
    expect((await api(again, 'GET', '/v1/variables/strong/note')).json.value).toBe('kept')
    // The ledger: the replica rebuilt from the Raft log, then a linearizable read; the account is still d2's.
    const local = await waitUntil(async () => (await api(again, 'GET', '/v1/ledger/accounts/survivor-acct?linearizable=false')).json.account, 'the ledger replica of the restarted daemon')
    expect(local).toMatchObject({ owner: d2.peerId, free: 20, staked: 5 })
    expect((await api(again, 'GET', '/v1/ledger/accounts/survivor-acct')).json.account).toMatchObject({ free: 20, staked: 5 })
    // It still owns the account: it may stake from it.
    expect((await api(again, 'POST', '/v1/ledger/stake', { account: 'survivor-acct', amount: 1 })).json.account).toMatchObject({ free: 19, staked: 6 })
  })

  it('SIGTERM leaves cleanly and exits 0 (the next test restarts the daemon)', async () => {
    d1.proc.kill('SIGTERM')
    expect((await exitOf(d1.proc)).code).toBe(0)
    expect(d1.stderr.join('')).not.toMatch(/"level":"error"/)
  })

  it('a bad config key or flag exits 2 naming it', async () => {
    const run = (args: string[]): { status: number | null, stderr: string } => {
      try {
        execFileSync(NODE, [CLI, ...args], { stdio: 'pipe' })
        return { status: 0, stderr: '' }
      } catch (err) {
        const e = err as { status: number | null, stderr: Buffer }
        return { status: e.status, stderr: e.stderr.toString() }
      }
    }
    const badFlag = run(['start', '--nope', '1'])
    expect(badFlag.status).toBe(2)
    expect(badFlag.stderr).toMatch(/--nope/)
    const badHttp = run(['start', '--http', 'localhost'])
    expect(badHttp.status).toBe(2)
    expect(badHttp.stderr).toMatch(/http/)
    const unknown = run(['frobnicate'])
    expect(unknown.status).toBe(2)
    const file = join(root, 'bad.yaml')
    await writeFile(file, 'mesh: demo\nraft:\n  votrs: [a, b, c]\n')
    const badKey = run(['start', '--config', file])
    expect(badKey.status).toBe(2)
    expect(badKey.stderr).toMatch(/raft\.votrs/)
  })
})
