/**
 * The ordered event trace of a run, folded into a SHA-256 as it grows (nothing is kept in memory). Two
 * runs with the same scenario and seed give the same hash; any divergence in event order changes it.
 *
 * Events are the simulation's inputs and decisions in order: steps, faults, ticks' effects as message
 * deliveries (with each message's type, term, indexes and entry count), role changes, snapshots,
 * refusals, client operations and their answers. Persisting and applying are deterministic
 * consequences of these and are not traced. Lines are written as latin1, newline-terminated, into a
 * block buffer that is hashed whenever it fills.
 */
import { createHash } from 'node:crypto'
import type { Hash } from 'node:crypto'

/** Size of the block buffer in bytes. */
export const TRACE_BLOCK_BYTES = 1 << 16

export class Trace {
  private readonly h: Hash = createHash('sha256')
  private readonly block = Buffer.allocUnsafe(TRACE_BLOCK_BYTES)
  private used = 0
  /** Events recorded. */
  events = 0

  /** Record one event (a short line). */
  add (line: string): void {
    this.events++
    const need = line.length + 1
    if (this.used + need > TRACE_BLOCK_BYTES) this.flush()
    if (need > TRACE_BLOCK_BYTES) {
      this.h.update(line + '\n', 'latin1')
      return
    }
    this.used += this.block.write(line, this.used, 'latin1')
    this.block[this.used++] = 0x0a
  }

  private flush (): void {
    if (this.used > 0) this.h.update(this.block.subarray(0, this.used))
    this.used = 0
  }

  /** The hex digest; the trace cannot be extended afterwards. */
  digest (): string {
    this.flush()
    return this.h.digest('hex')
  }
}
