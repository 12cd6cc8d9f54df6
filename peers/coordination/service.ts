/**
 * `peer.coordination`: leases, locks and semaphores with fencing tokens, elections and singletons,
 * barriers and votes (FEATURES C1–C4), on the coordination machine the Raft group applies
 * (protocols/coordination). Members run the commands through their own driver and watch their own
 * replica; peers outside the group go through a member's client stream (propose, read, watch).
 *
 * Leases are this peer's: one keepalive command per period renews all of them (the machine renews every
 * lease of the proposing peer), whatever their number. The client side is conservative: a lease is
 * treated as lost at TTL measured from the send time of the last keepalive that came back (less a small
 * margin for late timers, {@link LEASE_LOCAL_MARGIN_MS_MAX}), before the group can expire it (group
 * expiry counts from that keepalive's proposal stamp, which is later), and its holder is told by a
 * `lease:lost` event and its AbortSignal.
 */
import { AgoraError, InvalidOptionError, LimitExceededError, NotStartedError, TimeoutError } from '../../src/base/errors.js'
import { TypedEmitter } from '../../src/base/events.js'
import type { Logger } from '../../src/base/log.js'
import { encodeCoordCommand } from '../../protocols/mesh/application.js'
import { COORD_LIMITS, COORD_NAME_RE, type CoordEvent, type LockView, type BarrierView, type VoteDecision, type VoteRule, type VoteView } from '../../protocols/coordination/types.js'
import { LEASE_PAGE, type CoordinationMachine } from '../../protocols/coordination/machine.js'
import { coordTick } from '../../protocols/coordination/ticker.js'
import type { AgentView, QueryCriteria } from '../../crdt/types.js'
import { AbortedError, BarrierBrokenError, BarrierTimeoutError, CoordinationError, LeaseLostError, LockTimeoutError } from './errors.js'
import type { ListingPage } from '../../src/base/page.js'
import type { BarrierSummary, ElectionSummary, VoteSummary } from '../../protocols/coordination/listings.js'

/** What `listing` pages hold, by listing. */
export interface CoordListings { elections: ElectionSummary, barriers: BarrierSummary, votes: VoteSummary }

/** Where coordination commands, reads and watches go: the local driver (members) or a member's client stream. */
export interface CoordBackend {
  propose: (command: Uint8Array) => Promise<{ index: number, result: unknown }>
  /** JSON text of a `coord:…` read, linearizable. */
  read: (name: string) => Promise<string | undefined>
  /** Waits (at most `ms`) for `name` to change past revision `rev`, then reads it. */
  watch: (name: string, rev: number, ms: number) => Promise<string | undefined>
  /** Members: the local replica's machine, its events, and whether this peer leads the group. */
  local?: {
    machine: () => CoordinationMachine | undefined
    on: (fn: (e: CoordEvent) => void) => () => void
    isLeader: () => boolean
    /** The current Raft term (a new leader proposes an epoch once per term). */
    term: () => number
    /** Resolves once the local replica applied everything committed now (a ReadIndex round: on a new leader, once its term committed an entry). */
    barrier: () => Promise<unknown>
  }
}

/** Default TTL of a lease (the peer's session lease, and `grantLease` without ttlMs). */
export const LEASE_TTL_MS_DEFAULT = 10_000
/** A keepalive is sent every TTL / this (of the shortest lease). */
export const KEEPALIVES_PER_TTL = 3
/** Pause after a watch that answered at once with nothing new (so a wait loop cannot spin). */
export const WATCH_IDLE_PAUSE_MS = 50
/** Longest wait of one watch round (a longer wait watches again). */
export const WATCH_ROUND_MS = 10_000
/** Leases one peer holds at once. */
export const PEER_LEASES_MAX = COORD_LIMITS.leasesPerOwnerMax
/** Vote requests sent at once, and each one's timeout. */
export const VOTE_REQUESTS_CONCURRENT_MAX = 32
export const VOTE_REQUEST_TIMEOUT_MS = 5000
/** onVote handlers one peer registers. */
export const VOTE_HANDLERS_MAX = 10_000
/** How often the leader checks the machine's next deadline. */
export const TICK_CHECK_MS = 50
/**
 * A lease is counted lost this much before TTL from the last keepalive sent (at most a tenth of the TTL):
 * room for a late timer on a loaded event loop, so the holder still learns before the group can expire it.
 */
export const LEASE_LOCAL_MARGIN_MS_MAX = 200
/** Longest a vote handler may take. */
export const VOTE_HANDLER_TIMEOUT_MS = 30_000

/** A lease of this peer (`grantLease`). */
export interface Lease {
  readonly id: number
  readonly ttlMs: number
  /** Aborted when the lease is lost (expired, revoked, or not renewed in time as this peer counts). */
  readonly signal: AbortSignal
  readonly lost: boolean
  revoke: () => Promise<void>
}

/** A held lock or semaphore permit. */
export interface LockHandle {
  readonly name: string
  readonly token: number
  readonly lease: number
  /** What a strong or eventual write under this lock carries: `{ fence: lock.fence }`. */
  readonly fence: { lock: string, token: number }
  /** Aborted when the lock is lost with its lease. */
  readonly signal: AbortSignal
  release: () => Promise<void>
}

export interface LockOptions {
  /** A dedicated lease with this TTL (revoked on release); default the peer's session lease. */
  ttlMs?: number
  /** How long to wait in the queue (default: until the lease ends; `tryLock` never waits). */
  waitMs?: number
  /** A lease from {@link PeerCoordination.grantLease}. */
  lease?: Lease
  signal?: AbortSignal
  /** Semaphores: the number of permits. */
  permits?: number
}

export interface Leadership {
  readonly name: string
  readonly token: number
  readonly lease: number
  /** Aborted when leadership ends (resigned, or the lease lost). */
  readonly signal: AbortSignal
}

export interface LeaderInfo { owner: string, token: number, lease: number, value: unknown }

export interface Election {
  readonly name: string
  /** Resolves when this peer leads, with the leadership's token. */
  campaign: (value: unknown, options?: { lease?: Lease, signal?: AbortSignal }) => Promise<Leadership>
  /** The leader now (linearizable), undefined when none. */
  leader: () => Promise<LeaderInfo | undefined>
  /** Calls `cb` with every change of leader (and the current one first); returns the unsubscribe. */
  observe: (cb: (leader: LeaderInfo | undefined) => void) => () => void
  /** Changes the leader's value (this peer must lead). */
  proclaim: (value: unknown) => Promise<void>
  /** Ends this peer's leadership or candidacy. */
  resign: () => Promise<void>
}

export interface Singleton {
  /** Stops campaigning and aborts `fn` if it runs; resolves once it settled. */
  stop: () => Promise<void>
  /** Settles when the singleton ended (`fn` returned while leading, or stopped). */
  readonly done: Promise<void>
  readonly running: boolean
}

