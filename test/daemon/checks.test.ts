/**
 * Agents' health checks through a real daemon (a child process): an HTTP check the daemon polls on a
 * small HTTP server of this test (127.0.0.1) turns its agent unhealthy after N failed polls and healthy
 * again after the damping; a URL beyond loopback is refused with a named 400; TTL check-ins over HTTP;
 * events, metrics; the declarations survive a restart of the daemon.
 */
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { waitUntil } from '../helpers/wait.js'
import { api, exitOf, metrics, startDaemon, stopAll } from './helpers.js'
import type { Daemon } from './helpers.js'
import { openEvents } from './sse.js'
import { ROUTE_TEMPLATES } from '../../src/daemon/routes.js'

let root: string
let d: Daemon
let server: Server
let port: number
/** What the health endpoint answers now, and the answers it gave by status. */
let answer = 200
const served = { ok: 0, failed: 0 }

const FAILURES = 3
const SUCCESSES = 2

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'agora-checks-'))
  server = createServer((req, res) => {
    if (answer === 200) served.ok++; else served.failed++
    res.writeHead(answer, { 'content-type': 'text/plain' })
    res.end(answer === 200 ? 'all good' : 'database down')
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  port = (server.address() as AddressInfo).port
  d = await startDaemon(join(root, 'd0'))
}, 60_000)

afterAll(async () => {
  await stopAll()
  await new Promise<void>(resolve => { server.close(() => resolve()); server.closeAllConnections() })
  await rm(root, { recursive: true, force: true })
})

const agentOf = async (id: string): Promise<any> => (await api(d, 'GET', `/v1/agents/${id}`)).json.agent

