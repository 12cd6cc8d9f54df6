/**
 * The coordination state machine (C1–C4): leases, locks and semaphores with fencing tokens, elections,
 * barriers and votes, applied from the Raft log on every replica alike. Pure and deterministic: its only
 * time is log time, the largest proposal stamp (`ApplyMeta.at`) of the entries applied so far, and every
 * deadline (a lease's expiry, a waiter's, a barrier's, a vote's) is acted on when an entry moves log time
 * past it. README.md beside this file states the semantics and what they guarantee.
 */
import { DecodeError } from '../../src/base/errors.js'
import { TypedEmitter } from '../../src/base/events.js'
import { MinHeap } from '../../src/base/heap.js'
import { isRefusal, refuse as fail, refusing } from '../../src/base/refusal.js'
import { isReservedName, isWellFormed } from '../../src/base/input.js'
import { readCoordListing } from './listings.js'
import { COORD_LIMITS, COORD_NAME_RE, type BarrierOutcome, type BarrierView, type CoordCommand, type CoordEvent, type CoordEvents, type CoordFailure, type CoordHooks, type HolderView, type LeaseView, type LockKind, type LockView, type VoteDecision, type VoteRule, type VoteView } from './types.js'

const dec = new TextDecoder()
const L = COORD_LIMITS
/** Lease ids one `coord:leases:` read returns. */
export const LEASE_PAGE = 1000

interface Lease { id: number, owner: string, ttlMs: number, expiresAt: number, holds: Set<string>, barriers: Set<string> }
interface Holder { lease: number, token: number, since: number, value?: string }
interface Waiter { ticket: number, lease: number, deadline: number, value?: string }
interface LockRec { kind: LockKind, name: string, permits: number, holders: Holder[], waiters: Waiter[], newest: number, rev: number }
interface Arrival { agent: string, lease: number, owner: string }
interface BarrierRec { name: string, parties: number, zone?: string, generation: number, arrivals: Arrival[], deadline: number, rev: number, history: BarrierOutcome[] }
interface VoteRec { id: number, opener: string, topic?: string, options: string[], voters: Array<{ agent: string, host: string, weight: number }>, rule: VoteRule, deadline: number, ballots: Map<string, { choice: string, weight: number, index: number }>, decided?: VoteDecision, rev: number }

/** Deadline kinds, in the order they are handled when due at the same time. */
const K_LEASE = 0
const K_WAITER = 1
const K_BARRIER = 2
const K_VOTE = 3
interface Due { at: number, kind: number, id: number, key: string }

function before (a: Due, b: Due): boolean {
  if (a.at !== b.at) return a.at < b.at
  if (a.kind !== b.kind) return a.kind < b.kind
  if (a.id !== b.id) return a.id < b.id
  return a.key < b.key
}


function lockKey (kind: LockKind, name: string): string { return kind === 'lock' ? `l:${name}` : `e:${name}` }

function isId (s: unknown, max: number = L.idCharsMax): s is string {
  return typeof s === 'string' && s.length > 0 && s.length <= max && isWellFormed(s) && !isReservedName(s)
}

function isMs (v: unknown, min: number, max: number): v is number {
  return Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max
}

function isIndex (v: unknown): v is number { return Number.isSafeInteger(v) && (v as number) >= 1 }

/** Checks a command's shape on its own (no state): what apply refuses first, and what a member checks before proposing. */
export function admitCoordCommand (raw: unknown): { code: string, message: string } | undefined {
  const r = refusing(() => parseCommand(raw))
  return isRefusal(r) ? { code: r.code, message: r.message } : undefined
}

function checkValue (v: unknown): string | undefined {
  if (v === undefined) return undefined
  if (typeof v !== 'string' || Buffer.byteLength(v) > L.valueBytesMax || !isWellFormed(v)) fail('ERR_INVALID_COMMAND', `value must be JSON text of at most ${L.valueBytesMax} bytes`)
  try { JSON.parse(v) } catch { fail('ERR_INVALID_COMMAND', 'value is not JSON') }
  return v
}

