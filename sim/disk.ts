/**
 * The simulated disk of one node: the shipped driver's storage (protocols/raft/driver.ts `DriverStorage`)
 * over a {@link MemoryStorage} that survives the node's crashes (its in-memory Raft state and application
 * do not). It persists synchronously and reports every write to the simulation's checkers. A crash
 * armed "torn" (Simulation.crash) strikes at the next write: that whole Ready is lost, nothing of it is
 * persisted or sent.
 *
 * With `deferParallel` (the simulation's `asyncLeaderWrites`), a leader's write made in parallel with
 * sending (Ready.persistInParallel) is held in flight until {@link completeInflight} (one of the node's
 * next ticks, or a later write of the same node, which must come after it); a crash meanwhile loses every
 * write in flight, and a torn crash keeps a prefix of their entries (the simulation draws its length,
 * from none to all; no hard state of theirs), as a write-ahead log cut anywhere in them would.
 */
import { AgoraError } from '../src/base/errors.js'
import { decodeConfChange, MemoryStorage } from '../protocols/raft/index.js'
import type { ConfState, Entry, HardState, Ready } from '../protocols/raft/index.js'
import type { DriverStorage } from '../protocols/raft/driver.js'
import { describeEntry } from './entries.js'

/** A node's persisted state before a run (scenario `init`). */
export interface DiskInit {
  term: number
  vote: number
  commit: number
  /** Terms of entries 1..k, each with empty data. */
  logTerms: number[]
  voters: number[]
  learners: number[]
}

/** An entry as reports and checkers see it. */
export interface LoggedEntry { index: number, term: number, text: string }

/** Thrown by a disk whose torn crash struck: the node dies in the middle of a Ready. */
export class TornCrashError extends AgoraError {
  static override readonly name = 'TornCrashError'
  constructor (node: number) { super('ERR_SIM_TORN_CRASH', `node ${node} crashed in the middle of a write`) }
}

/** What the simulation learns of each write (for its checkers). */
export interface DiskObserver {
  onEntries: (lastIndexBefore: number, entries: LoggedEntry[], prevTermOfFirst: number | undefined) => void
  onHardState: (hs: HardState) => void
}

const EMPTY = new Uint8Array(0)

/** A write in flight and who waits for it (the driver, through a thenable). */
interface Inflight { rd: Ready, done: Array<() => void> }

export class SimDisk implements DriverStorage {
  readonly memory: MemoryStorage
  /** Armed: the next write fails as a crash. */
  tornArmed = false
  observer: DiskObserver | undefined
  /** Hold a leader's parallel writes in flight until {@link completeInflight}. */
  deferParallel = false
  private inflight: Inflight[] = []
  /** Parallel writes lost to a crash (whole) and cut by a torn crash (a prefix kept). */
  readonly lost = { writes: 0, torn: 0 }

  constructor (readonly node: number, memory: MemoryStorage) {
    this.memory = memory
  }

  /** A disk holding a scenario's initial state. */
  static create (node: number, init: DiskInit): SimDisk {
    const ms = new MemoryStorage({ voters: init.voters.slice(), learners: init.learners.slice() })
    if (init.logTerms.length > 0) ms.append(init.logTerms.map((term, i) => ({ index: i + 1, term, type: 'normal' as const, data: EMPTY })))
    ms.setHardState({ term: init.term, vote: init.vote, commit: init.commit })
    return new SimDisk(node, ms)
  }

  /**
   * Every write (not only a leader's parallel one) is held in flight the same way (the simulation's
   * `slowDisks`): a follower's append, vote or snapshot is acknowledged only once it lands, and the
   * driver's work while it is in flight (applying the entries already durable) runs meanwhile.
   */
  deferAll = false

