/**
 * The wiring decisions of a peer's protection (peers/protect): which replies count against an agent's
 * breaker, the breaker set's refusals and events on an injected clock, the rate limits' order and
 * refusals, the options' named errors (peer options and daemon config), the wire's retryAfterMs, which
 * Raft commands the `proposals` limit counts; and, on a live one-voter Raft peer, that the limit refuses
 * the operations callers start while the peer's own duties (keepalives, releases) go on.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { AgentBreakers, outcomeOf, type BreakerEvents } from '../../peers/protect/breakers.js'
import { PeerRateLimits } from '../../peers/protect/limits.js'
import { RATE_LIMIT_DEFAULTS, resolveBreaker, resolveRateLimits } from '../../peers/protect/options.js'
import { resolvePeerOptions } from '../../peers/options.js'
import { validateConfig } from '../../src/daemon/config.js'
import { decodeChannelReply } from '../../peers/agents/channel.js'
import { agentErrorOf } from '../../peers/agents/errors.js'
import { PeerQuota } from '../../peers/raft/quota.js'
import { decodeClientResponse } from '../../peers/raft/client.js'
import { RATE_LIMITED_ECON_COMMANDS } from '../../peers/economy/economy.js'
import { RATE_LIMITED_COORD_COMMANDS } from '../../peers/coordination/service.js'
import { RateLimitedError } from '../../src/base/errors.js'
import { createPeer, type Peer } from '../../peers/peer.js'
import { waitUntil } from '../helpers/wait.js'

const enc = new TextEncoder()

describe('what a reply tells an agent\'s breaker', () => {
  it('unreachable, timeout, handler and the host\'s limits fail; local refusals and rate limits are neutral; any other answer succeeds', () => {
    const no = (code: string, extra: Record<string, unknown> = {}): ReturnType<typeof outcomeOf> => outcomeOf({ ok: false, code, message: '', ...extra })
    expect(outcomeOf({ ok: true, outcome: 'reply' })).toBe('success')
    for (const code of ['ERR_UNREACHABLE', 'ERR_TIMEOUT', 'ERR_HANDLER', 'ERR_LIMIT_EXCEEDED', 'ERR_OVERLOADED']) expect(no(code)).toBe('failure')
    expect(no('ERR_LIMIT_EXCEEDED', { local: true })).toBe('neutral')
    expect(no('ERR_TIMEOUT', { local: true })).toBe('neutral')
    expect(no('ERR_RATE_LIMITED', { retryAfterMs: 10 })).toBe('neutral')
    for (const code of ['ERR_INVALID_PAYLOAD', 'ERR_NO_HANDLER', 'ERR_UNKNOWN_AGENT', 'ERR_TOO_LATE']) expect(no(code)).toBe('success')
  })
})

describe('AgentBreakers', () => {
  const make = (): { b: AgentBreakers, events: Array<[string, unknown]>, clock: { t: number } } => {
    const clock = { t: 0 }
    const events: Array<[string, unknown]> = []
    const b = new AgentBreakers(resolveBreaker({ failureThreshold: 2, windowMs: 1000, recoveryMs: 100, recoveryMaxMs: 400 }), <K extends keyof BreakerEvents>(type: K, e: BreakerEvents[K]) => { events.push([type, e]) }, () => clock.t)
    return { b, events, clock }
  }
  const fail = { ok: false as const, code: 'ERR_TIMEOUT', message: 'slow' }

  it('refuses while open with ERR_CIRCUIT_OPEN and the time until a probe; emits its transitions once each', () => {
    const { b, events, clock } = make()
    expect(b.admit('x')).toBeUndefined()
    b.record('x', fail)
    expect(b.admit('x')).toBeUndefined()
    b.record('x', fail)
    expect(events).toEqual([['breaker:open', { agent: 'x', retryAfterMs: 100, opened: 1 }]])
    clock.t = 30
    expect(b.admit('x')).toMatchObject({ ok: false, code: 'ERR_CIRCUIT_OPEN', retryAfterMs: 70, local: true })
    expect(b.isOpen('x')).toBe(true)
    expect(b.admit('y')).toBeUndefined() // other agents are not affected
    expect(b.list()).toEqual([{ agent: 'x', state: 'open', failures: 0, opened: 1, retryAfterMs: 70 }])
    clock.t = 100
    expect(b.admit('x')).toBeUndefined() // the probe
    expect(b.admit('x')).toMatchObject({ code: 'ERR_CIRCUIT_OPEN' }) // one at a time
    b.record('x', { ok: true, outcome: 'reply' })
    expect(events.map(e => e[0])).toEqual(['breaker:open', 'breaker:half-open', 'breaker:closed'])
    expect(b.stats).toMatchObject({ refused: 2, transitions: { open: 1, 'half-open': 1, closed: 1 } })
    expect(b.list()).toEqual([])
    expect(b.counts()).toEqual({ closed: 1, open: 0, 'half-open': 0 })
  })

  it('a neutral outcome frees the probe slot at once (the next call probes instead of waiting probeTimeoutMs)', () => {
    const { b, clock } = make()
    b.record('x', fail); b.record('x', fail)
    clock.t = 150
    expect(b.admit('x')).toBeUndefined()
    b.record('x', { ok: false, code: 'ERR_TIMEOUT', message: 'aborted by the caller', local: true })
    expect(b.admit('x')).toBeUndefined()
    b.record('x', fail)
    expect(b.list()[0]).toMatchObject({ state: 'open', opened: 2, retryAfterMs: 200 })
  })
})

describe('PeerRateLimits', () => {
  const limits = (o: Parameters<typeof resolveRateLimits>[0], clock: { t: number }): PeerRateLimits => new PeerRateLimits(resolveRateLimits(o), () => clock.t)

  it('takes the remote peer\'s bucket before the agent\'s, and names the limit that refused', () => {
    const clock = { t: 0 }
    const l = limits({ agentRequests: { ratePerSecond: 10, burst: 1 }, peerRequests: { ratePerSecond: 1, burst: 2 } }, clock)
    expect(l.inbound('p', 'a')).toBeUndefined()
    expect(l.inbound('p', 'a')).toEqual({ limit: 'agentRequests', key: 'a', retryAfterMs: 100 })
    expect(l.inbound('p', 'b')).toEqual({ limit: 'peerRequests', key: 'p', retryAfterMs: 1000 })
    // Local callers (no peer) and frames naming no local agent skip the bucket they have no key for.
    expect(l.inbound(undefined, 'b')).toBeUndefined()
    expect(l.inbound('q', undefined)).toBeUndefined()
    clock.t = 100
    expect(l.inbound(undefined, 'a')).toBeUndefined()
    expect(l.stats).toMatchObject({ agentRequests: 1, peerRequests: 1 })
  })

  it('writes and proposals throw RateLimitedError naming the limit, with retryAfterMs; false switches a limit off', () => {
    const clock = { t: 0 }
    const l = limits({ writes: { ratePerSecond: 2, burst: 2 }, proposals: { ratePerSecond: 0, burst: 1 }, agentRequests: false }, clock)
    l.write(2)
    const w = (() => { try { l.write(); return undefined } catch (err) { return err as RateLimitedError } })()
    expect(w).toBeInstanceOf(RateLimitedError)
    expect(w).toMatchObject({ code: 'ERR_RATE_LIMITED', details: { limit: 'writes', retryAfterMs: 500 } })
    l.proposal('strong.set')
    expect(() => l.proposal('task.submit')).toThrow(expect.objectContaining({ code: 'ERR_RATE_LIMITED', details: expect.objectContaining({ limit: 'proposals', what: 'task.submit', retryAfterMs: 3_600_000 }) }))
    for (let i = 0; i < 100; i++) expect(l.inbound(undefined, 'a')).toBeUndefined()
    expect(l.states()).toMatchObject({ writes: { refused: 1, available: 0 }, proposals: { refused: 1 }, agentRequests: { limit: false, refused: 0 } })
  })
})

describe('options', () => {
  it('defaults, and named errors with their path in the peer options and the daemon config', () => {
    expect(resolveRateLimits(undefined)).toEqual(RATE_LIMIT_DEFAULTS)
    expect(resolveRateLimits({ writes: false }).writes).toBe(false)
    expect(resolveBreaker(undefined)).toMatchObject({ failureThreshold: 5, windowMs: 10_000, recoveryMs: 5000 })
    const bad: Array<[unknown, string]> = [
      [{ rateLimits: { writes: { ratePerSecond: 1, burst: 0 } } }, 'rateLimits.writes.burst'],
      [{ rateLimits: { writes: { ratePerSecond: -1, burst: 1 } } }, 'rateLimits.writes.ratePerSecond'],
      [{ rateLimits: { wirtes: { ratePerSecond: 1, burst: 1 } } }, 'rateLimits.wirtes'],
      [{ breaker: { failureThreshold: 0 } }, 'breaker.failureThreshold'],
      [{ breaker: { recoveryMs: 5000, recoveryMaxMs: 100 } }, 'breaker.recoveryMaxMs']
    ]
    for (const [options, path] of bad) {
      expect(() => resolvePeerOptions(options), path).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION', details: expect.objectContaining({ path }) }))
      expect(() => validateConfig(options, 'agora.yaml'), path).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION', details: expect.objectContaining({ key: path }) }))
    }
    expect(() => resolveRateLimits({ proposals: { ratePerSecond: 1 } } as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION', details: expect.objectContaining({ path: 'rateLimits.proposals' }) }))
    expect(() => resolveRateLimits({ proposals: true } as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION', details: expect.objectContaining({ path: 'rateLimits.proposals' }) }))
    expect(validateConfig({ rateLimits: { writes: { ratePerSecond: 1, burst: 2 } }, breaker: { failureThreshold: 3 } })).toMatchObject({ rateLimits: { writes: { burst: 2 } }, breaker: { failureThreshold: 3 } })
  })
})

describe('the wire and the errors', () => {
  it('a reply carries retryAfterMs (an integer within bounds, else the frame is refused); the caller\'s error keeps it', () => {
    const reply = (r: unknown): Uint8Array => enc.encode(JSON.stringify({ id: 1, r }))
    expect(decodeChannelReply(reply({ ok: false, code: 'ERR_RATE_LIMITED', message: 'slow down', retryAfterMs: 250 })).r).toEqual({ ok: false, code: 'ERR_RATE_LIMITED', message: 'slow down', retryAfterMs: 250 })
    expect(decodeChannelReply(reply({ ok: false, code: 'ERR_HANDLER', message: 'x' })).r).toEqual({ ok: false, code: 'ERR_HANDLER', message: 'x' })
    for (const bad of [-1, 1.5, 3_600_001, '10']) expect(() => decodeChannelReply(reply({ ok: false, code: 'ERR_RATE_LIMITED', message: 'x', retryAfterMs: bad }))).toThrow(expect.objectContaining({ code: 'ERR_DECODE' }))
    // A remote `local` flag is not taken from the wire.
    expect(decodeChannelReply(reply({ ok: false, code: 'ERR_TIMEOUT', message: 'x', local: true })).r).toEqual({ ok: false, code: 'ERR_TIMEOUT', message: 'x' })
    expect(agentErrorOf('ERR_RATE_LIMITED', 'slow down', { agent: 'a' }, 250)).toMatchObject({ name: 'AgentError', code: 'ERR_RATE_LIMITED', details: { agent: 'a', retryAfterMs: 250 } })
    expect(agentErrorOf('ERR_CIRCUIT_OPEN', 'open', {}, 10).code).toBe('ERR_CIRCUIT_OPEN')
    expect(decodeClientResponse(enc.encode(JSON.stringify({ ok: false, code: 'ERR_RATE_LIMITED', message: 'x', retryAfterMs: 5 })))).toEqual({ ok: false, code: 'ERR_RATE_LIMITED', message: 'x', retryAfterMs: 5 })
    expect(() => decodeClientResponse(enc.encode(JSON.stringify({ ok: false, code: 'ERR_RATE_LIMITED', message: 'x', retryAfterMs: -5 })))).toThrow(expect.objectContaining({ code: 'ERR_DECODE' }))
  })

  it('the Raft client path\'s quota tells how long until a request would pass', () => {
    const q = new PeerQuota({ requestsPerSecond: 10, requestsBurst: 2, bytesPerSecond: 100, bytesBurst: 100, peersMax: 8 })
    expect(q.retryAfterMs('p', 10, 0)).toBe(0)
    q.take('p', 10, 0); q.take('p', 10, 0)
    expect(q.take('p', 10, 0)).toBe('requests')
    expect(q.retryAfterMs('p', 10, 0)).toBe(100)
    expect(q.retryAfterMs('p', 90, 50)).toBe(50) // a request refilled halfway, bytes 85 of 90
    expect(q.retryAfterMs('p', 95, 50)).toBe(100) // bytes: 10 more at 100/s
  })

  it('the proposals limit counts the operations callers start, never the peer\'s duties nor what finishes an operation', () => {
    for (const t of ['lock.acquire', 'barrier.arrive', 'vote.open', 'election.proclaim']) expect(RATE_LIMITED_COORD_COMMANDS.has(t)).toBe(true)
    for (const t of ['lease.keepalive', 'lease.grant', 'lease.revoke', 'lock.release', 'lock.cancel', 'vote.ballot', 'epoch', 'tick']) expect(RATE_LIMITED_COORD_COMMANDS.has(t)).toBe(false)
    for (const t of ['transfer', 'mint', 'auction.open']) expect(RATE_LIMITED_ECON_COMMANDS.has(t)).toBe(true)
    for (const t of ['auction.bid', 'auction.reveal', 'auction.close', 'auction.settle', 'economy.genesis']) expect(RATE_LIMITED_ECON_COMMANDS.has(t)).toBe(false)
  })
})

describe('the proposals limit on a live Raft peer', () => {
  let p: Peer | undefined
  afterAll(async () => { await p?.stop() })

  it('refuses strong writes, locks and task submits past the burst; keepalives and releases go on', async () => {
    p = await createPeer({ logLevel: 'silent', dht: false, sessionLeaseTtlMs: 1000, rateLimits: { proposals: { ratePerSecond: 0.01, burst: 3 } } })
    await p.startRaft({ voters: [p.id], tickMs: 10, electionTick: 3 })
    await waitUntil(() => p!.raft!.status().role === 'leader', { what: 'leadership', timeoutMs: 20_000 })
    const lock = await p.coordination.lock('l')
    const v = p.variables.strong<number>('s', { initial: 0 })
    await v.set(1)
    expect(await v.compareAndSet(1, 2)).toBe(true)
    const code = async (f: () => Promise<unknown>): Promise<unknown> => { try { await f(); return 'ok' } catch (err) { return (err as RateLimitedError).details?.limit ?? (err as Error).message } }
    expect(await code(async () => await v.set(3))).toBe('proposals')
    expect(await code(async () => await p!.coordination.tryLock('m'))).toBe('proposals')
    expect(await code(async () => await p!.tasks.submit({ capability: 'none', payload: 1 }))).toBe('proposals')
    expect(await v.get()).toBe(2)
    expect(p.rateLimits.stats.proposals).toBe(3)
    // The peer's own duties are not counted: its session keeps alive, a lock is released.
    const keepalives = p.coordination.stats.keepalives
    await waitUntil(() => p!.coordination.stats.keepalives > keepalives + 1, { what: 'two more keepalives', timeoutMs: 20_000 })
    await lock.release()
    expect(await p.coordination.lockState('l')).toMatchObject({ holders: [] })
  }, 60_000)
})

describe('breakers of agents that left', () => {
  let p: Peer | undefined
  afterAll(async () => { await p?.stop() })

  it('an agent unregistered (or pruned) takes its breaker with it: no longer listed, counted in the health report, or refusing a new agent of that id', async () => {
    p = await createPeer({ logLevel: 'silent', dht: false, breaker: { failureThreshold: 2, windowMs: 60_000, recoveryMs: 60_000 } })
    await p.registry.register({ id: 'gone', capabilities: ['x'] })
    p.agents.handle('gone', { onRequest: () => { throw new Error('broken') }, onMessage: () => {} })
    for (let i = 0; i < 2; i++) await expect(p.agents.request('gone', i)).rejects.toMatchObject({ code: 'ERR_HANDLER' })
    expect(p.agents.breakerOpen('gone')).toBe(true)
    expect(p.health().breakers.open).toBe(1)
    await p.registry.unregister('gone')
    expect(p.agents.breakers({ all: true })).toEqual([])
    expect(p.health().breakers).toMatchObject({ open: 0, halfOpen: 0 })
    // A new agent of the same id starts with a closed breaker.
    await p.registry.register({ id: 'gone', capabilities: ['x'] })
    p.agents.handle('gone', { onRequest: () => 'back', onMessage: () => {} })
    expect(await p.agents.request('gone', 1)).toBe('back')
  })
})
