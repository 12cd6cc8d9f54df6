/**
 * Health-check results as the registry stores them (FEATURES I4). A host runs its agents' checks
 * (peers/checks) and writes their results into each agent's descriptor: `checks` (one entry per check:
 * status, last output, time) and `reportedHealth` (the health the agent reported itself), and the
 * descriptor's `health` is then {@link healthFromChecks} of the two. Every replica reads the same signed
 * values; none recomputes them.
 *
 * Mixed versions: a peer of an earlier version validates a descriptor field by field and ignores keys it
 * does not know (descriptor.ts builds its normal form from the known keys only and keeps the document's
 * own object), so it indexes such an agent under the `health` its host wrote (the checks' verdict) and
 * simply does not show the check details.
 */
import { isWellFormed } from '../src/base/input.js'
import { InvalidDescriptorError } from './errors.js'
import { HEALTH_VALUES } from './types.js'
import type { Health } from './types.js'

export type CheckStatus = 'passing' | 'warning' | 'critical'
export const CHECK_STATUSES: readonly CheckStatus[] = ['passing', 'warning', 'critical']

/** One check's result on an agent's descriptor. */
export interface StoredCheck {
  /** The check's id, unique per agent: 1..64 of [A-Za-z0-9._:-]. */
  id: string
  /** `ttl`, `http` (known kinds; a later version may add others, which this one shows as they are). */
  kind: string
  /** The damped status (peers/checks): what drives the agent's health. */
  status: CheckStatus
  /** The last result's output (at most {@link CHECK_OUTPUT_CHARS_MAX} characters). */
  output: string
  /** Host's wall clock (ms) of that result. */
  at: number
}

/** Checks one agent may declare (and results its descriptor may carry). */
export const CHECKS_PER_AGENT_MAX = 8
/** Characters of a check's output kept on the descriptor (longer output is cut). */
export const CHECK_OUTPUT_CHARS_MAX = 256
/** Check ids: ASCII (usable in a URL path as they are). */
export const CHECK_ID_RE = /^[A-Za-z0-9._:-]{1,64}$/
/** Length of a check kind's name. */
const KIND_CHARS_MAX = 32

const RANK: Record<Health, number> = { healthy: 0, degraded: 1, unhealthy: 2 }
const HEALTH_OF: Record<CheckStatus, Health> = { passing: 'healthy', warning: 'degraded', critical: 'unhealthy' }

/** The worse of two healths. */
export function worseHealth (a: Health, b: Health): Health {
  return RANK[a] >= RANK[b] ? a : b
}

/**
 * The health checks drive: the worst of the agent's own report and its checks' statuses (a `critical`
 * check makes it `unhealthy`, a `warning` one at least `degraded`; passing checks keep the report).
 */
export function healthFromChecks (reported: Health, checks: readonly Pick<StoredCheck, 'status'>[]): Health {
  let h = reported
  for (const c of checks) h = worseHealth(h, HEALTH_OF[c.status])
  return h
}

/** `s` cut to at most `max` UTF-16 units without splitting a surrogate pair (so it stays well-formed). */
export function truncateOutput (s: string, max = CHECK_OUTPUT_CHARS_MAX): string {
  if (s.length <= max) return s
  let end = max
  const c = s.charCodeAt(end - 1)
  if (c >= 0xd800 && c <= 0xdbff) end--
  return s.slice(0, end)
}

/**
 * Validates the `checks` of a descriptor (local writes and values read from host documents alike) and
 * returns a normal copy; throws {@link InvalidDescriptorError} naming the first bad field.
 */
export function normaliseChecks (v: unknown): StoredCheck[] {
  if (!Array.isArray(v)) throw new InvalidDescriptorError('checks', 'must be an array')
  if (v.length > CHECKS_PER_AGENT_MAX) throw new InvalidDescriptorError('checks', `at most ${CHECKS_PER_AGENT_MAX} checks (CHECKS_PER_AGENT_MAX)`)
  const ids = new Set<string>()
  return v.map((c: unknown, i): StoredCheck => {
    const at = `checks.${i}`
    if (c === null || typeof c !== 'object' || Array.isArray(c)) throw new InvalidDescriptorError(at, 'must be an object')
    const r = c as Record<string, unknown>
    if (typeof r.id !== 'string' || !CHECK_ID_RE.test(r.id)) throw new InvalidDescriptorError(`${at}.id`, 'must be 1..64 characters of [A-Za-z0-9._:-]')
    if (ids.has(r.id)) throw new InvalidDescriptorError(`${at}.id`, `duplicate check id ${r.id}`)
    ids.add(r.id)
    if (typeof r.kind !== 'string' || !/^[a-z][a-z0-9-]*$/.test(r.kind) || r.kind.length > KIND_CHARS_MAX) throw new InvalidDescriptorError(`${at}.kind`, `must be 1..${KIND_CHARS_MAX} characters of [a-z0-9-]`)
    if (!CHECK_STATUSES.includes(r.status as CheckStatus)) throw new InvalidDescriptorError(`${at}.status`, `must be one of ${CHECK_STATUSES.join(', ')}`)
    if (typeof r.output !== 'string' || r.output.length > CHECK_OUTPUT_CHARS_MAX) throw new InvalidDescriptorError(`${at}.output`, `must be a string of at most ${CHECK_OUTPUT_CHARS_MAX} characters`)
    if (!isWellFormed(r.output)) throw new InvalidDescriptorError(`${at}.output`, 'must be well-formed Unicode (no lone UTF-16 surrogate)')
    if (typeof r.at !== 'number' || !Number.isSafeInteger(r.at) || r.at < 0) throw new InvalidDescriptorError(`${at}.at`, 'must be a safe integer >= 0 (ms)')
    return { id: r.id, kind: r.kind, status: r.status as CheckStatus, output: r.output, at: r.at }
  })
}

/** Validates `reportedHealth` (present only with `checks`). */
export function normaliseReported (v: unknown, path = 'reportedHealth'): Health {
  if (!HEALTH_VALUES.includes(v as Health)) throw new InvalidDescriptorError(path, `must be one of ${HEALTH_VALUES.join(', ')}`)
  return v as Health
}
