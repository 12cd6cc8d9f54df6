/**
 * A linearizable key-value state machine on Raft: `read`, `write` and `cas` commands in session
 * envelopes, applied from committed entries in log order, deterministic, with snapshot/restore.
 * The simulator's `client` ops and the strong variables use it.
 *
 * Reads go through the log (a `read` command) or, faster, through ReadIndex: once the node's
 * applied index reaches the ReadState's index, {@link KvStateMachine.get} is linearizable.
 */
import { DecodeError } from '../../src/base/errors.js'
import type { Entry } from './types.js'
import { type CommandResult, type Command, decodeCommand, encodeCommand, SessionApplier, type SessionTableJSON } from './session.js'

export type KvOp =
  | { op: 'read', key: string }
  | { op: 'write', key: string, value: string }
  | { op: 'cas', key: string, expected: string | null, value: string }

/** read → the value (null if absent); write → the new value; cas → the value after (ok true if swapped). */
export interface KvValue {
  value: string | null
  ok: boolean
}

/** Limits (deterministic on every replica). */
export const KV_LIMITS = {
  /** Maximum key length in characters. Default 256. */
  keyCharsMax: 256,
  /** Maximum value length in characters. Default 16 KiB. */
  valueCharsMax: 16 * 1024,
  /** Maximum number of keys. Default 100,000. */
  keysMax: 100_000
} as const

export function encodeKvCommand (cmd: Command<KvOp>): Uint8Array {
  return encodeCommand(cmd)
}

function validOp (p: unknown): KvOp | string {
  if (p === null || typeof p !== 'object') return 'payload is not an object'
  const o = p as Record<string, unknown>
  if (typeof o.key !== 'string' || o.key.length > KV_LIMITS.keyCharsMax) return 'bad key'
  switch (o.op) {
    case 'read': return { op: 'read', key: o.key }
    case 'write':
      if (typeof o.value !== 'string' || o.value.length > KV_LIMITS.valueCharsMax) return 'bad value'
      return { op: 'write', key: o.key, value: o.value }
    case 'cas':
      if (typeof o.value !== 'string' || o.value.length > KV_LIMITS.valueCharsMax) return 'bad value'
      if (o.expected !== null && typeof o.expected !== 'string') return 'bad expected'
      return { op: 'cas', key: o.key, expected: o.expected, value: o.value }
    default: return 'unknown op'
  }
}

export interface KvApplied {
  index: number
  clientId?: string
  seq?: number
  result: CommandResult<KvValue>
  duplicate: boolean
}

export class KvStateMachine {
  private data = new Map<string, string>()
  /** Highest applied log index. Invariant: entries are applied in index order, each once. */
  appliedIndex = 0
  private readonly sessions: SessionApplier<KvOp, KvValue>

  constructor () {
    this.sessions = new SessionApplier<KvOp, KvValue>((op, index) => this.exec(op, index))
  }

  /** Local read (linearizable only after a ReadIndex whose index <= appliedIndex). */
  get (key: string): string | null {
    return this.data.get(key) ?? null
  }

  get size (): number { return this.data.size }

  /** Duplicates dropped by the session table so far. */
  get duplicates (): number { return this.sessions.duplicates }

  /**
   * Apply one committed entry. Empty entries (leader no-ops) and confChange entries only advance
   * the index. Malformed commands yield an `error` result (identically on every replica).
   */
  apply (e: Entry): KvApplied | undefined {
    if (e.index <= this.appliedIndex) return undefined // already applied (e.g. re-emitted after restart)
    this.appliedIndex = e.index
    if (e.type !== 'normal' || e.data.length === 0) return undefined
    let cmd: Command<unknown>
    try {
      cmd = decodeCommand(e.data)
    } catch (err) {
      const message = err instanceof DecodeError ? err.message : 'undecodable command'
      return { index: e.index, result: { status: 'error', code: 'ERR_DECODE', message, index: e.index }, duplicate: false }
    }
    const op = validOp(cmd.payload)
    if (typeof op === 'string') {
      return { index: e.index, clientId: cmd.clientId, seq: cmd.seq, result: { status: 'error', code: 'ERR_INVALID_COMMAND', message: op, index: e.index }, duplicate: false }
    }
    const out = this.sessions.apply({ clientId: cmd.clientId, seq: cmd.seq, payload: op }, e.index)
    return { index: e.index, clientId: cmd.clientId, seq: cmd.seq, result: out.result, duplicate: out.duplicate }
  }

  private exec (op: KvOp, index: number): CommandResult<KvValue> {
    const cur = this.data.get(op.key) ?? null
    switch (op.op) {
      case 'read':
        return { status: 'ok', value: { value: cur, ok: true }, index }
      case 'write':
        if (cur === null && this.data.size >= KV_LIMITS.keysMax) return { status: 'error', code: 'ERR_LIMIT_EXCEEDED', message: 'keysMax reached', index }
        this.data.set(op.key, op.value)
        return { status: 'ok', value: { value: op.value, ok: true }, index }
      case 'cas':
        if (cur !== op.expected) return { status: 'ok', value: { value: cur, ok: false }, index }
        if (cur === null && this.data.size >= KV_LIMITS.keysMax) return { status: 'error', code: 'ERR_LIMIT_EXCEEDED', message: 'keysMax reached', index }
        this.data.set(op.key, op.value)
        return { status: 'ok', value: { value: op.value, ok: true }, index }
    }
  }

  /** Deterministic snapshot bytes (keys sorted). */
  snapshot (): Uint8Array {
    const keys = [...this.data.keys()].sort()
    const state = { index: this.appliedIndex, data: keys.map(k => [k, this.data.get(k)!]), sessions: this.sessions.toJSON() }
    return new TextEncoder().encode(JSON.stringify(state))
  }

  /** Replace the state with a snapshot produced by {@link snapshot}. Throws DecodeError on bad bytes. */
  restore (bytes: Uint8Array): void {
    let s: { index: number, data: Array<[string, string]>, sessions: { sessions: SessionTableJSON<KvValue>, evictedAny: boolean } }
    try {
      s = JSON.parse(new TextDecoder().decode(bytes))
    } catch {
      throw new DecodeError('kv snapshot', 'not JSON')
    }
    if (s === null || typeof s !== 'object' || !Number.isSafeInteger(s.index) || !Array.isArray(s.data) || s.sessions === undefined) throw new DecodeError('kv snapshot', 'bad shape')
    this.data = new Map(s.data)
    this.appliedIndex = s.index
    this.sessions.restore(s.sessions)
  }
}
