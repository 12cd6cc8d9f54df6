/**
 * Query compilation (R2): criteria are validated once into a candidate source (the smallest matching
 * secondary-index set) and a predicate, so a query costs O(candidates scanned), and with an indexed field
 * never a scan of every agent. Without `orderBy` the scan stops at `limit`.
 */
import { InvalidQueryError } from './errors.js'
import { HEALTH_VALUES, WHERE_OPS } from './types.js'
import type { AgentRecord } from './agent-view.js'
import type { Health, QueryCriteria, WhereClause, WhereOp } from './types.js'

/** Max values in an `in` / `notIn` list. */
export const IN_VALUES_MAX = 1024
/** Max depth of a `metadata.` path. */
export const PATH_DEPTH_MAX = 8

export type Predicate = (a: AgentRecord) => boolean
type Getter = (a: AgentRecord) => unknown

const TOP_FIELDS = new Set(['id', 'host', 'zone', 'health', 'load', 'updatedAt', 'status', 'capabilities'])
const CRITERIA_KEYS = new Set(['capability', 'health', 'host', 'zone', 'reachableOnly', 'where', 'limit', 'orderBy'])

export function compileGetter (path: unknown, at: string): Getter {
  if (typeof path !== 'string' || path.length === 0 || path.length > 256) throw new InvalidQueryError(at, 'path must be a non-empty string')
  const parts = path.split('.')
  if (parts.length > PATH_DEPTH_MAX) throw new InvalidQueryError(at, `path deeper than ${PATH_DEPTH_MAX}`)
  const head = parts[0]!
  if (parts.length === 1) {
    if (!TOP_FIELDS.has(head)) throw new InvalidQueryError(at, `unknown field ${head} (fields: ${[...TOP_FIELDS].join(', ')}, resources.<name>, metadata.<path>)`)
    return (a) => (a as unknown as Record<string, unknown>)[head]
  }
  if (head === 'resources' && parts.length === 2) {
    const k = parts[1]!
    // A record's resources are a validated plain object (prototype Object.prototype or null): a name
    // Object.prototype lacks reads the own value or undefined without the own-property check.
    if (!(k in Object.prototype)) return (a) => a.resources[k]
    return (a) => Object.hasOwn(a.resources, k) ? a.resources[k] : undefined
  }
  if (head === 'metadata') {
    const rest = parts.slice(1)
    return (a) => {
      let v: unknown = a.metadata
      for (const p of rest) {
        if (v === null || typeof v !== 'object' || !Object.hasOwn(v, p)) return undefined
        v = (v as Record<string, unknown>)[p]
      }
      return v
    }
  }
  throw new InvalidQueryError(at, `unknown path ${path}`)
}

function isScalar (v: unknown): v is string | number | boolean | null {
  return v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean'
}

function compare (x: unknown, y: unknown): number | undefined {
  if (typeof x === 'number' && typeof y === 'number') return x - y
  if (typeof x === 'string' && typeof y === 'string') return x < y ? -1 : x > y ? 1 : 0
  return undefined
}

function compileClause (clause: WhereClause, i: number): Predicate {
  const at = `where.${i}`
  if (!Array.isArray(clause) || clause.length < 2 || clause.length > 3) throw new InvalidQueryError(at, 'must be [path, op, value]')
  const [path, op, value] = clause as [string, WhereOp, unknown]
  if (!WHERE_OPS.includes(op)) throw new InvalidQueryError(`${at}.1`, `unknown op ${String(op)} (ops: ${WHERE_OPS.join(' ')})`)
  const get = compileGetter(path, `${at}.0`)
  const isCaps = path === 'capabilities'
  switch (op) {
    case 'eq':
    case 'neq': {
      if (!isScalar(value)) throw new InvalidQueryError(`${at}.2`, `${op} needs a string, number, boolean or null`)
      const eq: Predicate = isCaps
        ? (a) => a.capabilities.includes(value as string)
        : (a) => get(a) === value
      return op === 'eq' ? eq : (a) => !eq(a)
    }
    case 'gt': case 'gte': case 'lt': case 'lte': {
      if (typeof value !== 'number' && typeof value !== 'string') throw new InvalidQueryError(`${at}.2`, `${op} needs a number or string`)
      if (isCaps) throw new InvalidQueryError(`${at}.1`, `${op} does not apply to capabilities`)
      // compare() of two numbers or two strings, written out per op (the same order, no closure per record).
      if (typeof value === 'number') {
        switch (op) {
          case 'gt': return (a) => { const v = get(a); return typeof v === 'number' && v > value }
          case 'gte': return (a) => { const v = get(a); return typeof v === 'number' && v >= value }
          case 'lt': return (a) => { const v = get(a); return typeof v === 'number' && v < value }
          default: return (a) => { const v = get(a); return typeof v === 'number' && v <= value }
        }
      }
      switch (op) {
        case 'gt': return (a) => { const v = get(a); return typeof v === 'string' && v > value }
        case 'gte': return (a) => { const v = get(a); return typeof v === 'string' && v >= value }
        case 'lt': return (a) => { const v = get(a); return typeof v === 'string' && v < value }
        default: return (a) => { const v = get(a); return typeof v === 'string' && v <= value }
      }
    }
    case 'in':
    case 'notIn': {
      if (!Array.isArray(value) || value.length > IN_VALUES_MAX || !value.every(isScalar)) {
        throw new InvalidQueryError(`${at}.2`, `${op} needs an array of at most ${IN_VALUES_MAX} scalars`)
      }
      const set = new Set<unknown>(value)
      const inP: Predicate = isCaps
        ? (a) => a.capabilities.some(c => set.has(c))
        : (a) => set.has(get(a))
      return op === 'in' ? inP : (a) => !inP(a)
    }
    case 'exists': {
      if (value !== undefined && typeof value !== 'boolean') throw new InvalidQueryError(`${at}.2`, 'exists takes true, false or nothing')
      const want = value !== false
      const has: Predicate = isCaps ? (a) => a.capabilities.length > 0 : (a) => get(a) !== undefined
      return want ? has : (a) => !has(a)
    }
  }
}

