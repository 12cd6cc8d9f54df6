/**
 * Agents over the daemon (real child processes on loopback): an agent hosted by one daemon answers
 * requests and messages from another through an HTTP long-poll worker, a callback worker, and a worker
 * written as a shell script (curl); capability routing; group topics; the registrations (handler, bidder,
 * voter) surviving SIGKILL and a restart; overload and bad input as named errors; metrics and OpenAPI.
 * Two daemons (no Raft: calls between agents do not use it); each test names its own agents.
 */
import { spawn } from 'node:child_process'
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, exitOf, metrics, running, startDaemon, stopAll } from './helpers.js'
import type { Daemon } from './helpers.js'
import { openEvents } from './sse.js'
import { ROUTE_TEMPLATES } from '../../src/daemon/routes.js'
import { waitUntil } from '../helpers/wait.js'

let root: string
let d0: Daemon, d1: Daemon
let d1Args: string[]
let server: Server
let base: string
/** Calls the callback server received. */
const received: Array<Record<string, any>> = []

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'agora-agents-'))
  // d1's inboxes are small, so that overload is reached with few calls.
  await writeFile(join(root, 'd1.yaml'), 'agentInboxMax: 3\n')
  d0 = await startDaemon(join(root, 'd0'))
  d1Args = ['--config', join(root, 'd1.yaml'), '--bootstrap', d0.addresses[0]!]
  d1 = await startDaemon(join(root, 'd1'), d1Args)
  server = createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => { body += c.toString() })
    req.on('end', () => {
      const call = JSON.parse(body) as Record<string, any>
      received.push(call)
      res.writeHead(200, { 'content-type': 'application/json' })
      if (call.kind === 'protocol:sum') res.end(JSON.stringify({ reply: (call.payload as number[]).reduce((a, b) => a + b, 0) }))
      else if (call.payload?.fail === true) res.end(JSON.stringify({ error: { message: 'the callback refuses' } }))
      else res.end(JSON.stringify({ reply: { via: 'callback', got: call.payload } }))
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})

afterAll(async () => {
  await stopAll()
  server.closeAllConnections()
  await new Promise<void>(resolve => server.close(() => resolve()))
  await rm(root, { recursive: true, force: true })
})

/** Registers agent `id` on `host` and waits until both daemons see it. */
async function agent (host: Daemon, id: string, capabilities: string[] = []): Promise<void> {
  expect((await api(host, 'POST', '/v1/agents', { id, capabilities })).status).toBe(201)
  for (const d of [d0, d1]) await waitUntil(async () => (await api(d, 'GET', `/v1/agents/${id}`)).status === 200, `${id} known to both daemons`)
}

/** A long-poll worker in this process: answers every call of `id` on `d` with `answer(call)` until stopped. */
function worker (d: Daemon, id: string, answer: (call: any) => unknown): { seen: any[], stop: () => Promise<void> } {
  const seen: any[] = []
  let on = true
  const loop = (async () => {
    while (on) {
      const r = await api(d, 'GET', `/v1/agents/${id}/inbox?waitMs=500`)
      if (r.status !== 200) throw new Error(`poll: ${r.status} ${JSON.stringify(r.json)}`)
      for (const call of r.json.calls) {
        seen.push(call)
        const a = await api(d, 'POST', `/v1/agents/${id}/inbox/${call.callId as string}`, answer(call))
        if (a.status !== 200) throw new Error(`answer: ${a.status} ${JSON.stringify(a.json)}`)
      }
    }
  })()
  return { seen, stop: async () => { on = false; await loop } }
}