function parseCommand (raw: unknown): CoordCommand {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail('ERR_INVALID_COMMAND', 'a coordination command is a JSON object')
  const c = raw as Record<string, unknown>
  const kind = (): LockKind => {
    if (c.kind === undefined || c.kind === 'lock') return 'lock'
    if (c.kind === 'election') return 'election'
    return fail('ERR_INVALID_COMMAND', 'kind must be lock or election')
  }
  const name = (): string => typeof c.name === 'string' && COORD_NAME_RE.test(c.name) ? c.name : fail('ERR_INVALID_COMMAND', 'name must be 1..128 characters of [A-Za-z0-9._:/-]')
  switch (c.t) {
    case 'tick': case 'epoch': return { t: c.t }
    case 'lease.grant':
      if (!isMs(c.ttlMs, L.leaseTtlMsMin, L.leaseTtlMsMax)) fail('ERR_INVALID_COMMAND', `ttlMs must be an integer in ${L.leaseTtlMsMin}..${L.leaseTtlMsMax}`)
      return { t: 'lease.grant', ttlMs: c.ttlMs }
    case 'lease.keepalive':
      if (c.n !== undefined && !(Number.isSafeInteger(c.n) && (c.n as number) >= 0)) fail('ERR_INVALID_COMMAND', 'n must be a count')
      return c.n === undefined ? { t: 'lease.keepalive' } : { t: 'lease.keepalive', n: c.n as number }
    case 'lease.revoke':
      if (c.lease !== 'all' && !isIndex(c.lease)) fail('ERR_INVALID_COMMAND', 'lease must be a lease id or "all"')
      return { t: 'lease.revoke', lease: c.lease }
    case 'lock.acquire': {
      const k = kind()
      const n = name()
      if (!isIndex(c.lease)) fail('ERR_INVALID_COMMAND', 'lease must be a lease id')
      if (c.permits !== undefined && (!isMs(c.permits, 1, L.permitsMax) || k === 'election')) fail('ERR_INVALID_COMMAND', `permits must be an integer in 1..${L.permitsMax} (locks only)`)
      if (c.wait !== undefined && typeof c.wait !== 'boolean') fail('ERR_INVALID_COMMAND', 'wait must be a boolean')
      if (c.waitMs !== undefined && !isMs(c.waitMs, 1, L.waitMsMax)) fail('ERR_INVALID_COMMAND', `waitMs must be an integer in 1..${L.waitMsMax}`)
      if (k === 'lock' && c.value !== undefined) fail('ERR_INVALID_COMMAND', 'only an election candidate has a value')
      const out: CoordCommand = { t: 'lock.acquire', kind: k, name: n, lease: c.lease }
      if (c.permits !== undefined) out.permits = c.permits as number
      if (c.wait === true) out.wait = true
      if (c.waitMs !== undefined) out.waitMs = c.waitMs as number
      const v = checkValue(c.value)
      if (v !== undefined) out.value = v
      return out
    }
    case 'lock.release':
      if (!isIndex(c.token)) fail('ERR_INVALID_COMMAND', 'token must be a token')
      return { t: 'lock.release', kind: kind(), name: name(), token: c.token }
    case 'lock.cancel':
      if (!isIndex(c.ticket)) fail('ERR_INVALID_COMMAND', 'ticket must be a ticket')
      return { t: 'lock.cancel', kind: kind(), name: name(), ticket: c.ticket }
    case 'election.proclaim': {
      if (!isIndex(c.token)) fail('ERR_INVALID_COMMAND', 'token must be a token')
      const v = checkValue(c.value) ?? fail('ERR_INVALID_COMMAND', 'value is required')
      return { t: 'election.proclaim', name: name(), token: c.token, value: v }
    }
    case 'barrier.arrive': {
      const n = name()
      if (!isMs(c.parties, 1, L.partiesMax)) fail('ERR_INVALID_COMMAND', `parties must be an integer in 1..${L.partiesMax}`)
      if (!isId(c.agent)) fail('ERR_INVALID_COMMAND', 'agent must be an agent id')
      if (!isIndex(c.lease)) fail('ERR_INVALID_COMMAND', 'lease must be a lease id')
      if (!isMs(c.timeoutMs, 1, L.waitMsMax)) fail('ERR_INVALID_COMMAND', `timeoutMs must be an integer in 1..${L.waitMsMax}`)
      if (c.zone !== undefined && !isId(c.zone)) fail('ERR_INVALID_COMMAND', 'zone must be a zone name')
      const out: CoordCommand = { t: 'barrier.arrive', name: n, parties: c.parties, agent: c.agent, lease: c.lease, timeoutMs: c.timeoutMs }
      if (c.zone !== undefined) out.zone = c.zone as string
      return out
    }
    case 'vote.open': {
      if (c.topic !== undefined && !isId(c.topic, L.topicCharsMax)) fail('ERR_INVALID_COMMAND', `topic must be at most ${L.topicCharsMax} characters`)
      if (!Array.isArray(c.options) || c.options.length < 1 || c.options.length > L.optionsMax || !c.options.every(o => isId(o)) || new Set(c.options).size !== c.options.length) fail('ERR_INVALID_COMMAND', `options must be 1..${L.optionsMax} distinct names`)
      if (!Array.isArray(c.voters) || c.voters.length < 1 || c.voters.length > L.votersMax) fail('ERR_INVALID_COMMAND', `voters must list 1..${L.votersMax} agents`)
      const seen = new Set<string>()
      const voters: Array<{ agent: string, host: string }> = []
      for (const v of c.voters as unknown[]) {
        const o = v as Record<string, unknown> | null
        if (o === null || typeof o !== 'object' || !isId(o.agent) || !isId(o.host, 256)) fail('ERR_INVALID_COMMAND', 'a voter is { agent, host }')
        if (seen.has(o.agent)) fail('ERR_INVALID_COMMAND', `voter ${o.agent} is listed twice`)
        seen.add(o.agent)
        voters.push({ agent: o.agent, host: o.host })
      }
      const r = c.rule as Record<string, unknown> | null
      if (r === null || typeof r !== 'object' || !['majority', 'quorum', 'unanimous', 'weighted'].includes(r.kind as string)) fail('ERR_INVALID_COMMAND', 'rule.kind must be majority, quorum, unanimous or weighted')
      const rule: VoteRule = { kind: r.kind as VoteRule['kind'] }
      if (rule.kind === 'quorum') {
        if (!isMs(r.n, 1, voters.length)) fail('ERR_INVALID_COMMAND', 'a quorum rule needs n in 1..voters')
        rule.n = r.n
      } else if (r.n !== undefined) fail('ERR_INVALID_COMMAND', 'only a quorum rule has n')
      if (!isMs(c.deadlineMs, 1, L.waitMsMax)) fail('ERR_INVALID_COMMAND', `deadlineMs must be an integer in 1..${L.waitMsMax}`)
      const out: CoordCommand = { t: 'vote.open', options: [...c.options as string[]], voters, rule, deadlineMs: c.deadlineMs }
      if (c.topic !== undefined) out.topic = c.topic as string
      return out
    }
    case 'vote.ballot':
      if (!isIndex(c.vote)) fail('ERR_INVALID_COMMAND', 'vote must be a vote id')
      if (!isId(c.agent) || !isId(c.choice)) fail('ERR_INVALID_COMMAND', 'agent and choice must be names')
      return { t: 'vote.ballot', vote: c.vote, agent: c.agent, choice: c.choice }
    default:
      return fail('ERR_INVALID_COMMAND', 'unknown coordination command')
  }
}

/** Decodes `u8 COORD_TAG · JSON` (the tag already checked by the caller) into a checked command or a failure. */
export function decodeCoordCommand (command: Uint8Array): CoordCommand | CoordFailure {
  let raw: unknown
  try { raw = JSON.parse(dec.decode(command.subarray(1))) } catch { return { ok: false, code: 'ERR_INVALID_COMMAND', message: 'a coordination command is JSON' } }
  return refusing(() => parseCommand(raw))
}

export class CoordinationMachine extends TypedEmitter<CoordEvents> {
  /** Log time (ms): the largest proposal stamp applied. */
  now = 0
  private leases = new Map<number, Lease>()
  private leasesByOwner = new Map<string, Set<number>>()
  private locks = new Map<string, LockRec>()
  /** Idle lock records (no holder, no waiter), oldest first. */
  private idle = new Map<string, true>()
  /** The newest token of every forgotten lock record (a fence on a forgotten lock compares with it). */
  private fenceFloor = 0
  private waiterCount = 0
  private barriers = new Map<string, BarrierRec>()
  private votes = new Map<number, VoteRec>()
  private openVotes = 0
  /** Deadlines, earliest first; stale ones are skipped when popped (checked against the state). */
  private heap = new MinHeap<Due>(before)
  /** The index being applied (events and grants carry it). */
  private index = 0
  readonly stats = { applied: 0, refused: 0, expired: 0, grants: 0, waits: 0, timeouts: 0 }

  constructor (private readonly hooks: CoordHooks = {}) {
    super()
  }

  // ---------------------------------------------------------------- apply

