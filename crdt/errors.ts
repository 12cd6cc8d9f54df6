import { AgoraError } from '../src/base/errors.js'

/** The descriptor (or patch) is malformed; `details.path` names the field. */
export class InvalidDescriptorError extends AgoraError {
  static override readonly name = 'InvalidDescriptorError'
  constructor (path: string, message: string) {
    super('ERR_INVALID_DESCRIPTOR', `${path}: ${message}`, { path })
  }
}

/** An agent with this id is already registered (by this or another host). */
export class AgentExistsError extends AgoraError {
  static override readonly name = 'AgentExistsError'
  constructor (id: string, host: string) {
    super('ERR_AGENT_EXISTS', `agent ${id} is already registered by ${host}`, { id, host })
  }
}

/** No agent with this id is registered on this peer. */
export class AgentNotFoundError extends AgoraError {
  static override readonly name = 'AgentNotFoundError'
  constructor (id: string) {
    super('ERR_AGENT_NOT_FOUND', `agent ${id} is not registered`, { id })
  }
}

/** The agent belongs to another host peer; only its host may change or remove it (R4). */
export class NotOwnerError extends AgoraError {
  static override readonly name = 'NotOwnerError'
  constructor (id: string, host: string) {
    super('ERR_NOT_OWNER', `agent ${id} is hosted by ${host}; only its host may change it`, { id, host })
  }
}

/** A query is malformed (unknown op, bad path, bad value); `details.path` names the part. */
export class InvalidQueryError extends AgoraError {
  static override readonly name = 'InvalidQueryError'
  constructor (path: string, message: string) {
    super('ERR_INVALID_QUERY', `${path}: ${message}`, { path })
  }
}

/** A remote update or checkpoint was refused; counted in the replica's stats, never thrown to callers. */
export class UpdateRejectedError extends AgoraError {
  static override readonly name = 'UpdateRejectedError'
  constructor (reason: string, message: string) {
    super('ERR_UPDATE_REJECTED', message, { reason })
  }
}

/** Variable misuse: unknown merge, a merge mismatch, `add()` on a non-counter... */
export class InvalidVariableError extends AgoraError {
  static override readonly name = 'InvalidVariableError'
  constructor (name: string, message: string) {
    super('ERR_INVALID_VARIABLE', `variable ${name}: ${message}`, { name })
  }
}

/**
 * A declaration (or a read or write naming a merge rule) conflicts with the merge rule the variable
 * already has: its local declaration, or the rule its replicated contributions carry. Nothing changed.
 * `details.merge` is the variable's rule, `details.requested` the one asked for.
 */
export class MergeConflictError extends AgoraError {
  static override readonly name = 'MergeConflictError'
  constructor (name: string, merge: string, requested: string) {
    super('ERR_MERGE_CONFLICT', `variable ${name} has merge ${merge}, not ${requested}`, { name, merge, requested })
  }
}

/**
 * A fenced write (`set`/`add` with `fence`) under a token older than the newest token of its lock this
 * peer knows: granted (`source: 'fence-floor'`, the store's `fenceFloor` hook, the peer's Raft replica) or
 * carried by a contribution this replica holds (`source: 'documents'`). Nothing was written.
 * `details`: `name`, `lock`, `token`, `newest`, `source`.
 */
export class FencedError extends AgoraError {
  static override readonly name = 'FencedError'
  constructor (name: string, lock: string, token: number, newest: number, source: 'fence-floor' | 'documents') {
    const where = source === 'fence-floor' ? 'granted' : 'held in the documents'
    super('ERR_FENCED', `variable ${name}: token ${token} of lock ${lock} is older than ${newest}, the newest ${where}`, { name, lock, token, newest, source })
  }
}
