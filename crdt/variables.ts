/**
 * Eventual variables (V1). Each host writes only its own *contribution* to a variable, in its own
 * variables document (signed like the registry, so nobody can forge another host's contribution), and
 * every replica computes the variable's value by merging all contributions with the variable's rule:
 *
 * - `lww`: the contribution with the greatest hybrid logical clock time (wall ms, counter), ties broken by
 *   host id. Writes made after seeing a value order after it, even with skewed clocks.
 * - `max` / `min`: the greatest / least contributed number.
 * - `counter`: each host's contribution is its own running total (a PN-counter); the value is the sum.
 * - `weighted-average`: sum(weight × value) / sum(weight), the weight being what the writer passed (e.g.
 *   its agent's performance score, default 1).
 * - a custom function of the contributions (sorted by host id; it must not depend on their order).
 *
 * Since the merge is a function of the set of contributions, every replica that holds the same documents
 * computes the same value. One bound depends on the receiver's clock: a remote contribution stamped more
 * than `hlcDriftMsMax` (limits.ts) ahead of it is left out of the merge (counted in
 * `stats.futureContributions`, reported by `contribution:rejected`) until the receiver's clock comes within
 * the bound, so a host cannot stamp a write far in the future to win every later write. Variables documents are not pruned with their host's agents: a dead host's
 * last contribution still counts (a counter must not shrink when a host dies).
 *
 * Fenced writes (crdt/fences.ts): a write may carry a lock's fencing token (`set(v, { fence: { lock,
 * token } })`). A contribution whose token is older than the newest token of the same lock carried by any
 * contribution held (to any variable) is left out of the merge (`stats.fencedContributions`,
 * `contribution:rejected` with reason `fenced`), again a function of the documents held. The writer refuses
 * a fenced write older than what it knows (`FencedError`, the `fenceFloor` hook and the documents).
 */
import { LimitExceededError, ReservedNameError } from '../src/base/errors.js'
import { describeJsonProblem, jsonInputProblem, plainJsonProblem } from '../src/base/input.js'
import { TypedEmitter } from '../src/base/events.js'
import { FencedError, InvalidVariableError, MergeConflictError } from './errors.js'
import { FenceIndex, isFence, lockProblem, tokenProblem } from './fences.js'
import type { Fence, FenceFloor, FenceFlip, WriteFence } from './fences.js'
import { Hlc, compareHlc, isHlcTime, isTooFarAhead } from './hlc.js'
import type { SignedBlob } from './codec.js'
import type { HlcTime } from './hlc.js'
import type { HostDoc } from './hostdoc.js'
import type { Replica } from './replica.js'
import type * as Y from 'yjs'

export type BuiltinMerge = 'lww' | 'max' | 'min' | 'counter' | 'weighted-average'
export const BUILTIN_MERGES: readonly BuiltinMerge[] = ['lww', 'max', 'min', 'counter', 'weighted-average']

/** One host's contribution to a variable. */
export interface Contribution<T = unknown> {
  host: string
  value: T
  time: HlcTime
  weight: number
  /** The fence the contribution was written under, if any (it counts: its token is the lock's newest). */
  fence?: WriteFence
}

export type MergeFunction<T> = (contributions: ReadonlyArray<Contribution<T>>, initial: T) => T

export interface EventualOptions<T> {
  /** Value while no host has contributed. */
  initial: T
  /** A built-in rule or a custom function. */
  merge: BuiltinMerge | MergeFunction<T>
  /** Name of a custom merge, stored with contributions so mismatched peers are detected (default `custom`). */
  mergeName?: string
}

/** The stored form of a contribution (JSON in the host's `vars` map). */
interface StoredContribution {
  v: unknown
  t: HlcTime
  w: number
  m: string
  /** The fence `[lock, token]` of a fenced write; absent on unfenced writes (and on every older peer's). */
  f?: Fence
}

