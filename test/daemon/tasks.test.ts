/**
 * Durable tasks through three daemons (real child processes on loopback, all Raft voters): a worker
 * written as a shell script (bash and curl, long-polling its agent's inbox) takes and completes tasks, and
 * fails one; a long-poll worker reports progress; a callback worker; idempotency keys; cancel; the task
 * routes' bad input; SSE task events; metrics; the `agora task` and `agora agent` CLI. The mesh is shared:
 * each test names its own agents and capabilities.
 */
import { spawn } from 'node:child_process'
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { api, cli, ensureMesh, exitOf, metrics, startDaemon, startMesh, stopAll } from './helpers.js'
import type { Daemon, DaemonMesh } from './helpers.js'
import { openEvents } from './sse.js'
import { ROUTE_TEMPLATES } from '../../src/daemon/routes.js'
import { waitUntil } from '../helpers/wait.js'

let root: string
let mesh: DaemonMesh
let d0: Daemon, d1: Daemon, d2: Daemon
let server: Server
let base: string

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'agora-tasks-'))
  mesh = await startMesh(root)
  // A callback worker: squares `n`, reporting progress through its daemon first.
  server = createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => { body += c.toString() })
    req.on('end', () => {
      void (async () => {
        const call = JSON.parse(body) as { callId: string, agent: string, payload: { n: number } }
        await api(mesh.daemons[2], 'POST', `/v1/agents/${call.agent}/inbox/${call.callId}/progress`, { progress: 0.5, note: 'halfway' })
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ reply: { squared: call.payload.n * call.payload.n } }))
      })()
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})

beforeEach(async () => {
  await ensureMesh(mesh)
  ;[d0, d1, d2] = mesh.daemons
})

afterAll(async () => {
  await stopAll()
  server.closeAllConnections()
  await new Promise<void>(resolve => server.close(() => resolve()))
  await rm(root, { recursive: true, force: true })
})

/** Registers agent `id` on `host` with a task handler (`spec`) and waits until every daemon sees it. */
async function tasker (host: Daemon, id: string, capabilities: string[], spec: Record<string, unknown> = {}): Promise<void> {
  expect((await api(host, 'POST', '/v1/agents', { id, capabilities })).status).toBe(201)
  expect((await api(host, 'PUT', `/v1/agents/${id}/handler`, { kinds: ['task'], ...spec })).status).toBe(200)
  for (const d of [d0, d1, d2]) await waitUntil(async () => (await api(d, 'GET', `/v1/agents/${id}`)).status === 200, `${id} known to every daemon`)
}

async function submit (d: Daemon, body: Record<string, unknown>): Promise<number> {
  const r = await api(d, 'POST', '/v1/tasks', body)
  expect(r.status, JSON.stringify(r.json)).toBe(201)
  return r.json.id as number
}

async function finished (d: Daemon, id: number): Promise<any> {
  const r = await api(d, 'GET', `/v1/tasks/${id}/wait?waitMs=30000`)
  expect(r.status, JSON.stringify(r.json)).toBe(200)
  expect(r.json.finished).toBe(true)
  return r.json.task
}

/** A worker in bash and curl alone: long-polls its agent's task calls, doubles `n` (fails 13), answers; exits after COUNT. */
const SHELL_WORKER = `#!/usr/bin/env bash
set -euo pipefail
auth="Authorization: Bearer $TOKEN"
done=0
while [ "$done" -lt "$COUNT" ]; do
  calls=$(curl -sf -H "$auth" "$AGORA/v1/agents/$AGENT/inbox?kinds=task&waitMs=2000")
  for id in $(printf '%s' "$calls" | grep -o '"callId":"[0-9a-f]*"' | cut -d'"' -f4); do
    n=$(printf '%s' "$calls" | grep -o '"callId":"'"$id"'"[^}]*"payload":{"n":[0-9]*' | grep -o '[0-9]*$')
    if [ "$n" -eq 13 ]; then
      answer='{"error":{"message":"13 is unlucky"}}'
    else
      answer='{"reply":{"doubled":'$((n * 2))',"by":"bash"}}'
    fi
    curl -sf -H "$auth" -H 'content-type: application/json' -d "$answer" "$AGORA/v1/agents/$AGENT/inbox/$id" > /dev/null
    done=$((done + 1))
  done
done
`

