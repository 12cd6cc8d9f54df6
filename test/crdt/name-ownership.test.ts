/**
 * Who owns an agent id (FEATURES O7). Reported break: a rogue host whose id sorts below the victim's
 * wrote the victim's agent id into its own signed document, and every replica, the victim included,
 * resolved the agent to the rogue (the index picked the smallest host id). The rule now: the first claim
 * wins, by the claim time its host signed (`claimedAt`, kept by updates); a later claimant loses
 * whatever its id, and every contest is reported.
 */
import { describe, expect, it } from 'vitest'
import { createRand } from '../../src/base/prng.js'
import { seedMessage, testSeed } from '../helpers/seed.js'
import { TestKeys, antiEntropyAll, gossipAll, makeNode, pull } from './helpers.js'
import type { TestNode } from './helpers.js'
import type { StoredAgent } from '../../crdt/descriptor.js'

/** A shared hand-driven clock for a set of nodes. */
function clock (start = 1_700_000_000_000): { now: () => number, advance: (ms: number) => void } {
  let t = start
  return { now: () => t, advance: (ms) => { t += ms } }
}

/** What a rogue host does: writes `id` into its own document, bypassing `register`'s check, and publishes it. */
function claimInOwnDoc (rogue: TestNode, id: string, stored: StoredAgent): void {
  const blob = rogue.replica.transact('reg', (doc) => { doc.getMap('agents').set(id, stored) })
  rogue.outbox.push(blob!)
}

function hosts (nodes: TestNode[], id: string): Array<string | undefined> {
  return nodes.map(n => n.registry.lookup(id)?.host)
}

