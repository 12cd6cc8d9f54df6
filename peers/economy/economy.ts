/**
 * The economy on a live peer (FEATURES E1–E6): the ledger and auction book of protocols/market, applied
 * from the mesh's Raft log next to the strong variables, and the live auction flow.
 *
 * - {@link MeshApplication}: the Raft application of a member: commands tagged {@link ECON_TAG} go to
 *   the economy, all others to the strong-variable map. The economy starts with a `genesis` entry that
 *   fixes its authorities (peers acting as the treasury); members propose it, the client path refuses it.
 * - {@link PeerEconomy} (`peer.economy`): ledger and auction commands (through the local driver on a
 *   member, through a member's client stream otherwise), reads, and `runAuction()`: open, find bidders by
 *   a registry query, send each bidder's host a bid request over the agents' channel (peers/agents; the host
 *   calls the agent's handler and proposes the bid itself, as the owner of the agent's account), close,
 *   collect reveals for commit-reveal, settle, and send the result to every participating host.
 */
import { createHmac, randomBytes } from 'node:crypto'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import type { Reply } from '../agents/channel.js'
import type { AuctionFrame } from './frames.js'
import { AgoraError, TimeoutError } from '../../src/base/errors.js'
import { nullObject } from '../../src/base/input.js'
import { NoRaftError } from '../raft/errors.js'
import { TypedEmitter } from '../../src/base/events.js'
import type { Logger } from '../../src/base/log.js'
import type { AgentView, QueryCriteria } from '../../crdt/types.js'
import { commitBid } from '../../protocols/auctions/commit.js'
import { Economy, combinatorialInput, isLive, type AccountView, type SupplyView } from '../../protocols/market/economy.js'
import { instanceDigest, solutionOf, type CarriedSolution } from '../../protocols/auctions/solution.js'
import { DEFAULT_AUCTION_LIMITS } from '../../protocols/auctions/types.js'
import { SettleSolver, SolvePool, type SolveJob, type SolvePoolOptions } from './settle-solver.js'
import { MarketError, type MarketErrorCode } from '../../protocols/market/errors.js'
import type { AuctionSpec, AuctionState, AuctionStatus, BidPayload, MarketResult } from '../../protocols/market/types.js'
import type { SlashCondition } from '../../protocols/ledger/slashing.js'
import { ECON_TAG, MeshApplication, encodeEconCommand, type EconomyAppliedEvent, type GenesisCommand, type SolutionWait } from '../../protocols/mesh/application.js'
import type { ListingPage } from '../../src/base/page.js'
import type { AccountSummary, AuctionSummary } from '../../protocols/market/listings.js'

export { ECON_TAG, MeshApplication, encodeEconCommand, type EconomyAppliedEvent, type GenesisCommand, type MeshApplicationEvents } from '../../protocols/mesh/application.js'

/** Bid requests sent at once by one `runAuction()`. */
export const BID_REQUESTS_CONCURRENT_MAX = 32
/** Default time a host gets to answer a bid request. */
export const BID_REQUEST_TIMEOUT_MS = 5000
/** Agents with a bid handler on one peer. */
export const BID_HANDLERS_MAX = 10_000
/** How long a command waits for the economy's genesis entry (a group that just started). */
export const GENESIS_WAIT_MS = 10_000
/** Longest a bid handler may take (the requester's own timeout usually ends the wait first). */
export const BID_HANDLER_TIMEOUT_MS = 30_000
/** Longest a member host waits for its replica to apply an auction's open before asking the leader. */
const APPLIED_WAIT_MS = 1000
/** Bid requests a host answers at once (its own auctions' local bidders included). */
export const ANSWERS_IN_PROGRESS_MAX = 1024
/** Auction results remembered as emitted (oldest forgotten). */
const NOTIFIED_MAX = 10_000
/** Commit-reveal amounts a host remembers (oldest forgotten). */
const NONCES_MAX = 10_000
/**
 * After its own off-log solve, the closing peer waits this fraction of the solve's time (at most
 * {@link SETTLE_MARGIN_MS_MAX}) before proposing the settle, so replicas that solve a little slower have
 * their result when they apply it. Timing only: the outcome is the same either way.
 */
export const SETTLE_MARGIN_RATIO = 0.5
export const SETTLE_MARGIN_MS_MAX = 5000

const enc = new TextEncoder()
const dec = new TextDecoder()

/** The auction protocol id of earlier versions, still served (the agents' protocol carries the same frames). */
export function auctionProtocol (mesh: string): string {
  return `/agora/${mesh}/auction/2.0.0`
}

