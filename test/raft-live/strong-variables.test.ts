/** Strong variables (V2) on a 3-voter Raft group of real peers over TCP. */
import { afterEach, describe, expect, it } from 'vitest'
import { createLiveMesh } from '../../sim/live.js'
import type { LiveMesh } from '../../sim/live.js'
import type { Peer } from '../../peers/peer.js'

let mesh: LiveMesh | undefined
afterEach(async () => { await mesh?.stop(); mesh = undefined })

const RAFT = { tickMs: 20, electionTick: 10 }

async function raftMesh (n: number, voters = n): Promise<LiveMesh> {
  const m = await createLiveMesh({ peers: n, logLevel: 'silent', heartbeatIntervalMs: 200 })
  const ids = m.peers.slice(0, voters).map(p => p.id)
  for (const p of m.peers.slice(0, voters)) await p.startRaft({ voters: ids, ...RAFT })
  await m.waitFor((p, i) => i >= voters || p.raft?.status().leader !== undefined, { what: 'a known leader' })
  return m
}

const leader = (m: LiveMesh): Peer | undefined => m.peers.find(p => p.started && p.raft?.status().role === 'leader')

describe('strong variables', () => {
  it('set on one peer is read linearizably on every other; status agrees on the leader', async () => {
    mesh = await raftMesh(3)
    const statuses = mesh.peers.map(p => p.raft!.status())
    expect(new Set(statuses.map(s => s.leader)).size).toBe(1)
    expect(statuses[0]!.voters.sort()).toEqual(mesh.peers.map(p => p.id).sort())
    const [a, b, c] = mesh.peers as [Peer, Peer, Peer]
    const va = a.variables.strong<{ mode: string, level: number }>('cfg', { initial: { mode: 'idle', level: 0 } })
    expect(await va.get()).toEqual({ mode: 'idle', level: 0 })
    const changes: unknown[] = []
    c.variables.strong('cfg').on('variable:changed', e => changes.push(e.value))
    await va.set({ mode: 'run', level: 2 })
    // Linearizable: the write completed before this read started, so every peer must return it.
    expect(await b.variables.strong('cfg').get()).toEqual({ mode: 'run', level: 2 })
    expect(await c.variables.strong('cfg').get()).toEqual({ mode: 'run', level: 2 })
    expect(changes).toEqual([{ mode: 'run', level: 2 }])
    // compareAndSet compares deep JSON values (key order does not matter).
    expect(await b.variables.strong('cfg').compareAndSet({ level: 2, mode: 'run' }, { mode: 'stop', level: 0 })).toBe(true)
    expect(await c.variables.strong('cfg').compareAndSet({ mode: 'run', level: 2 }, { mode: 'x', level: 9 })).toBe(false)
    expect(await a.variables.strong('cfg').get({ linearizable: true })).toEqual({ mode: 'stop', level: 0 })
  })

  it('concurrent compare-and-set increments from all peers lose no update', async () => {
    mesh = await raftMesh(3)
    const per = 8
    await Promise.all(mesh.peers.map(async (p) => {
      const v = p.variables.strong<number>('counter', { initial: 0 })
      for (let k = 0; k < per; k++) {
        for (let attempt = 0; attempt < 100; attempt++) {
          const cur = await v.get()
          if (await v.compareAndSet(cur, cur + 1)) break
        }
      }
    }))
    expect(await mesh.peers[1]!.variables.strong<number>('counter', { initial: 0 }).get()).toBe(3 * per)
  })

  it('a peer outside the group reads and writes through a member; alone, it gets NoRaftError', async () => {
    mesh = await raftMesh(4, 3)
    const outsider = mesh.peers[3]!
    expect(outsider.raft).toBeUndefined()
    const v = outsider.variables.strong<number>('shared', { initial: 0 })
    await v.set(41)
    expect(await mesh.peers[0]!.variables.strong<number>('shared').get()).toBe(41)
    expect(await v.compareAndSet(41, 42)).toBe(true)
    expect(await v.compareAndSet(41, 43)).toBe(false)
    await mesh.peers[1]!.variables.strong<number>('shared').set(50)
    expect(await v.get()).toBe(50)
    const { createPeer } = await import('../../peers/peer.js')
    const alone = await createPeer({ logLevel: 'silent' })
    try {
      await expect(alone.variables.strong('x').set(1)).rejects.toMatchObject({ code: 'ERR_NO_RAFT' })
    } finally {
      await alone.stop()
    }
  })

  it('bad values get named errors; the group survives its leader', async () => {
    mesh = await raftMesh(4, 3)
    const outsider = mesh.peers[3]!
    const v = mesh.peers[0]!.variables.strong<unknown>('x')
    await expect(v.set(10n)).rejects.toMatchObject({ code: 'ERR_INVALID_VARIABLE' })
    await expect(v.set('y'.repeat(70_000))).rejects.toMatchObject({ code: 'ERR_LIMIT_EXCEEDED' })
    const circular: Record<string, unknown> = {}
    circular.self = circular
    await expect(v.set(circular)).rejects.toMatchObject({ code: 'ERR_INVALID_VARIABLE' })
    expect(() => mesh!.peers[0]!.variables.strong('bad name!')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_VARIABLE' }))
    await v.set('before')
    const old = leader(mesh)!
    await old.stop()
    const survivor = mesh.peers.find(p => p !== old && p !== outsider)!
    await mesh.waitFor((p) => p === old || p === outsider || (p.raft!.status().leader !== undefined && p.raft!.status().leader !== old.id), { what: 'a new leader' })
    await survivor.variables.strong('x').set('after')
    expect(await survivor.variables.strong('x').get()).toBe('after')
  })
})