  /**
   * Moves log time to `at` (when later) and acts on every deadline it passed. The mesh application calls
   * it for every entry it applies, before the entry's own command.
   */
  advance (at: number, index: number): void {
    this.index = index
    if (at > this.now) this.now = at
    this.runDeadlines()
  }

  /** Applies a decoded command from `origin` (the signed proposer) at `index`. */
  apply (cmd: CoordCommand, index: number, origin: string): unknown {
    this.index = index
    const r = refusing(() => this.dispatch(cmd, origin))
    if (isRefusal(r)) this.stats.refused++
    else this.stats.applied++
    return r
  }

  private dispatch (c: CoordCommand, origin: string): unknown {
    switch (c.t) {
      case 'tick': return { ok: true, now: this.now }
      case 'epoch': return this.epoch()
      case 'lease.grant': return this.grant(c.ttlMs, origin)
      case 'lease.keepalive': return this.keepalive(origin, c.n)
      case 'lease.revoke': return this.revoke(c.lease, origin)
      case 'lock.acquire': return this.acquire(c, origin)
      case 'lock.release': return this.release(c.kind ?? 'lock', c.name, c.token, origin)
      case 'lock.cancel': return this.cancel(c.kind ?? 'lock', c.name, c.ticket, origin)
      case 'election.proclaim': return this.proclaim(c.name, c.token, c.value, origin)
      case 'barrier.arrive': return this.arrive(c, origin)
      case 'vote.open': return this.openVote(c, origin)
      case 'vote.ballot': return this.ballot(c.vote, c.agent, c.choice, origin)
    }
  }

  private emitEvent (e: CoordEvent): void {
    if (this.listenerCount('coord:event') > 0) this.emit('coord:event', e)
  }

  // ---------------------------------------------------------------- leases

  /**
   * A new leader's first entry: every lease gets a full TTL from now, so leases do not expire for the
   * time the group had no leader to commit their keepalives (what etcd's lessor does on promotion).
   */
  private epoch (): unknown {
    for (const l of this.leases.values()) {
      const at = this.now + l.ttlMs
      if (at > l.expiresAt) { l.expiresAt = at; this.heap.push({ at, kind: K_LEASE, id: l.id, key: '' }) }
    }
    return { ok: true, leases: this.leases.size, now: this.now }
  }

  private grant (ttlMs: number, owner: string): unknown {
    if (this.leases.size >= L.leasesMax) fail('ERR_LIMIT_EXCEEDED', `the group holds ${L.leasesMax} leases`)
    const mine = this.leasesByOwner.get(owner)
    if (mine !== undefined && mine.size >= L.leasesPerOwnerMax) fail('ERR_LIMIT_EXCEEDED', `peer ${owner} holds ${L.leasesPerOwnerMax} leases`)
    const id = this.index
    const l: Lease = { id, owner, ttlMs, expiresAt: this.now + ttlMs, holds: new Set(), barriers: new Set() }
    this.leases.set(id, l)
    if (mine === undefined) this.leasesByOwner.set(owner, new Set([id]))
    else mine.add(id)
    this.heap.push({ at: l.expiresAt, kind: K_LEASE, id, key: '' })
    this.emitEvent({ type: 'lease:granted', index: this.index, lease: id, owner, ttlMs, expiresAt: l.expiresAt })
    return { ok: true, lease: id, ttlMs, expiresAt: l.expiresAt }
  }

  /** Renews every lease of `owner` (one command per peer per period, whatever its number of leases). */
  private keepalive (owner: string, expected: number | undefined): unknown {
    const mine = this.leasesByOwner.get(owner)
    let renewed = 0
    let earliest = 0
    for (const id of mine ?? []) {
      const l = this.leases.get(id)!
      l.expiresAt = this.now + l.ttlMs
      this.heap.push({ at: l.expiresAt, kind: K_LEASE, id, key: '' })
      if (earliest === 0 || l.expiresAt < earliest) earliest = l.expiresAt
      renewed++
    }
    // The client sends how many leases it believes it has: a shorter list says some were lost.
    const out: Record<string, unknown> = { ok: true, renewed, now: this.now }
    if (earliest > 0) out.expiresAt = earliest
    if (expected !== undefined && expected !== renewed && mine !== undefined && mine.size <= 1000) out.leases = [...mine].sort((a, b) => a - b)
    return out
  }

  private revoke (lease: number | 'all', origin: string): unknown {
    if (lease === 'all') {
      const ids = [...(this.leasesByOwner.get(origin) ?? [])].sort((a, b) => a - b)
      for (const id of ids) this.endLease(this.leases.get(id)!, 'lease-revoked')
      return { ok: true, revoked: ids.length }
    }
    const l = this.ownLease(lease, origin)
    this.endLease(l, 'lease-revoked')
    return { ok: true, revoked: 1 }
  }

  private ownLease (id: number, origin: string): Lease {
    const l = this.leases.get(id)
    if (l === undefined) fail('ERR_LEASE_NOT_FOUND', `lease ${id} does not exist (expired or revoked)`)
    if (l.owner !== origin) fail('ERR_NOT_OWNER', `lease ${id} belongs to another peer`)
    return l
  }

  private endLease (l: Lease, reason: 'lease-expired' | 'lease-revoked'): void {
    this.leases.delete(l.id)
    const mine = this.leasesByOwner.get(l.owner)
    mine?.delete(l.id)
    if (mine?.size === 0) this.leasesByOwner.delete(l.owner)
    if (reason === 'lease-expired') this.stats.expired++
    this.emitEvent({ type: reason === 'lease-expired' ? 'lease:expired' : 'lease:revoked', index: this.index, lease: l.id, owner: l.owner })
    for (const key of [...l.holds].sort()) {
      const rec = this.locks.get(key)
      if (rec === undefined) continue
      for (const h of rec.holders.filter(h => h.lease === l.id)) this.dropHolder(rec, h, reason, l.owner)
      const before = rec.waiters.length
      rec.waiters = rec.waiters.filter(w => w.lease !== l.id)
      this.waiterCount -= before - rec.waiters.length
      if (before !== rec.waiters.length) rec.rev = this.index
      this.promote(rec)
      this.settle(rec)
    }
    for (const name of [...l.barriers].sort()) {
      const b = this.barriers.get(name)
      if (b !== undefined && b.arrivals.some(a => a.lease === l.id)) this.breakBarrier(b, reason === 'lease-expired' ? `lease ${l.id} of ${l.owner} expired` : `lease ${l.id} of ${l.owner} was revoked`)
    }
    this.hooks.onLeaseEnded?.(l.id, this.index)
  }

  // ---------------------------------------------------------------- locks, semaphores, elections

