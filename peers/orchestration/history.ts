/**
 * The bounded history of an orchestrated variable: coordinations (instructions delivered for a version)
 * and adaptations (what the adaptation function proposed, and what came of it). Kept in Raft (the strong
 * variable `orch:<name>:history`, a JSON list of the last `historyMax` entries), so any peer reads it.
 * Pure: the owner's code computes the next list with {@link appendHistory}.
 */
import { STRONG_VALUE_BYTES_MAX } from '../../protocols/variables/strong-map.js'
import { HISTORY_OUTCOMES_MAX, HISTORY_REASON_CHARS_MAX, HISTORY_VALUE_BYTES_MAX } from './limits.js'

/** One agent's delivery in a coordination round: `ok`, or the error code of the last attempt. */
export interface DeliveryOutcome {
  agent: string
  ok: boolean
  /** The error code when not ok (ERR_TIMEOUT, ERR_UNKNOWN_AGENT, ERR_NOT_AFFECTED, ...). */
  code?: string
  /** Attempts made (1 when the first succeeded). */
  attempts: number
  /** Ms from the first attempt to the last answer. */
  ms: number
}

interface EntryBase {
  /** 1, 2, ...: position in the whole history (also of the entries dropped by the bound). */
  seq: number
  /** Wall-clock ms on the owner when the entry was written. */
  at: number
  /** The owning peer that wrote it. */
  owner: string
}

export interface CoordinationEntry extends EntryBase {
  kind: 'coordination'
  /** The version and value the instructions were computed from. */
  version: number
  value: unknown
  /** Why the round ran: a new owner took office, the value changed, or the set of affected agents changed. */
  trigger: 'takeover' | 'value' | 'team'
  /** Affected agents, instructions computed, delivered, failed. */
  agents: number
  instructions: number
  delivered: number
  failed: number
  /** Per-agent outcomes: the failures first, then successes, at most {@link HISTORY_OUTCOMES_MAX}. */
  outcomes: DeliveryOutcome[]
  /** The coordination function threw (no instruction was delivered): its error. */
  error?: string
  /** The affected set was cut at AFFECTED_AGENTS_MAX. */
  truncated?: boolean
}

export interface AdaptationEntry extends EntryBase {
  kind: 'adaptation'
  /** The version the proposal was made against, and the version it produced when applied. */
  version: number
  newVersion?: number
  /** The value before and the proposal. */
  value: unknown
  proposed?: unknown
  /**
   * `applied`: the proposal became the value; `refused`: it broke the constraints; `conflict`: the value
   * changed meanwhile (someone set it); `error`: the adaptation function threw.
   */
  outcome: 'applied' | 'refused' | 'conflict' | 'error'
  reason?: string
  /** Metrics the round was fed, and metrics dropped from the window since the last round. */
  metrics: number
  dropped: number
}

export type HistoryEntry = CoordinationEntry | AdaptationEntry
/** An entry before the history numbers it. */
export type NewHistoryEntry = Omit<CoordinationEntry, 'seq'> | Omit<AdaptationEntry, 'seq'>

/** Cuts a reason or error text to {@link HISTORY_REASON_CHARS_MAX}. */
export function shortReason (text: string): string {
  return text.length <= HISTORY_REASON_CHARS_MAX ? text : text.slice(0, HISTORY_REASON_CHARS_MAX - 1) + '…'
}

/** A value as a history entry shows it: as is up to {@link HISTORY_VALUE_BYTES_MAX} bytes of JSON, else a marker. */
export function shownValue (value: unknown): unknown {
  const bytes = Buffer.byteLength(JSON.stringify(value) ?? '')
  return bytes <= HISTORY_VALUE_BYTES_MAX ? value : { omitted: 'value', bytes }
}

/** The outcomes a coordination entry lists: failures first, then successes, at most {@link HISTORY_OUTCOMES_MAX}. */
export function listedOutcomes (all: readonly DeliveryOutcome[]): DeliveryOutcome[] {
  const failed = all.filter(o => !o.ok)
  const ok = all.filter(o => o.ok)
  return [...failed, ...ok].slice(0, HISTORY_OUTCOMES_MAX)
}

/**
 * The history after `entry` (its values shown by {@link shownValue}): numbered after the last entry, the oldest entries dropped to keep at most
 * `max` entries and at most `bytesMax` bytes of JSON (the strong variable's bound). Never drops the new entry.
 */
export function appendHistory (history: readonly HistoryEntry[], entry: NewHistoryEntry, max: number, bytesMax = STRONG_VALUE_BYTES_MAX): HistoryEntry[] {
  const seq = (history.at(-1)?.seq ?? 0) + 1
  const shown = { ...entry, value: shownValue(entry.value), ...('proposed' in entry && entry.proposed !== undefined ? { proposed: shownValue(entry.proposed) } : {}) }
  const next = [...history, { ...shown, seq } as HistoryEntry]
  let from = Math.max(0, next.length - max)
  let bytes = Buffer.byteLength(JSON.stringify(next.slice(from)))
  while (bytes > bytesMax && from < next.length - 1) {
    bytes -= Buffer.byteLength(JSON.stringify(next[from])) + 1
    from++
  }
  return next.slice(from)
}

/** Whether a JSON value read from Raft is a history list (a foreign value under the key reads as empty). */
export function asHistory (v: unknown): HistoryEntry[] {
  return Array.isArray(v) ? v.filter((e): e is HistoryEntry => e !== null && typeof e === 'object' && ((e as HistoryEntry).kind === 'coordination' || (e as HistoryEntry).kind === 'adaptation') && Number.isSafeInteger((e as HistoryEntry).seq)) : []
}