describe('agent-id ownership: the first claim wins', () => {
  it('the reported break: a later claimant whose host id sorts first does not take the name on any replica', async () => {
    const c = clock()
    const keys = new TestKeys()
    // 'A' < 'H' < 'V': the rogue's id sorts before the victim's.
    const [rogue, honest, victim] = ['A', 'H', 'V'].map(id => makeNode(keys, id, { now: c.now })) as [TestNode, TestNode, TestNode]
    const nodes = [rogue, honest, victim]
    antiEntropyAll(nodes)
    await victim.registry.register({ id: 'gpu-1', capabilities: ['gpu'], metadata: { owner: 'victim' } })
    gossipAll(nodes)
    expect(hosts(nodes, 'gpu-1')).toEqual(['V', 'V', 'V'])
    const contested: Array<{ node: string, id: string, winner: string, claims: string[], displaced: string | undefined }> = []
    for (const n of nodes) {
      n.registry.on('agent:contested', (e) => contested.push({ node: n.id, id: e.id, winner: e.winner.host, claims: e.claims.map(x => x.host), displaced: e.displaced }))
    }
    // Later, the rogue copies the descriptor under its own signature, with its own (honest, later) time.
    c.advance(5_000)
    const copy = victim.registry.lookup('gpu-1')!
    claimInOwnDoc(rogue, 'gpu-1', { capabilities: [...copy.capabilities], resources: {}, health: 'healthy', metadata: { owner: 'rogue' }, updatedAt: c.now(), claimedAt: c.now() })
    gossipAll(nodes)
    expect(hosts(nodes, 'gpu-1')).toEqual(['V', 'V', 'V'])
    for (const n of nodes) {
      expect(n.registry.lookup('gpu-1')?.metadata).toEqual({ owner: 'victim' })
      expect(n.registry.lookupWith('gpu', 'least-loaded')?.host).toBe('V')
    }
    // Every replica reports the contest once, with both claims, and counts it.
    expect(contested.sort((x, y) => x.node < y.node ? -1 : 1)).toEqual(['A', 'H', 'V'].map(node => ({ node, id: 'gpu-1', winner: 'V', claims: ['V', 'A'], displaced: undefined })))
    for (const n of nodes) {
      expect(n.registry.stats.contested).toBe(1)
      expect(n.registry.lookup('gpu-1')?.contested).toBe(true)
      expect(n.registry.query({ capability: 'gpu' }).agents.map(a => [a.host, a.contested])).toEqual([['V', true]])
    }
    // The victim still owns it: its updates show everywhere; the rogue's claim stays a shadow.
    await victim.registry.update('gpu-1', { health: 'degraded' })
    gossipAll(nodes)
    for (const n of nodes) expect(n.registry.lookup('gpu-1')).toMatchObject({ host: 'V', health: 'degraded' })
    // When the owner lets the name go, the next claim takes over (and the contest is over).
    await victim.registry.unregister('gpu-1')
    gossipAll(nodes)
    expect(hosts(nodes, 'gpu-1')).toEqual(['A', 'A', 'A'])
    for (const n of nodes) expect(n.registry.lookup('gpu-1')?.contested).toBe(false)
  })

  it('concurrent claims converge to the earliest claim in every delivery order, late joiners included', async () => {
    const seed = testSeed(4242)
    const rand = createRand(seed)
    for (let round = 0; round < 20; round++) {
      const c = clock()
      const keys = new TestKeys()
      const names = ['n1', 'n2', 'n3', 'n4']
      const nodes = names.map(id => makeNode(keys, id, { now: c.now }))
      antiEntropyAll(nodes)
      // Partitioned claims of one id, at distinct times, by hosts in a random order.
      const order = [...nodes]
      for (let i = order.length - 1; i > 0; i--) { const j = rand.int(i + 1); [order[i], order[j]] = [order[j]!, order[i]!] }
      const claimants = order.slice(0, 3)
      for (const n of claimants) {
        c.advance(1 + rand.int(1000))
        await n.registry.register({ id: 'x', capabilities: [n.id] })
      }
      const first = claimants[0]!.id
      const blobs = nodes.flatMap(n => n.outbox.splice(0))
      for (const to of nodes) {
        const mine = blobs.filter(b => b.host !== to.id)
        for (let i = mine.length - 1; i > 0; i--) { const j = rand.int(i + 1); [mine[i], mine[j]] = [mine[j]!, mine[i]!] }
        for (const b of mine) to.replica.apply(b.bytes)
      }
      expect(hosts(nodes, 'x'), seedMessage(seed)).toEqual(names.map(() => first))
      const late = makeNode(keys, 'n0', { now: c.now })
      pull(late, nodes[3]!)
      expect(late.registry.lookup('x')?.host, seedMessage(seed)).toBe(first)
      expect(late.registry.lookup('x')?.contested).toBe(true)
    }
  })

  it('a claim keeps its time through updates and compaction; a name given up and taken again is a new claim', async () => {
    const c = clock()
    const keys = new TestKeys()
    const a = makeNode(keys, 'A', { now: c.now })
    const b = makeNode(keys, 'B', { now: c.now })
    antiEntropyAll([a, b])
    await b.registry.register({ id: 'svc' })
    const claimedAt = b.registry.lookup('svc')!.claimedAt
    expect(claimedAt).toBe(c.now())
    c.advance(1000)
    await b.registry.update('svc', { health: 'degraded' })
    expect(b.registry.lookup('svc')).toMatchObject({ claimedAt, updatedAt: c.now() })
    b.replica.compact('reg')
    expect(b.registry.lookup('svc')?.claimedAt).toBe(claimedAt)
    gossipAll([a, b])
    pull(a, b)
    expect(a.registry.lookup('svc')).toMatchObject({ host: 'B', claimedAt, health: 'degraded' })
    // B lets the name go; A takes it; B's new claim is later and loses.
    await b.registry.unregister('svc')
    gossipAll([a, b])
    c.advance(1000)
    await a.registry.register({ id: 'svc' })
    c.advance(1000)
    claimInOwnDoc(b, 'svc', { capabilities: [], resources: {}, health: 'healthy', metadata: {}, updatedAt: c.now(), claimedAt: c.now() })
    gossipAll([a, b])
    expect(hosts([a, b], 'svc')).toEqual(['A', 'A'])
  })

  it('a remote claim time that is not a safe integer >= 0 makes the descriptor invalid (counted, not indexed)', async () => {
    const keys = new TestKeys()
    const a = makeNode(keys, 'A')
    const b = makeNode(keys, 'B')
    antiEntropyAll([a, b])
    for (const [i, bad] of [-1, 1.5, '0', Number.MAX_SAFE_INTEGER + 2].entries()) {
      claimInOwnDoc(a, `bad-${i}`, { capabilities: [], resources: {}, health: 'healthy', metadata: {}, updatedAt: 1, claimedAt: bad as number })
    }
    gossipAll([a, b])
    expect(b.registry.size).toBe(0)
    expect(b.registry.stats.invalidDescriptors).toBe(4)
  })

  it('limit of an eventual rule: a claim backdated before the owner\'s takes the name, and the owner is told (displaced)', async () => {
    const c = clock()
    const keys = new TestKeys()
    const [rogue, victim] = ['A', 'V'].map(id => makeNode(keys, id, { now: c.now })) as [TestNode, TestNode]
    antiEntropyAll([rogue, victim])
    await victim.registry.register({ id: 'gpu-1' })
    gossipAll([rogue, victim])
    const events: Array<{ winner: string, displaced: string | undefined }> = []
    victim.registry.on('agent:contested', (e) => events.push({ winner: e.winner.host, displaced: e.displaced }))
    c.advance(60_000)
    claimInOwnDoc(rogue, 'gpu-1', { capabilities: [], resources: {}, health: 'healthy', metadata: {}, updatedAt: c.now(), claimedAt: 0 })
    gossipAll([rogue, victim])
    // Convergent (both replicas agree), not hijack-proof: see crdt/README.md, "Who owns an agent id".
    expect(hosts([rogue, victim], 'gpu-1')).toEqual(['A', 'A'])
    expect(events).toEqual([{ winner: 'A', displaced: 'V' }])
    expect(victim.registry.stats.contested).toBe(1)
  })
})
