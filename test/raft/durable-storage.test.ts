/** Durable Raft storage on a real LevelDB in a temp dir: what save() acknowledged survives a reopen. */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { ClassicLevel } from 'classic-level'
import { DurableRaftStorage, decodeHardState, encodeEntry } from '../../peers/raft/storage.js'
import { waitUntil } from '../helpers/wait.js'
import type { Entry } from '../../protocols/raft/types.js'
import { createRand } from '../../src/base/prng.js'

const dirs: string[] = []
const dbs: Array<ClassicLevel<string, Uint8Array>> = []
afterEach(async () => {
  for (const db of dbs.splice(0)) if (db.status === 'open') await db.close()
  await Promise.all(dirs.splice(0).map(async d => await rm(d, { recursive: true, force: true })))
})

async function openDb (dir?: string): Promise<{ dir: string, db: ClassicLevel<string, Uint8Array> }> {
  const d = dir ?? await mkdtemp(join(tmpdir(), 'agora-raft-'))
  if (dir === undefined) dirs.push(d)
  const db = new ClassicLevel<string, Uint8Array>(d, { keyEncoding: 'utf8', valueEncoding: 'view' })
  await db.open()
  dbs.push(db)
  return { dir: d, db }
}

const ent = (index: number, term: number, text = `e${index}`): Entry => ({ index, term, type: 'normal', data: new TextEncoder().encode(text) })

async function reopen (dir: string, db: ClassicLevel<string, Uint8Array>): Promise<DurableRaftStorage> {
  await db.close()
  const again = await openDb(dir)
  return await DurableRaftStorage.open(again.db)
}

