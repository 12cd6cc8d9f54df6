/**
 * The strong-variable state machine (V2): a replicated map name → JSON text, applied from the Raft log
 * on every replica alike. Commands are JSON `set` and `cas` (inside the driver's session envelope, so a
 * retry applies once); every replica emits `variable:changed` when it applies a change. The handles
 * peers give their users (`peer.variables.strong(name)`) are in peers/strong-variables.ts.
 */
import { InvalidOptionError } from '../../src/base/errors.js'
import { TypedEmitter } from '../../src/base/events.js'
import { DecodeError } from '../../src/base/errors.js'
import type { StateMachine } from '../raft/application.js'

/** Max JSON bytes of one strong variable's value. */
export const STRONG_VALUE_BYTES_MAX = 64 * 1024
/** Total JSON bytes of all strong variables (keeps a snapshot well under a Raft message's limit). */
export const STRONG_TOTAL_BYTES_MAX = 128 * 1024 * 1024
/** Max number of strong variables in a mesh. */
export const STRONG_VARIABLES_MAX = 100_000

/** Max entries one {@link StrongMapApp.list} call returns. */
export const STRONG_LIST_LIMIT_MAX = 1000

/** A strong variable's name. */
export const STRONG_NAME_RE = /^[A-Za-z0-9._:/-]{1,128}$/

export interface StrongEventMap extends Record<string, unknown> {
  'variable:changed': { name: string, value: unknown, previous: unknown, index: number }
}

/** Options of {@link StrongMapApp.list}. */
export interface StrongListOptions {
  /** Only names starting with this (default: all). */
  prefix?: string
  /** Only names after this one (the `next` of the previous page). */
  after?: string
  /** Max entries, 1..{@link STRONG_LIST_LIMIT_MAX}. */
  limit: number
}

/** One page of {@link StrongMapApp.list}: entries sorted by name; `next` is set when more match. */
export interface StrongListPage {
  entries: Array<{ name: string, value: unknown }>
  next: string | undefined
}

/** A lock's fencing token a write may carry: refused (`ERR_FENCED`) when the lock has a newer token. */
export interface Fence { lock: string, token: number }
export type StrongCommand = ({ op: 'set', name: string, value: string } | { op: 'cas', name: string, expected: string, initial: string, value: string }) & { fence?: Fence }
export type StrongResult = { ok: boolean, value: string | null } | { error: { code: string, message: string } }

const enc = new TextEncoder()
const dec = new TextDecoder()
const strictUtf8 = new TextDecoder('utf-8', { fatal: true })

/**
 * Decodes and checks a strong-variable command on its own (no state): what apply refuses before it
 * looks at the map, in the same order, and what a member checks before proposing a client's command.
 */
export function parseStrongCommand (command: Uint8Array): StrongCommand | { error: { code: string, message: string } } {
  let c: StrongCommand
  try {
    c = JSON.parse(dec.decode(command)) as StrongCommand
  } catch {
    return { error: { code: 'ERR_DECODE', message: 'command is not JSON' } }
  }
  if (c === null || typeof c !== 'object' || typeof c.name !== 'string' || !STRONG_NAME_RE.test(c.name) || typeof c.value !== 'string' || c.value.length > STRONG_VALUE_BYTES_MAX ||
    (c.op === 'cas' && (typeof c.expected !== 'string' || typeof c.initial !== 'string'))) {
    return { error: { code: 'ERR_INVALID_VARIABLE', message: 'malformed command' } }
  }
  // Every text must be JSON (and within the size limit in bytes) before anything changes.
  for (const text of c.op === 'cas' ? [c.value, c.expected, c.initial] : [c.value]) {
    if (Buffer.byteLength(text) > STRONG_VALUE_BYTES_MAX) return { error: { code: 'ERR_LIMIT_EXCEEDED', message: `a value exceeds ${STRONG_VALUE_BYTES_MAX} bytes` } }
    try { JSON.parse(text) } catch { return { error: { code: 'ERR_INVALID_VARIABLE', message: 'a value is not JSON' } } }
  }
  if (c.op !== 'cas' && c.op !== 'set') return { error: { code: 'ERR_INVALID_VARIABLE', message: 'unknown op' } }
  if (c.fence !== undefined) {
    const f = c.fence as unknown as Record<string, unknown> | null
    if (f === null || typeof f !== 'object' || typeof f.lock !== 'string' || !STRONG_NAME_RE.test(f.lock) || !Number.isSafeInteger(f.token) || (f.token as number) < 1) {
      return { error: { code: 'ERR_INVALID_VARIABLE', message: 'fence must be { lock, token } with a lock name and a positive integer token' } }
    }
  }
  return c
}

/**
 * Decodes a strong-map snapshot (JSON array of `[name, value]` pairs of strings, each name once, as
 * `snapshot` writes them). Throws {@link DecodeError} (`ERR_DECODE`).
 */
