/**
 * Random coordination traffic for the fuzzers (sim/fuzz.ts by default, sim/econ-fuzz.ts alongside the
 * auctions), so the coordination checkers (sim/coord-checkers.ts) have grants, hand-offs, expiries,
 * barriers and votes to check in every seed. Its own PRNG stream (derived from the seed): the workload's
 * choices do not shift the simulation's or the fault schedule's.
 *
 * The traffic comes in short *episodes*, about `rate` per virtual second (random gaps), each a few
 * commands from random live nodes, proposed as the node's origin `n<i>` (sim.proposeCoord: exactly-once,
 * retried until applied) at random times over the next seconds:
 * - `lock`: 2–3 nodes acquire lock `l0` or `l1` (or the 2-permit semaphore `s0`), most waiting (some with
 *   a wait timeout), and later release it (or cancel their wait); some never do (their lease ends it);
 * - `election`: 2–3 nodes campaign in `e0`; the leader proclaims a value; later each resigns or withdraws;
 * - `barrier`: the parties of `b2` (2) or `b3` (3) arrive close together, each a fresh agent; in a third
 *   of the episodes one is missing (at `b2x`, `b3x`) and the generation breaks at its timeout (or when a
 *   participant's lease ends);
 * - `vote`: a vote among agents `v1..vN` (`v<i>` hosted by node i) under a random rule, then ballots from
 *   a random subset of the voters' hosts (now and then one after the decision: refused);
 * - `lease`: a lease is revoked, or a short one ({@link COORD_FUZZ_SHORT_TTL_MS}) granted and left to
 *   expire (later episodes may use it: what it holds is then released by its expiry).
 * A node without a live lease first grants one (TTL {@link COORD_FUZZ_TTL_MS}, kept alive by the
 * simulation with probability {@link COORD_FUZZ_KEPT}). The workload learns what each lease holds from
 * the committed events (sim.onCoordEvent). At most {@link COORD_FUZZ_OUTSTANDING_MAX} commands are
 * unapplied at once (later steps wait); a client gives up on one after {@link COORD_FUZZ_PATIENCE_MS}
 * (sim.abandon: not proposed again; it may still apply).
 */
import { createRand } from '../src/base/prng.js'
import type { Rand } from '../src/base/prng.js'
import { LimitExceededError } from '../src/base/errors.js'
import type { CoordCommand, CoordEvent, LockKind, VoteRule } from '../protocols/coordination/types.js'
import type { Workload } from './runner.js'
import type { Simulation } from './simulation.js'
import { LockBook, nodeOfOrigin } from './coordination.js'

/** Commands proposed and not applied yet (nor given up), at once. */
export const COORD_FUZZ_OUTSTANDING_MAX = 8
/** A client gives up on a command unapplied for this long (virtual ms). */
export const COORD_FUZZ_PATIENCE_MS = 2_000
/** Commands per seed by default, and at most. */
export const COORD_FUZZ_OPS_DEFAULT = 400
export const COORD_FUZZ_OPS_MAX = 10_000
/** Planned steps waiting at once (episodes beyond are skipped). */
export const COORD_FUZZ_PLAN_MAX = 64
/** Live leases one node holds at most. */
export const COORD_FUZZ_LEASES_PER_NODE_MAX = 2
/** TTL range of the leases granted (ms); a kept one is renewed every TTL/3 (one keepalive per node). */
export const COORD_FUZZ_TTL_MS: readonly [number, number] = [3000, 9000]
/** TTL range of the short leases a `lease` episode grants and never renews (ms). */
export const COORD_FUZZ_SHORT_TTL_MS: readonly [number, number] = [1000, 2500]
/** Chance that a granted lease is kept alive by its node. */
export const COORD_FUZZ_KEPT = 0.8
/** Decided votes remembered for late ballots (a voter that has not seen the decision yet). */
export const COORD_FUZZ_DECIDED_VOTES_MAX = 8

export interface CoordWorkloadOptions {
  /** Episodes per second of virtual time, on average. Default 1. */
  rate?: number
  /** Commands issued at most. Default {@link COORD_FUZZ_OPS_DEFAULT}. */
  ops?: number
}

