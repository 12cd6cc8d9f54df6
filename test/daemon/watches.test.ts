/**
 * The daemon as operators expect it (O8), on three voter daemons and one daemon outside the Raft group,
 * all real child processes on loopback: watches (strong-variable changes on the event stream, event ids
 * and resume over the bounded replay buffer, `reset`, keepalives, type and prefix filters), listing
 * variables by prefix, the probes without a token, metric names and latency histograms, and the
 * 415 / content-type behaviour of the README's examples.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { api, ensureMesh, metrics, startDaemon, startMesh, stopAll } from './helpers.js'
import type { Daemon, DaemonMesh } from './helpers.js'
import { openEvents } from './sse.js'
import { waitUntil } from '../helpers/wait.js'
import { SSE_REPLAY_EVENTS_MAX } from '../../src/daemon/events.js'

let root: string
let mesh: DaemonMesh
let d0: Daemon, d1: Daemon, d2: Daemon
/** A daemon outside the Raft group (no --raft-voters), bootstrapped from d0. */
let outsider: Daemon

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'agora-ops-'))
  mesh = await startMesh(root)
  outsider = await startDaemon(join(root, 'outsider'), ['--bootstrap', mesh.daemons[0].addresses[0]!])
})

beforeEach(async () => {
  await ensureMesh(mesh)
  ;[d0, d1, d2] = mesh.daemons
})

afterAll(async () => {
  await stopAll()
  await rm(root, { recursive: true, force: true })
})

