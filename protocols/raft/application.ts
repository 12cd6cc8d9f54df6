/**
 * The replicated-application contract: what every state machine on the Raft log implements (strong
 * variables, the economy, and any later one), and the {@link Replica} that runs one behind the command
 * envelope and the session table. Pure and deterministic: no clock, no I/O. The driver (driver.ts)
 * feeds it committed entries; live peers and the simulator run the same code.
 */
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { DecodeError } from '../../src/base/errors.js'
import { RaftInvariantError } from './errors.js'
import { decodeEnvelope, looksLikeEnvelope, originOf, signedPayload, type Envelope } from './envelope.js'
import { SessionTable } from './sessions.js'
import type { Entry } from './types.js'

/** What a state machine learns of a command besides its bytes. */
export interface ApplyMeta {
  /** The proposing peer: its session's client id before the first "/". */
  origin: string
  /** The accepting member's clock (ms) when the command was proposed; 0 for entries without a stamp. */
  at: number
  /** The origin's signature of the command was verified (always true for a command that requires one). */
  signed?: boolean
}

/** A deterministic application of the replicated log. */
export interface StateMachine {
  /** Applies a committed command; returns its result (JSON-serialisable: it is cached for retries). */
  apply: (command: Uint8Array, index: number, meta: ApplyMeta) => unknown
  /** The application's whole state. */
  snapshot: () => Uint8Array
  /**
   * Replaces the application's state with a snapshot's. A malformed snapshot throws a named error
   * (DecodeError, `ERR_DECODE`) and changes nothing.
   */
  restore: (data: Uint8Array) => void
  /**
   * Whether `command` must carry its origin's signature (deterministic, from the command and the
   * state). A command that must and does not, or whose signature fails, never reaches `apply` and takes
   * no session slot: it is refused with `ERR_BAD_SIGNATURE`. Default: no command needs one.
   */
  requiresSignature?: (command: Uint8Array) => boolean
  /**
   * Not state, and never the outcome: asked on a live replica before a new command (not a retry) is
   * applied. A promise asks the driver to pause applying at this command while Raft carries on, until
   * the promise settles or the driver's `applyWaitMs` passes; the command is then applied as always.
   * For work its apply would otherwise do synchronously that a helper is doing off the event loop (a
   * combinatorial solve in a worker thread). Must not change state. Default: never wait.
   */
  applyWait?: (command: Uint8Array) => PromiseLike<unknown> | undefined
}

/** Verifies `origin`'s signature of `payload` (signedPayload in envelope.ts); must not throw. */
export type CommandVerifier = (origin: string, payload: Uint8Array, signature: Uint8Array) => boolean

/** The result of a command refused for its signature (not applied, no session slot taken). */
export const BAD_SIGNATURE_RESULT = Object.freeze({ ok: false, code: 'ERR_BAD_SIGNATURE', message: 'the command is not signed by its origin' })

/** The result of a retried command that was applied but is no longer remembered. */
export const FORGOTTEN: unique symbol = Symbol('forgotten result')

/** One committed command as the replica handled it. */
export interface AppliedCommand {
  index: number
  envelope: Envelope
  /** The state machine's result, the cached one for a duplicate, {@link FORGOTTEN} when unknown. */
  result: unknown
  /** True when the command was a retry of an applied one: the state machine did not see it. */
  duplicate: boolean
  /** Set when the command was refused before the state machine (`signature`): nothing applied, no session slot. */
  refused?: 'signature'
}

/** Why an entry carried no command. */
export type SkippedEntry = 'empty' | 'foreign' | 'malformed'

/** A committed entry decoded (and its signature checked), not yet applied: {@link Replica.prepare}. */
export type PreparedEntry = SkippedEntry | { envelope: Envelope, origin: string, signed: boolean, refused: boolean }

/**
 * A state machine behind the session table: applies each (clientId, seq) at most once, and snapshots
 * both together: `varUint sessions… · varUint8Array application state` (see sessions.ts).
 */
export class Replica {
  readonly sessions: SessionTable
  readonly stats = { applied: 0, duplicates: 0, malformed: 0, badSignatures: 0 }
  private readonly verify: CommandVerifier | undefined

