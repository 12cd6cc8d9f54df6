/**
 * The storage compliance suite: one set of properties every {@link DriverStorage} must have, run against
 * each implementation (storage-compliance.test.ts): MemoryDriverStorage, DurableRaftStorage (a real
 * LevelDB) and the simulator's SimDisk. A storage declares which optional properties it claims
 * ({@link StorageClaims}); a property it does not claim is not tested (its tests are not registered),
 * so it never shows as a pass.
 *
 * Everything is read back through `storage.memory`, the MemoryStorage the Raft core reads: for a
 * restarted durable storage it is rebuilt from disk alone, so the checks there are durability checks.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { RaftDriver, type DriverStorage } from '../../protocols/raft/driver.js'
import { encodeConfChange } from '../../protocols/raft/confchange.js'
import type { ConfState, Entry, HardState, Ready, Snapshot } from '../../protocols/raft/types.js'
import { createLogger } from '../../src/base/log.js'
import { createRand } from '../../src/base/prng.js'
import { ListApp } from '../helpers/list-app.js'


/** A property the storage does not claim: no test is registered for it (none skipped, none passed). */
const itNotClaimed = (_name: string, _fn: () => unknown): void => {}
const describeNotClaimed = (_name: string, _fn: () => void): void => {}


export interface StorageClaims {
  /**
   * What save() and snapshotAndCompact() acknowledged is recovered by {@link StorageHarness.restart}
   * (durable: LevelDB closed and reopened; sim: the disk after a crash, under a new driver).
   */
  survivesRestart: boolean
  /** save() and snapshotAndCompact() complete before returning (no promise): the simulator relies on it. */
  synchronous: boolean
  /** A crash can be armed to strike at the next save(): that Ready is lost whole (TornCrashError). */
  tornCrash: boolean
}

export interface StorageHarness {
  claims: StorageClaims
  /** A fresh, empty storage (no bootstrap membership). */
  create: () => Promise<DriverStorage>
  /** The storage a restarted node gets over the same persisted state (only when `survivesRestart`). */
  restart?: (s: DriverStorage) => Promise<DriverStorage>
  /** Arms a torn crash at the next save (only when `tornCrash`). */
  armTorn?: (s: DriverStorage) => void
  /** The error class a torn crash throws (only when `tornCrash`). */
  tornError?: abstract new (...args: never[]) => Error
  /** Releases everything created (databases, temp dirs). */
  cleanup: () => Promise<void>
}

const enc = new TextEncoder()
const dec = new TextDecoder()
const EMPTY_CONF: ConfState = { voters: [], learners: [] }

export const ent = (index: number, term: number, text = `e${index}/t${term}`): Entry => ({ index, term, type: 'normal', data: enc.encode(text) })

/** A Ready carrying only what step 1 persists. */
export function ready (p: { entries?: Entry[], hardState?: HardState, snapshot?: Snapshot }): Ready {
  return {
    entries: p.entries ?? [],
    ...(p.hardState !== undefined ? { hardState: p.hardState } : {}),
    ...(p.snapshot !== undefined ? { snapshot: p.snapshot } : {}),
    messages: [],
    committedEntries: [],
    readStates: [],
    mustSync: true
  }
}

/** The error a call raised, whether it threw synchronously or returned a rejected promise; undefined if none. */
async function failure (fn: () => unknown): Promise<unknown> {
  try {
    await fn()
  } catch (err) {
    return err
  }
  return undefined
}

/** The error a synchronous call threw; undefined if none. */
function thrown (fn: () => unknown): unknown {
  try {
    fn()
  } catch (err) {
    return err
  }
  return undefined
}

/** `index/term/text` of every entry in [lo, hi]. */
function log (s: DriverStorage, lo = s.memory.firstIndex(), hi = s.memory.lastIndex()): string[] {
  return s.memory.entries(lo, hi + 1, Infinity).map(e => `${e.index}/${e.term}/${e.type === 'normal' ? dec.decode(e.data) : 'cc'}`)
}