/** Where economy commands and reads go: the local driver (members) or a member's client stream. */
export interface EconomyBackend {
  propose: (command: Uint8Array) => Promise<{ index: number, result: unknown }>
  /** Members: resolves true once the local replica applied `index` (false after `timeoutMs`). */
  waitApplied?: (index: number, timeoutMs: number) => Promise<boolean>
  /** JSON text of a read name (see {@link MeshApplication.read}), linearizable. */
  read: (name: string) => Promise<string | undefined>
  /** The local replica's events and economy, on members; `solutionLookup` is set to this peer's off-log solves. */
  app?: { on: (type: 'economy:applied', fn: (e: EconomyAppliedEvent) => void) => () => void, readonly economy: Economy | undefined, solutionLookup?: Economy['solutionLookup'], solutionWait?: SolutionWait | undefined }
  /** Members: calls `fn` when a snapshot from the leader replaced the local replica's state. */
  restored?: (fn: () => void) => () => void
}

/** What a bidder's handler is asked. */
export interface BidRequest {
  auction: string
  agent: string
  seller: string
  spec: AuctionSpec
  closesAt: number
  /** Log index of the auction's open (a hint: a member host waits for its replica to reach it). */
  openedIndex?: number
}

/** Returns the bid for the auction's mechanism (see protocols/market BidPayload), or null to abstain. */
export type BidHandler = (req: BidRequest) => Promise<BidPayload | null> | BidPayload | null

export interface AuctionResultNotice {
  auction: string
  status: AuctionState['status']
  winners: Array<{ agent: string, items: string[], quantity: number, price: number }>
  clearingPrice: number | null
}

export interface PeerEconomyEvents extends Record<string, unknown> {
  /** An economy command applied on this replica (members only). */
  'economy:applied': EconomyAppliedEvent
  'auction:opened': { auction: string, seller: string, index: number }
  'auction:bid': { auction: string, agent: string, index: number }
  'auction:settled': { auction: string, status: string, index: number, outcome: unknown }
  /** A bid request reached one of this peer's agents. */
  'auction:request': BidRequest
  /**
   * What became of a bid request to one of this peer's agents: `bid`, `declined`, or the error code;
   * `handlerMs`: how long the agent's bid handler took (absent when it was not asked).
   */
  'auction:answered': { auction: string, agent: string, outcome: string, handlerMs?: number }
  /**
   * A bid request this peer sent (runAuction) came back: `outcome` is the bidder host's answer (`bid`,
   * `declined`) or the error code (`ERR_TIMEOUT`, `ERR_UNREACHABLE`...); `ms` the round trip.
   */
  'auction:asked': { auction: string, agent: string, host: string, outcome: string, ms: number }
  /** A result notice for an auction one of this peer's agents bid in. */
  'auction:result': AuctionResultNotice
}

export interface RunAuctionOptions {
  /** Seller account (owned by this peer). */
  seller: string
  /** Bidders: explicit agent ids, or a registry query (default: every reachable agent). */
  bidders?: string[] | QueryCriteria
  /** Per-host answer time. Default {@link BID_REQUEST_TIMEOUT_MS}. */
  requestTimeoutMs?: number
}

export interface RunAuctionReport {
  auction: AuctionState
  requested: number
  /**
   * Per agent: `bid`, `declined`, or the error code (`ERR_TIMEOUT`, `ERR_UNREACHABLE`, `ERR_UNKNOWN_AGENT`,
   * `ERR_CONTESTED`: the id is claimed by several hosts and the owner of its account has no claim of it,
   * a rejection code...).
   */
  responses: Record<string, string>
}

type Frame = AuctionFrame

function marketError (r: unknown, what: string): never {
  const o = r as { code?: string, message?: string, error?: { code: string, message: string } } | null
  if (o?.error !== undefined) throw new AgoraError(o.error.code, `${what}: ${o.error.message}`)
  throw new MarketError((o?.code ?? 'ERR_INVALID_COMMAND') as MarketErrorCode, `${what}: ${o?.message ?? 'no result'}`)
}

/** `peer.economy`: the ledger and the auctions of the mesh. */
/**
 * Economy commands a caller starts, counted by the peer's `proposals` rate limit; bids, reveals, closes
 * and settlements answer or finish an auction already open and are never refused by it.
 */
export const RATE_LIMITED_ECON_COMMANDS: ReadonlySet<string> = new Set(['open', 'mint', 'transfer', 'stake', 'unstake', 'slash', 'account.assign', 'outcome', 'auction.open'])

