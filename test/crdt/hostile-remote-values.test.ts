/**
 * Breaks found by the adversarial probe (test/bench/hostile.bench.ts): values a rogue host writes
 * straight into its own signed documents, which its own checks never see. These tests state the
 * expected behaviour and FAIL on the current code.
 *
 * 1. A `__proto__` key nested in agent metadata or in an eventual-variable value: lib0's decoder assigns
 *    `obj["__proto__"] = v`, so on every receiver the object gets the rogue's prototype. JSON shows `{}`
 *    (what the rogue's own replica shows as an own key), but `metadata.role.admin === true` on receivers.
 *    crdt/README.md says remote values "come out of the Yjs decoder, which only yields ... no own
 *    `__proto__` keys" and `checkStoredAgent` checks only the top-level objects' prototypes.
 * 2. A BigInt contribution (lib0 encodes and decodes bigint): `JSON.stringify` in
 *    `EventualVariable.recompute` throws, so `replica.apply` of a checkpoint holding it throws out of the
 *    replica (an update is rejected as `yjs` after Yjs integrated it), and declaring the variable on a
 *    replica holding it throws (`peer.variables.eventual`, the daemon's PUT/GET of the variable).
 */
import { describe, expect, it } from 'vitest'
import { TestKeys, antiEntropyAll, makeNode, pull } from './helpers.js'

const proto = (): unknown => JSON.parse('{"__proto__": {"admin": true}}')

describe('remote values a rogue host writes into its own document', () => {
  it('a nested __proto__ key in agent metadata does not become a prototype on receivers', () => {
    const keys = new TestKeys()
    const [rogue, victim] = [makeNode(keys, 'R'), makeNode(keys, 'V')]
    antiEntropyAll([rogue, victim])
    const blob = rogue.replica.transact('reg', (doc) => {
      doc.getMap('agents').set('a1', { capabilities: ['x'], resources: {}, health: 'healthy', metadata: { role: proto() }, updatedAt: 1, claimedAt: 1 })
    })!
    victim.replica.apply(blob.bytes)
    const role = victim.registry.lookup('a1')?.metadata.role as Record<string, unknown> | undefined
    // Either refused (not indexed, counted) or indexed without the inherited property.
    expect(role === undefined || role.admin === undefined).toBe(true)
    // Refused alike on both replicas (the rogue's own holds an own "__proto__" key), and counted.
    expect(victim.registry.lookup('a1')).toBeUndefined()
    expect(rogue.registry.lookup('a1')).toBeUndefined()
    expect(victim.replica.stats.rejected['invalid-value']).toBeGreaterThan(0)
  })

  it('a __proto__ key in an eventual-variable value does not become a prototype on receivers', async () => {
    const keys = new TestKeys()
    const [rogue, victim] = [makeNode(keys, 'R'), makeNode(keys, 'V')]
    antiEntropyAll([rogue, victim])
    const v = victim.variables.eventual<unknown>('config', { initial: null, merge: 'lww' })
    const blob = rogue.replica.transact('var', (doc) => { doc.getMap('vars').set('config', { v: proto(), t: [Date.now(), 0], w: 1, m: 'lww' }) })!
    victim.replica.apply(blob.bytes)
    expect((v.get() as Record<string, unknown> | null)?.admin).toBeUndefined()
    // Left out on every replica alike: the variable keeps its initial value, and the refusal is counted.
    expect(v.get()).toBeNull()
    expect(rogue.variables.eventual<unknown>('config', { initial: null, merge: 'lww' }).get()).toBeNull()
    expect(victim.replica.stats.rejected['invalid-value']).toBeGreaterThan(0)
  })

  it('a BigInt contribution sent as an update is applied and left out of the merge, not thrown', () => {
    const keys = new TestKeys()
    const [rogue, victim] = [makeNode(keys, 'R'), makeNode(keys, 'V')]
    antiEntropyAll([rogue, victim])
    const v = victim.variables.eventual<unknown>('config', { initial: 'none', merge: 'lww' })
    const blob = rogue.replica.transact('var', (doc) => { doc.getMap('vars').set('config', { v: 10n, t: [Date.now(), 0], w: 1, m: 'lww' }) })!
    expect(victim.replica.apply(blob.bytes).status).toBe('applied')
    expect(v.get()).toBe('none')
    expect(victim.variables.stats.invalidContributions).toBeGreaterThan(0)
    expect(victim.replica.stats.rejected['invalid-value']).toBeGreaterThan(0)
  })

  it('a BigInt contribution neither throws out of replica.apply nor breaks declaring the variable', () => {
    const keys = new TestKeys()
    const [rogue, victim, late] = [makeNode(keys, 'R'), makeNode(keys, 'V'), makeNode(keys, 'L')]
    victim.variables.eventual<unknown>('config', { initial: 'none', merge: 'lww' })
    rogue.replica.transact('var', (doc) => { doc.getMap('vars').set('config', { v: 10n, t: [Date.now(), 0], w: 1, m: 'lww' }) })
    rogue.replica.compact('var')
    // The checkpoint path: apply must answer (applied or rejected), never throw.
    expect(() => pull(victim, rogue)).not.toThrow()
    // A replica holding the contribution can still declare the variable.
    pull(late, rogue)
    expect(() => late.variables.eventual<unknown>('config', { initial: 'none', merge: 'lww' })).not.toThrow()
    expect(late.variables.eventual<unknown>('config', { initial: 'none', merge: 'lww' }).get()).toBe('none')
    // The checkpoint was kept (attached and relayed) and the value counted as refused.
    expect(victim.replica.entry('var', 'R')).toBeDefined()
    expect(victim.replica.stats.rejected['invalid-value']).toBeGreaterThan(0)
  })
})
