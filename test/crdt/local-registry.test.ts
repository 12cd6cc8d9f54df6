import { describe, expect, it } from 'vitest'
import { createLocalRegistry } from '../../crdt/registry.js'
import { registrySuite } from './registry-suite.js'

registrySuite('local', async () => ({ registry: createLocalRegistry(), close: async () => {} }))

describe('local registry limits', () => {
  it('refuses agents beyond agentsPerHostMax and keeps the others', async () => {
    const r = createLocalRegistry({ limits: { agentsPerHostMax: 3 } })
    for (let i = 0; i < 3; i++) await r.register({ id: `a${i}` })
    await expect(r.register({ id: 'a3' })).rejects.toMatchObject({ code: 'ERR_LIMIT_EXCEEDED', details: { limit: 'agentsPerHostMax' } })
    expect(r.size).toBe(3)
  })

  it('random-healthy covers every candidate', async () => {
    let s = 1
    const r = createLocalRegistry({ random: () => { s = (s * 48271) % 2147483647; return s / 2147483647 } })
    for (let i = 0; i < 5; i++) await r.register({ id: `w${i}`, capabilities: ['w'] })
    const seen = new Set<string>()
    for (let i = 0; i < 200; i++) seen.add(r.lookupWith('w', 'random-healthy')!.id)
    expect(seen.size).toBe(5)
  })
})
