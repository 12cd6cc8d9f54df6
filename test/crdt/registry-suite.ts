/**
 * The registry API and query semantics, run against every backend (R8): the local registry and the
 * mesh registry of a live peer.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { Registry } from '../../crdt/registry.js'

export interface SuiteBackend {
  registry: Registry
  close: () => Promise<void>
}

export function registrySuite (name: string, make: () => Promise<SuiteBackend>): void {
  describe(`registry API (${name})`, () => {
    let b: SuiteBackend
    let r: Registry
    beforeEach(async () => {
      b = await make()
      r = b.registry
    })
    afterEach(async () => { await b.close() })

    it('registers, looks up, updates and unregisters an agent', async () => {
      const joined: string[] = []
      const updated: string[] = []
      const left: string[] = []
      r.on('agent:joined', e => joined.push(e.agent.id))
      r.on('agent:updated', e => updated.push(e.agent.id))
      r.on('agent:left', e => left.push(e.agent.id))
      const a = await r.register({ id: 'a1', capabilities: ['gpu', 'llm'], zone: 'eu', resources: { cpu: 4, gpu: 1 }, metadata: { model: 'x' } })
      expect(a.host).toBe(r.hostId)
      expect(a.health).toBe('healthy')
      expect(a.status).toBe('reachable')
      expect(r.lookup('a1')?.capabilities).toEqual(['gpu', 'llm'])
      expect(r.size).toBe(1)
      const u = await r.update('a1', { health: 'degraded', load: 0.5 })
      expect(u.health).toBe('degraded')
      expect(u.capabilities).toEqual(['gpu', 'llm'])
      expect(r.lookup('a1')?.load).toBe(0.5)
      expect(await r.unregister('a1')).toBe(true)
      expect(r.lookup('a1')).toBeUndefined()
      expect(await r.unregister('a1')).toBe(false)
      expect(joined).toEqual(['a1'])
      expect(updated).toEqual(['a1'])
      expect(left).toEqual(['a1'])
      expect(r.size).toBe(0)
    })

    it('registerMany writes all agents or none', async () => {
      await r.register({ id: 'pre' })
      const many = Array.from({ length: 2500 }, (_, i) => ({ id: `m${i}`, capabilities: [i % 2 === 0 ? 'even' : 'odd'], resources: { slot: i } }))
      await expect(r.registerMany([...many.slice(0, 10), { id: 'pre' }])).rejects.toMatchObject({ code: 'ERR_AGENT_EXISTS' })
      await expect(r.registerMany([{ id: 'x1' }, { id: 'x1' }])).rejects.toMatchObject({ code: 'ERR_AGENT_EXISTS' })
      await expect(r.registerMany([{ id: 'x2' }, { id: 'bad id with spaces' }])).rejects.toMatchObject({ code: 'ERR_INVALID_DESCRIPTOR' })
      expect(r.size).toBe(1)
      const views = await r.registerMany(many)
      expect(views).toHaveLength(2500)
      expect(r.size).toBe(2501)
      expect(r.query({ capability: 'even', limit: 1000 }).agents).toHaveLength(1000)
      expect(r.lookup('m2499')?.resources).toEqual({ slot: 2499 })
    })

    it('rejects a duplicate id, unknown agents and bad descriptors with named errors', async () => {
      await r.register({ id: 'dup', capabilities: ['x'] })
      await expect(r.register({ id: 'dup' })).rejects.toMatchObject({ code: 'ERR_AGENT_EXISTS' })
      await expect(r.update('nope', { health: 'healthy' })).rejects.toMatchObject({ code: 'ERR_AGENT_NOT_FOUND' })
      await expect(r.register({ id: '' })).rejects.toMatchObject({ code: 'ERR_INVALID_DESCRIPTOR', details: { path: 'id' } })
      await expect(r.register({ id: 'b', capabilities: 'gpu' as unknown as string[] })).rejects.toMatchObject({ code: 'ERR_INVALID_DESCRIPTOR', details: { path: 'capabilities' } })
      await expect(r.register({ id: 'b', health: 'great' as 'healthy' })).rejects.toMatchObject({ details: { path: 'health' } })
      await expect(r.register({ id: 'b', resources: { cpu: Number.NaN } })).rejects.toMatchObject({ details: { path: 'resources.cpu' } })
      await expect(r.register({ id: 'b', metadata: { blob: 'x'.repeat(10_000) } })).rejects.toMatchObject({ code: 'ERR_INVALID_DESCRIPTOR' })
      await expect(r.update('dup', { id: 'z' } as never)).rejects.toMatchObject({ details: { path: 'id' } })
      await expect(r.update('dup', { colour: 'red' } as never)).rejects.toMatchObject({ details: { path: 'colour' } })
      // Nothing stored was lost.
      expect(r.lookup('dup')?.capabilities).toEqual(['x'])
      expect(r.size).toBe(1)
    })

    describe('queries', () => {
      beforeEach(async () => {
        await r.register({ id: 'g1', capabilities: ['gpu', 'llm'], zone: 'eu', resources: { gpu: 2, cpu: 8 }, load: 0.9, metadata: { model: 'a', tier: 1 } })
        await r.register({ id: 'g2', capabilities: ['gpu'], zone: 'us', resources: { gpu: 1, cpu: 4 }, load: 0.1, metadata: { model: 'b', tier: 2 } })
        await r.register({ id: 'g3', capabilities: ['gpu'], zone: 'eu', resources: { gpu: 4, cpu: 16 }, health: 'degraded', load: 0.2, metadata: { tier: 3 } })
        await r.register({ id: 'c1', capabilities: ['cpu'], zone: 'eu', resources: { cpu: 2 }, load: 0.3 })
      })

      const ids = (res: { agents: { id: string }[] }): string[] => res.agents.map(a => a.id).sort()

      it('by capability, health, host and zone', () => {
        expect(ids(r.query({ capability: 'gpu' }))).toEqual(['g1', 'g2', 'g3'])
        expect(ids(r.query({ capability: ['gpu', 'llm'] }))).toEqual(['g1'])
        expect(ids(r.query({ capability: 'gpu', zone: 'eu' }))).toEqual(['g1', 'g3'])
        expect(ids(r.query({ health: 'degraded' }))).toEqual(['g3'])
        expect(ids(r.query({ health: ['healthy', 'degraded'], zone: 'eu' }))).toEqual(['c1', 'g1', 'g3'])
        expect(ids(r.query({ host: r.hostId }))).toEqual(['c1', 'g1', 'g2', 'g3'])
        expect(ids(r.query({ host: 'someone-else' }))).toEqual([])
        expect(ids(r.query({ capability: 'tpu' }))).toEqual([])
        expect(r.find('gpu').length).toBe(3)
      })

      it('where criteria with every operator, AND-combined', () => {
        expect(ids(r.query({ where: [['resources.gpu', 'gte', 2]] }))).toEqual(['g1', 'g3'])
        expect(ids(r.query({ where: [['resources.gpu', 'gt', 2]] }))).toEqual(['g3'])
        expect(ids(r.query({ where: [['resources.cpu', 'lt', 8]] }))).toEqual(['c1', 'g2'])
        expect(ids(r.query({ where: [['resources.cpu', 'lte', 8]] }))).toEqual(['c1', 'g1', 'g2'])
        expect(ids(r.query({ where: [['zone', 'eq', 'us']] }))).toEqual(['g2'])
        expect(ids(r.query({ where: [['zone', 'neq', 'us']] }))).toEqual(['c1', 'g1', 'g3'])
        expect(ids(r.query({ where: [['metadata.model', 'in', ['a', 'b']]] }))).toEqual(['g1', 'g2'])
        expect(ids(r.query({ where: [['metadata.model', 'notIn', ['a']]] }))).toEqual(['c1', 'g2', 'g3'])
        expect(ids(r.query({ where: [['metadata.model', 'exists']] }))).toEqual(['g1', 'g2'])
        expect(ids(r.query({ where: [['metadata.model', 'exists', false]] }))).toEqual(['c1', 'g3'])
        // Capability lists match by membership.
        expect(ids(r.query({ where: [['capabilities', 'eq', 'llm']] }))).toEqual(['g1'])
        expect(ids(r.query({ where: [['capabilities', 'in', ['llm', 'cpu']]] }))).toEqual(['c1', 'g1'])
        expect(ids(r.query({ where: [['capabilities', 'notIn', ['gpu']]] }))).toEqual(['c1'])
        // AND of several clauses and indexed criteria.
        expect(ids(r.query({ capability: 'gpu', zone: 'eu', where: [['resources.gpu', 'gt', 1], ['health', 'eq', 'healthy']] }))).toEqual(['g1'])
        // Type mismatch never matches a comparison.
        expect(ids(r.query({ where: [['zone', 'gt', 5]] }))).toEqual([])
      })

      it('limit and orderBy', () => {
        const byLoad = r.query({ capability: 'gpu', orderBy: 'load' })
        expect(byLoad.agents.map(a => a.id)).toEqual(['g2', 'g3', 'g1'])
        const desc = r.query({ orderBy: { path: 'resources.cpu', desc: true }, limit: 2 })
        expect(desc.agents.map(a => a.id)).toEqual(['g3', 'g1'])
        expect(desc.truncated).toBe(true)
        const lim = r.query({ capability: 'gpu', limit: 1 })
        expect(lim.agents.length).toBe(1)
        expect(lim.truncated).toBe(true)
        expect(r.query({ capability: 'gpu', limit: 3 }).truncated).toBe(false)
        expect(lim.freshness.asOf).toBeGreaterThan(0)
      })

      it('invalid queries get InvalidQueryError naming the part', () => {
        expect(() => r.query({ where: [['zone', 'like' as 'eq', 'x']] })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_QUERY', details: { path: 'where.0.1' } }))
        expect(() => r.query({ where: [['colour', 'eq', 'x']] })).toThrow(expect.objectContaining({ details: { path: 'where.0.0' } }))
        expect(() => r.query({ where: [['zone', 'in', 'eu']] })).toThrow(expect.objectContaining({ details: { path: 'where.0.2' } }))
        expect(() => r.query({ limit: 0 })).toThrow(expect.objectContaining({ details: { path: 'limit' } }))
        expect(() => r.query({ capabilty: 'gpu' } as never)).toThrow(expect.objectContaining({ details: { path: 'capabilty' } }))
        expect(() => r.query({ health: 'fine' as 'healthy' })).toThrow(expect.objectContaining({ details: { path: 'health' } }))
      })

      it('lookup with a strategy picks healthy agents only', () => {
        expect(r.lookupWith('gpu', 'least-loaded')?.id).toBe('g2')
        expect(['g1', 'g2']).toContain(r.lookupWith('gpu', 'random-healthy')?.id)
        expect(['g1', 'g2']).toContain(r.lookupWith('gpu', 'nearest-healthy')?.id)
        expect(r.lookupWith('tpu', 'least-loaded')).toBeUndefined()
        expect(() => r.lookupWith('gpu', 'fastest' as 'least-loaded')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_QUERY' }))
      })
    })
  })
}