/** Options of a write ({@link EventualVariable.set}, {@link EventualVariable.add}). */
export interface WriteOptions {
  /** `weighted-average` only: the contribution's weight (default 1). Not taken by `add`. */
  weight?: number
  /**
   * Write under a lock's fencing token: the contribution is left out of the merge on every replica that
   * holds a contribution under a newer token of the same lock, and the write is refused here
   * ({@link FencedError}) when this peer already knows a newer one.
   */
  fence?: WriteFence
}

export interface VariableEventMap extends Record<string, unknown> {
  'variable:changed': { name: string, value: unknown, previous: unknown }
  /**
   * Contributions to variables this peer has not declared changed (their merged value may have): the
   * names, for a reader that follows every variable ({@link Variables.read}); declared ones get
   * `variable:changed` instead.
   */
  'contributions:changed': { names: string[] }
  /**
   * A contribution was left out of the merge: `clock-drift`, a remote one stamped beyond `hlcDriftMsMax`;
   * `fenced`, one whose fence token is older than `newest`, the newest token of its lock held here (reported
   * once per write, when it arrives fenced or when a newer token arrives).
   */
  'contribution:rejected':
  | { name: string, host: string, reason: 'clock-drift', time: HlcTime }
  | { name: string, host: string, reason: 'fenced', lock: string, token: number, newest: number }
}

function mergeTag<T> (o: EventualOptions<T>): string {
  return typeof o.merge === 'string' ? o.merge : `custom:${o.mergeName ?? 'custom'}`
}

const NUMERIC: ReadonlySet<string> = new Set(['max', 'min', 'counter', 'weighted-average'])

function builtinMerge (rule: BuiltinMerge, cs: ReadonlyArray<Contribution<unknown>>, initial: unknown): unknown {
  if (cs.length === 0) return initial
  switch (rule) {
    case 'lww': {
      let best = cs[0]!
      for (const c of cs) {
        const o = compareHlc(c.time, best.time)
        if (o > 0 || (o === 0 && c.host > best.host)) best = c
      }
      return best.value
    }
    case 'max': return Math.max(...cs.map(c => c.value as number))
    case 'min': return Math.min(...cs.map(c => c.value as number))
    case 'counter': return cs.reduce((s, c) => s + (c.value as number), 0)
    case 'weighted-average': {
      let num = 0
      let den = 0
      for (const c of cs) {
        if (c.weight > 0) { num += c.weight * (c.value as number); den += c.weight }
      }
      return den > 0 ? num / den : initial
    }
  }
}

export class EventualVariable<T = unknown> extends TypedEmitter<VariableEventMap> {
  readonly name: string
  readonly options: Readonly<EventualOptions<T>>
  readonly tag: string
  private value: T
  private readonly store: VariableStore

  /** @internal */
  constructor (store: VariableStore, name: string, options: EventualOptions<T>) {
    super()
    this.store = store
    this.name = name
    this.options = options
    this.tag = mergeTag(options)
    this.value = options.initial
    this.recompute(false)
  }

  /** The merged value on this replica. */
  get (): T {
    return this.value
  }

  /** All contributions this replica holds, sorted by host id. */
  contributions (): Array<Contribution<T>> {
    return this.store.contributionsOf(this.name, this.tag) as Array<Contribution<T>>
  }

  /**
   * Writes this host's contribution. `weight` matters for `weighted-average` only. Not allowed on a
   * counter (use {@link add}).
   */
  async set (value: T, options: WriteOptions = {}): Promise<void> {
    if (this.options.merge === 'counter') throw new InvalidVariableError(this.name, 'a counter changes by add(delta), not set()')
    this.check(value)
    const weight = options.weight ?? 1
    if (typeof weight !== 'number' || !Number.isFinite(weight) || weight < 0) throw new InvalidVariableError(this.name, 'weight must be a finite number >= 0')
    // Checked last and written at once (no await between): the check holds at the write.
    const fence = this.store.checkFence(this.name, options.fence)
    this.store.write(this.name, value, weight, this.tag, fence)
    await this.store.durable()
  }