export interface Barrier {
  readonly name: string
  /**
   * Arrives as `agentId` (hosted here) under `lease` (default the peer's session lease: its end breaks
   * the generation); resolves with the generation once all parties arrived.
   */
  arrive: (agentId: string, options?: { signal?: AbortSignal, lease?: Lease }) => Promise<{ generation: number }>
}

export interface VoteRequest { vote: number, agent: string, opener: string, topic?: string, options: string[], deadline: number }
export type VoteHandler = (req: VoteRequest) => Promise<string | null> | string | null

export interface VoteSpec {
  options: string[]
  /** Agent ids, or a registry query (evaluated now, on this peer's registry). */
  voters: string[] | QueryCriteria
  /** Default majority. */
  rule?: VoteRule | 'majority' | 'unanimous' | 'weighted'
  /** Deadline from now, in log time. */
  deadlineMs: number
  topic?: string
  /** Per-host timeout of a vote request. */
  requestTimeoutMs?: number
}

export interface VoteResult extends VoteDecision {
  vote: number
  /** What each voter's host answered (`voted`, `abstained`, or an error code). */
  responses: Record<string, string>
}

export interface PeerCoordinationEvents extends Record<string, unknown> {
  /** Every change of the coordination machine (members: from their replica). */
  'coord:event': CoordEvent
  /** A lease of this peer is lost (as this peer counts: conservative). */
  'lease:lost': { lease: number, reason: string }
  /** A vote request for an agent of this peer was answered: `voted`, `abstained`, or the error's code. */
  'vote:answered': { vote: number, agent: string, outcome: string }
}

/** Sends a vote request to an agent's host over the agents' request channel (peers/economy). */
export type VoteAsk = (host: string, req: { vote: number, agent: string, openedIndex: number }, timeoutMs: number) => Promise<{ ok: true, outcome: string } | { ok: false, code: string, message: string }>

interface LocalLease {
  id: number
  ttlMs: number
  /** Local deadline (ms, this peer's clock): send time of the last renewal that came back + TTL. */
  deadline: number
  controller: AbortController
  lost: boolean
  session: boolean
}

/** What an aborted watch resolves to. */
const ABORTED: unique symbol = Symbol('aborted')

/** `fn`, callable once (later calls do nothing). */
function once (fn: () => void): () => void {
  let done = false
  return () => { if (!done) { done = true; fn() } }
}

function margin (ttlMs: number): number {
  return Math.min(LEASE_LOCAL_MARGIN_MS_MAX, Math.floor(ttlMs / 10))
}

function checkName (what: string, name: string): void {
  if (typeof name !== 'string' || !COORD_NAME_RE.test(name)) throw new InvalidOptionError(what, 'must be 1..128 characters of [A-Za-z0-9._:/-]')
}

function json (value: unknown, what: string): string {
  let text: string | undefined
  try { text = JSON.stringify(value ?? null) } catch (err) { throw new InvalidOptionError(what, `must be JSON-serialisable (${(err as Error).message})`) }
  if (text === undefined || Buffer.byteLength(text) > COORD_LIMITS.valueBytesMax) throw new InvalidOptionError(what, `must be JSON of at most ${COORD_LIMITS.valueBytesMax} bytes`)
  return text
}

function abortError (signal: AbortSignal | undefined, what: string): Error {
  return signal?.reason instanceof Error && (signal.reason as { code?: string }).code !== undefined ? signal.reason : new AbortedError(what)
}

/** Resolves after `ms` or when `signal` aborts (never rejects). */
function sleep (ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise(resolve => {
    const t = setTimeout(done, ms)
    function done (): void { clearTimeout(t); signal?.removeEventListener('abort', done); resolve() }
    signal?.addEventListener('abort', done, { once: true })
  })
}

/**
 * Coordination commands a caller starts (a lock, semaphore or election campaign, a barrier arrival, a
 * vote, a proclaim), counted by the peer's `proposals` rate limit. Leases, keepalives, releases,
 * cancels, ballots and the leader's duties keep the peer's state alive or free it: never refused by it.
 */
export const RATE_LIMITED_COORD_COMMANDS: ReadonlySet<string> = new Set(['lock.acquire', 'barrier.arrive', 'vote.open', 'election.proclaim'])

export class PeerCoordination extends TypedEmitter<PeerCoordinationEvents> {
  private backend: CoordBackend | undefined
  private backendOff: (() => void) | undefined
  private readonly leases = new Map<number, LocalLease>()
  private session: Promise<LocalLease> | undefined
  private keepTimer: ReturnType<typeof setTimeout> | undefined
  /** When the armed keepalive fires (this peer's clock); Infinity when none is armed. */
  private keepAt = Infinity
  private checkTimer: ReturnType<typeof setTimeout> | undefined
  /** When the armed local expiry check fires (this peer's clock); Infinity when none is armed. */
  private checkAt = Infinity
  private tickTimer: ReturnType<typeof setInterval> | undefined
  private keeping = false
  private ticking = false
  private epochTerm = -1
  private lastTickAt: number | undefined
  private running = false
  private stopping = new AbortController()
  private readonly voteHandlers = new Map<string, VoteHandler>()
  /**
   * Leases this peer gave up (not renewed in time here) that the group may still have: a late keepalive
   * (committed with its earlier stamp) or a new leader's epoch keeps them there, and every keepalive of
   * this peer renews every lease it owns. Revoked once the group answers again.
   */
  private readonly orphans = new Set<number>()
  /** Local turns at a lock under a shared lease (`<lease>/<kind>/<name>`): the callers waiting for the one that has it. */
  private readonly gates = new Map<string, { queue: Array<() => void> }>()
  /** Lease grants in flight (their leases may be in the group before they are here), and grants finished. */
  private granting = 0
  private grantsDone = 0
  readonly stats = { keepalives: 0, keepaliveFailures: 0, leasesLost: 0, ticks: 0, epochs: 0, grants: 0, waits: 0, voteRequestsServed: 0 }

  constructor (private readonly ctx: {
    self: string
    log: Logger
    lookup: (id: string) => AgentView | undefined
    query: (q: QueryCriteria) => { agents: readonly AgentView[] }
    ask?: VoteAsk
    /** Clock (ms) of this peer (tests may shift it). */
    now?: () => number
    /** TTL of the session lease (default {@link LEASE_TTL_MS_DEFAULT}). */
    sessionTtlMs?: number
    /** Asked before a command a caller starts ({@link RATE_LIMITED_COORD_COMMANDS}): throws to refuse it (the peer's `proposals` rate limit). */
    admit?: (what: string) => void
  }) { super() }

  private now (): number { return this.ctx.now?.() ?? Date.now() }

