/**
 * Check definitions: what an agent declares (a TTL check or an HTTP check), their validation into a
 * resolved form with every default filled in, the HTTP check's URL policy, and how an HTTP answer becomes
 * a result. Pure: no clock, no network.
 */
import { z } from 'zod'
import { CHECK_ID_RE, CHECK_STATUSES, CHECKS_PER_AGENT_MAX, truncateOutput } from '../../crdt/checks.js'
import type { CheckStatus } from '../../crdt/checks.js'
import { CHECK_STREAK_MAX, checkDamping } from '../../protocols/infrastructure/health-check.js'
import type { CheckDamping } from '../../protocols/infrastructure/health-check.js'
import { LimitExceededError } from '../../src/base/errors.js'
import { CheckUrlNotAllowedError, InvalidCheckError } from './errors.js'

interface CheckDefinitionBase {
  /** Unique among the agent's checks: 1..64 of [A-Za-z0-9._:-]. */
  id: string
  /** The status before the first result. Default `passing` (Consul's is `critical`). */
  initialStatus?: CheckStatus
  /** Results better than the status, in a row, before it follows them. Default 2. */
  successesBeforePassing?: number
  /** Results worse than the status, in a row, before it follows them. Default 1 (TTL), 3 (HTTP). */
  failuresBeforeCritical?: number
}

/** The agent checks in (`peer.checks.pass/warn/fail`) within every `ttlMs`, or the check turns critical. */
export interface TtlCheckDefinition extends CheckDefinitionBase {
  /** 100 ms .. 24 h. */
  ttlMs: number
}

/**
 * The host polls `http` every `intervalMs`: a 2xx answer passes, 429 warns, anything else (another
 * status, a redirect, no answer within `timeoutMs`, a connection error) fails; the answer's start is the
 * output. The URL's host must be loopback unless the peer's `checks.allowHosts` names it.
 */
export interface HttpCheckDefinition extends CheckDefinitionBase {
  /** An http(s) URL. */
  http: string
  /** Default GET. */
  method?: 'GET' | 'HEAD'
  /** 100 ms .. 24 h. Default 10 000. */
  intervalMs?: number
  /** 10 ms .. min(intervalMs, 60 000). Default min(intervalMs, 5000). */
  timeoutMs?: number
}

export type CheckDefinition = TtlCheckDefinition | HttpCheckDefinition

interface ResolvedBase { id: string, initialStatus: CheckStatus, damping: CheckDamping }
export interface ResolvedTtlCheck extends ResolvedBase { kind: 'ttl', ttlMs: number }
export interface ResolvedHttpCheck extends ResolvedBase { kind: 'http', url: string, method: 'GET' | 'HEAD', intervalMs: number, timeoutMs: number }
export type ResolvedCheck = ResolvedTtlCheck | ResolvedHttpCheck

export const CHECK_TTL_MS_MIN = 100
export const CHECK_TTL_MS_MAX = 24 * 3600 * 1000
export const CHECK_INTERVAL_MS_MIN = 100
export const CHECK_INTERVAL_MS_MAX = 24 * 3600 * 1000
export const CHECK_INTERVAL_MS_DEFAULT = 10_000
export const CHECK_TIMEOUT_MS_MIN = 10
export const CHECK_TIMEOUT_MS_MAX = 60_000
export const CHECK_TIMEOUT_MS_DEFAULT = 5000
/** Length of an HTTP check's URL. */
export const CHECK_URL_CHARS_MAX = 2048
/** Bytes of an HTTP check's answer read for its output (the rest is not read). */
export const HTTP_CHECK_BODY_BYTES_MAX = 4096
export const TTL_DAMPING_DEFAULT: Readonly<CheckDamping> = Object.freeze({ failuresBeforeCritical: 1, successesBeforePassing: 2 })
export const HTTP_DAMPING_DEFAULT: Readonly<CheckDamping> = Object.freeze({ failuresBeforeCritical: 3, successesBeforePassing: 2 })

const streak = z.number().int().min(1).max(CHECK_STREAK_MAX)
const base = {
  id: z.string().regex(CHECK_ID_RE, '1..64 characters of [A-Za-z0-9._:-]'),
  initialStatus: z.enum(CHECK_STATUSES as [CheckStatus, ...CheckStatus[]]).optional(),
  successesBeforePassing: streak.optional(),
  failuresBeforeCritical: streak.optional()
}
const ttlSchema = z.object({ ...base, ttlMs: z.number().int().min(CHECK_TTL_MS_MIN).max(CHECK_TTL_MS_MAX) }).strict()
const httpSchema = z.object({
  ...base,
  http: z.string().min(1).max(CHECK_URL_CHARS_MAX),
  method: z.enum(['GET', 'HEAD']).optional(),
  intervalMs: z.number().int().min(CHECK_INTERVAL_MS_MIN).max(CHECK_INTERVAL_MS_MAX).optional(),
  timeoutMs: z.number().int().min(CHECK_TIMEOUT_MS_MIN).max(CHECK_TIMEOUT_MS_MAX).optional()
}).strict()