  /**
   * Adds `delta` to a counter (negative to decrement). Under a `fence`, the new running total carries it:
   * a fenced counter contribution leaves the merge whole (all of this host's adds), not just `delta`.
   */
  async add (delta: number, options: Omit<WriteOptions, 'weight'> = {}): Promise<void> {
    if (this.options.merge !== 'counter') throw new InvalidVariableError(this.name, 'add() is for counters')
    if (typeof delta !== 'number' || !Number.isFinite(delta)) throw new InvalidVariableError(this.name, 'delta must be a finite number')
    const fence = this.store.checkFence(this.name, options.fence)
    const mine = this.store.ownContribution(this.name)
    const current = mine !== undefined && mine.m === this.tag && typeof mine.v === 'number' ? mine.v : 0
    this.store.write(this.name, current + delta, 1, this.tag, fence)
    await this.store.durable()
  }

  private check (value: T): void {
    if (NUMERIC.has(this.tag) && (typeof value !== 'number' || !Number.isFinite(value))) {
      throw new InvalidVariableError(this.name, `a ${this.tag} variable holds finite numbers`)
    }
    this.store.checkValue(this.name, value)
  }

  /** @internal Recomputes the value; emits `variable:changed` when it changed. */
  recompute (emit = true): void {
    const cs = this.store.contributionsOf(this.name, this.tag) as Array<Contribution<T>>
    const merge = this.options.merge
    let next: T
    if (typeof merge === 'function') {
      try {
        next = merge(cs, this.options.initial)
      } catch (err) {
        this.store.stats.mergeErrors++
        this.store.log(`custom merge of ${this.name} threw: ${(err as Error).message}`)
        return
      }
    } else {
      next = builtinMerge(merge, cs, this.options.initial) as T
    }
    const previous = this.value
    let same: boolean
    try {
      same = JSON.stringify(next) === JSON.stringify(previous)
    } catch (err) {
      // Only a custom merge can produce a value JSON has no form for (contributions are plain JSON).
      this.store.stats.mergeErrors++
      this.store.log(`merge of ${this.name} gave a value that is not JSON: ${(err as Error).message}`)
      return
    }
    if (same) return
    this.value = next
    if (emit) this.emit('variable:changed', { name: this.name, value: next, previous })
  }
}

export interface VariableStoreInit {
  /** Resolves once local writes are on disk; awaited before `set`/`add` return (none: in memory). */
  durable?: () => Promise<void>
  replica: Replica
  publish?: (blob: SignedBlob) => void
  now?: () => number
  log?: (msg: string) => void
  /**
   * The newest token granted for a lock, as this peer knows it (its Raft replica); a fenced write under
   * an older token is refused with {@link FencedError}. Default: none (only the documents held are checked).
   */
  fenceFloor?: FenceFloor
  /** Asked before each local write (`set`, `add`): throws to refuse it (the peer's `writes` rate limit). None: no limit. */
  admitWrite?: (n: number) => void
}

export interface VariableStats {
  /** Remote contributions with a malformed shape or value, ignored. */
  invalidContributions: number
  /** Contributions written under another merge rule than the local declaration, ignored. */
  mergeMismatches: number
  mergeErrors: number
  /** Remote contributions stamped more than `hlcDriftMsMax` ahead of this replica's clock, left out of the merge. */
  futureContributions: number
  /**
   * Contributions left out of the merge because their fence token is older than the newest of their lock
   * held here: once per write (when it arrives fenced, or when a newer token arrives), the writer's own too.
   */
  fencedContributions: number
}

/** A read of an eventual variable that declares nothing ({@link VariableStore.read}). */
export interface VariableReading {
  name: string
  /** The variable's merge rule; null while it has neither a declaration nor contributions. */
  merge: string | null
  value: unknown
  /** Contributions merged into `value`. */
  contributions: number
  /** Contributions held under another merge rule, left out. */
  conflicting: number
}

