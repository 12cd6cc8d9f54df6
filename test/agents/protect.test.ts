/**
 * Circuit breakers and rate limits of peer.agents over TCP (FEATURES I1, I2; issue 15 "Tests and
 * figures"): a breaker opens after N failures (a throwing handler, a hanging one), refuses at once, sends a
 * caller that asks for it to another agent of the capability, is skipped by capability routes and by the
 * economy's and coordination's frames, and closes after a probe once its recovery time passed; a rate
 * limit refuses with ERR_RATE_LIMITED (retryAfterMs) while the peer keeps serving everything else.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLiveMesh, type LiveMesh } from '../../sim/live.js'
import { waitUntil } from '../helpers/wait.js'
import type { AgentContext } from '../../peers/agents/types.js'
import type { AgentError } from '../../peers/agents/errors.js'

/** The rejection of `p` (fails the test when it resolves). */
async function failure (p: Promise<unknown>): Promise<AgentError> {
  try {
    await p
  } catch (err) {
    return err as AgentError
  }
  throw new Error('expected a rejection')
}

describe('circuit breakers over TCP', () => {
  let m: LiveMesh
  /** What the `flaky` agent does with the next requests. */
  let mode: 'ok' | 'throw' | 'hang' = 'ok'
  let flakyCalls = 0
  const events: Array<{ type: string, agent: string }> = []

  beforeAll(async () => {
    m = await createLiveMesh({ peers: 3, logLevel: 'silent', heartbeatIntervalMs: 200, breaker: { failureThreshold: 3, windowMs: 60_000, recoveryMs: 1500, recoveryMaxMs: 3000 } })
    const [, b, c] = m.peers as [never, typeof m.peers[0], typeof m.peers[0]]
    // flaky is the least loaded of capability `work`: lookupWith picks it first.
    await b.registry.register({ id: 'flaky', capabilities: ['work'], load: 0 })
    await c.registry.register({ id: 'steady', capabilities: ['work'], load: 0.9 })
    await m.waitFor((p) => p.registry.lookup('flaky') !== undefined && p.registry.lookup('steady') !== undefined, { what: 'both agents known everywhere', timeoutMs: 30_000 })
    b.agents.handle('flaky', {
      onRequest: async (_payload, ctx: AgentContext) => {
        flakyCalls++
        if (mode === 'throw') throw new Error('flaky failed')
        if (mode === 'hang') await new Promise<void>((resolve) => { ctx.signal.addEventListener('abort', () => { resolve() }) })
        return 'flaky'
      },
      onMessage: () => {}
    })
    c.agents.handle('steady', { onRequest: () => 'steady', onMessage: () => {} })
    for (const type of ['breaker:open', 'breaker:half-open', 'breaker:closed', 'breaker:fallback'] as const) {
      m.peers[0]!.agents.on(type, (e) => { events.push({ type, agent: e.agent }) })
    }
  }, 60_000)

  afterAll(async () => { await m?.stop() })

  it('opens after failureThreshold failures, refuses at once without sending, falls back by capability, then a probe closes it', async () => {
    const a = m.peers[0]!
    expect(await a.agents.request('flaky', 1)).toBe('flaky')
    mode = 'throw'
    for (let i = 0; i < 3; i++) expect((await failure(a.agents.request('flaky', i))).code).toBe('ERR_HANDLER')
    expect(events.filter(e => e.type === 'breaker:open').map(e => e.agent)).toEqual(['flaky'])
    const callsBefore = flakyCalls
    // Open: refused here, named, with the time until a probe; nothing reaches the agent.
    const open = await failure(a.agents.request('flaky', 'x'))
    expect(open.code).toBe('ERR_CIRCUIT_OPEN')
    expect(open.details.retryAfterMs).toBeGreaterThan(0)
    expect(open.details.retryAfterMs).toBeLessThanOrEqual(1500)
    expect((await failure(a.agents.send('flaky', 'hello'))).code).toBe('ERR_CIRCUIT_OPEN')
    expect(flakyCalls).toBe(callsBefore)
    expect(a.agents.breakers()).toEqual([expect.objectContaining({ agent: 'flaky', state: 'open', opened: 1 })])
    // With a fallback: another agent of the capability (the agent's own, or a named one) answers.
    expect(await a.agents.request('flaky', 'x', { fallback: true })).toBe('steady')
    expect(await a.agents.request('flaky', 'x', { fallback: { capability: 'work' } })).toBe('steady')
    await a.agents.send('flaky', 'hello', { fallback: true })
    expect(events.filter(e => e.type === 'breaker:fallback').length).toBe(3)
    expect(a.agents.stats.fallbacks).toBe(3)
    // A capability route skips the open breaker although lookupWith names flaky first.
    expect(a.registry.lookupWith('work', 'least-loaded')?.id).toBe('flaky')
    expect(await a.agents.request({ capability: 'work' }, 'x')).toBe('steady')
    // The economy's and coordination's frames to the agent go through the same breaker.
    const vote = await a.agents.ask(a.registry.lookup('flaky')!.host, { t: 'vote-request', vote: 1, agent: 'flaky', openedIndex: 1 }, 2000)
    expect(vote).toMatchObject({ ok: false, code: 'ERR_CIRCUIT_OPEN' })
    const bid = await a.agents.ask(a.registry.lookup('flaky')!.host, { t: 'reveal-request', auction: 'a1', agent: 'flaky' }, 2000)
    expect(bid).toMatchObject({ ok: false, code: 'ERR_CIRCUIT_OPEN' })
    expect(flakyCalls).toBe(callsBefore)
    // Other peers have their own breakers: the agent is still served from peer 2.
    expect((await failure(m.peers[2]!.agents.request('flaky', 1))).code).toBe('ERR_HANDLER')
    // After the recovery time, one probe goes; it succeeds and closes the breaker.
    mode = 'ok'
    await waitUntil(() => a.agents.breakers()[0]?.retryAfterMs === 0, { what: 'the recovery time to pass', timeoutMs: 10_000 })
    expect(await a.agents.request('flaky', 'probe')).toBe('flaky')
    expect(a.agents.breakers()).toEqual([])
    expect(events.filter(e => e.agent === 'flaky').map(e => e.type)).toEqual(['breaker:open', 'breaker:fallback', 'breaker:fallback', 'breaker:fallback', 'breaker:half-open', 'breaker:closed'])
    expect(await a.agents.request('flaky', 'again')).toBe('flaky')
  }, 60_000)

  it('a hanging agent opens it by timeouts; a failed probe opens it again for longer; a caller-side error counts for nothing', async () => {
    const a = m.peers[0]!
    events.length = 0
    // Bad input fails before any breaker is asked.
    for (let i = 0; i < 5; i++) expect((await failure(a.agents.request('flaky', { s: '\ud800' }))).code).toBe('ERR_INVALID_PAYLOAD')
    expect(a.agents.breakers({ all: true })).toEqual([])
    mode = 'hang'
    for (let i = 0; i < 3; i++) expect((await failure(a.agents.request('flaky', i, { timeoutMs: 200 }))).code).toBe('ERR_TIMEOUT')
    expect(a.agents.breakers()).toEqual([expect.objectContaining({ agent: 'flaky', state: 'open' })])
    await waitUntil(() => a.agents.breakers()[0]?.retryAfterMs === 0, { what: 'the recovery time to pass', timeoutMs: 10_000 })
    // The probe hangs too: open again, for twice the recovery time (bounded by recoveryMaxMs).
    expect((await failure(a.agents.request('flaky', 'probe', { timeoutMs: 200 }))).code).toBe('ERR_TIMEOUT')
    const again = a.agents.breakers()[0]!
    expect(again).toMatchObject({ agent: 'flaky', state: 'open', opened: 3 })
    expect(again.retryAfterMs).toBeGreaterThan(1500)
    expect(again.retryAfterMs).toBeLessThanOrEqual(3000)
    expect(events.map(e => e.type)).toEqual(['breaker:open', 'breaker:half-open', 'breaker:open'])
    mode = 'ok'
    await waitUntil(() => a.agents.breakers()[0]?.retryAfterMs === 0, { what: 'the longer recovery time to pass', timeoutMs: 15_000 })
    expect(await a.agents.request('flaky', 'probe')).toBe('flaky')
    expect(a.agents.breakers()).toEqual([])
  }, 60_000)
})

