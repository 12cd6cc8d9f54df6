/**
 * Named errors shared by every module. Each has a stable `code`; tests and callers match on `code`
 * (or `name`), never on message text. Module-specific errors live in each module's own `errors.ts`
 * and extend {@link AgoraError}.
 */
export class AgoraError extends Error {
  static override readonly name: string = 'AgoraError'
  readonly code: string
  /** Structured details (the bad option's path, a limit's value...), safe to serialise. */
  readonly details: Record<string, unknown>

  constructor (code: string, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.details = details
    this.name = (this.constructor as typeof AgoraError).name
  }

  toJSON (): { name: string, code: string, message: string, details: Record<string, unknown> } {
    return { name: this.name, code: this.code, message: this.message, details: this.details }
  }
}

/** An option or argument failed validation; `details.path` names it. */
export class InvalidOptionError extends AgoraError {
  static override readonly name = 'InvalidOptionError'
  constructor (path: string, message: string, details: Record<string, unknown> = {}) {
    super('ERR_INVALID_OPTION', `${path}: ${message}`, { path, ...details })
  }
}

/** Input exceeded a named limit; `details.limit` names it and `details.max` gives its value. */
export class LimitExceededError extends AgoraError {
  static override readonly name = 'LimitExceededError'
  constructor (limit: string, max: number, actual: number, what = limit) {
    super('ERR_LIMIT_EXCEEDED', `${what} exceeds ${limit} (${actual} > ${max})`, { limit, max, actual })
  }
}

/** Bytes from the network or disk could not be decoded (truncated, oversized, wrong tag). */
export class DecodeError extends AgoraError {
  static override readonly name = 'DecodeError'
  constructor (what: string, message: string, options?: { cause?: unknown }) {
    super('ERR_DECODE', `${what}: ${message}`, { what }, options)
  }
}

/** The component is not started (or already stopped). */
export class NotStartedError extends AgoraError {
  static override readonly name = 'NotStartedError'
  constructor (what: string) {
    super('ERR_NOT_STARTED', `${what} is not started`, { what })
  }
}

/** A feature that exists in the API but is not built yet. Never returned silently. */
export class NotImplementedError extends AgoraError {
  static override readonly name = 'NotImplementedError'
  constructor (feature: string) {
    super('ERR_NOT_IMPLEMENTED', `${feature} is not implemented yet`, { feature })
  }
}

/** A wait helper (`whenSynced()`, `whenLeader()`...) gave up after its bound. */
export class TimeoutError extends AgoraError {
  static override readonly name = 'TimeoutError'
  constructor (what: string, timeoutMs: number) {
    super('ERR_TIMEOUT', `${what} did not happen within ${timeoutMs} ms`, { what, timeoutMs })
  }
}

/**
 * An id that would be a reserved property name of JavaScript objects (`__proto__`, `constructor`,
 * `prototype`): refused wherever the id can become the key of a JSON object (snapshots, outcomes,
 * HTTP answers), so it can never be dropped or read through a prototype. `details.path` names the field.
 */
export class ReservedNameError extends AgoraError {
  static override readonly name = 'ReservedNameError'
  constructor (path: string, name: string) {
    super('ERR_RESERVED_NAME', `${path}: "${name}" is a reserved name`, { path, name })
  }
}

/** Longest wait a rate-limited or circuit-open refusal tells (ms): an empty bucket that never refills says this. */
export const RETRY_AFTER_MS_MAX = 3_600_000

/**
 * A rate limit (a token bucket, FEATURES I2) refused the call: retry after `details.retryAfterMs`
 * (HTTP: 429 with `Retry-After`). `details.limit` names the limit (`writes`, `proposals`,
 * `agentRequests`, `peerRequests`, `peerProposals`...), `details.key` the agent or peer it counts for.
 */
export class RateLimitedError extends AgoraError {
  static override readonly name = 'RateLimitedError'
  constructor (limit: string, retryAfterMs: number, details: Record<string, unknown> = {}, message?: string) {
    const ms = Number.isFinite(retryAfterMs) ? Math.min(RETRY_AFTER_MS_MAX, Math.max(0, Math.ceil(retryAfterMs))) : RETRY_AFTER_MS_MAX
    super('ERR_RATE_LIMITED', message ?? `over the ${limit} rate limit: retry in ${ms} ms`, { limit, retryAfterMs: ms, ...details })
  }
}
