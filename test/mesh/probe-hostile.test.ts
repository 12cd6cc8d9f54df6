/**
 * Hostile peers against the probe liveness mode (`liveness: 'probe'`, PROTOCOL.md 1e) over real TCP:
 * - a PING_REQ helper that answers for a dead host cannot keep it alive: only an ACK the target signed
 *   over the requester's nonce counts;
 * - one relay bringing many new keys (each a host not held) cannot push real hosts out of a full table;
 * - one peer that keeps claiming (in PINGs) that this peer is suspected cannot hold its local health
 *   multiplier up: a remote peer raises it at most once per lease;
 * - the first member a peer joins through, answering its MEMBERS_REQ with a full table of made-up hosts,
 *   does not keep real hosts out: such a list fills at most half the table, and gives way to a host's own word.
 */
import { describe, expect, it } from 'vitest'
import { createLiveMesh } from '../../sim/live.js'
import { PROBE, detector, probeFixture } from '../helpers/probe-mesh.js'
import { waitUntil } from '../helpers/wait.js'
import { createPeer } from '../../peers/peer.js'
import type { Peer } from '../../peers/peer.js'
import { decodeProbeFrame, encodeProbeFrame, PROBE_FRAME_BYTES_MAX } from '../../peers/sync/liveness/probe-codec.js'
import { framedStream } from '../../peers/framing.js'
import { probeProtocol } from '../../peers/sync/liveness/probe.js'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'

const fixture = probeFixture()
const extra = fixture.extra

/** Dials `to` from `from`, up to 3 times (a handshake can time out on a loaded machine). */
async function link (from: Peer, to: Peer): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try { await from.dial(to.addresses()[0]!); return } catch (err) { if (attempt >= 3) throw err }
  }
}
const localHealth = (p: Peer): number => (detector(p) as unknown as { localHealth: number }).localHealth