export interface CoordWorkloadResult {
  /** Commands proposed. */
  issued: number
  /** Committed coordination events by type (each counted once, at its first application). */
  events: Record<string, number>
}

const LOCKS = ['l0', 'l1'] as const
const SEMAPHORE = 's0'
const SEMAPHORE_PERMITS = 2
const ELECTION = 'e0'

interface Op { id: number, call: number, grant?: { node: number, ttlMs: number, keep: boolean } }
interface Vote { voters: Array<{ agent: string, node: number }>, options: string[], cast: Set<string> }
/**
 * A planned step: at `at`, node `node` proposes what `make(lease)` returns (nothing: skipped), `lease`
 * one of its live leases (with `leased`: it grants one first when it has none; else 0).
 */
interface Step { at: number, node: number, leased: boolean, make: (lease: number) => CoordCommand | undefined }

export class CoordWorkload implements Workload {
  private sim: Simulation | undefined
  private readonly rand: Rand
  private readonly gapMs: number
  private readonly opsMax: number
  private stopped = false
  private nextEpisodeAt = 0
  private episodes = 0
  private readonly ops: Op[] = []
  private plan: Step[] = []
  /** Live leases (id -> node), learnt from grants' outcomes and the committed events. */
  private readonly leases = new Map<number, number>()
  private readonly book = new LockBook()
  private readonly votes = new Map<number, Vote>()
  private readonly decided = new Map<number, Vote>()
  readonly result: CoordWorkloadResult = { issued: 0, events: {} }

  constructor (seed: number, options: CoordWorkloadOptions = {}) {
    this.rand = createRand((seed * 6007 + 3_571) >>> 0)
    this.gapMs = 1000 / (options.rate ?? 1)
    this.opsMax = options.ops ?? COORD_FUZZ_OPS_DEFAULT
    if (this.opsMax > COORD_FUZZ_OPS_MAX) throw new LimitExceededError('COORD_FUZZ_OPS_MAX', COORD_FUZZ_OPS_MAX, this.opsMax, 'coordination workload operations')
  }

  attach (sim: Simulation): void {
    this.sim = sim
    sim.onCoordEvent(e => { this.onEvent(e) })
  }

  /** Start no more episodes (the liveness phase); planned steps still run, leases are still kept alive. */
  stop (): void { this.stopped = true }

  finish (): void {}

  tick (): void {
    const sim = this.sim as Simulation
    for (let i = 0; i < this.ops.length; i++) {
      const op = this.ops[i] as Op
      const o = sim.takeCoordOutcome(op.id)
      if (o === undefined) {
        if (sim.now - op.call >= COORD_FUZZ_PATIENCE_MS) { sim.abandon(op.id); this.ops.splice(i--, 1) }
        continue
      }
      this.ops.splice(i--, 1)
      const lease = o.result?.ok === true ? o.result.lease : undefined
      if (op.grant !== undefined && typeof lease === 'number') {
        this.leases.set(lease, op.grant.node)
        if (op.grant.keep) sim.keepAlive(op.grant.node, lease, op.grant.ttlMs)
      }
    }
    if (!this.stopped && sim.now >= this.nextEpisodeAt) {
      this.nextEpisodeAt = sim.now + this.rand.int(Math.max(1, Math.round(2 * this.gapMs)))
      this.episode(sim)
    }
    this.runPlan(sim)
  }

  private onEvent (e: CoordEvent): void {
    this.result.events[e.type] = (this.result.events[e.type] ?? 0) + 1
    this.book.onEvent(e)
    switch (e.type) {
      case 'lease:expired': case 'lease:revoked': this.leases.delete(e.lease); break
      case 'vote:opened':
        this.votes.set(e.vote, { voters: e.voters.map(v => ({ agent: v.agent, node: nodeOfOrigin(v.host) })), options: e.options, cast: new Set() })
        break
      case 'vote:ballot': this.votes.get(e.vote)?.cast.add(e.agent); break
      case 'vote:decided': {
        const v = this.votes.get(e.vote)
        this.votes.delete(e.vote)
        if (v !== undefined) this.decided.set(e.vote, v)
        if (this.decided.size > COORD_FUZZ_DECIDED_VOTES_MAX) this.decided.delete(this.decided.keys().next().value!)
        break
      }
      default: break
    }
  }

