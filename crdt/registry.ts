/**
 * The agent registry (R1–R6, R8): one interface, two backends. {@link ReplicatedRegistry} materialises
 * every host document of a {@link Replica} into an {@link AgentIndex}; the mesh backend feeds that replica
 * from the network, the local backend ({@link createLocalRegistry}) has a replica of one host and no
 * network. Reads come from the index (no Yjs on the read path); writes go through the local host's
 * document and return after the signed update was handed to `publish`.
 */
import * as Y from 'yjs'
import { LimitExceededError } from '../src/base/errors.js'
import { describeJsonProblem } from '../src/base/input.js'
import type { JsonInputProblem } from '../src/base/input.js'
import { TypedEmitter } from '../src/base/events.js'
import { AgentRecord } from './agent-view.js'
import { AgentIndex } from './agent-index.js'
import { checkStoredAgent, normaliseAgent, patchAgent, refuseCheckFields, validateAgentId, withChecks } from './descriptor.js'
import type { StoredCheck } from './checks.js'
import { AgentExistsError, AgentNotFoundError, InvalidDescriptorError, InvalidQueryError, NotOwnerError } from './errors.js'
import { LeaseTable } from './liveness.js'
import { Replica } from './replica.js'
import type { SignedBlob } from './codec.js'
import type { StoredAgent } from './descriptor.js'
import type { HostDoc } from './hostdoc.js'
import type { HostState, LivenessOptions } from './liveness.js'
import type { RegistryLimits } from './limits.js'
import type { AgentInput, AgentPatch, AgentView, LookupStrategy, QueryCriteria, QueryResult } from './types.js'

export interface RegistryEventMap extends Record<string, unknown> {
  'agent:joined': { agent: AgentView }
  'agent:updated': { agent: AgentView, previous: AgentView }
  'agent:left': { agent: AgentView, reason: 'unregistered' | 'pruned' }
  'agent:unreachable': { agent: AgentView }
  'agent:reachable': { agent: AgentView }
  /**
   * A host claims an id another host claims too (or a changed claim changed the owner): `winner` is the
   * claim every replica shows (the earliest), `claims` every claim (owner first), `displaced` the host
   * that owned the id before, when this took it away. See crdt/README.md, "Who owns an agent id".
   */
  'agent:contested': { id: string, winner: AgentView, claims: Array<{ host: string, claimedAt: number | undefined }>, displaced?: string }
}

/** The registry interface shared by the local and the mesh backends (R8). */
export interface Registry {
  /** This peer's host id (the `host` of the agents it registers). */
  readonly hostId: string
  /** Number of agents visible (winners of contested ids only). */
  readonly size: number
  on: TypedEmitter<RegistryEventMap>['on']
  once: TypedEmitter<RegistryEventMap>['once']
  off: TypedEmitter<RegistryEventMap>['off']
  /** Registers an agent hosted by this peer. Throws AgentExistsError if the id is taken. */
  register: (agent: AgentInput) => Promise<AgentView>
  /**
   * Registers many agents of this peer at once: all are validated first (nothing is written if one is
   * invalid), then written in transactions of at most {@link REGISTER_BATCH_AGENTS_MAX} agents.
   */
  registerMany: (agents: readonly AgentInput[]) => Promise<AgentView[]>
  /** Changes fields of an agent hosted by this peer (NotOwnerError for another host's agent). */
  update: (id: string, patch: AgentPatch) => Promise<AgentView>
  /** Removes an agent hosted by this peer; false if it was not registered. */
  unregister: (id: string) => Promise<boolean>
  /** The agent with this id, from the materialised index (O(1)). */
  lookup: (id: string) => AgentView | undefined
  /** Indexed query (R2). */
  query: (criteria: QueryCriteria) => QueryResult
  /** Agents having a capability (a query shorthand). */
  find: (capability: string, limit?: number) => AgentView[]
  /** One healthy, reachable agent with the capability, chosen by a strategy (R3). */
  lookupWith: (capability: string, strategy: LookupStrategy) => AgentView | undefined
  /** The agents this peer hosts. */
  localAgents: () => AgentView[]
}

/** Agents per transaction (one signed update) in `registerMany`; keeps each update far below `updateBytesMax`. */
export const REGISTER_BATCH_AGENTS_MAX = 1000

