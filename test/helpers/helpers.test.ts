/** The shared test helpers: seeds and replay commands, and the one wait. */
import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import { DEFAULT_SEED, PATH_ENV, SEED_ENV, assertProperty, seedMessage, testSeed, testSeeds } from './seed.js'
import { WaitTimeoutError, waitUntil } from './wait.js'

const saved = { seed: process.env[SEED_ENV], path: process.env[PATH_ENV] }
afterEach(() => {
  for (const [k, v] of [[SEED_ENV, saved.seed], [PATH_ENV, saved.path]] as const) {
    if (v === undefined) delete process.env[k]
    else process.env[k] = v
  }
})

describe('seeds', () => {
  it('a fixed default, overridden by AGORA_TEST_SEED; a sweep shrinks to the overriding seed', () => {
    delete process.env[SEED_ENV]
    expect(testSeed()).toBe(DEFAULT_SEED)
    expect(testSeed(77)).toBe(77)
    expect(testSeeds(3, 5)).toEqual([5, 6, 7])
    process.env[SEED_ENV] = '123'
    expect(testSeed(77)).toBe(123)
    expect(testSeeds(3, 5)).toEqual([123])
    process.env[SEED_ENV] = 'soon'
    expect(() => testSeed()).toThrow(/AGORA_TEST_SEED must be an integer/)
  })

  it('a failing property names its seed and path and prints a replay command that replays it', () => {
    delete process.env[SEED_ENV]
    delete process.env[PATH_ENV]
    const prop = fc.property(fc.integer({ min: 0, max: 1000 }), n => { expect(n).toBeLessThan(500) })
    let message = ''
    try { assertProperty(prop, { seed: 9 }) } catch (err) { message = (err as Error).message }
    expect(message).toMatch(/^property failed with seed 9, path \S+\nreplay: AGORA_TEST_SEED=9 AGORA_TEST_PATH='\S+' npx vitest run test\/helpers\/helpers\.test\.ts -t '.*a failing property names its seed.*\$'\n/)
    expect(message).toContain('Counterexample: [500]')
    // The printed seed and path replay the counterexample directly (no search; fast-check then tries
    // to shrink it once more).
    const path = /AGORA_TEST_PATH='(\S+)'/.exec(message)![1]!
    process.env[SEED_ENV] = '9'
    process.env[PATH_ENV] = path
    let runs = 0
    expect(() => assertProperty(fc.property(fc.integer({ min: 0, max: 1000 }), n => { runs++; expect(n).toBeLessThan(500) }))).toThrow(/Counterexample: \[500\]/)
    expect(runs).toBeLessThanOrEqual(2)
    // A passing property passes.
    delete process.env[PATH_ENV]
    assertProperty(fc.property(fc.nat(), n => n >= 0))
  })

  it('seedMessage names the seed and the command', () => {
    expect(seedMessage(4)).toMatch(/^seed 4; replay: AGORA_TEST_SEED=4 npx vitest run test\/helpers\/helpers\.test\.ts -t /)
  })
})

describe('waitUntil', () => {
  it('returns the first truthy value of the condition, polling (sync or async); errors count as not yet', async () => {
    let n = 0
    expect(await waitUntil(() => ++n >= 3 ? n : undefined, { what: 'three polls', intervalMs: 1 })).toBe(3)
    let m = 0
    expect(await waitUntil(async () => { if (++m < 2) throw new Error('not ready'); return 'ok' }, 'an async value')).toBe('ok')
  })

  it('times out with an error naming what it waited for and the last error', async () => {
    const err = await waitUntil(() => { throw new Error('still down') }, { what: 'the moon', timeoutMs: 30, intervalMs: 5 }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(WaitTimeoutError)
    expect((err as Error).message).toBe('timed out after 30 ms waiting for the moon (last error: still down)')
    await expect(waitUntil(() => false, { what: 'never', timeoutMs: 10 })).rejects.toThrow('timed out after 10 ms waiting for never')
  })
})
