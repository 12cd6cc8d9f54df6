/**
 * The mesh health report over TCP (FEATURES I3): a 3|2 partition of five real peers is reported as a
 * suspected partition on both sides within 3 heartbeat periods (each side sees the other as one group),
 * with the Raft leader and quorum on the majority side; the `partition` alert is raised on every peer and
 * cleared after the heal.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createLiveMesh } from '../../sim/live.js'
import type { LiveMesh } from '../../sim/live.js'
import type { AlertCleared, AlertRaised } from '../../peers/health/alerts.js'
import { encodeView, viewTopic } from '../../peers/health/view.js'
import { VIEW_QUOTA_BURST } from '../../peers/health/views.js'
import { waitUntil } from '../helpers/wait.js'

const HEARTBEAT_MS = 500

let mesh: LiveMesh | undefined
afterEach(async () => {
  await mesh?.stop()
  mesh = undefined
})

describe('mesh health report over TCP', () => {
  it('a 3|2 partition is suspected on both sides within 3 heartbeat periods, each side grouped; the alert is raised and cleared', async () => {
    mesh = await createLiveMesh({
      peers: 5,
      heartbeatIntervalMs: HEARTBEAT_MS,
      logLevel: 'silent',
      dht: false,
      raft: { voters: 3 },
      alerts: { clearAfterMs: 200 }
    })
    const m = mesh
    const ids = m.peers.map(p => p.id)
    const leader = await m.waitForLeader({ timeoutMs: 30_000 })
    // Every peer hears every other: all five reachable, no partition.
    await m.waitFor((p) => { const h = p.health(); return h.peers.known === 5 && h.peers.reachable === 5 && h.partitions.length === 0 }, { what: 'every peer to reach the four others', timeoutMs: 30_000 })
    for (const [i, p] of m.peers.entries()) {
      const h = p.health()
      expect(h.peerId).toBe(p.id)
      expect(h.hosts.map(x => x.peerId).sort()).toEqual([...ids].sort())
      if (i < 3) {
        expect(h.raft?.leader).toBe(ids[leader])
        expect(h.raft?.quorum).toEqual({ voters: 3, needed: 2, reachable: 3, ok: true })
        expect(h.raft?.members.map(x => x.peerId).sort()).toEqual(ids.slice(0, 3).sort())
      } else {
        expect(h.raft).toBeNull()
      }
    }
    // On the leader, every voter's match is known and its lag is small.
    const onLeader = m.peers[leader]!.health().raft!
    expect(onLeader.role).toBe('leader')
    for (const v of onLeader.members) expect(v.match).not.toBeNull()

    const raised: Array<AlertRaised & { peer: number }> = []
    const cleared: Array<AlertCleared & { peer: number }> = []
    m.peers.forEach((p, i) => {
      p.on('alert:raised', (a) => { raised.push({ ...a, peer: i }) })
      p.on('alert:cleared', (a) => { cleared.push({ ...a, peer: i }) })
    })

    const sideA = [0, 1, 2]
    const sideB = [3, 4]
    const expected = (i: number): string[] => (sideA.includes(i) ? sideB : sideA).map(k => ids[k]!).sort()
    const detectedAt: Array<number | undefined> = [undefined, undefined, undefined, undefined, undefined]
    const t0 = Date.now()
    await m.partition([sideA, sideB])
    // Each peer: exactly one suspected partition, the other side's peers.
    await waitUntil(() => {
      m.peers.forEach((p, i) => {
        if (detectedAt[i] !== undefined) return
        const parts = p.health().partitions
        if (parts.length === 1 && JSON.stringify(parts[0]!.peers) === JSON.stringify(expected(i))) detectedAt[i] = Date.now()
      })
      return detectedAt.every(t => t !== undefined)
    }, { what: 'both sides to suspect the other as one group', timeoutMs: 20_000, intervalMs: 5 })
    const worstMs = Math.max(...detectedAt.map(t => t! - t0))
    expect(worstMs).toBeLessThanOrEqual(3 * HEARTBEAT_MS)

    // The majority side keeps its leader and quorum; the minority (Raft clients) reports no Raft. (Read
    // once every peer reaches its own side: on a loaded machine a peer of the same side may look silent a
    // moment.)
    await m.waitFor((p, i) => p.health().peers.reachable === (sideA.includes(i) ? 3 : 2), { what: 'each side to reach itself', timeoutMs: 10_000 })
    for (const i of sideA) {
      const h = m.peers[i]!.health()
      expect(h.status).toBe('degraded')
      expect(h.reasons.map(r => r.name)).toContain('partition')
      expect(h.peers.reachable).toBe(3)
      expect(h.peers.suspected + h.peers.unreachable).toBe(2)
      expect(h.raft?.leader).toBe(ids[leader])
      expect(h.raft?.quorum.ok).toBe(true)
    }
    for (const i of sideB) {
      const h = m.peers[i]!.health()
      expect(h.status).toBe('degraded')
      expect(h.peers.reachable).toBe(2)
      expect(h.partitions[0]!.peers).toHaveLength(3)
      expect(h.raft).toBeNull()
    }
    await waitUntil(() => sideA.concat(sideB).every(i => raised.some(a => a.peer === i && a.name === 'partition')), { what: 'the partition alert on every peer', timeoutMs: 10_000 })
    expect(raised.find(a => a.name === 'partition')?.severity).toBe('degraded')

    await m.heal()
    await m.waitFor((p) => { const h = p.health(); return h.peers.reachable === 5 && h.partitions.length === 0 }, { what: 'every peer to reach the four others again', timeoutMs: 30_000 })
    await waitUntil(() => sideA.concat(sideB).every(i => cleared.some(a => a.peer === i && a.name === 'partition')), { what: 'the partition alert to clear on every peer', timeoutMs: 10_000 })
    for (const p of m.peers) expect(p.monitor.alerts().map(a => a.name)).not.toContain('partition')
  }, 90_000)

  it('views from the network: malformed ones rejected and counted, floods over the sender\'s quota ignored and counted, genuine ones kept', async () => {
    mesh = await createLiveMesh({ peers: 2, heartbeatIntervalMs: 200, logLevel: 'silent', dht: false })
    const [a, b] = mesh.peers as [typeof mesh.peers[0], typeof mesh.peers[0]]
    await mesh.whenSynced()
    // b's own view (empty) reaches a: published at b's first evaluation.
    await waitUntil(() => a.monitor.views.get(b.id), { what: 'b\'s view at a', timeoutMs: 10_000 })
    const topic = viewTopic('agora')
    const pub = async (bytes: Uint8Array): Promise<void> => { await b.sealed.publish(topic, bytes).catch(() => {}) }
    const rejected = a.monitor.views.stats.viewsRejected
    await pub(Uint8Array.of(5, 1, 0, 0, 0, 40))
    await pub(Uint8Array.of(9, 9, 9))
    await waitUntil(() => a.monitor.views.stats.viewsRejected >= rejected + 2, { what: 'the malformed views to be rejected', timeoutMs: 10_000 })
    // A burst of well-formed views beyond the quota (b's own monitor stopped, so only these are sent):
    // the excess is ignored and counted.
    await b.monitor.stop()
    const base = Date.now()
    for (let k = 0; k < VIEW_QUOTA_BURST + 6; k++) await pub(encodeView({ sentAtMs: base + k, reached: 1, silentTotal: 1, silent: [a.id] }))
    await waitUntil(() => a.monitor.views.stats.viewsOverQuota >= 1, { what: 'views over the quota to be counted', timeoutMs: 10_000 })
    // One that got through says b finds a silent; a keeps the latest accepted.
    expect(a.monitor.views.get(b.id)?.silent.has(a.id)).toBe(true)
    expect(a.health().status).toBe('ok')
  }, 60_000)
})
