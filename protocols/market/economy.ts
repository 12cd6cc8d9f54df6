/**
 * The economy state machine (FEATURES E1–E6): the ledger plus an auction book, applied from committed
 * Raft log entries in index order, identically on every replica.
 *
 * `apply(command, index, meta)` never throws on bad input: it returns `{ ok: true, ... }` or
 * `{ ok: false, code, message }` and leaves the state unchanged on error (log time still moves).
 *
 * Authentication. `meta.origin` is the peer that proposed the command, as authenticated by the Raft
 * member that accepted it (its own proposals, or a client stream over a Noise connection); Raft members
 * are trusted (crash-fault model). Every account has an owner peer, fixed when the account is opened;
 * a command acting as account `by` is accepted only from its owner. Origins listed in
 * `config.authorities` act as the `treasury` account: mint, slash, reputation outcomes, opening an
 * account for another owner. `auction-house` is the machine's own account: it escrows bids and settles
 * auctions; no command can act as it, and escrow ids under `auction/` are its alone.
 *
 * Log time. `meta.at` is the accepting member's clock; log time `now` is the running maximum of the
 * stamps, so it never goes back and is the same on every replica. Auction deadlines are in log time.
 *
 * Auction lifecycle: `auction.open` (the seller; bidding open for `durationMs`) → `auction.bid` (one per
 * agent; validated, checked against the agent's E3 bidding power, escrowed) → `auction.close` (the seller
 * or treasury at any time, anyone once the deadline passed) → for commit-reveal, `auction.reveal` during
 * `revealMs`, then `auction.settle` → the mechanism (protocols/auctions) computes the outcome from the bids
 * in log order, and the settlement's ledger commands are applied in the same entry.
 *
 * Combinatorial auctions may settle off the apply path: `auction.close` with `settle: 'deferred'`
 * freezes the bids (status `closed`, the instance digest recorded); every replica's worker solves them
 * meanwhile (peers/economy/settle-solver.ts), and a later `auction.settle` carries the proposer's
 * solution. Apply checks it cheaply, refuses it when it fails a check (`ERR_INVALID_SOLUTION`), and
 * takes the outcome from {@link Economy.solutionLookup} (this replica's own worker result for the same
 * digest) or, when there is none, from a solve inside apply — the same deterministic function either
 * way, so the outcome never depends on timing or on what was carried.
 */
import { combinatorial, type BundleBid, type CombinatorialOutcome, type CombinatorialParams } from '../auctions/combinatorial.js'
import { checkSolution, instanceDigest, sameSolution } from '../auctions/solution.js'
import { resolveReveals, verifyReveal } from '../auctions/commit.js'
import { callMarket } from '../auctions/double.js'
import { collusionIndicators, shillIndicators, type AuctionRecord, type CollusionReport, type IntegrityOptions, type ShillReport } from '../auctions/integrity.js'
import { uniformPrice } from '../auctions/multiunit.js'
import { settlementCommands } from '../auctions/settle.js'
import { dutch, english, firstPrice, vickrey } from '../auctions/single.js'
import { DEFAULT_AUCTION_LIMITS, type AuctionLimits, type Outcome } from '../auctions/types.js'
import { isReservedName, isWellFormed, jsonInputProblem, nullObject } from '../../src/base/input.js'
import { Ledger, type LedgerConfig, type LedgerSnapshot } from '../ledger/ledger.js'
import type { LedgerLimits } from '../ledger/limits.js'
import { PPM, scorePpm } from '../ledger/reputation.js'
import { MarketError, type MarketErrorCode } from './errors.js'
import { MECHANISMS, type AuctionSpec, type AuctionState, type BidPayload, type BidRecord, type CommandMeta, type MarketResult, type Mechanism } from './types.js'

export const TREASURY = 'treasury'
export const AUCTION_HOUSE = 'auction-house'
const ESCROW_PREFIX = 'auction/'
/** Escrow ids of task rewards (`task/<task id>`): the task machine's alone, through the `task*` methods. */
export const TASK_ESCROW_PREFIX = 'task/'
const LEDGER_TYPES = new Set(['open', 'mint', 'transfer', 'escrow', 'release', 'collect', 'stake', 'unstake', 'slash', 'outcome'])
const AUCTION_TYPES = new Set(['auction.open', 'auction.bid', 'auction.close', 'auction.reveal', 'auction.settle', 'account.assign'])

/** Named limits of the auction book (identical on every replica). */
export interface MarketLimits {
  /** Auctions open (bidding or revealing) at once. Default 10,000. */
  auctionsOpenMax: number
  /** Finished auctions kept for reads (oldest forgotten first). Default 10,000. */
  auctionsKeptMax: number
  /** Bids per auction. Default 1,000. */
  bidsPerAuctionMax: number
  /** Bids held by all open auctions together (bounds the state and its snapshot). Default 200,000. */
  bidsOpenMax: number
  /** Bids kept by finished auctions together (oldest auctions forgotten first). Default 200,000. */
  bidsKeptMax: number
  /** XOR bundles in one combinatorial bid. Default 16. */
  bundlesPerBidMax: number
  /** Longest bidding period, ms of log time. Default 7 days. */
  durationMsMax: number
  /** Longest reveal window, ms of log time. Default 1 day. */
  revealMsMax: number
  /** Shortest reveal window, ms of log time (bidders must have time to reveal). Default 1,000. */
  revealMsMin: number
  /** Open auctions whose sellers belong to one owner peer. Default 1,000. */
  auctionsOpenPerOwnerMax: number
  /** Bids in open auctions from accounts of one owner peer. Default 20,000. */
  bidsOpenPerOwnerMax: number
  /** Accounts owned by one peer. Default 10,000. */
  accountsPerOwnerMax: number
  /** Auction id length. Default 64. */
  auctionIdCharsMax: number
}

export const DEFAULT_MARKET_LIMITS: Readonly<MarketLimits> = Object.freeze({
  auctionsOpenMax: 10_000,
  auctionsKeptMax: 10_000,
  bidsPerAuctionMax: 1000,
  bidsOpenMax: 200_000,
  bidsKeptMax: 200_000,
  bundlesPerBidMax: 16,
  durationMsMax: 7 * 24 * 3600_000,
  revealMsMax: 24 * 3600_000,
  revealMsMin: 1000,
  auctionsOpenPerOwnerMax: 1000,
  bidsOpenPerOwnerMax: 20_000,
  accountsPerOwnerMax: 10_000,
  auctionIdCharsMax: 64
})

export const DEFAULT_REVEAL_MS = 10_000

export interface EconomyConfig {
  /** Origins (peer ids, simulator node names) that act as the treasury. Non-empty. */
  authorities: string[]
  /** Ledger unbonding delay, in economy log entries. Default 100. */
  unbondingDelayEntries?: number
  limits?: Partial<MarketLimits>
  ledgerLimits?: Partial<LedgerLimits>
  auctionLimits?: Partial<AuctionLimits>
  verifyEvidence?: LedgerConfig['verifyEvidence']
}

export interface AccountView {
  account: string
  owner: string | null
  free: number
  escrow: number
  staked: number
  unbonding: number
  /** E3 score in [0, 1]. */
  reputation: number
  /** Maximum bid accepted now (free × the E3 multiplier). */
  biddingPower: number
  slashCount: number
  history: unknown[]
}

export interface SupplyView { minted: number, burned: number, circulating: number, total: number }

export interface EconomySnapshot {
  v: 1
  now: number
  owners: Array<[string, string]>
  auctions: AuctionState[]
  ledger: LedgerSnapshot
  config: { authorities: string[], limits: MarketLimits, auctionLimits: AuctionLimits }
}

class Reject {
  constructor (readonly code: MarketErrorCode, readonly message: string) {}
}
function fail (code: MarketErrorCode, message: string): never { throw new Reject(code, message) }