export class PeerEconomy extends TypedEmitter<PeerEconomyEvents> {
  private backend: EconomyBackend | undefined
  private readonly handlers = new Map<string, BidHandler>()
  /** Commit-reveal: amounts committed by this host's agents, by `auction/agent` (nonces are derived). */
  private readonly commits = new Map<string, number>()
  /** Bid requests being answered, by `auction/agent`. */
  private readonly answering = new Set<string>()
  /** Auctions whose result was emitted here. */
  private readonly notified = new Set<string>()
  /** Key of the commit-reveal nonces (kept in memory: a restarted host cannot reveal its earlier commitments). */
  private readonly secret = randomBytes(32)
  /** Answers vote requests for local agents (set by peer.coordination). */
  private voteAnswer: ((vote: number, agent: string, openedIndex: number | undefined) => Promise<string>) | undefined
  /** Auction and vote frames served (`bidRequestsServed`) and refused over the host's limits (counted by peer.agents). */
  readonly stats = { bidRequestsServed: 0, bidRequestsRefused: 0, auctionsRun: 0 }
  /** Combinatorial solves off the apply path (started on first use; see settle-solver.ts). */
  private solver: SettleSolver | undefined
  /** @internal Options of the solver pool, taken when it starts (tests and benches: a slower worker, `delayMs`). */
  solvePoolOptions: Omit<SolvePoolOptions, 'log'> = {}

  constructor (private readonly ctx: {
    /** Sends one frame to a host over the agents' channel (or handles it here when `host` is this peer). */
    ask: (host: string, f: Frame, timeoutMs: number) => Promise<Reply>
    self: string
    log: Logger
    query: (q: QueryCriteria) => { agents: readonly AgentView[] }
    lookup: (id: string) => AgentView | undefined
    /** Every host's claim of an agent id, the registry's owner first (more than one: the id is contested). */
    claims: (id: string) => readonly AgentView[]
    /** Whether a peer is a member of the Raft group (false when this peer cannot tell). */
    isMember: (peerId: string) => boolean
    /** Asked before a command a caller starts ({@link RATE_LIMITED_ECON_COMMANDS}): throws to refuse it (the peer's `proposals` rate limit). */
    admit?: (what: string) => void
  }) { super() }

  /** @internal Where commands go; on members, events are forwarded from the replica. */
  setBackend (b: EconomyBackend): void {
    this.backend = b
    if (b.app !== undefined) this.serveSolves(b.app)
    // A replica that replayed its log (a restart) may hold closed auctions already: solve them now; and so
    // may a snapshot from the leader (no close entry is applied here for the auctions it closed).
    this.presolveClosed()
    b.restored?.(() => { this.presolveClosed() })
    b.app?.on('economy:applied', (e) => {
      this.emit('economy:applied', e)
      const r = e.result
      if (!r.ok) return
      // A deferred close froze the bids: this replica solves them in its worker meanwhile.
      if (r.type === 'auction.close' && r.status === 'closed') this.presolve(String(r.auction), String(r.digest))
      if (r.type === 'auction.open') this.emit('auction:opened', { auction: String(r.auction), seller: String(e.command.by), index: e.index })
      else if (r.type === 'auction.bid') this.emit('auction:bid', { auction: String(r.auction), agent: String(r.agent), index: e.index })
      else if (r.status === 'settled' || r.status === 'no-sale' || r.status === 'failed') {
        this.emit('auction:settled', { auction: String(r.auction), status: String(r.status), index: e.index, outcome: r.outcome })
        // A member hosting a bidder learns the result from its own replica (no notice needed).
        const a = b.app?.economy?.auction(String(r.auction))
        if (a !== undefined && a.bids.some(x => this.handlers.has(x.agent))) this.notify(a)
      }
    })
  }

  /**
   * @internal Serves this peer's off-log solves to a replica (its settles' lookups and waits). The peer
   * calls it before the replica starts too: a restart's replay may reach a settle at once.
   */
  serveSolves (app: Pick<NonNullable<EconomyBackend['app']>, 'solutionLookup' | 'solutionWait'>): void {
    app.solutionLookup = (digest) => this.solver?.lookup(digest)
    app.solutionWait = (digest, job) => this.solutionWait(digest, job)
  }

  /** Emits `auction:result` once per auction (a notice and the replica may both report it). */
  private notify (a: AuctionState): void {
    if (this.notified.has(a.spec.id)) return
    this.notified.add(a.spec.id)
    if (this.notified.size > NOTIFIED_MAX) this.notified.delete(this.notified.values().next().value!)
    this.emit('auction:result', {
      auction: a.spec.id,
      status: a.status,
      winners: (a.outcome?.winners ?? []).map(w => ({ agent: w.agent, items: w.items, quantity: w.quantity, price: w.price })),
      clearingPrice: a.outcome?.clearingPrice ?? null
    })
  }

  // ---------------------------------------------------------------- commands

