/**
 * Named errors of the Raft service. Match on `code`, never on message text. Commands whose outcome is
 * unknown fail with the driver's IndefiniteError (`ERR_INDEFINITE`, protocols/raft/errors.ts).
 */
import { AgoraError } from '../../src/base/errors.js'

export { IndefiniteError, ProposalDroppedError } from '../../protocols/raft/errors.js'

/** The operation needs the mesh's Raft group, and this peer is not a member and knows no member. */
export class NoRaftError extends AgoraError {
  static override readonly name = 'NoRaftError'
  constructor (what: string) {
    super('ERR_NO_RAFT', `${what} needs the mesh's Raft group: this peer is not a member and no member is connected`)
  }
}

/** A client peer exceeded its quota of requests or bytes on the Raft client path (`ERR_RATE_LIMITED`): the shared named error. */
export { RateLimitedError } from '../../src/base/errors.js'
