/**
 * Client sessions: the exactly-once window of the replicated log (Raft thesis §6.3), one table for
 * every replicated application.
 *
 * A session (client id) remembers the results of its recently applied commands by sequence number, a
 * window of {@link SESSION_WINDOW} so a client may have many commands in flight, and `floor`: every seq
 * at or below it was forgotten. A command is:
 * - `new`: not applied yet; apply it and {@link SessionTable.record} its result;
 * - `duplicate`: applied before (a retry); answer its cached result, apply nothing;
 * - `forgotten`: at or below the floor; it may have applied long ago, so it is not applied again and
 *   its outcome is unknown to the retry.
 *
 * Bounds, all deterministic (every replica makes the same decisions from the same entries; the table
 * is part of the replicated state and of every snapshot):
 * - sessions are kept in least-recently-applied order, at most `sessionsMax`; one origin (the peer
 *   before the "/" of a client id) holds at most `sessionsPerOriginMax`, and a new session of an origin
 *   at its cap replaces that origin's least recently used one, so a peer making up sessions evicts its
 *   own before anyone else's;
 * - a cached result larger than {@link RESULT_CHARS_MAX} (as JSON) is kept as a summary (`ok`, `code`,
 *   `truncated: true`): a retry learns whether it applied, not the whole answer;
 * - all cached results together stay under `resultCharsTotalMax`: beyond it, the least recently used
 *   sessions are forgotten.
 * A retry of a session that was forgotten is applied as new: exactly-once holds while the session is
 * remembered (see the fault model in README.md).
 */
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { DecodeError } from '../../src/base/errors.js'
import { originOf } from './envelope.js'

/** Applied commands remembered per session. */
export const SESSION_WINDOW = 4096
/** Sessions remembered (least recently applied forgotten first). */
export const SESSIONS_MAX = 10_000
/** Sessions one origin may hold (its least recently used is replaced). */
export const SESSIONS_PER_ORIGIN_MAX = 256
/** Largest result cached as is (JSON characters); a larger one is cached as a summary. */
export const RESULT_CHARS_MAX = 1024
/** JSON characters of all cached results together (least recently used sessions forgotten beyond). */
export const RESULT_CHARS_TOTAL_MAX = 64 * 1024 * 1024

export type SessionCheck =
  | { status: 'new' }
  | { status: 'duplicate', result: unknown }
  | { status: 'forgotten' }

/**
 * One session: its cached results by seq, and `order`, the seqs in the order they were recorded from
 * `head` on (the oldest is forgotten first). A queue, not the Map's own order: taking a Map's first key
 * after many deletions at its front walks over every deleted slot until the Map is rehashed (a few µs
 * per command with a full window).
 */
export interface Session { floor: number, results: Map<number, { result: unknown, chars: number }>, chars: number, order: number[], head: number }

function newSession (floor: number): Session {
  return { floor, results: new Map(), chars: 0, order: [], head: 0 }
}

export interface SessionLimits {
  sessionsMax: number
  windowMax: number
  sessionsPerOriginMax: number
  resultCharsTotalMax: number
}

export class SessionTable {
  private readonly sessions = new Map<string, Session>()
  /** Client ids of each origin, least recently used first. */
  private readonly byOrigin = new Map<string, Set<string>>()
  private chars = 0
  /** The most recently used session (already at the end of both orders: touching it again changes nothing). */
  private mru: string | undefined
  readonly limits: SessionLimits

  constructor (sessionsMax = SESSIONS_MAX, windowMax = SESSION_WINDOW, limits: Partial<Pick<SessionLimits, 'sessionsPerOriginMax' | 'resultCharsTotalMax'>> = {}) {
    this.limits = {
      sessionsMax,
      windowMax,
      sessionsPerOriginMax: limits.sessionsPerOriginMax ?? SESSIONS_PER_ORIGIN_MAX,
      resultCharsTotalMax: limits.resultCharsTotalMax ?? RESULT_CHARS_TOTAL_MAX
    }
  }

  get size (): number { return this.sessions.size }
  /** JSON characters of the cached results. */
  get resultChars (): number { return this.chars }

  /** What becomes of command `seq` of session `clientId`. */
  check (clientId: string, seq: number): SessionCheck {
    const s = this.sessions.get(clientId)
    if (s === undefined) return { status: 'new' }
    const r = s.results.get(seq)
    if (r !== undefined) return { status: 'duplicate', result: r.result }
    if (seq <= s.floor) return { status: 'forgotten' }
    return { status: 'new' }
  }

