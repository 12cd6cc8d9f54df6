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
  /**
   * `not-json`: a value JSON has no form for (BigInt, undefined, a function, a symbol, a non-finite number,
   * a typed array, an array hole, a cycle); `prototype`: an object whose prototype is not `Object.prototype`
   * or null (or an array whose prototype is not `Array.prototype`), e.g. one a decoded `__proto__` key set.
   */
  reason: 'ill-formed-string' | 'proto-key' | 'not-json' | 'prototype'
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

/**
 * The first reason a value read out of a replicated document is not plain JSON; undefined when it is.
 * Plain JSON: null, booleans, finite numbers, well-formed strings, arrays (prototype `Array.prototype`, no
 * holes) and objects whose prototype is `Object.prototype` or null, with well-formed own keys other than
 * `__proto__`, at any depth. A value written straight into its own document by a rogue host may be anything
 * lib0 encodes (BigInt, undefined, Uint8Array) and, on its receivers, an object whose prototype a decoded
 * `__proto__` key set (lib0 assigns `obj[key] = v`); on its own replica the same object holds an own
 * `__proto__` key. Every replica refuses both forms, so all of them read the value the same way (absent).
 * Iterative, linear in the size of the value (a shared sub-object is examined once; a cycle is `not-json`).
 */
export function plainJsonProblem (value: unknown, base = ''): JsonInputProblem | undefined {
  // [value, path, leaving]: `leaving` marks the end of an object's subtree (cycle detection).
  const stack: Array<[unknown, string, boolean]> = [[value, base, false]]
  const open = new Set<object>()
  const done = new Set<object>()
  const join = (p: string, k: string | number): string => p === '' ? String(k) : `${p}.${k}`
  while (stack.length > 0) {
    const [v, path, leaving] = stack.pop()!
    if (leaving) { open.delete(v as object); done.add(v as object); continue }
    switch (typeof v) {
      case 'string':
        if (!isWellFormed(v)) return { path, reason: 'ill-formed-string' }
        continue
      case 'number':
        if (!Number.isFinite(v)) return { path, reason: 'not-json' }
        continue
      case 'boolean':
        continue
      case 'object':
        break
      default: // undefined, bigint, function, symbol
        return { path, reason: 'not-json' }
    }
    if (v === null || done.has(v)) continue
    if (open.has(v)) return { path, reason: 'not-json' }
    if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer) return { path, reason: 'not-json' }
    const proto: unknown = Object.getPrototypeOf(v)
    if (Array.isArray(v)) {
      if (proto !== Array.prototype) return { path, reason: 'prototype' }
      open.add(v)
      stack.push([v, path, true])
      for (let i = v.length - 1; i >= 0; i--) {
        if (!Object.hasOwn(v, i)) return { path: join(path, i), reason: 'not-json' }
        stack.push([v[i], join(path, i), false])
      }
      continue
    }
    if (proto !== Object.prototype && proto !== null) return { path, reason: 'prototype' }
    open.add(v)
    stack.push([v, path, true])
    const keys = Object.keys(v)
    for (let i = keys.length - 1; i >= 0; i--) {
      const k = keys[i]!
      if (k === '__proto__') return { path: join(path, k), reason: 'proto-key' }
      if (!isWellFormed(k)) return { path: join(path, k), reason: 'ill-formed-string' }
      stack.push([(v as Record<string, unknown>)[k], join(path, k), false])
    }
  }
  return undefined
}

/** A human sentence for a {@link JsonInputProblem}. */
export function describeJsonProblem (p: JsonInputProblem): string {
  switch (p.reason) {
    case 'proto-key': return '"__proto__" is not allowed as a key'
    case 'not-json': return 'must be plain JSON (no BigInt, undefined, function, typed array, non-finite number or cycle)'
    case 'prototype': return 'must be a plain JSON object or array (its prototype is neither Object.prototype nor null)'
    default: return 'strings must be well-formed Unicode (no lone UTF-16 surrogate)'
  }
}
