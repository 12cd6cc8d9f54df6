/**
 * The simulated disk of one node: the shipped driver's storage (protocols/raft/driver.ts `DriverStorage`)
 * over a {@link MemoryStorage} that survives the node's crashes (its in-memory Raft state and application
 * do not). It persists synchronously and reports every write to the simulation's checkers. A crash
 * armed "torn" (Simulation.crash) strikes at the next write: that whole Ready is lost, nothing of it is
 * persisted or sent.
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

export class SimDisk implements DriverStorage {
  readonly memory: MemoryStorage
  /** Armed: the next write fails as a crash. */
  tornArmed = false
  observer: DiskObserver | undefined

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

  save (rd: Ready): void {
    if (this.tornArmed) { this.tornArmed = false; throw new TornCrashError(this.node) }
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