  /** @internal where commands go; on members, the replica's events are forwarded. */
  setBackend (b: CoordBackend): void {
    this.backendOff?.()
    this.backend = b
    this.backendOff = b.local?.on((e) => { this.emit('coord:event', e) })
    this.epochTerm = -1
  }

  get isStarted (): boolean { return this.running }

  /** Leases this peer holds now (not lost), the session lease included. */
  get leaseCount (): number { return this.leases.size }

  /** Starts the keepalive and (on members) the leader's deadline ticks. Idempotent. */
  start (): void {
    if (this.running) return
    this.running = true
    this.stopping = new AbortController()
    this.tickTimer = setInterval(() => {
      void this.leaderDuties().catch((err: Error) => { this.ctx.log.debug('coordination leader duties failed', { error: err?.message }) })
    }, TICK_CHECK_MS)
    this.tickTimer.unref?.()
    this.scheduleKeepalive()
  }

  /**
   * Stops: revokes this peer's leases (one command, best effort within `timeoutMs`), so what it held is
   * free at once rather than after the TTL. Idempotent.
   */
  async stop (options: { revoke?: boolean, timeoutMs?: number } = {}): Promise<void> {
    if (!this.running) return
    this.running = false
    this.stopping.abort(new AbortedError('coordination (stopping)'))
    clearTimeout(this.checkTimer)
    this.checkAt = Infinity
    clearInterval(this.tickTimer)
    clearTimeout(this.keepTimer)
    this.keepAt = Infinity
    const live = [...this.leases.values()].filter(l => !l.lost)
    if (options.revoke !== false && live.length > 0 && this.backend !== undefined) {
      try {
        await Promise.race([this.backend.propose(encodeCoordCommand({ t: 'lease.revoke', lease: 'all' })), sleep(options.timeoutMs ?? 2000)])
      } catch (err) {
        this.ctx.log.debug('leases not revoked at stop', { error: (err as Error).message })
      }
    }
    for (const l of live) this.lose(l, 'stopped')
    this.orphans.clear()
    this.session = undefined
  }

  private need (): CoordBackend {
    if (!this.running || this.backend === undefined) throw new NotStartedError('coordination')
    return this.backend
  }

  /** Proposes a coordination command; its result or the machine's named error. */
  private async command (cmd: Record<string, unknown>): Promise<Record<string, unknown> & { index: number }> {
    if (typeof cmd.t === 'string' && RATE_LIMITED_COORD_COMMANDS.has(cmd.t)) this.ctx.admit?.(`coordination.${cmd.t}`)
    const p = await this.need().propose(encodeCoordCommand(cmd))
    const r = p.result as Record<string, unknown> | null
    if (r === null || typeof r !== 'object') throw new AgoraError('ERR_INDEFINITE', `${String(cmd.t)}: no result (outcome unknown)`)
    if (r.ok !== true) {
      const e = r as { code?: unknown, message?: unknown, error?: { code: string, message: string } }
      if (e.error !== undefined) throw new CoordinationError(e.error.code, e.error.message)
      throw new CoordinationError(typeof e.code === 'string' ? e.code : 'ERR_COORDINATION', typeof e.message === 'string' ? e.message : 'refused')
    }
    return { ...r, index: p.index }
  }

  private async readJson<T> (name: string): Promise<T | undefined> {
    const raw = await this.need().read(name)
    return raw === undefined || raw === null ? undefined : JSON.parse(raw) as T
  }

  /**
   * Reads `name` once its revision changed past `rev` (or after `ms`), from the local replica when it is
   * a member. With `signal`, resolves `ABORTED` as soon as it aborts (the watch itself runs out on its own).
   */
  private async watchJson<T> (name: string, rev: number, ms: number): Promise<T | undefined>
  private async watchJson<T> (name: string, rev: number, ms: number, signal: AbortSignal): Promise<T | undefined | typeof ABORTED>
  private async watchJson<T> (name: string, rev: number, ms: number, signal?: AbortSignal): Promise<T | undefined | typeof ABORTED> {
    const asked = this.now()
    const round = Math.min(ms, WATCH_ROUND_MS)
    const watching = this.need().watch(name, rev, round).then(async (r) => {
      // A backend that answers at once with nothing new would make the caller's loop spin: pace it.
      const v = r === undefined || r === null ? 0 : (JSON.parse(r) as { rev?: number }).rev ?? 0
      if (v === rev && rev !== 0 && this.now() - asked < round / 2) await sleep(Math.min(WATCH_IDLE_PAUSE_MS, round))
      return r
    })
    let raw: string | undefined | typeof ABORTED
    if (signal === undefined) raw = await watching
    else {
      if (signal.aborted) return ABORTED
      let off: (() => void) | undefined
      watching.catch(() => {})
      raw = await Promise.race([watching, new Promise<typeof ABORTED>(resolve => { const fn = (): void => { resolve(ABORTED) }; signal.addEventListener('abort', fn, { once: true }); off = () => { signal.removeEventListener('abort', fn) } })]).finally(() => off?.())
    }
    return raw === ABORTED ? ABORTED : raw === undefined || raw === null ? undefined : JSON.parse(raw) as T
  }

  // ---------------------------------------------------------------- leases

  /** Grants a lease to this peer, kept alive until revoked or lost. */
  async grantLease (options: { ttlMs?: number } = {}): Promise<Lease> {
    const l = await this.grant(options.ttlMs ?? LEASE_TTL_MS_DEFAULT, false)
    return this.leaseHandle(l)
  }

  private leaseHandle (l: LocalLease): Lease {
    return {
      id: l.id,
      ttlMs: l.ttlMs,
      signal: l.controller.signal,
      get lost () { return l.lost },
      revoke: async () => { await this.revoke(l) }
    }
  }

  private async grant (ttlMs: number, session: boolean): Promise<LocalLease> {
    if (!Number.isSafeInteger(ttlMs) || ttlMs < COORD_LIMITS.leaseTtlMsMin || ttlMs > COORD_LIMITS.leaseTtlMsMax) throw new InvalidOptionError('ttlMs', `must be an integer in ${COORD_LIMITS.leaseTtlMsMin}..${COORD_LIMITS.leaseTtlMsMax}`)
    if (this.leases.size >= PEER_LEASES_MAX) throw new LimitExceededError('peerLeasesMax', PEER_LEASES_MAX, this.leases.size + 1, 'leases of this peer')
    const sent = this.now()
    this.granting++
    let r: Record<string, unknown>
    try {
      r = await this.command({ t: 'lease.grant', ttlMs })
    } finally {
      this.granting--
      this.grantsDone++
    }
    const l: LocalLease = { id: r.lease as number, ttlMs, deadline: sent + ttlMs - margin(ttlMs), controller: new AbortController(), lost: false, session }
    this.leases.set(l.id, l)
    this.armCheck(l.deadline)
    this.scheduleKeepalive()
    return l
  }