export interface CompiledQuery {
  capabilities: string[]
  health: Health[] | undefined
  host: string | undefined
  zone: string | undefined
  reachableOnly: boolean
  /** The `where` clauses only; indexed criteria are checked by the index (see AgentIndex.query). */
  where: Predicate[]
  limit: number
  order: { get: Getter, desc: boolean } | undefined
}

function checkString (v: unknown, at: string): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > 256) throw new InvalidQueryError(at, 'must be a non-empty string')
  return v
}

const NO_CAPS: string[] = []
const NO_PREDS: Predicate[] = []

export function compileQuery (criteria: QueryCriteria, limits: { queryResultsMax: number, whereClausesMax: number }): CompiledQuery {
  if (criteria === null || typeof criteria !== 'object' || Array.isArray(criteria)) throw new InvalidQueryError('', 'criteria must be an object')
  for (const k in criteria) if (!CRITERIA_KEYS.has(k)) throw new InvalidQueryError(k, `unknown criterion (criteria: ${[...CRITERIA_KEYS].join(', ')})`)
  const cap = criteria.capability
  let capabilities = NO_CAPS
  if (typeof cap === 'string') {
    capabilities = [checkString(cap, 'capability')]
  } else if (cap !== undefined) {
    if (!Array.isArray(cap)) throw new InvalidQueryError('capability', 'must be a string or an array of strings')
    capabilities = cap.map((c, i) => checkString(c, `capability.${i}`))
  }
  let health: Health[] | undefined
  if (criteria.health !== undefined) {
    health = (Array.isArray(criteria.health) ? criteria.health : [criteria.health]) as Health[]
    for (const h of health) if (!HEALTH_VALUES.includes(h)) throw new InvalidQueryError('health', `must be one of ${HEALTH_VALUES.join(', ')}`)
  }
  const host = criteria.host === undefined ? undefined : checkString(criteria.host, 'host')
  const zone = criteria.zone === undefined ? undefined : checkString(criteria.zone, 'zone')
  let where = NO_PREDS
  if (criteria.where !== undefined) {
    if (!Array.isArray(criteria.where)) throw new InvalidQueryError('where', 'must be an array of [path, op, value]')
    if (criteria.where.length > limits.whereClausesMax) throw new InvalidQueryError('where', `at most ${limits.whereClausesMax} clauses`)
    where = criteria.where.map((c, i) => compileClause(c, i))
  }
  const limit = criteria.limit ?? limits.queryResultsMax
  if (!Number.isInteger(limit) || limit < 1 || limit > limits.queryResultsMax) {
    throw new InvalidQueryError('limit', `must be an integer in [1, ${limits.queryResultsMax}]`)
  }
  if (criteria.reachableOnly !== undefined && typeof criteria.reachableOnly !== 'boolean') throw new InvalidQueryError('reachableOnly', 'must be a boolean')
  let order: CompiledQuery['order']
  if (criteria.orderBy !== undefined) {
    const ob = typeof criteria.orderBy === 'string' ? { path: criteria.orderBy, desc: false } : criteria.orderBy
    if (ob === null || typeof ob !== 'object') throw new InvalidQueryError('orderBy', 'must be a path or { path, desc }')
    order = { get: compileGetter(ob.path, 'orderBy.path'), desc: ob.desc === true }
  }
  return { capabilities, health, host, zone, reachableOnly: criteria.reachableOnly === true, where, limit, order }
}

/** Sorts in place by the compiled order; missing values last; ties by id (the same on every replica). */
export function sortRecords (items: AgentRecord[], order: NonNullable<CompiledQuery['order']>): void {
  const sign = order.desc ? -1 : 1
  items.sort((x, y) => {
    const a = order.get(x)
    const b = order.get(y)
    if (a === undefined && b !== undefined) return 1
    if (b === undefined && a !== undefined) return -1
    const c = compare(a, b)
    if (c !== undefined && c !== 0) return sign * c
    return x.id < y.id ? -1 : x.id > y.id ? 1 : 0
  })
}
