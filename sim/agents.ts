/**
 * The scenario runner's agent-level verbs (SCENARIOS.md "Timed mode verbs"): `mint`, `agent`, `auction`,
 * `stake`, `slash`, on the economy replicas of sim/economy.ts.
 *
 * Every verb is a job: a generator that proposes economy commands through Raft (sim.proposeEcon, retried
 * exactly-once until applied) and waits for their first application. The verb advances virtual time
 * until its job is done, at most its bound (`timeoutMs` of an auction, else {@link ECON_VERB_TIMEOUT_MS});
 * past the bound a refusal is recorded and the job goes on in the background (later `run` steps keep
 * driving it: an auction interrupted by a partition or crash settles after the heal or restart).
 *
 * Who proposes what:
 * - `mint` and `slash` are treasury operations: origin `operator` (the economy's authority), proposed at
 *   the current leader (else the lowest live node). A mint to a new account first opens it for its owner:
 *   `n<node>` of the agent with that id in the scenario (pre-scanned), else `operator`.
 * - `agent` opens the agent's account from its node (origin `n<node>`) and keeps its bidding behaviour here.
 * - `stake` acts from the account owner's node (operator-owned accounts: like `mint`).
 * - `auction` opens the auction as account `seller:<node>` (owned by `n<node>`, opened by the verb with
 *   no funds), lets every selected bidder bid once from its own node, then the seller closes it, which
 *   settles it (open sealed bids: no reveal phase).
 *   With `"sealed": "commit"` (first-price, vickrey; SCENARIOS.md extension) each bidder commits
 *   `commitBid(auction, agent, amount, nonce)` with the deterministic nonce {@link sealedNonce} (its
 *   `deposit` escrowed), the verb waits until the bidding period is over (virtual time at the auction's
 *   `closesAt`: the economy refuses an early close, ERR_TOO_EARLY), the seller closes (the reveal window
 *   of `revealMs` opens), every bidder reveals from its node except agents with `reveal: false`, and the
 *   seller settles: at once when every bid is revealed, else after the reveal window (the unrevealed
 *   deposits go to the `treasury` account).
 */
import { commitBid } from '../protocols/auctions/commit.js'
import type { EconOutcome, Simulation } from './simulation.js'
import { OPERATOR } from './economy.js'
import type { Scenario, Step } from './scenario.js'
import { JobRunner } from './jobs.js'
import type { Job, JobGen as Gen, JobWait } from './jobs.js'

/** Default bound on the virtual time one agent-level verb waits for its commands to apply (ms). */
export const ECON_VERB_TIMEOUT_MS = 10_000
/** Default bidding period of an auction (log time, ms); the seller closes it as soon as every bid is in. */
export const AUCTION_DURATION_MS = 60_000
/** Jobs running at once (verbs still in progress). */
export const ECON_JOBS_MAX = 100_000

export interface Agent {
  id: string
  node: number
  capabilities: string[]
  valuation?: number
  bid?: number
  bundles?: Array<{ items: string[], value: number }>
  side?: 'buy' | 'sell'
  limit?: number
  quantity?: number
  /** Commit-reveal auctions: false = commit and never reveal (the deposit is forfeited). Default true. */
  reveal?: boolean
}

type JobGen = Gen<EconOutcome>

/** The deterministic nonce of an agent's commitment in a commit-reveal auction. */
export function sealedNonce (auction: string, agent: string): string { return `sim-nonce/${auction}/${agent}` }

/** Virtual ms slept before retrying a close or settle the economy found too early (log time lags). */
export const SEALED_RETRY_MS = 100
/** Close/settle attempts refused as too early before the verb gives up (it records a refusal). */
export const SEALED_TRIES_MAX = 100

type AuctionStep = Extract<Step, { kind: 'auction' }>['auction']

const failure = (o: EconOutcome | undefined): string | undefined =>
  o === undefined ? 'not applied' : o.result === undefined ? undefined : o.result.ok ? undefined : `${o.result.code}: ${o.result.message}`

export class AgentDriver {
  readonly agents = new Map<string, Agent>()
  private readonly jobs: JobRunner<EconOutcome>
  /** Accounts this driver opened (or saw opened). */
  private readonly opened = new Set<string>()
  /** Agent id -> its node, from every `agent` step of the scenario (owners of minted accounts). */
  private readonly agentNodes = new Map<string, number>()

  constructor (private readonly sim: Simulation, scenario: Pick<Scenario, 'steps'>) {
    this.jobs = new JobRunner(sim, id => sim.takeEconOutcome(id), ECON_JOBS_MAX, 'ECON_JOBS_MAX')
    for (const s of scenario.steps) {
      if (s.kind === 'agent' && !this.agentNodes.has(s.agent.id as string)) this.agentNodes.set(s.agent.id as string, s.agent.node as number)
    }
  }

  /** The owner peer of an account: `n<node>` of the agent with that id, else the operator. */
  ownerOf (account: string): string {
    const n = this.agentNodes.get(account)
    return n === undefined ? OPERATOR : `n${n}`
  }