  private acquire (c: Extract<CoordCommand, { t: 'lock.acquire' }>, origin: string): unknown {
    const kind = c.kind ?? 'lock'
    const l = this.ownLease(c.lease, origin)
    const key = lockKey(kind, c.name)
    let rec = this.locks.get(key)
    const permits = c.permits ?? 1
    if (rec !== undefined && rec.permits !== permits && (rec.holders.length > 0 || rec.waiters.length > 0)) fail('ERR_PERMITS_MISMATCH', `${kind} ${c.name} has ${rec.permits} permits, not ${permits}`)
    // A lease holds one permit of a lock at most: acquiring again returns the grant it has.
    const held = rec?.holders.find(h => h.lease === l.id)
    if (held !== undefined) return { ok: true, granted: true, token: held.token, name: c.name, kind, lease: l.id, again: true }
    const waiting = rec?.waiters.find(w => w.lease === l.id)
    if (waiting !== undefined) return { ok: true, granted: false, ticket: waiting.ticket, name: c.name, kind, lease: l.id, again: true }
    if (rec === undefined) {
      if (this.locks.size >= L.locksMax) fail('ERR_LIMIT_EXCEEDED', `the group has ${L.locksMax} locks`)
      rec = { kind, name: c.name, permits, holders: [], waiters: [], newest: this.floorFor(kind), rev: this.index }
      this.locks.set(key, rec)
    } else if (rec.holders.length === 0 && rec.waiters.length === 0) {
      rec.permits = permits
    }
    if (l.holds.size >= L.holdsPerLeaseMax) fail('ERR_LIMIT_EXCEEDED', `lease ${l.id} holds or waits for ${L.holdsPerLeaseMax} locks`)
    if (rec.holders.length < rec.permits && rec.waiters.length === 0) {
      const h = this.addHolder(rec, l, c.value)
      return { ok: true, granted: true, token: h.token, name: c.name, kind, lease: l.id }
    }
    if (c.wait !== true) {
      this.settle(rec)
      const top = rec.holders[0]
      return { ok: true, granted: false, name: c.name, kind, holder: top === undefined ? null : this.holderView(rec, top) }
    }
    if (rec.waiters.length >= L.waitersPerLockMax) fail('ERR_LIMIT_EXCEEDED', `${kind} ${c.name} has ${L.waitersPerLockMax} waiters`)
    if (this.waiterCount >= L.waitersMax) fail('ERR_LIMIT_EXCEEDED', `the group has ${L.waitersMax} waiters`)
    const w: Waiter = { ticket: this.index, lease: l.id, deadline: c.waitMs === undefined ? 0 : this.now + c.waitMs }
    if (c.value !== undefined) w.value = c.value
    rec.waiters.push(w)
    this.waiterCount++
    this.idle.delete(key)
    rec.rev = this.index
    l.holds.add(key)
    this.stats.waits++
    if (w.deadline > 0) this.heap.push({ at: w.deadline, kind: K_WAITER, id: w.ticket, key })
    this.emitEvent({ type: kind === 'lock' ? 'lock:queued' : 'election:queued', index: this.index, kind, name: c.name, lease: l.id, owner: l.owner, ticket: w.ticket })
    return { ok: true, granted: false, ticket: w.ticket, position: rec.waiters.length, name: c.name, kind, lease: l.id }
  }

  private floorFor (kind: LockKind): number { return kind === 'lock' ? this.fenceFloor : 0 }

  /** A new grant's token: the Raft index of the grant, or one more than the lock's newest when two grants share an entry. */
  private addHolder (rec: LockRec, l: Lease, value: string | undefined): Holder {
    const token = Math.max(this.index, rec.newest + 1)
    const h: Holder = { lease: l.id, token, since: this.index }
    if (value !== undefined) h.value = value
    rec.holders.push(h)
    rec.newest = token
    rec.rev = this.index
    this.idle.delete(lockKey(rec.kind, rec.name))
    l.holds.add(lockKey(rec.kind, rec.name))
    this.stats.grants++
    this.emitEvent({ type: rec.kind === 'lock' ? 'lock:acquired' : 'election:elected', index: this.index, kind: rec.kind, name: rec.name, lease: l.id, owner: l.owner, token, ...(value !== undefined ? { value: JSON.parse(value) as unknown } : {}) })
    return h
  }

  private dropHolder (rec: LockRec, h: Holder, reason: 'release' | 'lease-expired' | 'lease-revoked', owner: string): void {
    rec.holders = rec.holders.filter(x => x !== h)
    rec.rev = this.index
    const l = this.leases.get(h.lease)
    if (l !== undefined && !rec.waiters.some(w => w.lease === h.lease)) l.holds.delete(lockKey(rec.kind, rec.name))
    this.emitEvent({ type: rec.kind === 'lock' ? 'lock:released' : 'election:ended', index: this.index, kind: rec.kind, name: rec.name, lease: h.lease, owner, token: h.token, reason })
  }

  /** Grants free permits to the waiters in FIFO order (one release wakes one waiter); skips waiters whose lease is due to expire now. */
  private promote (rec: LockRec): void {
    while (rec.holders.length < rec.permits && rec.waiters.length > 0) {
      const w = rec.waiters.shift()!
      this.waiterCount--
      const l = this.leases.get(w.lease)
      if (l === undefined || l.expiresAt <= this.now) continue
      this.addHolder(rec, l, w.value)
    }
  }

  /** Marks a lock record idle when nobody holds or waits; forgets the oldest idle records beyond the limit. */
  private settle (rec: LockRec): void {
    if (rec.holders.length > 0 || rec.waiters.length > 0) return
    const key = lockKey(rec.kind, rec.name)
    this.idle.delete(key)
    this.idle.set(key, true)
    while (this.idle.size > L.idleLocksMax) {
      const oldest = this.idle.keys().next().value as string
      this.idle.delete(oldest)
      const r = this.locks.get(oldest)
      if (r !== undefined && r.kind === 'lock' && r.newest > this.fenceFloor) this.fenceFloor = r.newest
      this.locks.delete(oldest)
    }
  }

  private release (kind: LockKind, name: string, token: number, origin: string): unknown {
    const rec = this.locks.get(lockKey(kind, name))
    const h = rec?.holders.find(x => x.token === token)
    if (rec === undefined || h === undefined) fail('ERR_NOT_HOLDER', `${kind} ${name} is not held under token ${token}`)
    const l = this.leases.get(h.lease)
    if (l === undefined || l.owner !== origin) fail('ERR_NOT_OWNER', `${kind} ${name} is held by another peer`)
    this.dropHolder(rec, h, 'release', origin)
    this.promote(rec)
    this.settle(rec)
    return { ok: true, released: true, name, kind, token }
  }

