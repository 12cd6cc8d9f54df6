/**
 * Listings of the coordination machine for the client path (the dashboard's pages;
 * src/daemon/coordination-routes.ts): pages of elections, barriers and votes with their state. Pure
 * reads of the replica's state.
 *
 *   coord:list:elections:<limit>:<after>   elections held or campaigned for, names > after, ascending
 *   coord:list:barriers:<limit>:<after>    barriers remembered, names > after, ascending
 *   coord:list:votes:<limit>:<before>      votes remembered (open and decided), ids < before, newest first
 */
import { boundedPage, parseListingArg, type ListingPage } from '../../src/base/page.js'
import type { CoordinationMachine } from './machine.js'
import type { VoteDecision, VoteRule } from './types.js'

export interface ElectionSummary {
  name: string
  /**
   * The leader (the election's first holder): its owner peer, lease, token (grows with every new
   * leadership: the election's term), `since` (the log index of its grant) and value.
   */
  leader: { owner: string, lease: number, token: number, since: number, value: unknown } | null
  /** Candidates waiting to lead. */
  candidates: number
}

export interface BarrierSummary {
  name: string
  parties: number
  /** Parties arrived at the current generation (`waiting` while some are and it is not released). */
  arrived: number
  generation: number
  /** Log time (ms) at which the current generation breaks if not released; null when nobody waits. */
  deadline: number | null
  zone: string | null
  /** How the last generation ended, if one did. */
  last: { generation: number, status: 'released' | 'broken', reason: string | null, index: number } | null
}

export interface VoteSummary {
  vote: number
  opener: string
  topic: string | null
  options: string[]
  rule: VoteRule
  /** Log time (ms) of the deadline. */
  deadline: number
  voters: number
  ballots: number
  /** `open` until decided; then the decision's status. */
  status: 'open' | VoteDecision['status']
  /** Weight per option (the decision's when decided, the ballots so far while open). */
  tally: Array<[string, number]>
  outcome: string | null
  reason: VoteDecision['reason'] | null
}

function election (m: CoordinationMachine, name: string): ElectionSummary | undefined {
  const v = m.lock('election', name)
  if (v === undefined) return undefined
  const h = v.holders[0]
  return {
    name,
    leader: h === undefined ? null : { owner: h.owner, lease: h.lease, token: h.token, since: h.since, value: h.value ?? null },
    candidates: v.waiters.length
  }
}

function barrier (m: CoordinationMachine, name: string): BarrierSummary | undefined {
  const b = m.barrier(name)
  if (b === undefined) return undefined
  const last = b.history[b.history.length - 1]
  return {
    name,
    parties: b.parties,
    arrived: b.arrived.length,
    generation: b.generation,
    deadline: b.arrived.length > 0 ? b.deadline : null,
    zone: b.zone ?? null,
    last: last === undefined ? null : { generation: last.generation, status: last.status, reason: last.reason ?? null, index: last.index }
  }
}

function vote (m: CoordinationMachine, id: number): VoteSummary | undefined {
  const v = m.vote(id)
  if (v === undefined) return undefined
  let tally: Array<[string, number]>
  if (v.decided !== undefined) tally = v.decided.tally
  else {
    const w = new Map<string, number>(v.options.map(o => [o, 0]))
    for (const b of v.ballots) if (w.has(b.choice)) w.set(b.choice, w.get(b.choice)! + b.weight)
    tally = [...w]
  }
  return {
    vote: id,
    opener: v.opener,
    topic: v.topic ?? null,
    options: v.options,
    rule: v.rule,
    deadline: v.deadline,
    voters: v.voters.length,
    ballots: v.ballots.length,
    status: v.decided === undefined ? 'open' : v.decided.status,
    tally,
    outcome: v.decided?.outcome ?? null,
    reason: v.decided?.reason ?? null
  }
}

/** Names greater than `after`, from a sorted list. */
function after (sorted: string[], cursor: string): string[] {
  let lo = 0
  let hi = sorted.length
  while (lo < hi) { const mid = (lo + hi) >>> 1; if (sorted[mid]! <= cursor) lo = mid + 1; else hi = mid }
  return sorted.slice(lo)
}

export function electionsPage (m: CoordinationMachine, limit: number, cursor: string): ListingPage<ElectionSummary> {
  return boundedPage(after(m.lockNames('election', Number.MAX_SAFE_INTEGER), cursor), limit, n => election(m, n), n => n)
}

export function barriersPage (m: CoordinationMachine, limit: number, cursor: string): ListingPage<BarrierSummary> {
  return boundedPage(after(m.barrierNames(), cursor), limit, n => barrier(m, n), n => n)
}

export function votesPage (m: CoordinationMachine, limit: number, before: number): ListingPage<VoteSummary> {
  const ids = m.voteIds()
  function * newestFirst (): Generator<number> {
    for (let i = ids.length - 1; i >= 0; i--) if (ids[i]! < before) yield ids[i]!
  }
  return boundedPage(newestFirst(), limit, id => vote(m, id), String)
}

/** Serves `coord:list:<what>:<limit>:<cursor>` (undefined when malformed). */
export function readCoordListing (m: CoordinationMachine, arg: string): string | undefined {
  const colon = arg.indexOf(':')
  const what = arg.slice(0, colon)
  const p = colon < 0 ? undefined : parseListingArg(arg.slice(colon + 1))
  if (p === undefined) return undefined
  switch (what) {
    case 'elections': return JSON.stringify(electionsPage(m, p.limit, p.cursor))
    case 'barriers': return JSON.stringify(barriersPage(m, p.limit, p.cursor))
    case 'votes': {
      if (p.cursor !== '' && !/^[0-9]{1,16}$/.test(p.cursor)) return undefined
      return JSON.stringify(votesPage(m, p.limit, p.cursor === '' ? Number.MAX_SAFE_INTEGER : Number(p.cursor)))
    }
    default: return undefined
  }
}
