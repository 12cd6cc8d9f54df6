/**
 * What the daemon holds on the Raft group's coordination machine for its HTTP clients
 * (peers/coordination): leases that live only while their client keeps them alive, the locks and
 * leaderships held under them, and the requests waiting for a lock, a leadership or a barrier.
 *
 * A group lease belongs to a peer, and the peer renews all of its leases with one command per period;
 * an HTTP client is not a peer. So each HTTP lease is a lease of this daemon's peer
 * (`peer.coordination.grantLease`) with a deadline kept here: `ttlMs` from the grant, from the client's
 * last keepalive, or from the end of the client's last request that used it (a client waiting on a
 * request is alive). A lease whose deadline passes is revoked at once (checked every
 * {@link HTTP_LEASE_CHECK_MS} ms): whatever it held is free for the next waiter, as if a peer holding it
 * had crashed. A request that names no lease gets a dedicated one (`ttlMs`, default
 * {@link HTTP_LEASE_TTL_MS_DEFAULT}): a lock's or a leadership's lasts until its release (resign) or its
 * lapse, a barrier arrival's until the request ends; and a dedicated lease of a request whose client goes
 * away before the answer is revoked then (a lock waiter leaves the queue, a barrier generation breaks).
 * When the daemon stops, every lease of its peer is revoked; when it dies, they expire after their TTL.
 */
import { AgoraError, LimitExceededError } from '../base/errors.js'
import type { Logger } from '../base/log.js'
import { AbortedError, CoordinationError, LeaseLostError } from '../../peers/coordination/errors.js'
import type { Election, Lease, LockHandle, PeerCoordination } from '../../peers/coordination/service.js'

/** HTTP leases this daemon holds at once (dedicated ones included). */
export const HTTP_LEASES_MAX = 1024
/** Period of the check that revokes HTTP leases not kept alive. */
export const HTTP_LEASE_CHECK_MS = 100
/** TTL of a dedicated lease when the request names none. */
export const HTTP_LEASE_TTL_MS_DEFAULT = 10_000
/** Requests waiting at once (a lock, a campaign, a barrier, a vote's decision). */
export const COORD_WAITS_MAX = 256
/** Default and longest wait of one request (`waitMs`, a barrier's `timeoutMs`, a vote's `deadlineMs`). */
export const COORD_WAIT_MS_DEFAULT = 30_000
export const COORD_WAIT_MS_MAX = 120_000
/** Ended HTTP leases remembered, so a late keepalive learns it was lost (410) rather than unknown (404). */
export const ENDED_LEASES_REMEMBERED = 1024
/** Least time between two attempts to revoke a lease whose revocation failed. */
export const REVOKE_RETRY_MS = 1000

/** A try-lock found the lock held (409). */
export class LockHeldError extends AgoraError {
  static override readonly name = 'LockHeldError'
  constructor (name: string) {
    super('ERR_LOCK_HELD', `lock ${name} is held (try: true does not wait)`, { name })
  }
}

/** A campaign did not lead within `waitMs` (409); it left the queue. */
export class CampaignTimeoutError extends AgoraError {
  static override readonly name = 'CampaignTimeoutError'
  constructor (name: string, waitMs: number) {
    super('ERR_CAMPAIGN_TIMEOUT', `election ${name} was not won within ${waitMs} ms`, { name, waitMs })
  }
}

/** {@link COORD_WAITS_MAX} requests wait already (503). */
export class TooManyWaitsError extends AgoraError {
  static override readonly name = 'TooManyWaitsError'
  constructor () {
    super('ERR_TOO_MANY_WAITS', `${COORD_WAITS_MAX} coordination requests wait already (COORD_WAITS_MAX); retry later`, { limit: 'COORD_WAITS_MAX' })
  }
}

interface HttpLease {
  readonly id: number
  readonly lease: Lease
  readonly ttlMs: number
  /** Local time (ms) after which the lease is revoked, unless a request using it is in flight. */
  deadline: number
  /** Requests in flight under it (their client is alive). */
  busy: number
  /** Made for one request's lock, leadership or arrival (its end ends the lease). */
  readonly dedicated: boolean
  /** Keys of {@link HttpCoordination.holds} held under it. */
  readonly holds: Set<string>
}

