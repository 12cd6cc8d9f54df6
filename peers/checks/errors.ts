import { AgoraError } from '../../src/base/errors.js'

/** A check definition is malformed; `details.path` names the field. */
export class InvalidCheckError extends AgoraError {
  static override readonly name = 'InvalidCheckError'
  constructor (path: string, message: string) {
    super('ERR_INVALID_CHECK', `${path}: ${message}`, { path })
  }
}

/**
 * An HTTP check's URL names a host that is not loopback (127.0.0.0/8, ::1, localhost) and not in the
 * peer's `checks.allowHosts`: a host would poll other machines on its agents' say-so. `details.host`.
 */
export class CheckUrlNotAllowedError extends AgoraError {
  static override readonly name = 'CheckUrlNotAllowedError'
  constructor (path: string, host: string) {
    super('ERR_CHECK_URL_NOT_ALLOWED', `${path}: host ${host} is not loopback; allow it with the checks.allowHosts option (daemon config: checks.allowHosts)`, { path, host })
  }
}

/** The agent has no check of this id (on this peer). */
export class CheckNotFoundError extends AgoraError {
  static override readonly name = 'CheckNotFoundError'
  constructor (agent: string, check: string) {
    super('ERR_CHECK_NOT_FOUND', `agent ${agent} has no check ${check} on this peer`, { agent, check })
  }
}

/** A check-in (pass, warn, fail) on a check that is not a TTL check: its results come from its polls. */
export class CheckKindError extends AgoraError {
  static override readonly name = 'CheckKindError'
  constructor (agent: string, check: string, kind: string) {
    super('ERR_CHECK_KIND', `check ${check} of agent ${agent} is a ${kind} check: only TTL checks take check-ins`, { agent, check, kind })
  }
}
