/**
 * The scenario runner's coordination verbs (SCENARIOS.md "Extension: coordination"): `lease`, `revoke`,
 * `keepalive`, `lock`, `unlock`, `elect`, `resign`, `proclaim`, `barrier`, `vote`, `ballot`, on the
 * coordination machine (protocols/coordination) every simulated node's mesh application runs.
 *
 * Each verb is a job (sim/jobs.ts) proposing coordination commands through Raft as the node's origin
 * `n<node>` (session `n<node>/sim`, signed, retried exactly-once until applied: sim.proposeCoord) and
 * waiting for their first application; the verb advances virtual time until then, at most
 * {@link COORD_VERB_TIMEOUT_MS} (past it a refusal is recorded and the job goes on in the background).
 * A command the machine refuses is a refusal (`ok` unaffected). A verb waits for its command to apply,
 * not for what it asks to happen: `lock` returns once the lock is granted or the request queued, `barrier`
 * once the arrival is recorded, `vote` once the vote is open.
 *
 * Leases have scenario names: a `lease` step grants one (`name`, default `n<node>`) and, unless
 * `keepalive: false`, the simulation keeps it alive from its node (sim.keepAlive: one keepalive per TTL/3
 * while the node is up; a crash ends that for good). Verbs naming a lease (`lease` field, default
 * `n<node>`) use its id; the node's default lease is granted on first use with {@link COORD_TTL_MS_DEFAULT}.
 * `unlock`/`resign` release the token the lease holds (or cancel its waiting ticket), `proclaim` uses
 * the leader's token: both learnt from the committed events (sim.onCoordEvent).
 */
import type { CoordinationMachine } from '../protocols/coordination/machine.js'
import type { CoordCommand, CoordEvent, LockKind, LockView } from '../protocols/coordination/types.js'
import { JobRunner } from './jobs.js'
import type { JobGen, JobWait } from './jobs.js'
import { nullObject } from '../src/base/input.js'
import { COORD_TTL_MS_DEFAULT } from './scenario.js'
import type { CoordStep, Expectation } from './scenario.js'
import type { CoordOutcome, Simulation } from './simulation.js'

/** Bound on the virtual time one coordination verb waits for its command to apply (ms). */
export const COORD_VERB_TIMEOUT_MS = 10_000
/** Coordination jobs in progress at once. */
export const COORD_JOBS_MAX = 100_000
/** Virtual ms a job sleeps between looks at a lease or vote another job is still granting or opening. */
export const COORD_POLL_MS = 10
/** Grants remembered per lock or election (the `granted`/`elected` expectations). */
export const COORD_GRANTS_MAX = 10_000

interface LeaseRec { node: number, ttlMs: number, id?: number, failed?: string }
interface VoteRec { id?: number, failed?: string }

/** The report's `coordination` section (scenarios using coordination). */
export interface CoordinationReport {
  /** Lease name → its node, id (null until granted), whether it is live and when it expires (log time). */
  leases: Record<string, { node: number, lease: number | null, live: boolean, expiresAt: number | null }>
  /** Lock name → permits, holders (node, token), waiting nodes, and every node granted it, in log order. */
  locks: Record<string, { permits: number, holders: Array<{ node: number, token: number }>, waiters: number[], granted: number[] }>
  /** Election name → its leader (node, token, value), waiting candidates, every node elected, in log order. */
  elections: Record<string, { leader: { node: number, token: number, value: unknown } | null, candidates: number[], elected: number[] }>
  /** Barrier name → parties, the waiting generation, its arrivals, and the outcomes of the last ones. */
  barriers: Record<string, { parties: number, generation: number, arrived: string[], outcomes: Array<{ generation: number, status: 'released' | 'broken', reason?: string }> }>
  /** Vote label → its id (null until open), status, outcome and reason. */
  votes: Record<string, { vote: number | null, status: 'open' | 'decided' | 'failed' | 'unknown', outcome: string | null, reason: string | null }>
}