  private cancel (kind: LockKind, name: string, ticket: number, origin: string): unknown {
    const rec = this.locks.get(lockKey(kind, name))
    const w = rec?.waiters.find(x => x.ticket === ticket)
    if (rec === undefined || w === undefined) return { ok: true, cancelled: false }
    const l = this.leases.get(w.lease)
    if (l === undefined || l.owner !== origin) fail('ERR_NOT_OWNER', `ticket ${ticket} belongs to another peer`)
    this.removeWaiter(rec, w, kind === 'lock' ? 'lock:cancelled' : 'election:cancelled')
    return { ok: true, cancelled: true }
  }

  private removeWaiter (rec: LockRec, w: Waiter, type: 'lock:cancelled' | 'election:cancelled' | 'lock:timeout' | 'election:timeout'): void {
    rec.waiters = rec.waiters.filter(x => x !== w)
    this.waiterCount--
    rec.rev = this.index
    const l = this.leases.get(w.lease)
    if (l !== undefined && !rec.holders.some(h => h.lease === w.lease)) l.holds.delete(lockKey(rec.kind, rec.name))
    this.emitEvent({ type, index: this.index, kind: rec.kind, name: rec.name, lease: w.lease, owner: l?.owner ?? '', ticket: w.ticket })
    this.settle(rec)
  }

  private proclaim (name: string, token: number, value: string, origin: string): unknown {
    const rec = this.locks.get(lockKey('election', name))
    const h = rec?.holders.find(x => x.token === token)
    if (rec === undefined || h === undefined) fail('ERR_NOT_HOLDER', `election ${name} is not led under token ${token}`)
    const l = this.leases.get(h.lease)
    if (l === undefined || l.owner !== origin) fail('ERR_NOT_OWNER', `election ${name} is led by another peer`)
    h.value = value
    rec.rev = this.index
    this.emitEvent({ type: 'election:proclaimed', index: this.index, kind: 'election', name, lease: h.lease, owner: origin, token, value: JSON.parse(value) as unknown })
    return { ok: true, token }
  }

  // ---------------------------------------------------------------- barriers

  private arrive (c: Extract<CoordCommand, { t: 'barrier.arrive' }>, origin: string): unknown {
    const l = this.ownLease(c.lease, origin)
    let b = this.barriers.get(c.name)
    if (b === undefined) {
      if (this.barriers.size >= L.barriersMax) this.forgetIdleBarrier()
      b = { name: c.name, parties: c.parties, generation: 1, arrivals: [], deadline: 0, rev: this.index, history: [] }
      if (c.zone !== undefined) b.zone = c.zone
      this.barriers.set(c.name, b)
    }
    if (b.arrivals.length === 0) {
      b.parties = c.parties
      if (c.zone !== undefined) b.zone = c.zone
      else delete b.zone
      b.deadline = this.now + c.timeoutMs
      this.heap.push({ at: b.deadline, kind: K_BARRIER, id: b.generation, key: b.name })
    } else if (b.parties !== c.parties || b.zone !== c.zone) {
      fail('ERR_BARRIER_MISMATCH', `barrier ${c.name} generation ${b.generation} waits for ${b.parties} parties${b.zone !== undefined ? ` of zone ${b.zone}` : ''}`)
    }
    const generation = b.generation
    if (b.arrivals.some(a => a.agent === c.agent)) return { ok: true, generation, arrived: b.arrivals.length, parties: b.parties, released: false, again: true }
    b.arrivals.push({ agent: c.agent, lease: l.id, owner: origin })
    l.barriers.add(b.name)
    b.rev = this.index
    this.emitEvent({ type: 'barrier:arrived', index: this.index, name: b.name, generation, agent: c.agent, owner: origin, arrived: b.arrivals.length, parties: b.parties })
    if (b.arrivals.length >= b.parties) {
      this.endGeneration(b, { generation, status: 'released', index: this.index, arrivals: b.arrivals.map(a => a.agent) })
      this.emitEvent({ type: 'barrier:released', index: this.index, name: b.name, generation, arrivals: b.history[b.history.length - 1]!.arrivals })
      return { ok: true, generation, arrived: b.parties, parties: b.parties, released: true }
    }
    return { ok: true, generation, arrived: b.arrivals.length, parties: b.parties, released: false }
  }

  private endGeneration (b: BarrierRec, o: BarrierOutcome): void {
    for (const a of b.arrivals) {
      const l = this.leases.get(a.lease)
      // The lease may still have an arrival at another barrier; this one is done.
      l?.barriers.delete(b.name)
    }
    b.arrivals = []
    b.deadline = 0
    b.generation++
    b.rev = this.index
    b.history.push(o)
    if (b.history.length > L.barrierHistoryMax) b.history.shift()
  }

  private breakBarrier (b: BarrierRec, reason: string): void {
    const generation = b.generation
    const arrivals = b.arrivals.map(a => a.agent)
    this.endGeneration(b, { generation, status: 'broken', reason, index: this.index, arrivals })
    this.emitEvent({ type: 'barrier:broken', index: this.index, name: b.name, generation, reason, arrivals })
  }

  private forgetIdleBarrier (): void {
    // The barrier changed longest ago among those nobody waits at.
    let oldest: BarrierRec | undefined
    for (const b of this.barriers.values()) if (b.arrivals.length === 0 && (oldest === undefined || b.rev < oldest.rev || (b.rev === oldest.rev && b.name < oldest.name))) oldest = b
    if (oldest === undefined) fail('ERR_LIMIT_EXCEEDED', `the group has ${L.barriersMax} barriers in use`)
    this.barriers.delete(oldest.name)
  }

  // ---------------------------------------------------------------- votes

  private openVote (c: Extract<CoordCommand, { t: 'vote.open' }>, origin: string): unknown {
    if (this.openVotes >= L.openVotesMax) fail('ERR_LIMIT_EXCEEDED', `the group has ${L.openVotesMax} open votes`)
    const weighted = c.rule.kind === 'weighted'
    const voters = c.voters.map(v => {
      // The economy's record of who owns an agent's account wins over what the opener says.
      const owner = this.hooks.ownerOf?.(v.agent) ?? null
      const weight = weighted ? Math.max(0, Math.floor(this.hooks.weightOf?.(v.agent) ?? 1)) : 1
      return { agent: v.agent, host: owner ?? v.host, weight }
    })
    const id = this.index
    const v: VoteRec = { id, opener: origin, options: c.options, voters, rule: c.rule, deadline: this.now + c.deadlineMs, ballots: new Map(), rev: this.index }
    if (c.topic !== undefined) v.topic = c.topic
    this.votes.set(id, v)
    this.openVotes++
    this.heap.push({ at: v.deadline, kind: K_VOTE, id, key: '' })
    this.emitEvent({ type: 'vote:opened', index: this.index, vote: id, opener: origin, ...(v.topic !== undefined ? { topic: v.topic } : {}), options: v.options, voters: v.voters, rule: v.rule, deadline: v.deadline })
    this.decide(v, false)
    return { ok: true, vote: id, deadline: v.deadline, voters: v.voters, ...(v.decided !== undefined ? { decided: v.decided } : {}) }
  }