describe('health checks through the daemon', () => {
  it('an HTTP check polled by the daemon turns its agent unhealthy after N failures and healthy again; a URL beyond loopback is a named 400', async () => {
    const health = `http://127.0.0.1:${port}/health`
    const events = await openEvents(d, '?types=check:*,agent:health')
    const reg = await api(d, 'POST', '/v1/agents', {
      id: 'web-1',
      capabilities: ['serve'],
      checks: [
        { id: 'http', http: health, intervalMs: 200, timeoutMs: 150, failuresBeforeCritical: FAILURES, successesBeforePassing: SUCCESSES },
        { id: 'ttl', ttlMs: 60_000 }
      ]
    })
    expect(reg.status).toBe(201)
    expect(reg.json.agent).toMatchObject({ id: 'web-1', health: 'healthy', reportedHealth: 'healthy' })
    expect(reg.json.agent.checks.map((c: any) => `${c.id}:${c.kind}:${c.status}`)).toEqual(['http:http:passing', 'ttl:ttl:passing'])

    // Beyond loopback: refused, nothing registered or changed.
    const far = await api(d, 'POST', '/v1/agents', { id: 'far-1', checks: [{ id: 'h', http: 'http://10.1.2.3/health' }] })
    expect(far.status).toBe(400)
    expect(far.json.error).toMatchObject({ code: 'ERR_CHECK_URL_NOT_ALLOWED', path: 'checks.0.http' })
    expect((await api(d, 'GET', '/v1/agents/far-1')).status).toBe(404)
    const farPut = await api(d, 'PUT', '/v1/agents/web-1/checks', { checks: [{ id: 'h', http: 'http://example.org/' }] })
    expect(farPut.status).toBe(400)
    expect(farPut.json.error.code).toBe('ERR_CHECK_URL_NOT_ALLOWED')
    const bad = await api(d, 'PUT', '/v1/agents/web-1/checks', { checks: [{ id: 'h', ttlMs: 1 }] })
    expect(bad.json.error).toMatchObject({ code: 'ERR_INVALID_CHECK', path: 'checks.0.ttlMs' })
    expect((await api(d, 'PUT', '/v1/agents/nobody/checks', { checks: [] })).json.error.code).toBe('ERR_AGENT_NOT_FOUND')
    expect((await api(d, 'GET', '/v1/agents/web-1/checks')).json.checks).toHaveLength(2)

    await waitUntil(() => served.ok >= 2, 'the daemon polling the health endpoint')
    // The endpoint fails: the agent is unhealthy once FAILURES polls in a row failed.
    answer = 500
    await waitUntil(async () => (await agentOf('web-1')).health === 'unhealthy', 'web-1 unhealthy')
    expect(served.failed).toBeGreaterThanOrEqual(FAILURES)
    const sick = await agentOf('web-1')
    expect(sick.checks[0]).toMatchObject({ id: 'http', status: 'critical' })
    expect(sick.checks[0].output).toBe(`HTTP GET ${health}: 500 Internal Server Error: database down`)
    expect((await api(d, 'GET', '/v1/agents?capability=serve&health=healthy')).json.agents).toEqual([])
    expect((await api(d, 'GET', '/v1/checks?status=critical')).json.checks.map((c: any) => `${c.agent}/${c.id}`)).toEqual(['web-1/http'])

    // Back: healthy again after SUCCESSES good polls in a row.
    const okBefore = served.ok
    answer = 200
    await waitUntil(async () => (await agentOf('web-1')).health === 'healthy', 'web-1 healthy again')
    expect(served.ok - okBefore).toBeGreaterThanOrEqual(SUCCESSES)
    expect((await api(d, 'GET', '/v1/agents?capability=serve&health=healthy')).json.agents.map((a: any) => a.id)).toEqual(['web-1'])

    const seen = await events.until(f => {
      const types = f.filter(x => x.event !== undefined).map(x => `${x.event}:${x.data.check ?? x.data.health}`)
      return types.includes('check:critical:http') && types.includes('check:passing:http') && types.includes('agent:health:healthy') ? types : undefined
    }, 'check and health events')
    expect(seen.filter(t => t.startsWith('agent:health'))).toEqual(['agent:health:unhealthy', 'agent:health:healthy'])
    events.close()

    const m = await metrics(d)
    expect(m.get('agora_checks{kind="http",status="passing"}')).toBe(1)
    expect(m.get('agora_checks{kind="ttl",status="passing"}')).toBe(1)
    expect(m.get('agora_check_results_total{status="critical"}')).toBeGreaterThanOrEqual(FAILURES)
  })

  it('TTL check-ins over HTTP; named errors for an unknown check and a check-in on an HTTP check; the routes are documented', async () => {
    const pass = await api(d, 'PUT', '/v1/agents/web-1/checks/ttl/pass', { output: 'serving 12 req/s' })
    expect(pass.status).toBe(200)
    expect(pass.json.check).toMatchObject({ id: 'ttl', status: 'passing', output: 'serving 12 req/s' })
    const warn = await api(d, 'POST', '/v1/agents/web-1/checks/ttl/warn', {})
    // A TTL check follows a worse check-in at once (failuresBeforeCritical 1: the TTL is its grace).
    expect(warn.json.check).toMatchObject({ status: 'warning', last: 'warning' })
    expect((await agentOf('web-1')).health).toBe('degraded')
    expect((await api(d, 'PUT', '/v1/agents/web-1/checks/http/pass')).json.error.code).toBe('ERR_CHECK_KIND')
    const none = await api(d, 'PUT', '/v1/agents/web-1/checks/nope/fail')
    expect(none.status).toBe(404)
    expect(none.json.error.code).toBe('ERR_CHECK_NOT_FOUND')
    expect((await api(d, 'PUT', '/v1/agents/web-1/checks/ttl/pass', { output: 1 })).json.error.code).toBe('ERR_BAD_REQUEST')
    const paths = Object.keys((await api(d, 'GET', '/v1/openapi.json')).json.paths)
    for (const t of ['/v1/agents/:id/checks', '/v1/agents/:id/checks/:check/:result', '/v1/checks']) {
      expect(ROUTE_TEMPLATES).toContain(t)
      expect(paths).toContain(t.replace(/:([A-Za-z]+)/g, '{$1}'))
    }
  })

  it('the declarations survive a restart: the daemon polls the HTTP check again and the agent turns unhealthy on failures', async () => {
    d.proc.kill('SIGTERM')
    expect((await exitOf(d.proc)).code).toBe(0)
    d = await startDaemon(d.dir)
    await waitUntil(async () => (await api(d, 'GET', '/v1/agents/web-1/checks')).json.local === true, 'the checks declared again')
    const live = (await api(d, 'GET', '/v1/agents/web-1/checks')).json.checks
    expect(live.map((c: any) => c.definition)).toEqual([
      { id: 'http', http: `http://127.0.0.1:${port}/health`, method: 'GET', intervalMs: 200, timeoutMs: 150, initialStatus: 'passing', failuresBeforeCritical: FAILURES, successesBeforePassing: SUCCESSES },
      { id: 'ttl', ttlMs: 60_000, initialStatus: 'passing', failuresBeforeCritical: 1, successesBeforePassing: 2 }
    ])
    answer = 500
    await waitUntil(async () => (await agentOf('web-1')).health === 'unhealthy', 'web-1 unhealthy after the restart')
    answer = 200
    // Removing the checks gives the agent's own report back; unregistering forgets them.
    expect((await api(d, 'DELETE', '/v1/agents/web-1/checks')).json).toEqual({ agent: 'web-1', removed: true })
    const plain = await agentOf('web-1')
    expect(plain.health).toBe('healthy')
    expect(plain.checks).toBeUndefined()
    expect(plain.reportedHealth).toBeUndefined()
    expect((await api(d, 'GET', '/v1/checks')).json.checks).toEqual([])
  })
})