/** The state a storage exposes to the core, as one comparable value. */
function state (s: DriverStorage): unknown {
  const m = s.memory
  const snap = m.snapshot()
  return {
    first: m.firstIndex(),
    last: m.lastIndex(),
    hs: m.initialState().hardState,
    conf: m.initialState().confState,
    snap: { ...snap.metadata, data: [...snap.data] },
    log: log(s)
  }
}


const silent = createLogger('silent')
const turn = async (): Promise<void> => { await new Promise(resolve => setImmediate(resolve)) }

/** A single-voter driver (node 1) on `storage`, its Ready loop run at once (the storage may still be async). */
function singleVoter (storage: DriverStorage, app: ListApp, snapshotEntries: number, clientId: string): RaftDriver {
  return new RaftDriver({
    id: 1,
    transport: { send: () => {} },
    application: app,
    createApplication: () => new ListApp(),
    storage,
    clock: { now: () => 1_000 },
    schedule: (fn) => { fn() },
    rand: createRand(7),
    voters: [1],
    clientId,
    log: silent,
    options: { electionTick: 10, heartbeatTick: 1, snapshotEntries }
  })
}

/** Waits (event-loop turns, then 1 ms pauses: an fsync takes a while) until `cond` holds or `d` failed; 10 s at most. */
async function until (d: RaftDriver, cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000
  for (let i = 0; !cond() && d.failure === undefined && Date.now() < deadline; i++) {
    if (i < 50) await turn()
    else await new Promise(resolve => setTimeout(resolve, 1))
  }
}

/** Ticks the lone voter until its core leads, then waits until the driver (after persisting) says so. */
async function lead (d: RaftDriver): Promise<void> {
  for (let i = 0; i < 100 && d.node.status().role !== 'leader'; i++) d.tick()
  await until(d, () => d.isLeader)
  expect(d.failure).toBeUndefined()
  expect(d.isLeader).toBe(true)
}

/** Waits until `d` applied `index`. */
async function appliedTo (d: RaftDriver, index: number): Promise<void> {
  await until(d, () => d.applied >= index)
  expect(d.failure).toBeUndefined()
  expect(d.applied).toBe(index)
}

/** Proposes `n` commands `c<from>..`; returns the results (the list length after each). */
async function proposeMany (d: RaftDriver, from: number, n: number): Promise<unknown[]> {
  const out: unknown[] = []
  for (let i = from; i < from + n; i++) out.push((await d.propose(enc.encode(`c${i}`))).result)
  return out
}