/** The node of a simulated origin `n<i>` (0 for any other origin). */
export function nodeOfOrigin (owner: string): number {
  const m = /^n([0-9]+)$/.exec(owner)
  return m === null ? 0 : Number(m[1])
}

const failure = (o: CoordOutcome | undefined): string | undefined =>
  o === undefined ? 'not applied' : o.result === undefined || o.result.ok ? undefined : `${String(o.result.code)}: ${String(o.result.message)}`

const key = (kind: LockKind, name: string): string => `${kind}:${name}`
const j = (x: unknown): string => JSON.stringify(x)

/**
 * What the committed coordination events say about locks and elections (feed it `Simulation.onCoordEvent`):
 * the token each lease holds, the ticket each lease waits with, and the nodes granted each, in log order.
 */
export class LockBook {
  private readonly held = new Map<string, Map<number, number>>()
  private readonly waiting = new Map<string, Map<number, number>>()
  private readonly grants = new Map<string, number[]>()

  onEvent (e: CoordEvent): void {
    switch (e.type) {
      case 'lock:acquired':
      case 'election:elected': {
        const k = key(e.kind, e.name)
        let g = this.grants.get(k)
        if (g === undefined) { g = []; this.grants.set(k, g) }
        g.push(nodeOfOrigin(e.owner))
        if (g.length > COORD_GRANTS_MAX) g.shift()
        this.table(this.held, k).set(e.lease, e.token)
        this.waiting.get(k)?.delete(e.lease)
        break
      }
      case 'lock:released':
      case 'election:ended': {
        const h = this.held.get(key(e.kind, e.name))
        if (h?.get(e.lease) === e.token) h.delete(e.lease)
        break
      }
      case 'lock:queued':
      case 'election:queued':
        this.table(this.waiting, key(e.kind, e.name)).set(e.lease, e.ticket)
        break
      case 'lock:timeout': case 'election:timeout': case 'lock:cancelled': case 'election:cancelled':
        this.waiting.get(key(e.kind, e.name))?.delete(e.lease)
        break
      default: break
    }
  }

  private table (m: Map<string, Map<number, number>>, k: string): Map<number, number> {
    let t = m.get(k)
    if (t === undefined) { t = new Map(); m.set(k, t) }
    return t
  }

  /** The token lease `lease` holds `kind` `name` under (undefined: it does not hold it). */
  token (kind: LockKind, name: string, lease: number): number | undefined { return this.held.get(key(kind, name))?.get(lease) }
  /** The ticket lease `lease` waits for `kind` `name` with (undefined: it does not wait). */
  ticket (kind: LockKind, name: string, lease: number): number | undefined { return this.waiting.get(key(kind, name))?.get(lease) }
  /** What the leases `mine` accepts hold (`[lease, token, true]`) or wait for (`[lease, ticket, false]`) of `kind` `name`. */
  entries (kind: LockKind, name: string, mine: (lease: number) => boolean): Array<[number, number, boolean]> {
    const out: Array<[number, number, boolean]> = []
    for (const [lease, token] of this.held.get(key(kind, name)) ?? []) if (mine(lease)) out.push([lease, token, true])
    for (const [lease, ticket] of this.waiting.get(key(kind, name)) ?? []) if (mine(lease)) out.push([lease, ticket, false])
    return out
  }

  /** The nodes granted `kind` `name` so far, in log order (the last {@link COORD_GRANTS_MAX}). */
  granted (kind: LockKind, name: string): number[] { return [...this.grants.get(key(kind, name)) ?? []] }
  /** Names of the `kind`s ever granted. */
  grantedNames (kind: LockKind): string[] {
    const out: string[] = []
    for (const k of this.grants.keys()) if (k.startsWith(`${kind}:`)) out.push(k.slice(kind.length + 1))
    return out
  }
}

export class CoordDriver {
  private readonly jobs: JobRunner<CoordOutcome>
  private readonly leases = new Map<string, LeaseRec>()
  private readonly votes = new Map<string, VoteRec>()
  /** Committed state learnt from the events. */
  private readonly book = new LockBook()
  private readonly barrierNames = new Set<string>()

