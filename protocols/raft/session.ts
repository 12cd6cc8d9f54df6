/**
 * Client sessions for exactly-once commands (Raft thesis §6.3). Every command travels in an
 * envelope `{ clientId, seq, payload }`; the replicated state machine applies it through a
 * {@link SessionApplier}, which remembers per client the last applied sequence number and the cached
 * results of recent ones, so a retried command is answered from the cache instead of applied twice.
 *
 * Contract for clients: sequence numbers start at 1 and increase; a retry reuses the same seq. A
 * result whose fate is unknown (timeout, leader lost, session expired) is `indefinite`: never
 * reported as success or failure. Everything here is deterministic (same entries → same table).
 */
import { DecodeError, LimitExceededError } from '../../src/base/errors.js'

/** The envelope of one client command. */
export interface Command<P> {
  /** Stable id of the client (1..clientIdBytesMax bytes). */
  clientId: string
  /** Sequence number, >= 1, increasing per client; a retry reuses it. */
  seq: number
  payload: P
}

/**
 * The outcome of a command. `indefinite` means its fate is unknown (it may or may not have been
 * applied, e.g. the leader was lost or the wait timed out); callers must not treat it as failure.
 */
export type CommandResult<R> =
  | { status: 'ok', value: R, index: number }
  | { status: 'error', code: string, message: string, index?: number }
  | { status: 'indefinite', reason: string }

export function indefinite<R> (reason: string): CommandResult<R> {
  return { status: 'indefinite', reason }
}

/** Limits of the envelope codec and the session table (defaults documented). */
export const SESSION_LIMITS = {
  /** Maximum encoded command size in bytes. Default 64 KiB. */
  commandBytesMax: 64 * 1024,
  /** Maximum client id length in characters. Default 128. */
  clientIdCharsMax: 128,
  /** Maximum sessions kept; the least recently used is evicted. Default 10,000. */
  sessionsMax: 10_000,
  /** Results cached per client (for pipelined clients' retries). Default 8. */
  resultsPerClientMax: 8
} as const

const enc = new TextEncoder()
const dec = new TextDecoder('utf-8', { fatal: true })

export function encodeCommand<P> (cmd: Command<P>): Uint8Array {
  const bytes = enc.encode(JSON.stringify({ c: cmd.clientId, s: cmd.seq, p: cmd.payload }))
  if (bytes.length > SESSION_LIMITS.commandBytesMax) throw new LimitExceededError('commandBytesMax', SESSION_LIMITS.commandBytesMax, bytes.length, 'command')
  return bytes
}

/** Decode an envelope; the payload is returned unvalidated (the state machine validates it). */
export function decodeCommand (bytes: Uint8Array): Command<unknown> {
  if (bytes.length > SESSION_LIMITS.commandBytesMax) throw new DecodeError('command', `oversized (${bytes.length} bytes)`)
  let o: unknown
  try {
    o = JSON.parse(dec.decode(bytes))
  } catch {
    throw new DecodeError('command', 'not UTF-8 JSON')
  }
  if (o === null || typeof o !== 'object') throw new DecodeError('command', 'not an object')
  const r = o as { c?: unknown, s?: unknown, p?: unknown }
  if (typeof r.c !== 'string' || r.c.length === 0 || r.c.length > SESSION_LIMITS.clientIdCharsMax) throw new DecodeError('command', 'bad clientId')
  if (typeof r.s !== 'number' || !Number.isSafeInteger(r.s) || r.s < 1) throw new DecodeError('command', 'bad seq')
  return { clientId: r.c, seq: r.s, payload: r.p }
}

interface Session<R> {
  lastSeq: number
  /** Index of the last command applied for this client (for LRU eviction, deterministic). */
  lastIndex: number
  /** Results of the most recent seqs, oldest first. */
  results: Array<{ seq: number, result: CommandResult<R> }>
}

export interface SessionApplyOutcome<R> {
  result: CommandResult<R>
  /** True when the command was a retry answered from the cache (not applied again). */
  duplicate: boolean
}

/** Serialisable form of the session table (for snapshots). */
export type SessionTableJSON<R> = Array<[string, Session<R>]>

/**
 * Deduplicating applier: wraps the state machine's `apply(payload, index)` so each (clientId, seq) is
 * applied at most once.
 */
export class SessionApplier<P, R> {
  private sessions = new Map<string, Session<R>>()
  /** Commands answered from the cache (duplicates dropped). */
  duplicates = 0

  constructor (
    private readonly applyFn: (payload: P, index: number) => CommandResult<R>,
    private readonly sessionsMax: number = SESSION_LIMITS.sessionsMax,
    private readonly resultsPerClientMax: number = SESSION_LIMITS.resultsPerClientMax
  ) {}

  apply (cmd: Command<P>, index: number): SessionApplyOutcome<R> {
    let s = this.sessions.get(cmd.clientId)
    if (s !== undefined && cmd.seq <= s.lastSeq) {
      const cached = s.results.find(r => r.seq === cmd.seq)
      if (cached !== undefined) {
        this.duplicates++
        return { result: cached.result, duplicate: true }
      }
      // Applied (or skipped) long ago and no longer cached: its fate is unknown to this retry.
      this.duplicates++
      return { result: indefinite('resultEvicted'), duplicate: true }
    }
    if (s === undefined && cmd.seq > 1 && this.evictedAny) {
      // The session may have been evicted: a retry must not apply twice.
      return { result: indefinite('sessionExpired'), duplicate: false }
    }
    const result = this.applyFn(cmd.payload, index)
    if (s === undefined) {
      s = { lastSeq: 0, lastIndex: index, results: [] }
      this.sessions.set(cmd.clientId, s)
      if (this.sessions.size > this.sessionsMax) this.evictOldest()
    } else {
      // Move to the end of the map (LRU order by apply index).
      this.sessions.delete(cmd.clientId)
      this.sessions.set(cmd.clientId, s)
    }
    s.lastSeq = cmd.seq
    s.lastIndex = index
    s.results.push({ seq: cmd.seq, result })
    if (s.results.length > this.resultsPerClientMax) s.results.shift()
    return { result, duplicate: false }
  }

  private evictedAny = false

  private evictOldest (): void {
    const first = this.sessions.keys().next()
    if (first.done !== true) this.sessions.delete(first.value)
    this.evictedAny = true
  }

  get size (): number { return this.sessions.size }

  toJSON (): { sessions: SessionTableJSON<R>, evictedAny: boolean } {
    return { sessions: [...this.sessions.entries()], evictedAny: this.evictedAny }
  }

  restore (state: { sessions: SessionTableJSON<R>, evictedAny: boolean }): void {
    this.sessions = new Map(state.sessions)
    this.evictedAny = state.evictedAny
  }
}