interface Hold { kind: 'lock' | 'election', name: string, token: number, lease: HttpLease, handle?: LockHandle, election?: Election }

export interface LeaseView { lease: number, ttlMs: number, dedicated: boolean, expiresInMs: number | null, holds: Array<{ kind: 'lock' | 'election', name: string, token: number }> }
export interface Grant { name: string, token: number, lease: number, ttlMs: number }
/** Which lease a request uses: an HTTP lease by id, or a dedicated one of `ttlMs`. */
export interface LeaseChoice { lease?: number, ttlMs?: number }

const holdKey = (kind: string, name: string, token: number): string => `${kind}\n${name}\n${token}`

/** Why the peer lost a lease (the reason of its LeaseLostError). */
function lostReason (l: HttpLease): string {
  const reason = (l.lease.signal.reason as { details?: { reason?: unknown } } | undefined)?.details?.reason
  return typeof reason === 'string' ? reason : 'lost'
}

/**
 * `work`, or `signal`'s reason as soon as it aborts (peer.coordination notices an abort only between two
 * watch rounds); what `work` grants after that is given back with `undo`.
 */
async function unlessAborted<T> (work: Promise<T>, signal: AbortSignal, undo: (v: T) => Promise<void>): Promise<T> {
  let onAbort = (): void => {}
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => { reject(signal.reason) }
    if (signal.aborted) onAbort()
    else signal.addEventListener('abort', onAbort, { once: true })
  })
  try {
    return await Promise.race([work, aborted])
  } catch (err) {
    if (signal.aborted) work.then(undo, () => {}).catch(() => {})
    throw err
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
}

export class HttpCoordination {
  private readonly leases = new Map<number, HttpLease>()
  private readonly holds = new Map<string, Hold>()
  private readonly ended = new Map<number, string>()
  /** Leases whose revocation failed, with the time of the next attempt. */
  private readonly revoking = new Map<Lease, number>()
  private readonly waiting = new Set<AbortController>()
  private readonly timer: ReturnType<typeof setInterval>
  readonly stats = { leasesGranted: 0, leasesLapsed: 0, leasesLost: 0, waitsRefused: 0 }

  constructor (private readonly coord: PeerCoordination, private readonly log: Logger, private readonly now: () => number = Date.now) {
    this.timer = setInterval(() => { this.check() }, HTTP_LEASE_CHECK_MS)
    this.timer.unref()
  }

  get size (): number { return this.leases.size }

  /** Stops the checks and ends every wait (ERR_ABORTED); the peer's stop revokes the leases. */
  close (): void {
    clearInterval(this.timer)
    for (const c of this.waiting) c.abort(new AbortedError('the request (the daemon is stopping)'))
  }

  // ---------------------------------------------------------------- leases

  async grant (ttlMs: number, dedicated = false): Promise<HttpLease> {
    if (this.leases.size >= HTTP_LEASES_MAX) throw new LimitExceededError('HTTP_LEASES_MAX', HTTP_LEASES_MAX, this.leases.size + 1, 'HTTP leases of this daemon')
    const lease = await this.coord.grantLease({ ttlMs })
    const l: HttpLease = { id: lease.id, lease, ttlMs, deadline: this.now() + ttlMs, busy: 0, dedicated, holds: new Set() }
    this.leases.set(l.id, l)
    this.stats.leasesGranted++
    return l
  }

  view (l: HttpLease): LeaseView {
    return {
      lease: l.id,
      ttlMs: l.ttlMs,
      dedicated: l.dedicated,
      expiresInMs: l.busy > 0 ? null : Math.max(0, l.deadline - this.now()),
      holds: [...l.holds].map(k => this.holds.get(k)!).map(h => ({ kind: h.kind, name: h.name, token: h.token }))
    }
  }

  list (): LeaseView[] { return [...this.leases.values()].map(l => this.view(l)) }