describe('probe liveness against hostile peers', () => {
  it('a helper that answers every PING_REQ for a dead host does not keep it alive', { timeout: 180_000 }, async () => {
    const mesh = fixture.set(await createLiveMesh({ peers: 3, ...PROBE }))
    const m = mesh
    const [prober, hostile, target] = m.peers as [Peer, Peer, Peer]
    await m.waitFor(p => p === target || (detector(p).state(target.id)?.state === 'alive' && detector(p).state(target.id)?.incarnation === detector(target).incarnation), { timeoutMs: 60_000, what: 'the target held alive at its incarnation' })
    // The hostile helper stops its own detector (it raises and gossips no suspicion) and answers every
    // probe request with an ACK at the target's incarnation, as if it had reached it.
    const incarnation = detector(target).incarnation
    await detector(hostile).stop()
    const protocol = probeProtocol('agora')
    let answered = 0
    await hostile.libp2p.handle(protocol, async (stream) => {
      const lp = framedStream(stream, PROBE_FRAME_BYTES_MAX)
      const req = decodeProbeFrame((await lp.read()).subarray())
      if (req.t === 'ping-req' && req.target === target.id) answered++
      await lp.write(encodeProbeFrame({ t: 'ack', incarnation, load: 0, docs: [] }))
      await stream.close().catch(() => {})
    }, { runOnTransientConnection: false })
    await m.crash(2)
    await waitUntil(() => answered >= 1 && detector(prober).state(target.id)?.state === 'suspect', { timeoutMs: 60_000, what: 'the dead target suspected by the prober despite the helper' })
    await waitUntil(() => prober.registry.leases.get(target.id)?.status !== 'alive', { timeoutMs: 60_000, what: 'the dead target\'s lease lapsed on the prober' })
    expect(prober.stats().sync.relayedAcksRefused).toBeGreaterThan(0)
  })

  it('one relay bringing many new keys does not push real hosts out of a full table', { timeout: 240_000 }, async () => {
    // The victim holds at most 6 hosts; it links to two real hosts first, then to a relay behind which ten
    // fresh keys join (each a peer that publishes its ALIVE and heartbeats, reaching the victim only through the relay).
    const opts = { ...PROBE, transports: ['tcp' as const], inboundConnectionsPerSecondMax: 10_000 }
    const mesh = fixture.set(await createLiveMesh({ peers: 3, ...PROBE }))
    const m = mesh
    const [real1, real2, relay] = m.peers as [Peer, Peer, Peer]
    const victim = await createPeer({ ...opts, limits: { hostsMax: 6 }, start: true })
    extra.push(victim)
    await link(victim, real1)
    await link(victim, real2)
    await waitUntil(() => [real1, real2, relay].every(h => detector(victim).state(h.id)?.state === 'alive'), { timeoutMs: 60_000, what: 'the victim holding the real hosts' })
    await link(victim, relay)
    const before = victim.stats().sync
    const seen0 = before.noticesReceived + (before.hostsRefused ?? 0)
    const puppets: Peer[] = []
    for (let k = 0; k < 10; k++) {
      const p = await createPeer({ ...opts, start: true })
      extra.push(p)
      puppets.push(p)
      await link(p, relay)
    }
    // The puppets' joins reached the victim (taken or refused).
    await waitUntil(() => { const s = victim.stats().sync; return s.noticesReceived + (s.hostsRefused ?? 0) - seen0 >= puppets.length }, { timeoutMs: 90_000, what: 'the puppets\' ALIVEs at the victim' })
    for (const h of [real1, real2, relay]) expect(detector(victim).state(h.id)?.state).toBe('alive')
    expect(detector(victim).size).toBeLessThanOrEqual(6)
    expect(victim.stats().sync.hostsRefused).toBeGreaterThan(0)
  })

  it('a first member listing a full table of made-up hosts does not keep a real host out (found by review)', { timeout: 180_000 }, async () => {
    const hostsMax = 24
    const mesh = fixture.set(await createLiveMesh({ peers: 1, ...PROBE }))
    const real = mesh.peers[0]!
    // The hostile first member: its detector stopped, it answers MEMBERS_REQ with hostsMax made-up hosts.
    const hostile = await createPeer({ ...PROBE, transports: ['tcp' as const], start: true })
    extra.push(hostile)
    await detector(hostile).stop()
    const fakes = await Promise.all(Array.from({ length: hostsMax }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()))
    let listed = 0
    await hostile.libp2p.handle(probeProtocol('agora'), async (stream) => {
      const lp = framedStream(stream, PROBE_FRAME_BYTES_MAX)
      const req = decodeProbeFrame((await lp.read()).subarray())
      if (req.t === 'members-req') {
        listed++
        await lp.write(encodeProbeFrame({ t: 'members', members: fakes.map(host => ({ host, incarnation: 1 })) }))
      } else {
        await lp.write(encodeProbeFrame({ t: 'nack' }))
      }
      await stream.close().catch(() => {})
    }, { runOnTransientConnection: false })
    // The victim probes slowly (a 20 s period), so the made-up hosts stay unsuspected while the real one's
    // heartbeats (every second) arrive.
    const victim = await createPeer({ ...PROBE, heartbeatIntervalMs: 20_000, transports: ['tcp' as const], limits: { hostsMax }, start: true })
    extra.push(victim)
    await link(victim, hostile)
    await waitUntil(() => listed >= 1 && detector(victim).stats.membersFetched >= 1, { timeoutMs: 60_000, what: 'the victim taking in the list' })
    expect(detector(victim).size).toBeLessThan(hostsMax)
    await link(victim, real)
    await waitUntil(() => detector(victim).state(real.id) !== undefined || victim.stats().sync.hostsRefused > 0, { timeoutMs: 60_000, what: 'the real host\'s own word at the victim (taken or refused)' })
    expect(detector(victim).state(real.id)?.state).toBe('alive')
    expect(detector(victim).size).toBeLessThanOrEqual(hostsMax)
  })

  it('one peer claiming again and again that this peer is suspected does not hold its local health up', { timeout: 180_000 }, async () => {
    const mesh = fixture.set(await createLiveMesh({ peers: 2, ...PROBE }))
    const m = mesh
    const [victim, hostile] = m.peers as [Peer, Peer]
    await m.waitFor(p => p.sync.membership.connectedMembers().length === 1, { timeoutMs: 60_000, what: 'the two linked' })
    const protocol = probeProtocol('agora')
    const ping = async (suspected: number): Promise<number> => {
      const stream = await hostile.libp2p.dialProtocol(victim.libp2p.peerId, protocol)
      const lp = framedStream(stream, PROBE_FRAME_BYTES_MAX)
      await lp.write(encodeProbeFrame({ t: 'ping', suspected }))
      const ack = decodeProbeFrame((await lp.read()).subarray())
      await stream.close().catch(() => {})
      if (ack.t !== 'ack') throw new Error(`expected an ACK, got ${ack.t}`)
      return ack.incarnation
    }
    let highest = 0
    for (let k = 0; k < 16; k++) {
      // Each claim names the victim's current incarnation (credible): it refutes, and its incarnation rises.
      const inc = detector(victim).incarnation
      await ping(inc)
      await waitUntil(() => detector(victim).incarnation > inc, { timeoutMs: 30_000, what: `refutation ${k + 1}` })
      highest = Math.max(highest, localHealth(victim))
    }
    expect(detector(victim).stats.refutations).toBeGreaterThanOrEqual(12)
    expect(highest).toBeLessThanOrEqual(2)
  })
})
