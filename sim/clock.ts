/**
 * Virtual time for the simulator: a clock that only moves when told to, and an event queue ordered by
 * (time, insertion sequence), so events at the same instant run in the order they were scheduled and a
 * seed reproduces a run exactly. Nothing here reads the wall clock.
 */
import { LimitExceededError } from '../src/base/errors.js'
import { MinHeap } from '../src/base/heap.js'

/** Default bound on queued events. */
export const EVENTS_MAX_DEFAULT = 1_000_000

interface Slot<T> { at: number, seq: number, item: T }

/** A min-heap of items keyed by (at, seq). */
export class EventQueue<T> {
  private readonly heap = new MinHeap<Slot<T>>(less)
  private seq = 0
  /** Bound on queued items; pushing past it throws {@link LimitExceededError}. */
  readonly eventsMax: number

  constructor (eventsMax = EVENTS_MAX_DEFAULT) {
    this.eventsMax = eventsMax
  }

  get size (): number { return this.heap.size }

  /** Queue `item` at time `at`. */
  push (at: number, item: T): void {
    if (this.heap.size >= this.eventsMax) throw new LimitExceededError('eventsMax', this.eventsMax, this.heap.size + 1, 'queued events')
    this.heap.push({ at, seq: this.seq++, item })
  }

  /** Time of the earliest item, or `Infinity` when empty. */
  peekTime (): number {
    return this.heap.peek()?.at ?? Infinity
  }

  /** Remove and return the earliest item with its time. */
  pop (): { at: number, item: T } | undefined {
    const top = this.heap.pop()
    return top === undefined ? undefined : { at: top.at, item: top.item }
  }

  clear (): void { this.heap.clear() }
}

function less<T> (a: Slot<T>, b: Slot<T>): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq)
}

/** A virtual clock in milliseconds (or ticks, in step mode). Invariant: `now` never decreases. */
export class VirtualClock {
  private t = 0

  get now (): number { return this.t }

  /** Move time forward to `t` (never backwards). */
  advanceTo (t: number): void {
    if (t < this.t) throw new RangeError(`clock cannot go back from ${this.t} to ${t}`)
    this.t = t
  }
}
