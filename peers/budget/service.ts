/**
 * `peer.budgets`: mesh-wide budgets (FEATURES I2). A budget (a rate and a burst, in tokens) is kept in the
 * Raft log and split among the hosts that joined it by their declared capacity (protocols/infrastructure/
 * budget.ts); each host enforces its own share locally with a token bucket, so `take()` is a synchronous
 * call with no Raft round.
 *
 * - **Joining** proposes `budget.join` under this peer's coordination session lease. The share starts
 *   from the join's result (an empty bucket that fills at the share's rate).
 * - **Following.** One long poll per joined budget (`watch` of `budget:<name>`: on a member its own
 *   replica, elsewhere a member's client path) re-splits the bucket whenever the log changes the budget
 *   (a host joined, left, its lease ended, the owner changed the rate). Views older than the one held
 *   are ignored; a malformed one is counted and dropped.
 * - **Losing the lease.** The moment the coordination service counts the session lease lost (it does so
 *   before the group can expire it), this peer's share drops to zero (every `take` refused) and the
 *   service joins again under a new session lease, retrying with backoff. The others' shares grow only
 *   once the log drops this host (its lease expired there), so shares never overlap: see README.md for
 *   the bound this gives.
 */
import { DecodeError, InvalidOptionError, LimitExceededError, NotStartedError } from '../../src/base/errors.js'
import { TypedEmitter } from '../../src/base/events.js'
import type { Logger } from '../../src/base/log.js'
import { encodeBudgetCommand } from '../../protocols/mesh/application.js'
import { TokenBucket, type TakeResult } from '../../protocols/infrastructure/token-bucket.js'
import { BUDGET_LIMITS, BUDGET_NAME_RE, splitShare, type BudgetView } from '../../protocols/infrastructure/budget-types.js'
import type { PeerCoordination } from '../coordination/service.js'
import type { BudgetBackend } from './backend.js'
import { BudgetError, BudgetExhaustedError, BudgetNotJoinedError } from './errors.js'

/** Budgets one peer joins at once (each holds one long poll). */
export const JOINED_MAX = 64
/** Longest wait of one watch round of a joined budget. */
export const WATCH_ROUND_MS = 10_000
/** Pause after a watch that answered at once with nothing new, or failed (so a loop cannot spin). */
export const WATCH_IDLE_PAUSE_MS = 50
export const WATCH_RETRY_MS = 500
/** First and longest pause between two attempts to join again after the session lease was lost. */
export const REJOIN_RETRY_MS = 250
export const REJOIN_RETRY_MAX_MS = 5000
/** Largest `n` of one take. */
export const TAKE_MAX = 1_000_000_000

export type BudgetState = 'joining' | 'active' | 'rejoining' | 'deleted'

/** What this peer holds of a joined budget (`peer.budgets.status(name)`). */
export interface BudgetStatus {
  name: string
  /** The capacity this peer declared. */
  capacity: number
  /**
   * `joining` (first join in flight), `active` (holds a share), `rejoining` (its lease was lost or the log
   * dropped it: no share until it joined again), `deleted` (the budget was deleted).
   */
  state: BudgetState
  /** The lease the share is tied to (absent while it holds none). */
  lease?: number
  /** This host's share now (0 tokens per second while it holds none). */
  share: { ratePerSecond: number, burst: number }
  /** Tokens in the bucket now. */
  available: number
  /** The budget as the last view applied here says (absent before the first). */
  budget?: { ratePerSecond: number, burst: number, owner: string, capacity: number, rev: number, hosts: Array<{ host: string, capacity: number, ratePerSecond: number, burst: number }> }
  /** Tokens taken and takes refused here. */
  admitted: number
  refused: number
}

export interface PeerBudgetsEvents extends Record<string, unknown> {
  /** This peer's share of a budget changed (re-split, joined, lost, deleted). */
  'budget:share': { name: string, state: BudgetState, ratePerSecond: number, burst: number, hosts: number, rev: number }
}

