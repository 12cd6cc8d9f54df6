/** Named errors of `peer.coordination` (each with a stable `code`). */
import { AgoraError } from '../../src/base/errors.js'

/** The coordination machine refused a command; `code` is the machine's (ERR_NOT_OWNER, ERR_LEASE_NOT_FOUND...). */
export class CoordinationError extends AgoraError {
  static override readonly name = 'CoordinationError'
  constructor (code: string, message: string, details: Record<string, unknown> = {}) {
    super(code, message, details)
  }
}

/** A lock (or semaphore permit) was not granted within `waitMs`. */
export class LockTimeoutError extends AgoraError {
  static override readonly name = 'LockTimeoutError'
  constructor (name: string, waitMs: number) {
    super('ERR_LOCK_TIMEOUT', `lock ${name} was not granted within ${waitMs} ms`, { name, waitMs })
  }
}

/** The lease was lost (expired, revoked, or this peer could not renew it in time): what it held is no longer held. */
export class LeaseLostError extends AgoraError {
  static override readonly name = 'LeaseLostError'
  constructor (lease: number, reason: string) {
    super('ERR_LEASE_LOST', `lease ${lease} is lost (${reason})`, { lease, reason })
  }
}

/** A barrier generation broke before it was complete (a participant's lease ended). */
export class BarrierBrokenError extends AgoraError {
  static override readonly name = 'BarrierBrokenError'
  constructor (name: string, generation: number, reason: string) {
    super('ERR_BARRIER_BROKEN', `barrier ${name} generation ${generation} broke: ${reason}`, { name, generation, reason })
  }
}

/** A barrier generation was not complete before its timeout. */
export class BarrierTimeoutError extends AgoraError {
  static override readonly name = 'BarrierTimeoutError'
  constructor (name: string, generation: number, timeoutMs: number) {
    super('ERR_BARRIER_TIMEOUT', `barrier ${name} generation ${generation} was not complete within ${timeoutMs} ms`, { name, generation, timeoutMs })
  }
}

/** The operation was aborted by the caller's signal or by the service stopping. */
export class AbortedError extends AgoraError {
  static override readonly name = 'AbortedError'
  constructor (what: string) {
    super('ERR_ABORTED', `${what} was aborted`, { what })
  }
}
