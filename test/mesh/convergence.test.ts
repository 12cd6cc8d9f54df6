/**
 * Real peers over TCP on loopback (libp2p, Noise, Yamux, gossipsub): convergence after concurrent writes,
 * a late joiner, a partition and its heal, variables.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createLiveMesh } from '../../sim/live.js'
import type { LiveMesh } from '../../sim/live.js'
import { createPeer } from '../../peers/peer.js'
import type { Peer } from '../../peers/peer.js'
import { FAST, registryView, waitConverged } from './helpers.js'

let mesh: LiveMesh | undefined
const extra: Peer[] = []
afterEach(async () => {
  await Promise.allSettled(extra.splice(0).map(async p => await p.stop()))
  await mesh?.stop()
  mesh = undefined
})

describe('mesh convergence over TCP', () => {
  it('5 peers converge after concurrent registers, updates and unregisters', async () => {
    mesh = await createLiveMesh({ peers: 5, ...FAST })
    await mesh.whenSynced()
    await Promise.all(mesh.peers.map(async (p, i) => {
      for (let k = 0; k < 20; k++) {
        await p.registry.register({ id: `p${i}-a${k}`, capabilities: k % 2 === 0 ? ['even'] : ['odd'], zone: `z${i}`, metadata: { k } })
      }
      for (let k = 0; k < 20; k += 5) await p.registry.update(`p${i}-a${k}`, { health: 'degraded', metadata: { k, touched: true } })
      await p.registry.unregister(`p${i}-a19`)
    }))
    const view = await waitConverged(mesh, { size: 5 * 19 })
    expect(view.filter(v => v.includes(':degraded:'))).toHaveLength(5 * 4)
    for (const p of mesh.peers) {
      expect(p.registry.query({ capability: 'even', zone: 'z3' }).agents).toHaveLength(10)
      expect(p.registry.lookup('p4-a19')).toBeUndefined()
      expect(p.stats().sync.gossipRejected).toBe(0)
    }
  })

  it('a late joiner receives the whole registry without new writes', async () => {
    mesh = await createLiveMesh({ peers: 3, ...FAST })
    await mesh.whenSynced()
    for (const [i, p] of mesh.peers.entries()) {
      for (let k = 0; k < 50; k++) await p.registry.register({ id: `early-${i}-${k}`, capabilities: ['x'] })
    }
    await waitConverged(mesh, { size: 150 })
    const late = await createPeer({ ...FAST, bootstrap: [mesh.peers[1]!.addresses()[0]!] })
    extra.push(late)
    await late.whenSynced({ timeoutMs: 20_000 })
    expect(late.registry.size).toBe(150)
    expect(registryView(late)).toEqual(registryView(mesh.peers[0]!))
    // It arrived by anti-entropy (a direct stream), not by gossip: nothing was written since.
    expect(late.stats().sync.syncBlobsReceived).toBeGreaterThan(0)
    expect(late.stats().sync.gossipApplied).toBe(0)
    const health = late.syncHealth().filter(h => h.connected)
    expect(health.length).toBeGreaterThan(0)
    expect(health.every(h => h.lastSyncAt !== undefined && h.lag === 0)).toBe(true)
  })

  it('partition 3|2: both sides write, stay apart, then converge after heal', async () => {
    mesh = await createLiveMesh({ peers: 5, ...FAST, heartbeatIntervalMs: 200, leaseMs: 2000, pruneAfterMs: 60_000 })
    await mesh.whenSynced()
    await mesh.peers[0]!.registry.register({ id: 'before', capabilities: ['c'] })
    await waitConverged(mesh, { size: 1 })
    await mesh.partition([[0, 1, 2], [3, 4]])
    for (const p of mesh.peers) {
      const side = mesh.peers.indexOf(p) < 3 ? [0, 1, 2] : [3, 4]
      expect(p.members().every(m => side.some(i => mesh!.peers[i]!.id === m))).toBe(true)
    }
    await mesh.peers[1]!.registry.register({ id: 'left-side', capabilities: ['c'] })
    await mesh.peers[0]!.registry.update('before', { health: 'unhealthy' })
    await mesh.peers[4]!.registry.register({ id: 'right-side', capabilities: ['c'] })
    await mesh.peers[3]!.registry.register({ id: 'right-side-2', capabilities: ['c'] })
    await waitConverged(mesh, { indexes: [0, 1, 2], size: 2 })
    await waitConverged(mesh, { indexes: [3, 4], size: 3 })
    // Neither side saw the other's writes.
    expect(mesh.peers[0]!.registry.lookup('right-side')).toBeUndefined()
    expect(mesh.peers[3]!.registry.lookup('left-side')).toBeUndefined()
    expect(mesh.peers[3]!.registry.lookup('before')?.health).toBe('healthy')
    // Registry ownership is per host: writes on both sides never conflict.
    await mesh.heal()
    const view = await waitConverged(mesh, { size: 4 })
    expect(view).toHaveLength(4)
    for (const p of mesh.peers) {
      expect(p.registry.lookup('before')?.health).toBe('unhealthy')
      expect(p.registry.lookup('left-side')).toBeDefined()
      expect(p.registry.lookup('right-side-2')).toBeDefined()
    }
  })

  it('eventual variables converge to the same value on every peer for every merge', async () => {
    mesh = await createLiveMesh({ peers: 4, ...FAST })
    await mesh.whenSynced()
    const vars = mesh.peers.map(p => ({
      lww: p.variables.eventual<string>('cfg.mode', { initial: 'idle', merge: 'lww' }),
      max: p.variables.eventual<number>('max.temp', { initial: 0, merge: 'max' }),
      min: p.variables.eventual<number>('min.lat', { initial: 1000, merge: 'min' }),
      counter: p.variables.eventual<number>('jobs.done', { initial: 0, merge: 'counter' }),
      avg: p.variables.eventual<number>('team.lr', { initial: 0.1, merge: 'weighted-average' }),
      custom: p.variables.eventual<string[]>('tags', {
        initial: [],
        merge: (cs) => [...new Set(cs.flatMap(c => c.value))].sort()
      })
    }))
    await Promise.all(vars.map(async (v, i) => {
      await v.lww.set(`mode-${i}`)
      await v.max.set(10 * (i + 1))
      await v.min.set(100 - i)
      for (let k = 0; k <= i; k++) await v.counter.add(1)
      await v.avg.set(0.1 * (i + 1), { weight: i + 1 })
      await v.custom.set([`t${i}`])
    }))
    await mesh.waitFor((_p, i) => {
      const v = vars[i]!
      return v.max.get() === 40 && v.min.get() === 97 && v.counter.get() === 10 && v.custom.get().length === 4 &&
        vars.every(o => o.lww.get() === vars[0]!.lww.get() && Math.abs(o.avg.get() - v.avg.get()) < 1e-12)
    }, { what: 'variables to converge' })
    // Weighted average: sum(w·v)/sum(w) = (0.1·1 + 0.2·2 + 0.3·3 + 0.4·4) / 10 = 0.3.
    expect(vars[2]!.avg.get()).toBeCloseTo(0.3, 10)
    expect(vars[1]!.custom.get()).toEqual(['t0', 't1', 't2', 't3'])
    expect(vars.map(v => v.lww.get()).every(x => /^mode-[0-3]$/.test(x))).toBe(true)
  })
})