interface Joined {
  name: string
  capacity: number
  state: BudgetState
  lease: number | undefined
  /** Log index of the join the current lease made (a view from at or after it without this host: dropped). */
  joinIndex: number
  view: BudgetView | undefined
  bucket: TokenBucket | undefined
  admitted: number
  refused: number
  /** Aborted by leave() and stop(): ends the watch loop and the rejoin loop. */
  controller: AbortController
  offLease: (() => void) | undefined
  following: boolean
  rejoining: boolean
}

interface Ctx {
  self: string
  log: Logger
  coordination: Pick<PeerCoordination, 'sessionLeaseOf'>
  /** Monotonic clock (ms) of the buckets (default performance.now). */
  now?: () => number
}

const NO_SHARE = Object.freeze({ ratePerSecond: 0, burst: 0 })

/** Resolves after `ms` or when `signal` aborts (never rejects). */
function sleep (ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise(resolve => {
    if (signal?.aborted === true) { resolve(); return }
    const t = setTimeout(done, ms)
    function done (): void { clearTimeout(t); signal?.removeEventListener('abort', done); resolve() }
    signal?.addEventListener('abort', done, { once: true })
  })
}

function checkName (name: unknown): asserts name is string {
  if (typeof name !== 'string' || !BUDGET_NAME_RE.test(name)) throw new InvalidOptionError('name', `must be 1..${BUDGET_LIMITS.nameCharsMax} characters of [A-Za-z0-9._:-]`)
}

/**
 * A budget view from the log (a member's answer: network input), checked: undefined when malformed.
 * Only what the split needs is kept; the shares are computed here, never taken from the answer.
 */
/** JSON text a member answered, parsed; malformed text is a {@link DecodeError} naming what was read. */
function parseAnswer (raw: string, what: string): unknown {
  try {
    return JSON.parse(raw)
  } catch (err) {
    throw new DecodeError(what, `the member answered malformed JSON (${(err as Error).message})`)
  }
}

export function checkBudgetView (x: unknown): BudgetView | undefined {
  const o = x as Record<string, unknown> | null
  if (o === null || typeof o !== 'object' || Array.isArray(o)) return undefined
  const num = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0
  if (typeof o.name !== 'string' || !BUDGET_NAME_RE.test(o.name) || typeof o.owner !== 'string' || !num(o.ratePerSecond) || !num(o.burst) || !Number.isSafeInteger(o.rev) || !Number.isSafeInteger(o.index)) return undefined
  if (!Array.isArray(o.hosts) || o.hosts.length > BUDGET_LIMITS.hostsPerBudgetMax) return undefined
  const hosts: BudgetView['hosts'] = []
  let total = 0
  for (const h of o.hosts as unknown[]) {
    const r = h as Record<string, unknown> | null
    if (r === null || typeof r !== 'object' || typeof r.host !== 'string' || r.host.length > BUDGET_LIMITS.hostCharsMax) return undefined
    if (!Number.isSafeInteger(r.capacity) || (r.capacity as number) < 1 || (r.capacity as number) > BUDGET_LIMITS.capacityMax || !Number.isSafeInteger(r.lease) || !Number.isSafeInteger(r.since)) return undefined
    total += r.capacity as number
    hosts.push({ host: r.host, capacity: r.capacity as number, lease: r.lease as number, since: r.since as number, ratePerSecond: 0, burst: 0 })
  }
  for (const h of hosts) Object.assign(h, splitShare(o.ratePerSecond, o.burst, h.capacity, total))
  return { name: o.name, ratePerSecond: o.ratePerSecond, burst: o.burst, owner: o.owner, index: o.index as number, rev: o.rev as number, capacity: total, hosts }
}

export class PeerBudgets extends TypedEmitter<PeerBudgetsEvents> {
  private backend: BudgetBackend | undefined
  private readonly joined = new Map<string, Joined>()
  private running = false
  private readonly now: () => number
  readonly stats = { joins: 0, rejoins: 0, leasesLost: 0, resplits: 0, malformedViews: 0, watchFailures: 0 }

  constructor (private readonly ctx: Ctx) {
    super()
    this.now = ctx.now ?? (() => performance.now())
  }