export const LOOKUP_STRATEGIES: readonly LookupStrategy[] = ['nearest-healthy', 'least-loaded', 'random-healthy']

export interface ReplicatedRegistryInit {
  replica: Replica
  leases: LeaseTable
  /** Hands a signed update of the local document to the network (no-op for the local backend). */
  publish?: (blob: SignedBlob) => void
  /** Wall clock for descriptor `updatedAt` (ms). */
  now?: () => number
  /** Uniform [0, 1) source for `random-healthy`. */
  random?: () => number
  /** Zone given to agents registered here that name none (the peer's zone). */
  defaultZone?: string
  /** Resolves once local writes are on disk; awaited before a write returns (none: in memory). */
  durable?: () => Promise<void>
  /**
   * Asked before `n` local document writes (register, update, unregister; registerMany's batches): throws
   * to refuse them (the peer's `writes` rate limit, RateLimitedError). None: no limit.
   */
  admitWrite?: (n: number) => void
  /**
   * Runs `fn` on a later turn (the peer: setImmediate). With it, the index entries a bulk attach defers
   * (AgentIndex.settleSome) are made in the background, {@link SETTLE_SLICE_RECORDS} a turn; without it,
   * by the first read or change that needs them.
   */
  later?: (fn: () => void) => void
}

/**
 * Deferred records settled per turn in the background after a bulk attach: each is entered under its
 * capabilities, capability and zone, health, host and zone. Measured at load 36 on 2 cores, 100k agents:
 * 2,500 a turn took a median 6 ms, 5,000 a median 22 ms (a stall in the way of the exchange still running).
 */
export const SETTLE_SLICE_RECORDS = 2500

/** Counters of the registry's view (rejections are in the replica's stats). */
export interface RegistryStats {
  /** Remote values that failed descriptor validation and were not indexed. */
  invalidDescriptors: number
  /** Remote agents beyond `agentsPerHostMax` that were not indexed. */
  overLimit: number
  /** Claims of an id already claimed by another host, and owner changes among such claims (`agent:contested`). */
  contested: number
}

/** A claim time from the registry's clock: whole ms, >= 0 (an injected clock may give fractions). */
function claimTime (now: number): number {
  return Math.min(Number.MAX_SAFE_INTEGER, Math.max(0, Math.floor(now)))
}

export class ReplicatedRegistry extends TypedEmitter<RegistryEventMap> implements Registry {
  readonly replica: Replica
  readonly leases: LeaseTable
  readonly index: AgentIndex
  readonly stats: RegistryStats = { invalidDescriptors: 0, overLimit: 0, contested: 0 }
  private readonly limits: RegistryLimits
  private readonly publish: (blob: SignedBlob) => void
  private readonly now: () => number
  private readonly random: () => number
  private readonly defaultZone: string | undefined
  private readonly durable: () => Promise<void>
  private readonly admitWrite: (n: number) => void
  private readonly later: ((fn: () => void) => void) | undefined
  private settling = false
  private readonly observers = new Map<HostDoc, (e: Y.YMapEvent<unknown>) => void>()

  constructor (init: ReplicatedRegistryInit) {
    super()
    this.replica = init.replica
    this.leases = init.leases
    this.limits = init.replica.limits
    this.index = new AgentIndex(this.limits, (r) => {
      this.stats.contested++
      this.emit('agent:contested', {
        id: r.id,
        winner: r.winner,
        claims: r.claims.map(c => ({ host: c.host, claimedAt: c.claimedAt })),
        ...(r.displaced !== undefined ? { displaced: r.displaced } : {})
      })
    })
    this.publish = init.publish ?? (() => {})
    this.now = init.now ?? Date.now
    this.random = init.random ?? Math.random
    this.defaultZone = init.defaultZone
    this.durable = init.durable ?? (async () => {})
    this.admitWrite = init.admitWrite ?? (() => {})
    this.later = init.later
    const prevAttached = this.replica.hooks.onDocAttached
    const prevDetached = this.replica.hooks.onDocDetached
    const prevQuota = this.replica.hooks.onQuota
    this.replica.hooks.onQuota = (host, over) => {
      prevQuota?.(host, over)
      const s = this.leases.get(host)
      if (s !== undefined) s.overQuota = over
    }
    this.replica.hooks.onDocAttached = (doc, previous) => {
      prevAttached?.(doc, previous)
      if (doc.kind === 'reg') this.attach(doc, previous)
    }
    this.replica.hooks.onDocDetached = (doc) => {
      prevDetached?.(doc)
      if (doc.kind === 'reg') this.detach(doc, 'pruned')
    }
    for (const d of this.replica.all('reg')) this.attach(d, undefined)
    this.replica.local('reg')
  }

