/**
 * A late joiner indexes a host document attached whole (a checkpoint) in one pass (issue 17: the bulk
 * path of ReplicatedRegistry.attach). It must end with exactly the registry a replica that applied every
 * update as it came holds, and count and report what the per-agent path would: compared over random
 * histories (seeded PRNG: registers, updates, removals, ids claimed by two hosts, invalid values written
 * straight into a document), by every agent's view and by random queries.
 */
import { describe, expect, it } from 'vitest'
import { createRand } from '../../src/base/prng.js'
import type { Rand } from '../../src/base/prng.js'
import { normaliseAgent } from '../../crdt/descriptor.js'
import { DEFAULT_LIMITS } from '../../crdt/limits.js'
import { SETTLE_SLICE_RECORDS } from '../../crdt/registry.js'
import type { QueryCriteria } from '../../crdt/types.js'
import { TestKeys, gossipAll, makeNode, pull } from './helpers.js'
import type { TestNode } from './helpers.js'
import type { SignedBlob } from '../../crdt/codec.js'
import { seedMessage, testSeeds } from '../helpers/seed.js'

const CAPS = ['chat', 'code', 'vision', 'plan', 'search', 'math']
const ZONES = ['eu', 'us', 'ap']
const HEALTH = ['healthy', 'degraded', 'unhealthy'] as const

function agentInput (rand: Rand): { capabilities: string[], zone: string, resources: Record<string, number>, health: typeof HEALTH[number], load: number, metadata: Record<string, unknown> } {
  const caps = new Set<string>()
  const n = 1 + rand.int(3)
  while (caps.size < n) caps.add(rand.pick(CAPS))
  return {
    capabilities: [...caps],
    zone: rand.pick(ZONES),
    resources: { cpu: 1 + rand.int(16), gpu: rand.int(3) },
    health: rand.pick(HEALTH),
    load: rand.int(100) / 100,
    metadata: { model: `m${rand.int(5)}` }
  }
}

/** Gossips an update written straight into the document (not through the registry, which publishes its own). */
function publish (node: TestNode, blob: SignedBlob | undefined): void {
  if (blob !== undefined) node.outbox.push(blob)
}

/** A random history on `host`: registers, updates and removals over ids `prefix0..`, some invalid values. */
async function history (rand: Rand, node: TestNode, ids: string[], steps: number, time: { now: number }): Promise<void> {
  for (let s = 0; s < steps; s++) {
    time.now += 1 + rand.int(5)
    const id = rand.pick(ids)
    const stored = node.replica.local('reg').doc.getMap('agents').get(id) as { capabilities?: unknown } | undefined
    const roll = rand.next()
    if (stored === undefined) {
      if (roll < 0.1) {
        // A value no writer's own API makes: written straight into the document, refused by every reader.
        publish(node, node.replica.transact('reg', (doc) => doc.getMap('agents').set(id, { capabilities: 'not a list', updatedAt: time.now })))
      } else if (node.registry.lookup(id) !== undefined) {
        // Another host's id (the API refuses it): a claim written as two hosts racing would, contested.
        publish(node, node.replica.transact('reg', (doc) => doc.getMap('agents').set(id, normaliseAgent(agentInput(rand), time.now, DEFAULT_LIMITS, true, time.now))))
      } else {
        await node.registry.register({ id, ...agentInput(rand) })
      }
    } else if (!Array.isArray(stored.capabilities)) {
      await node.registry.unregister(id)
    } else if (roll < 0.6) {
      const a = agentInput(rand)
      await node.registry.update(id, rand.chance(0.5) ? { load: a.load, health: a.health } : { capabilities: a.capabilities, zone: a.zone, resources: a.resources })
    } else if (roll < 0.8) {
      await node.registry.unregister(id)
    } else {
      // Several agents in one transaction (one signed update), as registerMany writes them.
      publish(node, node.replica.transact('reg', (doc) => {
        const m = doc.getMap('agents')
        for (let k = 0; k < 3; k++) {
          const other = rand.pick(ids)
          if (m.has(other)) m.delete(other)
          else m.set(other, normaliseAgent(agentInput(rand), time.now, DEFAULT_LIMITS, true, time.now))
        }
      }))
    }
  }
}

/** Everything a reader sees of one agent id. */
function viewOf (n: TestNode, id: string): unknown {
  const a = n.registry.lookup(id)
  if (a === undefined) return undefined
  return { ...a.toJSON(), hostSilentMs: undefined, claims: n.registry.index.claims(id).map(c => c.host) }
}

