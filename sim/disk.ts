/**
 * The simulated disk of one node: a {@link MemoryStorage} that only the driver writes, while processing
 * a Ready (persist entries and hard state, install snapshots) or compacting. It survives a crash; the
 * node's in-memory Raft state does not. A crash in the middle of a Ready ("torn", see Simulation.crash)
 * loses that whole Ready: only what was persisted before survives.
 */
import { MemoryStorage } from '../protocols/raft/index.js'
import type { Entry, Snapshot } from '../protocols/raft/index.js'
import type { SimEntry, SimHardState, SimReady, SimSnapshotMeta, SimStorage } from './raft-adapter.js'

const dec = new TextDecoder()
const cache = new WeakMap<Entry, SimEntry>()

/** How the simulator shows a conf change entry's data (`conf:<type>:<node>` when decodable). */
let describeConf: (data: Uint8Array) => string = data => dec.decode(data)

/** Install the conf-change decoder (set by the binding when the core exports one). */
export function setConfDescriber (fn: (data: Uint8Array) => string): void { describeConf = fn }

/** The simulator's view of a core entry (cached per entry object). */
export function toSimEntry (e: Entry): SimEntry {
  let s = cache.get(e)
  if (s === undefined) {
    const text = e.type === 'confChange' ? `conf:${describeConf(e.data)}` : e.data.length === 0 ? '' : dec.decode(e.data)
    s = { index: e.index, term: e.term, text, data: e.data, raw: e }
    cache.set(e, s)
  }
  return s
}

export class SimDisk implements SimStorage {
  /** The storage the node's core reads. */
  readonly storage: MemoryStorage

  constructor (storage: MemoryStorage) {
    this.storage = storage
  }

  firstIndex (): number { return this.storage.firstIndex() }
  lastIndex (): number { return this.storage.lastIndex() }

  termAt (index: number): number | undefined {
    if (index < this.storage.firstIndex() - 1 || index > this.storage.lastIndex()) return undefined
    return this.storage.term(index)
  }

  entries (lo: number, hi: number): SimEntry[] {
    const a = Math.max(lo, this.storage.firstIndex())
    const b = Math.min(hi, this.storage.lastIndex())
    if (a > b) return []
    return this.storage.entries(a, b + 1).map(toSimEntry)
  }

  hardState (): SimHardState { return this.storage.getHardState() }
  append (entries: SimEntry[]): void { this.storage.append(entries.map(e => e.raw as Entry)) }
  setHardState (hs: SimHardState): void { this.storage.setHardState(hs) }
  applySnapshot (snap: NonNullable<SimReady['snapshot']>): void { this.storage.applySnapshot(snap.raw as Snapshot) }

  compact (index: number, data: Uint8Array, voters: number[], learners: number[]): void {
    this.storage.createSnapshot(index, { voters, learners }, data)
    this.storage.compact(index)
  }

  snapshot (): { meta: SimSnapshotMeta, data: Uint8Array } {
    const s = this.storage.snapshot()
    return { meta: { index: s.metadata.index, term: s.metadata.term, voters: s.metadata.confState.voters.slice(), learners: s.metadata.confState.learners.slice() }, data: s.data }
  }
}
