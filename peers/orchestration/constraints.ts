/**
 * Constraints of an orchestrated variable: a numeric range and grid (`min`, `max`, `step`), a list of
 * allowed values (`oneOf`, compared as canonical JSON), and a predicate (`check`). All given must hold.
 * Pure: no I/O, no clock.
 */
import { InvalidOptionError } from '../../src/base/errors.js'
import { ConstraintError } from './errors.js'
import { ONE_OF_MAX } from './limits.js'

export interface Constraints<T = unknown> {
  /** Numbers only: the least allowed value. */
  min?: number
  /** Numbers only: the greatest allowed value. */
  max?: number
  /** Numbers only: allowed values are `(min ?? 0) + k·step` for an integer k. */
  step?: number
  /** The allowed values (at most {@link ONE_OF_MAX}), compared as canonical JSON. */
  oneOf?: readonly T[]
  /** A predicate: `true` (or undefined) accepts; `false` or a string (the reason) refuses. Must not throw. */
  check?: (value: T) => boolean | string | undefined
}

/** JSON with object keys sorted, so equal values have equal text (undefined when not JSON). */
export function canonicalJson (value: unknown): string | undefined {
  const sort = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sort)
    if (v !== null && typeof v === 'object') {
      const out: Record<string, unknown> = Object.create(null)
      for (const k of Object.keys(v).sort()) out[k] = sort((v as Record<string, unknown>)[k])
      return out
    }
    return v
  }
  try { return JSON.stringify(sort(value)) } catch { return undefined }
}

/** Deep JSON equality. */
export function sameJson (a: unknown, b: unknown): boolean {
  return canonicalJson(a) === canonicalJson(b)
}

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v)

/** Validates a declaration's constraints (InvalidOptionError naming the bad field); returns a frozen copy. */
export function validateConstraints<T> (c: Constraints<T> | undefined): Readonly<Constraints<T>> {
  if (c === undefined) return Object.freeze({})
  if (c === null || typeof c !== 'object') throw new InvalidOptionError('constraints', 'must be an object')
  for (const k of ['min', 'max', 'step'] as const) {
    if (c[k] !== undefined && !isNum(c[k])) throw new InvalidOptionError(`constraints.${k}`, 'must be a finite number')
  }
  if (c.min !== undefined && c.max !== undefined && c.min > c.max) throw new InvalidOptionError('constraints', `min (${c.min}) is greater than max (${c.max})`)
  if (c.step !== undefined && c.step <= 0) throw new InvalidOptionError('constraints.step', 'must be greater than 0')
  if (c.oneOf !== undefined) {
    if (!Array.isArray(c.oneOf) || c.oneOf.length === 0 || c.oneOf.length > ONE_OF_MAX) throw new InvalidOptionError('constraints.oneOf', `must be a list of 1..${ONE_OF_MAX} values`)
    for (const v of c.oneOf) if (canonicalJson(v) === undefined) throw new InvalidOptionError('constraints.oneOf', 'values must be JSON')
  }
  if (c.check !== undefined && typeof c.check !== 'function') throw new InvalidOptionError('constraints.check', 'must be a function')
  return Object.freeze({ ...c, ...(c.oneOf !== undefined ? { oneOf: Object.freeze([...c.oneOf]) } : {}) })
}

/** Whether `v` lies on the step grid of `c` (relative tolerance 1e-9, for decimal steps). */
function onGrid (c: Pick<Constraints<unknown>, 'min' | 'step'>, v: number): boolean {
  if (c.step === undefined) return true
  const k = (v - (c.min ?? 0)) / c.step
  return Math.abs(k - Math.round(k)) <= 1e-9 * Math.max(1, Math.abs(k))
}

/** Why `value` breaks `c`, or undefined when it satisfies every constraint. */
export function constraintViolation<T> (c: Readonly<Constraints<T>>, value: T): string | undefined {
  if (canonicalJson(value) === undefined || value === undefined) return 'the value must be JSON'
  const numeric = c.min !== undefined || c.max !== undefined || c.step !== undefined
  if (numeric) {
    if (!isNum(value)) return 'the value must be a finite number'
    if (c.min !== undefined && value < c.min) return `${value} is below min ${c.min}`
    if (c.max !== undefined && value > c.max) return `${value} is above max ${c.max}`
    if (!onGrid(c, value)) return `${value} is not on the grid ${c.min ?? 0} + k·${c.step}`
  }
  if (c.oneOf !== undefined) {
    const text = canonicalJson(value)
    if (!c.oneOf.some(v => canonicalJson(v) === text)) return 'the value is not one of the allowed values'
  }
  if (c.check !== undefined) {
    let ok: boolean | string | undefined
    try { ok = c.check(value) } catch (err) { return `the check threw: ${(err as Error).message}` }
    if (ok === false) return 'the check refused the value'
    if (typeof ok === 'string') return ok
  }
  return undefined
}

/** Throws {@link ConstraintError} (ERR_CONSTRAINT) when `value` breaks `c`. */
export function checkConstraints<T> (variable: string, c: Readonly<Constraints<T>>, value: T): void {
  const reason = constraintViolation(c, value)
  if (reason !== undefined) throw new ConstraintError(variable, reason, canonicalJson(value) !== undefined ? value : undefined)
}

/**
 * The allowed number nearest to `n` under the numeric constraints of `c` (clamped to [min, max], snapped
 * to the step grid inside it): a helper for adaptation functions that want to stay within bounds.
 */
export function nearestAllowed (c: Pick<Constraints<unknown>, 'min' | 'max' | 'step'>, n: number): number {
  if (!isNum(n)) throw new InvalidOptionError('n', 'must be a finite number')
  let v = n
  if (c.min !== undefined) v = Math.max(c.min, v)
  if (c.max !== undefined) v = Math.min(c.max, v)
  if (c.step !== undefined) {
    const base = c.min ?? 0
    v = base + Math.round((v - base) / c.step) * c.step
    if (c.max !== undefined && v > c.max) v -= c.step
    if (c.min !== undefined && v < c.min) v += c.step
    // Decimal steps: drop the float noise of the multiplication.
    v = Number(v.toPrecision(12))
  }
  return v
}
