/**
 * Semantic checkers of the coordination machine (protocols/coordination), run by the simulator on every
 * node's applied events (`coord:event`), whatever drives the traffic (scenario verbs, the fuzzers'
 * workload). State-machine safety across nodes (same entries, same states) is checked elsewhere; these
 * check what the machine promises its users, so a bug that every replica makes alike is caught too.
 * Each is reported as a violation of its own kind:
 *
 * - `lock-exclusion`: after an entry is applied, a lock (or semaphore) has no more holders than permits.
 * - `fencing-token`: every grant of a lock or election carries a token strictly greater than every
 *   earlier grant of it (on that node: since its start, or since the snapshot it restored).
 * - `election-single-leader`: after an entry is applied, an election has at most one leader.
 * - `barrier-generation`: a generation is released only complete (as many distinct arrivals as parties,
 *   the ones that arrived) and ends (released or broken) once; no arrival joins an ended generation.
 * - `vote-decision`: a vote is decided once (never a second `vote:decided` for an id, no ballot recorded
 *   after the decision), a `decided` outcome meets its rule (majority or weighted: more than half the
 *   weight; quorum: n ballots; unanimous: every voter), and every node decides it the same way.
 *
 * A node's checker follows one machine at a time: {@link CoordChecker.attach} (at boot and whenever a
 * snapshot restore replaces the machine, through `MeshApplication.onCoordination`) resets it from that
 * machine's state, and it then checks every event. "After an entry" is when the node's events move to
 * another index, or {@link CoordChecker.flush} (the simulator calls it after each Ready's entries).
 */
import type { CoordinationMachine } from '../protocols/coordination/machine.js'
import type { CoordEvent, LockKind, VoteDecision, VoteRule } from '../protocols/coordination/types.js'

/** The invariants these checkers report (the report's `violations[].invariant`). */
export const COORD_INVARIANTS = ['lock-exclusion', 'fencing-token', 'election-single-leader', 'barrier-generation', 'vote-decision'] as const
export type CoordInvariant = typeof COORD_INVARIANTS[number]

/** Vote decisions remembered for the cross-node comparison (the oldest forgotten beyond it). */
export const VOTE_DECISIONS_MAX = 100_000

export interface ViolationSink { report: (invariant: string, detail: string) => void }

interface LockTrack { kind: LockKind, name: string, holders: Set<string> }
interface BarrierTrack { generation: number, parties: number, agents: string[], lastEnded: number }
interface VoteTrack { voters: Array<{ agent: string, weight: number }>, rule: VoteRule, decided: boolean }

/** Every node must decide a vote the same way: the first decision seen is the reference. */
export class VoteAgreement {
  private readonly decisions = new Map<number, { node: number, json: string }>()

  check (node: number, vote: number, decision: VoteDecision, sink: ViolationSink): void {
    const json = JSON.stringify(decision)
    const first = this.decisions.get(vote)
    if (first === undefined) {
      this.decisions.set(vote, { node, json })
      if (this.decisions.size > VOTE_DECISIONS_MAX) this.decisions.delete(this.decisions.keys().next().value!)
    } else if (first.json !== json) {
      sink.report('vote-decision', `vote ${vote}: node ${first.node} decided ${first.json}, node ${node} decided ${json}`)
    }
  }
}

/** Does a `decided` outcome meet its rule? (The reason when it does not.) */
function unmetRule (d: VoteDecision, v: VoteTrack): string | undefined {
  if (d.status !== 'decided' || d.outcome === null) return undefined
  const ballots = d.ballots.filter(b => b.choice === d.outcome)
  switch (v.rule.kind) {
    case 'majority':
    case 'weighted': {
      const total = v.voters.reduce((s, x) => s + x.weight, 0)
      const w = ballots.reduce((s, b) => s + b.weight, 0)
      return 2 * w > total ? undefined : `${d.outcome} has weight ${w} of ${total}`
    }
    case 'quorum': return ballots.length >= (v.rule.n ?? Infinity) ? undefined : `${d.outcome} has ${ballots.length} ballots, the quorum is ${v.rule.n ?? '?'}`
    case 'unanimous': return ballots.length === v.voters.length ? undefined : `${d.outcome} has ${ballots.length} of ${v.voters.length} ballots`
  }
}

const lockKey = (kind: LockKind, name: string): string => `${kind}:${name}`

export class CoordChecker {
  private machine: CoordinationMachine | undefined
  private readonly locks = new Map<string, LockTrack>()
  /** Newest token granted per lock/election key. */
  private readonly newest = new Map<string, number>()
  private readonly touched = new Set<string>()
  private readonly barriers = new Map<string, BarrierTrack>()
  private readonly votes = new Map<number, VoteTrack>()
  /** The index of the events seen last (its checks run when the index moves on). */
  private index = 0

  constructor (readonly node: number, private readonly sink: ViolationSink, private readonly agreement: VoteAgreement) {}

  /** Follow `m` from now on: the tracked state is reset to `m`'s (a fresh machine, or a restored snapshot). */
  attach (m: CoordinationMachine): void {
    this.machine = m
    this.locks.clear(); this.newest.clear(); this.touched.clear(); this.barriers.clear(); this.votes.clear()
    this.index = 0
    if (m.isPristine()) return
    const s = m.snapshotJson() as { locks: unknown[][], barriers: unknown[][], votes: unknown[][] }
    for (const [kind, name, , newest, , holders] of s.locks as Array<[LockKind, string, number, number, number, Array<[number, number]>]>) {
      const key = lockKey(kind, name)
      this.newest.set(key, newest)
      if (holders.length > 0) this.locks.set(key, { kind, name, holders: new Set(holders.map(([lease, token]) => `${lease}:${token}`)) })
    }
    for (const [name, parties, , generation, , , arrivals] of s.barriers as Array<[string, number, unknown, number, number, number, Array<[string]>]>) {
      this.barriers.set(name, { generation, parties, agents: arrivals.map(a => a[0]), lastEnded: generation - 1 })
    }
    for (const [id, , , , voters, rule, , , , decided] of s.votes as Array<[number, string, unknown, string[], Array<{ agent: string, weight: number }>, VoteRule, number, number, unknown, VoteDecision | null]>) {
      this.votes.set(id, { voters, rule, decided: decided !== null })
    }
  }