  constructor (readonly app: StateMachine, sessions = new SessionTable(), verify?: CommandVerifier) {
    // A replica that cannot verify would refuse what its peers apply: its state would diverge.
    if (app.requiresSignature !== undefined && verify === undefined) throw new RaftInvariantError('a state machine that requires signatures needs a verifier')
    this.sessions = sessions
    this.verify = verify
  }

  /** Applies a committed normal entry; a string says why it carried no command. */
  applyEntry (e: Entry): AppliedCommand | SkippedEntry {
    return this.applyPrepared(e, this.prepare(e))
  }

  /** Decodes a committed entry and checks its signature where one is required (no state changes). */
  prepare (e: Entry): PreparedEntry {
    if (e.type !== 'normal' || e.data.length === 0) return 'empty'
    if (!looksLikeEnvelope(e.data)) return 'foreign'
    let env: Envelope
    try {
      env = decodeEnvelope(e.data)
    } catch {
      // Deterministic on every replica: a malformed command is skipped everywhere.
      this.stats.malformed++
      return 'malformed'
    }
    const origin = originOf(env.clientId)
    // Signatures are checked only where the state machine requires one (verifying costs ~0.1 ms).
    const required = this.app.requiresSignature?.(env.command) === true
    const signed = required && env.signature !== undefined && this.verify !== undefined && this.verify(origin, signedPayload(env.clientId, env.seq, env.command), env.signature)
    return { envelope: env, origin, signed, refused: required && !signed }
  }

  /**
   * What the application asks this replica to wait for before applying a prepared command
   * ({@link StateMachine.applyWait}); undefined for anything it would not apply (a retry, a refusal).
   */
  waitBefore (p: PreparedEntry): PromiseLike<unknown> | undefined {
    if (typeof p === 'string' || p.refused || this.app.applyWait === undefined) return undefined
    if (this.sessions.check(p.envelope.clientId, p.envelope.seq).status !== 'new') return undefined
    return this.app.applyWait(p.envelope.command)
  }

  /** Applies an entry {@link prepare}d from `e` (at most once per session key). */
  applyPrepared (e: Entry, p: PreparedEntry): AppliedCommand | SkippedEntry {
    if (typeof p === 'string') return p
    const env = p.envelope
    if (p.refused) {
      // Refused before the session table: a member forging another peer's command cannot take (and so
      // poison) that peer's session slot.
      this.stats.badSignatures++
      return { index: e.index, envelope: env, result: BAD_SIGNATURE_RESULT, duplicate: false, refused: 'signature' }
    }
    const seen = this.sessions.check(env.clientId, env.seq)
    if (seen.status === 'duplicate') {
      this.stats.duplicates++
      return { index: e.index, envelope: env, result: seen.result, duplicate: true }
    }
    if (seen.status === 'forgotten') {
      this.stats.duplicates++
      return { index: e.index, envelope: env, result: FORGOTTEN, duplicate: true }
    }
    let result: unknown
    try {
      result = this.app.apply(env.command, e.index, { origin: p.origin, at: env.at, signed: p.signed })
    } catch (err) {
      result = { error: { code: (err as { code?: string }).code ?? 'ERR_APPLY', message: (err as Error).message } }
    }
    this.sessions.record(env.clientId, env.seq, result)
    this.stats.applied++
    return { index: e.index, envelope: env, result, duplicate: false }
  }

  snapshot (): Uint8Array {
    const e = encoding.createEncoder()
    this.sessions.write(e)
    encoding.writeVarUint8Array(e, this.app.snapshot())
    return encoding.toUint8Array(e)
  }

  /**
   * Restores a snapshot written by {@link snapshot}. Throws {@link DecodeError} (`ERR_DECODE`) when it
   * is malformed, and then changes nothing: the session table is replaced only once the application
   * restored (a state machine's `restore` must likewise change nothing when it throws).
   */
  restore (data: Uint8Array): void {
    try {
      const d = decoding.createDecoder(data)
      const sessions = this.sessions.parse(d)
      const state = decoding.readVarUint8Array(d)
      if (d.pos !== data.length) throw new DecodeError('raft snapshot', `${data.length - d.pos} trailing bytes`)
      this.app.restore(state)
      this.sessions.load(sessions)
    } catch (err) {
      if (err instanceof DecodeError) throw err
      throw new DecodeError('raft snapshot', (err as Error).message ?? 'malformed', { cause: err })
    }
  }
}