  /**
   * The live HTTP lease `id`: 404 ERR_LEASE_NOT_FOUND when never granted here, 410 ERR_LEASE_LOST when it
   * ended; `path` names where the id came from.
   */
  get (id: number, path = 'id'): HttpLease {
    const l = this.leases.get(id)
    if (l !== undefined && !l.lease.lost) return l
    if (l !== undefined) this.drop(l, lostReason(l), true)
    const why = this.ended.get(id)
    if (why !== undefined) throw new LeaseLostError(id, why)
    throw new CoordinationError('ERR_LEASE_NOT_FOUND', `lease ${id} is not an HTTP lease of this daemon`, { path })
  }

  keepalive (id: number): LeaseView {
    const l = this.get(id)
    l.deadline = Math.max(l.deadline, this.now() + l.ttlMs)
    return this.view(l)
  }

  /** Revokes lease `id` (what it holds is free at once). */
  async revoke (id: number): Promise<void> {
    await this.end(this.get(id), 'revoked')
  }

  /** Forgets `l` and what it holds (here). */
  private drop (l: HttpLease, why: string, lost = false): void {
    if (this.leases.get(l.id) !== l) return
    this.leases.delete(l.id)
    for (const k of l.holds) this.holds.delete(k)
    this.ended.set(l.id, why)
    if (this.ended.size > ENDED_LEASES_REMEMBERED) this.ended.delete(this.ended.keys().next().value!)
    if (lost) this.stats.leasesLost++
  }

  /** Forgets `l` and revokes it in the group (retried by the checks when the group does not answer). */
  private async end (l: HttpLease, why: string): Promise<void> {
    this.drop(l, why)
    await this.revokeLease(l.lease)
  }

  private async revokeLease (lease: Lease): Promise<void> {
    try {
      await lease.revoke()
      this.revoking.delete(lease)
    } catch (err) {
      this.revoking.set(lease, this.now() + REVOKE_RETRY_MS)
      this.log.debug('an HTTP lease was not revoked; retrying', { lease: lease.id, error: (err as Error).message })
    }
  }

  private check (): void {
    const now = this.now()
    for (const l of [...this.leases.values()]) {
      if (l.lease.lost) this.drop(l, lostReason(l), true)
      else if (l.busy === 0 && now >= l.deadline) {
        this.stats.leasesLapsed++
        void this.end(l, `not kept alive within ${l.ttlMs} ms`)
      }
    }
    for (const [lease, at] of this.revoking) {
      if (lease.lost) this.revoking.delete(lease)
      else if (now >= at) { this.revoking.set(lease, Infinity); void this.revokeLease(lease) }
    }
  }

  // ---------------------------------------------------------------- waits

  /**
   * Runs `fn` as a waiting request: at most {@link COORD_WAITS_MAX} at once; its signal aborts when the
   * client goes away (`gone`) or the daemon stops.
   */
  async wait<T> (gone: AbortSignal, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (this.waiting.size >= COORD_WAITS_MAX) { this.stats.waitsRefused++; throw new TooManyWaitsError() }
    const c = new AbortController()
    const onGone = (): void => { c.abort(gone.reason) }
    if (gone.aborted) onGone()
    else gone.addEventListener('abort', onGone, { once: true })
    this.waiting.add(c)
    try {
      return await fn(c.signal)
    } finally {
      this.waiting.delete(c)
      gone.removeEventListener('abort', onGone)
    }
  }

  /**
   * Runs `fn` under the lease `o` names, or a dedicated one: the lease counts as alive while `fn` runs; a
   * dedicated lease is revoked when `fn` fails, when `signal` aborts first, and (unless `keep`) when it ends.
   */
  private async under<T> (o: LeaseChoice, signal: AbortSignal, keep: boolean, fn: (l: HttpLease) => Promise<T>): Promise<T> {
    const l = o.lease !== undefined ? this.get(o.lease, 'lease') : await this.grant(o.ttlMs ?? HTTP_LEASE_TTL_MS_DEFAULT, true)
    const onAbort = (): void => { if (l.dedicated) void this.end(l, 'its request was abandoned') }
    l.busy++
    signal.addEventListener('abort', onAbort, { once: true })
    let ok = false
    try {
      const r = await fn(l)
      ok = true
      return r
    } finally {
      signal.removeEventListener('abort', onAbort)
      l.busy--
      l.deadline = Math.max(l.deadline, this.now() + l.ttlMs)
      if (l.dedicated && (!ok || !keep || signal.aborted)) await this.end(l, ok ? 'its request ended' : 'its request failed')
    }
  }