  private ballot (id: number, agent: string, choice: string, origin: string): unknown {
    const v = this.votes.get(id)
    if (v === undefined) fail('ERR_VOTE_NOT_FOUND', `vote ${id} does not exist`)
    if (v.decided !== undefined) fail('ERR_VOTE_CLOSED', `vote ${id} is decided`)
    const voter = v.voters.find(x => x.agent === agent)
    if (voter === undefined) fail('ERR_NOT_VOTER', `${agent} is not a voter of vote ${id}`)
    if (voter.host !== origin) fail('ERR_NOT_OWNER', `only ${agent}'s host casts its ballot`)
    if (!v.options.includes(choice)) fail('ERR_INVALID_COMMAND', `${choice} is not an option of vote ${id}`)
    if (v.ballots.has(agent)) fail('ERR_ALREADY_VOTED', `${agent} already voted in vote ${id}`)
    v.ballots.set(agent, { choice, weight: voter.weight, index: this.index })
    v.rev = this.index
    this.emitEvent({ type: 'vote:ballot', index: this.index, vote: id, agent, choice, owner: origin })
    this.decide(v, false)
    return { ok: true, recorded: true, ...(v.decided !== undefined ? { decided: v.decided } : {}) }
  }

  /** Decides a vote once: when its rule is met, when no option can meet it any more, or (final) at its deadline. */
  private decide (v: VoteRec, final: boolean): void {
    if (v.decided !== undefined) return
    const tally = new Map<string, number>(v.options.map(o => [o, 0]))
    let cast = 0
    let castCount = 0
    for (const b of v.ballots.values()) { tally.set(b.choice, tally.get(b.choice)! + b.weight); cast += b.weight; castCount++ }
    const total = v.voters.reduce((s, x) => s + x.weight, 0)
    const remaining = total - cast
    const counts = new Map<string, number>(v.options.map(o => [o, 0]))
    for (const b of v.ballots.values()) counts.set(b.choice, counts.get(b.choice)! + 1)
    let winner: string | null = null
    let possible = false
    for (const o of v.options) {
      const w = tally.get(o)!
      switch (v.rule.kind) {
        case 'majority':
        case 'weighted':
          if (total > 0 && 2 * w > total) winner = o
          if (total > 0 && 2 * (w + remaining) > total) possible = true
          break
        case 'quorum':
          if (counts.get(o)! >= v.rule.n!) winner = o
          if (counts.get(o)! + (v.voters.length - castCount) >= v.rule.n!) possible = true
          break
        case 'unanimous':
          if (counts.get(o)! === v.voters.length) winner = o
          if (counts.get(o)! === castCount) possible = true
          break
      }
      if (winner !== null) break
    }
    let reason: VoteDecision['reason'] | undefined
    if (winner !== null) reason = 'threshold'
    else if (!possible) reason = 'unreachable'
    else if (final) reason = 'deadline'
    if (reason === undefined) return
    v.decided = {
      status: winner === null ? 'failed' : 'decided',
      outcome: winner,
      reason,
      tally: v.options.map(o => [o, tally.get(o)!]),
      ballots: [...v.ballots].map(([agent, b]) => ({ agent, choice: b.choice, weight: b.weight, index: b.index })),
      index: this.index,
      at: this.now
    }
    v.rev = this.index
    this.openVotes--
    this.emitEvent({ type: 'vote:decided', index: this.index, vote: v.id, decision: v.decided })
    // Decided votes are remembered up to a bound, oldest (lowest id) forgotten first.
    if (this.votes.size - this.openVotes > L.decidedVotesMax) {
      for (const [id, x] of this.votes) {
        if (x.decided !== undefined) { this.votes.delete(id); break }
      }
    }
  }

  // ---------------------------------------------------------------- deadlines

  private runDeadlines (): void {
    for (;;) {
      const d = this.heap.peek()
      if (d === undefined || d.at > this.now) return
      this.heap.pop()
      switch (d.kind) {
        case K_LEASE: {
          const l = this.leases.get(d.id)
          if (l !== undefined && l.expiresAt === d.at) this.endLease(l, 'lease-expired')
          break
        }
        case K_WAITER: {
          const rec = this.locks.get(d.key)
          const w = rec?.waiters.find(x => x.ticket === d.id)
          if (rec !== undefined && w !== undefined && w.deadline === d.at) {
            this.stats.timeouts++
            this.removeWaiter(rec, w, rec.kind === 'lock' ? 'lock:timeout' : 'election:timeout')
          }
          break
        }
        case K_BARRIER: {
          const b = this.barriers.get(d.key)
          if (b !== undefined && b.generation === d.id && b.arrivals.length > 0 && b.deadline === d.at) this.breakBarrier(b, 'timeout')
          break
        }
        case K_VOTE: {
          const v = this.votes.get(d.id)
          if (v !== undefined && v.decided === undefined && v.deadline === d.at) this.decide(v, true)
          break
        }
      }
    }
  }

  /**
   * The earliest pending deadline in log time (undefined when none), this machine's or (hook
   * `nextDeadline`) another's sharing its log time: a leader proposes a tick once its clock passes it.
   */
  nextDeadline (): number | undefined {
    const other = this.hooks.nextDeadline?.()
    const own = this.ownDeadline()
    if (other === undefined) return own
    return own === undefined || other < own ? other : own
  }

  private ownDeadline (): number | undefined {
    for (;;) {
      const d = this.heap.peek()
      if (d === undefined) return undefined
      if (this.isLive(d)) return d.at
      this.heap.pop()
    }
  }

  private isLive (d: Due): boolean {
    switch (d.kind) {
      case K_LEASE: return this.leases.get(d.id)?.expiresAt === d.at
      case K_WAITER: return this.locks.get(d.key)?.waiters.some(w => w.ticket === d.id && w.deadline === d.at) === true
      case K_BARRIER: { const b = this.barriers.get(d.key); return b !== undefined && b.generation === d.id && b.arrivals.length > 0 && b.deadline === d.at }
      default: { const v = this.votes.get(d.id); return v !== undefined && v.decided === undefined && v.deadline === d.at }
    }
  }