/**
 * Why a stored contribution's value is not plain JSON ({@link plainJsonProblem}), or undefined. A rogue host
 * can write anything lib0 encodes straight into its own document (BigInt, undefined, a `__proto__` key that
 * becomes a prototype on receivers); such a contribution is left out on every replica, its writer's too.
 * Stored values never change in place (a new write is a new object), so the answer is cached per object.
 */
const valueChecked = new WeakMap<object, ReturnType<typeof plainJsonProblem> | null>()
function valueProblem (c: Partial<StoredContribution>): ReturnType<typeof plainJsonProblem> {
  const cached = valueChecked.get(c)
  if (cached !== undefined) return cached ?? undefined
  // The record itself must be plain too (a prototype could supply `v`).
  const proto: unknown = Object.getPrototypeOf(c)
  const p = proto !== Object.prototype && proto !== null
    ? { path: '', reason: 'prototype' as const }
    : Object.hasOwn(c, 'v') ? plainJsonProblem(c.v) : { path: '', reason: 'not-json' as const }
  valueChecked.set(c, p ?? null)
  return p
}

/**
 * A stored contribution read out of a host's document when its shape is valid on every replica (what the
 * documents alone decide: no clock check), else undefined. The optional fence, when present, must be
 * well-formed (a malformed one voids the contribution).
 */
function wellFormed (raw: unknown): StoredContribution | undefined {
  if (raw === null || typeof raw !== 'object') return undefined
  const c = raw as Partial<StoredContribution>
  if (!isHlcTime(c.t) || typeof c.w !== 'number' || !Number.isFinite(c.w) || typeof c.m !== 'string') return undefined
  if (c.f !== undefined && !isFence(c.f)) return undefined
  if (NUMERIC.has(c.m) && (typeof c.v !== 'number' || !Number.isFinite(c.v))) return undefined
  if (valueProblem(c) !== undefined) return undefined
  return c as StoredContribution
}

const NAME_RE = /^[A-Za-z0-9._:/-]{1,128}$/
/** Eventual variables one peer may declare. */
export const DECLARED_VARIABLES_MAX = 10_000

/** The eventual variables of a peer (`peer.variables.eventual(...)`). */
export class VariableStore extends TypedEmitter<VariableEventMap> {
  readonly stats: VariableStats = { invalidContributions: 0, mergeMismatches: 0, mergeErrors: 0, futureContributions: 0, fencedContributions: 0 }
  /**
   * The writer-side floor of fenced writes ({@link VariableStoreInit.fenceFloor}); may be set later (when
   * the peer joins the Raft group). Undefined: only the documents held are checked.
   */
  fenceFloor: FenceFloor | undefined
  private readonly admitWrite: ((n: number) => void) | undefined
  readonly log: (msg: string) => void
  /** @internal */
  readonly durable: () => Promise<void>
  private readonly replica: Replica
  private readonly publish: (blob: SignedBlob) => void
  private readonly hlc: Hlc
  private readonly now: () => number
  private readonly vars = new Map<string, EventualVariable<unknown>>()
  private readonly observers = new Map<HostDoc, (e: Y.YMapEvent<unknown>) => void>()
  private readonly fences = new FenceIndex()

  constructor (init: VariableStoreInit) {
    super()
    this.replica = init.replica
    this.publish = init.publish ?? (() => {})
    this.now = init.now ?? Date.now
    this.hlc = new Hlc(this.now, this.replica.limits.hlcDriftMsMax)
    this.log = init.log ?? (() => {})
    this.durable = init.durable ?? (async () => {})
    this.fenceFloor = init.fenceFloor
    this.admitWrite = init.admitWrite
    const prevAttached = this.replica.hooks.onDocAttached
    const prevDetached = this.replica.hooks.onDocDetached
    this.replica.hooks.onDocAttached = (doc, previous) => {
      prevAttached?.(doc, previous)
      if (doc.kind === 'var') this.attach(doc, previous)
    }
    this.replica.hooks.onDocDetached = (doc) => {
      prevDetached?.(doc)
      if (doc.kind === 'var') this.detach(doc)
    }
    for (const d of this.replica.all('var')) this.attach(d, undefined)
    this.replica.local('var')
  }