  constructor (private readonly sim: Simulation) {
    this.jobs = new JobRunner(sim, id => sim.takeCoordOutcome(id), COORD_JOBS_MAX, 'COORD_JOBS_MAX')
    sim.onCoordEvent(e => {
      this.book.onEvent(e)
      if (e.type === 'barrier:arrived') this.barrierNames.add(e.name)
    })
  }

  get active (): number { return this.jobs.active }

  /** Run a coordination step: start its job and advance virtual time until it is done or its bound passes. */
  run (step: CoordStep): void {
    const job = this.jobs.start(`${step.kind} ${describe(step)}`, this.job(step))
    this.jobs.runBounded(job, COORD_VERB_TIMEOUT_MS)
  }

  /** Advance every job whose awaited commands have applied (called after every tick round). */
  poll (): void { this.jobs.poll() }

  private propose (node: number, cmd: CoordCommand): number { return this.sim.proposeCoord(node, `n${node}`, cmd) }

  // ---------------------------------------------------------------- jobs

  private * job (s: CoordStep): JobGen<CoordOutcome> {
    switch (s.kind) {
      case 'lease': return yield * this.grant(s.node, s.name, s.ttlMs, s.keepalive)
      case 'revoke': {
        const id = this.leases.get(s.lease)?.id
        if (id === undefined) return `no granted lease ${s.lease}`
        this.sim.forgetLease(s.node, id)
        const [o] = yield [this.propose(s.node, { t: 'lease.revoke', lease: id })]
        return failure(o)
      }
      case 'keepalive': {
        if (s.auto !== undefined) this.sim.setKeepalive(s.node, s.auto)
        if (s.auto === false) return undefined
        const [o] = yield [this.propose(s.node, { t: 'lease.keepalive' })]
        return failure(o)
      }
      case 'lock':
      case 'elect': {
        const lease = yield * this.leaseOf(s.node, s.lease)
        if (typeof lease === 'string') return lease
        const cmd: CoordCommand = s.kind === 'lock'
          ? { t: 'lock.acquire', name: s.name, lease, wait: s.wait }
          : { t: 'lock.acquire', kind: 'election', name: s.name, lease, wait: true, value: s.value }
        if (s.waitMs !== undefined) cmd.waitMs = s.waitMs
        if (s.kind === 'lock' && s.permits !== undefined) cmd.permits = s.permits
        const [o] = yield [this.propose(s.node, cmd)]
        return failure(o)
      }
      case 'unlock':
      case 'resign': {
        const kind: LockKind = s.kind === 'unlock' ? 'lock' : 'election'
        const lease = this.leases.get(s.lease)?.id
        if (lease === undefined) return `no granted lease ${s.lease}`
        const token = this.book.token(kind, s.name, lease)
        const ticket = this.book.ticket(kind, s.name, lease)
        if (token === undefined && ticket === undefined) return `${kind} ${s.name} is neither held nor awaited under lease ${s.lease}`
        const [o] = yield [this.propose(s.node, token !== undefined ? { t: 'lock.release', kind, name: s.name, token } : { t: 'lock.cancel', kind, name: s.name, ticket: ticket as number })]
        return failure(o)
      }
      case 'proclaim': {
        const lease = this.leases.get(s.lease)?.id
        const token = lease === undefined ? undefined : this.book.token('election', s.name, lease)
        if (token === undefined) return `election ${s.name} is not led under lease ${s.lease}`
        const [o] = yield [this.propose(s.node, { t: 'election.proclaim', name: s.name, token, value: s.value })]
        return failure(o)
      }
      case 'barrier': {
        const lease = yield * this.leaseOf(s.node, s.lease)
        if (typeof lease === 'string') return lease
        const [o] = yield [this.propose(s.node, { t: 'barrier.arrive', name: s.name, parties: s.parties, agent: s.agent, lease, timeoutMs: s.waitMs })]
        return failure(o)
      }
      case 'vote': {
        const rec: VoteRec = {}
        this.votes.set(s.id, rec)
        const cmd: CoordCommand = { t: 'vote.open', options: s.options, voters: s.voters.map(v => ({ agent: v.agent, host: `n${v.node}` })), rule: s.rule, deadlineMs: s.deadlineMs }
        if (s.topic !== undefined) cmd.topic = s.topic
        const [o] = yield [this.propose(s.node, cmd)]
        const f = failure(o)
        if (f !== undefined) { rec.failed = f; return f }
        rec.id = o?.result?.vote as number
        return undefined
      }
      case 'ballot': {
        const rec = this.votes.get(s.vote) as VoteRec
        while (rec.id === undefined && rec.failed === undefined) yield { until: this.sim.now + COORD_POLL_MS }
        if (rec.id === undefined) return `vote ${s.vote} did not open: ${String(rec.failed)}`
        const [o] = yield [this.propose(s.node, { t: 'vote.ballot', vote: rec.id, agent: s.agent, choice: s.choice })]
        return failure(o)
      }
    }
  }