  get hostId (): string {
    return this.replica.id
  }

  get size (): number {
    return this.index.size
  }

  // ---- materialisation -------------------------------------------------------------------------

  private attach (doc: HostDoc, previous: HostDoc | undefined): void {
    const agents = doc.doc.getMap<unknown>('agents')
    const host = this.leases.state(doc.host)
    if (!host.local) host.overQuota = this.replica.hostUsage(doc.host).overQuota
    if (previous !== undefined) {
      const obs = this.observers.get(previous)
      if (obs !== undefined) previous.doc.getMap('agents').unobserve(obs)
      this.observers.delete(previous)
    }
    const observer = (e: Y.YMapEvent<unknown>): void => {
      for (const id of e.keysChanged) this.syncGuarded(id, agents.get(id), host)
    }
    agents.observe(observer)
    this.observers.set(doc, observer)
    // Bring the index in line with the document: upsert what is there, remove what the previous
    // incarnation had and this one has not. A document new to the index (a late joiner's checkpoint)
    // takes the bulk path: one pass over the map, no previous claim to look up per agent.
    if (previous === undefined && this.index.holdsNothingOf(doc.host)) {
      this.attachNew(agents, host)
      this.settleInBackground()
      return
    }
    for (const [id, value] of agents) this.syncGuarded(id, value, host)
    if (previous !== undefined) {
      for (const id of previous.doc.getMap('agents').keys()) {
        if (!agents.has(id)) this.syncGuarded(id, undefined, host)
      }
    }
  }

  /**
   * {@link attach} of a document whose host holds no claim in the index ({@link AgentIndex.holdsNothingOf}):
   * what {@link syncGuarded} does for each agent, less what cannot apply (no previous claim of the host to
   * find, compare or remove), with the same checks, counters and events in the same order.
   */
  private attachNew (agents: Y.Map<unknown>, host: HostState): void {
    let current = ''
    const onNotJson = (p: JsonInputProblem): void => {
      this.replica.refuseValue('reg', host.host, `agent ${current}: ${p.path === '' ? 'the value' : p.path}: ${describeJsonProblem(p)}`)
    }
    const perHostMax = host.local ? Number.POSITIVE_INFINITY : this.limits.agentsPerHostMax
    // The host's winning records so far (`index.ofHost(host).size`: it held none before this pass).
    let held = 0
    for (const [id, value] of agents) {
      try {
        current = id
        const stored = checkStoredAgent(id, value, this.limits, onNotJson)
        if (stored === undefined) {
          this.stats.invalidDescriptors++
          continue
        }
        if (held >= perHostMax) {
          this.stats.overLimit++
          continue
        }
        const ch = this.index.insertClaim(new AgentRecord(id, stored, host))
        if (ch === undefined) continue
        if (ch.agent.host === host.host) held++
        if (ch.kind === 'joined') this.emit('agent:joined', { agent: ch.agent })
        else if (ch.kind === 'updated') this.emit('agent:updated', { agent: ch.agent, previous: ch.previous })
      } catch (err) {
        this.stats.invalidDescriptors++
        this.replica.refuseValue('reg', host.host, `agent ${id}: ${(err as Error).message}`)
      }
    }
  }

  /** Makes the index entries a bulk attach deferred, a slice per turn, when the registry has `later`. */
  private settleInBackground (): void {
    const later = this.later
    if (later === undefined || this.settling) return
    this.settling = true
    const step = (): void => {
      if (this.index.settleSome(SETTLE_SLICE_RECORDS) > 0) later(step)
      else this.settling = false
    }
    later(step)
  }

  private detach (doc: HostDoc, reason: 'pruned'): void {
    const obs = this.observers.get(doc)
    const agents = doc.doc.getMap('agents')
    if (obs !== undefined) agents.unobserve(obs)
    this.observers.delete(doc)
    for (const id of agents.keys()) {
      const ch = this.index.remove(id, doc.host)
      if (ch?.kind === 'left') this.emit('agent:left', { agent: ch.agent, reason })
      else if (ch?.kind === 'updated') this.emit('agent:updated', { agent: ch.agent, previous: ch.previous })
    }
  }