function randomQuery (rand: Rand): QueryCriteria {
  const q: { -readonly [K in keyof QueryCriteria]: QueryCriteria[K] } = { limit: 1000 }
  if (rand.chance(0.7)) q.capability = rand.chance(0.8) ? rand.pick(CAPS) : [rand.pick(CAPS), rand.pick(CAPS)]
  if (rand.chance(0.4)) q.zone = rand.pick(ZONES)
  if (rand.chance(0.3)) q.health = rand.pick(HEALTH)
  if (rand.chance(0.3)) q.where = [['resources.gpu', 'gte', rand.int(3)]]
  if (rand.chance(0.2)) q.orderBy = 'load'
  return q
}

function queryIds (n: TestNode, q: QueryCriteria): string[] {
  const r = n.registry.query(q)
  const ids = r.agents.map(a => `${a.id}@${a.host}`)
  // Without an order the result order is unspecified: compare as sets.
  return q.orderBy === undefined ? ids.sort() : ids
}

function expectSameRegistry (seed: number, want: TestNode, got: TestNode, ids: string[], rand: Rand, label: string): void {
  const msg = `${label}; ${seedMessage(seed)}`
  expect(got.registry.size, msg).toBe(want.registry.size)
  for (const id of ids) expect(viewOf(got, id), `${msg}; agent ${id}`).toEqual(viewOf(want, id))
  expect(got.registry.index.contestedCount, msg).toBe(want.registry.index.contestedCount)
  for (let i = 0; i < 60; i++) {
    const q = randomQuery(rand)
    expect(queryIds(got, q), `${msg}; query ${JSON.stringify(q)}`).toEqual(queryIds(want, q))
  }
}

