/**
 * A simulated network between numbered nodes. Faults: per-link latency range, random drop, duplicate
 * and reorder (extra delay), and filters in the manner of etcd's raft test network: `isolate`, `cut`,
 * `partition`, drop by message type, `recover`. Messages travel through an {@link EventQueue} keyed by
 * delivery time, so with zero latency the network is FIFO (step mode) and with a latency range it is a
 * timed network. All randomness comes from the injected {@link Rand}; a dropped message is counted.
 */
import { EventQueue } from './clock.js'
import type { Rand } from '../src/base/prng.js'

export interface NetworkOptions {
  /** Latency range [min, max] (inclusive) in time units. Default [0, 0]. */
  latencyMs?: [number, number]
  /** Probability of losing each message. Default 0. */
  drop?: number
  /** Probability of delivering a message twice. Default 0. */
  duplicate?: number
  /** Probability of delaying a message by up to one extra latency max (reordering it). Default 0. */
  reorder?: number
  /** Bound on messages in flight; past it new messages are dropped and counted. Default 1,000,000. */
  inFlightMax?: number
}

export interface Envelope<M> { from: number, to: number, msg: M }

export interface NetworkStats {
  sent: number
  delivered: number
  droppedByFilter: number
  droppedRandom: number
  droppedOverflow: number
  duplicated: number
}

export class SimNetwork<M> {
  private readonly queue: EventQueue<Envelope<M>>
  private readonly rand: Rand
  private readonly typeOf: (msg: M) => string
  latencyMs: [number, number]
  dropRate: number
  duplicateRate: number
  reorderRate: number
  readonly inFlightMax: number
  private readonly isolated = new Set<number>()
  private readonly cuts = new Set<string>()
  private group: Map<number, number> | undefined
  private readonly droppedTypes = new Set<string>()
  readonly stats: NetworkStats = { sent: 0, delivered: 0, droppedByFilter: 0, droppedRandom: 0, droppedOverflow: 0, duplicated: 0 }

  /**
   * @param rand - the simulation's PRNG (or a fork of it)
   * @param typeOf - the type name of a message, for `dropType`
   */
  constructor (rand: Rand, typeOf: (msg: M) => string, options: NetworkOptions = {}) {
    this.rand = rand
    this.typeOf = typeOf
    this.latencyMs = options.latencyMs ?? [0, 0]
    this.dropRate = options.drop ?? 0
    this.duplicateRate = options.duplicate ?? 0
    this.reorderRate = options.reorder ?? 0
    this.inFlightMax = options.inFlightMax ?? 1_000_000
    this.queue = new EventQueue(this.inFlightMax + 1)
  }

  /** Messages in flight. */
  get inFlight (): number { return this.queue.size }

  /** Drop every message to and from `id`. */
  isolate (id: number): void { this.isolated.add(id) }
  /** Drop messages between `a` and `b`, both ways. */
  cut (a: number, b: number): void { this.cuts.add(pairKey(a, b)) }
  /** Only nodes in the same group can talk; nodes in no group are cut from everyone. */
  partition (groups: number[][]): void {
    this.group = new Map()
    groups.forEach((g, i) => { for (const id of g) this.group?.set(id, i) })
  }

  /** Drop every message of a type. */
  dropType (type: string): void { this.droppedTypes.add(type) }
  /** Remove every filter (isolations, cuts, partitions, type drops). Random faults stay. */
  recover (): void {
    this.isolated.clear()
    this.cuts.clear()
    this.group = undefined
    this.droppedTypes.clear()
  }

  /** Whether the filters currently let a message of `type` pass from `from` to `to`. */
  allows (from: number, to: number, type?: string): boolean {
    if (this.isolated.has(from) || this.isolated.has(to)) return false
    if (this.cuts.size > 0 && this.cuts.has(pairKey(from, to))) return false
    if (this.group !== undefined) {
      const a = this.group.get(from)
      const b = this.group.get(to)
      if (a === undefined || b === undefined || a !== b) return false
    }
    if (type !== undefined && this.droppedTypes.has(type)) return false
    return true
  }

  /** Send a message at time `now`; it is queued for delivery after a random latency. */
  send (from: number, to: number, msg: M, now: number): void {
    this.stats.sent++
    if (!this.allows(from, to, this.typeOf(msg))) { this.stats.droppedByFilter++; return }
    if (this.dropRate > 0 && this.rand.chance(this.dropRate)) { this.stats.droppedRandom++; return }
    const copies = this.duplicateRate > 0 && this.rand.chance(this.duplicateRate) ? 2 : 1
    if (copies === 2) this.stats.duplicated++
    for (let c = 0; c < copies; c++) {
      if (this.queue.size >= this.inFlightMax) { this.stats.droppedOverflow++; return }
      const [lo, hi] = this.latencyMs
      let delay = hi > lo ? this.rand.range(lo, hi + 1) : lo
      if (this.reorderRate > 0 && this.rand.chance(this.reorderRate)) delay += this.rand.range(0, hi + 2)
      this.queue.push(now + delay, { from, to, msg })
    }
  }

  /** Time of the next delivery, or `Infinity`. */
  nextDeliveryTime (): number { return this.queue.peekTime() }

  /**
   * Take the next message due at or before `until`, applying the filters at delivery time (a partition
   * that starts while a message is in flight loses it). Returns undefined when nothing is due.
   */
  deliverNext (until: number): (Envelope<M> & { at: number }) | undefined {
    while (this.queue.peekTime() <= until) {
      const e = this.queue.pop()
      if (e === undefined) return undefined
      if (!this.allows(e.item.from, e.item.to, this.typeOf(e.item.msg))) { this.stats.droppedByFilter++; continue }
      this.stats.delivered++
      return { ...e.item, at: e.at }
    }
    return undefined
  }
}

function pairKey (a: number, b: number): string {
  return a < b ? `${a}:${b}` : `${b}:${a}`
}