  /**
   * {@link sync}, run from a Yjs observer (inside `replica.apply`): nothing a host's value provokes is
   * thrown into Yjs (which would leave the update merged but refused); the value is counted as refused.
   */
  private syncGuarded (id: string, value: unknown, host: HostState): void {
    try {
      this.sync(id, value, host)
    } catch (err) {
      this.stats.invalidDescriptors++
      this.replica.refuseValue('reg', host.host, `agent ${id}: ${(err as Error).message}`)
    }
  }

  /** Applies the current value of `id` in `host`'s document to the index and emits the change. */
  private sync (id: string, value: unknown, host: HostState): void {
    if (value === undefined) {
      const ch = this.index.remove(id, host.host)
      if (ch?.kind === 'left') this.emit('agent:left', { agent: ch.agent, reason: 'unregistered' })
      else if (ch?.kind === 'updated') this.emit('agent:updated', { agent: ch.agent, previous: ch.previous })
      return
    }
    // Checked on the host's own replica too: a value written straight into the document (not through
    // register/update) then reads as absent there as on every receiver.
    const stored = checkStoredAgent(id, value, this.limits, (p) => {
      this.replica.refuseValue('reg', host.host, `agent ${id}: ${p.path === '' ? 'the value' : p.path}: ${describeJsonProblem(p)}`)
    })
    if (stored === undefined) {
      this.stats.invalidDescriptors++
      this.sync(id, undefined, host)
      return
    }
    const prev = this.index.claimOf(id, host.host)
    if (!host.local && prev === undefined && this.index.ofHost(host.host).size >= this.limits.agentsPerHostMax) {
      this.stats.overLimit++
      return
    }
    const rec = new AgentRecord(id, stored, host)
    if (prev !== undefined && prev.sameAs(rec)) return
    const ch = this.index.upsert(rec)
    if (ch === undefined) return
    if (ch.kind === 'joined') this.emit('agent:joined', { agent: ch.agent })
    else if (ch.kind === 'updated') this.emit('agent:updated', { agent: ch.agent, previous: ch.previous })
  }

  // ---- liveness --------------------------------------------------------------------------------

  /**
   * Proof of life from a host (a heartbeat). Emits `agent:reachable` for its agents if it was
   * unreachable. Returns true when the host came back.
   */
  heard (host: string, info: { load?: number, rttMs?: number } = {}): boolean {
    const wasUnreachable = this.leases.get(host)?.status === 'unreachable'
    const back = this.leases.heard(host, info)
    if (wasUnreachable) for (const a of this.index.ofHost(host)) this.emit('agent:reachable', { agent: a })
    return back
  }

  /** A host announced it is leaving: its agents are unreachable now (`agent:unreachable`). */
  hostLeft (host: string): void {
    if (this.leases.left(host)) for (const a of this.index.ofHost(host)) this.emit('agent:unreachable', { agent: a })
  }

  /** Expires leases and prunes hosts past their grace; call from a timer. */
  sweep (): { unreachable: string[], pruned: string[] } {
    const r = this.leases.sweep()
    for (const s of r.unreachable) for (const a of this.index.ofHost(s.host)) this.emit('agent:unreachable', { agent: a })
    for (const s of r.pruned) this.replica.drop('reg', s.host)
    return { unreachable: r.unreachable.map(s => s.host), pruned: r.pruned.map(s => s.host) }
  }

  // ---- writes ----------------------------------------------------------------------------------

  private localMap (): Y.Map<unknown> {
    return this.replica.local('reg').doc.getMap('agents')
  }

  private write (fn: (agents: Y.Map<unknown>) => void): void {
    const blob = this.replica.transact('reg', (doc) => fn(doc.getMap('agents')))
    if (blob !== undefined) this.publish(blob)
  }