describe('late joiner bulk attach (issue 17)', () => {
  for (const seed of testSeeds(6, 1700)) {
    it(`ends with the registry of incremental apply, seed ${seed}`, async () => {
      const rand = createRand(seed)
      const keys = new TestKeys()
      const time = { now: 1_000_000 }
      const now = (): number => time.now
      const a = makeNode(keys, 'host-a', { now, leaseMs: 1e12, pruneAfterMs: 1e12 })
      const b = makeNode(keys, 'host-b', { now, leaseMs: 1e12, pruneAfterMs: 1e12 })
      const follower = makeNode(keys, 'follower', { now, leaseMs: 1e12, pruneAfterMs: 1e12 })
      // Both hosts draw from one pool of ids: some are claimed by both (contested).
      const ids = Array.from({ length: 40 + rand.int(60) }, (_, i) => `agent-${i}`)
      // The follower holds both (empty) documents from the start, then applies every update as it comes.
      pull(follower, a)
      pull(follower, b)
      for (let round = 0; round < 4; round++) {
        await history(rand, a, ids, 30 + rand.int(40), time)
        await history(rand, b, ids, 10 + rand.int(20), time)
        gossipAll([a, b, follower])
      }
      // Half the runs compact a host's document (a checkpoint only); the others leave checkpoint + log.
      expect(follower.replica.pendingCount(), seedMessage(seed)).toBe(0)
      if (rand.chance(0.5)) { a.replica.compact('reg'); pull(follower, a) }
      const joined: string[] = []
      const bulk = makeNode(keys, 'joiner', { now, leaseMs: 1e12, pruneAfterMs: 1e12 })
      bulk.registry.on('agent:joined', (e) => { joined.push(e.agent.id) })
      // The same joiner on the per-agent path (the bulk path turned off): the reference for counters and events.
      const perAgent = makeNode(keys, 'joiner-per-agent', { now, leaseMs: 1e12, pruneAfterMs: 1e12 })
      perAgent.registry.index.holdsNothingOf = () => false
      const perAgentJoined: string[] = []
      perAgent.registry.on('agent:joined', (e) => { perAgentJoined.push(e.agent.id) })
      const contests = { bulk: 0, perAgent: 0 }
      bulk.registry.on('agent:contested', () => { contests.bulk++ })
      perAgent.registry.on('agent:contested', () => { contests.perAgent++ })
      for (const from of rand.chance(0.5) ? [a, b] : [b, a]) {
        pull(bulk, from)
        pull(perAgent, from)
      }
      expectSameRegistry(seed, follower, bulk, ids, rand, 'bulk joiner vs incremental')
      expectSameRegistry(seed, perAgent, bulk, ids, rand, 'bulk joiner vs per-agent joiner')
      expect(bulk.registry.stats, seedMessage(seed)).toEqual(perAgent.registry.stats)
      expect(bulk.replica.stats.rejected, seedMessage(seed)).toEqual(perAgent.replica.stats.rejected)
      expect(joined, seedMessage(seed)).toEqual(perAgentJoined)
      expect(contests.bulk, seedMessage(seed)).toBe(contests.perAgent)
      // The histories wrote invalid values and contested ids: the test covers those paths.
      expect(bulk.registry.stats.invalidDescriptors + bulk.replica.stats.rejected['invalid-value'], seedMessage(seed)).toBeGreaterThan(0)
    })
  }

  it('reports the same contests on the bulk path as on the per-agent path when two hosts claim ids', async () => {
    const keys = new TestKeys()
    let t = 1000
    const now = (): number => t
    const a = makeNode(keys, 'host-a', { now })
    const b = makeNode(keys, 'host-b', { now })
    // Two hosts register overlapping ids before either sees the other's (as two racing hosts do).
    await a.registry.registerMany(Array.from({ length: 30 }, (_, i) => ({ id: `agent-${i}`, capabilities: ['chat'] })))
    t = 900
    await b.registry.registerMany(Array.from({ length: 20 }, (_, i) => ({ id: `agent-${i * 2}`, capabilities: ['code'], zone: 'eu' })))
    for (const order of [[a, b], [b, a]]) {
      const bulk = makeNode(keys, 'joiner')
      const perAgent = makeNode(keys, 'joiner-per-agent')
      perAgent.registry.index.holdsNothingOf = () => false
      const events = { bulk: [] as string[], perAgent: [] as string[] }
      bulk.registry.on('agent:contested', (e) => { events.bulk.push(`${e.id}:${e.winner.host}:${e.displaced ?? ''}`) })
      perAgent.registry.on('agent:contested', (e) => { events.perAgent.push(`${e.id}:${e.winner.host}:${e.displaced ?? ''}`) })
      for (const from of order) { pull(bulk, from); pull(perAgent, from) }
      expect(events.bulk.length).toBe(15)
      expect(events.bulk).toEqual(events.perAgent)
      expect(bulk.registry.index.contestedCount).toBe(15)
      // The earlier claims (host-b's, at t = 900) own the ids on both joiners.
      expect(bulk.registry.lookup('agent-4')?.host).toBe('host-b')
      expect(bulk.registry.lookup('agent-5')?.host).toBe('host-a')
      for (let i = 0; i < 30; i++) expect(viewOf(bulk, `agent-${i}`)).toEqual(viewOf(perAgent, `agent-${i}`))
    }
  })

  it('keeps agentsPerHostMax on the bulk path: the same agents as the per-agent path, the rest counted', async () => {
    const keys = new TestKeys()
    const owner = makeNode(keys, 'owner')
    await owner.registry.registerMany(Array.from({ length: 50 }, (_, i) => ({ id: `agent-${i}`, capabilities: ['chat'] })))
    owner.replica.compact('reg')
    const limits = { agentsPerHostMax: 20 }
    const bulk = makeNode(keys, 'joiner', { limits })
    const perAgent = makeNode(keys, 'joiner-per-agent', { limits })
    perAgent.registry.index.holdsNothingOf = () => false
    pull(bulk, owner)
    pull(perAgent, owner)
    expect(bulk.registry.size).toBe(20)
    expect(bulk.registry.stats.overLimit).toBe(30)
    expect(bulk.registry.stats).toEqual(perAgent.registry.stats)
    expect([...bulk.registry.index.values()].map(r => r.id)).toEqual([...perAgent.registry.index.values()].map(r => r.id))
  })

  it('defers the capability, health, host and zone indexes of a bulk attach: the first read or change sees them as if made at once', async () => {
    const keys = new TestKeys()
    const a = makeNode(keys, 'host-a')
    const b = makeNode(keys, 'host-b')
    const agents = (prefix: string, n: number): Array<{ id: string, capabilities: string[], zone: string, health: typeof HEALTH[number] }> =>
      Array.from({ length: n }, (_, i) => ({ id: `${prefix}-${i}`, capabilities: [CAPS[i % CAPS.length]!], zone: ZONES[i % ZONES.length]!, health: HEALTH[i % HEALTH.length]! }))
    await a.registry.registerMany(agents('a', 40))
    await b.registry.registerMany(agents('b', 30))
    const hostQueries: QueryCriteria[] = [{ host: 'host-a' }, { host: 'host-b' }, { zone: 'eu' }, { zone: 'us', health: 'degraded' }, { health: 'healthy' }, { capability: 'chat', zone: 'ap' }, { capability: 'code' }, { capability: ['vision', 'chat'] }, { capability: 'plan', limit: 3 }]
    const reads: Array<[string, (n: TestNode) => unknown]> = [
      ['ofHost', (n) => [...n.registry.index.ofHost('host-a')].map(r => r.id)],
      ['hosts', (n) => n.registry.index.hosts().sort()],
      ['queries', (n) => hostQueries.map(q => queryIds(n, q))],
      // The capability reads that take no query: the set behind lookupWith, and find (in index order).
      ['withCapability', (n) => CAPS.map(c => [...n.registry.index.withCapability(c)].map(r => r.id))],
      ['find', (n) => CAPS.map(c => n.registry.find(c, 5).map(r => r.id))],
      ['lookupWith', (n) => CAPS.map(c => n.registry.lookupWith(c, 'least-loaded')?.id)],
      // Settled a few at a time (as the peer does in the background), a read in the middle of it.
      ['settled in slices', (n) => {
        n.registry.index.settleSome(7)
        const mid = [...n.registry.index.ofHost('host-b')].map(r => r.id)
        while (n.registry.index.settleSome(7) > 0);
        return [mid, hostQueries.map(q => queryIds(n, q)), CAPS.map(c => n.registry.find(c, 100).map(r => r.id))]
      }],
      ['a slice, then a change', (n) => {
        n.registry.index.settleSome(5)
        n.registry.index.upsert(n.registry.lookup('b-2')!)
        return hostQueries.map(q => queryIds(n, q))
      }],
      // A change first: an update that moves a deferred record to another zone and health, then a removal.
      ['change', (n) => {
        n.registry.index.upsert(n.registry.lookup('a-3')!)
        return [...n.registry.index.ofHost('host-a')].map(r => r.id)
      }]
    ]
    for (const [what, read] of reads) {
      const bulk = makeNode(keys, 'joiner')
      const perAgent = makeNode(keys, 'joiner-per-agent')
      perAgent.registry.index.holdsNothingOf = () => false
      // Checkpoints only (compacted hosts): the joiner attaches each document whole, on the bulk path.
      for (const from of [a, b]) { from.replica.compact('reg'); pull(bulk, from); pull(perAgent, from) }
      expect(read(bulk), what).toEqual(read(perAgent))
      // Then a host's own changes arrive (the per-agent path over deferred records): the same on both.
      await a.registry.update('a-4', { zone: 'us', health: 'unhealthy' })
      await a.registry.unregister('a-5')
      for (const n of [bulk, perAgent]) pull(n, a)
      expect(bulk.registry.index.ofHost('host-a').size, what).toBe(perAgent.registry.index.ofHost('host-a').size)
      for (const q of hostQueries) expect(queryIds(bulk, q), `${what}: ${JSON.stringify(q)}`).toEqual(queryIds(perAgent, q))
      for (const c of CAPS) expect(bulk.registry.find(c, 100).map(r => r.id), `${what}: find ${c}`).toEqual(perAgent.registry.find(c, 100).map(r => r.id))
      await a.registry.update('a-4', { zone: 'eu', health: 'healthy' })
      await a.registry.register({ id: 'a-5', capabilities: ['chat'] })
    }
  })

  it('a read of a host that has no deferred record settles nothing: the peer\'s own records (its heartbeat load) stay cheap after a bulk attach', async () => {
    const keys = new TestKeys()
    const owner = makeNode(keys, 'owner')
    await owner.registry.registerMany(Array.from({ length: 30 }, (_, i) => ({ id: `agent-${i}`, capabilities: ['chat'], zone: ZONES[i % 3]! })))
    owner.replica.compact('reg')
    const joiner = makeNode(keys, 'joiner')
    await joiner.registry.register({ id: 'own-1', capabilities: ['code'], load: 0.5 })
    pull(joiner, owner)
    expect(joiner.registry.index.settleSome(0)).toBe(30)
    // The joiner's own records, and a host it holds nothing of: read, nothing settled.
    expect([...joiner.registry.index.ofHost('joiner')].map(r => r.id)).toEqual(['own-1'])
    expect(joiner.registry.index.ofHost('nobody').size).toBe(0)
    expect(joiner.registry.index.settleSome(0)).toBe(30)
    // Counted without settling (what the health report reads of every host each period).
    expect(joiner.registry.index.countOfHost('owner')).toBe(30)
    expect(joiner.registry.index.countOfHost('joiner')).toBe(1)
    joiner.registry.index.settleSome(12)
    expect(joiner.registry.index.countOfHost('owner')).toBe(30)
    expect(joiner.registry.index.settleSome(0)).toBe(18)
    // The owner's records: settled first, then read whole.
    expect(joiner.registry.index.ofHost('owner').size).toBe(30)
    expect(joiner.registry.index.settleSome(0)).toBe(0)
  })

  it('settles for a host\'s records only while some of them are deferred: a host settled in slices is read without settling the next', async () => {
    const keys = new TestKeys()
    const a = makeNode(keys, 'host-a')
    const b = makeNode(keys, 'host-b')
    await a.registry.registerMany(Array.from({ length: 20 }, (_, i) => ({ id: `a-${i}`, capabilities: ['chat'] })))
    await b.registry.registerMany(Array.from({ length: 7 }, (_, i) => ({ id: `b-${i}`, capabilities: ['code'] })))
    for (const n of [a, b]) n.replica.compact('reg')
    const joiner = makeNode(keys, 'joiner')
    pull(joiner, a)
    pull(joiner, b)
    expect(joiner.registry.index.settleSome(0)).toBe(27)
    expect(joiner.registry.index.settleSome(15)).toBe(12)
    expect(joiner.registry.index.countOfHost('host-a')).toBe(20)
    expect(joiner.registry.index.settleSome(5)).toBe(7)
    // host-a's records are all settled now: read without settling host-b's.
    expect(joiner.registry.index.ofHost('host-a').size).toBe(20)
    expect(joiner.registry.index.settleSome(0)).toBe(7)
    expect(joiner.registry.index.countOfHost('host-b')).toBe(7)
    expect(joiner.registry.index.ofHost('host-b').size).toBe(7)
    expect(joiner.registry.index.settleSome(0)).toBe(0)
  })

  it('with `later`, the registry settles the deferred entries in the background, a slice per turn', async () => {
    const keys = new TestKeys()
    const owner = makeNode(keys, 'owner')
    const n = SETTLE_SLICE_RECORDS * 2 + 10
    await owner.registry.registerMany(Array.from({ length: n }, (_, i) => ({ id: `agent-${i}`, capabilities: ['chat'], zone: ZONES[i % 3]! })))
    owner.replica.compact('reg')
    const turns: Array<() => void> = []
    const joiner = makeNode(keys, 'joiner', { later: (fn) => { turns.push(fn) } })
    pull(joiner, owner)
    expect(joiner.registry.index.settleSome(0)).toBe(n)
    let steps = 0
    while (turns.length > 0) { turns.shift()!(); steps++ }
    expect(steps).toBe(3)
    expect(joiner.registry.index.settleSome(0)).toBe(0)
    expect(joiner.registry.index.ofHost('owner').size).toBe(n)
    expect(joiner.registry.query({ zone: 'eu', limit: 1 }).agents.length).toBe(1)
    expect(joiner.registry.index.withCapability('chat').size).toBe(n)
  })

  it('takes the bulk path for a new document only, and the per-agent path when the host holds claims', async () => {
    const keys = new TestKeys()
    const owner = makeNode(keys, 'owner')
    const joiner = makeNode(keys, 'joiner')
    expect(joiner.registry.index.holdsNothingOf('owner')).toBe(true)
    await owner.registry.register({ id: 'a1', capabilities: ['chat'] })
    pull(joiner, owner)
    expect(joiner.registry.index.holdsNothingOf('owner')).toBe(false)
    // A newer incarnation replaces the document: the per-agent path removes what it no longer has.
    await owner.registry.register({ id: 'a2', capabilities: ['code'] })
    await owner.registry.unregister('a1')
    owner.replica.compact('reg')
    pull(joiner, owner)
    expect(joiner.registry.lookup('a1')).toBeUndefined()
    expect(joiner.registry.lookup('a2')?.capabilities).toEqual(['code'])
    expect(joiner.registry.size).toBe(1)
  })
})
