/** HTTP bidders (src/daemon/bidders.ts, a view of agent-handlers.ts) against a stand-in peer: callbacks, long-poll, their limits. */
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BID_QUEUE_PER_AGENT_MAX, Bidders as BiddersView, CALLBACK_RESPONSE_BYTES_MAX } from '../../src/daemon/bidders.js'
import { handlerStore } from '../../src/daemon/agent-handlers.js'
import type { HandlerStoreOptions } from '../../src/daemon/agent-handlers.js'
import type { BidHandler, BidRequest } from '../../peers/economy/economy.js'
import type { AgentHandlers } from '../../peers/agents/types.js'

/** A stand-in peer whose `agents.handle` keeps the bid handlers (as peer.agents folds them into peer.economy). */
function fakePeer (local: string[]): { peer: any, handlers: Map<string, BidHandler> } {
  const handlers = new Map<string, BidHandler>()
  const peer = {
    registry: { localAgents: () => local.map(id => ({ id })) },
    agents: {
      handle: (id: string, h: AgentHandlers) => { if (h.onBidRequest !== undefined) handlers.set(id, h.onBidRequest); else handlers.delete(id) },
      unhandle: (id: string) => { handlers.delete(id) }
    }
  }
  return { peer, handlers }
}

/** The bidders of a stand-in peer. */
class Bidders extends BiddersView {
  constructor (peer: any, options: HandlerStoreOptions) { super(handlerStore(peer, options)) }
}

const req = (agent: string, auction = 'x1'): BidRequest => ({ auction, agent, seller: 's', spec: { id: auction, mechanism: 'vickrey', items: ['gpu'], durationMs: 1000 }, closesAt: 0 })

async function codeOf (p: unknown): Promise<string | undefined> {
  try { await p; return undefined } catch (err) { return (err as { code?: string }).code }
}