  /** @internal where commands go (the member's driver or the client path). */
  setBackend (b: BudgetBackend): void { this.backend = b }

  get isStarted (): boolean { return this.running }

  /** Starts (idempotent). Budgets are joined with {@link join}. */
  start (): void {
    this.running = true
  }

  /**
   * Stops (idempotent): every joined budget is forgotten here and its loops end. The shares end in the log
   * with this peer's session lease (revoked by a graceful stop, expired after a silent one).
   */
  stop (): void {
    if (!this.running) return
    this.running = false
    for (const j of this.joined.values()) this.forget(j)
    this.joined.clear()
  }

  private need (): BudgetBackend {
    if (!this.running || this.backend === undefined) throw new NotStartedError('budgets')
    return this.backend
  }

  /** Proposes a budget command; its result, or the machine's refusal as a {@link BudgetError}. */
  private async command (cmd: Record<string, unknown>): Promise<Record<string, unknown> & { index: number }> {
    const p = await this.need().propose(encodeBudgetCommand(cmd))
    const r = p.result as Record<string, unknown> | null
    if (r === null || typeof r !== 'object') throw new BudgetError('ERR_INDEFINITE', `${String(cmd.t)}: no result (outcome unknown)`)
    if (r.ok !== true) throw new BudgetError(typeof r.code === 'string' ? r.code : 'ERR_BUDGET', typeof r.message === 'string' ? r.message : 'refused')
    return { ...r, index: p.index }
  }

  // ---------------------------------------------------------------- the log's side

  /**
   * Creates budget `name` (this peer owns it) or, as its owner (or an economy authority), changes its rate
   * and burst; the same values from any peer change nothing. Every host's share follows.
   */
  async define (name: string, options: { ratePerSecond: number, burst: number }): Promise<BudgetView & { created: boolean, changed: boolean }> {
    checkName(name)
    const { ratePerSecond, burst } = options ?? {}
    if (typeof ratePerSecond !== 'number' || !Number.isFinite(ratePerSecond) || ratePerSecond < 0 || ratePerSecond > BUDGET_LIMITS.ratePerSecondMax) throw new InvalidOptionError('ratePerSecond', `must be a number in 0..${BUDGET_LIMITS.ratePerSecondMax}`)
    if (!Number.isSafeInteger(burst) || burst < 1 || burst > BUDGET_LIMITS.burstMax) throw new InvalidOptionError('burst', `must be an integer in 1..${BUDGET_LIMITS.burstMax}`)
    const r = await this.command({ t: 'budget.define', name, ratePerSecond, burst })
    const view = this.checked(r.budget)
    if (view === undefined) throw new BudgetError('ERR_DECODE', `budget.define: the group's answer is malformed`)
    const j = this.joined.get(name)
    if (j !== undefined) this.applyView(j, view)
    return { ...view, created: r.created === true, changed: r.changed === true }
  }

  /** Deletes budget `name` (its owner or an economy authority): every share ends. */
  async delete (name: string): Promise<void> {
    checkName(name)
    await this.command({ t: 'budget.delete', name })
    const j = this.joined.get(name)
    if (j !== undefined) this.applyView(j, undefined)
  }

  /** The budget with every host's share, linearizable (undefined when absent). */
  async get (name: string): Promise<BudgetView | undefined> {
    checkName(name)
    const raw = await this.need().read(`budget:${name}`)
    if (raw === undefined || raw === null) return undefined
    const view = checkBudgetView(parseAnswer(raw, `budget:${name}`))
    if (view === undefined) throw new DecodeError(`budget:${name}`, 'the member answered a malformed budget view')
    return view
  }

  /** Names of the budgets (sorted, at most BUDGET_LIMITS.listPageMax), linearizable. */
  async list (): Promise<string[]> {
    const raw = await this.need().read('budgets:all')
    if (raw === undefined || raw === null) return []
    const names = parseAnswer(raw, 'budgets:all')
    if (!Array.isArray(names) || names.length > BUDGET_LIMITS.listPageMax || !names.every(n => typeof n === 'string' && BUDGET_NAME_RE.test(n))) {
      throw new DecodeError('budgets:all', 'the member answered a malformed list of budget names')
    }
    return names as string[]
  }

