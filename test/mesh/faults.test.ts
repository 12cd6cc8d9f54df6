/**
 * Faults and bad input on real peers over TCP: forged updates, malformed gossip and sync bytes, crashed
 * hosts (unreachable, then pruned, then back), restarts from the data dir, options and limits.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { lpStream } from '@libp2p/utils'
import { peerIdFromString } from '@libp2p/peer-id'
import { createLiveMesh } from '../../sim/live.js'
import type { LiveMesh } from '../../sim/live.js'
import { createPeer } from '../../peers/peer.js'
import type { Peer } from '../../peers/peer.js'
import { meshProtocols } from '../../peers/node.js'
import { FRAME_BYTES_MAX } from '../../peers/sync/anti-entropy/index.js'
import { FRAME_BLOB, FRAME_DIGEST, frame } from '../../peers/sync/anti-entropy/frames.js'
import { attachSignature, encodeSignedPart } from '../../crdt/codec.js'
import { createSigner } from '../../peers/keys.js'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { FAST, registryView, waitConverged } from './helpers.js'
import { waitUntil } from '../helpers/wait.js'

let mesh: LiveMesh | undefined
const extra: Peer[] = []
const dirs: string[] = []
afterEach(async () => {
  await Promise.allSettled(extra.splice(0).map(async p => await p.stop()))
  await mesh?.stop()
  mesh = undefined
  await Promise.all(dirs.splice(0).map(async d => await rm(d, { recursive: true, force: true })))
})

async function tempDir (): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'agora-test-'))
  dirs.push(d)
  return d
}

describe('bad input on the network path', () => {
  it('a heartbeat from far in the future is refused and counted; the sender\'s later heartbeats still prove it alive', async () => {
    mesh = await createLiveMesh({ peers: 2, ...FAST })
    await mesh.whenSynced()
    const [a, b] = mesh.peers as [Peer, Peer]
    const { encodeHeartbeat } = await import('../../peers/sync/liveness/heartbeat.js')
    await mesh.waitFor((p) => p !== a || p.stats().sync.heartbeatsReceived >= 2, { what: 'heartbeats from b' })
    // b's own signature, a stamp ~285,000 years ahead: it used to become b's latest stamp, so every honest
    // heartbeat after it was "stale" and b's lease ran out.
    const received = a.stats().sync.heartbeatsReceived
    await b.sealed.publish(meshProtocols('agora').heartbeatTopic, encodeHeartbeat({ sentAtMs: Number.MAX_SAFE_INTEGER, load: 0, docs: [] }))
    await mesh.waitFor((p) => p !== a || p.stats().sync.heartbeatsReceived >= received + 4, { what: 'later heartbeats from b to be accepted', timeoutMs: 10_000 })
    expect(a.stats().sync.heartbeatsFuture).toBe(1)
    expect(a.registry.leases.get(b.id)?.status).toBe('alive')
  })

  it('a forged update touching another host\'s agent is rejected whole, counted, and changes nothing', async () => {
    mesh = await createLiveMesh({ peers: 3, ...FAST })
    await mesh.whenSynced()
    const [victim, honest, evil] = mesh.peers as [Peer, Peer, Peer]
    await victim.registry.register({ id: 'victim', capabilities: ['gpu'], metadata: { owner: 'v' } })
    await waitConverged(mesh, { size: 1 })
    // The attacker edits its copy of the victim's document and signs the update with its own key.
    const doc = evil.replica.get('reg', victim.id)!
    let payload: Uint8Array | undefined
    doc.doc.once('update', (u: Uint8Array) => { payload = u })
    doc.doc.getMap('agents').delete('victim')
    const entry = honest.replica.entry('reg', victim.id)!
    const signed = encodeSignedPart(1, 'reg', victim.id, entry.incarnation, entry.seq + 1, payload!)
    const evilKey = await generateKeyPair('Ed25519')
    const forged = attachSignature(signed, createSigner(evil.id, evilKey).sign(signed))
    // Only the honest peer reports it (the victim ignores it and does not forward it), so the attacker must
    // know the honest peer subscribes to the topic: whenSynced says the documents are synced, not that every
    // pubsub subscription has reached every peer (under load it may not have yet; the publish then reached
    // the victim alone).
    const topic = meshProtocols('agora').crdtTopic
    await waitUntil(() => evil.libp2p.services.pubsub.getSubscribers(topic).some(p => p.toString() === honest.id), { timeoutMs: 30_000, what: 'the attacker to see the honest peer\'s subscription' })
    await evil.libp2p.services.pubsub.publish(topic, forged)
    // The honest peer rejects it (the victim ignores claims about its own document).
    await mesh.waitFor(() => honest.stats().sync.gossipRejected >= 1, { what: 'the forgery to be rejected' })
    expect(honest.registry.lookup('victim')?.metadata).toEqual({ owner: 'v' })
    expect(victim.registry.lookup('victim')).toBeDefined()
    expect(honest.stats().replica.rejected.signature).toBeGreaterThanOrEqual(1)
    // The mesh goes on working: a genuine update still reaches everyone.
    await victim.registry.update('victim', { health: 'degraded' })
    await mesh.waitFor((p) => p === evil || p.registry.lookup('victim')?.health === 'degraded', { what: 'the genuine update' })
  })

  it('malformed gossip, heartbeats and sync frames are rejected and counted; the peer keeps serving', async () => {
    mesh = await createLiveMesh({ peers: 2, ...FAST })
    await mesh.whenSynced()
    const [a, b] = mesh.peers as [Peer, Peer]
    await a.registry.register({ id: 'kept', capabilities: ['x'] })
    await waitConverged(mesh, { size: 1 })
    const topics = meshProtocols('agora')
    const garbage = [new Uint8Array([1, 2, 3]), new Uint8Array(0), new Uint8Array(2000).fill(0xff), new TextEncoder().encode('{"not":"yjs"}')]
    for (const g of garbage) await b.libp2p.services.pubsub.publish(topics.crdtTopic, g).catch(() => {})
    // On the heartbeat topic: garbage without a seal is refused before liveness sees it; garbage sealed by b
    // (b's signature, a payload that is no heartbeat) reaches liveness, which refuses it.
    for (const g of garbage) await b.libp2p.services.pubsub.publish(topics.heartbeatTopic, g).catch(() => {})
    for (const g of garbage) await b.sealed.publish(topics.heartbeatTopic, g).catch(() => {})
    await mesh.waitFor((p) => p !== a || (p.stats().sync.gossipRejected >= 3 && p.stats().sync.heartbeatsRejected >= 3 && p.sealed.seal.stats.sealRejectedDecode >= 3), { what: 'garbage to be counted' })
    // A replayed (old) heartbeat neither proves life nor counts as one.
    const { encodeHeartbeat } = await import('../../peers/sync/liveness/heartbeat.js')
    await b.sealed.publish(topics.heartbeatTopic, encodeHeartbeat({ sentAtMs: Date.now() - 3_600_000, load: 0, docs: [], leaving: true }))
    await mesh.waitFor((p) => p !== a || p.stats().sync.heartbeatsStale >= 1, { what: 'the replay to be ignored' })
    expect(a.registry.leases.get(b.id)?.status).toBe('alive')

    // A sync stream that opens with a BLOB instead of a DIGEST, one with a garbage digest, one with an
    // oversized frame, and one with a garbage blob after a valid digest.
    const attempts: Array<(lp: ReturnType<typeof lpStream>) => Promise<void>> = [
      async (lp) => { await lp.write(frame(FRAME_BLOB, new Uint8Array([9, 9, 9]))) },
      async (lp) => { await lp.write(frame(FRAME_DIGEST, new Uint8Array([3, 200, 200, 200, 200]))) },
      async (lp) => { await lp.write(new Uint8Array(FRAME_BYTES_MAX + 10)) },
      async (lp) => {
        await lp.write(frame(FRAME_DIGEST, b.replica.digest()))
        for (;;) { const f = (await lp.read()).subarray(); if (f[0] === FRAME_DIGEST) break }
        await lp.write(frame(FRAME_BLOB, new Uint8Array([1, 0, 0, 0, 0, 0, 0])))
      }
    ]
    const failedBefore = a.stats().sync.syncFailed
    const rejectedBefore = a.stats().sync.syncRejected
    for (const attempt of attempts) {
      const stream = await b.libp2p.dialProtocol(peerIdFromString(a.id), topics.sync)
      const lp = lpStream(stream, { maxDataLength: 2 * FRAME_BYTES_MAX })
      await attempt(lp).catch(() => {})
      await stream.close().catch(() => {})
    }
    await mesh.waitFor((p) => p !== a || (p.stats().sync.syncFailed >= failedBefore + 3 && p.stats().sync.syncRejected >= rejectedBefore + 1), { what: 'bad sync streams to be counted' })
    // Nothing stored was lost and the peers still sync.
    expect(a.registry.lookup('kept')).toBeDefined()
    await b.registry.register({ id: 'after', capabilities: ['x'] })
    await waitConverged(mesh, { size: 2 })
    await a.syncWith(b.id)
    expect(registryView(a)).toEqual(registryView(b))
  })
})

describe('liveness (R5) and persistence', () => {
  it('a crashed peer\'s agents become unreachable, then disappear; it re-announces when it comes back', async () => {
    mesh = await createLiveMesh({ peers: 3, ...FAST, leaseMs: 400, pruneAfterMs: 1200 })
    await mesh.whenSynced()
    const [a, , c] = mesh.peers as [Peer, Peer, Peer]
    await c.registry.register({ id: 'c-agent', capabilities: ['gpu'] })
    await waitConverged(mesh, { size: 1 })
    const unreachable: string[] = []
    const left: string[] = []
    a.registry.on('agent:unreachable', e => unreachable.push(e.agent.id))
    a.registry.on('agent:left', e => left.push(`${e.agent.id}:${e.reason}`))
    await c.stop({ leave: false })
    await mesh.waitFor((p) => p === c || p.registry.lookup('c-agent')?.status === 'unreachable', { what: 'c-agent to be unreachable' })
    expect(unreachable).toEqual(['c-agent'])
    // Results say how fresh they are.
    const q = a.registry.query({ capability: 'gpu' })
    expect(q.agents[0]?.status).toBe('unreachable')
    expect(a.registry.lookupWith('gpu', 'nearest-healthy')).toBeUndefined()
    await mesh.waitFor((p) => p === c || p.registry.lookup('c-agent') === undefined, { what: 'c-agent to be pruned' })
    expect(left).toEqual(['c-agent:pruned'])
    // The host comes back and re-announces: heartbeats make it accepted again, anti-entropy re-delivers.
    await c.start()
    await c.dial(a.addresses()[0]!)
    await mesh.waitFor((p) => p.registry.lookup('c-agent')?.status === 'reachable', { what: 'c-agent to be back' })
    expect(a.registry.lookupWith('gpu', 'nearest-healthy')?.id).toBe('c-agent')
  })

  it('a blocked event loop is not the hosts\' silence: a stall longer than lease and prune grace prunes no host', async () => {
    mesh = await createLiveMesh({ peers: 3, ...FAST, leaseMs: 400, pruneAfterMs: 1200 })
    await mesh.whenSynced()
    const [a, , c] = mesh.peers as [Peer, Peer, Peer]
    await c.registry.register({ id: 'c-agent', capabilities: ['gpu'] })
    await waitConverged(mesh, { size: 1 })
    const left: string[] = []
    for (const p of mesh.peers) p.registry.on('agent:left', e => left.push(`${e.agent.id}:${e.reason}`))
    // Every peer of this process stops listening for longer than leaseMs + pruneAfterMs (heartbeats wait in the sockets).
    const until = Date.now() + 2500
    while (Date.now() < until) { /* a blocked event loop */ }
    // Ticks after the stall, heartbeats read: the hosts are heard, none was pruned.
    await new Promise(resolve => setTimeout(resolve, 1000))
    expect(left).toEqual([])
    for (const p of mesh.peers) expect(p.registry.lookup('c-agent')?.host).toBe(c.id)
    expect(a.stats().sync.livenessStalledMs).toBeGreaterThanOrEqual(2000)
  })

  it('a peer that stops gracefully tells the mesh: its agents are unreachable at once, not after the lease', async () => {
    mesh = await createLiveMesh({ peers: 3, ...FAST, leaseMs: 60_000, pruneAfterMs: 600_000 })
    await mesh.whenSynced()
    const [a, , c] = mesh.peers as [Peer, Peer, Peer]
    await c.registry.register({ id: 'leaver', capabilities: ['x'] })
    await waitConverged(mesh, { size: 1 })
    const hostLeft = vi.spyOn(a.registry, 'hostLeft')
    const events: string[] = []
    for (const e of ['agent:unreachable', 'agent:left'] as const) a.registry.on(e, ev => events.push(`${e} ${ev.agent.id}`))
    await c.stop()
    await mesh.waitFor((p) => p === c || p.registry.lookup('leaver')?.status === 'unreachable', { what: 'leaver to be unreachable' })
    // Unreachable because c said it was leaving (the 60 s lease has not run out): the leave heartbeat
    // reached a, which marked c's agents unreachable; they are kept (not pruned, not left).
    expect(hostLeft.mock.calls).toEqual([[c.id]])
    expect(events).toEqual(['agent:unreachable leaver'])
    expect(a.registry.leases.get(c.id)?.status).toBe('unreachable')
    // Back again: heard, reachable.
    await c.start()
    await c.dial(a.addresses()[0]!)
    await mesh.waitFor((p) => p.registry.lookup('leaver')?.status === 'reachable', { what: 'leaver to be back' })
  })

  it('a peer restarted from its data dir keeps its id and its agents, and the mesh sees them', async () => {
    const dir = await tempDir()
    const first = await createPeer({ ...FAST, dataDir: dir })
    const id = first.id
    for (let k = 0; k < 30; k++) await first.registry.register({ id: `d${k}`, capabilities: ['persist'], metadata: { k } })
    await first.registry.unregister('d29')
    const counter = first.variables.eventual<number>('n', { initial: 0, merge: 'counter' })
    await counter.add(5)
    await first.stop()
    await first.stop() // idempotent

    const again = await createPeer({ ...FAST, dataDir: dir })
    extra.push(again)
    expect(again.id).toBe(id)
    expect(again.registry.size).toBe(29)
    expect(again.registry.lookup('d7')?.metadata).toEqual({ k: 7 })
    expect(again.variables.eventual<number>('n', { initial: 0, merge: 'counter' }).get()).toBe(5)
    // It goes on writing its own document (same incarnation, next seq), and another peer gets it all.
    await again.registry.register({ id: 'd-new', capabilities: ['persist'] })
    const other = await createPeer({ ...FAST, bootstrap: [again.addresses()[0]!] })
    extra.push(other)
    await other.whenSynced()
    expect(other.registry.size).toBe(30)
    expect(registryView(other)).toEqual(registryView(again))
    // A second peer on the same data dir is refused with a named error.
    await expect(createPeer({ ...FAST, dataDir: dir })).rejects.toMatchObject({ code: 'ERR_STORE_OPEN' })
  })
})

