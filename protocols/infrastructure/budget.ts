/**
 * The mesh-wide budget machine (FEATURES I2): named budgets (a rate and a burst) kept in the Raft log and
 * split among the hosts that joined them by declared capacity, applied on every replica alike. A host's
 * share is tied to a coordination lease (its session lease): when the lease ends (the host went
 * unreachable, or left) the share ends in the same entry and the budget re-splits among the others.
 * Enforcement is local (peers/budget: a token bucket at the host's share, no Raft round per call); this
 * machine only decides who shares what. Pure and deterministic: no clock (it needs no time: lease ends
 * come from the coordination machine's hook), no randomness. README.md beside this file states the
 * semantics and the bound they give.
 */
import { DecodeError } from '../../src/base/errors.js'
import { TypedEmitter } from '../../src/base/events.js'
import { isWellFormed } from '../../src/base/input.js'
import { isRefusal, refuse as fail, refusing } from '../../src/base/refusal.js'
import { BUDGET_LIMITS as L, BUDGET_NAME_RE, splitShare, type BudgetCommand, type BudgetEvent, type BudgetEvents, type BudgetFailure, type BudgetHooks, type BudgetView } from './budget-types.js'

const dec = new TextDecoder()

interface Host { host: string, capacity: number, lease: number, since: number }
interface Budget { name: string, ratePerSecond: number, burst: number, owner: string, index: number, rev: number, hosts: Map<string, Host> }

const FIELDS: Record<BudgetCommand['t'], readonly string[]> = {
  'budget.define': ['t', 'name', 'ratePerSecond', 'burst'],
  'budget.delete': ['t', 'name'],
  'budget.join': ['t', 'name', 'capacity', 'lease'],
  'budget.leave': ['t', 'name']
}

function isName (v: unknown): v is string { return typeof v === 'string' && BUDGET_NAME_RE.test(v) }
function isRate (v: unknown): v is number { return typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= L.ratePerSecondMax }
function isBurst (v: unknown): v is number { return Number.isSafeInteger(v) && (v as number) >= 1 && (v as number) <= L.burstMax }
function isCapacity (v: unknown): v is number { return Number.isSafeInteger(v) && (v as number) >= 1 && (v as number) <= L.capacityMax }
function isId (v: unknown): v is number { return Number.isSafeInteger(v) && (v as number) >= 1 }

function parseCommand (raw: unknown): BudgetCommand {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail('ERR_INVALID_COMMAND', 'a budget command is a JSON object')
  const c = raw as Record<string, unknown>
  const t = c.t as BudgetCommand['t']
  if (typeof t !== 'string' || !Object.hasOwn(FIELDS, t)) fail('ERR_INVALID_COMMAND', 'unknown budget command')
  for (const k of Object.keys(c)) if (!FIELDS[t].includes(k)) fail('ERR_INVALID_COMMAND', `${t}: unexpected field "${k}"`)
  if (!isName(c.name)) fail('ERR_INVALID_COMMAND', `name must be 1..${L.nameCharsMax} characters of [A-Za-z0-9._:-]`)
  const name = c.name
  switch (t) {
    case 'budget.define':
      if (!isRate(c.ratePerSecond)) fail('ERR_INVALID_COMMAND', `ratePerSecond must be a number in 0..${L.ratePerSecondMax}`)
      if (!isBurst(c.burst)) fail('ERR_INVALID_COMMAND', `burst must be an integer in 1..${L.burstMax}`)
      return { t, name, ratePerSecond: c.ratePerSecond, burst: c.burst }
    case 'budget.join':
      if (!isCapacity(c.capacity)) fail('ERR_INVALID_COMMAND', `capacity must be an integer in 1..${L.capacityMax}`)
      if (!isId(c.lease)) fail('ERR_INVALID_COMMAND', 'lease must be a lease id')
      return { t, name, capacity: c.capacity, lease: c.lease }
    default:
      return { t, name }
  }
}