  private * grant (node: number, name: string, ttlMs: number, keepalive: boolean): JobGen<CoordOutcome> {
    // A later lease step of the same name grants a new lease under it.
    const rec: LeaseRec = { node, ttlMs }
    this.leases.set(name, rec)
    const [o] = yield [this.propose(node, { t: 'lease.grant', ttlMs })]
    const f = failure(o)
    if (f !== undefined || typeof o?.result?.lease !== 'number') { rec.failed = f ?? 'no lease id'; return `grant: ${rec.failed}` }
    rec.id = o.result.lease
    if (keepalive) this.sim.keepAlive(node, rec.id, ttlMs)
    return undefined
  }

  /** The id of lease `name` (granted now with the default TTL when no step granted it), or a failure. */
  private * leaseOf (node: number, name: string): Generator<JobWait, number | string, CoordOutcome[]> {
    if (!this.leases.has(name)) {
      const f = yield * this.grant(node, name, COORD_TTL_MS_DEFAULT, true)
      if (f !== undefined) return `lease ${name}: ${f}`
    }
    const rec = this.leases.get(name) as LeaseRec
    while (rec.id === undefined && rec.failed === undefined) yield { until: this.sim.now + COORD_POLL_MS }
    return rec.id ?? `lease ${name}: ${String(rec.failed)}`
  }

  // ---------------------------------------------------------------- report and expectations

  /** The report's `coordination` section from machine `m` (the node the report shows) and the committed events. */
  report (m: CoordinationMachine | undefined): CoordinationReport {
    const out: CoordinationReport = { leases: nullObject(), locks: nullObject(), elections: nullObject(), barriers: nullObject(), votes: nullObject() }
    for (const [name, l] of this.leases) {
      const v = l.id === undefined ? undefined : m?.lease(l.id)
      out.leases[name] = { node: l.node, lease: l.id ?? null, live: v !== undefined, expiresAt: v?.expiresAt ?? null }
    }
    for (const kind of ['lock', 'election'] as const) {
      const names = new Set([...m?.lockNames(kind) ?? [], ...this.book.grantedNames(kind)])
      for (const name of [...names].sort()) {
        const view = m?.lock(kind, name)
        const granted = this.book.granted(kind, name)
        const waiters = (view?.waiters ?? []).map(w => nodeOfOrigin(w.owner))
        if (kind === 'lock') {
          out.locks[name] = { permits: view?.permits ?? 1, holders: (view?.holders ?? []).map(h => ({ node: nodeOfOrigin(h.owner), token: h.token })), waiters, granted }
        } else {
          const h = view?.holders[0]
          out.elections[name] = { leader: h === undefined ? null : { node: nodeOfOrigin(h.owner), token: h.token, value: h.value ?? null }, candidates: waiters, elected: granted }
        }
      }
    }
    for (const name of [...this.barrierNames].sort()) {
      const b = m?.barrier(name)
      if (b === undefined) continue
      out.barriers[name] = { parties: b.parties, generation: b.generation, arrived: b.arrived, outcomes: b.history.map(h => ({ generation: h.generation, status: h.status, ...(h.reason !== undefined ? { reason: h.reason } : {}) })) }
    }
    for (const [label, v] of this.votes) {
      const view = v.id === undefined ? undefined : m?.vote(v.id)
      const d = view?.decided
      out.votes[label] = { vote: v.id ?? null, status: view === undefined ? 'unknown' : d === undefined ? 'open' : d.status, outcome: d?.outcome ?? null, reason: d?.reason ?? null }
    }
    return out
  }