describe('rate limits over TCP', () => {
  let m: LiveMesh
  let served = 0

  beforeAll(async () => {
    // peer 1's limits are the ones tested (the requests go to it); the refill rates are tiny so a test's
    // own pace never refills a bucket between the calls it counts.
    m = await createLiveMesh({
      peers: 2,
      logLevel: 'silent',
      heartbeatIntervalMs: 200,
      rateLimits: { agentRequests: { ratePerSecond: 0.01, burst: 3 }, peerRequests: { ratePerSecond: 0.01, burst: 10 }, writes: { ratePerSecond: 0.01, burst: 8 } }
    })
    const b = m.peers[1]!
    const ids = ['narrow', 'other-1', 'other-2', 'other-3']
    for (const id of ids) await b.registry.register({ id, capabilities: [id] })
    await m.waitFor((p) => ids.every(id => p.registry.lookup(id) !== undefined), { what: 'agents known', timeoutMs: 30_000 })
    b.agents.handle('narrow', { onRequest: () => { served++; return 'narrow' } })
    for (const id of ids.slice(1)) b.agents.handle(id, { onRequest: () => id })
  }, 60_000)

  afterAll(async () => { await m?.stop() })

  it('an agent over its limit is refused with ERR_RATE_LIMITED (retryAfterMs); the host still serves other agents, then its peer limit cuts the caller', async () => {
    const [a, b] = [m.peers[0]!, m.peers[1]!]
    const results = await Promise.allSettled(Array.from({ length: 6 }, async (_, i) => await a.agents.request('narrow', i)))
    const ok = results.filter(r => r.status === 'fulfilled')
    const limited = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map(r => r.reason as AgentError)
    expect(ok.length).toBe(3)
    expect(served).toBe(3)
    expect(limited.map(e => e.code)).toEqual(['ERR_RATE_LIMITED', 'ERR_RATE_LIMITED', 'ERR_RATE_LIMITED'])
    for (const e of limited) expect(e.details.retryAfterMs).toBeGreaterThan(0)
    expect(b.rateLimits.stats.agentRequests).toBe(3)
    // A rate-limit refusal says nothing against the agent: its breaker stays closed.
    expect(a.agents.breakers({ all: true })).toEqual([])
    // The host keeps serving other agents, to peer 0 and locally (6 of peer 0's 10 tokens spent).
    expect(await a.agents.request('other-1', 1)).toBe('other-1')
    expect(await a.agents.request('other-1', 2)).toBe('other-1')
    expect(await b.agents.request('other-2', 'local')).toBe('other-2')
    expect(await a.agents.request('other-2', 1)).toBe('other-2')
    expect(await a.agents.request('other-2', 2)).toBe('other-2')
    // Peer 0's bucket on peer 1 is empty now: refused whatever the agent.
    const cut = await failure(a.agents.request('other-3', 1))
    expect(cut.code).toBe('ERR_RATE_LIMITED')
    expect(cut.details.retryAfterMs).toBeGreaterThan(0)
    expect(b.rateLimits.stats.peerRequests).toBe(1)
    expect(b.rateLimits.states().peerRequests.busy).toEqual([expect.objectContaining({ key: a.id })])
    // Peer 1 still serves that agent to anyone else.
    expect(await b.agents.request('other-3', 'local')).toBe('other-3')
  }, 30_000)

  it('local writes over the writes limit are refused by name; reads go on', async () => {
    const a = m.peers[0]!
    // Two registrations happened in beforeAll on peer 1; peer 0 starts with a full bucket of 8.
    for (let i = 0; i < 6; i++) await a.registry.register({ id: `w-${i}`, capabilities: ['w'] })
    const v = a.variables.eventual<number>('counter', { initial: 0, merge: 'max' })
    await v.set(1)
    await a.registry.update('w-0', { load: 0.5 })
    const err = await failure(a.registry.register({ id: 'w-over', capabilities: ['w'] }))
    expect(err).toMatchObject({ name: 'RateLimitedError', code: 'ERR_RATE_LIMITED', details: { limit: 'writes' } })
    expect(err.details.retryAfterMs).toBeGreaterThan(0)
    expect((await failure(v.set(2))).code).toBe('ERR_RATE_LIMITED')
    expect(a.registry.lookup('w-over')).toBeUndefined()
    expect(v.get()).toBe(1)
    expect(a.registry.query({ capability: 'w' }).agents.length).toBe(6)
    expect(a.rateLimits.stats.writes).toBe(2)
  })
})