  /** Proposes an economy command; resolves with its result or throws its named error. */
  async command (cmd: Record<string, unknown>): Promise<Record<string, unknown>> {
    if (this.backend === undefined) throw new NoRaftError('the economy')
    if (typeof cmd.type === 'string' && RATE_LIMITED_ECON_COMMANDS.has(cmd.type)) this.ctx.admit?.(`economy.${cmd.type}`)
    const deadline = Date.now() + GENESIS_WAIT_MS
    let p = await this.backend.propose(encodeEconCommand(cmd))
    let r = p.result as MarketResult | { error: { code: string, message: string } } | null
    // Right after a group starts, its leader is still committing the genesis entry: wait for it (bounded).
    while (r !== null && typeof r === 'object' && 'ok' in r && !r.ok && r.code === ('ERR_NO_GENESIS' as string) && Date.now() < deadline) {
      await new Promise(resolve => setTimeout(resolve, 100))
      p = await this.backend.propose(encodeEconCommand(cmd))
      r = p.result as MarketResult
    }
    if (r === null || typeof r !== 'object' || !('ok' in r) || !r.ok) marketError(r, String(cmd.type))
    return { ...r, index: p.index }
  }

  async open (account: string): Promise<void> { await this.command({ type: 'open', by: account, account }) }
  /** Treasury only (this peer must be an authority). `owner` names the owning peer of a new account. */
  async mint (account: string, amount: number, options: { owner?: string } = {}): Promise<void> {
    await this.command({ type: 'mint', by: 'treasury', account, amount, ...(options.owner !== undefined ? { owner: options.owner } : {}) })
  }

  async transfer (from: string, to: string, amount: number): Promise<void> { await this.command({ type: 'transfer', by: from, from, to, amount }) }
  async stake (account: string, amount: number): Promise<void> { await this.command({ type: 'stake', by: account, account, amount }) }
  async unstake (account: string, amount: number): Promise<void> { await this.command({ type: 'unstake', by: account, account, amount }) }
  /** Treasury only. */
  async slash (account: string, condition: SlashCondition, evidence?: unknown): Promise<Record<string, unknown>> {
    return await this.command({ type: 'slash', by: 'treasury', account, condition, ...(evidence !== undefined ? { evidence } : {}) })
  }

  /** Treasury only: moves `account` to another owner peer (a squatted name, a host that lost its key). */
  async assign (account: string, owner: string): Promise<void> {
    await this.command({ type: 'account.assign', by: 'treasury', account, owner })
  }

  /** Treasury only: a delivered/late/failed task outcome for the E3 reputation. */
  async outcome (account: string, o: { delivered: boolean, onTime: boolean, qualityPpm: number }): Promise<void> {
    await this.command({ type: 'outcome', by: 'treasury', account, ...o })
  }

  /** Opens an auction; returns its deadline (log time) and the log index of the open. */
  async openAuction (spec: AuctionSpec, seller: string): Promise<{ closesAt: number, index: number }> {
    const r = await this.command({ type: 'auction.open', by: seller, auction: spec })
    return { closesAt: r.closesAt as number, index: r.index as number }
  }

  async bid (auction: string, agent: string, bid: BidPayload): Promise<{ escrowed: number }> {
    const r = await this.command({ type: 'auction.bid', by: agent, auction, bid })
    return { escrowed: r.escrowed as number }
  }

  /**
   * Closes an auction (and settles it, unless it is commit-reveal). A combinatorial auction settles off
   * the apply path: a deferred close, this peer's worker solve, then `auction.settle` carrying it.
   */
  async closeAuction (auction: string, by: string, mechanism?: string): Promise<Record<string, unknown>> {
    const m = mechanism ?? this.replica?.auction(auction)?.spec.mechanism ?? (await this.auction(auction).catch(() => undefined))?.spec.mechanism
    if (m !== 'combinatorial') return await this.command({ type: 'auction.close', by, auction })
    let digest: string
    try {
      digest = String((await this.command({ type: 'auction.close', by, auction, settle: 'deferred' })).digest)
    } catch (err) {
      // Closed already (a retry after the close applied and its settle did not, or another close): the
      // close went past `by`'s authorization, so settle it now rather than leave it closed.
      if ((err as { code?: string }).code !== 'ERR_WRONG_PHASE') throw err
      const a = this.replica?.auction(auction) ?? await this.auction(auction).catch(() => undefined)
      if (a?.status !== 'closed' || a.solveDigest === undefined) throw err
      digest = a.solveDigest
    }
    return await this.settleClosed(auction, by, digest)
  }

  /**
   * Settles a closed combinatorial auction with this peer's solve as the carried solution (without one
   * when the solve failed, timed out or was refused: the replicas then solve in apply).
   */
  async settleClosed (auction: string, by: string, digest: string): Promise<Record<string, unknown>> {
    let solution: CarriedSolution | undefined
    try {
      const job = await this.solveJob(auction, digest)
      if (job !== undefined) {
        const t0 = performance.now()
        solution = solutionOf(await this.solverOf().solve(digest, job), digest)
        // The other replicas started the same solve when they applied the close: give a slower one a
        // margin to finish, or it solves again inside apply (the same outcome, but its commits wait).
        const margin = Math.min((performance.now() - t0) * SETTLE_MARGIN_RATIO, SETTLE_MARGIN_MS_MAX)
        if (margin >= 1) await new Promise(resolve => setTimeout(resolve, margin))
      }
    } catch (err) {
      this.ctx.log.warn('no off-log solve for a combinatorial settle (the replicas solve in apply)', { auction, code: (err as { code?: string }).code, message: (err as Error).message })
    }
    return await this.command({ type: 'auction.settle', by, auction, ...(solution !== undefined ? { solution } : {}) })
  }