/** Whether a URL's hostname (as `URL.hostname` gives it) is this machine's loopback: 127.0.0.0/8, [::1], localhost. */
export function isLoopbackHostname (hostname: string): boolean {
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname) || hostname === '[::1]' || hostname.toLowerCase() === 'localhost'
}

/**
 * Checks an HTTP check's URL against the policy: http(s), and a loopback host unless `allowHosts` names
 * the host (`*`: any). Returns the normal form of the URL.
 */
export function checkUrl (raw: string, allowHosts: readonly string[], path = 'http'): string {
  let url: URL
  try { url = new URL(raw) } catch { throw new InvalidCheckError(path, 'is not a URL') }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidCheckError(path, 'must be an http(s) URL')
  if (url.username !== '' || url.password !== '') throw new InvalidCheckError(path, 'must not carry credentials')
  const host = url.hostname
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase()
  if (!isLoopbackHostname(host) && !allowHosts.includes('*') && !allowHosts.some(h => h.toLowerCase() === bare)) throw new CheckUrlNotAllowedError(path, host)
  return url.href
}

/**
 * Validates an agent's check definitions (at most {@link CHECKS_PER_AGENT_MAX}, distinct ids) into their
 * resolved form. {@link InvalidCheckError} names the bad field (`checks.1.ttlMs`);
 * {@link CheckUrlNotAllowedError} a URL the policy refuses.
 */
export function resolveChecks (defs: unknown, allowHosts: readonly string[]): ResolvedCheck[] {
  if (!Array.isArray(defs)) throw new InvalidCheckError('checks', 'must be an array of check definitions')
  if (defs.length > CHECKS_PER_AGENT_MAX) throw new LimitExceededError('CHECKS_PER_AGENT_MAX', CHECKS_PER_AGENT_MAX, defs.length, 'checks of one agent')
  const ids = new Set<string>()
  return defs.map((d: unknown, i): ResolvedCheck => {
    const at = `checks.${i}`
    if (d === null || typeof d !== 'object' || Array.isArray(d)) throw new InvalidCheckError(at, 'must be an object')
    const isTtl = Object.hasOwn(d, 'ttlMs')
    if (isTtl === Object.hasOwn(d, 'http')) throw new InvalidCheckError(at, 'needs exactly one of ttlMs (a TTL check) or http (an HTTP check)')
    const r = (isTtl ? ttlSchema : httpSchema).safeParse(d)
    if (!r.success) {
      const issue = r.error.issues[0]!
      const p = issue.code === 'unrecognized_keys' ? [...issue.path, (issue as { keys: string[] }).keys.join(',')] : issue.path
      throw new InvalidCheckError([at, ...p].join('.'), issue.code === 'unrecognized_keys' ? 'unknown field' : issue.message)
    }
    const v = r.data as z.infer<typeof ttlSchema> & z.infer<typeof httpSchema>
    if (ids.has(v.id)) throw new InvalidCheckError(`${at}.id`, `duplicate check id ${v.id}`)
    ids.add(v.id)
    const common = { id: v.id, initialStatus: v.initialStatus ?? 'passing' as CheckStatus }
    const damping = (defaults: CheckDamping): CheckDamping => checkDamping({ failuresBeforeCritical: v.failuresBeforeCritical, successesBeforePassing: v.successesBeforePassing }, defaults, at)
    if (isTtl) return { ...common, kind: 'ttl', ttlMs: v.ttlMs, damping: damping(TTL_DAMPING_DEFAULT) }
    const intervalMs = v.intervalMs ?? CHECK_INTERVAL_MS_DEFAULT
    const timeoutMs = v.timeoutMs ?? Math.min(intervalMs, CHECK_TIMEOUT_MS_DEFAULT)
    if (timeoutMs > intervalMs) throw new InvalidCheckError(`${at}.timeoutMs`, `must not exceed intervalMs (${intervalMs})`)
    return { ...common, kind: 'http', url: checkUrl(v.http, allowHosts, `${at}.http`), method: v.method ?? 'GET', intervalMs, timeoutMs, damping: damping(HTTP_DAMPING_DEFAULT) }
  })
}

/** The definition a resolved check came from, every default written out (what the daemon saves). */
export function definitionOf (c: ResolvedCheck): CheckDefinition {
  const common = { id: c.id, initialStatus: c.initialStatus, ...c.damping }
  return c.kind === 'ttl'
    ? { ...common, ttlMs: c.ttlMs }
    : { ...common, http: c.url, method: c.method, intervalMs: c.intervalMs, timeoutMs: c.timeoutMs }
}

/**
 * An HTTP check's answer as a result: 2xx passes, 429 (too many requests) warns, anything else fails
 * (Consul's rule). The output names the status and starts the body (cut to the stored output length).
 */
export function httpResult (method: string, url: string, status: number, statusText: string, body: string): { status: CheckStatus, output: string } {
  const result: CheckStatus = status >= 200 && status < 300 ? 'passing' : status === 429 ? 'warning' : 'critical'
  const head = `HTTP ${method} ${url}: ${status}${statusText !== '' ? ' ' + statusText : ''}`
  return { status: result, output: truncateOutput(body.length > 0 ? `${head}: ${body}` : head) }
}