describe('auction result notices and the peer limit over TCP', () => {
  let m: LiveMesh

  beforeAll(async () => {
    m = await createLiveMesh({ peers: 2, logLevel: 'silent', heartbeatIntervalMs: 200, rateLimits: { peerRequests: { ratePerSecond: 0.01, burst: 3 } } })
  }, 60_000)

  afterAll(async () => { await m?.stop() })

  it('a peer flooding result notices is cut by its peerRequests limit like any other frame (each notice may cost the host a Raft read)', async () => {
    const [a, b] = [m.peers[0]!, m.peers[1]!]
    const notice = (i: number): never => ({ t: 'result', notice: { auction: `auction-${i}`, status: 'settled', winners: [], clearingPrice: null }, agents: ['bidder'] }) as never
    const replies = []
    for (let i = 0; i < 5; i++) replies.push(await a.agents.ask(b.id, notice(i), 10_000))
    expect(replies.map(r => r.ok ? r.outcome : r.code)).toEqual(['noted', 'noted', 'noted', 'ERR_RATE_LIMITED', 'ERR_RATE_LIMITED'])
    expect(b.rateLimits.stats.peerRequests).toBe(2)
    // The host's own notices (to itself) are not limited.
    expect(await b.agents.ask(b.id, notice(9), 10_000)).toMatchObject({ ok: true, outcome: 'noted' })
  }, 30_000)
})