function isObj (v: unknown): v is Record<string, unknown> { return v !== null && typeof v === 'object' && !Array.isArray(v) }
function money (v: unknown, what: string, code: MarketErrorCode, positive = false): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || (positive && v === 0)) fail(code, `${what} must be a ${positive ? 'positive' : 'non-negative'} safe integer`)
  return v
}
function onlyKeys (o: Record<string, unknown>, keys: string[], what: string, code: MarketErrorCode): void {
  for (const k of Object.keys(o)) if (!keys.includes(k)) fail(code, `${what}: unexpected field "${k}"`)
}

/** Fields each mechanism takes (besides id, mechanism, items, durationMs). */
const SPEC_FIELDS: Record<Mechanism, string[]> = {
  english: ['reserve', 'increment', 'startPrice'],
  dutch: ['reserve', 'startPrice', 'decrement'],
  'first-price': ['reserve', 'sealed', 'deposit', 'revealMs'],
  vickrey: ['reserve', 'sealed', 'deposit', 'revealMs'],
  combinatorial: ['reserves'],
  uniform: ['reserve', 'units'],
  double: ['pricing']
}

export class Economy {
  readonly ledger: Ledger
  readonly limits: MarketLimits
  readonly auctionLimits: AuctionLimits
  private readonly authorities: Set<string>
  private readonly authorityList: string[]
  private readonly verifyEvidence: EconomyConfig['verifyEvidence']
  private owners = new Map<string, string>()
  /** Every auction kept, in the order opened. */
  private auctions = new Map<string, AuctionState>()
  private openCount = 0
  /** Bids of open auctions; bids of kept finished auctions. */
  private openBids = 0
  private keptBids = 0
  /** Per owner peer: accounts, open auctions (as seller), bids held in open auctions. Rebuilt on restore. */
  private perOwner = new Map<string, { accounts: number, auctions: number, bids: number }>()
  /** Finished auction ids, oldest first (for eviction). */
  private finished: string[] = []
  /** Log time: the maximum `meta.at` applied. */
  now = 0
  /** The entry at which a task hook moved the ledger's index (the entry's own economy command then finds it there). Not state. */
  private taskEntry = 0
  /**
   * Not state: this replica's finished off-log solves, by instance digest (the outcome of
   * `combinatorial()` for exactly that input), consulted when a deferred combinatorial auction settles.
   */
  solutionLookup: ((digest: string) => CombinatorialOutcome | undefined) | undefined
  /** Not state: how this replica's deferred settles got their outcome (a worker's result, or a solve in apply). */
  readonly solveStats = { fromWorker: 0, inApply: 0, carriedVerified: 0, carriedReplaced: 0 }

  constructor (config: EconomyConfig) {
    if (!Array.isArray(config.authorities) || config.authorities.length === 0 || !config.authorities.every(a => typeof a === 'string' && a.length > 0 && isWellFormed(a))) {
      throw new MarketError('ERR_INVALID_OPTION', 'authorities must be a non-empty array of origins (well-formed strings)')
    }
    this.authorityList = [...new Set(config.authorities)].sort()
    this.authorities = new Set(this.authorityList)
    this.limits = { ...DEFAULT_MARKET_LIMITS, ...config.limits }
    for (const [k, v] of Object.entries(this.limits)) {
      if (!Number.isSafeInteger(v) || v < 1) throw new MarketError('ERR_INVALID_OPTION', `limits.${k} must be a positive integer`)
    }
    this.auctionLimits = { ...DEFAULT_AUCTION_LIMITS, ...config.auctionLimits }
    if (this.limits.bidsPerAuctionMax > this.auctionLimits.bidsMax) throw new MarketError('ERR_INVALID_OPTION', 'limits.bidsPerAuctionMax exceeds auctionLimits.bidsMax')
    this.verifyEvidence = config.verifyEvidence
    this.ledger = new Ledger({
      authorities: [TREASURY, AUCTION_HOUSE],
      ...(config.unbondingDelayEntries !== undefined ? { unbondingDelayEntries: config.unbondingDelayEntries } : {}),
      // Escrow ids are `auction/<auction>/<agent>`.
      limits: { idCharsMax: 512, ...config.ledgerLimits },
      ...(config.verifyEvidence !== undefined ? { verifyEvidence: config.verifyEvidence } : {})
    })
  }

  isAuthority (origin: string): boolean { return this.authorities.has(origin) }

  private usage (owner: string | undefined): { accounts: number, auctions: number, bids: number } {
    const k = owner ?? ''
    let u = this.perOwner.get(k)
    if (u === undefined) { u = { accounts: 0, auctions: 0, bids: 0 }; this.perOwner.set(k, u) }
    return u
  }

  // ---------------------------------------------------------------- reads

  ownerOf (account: string): string | null { return this.owners.get(account) ?? null }

  account (id: string): AccountView | undefined {
    const a = this.ledger.account(id)
    if (a === undefined) return undefined
    return {
      account: id,
      owner: this.owners.get(id) ?? null,
      free: a.free,
      escrow: a.escrow,
      staked: a.staked,
      unbonding: a.unbonding,
      reputation: scorePpm(a.reputation) / PPM,
      biddingPower: this.ledger.biddingPower(id),
      slashCount: a.slashCount,
      history: structuredClone(a.history)
    }
  }

  accountIds (): string[] { return this.ledger.accountIds() }

  auction (id: string): Readonly<AuctionState> | undefined { return this.auctions.get(id) }

  /** Auction ids, in the order opened (open and kept finished ones). */
  auctionIds (): string[] { return [...this.auctions.keys()] }

  get openAuctions (): number { return this.openCount }

  supply (): SupplyView {
    const circulating = this.ledger.circulating()
    return { minted: this.ledger.minted, burned: this.ledger.burned, circulating, total: circulating + this.ledger.burned }
  }

  /**
   * E6 indicators over the kept single-item sealed and clock auctions (bids as amounts: sealed amount,
   * revealed amount, or proxy max price), as reports usable as slashing evidence.
   */
  integrity (options?: IntegrityOptions): { shill: ShillReport[], collusion: CollusionReport[] } {
    const records: AuctionRecord[] = []
    for (const [id, a] of this.auctions) {
      if (a.status !== 'settled' && a.status !== 'no-sale') continue
      const single = a.spec.mechanism === 'english' || a.spec.mechanism === 'dutch' || a.spec.mechanism === 'first-price' || a.spec.mechanism === 'vickrey'
      if (!single) continue
      const bids: Array<{ agent: string, amount: number }> = []
      for (const b of a.bids) {
        const p = b.bid as Record<string, unknown>
        const amount = b.revealed?.amount ?? (typeof p.amount === 'number' ? p.amount : typeof p.maxPrice === 'number' ? p.maxPrice : undefined)
        if (amount !== undefined) bids.push({ agent: b.agent, amount })
      }
      records.push({ auction: id, seller: a.seller, bids, winner: a.outcome?.winners[0]?.agent ?? null })
    }
    return { shill: shillIndicators(records, options), collusion: collusionIndicators(records, options) }
  }

  // ---------------------------------------------------------------- apply

  /** Apply one committed command. Never throws; on error only log time moves. */
  apply (cmd: unknown, index: number, meta: CommandMeta): MarketResult {
    // A task hook of this very entry (a deadline it passed) may have moved the ledger to it already.
    const adv = index === this.taskEntry && this.ledger.appliedIndex === index ? undefined : this.ledger.advance(index)
    if (adv !== undefined && !adv.ok) return { ok: false, code: adv.code, message: adv.message }
    if (typeof meta?.at === 'number' && Number.isSafeInteger(meta.at) && meta.at > this.now) this.now = meta.at
    try {
      return this.exec(cmd, index, typeof meta?.origin === 'string' ? meta.origin : '')
    } catch (e) {
      if (e instanceof Reject) return { ok: false, code: e.code, message: e.message }
      // A bug, not bad input: every replica takes the same path, so the state stays identical.
      return { ok: false, code: 'ERR_INVALID_COMMAND', message: `internal: ${String(e)}` }
    }
  }