/** Checks a command's shape on its own (no state): what apply refuses first, and what a member checks before proposing. */
export function admitBudgetCommand (raw: unknown): { code: string, message: string } | undefined {
  const r = refusing(() => parseCommand(raw))
  return isRefusal(r) ? { code: r.code, message: r.message } : undefined
}

/** Decodes `u8 BUDGET_TAG · JSON` (the tag already checked by the caller) into a checked command or a failure. */
export function decodeBudgetCommand (command: Uint8Array): BudgetCommand | BudgetFailure {
  let raw: unknown
  try { raw = JSON.parse(dec.decode(command.subarray(1))) } catch { return { ok: false, code: 'ERR_INVALID_COMMAND', message: 'a budget command is JSON' } }
  return refusing(() => parseCommand(raw))
}

/** A budget as the snapshot writes it (fields in one fixed order: the same bytes on every replica). */
function record (b: Budget): Omit<BudgetView, 'capacity' | 'hosts'> & { hosts: Array<{ host: string, capacity: number, lease: number, since: number }> } {
  return {
    name: b.name,
    ratePerSecond: b.ratePerSecond,
    burst: b.burst,
    owner: b.owner,
    index: b.index,
    rev: b.rev,
    hosts: [...b.hosts.values()].map(h => ({ host: h.host, capacity: h.capacity, lease: h.lease, since: h.since }))
  }
}

/** A budget as a detached view, with every host's share. */
export function budgetView (b: Budget): BudgetView {
  const r = record(b)
  let total = 0
  for (const h of r.hosts) total += h.capacity
  return { ...r, capacity: total, hosts: r.hosts.map(h => ({ ...h, ...splitShare(b.ratePerSecond, b.burst, h.capacity, total) })) }
}

export class BudgetMachine extends TypedEmitter<BudgetEvents> {
  /** Every budget, by name, in the order they were defined. */
  private budgets = new Map<string, Budget>()
  /** Budgets owned (defined) per peer. */
  private byOwner = new Map<string, number>()
  /** Budgets each host holds a share of. */
  private byHost = new Map<string, Set<string>>()
  /** Budgets whose share a lease holds (the lease's end drops them). */
  private byLease = new Map<number, Set<string>>()
  /** The index being applied (events carry it). */
  private index = 0
  readonly stats = { applied: 0, refused: 0, joins: 0, leaves: 0, leaseEnds: 0 }

  constructor (private readonly hooks: BudgetHooks = {}) {
    super()
  }

  /** Applies a decoded command from `origin` (the signed proposer) at `index`. Never throws on bad input. */
  apply (cmd: BudgetCommand, index: number, origin: string): unknown {
    this.index = index
    const r = refusing(() => this.dispatch(cmd, origin))
    if (isRefusal(r)) this.stats.refused++
    else this.stats.applied++
    return r
  }

  private dispatch (c: BudgetCommand, origin: string): unknown {
    switch (c.t) {
      case 'budget.define': return this.define(c.name, c.ratePerSecond, c.burst, origin)
      case 'budget.delete': return this.delete(c.name, origin)
      case 'budget.join': return this.join(c.name, c.capacity, c.lease, origin)
      case 'budget.leave': return this.leave(c.name, origin)
    }
  }

  private emitEvent (e: BudgetEvent): void {
    if (this.listenerCount('budget:event') > 0) this.emit('budget:event', e)
  }

  private may (b: Budget, origin: string): boolean {
    return b.owner === origin || this.hooks.isAuthority?.(origin) === true
  }