  /** The solver input of a closed auction whose frozen bids have `digest` (the replica's on members, else a read); undefined when it differs. */
  private async solveJob (auction: string, digest: string): Promise<SolveJob | undefined> {
    const local = this.replica
    const a = local?.auction(auction) ?? await this.auction(auction)
    if (a === undefined || a.status !== 'closed') return undefined
    const limits = local?.auctionLimits ?? { ...DEFAULT_AUCTION_LIMITS }
    const { params, bids } = combinatorialInput(a.spec, a.bids)
    return instanceDigest(params, bids, limits) === digest ? { params, bids, limits } : undefined
  }

  private solverOf (): SettleSolver {
    this.solver ??= new SettleSolver(new SolvePool({ ...this.solvePoolOptions, log: this.ctx.log }))
    return this.solver
  }

  /**
   * What the replica's settle of a closed auction waits for (MeshApplication.applyWait): this peer's
   * solve of `digest`, started now when it is not queued or running (a restart's replay applies the close
   * and the settle in one go; a snapshot brought the auction closed), unless it is done already. The
   * promise settles either way (a failed or refused solve: the settle solves in apply).
   */
  private solutionWait (digest: string, job: () => SolveJob): PromiseLike<unknown> | undefined {
    const solver = this.solverOf()
    if (solver.lookup(digest) !== undefined) return undefined
    let p: Promise<unknown> | undefined = solver.running(digest)
    if (p === undefined) {
      const j = job()
      // A result kept under a digest must be that very instance's (else replicas could diverge).
      if (instanceDigest(j.params, j.bids, j.limits) !== digest) return undefined
      p = solver.solve(digest, j)
    }
    return p.then(() => undefined, () => undefined)
  }

  /** Starts this replica's solves of every closed auction it holds. */
  private presolveClosed (): void {
    const e = this.backend?.app?.economy
    for (const id of e?.auctionIds() ?? []) {
      const a = e!.auction(id)!
      if (a.status === 'closed' && a.solveDigest !== undefined) this.presolve(id, a.solveDigest)
    }
  }

  /** Starts this replica's solve of a closed auction (its result serves the settle's apply here). */
  private presolve (auction: string, digest: string): void {
    this.solveJob(auction, digest).then(async (job) => {
      // Still closed? A log replayed at restart applies a close and its settle in one batch, before this
      // runs: a solve then would only take a worker (and a queue slot) from a closed auction that needs one.
      const now = this.replica?.auction(auction)
      if (job === undefined || (now !== undefined && (now.status !== 'closed' || now.solveDigest !== digest))) return
      await this.solverOf().solve(digest, job)
    }).catch((err: unknown) => {
      this.ctx.log.debug('combinatorial pre-solve failed (apply solves instead)', { auction, code: (err as { code?: string }).code })
    })
  }

  /** Whether this peer holds a finished off-log solve of the instance `digest` (what its replica's settle apply will use). */
  hasSolve (digest: string): boolean { return this.solver?.lookup(digest) !== undefined }

  /** Terminates the solver workers (peer stop); a later solve starts new ones. */
  async stopSolver (): Promise<void> {
    const s = this.solver
    this.solver = undefined
    await s?.stop()
  }

  async reveal (auction: string, agent: string, amount: number, nonce: string): Promise<void> { await this.command({ type: 'auction.reveal', by: agent, auction, amount, nonce }) }
  async settle (auction: string, by: string): Promise<Record<string, unknown>> { return await this.command({ type: 'auction.settle', by, auction }) }

  // ---------------------------------------------------------------- reads (linearizable)

  private async read<T> (name: string): Promise<T | undefined> {
    if (this.backend === undefined) throw new NoRaftError('the economy')
    const raw = await this.backend.read(name)
    return raw === undefined ? undefined : JSON.parse(raw) as T
  }