  /**
   * The checks of a command that need no state (its shape, strings, type), as apply makes them first: a
   * member runs it before proposing a client's command, so junk never reaches the log. Undefined: the
   * command may be proposed (apply may still refuse it).
   */
  static admit (raw: unknown): { code: string, message: string } | undefined {
    if (!isObj(raw)) return { code: 'ERR_INVALID_COMMAND', message: 'command is not an object' }
    const bad = jsonInputProblem(raw)
    if (bad?.reason === 'proto-key') return { code: 'ERR_RESERVED_NAME', message: `${bad.path}: "__proto__" is not allowed as a key` }
    if (bad !== undefined) return { code: 'ERR_INVALID_COMMAND', message: `${bad.path}: strings must be well-formed Unicode (no lone UTF-16 surrogate)` }
    if (typeof raw.type !== 'string' || !(LEDGER_TYPES.has(raw.type) || AUCTION_TYPES.has(raw.type) || raw.type === 'economy.genesis')) return { code: 'ERR_INVALID_COMMAND', message: 'unknown command type' }
    if (raw.type !== 'economy.genesis' && (typeof raw.by !== 'string' || raw.by.length === 0)) return { code: 'ERR_INVALID_COMMAND', message: 'by must be a non-empty string' }
    return undefined
  }

  private exec (raw: unknown, index: number, origin: string): MarketResult {
    if (!isObj(raw)) fail('ERR_INVALID_COMMAND', 'command is not an object')
    // Every string (ids, items, nonces, evidence; keys too) must be well-formed Unicode, and no key may be
    // `__proto__`: what the log stores is then what every reader of a snapshot or an answer sees.
    const bad = jsonInputProblem(raw)
    if (bad?.reason === 'proto-key') fail('ERR_RESERVED_NAME', `${bad.path}: "__proto__" is not allowed as a key`)
    if (bad !== undefined) fail('ERR_INVALID_COMMAND', `${bad.path}: strings must be well-formed Unicode (no lone UTF-16 surrogate)`)
    const type = raw.type
    const by = raw.by
    if (typeof type !== 'string') fail('ERR_INVALID_COMMAND', 'type must be a string')
    if (typeof by !== 'string' || by.length === 0) fail('ERR_INVALID_COMMAND', 'by must be a non-empty string')
    if (LEDGER_TYPES.has(type)) return this.ledgerCommand(raw, type, by, index, origin)
    switch (type) {
      case 'auction.open': return this.open(raw, by, index, origin)
      case 'auction.bid': return this.bid(raw, by, index, origin)
      case 'auction.close': return this.close(raw, by, index, origin)
      case 'auction.reveal': return this.reveal(raw, by, origin)
      case 'auction.settle': return this.settleCommand(raw, by, index, origin)
      case 'account.assign': return this.assign(raw, by, origin)
      default: fail('ERR_INVALID_COMMAND', `unknown command type "${type}"`)
    }
  }

  /** `by` acting from `origin`: the treasury from an authority; any other account from its owner. */
  private authorize (by: string, origin: string): void {
    if (by === AUCTION_HOUSE) fail('ERR_UNAUTHORIZED', `${AUCTION_HOUSE} is the auction book's own account`)
    if (by === TREASURY) {
      if (!this.authorities.has(origin)) fail('ERR_UNAUTHORIZED', `${origin} is not an authority`)
      return
    }
    const owner = this.owners.get(by)
    if (owner === undefined) fail('ERR_UNKNOWN_ACCOUNT', `unknown account ${by}`)
    if (owner !== origin) fail('ERR_UNAUTHORIZED', `account ${by} is owned by another peer`)
  }

  private ledgerCommand (c: Record<string, unknown>, type: string, by: string, index: number, origin: string): MarketResult {
    const { owner, ...cmd } = c
    for (const k of ['account', 'to', 'from', 'payTo']) {
      const v = cmd[k]
      if (typeof v === 'string' && (v === AUCTION_HOUSE || (v === TREASURY && type !== 'transfer' && type !== 'collect'))) fail('ERR_RESERVED_ACCOUNT', `${k}: ${v} is reserved`)
    }
    // Money only ever lands in owned accounts (the ledger would create a missing payee).
    if (typeof cmd.payTo === 'string' && !this.owners.has(cmd.payTo)) fail('ERR_UNKNOWN_ACCOUNT', `unknown account ${cmd.payTo}`)
    if (type === 'collect' && typeof cmd.to === 'string' && cmd.to !== TREASURY && !this.owners.has(cmd.to)) fail('ERR_UNKNOWN_ACCOUNT', `unknown account ${cmd.to}`)
    for (const k of ['id', 'escrowId']) {
      if (typeof cmd[k] === 'string' && (cmd[k] as string).startsWith(ESCROW_PREFIX)) fail('ERR_UNAUTHORIZED', `escrow ids under ${ESCROW_PREFIX} belong to the auction book`)
      if (typeof cmd[k] === 'string' && (cmd[k] as string).startsWith(TASK_ESCROW_PREFIX)) fail('ERR_UNAUTHORIZED', `escrow ids under ${TASK_ESCROW_PREFIX} belong to the task machine`)
    }
    let claim: { account: string, owner: string } | undefined
    if (type === 'open') {
      if (typeof cmd.account !== 'string') fail('ERR_INVALID_COMMAND', 'account must be a string')
      const existing = this.owners.get(cmd.account)
      if (by === TREASURY) {
        this.authorize(by, origin)
        if (owner !== undefined && (typeof owner !== 'string' || owner.length === 0 || owner.length > 256)) fail('ERR_INVALID_COMMAND', 'owner must be a peer id')
        const o = (owner as string | undefined) ?? origin
        if (existing !== undefined && existing !== o) fail('ERR_UNAUTHORIZED', `account ${cmd.account} is owned by another peer`)
        claim = { account: cmd.account, owner: o }
      } else {
        if (by !== cmd.account) fail('ERR_UNAUTHORIZED', 'open: by must be the account (or the treasury)')
        if (owner !== undefined) fail('ERR_INVALID_COMMAND', 'open: only the treasury names another owner')
        if (existing !== undefined && existing !== origin) fail('ERR_UNAUTHORIZED', `account ${by} is owned by another peer`)
        claim = { account: by, owner: origin }
      }
    } else {
      this.authorize(by, origin)
      if (type === 'mint' && typeof cmd.account === 'string' && !this.owners.has(cmd.account)) {
        // Minting to a new account opens it for the named owner.
        if (typeof owner !== 'string' || owner.length === 0 || owner.length > 256) fail('ERR_UNKNOWN_ACCOUNT', `unknown account ${cmd.account}: name its owner (a peer id) to open it`)
        claim = { account: cmd.account, owner }
      } else if (owner !== undefined) {
        fail('ERR_INVALID_COMMAND', `${type}: unexpected field "owner"`)
      }
      // Transfers never create accounts: every account has an owner.
      if (type === 'transfer' && typeof cmd.to === 'string' && !this.owners.has(cmd.to) && cmd.to !== TREASURY) fail('ERR_UNKNOWN_ACCOUNT', `unknown account ${cmd.to}`)
      if (type === 'transfer' && cmd.to === TREASURY && !this.ledger.account(TREASURY)) fail('ERR_UNKNOWN_ACCOUNT', 'the treasury holds no account yet')
    }
    const isNew = claim !== undefined && !this.owners.has(claim.account) ? claim : undefined
    if (isNew !== undefined && this.usage(isNew.owner).accounts >= this.limits.accountsPerOwnerMax) fail('ERR_LIMIT_EXCEEDED', `accountsPerOwnerMax (${this.limits.accountsPerOwnerMax}) accounts owned by ${isNew.owner}`)
    const r = this.ledger.applyMore(cmd, index)
    if (!r.ok) return { ok: false, code: r.code, message: r.message }
    if (isNew !== undefined) {
      const claim = isNew
      this.owners.set(claim.account, claim.owner)
      this.usage(claim.owner).accounts++
    }
    return r
  }