  private async revoke (l: LocalLease): Promise<void> {
    if (l.lost) return
    try {
      await this.command({ t: 'lease.revoke', lease: l.id })
    } catch (err) {
      if ((err as { code?: string }).code !== 'ERR_LEASE_NOT_FOUND') throw err
    }
    this.lose(l, 'revoked')
  }

  private lose (l: LocalLease, reason: string): void {
    if (l.lost) return
    l.lost = true
    this.leases.delete(l.id)
    if (this.session !== undefined) void this.session.then(s => { if (s === l) this.session = undefined }, () => {})
    this.stats.leasesLost++
    if (reason === 'not renewed in time') this.orphans.add(l.id)
    l.controller.abort(new LeaseLostError(l.id, reason))
    this.emit('lease:lost', { lease: l.id, reason })
    if (reason !== 'revoked' && reason !== 'stopped') this.ctx.log.info('lease lost', { lease: l.id, reason })
  }

  /**
   * @internal The peer's session lease as an id and a signal aborted once the peer counts it lost (peers/tasks
   * ties task attempts to it).
   */
  async sessionLeaseOf (): Promise<{ id: number, signal: AbortSignal }> {
    const l = await this.sessionLease()
    return { id: l.id, signal: l.controller.signal }
  }

  /** The peer's session lease (granted on first use, replaced once lost). */
  private async sessionLease (): Promise<LocalLease> {
    const cur = this.session
    if (cur !== undefined) {
      const l = await cur.catch(() => undefined)
      if (l !== undefined && !l.lost) return l
      if (this.session === cur) this.session = undefined
    }
    if (this.session === undefined) this.session = this.grant(this.ctx.sessionTtlMs ?? LEASE_TTL_MS_DEFAULT, true)
    const p = this.session
    try {
      return await p
    } catch (err) {
      if (this.session === p) this.session = undefined
      throw err
    }
  }

  private async leaseFor (o: { lease?: Lease, ttlMs?: number }): Promise<{ l: LocalLease, dedicated: boolean }> {
    if (o.lease !== undefined) {
      const l = this.leases.get(o.lease.id)
      if (l === undefined || l.lost) throw new LeaseLostError(o.lease.id, 'not held by this peer')
      return { l, dedicated: false }
    }
    if (o.ttlMs !== undefined) return { l: await this.grant(o.ttlMs, false), dedicated: true }
    return { l: await this.sessionLease(), dedicated: false }
  }

  /** Loses every lease past its local deadline, then arms one timer for the earliest next one. */
  private checkLocalDeadlines (): void {
    const now = this.now()
    let next = Infinity
    for (const l of [...this.leases.values()]) {
      if (now >= l.deadline) this.lose(l, 'not renewed in time')
      else next = Math.min(next, l.deadline)
    }
    this.armCheck(next)
  }

  /**
   * Arms the local expiry check at `at` unless one is armed earlier. A timer at the earliest deadline,
   * not a periodic poll: the group can expire a lease in the very millisecond this peer counts it lost (a
   * member stamps a keepalive in the millisecond it sent it) and grant its locks one commit later, so a
   * holder polled every 100 ms could hear of its loss after another peer got its lock. (Renewals only
   * move deadlines later: the armed timer then finds nothing due and re-arms at the new earliest one.)
   */
  private armCheck (at: number): void {
    if (!this.running || at >= this.checkAt) return
    clearTimeout(this.checkTimer)
    this.checkAt = at
    this.checkTimer = setTimeout(() => { this.checkAt = Infinity; this.checkLocalDeadlines() }, Math.max(0, at - this.now()))
    this.checkTimer.unref?.()
  }

  /**
   * Arms the next keepalive one period (the shortest TTL / KEEPALIVES_PER_TTL) from now, unless one is
   * armed sooner: re-arming it at every grant would postpone it for as long as grants come faster than
   * the period, and every lease of this peer would then expire.
   */
  private scheduleKeepalive (): void {
    if (!this.running || this.keeping) return
    let period = Infinity
    for (const l of this.leases.values()) period = Math.min(period, l.ttlMs / KEEPALIVES_PER_TTL)
    if (period === Infinity) { clearTimeout(this.keepTimer); this.keepAt = Infinity; return }
    const delay = Math.max(50, Math.floor(period))
    if (this.keepAt <= this.now() + delay) return
    clearTimeout(this.keepTimer)
    this.keepAt = this.now() + delay
    this.keepTimer = setTimeout(() => { this.keepAt = Infinity; void this.keepalive() }, delay)
    this.keepTimer.unref?.()
  }

  /** One command renews every lease of this peer; leases the machine no longer has are lost. */
  private async keepalive (): Promise<void> {
    if (!this.running || this.keeping || this.leases.size === 0) return
    this.keeping = true
    const sent = this.now()
    const mine = [...this.leases.values()]
    const grantsBefore = this.grantsDone
    try {
      const r = await this.command({ t: 'lease.keepalive', n: mine.length })
      this.stats.keepalives++
      let live: Set<number> | undefined
      const renewed = r.renewed as number
      // Fewer renewed than sent: some expired in the group. More, with no grant in flight or finished
      // meanwhile (it would be counted there): a grant whose answer was lost (ERR_INDEFINITE) left one,
      // which holds nothing and is revoked. Either way the full list says which.
      const quiet = this.granting === 0 && this.grantsDone === grantsBefore
      if (renewed < mine.length || (renewed > mine.length && quiet)) {
        live = new Set(Array.isArray(r.leases) ? r.leases as number[] : await this.groupLeases())
        if (quiet && this.granting === 0) for (const id of live) if (!this.leases.has(id)) this.orphans.add(id)
      }
      for (const l of mine) {
        if (l.lost) continue
        if (live !== undefined && !live.has(l.id)) { this.lose(l, 'expired in the group'); continue }
        l.deadline = Math.max(l.deadline, sent + l.ttlMs - margin(l.ttlMs))
      }
      await this.revokeOrphans()
    } catch (err) {
      this.stats.keepaliveFailures++
      this.ctx.log.debug('keepalive failed', { error: (err as Error).message })
    } finally {
      this.keeping = false
      this.scheduleKeepalive()
    }
  }

  /** Every lease the group holds for this peer, read page by page (the full list: a missing id means lost). */
  private async groupLeases (): Promise<number[]> {
    const out: number[] = []
    for (let page = 0; page <= Math.ceil(PEER_LEASES_MAX / LEASE_PAGE); page++) {
      const ids = await this.readJson<number[]>(`coord:leases:${this.ctx.self}${out.length > 0 ? `@${out[out.length - 1]!}` : ''}`) ?? []
      out.push(...ids)
      if (ids.length < LEASE_PAGE) return out
    }
    return out
  }