  private propose (sim: Simulation, node: number, cmd: CoordCommand, grant?: Op['grant']): void {
    this.result.issued++
    const op: Op = { id: sim.proposeCoord(node, `n${node}`, cmd), call: sim.now }
    if (grant !== undefined) op.grant = grant
    this.ops.push(op)
  }

  private leasesOf (node: number): number[] {
    const out: number[] = []
    for (const [id, n] of this.leases) if (n === node) out.push(id)
    return out
  }

  /** Propose the planned steps that are due, while there is room; a node without a lease grants one first. */
  private runPlan (sim: Simulation): void {
    if (this.plan.length === 0) return
    const later: Step[] = []
    for (const s of this.plan) {
      if (s.at > sim.now || this.ops.length >= COORD_FUZZ_OUTSTANDING_MAX || this.result.issued >= this.opsMax) { later.push(s); continue }
      if (sim.isCrashed(s.node)) continue
      const leases = s.leased ? this.leasesOf(s.node) : [0]
      if (leases.length === 0) {
        // Grant a lease, then try the step again a little later.
        if (!this.ops.some(op => op.grant?.node === s.node)) this.grant(sim, s.node, this.rand.chance(COORD_FUZZ_KEPT))
        later.push({ ...s, at: sim.now + 100 })
        continue
      }
      const cmd = s.make(this.rand.pick(leases))
      if (cmd !== undefined) this.propose(sim, s.node, cmd)
    }
    this.plan = later
  }

  private grant (sim: Simulation, node: number, keep: boolean, [lo, hi] = COORD_FUZZ_TTL_MS): void {
    const ttlMs = lo + 500 * this.rand.int((hi - lo) / 500 + 1)
    this.propose(sim, node, { t: 'lease.grant', ttlMs }, { node, ttlMs, keep })
  }

  private at (delayMs: number, node: number, make: Step['make'], leased = true): void {
    if (this.plan.length < COORD_FUZZ_PLAN_MAX) this.plan.push({ at: (this.sim as Simulation).now + delayMs, node, leased, make })
  }

  /** The nodes a client would use: live, and members of the leader's configuration when there is a leader. */
  private usable (sim: Simulation): number[] {
    const leader = sim.leaderId()
    const conf = leader === 0 ? undefined : sim.configOf(leader)
    const out: number[] = []
    for (let id = 1; id <= sim.size; id++) {
      if (!sim.isCrashed(id) && (conf === undefined || conf.voters.includes(id) || conf.learners.includes(id))) out.push(id)
    }
    return out
  }

  /** One usable node (any node when none is). */
  private one (sim: Simulation): number {
    const u = this.usable(sim)
    return u.length === 0 ? 1 + this.rand.int(sim.size) : this.rand.pick(u)
  }

  /** 2..k distinct usable nodes (fewer when fewer are). */
  private some (sim: Simulation, k: number): number[] {
    const u = this.usable(sim)
    for (let i = u.length - 1; i > 0; i--) { const j = this.rand.int(i + 1); [u[i], u[j]] = [u[j] as number, u[i] as number] }
    return u.slice(0, Math.min(u.length, 2 + this.rand.int(k - 1)))
  }

  /** What `node`'s leases hold (or wait for) of `kind` `name`: [lease, token or ticket, held]. */
  private mine (node: number, kind: LockKind, name: string): Array<[number, number, boolean]> {
    return this.book.entries(kind, name, lease => this.leases.get(lease) === node)
  }

  /** Release what `node` holds of `kind` `name`, or cancel its wait. */
  private letGo (node: number, kind: LockKind, name: string): CoordCommand | undefined {
    const m = this.mine(node, kind, name)[0]
    if (m === undefined) return undefined
    return m[2] ? { t: 'lock.release', kind, name, token: m[1] } : { t: 'lock.cancel', kind, name, ticket: m[1] }
  }