  /** The coordination expectations (`lock`, `election`, `barrier`, `votes`, `lease`) against machine `m`. */
  evaluate (e: Expectation, m: CoordinationMachine | undefined): string[] {
    if (e.lock === undefined && e.election === undefined && e.barrier === undefined && e.votes === undefined && e.lease === undefined) return []
    if (m === undefined) return ['coordination expectations: no live node to read']
    const fails: string[] = []
    const cmp = (what: string, w: unknown, g: unknown): void => { if (w !== undefined && j(w) !== j(g)) fails.push(`${what}: expected ${j(w)}, got ${j(g)}`) }
    const nodesOf = (xs: LockView['holders'] | LockView['waiters']): number[] => xs.map(x => nodeOfOrigin(x.owner))
    for (const [name, w] of Object.entries(e.lock ?? {})) {
      const v = m.lock('lock', name)
      const holders = v === undefined ? [] : nodesOf(v.holders)
      cmp(`lock ${name} holder`, w.holder, holders.length === 0 ? null : holders.length === 1 ? holders[0] : holders)
      cmp(`lock ${name} holders`, w.holders, holders)
      cmp(`lock ${name} token`, w.token, v?.holders[0]?.token ?? null)
      cmp(`lock ${name} waiters`, w.waiters, v === undefined ? [] : nodesOf(v.waiters))
      cmp(`lock ${name} granted`, w.granted, this.book.granted('lock', name))
    }
    for (const [name, w] of Object.entries(e.election ?? {})) {
      const v = m.lock('election', name)
      const h = v?.holders[0]
      cmp(`election ${name} leader`, w.leader, h === undefined ? null : nodeOfOrigin(h.owner))
      if ('value' in w) cmp(`election ${name} value`, w.value, h?.value ?? null)
      cmp(`election ${name} candidates`, w.candidates, v === undefined ? [] : nodesOf(v.waiters))
      cmp(`election ${name} elected`, w.elected, this.book.granted('election', name))
    }
    for (const [name, w] of Object.entries(e.barrier ?? {})) {
      const b = m.barrier(name)
      if (b === undefined) { fails.push(`barrier ${name}: not found`); continue }
      cmp(`barrier ${name} generation`, w.generation, b.generation)
      cmp(`barrier ${name} arrived`, w.arrived, b.arrived)
      cmp(`barrier ${name} outcomes`, w.outcomes, b.history.map(x => x.status))
    }
    for (const [label, w] of Object.entries(e.votes ?? {})) {
      const id = this.votes.get(label)?.id
      const v = id === undefined ? undefined : m.vote(id)
      if (v === undefined) { fails.push(`vote ${label}: not found`); continue }
      cmp(`vote ${label} status`, w.status, v.decided === undefined ? 'open' : v.decided.status)
      cmp(`vote ${label} outcome`, w.outcome, v.decided?.outcome ?? null)
      cmp(`vote ${label} reason`, w.reason, v.decided?.reason ?? null)
    }
    for (const [name, w] of Object.entries(e.lease ?? {})) {
      const id = this.leases.get(name)?.id
      cmp(`lease ${name} live`, w, id !== undefined && m.lease(id) !== undefined)
    }
    return fails
  }
}

/** A short description of a step for refusals. */
function describe (s: CoordStep): string {
  switch (s.kind) {
    case 'lease': return `${s.name} at node ${s.node}`
    case 'revoke': return `${s.lease} at node ${s.node}`
    case 'keepalive': return `at node ${s.node}`
    case 'vote': return `${s.id} at node ${s.node}`
    case 'ballot': return `${s.vote} ${s.agent} at node ${s.node}`
    default: return `${s.name} at node ${s.node}`
  }
}