  /** Revokes the leases this peer gave up that the group may still hold (see {@link orphans}). */
  private async revokeOrphans (): Promise<void> {
    for (const id of [...this.orphans]) {
      try {
        await this.command({ t: 'lease.revoke', lease: id })
      } catch (err) {
        if ((err as { code?: string }).code !== 'ERR_LEASE_NOT_FOUND') continue
      }
      this.orphans.delete(id)
    }
  }

  /** On the Raft leader: an epoch once per term, and a tick whenever log time must pass a deadline. */
  private async leaderDuties (): Promise<void> {
    const local = this.backend?.local
    if (local === undefined || this.ticking || !this.running || !local.isLeader()) return
    const m = local.machine()
    if (m === undefined) return
    this.ticking = true
    try {
      const term = local.term()
      // The rule the simulator runs too (protocols/coordination/ticker.ts).
      const cmd = coordTick({ isLeader: true, term, epochTerm: this.epochTerm, now: this.now(), nextDeadline: m.nextDeadline(), lastTickAt: this.lastTickAt })
      if (cmd?.t === 'epoch') {
        // An epoch matters only to leases granted before this term; the replica must be current to tell.
        await local.barrier()
        if ((local.machine()?.leaseCount ?? 0) > 0) {
          await this.command({ t: 'epoch' })
          this.stats.epochs++
        }
        this.epochTerm = term
        this.lastTickAt = undefined
      } else if (cmd?.t === 'tick') {
        this.lastTickAt = this.now()
        await this.command({ t: 'tick' })
        this.stats.ticks++
      }
    } catch (err) {
      this.ctx.log.debug('coordination tick failed', { error: (err as Error).message })
    } finally {
      this.ticking = false
    }
  }

  // ---------------------------------------------------------------- locks

  /** Acquires lock `name`, waiting in FIFO order (up to `waitMs`, else until the lease ends). */
  async lock (name: string, options: LockOptions = {}): Promise<LockHandle> {
    return (await this.acquire(name, options, true))!
  }

  /** Acquires lock `name` if free now; null when held. */
  async tryLock (name: string, options: Omit<LockOptions, 'waitMs'> = {}): Promise<LockHandle | null> {
    return await this.acquire(name, options, false)
  }

  /** A counting semaphore of `permits` (all users must agree on the number). */
  semaphore (name: string, options: { permits: number }): { acquire: (o?: Omit<LockOptions, 'permits'>) => Promise<LockHandle>, tryAcquire: (o?: Omit<LockOptions, 'permits' | 'waitMs'>) => Promise<LockHandle | null> } {
    checkName('name', name)
    if (!Number.isSafeInteger(options.permits) || options.permits < 1 || options.permits > COORD_LIMITS.permitsMax) throw new InvalidOptionError('permits', `must be an integer in 1..${COORD_LIMITS.permitsMax}`)
    return {
      acquire: async (o = {}) => await this.lock(name, { ...o, permits: options.permits }),
      tryAcquire: async (o = {}) => await this.tryLock(name, { ...o, permits: options.permits })
    }
  }

  private async acquire (name: string, o: LockOptions, wait: boolean, kind: 'lock' | 'election' = 'lock', value?: string): Promise<LockHandle | null> {
    checkName('name', name)
    if (o.waitMs !== undefined && (!Number.isSafeInteger(o.waitMs) || o.waitMs < 1 || o.waitMs > COORD_LIMITS.waitMsMax)) throw new InvalidOptionError('waitMs', `must be an integer in 1..${COORD_LIMITS.waitMsMax}`)
    if (o.signal?.aborted === true) throw abortError(o.signal, `${kind} ${name}`)
    const started = this.now()
    const { l, dedicated } = await this.leaseFor(o)
    // The group grants a lease one permit of a lock at most: callers here sharing a lease (the session
    // lease, a given one) take turns locally, in FIFO order, so each holds the lock alone.
    let leave: (() => void) | undefined
    if (!dedicated) {
      const turn = await this.enterGate(`${l.id}/${kind}/${name}`, wait, o, started, l)
      if (turn === null) return null
      leave = turn
    }
    try {
      const handle = await this.acquireUnder(name, o, wait, kind, value, l, dedicated, started, leave)
      if (handle === null) leave?.()
      return handle
    } catch (err) {
      leave?.()
      throw err
    }
  }

  /**
   * Waits for this peer's turn at lock `key` (a lease's lock): a function that ends the turn, or null when
   * `wait` is false and another caller here has it. Bounded by `waitMs`, the caller's signal and the lease.
   */
  private async enterGate (key: string, wait: boolean, o: LockOptions, started: number, l: LocalLease): Promise<(() => void) | null> {
    let gate = this.gates.get(key)
    const leave = (): void => {
      const g = this.gates.get(key)
      if (g === undefined) return
      const next = g.queue.shift()
      if (next !== undefined) next()
      else this.gates.delete(key)
    }
    if (gate === undefined) {
      this.gates.set(key, { queue: [] })
      return once(leave)
    }
    if (!wait) return null
    if (gate.queue.length >= COORD_LIMITS.waitersPerLockMax) throw new LimitExceededError('waitersPerLockMax', COORD_LIMITS.waitersPerLockMax, gate.queue.length + 1, `callers of ${key} on this peer`)
    const stop = AbortSignal.any([this.stopping.signal, l.controller.signal, ...(o.signal !== undefined ? [o.signal] : [])])
    await new Promise<void>((resolve, reject) => {
      const g = gate!
      let timer: ReturnType<typeof setTimeout> | undefined
      const done = (): void => { clearTimeout(timer); stop.removeEventListener('abort', onAbort) }
      const turn = (): void => { done(); resolve() }
      const give = (err: Error): void => {
        done()
        const i = g.queue.indexOf(turn)
        if (i >= 0) g.queue.splice(i, 1)
        reject(err)
      }
      const onAbort = (): void => { give(l.lost ? new LeaseLostError(l.id, 'while waiting') : abortError(o.signal, key)) }
      g.queue.push(turn)
      stop.addEventListener('abort', onAbort, { once: true })
      if (o.waitMs !== undefined) timer = setTimeout(() => { give(new LockTimeoutError(key.slice(key.indexOf('/') + 1), o.waitMs!)) }, Math.max(0, started + o.waitMs - this.now()))
    })
    return once(leave)
  }

  private async acquireUnder (name: string, o: LockOptions, wait: boolean, kind: 'lock' | 'election', value: string | undefined, l: LocalLease, dedicated: boolean, started: number, leave: (() => void) | undefined): Promise<LockHandle | null> {
    const cmd: Record<string, unknown> = { t: 'lock.acquire', kind, name, lease: l.id }
    if (o.permits !== undefined) cmd.permits = o.permits
    if (wait) cmd.wait = true
    // What is left of the wait after this peer's own turn.
    if (wait && o.waitMs !== undefined) cmd.waitMs = Math.max(1, o.waitMs - (this.now() - started))
    if (value !== undefined) cmd.value = value
    let r: Record<string, unknown>
    try {
      r = await this.command(cmd)
    } catch (err) {
      if (dedicated) await this.revoke(l).catch(() => {})
      throw err
    }
    let token = r.granted === true ? r.token as number : undefined
    if (token === undefined && !wait) {
      if (dedicated) await this.revoke(l).catch(() => {})
      return null
    }
    if (token === undefined) {
      this.stats.waits++
      try {
        token = await this.waitGrant(kind, name, l, r.ticket as number, o)
      } catch (err) {
        if (dedicated) await this.revoke(l).catch(() => {})
        throw err
      }
    }
    this.stats.grants++
    return this.lockHandle(kind, name, token, l, dedicated, leave)
  }