  /**
   * The treasury moves an account to another owner peer (the remedy for a squatted name, or a host that
   * lost its identity). Funds, stake, history and open bids stay with the account.
   */
  private assign (c: Record<string, unknown>, by: string, origin: string): MarketResult {
    onlyKeys(c, ['type', 'by', 'account', 'owner'], 'account.assign', 'ERR_INVALID_COMMAND')
    if (by !== TREASURY) fail('ERR_UNAUTHORIZED', 'account.assign: only the treasury reassigns accounts')
    this.authorize(by, origin)
    const account = c.account
    const owner = c.owner
    if (typeof account !== 'string' || !this.owners.has(account)) fail('ERR_UNKNOWN_ACCOUNT', `unknown account ${String(account)}`)
    if (typeof owner !== 'string' || owner.length === 0 || owner.length > 256) fail('ERR_INVALID_COMMAND', 'owner must be a peer id')
    const from = this.owners.get(account)!
    if (from === owner) return { ok: true, type: 'account.assign', account, owner }
    const use = this.usage(owner)
    if (use.accounts >= this.limits.accountsPerOwnerMax) fail('ERR_LIMIT_EXCEEDED', `accountsPerOwnerMax (${this.limits.accountsPerOwnerMax}) accounts owned by ${owner}`)
    // Quotas follow the account: its open auctions (as seller) and open bids.
    let auctions = 0
    let bids = 0
    for (const a of this.auctions.values()) {
      if (!isLive(a)) continue
      if (a.seller === account) auctions++
      for (const b of a.bids) if (b.agent === account) bids++
    }
    const old = this.usage(from)
    old.accounts--
    old.auctions -= auctions
    old.bids -= bids
    use.accounts++
    use.auctions += auctions
    use.bids += bids
    this.owners.set(account, owner)
    return { ok: true, type: 'account.assign', account, owner, previous: from }
  }

  // ---------------------------------------------------------------- auctions

  private open (c: Record<string, unknown>, by: string, index: number, origin: string): MarketResult {
    onlyKeys(c, ['type', 'by', 'auction'], 'auction.open', 'ERR_INVALID_COMMAND')
    this.authorize(by, origin)
    if (this.ledger.account(by) === undefined) fail('ERR_UNKNOWN_ACCOUNT', `unknown account ${by}`)
    const spec = this.spec(c.auction)
    if (this.auctions.has(spec.id)) fail('ERR_DUPLICATE_AUCTION', `auction ${spec.id} exists`)
    if (this.openCount >= this.limits.auctionsOpenMax) fail('ERR_LIMIT_EXCEEDED', `auctionsOpenMax (${this.limits.auctionsOpenMax}) auctions are open`)
    const sellerUse = this.usage(this.owners.get(by))
    if (sellerUse.auctions >= this.limits.auctionsOpenPerOwnerMax) fail('ERR_LIMIT_EXCEEDED', `auctionsOpenPerOwnerMax (${this.limits.auctionsOpenPerOwnerMax}) auctions of this owner are open`)
    const a: AuctionState = {
      spec,
      seller: by,
      status: 'open',
      openedAt: this.now,
      openedIndex: index,
      closesAt: this.now + spec.durationMs,
      revealUntil: null,
      bids: [],
      outcome: null,
      forfeits: [],
      settledIndex: null,
      settlementErrors: []
    }
    this.auctions.set(spec.id, a)
    this.openCount++
    sellerUse.auctions++
    return { ok: true, type: 'auction.open', auction: spec.id, closesAt: a.closesAt }
  }

  /** Validates a spec (fields per mechanism; parameters by running the mechanism on no bids). */
  private spec (raw: unknown): AuctionSpec {
    const code = 'ERR_INVALID_AUCTION'
    if (!isObj(raw)) fail(code, 'auction must be an object')
    const m = raw.mechanism as Mechanism
    if (!MECHANISMS.includes(m)) fail(code, `mechanism must be one of ${MECHANISMS.join(', ')}`)
    onlyKeys(raw, ['id', 'mechanism', 'items', 'durationMs', ...SPEC_FIELDS[m]], `auction (${m})`, code)
    const id = raw.id
    if (typeof id !== 'string' || id.length === 0 || id.length > this.limits.auctionIdCharsMax || id.includes('/')) fail(code, `id must be 1..${this.limits.auctionIdCharsMax} characters without "/"`)
    if (isReservedName(id)) fail('ERR_RESERVED_NAME', `id: "${id}" is a reserved name`)
    const items = raw.items
    if (!Array.isArray(items) || items.length === 0 || !items.every(i => typeof i === 'string' && i.length > 0 && i.length <= 128)) fail(code, 'items must be a non-empty array of item names')
    // Item names are the keys of `reserves`.
    for (const i of items as string[]) if (isReservedName(i)) fail('ERR_RESERVED_NAME', `items: "${i}" is a reserved name`)
    if (new Set(items).size !== items.length) fail(code, 'duplicate item')
    if (m !== 'combinatorial' && items.length !== 1) fail(code, `${m} sells exactly one item`)
    if (items.length > this.auctionLimits.itemsMax) fail('ERR_LIMIT_EXCEEDED', `items exceed itemsMax (${this.auctionLimits.itemsMax})`)
    const durationMs = money(raw.durationMs, 'durationMs', code, true)
    if (durationMs > this.limits.durationMsMax) fail(code, `durationMs exceeds ${this.limits.durationMsMax}`)
    if (raw.sealed !== undefined && raw.sealed !== 'open' && raw.sealed !== 'commit') fail(code, 'sealed must be "open" or "commit"')
    if (raw.sealed !== 'commit' && (raw.deposit !== undefined || raw.revealMs !== undefined)) fail(code, 'deposit and revealMs need sealed: "commit"')
    if (raw.deposit !== undefined) money(raw.deposit, 'deposit', code)
    if (raw.revealMs !== undefined) {
      const r = money(raw.revealMs, 'revealMs', code, true)
      if (r > this.limits.revealMsMax || r < this.limits.revealMsMin) fail(code, `revealMs must be within [${this.limits.revealMsMin}, ${this.limits.revealMsMax}]`)
    }
    if (raw.reserves !== undefined) {
      if (!isObj(raw.reserves)) fail(code, 'reserves must map items to prices')
      for (const [k, v] of Object.entries(raw.reserves)) {
        if (!(items as string[]).includes(k)) fail(code, `reserves: unknown item ${k}`)
        money(v, `reserves.${k}`, code)
      }
    }
    const spec = structuredClone(raw) as unknown as AuctionSpec
    try {
      runMechanism(spec, [], this.auctionLimits)
    } catch (e) {
      fail(code, (e as Error).message)
    }
    return spec
  }

  private live (id: unknown): AuctionState {
    if (typeof id !== 'string') fail('ERR_INVALID_COMMAND', 'auction must be an auction id')
    const a = this.auctions.get(id)
    if (a === undefined) fail('ERR_UNKNOWN_AUCTION', `no auction ${id}`)
    return a
  }

