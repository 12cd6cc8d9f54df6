/**
 * Descriptor validation and normalisation. One validator serves local writes (which throw
 * {@link InvalidDescriptorError}) and remote values read out of a host document (which are skipped and
 * counted when invalid), so both sides enforce the same rules and limits.
 */
import { ReservedNameError } from '../src/base/errors.js'
import { isReservedName, isWellFormed, jsonInputProblem, plainJsonProblem } from '../src/base/input.js'
import type { JsonInputProblem } from '../src/base/input.js'
import { healthFromChecks, normaliseChecks, normaliseReported } from './checks.js'
import type { StoredCheck } from './checks.js'
import { InvalidDescriptorError } from './errors.js'
import { HEALTH_VALUES } from './types.js'
import type { RegistryLimits } from './limits.js'
import type { AgentInput, AgentPatch, Health } from './types.js'

/** The value stored under the agent's id in its host document (JSON, so Yjs stores it as one ContentAny). */
export interface StoredAgent {
  capabilities: string[]
  zone?: string
  resources: Record<string, number>
  health: Health
  metadata: Record<string, unknown>
  load?: number
  updatedAt: number
  /**
   * The host's clock (ms) when it claimed this agent id (registered it), kept by every later update: the
   * earliest claim of an id owns it on every replica (agent-index.ts). Absent in descriptors written by
   * peers before this field; such a claim ranks by its `updatedAt`.
   */
  claimedAt?: number
  /**
   * The results of the agent's health checks, run by its host (crdt/checks.ts, peers/checks); with them,
   * `health` is the checks' verdict on `reportedHealth`. Absent for agents without checks and in
   * descriptors of peers before checks.
   */
  checks?: StoredCheck[]
  /** The health the agent reported itself; present only with `checks`. */
  reportedHealth?: Health
}

/** The fields a host writes besides an agent's input: its check results (never a caller's input; validated like the rest). */
export type CheckFields = { checks?: readonly StoredCheck[], reportedHealth?: Health }

const ID_RE = /^[A-Za-z0-9._:@/-]{1,128}$/

/**
 * Agent ids: 1..128 characters of [A-Za-z0-9._:@/-] (ASCII, so always well-formed), not a reserved name
 * (`__proto__`, `constructor`, `prototype`: {@link ReservedNameError}).
 */
export function validateAgentId (id: unknown, path = 'id'): string {
  if (typeof id !== 'string' || !ID_RE.test(id)) {
    throw new InvalidDescriptorError(path, 'must be 1..128 characters of [A-Za-z0-9._:@/-]')
  }
  if (isReservedName(id)) throw new ReservedNameError(path, id)
  return id
}

function isPlainObject (v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false
  const proto = Object.getPrototypeOf(v)
  return proto === Object.prototype || proto === null
}

function checkName (v: unknown, path: string, limits: RegistryLimits): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > limits.nameLengthMax) {
    throw new InvalidDescriptorError(path, `must be a non-empty string of at most ${limits.nameLengthMax} characters`)
  }
  // A lone surrogate has no UTF-8 form: other replicas would read U+FFFD in its place.
  if (!isWellFormed(v)) throw new InvalidDescriptorError(path, 'must be well-formed Unicode (no lone UTF-16 surrogate)')
  return v
}

/**
 * Validates every field and returns the normalised stored form. `updatedAt` is the host's clock;
 * `claimedAt` the host's clock when it claimed the id (a safe integer >= 0; undefined only for stored
 * values of older peers). Throws {@link InvalidDescriptorError} naming the first bad field.
 */
