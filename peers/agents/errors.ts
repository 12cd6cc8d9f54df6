/** Named errors of `peer.agents` (every path of the request interface ends in one of these codes). */
import { AgoraError } from '../../src/base/errors.js'

export type AgentErrorCode =
  /** No agent of that id in the registry (or its host does not host it). */
  | 'ERR_UNKNOWN_AGENT'
  /** The agent's host could not be reached, or its channel ended before the reply. */
  | 'ERR_UNREACHABLE'
  /** The agent's handler threw (its message is the handler's). */
  | 'ERR_HANDLER'
  /** No reply within the caller's timeout. */
  | 'ERR_TIMEOUT'
  /** The host refused the request over its limits (try later or elsewhere). */
  | 'ERR_OVERLOADED'
  /** The agent has no handler for this kind of call (onRequest, onMessage, a protocol...). */
  | 'ERR_NO_HANDLER'
  /** The payload is not plain JSON within its limits, or fails the protocol's schema. */
  | 'ERR_INVALID_PAYLOAD'
  /** Routing by capability found no agent to try. */
  | 'ERR_NO_CANDIDATE'
  /** The agent's circuit breaker is open (peers/protect/breakers.ts): refused here at once; `details.retryAfterMs` says when a probe may go. */
  | 'ERR_CIRCUIT_OPEN'
  /** The host's rate limit for the agent or for this peer refused the call before its handler ran; `details.retryAfterMs`. */
  | 'ERR_RATE_LIMITED'

export class AgentError extends AgoraError {
  static override readonly name = 'AgentError'
  declare readonly code: AgentErrorCode
  constructor (code: AgentErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(code, message, details)
  }
}

const KNOWN = new Set<string>(['ERR_UNKNOWN_AGENT', 'ERR_UNREACHABLE', 'ERR_HANDLER', 'ERR_TIMEOUT', 'ERR_OVERLOADED', 'ERR_NO_HANDLER', 'ERR_INVALID_PAYLOAD', 'ERR_NO_CANDIDATE', 'ERR_CIRCUIT_OPEN', 'ERR_RATE_LIMITED'])

/**
 * The caller's error for a host's failure reply: the host's limits become `ERR_OVERLOADED`; unknown codes
 * `ERR_HANDLER`; a reply's `retryAfterMs` goes to `details.retryAfterMs`.
 */
export function agentErrorOf (code: string, message: string, details: Record<string, unknown> = {}, retryAfterMs?: number): AgentError {
  if (retryAfterMs !== undefined) details = { ...details, retryAfterMs }
  if (code === 'ERR_LIMIT_EXCEEDED') return new AgentError('ERR_OVERLOADED', message, { ...details, hostCode: code })
  if (KNOWN.has(code)) return new AgentError(code as AgentErrorCode, message, details)
  return new AgentError('ERR_HANDLER', message, { ...details, hostCode: code })
}