  // ---------------------------------------------------------------- this host's share

  /**
   * Takes a share of budget `name` in proportion to `capacity` (an integer, 1..1,000,000), tied to this
   * peer's session lease; joining again changes the capacity. Resolves once the join is in the log, with
   * this peer's status (its share starts empty and fills at its rate).
   */
  async join (name: string, options: { capacity: number }): Promise<BudgetStatus> {
    checkName(name)
    const capacity = options?.capacity
    if (!Number.isSafeInteger(capacity) || capacity < 1 || capacity > BUDGET_LIMITS.capacityMax) throw new InvalidOptionError('capacity', `must be an integer in 1..${BUDGET_LIMITS.capacityMax}`)
    this.need()
    let j = this.joined.get(name)
    const fresh = j === undefined || j.state === 'deleted'
    if (fresh) {
      if (j === undefined && this.joined.size >= JOINED_MAX) throw new LimitExceededError('joinedMax', JOINED_MAX, this.joined.size + 1, 'budgets joined on this peer')
      if (j !== undefined) this.forget(j)
      j = { name, capacity, state: 'joining', lease: undefined, joinIndex: 0, view: undefined, bucket: undefined, admitted: 0, refused: 0, controller: new AbortController(), offLease: undefined, following: false, rejoining: false }
      this.joined.set(name, j)
    }
    const cur = j!
    cur.capacity = capacity
    try {
      await this.joinOnce(cur)
    } catch (err) {
      if (fresh && this.joined.get(name) === cur) { this.forget(cur); this.joined.delete(name) }
      throw err
    }
    this.stats.joins++
    void this.follow(cur)
    return this.statusOf(cur)
  }

  /** Gives this peer's share of `name` back (at once here; in the log once the leave is applied). */
  async leave (name: string): Promise<void> {
    checkName(name)
    const j = this.joined.get(name)
    if (j !== undefined) { this.forget(j); this.joined.delete(name) }
    try {
      await this.command({ t: 'budget.leave', name })
    } catch (err) {
      if ((err as { code?: string }).code !== 'ERR_BUDGET_NOT_FOUND') throw err
    }
  }

  /**
   * Takes `n` tokens (default 1) from this peer's share of `name`, at once and locally: `{ ok: true }`, or
   * `{ ok: false, retryAfterMs }` when the share holds too few now (Infinity: never at this share).
   * Throws BudgetNotJoinedError when `name` is not joined here. The call of hot paths.
   */
  tryTake (name: string, n = 1): TakeResult {
    const j = this.joined.get(name)
    if (j === undefined) throw new BudgetNotJoinedError(name)
    if (!(n >= 1 && n <= TAKE_MAX)) throw new InvalidOptionError('n', `must be a number in 1..${TAKE_MAX}`)
    const b = j.bucket
    if (b === undefined) {
      j.refused++
      return { ok: false, retryAfterMs: j.state === 'deleted' ? Number.POSITIVE_INFINITY : REJOIN_RETRY_MS }
    }
    const r = b.take(this.now(), n)
    if (r.ok) j.admitted += n
    else j.refused++
    return r
  }

  /**
   * Like {@link tryTake}, but a refusal throws BudgetExhaustedError (`ERR_BUDGET_EXHAUSTED`,
   * `details.retryAfterMs`).
   */
  take (name: string, n = 1): void {
    const r = this.tryTake(name, n)
    if (r.ok) return
    const j = this.joined.get(name)!
    const why = j.bucket === undefined
      ? (j.state === 'deleted' ? 'the budget was deleted' : 'this host holds no share now (its lease was lost; joining again)')
      : r.retryAfterMs === Number.POSITIVE_INFINITY ? `more than this host's burst (${j.bucket.options.burst})` : 'this host\'s share is used up'
    throw new BudgetExhaustedError(name, r.retryAfterMs, why)
  }