  private define (name: string, ratePerSecond: number, burst: number, origin: string): unknown {
    const b = this.budgets.get(name)
    if (b !== undefined) {
      if (b.ratePerSecond === ratePerSecond && b.burst === burst) return { ok: true, type: 'budget.define', created: false, changed: false, budget: budgetView(b) }
      if (!this.may(b, origin)) fail('ERR_NOT_OWNER', `budget ${name} belongs to ${b.owner}: only it (or an economy authority) may change it`)
      b.ratePerSecond = ratePerSecond
      b.burst = burst
      b.rev = this.index
      this.emitEvent({ type: 'budget:defined', index: this.index, name, ratePerSecond, burst, owner: b.owner, created: false })
      return { ok: true, type: 'budget.define', created: false, changed: true, budget: budgetView(b) }
    }
    if (this.budgets.size >= L.budgetsMax) fail('ERR_LIMIT_EXCEEDED', `the group holds ${L.budgetsMax} budgets`)
    const owned = this.byOwner.get(origin) ?? 0
    if (owned >= L.budgetsPerOwnerMax) fail('ERR_LIMIT_EXCEEDED', `peer ${origin} owns ${L.budgetsPerOwnerMax} budgets`)
    const nb: Budget = { name, ratePerSecond, burst, owner: origin, index: this.index, rev: this.index, hosts: new Map() }
    this.budgets.set(name, nb)
    this.byOwner.set(origin, owned + 1)
    this.emitEvent({ type: 'budget:defined', index: this.index, name, ratePerSecond, burst, owner: origin, created: true })
    return { ok: true, type: 'budget.define', created: true, changed: true, budget: budgetView(nb) }
  }

  private need (name: string): Budget {
    const b = this.budgets.get(name)
    if (b === undefined) fail('ERR_BUDGET_NOT_FOUND', `budget ${name} does not exist`)
    return b
  }

  private delete (name: string, origin: string): unknown {
    const b = this.need(name)
    if (!this.may(b, origin)) fail('ERR_NOT_OWNER', `budget ${name} belongs to ${b.owner}: only it (or an economy authority) may delete it`)
    for (const h of [...b.hosts.values()]) this.dropHost(b, h)
    this.budgets.delete(name)
    const owned = (this.byOwner.get(b.owner) ?? 1) - 1
    if (owned <= 0) this.byOwner.delete(b.owner)
    else this.byOwner.set(b.owner, owned)
    this.emitEvent({ type: 'budget:deleted', index: this.index, name })
    return { ok: true, type: 'budget.delete', deleted: true }
  }

  private join (name: string, capacity: number, lease: number, origin: string): unknown {
    const b = this.need(name)
    const owner = this.hooks.leaseOwner?.(lease)
    if (owner === undefined) fail('ERR_LEASE_NOT_FOUND', `lease ${lease} does not exist (expired or revoked)`)
    if (owner !== origin) fail('ERR_NOT_OWNER', `lease ${lease} belongs to another peer`)
    if (origin.length > L.hostCharsMax || !isWellFormed(origin)) fail('ERR_INVALID_COMMAND', 'the origin is not a peer id')
    const cur = b.hosts.get(origin)
    if (cur === undefined) {
      if (b.hosts.size >= L.hostsPerBudgetMax) fail('ERR_LIMIT_EXCEEDED', `budget ${name} is shared by ${L.hostsPerBudgetMax} hosts`)
      const mine = this.byHost.get(origin)
      if (mine !== undefined && mine.size >= L.budgetsPerHostMax) fail('ERR_LIMIT_EXCEEDED', `peer ${origin} shares ${L.budgetsPerHostMax} budgets`)
      b.hosts.set(origin, { host: origin, capacity, lease, since: this.index })
      if (mine === undefined) this.byHost.set(origin, new Set([name]))
      else mine.add(name)
    } else {
      if (cur.lease !== lease) this.unindexLease(cur.lease, name)
      cur.capacity = capacity
      cur.lease = lease
      cur.since = this.index
    }
    const set = this.byLease.get(lease)
    if (set === undefined) this.byLease.set(lease, new Set([name]))
    else set.add(name)
    b.rev = this.index
    this.stats.joins++
    this.emitEvent({ type: 'budget:joined', index: this.index, name, host: origin, capacity, lease })
    return { ok: true, type: 'budget.join', budget: budgetView(b) }
  }

  private leave (name: string, origin: string): unknown {
    const b = this.need(name)
    const h = b.hosts.get(origin)
    if (h === undefined) return { ok: true, type: 'budget.leave', left: false, budget: budgetView(b) }
    this.dropHost(b, h)
    b.rev = this.index
    this.stats.leaves++
    this.emitEvent({ type: 'budget:left', index: this.index, name, host: origin, reason: 'leave' })
    return { ok: true, type: 'budget.leave', left: true, budget: budgetView(b) }
  }