  save (rd: Ready): void | PromiseLike<void> {
    if (this.tornArmed) { this.tornArmed = false; throw new TornCrashError(this.node) }
    if ((this.deferParallel && rd.persistInParallel) || (this.deferAll && (rd.entries.length > 0 || rd.hardState !== undefined || rd.snapshot !== undefined))) {
      const w: Inflight = { rd, done: [] }
      this.inflight.push(w)
      // Completed synchronously by completeInflight (virtual time), not by a microtask.
      return { then: (ok?: (() => unknown) | null) => { if (typeof ok === 'function') w.done.push(() => { ok() }); return undefined as never } }
    }
    // Writes stay in order: those in flight land first.
    this.completeInflight()
    this.write(rd)
  }

  /** Writes in flight held by this disk. */
  get inflightWrites (): number { return this.inflight.length }

  /** Lands every write in flight, in order, then tells whoever waits for them. */
  completeInflight (): void {
    while (this.inflight.length > 0) {
      const w = this.inflight.shift()!
      this.write(w.rd)
      for (const fn of w.done) fn()
    }
  }

  /**
   * The node crashed: its writes in flight are lost, except, when `torn`, their first `keep` entries
   * (as a log cut at that point; no hard state of theirs), which may be all of them (written, never
   * acknowledged).
   */
  crashInflight (torn: boolean, keep = 0): void {
    this.lost.writes += this.inflight.length
    if (torn && keep > 0) {
      this.lost.torn++
      for (const w of this.inflight) {
        if (keep <= 0) break
        const entries = w.rd.entries.slice(0, keep)
        keep -= entries.length
        this.write({ ...w.rd, entries, hardState: undefined, snapshot: undefined })
      }
    }
    this.inflight = []
  }

  /** Entries in the writes in flight. */
  get inflightEntries (): number {
    let n = 0
    for (const w of this.inflight) n += w.rd.entries.length
    return n
  }

  private write (rd: Ready): void {
    if (rd.snapshot !== undefined) this.memory.applySnapshot(rd.snapshot)
    if (rd.entries.length > 0) {
      const first = rd.entries[0] as Entry
      this.observer?.onEntries(this.memory.lastIndex(), rd.entries.map(logged), first.index - 1 === 0 ? 0 : this.termAt(first.index - 1))
      this.memory.append(rd.entries)
    }
    if (rd.hardState !== undefined) {
      this.observer?.onHardState(rd.hardState)
      this.setHardState(rd.hardState)
    }
  }

  /** Persists a hard state (a test may wrap it to model a disk that loses writes). */
  setHardState (hs: HardState): void { this.memory.setHardState(hs) }

  snapshotAndCompact (index: number, confState: ConfState, data: Uint8Array): void {
    this.memory.createSnapshot(index, confState, data)
    this.memory.compact(index)
  }

  firstIndex (): number { return this.memory.firstIndex() }
  lastIndex (): number { return this.memory.lastIndex() }
  hardState (): HardState { return this.memory.getHardState() }

  /** Term of `index`, or undefined when compacted away or beyond the last index. */
  termAt (index: number): number | undefined {
    if (index < this.memory.firstIndex() - 1 || index > this.memory.lastIndex()) return undefined
    return this.memory.term(index)
  }

  /** Entries [lo, hi] (inclusive) still in the log, as reports show them. */
  entries (lo: number, hi: number): LoggedEntry[] {
    const a = Math.max(lo, this.memory.firstIndex())
    const b = Math.min(hi, this.memory.lastIndex())
    if (a > b) return []
    return this.memory.entries(a, b + 1, Infinity).map(logged)
  }

  snapshotIndex (): number { return this.memory.snapshot().metadata.index }
  snapshotConf (): ConfState { return this.memory.snapshot().metadata.confState }
}

const cache = new WeakMap<Entry, LoggedEntry>()

/** An entry as the report shows it (cached per entry object). */
export function logged (e: Entry): LoggedEntry {
  let s = cache.get(e)
  if (s === undefined) {
    s = { index: e.index, term: e.term, text: describeEntry(e, decodeConfChange) }
    cache.set(e, s)
  }
  return s
}