describe('watches: the event stream', () => {
  it('streams strong-variable changes (kind strong, with the log index) on every member, each event with an id', async () => {
    const s1 = await openEvents(d1, '?types=variable:changed')
    const s2 = await openEvents(d2)
    await s1.until(f => f.length > 0, 'the stream greeting')
    expect((await api(d0, 'PUT', '/v1/variables/strong/watch.price', { value: 41 })).status).toBe(200)
    expect((await api(d2, 'POST', '/v1/variables/strong/watch.price/cas', { expected: 41, value: 42 })).json.swapped).toBe(true)
    for (const s of [s1, s2]) {
      const changes = await s.until(f => {
        const c = f.filter(x => x.event === 'variable:changed' && x.data.name === 'watch.price')
        return c.length === 2 ? c : undefined
      }, 'two strong changes of watch.price')
      expect(changes.map(c => c.data)).toMatchObject([{ kind: 'strong', value: 41 }, { kind: 'strong', value: 42, previous: 41 }])
      expect(changes[1]!.data.index).toBeGreaterThan(changes[0]!.data.index)
      for (const c of changes) expect(c.id).toMatch(/^[0-9a-f]+-[0-9]+$/)
    }
    s1.close(); s2.close()
  })

  it('outside the Raft group the greeting says strong changes are not streamed; eventual changes are', async () => {
    const s = await openEvents(outsider, '?types=variable:changed')
    const greeting = await s.until(f => f[0]?.comment, 'the greeting')
    expect(greeting).toMatch(/not a Raft member/)
    expect((await api(outsider, 'PUT', '/v1/variables/eventual/watch.out', { value: 'x' })).status).toBe(200)
    const e = await s.until(f => f.find(x => x.event === 'variable:changed' && x.data.name === 'watch.out'), 'the eventual change')
    expect(e.data.kind).toBe('eventual')
    s.close()
    // Members greet without the note.
    const m = await openEvents(d0)
    expect(await m.until(f => f[0]?.comment, 'the greeting')).not.toMatch(/not a Raft member/)
    m.close()
  })

  it('streams an eventual variable written on another daemon, which this one never declared (merged value; an unchanged merge is not an event)', async () => {
    const s = await openEvents(d1, '?types=variable:changed&prefix=remote.')
    await s.until(f => f.length > 0, 'the stream greeting')
    expect((await api(d0, 'PUT', '/v1/variables/eventual/remote.temp', { value: 20, merge: 'max' })).status).toBe(200)
    const first = await s.until(f => f.find(x => x.event === 'variable:changed' && x.data.value === 20), 'the remote write streamed')
    expect(first.data).toMatchObject({ kind: 'eventual', name: 'remote.temp', value: 20 })
    // A lower contribution from a third daemon leaves the max at 20 (no event); a higher one moves it.
    expect((await api(d2, 'PUT', '/v1/variables/eventual/remote.temp', { value: 5, merge: 'max' })).status).toBe(200)
    expect((await api(d2, 'PUT', '/v1/variables/eventual/remote.temp', { value: 30, merge: 'max' })).status).toBe(200)
    const next = await s.until(f => f.find(x => x.event === 'variable:changed' && x.data.value === 30), 'the new maximum streamed')
    expect(next.data).toMatchObject({ kind: 'eventual', name: 'remote.temp', value: 30, previous: 20 })
    const all = s.frames.filter(x => x.event === 'variable:changed').map(x => x.data.value)
    expect(all).toEqual([20, 30])
    s.close()
  })

  it('resumes after Last-Event-ID (header or query) with exactly the missed events, filtered', async () => {
    const first = await openEvents(d0, '?prefix=resume.')
    await first.until(f => f.length > 0, 'greeting')
    await api(d0, 'PUT', '/v1/variables/eventual/resume.a', { value: 1 })
    const seen = await first.until(f => f.find(x => x.data?.name === 'resume.a'), 'resume.a')
    first.close()
    // Missed while disconnected: two matching changes and one that the prefix filters out.
    await api(d0, 'PUT', '/v1/variables/eventual/resume.b', { value: 2 })
    await api(d0, 'PUT', '/v1/variables/eventual/other.c', { value: 3 })
    await api(d0, 'PUT', '/v1/variables/eventual/resume.d', { value: 4 })
    const byHeader = await openEvents(d0, '?prefix=resume.', { 'last-event-id': seen.id! })
    const replayed = await byHeader.until(f => {
      const names = f.filter(x => x.event !== undefined).map(x => x.data.name as string)
      return names.includes('resume.d') ? names : undefined
    }, 'the replay up to resume.d')
    expect(replayed).toEqual(['resume.b', 'resume.d'])
    byHeader.close()
    const byQuery = await openEvents(d0, `?prefix=resume.&lastEventId=${seen.id!}`)
    expect(await byQuery.until(f => {
      const names = f.filter(x => x.event !== undefined).map(x => x.data.name as string)
      return names.includes('resume.d') ? names : undefined
    }, 'the replay by query')).toEqual(['resume.b', 'resume.d'])
    byQuery.close()
    // A malformed id is a 400 naming the parameter.
    const bad = await api(d0, 'GET', '/v1/events?lastEventId=nope')
    expect(bad.status).toBe(400)
    expect(bad.json.error).toMatchObject({ code: 'ERR_BAD_REQUEST', path: 'lastEventId' })
  })

  it(`a client more than ${SSE_REPLAY_EVENTS_MAX} events behind, or of another daemon process, first gets a reset event`, async () => {
    const s = await openEvents(d1, '?types=variable:changed')
    await s.until(f => f.length > 0, 'greeting')
    await api(d1, 'PUT', '/v1/variables/eventual/flood.start', { value: 0 })
    const mark = await s.until(f => f.find(x => x.data?.name === 'flood.start'), 'flood.start')
    s.close()
    // More events than the replay buffer holds (each add is one variable:changed on d1).
    for (let i = 0; i < SSE_REPLAY_EVENTS_MAX + 10; i += 50) {
      await Promise.all(Array.from({ length: 50 }, async () => await api(d1, 'PUT', '/v1/variables/eventual/flood.n', { add: 1, merge: 'counter' })))
    }
    const late = await openEvents(d1, '?types=agent:*', { 'last-event-id': mark.id! })
    const reset = await late.until(f => f.find(x => x.event !== undefined), 'the first event')
    expect(reset.event).toBe('reset')
    expect(reset.data).toMatchObject({ reason: 'too-far-behind', lastEventId: mark.id })
    expect(reset.id).toBe(reset.data.latest)
    late.close()
    // An id of another stream (a restarted daemon): reset, reason unknown-stream.
    const other = await openEvents(d1, '', { 'last-event-id': 'ffffffff-3' })
    expect((await other.until(f => f.find(x => x.event !== undefined), 'the first event')).data.reason).toBe('unknown-stream')
    other.close()
  })

  it('filters by type (exact or family:*) and by name prefix; unknown types are 400', async () => {
    const agents = await openEvents(d0, '?types=agent:*&prefix=flt-')
    const vars = await openEvents(d0, '?types=variable:changed,raft:role&prefix=flt.')
    await agents.until(f => f.length > 0, 'greeting')
    await vars.until(f => f.length > 0, 'greeting')
    await api(d0, 'POST', '/v1/agents', { id: 'flt-1', capabilities: ['f'] })
    await api(d0, 'POST', '/v1/agents', { id: 'nope-1', capabilities: ['f'] })
    await api(d0, 'PUT', '/v1/variables/eventual/flt.x', { value: 1 })
    await api(d0, 'PUT', '/v1/variables/eventual/zzz.x', { value: 1 })
    await api(d0, 'POST', '/v1/agents', { id: 'flt-2', capabilities: ['f'] })
    await api(d0, 'PUT', '/v1/variables/eventual/flt.y', { value: 2 })
    const a = await agents.until(f => { const e = f.filter(x => x.event !== undefined); return e.some(x => x.data.agent.id === 'flt-2') ? e : undefined }, 'flt-2 joined')
    expect(a.map(x => [x.event, x.data.agent.id])).toEqual([['agent:joined', 'flt-1'], ['agent:joined', 'flt-2']])
    const v = await vars.until(f => { const e = f.filter(x => x.event !== undefined); return e.some(x => x.data.name === 'flt.y') ? e : undefined }, 'flt.y changed')
    expect(v.map(x => x.data.name)).toEqual(['flt.x', 'flt.y'])
    agents.close(); vars.close()
    const bad = await api(d0, 'GET', '/v1/events?types=variable:chnged')
    expect(bad.status).toBe(400)
    expect(bad.json.error).toMatchObject({ code: 'ERR_BAD_REQUEST', path: 'types' })
  })

  it('sends keepalive comments at the asked period (bounded)', async () => {
    const s = await openEvents(d2, '?keepaliveMs=1000&types=auction:settled')
    const n = await s.until(f => { const k = f.filter(x => x.comment === 'keepalive').length; return k >= 2 ? k : undefined }, 'two keepalives', 10_000)
    expect(n).toBeGreaterThanOrEqual(2)
    s.close()
    expect((await api(d2, 'GET', '/v1/events?keepaliveMs=10')).json.error).toMatchObject({ code: 'ERR_BAD_REQUEST', path: 'keepaliveMs' })
  })
})