  /**
   * `options.checks`: @internal the initial results of the agent's health checks (peers/checks registers
   * an agent with its checks in one write); its `health` is then their verdict on the input's.
   */
  async register (agent: AgentInput, options: { checks?: readonly StoredCheck[] } = {}): Promise<AgentView> {
    const id = validateAgentId((agent as AgentInput | undefined)?.id)
    refuseCheckFields(agent)
    const existing = this.index.get(id)
    const mine = this.localMap()
    if (mine.has(id)) throw new AgentExistsError(id, this.hostId)
    if (existing !== undefined) throw new AgentExistsError(id, existing.host)
    if (mine.size >= this.limits.agentsPerHostMax) {
      throw new LimitExceededError('agentsPerHostMax', this.limits.agentsPerHostMax, mine.size + 1, 'agents on this host')
    }
    this.replica.checkLocalRoom('reg')
    const { id: _id, ...rest } = agent
    if (rest.zone === undefined && this.defaultZone !== undefined) rest.zone = this.defaultZone
    const now = this.now()
    let stored = normaliseAgent(rest, now, this.limits, true, claimTime(now))
    if (options.checks !== undefined) stored = withChecks(stored, options.checks, now, this.limits)
    this.admitWrite(1)
    this.write(m => m.set(id, stored))
    await this.durable()
    return this.index.claimOf(id, this.hostId)!
  }

  async registerMany (agents: readonly AgentInput[]): Promise<AgentView[]> {
    if (!Array.isArray(agents)) throw new InvalidDescriptorError('(agents)', 'registerMany needs an array of agents')
    const mine = this.localMap()
    if (mine.size + agents.length > this.limits.agentsPerHostMax) {
      throw new LimitExceededError('agentsPerHostMax', this.limits.agentsPerHostMax, mine.size + agents.length, 'agents on this host')
    }
    const now = this.now()
    const batch = new Map<string, StoredAgent>()
    for (const agent of agents) {
      const id = validateAgentId((agent as AgentInput | undefined)?.id)
      if (batch.has(id) || mine.has(id)) throw new AgentExistsError(id, this.hostId)
      const existing = this.index.get(id)
      if (existing !== undefined) throw new AgentExistsError(id, existing.host)
      refuseCheckFields(agent)
      const { id: _id, ...rest } = agent
      if (rest.zone === undefined && this.defaultZone !== undefined) rest.zone = this.defaultZone
      batch.set(id, normaliseAgent(rest, now, this.limits, true, claimTime(now)))
    }
    this.replica.checkLocalRoom('reg')
    const entries = [...batch]
    this.admitWrite(Math.max(1, Math.ceil(entries.length / REGISTER_BATCH_AGENTS_MAX)))
    for (let i = 0; i < entries.length; i += REGISTER_BATCH_AGENTS_MAX) {
      const chunk = entries.slice(i, i + REGISTER_BATCH_AGENTS_MAX)
      this.write(m => { for (const [id, stored] of chunk) m.set(id, stored) })
    }
    await this.durable()
    return entries.map(([id]) => this.index.claimOf(id, this.hostId)!)
  }

  async update (id: string, patch: AgentPatch): Promise<AgentView> {
    validateAgentId(id)
    const mine = this.localMap()
    const current = mine.get(id) as StoredAgent | undefined
    if (current === undefined) {
      const other = this.index.get(id)
      if (other !== undefined) throw new NotOwnerError(id, other.host)
      throw new AgentNotFoundError(id)
    }
    const next = patchAgent(current, patch, this.now(), this.limits)
    this.replica.checkLocalRoom('reg')
    this.admitWrite(1)
    this.write(m => m.set(id, next))
    await this.durable()
    return this.index.claimOf(id, this.hostId)!
  }

  /**
   * @internal Writes the results of a local agent's health checks (peers/checks), and its `health` as
   * their verdict on the agent's own report; `undefined` removes them (the health is the report again).
   * AgentNotFoundError when the agent is not hosted here.
   */
  async writeChecks (id: string, checks: readonly StoredCheck[] | undefined): Promise<AgentView> {
    const [r] = await this.writeChecksMany([{ id, checks }])
    if (r instanceof Error) throw r
    return r!
  }

