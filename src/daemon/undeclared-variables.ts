/**
 * `variable:changed` (kind eventual) for variables written elsewhere that this peer never declared (the
 * daemon's event stream; http.ts): their contributions changed, so their merged value is read (under the
 * rule they carry) and streamed when it differs from the last one streamed. Batched once per turn of the
 * event loop.
 *
 * What is kept is bounded twice: a digest of the last value streamed per variable (at most
 * `trackedMax` variables, the oldest forgotten first: an unchanged merge is then no event), and the last
 * values themselves, for the events' `previous`, at most `valueCharsMax` characters of JSON in all (the
 * oldest dropped first: a variable whose value was dropped streams its next change without `previous`).
 * Names beyond `pendingMax` in one batch (a join that brings many variables at once) are not streamed
 * until they change again; they are counted and logged.
 */
import { createHash } from 'node:crypto'
import type { Peer } from '../../peers/peer.js'

/** Eventual variables this daemon never declared whose last streamed value it remembers (the oldest go first). */
export const UNDECLARED_VARIABLES_TRACKED_MAX = 10_000
/** JSON characters of the last streamed values kept for `previous`, all variables together. */
export const UNDECLARED_VALUES_CHARS_MAX = 8 * 1024 * 1024

export interface UndeclaredLimits { trackedMax: number, pendingMax: number, valueCharsMax: number }

export interface UndeclaredFollower {
  stop: () => void
  readonly stats: { streamed: number, dropped: number }
  /** JSON characters of the values kept for `previous` now. */
  valueChars: () => number
}

export function followUndeclaredVariables (peer: Peer, broadcast: (type: string, data: unknown) => void, limits: Partial<UndeclaredLimits> = {}): UndeclaredFollower {
  const trackedMax = limits.trackedMax ?? UNDECLARED_VARIABLES_TRACKED_MAX
  const pendingMax = limits.pendingMax ?? UNDECLARED_VARIABLES_TRACKED_MAX
  const valueCharsMax = limits.valueCharsMax ?? UNDECLARED_VALUES_CHARS_MAX
  const stats = { streamed: 0, dropped: 0 }
  /** Digest of the last value streamed, by name (insertion order: the oldest first). */
  const digests = new Map<string, string>()
  /** The last value streamed as JSON, by name, oldest first; `chars` in all. */
  const values = new Map<string, string>()
  let chars = 0
  const forget = (name: string): void => {
    const json = values.get(name)
    if (json === undefined) return
    values.delete(name)
    chars -= json.length
  }
  const pending = new Set<string>()
  let dropped = 0
  let scheduled: ReturnType<typeof setImmediate> | undefined
  const flush = (): void => {
    scheduled = undefined
    const names = [...pending]
    pending.clear()
    if (dropped > 0) {
      peer.log.warn('undeclared variables changed beyond the batch bound: not streamed until they change again', { dropped, pendingMax })
      dropped = 0
    }
    for (const name of names) {
      let reading: ReturnType<Peer['variables']['read']>
      try { reading = peer.variables.read(name) } catch { continue }
      if (reading.merge === null) continue
      const json = JSON.stringify(reading.value) ?? 'null'
      const digest = createHash('sha256').update(json).digest('base64url')
      if (digests.get(name) === digest) continue
      const previous = values.get(name)
      digests.delete(name)
      forget(name)
      if (digests.size >= trackedMax) {
        const oldest = digests.keys().next().value!
        digests.delete(oldest)
        forget(oldest)
      }
      digests.set(name, digest)
      if (json.length <= valueCharsMax) {
        values.set(name, json)
        chars += json.length
        while (chars > valueCharsMax) forget(values.keys().next().value!)
      }
      stats.streamed++
      broadcast('variable:changed', { kind: 'eventual', name, value: reading.value, ...(previous !== undefined ? { previous: JSON.parse(previous) as unknown } : {}) })
    }
  }
  const off = peer.variables.on('contributions:changed', ({ names }) => {
    for (const n of names) {
      if (pending.has(n)) continue
      if (pending.size < pendingMax) pending.add(n)
      else { dropped++; stats.dropped++ }
    }
    scheduled ??= setImmediate(flush)
  })
  return {
    stop: () => { off(); if (scheduled !== undefined) clearImmediate(scheduled) },
    stats,
    valueChars: () => chars
  }
}
