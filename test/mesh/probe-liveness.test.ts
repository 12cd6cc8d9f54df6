/**
 * The probe failure detector (`liveness: 'probe'`, peers/sync/liveness/probe.ts, PROTOCOL.md 1e) over real
 * TCP: the semantics users rely on from heartbeats hold while each peer probes one neighbour per period
 * and heartbeats go every few periods. A killed host's agents turn unreachable everywhere (through a
 * gossiped suspicion, not the slow evidence bound); a leaving host is noticed at once; a lag a probe or
 * heartbeat shows still starts an exchange; a partition is seen on both sides and heals; a forged
 * suspicion is refuted by its target, so no peer drops a live host, and a flood of them is cut by quota.
 */
import { describe, expect, it } from 'vitest'
import { createLiveMesh } from '../../sim/live.js'
import type { LiveMesh } from '../../sim/live.js'
import { PROBE, detector, probeFixture } from '../helpers/probe-mesh.js'
import { waitUntil } from '../helpers/wait.js'
import { createPeer } from '../../peers/peer.js'
import type { Peer } from '../../peers/peer.js'
import { decodeProbeFrame, encodeNotice, encodeProbeFrame, PROBE_FRAME_BYTES_MAX } from '../../peers/sync/liveness/probe-codec.js'
import { framedStream } from '../../peers/framing.js'
import { NOTICE_QUOTA_BURST, probeProtocol, swimTopic } from '../../peers/sync/liveness/probe.js'
import { resolvePeerOptions } from '../../peers/options.js'
import { validateConfig } from '../../src/daemon/config.js'

const fixture = probeFixture()
const extra = fixture.extra

/** Every other peer holds `host` alive (the detector and the lease table). */
const heldAlive = (m: LiveMesh, host: Peer): boolean =>
  m.peers.every(p => p === host || (detector(p).state(host.id)?.state === 'alive' && p.registry.leases.get(host.id)?.status === 'alive'))

