/**
 * The simulator runs the shipped session window (protocols/raft/sessions.ts), so breaking it must be
 * caught by `agora sim fuzz --economy`. The window is broken the way a bug would break it: every
 * retry of an applied (clientId, seq) is treated as new, so a duplicate in the log applies twice.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { econFuzzSeed } from '../../sim/econ-fuzz.js'
import { SessionTable } from '../../protocols/raft/sessions.js'

/** The fuzzer must catch the broken window within this many seeds (it took 1 when measured: see the note). */
export const SEEDS_TO_CATCH_MAX = 10

describe('a broken session window is caught by the economy fuzzer', () => {
  afterEach(() => { vi.restoreAllMocks() })

  it(`letting a duplicate sequence apply twice fails a seed within ${SEEDS_TO_CATCH_MAX} seeds`, () => {
    vi.spyOn(SessionTable.prototype, 'check').mockImplementation(() => ({ status: 'new' }))
    let caught: { seed: number, failure: string } | undefined
    for (let seed = 1; seed <= SEEDS_TO_CATCH_MAX && caught === undefined; seed++) {
      const r = econFuzzSeed(seed)
      const failure = r.failures.find(f => f.includes('twice'))
      if (failure !== undefined) caught = { seed, failure }
    }
    expect(caught, 'no seed caught the broken window').toBeDefined()
    expect(caught?.failure).toMatch(/^state-machine-safety .*applied command \S+ twice: at entries \d+ and \d+/)
  })

  it('the same seeds pass with the window intact', () => {
    for (let seed = 1; seed <= 3; seed++) {
      const r = econFuzzSeed(seed)
      expect(r.failures, `seed ${seed}; replay: npx agora sim fuzz --economy --nodes 5 --seeds 1 --seed-start ${seed}`).toEqual([])
    }
  })
})
