/**
 * RaftLog: the node's view of the log = stable entries in Storage + an unstable suffix (and maybe an
 * unstable snapshot) not yet persisted by the application. As etcd's raftLog + unstable.
 */
import { RaftInvariantError } from './errors.js'
import type { Entry, Snapshot, Storage } from './types.js'

export class RaftLog {
  /** Unstable snapshot (received, not yet persisted). */
  unstableSnapshot: Snapshot | undefined
  /** Unstable entries; unstable[k].index === offset + k. */
  unstable: Entry[] = []
  offset: number
  /**
   * Highest index of the unstable entries already handed out in a Ready (being written); they stay
   * unstable until stableTo. Invariant: offset - 1 <= inProgress <= lastIndex().
   */
  inProgress: number
  // Invariant: applied <= applying <= committed <= lastIndex().
  committed: number
  /** Highest index handed to the application in a Ready. */
  applying: number
  /** Highest index the application acknowledged as applied (advance). */
  applied: number

  constructor (readonly storage: Storage) {
    const first = storage.firstIndex()
    const last = storage.lastIndex()
    this.offset = last + 1
    this.inProgress = last
    this.committed = first - 1
    this.applying = first - 1
    this.applied = first - 1
  }

  firstIndex (): number {
    if (this.unstableSnapshot !== undefined) return this.unstableSnapshot.metadata.index + 1
    return this.storage.firstIndex()
  }

  lastIndex (): number {
    if (this.unstable.length > 0) return this.offset + this.unstable.length - 1
    if (this.unstableSnapshot !== undefined) return this.unstableSnapshot.metadata.index
    return this.storage.lastIndex()
  }

  /** Term of entry i, or -1 if it is compacted or beyond the last index. term(0) is 0. */
  term (i: number): number {
    if (i >= this.offset) {
      const e = this.unstable[i - this.offset]
      return e === undefined ? -1 : e.term
    }
    const us = this.unstableSnapshot
    if (us !== undefined) {
      if (i === us.metadata.index) return us.metadata.term
      return -1
    }
    const dummy = this.storage.firstIndex() - 1
    if (i < dummy || i > this.storage.lastIndex()) return -1
    try {
      return this.storage.term(i)
    } catch {
      return -1
    }
  }

  lastTerm (): number {
    return this.term(this.lastIndex())
  }

  matchTerm (i: number, t: number): boolean {
    return this.term(i) === t
  }

  /** Raft §5.4.1: is a log ending at (lastIndex, lastTerm) at least as up to date as ours? */
  isUpToDate (lastIndex: number, lastTerm: number): boolean {
    const t = this.lastTerm()
    return lastTerm > t || (lastTerm === t && lastIndex >= this.lastIndex())
  }

  /**
   * Follower side of an append. Returns the last new index, -1 if (index, logTerm) does not match, or
   * -2 if the entries conflict with a committed entry (impossible from a correct leader: the caller
   * drops the message).
   */
  maybeAppend (index: number, logTerm: number, committed: number, ents: Entry[]): number {
    if (!this.matchTerm(index, logTerm)) return -1
    const lastNew = index + ents.length
    const ci = this.findConflict(ents)
    if (ci !== 0) {
      if (ci <= this.committed) return -2
      this.append(ci === ents[0]!.index ? ents : ents.slice(ci - (index + 1)))
    }
    this.commitTo(Math.min(committed, lastNew))
    return lastNew
  }

  /** First index in ents whose term differs from ours (or that we lack); 0 if all match. */
  findConflict (ents: Entry[]): number {
    for (let k = 0; k < ents.length; k++) {
      const e = ents[k]!
      if (this.term(e.index) !== e.term) return e.index
    }
    return 0
  }

  /** The largest index <= `index` whose term is <= `term` (fast backtracking hint). */
  findConflictByTerm (index: number, term: number): number {
    for (; index > 0; index--) {
      const t = this.term(index)
      if (t === -1) return index // compacted (or unknown): stop here
      if (t <= term) break
    }
    return index
  }

  /** Unstable entries not yet handed out in a Ready. */
  hasUnhandedEntries (): boolean {
    return this.offset + this.unstable.length - 1 > this.inProgress
  }

  /** The unstable entries not yet handed out (a copy), now marked in progress. */
  takeUnhandedEntries (): Entry[] {
    const from = Math.max(0, this.inProgress + 1 - this.offset)
    const out = from === 0 ? this.unstable.slice() : this.unstable.slice(from)
    this.inProgress = this.offset + this.unstable.length - 1
    return out
  }