describe('tasks through the daemon', () => {
  it('a worker written as a shell script (curl long-poll) takes and completes tasks, and fails one', async () => {
    await tasker(d1, 'sh-tasker', ['double'])
    const script = join(root, 'tasker.sh')
    await writeFile(script, SHELL_WORKER)
    const p = spawn('bash', [script], { env: { ...process.env, AGORA: `http://${d1.http}`, TOKEN: d1.token, AGENT: 'sh-tasker', COUNT: '4' }, stdio: ['ignore', 'pipe', 'pipe'] })
    let err = ''
    p.stderr.on('data', (b: Buffer) => { err += b.toString() })
    try {
      const ids = []
      for (const n of [1, 2, 3]) ids.push(await submit(d0, { capability: 'double', payload: { n }, timeoutMs: 30_000 }))
      const unlucky = await submit(d2, { agent: 'sh-tasker', payload: { n: 13 }, retries: 0, timeoutMs: 30_000 })
      const done = await Promise.all(ids.map(async id => await finished(d0, id)))
      expect(done.map(t => [t.state, t.agent, t.result]), err).toEqual([1, 2, 3].map(n => ['completed', 'sh-tasker', { doubled: n * 2, by: 'bash' }]))
      expect(done.every(t => t.attempts === 1)).toBe(true)
      const failed = await finished(d2, unlucky)
      expect([failed.state, failed.error]).toEqual(['failed', '13 is unlucky'])
      expect((await exitOf(p)).code, err).toBe(0)
      // Listed by state and capability, read from any daemon.
      const listed = (await api(d2, 'GET', '/v1/tasks?state=completed&capability=double')).json.tasks.map((t: any) => t.id)
      expect(listed).toEqual(expect.arrayContaining(ids))
      expect((await api(d1, 'GET', `/v1/tasks/${ids[0]!}`)).json.task).toMatchObject({ id: ids[0], state: 'completed', record: { target: { capability: 'double' } } })
    } finally {
      if (p.exitCode === null) p.kill('SIGKILL')
    }
  })

  it('a long-poll worker reports progress, a callback worker completes tasks; the events stream and the metrics count them', async () => {
    await tasker(d2, 'cb-tasker', ['square'], { callback: `${base}/task` })
    await tasker(d1, 'lp-tasker', ['slow'])
    const before = await metrics(d0)
    const events = await openEvents(d0, '?types=task:*')
    try {
      const sq = await submit(d0, { capability: 'square', payload: { n: 7 } })
      expect((await finished(d0, sq)).result).toEqual({ squared: 49 })
      // A short ack window: the call still waits for the attempt's own deadline (timeoutMs after assignment).
      const slow = await submit(d0, { agent: 'lp-tasker', payload: { step: 1 }, ackMs: 500, timeoutMs: 60_000 })
      const call = await waitUntil(async () => (await api(d1, 'GET', '/v1/agents/lp-tasker/inbox?waitMs=1000')).json.calls[0], 'the task call in lp-tasker\'s inbox')
      expect(call).toMatchObject({ kind: 'task', agent: 'lp-tasker', payload: { step: 1 }, task: { id: slow, attempt: 1, submitter: d0.peerId } })
      expect(call.expiresAt - Date.now()).toBeGreaterThan(30_000)
      expect(call.task.deadline - Date.now()).toBeGreaterThan(30_000)
      expect((await api(d1, 'POST', `/v1/agents/lp-tasker/inbox/${call.callId as string}/progress`, { progress: 0.25, note: 'started' })).status).toBe(200)
      await waitUntil(async () => (await api(d0, 'GET', `/v1/tasks/${slow}`)).json.task.record.history[0]?.progress === 0.25, 'progress 0.25 in the log')
      expect((await api(d1, 'POST', `/v1/agents/lp-tasker/inbox/${call.callId as string}`, { reply: 'done' })).status).toBe(200)
      expect((await finished(d0, slow)).result).toBe('done')
      await events.until(fs => fs.find(f => f.event === 'task:completed' && f.data.task === slow), 'task:completed of the slow task')
      const types = new Set(events.events().filter(f => f.data?.task === sq || f.data?.task === slow).map(f => f.event))
      for (const t of ['task:submitted', 'task:assigned', 'task:progress', 'task:completed']) expect(types).toContain(t)
      // The subject is the task id.
      const only = await openEvents(d0, `?types=task:*&prefix=${sq}&lastEventId=${events.events()[0]!.id!}`)
      await only.until(fs => fs.some(f => f.event === 'task:completed'), 'the replay filtered by task id')
      expect(only.events().filter(f => f.event !== 'reset').every(f => String(f.data.task).startsWith(String(sq)))).toBe(true)
      only.close()
    } finally {
      events.close()
    }
    const after = await metrics(d0)
    expect((after.get('agora_tasks_submitted_total') ?? 0) - (before.get('agora_tasks_submitted_total') ?? 0)).toBeGreaterThanOrEqual(2)
    expect((after.get('agora_tasks_completed_total') ?? 0) - (before.get('agora_tasks_completed_total') ?? 0)).toBeGreaterThanOrEqual(2)
    expect(after.has('agora_tasks_in_flight')).toBe(true)
    expect(after.has('agora_tasks_reassigned_total')).toBe(true)
    expect(((await metrics(d2)).get('agora_task_attempts_total{result="completed"}') ?? 0)).toBeGreaterThanOrEqual(1)
  })

  it('an idempotency key gives one task; cancel takes the waiting call back; bad input is named errors', async () => {
    await tasker(d2, 'idle-tasker', ['idle'])
    const first = await api(d0, 'POST', '/v1/tasks', { capability: 'idle', payload: 1, idempotencyKey: 'once-only' })
    const again = await api(d0, 'POST', '/v1/tasks', { capability: 'idle', payload: 1, idempotencyKey: 'once-only' })
    expect([first.status, again.status, again.json]).toEqual([201, 200, { id: first.json.id, created: false }])
    const id = first.json.id as number
    await waitUntil(async () => (await api(d2, 'GET', '/v1/agents/idle-tasker/inbox?waitMs=0')).json.calls.length === 1 || undefined, 'the task waiting in idle-tasker\'s inbox')
    // Not finished within the wait: its state then.
    const pending = await api(d0, 'GET', `/v1/tasks/${id}/wait?waitMs=50`)
    expect(pending.json).toMatchObject({ finished: false, task: { id, state: 'assigned', agent: 'idle-tasker' } })
    const other = await api(d1, 'POST', `/v1/tasks/${id}/cancel`)
    expect([other.status, other.json.error.code]).toEqual([403, 'ERR_NOT_OWNER'])
    expect((await api(d0, 'POST', `/v1/tasks/${id}/cancel`)).json.task).toMatchObject({ id, state: 'cancelled' })
    // The host stops the attempt: the call leaves the inbox.
    await waitUntil(async () => (await metrics(d2)).get('agora_agent_handler_calls_pending') === 0, 'the cancelled task\'s call gone from the inbox')
    const err = async (method: string, path: string, body?: unknown): Promise<unknown> => {
      const r = await api(d0, method, path, body)
      return { status: r.status, code: r.json?.error?.code, ...(r.json?.error?.path !== undefined ? { path: r.json.error.path } : {}) }
    }
    expect(await err('POST', `/v1/tasks/${id}/cancel`)).toEqual({ status: 409, code: 'ERR_TASK_STATE' })
    expect(await err('POST', '/v1/tasks', { payload: 1 })).toEqual({ status: 400, code: 'ERR_BAD_REQUEST', path: 'agent' })
    expect(await err('POST', '/v1/tasks', { agent: 'a', capability: 'b' })).toEqual({ status: 400, code: 'ERR_BAD_REQUEST', path: 'agent' })
    expect(await err('POST', '/v1/tasks', { agent: 'a', retries: -1 })).toEqual({ status: 400, code: 'ERR_BAD_REQUEST', path: 'retries' })
    expect(await err('POST', '/v1/tasks', { agent: 'a', reward: 5 })).toEqual({ status: 400, code: 'ERR_BAD_REQUEST', path: 'reward' })
    expect(await err('GET', '/v1/tasks/999999999')).toEqual({ status: 404, code: 'ERR_TASK_NOT_FOUND', path: 'id' })
    expect(await err('GET', '/v1/tasks/x1')).toEqual({ status: 400, code: 'ERR_BAD_REQUEST', path: 'id' })
    expect(await err('GET', '/v1/tasks?state=bogus')).toEqual({ status: 400, code: 'ERR_BAD_REQUEST', path: 'state' })
    expect(await err('GET', '/v1/tasks/1/wait?waitMs=soon')).toEqual({ status: 400, code: 'ERR_BAD_REQUEST', path: 'waitMs' })
    const paths = Object.keys((await api(d0, 'GET', '/v1/openapi.json')).json.paths)
    for (const t of ['/v1/tasks', '/v1/tasks/:id', '/v1/tasks/:id/cancel', '/v1/tasks/:id/wait']) {
      expect(ROUTE_TEMPLATES).toContain(t)
      expect(paths).toContain(t.replace(':id', '{id}'))
    }
  })
})