  private bid (c: Record<string, unknown>, by: string, index: number, origin: string): MarketResult {
    onlyKeys(c, ['type', 'by', 'auction', 'bid'], 'auction.bid', 'ERR_INVALID_COMMAND')
    const a = this.live(c.auction)
    this.authorize(by, origin)
    if (a.status !== 'open' || this.now >= a.closesAt) fail('ERR_AUCTION_CLOSED', `auction ${a.spec.id} takes no more bids`)
    if (by === a.seller) fail('ERR_SELF_BID', 'the seller cannot bid in its own auction')
    if (a.bids.some(b => b.agent === by)) fail('ERR_DUPLICATE_BID', `${by} already bid in ${a.spec.id}`)
    if (a.bids.length >= this.limits.bidsPerAuctionMax) fail('ERR_LIMIT_EXCEEDED', `bidsPerAuctionMax (${this.limits.bidsPerAuctionMax}) reached`)
    if (this.openBids >= this.limits.bidsOpenMax) fail('ERR_LIMIT_EXCEEDED', `bidsOpenMax (${this.limits.bidsOpenMax}) bids are held by open auctions`)
    const bidderUse = this.usage(this.owners.get(by))
    if (bidderUse.bids >= this.limits.bidsOpenPerOwnerMax) fail('ERR_LIMIT_EXCEEDED', `bidsOpenPerOwnerMax (${this.limits.bidsOpenPerOwnerMax}) bids of this owner are open`)
    const acct = this.ledger.account(by)
    if (acct === undefined) fail('ERR_UNKNOWN_ACCOUNT', `unknown account ${by}`)
    const { bid, exposure } = this.validateBid(a.spec, c.bid)
    if ('bundles' in bid) {
      let n = bid.bundles.length
      for (const b of a.bids) n += (b.bid as { bundles: unknown[] }).bundles.length
      if (n > this.auctionLimits.bidsMax) fail('ERR_LIMIT_EXCEEDED', `bundles in the auction would exceed bidsMax (${this.auctionLimits.bidsMax})`)
    }
    const commit = a.spec.sealed === 'commit'
    if (!commit) {
      const chk = this.ledger.checkBid(by, exposure)
      if (!chk.ok) fail(chk.code, chk.message)
    }
    // Escrow what free funds cover; beyond that the stake is the collateral (ledger `collect`).
    const amount = commit ? exposure : Math.min(exposure, acct.free)
    if (commit && acct.free < amount) fail('ERR_INSUFFICIENT_FUNDS', `the deposit ${amount} exceeds free funds ${acct.free}`)
    let escrowId: string | null = null
    if (amount > 0) {
      escrowId = `${ESCROW_PREFIX}${a.spec.id}/${by}`
      const r = this.ledger.applyMore({ type: 'escrow', by: AUCTION_HOUSE, id: escrowId, account: by, amount }, index)
      if (!r.ok) fail(r.code, r.message)
    }
    const rec: BidRecord = { agent: by, bid, index, escrowId, escrowed: amount }
    a.bids.push(rec)
    this.openBids++
    bidderUse.bids++
    return { ok: true, type: 'auction.bid', auction: a.spec.id, agent: by, escrowed: amount, bids: a.bids.length }
  }

  /** The bid in canonical form and the most its bidder may have to pay (what is checked and escrowed). */
  private validateBid (spec: AuctionSpec, raw: unknown): { bid: BidPayload, exposure: number } {
    const code = 'ERR_INVALID_BID'
    if (!isObj(raw)) fail(code, 'bid must be an object')
    const reserve = spec.reserve ?? 0
    switch (spec.mechanism) {
      case 'english':
      case 'dutch': {
        onlyKeys(raw, ['maxPrice'], 'bid', code)
        const maxPrice = money(raw.maxPrice, 'maxPrice', code)
        const floor = spec.mechanism === 'english' ? Math.max(spec.startPrice ?? reserve, reserve) : reserve
        if (maxPrice < floor) fail('ERR_BELOW_RESERVE', `maxPrice ${maxPrice} is below the opening price ${floor}`)
        return { bid: { maxPrice }, exposure: spec.mechanism === 'dutch' ? Math.min(maxPrice, spec.startPrice ?? maxPrice) : maxPrice }
      }
      case 'first-price':
      case 'vickrey': {
        if (spec.sealed === 'commit') {
          onlyKeys(raw, ['commitment'], 'bid', code)
          if (typeof raw.commitment !== 'string' || !/^[0-9a-f]{64}$/.test(raw.commitment)) fail(code, 'commitment must be a sha256 hex digest')
          return { bid: { commitment: raw.commitment }, exposure: spec.deposit ?? 0 }
        }
        onlyKeys(raw, ['amount'], 'bid', code)
        const amount = money(raw.amount, 'amount', code)
        if (amount < reserve) fail('ERR_BELOW_RESERVE', `bid ${amount} is below the reserve ${reserve}`)
        return { bid: { amount }, exposure: amount }
      }
      case 'combinatorial': {
        onlyKeys(raw, ['bundles'], 'bid', code)
        const bundles = raw.bundles
        if (!Array.isArray(bundles) || bundles.length === 0) fail(code, 'bundles must be a non-empty array')
        if (bundles.length > this.limits.bundlesPerBidMax) fail('ERR_LIMIT_EXCEEDED', `bundles exceed bundlesPerBidMax (${this.limits.bundlesPerBidMax})`)
        const out: Array<{ items: string[], value: number }> = []
        let exposure = 0
        for (const [i, b] of bundles.entries()) {
          if (!isObj(b)) fail(code, `bundle ${i} must be an object`)
          onlyKeys(b, ['items', 'value'], `bundle ${i}`, code)
          const items = b.items
          if (!Array.isArray(items) || items.length === 0) fail(code, `bundle ${i}: items must be a non-empty array`)
          if (items.length > this.auctionLimits.bundleItemsMax) fail('ERR_LIMIT_EXCEEDED', `bundle ${i}: more than bundleItemsMax (${this.auctionLimits.bundleItemsMax}) items`)
          for (const it of items) if (typeof it !== 'string' || !spec.items.includes(it)) fail(code, `bundle ${i}: unknown item ${String(it)}`)
          if (new Set(items).size !== items.length) fail(code, `bundle ${i}: duplicate item`)
          const value = money(b.value, `bundle ${i} value`, code)
          let floor = 0
          // Own keys only: an item named like an Object.prototype property has no inherited reserve.
          const reserves = spec.reserves
          for (const it of items as string[]) if (reserves !== undefined && Object.hasOwn(reserves, it)) floor += reserves[it]!
          if (value < floor) fail('ERR_BELOW_RESERVE', `bundle ${i}: value ${value} is below its items' reserves ${floor}`)
          out.push({ items: [...items as string[]], value })
          if (value > exposure) exposure = value
        }
        return { bid: { bundles: out }, exposure }
      }
      case 'uniform': {
        onlyKeys(raw, ['price', 'quantity'], 'bid', code)
        const price = money(raw.price, 'price', code)
        const quantity = money(raw.quantity, 'quantity', code, true)
        if (quantity > (spec.units ?? 0)) fail(code, `quantity exceeds the ${spec.units ?? 0} units for sale`)
        if (price < reserve) fail('ERR_BELOW_RESERVE', `price ${price} is below the reserve ${reserve}`)
        const exposure = price * quantity
        if (!Number.isSafeInteger(exposure)) fail(code, 'price × quantity exceeds safe integers')
        return { bid: { price, quantity }, exposure }
      }
      case 'double': {
        onlyKeys(raw, ['side', 'limit', 'quantity'], 'bid', code)
        if (raw.side !== 'buy' && raw.side !== 'sell') fail(code, 'side must be "buy" or "sell"')
        const limit = money(raw.limit, 'limit', code)
        const quantity = money(raw.quantity, 'quantity', code, true)
        const exposure = raw.side === 'buy' ? limit * quantity : 0
        if (!Number.isSafeInteger(exposure) || !Number.isSafeInteger(limit * quantity)) fail(code, 'limit × quantity exceeds safe integers')
        return { bid: { side: raw.side, limit, quantity }, exposure }
      }
    }
  }

