/**
 * Listing eventual variables by name: every name some host contributed to in the documents this replica
 * holds (declared on this peer or not), in name order, with the value merged under the rule its
 * contributions carry. A name whose contributions disagree on the rule, or use a custom merge, is listed
 * with `merge: null` and `value: null` (declare it to read it). Reads this replica only: eventual.
 */
import { InvalidOptionError } from '../src/base/errors.js'
import { BUILTIN_MERGES, EventualVariable } from './variables.js'
import type { BuiltinMerge, VariableStore } from './variables.js'
import type { Replica } from './replica.js'

/** Max entries one {@link listEventualVariables} call returns. */
export const EVENTUAL_LIST_LIMIT_MAX = 1000

export interface EventualListOptions {
  /** Only names starting with this (default: all). */
  prefix?: string
  /** Only names after this one (the `next` of the previous page). */
  after?: string
  /** Max entries, 1..{@link EVENTUAL_LIST_LIMIT_MAX}. */
  limit: number
}

export interface EventualListEntry {
  name: string
  /** The merge rule of its contributions; null when they disagree or it is a custom merge. */
  merge: string | null
  /** The merged value on this replica (null when `merge` is null). */
  value: unknown
  /** Hosts that contributed. */
  contributions: number
}

export interface EventualListPage {
  entries: EventualListEntry[]
  /** Set when more names match: pass it as `after` for the next page. */
  next: string | undefined
}

/** A page of eventual variables held by `replica`, merged by `store`'s rules. */
export function listEventualVariables (replica: Replica, store: VariableStore, options: EventualListOptions): EventualListPage {
  const { prefix = '', after, limit } = options
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > EVENTUAL_LIST_LIMIT_MAX) throw new InvalidOptionError('limit', `must be an integer in 1..${EVENTUAL_LIST_LIMIT_MAX}`)
  // name → merge tags seen and hosts that contributed.
  const found = new Map<string, { tags: Set<string>, hosts: number }>()
  for (const doc of replica.all('var')) {
    for (const [name, raw] of doc.doc.getMap<unknown>('vars').entries()) {
      if (!name.startsWith(prefix) || (after !== undefined && name <= after)) continue
      let f = found.get(name)
      if (f === undefined) { f = { tags: new Set(), hosts: 0 }; found.set(name, f) }
      f.hosts++
      const m = (raw as { m?: unknown } | null)?.m
      if (typeof m === 'string') f.tags.add(m)
    }
  }
  const names = [...found.keys()].sort((a, b) => a < b ? -1 : a > b ? 1 : 0)
  const entries = names.slice(0, limit).map((name): EventualListEntry => {
    const f = found.get(name)!
    const tag = f.tags.size === 1 ? [...f.tags][0]! : undefined
    if (tag === undefined || !(BUILTIN_MERGES as readonly string[]).includes(tag)) return { name, merge: null, value: null, contributions: f.hosts }
    // A throwaway handle (not declared in the store): merges this replica's contributions once.
    const v = new EventualVariable<unknown>(store, name, { initial: tag === 'counter' ? 0 : null, merge: tag as BuiltinMerge })
    return { name, merge: tag, value: v.get(), contributions: f.hosts }
  })
  return { entries, next: names.length > limit ? entries[entries.length - 1]!.name : undefined }
}