  /**
   * Declares (or returns) the eventual variable `name`. Every peer must declare a variable with the same
   * merge rule; contributions made under another rule are ignored and counted. A rule that conflicts
   * with the local declaration, or that none of the contributions this replica holds carries, is a
   * {@link MergeConflictError} and declares nothing.
   */
  eventual<T>(name: string, options: EventualOptions<T>): EventualVariable<T> {
    if (typeof name !== 'string' || !NAME_RE.test(name)) throw new InvalidVariableError(String(name), 'name must be 1..128 characters of [A-Za-z0-9._:/-]')
    if (options === null || typeof options !== 'object' || !('initial' in options)) throw new InvalidVariableError(name, 'options need { initial, merge }')
    if (typeof options.merge !== 'function' && !BUILTIN_MERGES.includes(options.merge)) {
      throw new InvalidVariableError(name, `merge must be one of ${BUILTIN_MERGES.join(', ')} or a function`)
    }
    const tag = mergeTag(options)
    const existing = this.vars.get(name)
    if (existing !== undefined) {
      if (existing.tag !== tag) throw new MergeConflictError(name, existing.tag, tag)
      return existing as EventualVariable<T>
    }
    const carried = this.carriedMerges(name)
    if (carried.size > 0 && !carried.has(tag)) throw new MergeConflictError(name, this.mergeOf(name)!, tag)
    if (this.vars.size >= DECLARED_VARIABLES_MAX) throw new LimitExceededError('declaredVariablesMax', DECLARED_VARIABLES_MAX, this.vars.size + 1, 'declared eventual variables')
    this.checkValue(name, options.initial)
    const v = new EventualVariable<T>(this, name, options)
    v.on('variable:changed', (e) => this.emit('variable:changed', e))
    this.vars.set(name, v as EventualVariable<unknown>)
    return v
  }

  /** Declared variables. */
  names (): string[] {
    return [...this.vars.keys()]
  }

  /**
   * The merge rule of `name`, a property of the replicated variable: the local declaration if there is
   * one, else the rule carried by the most valid contributions this replica holds (ties: the smallest
   * rule name, so every replica holding the same contributions learns the same rule), else undefined.
   */
  mergeOf (name: string): string | undefined {
    const declared = this.vars.get(name)
    if (declared !== undefined) return declared.tag
    let best: string | undefined
    let bestCount = 0
    for (const [tag, n] of this.carriedMerges(name)) {
      if (n > bestCount || (n === bestCount && best !== undefined && tag < best)) { best = tag; bestCount = n }
    }
    return best
  }

  /**
   * Reads `name` without declaring it: the value merged under its rule ({@link mergeOf}), or under
   * `options.merge` when it has none yet. A `merge` that conflicts with the variable's rule is a
   * {@link MergeConflictError}. `conflicting` counts contributions held under another rule (ignored).
   */
  read (name: string, options: { merge?: BuiltinMerge, initial?: unknown } = {}): VariableReading {
    if (typeof name !== 'string' || !NAME_RE.test(name)) throw new InvalidVariableError(String(name), 'name must be 1..128 characters of [A-Za-z0-9._:/-]')
    if (options.merge !== undefined && !BUILTIN_MERGES.includes(options.merge)) {
      throw new InvalidVariableError(name, `merge must be one of ${BUILTIN_MERGES.join(', ')}`)
    }
    const learnt = this.mergeOf(name)
    if (options.merge !== undefined && learnt !== undefined && learnt !== options.merge) throw new MergeConflictError(name, learnt, options.merge)
    const tag = learnt ?? options.merge
    const carried = this.carriedMerges(name)
    let total = 0
    for (const n of carried.values()) total += n
    if (tag === undefined) return { name, merge: null, value: options.initial ?? null, contributions: 0, conflicting: total }
    const declared = this.vars.get(name)
    const matching = carried.get(tag) ?? 0
    if (declared !== undefined) return { name, merge: tag, value: declared.get(), contributions: matching, conflicting: total - matching }
    if (!BUILTIN_MERGES.includes(tag as BuiltinMerge)) {
      throw new InvalidVariableError(name, `merged by ${tag}, a custom function this peer has not declared`)
    }
    const value = builtinMerge(tag as BuiltinMerge, this.contributionsOf(name, tag), options.initial ?? (tag === 'lww' ? null : 0))
    return { name, merge: tag, value, contributions: matching, conflicting: total - matching }
  }