  async account (id: string): Promise<AccountView | undefined> { return await this.read<AccountView>(`econ:account:${id}`) }
  async auction (id: string): Promise<AuctionState | undefined> { return await this.read<AuctionState>(`econ:auction:${id}`) }
  async supply (): Promise<SupplyView | undefined> { return await this.read<SupplyView>('econ:supply') }
  /** Ids of the latest auctions (at most 1000), oldest first. */
  async auctions (): Promise<string[]> { return await this.read<string[]>('econ:auctions') ?? [] }
  /** A page of accounts with ids after `after` (ascending; protocols/market/listings.ts); empty before genesis. */
  async accountsPage (limit: number, after = ''): Promise<ListingPage<AccountSummary>> { return await this.read<ListingPage<AccountSummary>>(`econ:accounts:${limit}:${after}`) ?? { entries: [], next: null } }
  /** A page of auction summaries, newest first, opened before the auction at log index `before` (a page's `next`). */
  async auctionsPage (limit: number, o: { status?: AuctionStatus, before?: string } = {}): Promise<ListingPage<AuctionSummary>> { return await this.read<ListingPage<AuctionSummary>>(`econ:auction-page:${limit}:${o.status ?? ''}:${o.before ?? ''}`) ?? { entries: [], next: null } }

  /** The replica's economy on a member (undefined elsewhere or before genesis): local, possibly stale reads. */
  get replica (): Economy | undefined { return this.backend?.app?.economy }

  // ---------------------------------------------------------------- bidders

  /**
   * Registers `agentId`'s bid handler (the agent must be hosted here and own its account here): bid
   * requests for it are answered by proposing what the handler returns.
   */
  handle (agentId: string, handler: BidHandler): void {
    if (typeof handler !== 'function') throw new AgoraError('ERR_INVALID_OPTION', 'handler must be a function')
    if (!this.handlers.has(agentId) && this.handlers.size >= BID_HANDLERS_MAX) throw new AgoraError('ERR_LIMIT_EXCEEDED', `more than ${BID_HANDLERS_MAX} bid handlers`)
    this.handlers.set(agentId, handler)
  }

  unhandle (agentId: string): void { this.handlers.delete(agentId) }

  /**
   * The auction as the log has it: the local replica if it holds it (on a member, after waiting for the
   * replica to apply `atIndex`, bounded), else a linearizable read.
   */
  private async realAuction (id: string, atIndex?: number): Promise<AuctionState | undefined> {
    let local = this.replica?.auction(id)
    if (local === undefined && atIndex !== undefined && this.backend?.waitApplied !== undefined && await this.backend.waitApplied(atIndex, APPLIED_WAIT_MS)) local = this.replica?.auction(id)
    return local !== undefined ? structuredClone(local) : await this.auction(id)
  }

  /**
   * Asks a local agent's handler and proposes its bid. The handler sees the auction as the log has it
   * (never the request's claims). For commit-reveal the host commits `sha256(auction, agent, amount,
   * nonce)` with `nonce = HMAC(host secret, auction/agent)` and remembers the amount for the reveal.
   * One answer per (auction, agent): a repeated request is refused without asking the handler again.
   */
  private async answer (auction: string, agent: string, openedIndex: number | undefined, timing: { handlerMs?: number }): Promise<string> {
    const h = this.handlers.get(agent)
    if (h === undefined) throw new AgoraError('ERR_NO_HANDLER', `agent ${agent} has no bid handler on this peer`)
    const key = `${auction}/${agent}`
    if (this.answering.has(key) || this.commits.has(key)) throw new MarketError('ERR_DUPLICATE_BID', `${agent} already answered for ${auction}`)
    if (this.answering.size >= ANSWERS_IN_PROGRESS_MAX) throw new AgoraError('ERR_LIMIT_EXCEEDED', `more than ${ANSWERS_IN_PROGRESS_MAX} bid requests in progress`)
    this.answering.add(key)
    try {
      const a = await this.realAuction(auction, openedIndex)
      if (a === undefined) throw new MarketError('ERR_UNKNOWN_AUCTION', `no auction ${auction}`)
      if (a.status !== 'open') throw new MarketError('ERR_AUCTION_CLOSED', `auction ${auction} is ${a.status}`)
      if (a.bids.some(b => b.agent === agent)) throw new MarketError('ERR_DUPLICATE_BID', `${agent} already bid in ${auction}`)
      const req: BidRequest = { auction, agent, seller: a.seller, spec: a.spec, closesAt: a.closesAt }
      this.emit('auction:request', req)
      const asked = performance.now()
      let bid: Awaited<ReturnType<BidHandler>>
      try {
        bid = await withTimeout(Promise.resolve(h(req)), BID_HANDLER_TIMEOUT_MS)
      } finally {
        timing.handlerMs = performance.now() - asked
      }
      if (bid === null || bid === undefined) return 'declined'
      if (a.spec.sealed === 'commit') {
        const amount = (bid as { amount?: unknown }).amount
        if (typeof amount !== 'number') throw new AgoraError('ERR_INVALID_BID', 'a sealed bid needs an amount')
        await this.bid(auction, agent, { commitment: commitBid(auction, agent, amount, this.nonceOf(key)) })
        this.commits.set(key, amount)
        if (this.commits.size > NONCES_MAX) this.commits.delete(this.commits.keys().next().value!)
      } else {
        await this.bid(auction, agent, bid)
      }
      return 'bid'
    } finally {
      this.answering.delete(key)
    }
  }