describe('options, limits and meshes', () => {
  it('invalid options fail with InvalidOptionError naming the option', async () => {
    await expect(createPeer({ mesh: 'bad name!' })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION', details: { path: 'mesh' } })
    await expect(createPeer({ transports: ['udp' as 'tcp'] })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION', details: { path: 'transports.0' } })
    await expect(createPeer({ heartbeatIntervalMs: -1 })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION', details: { path: 'heartbeatIntervalMs' } })
    await expect(createPeer({ heartbeatIntervalMs: 1000, leaseMs: 500 })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION', details: { path: 'leaseMs' } })
    await expect(createPeer({ nope: 1 } as never)).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION' })
    await expect(createPeer({ transports: ['memory'], listen: ['/ip4/127.0.0.1/tcp/0'] })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION', details: { path: 'listen' } })
  })

  it('oversized descriptors and too many agents are refused with named errors; stored agents stay', async () => {
    const p = await createPeer({ ...FAST, limits: { descriptorBytesMax: 512, agentsPerHostMax: 2 } })
    extra.push(p)
    await p.registry.register({ id: 'ok-1' })
    await expect(p.registry.register({ id: 'big', metadata: { blob: 'x'.repeat(1000) } })).rejects.toMatchObject({ code: 'ERR_INVALID_DESCRIPTOR' })
    await p.registry.register({ id: 'ok-2' })
    await expect(p.registry.register({ id: 'ok-3' })).rejects.toMatchObject({ code: 'ERR_LIMIT_EXCEEDED', details: { limit: 'agentsPerHostMax' } })
    expect(() => p.registry.query({ where: [['load', 'like' as 'eq', 1]] })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_QUERY' }))
    expect(p.registry.size).toBe(2)
  })

  it('peers of another mesh never become members nor exchange documents', async () => {
    const a = await createPeer({ ...FAST, mesh: 'alpha' })
    const b = await createPeer({ ...FAST, mesh: 'beta' })
    const a2 = await createPeer({ ...FAST, mesh: 'alpha' })
    extra.push(a, b, a2)
    await a.registry.register({ id: 'alpha-agent' })
    await b.dial(a.addresses()[0]!)
    await a2.dial(a.addresses()[0]!)
    await a2.whenSynced({ peers: 1 })
    expect(a2.registry.lookup('alpha-agent')).toBeDefined()
    expect(a.members()).toContain(a2.id)
    expect(a.members()).not.toContain(b.id)
    expect(b.members()).toEqual([])
    expect(b.registry.lookup('alpha-agent')).toBeUndefined()
  })

  it('peers that share a mesh find each other through the DHT from one bootstrap peer', async () => {
    const hub = await createPeer({ ...FAST })
    extra.push(hub)
    const x = await createPeer({ ...FAST, bootstrap: [hub.addresses()[0]!] })
    extra.push(x)
    await x.whenSynced()
    const y = await createPeer({ ...FAST, bootstrap: [hub.addresses()[0]!] })
    extra.push(y)
    await waitUntil(() => y.members().includes(x.id) || x.members().includes(y.id), { timeoutMs: 30_000, what: 'x and y to find each other through the DHT' })
    expect(y.members()).toContain(hub.id)
  })
})