  /** This peer's status of joined budget `name` (undefined when not joined). Local: no Raft round. */
  status (name: string): BudgetStatus | undefined {
    const j = this.joined.get(name)
    return j === undefined ? undefined : this.statusOf(j)
  }

  /** Every budget joined here. */
  statuses (): BudgetStatus[] {
    return [...this.joined.values()].map(j => this.statusOf(j))
  }

  private statusOf (j: Joined): BudgetStatus {
    const v = j.view
    return {
      name: j.name,
      capacity: j.capacity,
      state: j.state,
      ...(j.lease !== undefined && j.bucket !== undefined ? { lease: j.lease } : {}),
      share: j.bucket === undefined ? { ...NO_SHARE } : j.bucket.options,
      available: j.bucket?.available(this.now()) ?? 0,
      ...(v !== undefined ? { budget: { ratePerSecond: v.ratePerSecond, burst: v.burst, owner: v.owner, capacity: v.capacity, rev: v.rev, hosts: v.hosts.map(h => ({ host: h.host, capacity: h.capacity, ratePerSecond: h.ratePerSecond, burst: h.burst })) } } : {}),
      admitted: j.admitted,
      refused: j.refused
    }
  }

  // ---------------------------------------------------------------- following the log

  /** One join under the current session lease; the share follows its result. */
  private async joinOnce (j: Joined): Promise<void> {
    const s = await this.ctx.coordination.sessionLeaseOf()
    const r = await this.command({ t: 'budget.join', name: j.name, capacity: j.capacity, lease: s.id })
    if (this.joined.get(j.name) !== j || j.controller.signal.aborted) {
      // Left meanwhile: a leave that reached the log first left nothing, so this join's share is given
      // back (unless the budget was joined here again since, or the peer stops: its lease then ends).
      if (this.running && !this.joined.has(j.name)) {
        await this.command({ t: 'budget.leave', name: j.name }).catch((err: Error) => { this.ctx.log.warn('a share taken after its budget was left here could not be given back', { budget: j.name, error: err.message }) })
      }
      return
    }
    j.offLease?.()
    j.lease = s.id
    j.joinIndex = r.index
    const lost = (): void => { this.leaseLost(j, s.id) }
    s.signal.addEventListener('abort', lost, { once: true })
    j.offLease = () => { s.signal.removeEventListener('abort', lost) }
    if (s.signal.aborted) { this.leaseLost(j, s.id); return }
    j.state = 'active'
    // A malformed answer leaves the share to the watch.
    const view = this.checked(r.budget)
    if (view !== undefined) this.applyView(j, view)
  }

  /** A view from an answer (network input on the client path), checked; undefined (counted, logged) when malformed. */
  private checked (x: unknown): BudgetView | undefined {
    const v = checkBudgetView(x)
    if (v === undefined) {
      this.stats.malformedViews++
      this.ctx.log.warn('a malformed budget view was dropped')
    }
    return v
  }

  /** The session lease of `j`'s share was lost here: no share from now on, then join again. */
  private leaseLost (j: Joined, lease: number): void {
    if (j.lease !== lease || this.joined.get(j.name) !== j) return
    this.stats.leasesLost++
    this.ctx.log.info('budget share dropped: the session lease was lost', { budget: j.name, lease })
    this.dropShare(j)
    void this.rejoin(j)
  }

  private dropShare (j: Joined): void {
    j.offLease?.()
    j.offLease = undefined
    j.lease = undefined
    j.bucket = undefined
    if (j.state !== 'deleted') j.state = 'rejoining'
    this.emitShare(j)
  }

  /** Joins again (new session lease), with backoff, until it works, the budget is gone, or `j` is forgotten. */
  private async rejoin (j: Joined): Promise<void> {
    if (j.rejoining) return
    j.rejoining = true
    let pause = REJOIN_RETRY_MS
    try {
      while (this.running && this.joined.get(j.name) === j && !j.controller.signal.aborted && j.state === 'rejoining') {
        try {
          await this.joinOnce(j)
          this.stats.rejoins++
          return
        } catch (err) {
          if ((err as { code?: string }).code === 'ERR_BUDGET_NOT_FOUND') { this.applyView(j, undefined); return }
          this.ctx.log.debug('budget not joined again yet', { budget: j.name, error: (err as Error).message })
        }
        await sleep(pause, j.controller.signal)
        pause = Math.min(REJOIN_RETRY_MAX_MS, pause * 2)
      }
    } finally {
      j.rejoining = false
    }
  }

