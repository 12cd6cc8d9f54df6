/**
 * Mesh-wide budgets through three daemons (real child processes on loopback, all Raft voters): define,
 * join, take until the share is used up (429 ERR_BUDGET_EXHAUSTED with Retry-After, the daemon still
 * answering), the routes' bad input, metrics, the OpenAPI document and route templates, `agora budget`.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { api, cli, ensureMesh, metrics, startMesh, stopAll } from './helpers.js'
import type { Daemon, DaemonMesh } from './helpers.js'
import { ROUTE_TEMPLATES } from '../../src/daemon/routes.js'
import { openEvents } from './sse.js'
import { waitUntil } from '../helpers/wait.js'

let root: string
let mesh: DaemonMesh
let d0: Daemon, d1: Daemon, d2: Daemon

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'agora-budgets-'))
  mesh = await startMesh(root)
}, 90_000)

beforeEach(async () => {
  await ensureMesh(mesh)
  ;[d0, d1, d2] = mesh.daemons
}, 60_000)

afterAll(async () => {
  await stopAll()
  await rm(root, { recursive: true, force: true })
})

/** A take through `d`'s API with the answer's Retry-After header. */
async function take (d: Daemon, name: string, n?: number): Promise<{ status: number, json: any, retryAfter: string | null }> {
  const res = await fetch(`http://${d.http}/v1/budgets/${name}/take`, { method: 'POST', headers: { authorization: `Bearer ${d.token}`, 'content-type': 'application/json' }, body: JSON.stringify(n === undefined ? {} : { n }) })
  return { status: res.status, json: await res.json(), retryAfter: res.headers.get('retry-after') }
}

