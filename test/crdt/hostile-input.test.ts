/**
 * Input that would not survive replication unchanged is refused at the door, so every replica answers
 * the same. Reported break: a capability "\ud800gpu" (a lone UTF-16 surrogate) was kept as is by its host
 * and became "\ufffdgpu" on every other replica (the Yjs encoder writes UTF-8), so one query answered
 * differently. Also: ids that are reserved property names, and `__proto__` keys (lib0's decoder turns a
 * decoded `__proto__` key into a prototype).
 */
import { describe, expect, it } from 'vitest'
import { TestKeys, antiEntropyAll, gossipAll, makeNode } from './helpers.js'
import type { TestNode } from './helpers.js'

const LONE = '\ud800'
const PAIR = '\ud83d\ude00' // 😀, a well-formed surrogate pair

function pair (): [TestNode, TestNode] {
  const keys = new TestKeys()
  const nodes = [makeNode(keys, 'A'), makeNode(keys, 'B')]
  antiEntropyAll(nodes)
  return nodes as [TestNode, TestNode]
}

const invalid = (path: string): unknown => expect.objectContaining({ code: 'ERR_INVALID_DESCRIPTOR', details: { path } })
const reserved = (path: string): unknown => expect.objectContaining({ code: 'ERR_RESERVED_NAME', details: expect.objectContaining({ path }) })

describe('registry: strings must be well-formed Unicode', () => {
  it('the reported break: a capability with a lone surrogate is refused, and both replicas answer the same query', async () => {
    const [a, b] = pair()
    await expect(a.registry.register({ id: 'x', capabilities: [`${LONE}gpu`] })).rejects.toEqual(invalid('capabilities.0'))
    expect(a.registry.lookup('x')).toBeUndefined()
    await a.registry.register({ id: 'x', capabilities: [`${PAIR}gpu`, 'gpu'] })
    gossipAll([a, b])
    for (const cap of [`${PAIR}gpu`, `\ufffdgpu`, `${LONE}gpu`, 'gpu']) {
      expect(b.registry.find(cap).map(v => v.id), cap).toEqual(a.registry.find(cap).map(v => v.id))
    }
    expect(b.registry.lookup('x')?.capabilities).toEqual([`${PAIR}gpu`, 'gpu'])
  })

  it('refuses a lone surrogate in every descriptor field, on register, registerMany and update, and writes nothing', async () => {
    const [a, b] = pair()
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ id: `x${LONE}` }, 'id'],
      [{ id: 'x', capabilities: ['ok', `${LONE}`] }, 'capabilities.1'],
      [{ id: 'x', zone: `eu${LONE}` }, 'zone'],
      [{ id: 'x', resources: { [`gpu${LONE}`]: 1 } }, `resources.gpu${LONE}`],
      [{ id: 'x', metadata: { [`k${LONE}`]: 1 } }, `metadata.k${LONE}`],
      [{ id: 'x', metadata: { model: `llama${LONE}` } }, 'metadata.model'],
      [{ id: 'x', metadata: { deep: { list: ['ok', { name: `\udc00tail` }] } } }, 'metadata.deep.list.1.name']
    ]
    for (const [agent, path] of cases) {
      await expect(a.registry.register(agent as never), path).rejects.toEqual(invalid(path))
      await expect(a.registry.registerMany([{ id: 'fine' }, agent as never]), path).rejects.toEqual(invalid(path))
    }
    expect(a.registry.size).toBe(0)
    await a.registry.register({ id: 'x', capabilities: ['gpu'], metadata: { model: 'llama' } })
    for (const [agent, path] of cases.slice(1)) {
      const { id: _id, ...patch } = agent
      await expect(a.registry.update('x', patch as never), path).rejects.toEqual(invalid(path))
    }
    gossipAll([a, b])
    expect(b.registry.lookup('x')).toMatchObject({ capabilities: ['gpu'], metadata: { model: 'llama' } })
    expect(a.replica.local('reg').seq).toBe(1)
  })
})

describe('registry: reserved names', () => {
  it('agent ids __proto__, constructor and prototype are refused (ERR_RESERVED_NAME); toString is an ordinary id', async () => {
    const [a, b] = pair()
    for (const id of ['__proto__', 'constructor', 'prototype']) {
      await expect(a.registry.register({ id })).rejects.toEqual(reserved('id'))
      await expect(a.registry.registerMany([{ id }])).rejects.toEqual(reserved('id'))
    }
    await a.registry.register({ id: 'toString', capabilities: ['x'] })
    gossipAll([a, b])
    expect(b.registry.lookup('toString')?.host).toBe('A')
    expect(b.registry.lookup('constructor')).toBeUndefined()
  })

  it('a __proto__ key is refused in resources and anywhere in metadata; such an id written by a rogue host is not indexed elsewhere', async () => {
    const [a, b] = pair()
    await expect(a.registry.register({ id: 'r', resources: JSON.parse('{"__proto__": 1}') })).rejects.toEqual(reserved('resources.__proto__'))
    await expect(a.registry.register({ id: 'r', resources: { constructor: 1 } })).rejects.toEqual(reserved('resources.constructor'))
    await expect(a.registry.register({ id: 'm', metadata: JSON.parse('{"a": [{"__proto__": {"admin": true}}]}') })).rejects.toEqual(reserved('metadata.a.0.__proto__'))
    expect(a.registry.size).toBe(0)
    // A rogue host bypasses its own checks and writes the entries straight into its document.
    const blob = a.replica.transact('reg', (doc) => { doc.getMap('agents').set('constructor', { capabilities: ['x'], resources: {}, health: 'healthy', metadata: {}, updatedAt: 1 }) })
    b.replica.apply(blob!.bytes)
    expect(b.registry.lookup('constructor')).toBeUndefined()
    expect(b.registry.stats.invalidDescriptors).toBe(1)
  })
})

describe('eventual variables: values must replicate unchanged', () => {
  it('refuses lone surrogates in string values, keys and initial values (ERR_INVALID_VARIABLE); well-formed ones replicate exactly', async () => {
    const [a, b] = pair()
    const va = a.variables.eventual<unknown>('v', { initial: null, merge: 'lww' })
    const vb = b.variables.eventual<unknown>('v', { initial: null, merge: 'lww' })
    for (const bad of [`${LONE}`, [`ok`, `x${LONE}`], { [`k${LONE}`]: 1 }, { deep: { s: `\udfff` } }]) {
      await expect(va.set(bad), JSON.stringify(bad)).rejects.toMatchObject({ code: 'ERR_INVALID_VARIABLE' })
    }
    expect(() => a.variables.eventual('w', { initial: `${LONE}`, merge: 'lww' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_VARIABLE' }))
    await expect(va.set(JSON.parse('{"__proto__": {"polluted": true}}'))).rejects.toMatchObject({ code: 'ERR_RESERVED_NAME' })
    expect(a.replica.local('var').doc.getMap('vars').size).toBe(0)
    const good = { name: `${PAIR}gpu`, tags: [`\u00e9t\u00e9`, PAIR] }
    await va.set(good)
    a.outbox.splice(0).forEach(x => b.replica.apply(x.bytes))
    expect(vb.get()).toEqual(good)
    expect(JSON.stringify(vb.get())).toBe(JSON.stringify(va.get()))
  })
})
