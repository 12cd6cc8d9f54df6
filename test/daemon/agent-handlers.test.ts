/**
 * The agent-handler registrations (src/daemon/agent-handlers.ts) against a stand-in peer: every kind
 * mapped onto its `peer.agents.handle` handler, the inbox (bounds, redelivery, answers a kind cannot
 * take), removal, and the file (kept atomically, restored, migrated from bidders.json and voters.json).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { AgentHandlerStore, HANDLERS_FILE, LEGACY_QUEUE_MAX } from '../../src/daemon/agent-handlers.js'
import type { HandlerStoreOptions } from '../../src/daemon/agent-handlers.js'
import type { AgentHandlers } from '../../peers/agents/types.js'

const tmp = mkdtempSync(join(tmpdir(), 'agora-handlers-'))
afterAll(() => { rmSync(tmp, { recursive: true, force: true }) })

function store (local: string[], options: Partial<HandlerStoreOptions> = {}): { s: AgentHandlerStore, applied: Map<string, AgentHandlers> } {
  const applied = new Map<string, AgentHandlers>()
  const s = new AgentHandlerStore({
    isLocal: (a) => local.includes(a),
    apply: (a, h) => { if (h === undefined) applied.delete(a); else applied.set(a, h) }
  }, { allowRemoteCallbacks: false, ...options })
  return { s, applied }
}

const never = new AbortController().signal
const ctx = (agent: string): any => ({ agent, from: { host: 'h1', agent: 'caller' }, signal: never })
const missing = (): Error => Object.assign(new Error('missing'), { code: 'ERR_NO_HANDLER' })

async function codeOf (p: Promise<unknown>): Promise<string | undefined> {
  try { await p; return undefined } catch (err) { return (err as { code?: string }).code }
}

describe('agent handlers', () => {
  it('every kind becomes its handler; a long-poll worker answers each; an error answer is a throw', async () => {
    const { s, applied } = store(['w'])
    s.set('w', ['request', 'message', 'task', 'vote', 'bid', 'protocol:sum'], {})
    const h = applied.get('w')!
    expect(Object.keys(h).sort()).toEqual(['onBidRequest', 'onMessage', 'onRequest', 'onTask', 'onVote', 'protocols'])
    expect(Object.keys(h.protocols!)).toEqual(['sum'])
    const progress: number[] = []
    const pending = [
      h.onRequest!({ q: 1 }, ctx('w')),
      h.onMessage!('hello', ctx('w')),
      h.onTask!({ id: 7, attempt: 1, payload: { n: 2 }, submitter: 'p', deadline: Date.now() + 10_000 }, { ...ctx('w'), task: 7, attempt: 1, progress: async (v: number) => { progress.push(v) } }),
      h.onVote!({ vote: 3, agent: 'w', opener: 'p', options: ['yes', 'no'], deadline: 0 }),
      h.onBidRequest!({ auction: 'a', agent: 'w', seller: 's', spec: {} as never, closesAt: 0 }),
      h.protocols!.sum!([1, 2], ctx('w'))
    ]
    // The task call is enqueued after the attempt's deadline is looked up (a turn later).
    await new Promise(resolve => setImmediate(resolve))
    const polled = await s.poll('w', { waitMs: 1000, signal: never, fresh: true, missing })
    const order = ['request', 'message', 'task', 'vote', 'bid', 'protocol:sum']
    const calls = [...polled].sort((a, b) => order.indexOf(a.kind) - order.indexOf(b.kind))
    expect(calls.map(c => c.kind)).toEqual(order)
    expect(calls[0]).toMatchObject({ agent: 'w', payload: { q: 1 }, from: { host: 'h1', agent: 'caller' } })
    expect(calls[2]).toMatchObject({ payload: { n: 2 }, task: { id: 7, attempt: 1, submitter: 'p' } })
    expect(calls[5]).toMatchObject({ protocol: 'sum', payload: [1, 2] })
    // Handed out once: a second poll does not see them again (until INBOX_REDELIVER_MS).
    expect(await s.poll('w', { waitMs: 0, signal: never, fresh: true, missing })).toEqual([])
    await s.progress(calls[2]!.callId, 'w', 0.5)
    expect(progress).toEqual([0.5])
    await expect(s.progress(calls[0]!.callId, 'w', 0.5)).rejects.toMatchObject({ code: 'ERR_BAD_REQUEST' })
    // A vote's reply must be an option; refused, the call still waits.
    expect(() => s.answer(calls[3]!.callId, { reply: 42 })).toThrow(expect.objectContaining({ code: 'ERR_BAD_REQUEST' }))
    s.answer(calls[0]!.callId, { reply: { a: 1 } })
    s.answer(calls[1]!.callId, {})
    s.answer(calls[2]!.callId, { error: { message: 'no can do' } })
    s.answer(calls[3]!.callId, { reply: 'yes' })
    s.answer(calls[4]!.callId, { reply: null })
    s.answer(calls[5]!.callId, { reply: 3 })
    const out = await Promise.allSettled(pending)
    expect(out.map(o => o.status === 'fulfilled' ? o.value : (o.reason as { code: string }).code)).toEqual([{ a: 1 }, undefined, 'ERR_HANDLER', 'yes', null, 3])
    expect(() => s.answer(calls[0]!.callId, { reply: 1 })).toThrow(expect.objectContaining({ code: 'ERR_UNKNOWN_REQUEST' }))
    expect(s.stats.request.answered).toBe(1)
    expect(s.pendingCalls).toBe(0)
  })

  it('bounds: the inbox (named limit), bids per agent, the caller giving up; removal fails or declines what waits', async () => {
    const { s, applied } = store(['w'], { inboxMax: 3 })
    s.set('w', ['request', 'bid'], { timeoutMs: 10_000 })
    const h = applied.get('w')!
    const waiting = [1, 2, 3].map(i => h.onRequest!(i, ctx('w')))
    const over = h.onRequest!(4, ctx('w')) as Promise<unknown>
    // The request interface's caller sees ERR_OVERLOADED naming the limit.
    await expect(over).rejects.toMatchObject({ code: 'ERR_OVERLOADED', details: expect.objectContaining({ limit: 'AGENT_INBOX_MAX', max: 3, hostCode: 'ERR_LIMIT_EXCEEDED' }) })
    expect(s.stats.request.refused).toBe(1)
    // The caller's signal aborted: the call leaves the inbox.
    const ctrl = new AbortController()
    const { s: s2, applied: a2 } = store(['v'])
    s2.set('v', ['request'], { timeoutMs: 10_000 })
    const gone = a2.get('v')!.onRequest!(1, { ...ctx('v'), signal: ctrl.signal }) as Promise<unknown>
    ctrl.abort()
    expect(await codeOf(gone)).toBe('ERR_TIMEOUT')
    expect(await s2.poll('v', { waitMs: 0, signal: never, missing })).toEqual([])
    // Replacing the registration without `request`: waiting requests fail ERR_NO_HANDLER.
    s.set('w', ['bid'], {}, { replaceAll: true })
    expect((await Promise.allSettled(waiting)).map(o => (o as PromiseRejectedResult).reason.code)).toEqual(['ERR_NO_HANDLER', 'ERR_NO_HANDLER', 'ERR_NO_HANDLER'])
    expect(applied.get('w')!.onRequest).toBeUndefined()
    // Bids keep the bound of the bidder routes, and are declined (null) when the handler goes.
    const { s: s3, applied: a3 } = store(['b'])
    s3.set('b', ['bid'], {}, { via: 'bidder' })
    const bids = Array.from({ length: LEGACY_QUEUE_MAX }, (_, i) => a3.get('b')!.onBidRequest!({ auction: `a${i}`, agent: 'b', seller: 's', spec: {} as never, closesAt: 0 }))
    expect(await codeOf(Promise.resolve(a3.get('b')!.onBidRequest!({ auction: 'x', agent: 'b', seller: 's', spec: {} as never, closesAt: 0 })))).toBe('ERR_LIMIT_EXCEEDED')
    expect(s3.remove('b')).toBe(true)
    expect(await Promise.all(bids)).toEqual(Array(LEGACY_QUEUE_MAX).fill(null))
    expect(a3.has('b')).toBe(false)
  })

  it('bad registrations are named errors', () => {
    const { s } = store(['w'])
    expect(() => s.set('w', ['nope'], {})).toThrow(expect.objectContaining({ code: 'ERR_BAD_REQUEST', details: { path: 'kinds.0' } }))
    expect(() => s.set('w', ['protocol:bad name'], {})).toThrow(expect.objectContaining({ code: 'ERR_BAD_REQUEST' }))
    expect(() => s.set('w', [], {})).toThrow(expect.objectContaining({ code: 'ERR_BAD_REQUEST' }))
    expect(() => s.set('x', ['request'], {})).toThrow(expect.objectContaining({ code: 'ERR_AGENT_NOT_FOUND' }))
    expect(() => s.set('w', ['request'], { callback: 'http://10.0.0.1/x' })).toThrow(expect.objectContaining({ code: 'ERR_CALLBACK_NOT_ALLOWED' }))
    expect(() => s.set('w', ['request'], { timeoutMs: 10 ** 9 })).toThrow(expect.objectContaining({ code: 'ERR_BAD_REQUEST', details: { path: 'timeoutMs' } }))
    expect(s.size).toBe(0)
  })

  it('the file: every registration kept and restored; bidders.json and voters.json migrated once', () => {
    const dir = join(tmp, 'keep')
    rmSync(dir, { recursive: true, force: true })
    mkdirSync(dir)
    writeFileSync(join(dir, 'bidders.json'), JSON.stringify({ version: 1, bidders: [{ agent: 'b', mode: 'callback', callback: 'http://127.0.0.1:9/bid', timeoutMs: 1500 }, { agent: 'gone', mode: 'poll', timeoutMs: 5000 }] }))
    writeFileSync(join(dir, 'voters.json'), JSON.stringify({ version: 1, voters: [{ agent: 'v', mode: 'poll', timeoutMs: 5000 }] }))
    const warnings: string[] = []
    const { s, applied } = store(['b', 'v', 'w'], { dataDir: dir, warn: (m) => { warnings.push(m) } })
    expect(s.list()).toEqual([
      { agent: 'b', kind: 'bid', via: 'bidder', mode: 'callback', callback: 'http://127.0.0.1:9/bid', timeoutMs: 1500 },
      { agent: 'v', kind: 'vote', via: 'voter', mode: 'poll', timeoutMs: 5000 }
    ])
    expect(warnings).toEqual(['a saved agent handler was dropped'])
    expect(applied.get('b')!.onBidRequest).toBeDefined()
    expect(existsSync(join(dir, HANDLERS_FILE))).toBe(true)
    s.set('w', ['request', 'task'], {})
    s.remove('v')
    s.close()
    // A second start reads handlers.json only (the old files are left as they were, and ignored).
    const { s: again, applied: a2 } = store(['b', 'v', 'w'], { dataDir: dir })
    expect(again.list().map(b => `${b.agent}:${b.kind}`).sort()).toEqual(['b:bid', 'w:request', 'w:task'])
    expect(a2.get('w')!.onTask).toBeDefined()
    expect(JSON.parse(readFileSync(join(dir, HANDLERS_FILE), 'utf8')).version).toBe(1)
  })
})
