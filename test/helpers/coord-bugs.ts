/**
 * Bugs planted in the shipped coordination machine (protocols/coordination/machine.ts) with vitest spies,
 * one per coordination checker (sim/coord-checkers.ts), for the negative tests: each breaks one promise
 * the way a plausible code change would, on every replica alike (so only a semantic checker sees it).
 * Call one inside a test and `vi.restoreAllMocks()` after it.
 */
import { vi } from 'vitest'
import { CoordinationMachine } from '../../protocols/coordination/machine.js'

/** The machine's private members the bugs reach into (a test may; the code must not). */
interface Internals {
  index: number
  locks: Map<string, { kind: string, name: string, permits: number, holders: Array<{ lease: number, token: number }>, newest: number, rev: number, waiters: unknown[] }>
  leases: Map<number, { id: number, owner: string, holds: Set<string> }>
  barriers: Map<string, { name: string, parties: number, generation: number, arrivals: Array<{ agent: string }>, history: Array<{ arrivals: string[] }> }>
  votes: Map<number, { decided?: unknown, rule: { kind: string, n?: number } }>
  openVotes: number
  acquire: (c: Record<string, unknown>, origin: string) => unknown
  arrive: (c: Record<string, unknown>, origin: string) => Record<string, unknown>
  ballot: (id: number, agent: string, choice: string, origin: string) => unknown
  decide: (v: unknown, final: boolean) => void
  addHolder: (rec: unknown, l: unknown, value: string | undefined) => { token: number }
  endGeneration: (b: unknown, o: unknown) => void
  emitEvent: (e: unknown) => void
}

const proto = CoordinationMachine.prototype as unknown as Internals
const spy = <K extends keyof Internals>(name: K) => vi.spyOn(proto, name as never) as unknown as { mockImplementation: (fn: (this: Internals, ...args: any[]) => unknown) => void }

/**
 * `acquire` grants a held (1-permit) lock or election again when another lease asks: the check for a
 * free permit is skipped. Breaks `lock-exclusion` (kind `lock`) or `election-single-leader` (`election`).
 */
export function grantHeldTwice (kind: 'lock' | 'election'): void {
  const original = proto.acquire
  spy('acquire').mockImplementation(function (c, origin) {
    const k = (c.kind as string | undefined) ?? 'lock'
    const rec = this.locks.get(`${k === 'lock' ? 'l' : 'e'}:${String(c.name)}`)
    const l = this.leases.get(c.lease as number)
    if (k === kind && rec !== undefined && rec.permits === 1 && rec.holders.length === 1 && l !== undefined && l.owner === origin && !rec.holders.some(h => h.lease === l.id)) {
      const h = this.addHolder(rec, l, c.value as string | undefined)
      return { ok: true, granted: true, token: h.token, name: c.name, kind: k, lease: l.id }
    }
    return original.call(this, c, origin)
  })
}

/**
 * A grant's token is the lock's newest token when there is one (the increment is lost): the next holder
 * reuses the previous holder's token. Breaks `fencing-token`.
 */
export function reuseTokens (): void {
  const original = proto.addHolder
  spy('addHolder').mockImplementation(function (rec: { newest: number }, l, value) {
    const newest = rec.newest
    if (newest === 0) return original.call(this, rec, l, value)
    // Compute the grant as if at the newest grant's index and with the one before it as newest.
    const index = this.index
    this.index = newest
    rec.newest = newest - 1
    try { return original.call(this, rec, l, value) } finally { this.index = index }
  })
}

/** A barrier generation is released one arrival short (an off-by-one completeness check). Breaks `barrier-generation`. */
export function releaseBarrierEarly (): void {
  const original = proto.arrive
  spy('arrive').mockImplementation(function (c, origin) {
    const r = original.call(this, c, origin)
    const b = this.barriers.get(c.name as string)
    if (r.ok === true && r.released === false && r.again !== true && b !== undefined && b.arrivals.length >= 1 && b.arrivals.length === b.parties - 1) {
      const generation = b.generation
      this.endGeneration(b, { generation, status: 'released', index: this.index, arrivals: b.arrivals.map(a => a.agent) })
      this.emitEvent({ type: 'barrier:released', index: this.index, name: b.name, generation, arrivals: b.history[b.history.length - 1]?.arrivals ?? [] })
      return { ...r, released: true }
    }
    return r
  })
}

/** Ending a generation does not move to the next one: the same generation ends again. Breaks `barrier-generation`. */
export function endGenerationTwice (): void {
  const original = proto.endGeneration
  spy('endGeneration').mockImplementation(function (b: { generation: number }, o) {
    original.call(this, b, o)
    b.generation--
  })
}

/** A ballot after the decision reopens the vote, which is decided again. Breaks `vote-decision` (decided twice). */
export function redecideVotes (): void {
  const original = proto.ballot
  spy('ballot').mockImplementation(function (id, agent, choice, origin) {
    const v = this.votes.get(id)
    if (v?.decided !== undefined) { delete v.decided; this.openVotes++ }
    return original.call(this, id, agent, choice, origin)
  })
}

/** Any ballot decides a vote for its choice (the rule is ignored). Breaks `vote-decision` (a decision below its rule). */
export function decideOnFirstBallot (): void {
  const original = proto.decide
  spy('decide').mockImplementation(function (v: { rule: { kind: string, n?: number } }, final) {
    const rule = v.rule
    v.rule = { kind: 'quorum', n: 1 }
    try { original.call(this, v, final) } finally { v.rule = rule }
  })
}

/**
 * Replicas disagree: every other call of `decide` (counted across every replica of the run) treats its
 * vote as past its deadline. Breaks `vote-decision` (nodes decide differently).
 */
export function decideNondeterministically (): void {
  const original = proto.decide
  let calls = 0
  spy('decide').mockImplementation(function (v, final) {
    original.call(this, v, final || ++calls % 2 === 0)
  })
}