  private close (c: Record<string, unknown>, by: string, index: number, origin: string): MarketResult {
    onlyKeys(c, ['type', 'by', 'auction', 'settle'], 'auction.close', 'ERR_INVALID_COMMAND')
    const a = this.live(c.auction)
    this.authorize(by, origin)
    if (c.settle !== undefined && (c.settle !== 'deferred' || a.spec.mechanism !== 'combinatorial')) fail('ERR_INVALID_COMMAND', 'settle: "deferred" is for combinatorial auctions only')
    if (a.status !== 'open') fail('ERR_WRONG_PHASE', `auction ${a.spec.id} is ${a.status}`)
    // Commit-reveal auctions run their full bidding period: an early close would cut bidders off from
    // committing (and the reveal window) at the seller's choice.
    const early = this.now < a.closesAt
    if (early && by !== TREASURY && (by !== a.seller || a.spec.sealed === 'commit')) fail('ERR_TOO_EARLY', `auction ${a.spec.id} closes at log time ${a.closesAt} (now ${this.now})`)
    if (a.spec.sealed === 'commit') {
      a.status = 'reveal'
      a.revealUntil = this.now + (a.spec.revealMs ?? DEFAULT_REVEAL_MS)
      return { ok: true, type: 'auction.close', auction: a.spec.id, status: a.status, revealUntil: a.revealUntil }
    }
    if (c.settle === 'deferred') {
      const { params, bids } = combinatorialInput(a.spec, a.bids)
      a.status = 'closed'
      a.solveDigest = instanceDigest(params, bids, this.auctionLimits)
      return { ok: true, type: 'auction.close', auction: a.spec.id, status: a.status, digest: a.solveDigest }
    }
    return this.settle(a, index)
  }

  private reveal (c: Record<string, unknown>, by: string, origin: string): MarketResult {
    onlyKeys(c, ['type', 'by', 'auction', 'amount', 'nonce'], 'auction.reveal', 'ERR_INVALID_COMMAND')
    const a = this.live(c.auction)
    this.authorize(by, origin)
    if (a.status !== 'reveal') fail('ERR_WRONG_PHASE', `auction ${a.spec.id} is ${a.status}, not revealing`)
    if (this.now > (a.revealUntil ?? 0)) fail('ERR_AUCTION_CLOSED', 'the reveal window is over')
    const b = a.bids.find(x => x.agent === by)
    if (b === undefined) fail('ERR_INVALID_BID', `${by} committed no bid in ${a.spec.id}`)
    if (b.revealed !== undefined) fail('ERR_DUPLICATE_BID', `${by} already revealed`)
    const amount = money(c.amount, 'amount', 'ERR_INVALID_BID')
    if (typeof c.nonce !== 'string' || c.nonce.length > 256) fail('ERR_INVALID_BID', 'nonce must be a string of at most 256 characters')
    if (!verifyReveal(a.spec.id, { agent: by, commitment: (b.bid as { commitment: string }).commitment }, { agent: by, amount, nonce: c.nonce })) {
      fail('ERR_INVALID_BID', 'the reveal does not match the commitment')
    }
    // Bidding power counts the deposit already escrowed for this bid.
    const power = this.ledger.biddingPower(by) + b.escrowed
    if (amount > power) fail('ERR_EXCEEDS_BIDDING_POWER', `bid ${amount} exceeds bidding power ${power}`)
    b.revealed = { amount, nonce: c.nonce }
    return { ok: true, type: 'auction.reveal', auction: a.spec.id, agent: by }
  }

  private settleCommand (c: Record<string, unknown>, by: string, index: number, origin: string): MarketResult {
    onlyKeys(c, ['type', 'by', 'auction', 'solution'], 'auction.settle', 'ERR_INVALID_COMMAND')
    const a = this.live(c.auction)
    this.authorize(by, origin)
    if (a.status === 'closed') return this.settleClosed(a, c.solution, index)
    if (c.solution !== undefined && a.spec.mechanism !== 'combinatorial') fail('ERR_INVALID_COMMAND', 'a solution settles a closed combinatorial auction only')
    if (c.solution !== undefined) fail('ERR_WRONG_PHASE', `auction ${a.spec.id} is ${a.status}; a solution settles it once closed (auction.close with settle: "deferred")`)
    if (a.status !== 'reveal') fail('ERR_WRONG_PHASE', `auction ${a.spec.id} is ${a.status}; settle follows the reveal window (open auctions settle when closed)`)
    const allRevealed = a.bids.every(b => b.revealed !== undefined)
    const early = this.now <= (a.revealUntil ?? 0)
    // Before the window ends only when every bid is revealed: nobody's deposit can be forfeited early.
    if (early && !(allRevealed && (by === a.seller || by === TREASURY))) fail('ERR_TOO_EARLY', `reveals are taken until log time ${a.revealUntil ?? 0}`)
    return this.settle(a, index)
  }

  /**
   * Settles a `closed` combinatorial auction. A carried solution must pass the cheap checks (else the
   * command is refused and the auction stays closed); the outcome is this replica's worker result for
   * the frozen bids' digest, or a solve here — never the carried solution, which is only compared
   * (`solution: 'verified'` or `'replaced'` in the result, the same on every replica).
   */
  private settleClosed (a: AuctionState, raw: unknown, index: number): MarketResult {
    const { params, bids } = combinatorialInput(a.spec, a.bids)
    const digest = a.solveDigest ?? instanceDigest(params, bids, this.auctionLimits)
    let carried
    if (raw !== undefined) {
      const chk = checkSolution(params, bids, raw, digest)
      if (!chk.ok) fail('ERR_INVALID_SOLUTION', `auction ${a.spec.id}: ${chk.reason}`)
      carried = chk.solution
    }
    const cached = this.solutionLookup?.(digest)
    let outcome: Outcome | undefined
    if (cached !== undefined) {
      this.solveStats.fromWorker++
      outcome = structuredClone(cached)
      outcome.payments = Object.assign(nullObject<number>(), outcome.payments)
    } else {
      this.solveStats.inApply++
    }
    const r = this.settle(a, index, outcome)
    if (carried === undefined || !r.ok) return r
    const solution = a.outcome !== null && sameSolution(a.outcome, carried) ? 'verified' : 'replaced'
    if (solution === 'verified') this.solveStats.carriedVerified++
    else this.solveStats.carriedReplaced++
    return { ...r, solution }
  }