  /** The long poll of `budget:<name>` that keeps `j`'s share at what the log says. */
  private async follow (j: Joined): Promise<void> {
    if (j.following) return
    j.following = true
    try {
      while (this.running && this.joined.get(j.name) === j && !j.controller.signal.aborted && j.state !== 'deleted') {
        const b = this.backend
        if (b === undefined) break
        const rev = j.view?.rev ?? 0
        const asked = this.now()
        let raw: string | undefined
        try {
          raw = await b.watch(`budget:${j.name}`, rev, WATCH_ROUND_MS)
        } catch (err) {
          this.stats.watchFailures++
          this.ctx.log.debug('budget watch failed', { budget: j.name, error: (err as Error).message })
          await sleep(WATCH_RETRY_MS, j.controller.signal)
          continue
        }
        if (j.controller.signal.aborted || this.joined.get(j.name) !== j) break
        let view: BudgetView | undefined
        if (raw !== undefined && raw !== null) {
          let parsed: unknown
          try { parsed = JSON.parse(raw) } catch { parsed = undefined }
          view = this.checked(parsed)
          if (view === undefined || view.name !== j.name) {
            if (view !== undefined) this.stats.malformedViews++
            await sleep(WATCH_RETRY_MS, j.controller.signal)
            continue
          }
        }
        this.applyView(j, view)
        // A watch that answered at once with nothing new must not make this loop spin.
        if ((view?.rev ?? 0) === rev && this.now() - asked < WATCH_ROUND_MS / 2) await sleep(WATCH_IDLE_PAUSE_MS, j.controller.signal)
      }
    } finally {
      j.following = false
    }
  }

  /**
   * Sets `j`'s share from a view of the budget (undefined: deleted). A view older than the one held is
   * ignored; one from at or after this peer's join that no longer lists it under its lease means the log
   * dropped it (its lease ended there): no share, join again.
   */
  private applyView (j: Joined, view: BudgetView | undefined): void {
    if (view === undefined) {
      if (j.state === 'deleted') return
      j.view = undefined
      j.state = 'deleted'
      this.dropShare(j)
      return
    }
    // The newest view decides (a watch may have brought a later one than a join's result).
    if (j.view === undefined || view.rev >= j.view.rev) j.view = view
    const v = j.view
    if (j.state !== 'active' || j.lease === undefined) return
    const mine = v.hosts.find(h => h.host === this.ctx.self)
    if (mine === undefined || mine.lease !== j.lease) {
      if (v.rev >= j.joinIndex) {
        this.ctx.log.info('budget share dropped: the log no longer lists this host', { budget: j.name, rev: v.rev })
        this.dropShare(j)
        void this.rejoin(j)
      }
      return
    }
    const share = { ratePerSecond: mine.ratePerSecond, burst: mine.burst }
    const now = this.now()
    if (j.bucket === undefined) {
      // A new share starts empty and fills at its rate (a host joining adds no burst at once).
      j.bucket = new TokenBucket(share, now)
      j.bucket.take(now, share.burst)
    } else {
      const o = j.bucket.options
      if (o.ratePerSecond === share.ratePerSecond && o.burst === share.burst) return
      j.bucket.reconfigure(share, now)
      this.stats.resplits++
    }
    this.emitShare(j)
  }

  private emitShare (j: Joined): void {
    const o = j.bucket?.options ?? NO_SHARE
    this.emit('budget:share', { name: j.name, state: j.state, ratePerSecond: o.ratePerSecond, burst: o.burst, hosts: j.view?.hosts.length ?? 0, rev: j.view?.rev ?? 0 })
  }

  private forget (j: Joined): void {
    j.controller.abort()
    j.offLease?.()
    j.offLease = undefined
    j.bucket = undefined
  }
}