  /** Waits for a queued request's grant: the lock's holders name our lease, or our ticket left the queue (timeout, lease end). */
  private async waitGrant (kind: 'lock' | 'election', name: string, l: LocalLease, ticket: number, o: LockOptions): Promise<number> {
    const key = `coord:${kind}:${name}`
    const started = this.now()
    // The machine times the wait out in log time; this bound only covers a group that cannot commit it.
    const localBound = o.waitMs === undefined ? Infinity : started + o.waitMs + 2000
    let rev = 0
    // A watch round ends as soon as the caller aborts, the service stops or the lease is lost.
    const stop = AbortSignal.any([this.stopping.signal, l.controller.signal, ...(o.signal !== undefined ? [o.signal] : [])])
    for (;;) {
      if (o.signal?.aborted === true || this.stopping.signal.aborted || l.lost) {
        await this.cancelWait(kind, name, ticket, l)
        throw l.lost ? new LeaseLostError(l.id, 'while waiting') : abortError(o.signal, `${kind} ${name}`)
      }
      const view = await this.watchJson<LockView>(key, rev, Math.max(1, Math.min(WATCH_ROUND_MS, localBound - this.now())), stop)
      if (view === ABORTED) continue
      const mine = view?.holders.find(h => h.lease === l.id)
      if (mine !== undefined) return mine.token
      if (view === undefined || !view.waiters.some(w => w.ticket === ticket)) {
        if (l.lost) throw new LeaseLostError(l.id, 'while waiting')
        throw new LockTimeoutError(name, o.waitMs ?? 0)
      }
      if (this.now() >= localBound) {
        await this.cancelWait(kind, name, ticket, l)
        throw new LockTimeoutError(name, o.waitMs ?? 0)
      }
      rev = view.rev
    }
  }

  /** Leaves the queue; if the grant raced ahead of the cancel, releases it. */
  private async cancelWait (kind: 'lock' | 'election', name: string, ticket: number, l: LocalLease): Promise<void> {
    if (l.lost) return
    try {
      const r = await this.command({ t: 'lock.cancel', kind, name, ticket })
      if (r.cancelled !== true) {
        const view = await this.readJson<LockView>(`coord:${kind}:${name}`)
        const mine = view?.holders.find(h => h.lease === l.id)
        if (mine !== undefined) await this.command({ t: 'lock.release', kind, name, token: mine.token })
      }
    } catch (err) {
      this.ctx.log.debug('cancel of a wait failed', { name, error: (err as Error).message })
    }
  }

  private lockHandle (kind: 'lock' | 'election', name: string, token: number, l: LocalLease, dedicated: boolean, leave: (() => void) | undefined): LockHandle {
    // The handle's signal ends with the lease, or at release; either ends this caller's local turn.
    const controller = new AbortController()
    const onLost = (): void => { controller.abort(l.controller.signal.reason); leave?.() }
    if (l.controller.signal.aborted) onLost()
    else l.controller.signal.addEventListener('abort', onLost, { once: true })
    let released = false
    return {
      name,
      token,
      lease: l.id,
      fence: { lock: name, token },
      signal: controller.signal,
      release: async () => {
        if (released) return
        released = true
        try {
          if (dedicated) await this.revoke(l)
          else if (!l.lost) {
            try {
              await this.command({ t: 'lock.release', kind, name, token })
            } catch (err) {
              // Already freed (its lease ended): nothing is held.
              if ((err as { code?: string }).code !== 'ERR_NOT_HOLDER') throw err
            }
          }
        } catch (err) {
          // Not released (the group did not answer): still held, and the caller may retry.
          released = false
          throw err
        }
        l.controller.signal.removeEventListener('abort', onLost)
        controller.abort(new AbortedError(`${kind} ${name} (released)`))
        leave?.()
      }
    }
  }

  /** The lock's state (linearizable): holders with tokens, waiters in order. */
  async lockState (name: string): Promise<LockView | undefined> {
    checkName('name', name)
    return await this.readJson<LockView>(`coord:lock:${name}`)
  }

  /**
   * A page of elections (busy ones) or barriers, names after `cursor`, or of votes (open and decided),
   * newest first, ids before `cursor` (protocols/coordination/listings.ts); linearizable.
   */
  async listing<K extends keyof CoordListings> (what: K, limit: number, cursor = ''): Promise<ListingPage<CoordListings[K]>> {
    return await this.readJson<ListingPage<CoordListings[K]>>(`coord:list:${what}:${limit}:${cursor}`) ?? { entries: [], next: null }
  }

  /** Names of the locks held or waited for (at most 1000), from a linearizable read. */
  async locks (): Promise<string[]> {
    return await this.readJson<string[]>('coord:locks') ?? []
  }

  // ---------------------------------------------------------------- elections