  /** The last index of the log as stable storage holds it (entries of the unstable suffix excluded). */
  durableLastIndex (): number {
    if (this.unstableSnapshot !== undefined) return 0
    return Math.min(this.storage.lastIndex(), this.offset - 1)
  }

  /** Append entries to the unstable suffix, truncating any conflicting suffix. Returns lastIndex. */
  append (ents: Entry[]): number {
    if (ents.length === 0) return this.lastIndex()
    const after = ents[0]!.index
    if (after - 1 < this.committed) throw new RaftInvariantError(`append at ${after} would overwrite committed ${this.committed}`)
    // Entries handed out from `after` on are replaced: the new ones are handed out again.
    if (after <= this.inProgress) this.inProgress = after - 1
    const end = this.offset + this.unstable.length
    if (after === end) {
      for (let k = 0; k < ents.length; k++) this.unstable.push(ents[k]!)
    } else if (after <= this.offset) {
      this.offset = after
      this.unstable = ents.slice()
    } else {
      this.unstable = this.unstable.slice(0, after - this.offset).concat(ents)
    }
    return this.lastIndex()
  }

  commitTo (to: number): void {
    if (to > this.committed) {
      if (to > this.lastIndex()) throw new RaftInvariantError(`commit ${to} beyond last index ${this.lastIndex()}`)
      this.committed = to
    }
  }

  /** Figure 8: commit maxIndex only if its entry is of the current term. */
  maybeCommit (maxIndex: number, term: number): boolean {
    if (maxIndex > this.committed && this.term(maxIndex) === term) {
      this.commitTo(maxIndex)
      return true
    }
    return false
  }

  /**
   * Entries in [lo, hi) with at most `bytesMax` data bytes (at least one). Returns undefined when lo
   * is compacted (the caller sends a snapshot instead).
   */
  slice (lo: number, hi: number, bytesMax: number): Entry[] | undefined {
    if (lo < this.firstIndex()) return undefined
    hi = Math.min(hi, this.lastIndex() + 1)
    if (lo >= hi) return []
    let out: Entry[] = []
    let size = 0
    if (lo < this.offset) {
      try {
        out = this.storage.entries(lo, Math.min(hi, this.offset), bytesMax)
      } catch {
        return undefined
      }
      for (let k = 0; k < out.length; k++) size += out[k]!.data.length
      if (out.length < Math.min(hi, this.offset) - lo) return out // size limit hit
    }
    for (let i = Math.max(lo, this.offset); i < hi; i++) {
      const e = this.unstable[i - this.offset]!
      size += e.data.length
      if (out.length > 0 && size > bytesMax) break
      out.push(e)
    }
    return out
  }

  snapshot (): Snapshot {
    return this.unstableSnapshot ?? this.storage.snapshot()
  }

  hasNextCommittedEnts (): boolean {
    if (this.unstableSnapshot !== undefined) return false
    return this.committed > Math.max(this.applying, this.firstIndex() - 1)
  }

  nextCommittedEnts (bytesMax: number): Entry[] {
    if (this.unstableSnapshot !== undefined) return []
    const lo = Math.max(this.applying + 1, this.firstIndex())
    if (this.committed < lo) return []
    return this.slice(lo, this.committed + 1, bytesMax) ?? []
  }

  /** The application persisted entries up to (i, t). */
  stableTo (i: number, t: number): void {
    if (i < this.offset) return
    const e = this.unstable[i - this.offset]
    if (e === undefined || e.term !== t) return
    this.unstable = this.unstable.slice(i + 1 - this.offset)
    this.offset = i + 1
    if (this.inProgress < i) this.inProgress = i
  }

  stableSnapTo (i: number): void {
    if (this.unstableSnapshot !== undefined && this.unstableSnapshot.metadata.index === i) this.unstableSnapshot = undefined
  }

  /** Replace the log with a snapshot (follower installing MsgSnap). */
  restore (s: Snapshot): void {
    this.committed = s.metadata.index
    this.unstableSnapshot = s
    this.unstable = []
    this.offset = s.metadata.index + 1
    this.inProgress = s.metadata.index
  }

  appliedTo (i: number): void {
    if (i > this.applied) this.applied = i
    if (i > this.applying) this.applying = i
  }
}