describe('requests and messages over HTTP', () => {
  it('reach an agent on another daemon whose long-poll worker answers; an error answer is 422 ERR_HANDLER', async () => {
    await agent(d1, 'echo-p', ['echo'])
    const reg = await api(d1, 'PUT', '/v1/agents/echo-p/handler', { kinds: ['request', 'message'] })
    expect(reg.status).toBe(200)
    expect(reg.json.handler).toEqual({ agent: 'echo-p', kinds: ['request', 'message'], bindings: [{ kind: 'request', via: 'handler', mode: 'poll', timeoutMs: 5000 }, { kind: 'message', via: 'handler', mode: 'poll', timeoutMs: 5000 }] })
    const w = worker(d1, 'echo-p', (call) => call.payload?.fail === true ? { error: { message: 'refused by the worker' } } : { reply: { echo: call.payload } })
    try {
      const r = await api(d0, 'POST', '/v1/agents/echo-p/request', { payload: { n: 1 }, timeoutMs: 10_000 })
      expect(r).toEqual({ status: 200, json: { agent: 'echo-p', reply: { echo: { n: 1 } } } })
      const call = w.seen.find(c => c.kind === 'request')
      expect(call).toMatchObject({ kind: 'request', agent: 'echo-p', payload: { n: 1 }, from: { host: d0.peerId } })
      expect(typeof call.callId).toBe('string')
      expect((await api(d0, 'POST', '/v1/agents/echo-p/message', { message: 'hi' })).json).toEqual({ agent: 'echo-p', delivered: true })
      expect(w.seen.find(c => c.kind === 'message')).toMatchObject({ payload: 'hi', from: { host: d0.peerId } })
      const failed = await api(d0, 'POST', '/v1/agents/echo-p/request', { payload: { fail: true }, timeoutMs: 10_000 })
      expect(failed.status).toBe(422)
      expect(failed.json.error).toMatchObject({ code: 'ERR_HANDLER', message: 'refused by the worker' })
      // By capability.
      const routed = await api(d0, 'POST', '/v1/request', { capability: 'echo', payload: 'x', timeoutMs: 10_000 })
      expect(routed).toEqual({ status: 200, json: { capability: 'echo', reply: { echo: 'x' } } })
    } finally {
      await w.stop()
    }
    const m = await metrics(d1)
    expect(m.get('agora_agent_requests_total{kind="request",outcome="reply"}')).toBeGreaterThanOrEqual(2)
    expect(m.get('agora_agent_requests_total{kind="request",outcome="ERR_HANDLER"}')).toBeGreaterThanOrEqual(1)
    expect(m.get('agora_agent_handler_calls_total{kind="request",result="answered"}')).toBeGreaterThanOrEqual(3)
  })

  it('a callback worker answers requests and a named protocol; its error is 422 ERR_HANDLER', async () => {
    await agent(d1, 'cb-a')
    expect((await api(d1, 'PUT', '/v1/agents/cb-a/handler', { kinds: ['request', 'protocol:sum'], callback: `${base}/calls` })).status).toBe(200)
    expect((await api(d0, 'POST', '/v1/agents/cb-a/request', { payload: { q: 2 } })).json.reply).toEqual({ via: 'callback', got: { q: 2 } })
    expect((await api(d0, 'POST', '/v1/agents/cb-a/request', { protocol: 'sum', payload: [1, 2, 3] })).json.reply).toBe(6)
    expect(received.find(c => c.kind === 'protocol:sum')).toMatchObject({ agent: 'cb-a', protocol: 'sum', payload: [1, 2, 3], from: { host: d0.peerId } })
    const failed = await api(d0, 'POST', '/v1/agents/cb-a/request', { payload: { fail: true } })
    expect([failed.status, failed.json.error.code, failed.json.error.message]).toEqual([422, 'ERR_HANDLER', 'the callback refuses'])
    // A kind it did not register.
    const noMsg = await api(d0, 'POST', '/v1/agents/cb-a/message', { message: 1 })
    expect([noMsg.status, noMsg.json.error.code]).toEqual([404, 'ERR_NO_HANDLER'])
  })

  it('a worker written as a shell script (curl long-poll) answers requests', async () => {
    await agent(d1, 'sh-worker')
    expect((await api(d1, 'PUT', '/v1/agents/sh-worker/handler', { kinds: ['request'] })).status).toBe(200)
    const script = join(root, 'worker.sh')
    await writeFile(script, SHELL_WORKER)
    const p = spawn('bash', [script], { env: { ...process.env, AGORA: `http://${d1.http}`, TOKEN: d1.token, AGENT: 'sh-worker', COUNT: '3' }, stdio: ['ignore', 'pipe', 'pipe'] })
    let err = ''
    p.stderr.on('data', (b: Buffer) => { err += b.toString() })
    try {
      for (const n of [2, 5, 21]) {
        const r = await api(d0, 'POST', '/v1/agents/sh-worker/request', { payload: { n }, timeoutMs: 20_000 })
        expect(r, err).toEqual({ status: 200, json: { agent: 'sh-worker', reply: { doubled: n * 2 } } })
      }
      expect((await exitOf(p)).code, err).toBe(0)
    } finally {
      if (p.exitCode === null) p.kill('SIGKILL')
    }
  })
})

