/**
 * Rate limits and circuit breakers through a real daemon (issue 15: "a rate limit returns 429 with
 * Retry-After and the peer stays responsive"): writes and agent requests over their limit answer 429
 * ERR_RATE_LIMITED with Retry-After (seconds, rounded up) while /health, reads and other routes keep
 * answering; a hanging agent's breaker opens (503 ERR_CIRCUIT_OPEN with Retry-After), shows on the event
 * stream, in /v1/status, in `agora members` and in the metrics. The daemon is a child process.
 */
import { execFileSync } from 'node:child_process'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CLI, NODE, api, metrics, startDaemon, stopAll, type Daemon } from './helpers.js'
import { openEvents, type SseStream } from './sse.js'

let root: string
let d: Daemon
let server: Server
let base: string
let events: SseStream

/** A call whose answer is refused: status, code and Retry-After. */
async function refusal (method: string, path: string, body?: unknown): Promise<{ status: number, code: string, retryAfter: string | null }> {
  const res = await fetch(`http://${d.http}${path}`, { method, headers: { authorization: `Bearer ${d.token}`, 'content-type': 'application/json' }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) })
  const json = await res.json() as { error?: { code: string } }
  return { status: res.status, code: json.error?.code ?? 'none', retryAfter: res.headers.get('retry-after') }
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'agora-protect-'))
  // Refills of one token per 100 s: nothing refills while the test counts.
  await writeFile(join(root, 'agora.json'), JSON.stringify({
    rateLimits: { writes: { ratePerSecond: 0.01, burst: 5 }, agentRequests: { ratePerSecond: 0.01, burst: 3 } },
    breaker: { failureThreshold: 2, recoveryMs: 60_000, recoveryMaxMs: 60_000 }
  }))
  d = await startDaemon(join(root, 'd'), ['--config', join(root, 'agora.json')])
  server = createServer((req, res) => {
    req.resume()
    req.on('end', () => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(JSON.stringify({ reply: 'pong' })) })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  events = await openEvents(d, '?types=breaker:*')
}, 60_000)

afterAll(async () => {
  events?.close()
  await stopAll()
  server?.closeAllConnections()
  await new Promise<void>(resolve => server?.close(() => resolve()))
  await rm(root, { recursive: true, force: true })
})