  /** Merge rules carried by the valid contributions to `name` this replica holds, with their counts. */
  private carriedMerges (name: string): Map<string, number> {
    const out = new Map<string, number>()
    for (const c of this.validContributions(name)) out.set(c.m, (out.get(c.m) ?? 0) + 1)
    return out
  }

  /** @internal */
  checkValue (name: string, value: unknown): void {
    let json: string | undefined
    try { json = JSON.stringify(value) } catch (err) { throw new InvalidVariableError(name, `value must be JSON-serialisable (${(err as Error).message})`) }
    if (json === undefined) throw new InvalidVariableError(name, 'value must be JSON-serialisable')
    // What would not replicate unchanged: a lone surrogate (U+FFFD on other replicas), a "__proto__" key
    // (a prototype after lib0's decoder).
    const p = jsonInputProblem(value)
    if (p?.reason === 'proto-key') throw new ReservedNameError(p.path === '' ? 'value' : `value.${p.path}`, '__proto__')
    if (p !== undefined) throw new InvalidVariableError(name, `value${p.path === '' ? '' : '.' + p.path}: strings must be well-formed Unicode (no lone UTF-16 surrogate)`)
    const max = this.replica.limits.variableBytesMax
    if (Buffer.byteLength(json) > max) throw new LimitExceededError('variableBytesMax', max, Buffer.byteLength(json), `variable ${name}`)
  }

  /** The newest token of `lock` carried by a contribution (to any variable) this replica holds. */
  newestToken (lock: string): number | undefined {
    return this.fences.newest(lock)
  }

  /**
   * @internal Checks a write's fence: well-formed ({@link InvalidVariableError}), and not older than the
   * newest token of its lock granted ({@link fenceFloor}) or held in the documents ({@link FencedError}).
   */
  checkFence (name: string, fence: WriteFence | undefined): Fence | undefined {
    if (fence === undefined) return undefined
    if (fence === null || typeof fence !== 'object') throw new InvalidVariableError(name, 'fence must be { lock, token }')
    const { lock, token } = fence
    const lp = lockProblem(lock)
    if (lp !== undefined) throw new InvalidVariableError(name, `fence.lock ${lp}`)
    const tp = tokenProblem(token)
    if (tp !== undefined) throw new InvalidVariableError(name, `fence.token ${tp}`)
    const floor = this.fenceFloor?.(lock)
    if (typeof floor === 'number' && token < floor) throw new FencedError(name, lock, token, floor, 'fence-floor')
    const newest = this.fences.newest(lock)
    if (newest !== undefined && token < newest) throw new FencedError(name, lock, token, newest, 'documents')
    return [lock, token]
  }

  /** @internal */
  ownContribution (name: string): StoredContribution | undefined {
    return this.replica.local('var').doc.getMap<StoredContribution>('vars').get(name)
  }