  private report (invariant: CoordInvariant, detail: string): void {
    this.sink.report(invariant, `node ${this.node} entry ${this.index}: ${detail}`)
  }

  /** One event of the followed machine, in apply order. */
  onEvent (e: CoordEvent): void {
    if (e.index !== this.index) { this.flush(); this.index = e.index }
    switch (e.type) {
      case 'lock:acquired':
      case 'election:elected': {
        const key = lockKey(e.kind, e.name)
        const prev = this.newest.get(key)
        if (prev !== undefined && e.token <= prev) this.report('fencing-token', `${e.kind} ${e.name} granted to ${e.owner} (lease ${e.lease}) under token ${e.token}, not above the previous grant's ${prev}`)
        else this.newest.set(key, e.token)
        let t = this.locks.get(key)
        if (t === undefined) { t = { kind: e.kind, name: e.name, holders: new Set() }; this.locks.set(key, t) }
        t.holders.add(`${e.lease}:${e.token}`)
        this.touched.add(key)
        break
      }
      case 'lock:released':
      case 'election:ended': {
        const key = lockKey(e.kind, e.name)
        const t = this.locks.get(key)
        t?.holders.delete(`${e.lease}:${e.token}`)
        if (t !== undefined && t.holders.size === 0) this.locks.delete(key)
        break
      }
      case 'barrier:arrived': {
        let b = this.barriers.get(e.name)
        if (b === undefined) { b = { generation: e.generation, parties: e.parties, agents: [], lastEnded: e.generation - 1 }; this.barriers.set(e.name, b) }
        if (e.generation <= b.lastEnded) { this.report('barrier-generation', `${e.agent} arrived at barrier ${e.name} generation ${e.generation}, which already ended`); break }
        if (e.generation !== b.generation) { b.generation = e.generation; b.agents = [] }
        b.parties = e.parties
        if (b.agents.includes(e.agent)) this.report('barrier-generation', `${e.agent} arrived twice at barrier ${e.name} generation ${e.generation}`)
        else b.agents.push(e.agent)
        break
      }
      case 'barrier:released':
      case 'barrier:broken': {
        const released = e.type === 'barrier:released'
        let b = this.barriers.get(e.name)
        if (b === undefined) { b = { generation: e.generation, parties: 0, agents: [], lastEnded: e.generation - 1 }; this.barriers.set(e.name, b) }
        if (e.generation <= b.lastEnded) {
          this.report('barrier-generation', `barrier ${e.name} generation ${e.generation} ${released ? 'released' : 'broken'} again (generation ${b.lastEnded} had ended)`)
          break
        }
        if (released) {
          const tracked = b.generation === e.generation ? b.agents : []
          const distinct = new Set(e.arrivals).size
          if (distinct !== b.parties || e.arrivals.length !== b.parties || tracked.length !== b.parties || !e.arrivals.every(a => tracked.includes(a))) {
            this.report('barrier-generation', `barrier ${e.name} generation ${e.generation} released with arrivals [${e.arrivals.join(', ')}] (${tracked.length} arrived: [${tracked.join(', ')}]) for ${b.parties} parties`)
          }
        }
        b.lastEnded = e.generation
        b.generation = e.generation + 1
        b.agents = []
        break
      }
      case 'vote:opened':
        this.votes.set(e.vote, { voters: e.voters.map(v => ({ agent: v.agent, weight: v.weight })), rule: e.rule, decided: false })
        break
      case 'vote:ballot': {
        if (this.votes.get(e.vote)?.decided === true) this.report('vote-decision', `vote ${e.vote} recorded ${e.agent}'s ballot ${e.choice} after its decision`)
        break
      }
      case 'vote:decided': {
        const v = this.votes.get(e.vote)
        if (v?.decided === true) { this.report('vote-decision', `vote ${e.vote} decided a second time: ${JSON.stringify(e.decision)}`); break }
        if (v !== undefined) {
          v.decided = true
          const unmet = unmetRule(e.decision, v)
          if (unmet !== undefined) this.report('vote-decision', `vote ${e.vote} decided ${e.decision.outcome ?? 'null'} under rule ${v.rule.kind} but ${unmet}`)
        }
        this.agreement.check(this.node, e.vote, e.decision, this.sink)
        break
      }
      default: break
    }
  }

  /** Checks the locks the last entry touched (call once the node applied it). */
  flush (): void {
    if (this.touched.size === 0) return
    for (const key of this.touched) {
      const t = this.locks.get(key)
      if (t === undefined) continue
      const n = t.holders.size
      if (t.kind === 'election') {
        if (n > 1) this.report('election-single-leader', `election ${t.name} has ${n} leaders (lease:token ${[...t.holders].join(', ')})`)
      } else {
        const permits = this.machine?.lock('lock', t.name)?.permits ?? 1
        if (n > permits) this.report('lock-exclusion', `lock ${t.name} (${permits} permit${permits === 1 ? '' : 's'}) has ${n} holders (lease:token ${[...t.holders].join(', ')})`)
      }
    }
    this.touched.clear()
  }
}