  /**
   * The lease `lease` ended (expired or revoked; the coordination machine's hook): every share held under
   * it ends, budgets in name order, and those budgets re-split.
   */
  leaseEnded (lease: number, index: number): void {
    const names = this.byLease.get(lease)
    if (names === undefined) return
    this.index = index
    for (const name of [...names].sort()) {
      const b = this.budgets.get(name)
      const h = [...(b?.hosts.values() ?? [])].find(x => x.lease === lease)
      if (b === undefined || h === undefined) continue
      this.dropHost(b, h)
      b.rev = index
      this.stats.leaseEnds++
      this.emitEvent({ type: 'budget:left', index, name, host: h.host, reason: 'lease-ended' })
    }
    this.byLease.delete(lease)
  }

  private dropHost (b: Budget, h: Host): void {
    b.hosts.delete(h.host)
    this.unindexLease(h.lease, b.name)
    const mine = this.byHost.get(h.host)
    mine?.delete(b.name)
    if (mine?.size === 0) this.byHost.delete(h.host)
  }

  private unindexLease (lease: number, name: string): void {
    const set = this.byLease.get(lease)
    set?.delete(name)
    if (set?.size === 0) this.byLease.delete(lease)
  }

  // ---------------------------------------------------------------- reads

  /** The budget `name` with every host's share (undefined when absent). */
  get (name: string): BudgetView | undefined {
    const b = this.budgets.get(name)
    return b === undefined ? undefined : budgetView(b)
  }

  /** Budget names, sorted, at most `limit`. */
  names (limit: number = L.listPageMax): string[] {
    return [...this.budgets.keys()].sort().slice(0, limit)
  }

  get size (): number { return this.budgets.size }

  /** Serves `budget:<name>` (BudgetView) and `budgets:all` (names, sorted, at most listPageMax), as JSON text. */
  read (name: string): string | undefined {
    if (name === 'budgets:all') return JSON.stringify(this.names())
    if (!name.startsWith('budget:')) return undefined
    const v = this.get(name.slice(7))
    return v === undefined ? undefined : JSON.stringify(v)
  }

  /** The revision of `budget:<name>` (the index of its last change; 0 when absent): what a watch waits on. */
  revision (name: string): number {
    if (!name.startsWith('budget:')) return 0
    return this.budgets.get(name.slice(7))?.rev ?? 0
  }

  // ---------------------------------------------------------------- invariants

  /**
   * Every invariant, as violations (empty when all hold): the owner, host and lease indexes match the
   * records, the named limits hold, and no budget is split beyond its rate (Σ shares = rate).
   */
  invariants (): string[] {
    const out: string[] = []
    const owners = new Map<string, number>()
    const hosts = new Map<string, number>()
    const leases = new Map<number, number>()
    if (this.budgets.size > L.budgetsMax) out.push(`${this.budgets.size} budgets`)
    for (const [name, b] of this.budgets) {
      if (name !== b.name || !isName(name)) out.push(`budget ${name}: bad name`)
      if (!isRate(b.ratePerSecond) || !isBurst(b.burst)) out.push(`budget ${name}: bad rate or burst`)
      if (b.hosts.size > L.hostsPerBudgetMax) out.push(`budget ${name}: ${b.hosts.size} hosts`)
      owners.set(b.owner, (owners.get(b.owner) ?? 0) + 1)
      for (const [host, h] of b.hosts) {
        if (host !== h.host || !isCapacity(h.capacity) || !isId(h.lease)) out.push(`budget ${name}: bad host ${host}`)
        hosts.set(host, (hosts.get(host) ?? 0) + 1)
        leases.set(h.lease, (leases.get(h.lease) ?? 0) + 1)
        if (this.byHost.get(host)?.has(name) !== true) out.push(`budget ${name}: host ${host} not indexed`)
        if (this.byLease.get(h.lease)?.has(name) !== true) out.push(`budget ${name}: lease ${h.lease} not indexed`)
      }
      const v = budgetView(b)
      const sum = v.hosts.reduce((s, h) => s + h.ratePerSecond, 0)
      if (sum > b.ratePerSecond * (1 + 1e-9)) out.push(`budget ${name}: shares add up to ${sum} > ${b.ratePerSecond}`)
    }
    const same = <K>(a: Map<K, number>, b: Map<K, number>): boolean => a.size === b.size && [...a].every(([k, n]) => b.get(k) === n)
    if (!same(owners, this.byOwner)) out.push('budgets per owner disagree with the records')
    if (!same(hosts, new Map([...this.byHost].map(([k, s]) => [k, s.size])))) out.push('budgets per host disagree with the records')
    if (!same(leases, new Map([...this.byLease].map(([k, s]) => [k, s.size])))) out.push('budgets per lease disagree with the records')
    return out
  }