  /** @internal */
  write (name: string, value: unknown, weight: number, tag: string, fence?: Fence): void {
    const map = this.replica.local('var').doc.getMap<StoredContribution>('vars')
    if (!map.has(name) && map.size >= this.replica.limits.variablesPerHostMax) {
      throw new LimitExceededError('variablesPerHostMax', this.replica.limits.variablesPerHostMax, map.size + 1, 'variables of this host')
    }
    this.replica.checkLocalRoom('var')
    this.admitWrite?.(1)
    const stored: StoredContribution = { v: JSON.parse(JSON.stringify(value)), t: this.hlc.tick(), w: weight, m: tag }
    if (fence !== undefined) stored.f = [fence[0], fence[1]]
    const blob = this.replica.transact('var', (doc) => { doc.getMap('vars').set(name, stored) })
    if (blob !== undefined) this.publish(blob)
  }

  /**
   * @internal Valid contributions to `name` under merge `tag`, sorted by host id. Remote ones stamped
   * more than `hlcDriftMsMax` ahead of our clock are left out.
   */
  contributionsOf (name: string, tag: string): Array<Contribution<unknown>> {
    const out: Array<Contribution<unknown>> = []
    for (const c of this.validContributions(name)) {
      if (c.m !== tag) continue
      const contribution: Contribution<unknown> = { host: c.host, value: c.value, time: c.time, weight: c.weight }
      if (c.fence !== undefined) contribution.fence = c.fence
      out.push(contribution)
    }
    return out
  }

  /**
   * Well-formed contributions to `name` (any merge rule; a numeric rule's contributions hold finite
   * numbers), sorted by host id; remote ones stamped more than `hlcDriftMsMax` ahead are left out, and
   * so are fenced ones (a token older than its lock's newest held).
   */
  private validContributions (name: string): Array<Contribution<unknown> & { m: string }> {
    const out: Array<Contribution<unknown> & { m: string }> = []
    const now = this.now()
    const drift = this.hlc.driftMsMax
    for (const d of this.replica.all('var')) {
      const raw = d.doc.getMap<unknown>('vars').get(name)
      if (raw === undefined) continue
      const c = wellFormed(raw)
      if (c === undefined) continue
      if (d.host !== this.replica.id && isTooFarAhead(c.t, now, drift)) continue
      if (c.f !== undefined && this.fences.isFenced(c.f)) continue
      const out1: Contribution<unknown> & { m: string } = { host: d.host, value: c.v, time: c.t, weight: c.w, m: c.m }
      if (c.f !== undefined) out1.fence = { lock: c.f[0], token: c.f[1] }
      out.push(out1)
    }
    out.sort((a, b) => a.host < b.host ? -1 : a.host > b.host ? 1 : 0)
    return out
  }

  private attach (doc: HostDoc, previous: HostDoc | undefined): void {
    if (previous !== undefined) {
      const obs = this.observers.get(previous)
      if (obs !== undefined) previous.doc.getMap('vars').unobserve(obs)
      this.observers.delete(previous)
    }
    const map = doc.doc.getMap<unknown>('vars')
    const observer = (e: Y.YMapEvent<unknown>): void => { this.changed(doc, map, e.keysChanged) }
    map.observe(observer)
    this.observers.set(doc, observer)
    const names = new Set<string>(map.keys())
    if (previous !== undefined) for (const k of previous.doc.getMap('vars').keys()) names.add(k)
    this.changed(doc, map, names)
  }

  private detach (doc: HostDoc): void {
    const map = doc.doc.getMap<unknown>('vars')
    const obs = this.observers.get(doc)
    if (obs !== undefined) map.unobserve(obs)
    this.observers.delete(doc)
    const flips: FenceFlip[] = []
    this.fences.removeHost(doc.host, flips)
    this.settle(doc, map.keys(), flips)
  }

  /**
   * `names` changed in `doc`'s `vars` map: checks each contribution and records its fence, then recomputes
   * those variables and the ones whose contributions a fence change (un)fenced.
   */
  private changed (doc: HostDoc, map: Y.Map<unknown>, names: Iterable<string>): void {
    const flips: FenceFlip[] = []
    const touched: string[] = []
    for (const name of names) {
      touched.push(name)
      this.guard(doc, name, () => { this.changedOne(doc, map, name, flips) })
    }
    this.settle(doc, touched, flips)
  }