  private hold (h: Hold): Grant {
    if (this.leases.get(h.lease.id) !== h.lease) throw new LeaseLostError(h.lease.id, this.ended.get(h.lease.id) ?? 'ended while the request waited')
    const k = holdKey(h.kind, h.name, h.token)
    this.holds.set(k, h)
    h.lease.holds.add(k)
    return { name: h.name, token: h.token, lease: h.lease.id, ttlMs: h.lease.ttlMs }
  }

  private held (kind: 'lock' | 'election', name: string, token: number): Hold {
    const h = this.holds.get(holdKey(kind, name, token))
    if (h === undefined || this.leases.get(h.lease.id) !== h.lease) throw new CoordinationError('ERR_NOT_HOLDER', `${kind} ${name} is not held through this daemon under token ${token}`, { path: 'token' })
    return h
  }

  /** Forgets hold `h`, and ends its lease when the lease was made for it. */
  private async unhold (h: Hold): Promise<void> {
    const k = holdKey(h.kind, h.name, h.token)
    this.holds.delete(k)
    h.lease.holds.delete(k)
    if (h.lease.dedicated) await this.end(h.lease, 'released')
  }

  // ---------------------------------------------------------------- locks

  /** Acquires lock `name`: waits up to `waitMs`, or with `try` not at all (null when held). */
  async lock (name: string, o: LeaseChoice & { waitMs?: number, permits?: number, try?: boolean }, signal: AbortSignal): Promise<Grant & { fence: { lock: string, token: number } }> {
    return await this.under(o, signal, true, async (l) => {
      const common = { lease: l.lease, signal, ...(o.permits !== undefined ? { permits: o.permits } : {}) }
      const work = o.try === true ? this.coord.tryLock(name, common) : this.coord.lock(name, { ...common, waitMs: o.waitMs ?? COORD_WAIT_MS_DEFAULT })
      const handle = await unlessAborted(work, signal, async (h) => { await h?.release() })
      if (handle === null) throw new LockHeldError(name)
      return { ...this.hold({ kind: 'lock', name, token: handle.token, lease: l, handle }), fence: handle.fence }
    })
  }

  /** Releases lock `name` held through this daemon under `token`. */
  async release (name: string, token: number): Promise<void> {
    const h = this.held('lock', name, token)
    if (!h.lease.dedicated) await h.handle!.release()
    await this.unhold(h)
  }

  // ---------------------------------------------------------------- elections

  async campaign (name: string, value: unknown, o: LeaseChoice & { waitMs?: number }, signal: AbortSignal): Promise<Grant> {
    return await this.under(o, signal, true, async (l) => {
      const waitMs = o.waitMs ?? COORD_WAIT_MS_DEFAULT
      const timeout = new AbortController()
      const timer = setTimeout(() => { timeout.abort(new CampaignTimeoutError(name, waitMs)) }, waitMs)
      try {
        const election = this.coord.election(name)
        const both = AbortSignal.any([signal, timeout.signal])
        const lead = await unlessAborted(election.campaign(value, { lease: l.lease, signal: both }), both, async () => { await election.resign() })
        return this.hold({ kind: 'election', name, token: lead.token, lease: l, election })
      } finally {
        clearTimeout(timer)
      }
    })
  }

  async proclaim (name: string, token: number, value: unknown): Promise<void> {
    await this.held('election', name, token).election!.proclaim(value)
  }

  async resign (name: string, token: number): Promise<void> {
    const h = this.held('election', name, token)
    await h.election!.resign()
    await this.unhold(h)
  }

  // ---------------------------------------------------------------- barriers

  async arrive (name: string, agent: string, o: LeaseChoice & { parties: number, timeoutMs: number, zone?: string }, signal: AbortSignal): Promise<{ name: string, generation: number }> {
    const barrier = this.coord.barrier(name, { parties: o.parties, timeoutMs: o.timeoutMs, ...(o.zone !== undefined ? { zone: o.zone } : {}) })
    return await this.under(o, signal, false, async (l) => {
      return { name, ...(await unlessAborted(barrier.arrive(agent, { signal, lease: l.lease }), signal, async () => {})) }
    })
  }
}