describe('a task answer across a restart', () => {
  it('a worker\'s answer to a call the daemon handed out before it restarted completes the attempt (it is current and hosted here)', async () => {
    await tasker(d2, 'rs-tasker', ['restart-cap'])
    const id = await submit(d0, { agent: 'rs-tasker', payload: { n: 5 }, retries: 0, timeoutMs: 120_000 })
    const call = await waitUntil(async () => {
      const r = await api(d2, 'GET', '/v1/agents/rs-tasker/inbox?waitMs=1000')
      return r.json?.calls?.[0]
    }, { what: 'the task call in rs-tasker\'s inbox', timeoutMs: 20_000 })
    expect(call.task).toMatchObject({ id, attempt: 1 })
    // The daemon dies with the call handed out; the attempt stays current (acked under the host's session
    // lease, which outlives a quick restart). The ack is a Raft command of its own, proposed 200 ms after
    // the handler started: killed before it commits, the attempt would end with its short ack window.
    await waitUntil(async () => (await api(d0, 'GET', `/v1/tasks/${id}`)).json?.task?.record?.history?.[0]?.ackedAt !== undefined, { what: 'the attempt acked in the log', timeoutMs: 20_000 })
    d2.proc.kill('SIGKILL')
    await exitOf(d2.proc)
    d2 = await startDaemon(d2.dir, ['--raft-voters', mesh.ids.join(','), '--bootstrap', d0.addresses[0]!])
    mesh.daemons[2] = d2
    const r = await waitUntil(async () => {
      const x = await api(d2, 'POST', `/v1/agents/rs-tasker/inbox/${call.callId as string}`, { reply: { ten: 10 } })
      return x.status === 503 ? undefined : x
    }, { what: 'the restarted daemon to take the answer', timeoutMs: 30_000 })
    expect([r.status, r.json]).toEqual([200, { callId: expect.any(String), agent: 'rs-tasker', kind: 'task', accepted: true, recovered: true }])
    const t = await finished(d0, id)
    expect([t.state, t.result, t.attempts]).toEqual(['completed', { ten: 10 }, 1])
  })
})