describe('the liveness option', () => {
  it('defaults to heartbeat, takes probe, refuses anything else naming the key (peer option and daemon config)', () => {
    expect(resolvePeerOptions({}).liveness).toBe('heartbeat')
    expect(resolvePeerOptions({ liveness: 'probe' }).liveness).toBe('probe')
    expect(() => resolvePeerOptions({ liveness: 'gossip' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION', message: expect.stringContaining('liveness') as string }) as Error)
    expect(validateConfig({ liveness: 'probe' }).liveness).toBe('probe')
    expect(() => validateConfig({ liveness: 'gossip' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION', message: expect.stringContaining('liveness') as string }) as Error)
  })
})

describe('probe liveness', () => {
  it('a killed peer\'s agents expire on every other peer, through a gossiped suspicion', { timeout: 180_000 }, async () => {
    const mesh = fixture.set(await createLiveMesh({ peers: 6, ...PROBE }))
    const m = mesh
    const victim = m.peers[5]!
    await victim.registry.register({ id: 'victim-agent', capabilities: ['x'] })
    await m.waitFor(p => p.registry.lookup('victim-agent')?.status === 'reachable' && heldAlive(m, victim), { timeoutMs: 60_000, what: 'the victim\'s agent reachable everywhere' })
    await m.crash(5)
    const others = m.peers.slice(0, 5)
    await m.waitFor((p, i) => i === 5 || p.registry.lookup('victim-agent')?.status === 'unreachable', { timeoutMs: 60_000, what: 'the victim\'s agent unreachable on every other peer' })
    // The lease lapsed because the detector stopped renewing it on a suspicion (the evidence bound is
    // several heartbeat periods longer), and some peer raised that suspicion.
    for (const p of others) expect(detector(p).state(victim.id)?.state).toBe('suspect')
    expect(others.reduce((n, p) => n + p.stats().sync.suspicionsRaised, 0)).toBeGreaterThan(0)
    // Heartbeats were sparse: every peer sent fewer heartbeats than probe ticks.
    for (const p of others) expect(p.stats().sync.heartbeatsSent).toBeLessThan(p.stats().sync.probesSent + 2)
  })

  it('a leaving peer is noticed at once, long before any lease', { timeout: 180_000 }, async () => {
    const mesh = fixture.set(await createLiveMesh({ peers: 4, ...PROBE, leaseMs: 120_000 }))
    const m = mesh
    const leaver = m.peers[3]!
    await leaver.registry.register({ id: 'leaver-agent', capabilities: ['x'] })
    await m.waitFor(p => p.registry.lookup('leaver-agent')?.status === 'reachable' && heldAlive(m, leaver), { timeoutMs: 60_000, what: 'the leaver\'s agent everywhere' })
    await leaver.stop()
    await m.waitFor((p, i) => i === 3 || p.registry.lookup('leaver-agent')?.status === 'unreachable', { timeoutMs: 30_000, what: 'the leaver\'s agent unreachable' })
    for (const p of m.peers.slice(0, 3)) {
      expect(p.registry.leases.get(leaver.id)?.left).toBe(true)
      expect(detector(p).state(leaver.id)?.state).toBe('left')
    }
  })

  it('a peer that announced its leave stays left while it stops: it refutes no suspicion, and its older ALIVE does not bring it back', { timeout: 180_000 }, async () => {
    // The stop after the leave takes a while (services, Raft, storage); meanwhile the leaver still runs. A
    // suspicion it refuted then, or an ALIVE of its sent before the leave and delivered after, revived it on
    // every peer, and its agents stayed reachable until the lease ran out.
    const mesh = fixture.set(await createLiveMesh({ peers: 4, ...PROBE, leaseMs: 120_000 }))
    const m = mesh
    const leaver = m.peers[3]!
    const others = m.peers.slice(0, 3)
    await leaver.registry.register({ id: 'leaver-agent', capabilities: ['x'] })
    await m.waitFor(p => p.registry.lookup('leaver-agent')?.status === 'reachable' && heldAlive(m, leaver), { timeoutMs: 60_000, what: 'the leaver\'s agent everywhere' })
    const before = detector(leaver).incarnation
    await leaver.sync.announceLeaving()
    const leftAt = detector(leaver).incarnation
    expect(leftAt).toBeGreaterThan(before)
    await m.waitFor((p, i) => i === 3 || (p.registry.lookup('leaver-agent')?.status === 'unreachable' && detector(p).state(leaver.id)?.state === 'left'), { timeoutMs: 30_000, what: 'the leaver held left everywhere' })
    // Every peer holds the incarnation the leave named, whatever it had heard before.
    for (const p of others) expect(detector(p).state(leaver.id)?.incarnation).toBe(leftAt)
    const received = leaver.stats().sync.suspicionsReceived
    const refuted = leaver.stats().sync.refutations
    // A suspicion of the leaver at its incarnation, as a peer whose probe it did not answer raises.
    await others[0]!.sealed.publish(swimTopic('agora'), encodeNotice({ t: 'suspect', target: leaver.id, incarnation: leftAt }))
    await waitUntil(() => leaver.stats().sync.suspicionsReceived > received, { timeoutMs: 30_000, what: 'the suspicion at the leaver' })
    // An ALIVE not newer than the leave (sent before it, delivered after).
    await leaver.sealed.publish(swimTopic('agora'), encodeNotice({ t: 'alive', incarnation: leftAt }))
    const ticks = others.map(p => p.stats().sync.probesSent)
    await m.waitFor((p, i) => i === 3 || p.stats().sync.probesSent >= ticks[i]! + 4, { timeoutMs: 60_000, what: 'four more probe periods' })
    expect(leaver.stats().sync.refutations).toBe(refuted)
    for (const p of others) {
      expect(detector(p).state(leaver.id)?.state).toBe('left')
      expect(p.registry.lookup('leaver-agent')?.status).toBe('unreachable')
    }
  })

  it('a peer stopped gracefully and started again is alive everywhere again', { timeout: 180_000 }, async () => {
    const mesh = fixture.set(await createLiveMesh({ peers: 3, ...PROBE, leaseMs: 120_000 }))
    const m = mesh
    const host = m.peers[2]!
    await host.registry.register({ id: 'host-agent', capabilities: ['x'] })
    await m.waitFor(p => p.registry.lookup('host-agent')?.status === 'reachable' && heldAlive(m, host), { timeoutMs: 60_000, what: 'the host\'s agent everywhere' })
    await host.stop()
    await m.waitFor((p, i) => i === 2 || detector(p).state(host.id)?.state === 'left', { timeoutMs: 30_000, what: 'the host held left' })
    const leftAt = detector(m.peers[0]!).state(host.id)!.incarnation
    await host.start()
    await host.dial(m.peers[0]!.addresses()[0]!)
    await m.waitFor(p => p.registry.lookup('host-agent')?.status === 'reachable' && heldAlive(m, host), { timeoutMs: 60_000, what: 'the host alive again everywhere' })
    for (const p of m.peers.slice(0, 2)) expect(detector(p).state(host.id)!.incarnation).toBeGreaterThan(leftAt)
  })

  it('a lag the probes or heartbeats show starts an exchange', { timeout: 180_000 }, async () => {
    // Anti-entropy rounds far apart: only the lag can start an exchange within the test.
    const mesh = fixture.set(await createLiveMesh({ peers: 3, ...PROBE, antiEntropyIntervalMs: 600_000 }))
    const m = mesh
    await m.whenSynced({ timeoutMs: 60_000 })
    const a = m.peers[0]!
    // A write that is never published: nobody hears of it but through a's positions.
    a.replica.transact('var', doc => { doc.getMap('lagged').set('k', 1) })
    const seq = a.replica.entry('var', a.id)!.seq
    const before = m.peers.map(p => p.stats().sync.syncCompleted)
    await m.waitFor(p => (p.replica.entry('var', a.id)?.seq ?? -1) >= seq, { timeoutMs: 60_000, what: 'a\'s unpublished write on every peer' })
    expect(m.peers[1]!.stats().sync.syncCompleted + m.peers[2]!.stats().sync.syncCompleted).toBeGreaterThan(before[1]! + before[2]!)
  })

  it('a partition is seen on both sides and heals', { timeout: 240_000 }, async () => {
    const mesh = fixture.set(await createLiveMesh({ peers: 5, ...PROBE }))
    const m = mesh
    for (const [i, p] of m.peers.entries()) await p.registry.register({ id: `agent-${i}`, capabilities: ['x'] })
    await m.waitFor(p => m.peers.every((_, i) => p.registry.lookup(`agent-${i}`)?.status === 'reachable'), { timeoutMs: 60_000, what: 'every agent everywhere' })
    await m.partition([[0, 1, 2], [3, 4]])
    const side = (i: number): number => (i <= 2 ? 0 : 1)
    await m.waitFor((p, i) => m.peers.every((_, j) => p.registry.lookup(`agent-${j}`)?.status === (side(i) === side(j) ? 'reachable' : 'unreachable')), { timeoutMs: 60_000, what: 'each side finds the other unreachable, itself reachable' })
    await m.heal()
    await m.waitFor(p => m.peers.every((_, i) => p.registry.lookup(`agent-${i}`)?.status === 'reachable'), { timeoutMs: 60_000, what: 'every agent reachable after the heal' })
  })

  it('a forged suspicion does not make anyone drop a live host; a flood of them is cut by quota', { timeout: 180_000 }, async () => {
    const mesh = fixture.set(await createLiveMesh({ peers: 5, ...PROBE }))
    const m = mesh
    const hostile = m.peers[0]!
    const target = m.peers[4]!
    await target.registry.register({ id: 'target-agent', capabilities: ['x'] })
    await m.waitFor(p => p.registry.lookup('target-agent')?.status === 'reachable' && heldAlive(m, target), { timeoutMs: 60_000, what: 'the target held alive everywhere' })
    // Every peer knows the target's current incarnation (it rose with each of its new connections).
    await m.waitFor(p => p === target || detector(p).state(target.id)?.incarnation === detector(target).incarnation, { timeoutMs: 30_000, what: 'the target\'s incarnation known everywhere' })
    const lost: string[] = []
    for (const p of m.peers) p.registry.on('agent:unreachable', e => { if (e.agent.id === 'target-agent') lost.push(p.id) })
    // The hostile peer's own seal: its notices are authentic, their claims are not.
    const pubsub = hostile.sealed
    const forged = detector(hostile).state(target.id)!.incarnation
    expect(forged).toBe(detector(target).incarnation)
    // One forged suspicion of the target's current incarnation, then a flood naming later ones.
    await pubsub.publish(swimTopic('agora'), encodeNotice({ t: 'suspect', target: target.id, incarnation: forged }))
    for (let k = 1; k <= 40; k++) await pubsub.publish(swimTopic('agora'), encodeNotice({ t: 'suspect', target: target.id, incarnation: forged + k })).catch(() => {})
    const ticks = m.peers.map(p => p.stats().sync.probesSent)
    // Refuted: every peer holds the target alive at an incarnation above the forged one.
    await m.waitFor(p => p === target || (detector(p).state(target.id)?.state === 'alive' && detector(p).state(target.id)!.incarnation > forged), { timeoutMs: 30_000, what: 'the suspicion refuted everywhere' })
    // Then three leases' worth of periods pass (counted in probe ticks, not slept): still nobody dropped it.
    await m.waitFor((p, i) => p.stats().sync.probesSent >= ticks[i]! + 9, { timeoutMs: 90_000, what: 'nine more probe periods' })
    expect(lost).toEqual([])
    for (const p of m.peers) if (p !== target) expect(p.registry.lookup('target-agent')?.status).toBe('reachable')
    const s = target.stats().sync
    expect(s.refutations).toBeGreaterThanOrEqual(1)
    expect(s.suspicionsReceived).toBeGreaterThanOrEqual(1)
    // Bounded: the target folded the flood into a few refutations (at most one per quarter period), and the
    // other peers took at most the hostile author's quota of suspicions, refusing the rest.
    expect(s.refutations).toBeLessThan(NOTICE_QUOTA_BURST)
    for (const p of m.peers.slice(1, 4)) expect(p.stats().sync.noticesOverQuota).toBeGreaterThan(0)
  })

  it('an ACK relayed by a hostile helper cannot set the target\'s incarnation (which would make its own ALIVE stale for good)', { timeout: 180_000 }, async () => {
    const mesh = fixture.set(await createLiveMesh({ peers: 3, ...PROBE }))
    const m = mesh
    const [prober, hostile, target] = m.peers as [Peer, Peer, Peer]
    await m.waitFor(p => p === target || detector(p).state(target.id)?.incarnation === detector(target).incarnation, { timeoutMs: 60_000, what: 'the target\'s incarnation known everywhere' })
    const protocol = probeProtocol('agora')
    // The hostile helper answers every PING_REQ for the target with a made-up ACK: the highest incarnation.
    const forged = Number.MAX_SAFE_INTEGER - 1
    let relayed = 0
    await hostile.libp2p.unhandle(protocol)
    await hostile.libp2p.handle(protocol, async (stream) => {
      const lp = framedStream(stream, PROBE_FRAME_BYTES_MAX)
      const req = decodeProbeFrame((await lp.read()).subarray())
      const mine = req.t === 'ping-req' && req.target === target.id
      await lp.write(encodeProbeFrame({ t: 'ack', incarnation: mine ? forged : detector(hostile).incarnation, load: 0, docs: [] }))
      await stream.close().catch(() => {})
      if (mine) relayed++
    }, { runOnTransientConnection: false })
    // The target stops answering direct probes, so the prober asks the helper.
    await target.libp2p.unhandle(protocol)
    // Two relayed answers for the target: the prober handled the first before it probed the target again.
    await m.waitFor(() => relayed >= 2, { timeoutMs: 90_000, what: 'two PING_REQs of the target answered by the hostile helper' })
    const held = detector(prober).state(target.id)
    expect(held).toBeDefined()
    expect(held!.incarnation).toBeLessThanOrEqual(detector(target).incarnation)
    expect(held!.incarnation).not.toBe(forged)
  })

  it('a made-up incarnation in a hostile member\'s MEMBERS list gives way to the host\'s own word', { timeout: 180_000 }, async () => {
    const mesh = fixture.set(await createLiveMesh({ peers: 1, ...PROBE }))
    const hostile = mesh.peers[0]!
    const opts = { ...PROBE, transports: ['tcp' as const], inboundConnectionsPerSecondMax: 10_000 }
    // The host, not started yet: nobody but the hostile member's list can tell the joiner of it.
    const host = await createPeer({ ...opts, start: false })
    extra.push(host)
    const forged = Number.MAX_SAFE_INTEGER - 1
    const protocol = probeProtocol('agora')
    await hostile.libp2p.unhandle(protocol)
    await hostile.libp2p.handle(protocol, async (stream) => {
      const lp = framedStream(stream, PROBE_FRAME_BYTES_MAX)
      const req = decodeProbeFrame((await lp.read()).subarray())
      const mine = detector(hostile).incarnation
      await lp.write(encodeProbeFrame(req.t === 'members-req'
        ? { t: 'members', members: [{ host: hostile.id, incarnation: mine }, { host: host.id, incarnation: forged }] }
        : { t: 'ack', incarnation: mine, load: 0, docs: [] }))
      await stream.close().catch(() => {})
    }, { runOnTransientConnection: false })
    const joiner = await createPeer({ ...opts, start: true })
    extra.push(joiner)
    await joiner.dial(hostile.addresses()[0]!)
    await waitUntil(() => detector(joiner).state(host.id)?.incarnation === forged, { timeoutMs: 60_000, what: 'the joiner holding the host at the made-up incarnation' })
    // The host starts and links to the joiner: its ACKs and its ALIVE name its real incarnation.
    await host.start()
    await host.dial(joiner.addresses()[0]!)
    await waitUntil(() => detector(joiner).state(host.id)?.incarnation === detector(host).incarnation && detector(joiner).state(host.id)?.state === 'alive', { timeoutMs: 60_000, what: 'the joiner holding the host alive at its real incarnation' })
  })
})
