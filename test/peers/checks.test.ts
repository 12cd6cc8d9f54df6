/**
 * peer.checks (peers/checks) on a local registry with an injected clock, timers and HTTP client: TTL
 * expiry, damping, the agent's own report, HTTP results, the URL policy, concurrency, output-only writes,
 * stalls, limits and the lifecycle. The TCP and daemon tests run the same service for real.
 */
import { describe, expect, it } from 'vitest'
import { createLocalRegistry } from '../../crdt/registry.js'
import type { ReplicatedRegistry } from '../../crdt/registry.js'
import { CHECK_OUTPUT_CHARS_MAX, CHECKS_PER_AGENT_MAX } from '../../crdt/checks.js'
import { CHECK_STALL_MS, PeerChecks } from '../../peers/checks/index.js'
import type { CheckEvent, CheckTimers, PeerChecksOptions } from '../../peers/checks/index.js'
import { TestKeys, antiEntropyAll, makeNode } from '../crdt/helpers.js'

const settle = async (): Promise<void> => { for (let i = 0; i < 6; i++) await new Promise(resolve => setImmediate(resolve)) }

/** A manual clock whose timers fire in order as time is advanced. */
function fakeClock (start = 1_700_000_000_000): { now: () => number, timers: CheckTimers, advance: (ms: number) => Promise<void>, jump: (ms: number) => void, pending: () => number } {
  let t = start
  let seq = 0
  const timers = new Map<number, { at: number, fn: () => void }>()
  return {
    now: () => t,
    timers: {
      set: (fn, ms) => { const id = ++seq; timers.set(id, { at: t + ms, fn }); return id },
      clear: (h) => { timers.delete(h as number) }
    },
    async advance (ms) {
      const end = t + ms
      for (;;) {
        await settle()
        let next: [number, { at: number, fn: () => void }] | undefined
        for (const e of timers) if (e[1].at <= end && (next === undefined || e[1].at < next[1].at)) next = e
        if (next === undefined) break
        timers.delete(next[0])
        t = Math.max(t, next[1].at)
        next[1].fn()
      }
      t = end
      await settle()
    },
    /** Time passes without any timer firing (a blocked event loop). */
    jump (ms) { t += ms },
    pending: () => timers.size
  }
}

type Fetch = typeof fetch

function setup (o: PeerChecksOptions & { fetch?: Fetch } = {}): { clock: ReturnType<typeof fakeClock>, registry: ReplicatedRegistry, checks: PeerChecks, events: CheckEvent[], health: string[] } {
  const clock = fakeClock()
  const registry = createLocalRegistry({ now: clock.now })
  const { fetch: f, ...options } = o
  const checks = new PeerChecks({ registry, now: clock.now, timers: clock.timers, ...(f !== undefined ? { fetch: f } : {}) }, options)
  const events: CheckEvent[] = []
  const health: string[] = []
  for (const s of ['passing', 'warning', 'critical'] as const) checks.on(`check:${s}`, (e) => events.push(e))
  checks.on('agent:health', (e) => health.push(`${e.agent}:${String(e.previous)}>${e.health}`))
  checks.start()
  return { clock, registry, checks, events, health }
}

/** An HTTP client answering from a script of statuses (one per call), recording the calls. */
function scriptedFetch (script: Array<number | 'hang' | 'error'>, body = 'ok'): { fetch: Fetch, calls: string[] } {
  const calls: string[] = []
  let i = 0
  const f = (async (url: string | URL | Request, init?: RequestInit): Promise<Response> => {
    calls.push(String(url))
    const step = script[Math.min(i++, script.length - 1)]!
    if (step === 'error') throw new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } })
    if (step === 'hang') {
      return await new Promise<Response>((_resolve, reject) => {
        init?.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')))
      })
    }
    return new Response(step >= 300 && step < 400 ? null : body, { status: step, headers: step >= 300 && step < 400 ? { location: 'http://example.org/' } : {} })
  }) as Fetch
  return { fetch: f, calls }
}

