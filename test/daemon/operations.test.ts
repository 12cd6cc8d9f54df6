/**
 * The daemon as operators run it, with real child processes (`agora start`, built CLI, Node 22):
 * eventual variables read after a restart, bidders kept across restarts.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, exitOf, startDaemon, stopAll } from './helpers.js'
import type { Daemon } from './helpers.js'
import { waitUntil } from '../helpers/wait.js'

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