  /** The node an account's owner proposes from (0: the operator's node, the leader). */
  private nodeOf (account: string): number { return this.agentNodes.get(account) ?? 0 }

  get active (): number { return this.jobs.active }

  /** Run an agent-level step: start its job and advance virtual time until it is done or its bound passes. */
  run (step: Step): void {
    let job: Job<EconOutcome>
    let bound = ECON_VERB_TIMEOUT_MS
    switch (step.kind) {
      case 'mint': job = this.start(`mint ${step.account}`, this.mint(step.account, step.amount)); break
      case 'stake': job = this.start(`stake ${step.account}`, this.stake(step.account, step.amount)); break
      case 'slash': job = this.start(`slash ${step.account}`, this.slash(step.account, step.condition)); break
      case 'agent': job = this.start(`agent ${String(step.agent.id)}`, this.agent(toAgent(step.agent))); break
      case 'auction':
        job = this.start(`auction ${String(step.auction.id)}`, this.auction(step.auction))
        if (typeof step.auction.timeoutMs === 'number') bound = step.auction.timeoutMs
        break
      default: return
    }
    this.jobs.runBounded(job, bound)
  }

  /** Advance every job whose awaited commands have applied (called after every tick round). */
  poll (): void { this.jobs.poll() }

  private start (name: string, gen: JobGen): Job<EconOutcome> { return this.jobs.start(name, gen) }

  // ---------------------------------------------------------------- jobs

  private * openAccount (account: string, node: number, byTreasury: boolean): Generator<number[], string | undefined, EconOutcome[]> {
    if (this.opened.has(account)) return undefined
    const owner = this.ownerOf(account)
    const cmd = byTreasury ? { type: 'open', by: 'treasury', account, owner } : { type: 'open', by: account, account }
    const [o] = yield [this.sim.proposeEcon(node, byTreasury ? OPERATOR : owner, cmd)]
    const f = failure(o)
    if (f === undefined) this.opened.add(account)
    return f === undefined ? undefined : `open ${account}: ${f}`
  }

  private * mint (account: string, amount: number): JobGen {
    const f = yield * this.openAccount(account, 0, true)
    if (f !== undefined) return f
    const [o] = yield [this.sim.proposeEcon(0, OPERATOR, { type: 'mint', by: 'treasury', account, amount })]
    return failure(o)
  }

  private * stake (account: string, amount: number): JobGen {
    const [o] = yield [this.sim.proposeEcon(this.nodeOf(account), this.ownerOf(account), { type: 'stake', by: account, account, amount })]
    return failure(o)
  }

  private * slash (account: string, condition: string): JobGen {
    const [o] = yield [this.sim.proposeEcon(0, OPERATOR, { type: 'slash', by: 'treasury', account, condition })]
    return failure(o)
  }

  private * agent (a: Agent): JobGen {
    if (!this.agents.has(a.id)) this.agents.set(a.id, a)
    return yield * this.openAccount(a.id, a.node, false)
  }

  private * auction (spec: AuctionStep): JobGen {
    const id = spec.id as string
    const node = spec.node as number
    const seller = `seller:${node}`
    const origin = `n${node}`
    this.agentNodes.set(seller, node)
    const f = yield * this.openAccount(seller, node, false)
    if (f !== undefined) return f
    const [opened] = yield [this.sim.proposeEcon(node, origin, { type: 'auction.open', by: seller, auction: auctionSpec(spec) })]
    const fo = failure(opened)
    if (fo !== undefined) return `open: ${fo}`
    const capability = (spec.bidders as { capability?: string } | undefined)?.capability
    const sealed = spec.sealed === 'commit'
    const bids: number[] = []
    const bidders: Array<{ agent: Agent, amount: number }> = []
    for (const a of this.agents.values()) {
      if (capability !== undefined && !a.capabilities.includes(capability)) continue
      let bid = bidFor(spec.type as string, a)
      if (bid === undefined) continue
      const amount = bid.amount as number
      if (sealed) bid = { commitment: commitBid(id, a.id, amount, sealedNonce(id, a.id)) }
      bidders.push({ agent: a, amount })
      bids.push(this.sim.proposeEcon(a.node, `n${a.node}`, { type: 'auction.bid', by: a.id, auction: id, bid }))
    }
    const outcomes = bids.length > 0 ? (yield bids) : []
    const admitted: Array<{ agent: Agent, amount: number }> = []
    outcomes.forEach((o, k) => {
      const fb = failure(o)
      if (fb !== undefined) this.sim.recordRefusal(`auction ${id}: bid of ${bidders[k]?.agent.id ?? '?'} refused: ${fb}`)
      else admitted.push(bidders[k] as { agent: Agent, amount: number })
    })
    if (!sealed) {
      const [closed] = yield [this.sim.proposeEcon(node, origin, { type: 'auction.close', by: seller, auction: id })]
      const fc = failure(closed)
      return fc === undefined ? undefined : `close: ${fc}`
    }
    // Commit-reveal: the whole bidding period runs (log time is at most the virtual clock).
    const closesAt = resultField(opened, 'closesAt')
    const closed = yield * this.untilNotEarly(closesAt, () => this.sim.proposeEcon(node, origin, { type: 'auction.close', by: seller, auction: id }))
    const fc = failure(closed)
    if (fc !== undefined) return `close: ${fc}`
    const revealers = admitted.filter(b => b.agent.reveal !== false)
    const reveals = revealers.map(b => this.sim.proposeEcon(b.agent.node, `n${b.agent.node}`, { type: 'auction.reveal', by: b.agent.id, auction: id, amount: b.amount, nonce: sealedNonce(id, b.agent.id) }))
    const revealed = reveals.length > 0 ? (yield reveals) : []
    revealed.forEach((o, k) => {
      const fr = failure(o)
      if (fr !== undefined) this.sim.recordRefusal(`auction ${id}: reveal of ${revealers[k]?.agent.id ?? '?'} refused: ${fr}`)
    })
    // The seller settles early once every bid is revealed; otherwise after the reveal window.
    const early = revealed.length === admitted.length && revealed.every(o => failure(o) === undefined)
    const revealUntil = resultField(closed, 'revealUntil')
    const settled = yield * this.untilNotEarly(early ? 0 : revealUntil + 1, () => this.sim.proposeEcon(node, origin, { type: 'auction.settle', by: seller, auction: id }))
    const fs = failure(settled)
    return fs === undefined ? undefined : `settle: ${fs}`
  }