  private nonceOf (key: string): string {
    return createHmac('sha256', this.secret).update(key).digest('hex')
  }

  private async revealFor (auction: string, agent: string): Promise<string> {
    const key = `${auction}/${agent}`
    const amount = this.commits.get(key)
    if (amount === undefined) throw new AgoraError('ERR_INVALID_BID', `no commitment of ${agent} in ${auction} on this peer`)
    try {
      await this.reveal(auction, agent, amount, this.nonceOf(key))
    } catch (err) {
      // Revealed already (a repeated request): done.
      if ((err as { code?: string }).code !== 'ERR_DUPLICATE_BID') throw err
    }
    this.commits.delete(key)
    return 'revealed'
  }

  /**
   * A result notice is only a hint that an auction ended: the event carries the outcome as the log has
   * it, so a forged notice cannot mislead this host's agents.
   */
  private async noted (auction: string, agents: string[]): Promise<string> {
    if (!agents.some(a => this.handlers.has(a))) return 'noted'
    const a = await this.realAuction(auction)
    if (a === undefined || isLive(a)) return 'ignored'
    this.notify(a)
    return 'noted'
  }

  /** @internal Handles one auction or vote frame (from peer.agents' channel, or this peer's own runAuction). Throws named errors. */
  async serveFrame (f: Frame): Promise<string> {
    if (f.t === 'bid-request') {
      const { auction, agent } = f.req
      const timing: { handlerMs?: number } = {}
      const answered = (outcome: string): void => {
        this.emit('auction:answered', { auction, agent, outcome, ...(timing.handlerMs !== undefined ? { handlerMs: timing.handlerMs } : {}) })
      }
      try {
        const outcome = await this.answer(auction, agent, f.req.openedIndex, timing)
        answered(outcome)
        return outcome
      } catch (err) {
        answered((err as { code?: string }).code ?? 'ERR_HANDLER')
        throw err
      }
    }
    if (f.t === 'reveal-request') return await this.revealFor(f.auction, f.agent)
    if (f.t === 'vote-request') {
      if (this.voteAnswer === undefined) throw new AgoraError('ERR_NO_HANDLER', 'this peer answers no vote requests')
      return await this.voteAnswer(f.vote, f.agent, f.openedIndex)
    }
    return await this.noted(f.notice.auction, f.agents)
  }

  /** @internal peer.coordination answers vote requests through this channel. */
  setVoteAnswer (fn: (vote: number, agent: string, openedIndex: number | undefined) => Promise<string>): void {
    this.voteAnswer = fn
  }

  /** @internal Sends a vote request to an agent's host over the agents' request channel. */
  async askVote (host: string, req: { vote: number, agent: string, openedIndex: number }, timeoutMs: number): Promise<Reply> {
    return await this.ask(host, { t: 'vote-request', ...req }, timeoutMs)
  }

  /** Sends one frame to `host` over the agents' channel (or handles it here) and returns the reply. */
  private async ask (host: string, f: Frame, timeoutMs: number): Promise<Reply> {
    return await this.ctx.ask(host, f, timeoutMs)
  }