  election (name: string): Election {
    checkName('name', name)
    let current: { handle: LockHandle, controller: AbortController } | undefined
    let campaigning: AbortController | undefined
    const leaderOf = (v: LockView | undefined): LeaderInfo | undefined => {
      const h = v?.holders[0]
      return h === undefined ? undefined : { owner: h.owner, token: h.token, lease: h.lease, value: h.value ?? null }
    }
    return {
      name,
      campaign: async (value, options = {}) => {
        const text = json(value, 'value')
        const controller = new AbortController()
        campaigning = controller
        const signal = options.signal === undefined ? controller.signal : AbortSignal.any([controller.signal, options.signal])
        try {
          const handle = (await this.acquire(name, { ...(options.lease !== undefined ? { lease: options.lease } : {}), signal }, true, 'election', text))!
          const leading = new AbortController()
          handle.signal.addEventListener('abort', () => { leading.abort(handle.signal.reason) }, { once: true })
          current = { handle, controller: leading }
          // Leadership also ends when the group says so (revoked elsewhere, or the lease expired there first).
          void this.watchEnd('election', name, handle.token, leading.signal).then(ended => { if (ended) leading.abort(new LeaseLostError(handle.lease, 'leadership ended in the group')) }, (err: Error) => {
            this.ctx.log.debug('election watch failed', { name, error: err?.message })
          })
          return { name, token: handle.token, lease: handle.lease, signal: leading.signal }
        } finally {
          if (campaigning === controller) campaigning = undefined
        }
      },
      leader: async () => leaderOf(await this.readJson<LockView>(`coord:election:${name}`)),
      observe: (cb) => {
        const stop = new AbortController()
        void (async () => {
          let rev = -1
          let last = ''
          while (!stop.signal.aborted && this.running) {
            try {
              const v = rev < 0 ? await this.readJson<LockView>(`coord:election:${name}`) : await this.watchJson<LockView>(`coord:election:${name}`, rev, WATCH_ROUND_MS)
              rev = v?.rev ?? 0
              const info = leaderOf(v)
              const key = info === undefined ? '' : `${info.token}:${JSON.stringify(info.value)}`
              if (key !== last) { last = key; if (!stop.signal.aborted) cb(info) }
            } catch {
              await sleep(200, stop.signal)
            }
          }
        })()
        return () => { stop.abort() }
      },
      proclaim: async (value) => {
        if (current === undefined || current.controller.signal.aborted) throw new CoordinationError('ERR_NOT_HOLDER', `this peer does not lead ${name}`)
        await this.command({ t: 'election.proclaim', name, token: current.handle.token, value: json(value, 'value') })
      },
      resign: async () => {
        campaigning?.abort(new AbortedError(`campaign for ${name} (resigned)`))
        const c = current
        current = undefined
        if (c === undefined) return
        c.controller.abort(new AbortedError(`leadership of ${name} (resigned)`))
        try {
          await c.handle.release()
        } catch (err) {
          // Still leading in the group: a retry resigns it.
          current ??= c
          throw err
        }
      }
    }
  }

  /** Resolves true when the holder `token` of `kind name` is gone from the group; false when `signal` aborts first. */
  private async watchEnd (kind: 'lock' | 'election', name: string, token: number, signal: AbortSignal): Promise<boolean> {
    let rev = 0
    while (!signal.aborted && this.running) {
      try {
        const v = await this.watchJson<LockView>(`coord:${kind}:${name}`, rev, WATCH_ROUND_MS)
        if (signal.aborted) return false
        if (v === undefined || !v.holders.some(h => h.token === token)) return true
        rev = v.rev
      } catch {
        await sleep(200, signal)
      }
    }
    return false
  }

  /**
   * Runs `fn(signal)` on exactly one live peer at a time: campaigns for election `name`, runs `fn` while
   * leading, aborts its signal when leadership is lost (then campaigns again). Ends when `fn` returns
   * while leading (the leadership is resigned) or on `stop()`.
   */
  runSingleton (name: string, fn: (signal: AbortSignal) => Promise<void> | void, options: { ttlMs?: number, value?: unknown } = {}): Singleton {
    checkName('name', name)
    const election = this.election(name)
    const stop = new AbortController()
    let running = false
    const done = (async () => {
      while (!stop.signal.aborted && this.running) {
        let lease: Lease | undefined
        try {
          if (options.ttlMs !== undefined) lease = await this.grantLease({ ttlMs: options.ttlMs })
          const lead = await election.campaign(options.value ?? this.ctx.self, { signal: stop.signal, ...(lease !== undefined ? { lease } : {}) })
          const run = new AbortController()
          const signal = AbortSignal.any([lead.signal, stop.signal, run.signal])
          running = true
          let finished = false
          try {
            await fn(signal)
            finished = !signal.aborted
          } catch (err) {
            if (!signal.aborted) this.ctx.log.warn('singleton failed', { name, error: (err as Error).message })
          } finally {
            running = false
            run.abort()
          }
          await election.resign().catch(() => {})
          if (finished) break
        } catch (err) {
          if (stop.signal.aborted) break
          this.ctx.log.debug('singleton campaign failed', { name, error: (err as Error).message })
          await sleep(200, stop.signal)
        } finally {
          if (lease !== undefined && !lease.lost) await lease.revoke().catch(() => {})
        }
      }
    })()
    return {
      stop: async () => { stop.abort(new AbortedError(`singleton ${name} (stopped)`)); await election.resign().catch(() => {}); await done },
      done,
      get running () { return running }
    }
  }

  // ---------------------------------------------------------------- barriers

  barrier (name: string, options: { parties: number, timeoutMs: number, zone?: string }): Barrier {
    checkName('name', name)
    if (!Number.isSafeInteger(options.parties) || options.parties < 1 || options.parties > COORD_LIMITS.partiesMax) throw new InvalidOptionError('parties', `must be an integer in 1..${COORD_LIMITS.partiesMax}`)
    if (!Number.isSafeInteger(options.timeoutMs) || options.timeoutMs < 1 || options.timeoutMs > COORD_LIMITS.waitMsMax) throw new InvalidOptionError('timeoutMs', `must be an integer in 1..${COORD_LIMITS.waitMsMax}`)
    return {
      name,
      arrive: async (agentId, o = {}) => {
        const agent = this.ctx.lookup(agentId)
        if (agent !== undefined && agent.host !== this.ctx.self) throw new AgoraError('ERR_NOT_HOST', `agent ${agentId} is hosted by ${agent.host}, not this peer`)
        if (options.zone !== undefined && agent !== undefined && agent.zone !== options.zone) throw new InvalidOptionError('agentId', `agent ${agentId} is in zone ${String(agent.zone)}, not ${options.zone}`)
        const l = o.lease !== undefined ? (await this.leaseFor({ lease: o.lease })).l : await this.sessionLease()
        const r = await this.command({ t: 'barrier.arrive', name, parties: options.parties, agent: agentId, lease: l.id, timeoutMs: options.timeoutMs, ...(options.zone !== undefined ? { zone: options.zone } : {}) })
        const generation = r.generation as number
        if (r.released === true) return { generation }
        let rev = 0
        const bound = this.now() + options.timeoutMs + 5000
        const stop = AbortSignal.any([this.stopping.signal, ...(o.signal !== undefined ? [o.signal] : [])])
        for (;;) {
          if (o.signal?.aborted === true || this.stopping.signal.aborted) throw abortError(o.signal, `barrier ${name}`)
          const v = await this.watchJson<BarrierView>(`coord:barrier:${name}`, rev, Math.max(1, Math.min(WATCH_ROUND_MS, bound - this.now())), stop)
          if (v === ABORTED) continue
          const end = v?.history.find(h => h.generation === generation)
          if (end?.status === 'released') return { generation }
          if (end?.status === 'broken') throw end.reason === 'timeout' ? new BarrierTimeoutError(name, generation, options.timeoutMs) : new BarrierBrokenError(name, generation, end.reason ?? 'broken')
          if (v === undefined || v.generation > generation) throw new BarrierBrokenError(name, generation, 'the generation ended and is no longer remembered')
          if (this.now() > bound) throw new BarrierTimeoutError(name, generation, options.timeoutMs)
          rev = v.rev
        }
      }
    }
  }

