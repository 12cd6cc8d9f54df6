/** The leader's coordination ticker (protocols/coordination/ticker.ts): what a peer proposes, and when. */
import { describe, expect, it } from 'vitest'
import { COORD_TICK_RETRY_MS, coordTick } from '../../protocols/coordination/ticker.js'
import type { CoordTickInput } from '../../protocols/coordination/ticker.js'

const base: CoordTickInput = { isLeader: true, term: 4, epochTerm: 4, now: 10_000, nextDeadline: undefined, lastTickAt: undefined }

describe('coordTick', () => {
  it('a follower proposes nothing, whatever is due', () => {
    expect(coordTick({ ...base, isLeader: false, epochTerm: 0, nextDeadline: 5 })).toBeUndefined()
  })

  it('a leader proposes an epoch first in each term it leads', () => {
    expect(coordTick({ ...base, epochTerm: 0 })).toEqual({ t: 'epoch' })
    expect(coordTick({ ...base, epochTerm: 3, nextDeadline: 1 })).toEqual({ t: 'epoch' })
    expect(coordTick(base)).toBeUndefined()
  })

  it('a tick once the clock reaches the next deadline, not before', () => {
    expect(coordTick({ ...base, nextDeadline: 10_001 })).toBeUndefined()
    expect(coordTick({ ...base, nextDeadline: 10_000 })).toEqual({ t: 'tick' })
    expect(coordTick({ ...base, nextDeadline: 2_000, lastTickAt: 1_500 })).toEqual({ t: 'tick' })
  })

  it('one tick per deadline while it is in flight; again after the retry delay if the deadline is still pending', () => {
    const due = { ...base, nextDeadline: 9_000, lastTickAt: 9_200 }
    expect(coordTick({ ...due, now: 9_200 + COORD_TICK_RETRY_MS - 1 })).toBeUndefined()
    expect(coordTick({ ...due, now: 9_200 + COORD_TICK_RETRY_MS })).toEqual({ t: 'tick' })
    // A later deadline falling due needs a tick stamped after it.
    expect(coordTick({ ...base, nextDeadline: 9_500, lastTickAt: 9_200, now: 9_600 })).toEqual({ t: 'tick' })
  })
})
