/**
 * The guard around yamux's unguarded first window update (peers/yamux-guard.ts): when the connection
 * under the muxer has closed, the write's StreamStateError is dropped and counted instead of escaping a
 * microtask as an uncaught exception (which ended a daemon); any other error still throws.
 */
import { describe, expect, it } from 'vitest'
import { YamuxStream } from '@chainsafe/libp2p-yamux/stream'
import { StreamStateError } from '@libp2p/interface'
import { guardYamuxWindowUpdates, yamuxGuardStats } from '../../peers/yamux-guard.js'

/** Just what sendWindowUpdate reads before it writes a frame (flags set: a SYN is due). */
const fakeStream = (sendFrame: () => void): object => ({
  state: 'init',
  getSendFlags: () => 1,
  getRTT: () => -1,
  epochStart: 0,
  recvWindow: 256 * 1024,
  recvWindowCapacity: 0,
  maxStreamWindowSize: 16 * 1024 * 1024,
  streamId: 1,
  sendFrame
})

describe('yamux window update guard', () => {
  it('drops and counts a window update whose connection is closed; other errors still throw', () => {
    const send = YamuxStream.prototype.sendWindowUpdate as unknown as (this: object) => void
    const closed = fakeStream(() => { throw new StreamStateError('Cannot write to a stream that is closed') })
    // Unguarded, the write throws (what escaped the microtask).
    expect(() => { send.call(closed) }).toThrow(StreamStateError)
    guardYamuxWindowUpdates()
    guardYamuxWindowUpdates()
    const guarded = YamuxStream.prototype.sendWindowUpdate as unknown as (this: object) => void
    const before = yamuxGuardStats.windowUpdatesDropped
    expect(() => { guarded.call(closed) }).not.toThrow()
    expect(yamuxGuardStats.windowUpdatesDropped).toBe(before + 1)
    const other = fakeStream(() => { throw new RangeError('something else') })
    expect(() => { guarded.call(other) }).toThrow(RangeError)
    let frames = 0
    guarded.call(fakeStream(() => { frames++ }))
    expect(frames).toBe(1)
  })
})