  /** Runs the mechanism (unless `given`: its outcome for these bids) and applies the settlement's ledger commands in this entry. */
  private settle (a: AuctionState, index: number, given?: Outcome): MarketResult {
    let outcome: Outcome
    let forfeits: Array<{ agent: string, reason: string }> = []
    let failed: string | undefined
    try {
      if (a.spec.sealed === 'commit') {
        const res = resolveReveals(a.spec.id,
          a.bids.map(b => ({ agent: b.agent, commitment: (b.bid as { commitment: string }).commitment })),
          a.bids.filter(b => b.revealed !== undefined).map(b => ({ agent: b.agent, amount: b.revealed!.amount, nonce: b.revealed!.nonce })))
        forfeits = res.forfeits
        outcome = runMechanism(a.spec, res.bids.map(x => ({ agent: x.agent, bid: { amount: x.amount } })), this.auctionLimits)
      } else {
        outcome = given ?? runMechanism(a.spec, a.bids, this.auctionLimits)
      }
    } catch (e) {
      // Bids were validated on admission, so this is not expected; nothing is lost: every escrow is released.
      failed = (e as Error).message
      outcome = { status: 'no-sale', winners: [], payments: nullObject(), clearingPrice: null, quantity: 0, welfare: null, reason: `mechanism failed: ${failed}` }
      forfeits = []
    }
    const escrows = a.bids.filter(b => b.escrowId !== null).map(b => ({ agent: b.agent, escrowId: b.escrowId!, amount: b.escrowed }))
    // Forfeited deposits go to the treasury, never to the seller (who would gain from bidders failing to reveal).
    if (forfeits.length > 0 && this.ledger.account(TREASURY) === undefined) this.ledger.applyMore({ type: 'open', by: TREASURY, account: TREASURY }, index)
    const cmds = settlementCommands({ by: AUCTION_HOUSE, payee: a.seller, forfeitTo: TREASURY, outcome, escrows, forfeits: forfeits.map(f => f.agent) })
    const shortfalls = nullObject<number>()
    // Sellers of a double auction are paid from what the buyers actually paid (a buyer may default).
    let collected = 0
    for (const cmd of cmds) {
      if (cmd.type === 'transfer' && cmd.from === a.seller) {
        const pay = Math.min(cmd.amount, collected)
        if (pay < cmd.amount) shortfalls[cmd.to] = (shortfalls[cmd.to] ?? 0) + cmd.amount - pay
        collected -= pay
        if (pay === 0) continue
        const r = this.ledger.applyMore({ ...cmd, amount: pay }, index)
        if (!r.ok) a.settlementErrors.push(`${cmd.type}: ${r.code} ${r.message}`)
        continue
      }
      const r = this.ledger.applyMore(cmd, index)
      if (!r.ok) a.settlementErrors.push(`${cmd.type}: ${r.code} ${r.message}`)
      else if (cmd.type === 'collect') {
        collected += typeof r.paid === 'number' ? r.paid : 0
        if (typeof r.shortfall === 'number' && r.shortfall > 0) shortfalls[cmd.account] = r.shortfall
      }
    }
    a.outcome = outcome
    a.forfeits = forfeits
    a.status = failed !== undefined ? 'failed' : outcome.status === 'sold' ? 'settled' : 'no-sale'
    a.settledIndex = index
    delete a.solveDigest
    this.openCount--
    this.usage(this.owners.get(a.seller)).auctions--
    for (const b of a.bids) this.usage(this.owners.get(b.agent)).bids--
    this.openBids -= a.bids.length
    this.keptBids += a.bids.length
    this.finished.push(a.spec.id)
    while (this.finished.length > this.limits.auctionsKeptMax || (this.keptBids > this.limits.bidsKeptMax && this.finished.length > 1)) {
      const old = this.finished.shift()!
      this.keptBids -= this.auctions.get(old)?.bids.length ?? 0
      this.auctions.delete(old)
    }
    return { ok: true, type: 'auction.settle', auction: a.spec.id, status: a.status, outcome, forfeits, shortfalls, settlementErrors: a.settlementErrors }
  }

  // ---------------------------------------------------------------- tasks (protocols/tasks hooks)

  /**
   * Moves the ledger to entry `index` for a task hook (a task entry, or a deadline any entry passed),
   * unless it is there already; false when it is past it (nothing is then done).
   */
  private enterTaskEntry (index: number): boolean {
    if (this.ledger.appliedIndex === index) return true
    if (!this.ledger.advance(index).ok) return false
    this.taskEntry = index
    return true
  }

  /** E3: an attempt of agent `agent` delivered (on time or late) or not. No-op without the account. */
  taskOutcome (agent: string, o: { delivered: boolean, onTime: boolean }, index: number): void {
    if (this.ledger.account(agent) === undefined || !this.enterTaskEntry(index)) return
    this.ledger.applyMore({ type: 'outcome', by: AUCTION_HOUSE, account: agent, delivered: o.delivered, onTime: o.onTime, qualityPpm: PPM }, index)
  }

  /** E2: slashes `agent` for a task attempt, with the task's log entries as evidence. No-op without the account. */
  taskSlash (agent: string, condition: 'timeout_violation' | 'task_failure', evidence: { task: number, attempt: number, indexes: number[] }, index: number): void {
    if (this.ledger.account(agent) === undefined || !this.enterTaskEntry(index)) return
    this.ledger.applyMore({ type: 'slash', by: AUCTION_HOUSE, account: agent, condition, evidence: { kind: 'task', ...evidence } }, index)
  }

  /**
   * Escrows a task's reward from `account`, which `owner` (the submitting peer) must own; the escrow is
   * `task/<task>`, held by the auction house. An error code when refused (nothing changed), else undefined.
   */
  taskEscrow (task: number, account: string, owner: string, amount: number, index: number): string | undefined {
    const o = this.owners.get(account)
    if (o === undefined) return 'ERR_UNKNOWN_ACCOUNT'
    if (o !== owner) return 'ERR_UNAUTHORIZED'
    if (!this.enterTaskEntry(index)) return 'ERR_STALE_INDEX'
    const r = this.ledger.applyMore({ type: 'escrow', by: AUCTION_HOUSE, id: `${TASK_ESCROW_PREFIX}${task}`, account, amount }, index)
    return r.ok ? undefined : r.code
  }

  /** Pays task `task`'s escrow to account `to` (an owned account), or back to its payer (`to` null or unknown). No-op without an escrow. */
  taskPayout (task: number, to: string | null, index: number): void {
    const id = `${TASK_ESCROW_PREFIX}${task}`
    const e = this.ledger.escrowOf(id)
    if (e === undefined || !this.enterTaskEntry(index)) return
    const pay = to !== null && this.owners.has(to) && to !== e.account
    this.ledger.applyMore(pay ? { type: 'release', by: AUCTION_HOUSE, id, payTo: to, payAmount: e.amount } : { type: 'release', by: AUCTION_HOUSE, id }, index)
  }

  /**
   * True when auction `id` (a task's: `task-<task>-<attempt>`) was opened at or after entry `since` by
   * `seller` and settled with `agent` among its winners: the agent bid for the task on the terms in the
   * log. False when the auction is unknown (never held, or forgotten), open, unsold or failed.
   */
  taskAuctionWon (id: string, agent: string, seller: string, since: number): boolean {
    const a = this.auctions.get(id)
    return a !== undefined && a.status === 'settled' && a.seller === seller && a.openedIndex >= since && (a.outcome?.winners.some(w => w.agent === agent) ?? false)
  }

  /** Open task escrows, by task id, with their amounts. */
  taskEscrows (): Map<number, number> {
    const out = new Map<number, number>()
    for (const id of this.ledger.escrowIds()) if (id.startsWith(TASK_ESCROW_PREFIX)) out.set(Number(id.slice(TASK_ESCROW_PREFIX.length)), this.ledger.escrowOf(id)!.amount)
    return out
  }

  // ---------------------------------------------------------------- invariants and snapshots

