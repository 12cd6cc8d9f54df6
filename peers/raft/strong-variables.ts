/**
 * Strong variables (V2): named JSON values replicated through the peer's Raft group, so every change is
 * linearizable: `set`, `compareAndSet` and (by default) `get` go through Raft; `get({ linearizable:
 * false })` reads the local replica, possibly stale.
 *
 * The replicated application is a map name → JSON text; commands are `set` and `cas` (JSON encoded,
 * inside the driver's session envelope, so retries apply once). Every replica emits
 * `variable:changed` when it applies a change.
 */
import { AgoraError, InvalidOptionError, LimitExceededError } from '../../src/base/errors.js'
import { TypedEmitter } from '../../src/base/events.js'
import { InvalidVariableError } from '../../crdt/errors.js'
import type { RaftService } from './service.js'
import { NoRaftError } from './errors.js'

export { NoRaftError } from './errors.js'
import { STRONG_NAME_RE, STRONG_VALUE_BYTES_MAX, StrongMapApp, type Fence, type StrongCommand, type StrongEventMap, type StrongResult } from '../../protocols/variables/strong-map.js'

export { STRONG_TOTAL_BYTES_MAX, STRONG_VALUE_BYTES_MAX, STRONG_VARIABLES_MAX, StrongMapApp, type StrongEventMap } from '../../protocols/variables/strong-map.js'
import type { RaftClient } from './client.js'

/** Where a strong variable's commands and reads go: the local Raft driver, or a member (client path). */
export interface StrongBackend {
  /** Replicates a command (exactly once) and returns the application's result. */
  propose: (command: Uint8Array) => Promise<unknown>
  /** The raw JSON text of `name` (undefined if unset), linearizable unless asked otherwise. */
  read: (name: string, linearizable: boolean) => Promise<string | undefined>
  /** Change events, when this peer holds a replica. */
  app?: { on: (type: 'variable:changed', fn: (e: StrongEventMap['variable:changed']) => void) => () => void }
}

/** For a member of the Raft group: commands through the local driver, reads from the local replica. */
export function serviceBackend (raft: RaftService): StrongBackend {
  return {
    app: raft,
    propose: async (command) => (await raft.propose(command)).result,
    read: async (name, linearizable) => {
      if (linearizable) await raft.readBarrier()
      return raft.app?.strong.get(name)
    }
  }
}

/** For a peer outside the Raft group: every operation is served by a connected member. */
export function remoteBackend (client: RaftClient): StrongBackend {
  return {
    propose: async (command) => (await client.propose(command)).result,
    read: async (name) => {
      const r = await client.read(name)
      return typeof r === 'string' ? r : undefined
    }
  }
}


/** Strong variable handles one peer keeps (each listens to the replicated map). */
export const STRONG_HANDLES_MAX = 10_000

const enc = new TextEncoder()

/** JSON with object keys sorted, so equal values have equal text. */
function canonical (value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical)
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {}
    for (const k of Object.keys(value).sort()) out[k] = canonical((value as Record<string, unknown>)[k])
    return out
  }
  return value
}

function toJson (name: string, value: unknown): string {
  let json: string | undefined
  try { json = JSON.stringify(canonical(value)) } catch (err) { throw new InvalidVariableError(name, `value must be JSON-serialisable (${(err as Error).message})`) }
  if (json === undefined) throw new InvalidVariableError(name, 'value must be JSON-serialisable')
  if (Buffer.byteLength(json) > STRONG_VALUE_BYTES_MAX) throw new LimitExceededError('strongValueBytesMax', STRONG_VALUE_BYTES_MAX, Buffer.byteLength(json), `variable ${name}`)
  return json
}

function fenced (fence: Fence | undefined): { fence?: Fence } {
  if (fence === undefined) return {}
  if (fence === null || typeof fence !== 'object' || typeof fence.lock !== 'string' || !STRONG_NAME_RE.test(fence.lock) || !Number.isSafeInteger(fence.token) || fence.token < 1) {
    throw new InvalidOptionError('fence', 'must be { lock, token } (a held lock\'s `fence`)')
  }
  return { fence: { lock: fence.lock, token: fence.token } }
}