describe('mesh-wide budgets over HTTP', () => {
  it('define, join, take until 429 with Retry-After; the daemon stays responsive; metrics and events show the share', async () => {
    const events = await openEvents(d2, '?types=budget:*')
    const made = await api(d0, 'PUT', '/v1/budgets/http.calls', { ratePerSecond: 2, burst: 2 })
    expect(made.status).toBe(201)
    expect(made.json).toMatchObject({ created: true, changed: true, budget: { name: 'http.calls', owner: d0.peerId, ratePerSecond: 2, burst: 2 } })
    expect((await api(d1, 'PUT', '/v1/budgets/http.calls', { ratePerSecond: 2, burst: 2 })).json).toMatchObject({ created: false, changed: false })
    for (const d of [d0, d1]) {
      const j = await api(d, 'POST', '/v1/budgets/http.calls/join', { capacity: 1 })
      expect(j.status).toBe(200)
      expect(j.json.status).toMatchObject({ name: 'http.calls', capacity: 1, state: 'active' })
    }
    await waitUntil(async () => (await api(d0, 'GET', '/v1/budgets/http.calls')).json?.status?.budget?.hosts?.length === 2, 'd0 to see both shares')
    const got = await api(d2, 'GET', '/v1/budgets/http.calls')
    expect(got.json.budget.hosts.map((h: { host: string }) => h.host).sort()).toEqual([d0.peerId, d1.peerId].sort())
    expect(got.json.status).toBeNull()
    // d0's share: 1 token per second, a burst of 1, starting empty: a token within a bounded wait, then 429.
    await waitUntil(async () => (await take(d0, 'http.calls')).status === 200, { what: 'a token on d0', timeoutMs: 20_000 })
    const refused = await take(d0, 'http.calls')
    expect(refused.status).toBe(429)
    expect(refused.json.error.code).toBe('ERR_BUDGET_EXHAUSTED')
    expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(1)
    expect((await take(d0, 'http.calls', 5)).json.error.code).toBe('ERR_BUDGET_EXHAUSTED')
    expect((await api(d0, 'GET', '/v1/status')).status).toBe(200)
    expect((await take(d2, 'http.calls')).json.error.code).toBe('ERR_BUDGET_NOT_JOINED')
    const list = await api(d0, 'GET', '/v1/budgets')
    expect(list.json.budgets).toContain('http.calls')
    expect(list.json.joined).toMatchObject([{ name: 'http.calls', share: { ratePerSecond: 1, burst: 1 } }])
    const m = await metrics(d0)
    expect(m.get('agora_budget_share_tokens_per_second{budget="http.calls"}')).toBe(1)
    expect(m.get('agora_budget_takes_total{budget="http.calls",result="admitted"}')).toBeGreaterThanOrEqual(1)
    expect(m.get('agora_budget_takes_total{budget="http.calls",result="refused"}')).toBeGreaterThanOrEqual(2)
    expect(m.get('agora_budget_hosts{budget="http.calls"}')).toBe(2)
    // d1 leaves: d0 holds the whole budget.
    expect((await api(d1, 'POST', '/v1/budgets/http.calls/leave')).json).toEqual({ left: true })
    await waitUntil(async () => (await api(d0, 'GET', '/v1/budgets/http.calls')).json?.status?.share?.ratePerSecond === 2, 'd0 to hold the whole budget')
    // Every daemon (a Raft member) streams the machine's changes.
    try {
      await events.until(fs => fs.some(f => f.event === 'budget:left' && f.data.host === d1.peerId && f.data.reason === 'leave'), 'budget:left on SSE')
      const seen = events.events().map(f => f.event)
      expect(seen).toEqual(expect.arrayContaining(['budget:defined', 'budget:joined', 'budget:left']))
      expect(events.events().filter(f => f.event === 'budget:joined').map(f => f.data.host).sort()).toEqual([d0.peerId, d1.peerId].sort())
    } finally {
      events.close()
    }
  }, 120_000)

  it('bad input is a named 4xx; the routes are in the OpenAPI document and the route templates', async () => {
    const err = async (method: string, path: string, body?: unknown): Promise<unknown> => {
      const r = await api(d1, method, path, body)
      return { status: r.status, code: r.json?.error?.code, ...(r.json?.error?.path !== undefined ? { path: r.json.error.path } : {}) }
    }
    expect(await err('PUT', '/v1/budgets/b', { ratePerSecond: 1, burst: 0 })).toEqual({ status: 400, code: 'ERR_BAD_REQUEST', path: 'burst' })
    expect(await err('PUT', '/v1/budgets/b', { ratePerSecond: -1, burst: 1 })).toEqual({ status: 400, code: 'ERR_BAD_REQUEST', path: 'ratePerSecond' })
    expect(await err('PUT', '/v1/budgets/b', { ratePerSecond: 1, burst: 1, extra: 1 })).toEqual({ status: 400, code: 'ERR_BAD_REQUEST', path: 'extra' })
    expect(await err('PUT', '/v1/budgets/bad%20name', { ratePerSecond: 1, burst: 1 })).toEqual({ status: 400, code: 'ERR_BAD_REQUEST', path: 'name' })
    expect(await err('GET', '/v1/budgets/nope')).toEqual({ status: 404, code: 'ERR_BUDGET_NOT_FOUND', path: 'name' })
    expect(await err('POST', '/v1/budgets/nope/join', { capacity: 1 })).toEqual({ status: 404, code: 'ERR_BUDGET_NOT_FOUND' })
    expect(await err('POST', '/v1/budgets/nope/join', { capacity: 0 })).toEqual({ status: 400, code: 'ERR_BAD_REQUEST', path: 'capacity' })
    expect(await err('POST', '/v1/budgets/nope/take', { n: 0 })).toEqual({ status: 400, code: 'ERR_BAD_REQUEST', path: 'n' })
    expect(await err('DELETE', '/v1/budgets/nope')).toEqual({ status: 404, code: 'ERR_BUDGET_NOT_FOUND' })
    const paths = Object.keys((await api(d0, 'GET', '/v1/openapi.json')).json.paths)
    for (const t of ['/v1/budgets', '/v1/budgets/:name', '/v1/budgets/:name/join', '/v1/budgets/:name/leave', '/v1/budgets/:name/take']) {
      expect(ROUTE_TEMPLATES).toContain(t)
      expect(paths).toContain(t.replace(':name', '{name}'))
    }
  }, 60_000)

  it('agora budget define, join, take (exit 1 with ERR_BUDGET_EXHAUSTED once used up), get, delete; bad usage exits 2', async () => {
    const def = await cli(d2, ['budget', 'define', 'cli.budget', '--rate', '0.5', '--burst', '1'])
    expect(def.code, def.stderr).toBe(0)
    expect(JSON.parse(def.stdout)).toMatchObject({ created: true, budget: { ratePerSecond: 0.5 } })
    expect((await cli(d2, ['budget', 'join', 'cli.budget', '--capacity', '3'])).code).toBe(0)
    await waitUntil(async () => (await cli(d2, ['budget', 'take', 'cli.budget'])).code === 0, { what: 'a token through the CLI', timeoutMs: 30_000 })
    const over = await cli(d2, ['budget', 'take', 'cli.budget'])
    expect(over.code).toBe(1)
    expect(over.stderr).toContain('ERR_BUDGET_EXHAUSTED')
    expect(JSON.parse((await cli(d0, ['budget', 'get', 'cli.budget'])).stdout).budget.hosts).toMatchObject([{ host: d2.peerId, capacity: 3 }])
    expect((await cli(d2, ['budget', 'define', 'cli.budget', '--rate', 'fast', '--burst', '1'])).code).toBe(2)
    expect((await cli(d2, ['budget', 'join', 'cli.budget'])).code).toBe(2)
    expect((await cli(d2, ['budget', 'nope'])).code).toBe(2)
    expect((await cli(d2, ['budget', 'delete', 'cli.budget'])).code).toBe(0)
    expect(JSON.parse((await cli(d2, ['budget', 'list'])).stdout).budgets).not.toContain('cli.budget')
  }, 120_000)
})
