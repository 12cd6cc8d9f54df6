/**
 * MemoryStorage: an in-memory {@link Storage} like etcd's MemoryStorage. Drivers (the simulator's
 * simulated disk, tests) write to it while processing a Ready; the core only reads.
 *
 * Layout: `ents[0]` is a dummy entry holding the snapshot's index and term, so `ents[i - offset]`
 * is entry i where `offset = ents[0].index`. Compaction drops a prefix and moves the dummy.
 */
import { CompactedError, RaftInvariantError, SnapshotOutOfDateError, UnavailableError } from './errors.js'
import type { ConfState, Entry, HardState, Snapshot, Storage } from './types.js'

const EMPTY = new Uint8Array(0)

export class MemoryStorage implements Storage {
  private hardState: HardState = { term: 0, vote: 0, commit: 0 }
  private snap: Snapshot
  // Invariant: ents[0] is the dummy (snapshot index/term); ents[k].index === ents[0].index + k.
  private ents: Entry[]

  /** @param confState bootstrap membership (the snapshot-0 ConfState); default empty. */
  constructor (confState: ConfState = { voters: [], learners: [] }) {
    this.snap = { metadata: { index: 0, term: 0, confState: cloneConf(confState) }, data: EMPTY }
    this.ents = [{ term: 0, index: 0, type: 'normal', data: EMPTY }]
  }

  initialState (): { hardState: HardState, confState: ConfState } {
    return { hardState: { ...this.hardState }, confState: cloneConf(this.snap.metadata.confState) }
  }

  /** Persist a hard state (Ready step 1). */
  setHardState (hs: HardState): void {
    this.hardState = { term: hs.term, vote: hs.vote, commit: hs.commit }
  }

  /** The persisted hard state. */
  getHardState (): HardState {
    return { ...this.hardState }
  }

  entries (lo: number, hi: number, bytesMax: number = Number.POSITIVE_INFINITY): Entry[] {
    const offset = this.ents[0]!.index
    if (lo <= offset) throw new CompactedError(lo, offset + 1)
    if (hi > this.lastIndex() + 1) throw new UnavailableError(hi - 1, this.lastIndex())
    if (lo >= hi) return []
    const out: Entry[] = []
    let size = 0
    for (let i = lo; i < hi; i++) {
      const e = this.ents[i - offset]!
      size += e.data.length
      if (out.length > 0 && size > bytesMax) break
      out.push(e)
    }
    return out
  }

  term (i: number): number {
    const offset = this.ents[0]!.index
    if (i < offset) throw new CompactedError(i, offset + 1)
    const e = this.ents[i - offset]
    if (e === undefined) throw new UnavailableError(i, this.lastIndex())
    return e.term
  }

  firstIndex (): number {
    return this.ents[0]!.index + 1
  }

  lastIndex (): number {
    return this.ents[0]!.index + this.ents.length - 1
  }

  snapshot (): Snapshot {
    return this.snap
  }

  /** Replace the whole state with a snapshot (Ready step 1, when `rd.snapshot` is set). */
  applySnapshot (snap: Snapshot): void {
    const cur = this.snap.metadata.index
    if (snap.metadata.index < cur) throw new SnapshotOutOfDateError(snap.metadata.index, cur)
    this.snap = { metadata: { index: snap.metadata.index, term: snap.metadata.term, confState: cloneConf(snap.metadata.confState) }, data: snap.data }
    this.ents = [{ term: snap.metadata.term, index: snap.metadata.index, type: 'normal', data: EMPTY }]
  }

  /**
   * Create a snapshot at applied index `i` with the application's state `data` and membership `cs`
   * (the ConfState the node reports once it has applied i). Does not compact; call {@link compact}.
   */
  createSnapshot (i: number, cs: ConfState, data: Uint8Array): Snapshot {
    if (i <= this.snap.metadata.index) throw new SnapshotOutOfDateError(i, this.snap.metadata.index)
    if (i > this.lastIndex()) throw new UnavailableError(i, this.lastIndex())
    this.snap = { metadata: { index: i, term: this.term(i), confState: cloneConf(cs) }, data }
    return this.snap
  }

  /** Discard entries up to and including `compactIndex` (must be <= the applied index). */
  compact (compactIndex: number): void {
    const offset = this.ents[0]!.index
    if (compactIndex <= offset) throw new CompactedError(compactIndex, offset + 1)
    if (compactIndex > this.lastIndex()) throw new UnavailableError(compactIndex, this.lastIndex())
    const k = compactIndex - offset
    const dummy: Entry = { term: this.ents[k]!.term, index: compactIndex, type: 'normal', data: EMPTY }
    this.ents = [dummy, ...this.ents.slice(k + 1)]
  }

  /**
   * Append entries (Ready step 1), truncating any conflicting suffix. Entries must be contiguous and
   * must not leave a gap after lastIndex; entries already compacted are skipped.
   */
  append (entries: readonly Entry[]): void {
    if (entries.length === 0) return
    const first = this.firstIndex()
    const last = entries[0]!.index + entries.length - 1
    if (last < first) return
    let k = 0
    if (first > entries[0]!.index) k = first - entries[0]!.index
    const start = entries[k]!.index
    const offset = this.ents[0]!.index
    if (start > this.lastIndex() + 1) throw new RaftInvariantError(`append leaves a gap: last ${this.lastIndex()}, appending ${start}`)
    // Truncate the suffix from `start` on, then append.
    this.ents.length = start - offset
    for (let j = k; j < entries.length; j++) this.ents.push(entries[j]!)
  }
}

export function cloneConf (cs: ConfState): ConfState {
  return { voters: cs.voters.slice(), learners: cs.learners.slice() }
}
