/**
 * Coordination through three daemons (real child processes on loopback, all Raft voters): locks over
 * HTTP, exclusive across daemons with increasing fencing tokens; an HTTP client that stops keeping its
 * lease alive losing its lock after the TTL; elections, barriers and votes answered by HTTP voters (a
 * long-poll and a callback served by this test process); a daemon killed with SIGKILL losing its locks
 * after their TTL and keeping its voters; the events on SSE, the metrics, the CLI, and bad input. The mesh
 * is shared: each test names its own locks, elections, barriers and agents and checks counters as
 * differences, so any order works.
 */
import { spawn } from 'node:child_process'
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { CLI, NODE, api, cli, ensureMesh, exitOf, metrics, startDaemon, startMesh, stopAll } from './helpers.js'
import type { Daemon, DaemonMesh } from './helpers.js'
import { openEvents } from './sse.js'
import { ROUTE_TEMPLATES } from '../../src/daemon/routes.js'
import { waitUntil } from '../helpers/wait.js'

let root: string
let mesh: DaemonMesh
let d0: Daemon, d1: Daemon, d2: Daemon
let voteServer: Server
let voteUrl: string
/** Vote requests the callback server received. */
const received: Array<Record<string, any>> = []

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'agora-coord-'))
  mesh = await startMesh(root)
  // Callback voters answer what their URL's last segment says (`.../vote/yes`).
  voteServer = createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => { body += c.toString() })
    req.on('end', () => {
      received.push(JSON.parse(body) as Record<string, any>)
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ choice: (req.url ?? '').split('/').pop() }))
    })
  })
  await new Promise<void>(resolve => voteServer.listen(0, '127.0.0.1', resolve))
  voteUrl = `http://127.0.0.1:${(voteServer.address() as AddressInfo).port}/vote`
})

beforeEach(async () => {
  await ensureMesh(mesh)
  ;[d0, d1, d2] = mesh.daemons
})

afterAll(async () => {
  await stopAll()
  await new Promise<void>(resolve => voteServer.close(() => resolve()))
  await rm(root, { recursive: true, force: true })
})

const LOCKS = '/v1/coordination/locks'
const lockState = async (d: Daemon, name: string): Promise<any> => (await api(d, 'GET', `${LOCKS}/${name}`)).json.lock

/** A counter's value (0 when absent). */
const counter = (m: Map<string, number>, key: string): number => m.get(key) ?? 0

/** Registers agent `id` on `host` and waits until every daemon sees it. */
async function agent (host: Daemon, id: string, capabilities: string[]): Promise<void> {
  expect((await api(host, 'POST', '/v1/agents', { id, capabilities })).status).toBe(201)
  for (const d of [d0, d1, d2]) await waitUntil(async () => (await api(d, 'GET', `/v1/agents/${id}`)).status === 200, `${id} known to every daemon`)
}

/** A long-polling voter: answers the next vote request of `id` on `d` with `choice`. */
async function answerNext (d: Daemon, id: string, choice: string | null): Promise<any> {
  const req = await waitUntil(async () => (await api(d, 'GET', `/v1/vote-requests?agent=${id}&waitMs=2000`)).json.requests[0], { what: `a vote request for ${id}`, timeoutMs: 30_000 })
  const r = await api(d, 'POST', `/v1/vote-requests/${req.requestId as string}`, { choice })
  return { request: req, answer: r }
}

