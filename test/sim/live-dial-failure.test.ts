/**
 * createLiveMesh's creation loop and a dial that fails: at 150 peers in one process a dial can exceed
 * libp2p's dial timeout on a starved event loop. One failed link must not abort the whole mesh (it used to
 * stop every peer and re-throw the TimeoutError): the harness retries, or links another earlier peer, and
 * reports what failed. A peer that links to nobody is a named error.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { createLiveMesh, LIVE_DIAL_ATTEMPTS_MAX } from '../../sim/live.js'
import type { LiveMesh } from '../../sim/live.js'
import { Peer } from '../../peers/peer.js'
import { AgoraError } from '../../src/base/errors.js'

let mesh: LiveMesh | undefined
afterEach(async () => {
  vi.restoreAllMocks()
  await mesh?.stop()
  mesh = undefined
})

const realDial = Peer.prototype.dial
const timeout = (): Error => new DOMException('The operation was aborted due to timeout', 'TimeoutError')

describe('createLiveMesh: failed dials while the mesh forms', () => {
  it('one dial timing out does not abort the mesh: the link is retried and the failure reported', async () => {
    let n = 0
    vi.spyOn(Peer.prototype, 'dial').mockImplementation(async function (this: Peer, addr, o) {
      if (++n === 5) throw timeout()
      return await realDial.call(this, addr, o)
    })
    mesh = await createLiveMesh({ peers: 6, transport: 'memory', dht: false, logLevel: 'silent' })
    expect(mesh.peers).toHaveLength(6)
    expect(mesh.dialFailures).toHaveLength(1)
    const f = mesh.dialFailures[0]!
    expect(f.error.name).toBe('TimeoutError')
    expect(f.attempt).toBe(1)
    // The same link was dialled again and holds: the mesh is full (6 peers, every pair linked).
    await mesh.whenSynced({ timeoutMs: 60_000 })
    await mesh.waitFor(p => p.members().length === 5, { timeoutMs: 60_000, what: 'a full mesh of 6' })
  })

  it('a target that never answers is replaced by another earlier peer', async () => {
    let deadAddr: string | undefined
    vi.spyOn(Peer.prototype, 'dial').mockImplementation(async function (this: Peer, addr, o) {
      if (addr === deadAddr) throw timeout()
      return await realDial.call(this, addr, o)
    })
    // 14 peers, degree 2: every peer after the first links to peer 0 and one other earlier peer.
    mesh = await createLiveMesh({
      peers: 14,
      degree: 2,
      transport: 'memory',
      dht: false,
      logLevel: 'silent',
      onPeer: (i, p) => { if (i === 3) deadAddr = p.addresses()[0] }
    })
    expect(mesh.peers).toHaveLength(14)
    const dead = mesh.peers[3]!.id
    const failed = mesh.dialFailures.filter(f => f.to === 3)
    // Every link to peer 3 that was picked failed LIVE_DIAL_ATTEMPTS_MAX times and was not kept.
    expect(failed.length % LIVE_DIAL_ATTEMPTS_MAX).toBe(0)
    expect(mesh.dialFailures.every(f => f.to === 3)).toBe(true)
    // Every peer after peer 0 (and not peer 3) still has its 2 links (peer 1: only peer 0 exists before it).
    await mesh.whenSynced({ timeoutMs: 60_000 })
    // whenSynced asks one synced member of each peer (it may return as soon as the first exchange ends):
    // a peer's second link shows as a member once that peer's heartbeats arrive over it.
    await mesh.waitFor((p, i) => i < 4 || p.members().filter(id => id !== dead).length >= 2, { timeoutMs: 60_000, what: 'every later peer to hold 2 linked members' })
    for (let i = 4; i < 14; i++) {
      const linked = mesh.peers[i]!.members().filter(id => id !== dead)
      expect(linked.length, `peer ${i}`).toBeGreaterThanOrEqual(2)
    }
  })

  it('a peer that can link to nobody is a named error, and every peer is stopped', async () => {
    const created: Peer[] = []
    vi.spyOn(Peer.prototype, 'dial').mockImplementation(async () => { throw timeout() })
    const err = await createLiveMesh({ peers: 3, transport: 'memory', dht: false, logLevel: 'silent', onPeer: (_i, p) => { created.push(p) } })
      .then(() => undefined, (e: unknown) => e)
    expect(err).toBeInstanceOf(AgoraError)
    expect((err as AgoraError).code).toBe('ERR_MESH_FORMATION')
    expect((err as AgoraError).details).toMatchObject({ peer: 1 })
    expect(((err as AgoraError).cause as Error).name).toBe('TimeoutError')
    expect(created.length).toBe(2)
    expect(created.every(p => !p.started)).toBe(true)
  })
})
