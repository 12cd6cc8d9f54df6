/** The event hub (src/daemon/events.ts) in process over a real HTTP server: ids, the replay buffer's byte bound, filters. */
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { EventHub, SSE_REPLAY_BYTES_MAX, streamOptions } from '../../src/daemon/events.js'
import { waitUntil } from '../helpers/wait.js'

let server: Server | undefined
afterEach(async () => { server?.closeAllConnections(); await new Promise<void>(resolve => server === undefined ? resolve() : server.close(() => resolve())) })

async function serve (hub: EventHub): Promise<string> {
  server = createServer((req, res) => {
    const url = new URL(req.url!, 'http://x')
    try {
      hub.subscribe(res, streamOptions(url.searchParams, req.headers['last-event-id'] as string | undefined), 'test')
    } catch (err) {
      res.writeHead(400); res.end((err as { code: string }).code)
    }
  })
  await new Promise<void>(resolve => server!.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

async function read (url: string, headers: Record<string, string>, until: (text: string) => boolean): Promise<string> {
  const ctrl = new AbortController()
  const res = await fetch(url, { headers, signal: ctrl.signal })
  const reader = res.body!.getReader()
  let text = ''
  await waitUntil(async () => { const { value } = await reader.read(); text += new TextDecoder().decode(value); return until(text) }, 'the expected events')
  ctrl.abort()
  return text
}

describe('EventHub', () => {
  it(`drops the oldest events past ${SSE_REPLAY_BYTES_MAX} bytes: a resume from before them is a reset`, async () => {
    const hub = new EventHub('abc')
    const base = await serve(hub)
    hub.publish('variable:changed', { name: 'v.first', value: 0 })
    const big = 'x'.repeat(256 * 1024)
    for (let i = 0; i < (SSE_REPLAY_BYTES_MAX / big.length) + 2; i++) hub.publish('variable:changed', { name: 'v.big', value: big })
    const text = await read(base, { 'last-event-id': 'abc-1' }, t => /event: reset/.test(t))
    expect(text).toMatch(/"reason":"too-far-behind"/)
    expect(hub.stats.resets).toBe(1)
    // A resume from the latest id replays nothing and then follows live events.
    const latest = hub.latestId
    const live = read(`${base}/?types=variable:changed`, { 'last-event-id': latest }, t => /v\.live/.test(t))
    await waitUntil(() => hub.size === 1, 'the subscriber')
    hub.publish('agent:joined', { agent: { id: 'a' } })
    hub.publish('variable:changed', { name: 'v.live', value: 1 })
    const t = await live
    expect(t).not.toMatch(/v\.big|agent:joined/)
    expect(t).toMatch(new RegExp(`id: abc-${Number(latest.split('-')[1]) + 2}\nevent: variable:changed`))
  })

  it('parses the stream options and refuses bad ones by name', () => {
    const p = (q: string, h?: string): unknown => streamOptions(new URLSearchParams(q), h)
    expect(p('types=agent:*,raft:role&prefix=gpu.&keepaliveMs=5000', 'ab-3')).toEqual({ types: ['agent:*', 'raft:role'], prefix: 'gpu.', keepaliveMs: 5000, lastEventId: 'ab-3' })
    expect(p('lastEventId=cd-9', 'ab-3')).toEqual({ lastEventId: 'cd-9' })
    for (const [q, path] of [['types=nope', 'types'], ['types=', 'types'], ['keepaliveMs=999', 'keepaliveMs'], ['prefix=' + 'p'.repeat(300), 'prefix'], ['lastEventId=7', 'lastEventId']]) {
      expect(() => p(q!), q).toThrow(expect.objectContaining({ code: 'ERR_BAD_REQUEST', details: { path } }))
    }
  })
})