describe('rate limits and breakers through the daemon', () => {
  it('writes over the limit answer 429 ERR_RATE_LIMITED with Retry-After; the daemon keeps answering', async () => {
    expect((await api(d, 'POST', '/v1/agents', { id: 'cb', capabilities: ['ping'] })).status).toBe(201)
    expect((await api(d, 'POST', '/v1/agents', { id: 'hang', capabilities: ['ping'] })).status).toBe(201)
    expect((await api(d, 'POST', '/v1/agents', { id: 'spare', capabilities: ['ping'] })).status).toBe(201)
    expect((await api(d, 'PUT', '/v1/variables/eventual/v', { value: 1 })).status).toBe(200)
    expect((await api(d, 'PUT', '/v1/variables/eventual/v', { value: 2 })).status).toBe(200)
    const r = await refusal('PUT', '/v1/variables/eventual/v', { value: 3 })
    expect([r.status, r.code]).toEqual([429, 'ERR_RATE_LIMITED'])
    // 1 token per 100 s: the next one in at most 100 s (whole seconds, rounded up).
    expect(r.retryAfter).toMatch(/^[0-9]+$/)
    expect(Number(r.retryAfter)).toBeGreaterThan(50)
    expect(Number(r.retryAfter)).toBeLessThanOrEqual(100)
    expect((await refusal('POST', '/v1/agents', { id: 'late', capabilities: ['ping'] })).status).toBe(429)
    expect((await fetch(`http://${d.http}/health`)).status).toBe(200)
    expect((await api(d, 'GET', '/v1/variables/eventual/v')).json.value).toBe(2)
    const st = await api(d, 'GET', '/v1/status')
    expect(st.status).toBe(200)
    expect(st.json.rateLimits.writes).toMatchObject({ limit: { ratePerSecond: 0.01, burst: 5 }, refused: 2 })
    expect((await metrics(d)).get('agora_rate_limited_total{limit="writes"}')).toBe(2)
  }, 30_000)

  it('an agent over its request limit answers 429 with Retry-After; other routes are served', async () => {
    for (const id of ['cb', 'spare']) expect((await api(d, 'PUT', `/v1/agents/${id}/handler`, { kinds: ['request'], callback: `${base}/calls` })).status).toBe(200)
    for (let i = 0; i < 3; i++) expect((await api(d, 'POST', '/v1/agents/cb/request', { payload: i })).json.reply).toBe('pong')
    const r = await refusal('POST', '/v1/agents/cb/request', { payload: 4 })
    expect([r.status, r.code]).toEqual([429, 'ERR_RATE_LIMITED'])
    expect(Number(r.retryAfter)).toBeGreaterThan(50)
    expect(Number(r.retryAfter)).toBeLessThanOrEqual(100)
    // Another agent of the daemon is served.
    expect((await api(d, 'POST', '/v1/agents/spare/request', { payload: 1 })).json.reply).toBe('pong')
    expect((await fetch(`http://${d.http}/health`)).status).toBe(200)
    expect((await api(d, 'GET', '/v1/agents/cb')).status).toBe(200)
    // A refusal by a rate limit is no failure of the agent.
    expect((await api(d, 'GET', '/v1/status')).json.breakers).toEqual([])
  }, 30_000)

  it('a hanging agent\'s breaker opens: 503 ERR_CIRCUIT_OPEN with Retry-After, on the event stream, in status, members and metrics', async () => {
    // A long-polling handler nobody polls: every request times out.
    expect((await api(d, 'PUT', '/v1/agents/hang/handler', { kinds: ['request'] })).status).toBe(200)
    for (let i = 0; i < 2; i++) expect((await refusal('POST', '/v1/agents/hang/request', { payload: i, timeoutMs: 300 })).code).toBe('ERR_TIMEOUT')
    const open = await refusal('POST', '/v1/agents/hang/request', { payload: 3, timeoutMs: 300 })
    expect(open.status).toBe(503)
    expect(open.code).toBe('ERR_CIRCUIT_OPEN')
    expect(Number(open.retryAfter)).toBeGreaterThanOrEqual(59)
    expect(Number(open.retryAfter)).toBeLessThanOrEqual(60)
    const e = await events.until(f => f.find(x => x.event === 'breaker:open'), 'breaker:open on the event stream')
    expect(e.data).toMatchObject({ agent: 'hang', opened: 1 })
    expect((await api(d, 'GET', '/v1/status')).json.breakers).toEqual([expect.objectContaining({ agent: 'hang', state: 'open' })])
    const members = (await api(d, 'GET', '/v1/members')).json.members as Array<{ self: boolean, breakers: unknown[] }>
    expect(members.find(m => m.self)!.breakers).toEqual([expect.objectContaining({ agent: 'hang', state: 'open' })])
    const table = execFileSync(NODE, [CLI, 'members', '--http', d.http, '--data-dir', d.dir]).toString()
    expect(table).toMatch(/^AGENT\s+HOST\s+BREAKER\s+RETRY IN$/m)
    expect(table).toMatch(new RegExp(`^hang\\s+${d.peerId}\\s+open\\s+\\d+s$`, 'm'))
    const m = await metrics(d)
    expect(m.get('agora_breakers{state="open"}')).toBe(1)
    expect(m.get('agora_breaker_transitions_total{to="open"}')).toBe(1)
    expect(m.get('agora_breaker_refused_total')).toBe(1)
    // With a fallback, the call goes to another agent of the capability (cb is over its limit: spare answers).
    expect((await api(d, 'POST', '/v1/agents/hang/request', { payload: 'x', fallback: true })).json.reply).toBe('pong')
    expect((await metrics(d)).get('agora_breaker_fallbacks_total')).toBe(1)
    expect((await fetch(`http://${d.http}/health`)).status).toBe(200)
  }, 30_000)
})