/** A worker in bash and curl alone: polls the inbox, doubles `n`, answers; exits after COUNT answers. */
const SHELL_WORKER = `#!/usr/bin/env bash
set -euo pipefail
done=0
while [ "$done" -lt "$COUNT" ]; do
  calls=$(curl -sf -H "Authorization: Bearer $TOKEN" "$AGORA/v1/agents/$AGENT/inbox?waitMs=2000")
  for id in $(printf '%s' "$calls" | grep -o '"callId":"[0-9a-f]*"' | cut -d'"' -f4); do
    n=$(printf '%s' "$calls" | grep -o '"callId":"'"$id"'"[^}]*"payload":{"n":[0-9]*' | grep -o '[0-9]*$')
    curl -sf -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \\
      -d '{"reply":{"doubled":'$((n * 2))'}}' "$AGORA/v1/agents/$AGENT/inbox/$id" > /dev/null
    done=$((done + 1))
  done
done
`

describe('group topics over HTTP', () => {
  it('a message published on one daemon reaches the other daemon\'s HTTP subscription and its event stream', async () => {
    const sub = await api(d1, 'PUT', '/v1/groups/team.a/subscription')
    expect(sub.json).toMatchObject({ topic: 'team.a', subscribed: true })
    const events = await openEvents(d1, '?types=group:message&prefix=team.a')
    try {
      // Gossipsub needs both peers on the topic's mesh: publish until the message arrives.
      const got = await waitUntil(async () => {
        await api(d0, 'POST', '/v1/groups/team.a/publish', { message: { hello: 'team' } })
        const r = await api(d1, 'GET', '/v1/groups/team.a/messages?after=0&waitMs=300')
        return r.json.messages.find((m: any) => m.from.host === d0.peerId)
      }, 'a group message from d0 on d1')
      expect(got).toMatchObject({ message: { hello: 'team' }, from: { host: d0.peerId } })
      await events.until(fs => fs.find(f => f.event === 'group:message' && f.data.topic === 'team.a' && f.data.from.host === d0.peerId), 'group:message on SSE')
      // The local publish is delivered to the local subscription too.
      expect((await api(d1, 'POST', '/v1/groups/team.a/publish', { message: 'mine' })).status).toBe(200)
      const after = got.seq as number
      const mine = await api(d1, 'GET', `/v1/groups/team.a/messages?after=${after}&waitMs=2000`)
      expect(mine.json.messages.map((m: any) => m.message)).toContain('mine')
    } finally {
      events.close()
    }
    expect((await api(d1, 'DELETE', '/v1/groups/team.a/subscription')).json).toMatchObject({ subscribed: false, removed: true })
  })
})