  /** Runs `fn` for a contribution of `doc` to `name`; what it throws is counted, never thrown into Yjs. */
  private guard (doc: HostDoc, name: string, fn: () => void): void {
    try {
      fn()
    } catch (err) {
      // Run from a Yjs observer or a replica hook: nothing a host's value provokes is thrown into Yjs.
      this.stats.invalidContributions++
      this.replica.refuseValue('var', doc.host, `contribution to ${name}: ${(err as Error).message}`)
    }
  }

  private changedOne (doc: HostDoc, map: Y.Map<unknown>, name: string, flips: FenceFlip[]): void {
    const raw = map.get(name) as Partial<StoredContribution> | undefined
    const bad = raw !== undefined && raw !== null && typeof raw === 'object' ? valueProblem(raw) : undefined
    if (bad !== undefined) {
      // Left out of the merge on every replica, the writer's included (validContributions).
      this.stats.invalidContributions++
      this.replica.refuseValue('var', doc.host, `contribution to ${name}: value${bad.path === '' ? '' : '.' + bad.path}: ${describeJsonProblem(bad)}`)
    } else if (raw !== undefined && doc.host !== this.replica.id) {
      if (raw === null || typeof raw !== 'object' || !isHlcTime(raw.t) || typeof raw.m !== 'string' || (raw.f !== undefined && !isFence(raw.f))) {
        this.stats.invalidContributions++
      } else if (isTooFarAhead(raw.t, this.now(), this.hlc.driftMsMax)) {
        this.stats.futureContributions++
        this.log(`contribution to ${name} by ${doc.host} stamped ${raw.t[0]} is more than ${this.hlc.driftMsMax} ms ahead of our clock: left out of the merge`)
        this.emit('contribution:rejected', { name, host: doc.host, reason: 'clock-drift', time: raw.t })
      } else {
        this.hlc.observe(raw.t)
        const v = this.vars.get(name)
        if (v !== undefined && v.tag !== raw.m) this.stats.mergeMismatches++
      }
    }
    // Every well-formed contribution's fence counts toward its lock's newest token, whatever the clocks:
    // the newest token is a function of the documents alone.
    const c = raw === undefined ? undefined : wellFormed(raw)
    this.fences.set(doc.host, name, c?.f, c?.t, flips)
  }

  /**
   * Recomputes the variables `names` and those of the contributions whose fenced status changed, then
   * reports each contribution newly fenced (once per write: an entry fenced and unfenced within one
   * change is not reported).
   */
  private settle (doc: HostDoc, names: Iterable<string>, flips: readonly FenceFlip[]): void {
    const dirty = new Set<string>(names)
    const before = new Map<FenceFlip['entry'], boolean>()
    for (const f of flips) {
      dirty.add(f.entry.name)
      if (!before.has(f.entry)) before.set(f.entry, f.was)
    }
    const undeclared: string[] = []
    for (const name of dirty) {
      const v = this.vars.get(name)
      if (v !== undefined) this.guard(doc, name, () => { v.recompute() })
      else undeclared.push(name)
    }
    if (undeclared.length > 0) {
      try {
        this.emit('contributions:changed', { names: undeclared })
      } catch (err) {
        // Run from a Yjs observer: a listener's failure is logged, never thrown into Yjs.
        this.log(`a contributions:changed listener failed: ${(err as Error).message}`)
      }
    }
    for (const [e, was] of before) {
      if (was || !e.fenced || !this.fences.isHeld(e)) continue
      const newest = this.fences.newest(e.lock)!
      this.stats.fencedContributions++
      this.log(`contribution to ${e.name} by ${e.host} under token ${e.token} of lock ${e.lock} is older than ${newest}: left out of the merge`)
      this.emit('contribution:rejected', { name: e.name, host: e.host, reason: 'fenced', lock: e.lock, token: e.token, newest })
    }
  }
}
