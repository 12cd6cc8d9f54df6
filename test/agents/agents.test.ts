/**
 * peer.agents over TCP (3 peers): requests and replies between agents on different hosts, messages,
 * named protocols with schemas, capability routing past an unreachable candidate, group topics, and the
 * named error of every failure path (unknown agent, no handler, handler threw, timeout, overload,
 * unreachable host, bad payload).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { createLiveMesh, type LiveMesh } from '../../sim/live.js'
import { waitUntil } from '../helpers/wait.js'
import { codeOf } from '../coordination/harness.js'
import { CHANNEL_PENDING_MAX } from '../../peers/agents/channel.js'
import { groupTopic } from '../../peers/agents/service.js'
import type { AgentContext, GroupMessage } from '../../peers/agents/types.js'

let m: LiveMesh

beforeAll(async () => {
  m = await createLiveMesh({ peers: 3, logLevel: 'silent', heartbeatIntervalMs: 200 })
  for (let i = 0; i < 3; i++) {
    await m.peers[i]!.registry.register({ id: `echo-${i}`, capabilities: ['echo'], load: i === 0 ? 0.9 : 0.1 * i })
  }
  await m.waitFor((p) => [0, 1, 2].every(i => p.registry.lookup(`echo-${i}`) !== undefined), { what: 'every agent known everywhere', timeoutMs: 30_000 })
  for (let i = 0; i < 3; i++) {
    const host = i
    m.peers[i]!.agents.handle(`echo-${i}`, {
      onRequest: (payload, ctx) => ({ echo: payload, by: `echo-${host}`, from: ctx.from }),
      onMessage: () => {}
    })
  }
}, 60_000)

afterAll(async () => { await m?.stop() })

describe('peer.agents over TCP', () => {
  it('request/reply across 3 peers, with the sender authenticated', async () => {
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) {
        const r = await m.peers[i]!.agents.request<{ echo: unknown, by: string, from: { host: string, agent?: string } }>(`echo-${j}`, { n: i * 10 + j }, { from: `echo-${i}`, timeoutMs: 5000 })
        expect(r.echo).toEqual({ n: i * 10 + j })
        expect(r.by).toBe(`echo-${j}`)
        expect(r.from).toEqual({ host: m.peers[i]!.id, agent: `echo-${i}` })
      }
    }
  }, 30_000)

  it('a sender agent not hosted by the caller is refused before sending', async () => {
    expect(await codeOf(m.peers[0]!.agents.request('echo-1', 1, { from: 'echo-2' }))).toBe('ERR_INVALID_OPTION')
  })

  it('every failure path has its named error', async () => {
    const [a, b] = [m.peers[0]!, m.peers[1]!]
    await b.registry.register({ id: 'moody', capabilities: ['moody'] })
    await m.waitFor((p) => p.registry.lookup('moody') !== undefined, { what: 'moody known' })
    b.agents.handle('moody', {
      onRequest: async (payload, ctx: AgentContext) => {
        if (payload === 'throw') throw new Error('no such mood')
        if (payload === 'hang') await new Promise<void>((resolve) => { ctx.signal.addEventListener('abort', () => { resolve() }) })
        if (payload === 'bad-reply') return { f: () => 1 }
        return 'fine'
      }
    })
    expect(await a.agents.request('moody', 'ok')).toBe('fine')
    expect(await codeOf(a.agents.request('nobody-at-all', 1))).toBe('ERR_UNKNOWN_AGENT')
    expect(await codeOf(a.agents.request('moody', 'throw'))).toBe('ERR_HANDLER')
    expect(await codeOf(a.agents.request('moody', 'hang', { timeoutMs: 300 }))).toBe('ERR_TIMEOUT')
    expect(await codeOf(a.agents.request('moody', 'bad-reply'))).toBe('ERR_HANDLER')
    expect(await codeOf(a.agents.send('moody', 'hello'))).toBe('ERR_NO_HANDLER')
    expect(await codeOf(a.agents.request('moody', { s: '\ud800' }))).toBe('ERR_INVALID_PAYLOAD')
    expect(await codeOf(a.agents.request('moody', 'x'.repeat(70_000)))).toBe('ERR_INVALID_PAYLOAD')
    // A registered agent whose host has no handler for it.
    await b.registry.register({ id: 'mute', capabilities: ['mute'] })
    await m.waitFor((p) => p.registry.lookup('mute') !== undefined, { what: 'mute known' })
    expect(await codeOf(a.agents.request('mute', 1))).toBe('ERR_UNKNOWN_AGENT')
    // The peer keeps serving after all of that.
    expect(await a.agents.request('moody', 'ok')).toBe('fine')
  }, 30_000)

  it('overload: requests beyond what one channel may hold waiting are refused at once (ERR_OVERLOADED)', async () => {
    const [a, b] = [m.peers[0]!, m.peers[1]!]
    let release!: () => void
    const gate = new Promise<void>((resolve) => { release = resolve })
    let entered = 0
    b.agents.handle('slow', { onRequest: async () => { entered++; await gate; return 'done' } })
    await b.registry.register({ id: 'slow', capabilities: ['slow'] })
    await m.waitFor((p) => p.registry.lookup('slow') !== undefined, { what: 'slow known' })
    const calls = Array.from({ length: CHANNEL_PENDING_MAX + 20 }, async () => await codeOf(a.agents.request('slow', 1, { timeoutMs: 20_000 })))
    await waitUntil(() => entered > 0, { what: 'the first requests reach the handler', timeoutMs: 10_000 })
    release()
    const codes = await Promise.all(calls)
    const refused = codes.filter(c => c === 'ERR_OVERLOADED').length
    expect(refused).toBeGreaterThanOrEqual(20)
    expect(codes.filter(c => c === undefined).length + refused).toBe(codes.length)
  }, 60_000)

  it('messages are acknowledged by the host once its handler ran', async () => {
    const [a, c] = [m.peers[0]!, m.peers[2]!]
    const got: Array<{ message: unknown, from: unknown }> = []
    c.agents.handle('inbox', { onMessage: (message, ctx) => { got.push({ message, from: ctx.from }) } })
    await c.registry.register({ id: 'inbox', capabilities: ['inbox'] })
    await m.waitFor((p) => p.registry.lookup('inbox') !== undefined, { what: 'inbox known' })
    await a.agents.send('inbox', { hi: 1 }, { from: 'echo-0' })
    expect(got).toEqual([{ message: { hi: 1 }, from: { host: a.id, agent: 'echo-0' } }])
  }, 20_000)

  it('named protocols: schema checked on both ends, handler found by name', async () => {
    const [a, b] = [m.peers[0]!, m.peers[1]!]
    const Sum = z.object({ xs: z.array(z.number()).max(100) })
    const pa = a.agents.protocol<{ xs: number[] }, number>('math/sum', Sum)
    b.agents.protocol('math/sum', Sum)
    b.agents.handle('adder', { protocols: { 'math/sum': (p) => (p as { xs: number[] }).xs.reduce((s, x) => s + x, 0) } })
    await b.registry.register({ id: 'adder', capabilities: ['math'] })
    await m.waitFor((p) => p.registry.lookup('adder') !== undefined, { what: 'adder known' })
    expect(await pa.request('adder', { xs: [1, 2, 3] })).toBe(6)
    expect(await codeOf(pa.request('adder', { xs: 'no' } as unknown as { xs: number[] }))).toBe('ERR_INVALID_PAYLOAD')
    // The host checks too: a caller without the schema sends a bad payload, the host refuses it.
    const raw = m.peers[2]!.agents.protocol('math/sum')
    expect(await codeOf(raw.request('adder', { xs: 'no' }))).toBe('ERR_INVALID_PAYLOAD')
    // A request of a named protocol without registering it on the caller (the host checks its schema).
    expect(await a.agents.request('adder', { xs: [4, 5] }, { protocol: 'math/sum' })).toBe(9)
    expect(await codeOf(a.agents.request('adder', { xs: 'no' }, { protocol: 'math/other' }))).toBe('ERR_NO_HANDLER')
    expect(await codeOf(m.peers[2]!.agents.request('adder', { xs: 'no' }, { protocol: 'math/sum' }))).toBe('ERR_INVALID_PAYLOAD')
    expect(await codeOf(a.agents.request('adder', 1, { protocol: 'bad name!' }))).toBe('ERR_INVALID_OPTION')
    // A protocol the agent does not speak.
    expect(await codeOf(a.agents.protocol('math/product').request('adder', { xs: [2] }))).toBe('ERR_NO_HANDLER')
  }, 20_000)

  it('routing by capability tries the next candidate when the first is unreachable', async () => {
    const a = m.peers[0]!
    // least-loaded: echo-1 (0.1) first, then echo-2 (0.2), then echo-0 (0.9).
    expect(a.agents.candidates({ capability: 'echo', strategy: 'least-loaded' }).map(x => x.id)).toEqual(['echo-1', 'echo-2', 'echo-0'])
    expect((await a.agents.request<{ by: string }>({ capability: 'echo', strategy: 'least-loaded' }, 1)).by).toBe('echo-1')
    // Peer 1 stops serving the agents' channel: still registered and reachable, but its channel is gone.
    await m.peers[1]!.agents.stop()
    try {
      expect((await a.agents.request<{ by: string }>({ capability: 'echo', strategy: 'least-loaded' }, 2)).by).toBe('echo-2')
      expect(await codeOf(a.agents.request('echo-1', 3))).toBe('ERR_UNREACHABLE')
      expect(await codeOf(a.agents.request({ capability: 'no-such-capability' }, 1))).toBe('ERR_NO_CANDIDATE')
    } finally {
      await m.peers[1]!.agents.start()
    }
  }, 30_000)

  it('handle() leaves a bid handler registered directly with peer.economy alone; its own are replaced and removed', async () => {
    const p = m.peers[0]!
    const bidCode = async (agent: string): Promise<string | undefined> => await codeOf(p.economy.serveFrame({ t: 'bid-request', req: { auction: 'no-such', agent, seller: 's', spec: {} as never, closesAt: 0 } }))
    expect(await bidCode('fold-me')).toBe('ERR_NO_HANDLER')
    p.economy.handle('fold-me', () => null)
    p.agents.handle('fold-me', { onRequest: () => 1 })
    expect(await bidCode('fold-me')).not.toBe('ERR_NO_HANDLER') // still there: it goes on to read the auction
    p.agents.unhandle('fold-me')
    expect(await bidCode('fold-me')).not.toBe('ERR_NO_HANDLER')
    p.economy.unhandle('fold-me')
    p.agents.handle('fold-me', { onBidRequest: () => null })
    expect(await bidCode('fold-me')).not.toBe('ERR_NO_HANDLER')
    p.agents.handle('fold-me', { onRequest: () => 2 }) // replaced: its bid handler goes
    expect(await bidCode('fold-me')).toBe('ERR_NO_HANDLER')
    p.agents.unhandle('fold-me')
  })

  it('group topics: published to every subscriber, sender host signed, forged sender agent dropped', async () => {
    const got: GroupMessage[][] = [[], [], []]
    const offs = m.peers.map((p, i) => p.agents.subscribe('team/alpha', (msg) => { got[i]!.push(msg) }))
    try {
      await waitUntil(() => m.peers.every((p, i) => m.peers.every((q, j) => i === j || p.agents.subscribers('team/alpha').includes(q.id))), { what: 'every peer sees the others subscribed', timeoutMs: 20_000 })
      await m.peers[0]!.agents.publish('team/alpha', { round: 1 }, { from: 'echo-0' })
      await waitUntil(() => got.every(g => g.length === 1), { what: 'the message on every peer', timeoutMs: 10_000 })
      for (const g of got) expect(g[0]).toEqual({ topic: 'team/alpha', message: { round: 1 }, from: { host: m.peers[0]!.id, agent: 'echo-0' } })
      // A message sealed by peer 2 naming an agent that peer 2 does not host: receivers drop the agent claim.
      const forged = new TextEncoder().encode(JSON.stringify({ body: 'psst', from: 'echo-1' }))
      await m.peers[2]!.sealed.publish(groupTopic(m.peers[2]!.options.mesh, 'team/alpha'), forged)
      await waitUntil(() => got[0]!.length === 2 && got[1]!.length === 2, { what: 'the forged message', timeoutMs: 10_000 })
      expect(got[0]![1]!.from).toEqual({ host: m.peers[2]!.id })
      expect(got[1]![1]!.from).toEqual({ host: m.peers[2]!.id })
      // Malformed group messages are rejected and counted, not delivered.
      const before = m.peers[0]!.agents.stats.groupRejected
      await m.peers[1]!.sealed.publish(groupTopic(m.peers[1]!.options.mesh, 'team/alpha'), new TextEncoder().encode('{not json'))
      await waitUntil(() => m.peers[0]!.agents.stats.groupRejected > before, { what: 'the malformed message counted', timeoutMs: 10_000 })
      expect(got[0]!.length).toBe(2)
    } finally {
      for (const off of offs) off()
    }
  }, 60_000)
})