describe('listing variables', () => {
  it('lists strong variables by prefix in name order, paged by cursor; off the group it is 409 ERR_NOT_RAFT_MEMBER', async () => {
    for (const n of ['ls.b', 'ls.a', 'ls.c', 'lt.z']) expect((await api(d0, 'PUT', `/v1/variables/strong/${n}`, { value: { n } })).status).toBe(200)
    const p1 = (await api(d1, 'GET', '/v1/variables/strong?prefix=ls.&limit=2')).json
    expect(p1).toEqual({ variables: [{ name: 'ls.a', value: { n: 'ls.a' } }, { name: 'ls.b', value: { n: 'ls.b' } }], next: 'ls.b' })
    const p2 = (await api(d1, 'GET', `/v1/variables/strong?prefix=ls.&limit=2&cursor=${p1.next as string}`)).json
    expect(p2).toEqual({ variables: [{ name: 'ls.c', value: { n: 'ls.c' } }], next: null })
    // Local replica read: eventually the same.
    expect((await waitUntil(async () => { const r = (await api(d2, 'GET', '/v1/variables/strong?prefix=lt.&linearizable=false')).json; return r.variables.length === 1 ? r : undefined }, 'lt.z on d2')).variables[0].name).toBe('lt.z')
    expect((await api(d1, 'GET', '/v1/variables/strong?limit=0')).json.error).toMatchObject({ code: 'ERR_BAD_REQUEST', path: 'limit' })
    const off = await api(outsider, 'GET', '/v1/variables/strong?prefix=ls.')
    expect(off.status).toBe(409)
    expect(off.json.error.code).toBe('ERR_NOT_RAFT_MEMBER')
  })

  it('lists eventual variables any host contributed to, merged by their rule, by prefix and cursor', async () => {
    await api(d0, 'PUT', '/v1/variables/eventual/ev.load', { value: 3, merge: 'max' })
    await api(d1, 'PUT', '/v1/variables/eventual/ev.load', { value: 7, merge: 'max' })
    await api(d2, 'PUT', '/v1/variables/eventual/ev.count', { add: 5, merge: 'counter' })
    await api(d2, 'PUT', '/v1/variables/eventual/ev.mode', { value: 'fast' })
    const page = await waitUntil(async () => {
      const r = (await api(outsider, 'GET', '/v1/variables/eventual?prefix=ev.')).json
      return r.variables.length === 3 && r.variables.find((v: any) => v.name === 'ev.load')?.value === 7 ? r : undefined
    }, 'the outsider to hold the three ev.* variables')
    expect(page).toEqual({
      variables: [
        { name: 'ev.count', merge: 'counter', value: 5, contributions: 1, conflicting: 0 },
        { name: 'ev.load', merge: 'max', value: 7, contributions: 2, conflicting: 0 },
        { name: 'ev.mode', merge: 'lww', value: 'fast', contributions: 1, conflicting: 0 }
      ],
      next: null
    })
    const p1 = (await api(outsider, 'GET', '/v1/variables/eventual?prefix=ev.&limit=1&cursor=ev.count')).json
    expect(p1).toMatchObject({ variables: [{ name: 'ev.load' }], next: 'ev.load' })
  })
})

