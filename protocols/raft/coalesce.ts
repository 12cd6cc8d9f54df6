/**
 * Coalescing of a Ready's append messages: the leader emits one append per proposal; consecutive,
 * contiguous appends to the same follower travel as one message (one write, one answer).
 */
import type { Message, NodeId } from './types.js'

/** Entries and data bytes of one coalesced append (the wire's limits). */
const COALESCE_ENTRIES_MAX = 4096
const COALESCE_BYTES_MAX = 1024 * 1024

/**
 * Merges consecutive, contiguous `append` messages to the same follower in one Ready into one message
 * (the leader emits one per proposal). Equivalent for the follower: it appends the same entries in the
 * same order and answers once for the highest index, which acknowledges both in the leader's window.
 */
export function coalesceAppends (msgs: readonly Message[]): Message[] {
  const out: Message[] = []
  const lastAppendTo = new Map<NodeId, number>()
  const bytesOf = new Map<number, number>()
  const copied = new Set<number>()
  const size = (m: Message): number => { let n = 0; for (const e of m.entries) n += e.data.length; return n }
  for (const m of msgs) {
    if (m.type === 'append') {
      const k = lastAppendTo.get(m.to)
      const prev = k !== undefined ? out[k] : undefined
      const mBytes = size(m)
      if (prev !== undefined && prev.term === m.term && m.index === prev.index + prev.entries.length &&
        m.logTerm === (prev.entries.length > 0 ? prev.entries[prev.entries.length - 1]!.term : prev.logTerm) &&
        prev.entries.length + m.entries.length <= COALESCE_ENTRIES_MAX &&
        bytesOf.get(k!)! + mBytes <= COALESCE_BYTES_MAX) {
        // The first merge copies (the core's message is not mutated); later ones extend that copy.
        const merged = copied.has(k!) ? prev : { ...prev, entries: prev.entries.slice() }
        copied.add(k!)
        for (const e of m.entries) merged.entries.push(e)
        merged.commit = Math.max(prev.commit, m.commit)
        out[k!] = merged
        bytesOf.set(k!, bytesOf.get(k!)! + mBytes)
        continue
      }
      lastAppendTo.set(m.to, out.length)
      bytesOf.set(out.length, mBytes)
    } else {
      // Anything else to that follower keeps its place: later appends start a new message.
      lastAppendTo.delete(m.to)
    }
    out.push(m)
  }
  return out
}
