/**
 * An identify that comes back after its connection closed (a probe's transient dial hung up first) makes
 * no member: a member without a connection made its first anti-entropy exchange dial the peer again, one
 * full exchange per probe dial at rest (peers/sync/membership/membership.ts).
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createPeer } from '../../peers/peer.js'
import type { Peer } from '../../peers/peer.js'
import { SyncHealthTable } from '../../peers/sync/health.js'
import { DEFAULT_MESH } from '../../peers/sync/constants.js'
import { createMembership, memberProtocol } from '../../peers/sync/membership/index.js'
import { createLogger } from '../../src/base/log.js'

const peers: Peer[] = []
afterEach(async () => { await Promise.allSettled(peers.splice(0).map(async p => await p.stop())) })

describe('membership from identify', () => {
  it('takes a peer identified over an open connection, not one whose connection closed before identify came back', async () => {
    const [a, b, c] = await Promise.all([0, 1, 2].map(async () => await createPeer({ transports: ['memory'], logLevel: 'silent' })))
    peers.push(a!, b!, c!)
    const members = createMembership({ node: a!.libp2p, health: new SyncHealthTable({ hostsMax: 16 }), gate: { denies: () => false }, logger: createLogger('silent') })
    await members.start()
    const joined: string[] = []
    members.on('member:joined', e => { joined.push(e.peerId) })
    const identify = (peer: Peer, status: string): void => {
      a!.libp2p.dispatchEvent(new CustomEvent('peer:identify', { detail: { peerId: peer.libp2p.peerId, protocols: [memberProtocol(DEFAULT_MESH)], connection: { status, direction: 'outbound' } } }))
    }
    identify(b!, 'closed')
    identify(b!, 'closing')
    expect(members.isMember(b!.id)).toBe(false)
    expect(members.stats.identifiedClosed).toBe(2)
    identify(c!, 'open')
    expect(members.isMember(c!.id)).toBe(true)
    expect(joined).toEqual([c!.id])
    await members.stop()
  })
})
