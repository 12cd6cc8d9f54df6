/**
 * The live harness's peer 0 past 14 peers: every later peer dials it over TCP loopback, so it holds a
 * connection from 127.0.0.1 to each. Gossipsub's IP colocation penalty (-5 x surplus² beyond 10 peers of
 * one IP) put every one of them below its graylist threshold there: peer 0 dropped their heartbeats and
 * stopped publishing its own, while staying connected. Loopback peers are now exempt (peers/node.ts), and
 * the threshold for other addresses is the `gossipPeersPerIpMax` option.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createLiveMesh } from '../../sim/live.js'
import type { LiveMesh } from '../../sim/live.js'
import { createPeer } from '../../peers/peer.js'
import { resolvePeerOptions } from '../../peers/options.js'

let mesh: LiveMesh | undefined
afterEach(async () => {
  await mesh?.stop()
  mesh = undefined
})

const N = 16
/** Gossipsub caches a peer's score for one heartbeat (1 s); a margin over it. */
const SCORE_CACHE_MS = 1500

describe('createLiveMesh over TCP: the peer everyone dials takes part in gossip', () => {
  it(`peer 0 of ${N} hears every peer's heartbeat and every peer hears peer 0's`, async () => {
    mesh = await createLiveMesh({ peers: N, liveness: 'heartbeat', heartbeatIntervalMs: 500, leaseMs: 10_000, dht: false, logLevel: 'silent' })
    const m = mesh
    const hub = m.peers[0]!
    const ids = m.peers.map(p => p.id)
    // Peer 0 is dialled by all the others (the star of the harness): 15 connections from 127.0.0.1.
    expect(hub.libp2p.getConnections().length).toBeGreaterThanOrEqual(N - 1)
    // Heard since every peer is connected to peer 0, and since gossipsub's scores (cached for one of its
    // 1 s heartbeats) count them all: heartbeats heard while the mesh was still forming prove nothing.
    const since = Date.now() + SCORE_CACHE_MS
    const heardSince = (p: typeof hub, host: string): boolean => {
      const s = p.hostStatus(host)
      return s.status === 'alive' && s.silentMs !== undefined && Date.now() - s.silentMs > since
    }
    await m.waitFor((p, i) => i === 0 ? ids.every((id, j) => j === 0 || heardSince(p, id)) : heardSince(p, ids[0]!),
      { timeoutMs: 60_000, what: `peer 0 and the ${N - 1} others hearing each other's heartbeats` })
  }, 120_000)

  it('gossipPeersPerIpMax sets gossipsub\'s IP colocation threshold (default 10); loopback stays exempt', async () => {
    expect(resolvePeerOptions({}).gossipPeersPerIpMax).toBe(10)
    expect(() => resolvePeerOptions({ gossipPeersPerIpMax: 0 })).toThrow(expect.objectContaining({ name: 'InvalidOptionError', code: 'ERR_INVALID_OPTION', details: { path: 'gossipPeersPerIpMax' } }))
    const peer = await createPeer({ transports: ['memory'], dht: false, start: false, logLevel: 'silent', gossipPeersPerIpMax: 40 })
    try {
      const params = peer.libp2p.services.pubsub.score.params
      expect(params.IPColocationFactorThreshold).toBe(40)
      expect(params.IPColocationFactorWeight).toBeLessThan(0)
      expect([...params.IPColocationFactorWhitelist].sort()).toEqual(['127.0.0.1', '::1'])
    } finally {
      await peer.stop()
    }
  })
})
