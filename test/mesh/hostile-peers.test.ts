/**
 * Hostile peers on real libp2p peers over TCP (FEATURES O7): a rogue host that claims another host's agent
 * id, and a rogue host that floods its own document.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import type { ClassicLevel } from 'classic-level'
import { createLiveMesh } from '../../sim/live.js'
import type { LiveMesh } from '../../sim/live.js'
import { createPeer } from '../../peers/peer.js'
import type { Peer } from '../../peers/peer.js'
import type { DocStore } from '../../peers/doc-store.js'
import { FAST, waitConverged } from './helpers.js'
import { waitUntil } from '../helpers/wait.js'

let mesh: LiveMesh | undefined
const extra: Peer[] = []
const dirs: string[] = []
afterEach(async () => {
  await Promise.allSettled(extra.splice(0).map(async p => await p.stop()))
  await mesh?.stop()
  mesh = undefined
  await Promise.all(dirs.splice(0).map(async d => await rm(d, { recursive: true, force: true })))
})

/** What `peer` holds of `host`'s registry document: its Yjs state's size, and its bytes in the data dir. */
async function heldBytes (peer: Peer, host: string): Promise<{ state: number, disk: number }> {
  const d = peer.replica.get('reg', host)
  const state = d === undefined ? 0 : Y.encodeStateAsUpdate(d.doc).length
  const internals = peer as unknown as { store: DocStore, db: ClassicLevel<string, Uint8Array> }
  await internals.store.flush()
  let disk = 0
  for await (const [k, v] of internals.db.iterator({ gte: `doc/reg/${host}/`, lt: `doc/reg/${host}/~` })) disk += k.length + v.length
  return { state, disk }
}

describe('agent-id hijack', () => {
  it('the reported break: a later claimant whose peer id sorts first does not take the name, on any peer', async () => {
    mesh = await createLiveMesh({ peers: 3, ...FAST })
    await mesh.whenSynced()
    // The rogue is the peer whose id sorts first (as a ground key would), the victim the last one.
    const [rogue, honest, victim] = [...mesh.peers].sort((x, y) => x.id < y.id ? -1 : 1) as [Peer, Peer, Peer]
    await victim.registry.register({ id: 'gpu-1', capabilities: ['gpu'], metadata: { owner: 'victim' } })
    await waitConverged(mesh, { size: 1 })
    const contested = new Map<string, string>()
    for (const p of mesh.peers) p.registry.on('agent:contested', (e) => { if (e.id === 'gpu-1') contested.set(p.id, e.winner.host) })
    // Later, the rogue writes the victim's agent id into its own signed document and gossips it.
    // (At least a millisecond after the victim's claim: a claim in the same millisecond would be a tie.)
    const now = Math.max(Date.now(), victim.registry.lookup('gpu-1')!.claimedAt! + 1)
    const blob = rogue.replica.transact('reg', (doc) => {
      doc.getMap('agents').set('gpu-1', { capabilities: ['gpu'], resources: {}, health: 'healthy', metadata: { owner: 'rogue' }, updatedAt: now, claimedAt: now })
    })!
    rogue.sync.publish(blob)
    await mesh.waitFor((p) => (p.replica.entry('reg', rogue.id)?.seq ?? 0) >= blob.seq, { what: 'the rogue\'s claim to reach every peer' })
    for (const p of [rogue, honest, victim]) {
      expect(p.registry.lookup('gpu-1')?.host).toBe(victim.id)
      expect(p.registry.lookup('gpu-1')?.metadata).toEqual({ owner: 'victim' })
      expect(p.registry.query({ capability: 'gpu' }).agents.map(a => [a.host, a.contested])).toEqual([[victim.id, true]])
      expect(p.stats().registry.contested).toBe(1)
    }
    expect(contested).toEqual(new Map([rogue, honest, victim].map(p => [p.id, victim.id])))
  })
})