export function normaliseAgent (input: Omit<AgentInput, 'id'> & CheckFields, updatedAt: number, limits: RegistryLimits, copyMetadata = true, claimedAt?: unknown): StoredAgent {
  if (!isPlainObject(input)) throw new InvalidDescriptorError('', 'descriptor must be an object')
  const capsIn = input.capabilities ?? []
  if (!Array.isArray(capsIn)) throw new InvalidDescriptorError('capabilities', 'must be an array of strings')
  if (capsIn.length > limits.capabilitiesMax) {
    throw new InvalidDescriptorError('capabilities', `at most ${limits.capabilitiesMax} capabilities`)
  }
  const capabilities: string[] = []
  const seen = new Set<string>()
  for (let i = 0; i < capsIn.length; i++) {
    const c = checkName(capsIn[i], `capabilities.${i}`, limits)
    if (!seen.has(c)) { seen.add(c); capabilities.push(c) }
  }
  const out: StoredAgent = { capabilities, resources: {}, health: 'healthy', metadata: {}, updatedAt }
  if (input.zone !== undefined) out.zone = checkName(input.zone, 'zone', limits)
  if (input.resources !== undefined) {
    if (!isPlainObject(input.resources)) throw new InvalidDescriptorError('resources', 'must be an object of numbers')
    const keys = Object.keys(input.resources)
    if (keys.length > limits.resourcesMax) throw new InvalidDescriptorError('resources', `at most ${limits.resourcesMax} resources`)
    for (const k of keys) {
      checkName(k, `resources.${k}`, limits)
      if (isReservedName(k)) throw new ReservedNameError(`resources.${k}`, k)
      const v = input.resources[k]
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new InvalidDescriptorError(`resources.${k}`, 'must be a finite number')
      out.resources[k] = v
    }
  }
  if (input.health !== undefined) {
    if (!HEALTH_VALUES.includes(input.health)) throw new InvalidDescriptorError('health', `must be one of ${HEALTH_VALUES.join(', ')}`)
    out.health = input.health
  }
  if (input.metadata !== undefined) {
    if (!isPlainObject(input.metadata)) throw new InvalidDescriptorError('metadata', 'must be a plain JSON object')
    // Local input only: stored values are checked whole by checkStoredAgent (plainJsonProblem).
    if (copyMetadata) {
      const p = jsonInputProblem(input.metadata, 'metadata')
      if (p?.reason === 'proto-key') throw new ReservedNameError(p.path, '__proto__')
      if (p !== undefined) throw new InvalidDescriptorError(p.path, 'must be well-formed Unicode (no lone UTF-16 surrogate)')
    }
    out.metadata = input.metadata
  }
  if (input.load !== undefined) {
    if (typeof input.load !== 'number' || !Number.isFinite(input.load) || input.load < 0) {
      throw new InvalidDescriptorError('load', 'must be a finite number >= 0')
    }
    out.load = input.load
  }
  if (input.checks !== undefined) {
    out.checks = normaliseChecks(input.checks)
    out.reportedHealth = input.reportedHealth !== undefined ? normaliseReported(input.reportedHealth) : out.health
  }
  if (typeof updatedAt !== 'number' || !Number.isFinite(updatedAt)) throw new InvalidDescriptorError('updatedAt', 'must be a finite number')
  if (claimedAt !== undefined) {
    if (typeof claimedAt !== 'number' || !Number.isSafeInteger(claimedAt) || claimedAt < 0) throw new InvalidDescriptorError('claimedAt', 'must be a safe integer >= 0 (ms)')
    out.claimedAt = claimedAt
  }
  let json: string
  try {
    json = JSON.stringify(out)
  } catch (err) {
    throw new InvalidDescriptorError('metadata', `must be JSON-serialisable (${(err as Error).message})`)
  }
  // JSON.stringify drops undefined/functions silently; a round trip must give the same metadata.
  if (Buffer.byteLength(json) > limits.descriptorBytesMax) {
    throw new InvalidDescriptorError('', `descriptor exceeds descriptorBytesMax (${Buffer.byteLength(json)} > ${limits.descriptorBytesMax} bytes)`)
  }
  if (copyMetadata && input.metadata !== undefined) out.metadata = JSON.parse(JSON.stringify(input.metadata)) as Record<string, unknown>
  return out
}

/**
 * Refuses the fields only a host's check runner writes (`checks`, `reportedHealth`) in a caller's input:
 * checks are declared through `peer.checks` (peers/checks), their results are never input.
 */
export function refuseCheckFields (input: object): void {
  for (const k of ['checks', 'reportedHealth']) {
    if (Object.hasOwn(input, k)) throw new InvalidDescriptorError(k, 'is written by the host\'s health checks: declare checks with peer.checks (daemon: a `checks` list in POST /v1/agents, or PUT /v1/agents/:id/checks)')
  }
}

/**
 * The stored agent with these check results (undefined: no checks any more), its `health` their verdict
 * on the agent's own report (crdt/checks.ts); the claim time stays.
 */
