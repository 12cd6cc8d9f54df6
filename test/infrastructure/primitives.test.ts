import { describe, expect, it } from 'vitest'
import { CircuitBreaker, KeyedBreakers, KeyedTokenBuckets, TokenBucket, resolveBreakerOptions } from '../../protocols/infrastructure/index.js'
import { InvalidOptionError } from '../../src/base/errors.js'

describe('CircuitBreaker', () => {
  it('opens after the threshold within the window, probes once half-open, closes on success', () => {
    const moves: string[] = []
    const b = new CircuitBreaker(resolveBreakerOptions({ failureThreshold: 3, windowMs: 1000, recoveryMs: 100 }), (f, t) => moves.push(`${f}>${t}`))
    b.failure(0); b.failure(10)
    expect(b.state(20)).toBe('closed')
    b.failure(20)
    expect(b.state(20)).toBe('open')
    expect(b.allow(50)).toBe(false)
    expect(b.retryAfterMs(50)).toBe(70)
    expect(b.allow(120)).toBe(true)
    expect(b.allow(121)).toBe(false)
    b.success(130)
    expect(b.state(130)).toBe('closed')
    expect(moves).toEqual(['closed>open', 'open>half-open', 'half-open>closed'])
  })

  it('forgets failures that slid out of the window', () => {
    const b = new CircuitBreaker(resolveBreakerOptions({ failureThreshold: 3, windowMs: 1000 }))
    b.failure(0); b.failure(100)
    b.failure(1200)
    expect(b.state(1200)).toBe('closed')
    expect(b.snapshot(1200).failures).toBe(1)
  })

  it('doubles the recovery after a failed probe, up to the maximum', () => {
    const b = new CircuitBreaker(resolveBreakerOptions({ failureThreshold: 1, recoveryMs: 100, recoveryMaxMs: 300 }))
    b.failure(0)
    expect(b.allow(100)).toBe(true); b.failure(100)
    expect(b.retryAfterMs(100)).toBe(200)
    expect(b.allow(300)).toBe(true); b.failure(300)
    expect(b.retryAfterMs(300)).toBe(300)
  })

  it('lets another probe through when one never reported', () => {
    const b = new CircuitBreaker(resolveBreakerOptions({ failureThreshold: 1, recoveryMs: 10, probeTimeoutMs: 50 }))
    b.failure(0)
    expect(b.allow(10)).toBe(true)
    expect(b.allow(40)).toBe(false)
    expect(b.allow(61)).toBe(true)
  })

  it('refuses bad options by name', () => {
    expect(() => resolveBreakerOptions({ failureThreshold: 0 })).toThrow(InvalidOptionError)
    expect(() => resolveBreakerOptions({ recoveryMs: 100, recoveryMaxMs: 50 })).toThrow(/recoveryMaxMs/)
  })
})

describe('KeyedBreakers', () => {
  it('stays bounded: idle breakers are forgotten, busy ones kept, the rest untracked', () => {
    const k = new KeyedBreakers(resolveBreakerOptions({ failureThreshold: 1, recoveryMs: 1000 }), 2)
    k.failure('a', 0); k.failure('b', 0)
    expect(k.state('a', 1)).toBe('open')
    k.failure('c', 1)
    expect(k.size).toBe(2)
    expect(k.untracked).toBe(1)
    expect(k.allow('c', 1)).toBe(true)
  })
})

describe('TokenBucket', () => {
  it('spends the burst, then refills at the rate and says when to retry', () => {
    const t = new TokenBucket({ ratePerSecond: 10, burst: 2 }, 0)
    expect(t.take(0).ok).toBe(true)
    expect(t.take(0).ok).toBe(true)
    expect(t.take(0)).toEqual({ ok: false, retryAfterMs: 100 })
    expect(t.take(100).ok).toBe(true)
    expect(t.take(50).ok).toBe(false) // time going back refills nothing
  })

  it('a request larger than the burst can never pass', () => {
    const t = new TokenBucket({ ratePerSecond: 10, burst: 2 }, 0)
    expect(t.take(0, 3)).toEqual({ ok: false, retryAfterMs: Number.POSITIVE_INFINITY })
  })

  it('keyed buckets evict idle keys and refuse new keys when all are busy', () => {
    const k = new KeyedTokenBuckets({ ratePerSecond: 1, burst: 1 }, 2)
    expect(k.take('a', 0).ok).toBe(true)
    expect(k.take('b', 0).ok).toBe(true)
    expect(k.take('c', 0).ok).toBe(false)
    expect(k.refusedNewKeys).toBe(1)
    expect(k.take('c', 5000).ok).toBe(true)
    expect(k.size).toBeLessThanOrEqual(2)
  })
})
