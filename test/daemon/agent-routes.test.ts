/**
 * The agents' routes (src/daemon/agent-routes.ts) against a stand-in peer: named-protocol requests cannot
 * register more than HTTP_PROTOCOLS_MAX protocols on the peer, and group feeds are bounded in bytes per
 * topic and over all topics, dropping the oldest and counting the drops.
 */
import { EventEmitter } from 'node:events'
import { describe, expect, it } from 'vitest'
import { GROUP_BUFFER_BYTES_MAX, GROUP_FEEDS_BYTES_MAX, GroupFeeds, HTTP_PROTOCOLS_MAX, agentRoutes } from '../../src/daemon/agent-routes.js'
import type { RouteContext } from '../../src/daemon/route-util.js'

function post (path: string, body: unknown): { c: RouteContext, answer: Promise<{ status: number, body: any }> } {
  let done!: (v: { status: number, body: any }) => void
  const answer = new Promise<{ status: number, body: any }>(resolve => { done = resolve })
  const url = new URL(`http://x${path}`)
  const res = Object.assign(new EventEmitter(), { writableFinished: false })
  const c = { method: 'POST', parts: url.pathname.split('/').filter(Boolean), url, req: {} as never, res: res as never, body: async () => body, send: (status: number, b: unknown) => { done({ status, body: b }) } }
  return { c, answer }
}

describe('agent routes', () => {
  it('named-protocol requests register at most HTTP_PROTOCOLS_MAX protocols on the peer; names used before keep working', async () => {
    const registered = new Set<string>()
    const peer: any = {
      agents: {
        protocol: (name: string) => { registered.add(name); return { name, request: async (_t: unknown, payload: unknown) => ({ name, payload }) } },
        request: async () => 'plain'
      }
    }
    const routes = agentRoutes(peer, {} as never, () => {})
    for (let i = 0; i < HTTP_PROTOCOLS_MAX; i++) {
      const r = post('/v1/agents/w/request', { payload: i, protocol: `p${i}` })
      expect(await routes.handle(r.c)).toBe(true)
      expect((await r.answer).body).toEqual({ agent: 'w', reply: { name: `p${i}`, payload: i } })
    }
    // One name more, through either route: refused, nothing registered.
    await expect(routes.handle(post('/v1/agents/w/request', { protocol: 'one-more' }).c)).rejects.toMatchObject({ code: 'ERR_LIMIT_EXCEEDED', details: { limit: 'HTTP_PROTOCOLS_MAX' } })
    await expect(routes.handle(post('/v1/request', { capability: 'c', protocol: 'one-more' }).c)).rejects.toMatchObject({ code: 'ERR_LIMIT_EXCEEDED' })
    expect(registered.size).toBe(HTTP_PROTOCOLS_MAX)
    expect(registered.has('one-more')).toBe(false)
    const again = post('/v1/request', { capability: 'c', protocol: 'p3', payload: 'x' })
    await routes.handle(again.c)
    expect((await again.answer).body.reply).toEqual({ name: 'p3', payload: 'x' })
    routes.close()
  })

  it('group feeds keep a byte budget per topic and over all topics: the oldest go first, the drops are counted', async () => {
    const subs = new Map<string, (m: unknown) => void>()
    const peer: any = { agents: { subscribe: (topic: string, fn: (m: unknown) => void) => { subs.set(topic, fn); return () => { subs.delete(topic) } } } }
    const feeds = new GroupFeeds(peer, () => {})
    const big = 'x'.repeat(60 * 1024)
    const publish = (topic: string, n: number): void => { for (let i = 0; i < n; i++) subs.get(topic)!({ topic, message: { big, i }, from: { host: 'h' } }) }
    feeds.follow('a')
    publish('a', 200) // ~12 MB asked, more than one topic's budget
    const a = await feeds.poll('a', 0, 0, new AbortController().signal)
    expect(JSON.stringify(a.messages).length).toBeLessThanOrEqual(GROUP_BUFFER_BYTES_MAX)
    expect(a.messages[a.messages.length - 1]!.seq).toBe(200)
    expect(a.dropped).toBe(200 - a.messages.length)
    expect(a.dropped).toBeGreaterThan(0)
    // Many topics at once: the total stays within its budget, the oldest of all dropped first.
    for (let t = 0; t < 20; t++) { feeds.follow(`t${t}`); publish(`t${t}`, 60) }
    expect(feeds.bytes).toBeLessThanOrEqual(GROUP_FEEDS_BYTES_MAX)
    const first = await feeds.poll('a', 0, 0, new AbortController().signal)
    expect(first.messages.length).toBe(0)
    const last = await feeds.poll('t19', 0, 0, new AbortController().signal)
    expect(last.messages.length).toBe(60)
    expect(feeds.dropped).toBeGreaterThan(a.dropped)
    feeds.close()
    expect(feeds.bytes).toBe(0)
  })
})