describe('agora task and agora agent', () => {
  it('submit --wait, get, list, wait, cancel; request, send, publish; failures exit 1 with the code, bad usage 2', async () => {
    // A worker in this process for the CLI's agent: answers tasks and requests, fails payload "fail".
    expect((await api(d1, 'POST', '/v1/agents', { id: 'cli-worker', capabilities: ['cli-cap'] })).status).toBe(201)
    expect((await api(d1, 'PUT', '/v1/agents/cli-worker/handler', { kinds: ['task', 'request', 'message'] })).status).toBe(200)
    for (const d of [d0, d2]) await waitUntil(async () => (await api(d, 'GET', '/v1/agents/cli-worker')).status === 200, 'cli-worker known')
    let on = true
    const loop = (async () => {
      while (on) {
        const r = await api(d1, 'GET', '/v1/agents/cli-worker/inbox?waitMs=300')
        for (const c of r.json?.calls ?? []) {
          await api(d1, 'POST', `/v1/agents/cli-worker/inbox/${c.callId as string}`, c.payload === 'fail' ? { error: 'asked to fail' } : { reply: { kind: c.kind, got: c.payload } })
        }
      }
    })()
    try {
      const sub = await cli(d0, ['task', 'submit', '--capability', 'cli-cap', '--payload', '{"x":1}', '--retries', '0', '--wait', '30000'])
      expect(sub.code, sub.stderr).toBe(0)
      const [created, waited] = sub.stdout.split(/\n(?=\{)/).map(t => JSON.parse(t))
      expect(waited.task).toMatchObject({ id: created.id, state: 'completed', result: { kind: 'task', got: { x: 1 } } })
      const got = await cli(d2, ['task', 'get', String(created.id)])
      expect(JSON.parse(got.stdout).task.state).toBe('completed')
      const list = await cli(d2, ['task', 'list', '--agent', 'cli-worker', '--state', 'completed'])
      expect(JSON.parse(list.stdout).tasks.map((t: any) => t.id)).toContain(created.id)
      const bad = await cli(d0, ['task', 'submit', '--agent', 'cli-worker', '--payload', '"fail"', '--retries', '0', '--wait', '30000'])
      expect(bad.code).toBe(1)
      expect(bad.stderr).toMatch(/is failed/)
      const failedId = JSON.parse(bad.stdout.split(/\n(?=\{)/)[0]!).id as number
      expect((await cli(d0, ['task', 'wait', String(failedId)])).code).toBe(1)
      const cancel = await cli(d0, ['task', 'cancel', String(failedId)])
      expect([cancel.code, /ERR_TASK_STATE/.test(cancel.stderr)]).toEqual([1, true])
      // agent request / send / publish.
      const req = await cli(d0, ['agent', 'request', 'cli-worker', '--payload', '{"q":2}'])
      expect([req.code, JSON.parse(req.stdout)]).toEqual([0, { agent: 'cli-worker', reply: { kind: 'request', got: { q: 2 } } }])
      const routed = await cli(d2, ['agent', 'request', '--capability', 'cli-cap', '--payload', '3'])
      expect(JSON.parse(routed.stdout)).toEqual({ capability: 'cli-cap', reply: { kind: 'request', got: 3 } })
      const refused = await cli(d0, ['agent', 'request', 'cli-worker', '--payload', '"fail"'])
      expect([refused.code, /ERR_HANDLER/.test(refused.stderr)]).toEqual([1, true])
      expect(JSON.parse((await cli(d0, ['agent', 'send', 'cli-worker', '--message', '"hello"'])).stdout)).toEqual({ agent: 'cli-worker', delivered: true })
      expect(JSON.parse((await cli(d0, ['agent', 'publish', 'cli.topic', '--message', '{"a":1}'])).stdout)).toMatchObject({ topic: 'cli.topic' })
      const unknown = await cli(d0, ['agent', 'request', 'no-such-agent-anywhere'])
      expect([unknown.code, /ERR_UNKNOWN_AGENT/.test(unknown.stderr)]).toEqual([1, true])
      // Bad usage: exit 2 naming the flag.
      const usage = await cli(d0, ['task', 'submit', '--payload', '{}'])
      expect([usage.code, /exactly one of --agent, --capability, --query/.test(usage.stderr)]).toEqual([2, true])
      expect((await cli(d0, ['task', 'submit', '--agent', 'a', '--payload', '{nope'])).code).toBe(2)
      expect((await cli(d0, ['agent', 'frob'])).code).toBe(2)
    } finally {
      on = false
      await loop
    }
  })
})