describe('peer.checks: TTL checks', () => {
  it('an agent that stops checking in turns unhealthy at its TTL; healthy queries skip it; check-ins bring it back after the damping', async () => {
    const { clock, registry, checks, events, health } = setup()
    await checks.register({ id: 'w1', capabilities: ['sum'] }, [{ id: 'alive', ttlMs: 1000 }])
    expect(registry.lookup('w1')!.health).toBe('healthy')
    expect(registry.lookup('w1')!.checks).toMatchObject([{ id: 'alive', kind: 'ttl', status: 'passing' }])
    await clock.advance(900)
    checks.pass('w1', 'alive', 'fine')
    await clock.advance(900)
    expect(registry.lookup('w1')!.health).toBe('healthy')
    // The agent hangs: no check-in. Its TTL runs out 1000 ms after the last one.
    await clock.advance(99)
    expect(registry.lookup('w1')!.health).toBe('healthy')
    await clock.advance(2)
    const w1 = registry.lookup('w1')!
    expect(w1.health).toBe('unhealthy')
    expect(w1.checks[0]).toMatchObject({ id: 'alive', status: 'critical' })
    expect(w1.checks[0]!.output).toMatch(/TTL of 1000 ms expired/)
    expect(events.map(e => `${e.check}:${e.previous}>${e.status}`)).toEqual(['alive:passing>critical'])
    expect(registry.query({ capability: 'sum', health: 'healthy' }).agents).toEqual([])
    expect(registry.query({ capability: 'sum', health: 'unhealthy' }).agents.map(a => a.id)).toEqual(['w1'])
    expect(registry.lookupWith('sum', 'least-loaded')).toBeUndefined()
    // Back: the first check-in is not enough (successesBeforePassing 2), the second is.
    checks.pass('w1', 'alive')
    await settle()
    expect(registry.lookup('w1')!.health).toBe('unhealthy')
    expect(checks.get('w1')![0]).toMatchObject({ status: 'critical', last: 'passing', successes: 1 })
    checks.pass('w1', 'alive')
    await settle()
    expect(registry.lookup('w1')!.health).toBe('healthy')
    expect(registry.query({ capability: 'sum', health: 'healthy' }).agents.map(a => a.id)).toEqual(['w1'])
    expect(health).toEqual(['w1:healthy>unhealthy', 'w1:unhealthy>healthy'])
    expect(checks.stats()).toMatchObject({ checks: 1, expired: 1, byStatus: { passing: 1, warning: 0, critical: 0 } })
  })

  it('the agent\'s own report stays: degraded with passing checks, unhealthy while a check is critical, degraded again after', async () => {
    const { clock, registry, checks } = setup()
    await checks.register({ id: 'w2', health: 'degraded' }, [{ id: 'alive', ttlMs: 500, successesBeforePassing: 1 }])
    expect(registry.lookup('w2')).toMatchObject({ health: 'degraded', reportedHealth: 'degraded' })
    await clock.advance(501)
    expect(registry.lookup('w2')).toMatchObject({ health: 'unhealthy', reportedHealth: 'degraded' })
    // The agent reports itself healthy meanwhile: the critical check still wins.
    await registry.update('w2', { health: 'healthy' })
    expect(registry.lookup('w2')).toMatchObject({ health: 'unhealthy', reportedHealth: 'healthy' })
    checks.pass('w2', 'alive')
    await settle()
    expect(registry.lookup('w2')).toMatchObject({ health: 'healthy', reportedHealth: 'healthy' })
    await registry.update('w2', { health: 'degraded' })
    expect(registry.lookup('w2')!.health).toBe('degraded')
    // A warning check-in makes it at least degraded; removing the checks gives the report back alone.
    await registry.update('w2', { health: 'healthy' })
    checks.warn('w2', 'alive', 'queue long')
    await settle()
    expect(registry.lookup('w2')!.health).toBe('degraded')
    expect(registry.lookup('w2')!.checks[0]).toMatchObject({ status: 'warning', output: 'queue long' })
    expect(await checks.remove('w2')).toBe(true)
    expect(registry.lookup('w2')).toMatchObject({ health: 'healthy', reportedHealth: undefined, checks: [] })
    expect(checks.get('w2')).toBeUndefined()
    expect(await checks.remove('w2')).toBe(false)
  })

  it('an update without `health` while a check is critical keeps the agent\'s own report: healthy again once the check passes', async () => {
    const { clock, registry, checks } = setup()
    await checks.register({ id: 'w3', capabilities: ['sum'], load: 0.1 }, [{ id: 'alive', ttlMs: 500, successesBeforePassing: 1 }])
    await clock.advance(501)
    expect(registry.lookup('w3')).toMatchObject({ health: 'unhealthy', reportedHealth: 'healthy' })
    // The agent reports its load only: its own health report is unchanged (healthy), not the checks' verdict.
    await registry.update('w3', { load: 0.5 })
    expect(registry.lookup('w3')).toMatchObject({ health: 'unhealthy', reportedHealth: 'healthy', load: 0.5 })
    checks.pass('w3', 'alive')
    await settle()
    expect(registry.lookup('w3')).toMatchObject({ health: 'healthy', reportedHealth: 'healthy' })
  })

  it('a failing check-in counts toward failuresBeforeCritical; check-ins on unknown or HTTP checks are named errors', async () => {
    const { registry, checks } = setup({ fetch: scriptedFetch([200]).fetch })
    await checks.register({ id: 'w3' }, [{ id: 'alive', ttlMs: 10_000, failuresBeforeCritical: 2 }, { id: 'web', http: 'http://127.0.0.1:9/h' }])
    checks.fail('w3', 'alive', 'disk full')
    await settle()
    expect(registry.lookup('w3')!.health).toBe('healthy')
    checks.fail('w3', 'alive', 'disk full')
    await settle()
    expect(registry.lookup('w3')!.health).toBe('unhealthy')
    expect(() => checks.pass('w3', 'nope')).toThrow(expect.objectContaining({ code: 'ERR_CHECK_NOT_FOUND' }))
    expect(() => checks.pass('w3', 'web')).toThrow(expect.objectContaining({ code: 'ERR_CHECK_KIND' }))
    expect(() => checks.pass('w3', 'alive', 42 as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_CHECK' }))
    // Outputs are cut to the stored length and made well-formed.
    checks.pass('w3', 'alive', 'x'.repeat(CHECK_OUTPUT_CHARS_MAX - 1) + '\ud83d\ude00')
    expect(checks.get('w3')![0]!.output.length).toBe(CHECK_OUTPUT_CHARS_MAX - 1)
    checks.pass('w3', 'alive', 'lone \ud800')
    expect(checks.get('w3')![0]!.output).toBe('lone \ufffd')
  })

  it('a blocked event loop moves TTL deadlines by the delay: no agent turns unhealthy for the host\'s own stall', async () => {
    const { clock, registry, checks } = setup()
    await checks.register({ id: 'w4' }, [{ id: 'alive', ttlMs: 1000 }])
    await clock.advance(500)
    clock.jump(CHECK_STALL_MS + 2000)
    await clock.advance(0)
    expect(registry.lookup('w4')!.health).toBe('healthy')
    checks.pass('w4', 'alive')
    await clock.advance(999)
    expect(registry.lookup('w4')!.health).toBe('healthy')
    await clock.advance(2)
    expect(registry.lookup('w4')!.health).toBe('unhealthy')
  })
})

describe('peer.checks: HTTP checks', () => {
  it('unhealthy after failuresBeforeCritical failed polls, healthy again after successesBeforePassing; output names the answer', async () => {
    const { fetch, calls } = scriptedFetch([200, 500, 500, 500, 200, 200], 'body text')
    const { clock, registry, checks, events } = setup({ fetch })
    await checks.register({ id: 'h1' }, [{ id: 'web', http: 'http://127.0.0.1:9/health', intervalMs: 1000, failuresBeforeCritical: 3, successesBeforePassing: 2 }])
    await clock.advance(0)
    expect(calls).toHaveLength(1)
    await clock.advance(2000)
    expect(registry.lookup('h1')!.health).toBe('healthy')
    await clock.advance(1000)
    expect(registry.lookup('h1')!.health).toBe('unhealthy')
    expect(registry.lookup('h1')!.checks[0]!.output).toBe('HTTP GET http://127.0.0.1:9/health: 500: body text')
    await clock.advance(1000)
    expect(registry.lookup('h1')!.health).toBe('unhealthy')
    await clock.advance(1000)
    expect(registry.lookup('h1')!.health).toBe('healthy')
    expect(calls).toHaveLength(6)
    expect(events.map(e => e.status)).toEqual(['critical', 'passing'])
  })

  it('429 warns (degraded); a redirect, a timeout or a refused connection fail', async () => {
    const { fetch } = scriptedFetch([429, 302, 'hang', 'error'])
    const { clock, checks } = setup({ fetch })
    await checks.register({ id: 'h2' }, [{ id: 'web', http: 'http://localhost:9/', intervalMs: 1000, timeoutMs: 200, failuresBeforeCritical: 1 }])
    const seen: string[] = []
    for (let i = 0; i < 4; i++) {
      await clock.advance(i === 0 ? 0 : 1000)
      // The hanging poll ends at its timeout.
      if (i === 2) await clock.advance(300)
      seen.push(`${checks.get('h2')![0]!.last} ${checks.get('h2')![0]!.output}`)
    }
    expect(seen[0]).toMatch(/^warning HTTP GET http:\/\/localhost:9\/: 429/)
    expect(seen[1]).toMatch(/^critical HTTP GET http:\/\/localhost:9\/: 302/)
    expect(seen[2]).toBe('critical HTTP GET http://localhost:9/: timed out after 200 ms')
    expect(seen[3]).toMatch(/^critical HTTP GET http:\/\/localhost:9\/: fetch failed: ECONNREFUSED/)
  })

  it('refuses a URL beyond loopback with a named error unless allowHosts names its host; definitions are checked by path', async () => {
    const { registry, checks } = setup()
    await expect(checks.register({ id: 'h3' }, [{ id: 'web', http: 'http://10.0.0.5/health' }])).rejects.toMatchObject({ code: 'ERR_CHECK_URL_NOT_ALLOWED', details: { path: 'checks.0.http', host: '10.0.0.5' } })
    // Nothing was registered.
    expect(registry.lookup('h3')).toBeUndefined()
    for (const ok of ['http://127.0.0.1:1/', 'http://127.9.9.9/', 'http://[::1]:8080/x', 'https://LOCALHOST/']) {
      await checks.register({ id: 'ok' }, [{ id: 'web', http: ok }])
      await registry.unregister('ok')
    }
    await expect(checks.register({ id: 'h3' }, [{ id: 'web', http: 'http://[::ffff:127.0.0.1]/' }])).rejects.toMatchObject({ code: 'ERR_CHECK_URL_NOT_ALLOWED' })
    await expect(checks.register({ id: 'h3' }, [{ id: 'web', http: 'http://localhost.evil.org/' }])).rejects.toMatchObject({ code: 'ERR_CHECK_URL_NOT_ALLOWED' })
    const allowed = setup({ allowHosts: ['health.internal', 'fd00::1'] })
    await allowed.checks.register({ id: 'h4' }, [{ id: 'a', http: 'http://health.internal/x' }, { id: 'b', http: 'http://[fd00::1]/x' }])
    expect(allowed.checks.definitions('h4').map(d => 'http' in d ? d.http : '')).toEqual(['http://health.internal/x', 'http://[fd00::1]/x'])
    const bad: Array<[unknown, string, string]> = [
      [[{ id: 'a' }], 'ERR_INVALID_CHECK', 'checks.0'],
      [[{ id: 'a', ttlMs: 1000, http: 'http://127.0.0.1/' }], 'ERR_INVALID_CHECK', 'checks.0'],
      [[{ id: 'a', ttlMs: 5 }], 'ERR_INVALID_CHECK', 'checks.0.ttlMs'],
      [[{ id: 'a b', ttlMs: 1000 }], 'ERR_INVALID_CHECK', 'checks.0.id'],
      [[{ id: 'a', ttlMs: 1000 }, { id: 'a', ttlMs: 1000 }], 'ERR_INVALID_CHECK', 'checks.1.id'],
      [[{ id: 'a', ttlMs: 1000, color: 'red' }], 'ERR_INVALID_CHECK', 'checks.0.color'],
      [[{ id: 'a', http: 'ftp://127.0.0.1/' }], 'ERR_INVALID_CHECK', 'checks.0.http'],
      [[{ id: 'a', http: 'http://u:p@127.0.0.1/' }], 'ERR_INVALID_CHECK', 'checks.0.http'],
      [[{ id: 'a', http: 'http://127.0.0.1/', intervalMs: 1000, timeoutMs: 2000 }], 'ERR_INVALID_CHECK', 'checks.0.timeoutMs'],
      [[{ id: 'a', ttlMs: 1000, failuresBeforeCritical: 0 }], 'ERR_INVALID_CHECK', 'checks.0.failuresBeforeCritical'],
      ['nope', 'ERR_INVALID_CHECK', 'checks']
    ]
    for (const [defs, code, path] of bad) await expect(checks.register({ id: 'h5' }, defs as never)).rejects.toMatchObject({ code, details: { path } })
    await expect(checks.register({ id: 'h5' }, Array.from({ length: CHECKS_PER_AGENT_MAX + 1 }, (_, i) => ({ id: `c${i}`, ttlMs: 1000 })))).rejects.toMatchObject({ code: 'ERR_LIMIT_EXCEEDED', details: { limit: 'CHECKS_PER_AGENT_MAX' } })
  })

  it('at most httpConcurrencyMax polls run at once; the others wait their turn', async () => {
    let open = 0
    let peak = 0
    const releases: Array<() => void> = []
    const f = (async (): Promise<Response> => {
      open++; peak = Math.max(peak, open)
      await new Promise<void>(resolve => releases.push(resolve))
      open--
      return new Response('ok')
    }) as Fetch
    const { clock, checks } = setup({ fetch: f, httpConcurrencyMax: 2 })
    await checks.register({ id: 'c1' }, [1, 2, 3, 4, 5].map(i => ({ id: `w${i}`, http: `http://127.0.0.1:9/${i}`, intervalMs: 60_000, timeoutMs: 60_000 })))
    await clock.advance(0)
    expect(checks.stats()).toMatchObject({ httpInFlight: 2, httpWaiting: 3 })
    while (releases.length > 0) { releases.shift()!(); await settle() }
    expect(peak).toBe(2)
    expect(checks.stats()).toMatchObject({ httpInFlight: 0, httpWaiting: 0, results: { passing: 5 } })
  })
})

describe('peer.checks: entries, declarations and lifecycle', () => {
  it('an output-only change is written at most once per outputSyncMs; a status change at once', async () => {
    const { clock, registry, checks } = setup({ outputSyncMs: 10_000 })
    await checks.register({ id: 'o1' }, [{ id: 'alive', ttlMs: 60_000 }])
    const first = registry.lookup('o1')!.updatedAt
    checks.pass('o1', 'alive', 'load 1')
    await clock.advance(5000)
    checks.pass('o1', 'alive', 'load 2')
    await settle()
    expect(registry.lookup('o1')!.updatedAt).toBe(first)
    expect(checks.get('o1')![0]!.output).toBe('load 2')
    await clock.advance(5000)
    expect(registry.lookup('o1')!.checks[0]).toMatchObject({ output: 'load 2', at: first + 5000 })
    checks.fail('o1', 'alive', 'down')
    await settle()
    expect(registry.lookup('o1')!.checks[0]).toMatchObject({ status: 'critical', output: 'down' })
  })

  it('declare replaces the checks of a registered agent and keeps the status of a check that stays; unregister drops them; limits are named', async () => {
    const { clock, registry, checks } = setup({ checksMax: 3 })
    await registry.register({ id: 'd1' })
    await expect(checks.declare('nobody', [{ id: 'a', ttlMs: 1000 }])).rejects.toMatchObject({ code: 'ERR_AGENT_NOT_FOUND' })
    await checks.declare('d1', [{ id: 'a', ttlMs: 1000 }])
    await clock.advance(1001)
    expect(registry.lookup('d1')!.health).toBe('unhealthy')
    const view = await checks.declare('d1', [{ id: 'a', ttlMs: 5000 }, { id: 'b', ttlMs: 5000 }])
    expect(view.checks.map(c => `${c.id}:${c.status}`)).toEqual(['a:critical', 'b:passing'])
    expect(view.health).toBe('unhealthy')
    await expect(checks.register({ id: 'd2' }, [{ id: 'a', ttlMs: 1000 }, { id: 'b', ttlMs: 1000 }])).rejects.toMatchObject({ code: 'ERR_LIMIT_EXCEEDED', details: { limit: 'CHECKS_PER_PEER_MAX' } })
    expect(checks.stats().checks).toBe(2)
    await registry.unregister('d1')
    expect(checks.get('d1')).toBeUndefined()
    expect(checks.stats().checks).toBe(0)
    expect(clock.pending()).toBe(0)
  })

  it('a declaration keeps a status not yet written; concurrent registrations cannot pass checksMax together', async () => {
    const { registry, checks } = setup({ checksMax: 3 })
    await checks.register({ id: 'k1' }, [{ id: 'alive', ttlMs: 60_000 }])
    checks.fail('k1', 'alive', 'down')
    // Declared again before the writer ran: the live critical status stays.
    const view = await checks.declare('k1', [{ id: 'alive', ttlMs: 30_000 }])
    expect(view.checks[0]).toMatchObject({ status: 'critical', output: 'down' })
    expect(registry.lookup('k1')!.health).toBe('unhealthy')
    const both = await Promise.allSettled([
      checks.register({ id: 'k2' }, [{ id: 'a', ttlMs: 1000 }]),
      checks.register({ id: 'k3' }, [{ id: 'a', ttlMs: 1000 }, { id: 'b', ttlMs: 1000 }])
    ])
    expect(both.map(r => r.status)).toEqual(['fulfilled', 'rejected'])
    expect((both[1] as PromiseRejectedResult).reason).toMatchObject({ code: 'ERR_LIMIT_EXCEEDED' })
    expect(checks.stats().checks).toBe(2)
  })

  it('a caller cannot write check results through register or update', async () => {
    const { registry } = setup()
    await expect(registry.register({ id: 'x', checks: [] } as never)).rejects.toMatchObject({ code: 'ERR_INVALID_DESCRIPTOR', details: { path: 'checks' } })
    await expect(registry.registerMany([{ id: 'x', reportedHealth: 'healthy' } as never])).rejects.toMatchObject({ code: 'ERR_INVALID_DESCRIPTOR', details: { path: 'reportedHealth' } })
    await registry.register({ id: 'x' })
    await expect(registry.update('x', { checks: [] } as never)).rejects.toMatchObject({ code: 'ERR_INVALID_DESCRIPTOR', details: { path: 'checks' } })
  })

  it('start and stop are idempotent; a stopped service runs no timer and restarts with a fresh TTL', async () => {
    const { clock, registry, checks } = setup()
    checks.start()
    await checks.register({ id: 's1' }, [{ id: 'alive', ttlMs: 1000 }])
    checks.stop(); checks.stop()
    expect(clock.pending()).toBe(0)
    await clock.advance(5000)
    expect(registry.lookup('s1')!.health).toBe('healthy')
    checks.start(); checks.start()
    await clock.advance(999)
    expect(registry.lookup('s1')!.health).toBe('healthy')
    await clock.advance(2)
    expect(registry.lookup('s1')!.health).toBe('unhealthy')
    checks.close()
    expect(clock.pending()).toBe(0)
  })
})

describe('registry: check results on entries, and the host\'s liveness', () => {
  it('replicas show the host\'s check results; an agent of an unreachable host reads unhealthy and healthy queries skip it', async () => {
    let t = 1_000_000
    const now = (): number => t
    const keys = new TestKeys()
    const a = makeNode(keys, 'A', { now, leaseMs: 1000 })
    const b = makeNode(keys, 'B', { now, leaseMs: 1000 })
    await a.registry.register({ id: 'ag', capabilities: ['c'], health: 'degraded' }, { checks: [{ id: 'alive', kind: 'ttl', status: 'passing', output: 'ok', at: t }] })
    antiEntropyAll([a, b])
    b.registry.heard('A')
    const seen = b.registry.lookup('ag')!
    expect(seen).toMatchObject({ health: 'degraded', reportedHealth: 'degraded', checks: [{ id: 'alive', status: 'passing', output: 'ok' }] })
    expect(JSON.parse(JSON.stringify(seen))).toMatchObject({ health: 'degraded', reportedHealth: 'degraded', checks: [{ id: 'alive', kind: 'ttl' }] })
    expect(b.registry.query({ health: 'degraded' }).agents.map(x => x.id)).toEqual(['ag'])
    t += 5000
    b.registry.sweep()
    expect(b.registry.lookup('ag')).toMatchObject({ health: 'unhealthy', status: 'unreachable' })
    expect(b.registry.query({ capability: 'c', health: 'degraded' }).agents).toEqual([])
    expect(b.registry.query({ health: 'unhealthy' }).agents.map(x => x.id)).toEqual(['ag'])
    expect(b.registry.query({ where: [['health', 'eq', 'unhealthy']] }).agents.map(x => x.id)).toEqual(['ag'])
    b.registry.heard('A')
    expect(b.registry.lookup('ag')!.health).toBe('degraded')
  })
})

describe('descriptor: check results as stored values', () => {
  const base = { capabilities: ['c'], resources: {}, health: 'unhealthy', metadata: {}, updatedAt: 1, claimedAt: 1 }
  const check = { id: 'alive', kind: 'ttl', status: 'critical', output: 'x', at: 1 }

  it('valid results validate on every replica (and a key this version does not know is ignored, as earlier versions ignore these)', async () => {
    const { checkStoredAgent } = await import('../../crdt/descriptor.js')
    const { DEFAULT_LIMITS } = await import('../../crdt/limits.js')
    expect(checkStoredAgent('a', { ...base, checks: [check], reportedHealth: 'healthy' }, DEFAULT_LIMITS)).toMatchObject({ checks: [check], reportedHealth: 'healthy' })
    expect(checkStoredAgent('a', { ...base, checks: [{ ...check, kind: 'grpc' }], futureField: { any: 1 } }, DEFAULT_LIMITS)).toBeDefined()
    // A descriptor of a peer before checks.
    expect(checkStoredAgent('a', base, DEFAULT_LIMITS)).toMatchObject({ health: 'unhealthy' })
  })

  it('malformed results from a host are refused whole (the agent is not indexed)', async () => {
    const { checkStoredAgent } = await import('../../crdt/descriptor.js')
    const { DEFAULT_LIMITS } = await import('../../crdt/limits.js')
    const bad: unknown[] = [
      { checks: [{ ...check, status: 'dead' }] },
      { checks: [{ ...check, output: 'x'.repeat(CHECK_OUTPUT_CHARS_MAX + 1) }] },
      { checks: [{ ...check, output: 'lone \ud800' }] },
      { checks: [{ ...check, at: -1 }] },
      { checks: [{ ...check, id: 'a b' }] },
      { checks: [check, check] },
      { checks: Array.from({ length: CHECKS_PER_AGENT_MAX + 1 }, (_, i) => ({ ...check, id: `c${i}` })) },
      { checks: {} },
      { checks: [check], reportedHealth: 'fine' }
    ]
    for (const extra of bad) expect(checkStoredAgent('a', { ...base, ...(extra as object) }, DEFAULT_LIMITS), JSON.stringify(extra).slice(0, 80)).toBeUndefined()
    // Check results count in descriptorBytesMax.
    const many = Array.from({ length: CHECKS_PER_AGENT_MAX }, (_, i) => ({ ...check, id: `c${i}`, output: 'x'.repeat(CHECK_OUTPUT_CHARS_MAX) }))
    expect(checkStoredAgent('a', { ...base, checks: many }, { ...DEFAULT_LIMITS, descriptorBytesMax: 1024 })).toBeUndefined()
  })

  it('results too large for descriptorBytesMax are written with shorter outputs', async () => {
    const clock = fakeClock()
    const registry = createLocalRegistry({ now: clock.now, limits: { descriptorBytesMax: 1200 } })
    const checks = new PeerChecks({ registry, now: clock.now, timers: clock.timers })
    checks.start()
    await checks.register({ id: 'big' }, Array.from({ length: 6 }, (_, i) => ({ id: `c${i}`, ttlMs: 60_000 })))
    for (let i = 0; i < 6; i++) checks.fail('big', `c${i}`, 'y'.repeat(CHECK_OUTPUT_CHARS_MAX))
    await settle()
    const entry = registry.lookup('big')!
    expect(entry.health).toBe('unhealthy')
    expect(entry.checks.every(c => c.status === 'critical' && c.output.length <= 32)).toBe(true)
    expect(checks.get('big')![0]!.output.length).toBe(CHECK_OUTPUT_CHARS_MAX)
    expect(checks.stats().writeErrors).toBe(0)
  })
})
