/**
 * Partitions in the probe liveness mode (`liveness: 'probe'`, PROTOCOL.md 1e) over real TCP, with a host
 * that has no link to the far side: nobody there is its neighbour. SWIM's round robin over the whole member
 * list (not only the connected neighbours) has some peer of the far side probe it, fail, and gossip a
 * suspicion, so the far side suspects it (rather than waiting out an evidence bound that grows with the
 * hosts held), and after the heal it is probed again, refutes, and is alive everywhere.
 */
import { describe, expect, it } from 'vitest'
import { createLiveMesh } from '../../sim/live.js'
import { PROBE, detector, probeFixture } from '../helpers/probe-mesh.js'
import { DIAL_EVERY_PERIODS } from '../../peers/sync/liveness/probe.js'
import type { Peer } from '../../peers/peer.js'

const fixture = probeFixture()

const N = 12

describe('probe liveness across a partition', () => {
  it('a host with no neighbour on the far side is suspected there through a probe, and alive again after the heal', { timeout: 300_000 }, async () => {
    // Sparse links: each new peer links to peer 0 and 2 earlier ones.
    const mesh = fixture.set(await createLiveMesh({ peers: N, degree: 3, ...PROBE }))
    const m = mesh
    for (const [i, p] of m.peers.entries()) await p.registry.register({ id: `agent-${i}`, capabilities: ['x'] })
    await m.waitFor(p => m.peers.every((_, i) => p.registry.lookup(`agent-${i}`)?.status === 'reachable'), { timeoutMs: 90_000, what: 'every agent everywhere' })
    // The far host: the peer with the fewest member links; its side holds it and all its neighbours.
    const neighbours = (i: number): number[] => m.peers.flatMap((q, j) => j !== i && m.peers[i]!.sync.membership.isMember(q.id) ? [j] : [])
    const far = m.peers.map((_, i) => i).filter(i => i > 0).sort((a, b) => neighbours(a).length - neighbours(b).length)[0]!
    const near = new Set([far, ...neighbours(far)])
    expect(near.size).toBeLessThanOrEqual(N / 2)
    for (let i = 0; near.size < N / 2; i++) near.add(i)
    const sideY = [...near]
    const sideX = m.peers.map((_, i) => i).filter(i => !near.has(i))
    await m.partition([sideX, sideY])
    const side = (i: number): number => (near.has(i) ? 1 : 0)
    await m.waitFor((p, i) => m.peers.every((_, j) => p.registry.lookup(`agent-${j}`)?.status === (side(i) === side(j) ? 'reachable' : 'unreachable')), { timeoutMs: 120_000, what: 'each side finds the other unreachable, itself reachable' })
    // Seen through a probe and its gossiped suspicion, not only through the lapse of the evidence bound.
    await m.waitFor((p, i) => side(i) === 1 || detector(p).state(m.peers[far]!.id)?.state === 'suspect', { timeoutMs: 60_000, what: 'the far host suspected on every peer of the other side' })
    for (const i of sideX) expect(neighbours(i).some(j => near.has(j))).toBe(false)
    await m.heal()
    await m.waitFor(p => m.peers.every((_, i) => p.registry.lookup(`agent-${i}`)?.status === 'reachable'), { timeoutMs: 120_000, what: 'every agent reachable after the heal' })
    await m.waitFor((p, i) => i === far || detector(p).state(m.peers[far]!.id)?.state === 'alive', { timeoutMs: 60_000, what: 'the far host alive everywhere after the heal' })
  })

  it('with few links, a peer dials for at most one probe every DIAL_EVERY_PERIODS periods, and still reaches the hosts it is not linked to', { timeout: 300_000 }, async () => {
    const m = fixture.set(await createLiveMesh({ peers: N, degree: 3, ...PROBE }))
    for (const [i, p] of m.peers.entries()) await p.registry.register({ id: `agent-${i}`, capabilities: ['x'] })
    await m.waitFor(p => m.peers.every((_, i) => p.registry.lookup(`agent-${i}`)?.status === 'reachable'), { timeoutMs: 90_000, what: 'every agent everywhere' })
    // Dials for another peer's PING_REQ or to repair links are outside the budget (probeDialsExempt).
    const probes = (p: Peer): { sent: number, dials: number, acks: number } => { const s = detector(p).stats; return { sent: s.probesSent, dials: s.probeDials - s.probeDialsExempt, acks: s.probeAcks } }
    const before = m.peers.map(probes)
    const rounds = 6 * DIAL_EVERY_PERIODS
    await m.waitFor((p, i) => probes(p).sent - before[i]!.sent >= rounds, { timeoutMs: 120_000, what: `${rounds} probes by every peer` })
    let dialled = 0
    for (const [i, p] of m.peers.entries()) {
      const d = probes(p)
      const sent = d.sent - before[i]!.sent
      const dials = d.dials - before[i]!.dials
      dialled += dials
      // A tick allowed to dial because links were short may dial once links are back (+1).
      expect(dials, `peer ${i}: ${dials} budgeted dials in ${sent} probes`).toBeLessThanOrEqual(Math.ceil(sent / DIAL_EVERY_PERIODS) + 2)
      expect(d.acks).toBeGreaterThan(before[i]!.acks)
    }
    // Hosts with no link to a peer are still probed (dialled) within the budget.
    expect(dialled).toBeGreaterThan(0)
  })
})