  // ---------------------------------------------------------------- fencing

  /**
   * The newest token granted for lock `name` (0 when never granted). A fenced write under `token` is
   * refused when this is greater: a newer holder exists (or the lock's record was forgotten after its
   * newest grant, see README.md).
   */
  newestToken (name: string): number {
    return this.locks.get(lockKey('lock', name))?.newest ?? this.fenceFloor
  }

  /** Undefined when a write fenced by `{ lock, token }` may apply, else the refusal. */
  checkFence (lock: string, token: number): CoordFailure | undefined {
    const rec = this.locks.get(lockKey('lock', lock))
    if (rec !== undefined && rec.permits !== 1) return { ok: false, code: 'ERR_INVALID_COMMAND', message: `${lock} is a semaphore: fences name locks` }
    const newest = this.newestToken(lock)
    if (newest > token) return { ok: false, code: 'ERR_FENCED', message: `lock ${lock} has a newer token (${newest} > ${token})` }
    return undefined
  }

  // ---------------------------------------------------------------- reads

  lease (id: number): LeaseView | undefined {
    const l = this.leases.get(id)
    return l === undefined ? undefined : { lease: l.id, owner: l.owner, ttlMs: l.ttlMs, expiresAt: l.expiresAt, holds: l.holds.size }
  }

  leasesOf (owner: string): number[] {
    return [...(this.leasesByOwner.get(owner) ?? [])].sort((a, b) => a - b)
  }

  get leaseCount (): number { return this.leases.size }

  private holderView (rec: LockRec, h: Holder): HolderView {
    const out: HolderView = { lease: h.lease, owner: this.leases.get(h.lease)?.owner ?? '', token: h.token, since: h.since }
    if (h.value !== undefined) out.value = JSON.parse(h.value) as unknown
    return out
  }

  lock (kind: LockKind, name: string): LockView | undefined {
    const rec = this.locks.get(lockKey(kind, name))
    if (rec === undefined) return undefined
    return {
      kind,
      name,
      permits: rec.permits,
      holders: rec.holders.map(h => this.holderView(rec, h)),
      waiters: rec.waiters.map(w => ({ ticket: w.ticket, lease: w.lease, owner: this.leases.get(w.lease)?.owner ?? '', deadline: w.deadline })),
      newest: rec.newest,
      rev: rec.rev
    }
  }

  /** Names of the busy locks (or elections), sorted, at most `limit`. */
  lockNames (kind: LockKind, limit = 1000): string[] {
    const p = kind === 'lock' ? 'l:' : 'e:'
    const out: string[] = []
    for (const [k, r] of this.locks) if (k.startsWith(p) && (r.holders.length > 0 || r.waiters.length > 0)) out.push(r.name)
    return out.sort().slice(0, limit)
  }

  barrier (name: string): BarrierView | undefined {
    const b = this.barriers.get(name)
    if (b === undefined) return undefined
    const out: BarrierView = { name, parties: b.parties, generation: b.generation, arrived: b.arrivals.map(a => a.agent), deadline: b.deadline, rev: b.rev, history: b.history.map(h => ({ ...h, arrivals: [...h.arrivals] })) }
    if (b.zone !== undefined) out.zone = b.zone
    return out
  }

  vote (id: number): VoteView | undefined {
    const v = this.votes.get(id)
    if (v === undefined) return undefined
    const out: VoteView = { vote: id, opener: v.opener, options: [...v.options], voters: v.voters.map(x => ({ ...x })), rule: { ...v.rule }, deadline: v.deadline, ballots: [...v.ballots].map(([agent, b]) => ({ agent, ...b })), rev: v.rev }
    if (v.topic !== undefined) out.topic = v.topic
    if (v.decided !== undefined) out.decided = v.decided
    return out
  }

  /** Open votes' ids, oldest first, at most `limit`. */
  openVoteIds (limit = 1000): number[] {
    const out: number[] = []
    for (const v of this.votes.values()) if (v.decided === undefined && out.length < limit) out.push(v.id)
    return out
  }

  /** Barriers' names (every barrier remembered), sorted. */
  barrierNames (): string[] { return [...this.barriers.keys()].sort() }

  /** Remembered votes' ids, open and decided, ascending. */
  voteIds (): number[] { return [...this.votes.keys()] }

  /** Serves `coord:…` reads of the client path (JSON text, undefined when absent). */
  read (name: string): string | undefined {
    const rest = name.slice('coord:'.length)
    const colon = rest.indexOf(':')
    const what = colon < 0 ? rest : rest.slice(0, colon)
    const arg = colon < 0 ? '' : rest.slice(colon + 1)
    const json = (x: unknown): string | undefined => x === undefined ? undefined : JSON.stringify(x)
    switch (what) {
      case 'now': return json({ now: this.now, next: this.nextDeadline() ?? null })
      case 'lock': return json(this.lock('lock', arg))
      case 'election': return json(this.lock('election', arg))
      case 'locks': return json(this.lockNames('lock'))
      case 'elections': return json(this.lockNames('election'))
      case 'barrier': return json(this.barrier(arg))
      case 'vote': return Number.isSafeInteger(Number(arg)) ? json(this.vote(Number(arg))) : undefined
      case 'votes': return json(this.openVoteIds())
      case 'list': return readCoordListing(this, arg)
      case 'lease': return Number.isSafeInteger(Number(arg)) ? json(this.lease(Number(arg))) : undefined
      case 'leases': {
        // `coord:leases:<owner>` or `coord:leases:<owner>@<after>`: a page of at most LEASE_PAGE ids, ascending.
        const at = arg.lastIndexOf('@')
        const owner = at < 0 ? arg : arg.slice(0, at)
        const after = at < 0 ? 0 : Number(arg.slice(at + 1))
        if (!Number.isSafeInteger(after)) return undefined
        const ids = this.leasesOf(owner)
        let from = 0
        while (from < ids.length && ids[from]! <= after) from++
        return json(ids.slice(from, from + LEASE_PAGE))
      }
      default: return undefined
    }
  }

  /** The revision (index of the last change) of the object a `coord:…` read names, 0 when absent: what a watch waits on. */
  revision (name: string): number {
    const rest = name.slice('coord:'.length)
    const colon = rest.indexOf(':')
    const what = colon < 0 ? rest : rest.slice(0, colon)
    const arg = colon < 0 ? '' : rest.slice(colon + 1)
    switch (what) {
      case 'lock': return this.locks.get(lockKey('lock', arg))?.rev ?? 0
      case 'election': return this.locks.get(lockKey('election', arg))?.rev ?? 0
      case 'barrier': return this.barriers.get(arg)?.rev ?? 0
      case 'vote': return this.votes.get(Number(arg))?.rev ?? 0
      case 'lease': return this.leases.get(Number(arg))?.expiresAt ?? 0
      default: return 0
    }
  }