export function withChecks (current: StoredAgent, checks: readonly StoredCheck[] | undefined, updatedAt: number, limits: RegistryLimits): StoredAgent {
  const reported = current.reportedHealth ?? current.health
  const { checks: _c, reportedHealth: _r, ...rest } = current
  const next: Omit<AgentInput, 'id'> & CheckFields = checks === undefined
    ? { ...rest, health: reported }
    : { ...rest, health: healthFromChecks(reported, checks), checks: [...checks], reportedHealth: reported }
  return normaliseAgent(next, updatedAt, limits, true, current.claimedAt)
}

/** Applies a patch to a stored agent and re-validates the result; the claim time stays. */
export function patchAgent (current: StoredAgent, patch: AgentPatch, updatedAt: number, limits: RegistryLimits): StoredAgent {
  if (!isPlainObject(patch)) throw new InvalidDescriptorError('', 'patch must be an object')
  if ('id' in patch || 'host' in patch) throw new InvalidDescriptorError('id' in patch ? 'id' : 'host', 'cannot be changed by update()')
  refuseCheckFields(patch)
  const merged: Omit<AgentInput, 'id'> & CheckFields = {
    capabilities: current.capabilities,
    resources: current.resources,
    // With checks, `health` is their verdict: the agent's own report is `reportedHealth`.
    health: current.reportedHealth ?? current.health,
    metadata: current.metadata
  }
  if (current.zone !== undefined) merged.zone = current.zone
  if (current.load !== undefined) merged.load = current.load
  // Known fields first: a patch key is then never an arbitrary property name (e.g. "__proto__").
  const known = new Set(['capabilities', 'zone', 'resources', 'health', 'metadata', 'load'])
  for (const k of Object.keys(patch)) if (!known.has(k)) throw new InvalidDescriptorError(k, 'unknown field')
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) continue
    ;(merged as Record<string, unknown>)[k] = v
  }
  // With checks, a reported health is the agent's own report: the checks still have their say.
  if (current.checks !== undefined) {
    const reported = normaliseReported(merged.health, 'health')
    merged.checks = current.checks
    merged.reportedHealth = reported
    merged.health = healthFromChecks(reported, current.checks)
  }
  return normaliseAgent(merged, updatedAt, limits, true, current.claimedAt)
}

/**
 * Checks a value read from a host's document. Returns the value when valid, or undefined (the caller
 * counts it) when not. The value must be plain JSON at every depth ({@link plainJsonProblem}): what a rogue
 * host writes straight into its own document is not checked by its writer, and lib0 decodes BigInt,
 * undefined and typed arrays, and turns a nested `__proto__` key into a prototype on receivers (while the
 * writer's replica holds it as an own key); either form is refused on every replica alike. `onNotJson`
 * hears that reason (the registry counts it as the replica's `invalid-value`).
 */
export function checkStoredAgent (id: string, value: unknown, limits: RegistryLimits, onNotJson?: (p: JsonInputProblem) => void): StoredAgent | undefined {
  if (!ID_RE.test(id) || isReservedName(id) || !isPlainObject(value)) return undefined
  if (isNormalStoredAgent(value, limits)) return value as unknown as StoredAgent
  const p = plainJsonProblem(value)
  if (p !== undefined) { onNotJson?.(p); return undefined }
  try {
    const v = value as unknown as StoredAgent
    const norm = normaliseAgent(v, v.updatedAt, limits, false, v.claimedAt)
    // Keep the document's own objects (no second copy in memory) when they are already normal.
    if (Array.isArray(v.capabilities) && norm.capabilities.length === v.capabilities.length && v.resources !== undefined && v.metadata !== undefined) return v
    return norm
  } catch {
    return undefined
  }
}

/** Deeper values than this take the full path of {@link checkStoredAgent} (which also finds cycles). */
const FAST_DEPTH_MAX = 64
/** Upper bound of the UTF-8 bytes JSON.stringify gives a number (e.g. `-1.2345678901234567e-308`). */
const NUMBER_JSON_BYTES_MAX = 32
/** Bytes of the `"health":"healthy",` normalisation adds to a value without one, rounded up. */
const HEALTH_JSON_BYTES_MAX = 32

