/**
 * Per-follower replication progress kept by the leader (etcd's tracker.Progress), with the in-flight
 * window (a ring buffer of the last index of each unacknowledged append message).
 */
import type { ProgressState, ProgressStatus } from './types.js'

/** Ring buffer of in-flight append messages; capacity is maxInflightMsgs. */
export class Inflights {
  private readonly buf: number[]
  private start = 0
  count = 0
  constructor (readonly size: number) {
    this.buf = new Array<number>(size).fill(0)
  }

  add (lastIndex: number): void {
    let next = this.start + this.count
    if (next >= this.size) next -= this.size
    this.buf[next] = lastIndex
    this.count++
  }

  /** Free every in-flight message whose last index is <= `to`. */
  freeLE (to: number): void {
    if (this.count === 0 || to < this.buf[this.start]!) return
    let i = 0
    let idx = this.start
    for (; i < this.count; i++) {
      if (to < this.buf[idx]!) break
      idx++
      if (idx >= this.size) idx -= this.size
    }
    this.count -= i
    this.start = idx
    if (this.count === 0) this.start = 0
  }

  freeFirstOne (): void {
    if (this.count === 0) return
    this.freeLE(this.buf[this.start]!)
  }

  full (): boolean { return this.count >= this.size }

  reset (): void { this.count = 0; this.start = 0 }
}

export class Progress {
  // Invariant: match < next.
  match = 0
  next: number
  state: ProgressState = 'probe'
  /** In probe state: an append was sent and not yet answered (pauses further probes until a heartbeat response). */
  probeSent = false
  /** In snapshot state: the index of the snapshot sent. */
  pendingSnapshot = 0
  /** Ticks spent in snapshot state (the leader retries by probing after an election timeout). */
  snapshotTicks = 0
  /** Heard from since the last check-quorum round. */
  recentActive = true
  readonly inflights: Inflights

  constructor (next: number, inflightMax: number, public learner: boolean) {
    this.next = next
    this.inflights = new Inflights(inflightMax)
  }

  private resetState (state: ProgressState): void {
    this.state = state
    this.probeSent = false
    this.pendingSnapshot = 0
    this.snapshotTicks = 0
    this.inflights.reset()
  }

  becomeProbe (): void {
    if (this.state === 'snapshot') {
      const ps = this.pendingSnapshot
      this.resetState('probe')
      this.next = Math.max(this.match + 1, ps + 1)
    } else {
      this.resetState('probe')
      this.next = this.match + 1
    }
  }

  becomeReplicate (): void {
    this.resetState('replicate')
    this.next = this.match + 1
  }

  becomeSnapshot (index: number): void {
    this.resetState('snapshot')
    this.pendingSnapshot = index
  }

  /** Acknowledge that the follower has everything up to n. Returns true if match moved. */
  maybeUpdate (n: number): boolean {
    let updated = false
    if (this.match < n) {
      this.match = n
      updated = true
      this.probeSent = false
    }
    if (this.next < n + 1) this.next = n + 1
    return updated
  }

  /** Handle a rejection of the append at `rejected`; `matchHint` is the follower's hint. False if stale. */
  maybeDecrTo (rejected: number, matchHint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false
      this.next = this.match + 1
      return true
    }
    if (this.next - 1 !== rejected) return false
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1)
    this.probeSent = false
    return true
  }

  /** Record an append of entries ending at lastIndex (or an empty probe). */
  sentEntries (lastIndex: number, count: number): void {
    if (this.state === 'replicate') {
      if (count > 0) {
        this.next = lastIndex + 1
        this.inflights.add(lastIndex)
      }
    } else if (this.state === 'probe') {
      this.probeSent = true
    }
  }

  isPaused (): boolean {
    switch (this.state) {
      case 'probe': return this.probeSent
      case 'replicate': return this.inflights.full()
      default: return true
    }
  }

  status (): ProgressStatus {
    return { match: this.match, next: this.next, state: this.state, learner: this.learner, inflight: this.inflights.count, recentActive: this.recentActive }
  }
}