  // ---------------------------------------------------------------- snapshots

  /** True while no budget exists (older snapshot versions suffice). */
  isPristine (): boolean { return this.budgets.size === 0 }

  /** The whole state as JSON (deterministic: the same on every replica at the same index). */
  snapshotJson (): unknown {
    return {
      v: 1,
      budgets: [...this.budgets.values()].map(record)
    }
  }

  /** Restores {@link snapshotJson}'s output; throws DecodeError (`ERR_DECODE`) on anything else. */
  static restore (snap: unknown, hooks: BudgetHooks = {}): BudgetMachine {
    const m = new BudgetMachine(hooks)
    try {
      const s = snap as { v?: unknown, budgets?: unknown }
      if (s === null || typeof s !== 'object' || s.v !== 1 || !Array.isArray(s.budgets)) throw new Error('unknown version or malformed')
      const int = (v: unknown, what: string): number => { if (!Number.isSafeInteger(v)) throw new Error(`${what} is not an integer`); return v as number }
      const str = (v: unknown, what: string): string => { if (typeof v !== 'string' || !isWellFormed(v) || v.length === 0) throw new Error(`${what} is not a string`); return v }
      for (const x of s.budgets as unknown[]) {
        const o = x as Record<string, unknown>
        if (o === null || typeof o !== 'object' || !Array.isArray(o.hosts)) throw new Error('a budget is an object with hosts')
        if (!isName(o.name) || m.budgets.has(o.name)) throw new Error('bad or repeated budget name')
        if (!isRate(o.ratePerSecond) || !isBurst(o.burst)) throw new Error(`budget ${o.name}: bad rate or burst`)
        const b: Budget = { name: o.name, ratePerSecond: o.ratePerSecond, burst: o.burst, owner: str(o.owner, 'owner'), index: int(o.index, 'index'), rev: int(o.rev, 'rev'), hosts: new Map() }
        for (const y of o.hosts as unknown[]) {
          const r = y as Record<string, unknown>
          if (r === null || typeof r !== 'object') throw new Error('a host is an object')
          const host = str(r.host, 'host')
          if (!isCapacity(r.capacity) || !isId(r.lease) || b.hosts.has(host)) throw new Error(`budget ${b.name}: bad host ${host}`)
          b.hosts.set(host, { host, capacity: r.capacity, lease: r.lease, since: int(r.since, 'since') })
          const mine = m.byHost.get(host)
          if (mine === undefined) m.byHost.set(host, new Set([b.name]))
          else mine.add(b.name)
          const set = m.byLease.get(r.lease)
          if (set === undefined) m.byLease.set(r.lease, new Set([b.name]))
          else set.add(b.name)
        }
        m.budgets.set(b.name, b)
        m.byOwner.set(b.owner, (m.byOwner.get(b.owner) ?? 0) + 1)
      }
      const bad = m.invariants()
      if (bad.length > 0) throw new Error(bad.slice(0, 3).join('; '))
    } catch (err) {
      throw new DecodeError('budget snapshot', (err as Error).message)
    }
    return m
  }
}