describe('per-host document quota', () => {
  it('a rogue host gossiping large updates of its own document fast: the victim keeps under the quota, reports it, and honest hosts converge', async () => {
    const QUOTA = 4 * 1024 * 1024
    const limits = { docBytesMax: QUOTA, hostUpdateBytesPerSecondMax: 1024 * 1024, hostUpdateBytesBurstMax: QUOTA }
    const dir = await mkdtemp(join(tmpdir(), 'agora-quota-'))
    dirs.push(dir)
    mesh = await createLiveMesh({ peers: 2, ...FAST, dataDir: dir, limits })
    await mesh.whenSynced()
    const [victim, honest] = mesh.peers as [Peer, Peer]
    // The rogue runs with the default limits (its own writes are not the victim's business).
    const rogue = await createPeer({ ...FAST, bootstrap: [victim.addresses()[0]!] })
    extra.push(rogue)
    await rogue.registry.register({ id: 'rogue-agent', capabilities: ['x'] })
    await mesh.waitFor((p) => p.registry.lookup('rogue-agent') !== undefined, { what: 'the rogue\'s agent everywhere' })
    const rejected: Array<{ reason: string, host: string | undefined }> = []
    victim.on('update:rejected', (e) => rejected.push({ reason: e.reason, host: e.host }))
    // 24 updates of ~0.9 MiB each, as fast as the rogue can sign them: ~21 MiB against a 4 MiB quota.
    let last = 0
    for (let i = 0; i < 24; i++) {
      const junk = randomBytes(675 * 1024).toString('base64')
      const blob = rogue.replica.transact('reg', (doc) => { doc.getMap('junk').set(`k${i}`, junk) })!
      rogue.sync.publish(blob)
      last = blob.seq
    }
    // Honest hosts go on writing and converging meanwhile.
    for (let k = 0; k < 10; k++) await honest.registry.register({ id: `h${k}`, capabilities: ['x'] })
    await waitUntilFloodHandled(victim, rogue.id, last)
    await mesh.waitFor((p) => p.registry.query({ capability: 'x' }).agents.length === 11, { what: 'honest agents everywhere' })
    for (const p of mesh.peers) {
      const held = await heldBytes(p, rogue.id)
      expect(held.state).toBeLessThanOrEqual(QUOTA)
      expect(held.disk).toBeLessThanOrEqual(QUOTA)
      expect(p.replica.docBytes('reg', rogue.id)).toBeLessThanOrEqual(QUOTA)
    }
    // Counted, reported with a reason, and shown as the host's status.
    const s = victim.stats()
    expect(s.replica.rejected['doc-quota'] + s.replica.rejected['rate-quota']).toBeGreaterThan(0)
    expect(s.sync.gossipOverQuota + s.sync.syncOverQuota).toBeGreaterThan(0)
    expect(rejected.length).toBeGreaterThan(0)
    for (const r of rejected) expect(r).toMatchObject({ host: rogue.id })
    expect(rejected.map(r => r.reason)).toContain('doc-quota')
    expect(victim.hostStatus(rogue.id)).toMatchObject({ host: rogue.id, overQuota: true })
    expect(victim.hostStatus(honest.id)).toMatchObject({ host: honest.id, overQuota: false })
    expect(victim.syncHealth().find(h => h.peerId === rogue.id)).toMatchObject({ overQuota: true })
    expect(victim.syncHealth().find(h => h.peerId === honest.id)).toMatchObject({ overQuota: false })
    const q = victim.registry.query({ capability: 'x' })
    expect(q.freshness.overQuotaHosts).toBe(1)
    expect(q.agents.find(a => a.id === 'rogue-agent')?.freshness.hostOverQuota).toBe(true)
    expect(q.agents.find(a => a.id === 'h0')?.freshness.hostOverQuota).toBe(false)
  })
})

/** Until the victim holds the whole flood (without a quota) or has refused some of it. */
async function waitUntilFloodHandled (victim: Peer, host: string, lastSeq: number): Promise<void> {
  await waitUntil(() => {
    const st = victim.stats().replica.rejected as Record<string, number | undefined>
    return (victim.replica.entry('reg', host)?.seq ?? 0) >= lastSeq || ((st['doc-quota'] ?? 0) + (st['rate-quota'] ?? 0)) > 0
  }, { what: 'the victim to handle the rogue\'s flood', timeoutMs: 30_000 })
}
