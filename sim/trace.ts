/**
 * The ordered event trace of a run, folded into a SHA-256 as it grows (nothing is kept in memory). Two
 * runs with the same scenario and seed give the same hash; any divergence in event order changes it.
 *
 * Events are the simulation's inputs and decisions in order: steps, faults, ticks' effects as message
 * deliveries (with each message's type, term, indexes and entry count), role changes, snapshots,
 * refusals, client operations and their answers. Persisting and applying are deterministic
 * consequences of these and are not traced. Lines are hashed as latin1.
 */
import { createHash } from 'node:crypto'
import type { Hash } from 'node:crypto'

export class Trace {
  private readonly h: Hash = createHash('sha256')
  private buf = ''
  /** Events recorded. */
  events = 0

  /** Record one event (a short line). */
  add (line: string): void {
    this.events++
    this.buf += line
    this.buf += '\n'
    if (this.buf.length > 1 << 16) { this.h.update(this.buf, 'latin1'); this.buf = '' }
  }

  /** The hex digest; the trace cannot be extended afterwards. */
  digest (): string {
    this.h.update(this.buf, 'latin1')
    this.buf = ''
    return this.h.digest('hex')
  }
}
