/**
 * The `fenceFloor` peer option (crdt/README.md, "Fenced writes"): the hook through which the peer's Raft
 * replica tells the eventual variables the newest token granted for a lock. Default: the peer's own Raft
 * replica (nothing known until the peer runs Raft).
 */
import { describe, expect, it } from 'vitest'
import { createPeer } from '../../peers/peer.js'
import { resolvePeerOptions } from '../../peers/options.js'
import type { FenceFloor } from '../../crdt/fences.js'

describe('peer option fenceFloor', () => {
  it('defaults to the peer\'s Raft replica; a function is handed to peer.variables, which refuses older fenced writes with ERR_FENCED; a non-function is an invalid option', async () => {
    expect(resolvePeerOptions({}).fenceFloor).toBeUndefined()
    expect(() => resolvePeerOptions({ fenceFloor: 3 })).toThrow(expect.objectContaining({ name: 'InvalidOptionError', code: 'ERR_INVALID_OPTION', details: { path: 'fenceFloor' } }))
    const plain = await createPeer({ transports: ['memory'], dht: false, start: false })
    try {
      // Without Raft the default hook knows no token.
      expect(plain.variables.fenceFloor?.('jobs/leader')).toBeUndefined()
    } finally {
      await plain.stop()
    }
    const floor: FenceFloor = (lock) => lock === 'jobs/leader' ? 10 : undefined
    const peer = await createPeer({ transports: ['memory'], dht: false, start: false, fenceFloor: floor })
    try {
      expect(peer.variables.fenceFloor).toBe(floor)
      const v = peer.variables.eventual<number>('x', { initial: 0, merge: 'max' })
      await expect(v.set(1, { fence: { lock: 'jobs/leader', token: 9 } })).rejects.toMatchObject({ name: 'FencedError', code: 'ERR_FENCED', details: { newest: 10, source: 'fence-floor' } })
      await v.set(2, { fence: { lock: 'jobs/leader', token: 10 } })
      expect(v.get()).toBe(2)
    } finally {
      await peer.stop()
    }
  })
})