  /** Sleep until virtual time `at`, then propose; again after {@link SEALED_RETRY_MS} while refused as too early. */
  private * untilNotEarly (at: number, propose: () => number): Generator<JobWait, EconOutcome | undefined, EconOutcome[]> {
    if (this.sim.now < at) yield { until: at }
    let o: EconOutcome | undefined
    for (let tries = 0; tries < SEALED_TRIES_MAX; tries++) {
      [o] = yield [propose()]
      if (o?.result === undefined || o.result.ok || o.result.code !== 'ERR_TOO_EARLY') return o
      yield { until: this.sim.now + SEALED_RETRY_MS }
    }
    return o
  }
}

function toAgent (v: Record<string, unknown>): Agent {
  const a: Agent = { id: v.id as string, node: v.node as number, capabilities: (v.capabilities as string[] | undefined) ?? [] }
  for (const k of ['valuation', 'bid', 'limit', 'quantity'] as const) if (typeof v[k] === 'number') a[k] = v[k]
  if (v.side === 'buy' || v.side === 'sell') a.side = v.side
  if (typeof v.reveal === 'boolean') a.reveal = v.reveal
  if (Array.isArray(v.bundles)) a.bundles = (v.bundles as Array<{ items: string[], value: number }>).map(b => ({ items: [...b.items], value: b.value }))
  return a
}

/** The protocols/market auction spec for a scenario `auction` step (fields the mechanism does not take are dropped). */
export function auctionSpec (s: AuctionStep): Record<string, unknown> {
  const type = s.type as string
  const out: Record<string, unknown> = {
    id: s.id,
    mechanism: type,
    items: Array.isArray(s.items) && s.items.length > 0 ? s.items : [s.id],
    durationMs: typeof s.durationMs === 'number' ? s.durationMs : AUCTION_DURATION_MS
  }
  const take = (k: string): void => { if (typeof s[k] === 'number') out[k] = s[k] }
  switch (type) {
    case 'english': take('reserve'); take('startPrice'); out.increment = typeof s.increment === 'number' ? s.increment : 1; break
    case 'dutch': take('reserve'); take('startPrice'); take('decrement'); break
    case 'uniform': take('reserve'); take('units'); break
    case 'first-price': case 'vickrey':
      take('reserve')
      if (s.sealed === 'open' || s.sealed === 'commit') out.sealed = s.sealed
      take('deposit'); take('revealMs')
      break
  }
  return out
}

/** A number field of an applied command's result (0 when absent). */
function resultField (o: EconOutcome | undefined, field: string): number {
  const v = (o?.result as Record<string, unknown> | undefined)?.[field]
  return typeof v === 'number' ? v : 0
}

/** An agent's bid in an auction of `type` per its behaviour, or undefined when it has none for it. */
export function bidFor (type: string, a: Agent): Record<string, unknown> | undefined {
  switch (type) {
    case 'english': case 'dutch': {
      const v = a.valuation ?? a.bid
      return v === undefined ? undefined : { maxPrice: v }
    }
    case 'first-price': case 'vickrey': {
      const v = a.bid ?? a.valuation
      return v === undefined ? undefined : { amount: v }
    }
    case 'combinatorial': return a.bundles === undefined || a.bundles.length === 0 ? undefined : { bundles: a.bundles }
    case 'uniform': {
      const v = a.bid ?? a.valuation
      return v === undefined ? undefined : { price: v, quantity: a.quantity ?? 1 }
    }
    case 'double': return a.side === undefined || a.limit === undefined ? undefined : { side: a.side, limit: a.limit, quantity: a.quantity ?? 1 }
  }
  return undefined
}