  /** A barrier's state (linearizable). */
  async barrierState (name: string): Promise<BarrierView | undefined> {
    checkName('name', name)
    return await this.readJson<BarrierView>(`coord:barrier:${name}`)
  }

  // ---------------------------------------------------------------- votes

  /** Registers `agentId`'s ballot handler: vote requests for it are answered by proposing its choice (null abstains). */
  onVote (agentId: string, handler: VoteHandler): void {
    if (typeof handler !== 'function') throw new InvalidOptionError('handler', 'must be a function')
    if (!this.voteHandlers.has(agentId) && this.voteHandlers.size >= VOTE_HANDLERS_MAX) throw new LimitExceededError('voteHandlersMax', VOTE_HANDLERS_MAX, this.voteHandlers.size + 1, 'vote handlers')
    this.voteHandlers.set(agentId, handler)
  }

  offVote (agentId: string): void { this.voteHandlers.delete(agentId) }

  /**
   * Opens a vote, asks every voter's host (its `onVote` handler, or its daemon's HTTP voter), and
   * resolves with the decision once the machine made it (at the rule's threshold or the deadline).
   */
  async vote (spec: VoteSpec): Promise<VoteResult> {
    const voters: Array<{ agent: string, host: string }> = []
    const responses: Record<string, string> = Object.create(null) as Record<string, string>
    if (Array.isArray(spec.voters)) {
      for (const id of spec.voters) {
        const a = this.ctx.lookup(id)
        if (a === undefined) responses[id] = 'ERR_UNKNOWN_AGENT'
        else voters.push({ agent: a.id, host: a.host })
      }
    } else {
      for (const a of this.ctx.query({ reachableOnly: true, ...spec.voters }).agents) voters.push({ agent: a.id, host: a.host })
    }
    if (voters.length === 0) throw new InvalidOptionError('voters', 'no known voter')
    const rule: VoteRule = spec.rule === undefined ? { kind: 'majority' } : typeof spec.rule === 'string' ? { kind: spec.rule } : spec.rule
    const r = await this.command({ t: 'vote.open', options: spec.options, voters: voters.slice(0, COORD_LIMITS.votersMax), rule, deadlineMs: spec.deadlineMs, ...(spec.topic !== undefined ? { topic: spec.topic } : {}) })
    const id = r.vote as number
    const opened = r.voters as Array<{ agent: string, host: string }>
    const timeoutMs = spec.requestTimeoutMs ?? VOTE_REQUEST_TIMEOUT_MS
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < opened.length) {
        const v = opened[next++]!
        const res = await this.askVote(v.host, { vote: id, agent: v.agent, openedIndex: r.index }, timeoutMs)
        responses[v.agent] = res.ok ? res.outcome : res.code
      }
    }
    await Promise.all(Array.from({ length: Math.min(VOTE_REQUESTS_CONCURRENT_MAX, opened.length) }, worker))
    const decision = await this.waitDecision(id, (r.deadline as number) - this.now() + 30_000)
    return { ...decision, vote: id, responses }
  }

  private async askVote (host: string, req: { vote: number, agent: string, openedIndex: number }, timeoutMs: number): Promise<{ ok: true, outcome: string } | { ok: false, code: string, message: string }> {
    if (host === this.ctx.self) {
      try { return { ok: true, outcome: await this.answerVote(req.vote, req.agent, req.openedIndex) } } catch (err) { return { ok: false, code: (err as { code?: string }).code ?? 'ERR_HANDLER', message: (err as Error).message } }
    }
    if (this.ctx.ask === undefined) return { ok: false, code: 'ERR_UNREACHABLE', message: 'no agents request channel' }
    return await this.ctx.ask(host, req, timeoutMs)
  }

  /** Waits for vote `id`'s decision (bounded). */
  async waitDecision (id: number, timeoutMs: number): Promise<VoteDecision> {
    const bound = this.now() + Math.max(1000, timeoutMs)
    let rev = 0
    for (;;) {
      const v = await this.watchJson<VoteView>(`coord:vote:${id}`, rev, Math.max(1, Math.min(WATCH_ROUND_MS, bound - this.now())))
      if (v === undefined) throw new CoordinationError('ERR_VOTE_NOT_FOUND', `vote ${id} does not exist`)
      if (v.decided !== undefined) return v.decided
      if (this.now() >= bound) throw new TimeoutError(`vote ${id} decision`, timeoutMs)
      rev = v.rev
    }
  }

  /** A vote's state (linearizable). */
  async voteState (id: number): Promise<VoteView | undefined> {
    return await this.readJson<VoteView>(`coord:vote:${id}`)
  }

  /**
   * Answers a vote request for a local agent (from the agents' request channel or this peer): reads the
   * vote from the log (never the request's claims), asks the agent's handler and proposes its ballot.
   */
  async answerVote (vote: number, agent: string, openedIndex?: number): Promise<string> {
    try {
      const outcome = await this.ballotFor(vote, agent, openedIndex)
      this.emit('vote:answered', { vote, agent, outcome })
      return outcome
    } catch (err) {
      this.emit('vote:answered', { vote, agent, outcome: (err as { code?: string }).code ?? 'ERR_HANDLER' })
      throw err
    }
  }

  private async ballotFor (vote: number, agent: string, _openedIndex?: number): Promise<string> {
    const h = this.voteHandlers.get(agent)
    if (h === undefined) throw new AgoraError('ERR_NO_HANDLER', `agent ${agent} has no vote handler on this peer`)
    const v = await this.readJson<VoteView>(`coord:vote:${vote}`)
    if (v === undefined) throw new CoordinationError('ERR_VOTE_NOT_FOUND', `vote ${vote} does not exist`)
    if (v.decided !== undefined) throw new CoordinationError('ERR_VOTE_CLOSED', `vote ${vote} is decided`)
    const voter = v.voters.find(x => x.agent === agent)
    if (voter === undefined || voter.host !== this.ctx.self) throw new CoordinationError('ERR_NOT_VOTER', `${agent} is not a voter of vote ${vote} hosted here`)
    if (v.ballots.some(b => b.agent === agent)) return 'voted'
    this.stats.voteRequestsServed++
    let timer: ReturnType<typeof setTimeout> | undefined
    let choice: string | null
    try {
      choice = await Promise.race([
        Promise.resolve(h({ vote, agent, opener: v.opener, ...(v.topic !== undefined ? { topic: v.topic } : {}), options: v.options, deadline: v.deadline })),
        new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new TimeoutError('vote handler', VOTE_HANDLER_TIMEOUT_MS)) }, VOTE_HANDLER_TIMEOUT_MS) })
      ])
    } finally {
      clearTimeout(timer)
    }
    if (choice === null || choice === undefined) return 'abstained'
    await this.command({ t: 'vote.ballot', vote, agent, choice })
    return 'voted'
  }
}