  // ---------------------------------------------------------------- snapshots

  /** True while nothing ever happened here (log time 0, no record): older snapshot versions suffice. */
  isPristine (): boolean {
    return this.now === 0 && this.fenceFloor === 0 && this.leases.size === 0 && this.locks.size === 0 && this.barriers.size === 0 && this.votes.size === 0
  }

  /** The whole state as JSON (deterministic: the same on every replica at the same index). */
  snapshotJson (): unknown {
    return {
      v: 1,
      now: this.now,
      floor: this.fenceFloor,
      leases: [...this.leases.values()].map(l => [l.id, l.owner, l.ttlMs, l.expiresAt, [...l.holds], [...l.barriers]]),
      locks: [...this.locks.values()].map(r => [r.kind, r.name, r.permits, r.newest, r.rev,
        r.holders.map(h => [h.lease, h.token, h.since, h.value ?? null]),
        r.waiters.map(w => [w.ticket, w.lease, w.deadline, w.value ?? null])]),
      idle: [...this.idle.keys()],
      barriers: [...this.barriers.values()].map(b => [b.name, b.parties, b.zone ?? null, b.generation, b.deadline, b.rev, b.arrivals.map(a => [a.agent, a.lease, a.owner]), b.history]),
      votes: [...this.votes.values()].map(v => [v.id, v.opener, v.topic ?? null, v.options, v.voters, v.rule, v.deadline, v.rev, [...v.ballots].map(([a, b]) => [a, b.choice, b.weight, b.index]), v.decided ?? null])
    }
  }

  /** Restores {@link snapshotJson}'s output; throws DecodeError (`ERR_DECODE`) on anything else, and then changes nothing. */
  static restore (snap: unknown, hooks: CoordHooks = {}): CoordinationMachine {
    const m = new CoordinationMachine(hooks)
    try {
      const s = snap as Record<string, unknown[]> & { v: unknown, now: unknown, floor: unknown }
      if (s === null || typeof s !== 'object' || s.v !== 1) throw new Error('unknown version')
      const num = (x: unknown): number => { if (!Number.isSafeInteger(x)) throw new Error('not an integer'); return x as number }
      const str = (x: unknown): string => { if (typeof x !== 'string') throw new Error('not a string'); return x }
      const arr = (x: unknown): unknown[] => { if (!Array.isArray(x)) throw new Error('not an array'); return x }
      const optStr = (x: unknown): string | undefined => x === null ? undefined : str(x)
      m.now = num(s.now)
      m.fenceFloor = num(s.floor)
      for (const x of arr(s.leases)) {
        const [id, owner, ttlMs, expiresAt, holds, barriers] = arr(x)
        const l: Lease = { id: num(id), owner: str(owner), ttlMs: num(ttlMs), expiresAt: num(expiresAt), holds: new Set(arr(holds).map(str)), barriers: new Set(arr(barriers).map(str)) }
        m.leases.set(l.id, l)
        const mine = m.leasesByOwner.get(l.owner)
        if (mine === undefined) m.leasesByOwner.set(l.owner, new Set([l.id]))
        else mine.add(l.id)
        m.heap.push({ at: l.expiresAt, kind: K_LEASE, id: l.id, key: '' })
      }
      for (const x of arr(s.locks)) {
        const [kind, name, permits, newest, rev, holders, waiters] = arr(x)
        if (kind !== 'lock' && kind !== 'election') throw new Error('bad lock kind')
        const rec: LockRec = { kind, name: str(name), permits: num(permits), newest: num(newest), rev: num(rev), holders: [], waiters: [] }
        for (const h of arr(holders)) {
          const [lease, token, since, value] = arr(h)
          const hh: Holder = { lease: num(lease), token: num(token), since: num(since) }
          const v = optStr(value)
          if (v !== undefined) hh.value = v
          rec.holders.push(hh)
        }
        for (const w of arr(waiters)) {
          const [ticket, lease, deadline, value] = arr(w)
          const ww: Waiter = { ticket: num(ticket), lease: num(lease), deadline: num(deadline) }
          const v = optStr(value)
          if (v !== undefined) ww.value = v
          rec.waiters.push(ww)
          m.waiterCount++
          if (ww.deadline > 0) m.heap.push({ at: ww.deadline, kind: K_WAITER, id: ww.ticket, key: lockKey(rec.kind, rec.name) })
        }
        m.locks.set(lockKey(rec.kind, rec.name), rec)
      }
      for (const k of arr(s.idle)) m.idle.set(str(k), true)
      for (const x of arr(s.barriers)) {
        const [name, parties, zone, generation, deadline, rev, arrivals, history] = arr(x)
        const b: BarrierRec = { name: str(name), parties: num(parties), generation: num(generation), deadline: num(deadline), rev: num(rev), arrivals: arr(arrivals).map(a => { const [agent, lease, owner] = arr(a); return { agent: str(agent), lease: num(lease), owner: str(owner) } }), history: arr(history) as BarrierOutcome[] }
        const z = optStr(zone)
        if (z !== undefined) b.zone = z
        m.barriers.set(b.name, b)
        if (b.arrivals.length > 0) m.heap.push({ at: b.deadline, kind: K_BARRIER, id: b.generation, key: b.name })
      }
      for (const x of arr(s.votes)) {
        const [id, opener, topic, options, voters, rule, deadline, rev, ballots, decided] = arr(x)
        const v: VoteRec = { id: num(id), opener: str(opener), options: arr(options).map(str), voters: arr(voters) as VoteRec['voters'], rule: rule as VoteRule, deadline: num(deadline), rev: num(rev), ballots: new Map() }
        const t = optStr(topic)
        if (t !== undefined) v.topic = t
        for (const b of arr(ballots)) { const [a, choice, weight, index] = arr(b); v.ballots.set(str(a), { choice: str(choice), weight: num(weight), index: num(index) }) }
        if (decided !== null) v.decided = decided as VoteDecision
        else { m.openVotes++; m.heap.push({ at: v.deadline, kind: K_VOTE, id: v.id, key: '' }) }
        m.votes.set(v.id, v)
      }
    } catch (err) {
      throw new DecodeError('coordination snapshot', (err as Error).message)
    }
    return m
  }
}