  /** Records the result of a command just applied (after {@link check} said `new`). */
  record (clientId: string, seq: number, result: unknown): void {
    let s = this.sessions.get(clientId)
    if (s === undefined) {
      s = newSession(0)
      this.makeRoomFor(originOf(clientId))
    }
    this.touch(clientId, s)
    const cached = cacheable(result)
    const before = s.results.get(seq)
    if (before !== undefined) {
      // Recorded again (not after a `new` check): the result is replaced in place, as Map.set does.
      s.chars -= before.chars
      this.chars -= before.chars
    } else {
      s.order.push(seq)
    }
    s.results.set(seq, cached)
    s.chars += cached.chars
    this.chars += cached.chars
    if (s.results.size > this.limits.windowMax) {
      // Forget the oldest applied command (same order on every replica).
      const oldest = s.order[s.head++]!
      const r = s.results.get(oldest)!
      s.results.delete(oldest)
      s.chars -= r.chars
      this.chars -= r.chars
      s.floor = Math.max(s.floor, oldest)
      // The queue's consumed front is dropped once it is as long as the rest (amortised O(1)).
      if (s.head >= 1024 && s.head * 2 >= s.order.length) {
        s.order = s.order.slice(s.head)
        s.head = 0
      }
    }
    while (this.sessions.size > this.limits.sessionsMax) this.forget(this.sessions.keys().next().value!)
    // Never the session just written: its result is the one a retry is about to need.
    while (this.chars > this.limits.resultCharsTotalMax && this.sessions.size > 1) {
      const lru = this.sessions.keys().next().value!
      if (lru === clientId) break
      this.forget(lru)
    }
  }

  /** A new session of `origin` is coming: at its cap, the origin's least recently used one goes. */
  private makeRoomFor (origin: string): void {
    const mine = this.byOrigin.get(origin)
    if (mine !== undefined && mine.size >= this.limits.sessionsPerOriginMax) this.forget(mine.values().next().value!)
  }

  /** Moves session `clientId` to the most recently used end (of the table and of its origin). */
  private touch (clientId: string, s: Session): void {
    if (this.mru === clientId) return
    this.mru = clientId
    this.sessions.delete(clientId)
    this.sessions.set(clientId, s)
    const origin = originOf(clientId)
    let mine = this.byOrigin.get(origin)
    if (mine === undefined) { mine = new Set(); this.byOrigin.set(origin, mine) }
    mine.delete(clientId)
    mine.add(clientId)
  }

  private forget (clientId: string): void {
    const s = this.sessions.get(clientId)
    if (s === undefined) return
    this.sessions.delete(clientId)
    if (this.mru === clientId) this.mru = undefined
    this.chars -= s.chars
    const origin = originOf(clientId)
    const mine = this.byOrigin.get(origin)
    mine?.delete(clientId)
    if (mine?.size === 0) this.byOrigin.delete(origin)
  }

  clear (): void {
    this.mru = undefined
    this.sessions.clear()
    this.byOrigin.clear()
    this.chars = 0
  }

  /** Writes the table (the snapshot's first part), least recently used first. */
  write (e: encoding.Encoder): void {
    encoding.writeVarUint(e, this.sessions.size)
    for (const [id, s] of this.sessions) {
      encoding.writeVarString(e, id)
      encoding.writeVarUint(e, s.floor)
      encoding.writeVarUint(e, s.results.size)
      for (let k = s.head; k < s.order.length; k++) {
        const seq = s.order[k]!
        const r = s.results.get(seq)!
        encoding.writeVarUint(e, seq)
        encoding.writeVarString(e, jsonOf(r.result))
      }
    }
  }

  /**
   * Replaces the table with the one written by {@link write}. Throws {@link DecodeError} on anything
   * {@link write} cannot produce, leaving the table as it was.
   */
  read (d: decoding.Decoder): void {
    this.load(this.parse(d))
  }

  /** Decodes a table written by {@link write} without touching this one. Throws {@link DecodeError}. */
  parse (d: decoding.Decoder): Map<string, Session> {
    try {
      return this.parseUnchecked(d)
    } catch (err) {
      if (err instanceof DecodeError) throw err
      throw new DecodeError('session table', (err as Error).message ?? 'malformed', { cause: err })
    }
  }

  private parseUnchecked (d: decoding.Decoder): Map<string, Session> {
    const uint = (what: string): number => {
      const n = decoding.readVarUint(d)
      if (!Number.isSafeInteger(n)) throw new DecodeError('session table', `${what} is not a safe integer`)
      return n
    }
    const sessions = new Map<string, Session>()
    const n = uint('session count')
    // A written table never holds more than its bounds: counts beyond them are refused before any loop.
    if (n > this.limits.sessionsMax) throw new DecodeError('session table', `${n} sessions exceed ${this.limits.sessionsMax}`)
    for (let i = 0; i < n; i++) {
      const id = decoding.readVarString(d)
      if (sessions.has(id)) throw new DecodeError('session table', 'a session appears twice')
      const floor = uint('floor')
      const m = uint('result count')
      if (m > this.limits.windowMax) throw new DecodeError('session table', `${m} results exceed ${this.limits.windowMax}`)
      const s = newSession(floor)
      for (let k = 0; k < m; k++) {
        const seq = uint('seq')
        const text = decoding.readVarString(d)
        let result: unknown
        try { result = JSON.parse(text) } catch { throw new DecodeError('session table', 'a result is not JSON') }
        if (s.results.has(seq)) throw new DecodeError('session table', 'a result appears twice')
        s.results.set(seq, { result, chars: text.length })
        s.order.push(seq)
        s.chars += text.length
      }
      sessions.set(id, s)
    }
    return sessions
  }