  private episode (sim: Simulation): void {
    const r = this.rand
    const k = r.int(100)
    this.episodes++
    if (k < 25) {
      const semaphore = r.chance(0.25)
      const name = semaphore ? SEMAPHORE : r.pick(LOCKS)
      for (const node of this.some(sim, 3)) {
        const wait = r.chance(0.8)
        const waitMs = r.chance(0.3) ? 300 + r.int(2500) : undefined
        this.at(r.int(300), node, lease => ({ t: 'lock.acquire', name, lease, wait, ...(semaphore ? { permits: SEMAPHORE_PERMITS } : {}), ...(waitMs !== undefined ? { waitMs } : {}) }))
        if (r.chance(0.85)) this.at(400 + r.int(3000), node, () => this.letGo(node, 'lock', name))
      }
    } else if (k < 40) {
      for (const node of this.some(sim, 3)) {
        this.at(r.int(300), node, lease => ({ t: 'lock.acquire', kind: 'election', name: ELECTION, lease, wait: true, value: JSON.stringify(`n${node}`), ...(r.chance(0.3) ? { waitMs: 500 + r.int(3000) } : {}) }))
        this.at(500 + r.int(1000), node, () => {
          const m = this.mine(node, 'election', ELECTION).find(x => x[2])
          return m === undefined ? undefined : { t: 'election.proclaim', name: ELECTION, token: m[1], value: JSON.stringify(`n${node}#${this.episodes}`) }
        })
        if (r.chance(0.85)) this.at(1000 + r.int(3000), node, () => this.letGo(node, 'election', ELECTION))
      }
    } else if (k < 65) {
      const parties = 2 + r.int(2)
      const timeoutMs = 1000 + r.int(3000)
      // An incomplete episode has barriers of its own (`b2x`, `b3x`): another episode would complete it.
      const complete = r.chance(0.65)
      const name = `b${parties}${complete ? '' : 'x'}`
      const arriving = complete ? parties : parties - 1
      for (let i = 0; i < arriving; i++) {
        const node = this.one(sim)
        const agent = `w${this.episodes}.${i}`
        this.at(r.int(400), node, lease => ({ t: 'barrier.arrive', name, parties, agent, lease, timeoutMs }))
      }
    } else if (k < 87) {
      const node = this.one(sim)
      const voters = Array.from({ length: sim.size }, (_, i) => ({ agent: `v${i + 1}`, host: `n${i + 1}` }))
      const kind = r.pick(['majority', 'quorum', 'unanimous', 'weighted'] as const)
      const rule: VoteRule = kind === 'quorum' ? { kind, n: 1 + r.int(sim.size) } : { kind }
      const options = ['yes', 'no', 'maybe'].slice(0, 2 + r.int(2))
      this.at(0, node, () => ({ t: 'vote.open', options, voters, rule, deadlineMs: 1000 + r.int(3000) }), false)
      // Ballots in the votes open by then (a late one now and then), each from its voter's host.
      for (let i = 0; i < 2 + r.int(sim.size); i++) this.at(300 + r.int(1500), node, () => this.ballot(), false)
    } else {
      const node = this.one(sim)
      if (r.chance(0.5)) this.at(0, node, lease => { sim.forgetLease(node, lease); return { t: 'lease.revoke', lease } })
      else if (!sim.isCrashed(node) && this.leasesOf(node).length < COORD_FUZZ_LEASES_PER_NODE_MAX) this.grant(sim, node, false, COORD_FUZZ_SHORT_TTL_MS)
    }
  }

  /** A ballot of an agent hosted by a live node, in an open vote (15 %: in a recently decided one). */
  private ballot (): CoordCommand | undefined {
    const sim = this.sim as Simulation
    const choices: Array<[number, string, number, string[]]> = []
    for (const [id, v] of this.rand.chance(0.15) ? this.decided : this.votes) for (const x of v.voters) if (!v.cast.has(x.agent) && !sim.isCrashed(x.node)) choices.push([id, x.agent, x.node, v.options])
    if (choices.length === 0) return undefined
    const [vote, agent, host, options] = this.rand.pick(choices)
    // Cast from the voter's host (the planned node was only a trigger), the first option more likely.
    this.propose(sim, host, { t: 'vote.ballot', vote, agent, choice: this.rand.chance(0.5) ? options[0] as string : this.rand.pick(options) })
    return undefined
  }
}