describe('locks over HTTP', () => {
  it('are exclusive across daemons with increasing tokens; a release hands the lock to the next waiter', async () => {
    const before = await metrics(d2)
    const a = await api(d0, 'POST', `${LOCKS}/job.x`, { ttlMs: 20_000 })
    expect(a.status).toBe(200)
    expect(a.json).toMatchObject({ name: 'job.x', ttlMs: 20_000, fence: { lock: 'job.x', token: a.json.token } })
    const held = await api(d1, 'POST', `${LOCKS}/job.x`, { try: true })
    expect(held.status).toBe(409)
    expect(held.json.error.code).toBe('ERR_LOCK_HELD')
    const waiting = api(d1, 'POST', `${LOCKS}/job.x`, { waitMs: 30_000, ttlMs: 20_000 })
    await waitUntil(async () => (await lockState(d2, 'job.x'))?.waiters.length === 1, 'd1 queued behind d0')
    const state = await lockState(d2, 'job.x')
    expect(state.holders).toMatchObject([{ owner: d0.peerId, token: a.json.token, lease: a.json.lease }])
    expect(state.waiters[0].owner).toBe(d1.peerId)
    expect((await api(d2, 'GET', LOCKS)).json.locks).toContain('job.x')
    // The lease is d0's HTTP client's: listed there, with the lock it holds.
    const leases = (await api(d0, 'GET', '/v1/coordination/leases')).json.leases
    expect(leases).toContainEqual(expect.objectContaining({ lease: a.json.lease, dedicated: true, holds: [{ kind: 'lock', name: 'job.x', token: a.json.token }] }))
    // Only the daemon that holds it releases it.
    expect((await api(d1, 'DELETE', `${LOCKS}/job.x?token=${a.json.token as number}`)).json.error.code).toBe('ERR_NOT_HOLDER')
    expect((await api(d0, 'DELETE', `${LOCKS}/job.x?token=${a.json.token as number}`)).json).toEqual({ released: true, name: 'job.x', token: a.json.token })
    const b = await waiting
    expect(b.status).toBe(200)
    expect(b.json.token).toBeGreaterThan(a.json.token)
    expect((await lockState(d2, 'job.x')).holders).toMatchObject([{ owner: d1.peerId, token: b.json.token }])
    // The released lock's dedicated lease ended with it.
    expect((await api(d0, 'POST', `/v1/coordination/leases/${a.json.lease as number}/keepalive`)).json.error.code).toBe('ERR_LEASE_LOST')
    // A wait that times out is a named error, and leaves the queue.
    const late = await api(d2, 'POST', `${LOCKS}/job.x`, { waitMs: 800 })
    expect(late.status).toBe(409)
    expect(late.json.error.code).toBe('ERR_LOCK_TIMEOUT')
    expect((await lockState(d2, 'job.x')).waiters).toEqual([])
    expect((await api(d1, 'DELETE', `${LOCKS}/job.x?token=${b.json.token as number}`)).status).toBe(200)
    expect((await lockState(d0, 'job.x')).holders).toEqual([])

    // A semaphore of 2 permits, under one HTTP lease shared by two locks.
    const lease = (await api(d0, 'POST', '/v1/coordination/leases', { ttlMs: 20_000 })).json.lease
    expect(lease).toMatchObject({ ttlMs: 20_000, dedicated: false, holds: [] })
    const p1 = await api(d0, 'POST', `${LOCKS}/gpu.pool`, { permits: 2, lease: lease.lease })
    const p2 = await api(d1, 'POST', `${LOCKS}/gpu.pool`, { permits: 2, try: true })
    expect([p1.status, p2.status]).toEqual([200, 200])
    expect((await api(d2, 'POST', `${LOCKS}/gpu.pool`, { permits: 2, try: true })).json.error.code).toBe('ERR_LOCK_HELD')
    expect((await api(d2, 'POST', `${LOCKS}/gpu.pool`, { permits: 3, try: true })).json.error.code).toBe('ERR_PERMITS_MISMATCH')
    expect((await api(d0, 'POST', `${LOCKS}/other`, { lease: lease.lease })).json.lease).toBe(lease.lease)
    expect((await api(d0, 'GET', `/v1/coordination/leases/${lease.lease as number}`)).json.lease.holds).toHaveLength(2)
    // Revoking the lease frees both of its locks at once.
    expect((await api(d0, 'DELETE', `/v1/coordination/leases/${lease.lease as number}`)).json).toEqual({ revoked: lease.lease })
    expect((await lockState(d2, 'other')).holders).toEqual([])
    expect((await lockState(d2, 'gpu.pool')).holders).toMatchObject([{ owner: d1.peerId }])
    expect((await api(d1, 'DELETE', `${LOCKS}/gpu.pool?token=${p2.json.token as number}`)).status).toBe(200)

    // d2 applied every grant, wait and timeout (its replica's events).
    const after = await metrics(d2)
    expect(counter(after, 'agora_coordination_lock_grants_total') - counter(before, 'agora_coordination_lock_grants_total')).toBeGreaterThanOrEqual(5)
    expect(counter(after, 'agora_coordination_lock_waits_total') - counter(before, 'agora_coordination_lock_waits_total')).toBeGreaterThanOrEqual(2)
    expect(counter(after, 'agora_coordination_lock_timeouts_total') - counter(before, 'agora_coordination_lock_timeouts_total')).toBeGreaterThanOrEqual(1)
    expect(counter(after, 'agora_coordination_lease_grants_total') - counter(before, 'agora_coordination_lease_grants_total')).toBeGreaterThanOrEqual(4)
    expect(counter(after, 'agora_coordination_lease_revocations_total') - counter(before, 'agora_coordination_lease_revocations_total')).toBeGreaterThanOrEqual(3)
  })

  it('a write fenced by a lock is refused 409 ERR_FENCED once the lock has a newer holder (strong and eventual)', async () => {
    const first = (await api(d0, 'POST', `${LOCKS}/report.w`, { ttlMs: 20_000 })).json
    expect((await api(d0, 'PUT', '/v1/variables/strong/report.out', { value: 1, fence: first.fence })).status).toBe(200)
    expect((await api(d0, 'DELETE', `${LOCKS}/report.w?token=${first.token as number}`)).status).toBe(200)
    const second = (await api(d1, 'POST', `${LOCKS}/report.w`, { ttlMs: 20_000 })).json
    expect(second.token).toBeGreaterThan(first.token)
    const stale = await api(d0, 'PUT', '/v1/variables/strong/report.out', { value: 2, fence: first.fence })
    expect(stale.status).toBe(409)
    expect(stale.json.error.code).toBe('ERR_FENCED')
    const staleCas = await api(d0, 'POST', '/v1/variables/strong/report.out/cas', { expected: 1, value: 2, fence: first.fence })
    expect(staleCas.json.error.code).toBe('ERR_FENCED')
    expect((await api(d1, 'PUT', '/v1/variables/strong/report.out', { value: 3, fence: second.fence })).status).toBe(200)
    expect((await api(d2, 'GET', '/v1/variables/strong/report.out')).json.value).toBe(3)
    // Eventual: d0's replica knows the newer token (a member), so it refuses the stale write itself.
    await waitUntil(async () => (await lockState(d0, 'report.w'))?.holders[0]?.token === second.token, 'd0 applied the new grant')
    const ev = await api(d0, 'PUT', '/v1/variables/eventual/report.ev', { value: 'old', merge: 'lww', fence: first.fence })
    expect(ev.status).toBe(409)
    expect(ev.json.error.code).toBe('ERR_FENCED')
    expect((await api(d0, 'PUT', '/v1/variables/strong/report.out', { value: 4, fence: { lock: 'report.w' } })).json.error.code).toBe('ERR_BAD_REQUEST')
    expect((await api(d1, 'DELETE', `${LOCKS}/report.w?token=${second.token as number}`)).status).toBe(200)
  })

  it('an HTTP client that stops keeping its lease alive loses its lock after the TTL; one that keeps it alive keeps it', async () => {
    const kept = (await api(d0, 'POST', `${LOCKS}/lapse.kept`, { ttlMs: 1000 })).json
    const dropped = (await api(d1, 'POST', `${LOCKS}/lapse.dropped`, { ttlMs: 1000 })).json
    const t0 = Date.now()
    expect(kept.token).toBeGreaterThan(0)
    expect(dropped.token).toBeGreaterThan(0)
    const next = api(d2, 'POST', `${LOCKS}/lapse.dropped`, { waitMs: 30_000 })
    // d0's client keeps its lease alive for three TTLs (a keepalive every 300 ms) while d1's is silent.
    await waitUntil(async () => {
      expect((await api(d0, 'POST', `/v1/coordination/leases/${kept.lease as number}/keepalive`)).status).toBe(200)
      return Date.now() - t0 > 3000
    }, { what: 'three TTLs of keepalives', intervalMs: 300 })
    const got = await next
    const took = Date.now() - t0
    expect(got.status).toBe(200)
    expect(got.json.token).toBeGreaterThan(dropped.token)
    expect(took).toBeGreaterThanOrEqual(700)
    expect((await lockState(d0, 'lapse.dropped')).holders).toMatchObject([{ owner: d2.peerId, token: got.json.token }])
    expect((await lockState(d2, 'lapse.kept')).holders).toMatchObject([{ owner: d0.peerId, token: kept.token }])
    // The silent client learns it lost the lock: its lease is gone, its token no longer releases anything.
    const lost = await api(d1, 'POST', `/v1/coordination/leases/${dropped.lease as number}/keepalive`)
    expect(lost.status).toBe(410)
    expect(lost.json.error.code).toBe('ERR_LEASE_LOST')
    expect((await api(d1, 'DELETE', `${LOCKS}/lapse.dropped?token=${dropped.token as number}`)).json.error.code).toBe('ERR_NOT_HOLDER')
    expect(counter(await metrics(d1), 'agora_coordination_http_leases_ended_total{reason="lapsed"}')).toBeGreaterThanOrEqual(1)
    expect((await api(d0, 'DELETE', `${LOCKS}/lapse.kept?token=${kept.token as number}`)).status).toBe(200)
    expect((await api(d2, 'DELETE', `${LOCKS}/lapse.dropped?token=${got.json.token as number}`)).status).toBe(200)
  })

  it('a client that goes away while it waits leaves the queue at once', async () => {
    const holder = (await api(d0, 'POST', `${LOCKS}/gone.x`, { ttlMs: 20_000 })).json
    const ctrl = new AbortController()
    const abandoned = fetch(`http://${d1.http}${LOCKS}/gone.x`, { method: 'POST', headers: { authorization: `Bearer ${d1.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ waitMs: 60_000 }), signal: ctrl.signal }).catch(() => undefined)
    await waitUntil(async () => (await lockState(d2, 'gone.x'))?.waiters.length === 1, 'the waiter queued')
    ctrl.abort()
    await abandoned
    await waitUntil(async () => (await lockState(d2, 'gone.x'))?.waiters.length === 0, { what: 'the abandoned waiter gone from the queue', timeoutMs: 5000 })
    expect((await api(d1, 'GET', '/v1/coordination/leases')).json.leases.filter((l: any) => l.holds.length === 0 && l.dedicated)).toEqual([])
    expect((await api(d0, 'DELETE', `${LOCKS}/gone.x?token=${holder.token as number}`)).status).toBe(200)
  })

  it('SSE streams lock:* events of the group with the lock\'s name as subject', async () => {
    const events = await openEvents(d2, '?types=lock:*&prefix=sse.')
    expect(events.status).toBe(200)
    const got = (await api(d0, 'POST', `${LOCKS}/sse.lock`, {})).json
    await api(d0, 'POST', `${LOCKS}/not-sse`, {}).then(async r => await api(d0, 'DELETE', `${LOCKS}/not-sse?token=${r.json.token as number}`))
    expect((await api(d0, 'DELETE', `${LOCKS}/sse.lock?token=${got.token as number}`)).status).toBe(200)
    const released = await events.until(f => f.find(x => x.event === 'lock:released' && x.data.name === 'sse.lock'), 'lock:released')
    events.close()
    const acquired = events.events().find(x => x.event === 'lock:acquired')!
    expect(acquired.data).toMatchObject({ kind: 'lock', name: 'sse.lock', owner: d0.peerId, token: got.token, lease: got.lease })
    expect(acquired.data.type).toBeUndefined()
    expect(acquired.id).toMatch(/^[0-9a-f]+-\d+$/)
    expect(released.data).toMatchObject({ name: 'sse.lock', token: got.token, reason: 'lease-revoked' })
    expect(events.events().every(x => x.data.name === 'sse.lock' && x.event!.startsWith('lock:'))).toBe(true)
  })
})

describe('elections over HTTP', () => {
  it('one leader; it proclaims; the next candidate leads when it resigns; agora election campaign resigns on SIGTERM, agora election watch follows', async () => {
    const before = await metrics(d2)
    const events = await openEvents(d2, '?types=election:*&prefix=team.')
    const lead0 = await api(d0, 'POST', '/v1/coordination/elections/team.a/campaign', { value: { who: 0 }, ttlMs: 30_000 })
    expect(lead0.status).toBe(200)
    const pending = api(d1, 'POST', '/v1/coordination/elections/team.a/campaign', { value: { who: 1 }, ttlMs: 30_000, waitMs: 30_000 })
    await events.until(f => f.find(x => x.event === 'election:queued' && x.data.owner === d1.peerId), 'd1 a candidate in the queue')
    expect((await api(d2, 'GET', '/v1/coordination/elections/team.a/leader')).json.leader).toEqual({ owner: d0.peerId, token: lead0.json.token, lease: lead0.json.lease, value: { who: 0 } })
    expect((await api(d0, 'POST', '/v1/coordination/elections/team.a/proclaim', { token: lead0.json.token, value: { who: 0, round: 2 } })).status).toBe(200)
    expect((await api(d2, 'GET', '/v1/coordination/elections/team.a/leader')).json.leader.value).toEqual({ who: 0, round: 2 })
    expect((await api(d1, 'POST', '/v1/coordination/elections/team.a/proclaim', { token: lead0.json.token, value: 'usurper' })).json.error.code).toBe('ERR_NOT_HOLDER')
    expect((await api(d0, 'POST', '/v1/coordination/elections/team.a/resign', { token: lead0.json.token })).json).toMatchObject({ resigned: true })
    const lead1 = await pending
    expect(lead1.status).toBe(200)
    expect(lead1.json.token).toBeGreaterThan(lead0.json.token)
    expect((await api(d0, 'GET', '/v1/coordination/elections/team.a/leader')).json.leader).toMatchObject({ owner: d1.peerId, value: { who: 1 } })
    // A campaign that cannot lead in time is a named error.
    const t1 = Date.now()
    const late = await api(d2, 'POST', '/v1/coordination/elections/team.a/campaign', { waitMs: 500 })
    expect(late.json.error.code).toBe('ERR_CAMPAIGN_TIMEOUT')
    expect(Date.now() - t1).toBeLessThan(5000)
    expect((await api(d1, 'POST', '/v1/coordination/elections/team.a/resign', { token: lead1.json.token })).status).toBe(200)
    expect((await api(d2, 'GET', '/v1/coordination/elections/team.a/leader')).json.leader).toBeNull()
    await events.until(f => f.filter(x => x.event === 'election:elected').length >= 2 && f.find(x => x.event === 'election:proclaimed'), 'elected twice, proclaimed')
    events.close()

    // The CLI campaigns, prints its leadership, leads while it runs, and resigns on SIGTERM; a watch on
    // another daemon prints the leader (none yet), then the CLI's leadership.
    const watch = spawn(NODE, [CLI, 'election', 'watch', 'team.cli', '--count', '2'], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, AGORA_HTTP: d2.http, AGORA_TOKEN: d2.token } })
    let watched = ''
    watch.stdout.on('data', (b: Buffer) => { watched += b.toString() })
    await waitUntil(() => watched.includes('\n'), 'the watch\'s first line')
    const p = spawn(NODE, [CLI, 'election', 'campaign', 'team.cli', '--value', '"from-cli"', '--ttl', '1000'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, AGORA_HTTP: d0.http, AGORA_TOKEN: d0.token } })
    let out = ''
    p.stdout.on('data', (b: Buffer) => { out += b.toString() })
    const line = await waitUntil(() => out.includes('\n') && JSON.parse(out.split('\n')[0]!), 'the campaign\'s leadership line')
    expect(line).toMatchObject({ name: 'team.cli', ttlMs: 1000 })
    // It keeps its 1 s lease alive: still the leader after three TTLs.
    const t0 = Date.now()
    await waitUntil(async () => {
      expect((await api(d1, 'GET', '/v1/coordination/elections/team.cli/leader')).json.leader).toMatchObject({ owner: d0.peerId, token: line.token, value: 'from-cli' })
      return Date.now() - t0 > 3500
    }, { what: 'three TTLs of leadership', intervalMs: 300 })
    expect((await exitOf(watch)).code).toBe(0)
    expect(watched.trim().split('\n').map(l => JSON.parse(l))).toEqual([{ name: 'team.cli', leader: null }, { name: 'team.cli', leader: { owner: d0.peerId, token: line.token, lease: line.lease, value: 'from-cli' } }])
    p.kill('SIGTERM')
    expect((await exitOf(p)).code).toBe(0)
    expect((await api(d1, 'GET', '/v1/coordination/elections/team.cli/leader')).json.leader).toBeNull()
    const after = await metrics(d2)
    expect(counter(after, 'agora_coordination_elections_total') - counter(before, 'agora_coordination_elections_total')).toBeGreaterThanOrEqual(3)
  })
})

describe('barriers over HTTP', () => {
  it('releases agents arriving at two daemons together; a lone party times out; a party that goes away breaks the generation', async () => {
    const before = await metrics(d2)
    await agent(d0, 'bar-a', ['worker'])
    await agent(d1, 'bar-b', ['worker'])
    const arrive = async (d: Daemon, agentId: string, body: Record<string, unknown>): Promise<{ status: number, json: any }> =>
      await api(d, 'POST', '/v1/coordination/barriers/phase.1/arrive', { agent: agentId, ...body })
    const [a, b] = await Promise.all([arrive(d0, 'bar-a', { parties: 2, timeoutMs: 30_000 }), arrive(d1, 'bar-b', { parties: 2, timeoutMs: 30_000 })])
    expect([a.status, b.status]).toEqual([200, 200])
    expect(a.json).toEqual({ name: 'phase.1', generation: b.json.generation })
    const state = (await api(d2, 'GET', '/v1/coordination/barriers/phase.1')).json.barrier
    expect(state.history.at(-1)).toMatchObject({ generation: a.json.generation, status: 'released' })
    expect([...state.history.at(-1).arrivals].sort()).toEqual(['bar-a', 'bar-b'])
    // An agent hosted elsewhere cannot arrive here.
    expect((await arrive(d0, 'bar-b', { parties: 2, timeoutMs: 1000 })).json.error.code).toBe('ERR_NOT_HOST')
    // Alone: the generation times out.
    const lone = await arrive(d0, 'bar-a', { parties: 2, timeoutMs: 800 })
    expect(lone.status).toBe(409)
    expect(lone.json.error.code).toBe('ERR_BARRIER_TIMEOUT')
    // A party whose client goes away: its dedicated lease is revoked and the generation breaks for all.
    const ctrl = new AbortController()
    const gone = fetch(`http://${d0.http}/v1/coordination/barriers/phase.1/arrive`, { method: 'POST', headers: { authorization: `Bearer ${d0.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ agent: 'bar-a', parties: 3, timeoutMs: 60_000 }), signal: ctrl.signal }).catch(() => undefined)
    await waitUntil(async () => (await api(d2, 'GET', '/v1/coordination/barriers/phase.1')).json.barrier.arrived.includes('bar-a'), 'bar-a arrived')
    const other = arrive(d1, 'bar-b', { parties: 3, timeoutMs: 60_000 })
    await waitUntil(async () => (await api(d2, 'GET', '/v1/coordination/barriers/phase.1')).json.barrier.arrived.length === 2, 'bar-b arrived')
    ctrl.abort()
    await gone
    const broken = await other
    expect(broken.status).toBe(409)
    expect(broken.json.error.code).toBe('ERR_BARRIER_BROKEN')
    expect((await api(d2, 'GET', '/v1/coordination/barriers/phase.1')).json.barrier.history.at(-1)).toMatchObject({ status: 'broken', reason: expect.stringMatching(/revoked/) })
    const after = await metrics(d2)
    expect(counter(after, 'agora_coordination_barriers_total{result="released"}') - counter(before, 'agora_coordination_barriers_total{result="released"}')).toBe(1)
    expect(counter(after, 'agora_coordination_barriers_total{result="broken"}') - counter(before, 'agora_coordination_barriers_total{result="broken"}')).toBe(2)
  })
})

describe('votes over HTTP', () => {
  it('a vote is decided by agents answering through an HTTP long-poll and a callback', async () => {
    const before = await metrics(d0)
    await agent(d1, 'v-poll', ['voter.a'])
    await agent(d2, 'v-call', ['voter.a'])
    expect((await api(d1, 'POST', '/v1/agents/v-poll/voter', {})).json.voter).toEqual({ agent: 'v-poll', mode: 'poll', timeoutMs: 5000 })
    expect((await api(d2, 'POST', '/v1/agents/v-call/voter', { callback: `${voteUrl}/yes` })).json.voter).toMatchObject({ mode: 'callback' })
    const poller = answerNext(d1, 'v-poll', 'yes')
    poller.catch(() => {})
    const r = await api(d0, 'POST', '/v1/coordination/votes', { options: ['yes', 'no'], voters: { capability: 'voter.a' }, deadlineMs: 30_000, topic: 'deploy.v2' })
    expect(r.status).toBe(200)
    expect(r.json).toMatchObject({ status: 'decided', outcome: 'yes', reason: 'threshold', responses: { 'v-poll': 'voted', 'v-call': 'voted' } })
    expect(r.json.tally).toEqual([['yes', 2], ['no', 0]])
    const { request, answer } = await poller
    expect(request).toMatchObject({ vote: r.json.vote, agent: 'v-poll', opener: d0.peerId, topic: 'deploy.v2', options: ['yes', 'no'] })
    expect(answer.json).toMatchObject({ accepted: true, agent: 'v-poll', vote: r.json.vote, outcome: 'voted' })
    expect(received.find(x => x.vote === r.json.vote)).toMatchObject({ agent: 'v-call', topic: 'deploy.v2', options: ['yes', 'no'], requestId: expect.any(String) })
    const state = (await api(d2, 'GET', `/v1/coordination/votes/${r.json.vote as number}`)).json.vote
    expect(state.decided).toMatchObject({ outcome: 'yes' })
    expect(state.ballots.map((b: any) => b.agent).sort()).toEqual(['v-call', 'v-poll'])
    expect(counter(await metrics(d0), 'agora_coordination_votes_decided_total{status="decided"}') - counter(before, 'agora_coordination_votes_decided_total{status="decided"}')).toBe(1)
    expect(counter(await metrics(d1), 'agora_vote_requests_total{result="polled_answered"}')).toBeGreaterThanOrEqual(1)
    expect(counter(await metrics(d2), 'agora_vote_requests_total{result="callback"}')).toBeGreaterThanOrEqual(1)
  })
})

describe('a daemon that dies', () => {
  it('SIGKILL: its locks are free after their TTL; restarted, it serves the voters it had', async () => {
    const before = await metrics(d0)
    await agent(d1, 'v-kept', ['voter.b'])
    await agent(d1, 'v-gone', ['voter.b'])
    expect((await api(d1, 'POST', '/v1/agents/v-kept/voter', {})).status).toBe(200)
    expect((await api(d1, 'POST', '/v1/agents/v-gone/voter', { callback: `${voteUrl}/no` })).status).toBe(200)
    expect((await api(d1, 'DELETE', '/v1/agents/v-gone/voter')).json).toEqual({ removed: 'v-gone' })
    const held = (await api(d1, 'POST', `${LOCKS}/crash.x`, { ttlMs: 1500 })).json
    const next = api(d0, 'POST', `${LOCKS}/crash.x`, { waitMs: 60_000 })
    await waitUntil(async () => (await lockState(d2, 'crash.x'))?.waiters.length === 1, 'd0 queued')
    d1.proc.kill('SIGKILL')
    expect((await exitOf(d1.proc)).signal).toBe('SIGKILL')
    const got = await next
    expect(got.status).toBe(200)
    expect(got.json.token).toBeGreaterThan(held.token)
    expect(counter(await metrics(d0), 'agora_coordination_lease_expiries_total') - counter(before, 'agora_coordination_lease_expiries_total')).toBeGreaterThanOrEqual(1)
    expect((await api(d0, 'DELETE', `${LOCKS}/crash.x?token=${got.json.token as number}`)).status).toBe(200)

    await ensureMesh(mesh)
    const again = mesh.daemons[1]
    expect(again.peerId).toBe(d1.peerId)
    expect((await api(again, 'GET', '/v1/agents/v-kept/voter')).json.voter).toEqual({ agent: 'v-kept', mode: 'poll', timeoutMs: 5000 })
    expect((await api(again, 'GET', '/v1/agents/v-gone/voter')).json.error.code).toBe('ERR_NO_VOTER')
    // The restored voter is served: it answers a vote.
    // The opener reaches the restarted daemon (at its new address) over the agents' request channel.
    await waitUntil(async () => ((await api(d2, 'GET', '/v1/members')).json.members as any[]).some(m => m.peerId === again.peerId && m.connected === true), 'd2 connected to the restarted daemon')
    const poller = answerNext(again, 'v-kept', 'ship')
    poller.catch(() => {})
    const r = await api(d2, 'POST', '/v1/coordination/votes', { options: ['ship', 'hold'], voters: ['v-kept'], deadlineMs: 30_000 })
    expect(r.json).toMatchObject({ status: 'decided', outcome: 'ship', responses: { 'v-kept': 'voted' } })
    expect((await poller).answer.json.outcome).toBe('voted')
  })
})

describe('the coordination CLI', () => {
  it('agora lock <name> -- <command> runs the command under the lock and exits with its code; the other subcommands', async () => {
    const ok = await cli(d0, ['lock', 'cli.job', '--ttl', '3000', '--', 'sh', '-c', 'echo ok'])
    expect(ok).toMatchObject({ code: 0, stdout: 'ok\n' })
    // The command sees its token; the lock is held while it runs, free after.
    const seen = await cli(d1, ['lock', 'cli.job', '--', 'sh', '-c', `curl -s -H "authorization: Bearer ${d2.token}" http://${d2.http}${LOCKS}/cli.job; echo; echo "token=$AGORA_LOCK_TOKEN"; exit 3`])
    expect(seen.code).toBe(3)
    const [state, token] = seen.stdout.trim().split('\n')
    expect(JSON.parse(state!).lock.holders).toMatchObject([{ owner: d1.peerId, token: Number(token!.slice('token='.length)) }])
    expect((await lockState(d2, 'cli.job')).holders).toEqual([])

    const acquired = await cli(d0, ['lock', 'acquire', 'cli.other', '--ttl', '20000'])
    expect(acquired.code).toBe(0)
    const grant = JSON.parse(acquired.stdout)
    expect((await cli(d1, ['lock', 'acquire', 'cli.other', '--try'])).stderr).toMatch(/ERR_LOCK_HELD/)
    expect(JSON.parse((await cli(d2, ['lock', 'status', 'cli.other'])).stdout).lock.holders[0].token).toBe(grant.token)
    expect(JSON.parse((await cli(d2, ['lock', 'list'])).stdout).locks).toContain('cli.other')
    const released = await cli(d0, ['lock', 'release', 'cli.other', String(grant.token)])
    expect(released.code, released.stderr).toBe(0)

    const bar = await cli(d0, ['barrier', 'arrive', 'cli.barrier', '--agent', 'cli-agent', '--parties', '1'])
    expect(JSON.parse(bar.stdout)).toEqual({ name: 'cli.barrier', generation: 1 })
    expect(JSON.parse((await cli(d1, ['barrier', 'status', 'cli.barrier'])).stdout).barrier.history[0].status).toBe('released')

    await agent(d0, 'v-cli', ['voter.cli'])
    expect((await api(d0, 'POST', '/v1/agents/v-cli/voter', { callback: `${voteUrl}/b` })).status).toBe(200)
    const voted = await cli(d2, ['vote', 'open', '--options', 'a,b', '--capability', 'voter.cli', '--rule', 'unanimous', '--deadline', '20000'])
    expect(voted.code).toBe(0)
    const decision = JSON.parse(voted.stdout)
    expect(decision).toMatchObject({ status: 'decided', outcome: 'b' })
    expect(JSON.parse((await cli(d1, ['vote', 'status', String(decision.vote)])).stdout).vote.decided.outcome).toBe('b')

    // Usage errors exit 2 naming the problem; an unknown lease is the daemon's named error (exit 1).
    for (const [args, message] of [
      [['lock', 'cli.job'], /needs -- <command>/],
      [['lock', 'cli.job', '--'], /needs -- <command>/],
      [['lock', 'acquire', 'x', '--try', '--wait', '10'], /--wait or --try/],
      [['election', 'frob', 'x'], /unknown subcommand "frob" of election/],
      [['vote', 'open', '--options', 'a', '--voters', 'x', '--rule', 'most'], /--rule/],
      [['barrier', 'arrive', 'x', '--agent', 'a'], /--parties is required/],
      [['lock', 'release', 'x'], /needs a token/],
      [['election', 'resign', 'x', 'abc'], /a token is a positive integer/]
    ] as Array<[string[], RegExp]>) {
      const r = await cli(d0, args)
      expect({ args, code: r.code }).toEqual({ args, code: 2 })
      expect(r.stderr).toMatch(message)
    }
    const unknown = await cli(d0, ['lease', 'keepalive', '999999999'])
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toMatch(/ERR_LEASE_NOT_FOUND/)
  })
})

describe('bad input', () => {
  it('is refused with named errors, and the daemon keeps serving', async () => {
    const err = async (method: string, path: string, body?: unknown): Promise<{ status: number, code: string, path?: string }> => {
      const r = await api(d1, method, path, body)
      return { status: r.status, code: r.json.error.code, ...(r.json.error.path !== undefined ? { path: r.json.error.path } : {}) }
    }
    expect(await err('POST', `${LOCKS}/bad%20name`, {})).toEqual({ status: 400, code: 'ERR_BAD_REQUEST', path: 'name' })
    expect(await err('POST', `${LOCKS}/ok`, { ttlMs: 10 })).toEqual({ status: 400, code: 'ERR_BAD_REQUEST', path: 'ttlMs' })
    expect(await err('POST', `${LOCKS}/ok`, { waitMs: 10_000_000 })).toEqual({ status: 400, code: 'ERR_BAD_REQUEST', path: 'waitMs' })
    expect(await err('POST', `${LOCKS}/ok`, { try: true, waitMs: 5 })).toEqual({ status: 400, code: 'ERR_BAD_REQUEST', path: 'waitMs' })
    expect(await err('POST', `${LOCKS}/ok`, { lease: 5, ttlMs: 1000 })).toEqual({ status: 400, code: 'ERR_BAD_REQUEST', path: 'ttlMs' })
    expect(await err('POST', `${LOCKS}/ok`, { frob: 1 })).toEqual({ status: 400, code: 'ERR_BAD_REQUEST', path: 'frob' })
    expect(await err('POST', `${LOCKS}/ok`, { lease: 424242 })).toEqual({ status: 404, code: 'ERR_LEASE_NOT_FOUND', path: 'lease' })
    expect(await err('POST', `${LOCKS}/ok`, '{"ttlMs":1000,"x":"\\ud800"}')).toMatchObject({ status: 400, code: 'ERR_BAD_REQUEST' })
    expect(await err('DELETE', `${LOCKS}/ok`)).toEqual({ status: 400, code: 'ERR_BAD_REQUEST', path: 'token' })
    expect(await err('DELETE', `${LOCKS}/ok?token=12`)).toEqual({ status: 409, code: 'ERR_NOT_HOLDER', path: 'token' })
    expect(await err('POST', '/v1/coordination/leases', {})).toEqual({ status: 400, code: 'ERR_BAD_REQUEST', path: 'ttlMs' })
    expect(await err('POST', '/v1/coordination/leases/abc/keepalive')).toEqual({ status: 400, code: 'ERR_BAD_REQUEST', path: 'id' })
    expect(await err('POST', '/v1/coordination/leases/424242/keepalive')).toEqual({ status: 404, code: 'ERR_LEASE_NOT_FOUND', path: 'id' })
    expect(await err('POST', '/v1/coordination/elections/e1/proclaim', { token: 3 })).toEqual({ status: 400, code: 'ERR_BAD_REQUEST', path: 'value' })
    expect(await err('POST', '/v1/coordination/elections/e1/campaign', { value: 'x'.repeat(5000) })).toMatchObject({ status: 400, code: 'ERR_INVALID_OPTION', path: 'value' })
    expect(await err('POST', '/v1/coordination/barriers/b1/arrive', { agent: 'a', parties: 0, timeoutMs: 10 })).toEqual({ status: 400, code: 'ERR_BAD_REQUEST', path: 'parties' })
    expect(await err('POST', '/v1/coordination/votes', { options: ['a'], voters: [], deadlineMs: 1000 })).toEqual({ status: 400, code: 'ERR_BAD_REQUEST', path: 'voters' })
    expect(await err('POST', '/v1/coordination/votes', { options: ['a'], voters: ['nobody-here'], deadlineMs: 1000 })).toEqual({ status: 400, code: 'ERR_INVALID_OPTION', path: 'voters' })
    expect(await err('GET', '/v1/coordination/votes/987654321')).toEqual({ status: 404, code: 'ERR_VOTE_NOT_FOUND', path: 'id' })
    expect(await err('POST', '/v1/agents/not-hosted/voter', {})).toEqual({ status: 404, code: 'ERR_AGENT_NOT_FOUND', path: 'id' })
    expect(await err('GET', '/v1/vote-requests?agent=not-hosted')).toEqual({ status: 404, code: 'ERR_NO_VOTER', path: 'agent' })
    expect(await err('POST', '/v1/vote-requests/feedface', { choice: 'a' })).toEqual({ status: 404, code: 'ERR_UNKNOWN_REQUEST', path: 'requestId' })
    expect((await api(d1, 'POST', '/v1/agents', { id: 'bad-input-agent' })).status).toBe(201)
    expect(await err('POST', '/v1/agents/bad-input-agent/voter', { callback: 'http://10.9.8.7/vote' })).toEqual({ status: 400, code: 'ERR_CALLBACK_NOT_ALLOWED', path: 'callback' })
    expect(await err('POST', '/v1/agents/bad-input-agent/voter', { timeoutMs: 120_000 })).toEqual({ status: 400, code: 'ERR_BAD_REQUEST', path: 'timeoutMs' })
    expect(await err('GET', '/v1/events?types=lock:nope')).toMatchObject({ status: 400, code: 'ERR_BAD_REQUEST', path: 'types' })
    expect((await api(d1, 'GET', '/health')).status).toBe(200)
    expect((await api(d1, 'POST', `${LOCKS}/after.bad`, { try: true })).status).toBe(200)
    // Every coordination route is in the OpenAPI document.
    const paths = Object.keys((await api(d1, 'GET', '/v1/openapi.json')).json.paths)
    const routes = ROUTE_TEMPLATES.filter(t => t.startsWith('/v1/coordination') || t.includes('vote'))
    expect(routes.length).toBeGreaterThanOrEqual(16)
    for (const t of routes) expect(paths, t).toContain(t.replace(/:([A-Za-z]+)/g, '{$1}'))
  })
})