/**
 * An upper bound of the UTF-8 bytes of `JSON.stringify(v)` when `v` is plain JSON by the rules of
 * `plainJsonProblem` (well-formed strings and keys, finite numbers, no `__proto__` key, arrays without
 * holes, prototypes Object.prototype / Array.prototype / null, no typed arrays), at most `cap`; -1 when it
 * is not plain JSON, may not be (deeper than {@link FAST_DEPTH_MAX}: cycles end there), or passes `cap`
 * (which bounds the walk of a value that shares subtrees). The caller then takes the full path, which
 * names the problem. A string takes at most 6 bytes per UTF-16 unit (`\uXXXX`) plus its quotes.
 */
function plainJsonBound (v: unknown, depth: number, cap: number): number {
  switch (typeof v) {
    case 'string': return isWellFormed(v) ? 2 + 6 * v.length : -1
    case 'number': return Number.isFinite(v) ? NUMBER_JSON_BYTES_MAX : -1
    case 'boolean': return 5
    case 'object': break
    default: return -1
  }
  if (v === null) return 4
  if (depth >= FAST_DEPTH_MAX || ArrayBuffer.isView(v)) return -1
  let n = 2
  if (Array.isArray(v)) {
    if (Object.getPrototypeOf(v) !== Array.prototype) return -1
    for (let i = 0; i < v.length; i++) {
      if (!Object.hasOwn(v, i)) return -1
      const b = plainJsonBound(v[i], depth + 1, cap)
      if (b < 0) return -1
      n += b + 1
      if (n > cap) return -1
    }
    return n
  }
  const proto = Object.getPrototypeOf(v)
  if (proto !== Object.prototype && proto !== null) return -1
  for (const k of Object.keys(v)) {
    if (k === '__proto__' || !isWellFormed(k)) return -1
    const b = plainJsonBound((v as Record<string, unknown>)[k], depth + 1, cap)
    if (b < 0) return -1
    n += 2 + 6 * k.length + 1 + b + 1
    if (n > cap) return -1
  }
  return n
}

/**
 * True when {@link checkStoredAgent}'s full path would return `v` itself (plain JSON, every field valid
 * and already normal, within `descriptorBytesMax`), checked without building the normalised copy and its
 * JSON text. False is no verdict: the full path then decides (and names the problem). Values with check
 * results always take the full path.
 */
function isNormalStoredAgent (v: Record<string, unknown>, limits: RegistryLimits): boolean {
  const caps = v.capabilities
  if (!Array.isArray(caps) || caps.length > limits.capabilitiesMax) return false
  for (let i = 0; i < caps.length; i++) {
    const c: unknown = caps[i]
    if (typeof c !== 'string' || c.length === 0 || c.length > limits.nameLengthMax) return false
    // Duplicates are removed by normalisation (a copy): the full path.
    for (let j = 0; j < i; j++) if (caps[j] === c) return false
  }
  const zone = v.zone
  if (zone !== undefined && (typeof zone !== 'string' || zone.length === 0 || zone.length > limits.nameLengthMax)) return false
  const res = v.resources
  if (!isPlainObject(res)) return false
  let nRes = 0
  for (const k of Object.keys(res)) {
    if (++nRes > limits.resourcesMax || k.length === 0 || k.length > limits.nameLengthMax || isReservedName(k)) return false
    const x = res[k]
    if (typeof x !== 'number' || !Number.isFinite(x)) return false
  }
  if (v.health !== undefined && !HEALTH_VALUES.includes(v.health as Health)) return false
  if (!isPlainObject(v.metadata)) return false
  const load = v.load
  if (load !== undefined && (typeof load !== 'number' || !Number.isFinite(load) || load < 0)) return false
  if (v.checks !== undefined) return false
  if (typeof v.updatedAt !== 'number' || !Number.isFinite(v.updatedAt)) return false
  const claimedAt = v.claimedAt
  if (claimedAt !== undefined && (typeof claimedAt !== 'number' || !Number.isSafeInteger(claimedAt) || claimedAt < 0)) return false
  // Plain JSON throughout (strings, names and keys well-formed included), and the normalised form's JSON
  // (a subset of v's fields, plus a default health) within descriptorBytesMax.
  return plainJsonBound(v, 0, limits.descriptorBytesMax - HEALTH_JSON_BYTES_MAX) >= 0
}
