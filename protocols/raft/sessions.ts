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
 * Sessions are kept in least-recently-applied order, at most `sessionsMax`. Every replica makes the same
 * decisions from the same entries: the table is part of the replicated state and of every snapshot.
 */
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { DecodeError } from '../../src/base/errors.js'

/** Applied commands remembered per session. */
export const SESSION_WINDOW = 4096
/** Sessions remembered (least recently applied forgotten first). */
export const SESSIONS_MAX = 10_000

export type SessionCheck =
  | { status: 'new' }
  | { status: 'duplicate', result: unknown }
  | { status: 'forgotten' }

export interface Session { floor: number, results: Map<number, unknown> }

export class SessionTable {
  private readonly sessions = new Map<string, Session>()

  constructor (readonly sessionsMax = SESSIONS_MAX, readonly windowMax = SESSION_WINDOW) {}

  get size (): number { return this.sessions.size }

  /** What becomes of command `seq` of session `clientId`. */
  check (clientId: string, seq: number): SessionCheck {
    const s = this.sessions.get(clientId)
    if (s === undefined) return { status: 'new' }
    if (s.results.has(seq)) return { status: 'duplicate', result: s.results.get(seq) }
    if (seq <= s.floor) return { status: 'forgotten' }
    return { status: 'new' }
  }

  /** Records the result of a command just applied (after {@link check} said `new`). */
  record (clientId: string, seq: number, result: unknown): void {
    let s = this.sessions.get(clientId)
    if (s === undefined) s = { floor: 0, results: new Map() }
    this.sessions.delete(clientId)
    this.sessions.set(clientId, s)
    s.results.set(seq, result)
    if (s.results.size > this.windowMax) {
      // Forget the oldest applied command (same order on every replica).
      const oldest = s.results.keys().next().value!
      s.results.delete(oldest)
      s.floor = Math.max(s.floor, oldest)
    }
    if (this.sessions.size > this.sessionsMax) this.sessions.delete(this.sessions.keys().next().value!)
  }

  clear (): void { this.sessions.clear() }

  /** Writes the table (the snapshot's first part). A result that is not JSON is kept as null. */
  write (e: encoding.Encoder): void {
    encoding.writeVarUint(e, this.sessions.size)
    for (const [id, s] of this.sessions) {
      encoding.writeVarString(e, id)
      encoding.writeVarUint(e, s.floor)
      encoding.writeVarUint(e, s.results.size)
      for (const [seq, result] of s.results) {
        encoding.writeVarUint(e, seq)
        let json: string
        try { json = JSON.stringify(result ?? null) ?? 'null' } catch { json = 'null' }
        encoding.writeVarString(e, json)
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
    if (n > this.sessionsMax) throw new DecodeError('session table', `${n} sessions exceed ${this.sessionsMax}`)
    for (let i = 0; i < n; i++) {
      const id = decoding.readVarString(d)
      if (sessions.has(id)) throw new DecodeError('session table', 'a session appears twice')
      const floor = uint('floor')
      const m = uint('result count')
      if (m > this.windowMax) throw new DecodeError('session table', `${m} results exceed ${this.windowMax}`)
      const results = new Map<number, unknown>()
      for (let k = 0; k < m; k++) {
        const seq = uint('seq')
        const text = decoding.readVarString(d)
        let result: unknown
        try { result = JSON.parse(text) } catch { throw new DecodeError('session table', 'a result is not JSON') }
        results.set(seq, result)
      }
      sessions.set(id, { floor, results })
    }
    return sessions
  }

  /** Replaces the table with a parsed one (see {@link parse}). */
  load (sessions: Map<string, Session>): void {
    this.sessions.clear()
    for (const [id, s] of sessions) this.sessions.set(id, s)
  }
}
