import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { createRand } from '../../src/base/prng.js'
import { seedMessage, testSeed } from '../helpers/seed.js'
import { encodeSignedPart, attachSignature } from '../../crdt/codec.js'
import { TestKeys, antiEntropyAll, gossipAll, makeNode, pull, snapshot } from './helpers.js'

describe('replica: signed per-host documents', () => {
  it('a new peer gets a host document by anti-entropy, then follows its gossip', async () => {
    const keys = new TestKeys()
    const a = makeNode(keys, 'A')
    const b = makeNode(keys, 'B')
    await a.registry.register({ id: 'x', capabilities: ['gpu'] })
    // B has never seen A's document: the update waits and signals a gap.
    gossipAll([a, b])
    expect(b.registry.lookup('x')).toBeUndefined()
    expect(b.gaps).toBeGreaterThan(0)
    expect(b.replica.pendingCount()).toBe(1)
    expect(pull(b, a)).toBeGreaterThan(0)
    expect(b.registry.lookup('x')?.host).toBe('A')
    expect(b.replica.pendingCount()).toBe(0)
    // From now on gossip alone carries changes.
    await a.registry.update('x', { health: 'unhealthy' })
    gossipAll([a, b])
    expect(b.registry.lookup('x')?.health).toBe('unhealthy')
    await a.registry.unregister('x')
    gossipAll([a, b])
    expect(b.registry.lookup('x')).toBeUndefined()
  })

  it('five replicas converge after concurrent writes delivered in random order', async () => {
    const seed = testSeed(1234)
    const rand = createRand(seed)
    const keys = new TestKeys()
    const nodes = ['n1', 'n2', 'n3', 'n4', 'n5'].map(id => makeNode(keys, id))
    antiEntropyAll(nodes)
    for (let i = 0; i < 200; i++) {
      const n = rand.pick(nodes)
      const id = `${n.id}-a${rand.int(20)}`
      if (n.registry.lookup(id) === undefined) await n.registry.register({ id, capabilities: [rand.pick(['gpu', 'cpu', 'llm'])] })
      else if (rand.chance(0.3)) await n.registry.unregister(id)
      else await n.registry.update(id, { health: rand.pick(['healthy', 'degraded', 'unhealthy'] as const), metadata: { i } })
    }
    // Shuffle every published update and deliver each to each node in its own random order.
    const all = nodes.flatMap(n => n.outbox.splice(0).map(b => ({ from: n, b })))
    for (const to of nodes) {
      const order = all.filter(x => x.from !== to)
      for (let i = order.length - 1; i > 0; i--) { const j = rand.int(i + 1); [order[i], order[j]] = [order[j]!, order[i]!] }
      for (const { b } of order) to.replica.apply(b.bytes)
    }
    const s0 = snapshot(nodes[0]!)
    for (const n of nodes) expect(snapshot(n), seedMessage(seed)).toEqual(s0)
    expect(s0.length).toBeGreaterThan(10)
    for (const n of nodes) expect(n.replica.pendingCount()).toBe(0)
  })

  it('relays carry a host document to peers that never talk to the host', async () => {
    const keys = new TestKeys()
    const [a, b, c] = ['A', 'B', 'C'].map(id => makeNode(keys, id)) as [ReturnType<typeof makeNode>, ReturnType<typeof makeNode>, ReturnType<typeof makeNode>]
    for (let i = 0; i < 50; i++) await a.registry.register({ id: `a${i}`, capabilities: ['x'] })
    pull(b, a)
    gossipAll([a, b])
    expect(pull(c, b)).toBeGreaterThan(0)
    expect(snapshot(c)).toEqual(snapshot(a))
    expect(c.registry.size).toBe(50)
  })

  it('a forged or tampered update is rejected whole and changes nothing (R4)', async () => {
    const keys = new TestKeys()
    const a = makeNode(keys, 'A')
    const b = makeNode(keys, 'B')
    const evil = makeNode(keys, 'E')
    await a.registry.register({ id: 'victim', capabilities: ['gpu'] })
    pull(b, a)
    pull(evil, a)
    // The attacker writes into its copy of A's document and signs the update with its own key.
    const doc = evil.replica.get('reg', 'A')!
    let forgedUpdate: Uint8Array | undefined
    doc.doc.on('update', (u: Uint8Array) => { forgedUpdate = u })
    doc.doc.getMap('agents').delete('victim')
    const entry = b.replica.entry('reg', 'A')!
    const signed = encodeSignedPart(1, 'reg', 'A', entry.incarnation, entry.seq + 1, forgedUpdate!)
    const forged = attachSignature(signed, keys.signer('E').sign(signed))
    expect(b.replica.apply(forged)).toMatchObject({ status: 'rejected', reason: 'signature' })
    // A valid update with one payload byte flipped fails too.
    await a.registry.update('victim', { health: 'degraded' })
    const good = a.outbox.pop()!
    const tampered = good.bytes.slice()
    tampered[tampered.length - 70] ^= 0xff
    expect(b.replica.apply(tampered).status).toBe('rejected')
    expect(b.registry.lookup('victim')?.health).toBe('healthy')
    expect(b.replica.stats.rejected.signature + b.replica.stats.rejected.decode).toBe(2)
    // The genuine update still applies afterwards.
    expect(b.replica.apply(good.bytes).status).toBe('applied')
    expect(b.registry.lookup('victim')?.health).toBe('degraded')
    // Nobody can write another host's agent through the API either.
    await expect(b.registry.update('victim', { health: 'healthy' })).rejects.toMatchObject({ code: 'ERR_NOT_OWNER' })
    await expect(b.registry.unregister('victim')).rejects.toMatchObject({ code: 'ERR_NOT_OWNER' })
  })

  it('out-of-order updates wait for the gap and then apply in order', async () => {
    const keys = new TestKeys()
    const a = makeNode(keys, 'A')
    const b = makeNode(keys, 'B')
    pull(b, a)
    for (let i = 0; i < 5; i++) await a.registry.register({ id: `o${i}` })
    const blobs = a.outbox.splice(0)
    for (const blob of [...blobs].reverse()) b.replica.apply(blob.bytes)
    expect(b.registry.size).toBe(5)
    expect(b.replica.entry('reg', 'A')?.seq).toBe(5)
    expect(b.replica.apply(blobs[2]!.bytes).status).toBe('duplicate')
  })

  it('malformed bytes are rejected, counted, and leave the replica working', async () => {
    const keys = new TestKeys()
    const a = makeNode(keys, 'A')
    const b = makeNode(keys, 'B')
    await a.registry.register({ id: 'keep' })
    pull(b, a)
    const rand = createRand(99)
    const good = a.replica.missingFor(b.replica.digest())
    void good
    const samples: Uint8Array[] = [new Uint8Array(0), new Uint8Array([1]), new Uint8Array([2, 0, 200]), new Uint8Array([9, 9, 9])]
    for (let i = 0; i < 300; i++) {
      const len = rand.int(200)
      const bytes = new Uint8Array(len)
      for (let j = 0; j < len; j++) bytes[j] = rand.int(256)
      if (len > 0) bytes[0] = rand.pick([1, 2])
      samples.push(bytes)
    }
    await a.registry.update('keep', { load: 0.1 })
    const real = a.outbox.pop()!.bytes
    for (let cut = 1; cut < real.length; cut += 7) samples.push(real.subarray(0, cut))
    for (const s of samples) {
      const r = b.replica.apply(s)
      expect(r.status).toBe('rejected')
    }
    expect(() => b.replica.missingFor(new Uint8Array([3, 200, 200, 200]))).toThrow(expect.objectContaining({ code: 'ERR_DECODE' }))
    expect(b.registry.lookup('keep')?.host).toBe('A')
    expect(b.replica.apply(real).status).toBe('applied')
    expect(b.registry.lookup('keep')?.load).toBe(0.1)
  })

  it('owners checkpoint large logs; a late joiner gets the checkpoint plus the log', async () => {
    const keys = new TestKeys()
    const a = makeNode(keys, 'A')
    for (let i = 0; i < 400; i++) await a.registry.register({ id: `c${i}`, capabilities: ['x'], metadata: { pad: 'p'.repeat(200) } })
    expect(a.replica.stats.checkpointsMade).toBeGreaterThan(1)
    const late = makeNode(keys, 'L')
    const msgs = a.replica.missingFor(late.replica.digest())
    expect(msgs.length).toBeLessThan(400)
    for (const m of msgs) late.replica.apply(m)
    expect(late.registry.size).toBe(400)
    expect(snapshot(late)).toEqual(snapshot(a))
  })

  it('compaction moves to a new incarnation; replicas replace the document without spurious events', async () => {
    const keys = new TestKeys()
    const a = makeNode(keys, 'A')
    const b = makeNode(keys, 'B')
    for (let i = 0; i < 100; i++) await a.registry.register({ id: `k${i}`, capabilities: ['x'] })
    for (let i = 10; i < 100; i++) await a.registry.unregister(`k${i}`)
    pull(b, a)
    const before = Y.encodeStateAsUpdate(a.replica.local('reg').doc).length
    const events: string[] = []
    b.registry.on('agent:joined', e => events.push(`joined ${e.agent.id}`))
    b.registry.on('agent:left', e => events.push(`left ${e.agent.id}`))
    b.registry.on('agent:updated', e => events.push(`updated ${e.agent.id}`))
    const cp = a.replica.compact('reg')
    expect(cp.payload.length).toBeLessThan(before)
    expect(b.replica.apply(cp.bytes).status).toBe('applied')
    expect(b.replica.entry('reg', 'A')?.incarnation).toBe(cp.incarnation)
    expect(events).toEqual([])
    expect(snapshot(b)).toEqual(snapshot(a))
    // Writes after compaction flow as usual.
    await a.registry.register({ id: 'after' })
    gossipAll([a, b])
    expect(b.registry.lookup('after')).toBeDefined()
    // An update of the old incarnation is stale now.
    expect(a.registry.size).toBe(11)
  })

  it('a contested agent id resolves to the same winner, the earliest claim, on every replica', async () => {
    let t = 1_000_000
    const now = (): number => t
    const keys = new TestKeys()
    const a = makeNode(keys, 'A', { now })
    const b = makeNode(keys, 'B', { now })
    antiEntropyAll([a, b])
    await b.registry.register({ id: 'same', capabilities: ['b'] })
    t += 1
    await a.registry.register({ id: 'same', capabilities: ['a'] })
    gossipAll([a, b])
    expect(a.registry.lookup('same')?.host).toBe('B')
    expect(b.registry.lookup('same')?.host).toBe('B')
    // The winner leaves: the shadowed claim takes over everywhere.
    await b.registry.unregister('same')
    gossipAll([a, b])
    expect(a.registry.lookup('same')?.host).toBe('A')
    expect(b.registry.lookup('same')?.host).toBe('A')
  })

  it('liveness: a silent host becomes unreachable, then is pruned; relayed copies are refused until it speaks', async () => {
    let t = 1_000_000
    const now = (): number => t
    const keys = new TestKeys()
    const a = makeNode(keys, 'A', { now })
    const b = makeNode(keys, 'B', { now, leaseMs: 1000, pruneAfterMs: 5000 })
    const c = makeNode(keys, 'C', { now })
    await a.registry.register({ id: 'w', capabilities: ['gpu'] })
    pull(b, a)
    pull(c, a)
    const unreachable: string[] = []
    const left: string[] = []
    b.registry.on('agent:unreachable', e => unreachable.push(e.agent.id))
    b.registry.on('agent:left', e => left.push(`${e.agent.id}:${e.reason}`))
    t += 500
    b.registry.heard('A')
    t += 900
    expect(b.registry.sweep()).toEqual({ unreachable: [], pruned: [] })
    expect(b.registry.lookup('w')?.status).toBe('reachable')
    t += 200
    expect(b.registry.sweep().unreachable).toEqual(['A'])
    expect(unreachable).toEqual(['w'])
    expect(b.registry.lookup('w')?.status).toBe('unreachable')
    expect(b.registry.lookup('w')!.freshness.hostSilentMs).toBe(1100)
    expect(b.registry.query({ capability: 'gpu', reachableOnly: true }).agents).toEqual([])
    expect(b.registry.lookupWith('gpu', 'least-loaded')).toBeUndefined()
    t += 5000
    expect(b.registry.sweep().pruned).toEqual(['A'])
    expect(left).toEqual(['w:pruned'])
    expect(b.registry.lookup('w')).toBeUndefined()
    expect(b.replica.get('reg', 'A')).toBeUndefined()
    // C still holds A's document, but B refuses it until A itself is heard again.
    expect(pull(b, c)).toBeGreaterThan(0)
    expect(b.registry.lookup('w')).toBeUndefined()
    expect(b.replica.stats.rejected['host-refused']).toBeGreaterThan(0)
    expect(b.registry.heard('A')).toBe(true)
    pull(b, c)
    expect(b.registry.lookup('w')?.status).toBe('reachable')
  })

  it('liveness: silence is counted while this peer listens (a stall is credited); never alive to pruned in one sweep', async () => {
    let t = 1_000_000
    const now = (): number => t
    const keys = new TestKeys()
    const a = makeNode(keys, 'A', { now })
    const b = makeNode(keys, 'B', { now, leaseMs: 1000, pruneAfterMs: 5000 })
    await a.registry.register({ id: 'w' })
    pull(b, a)
    b.registry.heard('A')
    // B stalls for longer than the lease and the grace; its timer tells how late it fired.
    t += 500
    b.registry.sweep()
    t += 10_000
    b.leases.stalled(10_000)
    expect(b.registry.sweep()).toEqual({ unreachable: [], pruned: [] })
    expect(b.registry.lookup('w')?.status).toBe('reachable')
    // Listening time still counts: silent past the lease, then past the grace.
    t += 600
    expect(b.registry.sweep().unreachable).toEqual(['A'])
    t += 5000
    expect(b.registry.sweep().pruned).toEqual(['A'])
    // Without the credit, one sweep after a long silence finds the host unreachable; only a later one prunes it.
    const c = makeNode(keys, 'C', { now, leaseMs: 1000, pruneAfterMs: 5000 })
    pull(c, a)
    c.registry.heard('A')
    t += 60_000
    expect(c.registry.sweep()).toEqual({ unreachable: ['A'], pruned: [] })
    expect(c.registry.lookup('w')?.status).toBe('unreachable')
    c.registry.heard('A')
    expect(c.registry.sweep()).toEqual({ unreachable: [], pruned: [] })
    expect(c.registry.lookup('w')?.status).toBe('reachable')
  })

  it('export and restore rebuild the same replica, own documents writable', async () => {
    const keys = new TestKeys()
    const a = makeNode(keys, 'A')
    const b = makeNode(keys, 'B')
    await b.registry.register({ id: 'remote' })
    pull(a, b)
    for (let i = 0; i < 20; i++) await a.registry.register({ id: `r${i}`, metadata: { i } })
    const saved = [...a.replica.exportDocs()]
    const a2 = makeNode(keys, 'A')
    for (const d of saved) a2.replica.restore(d.blobs)
    expect(snapshot(a2)).toEqual(snapshot(a))
    expect(a2.replica.entry('reg', 'A')).toEqual(a.replica.entry('reg', 'A'))
    // The restored owner goes on writing from where it was; others accept the continuation.
    await a2.registry.register({ id: 'more' })
    const blob = a2.outbox.pop()!
    expect(blob.seq).toBe(a.replica.entry('reg', 'A')!.seq + 1)
    pull(b, a)
    expect(b.replica.apply(blob.bytes).status).toBe('applied')
    expect(b.registry.lookup('more')).toBeDefined()
  })
})