  /**
   * Runs an auction to its end: opens it (seller owned by this peer), sends a bid request to each
   * bidder's host (bounded concurrency, per-host timeout; unreachable or slow hosts are recorded and
   * skipped), closes it once every request is answered, collects reveals for commit-reveal and settles,
   * then sends the result to every participating host. Bids reaching the log after the close are refused
   * by the state machine, so a late host can never change the outcome.
   */
  async runAuction (spec: AuctionSpec, options: RunAuctionOptions): Promise<RunAuctionReport> {
    const timeoutMs = options.requestTimeoutMs ?? BID_REQUEST_TIMEOUT_MS
    const { closesAt, index: openedIndex } = await this.openAuction(spec, options.seller)
    this.stats.auctionsRun++
    // Keyed by agent ids from the caller (HTTP body): prototype-free, so no id is dropped or inherited.
    const responses = nullObject<string>()
    const byId = new Map<string, AgentView>()
    if (Array.isArray(options.bidders)) {
      for (const id of options.bidders) {
        const a = this.ctx.lookup(id)
        if (a === undefined) responses[id] = 'ERR_UNKNOWN_AGENT'
        else byId.set(id, a)
      }
    } else {
      for (const a of this.ctx.query({ reachableOnly: true, ...(options.bidders ?? {}) }).agents) byId.set(a.id, a)
    }
    byId.delete(options.seller)
    // A contested id goes to the claim of its account's owner (the log's first committed claim), so a host
    // that took the name in the registry cannot take the agent's bid requests.
    for (const a of [...byId.values()]) {
      if (!a.contested) continue
      const claim = await this.bidderClaim(a)
      if (claim === undefined) { byId.delete(a.id); responses[a.id] = 'ERR_CONTESTED' } else byId.set(a.id, claim)
    }
    const targets = [...byId.values()]
    const req = (a: AgentView): BidRequest => ({ auction: spec.id, agent: a.id, seller: options.seller, spec, closesAt, openedIndex })
    await pool(targets, BID_REQUESTS_CONCURRENT_MAX, async (a) => {
      const sent = performance.now()
      const r = await this.ask(a.host, { t: 'bid-request', req: req(a) }, timeoutMs)
      responses[a.id] = r.ok ? r.outcome : r.code
      this.emit('auction:asked', { auction: spec.id, agent: a.id, host: a.host, outcome: responses[a.id]!, ms: performance.now() - sent })
    })
    // Sealed (commit-reveal) auctions run their whole bidding period; others close now.
    const closed = await this.untilAllowed(closesAt, async () => await this.closeAuction(spec.id, options.seller, spec.mechanism))
    if (closed.status === 'reveal') {
      // Every committed bid in the log is asked to reveal (a host whose answer timed out may still have committed).
      const book = await this.realAuction(spec.id)
      const committed = (book?.bids ?? []).map(b => byId.get(b.agent) ?? this.ctx.lookup(b.agent)).filter((a): a is AgentView => a !== undefined)
      await pool(committed, BID_REQUESTS_CONCURRENT_MAX, async (a) => {
        const r = await this.ask(a.host, { t: 'reveal-request', auction: spec.id, agent: a.id }, timeoutMs)
        if (!r.ok) responses[a.id] = `reveal:${r.code}`
      })
      await this.settleWhenAllowed(spec.id, options.seller, closed.revealUntil as number)
    }
    // On a member the close/settle was applied here before it resolved: the replica is current (no ReadIndex round).
    const local = this.replica?.auction(spec.id)
    const state = local !== undefined && !isLive(local) ? structuredClone(local) : await this.auction(spec.id)
    if (state === undefined) throw new AgoraError('ERR_UNKNOWN_AUCTION', `auction ${spec.id} vanished`)
    // Hosts outside the Raft group get a notice; members see the settlement in their replica.
    const byHost = new Map<string, string[]>()
    for (const a of targets) {
      if (this.ctx.isMember(a.host)) continue
      const l = byHost.get(a.host) ?? []
      l.push(a.id)
      byHost.set(a.host, l)
    }
    await pool([...byHost], BID_REQUESTS_CONCURRENT_MAX, async ([host, agents]) => {
      await this.ask(host, { t: 'result', notice: { auction: spec.id, status: state.status, winners: [], clearingPrice: null }, agents }, timeoutMs)
    })
    return { auction: state, requested: targets.length, responses }
  }

  /**
   * The claim of a contested agent id to send its bid requests to: the one hosted by the peer owning the
   * agent's account in the log (local replica on a member, else a linearizable read); the registry's
   * owner when the account does not exist (no bid of it could commit anyway); undefined when the account's
   * owner has no claim of the id.
   */
  private async bidderClaim (a: AgentView): Promise<AgentView | undefined> {
    let owner = this.replica?.account(a.id)?.owner
    if (owner === undefined || owner === null) owner = (await this.account(a.id).catch(() => undefined))?.owner
    if (owner === undefined || owner === null || owner === a.host) return a
    return this.ctx.claims(a.id).find(c => c.host === owner)
  }

  /**
   * Runs `fn` until it no longer fails with ERR_TOO_EARLY, waiting for log time (members' clocks) to
   * pass `at`; bounded at 30 s past it.
   */
  private async untilAllowed<T> (at: number, fn: () => Promise<T>): Promise<T> {
    const deadline = Math.max(Date.now(), at) + 30_000
    for (;;) {
      try {
        return await fn()
      } catch (err) {
        if ((err as { code?: string }).code !== 'ERR_TOO_EARLY' || Date.now() > deadline) throw err
      }
      await new Promise(resolve => setTimeout(resolve, Math.min(500, Math.max(20, at + 1 - Date.now()))))
    }
  }

  /** Settles a commit-reveal auction: at once if every bid is revealed, else once the reveal window ended (log time). */
  private async settleWhenAllowed (auction: string, seller: string, revealUntil: number): Promise<void> {
    await this.untilAllowed(revealUntil, async () => await this.settle(auction, seller))
  }
}

async function withTimeout<T> (p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  try {
    return await Promise.race([p, new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new TimeoutError('bid handler', ms)) }, ms) })])
  } finally {
    clearTimeout(timer)
  }
}

/** Runs `fn` over `items` with at most `n` at once. */
async function pool<T> (items: readonly T[], n: number, fn: (x: T) => Promise<void>): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) { const x = items[next++]!; await fn(x) }
  }
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker))
}
