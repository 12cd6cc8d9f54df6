/**
 * Fencing tokens of eventual-variable contributions (crdt/README.md, "Fenced writes"). A contribution may
 * carry a fence `[lock, token]`: the name of a lock and the token of the grant its writer held (a lock's
 * tokens strictly increase: the Raft index of each grant). Every replica leaves out of the merge a
 * contribution whose token is older than the newest token that any contribution it holds (to any
 * variable) carries for the same lock. That is a function of the documents held, so replicas holding the
 * same documents agree.
 *
 * {@link FenceIndex} keeps the newest token of each lock up to date as contributions change, so a merge
 * asks it in O(1) instead of scanning every variable, and it reports which contributions each change
 * fences or unfences, so the store recomputes those variables only. It holds one entry per fenced
 * contribution, so it is bounded like the contributions (`hostsMax` × `variablesPerHostMax`).
 */
import type { HlcTime } from './hlc.js'

/** The stored form of a fence: `[lock, token]`. */
export type Fence = readonly [lock: string, token: number]

/** A fence as the write API takes it (`set(value, { fence })`). */
export interface WriteFence {
  /** The lock's name: 1..128 characters of `[A-Za-z0-9._:/-]` (as strong variable names). */
  lock: string
  /** The token of the grant the writer holds: a positive safe integer. */
  token: number
}

/**
 * What the local peer knows of the newest token granted for `lock` (from its Raft replica), or undefined
 * when it knows none. A fenced write under an older token is refused at the writer ({@link FencedError}).
 */
export type FenceFloor = (lock: string) => number | undefined

/** Lock names: as strong variable names (`STRONG_NAME_RE`, protocols/variables/strong-map.ts). */
export const LOCK_NAME_RE = /^[A-Za-z0-9._:/-]{1,128}$/

/** Why `lock` (write API input) is not a lock name, or undefined. */
export function lockProblem (lock: unknown): string | undefined {
  return typeof lock === 'string' && LOCK_NAME_RE.test(lock) ? undefined : 'must be 1..128 characters of [A-Za-z0-9._:/-]'
}

/** Why `token` is not a fencing token, or undefined. */
export function tokenProblem (token: unknown): string | undefined {
  return typeof token === 'number' && Number.isSafeInteger(token) && token > 0 ? undefined : 'must be a positive safe integer'
}

/** Whether a stored `f` field read out of a host's document is a well-formed fence. */
export function isFence (f: unknown): f is Fence {
  return Array.isArray(f) && f.length === 2 && lockProblem(f[0]) === undefined && tokenProblem(f[1]) === undefined
}

/** One fenced contribution held: `host`'s contribution to the variable `name`. */
export interface FenceEntry {
  readonly host: string
  readonly name: string
  readonly lock: string
  readonly token: number
  /** The contribution's HLC time: a rewrite is a new entry, a re-delivery of the same write is not. */
  readonly time: HlcTime
  /** Left out of the merge: `token` is older than the lock's newest. Meaningful while the entry is held. */
  readonly fenced: boolean
}

/** An entry whose fenced status changed, or that arrived (`was` false) or left. */
export interface FenceFlip {
  entry: FenceEntry
  /** Its status before the change. */
  was: boolean
}

interface Entry {
  host: string
  name: string
  lock: string
  token: number
  time: HlcTime
  fenced: boolean
}

interface LockTokens {
  // Invariant: newest is the greatest key of byToken, and byToken has no empty set.
  newest: number
  byToken: Map<number, Set<Entry>>
}

export class FenceIndex {
  private readonly locks = new Map<string, LockTokens>()
  /** host → variable name → the fence of its contribution. */
  private readonly byHost = new Map<string, Map<string, Entry>>()

  /** The newest token of `lock` among the contributions held, or undefined when none carries it. */
  newest (lock: string): number | undefined {
    return this.locks.get(lock)?.newest
  }

  /** Whether a contribution under `fence` is left out of the merge. */
  isFenced (fence: Fence): boolean {
    const n = this.locks.get(fence[0])?.newest
    return n !== undefined && fence[1] < n
  }

  /** Whether `entry` is still the fence of its host's contribution. */
  isHeld (entry: FenceEntry): boolean {
    return this.byHost.get(entry.host)?.get(entry.name) === entry
  }

  /** Locks with at least one contribution held. */
  get size (): number {
    return this.locks.size
  }

  /**
   * Records the fence of `host`'s contribution to `name` (undefined: it has none, or no contribution).
   * Appends to `out` every entry whose status changed, the new one included.
   */
  set (host: string, name: string, fence: Fence | undefined, time: HlcTime | undefined, out: FenceFlip[]): void {
    let names = this.byHost.get(host)
    const old = names?.get(name)
    if (fence !== undefined && time !== undefined) {
      if (old !== undefined && old.lock === fence[0] && old.token === fence[1] && old.time[0] === time[0] && old.time[1] === time[1]) return
      const e: Entry = { host, name, lock: fence[0], token: fence[1], time, fenced: false }
      if (names === undefined) { names = new Map(); this.byHost.set(host, names) }
      names.set(name, e)
      // Insert before removing the old entry: a rewrite under the same token leaves the newest unchanged
      // (no entry of the lock flips back and forth).
      this.insert(e, out)
    } else if (old !== undefined) {
      names!.delete(name)
      if (names!.size === 0) this.byHost.delete(host)
    }
    if (old !== undefined) this.remove(old, out)
  }

  /** Forgets every fence of `host` (its document was dropped); appends the changes to `out`. */
  removeHost (host: string, out: FenceFlip[]): void {
    const names = this.byHost.get(host)
    if (names === undefined) return
    this.byHost.delete(host)
    for (const e of names.values()) this.remove(e, out)
  }

  private insert (e: Entry, out: FenceFlip[]): void {
    let l = this.locks.get(e.lock)
    if (l === undefined) {
      l = { newest: e.token, byToken: new Map() }
      this.locks.set(e.lock, l)
    }
    let same = l.byToken.get(e.token)
    if (same === undefined) { same = new Set(); l.byToken.set(e.token, same) }
    same.add(e)
    if (e.token > l.newest) {
      // The entries at the old newest token were counted; they are now fenced (those below already were).
      for (const o of l.byToken.get(l.newest) ?? []) { out.push({ entry: o, was: o.fenced }); o.fenced = true }
      l.newest = e.token
    }
    e.fenced = e.token < l.newest
    out.push({ entry: e, was: false })
  }

  private remove (e: Entry, out: FenceFlip[]): void {
    const l = this.locks.get(e.lock)!
    const same = l.byToken.get(e.token)!
    same.delete(e)
    out.push({ entry: e, was: e.fenced })
    if (same.size > 0) return
    l.byToken.delete(e.token)
    if (l.byToken.size === 0) { this.locks.delete(e.lock); return }
    if (e.token !== l.newest) return
    // The last contribution under the newest token went: the next newest counts again. A scan of the
    // lock's distinct tokens, only when its newest token leaves the documents.
    let next = 0
    for (const t of l.byToken.keys()) if (t > next) next = t
    l.newest = next
    for (const o of l.byToken.get(next)!) { out.push({ entry: o, was: o.fenced }); o.fenced = false }
  }
}