let server: Server
let base: string
beforeAll(async () => {
  server = createServer((r, res) => {
    r.resume()
    r.on('end', () => {
      if (r.url === '/ok') { res.writeHead(200, { 'content-type': 'application/json' }); res.end('{"bid":{"amount":7}}'); return }
      if (r.url === '/abstain') { res.end('{"bid":null}'); return }
      if (r.url === '/big') { res.end(JSON.stringify({ bid: { amount: 1 }, pad: 'x'.repeat(CALLBACK_RESPONSE_BYTES_MAX) })); return }
      if (r.url === '/error') { res.writeHead(500); res.end('{}'); return }
      if (r.url === '/shape') { res.end('{"amount":7}'); return }
      // /slow never answers
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(async () => { server.closeAllConnections(); await new Promise<void>(resolve => server.close(() => resolve())) })

describe('HTTP bidders', () => {
  it('callbacks: the answer is the bid; errors, slow answers and oversized bodies are named errors', async () => {
    const { peer, handlers } = fakePeer(['a'])
    const b = new Bidders(peer, { allowRemoteCallbacks: false })
    const call = async (path: string, timeoutMs = 2000): Promise<unknown> => {
      await b.set('a', { callback: `${base}${path}`, timeoutMs })
      return await handlers.get('a')!(req('a'))
    }
    expect(await call('/ok')).toEqual({ amount: 7 })
    expect(await call('/abstain')).toBeNull()
    expect(await codeOf(call('/error'))).toBe('ERR_CALLBACK_FAILED')
    expect(await codeOf(call('/shape'))).toBe('ERR_CALLBACK_FAILED')
    expect(await codeOf(call('/big'))).toBe('ERR_LIMIT_EXCEEDED')
    expect(await codeOf(call('/slow', 100))).toBe('ERR_TIMEOUT')
    expect(b.stats.callbackErrors).toBe(4)
  })

  it('callback URLs: loopback only by default, http(s) only, agents hosted here only', async () => {
    const { peer } = fakePeer(['a'])
    const b = new Bidders(peer, { allowRemoteCallbacks: false })
    await expect(b.set('a', { callback: 'http://10.1.2.3/bid' })).rejects.toMatchObject({ code: 'ERR_CALLBACK_NOT_ALLOWED' })
    await expect(b.set('a', { callback: 'ftp://127.0.0.1/bid' })).rejects.toMatchObject({ code: 'ERR_BAD_REQUEST' })
    await expect(b.set('a', { callback: 'not a url' })).rejects.toMatchObject({ code: 'ERR_BAD_REQUEST' })
    await expect(b.set('zz', {})).rejects.toMatchObject({ code: 'ERR_AGENT_NOT_FOUND' })
    expect((await b.set('a', { callback: 'http://[::1]:9/bid' })).mode).toBe('callback')
    expect((await b.set('a', { callback: 'http://localhost:9/bid' })).mode).toBe('callback')
    const open = new Bidders(fakePeer(['a']).peer, { allowRemoteCallbacks: true })
    expect((await open.set('a', { callback: 'http://10.1.2.3/bid' })).callback).toBe('http://10.1.2.3/bid')
  })

  it('long-poll: a waiting poll gets the request, the answer becomes the bid; unknown requests are refused', async () => {
    const { peer, handlers } = fakePeer(['p'])
    const b = new Bidders(peer, { allowRemoteCallbacks: false })
    await b.set('p', { timeoutMs: 10_000 })
    const polled = b.poll('p', 10_000, new AbortController().signal)
    const bid = handlers.get('p')!(req('p', 'g7'))
    const [pending] = await polled
    expect(pending).toMatchObject({ agent: 'p', auction: 'g7', seller: 's' })
    expect(b.answer(pending!.requestId, { amount: 3 })).toEqual({ requestId: pending!.requestId, agent: 'p', auction: 'g7' })
    expect(await bid).toEqual({ amount: 3 })
    expect(() => b.answer(pending!.requestId, null)).toThrow(expect.objectContaining({ code: 'ERR_UNKNOWN_REQUEST' }))
    expect(await b.poll('p', 0, new AbortController().signal)).toEqual([])
    // An aborted poll (client gone) returns at once.
    const ctrl = new AbortController()
    const aborted = b.poll('p', 10_000, ctrl.signal)
    ctrl.abort()
    expect(await aborted).toEqual([])
    expect(await codeOf(b.poll('nobody', 0, ctrl.signal))).toBe('ERR_NO_BIDDER')
  })

  it('long-poll: the per-agent queue is bounded, unanswered requests time out, removing the bidder declines what waits', async () => {
    const { peer, handlers } = fakePeer(['p'])
    const b = new Bidders(peer, { allowRemoteCallbacks: false })
    await b.set('p', { timeoutMs: 10_000 })
    const h = handlers.get('p')!
    const waiting = Array.from({ length: BID_QUEUE_PER_AGENT_MAX }, (_, i) => h(req('p', `q${i}`)))
    expect(await codeOf(h(req('p', 'one-too-many')))).toBe('ERR_LIMIT_EXCEEDED')
    expect((await b.poll('p', 0, new AbortController().signal)).length).toBe(BID_QUEUE_PER_AGENT_MAX)
    expect(await b.remove('p')).toBe(true)
    expect(await Promise.all(waiting)).toEqual(Array(BID_QUEUE_PER_AGENT_MAX).fill(null))
    expect(handlers.has('p')).toBe(false)

    await b.set('p', { timeoutMs: 50 })
    const late = handlers.get('p')!(req('p', 'late'))
    const [pending] = await b.poll('p', 0, new AbortController().signal)
    expect(await codeOf(late)).toBe('ERR_TIMEOUT')
    expect(() => b.answer(pending!.requestId, { amount: 1 })).toThrow(expect.objectContaining({ code: 'ERR_UNKNOWN_REQUEST' }))
    expect(b.stats.timedOut).toBe(1)
  })
})
