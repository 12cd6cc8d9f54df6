/**
 * The simulator's KV state machine with client sessions (Raft thesis §6.3): commands carry a client id
 * and sequence number; a command already applied for its session is not applied again and answers with
 * the first result (exactly-once across retries). Deterministic and snapshot-able.
 *
 * This is the simulator's own stand-in until protocols/raft/kv.ts and session.ts are merged; it follows
 * the same contract (see raft-adapter.ts `SimKv`).
 */
import { DecodeError, LimitExceededError } from '../src/errors.js'
import type { KvCommand, KvScalar, SimKv } from './raft-adapter.js'

/** Sessions kept; the oldest (by last use) is evicted beyond it. */
export const KV_SESSIONS_MAX = 100_000
/** Bytes of one encoded command. */
export const KV_COMMAND_BYTES_MAX = 64 * 1024

interface Session { seq: number, value?: KvScalar, ok?: boolean }

const enc = new TextEncoder()
const dec = new TextDecoder()

export class SimKvMachine implements SimKv {
  private data = new Map<string, KvScalar>()
  private sessions = new Map<number, Session>()

  encode (clientId: number, seq: number, cmd: KvCommand): Uint8Array {
    const b = enc.encode('kv:' + JSON.stringify({ c: clientId, s: seq, ...cmd }))
    if (b.length > KV_COMMAND_BYTES_MAX) throw new LimitExceededError('KV_COMMAND_BYTES_MAX', KV_COMMAND_BYTES_MAX, b.length, 'kv command')
    return b
  }

  apply (_index: number, bytes: Uint8Array): { clientId: number, seq: number, value?: KvScalar, ok?: boolean } | undefined {
    // Only data that starts with "kv:" is a command; anything else (scenario proposals) is ignored.
    if (bytes.length < 4 || bytes[0] !== 0x6b || bytes[1] !== 0x76 || bytes[2] !== 0x3a) return undefined
    let cmd: { c: number, s: number } & KvCommand
    try {
      cmd = JSON.parse(dec.decode(bytes.subarray(3))) as typeof cmd
    } catch {
      throw new DecodeError('kv command', 'not JSON')
    }
    const sess = this.sessions.get(cmd.c)
    if (sess !== undefined && cmd.s <= sess.seq) {
      // Duplicate (a retry): answer with the first result, do not apply again.
      return { clientId: cmd.c, seq: cmd.s, value: sess.value, ok: sess.ok }
    }
    let out: Session
    switch (cmd.op) {
      case 'write': this.data.set(cmd.key, cmd.value); out = { seq: cmd.s }; break
      case 'cas': {
        const cur = this.data.get(cmd.key) ?? null
        const ok = cur === cmd.expected
        if (ok) this.data.set(cmd.key, cmd.value)
        out = { seq: cmd.s, ok }
        break
      }
      case 'read': out = { seq: cmd.s, value: this.data.get(cmd.key) ?? null }; break
      default: throw new DecodeError('kv command', 'unknown op')
    }
    this.sessions.delete(cmd.c)
    this.sessions.set(cmd.c, out)
    if (this.sessions.size > KV_SESSIONS_MAX) {
      const oldest = this.sessions.keys().next().value
      if (oldest !== undefined) this.sessions.delete(oldest)
    }
    return { clientId: cmd.c, seq: cmd.s, value: out.value, ok: out.ok }
  }

  read (key: string): KvScalar {
    return this.data.get(key) ?? null
  }

  snapshot (): Uint8Array {
    return enc.encode(JSON.stringify({ d: [...this.data], s: [...this.sessions] }))
  }

  restore (bytes: Uint8Array): void {
    if (bytes.length === 0) { this.data = new Map(); this.sessions = new Map(); return }
    const o = JSON.parse(dec.decode(bytes)) as { d: Array<[string, KvScalar]>, s: Array<[number, Session]> }
    this.data = new Map(o.d)
    this.sessions = new Map(o.s)
  }
}
