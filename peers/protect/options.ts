/**
 * Options of a peer's protection (FEATURES I1, I2): the per-agent circuit breakers (`breaker`) and the
 * local token-bucket rate limits (`rateLimits`), as the peer's options and the daemon's config take them.
 * One zod schema for both, so a bad value fails the same way (InvalidOptionError naming its path, e.g.
 * `rateLimits.writes.burst` or `breaker.recoveryMaxMs`).
 */
import { z } from 'zod'
import { InvalidOptionError } from '../../src/base/errors.js'
import { BREAKER_DEFAULTS, resolveBreakerOptions, type ResolvedBreakerOptions } from '../../protocols/infrastructure/breaker.js'
import type { TokenBucketOptions } from '../../protocols/infrastructure/token-bucket.js'
import { CLIENT_REQUESTS_BURST_MAX, CLIENT_REQUESTS_PER_SECOND_MAX } from '../raft/quota.js'

/** Largest rate or burst a limit takes (beyond it a limit is meaningless; use `false` to switch it off). */
export const RATE_LIMIT_VALUE_MAX = 1e9

const bucketSchema = z.object({
  /** Tokens gained per second (>= 0; 0 = only the burst, never refilled). */
  ratePerSecond: z.number().min(0).max(RATE_LIMIT_VALUE_MAX),
  /** Largest number of tokens held (>= 1); a full bucket starts with this many. */
  burst: z.number().min(1).max(RATE_LIMIT_VALUE_MAX)
}).strict()

/** One limit: a token bucket, or `false` to switch it off. */
const limitSchema = z.union([bucketSchema, z.literal(false)], { error: 'must be { ratePerSecond >= 0, burst >= 1 } or false' })

export const rateLimitsSchema = z.object({
  /** Inbound requests, messages, bid/vote requests and task hints for one local agent (any caller, local ones included). */
  agentRequests: limitSchema.optional(),
  /** Inbound frames of the agents' channel from one remote peer (all its agents together). */
  peerRequests: limitSchema.optional(),
  /** This peer's local document writes: registry register/update/unregister, eventual variable set/add. */
  writes: limitSchema.optional(),
  /** Raft operations this peer's callers start: strong variable writes, economy commands, locks, barriers, votes, task submits. */
  proposals: limitSchema.optional(),
  /** Raft client requests (proposals and reads) one remote peer sends to this member (the client path's request quota). */
  peerProposals: limitSchema.optional()
}).strict()

export type RateLimitsOptions = z.input<typeof rateLimitsSchema>
export type RateLimitName = keyof RateLimitsOptions
export type ResolvedRateLimits = Record<RateLimitName, TokenBucketOptions | false>

/**
 * The defaults: far above what a healthy peer does (the benches' peaks included), so they only cut a flood
 * or a runaway loop; lower them for a real budget. `peerProposals` is the Raft client path's own quota.
 */
export const RATE_LIMIT_DEFAULTS: Readonly<ResolvedRateLimits> = Object.freeze({
  agentRequests: Object.freeze({ ratePerSecond: 20_000, burst: 40_000 }),
  peerRequests: Object.freeze({ ratePerSecond: 20_000, burst: 40_000 }),
  writes: Object.freeze({ ratePerSecond: 5_000, burst: 20_000 }),
  proposals: Object.freeze({ ratePerSecond: 10_000, burst: 20_000 }),
  peerProposals: Object.freeze({ ratePerSecond: CLIENT_REQUESTS_PER_SECOND_MAX, burst: CLIENT_REQUESTS_BURST_MAX })
})

/** Parses with `schema`; a bad value is an InvalidOptionError naming its path under `root`. */
function parse<T> (schema: z.ZodType<T>, v: unknown, root: string): T {
  const r = schema.safeParse(v)
  if (r.success) return r.data
  const issue = r.error.issues[0]!
  const keys = issue.code === 'unrecognized_keys' ? (issue as { keys: string[] }).keys : []
  throw new InvalidOptionError([root, ...issue.path.map(String), ...keys].join('.'), issue.code === 'unrecognized_keys' ? 'unknown key' : issue.message)
}

export function resolveRateLimits (o: RateLimitsOptions | undefined): ResolvedRateLimits {
  const r = parse(rateLimitsSchema, o ?? {}, 'rateLimits')
  const out = { ...RATE_LIMIT_DEFAULTS }
  for (const k of Object.keys(out) as RateLimitName[]) if (r[k] !== undefined) out[k] = r[k]
  return out
}

const ms = (min: number): z.ZodNumber => z.number().int().min(min).max(24 * 3600 * 1000)

export const breakerSchema = z.object({
  /** Failures within `windowMs` that open an agent's breaker. Default 5. */
  failureThreshold: z.number().int().min(1).max(1_000_000).optional(),
  /** The sliding window failures count over (ms). Default 10 000. */
  windowMs: ms(10).optional(),
  /** How long an open breaker refuses calls before one probe goes through (ms). Default 5 000. */
  recoveryMs: ms(1).optional(),
  /** Bound of the recovery time, doubled after each failed probe (ms). Default 60 000. */
  recoveryMaxMs: ms(1).optional(),
  /** A probe with no outcome after this long lets another through (ms). Default 30 000. */
  probeTimeoutMs: ms(1).optional()
}).strict().superRefine((v, ctx) => {
  try {
    resolveBreakerOptions(v)
  } catch (err) {
    const path = String((err as { details?: { path?: unknown } }).details?.path ?? '')
    ctx.addIssue({ code: 'custom', path: [path.slice(path.lastIndexOf('.') + 1)], message: (err as Error).message.replace(/^[^:]*: /, '') })
  }
})

export type BreakerOptionsInput = z.input<typeof breakerSchema>

export function resolveBreaker (o: BreakerOptionsInput | undefined): ResolvedBreakerOptions {
  return o === undefined ? BREAKER_DEFAULTS : resolveBreakerOptions(parse(breakerSchema, o, 'breaker'), 'breaker')
}