export function parseStrongSnapshot (data: Uint8Array): { map: Map<string, string>, totalBytes: number } {
  let pairs: unknown
  try { pairs = JSON.parse(strictUtf8.decode(data)) } catch { throw new DecodeError('strong map snapshot', 'not UTF-8 JSON') }
  if (!Array.isArray(pairs)) throw new DecodeError('strong map snapshot', 'not an array')
  const map = new Map<string, string>()
  let totalBytes = 0
  for (const p of pairs as unknown[]) {
    if (!Array.isArray(p) || p.length !== 2 || typeof p[0] !== 'string' || typeof p[1] !== 'string') throw new DecodeError('strong map snapshot', 'an entry is not [name, value]')
    if (map.has(p[0])) throw new DecodeError('strong map snapshot', 'a name appears twice')
    map.set(p[0], p[1])
    totalBytes += Buffer.byteLength(p[0]) + Buffer.byteLength(p[1])
  }
  return { map, totalBytes }
}

/** The replicated map (runs identically on every replica). */
export class StrongMapApp extends TypedEmitter<StrongEventMap> implements StateMachine {
  private data = new Map<string, string>()
  /** Sum of name and value bytes (deterministic on every replica). */
  private totalBytes = 0
  /** Names in code-unit order, rebuilt on the first list after a name was added (values do not change it). */
  private sorted: string[] | undefined
  /** Checks a write's fence (set by the mesh application from its coordination machine); without it, fenced writes are refused. */
  fenceCheck: ((lock: string, token: number) => { code: string, message: string } | undefined) | undefined

  get (name: string): string | undefined {
    return this.data.get(name)
  }

  /** Number of variables. */
  get size (): number {
    return this.data.size
  }

  /**
   * A page of variables in name order (this replica's state): at most `limit` whose name starts with
   * `prefix` and sorts after `after`. Throws InvalidOptionError on a bad limit.
   */
  list (options: StrongListOptions): StrongListPage {
    const { prefix = '', after, limit } = options
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > STRONG_LIST_LIMIT_MAX) throw new InvalidOptionError('limit', `must be an integer in 1..${STRONG_LIST_LIMIT_MAX}`)
    if (this.sorted === undefined) this.sorted = [...this.data.keys()].sort((a, b) => a < b ? -1 : a > b ? 1 : 0)
    const names = this.sorted
    // First name >= prefix and > after: binary search on the larger bound.
    const from = after !== undefined && after >= prefix ? after : prefix
    let lo = 0
    let hi = names.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      const n = names[mid]!
      if (n < from || (n === from && after !== undefined && from === after)) lo = mid + 1
      else hi = mid
    }
    const entries: StrongListPage['entries'] = []
    let i = lo
    for (; i < names.length && entries.length < limit; i++) {
      const name = names[i]!
      if (!name.startsWith(prefix)) break
      entries.push({ name, value: JSON.parse(this.data.get(name)!) as unknown })
    }
    const more = i < names.length && names[i]!.startsWith(prefix)
    return { entries, next: more ? entries[entries.length - 1]?.name : undefined }
  }

  apply (command: Uint8Array, index: number): StrongResult {
    const c = parseStrongCommand(command)
    if ('error' in c) return c
    if (c.fence !== undefined) {
      const refused = this.fenceCheck === undefined ? { code: 'ERR_FENCED', message: 'this replica has no locks to check a fence against' } : this.fenceCheck(c.fence.lock, c.fence.token)
      if (refused !== undefined) return { error: { code: refused.code, message: refused.message } }
    }
    const cur = this.data.get(c.name) ?? null
    // An unset variable holds its initial value (as the proposer declared it).
    if (c.op === 'cas' && (cur ?? c.initial) !== c.expected) return { ok: false, value: cur }
    if (cur === null && this.data.size >= STRONG_VARIABLES_MAX) return { error: { code: 'ERR_LIMIT_EXCEEDED', message: `more than ${STRONG_VARIABLES_MAX} strong variables` } }
    const delta = Buffer.byteLength(c.value) - (cur === null ? -Buffer.byteLength(c.name) : Buffer.byteLength(cur))
    if (this.totalBytes + delta > STRONG_TOTAL_BYTES_MAX) return { error: { code: 'ERR_LIMIT_EXCEEDED', message: `strong variables would exceed ${STRONG_TOTAL_BYTES_MAX} bytes in all` } }
    this.totalBytes += delta
    if (cur === null) this.sorted = undefined
    this.data.set(c.name, c.value)
    if (cur !== c.value) this.emit('variable:changed', { name: c.name, value: JSON.parse(c.value), previous: cur === null ? undefined : JSON.parse(cur), index })
    return { ok: true, value: c.value }
  }

  snapshot (): Uint8Array {
    return enc.encode(JSON.stringify([...this.data].sort((a, b) => a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)))
  }

  /** Restores a snapshot; a malformed one throws DecodeError and changes nothing. */
  restore (data: Uint8Array): void {
    this.load(parseStrongSnapshot(data))
  }

  /** Takes the state {@link parseStrongSnapshot} decoded. */
  load (parsed: { map: Map<string, string>, totalBytes: number }): void {
    this.data = parsed.map
    this.sorted = undefined
    this.totalBytes = parsed.totalBytes
  }
}