  /** Replaces the table with a parsed one (see {@link parse}), least recently used first. */
  load (sessions: Map<string, Session>): void {
    this.clear()
    for (const [id, s] of sessions) {
      this.chars += s.chars
      this.touch(id, s)
    }
  }
}

/** A result as JSON text (a result that is not JSON, e.g. a bigint, is kept as null). */
function jsonOf (result: unknown): string {
  try { return JSON.stringify(result ?? null) ?? 'null' } catch { return 'null' }
}

/** Depth of nesting {@link jsonLength} walks (deeper results take JSON.stringify). */
const JSON_LENGTH_DEPTH_MAX = 8

/**
 * The length of `JSON.stringify(value)` without building it (every replica sizes every command's result),
 * for plain data: null, booleans, numbers, strings, arrays and plain objects, of at most
 * JSON_LENGTH_DEPTH_MAX levels; an array or object stops counting beyond `budget` characters. -1 when it cannot tell (anything else, or over the budget): the
 * caller then stringifies. Exact where it answers, so the sizes counted live and those read back from a
 * snapshot (the JSON text's length) agree on every replica.
 */
export function jsonLength (value: unknown, budget = RESULT_CHARS_MAX, depth = 0): number {
  if (value === null) return 4
  switch (typeof value) {
    case 'boolean': return value ? 4 : 5
    case 'number': return Number.isFinite(value) ? String(value).length : 4
    case 'string': return jsonStringLength(value)
    case 'object': break
    default: return -1
  }
  if (depth >= JSON_LENGTH_DEPTH_MAX || typeof (value as { toJSON?: unknown }).toJSON === 'function') return -1
  if (Array.isArray(value)) {
    let n = 2 + Math.max(0, value.length - 1)
    for (let i = 0; i < value.length; i++) {
      const x = value[i] as unknown
      const k = x === undefined || typeof x === 'function' || typeof x === 'symbol' ? 4 : jsonLength(x, budget - n, depth + 1)
      if (k < 0) return -1
      n += k
      if (n > budget) return -1
    }
    return n
  }
  const proto = Object.getPrototypeOf(value) as unknown
  if (proto !== Object.prototype && proto !== null) return -1
  const o = value as Record<string, unknown>
  let n = 2
  let first = true
  for (const key of Object.keys(o)) {
    const x = o[key]
    if (x === undefined || typeof x === 'function' || typeof x === 'symbol') continue
    const k = jsonLength(x, budget - n, depth + 1)
    if (k < 0) return -1
    n += (first ? 0 : 1) + jsonStringLength(key) + 1 + k
    first = false
    if (n > budget) return -1
  }
  return n
}

/** Length of a string as JSON text (quotes and escapes counted as JSON.stringify writes them). */
function jsonStringLength (s: string): number {
  let n = 2
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c >= 0x20 && c !== 0x22 && c !== 0x5c && (c < 0xd800 || c > 0xdfff)) { n++; continue }
    if (c === 0x22 || c === 0x5c || c === 0x08 || c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d) { n += 2; continue }
    if (c < 0x20) { n += 6; continue }
    // A surrogate pair is written as is; a lone surrogate as \uXXXX.
    if (c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1)
      if (d >= 0xdc00 && d <= 0xdfff) { n += 2; i++; continue }
    }
    n += 6
  }
  return n
}

/** What the table keeps of a result: itself when small, else a summary of whether and how it applied. */
function cacheable (result: unknown): { result: unknown, chars: number } {
  const fast = jsonLength(result ?? null)
  if (fast >= 0 && fast <= RESULT_CHARS_MAX) return { result, chars: fast }
  const json = jsonOf(result)
  if (json.length <= RESULT_CHARS_MAX) return { result, chars: json.length }
  const r = result as { ok?: unknown, code?: unknown, error?: { code?: unknown } } | null
  const summary: Record<string, unknown> = { truncated: true }
  if (r !== null && typeof r === 'object') {
    if (typeof r.ok === 'boolean') summary.ok = r.ok
    if (typeof r.code === 'string' && r.code.length <= 64) summary.code = r.code
    if (r.error !== null && typeof r.error === 'object' && typeof r.error.code === 'string' && r.error.code.length <= 64) summary.error = { code: r.error.code }
  }
  return { result: summary, chars: JSON.stringify(summary).length }
}