describe('registrations across a restart', () => {
  it('SIGKILL, then start again: the daemon serves the handlers, bidders and voters it had', async () => {
    await agent(d1, 'keep-h')
    await agent(d1, 'keep-b')
    await agent(d1, 'keep-v')
    expect((await api(d1, 'PUT', '/v1/agents/keep-h/handler', { kinds: ['request', 'task', 'protocol:ping'], timeoutMs: 8000 })).status).toBe(200)
    const bidder = (await api(d1, 'POST', '/v1/agents/keep-b/bidder', { callback: `${base}/bid` })).json.bidder
    const voter = (await api(d1, 'POST', '/v1/agents/keep-v/voter', {})).json.voter
    const handler = (await api(d1, 'GET', '/v1/agents/keep-h/handler')).json.handler
    const saved = JSON.parse(await readFile(join(d1.dir, 'handlers.json'), 'utf8'))
    expect(saved.handlers.filter((b: any) => b.agent.startsWith('keep-')).map((b: any) => `${b.agent}:${b.kind}:${b.via}`)).toEqual(['keep-h:request:handler', 'keep-h:task:handler', 'keep-h:protocol:ping:handler', 'keep-b:bid:bidder', 'keep-v:vote:voter'])
    d1.proc.kill('SIGKILL')
    expect((await exitOf(d1.proc)).signal).toBe('SIGKILL')
    d1 = await startDaemon(d1.dir, d1Args)
    expect((await api(d1, 'GET', '/v1/agents/keep-h/handler')).json.handler).toEqual(handler)
    expect((await api(d1, 'GET', '/v1/agents/keep-b/bidder')).json.bidder).toEqual(bidder)
    expect((await api(d1, 'GET', '/v1/agents/keep-v/voter')).json.voter).toEqual(voter)
    expect((await api(d1, 'GET', '/v1/vote-requests?agent=keep-v&waitMs=0')).json.requests).toEqual([])
    // The restored long-poll handler is served: a request from d0 reaches it at d1's new address.
    const w = worker(d1, 'keep-h', () => ({ reply: 'after restart' }))
    try {
      const r = await waitUntil(async () => {
        const x = await api(d0, 'POST', '/v1/agents/keep-h/request', { payload: null, timeoutMs: 3000 })
        return x.status === 200 ? x : undefined
      }, { what: 'd0 reaching keep-h on the restarted d1', timeoutMs: 30_000 })
      expect(r.json.reply).toBe('after restart')
    } finally {
      await w.stop()
    }
    expect(running(d1)).toBe(true)
  })
})