  /**
   * Every invariant, as a list of violations (empty when all hold): the ledger's (supply conservation,
   * no negative balance, escrow = Σ open escrows...), plus: every bid escrow of an open auction is open
   * in the ledger with the recorded amount (escrow covers every open bid); a finished auction holds no
   * open escrow; no item is awarded twice (more units than offered, for uniform and double).
   */
  invariants (): string[] {
    const out = this.ledger.invariants()
    let open = 0
    for (const [id, a] of this.auctions) {
      const live = isLive(a)
      if (live) open++
      if ((a.status === 'closed') !== (a.solveDigest !== undefined)) out.push(`auction ${id} is ${a.status} ${a.solveDigest === undefined ? 'without' : 'with'} a solve digest`)
      if (a.settlementErrors.length > 0) out.push(`auction ${id}: settlement step failed: ${a.settlementErrors[0]!}`)
      for (const b of a.bids) {
        if (b.escrowId === null) continue
        const e = this.ledger.escrowOf(b.escrowId)
        if (live && (e === undefined || e.amount !== b.escrowed || e.account !== b.agent)) out.push(`auction ${id}: bid escrow ${b.escrowId} is not held`)
        if (!live && e !== undefined) out.push(`auction ${id} is ${a.status} but escrow ${b.escrowId} is still open`)
      }
      if (a.outcome !== null && a.outcome.status === 'sold') {
        const m = a.spec.mechanism
        if (m === 'uniform' || m === 'double') {
          const bought = a.outcome.winners.filter(w => w.side !== 'sell').reduce((s, w) => s + w.quantity, 0)
          if (m === 'uniform' && bought > (a.spec.units ?? 0)) out.push(`auction ${id}: ${bought} units awarded of ${a.spec.units ?? 0}`)
          if (m === 'double' && bought !== a.outcome.quantity) out.push(`auction ${id}: buy side ${bought} != traded ${a.outcome.quantity}`)
        } else {
          const seen = new Set<string>()
          for (const w of a.outcome.winners) {
            for (const it of w.items) {
              if (seen.has(it)) out.push(`auction ${id}: item ${it} awarded twice`)
              seen.add(it)
            }
          }
        }
        for (const w of a.outcome.winners) {
          const bid = a.bids.find(b => b.agent === w.agent)
          if (bid === undefined) out.push(`auction ${id}: winner ${w.agent} never bid`)
        }
      }
    }
    if (open !== this.openCount) out.push(`open auction count ${this.openCount} != ${open}`)
    return out
  }

  snapshot (): EconomySnapshot {
    return this.snapshotOf(a => structuredClone(a))
  }

  /**
   * The snapshot as JSON text, without copying the auction book first (what the Raft snapshot stores;
   * identical to `JSON.stringify(snapshot())`).
   */
  snapshotText (): string {
    return JSON.stringify(this.snapshotOf(a => a))
  }

  private snapshotOf (copy: (a: AuctionState) => AuctionState): EconomySnapshot {
    return {
      v: 1,
      now: this.now,
      owners: [...this.owners].sort((x, y) => x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0),
      auctions: [...this.auctions.values()].map(copy),
      ledger: this.ledger.snapshot(),
      config: { authorities: this.authorityList, limits: { ...this.limits }, auctionLimits: { ...this.auctionLimits } }
    }
  }

  /**
   * Rebuilds an economy from {@link snapshot} output (parsed JSON). Throws MarketError(`ERR_DECODE`) when
   * it is malformed or breaks an invariant, whatever part of it is wrong (the ledger's errors included).
   */
  static restore (snap: unknown, hooks: Pick<EconomyConfig, 'verifyEvidence'> = {}): Economy {
    try {
      return Economy.restoreUnchecked(snap, hooks)
    } catch (err) {
      if (err instanceof MarketError && err.code === 'ERR_DECODE') throw err
      throw new MarketError('ERR_DECODE', `bad economy snapshot: ${(err as Error)?.message ?? String(err)}`, { cause: (err as { code?: string })?.code })
    }
  }

  private static restoreUnchecked (snap: unknown, hooks: Pick<EconomyConfig, 'verifyEvidence'>): Economy {
    if (!isObj(snap) || snap.v !== 1 || !isObj(snap.config) || !Array.isArray(snap.owners) || !Array.isArray(snap.auctions) || typeof snap.now !== 'number') {
      throw new MarketError('ERR_DECODE', 'not an economy snapshot')
    }
    const s = snap as unknown as EconomySnapshot
    const e = new Economy({ authorities: s.config.authorities, limits: s.config.limits, auctionLimits: s.config.auctionLimits, ...hooks })
    const ledger = Ledger.restore(s.ledger, hooks)
    ;(e as { ledger: Ledger }).ledger = ledger
    e.now = s.now
    e.owners = new Map(s.owners)
    for (const owner of e.owners.values()) e.usage(owner).accounts++
    for (const a of s.auctions) {
      const copy = structuredClone(a)
      // Payments are a prototype-free object in memory (as the mechanisms return them): JSON gave a plain one.
      if (copy.outcome !== null && typeof copy.outcome === 'object') copy.outcome.payments = Object.assign(nullObject<number>(), copy.outcome.payments)
      e.auctions.set(a.spec.id, copy)
      if (isLive(a)) {
        e.openCount++
        e.openBids += a.bids.length
        e.usage(e.owners.get(a.seller)).auctions++
        for (const b of a.bids) e.usage(e.owners.get(b.agent)).bids++
      } else {
        e.finished.push(a.spec.id)
        e.keptBids += a.bids.length
      }
    }
    e.finished.sort((x, y) => (e.auctions.get(x)!.settledIndex ?? 0) - (e.auctions.get(y)!.settledIndex ?? 0))
    const bad = e.invariants()
    if (bad.length > 0) throw new MarketError('ERR_DECODE', `economy snapshot breaks invariants: ${bad.slice(0, 3).join('; ')}`)
    return e
  }
}

/** Runs an auction's mechanism on bids in log order (validated on admission). Throws AuctionError. */
export function runMechanism (spec: AuctionSpec, bids: ReadonlyArray<Pick<BidRecord, 'agent' | 'bid'>>, limits: AuctionLimits): Outcome {
  const item = spec.items[0]!
  const reserve = spec.reserve ?? 0
  const p = (b: Pick<BidRecord, 'bid'>): Record<string, number> => b.bid as unknown as Record<string, number>
  switch (spec.mechanism) {
    case 'english':
      return english({ item, reserve, increment: spec.increment as number, ...(spec.startPrice !== undefined ? { startPrice: spec.startPrice } : {}) }, bids.map(b => ({ agent: b.agent, maxPrice: p(b).maxPrice! })), limits)
    case 'dutch':
      return dutch({ item, startPrice: spec.startPrice as number, decrement: spec.decrement as number, reserve }, bids.map(b => ({ agent: b.agent, maxPrice: p(b).maxPrice! })), limits)
    case 'first-price':
      return firstPrice({ item, reserve }, bids.map(b => ({ agent: b.agent, amount: p(b).amount! })), limits)
    case 'vickrey':
      return vickrey({ item, reserve }, bids.map(b => ({ agent: b.agent, amount: p(b).amount! })), limits)
    case 'combinatorial': {
      const { params, bids: flat } = combinatorialInput(spec, bids)
      return combinatorial(params, flat, limits)
    }
    case 'uniform':
      return uniformPrice({ item, units: spec.units as number, reserve }, bids.map(b => ({ agent: b.agent, price: p(b).price!, quantity: p(b).quantity! })), limits)
    case 'double':
      return callMarket({ item, ...(spec.pricing !== undefined ? { pricing: spec.pricing } : {}) }, bids.map(b => ({ agent: b.agent, side: (b.bid as { side: 'buy' | 'sell' }).side, limit: p(b).limit!, quantity: p(b).quantity! })), limits)
  }
}

/** Open, revealing, or closed waiting for its settle: the auction holds its bids' escrows. */
export function isLive (a: Pick<AuctionState, 'status'>): boolean {
  return a.status === 'open' || a.status === 'reveal' || a.status === 'closed'
}

/**
 * The input of `combinatorial()` for a combinatorial auction: its items and reserves (bundle
 * qualification, payment floor, as protocols/auctions/combinatorial.ts defines them), and every bid's
 * XOR bundles flattened in log order.
 */
export function combinatorialInput (spec: AuctionSpec, bids: ReadonlyArray<Pick<BidRecord, 'agent' | 'bid'>>): { params: CombinatorialParams, bids: BundleBid[] } {
  const params: CombinatorialParams = { items: spec.items, ...(spec.reserves !== undefined ? { reserves: spec.reserves } : {}) }
  const flat: BundleBid[] = []
  for (const b of bids) for (const x of (b.bid as { bundles: Array<{ items: string[], value: number }> }).bundles) flat.push({ agent: b.agent, items: x.items, value: x.value })
  return { params, bids: flat }
}
