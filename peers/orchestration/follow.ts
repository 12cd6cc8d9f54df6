/**
 * The agent's side: a handler for the `orchestration` protocol (`handlers.protocols.orchestration`) that
 * checks the payload, drops stale and repeated deliveries, and hands each new instruction to `fn`.
 *
 * Deliveries are at least once: a new owner re-delivers the current version, and a change of the team
 * re-coordinates every agent under the same version. So an instruction is applied when its version is
 * newer than the last one this agent applied for the variable, or the same version with another
 * instruction; an older version, or the same instruction again, is acknowledged without calling `fn`.
 * An instruction under an older owner's token (`token`, the owner's lock) than the newest one heard for
 * the variable is stale too (an owner that lost its lease and has not noticed yet).
 */
import { InvalidOptionError } from '../../src/base/errors.js'
import { canonicalJson } from './constraints.js'
import { FOLLOWED_MAX } from './limits.js'
import type { InstructionPayload } from './variable.js'

/** What the handler replies to the owner. */
export interface InstructionReply { applied: boolean, version: number }

/** Whether `p` has the shape of an instruction delivery. */
export function isInstructionPayload (p: unknown): p is InstructionPayload {
  if (p === null || typeof p !== 'object') return false
  const x = p as InstructionPayload
  return typeof x.variable === 'string' && Number.isSafeInteger(x.version) && x.version >= 1 && 'instruction' in x
}

/**
 * A protocol handler applying instructions with `fn(payload, ctx)` (its result is ignored; a throw is
 * the owner's delivery failure). Remembers the last applied version of at most {@link FOLLOWED_MAX}
 * (agent, variable) pairs (the oldest forgotten first).
 */
export function instructionHandler<C extends { agent: string }> (fn: (payload: InstructionPayload, ctx: C) => unknown): (payload: unknown, ctx: C) => Promise<InstructionReply> {
  const last = new Map<string, { version: number, text: string, token: number }>()
  return async (payload, ctx) => {
    if (!isInstructionPayload(payload)) throw new InvalidOptionError('payload', 'is not an orchestration instruction { variable, version, value, instruction }')
    const key = `${ctx.agent}\u0000${payload.variable}`
    const text = canonicalJson(payload.instruction) ?? ''
    const prev = last.get(key)
    const token = Number.isSafeInteger(payload.token) ? payload.token! : 0
    if (prev !== undefined && (token < prev.token || payload.version < prev.version || (payload.version === prev.version && text === prev.text))) return { applied: false, version: prev.version }
    await fn(payload, ctx)
    last.delete(key)
    last.set(key, { version: payload.version, text, token: Math.max(token, prev?.token ?? 0) })
    if (last.size > FOLLOWED_MAX) last.delete(last.keys().next().value!)
    return { applied: true, version: payload.version }
  }
}
