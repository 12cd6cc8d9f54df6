/**
 * Listing eventual variables by name: every name some host contributed to in the documents this replica
 * holds (declared on this peer or not), in name order, each read as `store.read(name)` reads it: merged
 * under its rule (the declaration, else the rule most of its contributions carry), with the number of
 * contributions merged and of those left out under another rule. A variable merged by a custom function
 * this peer has not declared is listed with `value: null`. Reads this replica only: eventual.
 */
import { InvalidOptionError } from '../src/base/errors.js'
import type { VariableReading, VariableStore } from './variables.js'
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

export interface EventualListPage {
  entries: VariableReading[]
  /** Set when more names match: pass it as `after` for the next page. */
  next: string | undefined
}

/** A page of eventual variables held by `replica`, read through `store`. */
export function listEventualVariables (replica: Replica, store: VariableStore, options: EventualListOptions): EventualListPage {
  const { prefix = '', after, limit } = options
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > EVENTUAL_LIST_LIMIT_MAX) throw new InvalidOptionError('limit', `must be an integer in 1..${EVENTUAL_LIST_LIMIT_MAX}`)
  const found = new Set<string>()
  for (const doc of replica.all('var')) {
    for (const name of doc.doc.getMap<unknown>('vars').keys()) {
      if (name.startsWith(prefix) && (after === undefined || name > after)) found.add(name)
    }
  }
  const names = [...found].sort((a, b) => a < b ? -1 : a > b ? 1 : 0)
  const entries = names.slice(0, limit).map((name): VariableReading => {
    try {
      return store.read(name)
    } catch {
      // A custom merge this peer has not declared (or a name no peer may declare): listed, not merged.
      return { name, merge: store.mergeOf(name) ?? null, value: null, contributions: 0, conflicting: 0 }
    }
  })
  return { entries, next: names.length > limit ? entries[entries.length - 1]!.name : undefined }
}