describe('durable raft storage', () => {
  it('restores hard state and log after a reopen, including a truncated suffix', async () => {
    const { dir, db } = await openDb()
    const s = await DurableRaftStorage.open(db)
    await s.save({ hardState: { term: 1, vote: 2, commit: 0 }, entries: [ent(1, 1), ent(2, 1), ent(3, 1), ent(4, 1)], mustSync: true })
    // A new leader overwrites 3..4 with a shorter suffix of term 2.
    await s.save({ hardState: { term: 2, vote: 3, commit: 2 }, entries: [ent(3, 2, 'new3')], mustSync: true })
    expect(s.memory.lastIndex()).toBe(3)
    const r = await reopen(dir, db)
    expect(r.memory.initialState().hardState).toEqual({ term: 2, vote: 3, commit: 2 })
    expect(r.memory.lastIndex()).toBe(3)
    expect(r.memory.entries(1, 4, Infinity).map(e => `${e.index}/${e.term}/${new TextDecoder().decode(e.data)}`)).toEqual(['1/1/e1', '2/1/e2', '3/2/new3'])
  })

  it('an installed snapshot replaces the log; compaction drops entries on disk', async () => {
    const { dir, db } = await openDb()
    const s = await DurableRaftStorage.open(db)
    await s.save({ hardState: { term: 1, vote: 1, commit: 3 }, entries: [1, 2, 3, 4, 5].map(i => ent(i, 1)), mustSync: true })
    await s.snapshotAndCompact(3, { voters: [1, 2, 3], learners: [] }, new Uint8Array([7]))
    expect(s.memory.firstIndex()).toBe(4)
    let r = await reopen(dir, (dbs[dbs.length - 1])!)
    expect(r.memory.firstIndex()).toBe(4)
    expect(r.memory.lastIndex()).toBe(5)
    expect(r.memory.snapshot().metadata).toEqual({ index: 3, term: 1, confState: { voters: [1, 2, 3], learners: [] } })
    // A leader sends a newer snapshot: the whole log is replaced atomically.
    await r.save({ hardState: { term: 3, vote: 0, commit: 20 }, entries: [], snapshot: { metadata: { index: 20, term: 3, confState: { voters: [1, 2, 3], learners: [4] } }, data: new Uint8Array([9, 9]) }, mustSync: true })
    await r.save({ entries: [ent(21, 3)], mustSync: true })
    r = await reopen(dir, (dbs[dbs.length - 1])!)
    expect(r.memory.firstIndex()).toBe(21)
    expect(r.memory.lastIndex()).toBe(21)
    expect(r.memory.snapshot().data).toEqual(new Uint8Array([9, 9]))
    expect(r.memory.initialState().confState.learners).toEqual([4])
    expect(r.memory.term(20)).toBe(3)
    void dir
  })

  it('one record per save: a truncation inside a record, a compaction inside one and records written one entry each all reopen to the same log', async () => {
    const { dir, db } = await openDb()
    // A log written before runs: one record per entry (1..6), then saved onto by runs.
    for (let i = 1; i <= 6; i++) await db.put('raft/main/e/' + String(i).padStart(16, '0'), encodeEntry(ent(i, 1)))
    await db.put('raft/main/hs', new Uint8Array([1, 1, 0]))
    let s = await reopen(dir, db)
    expect(s.memory.lastIndex()).toBe(6)
    // A conflicting suffix from 5 on, then runs 7..12 and 13..20.
    await s.save({ hardState: { term: 2, vote: 1, commit: 4 }, entries: [ent(5, 2), ent(6, 2)], mustSync: true })
    await s.save({ entries: [7, 8, 9, 10, 11, 12].map(i => ent(i, 2)), mustSync: true })
    await s.save({ entries: [13, 14, 15, 16, 17, 18, 19, 20].map(i => ent(i, 2)), mustSync: true })
    // A new leader replaces 9.. (inside the record of 7..12): the record of 13..20 goes, 7..8 stay.
    await s.save({ hardState: { term: 3, vote: 2, commit: 8 }, entries: [ent(9, 3, 'x9'), ent(10, 3, 'x10')], mustSync: true })
    const expected = (r: DurableRaftStorage, from: number): string[] => r.memory.entries(from, r.memory.lastIndex() + 1, Infinity).map(e => `${e.index}/${e.term}/${new TextDecoder().decode(e.data)}`)
    const want = ['1/1/e1', '2/1/e2', '3/1/e3', '4/1/e4', '5/2/e5', '6/2/e6', '7/2/e7', '8/2/e8', '9/3/x9', '10/3/x10']
    expect(expected(s, 1)).toEqual(want)
    const keys = async (d: ClassicLevel<string, Uint8Array>): Promise<string[]> => (await d.keys({ gt: 'raft/main/e/', lt: 'raft/main/e/~' }).all()).map(k => k.slice(-2))
    // Records: 1..4 as written (5 and 6 replaced by the record at 5), 5..6, 7..12 (tail replaced), 9..10.
    expect(await keys(dbs[dbs.length - 1]!)).toEqual(['01', '02', '03', '04', '05', '07', '09'])
    s = await reopen(dir, dbs[dbs.length - 1]!)
    expect(expected(s, 1)).toEqual(want)
    expect(s.memory.initialState().hardState).toEqual({ term: 3, vote: 2, commit: 8 })
    // Compact at 7 (inside the record of 7..12, whose 8 is still needed): the records wholly below go.
    await s.snapshotAndCompact(7, { voters: [1, 2, 3], learners: [] }, new Uint8Array([1]))
    expect(await keys(dbs[dbs.length - 1]!)).toEqual(['07', '09'])
    s.memory.setHardState({ term: 3, vote: 2, commit: 10 })
    await s.save({ entries: [ent(11, 3)], hardState: { term: 3, vote: 2, commit: 10 }, mustSync: true })
    s = await reopen(dir, dbs[dbs.length - 1]!)
    expect(s.memory.firstIndex()).toBe(8)
    expect(expected(s, 8)).toEqual(['8/2/e8', '9/3/x9', '10/3/x10', '11/3/e11'])
  })

  it('a crash between a compaction\'s snapshot write and its clear of the records below does not bring back a truncated tail', async () => {
    const { dir, db } = await openDb()
    const s = await DurableRaftStorage.open(db)
    // One record of 1..10 (term 1); a new leader replaces 7.. with 7..8 (term 2): the record of 1..10
    // keeps its stale tail 9..10 on disk, replaced on reading by the record at 7.
    await s.save({ hardState: { term: 1, vote: 1, commit: 0 }, entries: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map(i => ent(i, 1)), mustSync: true })
    await s.save({ hardState: { term: 2, vote: 2, commit: 8 }, entries: [ent(7, 2, 'n7'), ent(8, 2, 'n8')], mustSync: true })
    // Compaction at 8 writes the snapshot, then the process dies before the records below go.
    const d = dbs[dbs.length - 1]!
    d.clear = async () => { throw new Error('killed before the clear') }
    await expect(s.snapshotAndCompact(8, { voters: [1, 2, 3], learners: [] }, new Uint8Array([1]))).rejects.toThrow('killed')
    const r = await reopen(dir, d)
    // Entries 9..10 of term 1 were truncated: the log ends at the snapshot, nothing of the old tail.
    expect(r.memory.snapshot().metadata.index).toBe(8)
    expect(r.memory.lastIndex()).toBe(8)
    expect(r.memory.firstIndex()).toBe(9)
    // And it goes on from there as it would have: a new entry at 9 reopens as the log's only entry.
    await r.save({ entries: [ent(9, 2, 'n9')], mustSync: true })
    const again = await reopen(dir, dbs[dbs.length - 1]!)
    expect(again.memory.entries(9, 10, Infinity).map(e => `${e.index}/${e.term}/${new TextDecoder().decode(e.data)}`)).toEqual(['9/2/n9'])
  })

  it('a hard state that only moves the commit index is not a write of its own: it joins the next batch, or goes alone a moment later', async () => {
    const { dir, db } = await openDb()
    const s = await DurableRaftStorage.open(db)
    await s.save({ hardState: { term: 1, vote: 1, commit: 0 }, entries: [ent(1, 1), ent(2, 1)], mustSync: true })
    expect(s.stats.batches).toBe(1)
    await s.save({ hardState: { term: 1, vote: 1, commit: 2 }, entries: [], mustSync: false })
    expect(s.memory.initialState().hardState.commit).toBe(2)
    expect(s.stats.batches).toBe(1)
    // The next entries carry it, in one batch.
    await s.save({ entries: [ent(3, 1)], mustSync: true })
    expect(s.stats.batches).toBe(2)
    const hs = async (): Promise<number> => decodeHardState((await dbs[dbs.length - 1]!.get('raft/main/hs'))!).commit
    expect(await hs()).toBe(2)
    // With nothing after it, it is written alone.
    await s.save({ hardState: { term: 1, vote: 1, commit: 3 }, entries: [], mustSync: false })
    await waitUntil(async () => await hs() === 3, { timeoutMs: 10_000 })
    expect(s.stats.batches).toBe(3)
    const r = await reopen(dir, db)
    expect(r.memory.initialState().hardState).toEqual({ term: 1, vote: 1, commit: 3 })
  })

  it('a stop flushes the delayed commit-only hard state: it cannot land later over the next instance\'s newer term and vote', async () => {
    const { db } = await openDb()
    const old = await DurableRaftStorage.open(db)
    await old.save({ hardState: { term: 1, vote: 1, commit: 0 }, entries: [ent(1, 1)], mustSync: true })
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    try {
      // Its commit-only write waits for its timer...
      await old.save({ hardState: { term: 1, vote: 1, commit: 1 }, entries: [], mustSync: false })
      // ...and the service stops: the write goes now.
      await old.flush()
      const hs = async (): Promise<{ term: number, vote: number, commit: number }> => decodeHardState((await db.get('raft/main/hs'))!)
      expect(await hs()).toEqual({ term: 1, vote: 1, commit: 1 })
      // A restart on the same open database votes in term 2.
      const next = await DurableRaftStorage.open(db)
      await next.save({ hardState: { term: 2, vote: 3, commit: 1 }, entries: [], mustSync: true })
      // The old instance's timer, had it been left, fires now; whatever it wrote is written by the time
      // an empty batch queued after it is.
      vi.runAllTimers()
      await old.flush()
      expect(await hs()).toEqual({ term: 2, vote: 3, commit: 1 })
    } finally {
      vi.useRealTimers()
    }
  })

  it('random appends, truncations, compactions (some killed before their clear) and reopens: the reopened log is the log saved', { timeout: 120_000 }, async () => {
    const show = (r: DurableRaftStorage): string[] => {
      const from = r.memory.firstIndex()
      return r.memory.entries(from, r.memory.lastIndex() + 1, Infinity).map(e => `${e.index}/${e.term}/${new TextDecoder().decode(e.data)}`)
    }
    for (let seed = 1; seed <= 12; seed++) {
      const rand = createRand(seed)
      const { dir, db } = await openDb()
      let s = await DurableRaftStorage.open(db)
      let term = 1
      for (let step = 0; step < 60; step++) {
        const first = s.memory.firstIndex()
        const last = s.memory.lastIndex()
        const roll = rand.int(10)
        if (roll < 6) {
          // Append 1..5 entries from a point inside the log (a conflicting suffix) or at its end.
          const from = rand.chance(0.3) && last >= first ? rand.range(first, last + 1) : last + 1
          if (from < last + 1) term++
          const n = 1 + rand.int(5)
          await s.save({ hardState: { term, vote: 1, commit: Math.min(first - 1, last) }, entries: Array.from({ length: n }, (_, k) => ent(from + k, term, `s${seed}t${step}k${k}`)), mustSync: true })
        } else if (roll < 8 && last >= first) {
          const i = rand.range(first, last + 1)
          const killed = rand.chance(0.5)
          const d = dbs[dbs.length - 1]!
          const clear = d.clear.bind(d)
          if (killed) d.clear = async () => { throw new Error('killed') }
          const done = s.snapshotAndCompact(i, { voters: [1], learners: [] }, new Uint8Array([step]))
          if (killed) await expect(done).rejects.toThrow('killed'); else await done
          d.clear = clear
          if (killed) {
            const want = show(s)
            s = await reopen(dir, d)
            expect(show(s), `seed ${seed} step ${step}`).toEqual(want)
          }
        } else {
          const want = show(s)
          s = await reopen(dir, dbs[dbs.length - 1]!)
          expect(show(s), `seed ${seed} step ${step}`).toEqual(want)
        }
      }
      const want = show(s)
      s = await reopen(dir, dbs[dbs.length - 1]!)
      expect(show(s), `seed ${seed}`).toEqual(want)
    }
  })
})
