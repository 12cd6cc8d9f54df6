/**
 * The per-agent circuit breakers of `peer.agents` (FEATURES I1): every frame this peer sends for an
 * agent (requests, messages, named protocols, bid, reveal and vote requests, task hints) asks the agent's
 * breaker first (protocols/infrastructure/breaker.ts, on the peer's monotonic clock) and reports the
 * reply to it.
 *
 * What counts (see {@link outcomeOf}):
 * - failures: the host unreachable or its channel ended (`ERR_UNREACHABLE`), no reply in time
 *   (`ERR_TIMEOUT`), the handler threw (`ERR_HANDLER`), the host shed the call over its limits
 *   (`ERR_LIMIT_EXCEEDED`, which the caller sees as `ERR_OVERLOADED`);
 * - neutral (the probe slot is freed, nothing counted): refusals made on this side before anything was
 *   sent (this peer's own pending limit, the caller's abort) and the host's rate-limit refusals
 *   (`ERR_RATE_LIMITED`: the agent is fine, this caller is over its quota; its retryAfterMs says when);
 * - successes: any other reply, since the host answered (a reply, or a named refusal such as
 *   `ERR_INVALID_PAYLOAD`, `ERR_NO_HANDLER`, `ERR_UNKNOWN_AGENT`, a bid declined).
 * Caller-side errors (a bad payload or option) throw before any breaker is asked.
 */
import { KeyedBreakers, type BreakerState, type ResolvedBreakerOptions } from '../../protocols/infrastructure/breaker.js'
import { RETRY_AFTER_MS_MAX } from '../../src/base/errors.js'
import type { Reply } from '../agents/channel.js'

/** Agents with a breaker at once (beyond: idle ones are forgotten; none idle: calls go unguarded, counted). */
export const BREAKER_KEYS_MAX = 4096
/** Breakers a listing names at most. */
export const BREAKER_LIST_MAX = 256

/** Reply codes that count as a failure of the agent. */
export const BREAKER_FAILURE_CODES: ReadonlySet<string> = new Set(['ERR_UNREACHABLE', 'ERR_TIMEOUT', 'ERR_HANDLER', 'ERR_LIMIT_EXCEEDED', 'ERR_OVERLOADED'])

/** What a reply tells an agent's breaker. */
export function outcomeOf (r: Reply): 'success' | 'failure' | 'neutral' {
  if (r.ok) return 'success'
  if (r.local === true || r.code === 'ERR_RATE_LIMITED' || r.code === 'ERR_CIRCUIT_OPEN') return 'neutral'
  return BREAKER_FAILURE_CODES.has(r.code) ? 'failure' : 'success'
}

/** One breaker not closed, or closed with failures in its window (`peer.agents.breakers()`). */
export interface BreakerView {
  agent: string
  state: BreakerState
  /** Failures counted in the current window. */
  failures: number
  /** Times it opened. */
  opened: number
  /** Ms until an open breaker lets a probe through (0: the next call is the probe). */
  retryAfterMs: number
}

export interface BreakerEvents {
  /** The agent's breaker opened (again, after a failed probe): calls are refused for `retryAfterMs`; `opened` counts its openings. */
  'breaker:open': { agent: string, retryAfterMs: number, opened: number }
  /** The first call after the recovery time went through as the probe. */
  'breaker:half-open': { agent: string }
  /** The probe succeeded: calls go through again. */
  'breaker:closed': { agent: string }
}

export class AgentBreakers {
  private readonly set: KeyedBreakers
  /** The time of the call being recorded (transitions fire inside it). */
  private at = 0
  readonly stats = {
    /** Transitions into each state. */
    transitions: { open: 0, 'half-open': 0, closed: 0 } as Record<BreakerState, number>,
    /** Calls refused while open (`ERR_CIRCUIT_OPEN`). */
    refused: 0
  }

  constructor (readonly options: ResolvedBreakerOptions, private readonly emit: <K extends keyof BreakerEvents>(type: K, e: BreakerEvents[K]) => void, private readonly now: () => number = () => performance.now()) {
    this.set = new KeyedBreakers(options, BREAKER_KEYS_MAX, (agent, _from, to) => {
      this.stats.transitions[to]++
      if (to === 'open') {
        const b = this.set.peek(agent)
        this.emit('breaker:open', { agent, retryAfterMs: Math.ceil(b?.retryAfterMs(this.at) ?? options.recoveryMs), opened: b?.opened ?? 1 })
      } else {
        this.emit(to === 'half-open' ? 'breaker:half-open' : 'breaker:closed', { agent })
      }
    })
  }

  /** Calls that went unguarded because every breaker slot was busy. */
  get untracked (): number { return this.set.untracked }

  /**
   * Before a call for `agent`: undefined to go ahead (the caller must then {@link record} the reply), or
   * the `ERR_CIRCUIT_OPEN` refusal (`retryAfterMs`: when a probe may go).
   */
  admit (agent: string): Reply | undefined {
    const now = this.at = this.now()
    if (this.set.allow(agent, now)) return undefined
    this.stats.refused++
    const retryAfterMs = Math.min(RETRY_AFTER_MS_MAX, Math.ceil(this.set.peek(agent)?.retryAfterMs(now) ?? 0))
    return { ok: false, code: 'ERR_CIRCUIT_OPEN', message: `the circuit breaker of agent ${agent} is open: retry in ${retryAfterMs} ms or use another agent`, retryAfterMs, local: true }
  }

  /** The reply of a call {@link admit} let through. */
  record (agent: string, r: Reply): void {
    const o = outcomeOf(r)
    const now = this.at = this.now()
    if (o === 'success') this.set.success(agent, now)
    else if (o === 'failure') this.set.failure(agent, now)
    else this.set.release(agent)
  }

  /** Forgets `agent`'s breaker (the agent left the registry): no longer listed nor counted; a new agent of that id starts closed. */
  forget (agent: string): void {
    this.set.delete(agent)
  }

  /** True while `agent`'s breaker refuses every call (open, its recovery time not over). */
  isOpen (agent: string): boolean {
    return this.set.state(agent, this.now()) === 'open'
  }

  /** Ms until `agent`'s open breaker lets a probe through (0 when not open). */
  retryAfterMs (agent: string): number {
    return Math.ceil(this.set.peek(agent)?.retryAfterMs(this.now()) ?? 0)
  }

  /** Breakers not closed (or closed with failures in the window when `all`), at most `max`. */
  list (options: { all?: boolean, max?: number } = {}): BreakerView[] {
    const now = this.now()
    const out: BreakerView[] = []
    for (const s of this.set.list(now, Math.min(options.max ?? BREAKER_LIST_MAX, BREAKER_LIST_MAX))) {
      if (s.state === 'closed' && options.all !== true) continue
      out.push({ agent: s.key, state: s.state, failures: s.failures, opened: s.opened, retryAfterMs: Math.ceil(this.set.peek(s.key)?.retryAfterMs(now) ?? 0) })
    }
    return out
  }

  /** Breakers by state (agents without one are closed and not counted). */
  counts (): Record<BreakerState, number> {
    return this.set.counts(this.now())
  }
}
