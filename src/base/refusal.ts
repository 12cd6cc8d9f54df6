/**
 * Refusals of the replicated state machines: a command that breaks a rule is refused with a stable code
 * and changes nothing. Inside a machine a check throws {@link Refused} (via {@link refuse}); at its
 * boundary {@link refusing} turns that into the `{ ok: false, code, message }` result every replica
 * returns alike. Any other exception is a bug and propagates.
 */
export interface Refusal { ok: false, code: string, message: string }

export class Refused extends Error {
  constructor (readonly code: string, message: string) { super(message) }
}

/** Throws {@link Refused}. */
export function refuse (code: string, message: string): never { throw new Refused(code, message) }

/** `fn()`, or the refusal it threw as a result. */
export function refusing<T> (fn: () => T): T | Refusal {
  try {
    return fn()
  } catch (err) {
    if (err instanceof Refused) return { ok: false, code: err.code, message: err.message }
    throw err
  }
}

/** True for a result {@link refusing} made of a refusal (commands' own results are never `ok: false`). */
export function isRefusal (r: unknown): r is Refusal {
  return r !== null && typeof r === 'object' && (r as { ok?: unknown }).ok === false
}