describe('probes and metrics', () => {
  it('/health and /ready answer without a token; everything else still needs it', async () => {
    const health = await fetch(`http://${d0.http}/health`)
    expect(health.status).toBe(200)
    const ready = await fetch(`http://${d0.http}/ready`)
    expect(ready.status).toBe(200)
    expect(await ready.json()).toMatchObject({ ready: true, started: true })
    expect((await fetch(`http://${d0.http}/metrics`)).status).toBe(401)
    expect((await fetch(`http://${d0.http}/v1/members`)).status).toBe(401)
  })

  it('default metrics carry the agora_ prefix once; HTTP latency is labelled by route template', async () => {
    await api(d0, 'POST', '/v1/agents', { id: 'tmpl-agent-1', capabilities: ['t'] })
    await api(d0, 'GET', '/v1/agents/tmpl-agent-1')
    await api(d0, 'GET', '/v1/agents/some-other-id')
    const text = await (await fetch(`http://${d0.http}/metrics`, { headers: { authorization: `Bearer ${d0.token}` } })).text()
    expect(text).not.toMatch(/agora_process_process_/)
    expect(text).toMatch(/^agora_process_cpu_user_seconds_total /m)
    expect(text).toMatch(/^agora_nodejs_eventloop_lag_seconds /m)
    const m = await metrics(d0)
    const count = (labels: string): number => m.get(`agora_http_request_duration_seconds_count{${labels}}`) ?? 0
    expect(count('method="GET",route="/v1/agents/:id",status="200"')).toBeGreaterThanOrEqual(1)
    expect(count('method="GET",route="/v1/agents/:id",status="404"')).toBeGreaterThanOrEqual(1)
    expect(count('method="POST",route="/v1/agents",status="201"')).toBeGreaterThanOrEqual(1)
    // Never the raw path.
    expect(text).not.toMatch(/tmpl-agent-1|some-other-id/)
    // Anti-entropy exchanges between the daemons were timed.
    await waitUntil(async () => ((await metrics(d0)).get('agora_sync_exchange_duration_seconds_count{initiator="true"}') ?? 0) + ((await metrics(d0)).get('agora_sync_exchange_duration_seconds_count{initiator="false"}') ?? 0) > 0, 'a timed anti-entropy exchange')
  })

  it('times bid requests (seller side) and agent requests (the bidder host asking its agent)', async () => {
    expect((await api(d0, 'POST', '/v1/ledger/mint', { account: 'lat-seller', amount: 1, owner: d0.peerId })).status).toBe(200)
    expect((await api(d0, 'POST', '/v1/ledger/mint', { account: 'lat-b', amount: 100, owner: d1.peerId })).status).toBe(200)
    expect((await api(d1, 'POST', '/v1/agents', { id: 'lat-b', capabilities: ['lat'] })).status).toBe(201)
    expect((await api(d1, 'POST', '/v1/agents/lat-b/bidder', {})).status).toBe(200)
    const poller = (async () => {
      const req = await waitUntil(async () => (await api(d1, 'GET', '/v1/bid-requests?agent=lat-b&waitMs=2000')).json.requests[0], { timeoutMs: 30_000, what: 'a bid request for lat-b' })
      return await api(d1, 'POST', `/v1/bid-requests/${req.requestId as string}`, { bid: { amount: 20 } })
    })()
    await waitUntil(async () => (await api(d0, 'GET', '/v1/agents?capability=lat')).json.agents.length === 1, 'd0 sees lat-b')
    const run = await api(d0, 'POST', '/v1/auctions', { id: 'lat-1', mechanism: 'vickrey', item: 'gpu', reserve: 1, durationMs: 60_000, seller: 'lat-seller', bidders: { capability: 'lat' }, requestTimeoutMs: 15_000, run: true })
    expect(run.status).toBe(200)
    expect(run.json.responses['lat-b']).toBe('bid')
    expect((await poller).status).toBe(200)
    expect((await metrics(d0)).get('agora_bid_request_duration_seconds_count{outcome="bid"}')).toBeGreaterThanOrEqual(1)
    expect((await metrics(d1)).get('agora_agent_request_duration_seconds_count{outcome="bid"}')).toBeGreaterThanOrEqual(1)
  })
})

describe('content types (the README examples)', () => {
  it('a JSON body with no content type is taken as JSON; a non-JSON content type (curl -d\'s default) is 415 ERR_UNSUPPORTED_MEDIA_TYPE', async () => {
    const none = await fetch(`http://${d0.http}/v1/variables/eventual/ct.none`, { method: 'PUT', headers: { authorization: `Bearer ${d0.token}` }, body: new Uint8Array(Buffer.from('{"value":1}')) })
    expect(none.status).toBe(200)
    const form = await api(d0, 'PUT', '/v1/variables/eventual/ct.form', '{"value":1}', { 'content-type': 'application/x-www-form-urlencoded' })
    expect(form.status).toBe(415)
    expect(form.json.error.code).toBe('ERR_UNSUPPORTED_MEDIA_TYPE')
  })
})
