/**
 * Checks shared by every input boundary (registry descriptors, variables, ledger and auction commands,
 * daemon JSON bodies), so a value is either refused at the door or identical on every replica:
 *
 * - **Reserved names.** `__proto__`, `constructor` and `prototype` are refused as ids (accounts, agents,
 *   auctions, items, escrows) because ids become keys of JSON objects (snapshots, auction payments,
 *   HTTP answers); `obj["__proto__"] = x` on a plain object sets its prototype instead of a key, and a
 *   read of an absent `obj["constructor"]` finds `Object.prototype.constructor`. Maps keyed by input use
 *   `Map` or {@link nullObject}; reads of JSON objects use `Object.hasOwn`.
 * - **Well-formed Unicode.** A string with a lone UTF-16 surrogate has no UTF-8 encoding: the Yjs
 *   encoder (TextEncoder) turns it into U+FFFD on the wire while its writer keeps the original, so
 *   replicas would diverge. Every string of an input (keys included) must be well-formed.
 * - **No `__proto__` key in JSON values** (metadata, variable values, bodies): lib0's decoder assigns
 *   decoded keys with `obj[key] = v`, so such a key would become a prototype on every other replica.
 */

export const RESERVED_NAMES: readonly string[] = Object.freeze(['__proto__', 'constructor', 'prototype'])

export function isReservedName (s: string): boolean {
  return s === '__proto__' || s === 'constructor' || s === 'prototype'
}

/** `String.prototype.isWellFormed` (ES2024, Node 20+): no lone UTF-16 surrogate. */
export function isWellFormed (s: string): boolean {
  return (s as unknown as { isWellFormed: () => boolean }).isWellFormed()
}

/** A plain object with no prototype, for maps whose keys come from input (serialises like `{}`). */
export function nullObject<T> (): Record<string, T> {
  return Object.create(null) as Record<string, T>
}

export interface JsonInputProblem {
  /** Dotted path of the offending key or value (`''` for the value itself). */
  path: string
  reason: 'ill-formed-string' | 'proto-key'
}

/**
 * The first string (key or value) of a JSON-like value that is not well-formed Unicode, or the first
 * `__proto__` key; undefined when there is none. Iterative (no recursion limit on deep input), linear in
 * the size of the value; own enumerable keys only; an object met twice (a cycle, which is not JSON anyway)
 * is examined once.
 */
export function jsonInputProblem (value: unknown, base = ''): JsonInputProblem | undefined {
  const stack: Array<[unknown, string]> = [[value, base]]
  const seen = new Set<object>()
  const join = (p: string, k: string | number): string => p === '' ? String(k) : `${p}.${k}`
  while (stack.length > 0) {
    const [v, path] = stack.pop()!
    if (typeof v === 'string') {
      if (!isWellFormed(v)) return { path, reason: 'ill-formed-string' }
      continue
    }
    if (v === null || typeof v !== 'object' || seen.has(v)) continue
    seen.add(v)
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push([v[i], join(path, i)])
      continue
    }
    const keys = Object.keys(v)
    for (let i = keys.length - 1; i >= 0; i--) {
      const k = keys[i]!
      if (k === '__proto__') return { path: join(path, k), reason: 'proto-key' }
      if (!isWellFormed(k)) return { path: join(path, k), reason: 'ill-formed-string' }
      stack.push([(v as Record<string, unknown>)[k], join(path, k)])
    }
  }
  return undefined
}

/** A human sentence for a {@link JsonInputProblem}. */
export function describeJsonProblem (p: JsonInputProblem): string {
  return p.reason === 'proto-key' ? '"__proto__" is not allowed as a key' : 'strings must be well-formed Unicode (no lone UTF-16 surrogate)'
}
