/**
 * The agent-handler registrations (src/daemon/agent-handlers.ts) against a stand-in peer: every kind
 * mapped onto its `peer.agents.handle` handler, the inbox (bounds, redelivery, answers a kind cannot
 * take), removal, and the file (kept atomically, restored, migrated from bidders.json and voters.json).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { AgentHandlerStore, HANDLERS_FILE, INBOX_POLLERS_PER_AGENT_MAX, LEGACY_QUEUE_MAX } from '../../src/daemon/agent-handlers.js'
import type { HandlerStoreOptions, HandlerTarget } from '../../src/daemon/agent-handlers.js'
import type { AgentHandlers } from '../../peers/agents/types.js'

const tmp = mkdtempSync(join(tmpdir(), 'agora-handlers-'))
afterAll(() => { rmSync(tmp, { recursive: true, force: true }) })

function store (local: string[], options: Partial<HandlerStoreOptions> = {}, rerunTask?: HandlerTarget['rerunTask']): { s: AgentHandlerStore, applied: Map<string, AgentHandlers> } {
  const applied = new Map<string, AgentHandlers>()
  const s = new AgentHandlerStore({
    isLocal: (a) => local.includes(a),
    apply: (a, h) => { if (h === undefined) applied.delete(a); else applied.set(a, h) },
    ...(rerunTask !== undefined ? { rerunTask } : {})
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
    await s.set('w', ['request', 'message', 'task', 'vote', 'bid', 'protocol:sum'], {})
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
    await s.set('w', ['request', 'bid'], { timeoutMs: 10_000 })
    const h = applied.get('w')!
    const waiting = [1, 2, 3].map(i => h.onRequest!(i, ctx('w')))
    const over = h.onRequest!(4, ctx('w')) as Promise<unknown>
    // The request interface's caller sees ERR_OVERLOADED naming the limit.
    await expect(over).rejects.toMatchObject({ code: 'ERR_OVERLOADED', details: expect.objectContaining({ limit: 'AGENT_INBOX_MAX', max: 3, hostCode: 'ERR_LIMIT_EXCEEDED' }) })
    expect(s.stats.request.refused).toBe(1)
    // The caller's signal aborted: the call leaves the inbox.
    const ctrl = new AbortController()
    const { s: s2, applied: a2 } = store(['v'])
    await s2.set('v', ['request'], { timeoutMs: 10_000 })
    const gone = a2.get('v')!.onRequest!(1, { ...ctx('v'), signal: ctrl.signal }) as Promise<unknown>
    ctrl.abort()
    expect(await codeOf(gone)).toBe('ERR_TIMEOUT')
    expect(await s2.poll('v', { waitMs: 0, signal: never, missing })).toEqual([])
    // Replacing the registration without `request`: waiting requests fail ERR_NO_HANDLER.
    await s.set('w', ['bid'], {}, { replaceAll: true })
    expect((await Promise.allSettled(waiting)).map(o => (o as PromiseRejectedResult).reason.code)).toEqual(['ERR_NO_HANDLER', 'ERR_NO_HANDLER', 'ERR_NO_HANDLER'])
    expect(applied.get('w')!.onRequest).toBeUndefined()
    // Bids keep the bound of the bidder routes, and are declined (null) when the handler goes.
    const { s: s3, applied: a3 } = store(['b'])
    await s3.set('b', ['bid'], {}, { via: 'bidder' })
    const bids = Array.from({ length: LEGACY_QUEUE_MAX }, (_, i) => a3.get('b')!.onBidRequest!({ auction: `a${i}`, agent: 'b', seller: 's', spec: {} as never, closesAt: 0 }))
    expect(await codeOf(Promise.resolve(a3.get('b')!.onBidRequest!({ auction: 'x', agent: 'b', seller: 's', spec: {} as never, closesAt: 0 })))).toBe('ERR_LIMIT_EXCEEDED')
    expect(await s3.remove('b')).toBe(true)
    expect(await Promise.all(bids)).toEqual(Array(LEGACY_QUEUE_MAX).fill(null))
    expect(a3.has('b')).toBe(false)
  })

  it('bad registrations are named errors', async () => {
    const { s } = store(['w'])
    await expect(s.set('w', ['nope'], {})).rejects.toMatchObject({ code: 'ERR_BAD_REQUEST', details: { path: 'kinds.0' } })
    await expect(s.set('w', ['protocol:bad name'], {})).rejects.toMatchObject({ code: 'ERR_BAD_REQUEST' })
    await expect(s.set('w', [], {})).rejects.toMatchObject({ code: 'ERR_BAD_REQUEST' })
    await expect(s.set('x', ['request'], {})).rejects.toMatchObject({ code: 'ERR_AGENT_NOT_FOUND' })
    await expect(s.set('w', ['request'], { callback: 'http://10.0.0.1/x' })).rejects.toMatchObject({ code: 'ERR_CALLBACK_NOT_ALLOWED' })
    await expect(s.set('w', ['request'], { timeoutMs: 10 ** 9 })).rejects.toMatchObject({ code: 'ERR_BAD_REQUEST', details: { path: 'timeoutMs' } })
    expect(s.size).toBe(0)
  })

  it('the file: every registration kept and restored; bidders.json and voters.json migrated once', async () => {
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
    await s.flush()
    expect(existsSync(join(dir, HANDLERS_FILE))).toBe(true)
    await s.set('w', ['request', 'task'], {})
    await s.remove('v')
    s.close()
    // A second start reads handlers.json only (the old files are left as they were, and ignored).
    const { s: again, applied: a2 } = store(['b', 'v', 'w'], { dataDir: dir })
    expect(again.list().map(b => `${b.agent}:${b.kind}`).sort()).toEqual(['b:bid', 'w:request', 'w:task'])
    expect(a2.get('w')!.onTask).toBeDefined()
    expect(JSON.parse(readFileSync(join(dir, HANDLERS_FILE), 'utf8')).version).toBe(1)
  })

  it('long-polls are bounded per agent (INBOX_POLLERS_PER_AGENT_MAX, beside the global INBOX_POLLERS_MAX): one agent\'s client cannot take every slot', async () => {
    const { s } = store(['greedy', 'other'])
    await s.set('greedy', ['request'], {})
    await s.set('other', ['request'], {})
    const ctrl = new AbortController()
    const polls = Array.from({ length: INBOX_POLLERS_PER_AGENT_MAX }, async () => await s.poll('greedy', { waitMs: 20_000, signal: ctrl.signal, missing }))
    await expect(s.poll('greedy', { waitMs: 20_000, signal: ctrl.signal, missing })).rejects.toMatchObject({ code: 'ERR_TOO_MANY_POLLS', details: { limit: 'INBOX_POLLERS_PER_AGENT_MAX', retryAfterS: 1 } })
    // Another agent still polls.
    const theirs = s.poll('other', { waitMs: 20_000, signal: ctrl.signal, missing })
    ctrl.abort()
    expect(await Promise.all(polls)).toEqual(Array(INBOX_POLLERS_PER_AGENT_MAX).fill([]))
    expect(await theirs).toEqual([])
    // The slots are given back.
    expect(await s.poll('greedy', { waitMs: 1, signal: never, missing })).toEqual([])
  })

  it('the file is written asynchronously and coalesced; an answer waits for the write that has its change; a failed write undoes it', async () => {
    const dir = join(tmp, 'coalesce')
    rmSync(dir, { recursive: true, force: true })
    mkdirSync(dir)
    const agents = Array.from({ length: 50 }, (_, i) => `a${i}`)
    const { s } = store(agents, { dataDir: dir })
    const file = join(dir, HANDLERS_FILE)
    // 50 registrations at once: each resolves once the file has it; far fewer writes than changes.
    await Promise.all(agents.map(async (a) => {
      await s.set(a, ['request'], {})
      expect(JSON.parse(readFileSync(file, 'utf8')).handlers.map((b: { agent: string }) => b.agent)).toContain(a)
    }))
    expect(s.fileWrites).toBeGreaterThanOrEqual(1)
    expect(s.fileWrites).toBeLessThanOrEqual(3)
    expect(JSON.parse(readFileSync(file, 'utf8')).handlers.length).toBe(50)
    // The latest state wins: a removal right after a registration leaves the file without it.
    void s.set('a0', ['task'], {})
    await s.remove('a0')
    expect(JSON.parse(readFileSync(file, 'utf8')).handlers.map((b: { agent: string }) => b.agent)).not.toContain('a0')
    // A write that fails refuses the registration (nothing half made).
    const { s: broken, applied } = store(['w'], { dataDir: join(dir, 'missing-dir') })
    await expect(broken.set('w', ['request'], {})).rejects.toMatchObject({ code: 'ERR_HANDLERS_STORE' })
    expect(broken.of('w')).toEqual([])
    expect(applied.has('w')).toBe(false)
  })

  it('a task answer to a call id of an earlier run is taken when the log says the attempt is current here', async () => {
    const reran: Array<Promise<unknown>> = []
    let current = true
    const { s, applied } = store(['w'], {}, async (agent, task, attempt) => {
      if (!current) return 'stale'
      // What peer.tasks does on the hint: runs the attempt on the agent's onTask handler.
      reran.push(Promise.resolve(applied.get(agent)!.onTask!({ id: task, attempt, payload: { n: 2 }, submitter: 'p', deadline: Date.now() + 10_000 }, { ...ctx(agent), task, attempt, progress: async () => {} })))
      return 'taken'
    })
    await s.set('w', ['task'], {})
    // A task call's id names its attempt.
    const live = applied.get('w')!.onTask!({ id: 9, attempt: 2, payload: null, submitter: 'p', deadline: Date.now() + 10_000 }, { ...ctx('w'), task: 9, attempt: 2, progress: async () => {} }) as Promise<unknown>
    const [call] = await s.poll('w', { waitMs: 1000, signal: never, missing })
    expect(call!.callId).toMatch(/^[0-9a-f]{16}0{13}90{7}2$/)
    // An unknown id of task 7, attempt 1 (the daemon restarted since it handed the call out).
    const t71 = `0123456789abcdef${'7'.padStart(14, '0')}${'1'.padStart(8, '0')}`
    expect(await s.answerAny(t71, { reply: { four: 4 } }, 'w')).toEqual({ callId: t71, kind: 'task', recovered: true })
    expect(await Promise.all(reran)).toEqual([{ four: 4 }])
    // The attempt runs here already (a new call waits): that call takes the answer.
    expect(await s.answerAny(`ffffffffffffffff${'9'.padStart(14, '0')}${'2'.padStart(8, '0')}`, { reply: 'late' }, 'w')).toMatchObject({ callId: call!.callId, recovered: true })
    expect(await live).toBe('late')
    // Not current here: 409 ERR_STALE_ATTEMPT; not a task call id: still 404.
    current = false
    await expect(s.answerAny(t71, { reply: 1 }, 'w')).rejects.toMatchObject({ code: 'ERR_STALE_ATTEMPT' })
    await expect(s.answerAny('0123456789abcdef', { reply: 1 }, 'w')).rejects.toMatchObject({ code: 'ERR_UNKNOWN_REQUEST' })
  })
})
