/**
 * Virtual time for the simulator: a clock that only moves when told to, and an event queue ordered by
 * (time, insertion sequence), so events at the same instant run in the order they were scheduled and a
 * seed reproduces a run exactly. Nothing here reads the wall clock.
 */
import { LimitExceededError } from '../src/base/errors.js'

/** Default bound on queued events. */
export const EVENTS_MAX_DEFAULT = 1_000_000

interface Slot<T> { at: number, seq: number, item: T }

/** A min-heap of items keyed by (at, seq). */
export class EventQueue<T> {
  private readonly heap: Array<Slot<T>> = []
  private seq = 0
  /** Bound on queued items; pushing past it throws {@link LimitExceededError}. */
  readonly eventsMax: number

  constructor (eventsMax = EVENTS_MAX_DEFAULT) {
    this.eventsMax = eventsMax
  }

  get size (): number { return this.heap.length }

  /** Queue `item` at time `at`. */
  push (at: number, item: T): void {
    if (this.heap.length >= this.eventsMax) throw new LimitExceededError('eventsMax', this.eventsMax, this.heap.length + 1, 'queued events')
    const h = this.heap
    h.push({ at, seq: this.seq++, item })
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!less(h[i] as Slot<T>, h[p] as Slot<T>)) break
      swap(h, i, p)
      i = p
    }
  }

  /** Time of the earliest item, or `Infinity` when empty. */
  peekTime (): number {
    return this.heap[0]?.at ?? Infinity
  }

  /** Remove and return the earliest item with its time. */
  pop (): { at: number, item: T } | undefined {
    const h = this.heap
    const top = h[0]
    if (top === undefined) return undefined
    const last = h.pop() as Slot<T>
    if (h.length > 0) {
      h[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < h.length && less(h[l] as Slot<T>, h[m] as Slot<T>)) m = l
        if (r < h.length && less(h[r] as Slot<T>, h[m] as Slot<T>)) m = r
        if (m === i) break
        swap(h, i, m)
        i = m
      }
    }
    return { at: top.at, item: top.item }
  }

  clear (): void { this.heap.length = 0 }
}

function less<T> (a: Slot<T>, b: Slot<T>): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq)
}

function swap<T> (h: T[], i: number, j: number): void {
  const t = h[i] as T
  h[i] = h[j] as T
  h[j] = t
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
