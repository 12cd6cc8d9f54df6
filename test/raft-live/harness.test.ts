/**
 * Raft in the live harness (TCP on loopback, data dirs on disk): the partitioned leader's write is
 * discarded; a concurrent client history with a partition and a leader kill is linearizable.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createLiveMesh } from '../../sim/live.js'
import type { LiveMesh } from '../../sim/live.js'
import { createRand } from '../../src/base/prng.js'
import { seedMessage, testSeed } from '../helpers/seed.js'
import { waitUntil } from '../helpers/wait.js'

let mesh: LiveMesh | undefined
const dirs: string[] = []
afterEach(async () => {
  await mesh?.stop()
  mesh = undefined
  await Promise.all(dirs.splice(0).map(async d => await rm(d, { recursive: true, force: true })))
})

async function tempDir (): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'agora-live-raft-'))
  dirs.push(d)
  return d
}

const RAFT = { tickMs: 20, electionTick: 10, proposalTimeoutMs: 1500 }

describe('raft in the live harness', () => {
  it('the leader cut off with a client writing to it: the majority commits, the old write never appears', async () => {
    mesh = await createLiveMesh({ peers: 5, logLevel: 'silent', heartbeatIntervalMs: 200, dataDir: await tempDir(), raft: { voters: 5, ...RAFT } })
    const m = mesh
    const old = await m.waitForLeader()
    await m.peers[old]!.variables.strong<string>('k').set('before')
    const seen: unknown[] = []
    for (const p of m.peers) p.variables.strong<string>('k').on('variable:changed', e => seen.push(e.value))
    const rest = [0, 1, 2, 3, 4].filter(i => i !== old)
    await m.partition([[old], rest])
    // The old leader still believes it leads for a moment: its write cannot commit.
    const stale = m.peers[old]!.variables.strong<string>('k').set('stale').then(() => 'committed', (err: { code?: string }) => err.code)
    let fresh: number | undefined
    await m.waitFor((_p, i) => {
      if (i !== rest[0]) return true
      const l = m.peers[i]!.raft!.status().leader
      fresh = m.peers.findIndex(p => p.id === l)
      return fresh >= 0 && fresh !== old
    }, { what: 'a new leader on the majority side' })
    await m.peers[rest[0]!]!.variables.strong<string>('k').set('after')
    expect(await stale).toBe('ERR_INDEFINITE')
    await m.heal()
    await m.waitFor((p) => p.raft!.status().applied >= m.peers[fresh!]!.raft!.status().commit && p.raft!.status().leader === m.peers[fresh!]!.id, { what: 'the old leader to catch up' })
    for (const p of m.peers) expect(await p.variables.strong<string>('k').get({ linearizable: false })).toBe('after')
    expect(seen).not.toContain('stale')
  })

  it('a concurrent history of reads, writes and CAS through a partition and a leader kill is linearizable', async () => {
    const seed = testSeed(20261123)
    mesh = await createLiveMesh({ peers: 5, logLevel: 'silent', heartbeatIntervalMs: 200, dataDir: await tempDir(), raft: { voters: 5, ...RAFT } })
    const m = mesh
    await m.waitForLeader()
    const rand = createRand(seed)
    let stop = false
    const keys = ['a', 'b', 'c']
    const clients = [0, 1, 2, 3, 4].map(i => ({ i, c: m.client(i), r: rand.fork() }))
    let counter = 0
    const workers = clients.map(async ({ i, c, r }) => {
      while (!stop) {
        if (!m.peers[i]!.started) { await waitUntil(() => stop || m.peers[i]!.started, { timeoutMs: 60_000, what: `peer ${i} to be restarted` }); continue }
        const key = keys[r.int(keys.length)]!
        const roll = r.int(10)
        if (roll < 4) await c.read(key)
        else if (roll < 7) await c.write(key, ++counter)
        else {
          const cur = await c.read(key)
          if (cur !== undefined) await c.cas(key, cur, ++counter)
        }
      }
    })
    try {
      const settle = async (): Promise<void> => { const n = m.history.length; await m.waitFor(() => m.history.length >= n + 15, { what: 'client progress' }) }
      await settle()
      const l1 = await m.waitForLeader()
      await m.partition([[l1, (l1 + 1) % 5], [0, 1, 2, 3, 4].filter(i => i !== l1 && i !== (l1 + 1) % 5)])
      await settle()
      await m.heal()
      const l2 = await m.waitForLeader()
      await m.crash(l2)
      await settle()
      await m.restart(l2)
      await m.waitForLeader()
      await settle()
    } finally {
      stop = true
      await Promise.all(workers)
    }
    const result = m.checkLinearizable()
    expect(result.result, `${seedMessage(seed)}\n${result.detail ?? ''}`).toBe('ok')
    expect(m.history.filter(h => h.output !== undefined).length).toBeGreaterThan(40)
  })
})

describe('raft membership in the live mesh', () => {
  it('a learner catches up by snapshot, then replaces a dead voter', async () => {
    mesh = await createLiveMesh({ peers: 4, logLevel: 'silent', heartbeatIntervalMs: 200, raft: { voters: 3, ...RAFT, snapshotEntries: 40 } })
    const m = mesh
    await m.waitForLeader()
    const newcomer = m.peers[3]!
    for (let k = 0; k < 120; k++) await m.peers[k % 3]!.variables.strong<number>('n').set(k)
    // The newcomer runs Raft without being a member yet; the leader adds it as a learner.
    await newcomer.startRaft({ ...RAFT, snapshotEntries: 40 })
    const l = m.leader()!
    await m.peers[l]!.raft!.addLearner(newcomer.id)
    await m.waitFor((p, i) => i !== 3 || (p.raft!.status().applied >= m.peers[l]!.raft!.status().commit), { what: 'the learner to catch up' })
    expect(newcomer.raft!.stats().snapshotsInstalled).toBeGreaterThan(0)
    expect(await newcomer.variables.strong<number>('n').get({ linearizable: false })).toBe(119)
    expect(newcomer.raft!.status().learners).toContain(newcomer.id)
    // A voter dies; the learner takes its place.
    const dead = [0, 1, 2].find(i => i !== l)!
    const deadId = m.peers[dead]!.id
    await m.crash(dead)
    await m.peers[l]!.raft!.replaceVoter(deadId, newcomer.id)
    const st = m.peers[l]!.raft!.status()
    expect(st.voters.sort()).toEqual([m.peers[l]!.id, m.peers[3 - l - dead]!.id, newcomer.id].sort())
    expect(st.learners).toEqual([])
    // The new group of three commits, with the newcomer voting.
    await newcomer.variables.strong<number>('n').set(1000)
    expect(await m.peers[l]!.variables.strong<number>('n').get()).toBe(1000)
  })
})