  /**
   * @internal {@link writeChecks} for many agents in one transaction (one signed update; at most
   * {@link REGISTER_BATCH_AGENTS_MAX}): each write's view, or the error that kept that one out
   * (AgentNotFoundError, InvalidDescriptorError); an error of the whole transaction (a quota) is thrown.
   */
  async writeChecksMany (writes: ReadonlyArray<{ id: string, checks: readonly StoredCheck[] | undefined }>): Promise<Array<AgentView | Error>> {
    if (writes.length > REGISTER_BATCH_AGENTS_MAX) throw new LimitExceededError('REGISTER_BATCH_AGENTS_MAX', REGISTER_BATCH_AGENTS_MAX, writes.length, 'check results in one write')
    const mine = this.localMap()
    const now = this.now()
    const errors = new Map<number, Error>()
    const next = new Map<string, StoredAgent>()
    writes.forEach((w, i) => {
      try {
        const current = mine.get(w.id) as StoredAgent | undefined
        if (current === undefined) throw new AgentNotFoundError(w.id)
        next.set(w.id, withChecks(current, w.checks, now, this.limits))
      } catch (err) {
        errors.set(i, err as Error)
      }
    })
    if (next.size > 0) {
      this.replica.checkLocalRoom('reg')
      this.write(m => { for (const [id, v] of next) m.set(id, v) })
      await this.durable()
    }
    return writes.map((w, i) => errors.get(i) ?? this.index.claimOf(w.id, this.hostId) ?? new AgentNotFoundError(w.id))
  }

  async unregister (id: string): Promise<boolean> {
    validateAgentId(id)
    const mine = this.localMap()
    if (!mine.has(id)) {
      const other = this.index.get(id)
      if (other !== undefined) throw new NotOwnerError(id, other.host)
      return false
    }
    this.admitWrite(1)
    this.write(m => m.delete(id))
    await this.durable()
    return true
  }

  // ---- reads -----------------------------------------------------------------------------------

  lookup (id: string): AgentView | undefined {
    return this.index.get(id)
  }

  query (criteria: QueryCriteria): QueryResult {
    return this.index.query(criteria, this.now())
  }

  find (capability: string, limit?: number): AgentView[] {
    return this.index.query(limit === undefined ? { capability } : { capability, limit }, this.now()).agents
  }

  lookupWith (capability: string, strategy: LookupStrategy): AgentView | undefined {
    if (!LOOKUP_STRATEGIES.includes(strategy)) throw new InvalidQueryError('strategy', `must be one of ${LOOKUP_STRATEGIES.join(', ')}`)
    if (typeof capability !== 'string' || capability.length === 0) throw new InvalidQueryError('capability', 'must be a non-empty string')
    let best: AgentRecord | undefined
    let bestKey = Number.POSITIVE_INFINITY
    let seen = 0
    for (const a of this.index.withCapability(capability)) {
      if (a.health !== 'healthy' || !a.hostState.reachable) continue
      seen++
      if (strategy === 'random-healthy') {
        // Reservoir sampling: one pass, uniform over the candidates.
        if (this.random() * seen < 1) best = a
        continue
      }
      const key = strategy === 'nearest-healthy'
        ? (a.hostState.local ? 0 : a.hostState.rttMs ?? Number.MAX_SAFE_INTEGER)
        : (a.load ?? a.hostState.load ?? 0)
      if (best === undefined || key < bestKey || (key === bestKey && a.id < best.id)) {
        best = a
        bestKey = key
      }
    }
    return best
  }

  localAgents (): AgentView[] {
    return [...this.index.ofHost(this.hostId)]
  }
}

export interface LocalRegistryOptions {
  /** Host id of the agents (default `local`). */
  hostId?: string
  limits?: Partial<RegistryLimits>
  now?: () => number
  random?: () => number
}

const LOCAL_LIVENESS: LivenessOptions = { leaseMs: Number.MAX_SAFE_INTEGER, pruneAfterMs: Number.MAX_SAFE_INTEGER, prunedHostsMax: 0 }

/**
 * An in-process registry with no network (R8): the same document model, index and queries as the mesh
 * registry, with one host. Use it for single-process agent systems and tests.
 */
export function createLocalRegistry (options: LocalRegistryOptions = {}): ReplicatedRegistry {
  const hostId = options.hostId ?? 'local'
  const now = options.now ?? Date.now
  const replica = new Replica({
    signer: { id: hostId, sign: () => new Uint8Array(0) },
    // A local registry accepts nothing from outside.
    verify: () => false,
    mesh: 'local',
    ...(options.limits !== undefined ? { limits: options.limits } : {}),
    now
  })
  const leases = new LeaseTable(hostId, LOCAL_LIVENESS, now)
  return new ReplicatedRegistry({ replica, leases, now, ...(options.random !== undefined ? { random: options.random } : {}) })
}