describe('overload and bad input', () => {
  it('a full inbox refuses 503 ERR_OVERLOADED naming the limit; a caller that waits too long gets 504 ERR_TIMEOUT', async () => {
    await agent(d1, 'slow-p')
    expect((await api(d1, 'PUT', '/v1/agents/slow-p/handler', { kinds: ['request'], timeoutMs: 20_000 })).status).toBe(200)
    // agentInboxMax is 3 on d1.
    const waiting = [1, 2, 3].map(async (n) => await api(d0, 'POST', '/v1/agents/slow-p/request', { payload: { n }, timeoutMs: 20_000 }).catch((err: Error) => ({ status: 0, json: { error: err.message } })))
    await waitUntil(async () => (await metrics(d1)).get('agora_agent_handler_calls_pending') === 3, 'three calls waiting in slow-p\'s inbox')
    const overRes = await fetch(`http://${d0.http}/v1/agents/slow-p/request`, { method: 'POST', headers: { authorization: `Bearer ${d0.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ payload: { n: 4 }, timeoutMs: 20_000 }) })
    const over = { status: overRes.status, json: await overRes.json() as any }
    expect(over.status).toBe(503)
    expect(over.json.error.code).toBe('ERR_OVERLOADED')
    expect(over.json.error.message).toContain('AGENT_INBOX_MAX')
    // A retry can get past it: the answer says when.
    expect(overRes.headers.get('retry-after')).toBe('1')
    // Drain: answer the three.
    const calls = (await api(d1, 'GET', '/v1/agents/slow-p/inbox?waitMs=0')).json.calls
    expect(calls.length).toBe(3)
    for (const c of calls) expect((await api(d1, 'POST', `/v1/agents/slow-p/inbox/${c.callId as string}`, { reply: c.payload.n })).status).toBe(200)
    expect((await Promise.all(waiting)).map(r => r.json.reply).sort()).toEqual([1, 2, 3])
    // Nobody answers within the caller's timeout.
    const late = await api(d0, 'POST', '/v1/agents/slow-p/request', { payload: {}, timeoutMs: 300 })
    expect([late.status, late.json.error.code]).toEqual([504, 'ERR_TIMEOUT'])
    expect((await metrics(d1)).get('agora_agent_handler_calls_total{kind="request",result="refused"}')).toBeGreaterThanOrEqual(1)
  })

  it('bad registrations, answers and calls are named 4xx errors, and the daemon keeps serving', async () => {
    await agent(d1, 'bad-in')
    const err = async (d: Daemon, method: string, path: string, body?: unknown): Promise<unknown> => {
      const r = await api(d, method, path, body)
      return { status: r.status, code: r.json?.error?.code, ...(r.json?.error?.path !== undefined ? { path: r.json.error.path } : {}) }
    }
    expect(await err(d1, 'PUT', '/v1/agents/bad-in/handler', { kinds: ['nope'] })).toEqual({ status: 400, code: 'ERR_BAD_REQUEST', path: 'kinds.0' })
    expect(await err(d1, 'PUT', '/v1/agents/bad-in/handler', { kinds: ['request'], extra: 1 })).toEqual({ status: 400, code: 'ERR_BAD_REQUEST', path: 'extra' })
    expect(await err(d1, 'PUT', '/v1/agents/bad-in/handler', { kinds: ['request'], callback: 'http://example.com/x' })).toEqual({ status: 400, code: 'ERR_CALLBACK_NOT_ALLOWED', path: 'callback' })
    expect(await err(d1, 'PUT', '/v1/agents/not-hosted/handler', { kinds: ['request'] })).toEqual({ status: 404, code: 'ERR_AGENT_NOT_FOUND', path: 'id' })
    expect(await err(d1, 'GET', '/v1/agents/bad-in/handler')).toEqual({ status: 404, code: 'ERR_NO_HANDLER', path: 'id' })
    expect(await err(d1, 'GET', '/v1/agents/bad-in/inbox')).toEqual({ status: 404, code: 'ERR_NO_HANDLER', path: 'id' })
    expect((await api(d1, 'PUT', '/v1/agents/bad-in/handler', { kinds: ['vote', 'request'] })).status).toBe(200)
    expect(await err(d1, 'GET', '/v1/agents/bad-in/inbox?waitMs=soon')).toEqual({ status: 400, code: 'ERR_BAD_REQUEST', path: 'waitMs' })
    expect(await err(d1, 'GET', '/v1/agents/bad-in/inbox?kinds=nope')).toEqual({ status: 400, code: 'ERR_BAD_REQUEST', path: 'kinds' })
    expect(await err(d1, 'POST', '/v1/agents/bad-in/inbox/feedface', { reply: 1 })).toEqual({ status: 404, code: 'ERR_UNKNOWN_REQUEST', path: 'callId' })
    expect(await err(d1, 'POST', '/v1/agents/bad-in/inbox/feedface', { reply: 1, error: 'x' })).toMatchObject({ status: 400, code: 'ERR_BAD_REQUEST' })
    expect(await err(d0, 'POST', '/v1/agents/nobody-at-all/request', { payload: 1 })).toEqual({ status: 404, code: 'ERR_UNKNOWN_AGENT' })
    expect(await err(d0, 'POST', '/v1/agents/bad-in/request', { payload: 1, timeoutMs: 10 ** 9 })).toEqual({ status: 400, code: 'ERR_BAD_REQUEST', path: 'timeoutMs' })
    expect(await err(d0, 'POST', '/v1/request', { capability: 'no-such-capability', payload: 1 })).toEqual({ status: 404, code: 'ERR_NO_CANDIDATE' })
    expect(await err(d0, 'POST', '/v1/groups/bad%20topic/publish', { message: 1 })).toEqual({ status: 400, code: 'ERR_BAD_REQUEST', path: 'topic' })
    // Unregistering the agent removes its handler.
    expect((await api(d1, 'DELETE', '/v1/agents/bad-in')).status).toBe(200)
    expect(await err(d1, 'GET', '/v1/agents/bad-in/handler')).toEqual({ status: 404, code: 'ERR_NO_HANDLER', path: 'id' })
    expect((await api(d1, 'GET', '/v1/status')).status).toBe(200)
  })

  it('the routes are in the OpenAPI document and the route templates', async () => {
    const paths = Object.keys((await api(d1, 'GET', '/v1/openapi.json')).json.paths)
    const ours = ['/v1/agents/:id/handler', '/v1/agents/:id/inbox', '/v1/agents/:id/inbox/:callId', '/v1/agents/:id/inbox/:callId/progress', '/v1/agents/:id/request', '/v1/agents/:id/message', '/v1/request', '/v1/groups/:topic/publish', '/v1/groups/:topic/subscription', '/v1/groups/:topic/messages']
    for (const t of ours) {
      expect(ROUTE_TEMPLATES).toContain(t)
      expect(paths).toContain(t.replace(/:([A-Za-z]+)/g, '{$1}'))
    }
  })
})