export function storageSuite (name: string, h: StorageHarness): void {
  const { claims } = h
  const restart = async (s: DriverStorage): Promise<DriverStorage> => {
    if (h.restart === undefined) throw new Error(`${name} claims survivesRestart without a restart()`)
    return await h.restart(s)
  }

  describe(`raft storage compliance (${name})`, () => {
    let s: DriverStorage
    beforeEach(async () => { s = await h.create() })
    afterEach(async () => { await h.cleanup() })

    it(`claims: ${JSON.stringify(claims)}`, async () => {
      // synchronous: neither write returns a promise (a claimed-async storage must return one).
      const saved = s.save(ready({ entries: [ent(1, 1)], hardState: { term: 1, vote: 0, commit: 1 } }))
      expect(saved instanceof Promise).toBe(!claims.synchronous)
      await saved
      const compacted = s.snapshotAndCompact(1, EMPTY_CONF, new Uint8Array([1]))
      expect(compacted instanceof Promise).toBe(!claims.synchronous)
      await compacted
      expect(h.restart !== undefined).toBe(claims.survivesRestart)
      expect(h.armTorn !== undefined && h.tornError !== undefined).toBe(claims.tornCrash)
    })

    it('starts empty: first index 1, last index 0, zero hard state, no snapshot', () => {
      expect(s.memory.firstIndex()).toBe(1)
      expect(s.memory.lastIndex()).toBe(0)
      expect(s.memory.term(0)).toBe(0)
      expect(s.memory.initialState()).toEqual({ hardState: { term: 0, vote: 0, commit: 0 }, confState: EMPTY_CONF })
      expect(s.memory.snapshot().metadata.index).toBe(0)
      expect(s.memory.entries(1, 1, Infinity)).toEqual([])
    })

    describe('entries and hard state', () => {
      const cc: Entry = { index: 3, term: 2, type: 'confChange', data: encodeConfChange({ type: 'addVoter', nodeId: 9 }) }
      async function write (): Promise<void> {
        await s.save(ready({ entries: [ent(1, 1), ent(2, 1)], hardState: { term: 1, vote: 1, commit: 0 } }))
        await s.save(ready({ entries: [cc, ent(4, 2)], hardState: { term: 2, vote: 3, commit: 2 } }))
        await s.save(ready({ hardState: { term: 2, vote: 3, commit: 4 } }))
      }
      function check (r: DriverStorage): void {
        expect(r.memory.firstIndex()).toBe(1)
        expect(r.memory.lastIndex()).toBe(4)
        expect([0, 1, 2, 3, 4].map(i => r.memory.term(i))).toEqual([0, 1, 1, 2, 2])
        expect(r.memory.initialState().hardState).toEqual({ term: 2, vote: 3, commit: 4 })
        expect(r.memory.entries(2, 5, Infinity)).toEqual([ent(2, 1), cc, ent(4, 2)])
        // bytesMax: at least one entry, then only while the data fits.
        expect(r.memory.entries(1, 5, 0).map(e => e.index)).toEqual([1])
        expect(r.memory.entries(1, 5, ent(1, 1).data.length + ent(2, 1).data.length).map(e => e.index)).toEqual([1, 2])
        expect(thrown(() => r.memory.entries(1, 6, Infinity))).toMatchObject({ code: 'ERR_RAFT_UNAVAILABLE' })
        expect(thrown(() => r.memory.term(5))).toMatchObject({ code: 'ERR_RAFT_UNAVAILABLE' })
      }

      it('saves entries and hard state and reads them back', async () => {
        await write()
        check(s)
      })

      ;(claims.survivesRestart ? it : itNotClaimed)('recovers entries and hard state after a restart', async () => {
        await write()
        check(await restart(s))
      })

      it('truncates a conflicting suffix when a later append overwrites it', async () => {
        await s.save(ready({ entries: [1, 2, 3, 4, 5].map(i => ent(i, 1)), hardState: { term: 1, vote: 1, commit: 2 } }))
        // A new leader of term 2 overwrites 3.. with a shorter suffix.
        await s.save(ready({ entries: [ent(3, 2, 'new3')], hardState: { term: 2, vote: 2, commit: 2 } }))
        const expected = ['1/1/e1/t1', '2/1/e2/t1', '3/2/new3']
        expect(log(s)).toEqual(expected)
        expect(s.memory.lastIndex()).toBe(3)
        // Appending right after the new last index keeps the prefix.
        await s.save(ready({ entries: [ent(4, 2)] }))
        expected.push('4/2/e4/t2')
        expect(log(s)).toEqual(expected)
        if (claims.survivesRestart) {
          const r = await restart(s)
          expect(log(r)).toEqual(expected)
          expect(r.memory.initialState().hardState).toEqual({ term: 2, vote: 2, commit: 2 })
        }
      })

      it('rejects an append that leaves a gap (ERR_RAFT_INVARIANT) and persists nothing of it', async () => {
        await s.save(ready({ entries: [ent(1, 1), ent(2, 1)], hardState: { term: 1, vote: 1, commit: 1 } }))
        const before = state(s)
        const err = await failure(() => s.save(ready({ entries: [ent(4, 1)] })))
        expect(err).toMatchObject({ code: 'ERR_RAFT_INVARIANT' })
        expect(state(s)).toEqual(before)
        if (claims.survivesRestart) expect(state(await restart(s))).toEqual(before)
      })
    })

    describe('snapshots', () => {
      const conf: ConfState = { voters: [1, 2, 3], learners: [4] }
      const snap: Snapshot = { metadata: { index: 10, term: 3, confState: conf }, data: new Uint8Array([9, 8, 7]) }

      async function install (): Promise<void> {
        await s.save(ready({ entries: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12].map(i => ent(i, 1)), hardState: { term: 1, vote: 1, commit: 3 } }))
        // A leader's snapshot at 10 (term 3) replaces the whole log, even the entries after it.
        await s.save(ready({ snapshot: snap, hardState: { term: 3, vote: 0, commit: 10 } }))
      }
      function checkInstalled (r: DriverStorage): void {
        expect(r.memory.firstIndex()).toBe(11)
        expect(r.memory.lastIndex()).toBe(10)
        expect(r.memory.term(10)).toBe(3)
        expect(r.memory.snapshot().metadata).toEqual(snap.metadata)
        expect([...r.memory.snapshot().data]).toEqual([9, 8, 7])
        expect(r.memory.initialState()).toEqual({ hardState: { term: 3, vote: 0, commit: 10 }, confState: conf })
        expect(thrown(() => r.memory.entries(10, 11, Infinity))).toMatchObject({ code: 'ERR_RAFT_COMPACTED' })
        expect(thrown(() => r.memory.term(9))).toMatchObject({ code: 'ERR_RAFT_COMPACTED' })
        expect(thrown(() => r.memory.entries(11, 12, Infinity))).toMatchObject({ code: 'ERR_RAFT_UNAVAILABLE' })
      }

      it('installs a snapshot from a Ready: it replaces the log', async () => {
        await install()
        checkInstalled(s)
        // The log continues after the snapshot.
        await s.save(ready({ entries: [ent(11, 3), ent(12, 3)] }))
        expect(log(s)).toEqual(['11/3/e11/t3', '12/3/e12/t3'])
        expect(s.memory.term(10)).toBe(3)
      })

      ;(claims.survivesRestart ? it : itNotClaimed)('recovers an installed snapshot and the log after it after a restart', async () => {
        await install()
        const r1 = await restart(s)
        checkInstalled(r1)
        await r1.save(ready({ entries: [ent(11, 3)] }))
        const r = await restart(r1)
        expect(r.memory.snapshot().metadata).toEqual(snap.metadata)
        expect(log(r)).toEqual(['11/3/e11/t3'])
        expect(r.memory.firstIndex()).toBe(11)
      })

      it('rejects an older snapshot than the one it holds (ERR_RAFT_SNAPSHOT_OUT_OF_DATE) and changes nothing', async () => {
        await install()
        await s.save(ready({ entries: [ent(11, 3), ent(12, 3)], hardState: { term: 3, vote: 0, commit: 12 } }))
        const before = state(s)
        const old: Snapshot = { metadata: { index: 5, term: 1, confState: { voters: [1], learners: [] } }, data: new Uint8Array([1]) }
        const err = await failure(() => s.save(ready({ snapshot: old, hardState: { term: 3, vote: 0, commit: 5 } })))
        expect(err).toMatchObject({ code: 'ERR_RAFT_SNAPSHOT_OUT_OF_DATE' })
        expect(state(s)).toEqual(before)
        if (claims.survivesRestart) expect(state(await restart(s))).toEqual(before)
      })

      async function compactAt6 (): Promise<void> {
        await s.save(ready({ entries: [1, 2, 3, 4, 5, 6, 7, 8].map(i => ent(i, i <= 4 ? 1 : 2)), hardState: { term: 2, vote: 1, commit: 8 } }))
        await s.snapshotAndCompact(6, conf, new Uint8Array([6, 6]))
      }
      function checkCompacted (r: DriverStorage): void {
        expect(r.memory.firstIndex()).toBe(7)
        expect(r.memory.lastIndex()).toBe(8)
        expect(r.memory.term(6)).toBe(2) // the snapshot point's term is still known
        expect(r.memory.snapshot().metadata).toEqual({ index: 6, term: 2, confState: conf })
        expect([...r.memory.snapshot().data]).toEqual([6, 6])
        expect(r.memory.initialState()).toEqual({ hardState: { term: 2, vote: 1, commit: 8 }, confState: conf })
        expect(log(r)).toEqual(['7/2/e7/t2', '8/2/e8/t2'])
        expect(thrown(() => r.memory.entries(6, 9, Infinity))).toMatchObject({ code: 'ERR_RAFT_COMPACTED' })
        expect(thrown(() => r.memory.entries(1, 2, Infinity))).toMatchObject({ code: 'ERR_RAFT_COMPACTED' })
        expect(thrown(() => r.memory.term(5))).toMatchObject({ code: 'ERR_RAFT_COMPACTED' })
      }

      it('snapshotAndCompact moves the first index and keeps the snapshot point\'s term', async () => {
        await compactAt6()
        checkCompacted(s)
      })

      ;(claims.survivesRestart ? it : itNotClaimed)('recovers a compacted log after a restart', async () => {
        await compactAt6()
        const r = await restart(s)
        checkCompacted(r)
        // The recovered log takes appends as before.
        await r.save(ready({ entries: [ent(9, 2)] }))
        expect(log(r)).toEqual(['7/2/e7/t2', '8/2/e8/t2', '9/2/e9/t2'])
      })

      it('refuses to snapshot at or below its snapshot (ERR_RAFT_SNAPSHOT_OUT_OF_DATE) or beyond its log (ERR_RAFT_UNAVAILABLE)', async () => {
        await compactAt6()
        const before = state(s)
        expect(await failure(() => s.snapshotAndCompact(6, conf, new Uint8Array([0])))).toMatchObject({ code: 'ERR_RAFT_SNAPSHOT_OUT_OF_DATE' })
        expect(await failure(() => s.snapshotAndCompact(4, conf, new Uint8Array([0])))).toMatchObject({ code: 'ERR_RAFT_SNAPSHOT_OUT_OF_DATE' })
        expect(await failure(() => s.snapshotAndCompact(9, conf, new Uint8Array([0])))).toMatchObject({ code: 'ERR_RAFT_UNAVAILABLE' })
        expect(state(s)).toEqual(before)
        if (claims.survivesRestart) expect(state(await restart(s))).toEqual(before)
      })

      it('ignores appended entries that are all compacted already (and keeps the log after them)', async () => {
        await compactAt6()
        const before = state(s)
        await s.save(ready({ entries: [ent(3, 1), ent(4, 1)] }))
        expect(state(s)).toEqual(before)
        if (claims.survivesRestart) expect(state(await restart(s))).toEqual(before)
      })

      it('skips the compacted part of an append that straddles the first index', async () => {
        await compactAt6()
        // 5..7 matches what is there; 8 is overwritten by a term-3 entry, 9 appended.
        await s.save(ready({ entries: [ent(5, 2), ent(6, 2), ent(7, 2), ent(8, 3, 'new8'), ent(9, 3)] }))
        const expected = ['7/2/e7/t2', '8/3/new8', '9/3/e9/t3']
        expect(log(s)).toEqual(expected)
        expect(s.memory.firstIndex()).toBe(7)
        if (claims.survivesRestart) {
          const r = await restart(s)
          expect(log(r)).toEqual(expected)
          expect(r.memory.firstIndex()).toBe(7)
        }
      })
    })

    describe('a RaftDriver on this storage (one voter)', () => {
      it('commits and applies proposals, compacting its log on the way', async () => {
        const app = new ListApp()
        const d = singleVoter(s, app, 5, 'n1/first')
        d.start()
        await lead(d)
        expect(await proposeMany(d, 0, 12)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
        expect(app.items).toEqual(Array.from({ length: 12 }, (_, i) => `c${i}`))
        const applied = d.applied
        // The storage holds what the core committed: hard state, a snapshot, the log after it.
        expect(s.memory.initialState().hardState.commit).toBe(applied)
        expect(s.memory.lastIndex()).toBe(applied)
        expect(d.stats.snapshots).toBeGreaterThan(0)
        expect(s.memory.firstIndex()).toBeGreaterThan(1)
        expect(s.memory.snapshot().metadata.index).toBe(s.memory.firstIndex() - 1)
        d.stop()
      })

      ;(claims.survivesRestart ? it : itNotClaimed)('after a restart re-applies from snapshot + log to the same state', async () => {
        const app = new ListApp()
        const d = singleVoter(s, app, 5, 'n1/first')
        d.start()
        await lead(d)
        await proposeMany(d, 0, 12)
        const applied = d.applied
        const snapIndex = s.memory.snapshot().metadata.index
        // Both halves are exercised: state in the snapshot and entries after it.
        expect(snapIndex).toBeGreaterThan(1)
        expect(applied).toBeGreaterThan(snapIndex)
        const items = app.items.slice()
        d.stop()
        const r = await restart(s)
        const app2 = new ListApp()
        const d2 = singleVoter(r, app2, 5, 'n1/second')
        d2.start()
        await appliedTo(d2, applied)
        expect(app2.items).toEqual(items)
        // It leads again and goes on from there.
        await lead(d2)
        // The session table came back with the state: a retry of the first driver's first command is
        // answered from its cache, not applied again.
        expect(await d2.propose(enc.encode('c0 again'), { clientId: 'n1/first', seq: 1 })).toMatchObject({ result: 1 })
        expect(app2.items).toEqual(items)
        expect(await proposeMany(d2, 12, 2)).toEqual([13, 14])
        expect(app2.items).toEqual([...items, 'c12', 'c13'])
        d2.stop()
      })
    })

    ;(claims.tornCrash ? describe : describeNotClaimed)('torn crashes', () => {
      it('an armed torn crash throws and persists nothing of that Ready; the next write succeeds', async () => {
        await s.save(ready({ entries: [ent(1, 1), ent(2, 1)], hardState: { term: 1, vote: 1, commit: 1 } }))
        const before = state(s)
        h.armTorn?.(s)
        const snapshot: Snapshot = { metadata: { index: 5, term: 2, confState: { voters: [1], learners: [] } }, data: new Uint8Array([5]) }
        const err = await failure(() => s.save(ready({ snapshot, entries: [ent(6, 2)], hardState: { term: 2, vote: 2, commit: 5 } })))
        expect(err).toBeInstanceOf(h.tornError as unknown as new () => Error)
        expect(state(s)).toEqual(before)
        if (claims.survivesRestart) expect(state(await restart(s))).toEqual(before)
        // The crash struck once.
        await s.save(ready({ entries: [ent(3, 1)], hardState: { term: 1, vote: 1, commit: 3 } }))
        expect(log(s)).toEqual(['1/1/e1/t1', '2/1/e2/t1', '3/1/e3/t1'])
      })

      it('a driver whose disk tears fails with the torn crash; a new driver recovers what came before', async () => {
        const app = new ListApp()
        const d = singleVoter(s, app, 1000, 'n1/first')
        let failed: Error | undefined
        d.on('raft:failed', ({ error }) => { failed = error })
        d.start()
        await lead(d)
        await proposeMany(d, 0, 3)
        const applied = d.applied
        const items = app.items.slice()
        h.armTorn?.(s)
        await expect(d.propose(enc.encode('lost'))).rejects.toMatchObject({ code: 'ERR_INDEFINITE' })
        expect(failed).toBeInstanceOf(h.tornError as unknown as new () => Error)
        expect(d.isRunning).toBe(false)
        expect(s.memory.lastIndex()).toBe(applied)
        const r = claims.survivesRestart ? await restart(s) : s
        const app2 = new ListApp()
        const d2 = singleVoter(r, app2, 1000, 'n1/second')
        d2.start()
        await appliedTo(d2, applied)
        expect(app2.items).toEqual(items)
        await lead(d2)
        expect(await proposeMany(d2, 3, 1)).toEqual([4])
        d2.stop()
      })
    })
  })
}