describe('replica: kept blobs own their bytes', () => {
  it('an update read as a view of a larger buffer (a small frame in a 64 KiB chunk) is kept as a copy: the log, a held update, a checkpoint', async () => {
    const keys = new TestKeys()
    const a = makeNode(keys, 'A')
    const b = makeNode(keys, 'B')
    await a.registry.register({ id: 'x', capabilities: ['gpu'] })
    antiEntropyAll([a, b])
    a.outbox.splice(0)
    // Each blob arrives as a view in the middle of a 64 KiB read buffer.
    const inChunk = (bytes: Uint8Array): Uint8Array => { const chunk = new Uint8Array(65_536); chunk.set(bytes, 100); return chunk.subarray(100, 100 + bytes.length) }
    await a.registry.update('x', { health: 'degraded' })
    await a.registry.update('x', { health: 'unhealthy' })
    const [first, second] = a.outbox.splice(0)
    // The second first: held for the gap; then the first: applied, and both go to the log.
    expect(b.replica.apply(inChunk(second!.bytes)).status).toBe('pending')
    expect(b.replica.apply(inChunk(first!.bytes)).status).toBe('applied')
    expect(b.registry.lookup('x')?.health).toBe('unhealthy')
    const doc = b.replica.get('reg', 'A')!
    expect(doc.log.length).toBeGreaterThanOrEqual(2)
    for (const u of doc.log) expect(u.bytes.buffer.byteLength).toBe(u.bytes.byteLength)
    // The kept copies still serve anti-entropy: a third replica learns everything from B alone.
    const c = makeNode(keys, 'C')
    pull(c, b)
    expect(c.registry.lookup('x')?.health).toBe('unhealthy')
  })
})
