/**
 * The fate of a command that ended indefinite (FEATURES I5, K3): settled once the group is whole again,
 * with the session the command was proposed under (protocols/raft/sessions.ts).
 *
 * 1. A linearizable read point (ReadIndex): this replica has applied everything committed when it was
 *    asked. If the session table shows the command applied, it `committed` (its cached result).
 * 2. Otherwise the command may still sit, uncommitted, in some log. A no-op ({@link SETTLE_NOOP}: a
 *    strong-variable command every replica refuses without changing anything) is proposed under the same
 *    session and sequence number: the session table applies one of the two, once. If the no-op took the
 *    slot the command never applied and never will (`not-committed`); if the command's own entry came
 *    first, or had applied, it `committed`.
 * A session the table forgot (more than its window of later commands) cannot be settled: `unknown`.
 */
import { AgoraError } from '../../src/base/errors.js'
import { COORD_TAG, ECON_TAG, TASK_TAG } from '../../protocols/mesh/application.js'
import type { RaftService } from '../raft/service.js'
import { boundedValue } from './heal-types.js'
import type { StrongCommandSummary, StrongWriteFate } from './heal-types.js'

const enc = new TextEncoder()
const dec = new TextDecoder()

/** The no-op that takes an indefinite command's session slot: the strong-variable machine refuses it (`malformed command`). */
export const SETTLE_NOOP: Uint8Array = enc.encode(JSON.stringify({ op: 'settle' }))
const NOOP_RESULT = JSON.stringify({ error: { code: 'ERR_INVALID_VARIABLE', message: 'malformed command' } })

export type Fate = Pick<StrongWriteFate, 'fate' | 'result' | 'reason'>

/**
 * Settles the fate of the command proposed here under `session` (see the module doc). `isNoop`: the command
 * was {@link SETTLE_NOOP} itself (then its own entry and the no-op cannot be told apart: `committed`).
 */
export async function settleFate (raft: RaftService, session: { clientId: string, seq: number }, isNoop: boolean, timeoutMs: number): Promise<Fate> {
  const d = raft.driver
  if (d === undefined || !raft.isStarted) return { fate: 'unknown', reason: 'the Raft service is stopped' }
  try {
    await raft.readBarrier(timeoutMs)
  } catch (err) {
    return { fate: 'unknown', reason: `no linearizable read point: ${(err as Error).message}` }
  }
  const seen = d.replica.sessions.check(session.clientId, session.seq)
  if (seen.status === 'duplicate') return { fate: 'committed', result: boundedValue(seen.result) }
  if (seen.status === 'forgotten') return { fate: 'unknown', reason: 'the session table forgot the command (more than its window of later commands)' }
  let first: { duplicate: boolean, noop: boolean } | undefined
  const off = d.on('command:applied', (e) => {
    if (first !== undefined || e.refused !== undefined || e.envelope.clientId !== session.clientId || e.envelope.seq !== session.seq) return
    first = { duplicate: e.duplicate, noop: sameBytes(e.envelope.command, SETTLE_NOOP) && !isNoop }
  })
  let r: { result: unknown }
  try {
    r = await d.proposeReliably(SETTLE_NOOP, timeoutMs, session)
  } catch (err) {
    return { fate: 'unknown', reason: `the settling no-op failed: ${(err as AgoraError).code ?? (err as Error).message}` }
  } finally {
    off()
  }
  // Settled from a snapshot's session table (no entry applied here): the result says which one applied.
  const noop = first !== undefined ? first.noop && !first.duplicate : !isNoop && JSON.stringify(r.result) === NOOP_RESULT
  return noop ? { fate: 'not-committed' } : { fate: 'committed', result: boundedValue(r.result) }
}

/** Byte equality. */
export function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** What a mesh-application command is, for a report: its machine, operation and subject. */
export function describeCommand (command: Uint8Array): StrongCommandSummary {
  const tag = command[0]
  const kind: StrongCommandSummary['kind'] = tag === ECON_TAG ? 'economy' : tag === COORD_TAG ? 'coordination' : tag === TASK_TAG ? 'task' : tag === 0x7b ? 'strong' : 'other'
  let body: unknown
  try { body = JSON.parse(dec.decode(kind === 'strong' || kind === 'other' ? command : command.subarray(1))) } catch { return { kind } }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return { kind }
  const b = body as Record<string, unknown>
  const out: StrongCommandSummary = { kind }
  const op = kind === 'strong' ? b.op : b.type ?? b.t
  if (typeof op === 'string') out.op = op.slice(0, 64)
  const name = kind === 'strong' ? b.name : b.auction ?? b.account ?? b.name ?? b.lock ?? b.from
  if (typeof name === 'string') out.name = name.slice(0, 128)
  if (kind === 'strong' && typeof b.value === 'string') {
    try { out.value = boundedValue(JSON.parse(b.value)) } catch { out.value = boundedValue(b.value) }
  }
  return out
}