/** One strong variable (`peer.variables.strong(name)`). */
export class StrongVariable<T = unknown> extends TypedEmitter<StrongEventMap> {
  readonly name: string
  private readonly backend: StrongBackend
  private readonly initial: T

  /**
   * @internal `variable:changed` events fire on peers that hold a replica (Raft group members); a peer
   * outside the group sees values through `get()` only.
   */
  constructor (name: string, backend: StrongBackend, initial: T, private readonly admit?: (what: string) => void) {
    super()
    this.name = name
    this.backend = backend
    this.initial = initial
    backend.app?.on('variable:changed', (e) => { if (e.name === name) this.emit('variable:changed', e) })
  }

  /**
   * The value: linearizable by default (a ReadIndex round), or with `linearizable: false` this
   * replica's possibly stale view (a peer outside the group always asks a member).
   */
  async get (options: { linearizable?: boolean } = {}): Promise<T> {
    const raw = await this.backend.read(this.name, options.linearizable !== false)
    return raw === undefined ? this.initial : JSON.parse(raw) as T
  }

  /**
   * Sets the value. With `fence` (a held lock's `lock.fence`), the write is refused with `ERR_FENCED`
   * when the lock has a newer token, so a holder that lost its lock cannot overwrite its successor.
   */
  async set (value: T, options: { fence?: Fence } = {}): Promise<void> {
    await this.run({ op: 'set', name: this.name, value: toJson(this.name, value), ...fenced(options.fence) })
  }

  /**
   * Sets `value` if the current value (the initial value while unset) equals `expected` (deep JSON
   * equality); returns whether it did. Linearizable.
   */
  async compareAndSet (expected: T, value: T, options: { fence?: Fence } = {}): Promise<boolean> {
    const c: StrongCommand = { op: 'cas', name: this.name, expected: toJson(this.name, expected), initial: toJson(this.name, this.initial), value: toJson(this.name, value), ...fenced(options.fence) }
    return (await this.run(c)).ok
  }

  private async run (c: StrongCommand): Promise<{ ok: boolean, value: string | null }> {
    this.admit?.(`strong.${c.op}`)
    const r = await this.backend.propose(enc.encode(JSON.stringify(c))) as StrongResult | undefined | null
    if (r === undefined || r === null || typeof r !== 'object') throw new AgoraError('ERR_INDEFINITE', `variable ${this.name}: no result for the command (outcome unknown)`)
    if ('error' in r) throw new AgoraError(r.error.code, `variable ${this.name}: ${r.error.message}`)
    return r
  }
}

/** The strong variables of a peer. */
export class StrongVariables {
  private readonly vars = new Map<string, StrongVariable<unknown>>()
  /** `admit`: asked before each write (the peer's `proposals` rate limit; throws to refuse it). */
  constructor (private readonly backend: StrongBackend | undefined, private readonly admit?: (what: string) => void) {}

  get<T>(name: string, options: { initial?: T } = {}): StrongVariable<T> {
    if (typeof name !== 'string' || !STRONG_NAME_RE.test(name)) throw new InvalidVariableError(String(name), 'name must be 1..128 characters of [A-Za-z0-9._:/-]')
    if (this.backend === undefined) throw new NoRaftError(`strong variable ${name}`)
    let v = this.vars.get(name)
    if (v === undefined) {
      if (this.vars.size >= STRONG_HANDLES_MAX) throw new LimitExceededError('strongHandlesMax', STRONG_HANDLES_MAX, this.vars.size + 1, 'strong variable handles on this peer')
      v = new StrongVariable<unknown>(name, this.backend, options.initial ?? null, this.admit)
      this.vars.set(name, v)
    }
    return v as StrongVariable<T>
  }
}
