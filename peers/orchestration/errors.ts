/** Named errors of orchestration variables (each with a stable `code`). */
import { AgoraError } from '../../src/base/errors.js'

/** A value breaks the variable's constraints (a `set`, the `initial` value, or an adaptation's proposal). */
export class ConstraintError extends AgoraError {
  static override readonly name = 'ConstraintError'
  constructor (variable: string, reason: string, value?: unknown) {
    super('ERR_CONSTRAINT', `orchestrated variable ${variable}: ${reason}`, { variable, reason, ...(value !== undefined ? { value } : {}) })
  }
}

/** The handle was closed (or its peer stopped). */
export class OrchestrationClosedError extends AgoraError {
  static override readonly name = 'OrchestrationClosedError'
  constructor (variable: string) {
    super('ERR_CLOSED', `orchestrated variable ${variable} is closed`, { variable })
  }
}

/** This peer already declares a variable of that name (close the first handle before declaring it again). */
export class OrchestrationExistsError extends AgoraError {
  static override readonly name = 'OrchestrationExistsError'
  constructor (variable: string) {
    super('ERR_EXISTS', `orchestrated variable ${variable} is already declared on this peer`, { variable })
  }
}

/** A compare-and-set loop lost to other writers {@link CAS_ATTEMPTS_MAX} times in a row. */
export class ContendedError extends AgoraError {
  static override readonly name = 'ContendedError'
  constructor (what: string, attempts: number) {
    super('ERR_CONTENDED', `${what}: other writers won ${attempts} times in a row`, { what, attempts })
  }
}

/** A metric given to `report()` is malformed. */
export class InvalidMetricError extends AgoraError {
  static override readonly name = 'InvalidMetricError'
  constructor (reason: string) {
    super('ERR_INVALID_METRIC', `metric: ${reason}`, { reason })
  }
}

/** No request interface to deliver instructions through (`peer.agents` is missing). */
export class NoDeliveryError extends AgoraError {
  static override readonly name = 'NoDeliveryError'
  constructor () {
    super('ERR_NO_DELIVERY', 'this peer has no request interface (peer.agents) to deliver instructions through')
  }
}
