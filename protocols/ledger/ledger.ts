/**
 * The ledger state machine (FEATURES E1–E3): accounts with exact integer balances (smallest units,
 * safe integers, never floats), mint, transfer, escrow/release/collect, stake/unstake with an unbonding
 * delay counted in log index, slashing with history and evidence, reputation.
 *
 * Applied from committed log entries in index order: `apply(cmd, logIndex)` never throws on bad input,
 * returns `{ ok: true, ... }` or `{ ok: false, code }`, and leaves the state untouched on error. Every
 * replica that applies the same log reaches the same state and `snapshot()` (sorted keys).
 */
import { isReservedName, isWellFormed, jsonInputProblem, nullObject } from '../../src/base/input.js'
import { LedgerError, type LedgerErrorCode } from './errors.js'
import { DEFAULT_LEDGER_LIMITS, type LedgerLimits } from './limits.js'
import { applyOutcome, applySlash, biddingPower, initialReputation, PPM, type Reputation, scorePpm } from './reputation.js'
import { computeSlash, isSlashCondition, SLASH_RULES, type SlashCondition } from './slashing.js'
import type { LedgerCommand, LedgerResult, SlashRecord } from './types.js'

export interface LedgerConfig {
  /** Accounts allowed to mint, slash, report outcomes, collect and release any escrow. Required, non-empty. */
  authorities: string[]
  /** Unbonding delay in log entries: unstaked funds become free at index `unstakeIndex + delay`. Default 100. */
  unbondingDelayEntries?: number
  /** Limits (defaults in DEFAULT_LEDGER_LIMITS). */
  limits?: Partial<LedgerLimits>
  /**
   * Optional deterministic evidence check run on every `slash` before it applies (e.g. verify a signed
   * equivocation for byzantine_behavior). Returning false rejects the slash with ERR_INVALID_EVIDENCE.
   * It must be a pure function identical on every replica. Default: none (evidence stored unverified).
   */
  verifyEvidence?: (condition: SlashCondition, account: string, evidence: unknown) => boolean
}

export interface AccountState {
  free: number
  /** Sum of this account's open escrows. Invariant: equals the sum over `escrows` owned by it. */
  escrow: number
  staked: number
  /** Sum of this account's pending unbonding entries. */
  unbonding: number
  reputation: Reputation
  /** Effective slashes (not warnings), all conditions. */
  slashCount: number
  /** Offences per condition, warnings included. */
  offences: Partial<Record<SlashCondition, number>>
  history: SlashRecord[]
}

export interface EscrowState { account: string, amount: number, arbiter: string | null }
export interface UnbondingEntry { account: string, amount: number, releaseIndex: number }

export interface LedgerSnapshot {
  accounts: Record<string, AccountState>
  appliedIndex: number
  burned: number
  config: { authorities: string[], unbondingDelayEntries: number, limits: LedgerLimits }
  escrows: Record<string, EscrowState>
  minted: number
  unbonding: UnbondingEntry[]
}

class Reject {
  constructor (readonly code: LedgerErrorCode, readonly message: string) {}
}

function err (code: LedgerErrorCode, message: string): Reject { return new Reject(code, message) }

export class Ledger {
  private readonly authorities: Set<string>
  private readonly authorityList: string[]
  private readonly verifyEvidence: LedgerConfig['verifyEvidence']
  readonly unbondingDelayEntries: number
  readonly limits: LedgerLimits
  private accounts = new Map<string, AccountState>()
  private escrows = new Map<string, EscrowState>()
  /** FIFO of unbonding entries. Invariant: releaseIndex non-decreasing (constant delay, increasing index). */
  private unbondingQueue: UnbondingEntry[] = []
  minted = 0
  burned = 0
  /** Highest log index applied or advanced to. Invariant: strictly increases. */
  appliedIndex = 0

  constructor (config: LedgerConfig) {
    if (!Array.isArray(config.authorities) || config.authorities.length === 0 || !config.authorities.every(a => typeof a === 'string' && a.length > 0 && isWellFormed(a))) {
      throw new LedgerError('ERR_INVALID_OPTION', 'authorities must be a non-empty array of ids (well-formed strings)')
    }
    const delay = config.unbondingDelayEntries ?? 100
    if (!Number.isSafeInteger(delay) || delay < 0) throw new LedgerError('ERR_INVALID_OPTION', 'unbondingDelayEntries must be a non-negative integer')
    this.limits = { ...DEFAULT_LEDGER_LIMITS, ...config.limits }
    for (const [k, v] of Object.entries(this.limits)) {
      if (!Number.isSafeInteger(v) || v < 0) throw new LedgerError('ERR_INVALID_OPTION', `limits.${k} must be a non-negative integer`)
    }
    this.authorityList = [...new Set(config.authorities)].sort()
    this.authorities = new Set(this.authorityList)
    this.unbondingDelayEntries = delay
    this.verifyEvidence = config.verifyEvidence
  }

  // ---------------------------------------------------------------- reads

  account (id: string): Readonly<AccountState> | undefined { return this.accounts.get(id) }
  accountIds (): string[] { return [...this.accounts.keys()].sort() }
  /** Accounts held (an account, once opened, is never removed). */
  get accountCount (): number { return this.accounts.size }
  escrowOf (id: string): Readonly<EscrowState> | undefined { return this.escrows.get(id) }
  get openEscrows (): number { return this.escrows.size }
  /** Open escrow ids, in the order opened. */
  escrowIds (): string[] { return [...this.escrows.keys()] }
  isAuthority (id: string): boolean { return this.authorities.has(id) }

  /** Maximum amount `id` may bid (free funds × the E3 bidding-power multiplier); 0 for unknown accounts. */
  biddingPower (id: string): number {
    const a = this.accounts.get(id)
    return a === undefined ? 0 : biddingPower(a.free, a.reputation)
  }

  /**
   * Admission check for a bid of `amount` by `id` (read-only; the auction state machine calls it when
   * a bid is submitted): unknown account → ERR_UNKNOWN_ACCOUNT; amount not a non-negative safe integer →
   * ERR_INVALID_COMMAND; amount above {@link biddingPower} → ERR_EXCEEDS_BIDDING_POWER.
   */
  checkBid (id: string, amount: unknown): LedgerResult {
    const a = this.accounts.get(id)
    if (a === undefined) return { ok: false, code: 'ERR_UNKNOWN_ACCOUNT', message: `unknown account ${id}` }
    if (typeof amount !== 'number' || !Number.isSafeInteger(amount) || amount < 0) return { ok: false, code: 'ERR_INVALID_COMMAND', message: 'bid amount must be a non-negative safe integer' }
    const power = biddingPower(a.free, a.reputation)
    if (amount > power) return { ok: false, code: 'ERR_EXCEEDS_BIDDING_POWER', message: `bid ${amount} exceeds bidding power ${power}` }
    return { ok: true, type: 'checkBid', power }
  }

  /** Reputation score in [0, 1] (0.5 for unknown accounts). */
  reputationScore (id: string): number {
    const a = this.accounts.get(id)
    return scorePpm(a?.reputation ?? initialReputation()) / PPM
  }

  /** Sum of every account's free + escrow + staked + unbonding. */
  circulating (): number {
    let t = 0
    for (const a of this.accounts.values()) t += a.free + a.escrow + a.staked + a.unbonding
    return t
  }

  // ---------------------------------------------------------------- apply

  /**
   * Release unbonding entries due at or before `logIndex`. `apply()` calls it; the driver calls it for
   * committed entries that carry no ledger command so maturities follow log time exactly.
   */
  advance (logIndex: number): LedgerResult {
    if (!Number.isSafeInteger(logIndex) || logIndex <= this.appliedIndex) {
      return { ok: false, code: 'ERR_STALE_INDEX', message: `log index ${String(logIndex)} is not above ${this.appliedIndex}` }
    }
    this.appliedIndex = logIndex
    let released = 0
    while (this.unbondingQueue.length > 0 && this.unbondingQueue[0]!.releaseIndex <= logIndex) {
      const e = this.unbondingQueue.shift()!
      const a = this.accounts.get(e.account)!
      a.unbonding -= e.amount
      a.free += e.amount
      released += e.amount
    }
    return { ok: true, type: 'advance', released }
  }

  /** Apply one committed command at `logIndex`. Never throws; on error the state is unchanged (except log time). */
  apply (cmd: unknown, logIndex: number): LedgerResult {
    const adv = this.advance(logIndex)
    if (!adv.ok) return adv
    return this.run(cmd, logIndex)
  }

  /**
   * Apply a further command carried by the entry at `logIndex` that was just applied or advanced to
   * (one log entry may hold several ledger commands: an auction's settlement). Log time does not move.
   */
  applyMore (cmd: unknown, logIndex: number): LedgerResult {
    if (logIndex !== this.appliedIndex) return { ok: false, code: 'ERR_STALE_INDEX', message: `applyMore at ${String(logIndex)}: the current entry is ${this.appliedIndex}` }
    return this.run(cmd, logIndex)
  }

  private run (cmd: unknown, logIndex: number): LedgerResult {
    try {
      const r = this.exec(cmd, logIndex)
      return r
    } catch (e) {
      if (e instanceof Reject) return { ok: false, code: e.code, message: e.message }
      // A bug, not bad input: surface it as an invalid command rather than crash the replica;
      // every replica takes the same path, so state stays identical.
      return { ok: false, code: 'ERR_INVALID_COMMAND', message: `internal: ${String(e)}` }
    }
  }

  private exec (raw: unknown, index: number): LedgerResult {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw err('ERR_INVALID_COMMAND', 'command is not an object')
    checkStrings(raw)
    const c = raw as Record<string, unknown>
    const by = this.id(c.by, 'by')
    switch (c.type) {
      case 'open': {
        const account = this.id(c.account, 'account')
        if (by !== account && !this.authorities.has(by)) throw err('ERR_UNAUTHORIZED', 'open: by must be the account or an authority')
        const created = !this.accounts.has(account)
        this.ensure(account)
        return { ok: true, type: 'open', created }
      }
      case 'mint': {
        const account = this.id(c.account, 'account')
        const amount = this.amount(c.amount)
        if (!this.authorities.has(by)) throw err('ERR_UNAUTHORIZED', 'mint: by is not an authority')
        if (amount > this.limits.supplyMax - this.minted) throw err('ERR_LIMIT_EXCEEDED', 'mint: supplyMax reached')
        const a = this.ensure(account)
        a.free += amount
        this.minted += amount
        return { ok: true, type: 'mint', minted: this.minted }
      }
      case 'transfer': {
        const from = this.id(c.from, 'from')
        const to = this.id(c.to, 'to')
        const amount = this.amount(c.amount)
        if (by !== from) throw err('ERR_UNAUTHORIZED', 'transfer: by must be the payer')
        const src = this.existing(from)
        if (src.free < amount) throw err('ERR_INSUFFICIENT_FUNDS', 'transfer: free funds below amount')
        const dst = this.ensure(to)
        src.free -= amount
        dst.free += amount
        return { ok: true, type: 'transfer' }
      }
      case 'escrow': {
        const id = this.id(c.id, 'id')
        const account = this.id(c.account, 'account')
        const amount = this.amount(c.amount)
        const arbiter = c.arbiter === undefined ? null : this.id(c.arbiter, 'arbiter')
        if (by !== account && !this.authorities.has(by)) throw err('ERR_UNAUTHORIZED', 'escrow: by must be the account or an authority')
        const a = this.existing(account)
        if (isReservedName(id)) throw err('ERR_RESERVED_NAME', `id: "${id}" is a reserved name`)
        if (this.escrows.has(id)) throw err('ERR_DUPLICATE_ESCROW', `escrow ${id} is already open`)
        if (this.escrows.size >= this.limits.escrowsMax) throw err('ERR_LIMIT_EXCEEDED', 'escrowsMax reached')
        if (a.free < amount) throw err('ERR_INSUFFICIENT_FUNDS', 'escrow: free funds below amount')
        a.free -= amount
        a.escrow += amount
        this.escrows.set(id, { account, amount, arbiter })
        return { ok: true, type: 'escrow' }
      }
      case 'release': {
        const id = this.id(c.id, 'id')
        const e = this.escrows.get(id)
        if (e === undefined) throw err('ERR_UNKNOWN_ESCROW', `no open escrow ${id}`)
        if (by !== e.arbiter && !this.authorities.has(by)) throw err('ERR_UNAUTHORIZED', 'release: by must be the arbiter or an authority')
        let payTo: string | null = null
        let payAmount = 0
        if (c.payTo !== undefined || c.payAmount !== undefined) {
          payTo = this.id(c.payTo, 'payTo')
          payAmount = this.amount(c.payAmount, true)
          if (payAmount > e.amount) throw err('ERR_INSUFFICIENT_FUNDS', 'release: payAmount exceeds the escrow')
          this.checkCreatable(payTo, 'payTo')
        }
        const owner = this.accounts.get(e.account)!
        owner.escrow -= e.amount
        owner.free += e.amount - payAmount
        if (payTo !== null) this.ensure(payTo).free += payAmount
        this.escrows.delete(id)
        return { ok: true, type: 'release', paid: payAmount, refunded: e.amount - payAmount }
      }
      case 'collect': return this.collect(c, by, index)
      case 'stake': {
        const account = this.id(c.account, 'account')
        const amount = this.amount(c.amount)
        if (by !== account && !this.authorities.has(by)) throw err('ERR_UNAUTHORIZED', 'stake: by must be the account or an authority')
        const a = this.existing(account)
        if (a.free < amount) throw err('ERR_INSUFFICIENT_FUNDS', 'stake: free funds below amount')
        a.free -= amount
        a.staked += amount
        return { ok: true, type: 'stake', staked: a.staked }
      }
      case 'unstake': {
        const account = this.id(c.account, 'account')
        const amount = this.amount(c.amount)
        if (by !== account && !this.authorities.has(by)) throw err('ERR_UNAUTHORIZED', 'unstake: by must be the account or an authority')
        const a = this.existing(account)
        if (a.staked < amount) throw err('ERR_INSUFFICIENT_FUNDS', 'unstake: staked funds below amount')
        const releaseIndex = index + this.unbondingDelayEntries
        if (this.unbondingDelayEntries === 0) {
          a.staked -= amount
          a.free += amount
          return { ok: true, type: 'unstake', releaseIndex }
        }
        if (this.unbondingQueue.length >= this.limits.unbondingEntriesMax) throw err('ERR_LIMIT_EXCEEDED', 'unbondingEntriesMax reached')
        a.staked -= amount
        a.unbonding += amount
        this.unbondingQueue.push({ account, amount, releaseIndex })
        return { ok: true, type: 'unstake', releaseIndex }
      }
      case 'slash': {
        const account = this.id(c.account, 'account')
        if (!isSlashCondition(c.condition)) throw err('ERR_INVALID_COMMAND', 'slash: unknown condition')
        if (!this.authorities.has(by)) throw err('ERR_UNAUTHORIZED', 'slash: by is not an authority')
        const evidence = this.evidence(c.evidence)
        this.existing(account)
        if (this.verifyEvidence !== undefined) {
          let valid = false
          try { valid = this.verifyEvidence(c.condition, account, evidence) === true } catch { valid = false }
          if (!valid) throw err('ERR_INVALID_EVIDENCE', 'slash: evidence rejected by verifyEvidence')
        }
        const rec = this.slash(account, c.condition, evidence, index)
        return { ok: true, type: 'slash', ...rec }
      }
      case 'outcome': {
        const account = this.id(c.account, 'account')
        if (typeof c.delivered !== 'boolean' || typeof c.onTime !== 'boolean') throw err('ERR_INVALID_COMMAND', 'outcome: delivered and onTime must be booleans')
        if (!Number.isSafeInteger(c.qualityPpm) || (c.qualityPpm as number) < 0 || (c.qualityPpm as number) > PPM) throw err('ERR_INVALID_COMMAND', 'outcome: qualityPpm must be an integer in 0..1e6')
        if (!this.authorities.has(by)) throw err('ERR_UNAUTHORIZED', 'outcome: by is not an authority')
        const a = this.existing(account)
        a.reputation = applyOutcome(a.reputation, { delivered: c.delivered, onTime: c.onTime, qualityPpm: c.qualityPpm as number })
        return { ok: true, type: 'outcome', scorePpm: scorePpm(a.reputation) }
      }
      default:
        throw err('ERR_INVALID_COMMAND', `unknown command type ${JSON.stringify(c.type) ?? 'undefined'}`)
    }
  }

  /**
   * Collect a payment owed by `account` (e.g. an auction winner's price): drawn from the escrow
   * `escrowId` if given (its remainder is refunded to free), then from free funds, then from stake
   * (collateral), then from unbonding funds (latest first). If everything together is short, all of it is
   * paid, the result reports `shortfall > 0`, and a `task_failure` offence is recorded with evidence
   * `{ kind: 'payment_default', shortfall }` (graced/slashing per E2; it lowers reputation).
   */
  private collect (c: Record<string, unknown>, by: string, index: number): LedgerResult {
    const account = this.id(c.account, 'account')
    const to = this.id(c.to, 'to')
    const amount = this.amount(c.amount, true)
    if (!this.authorities.has(by)) throw err('ERR_UNAUTHORIZED', 'collect: by is not an authority')
    const a = this.existing(account)
    let esc: EscrowState | undefined
    let escrowId: string | null = null
    if (c.escrowId !== undefined) {
      escrowId = this.id(c.escrowId, 'escrowId')
      esc = this.escrows.get(escrowId)
      if (esc === undefined) throw err('ERR_UNKNOWN_ESCROW', `no open escrow ${escrowId}`)
      if (esc.account !== account) throw err('ERR_INVALID_COMMAND', 'collect: escrow belongs to another account')
    }
    this.checkCreatable(to, 'to')
    let due = amount
    const parts = { escrow: 0, free: 0, staked: 0, unbonding: 0 }
    if (esc !== undefined && escrowId !== null) {
      parts.escrow = Math.min(due, esc.amount)
      due -= parts.escrow
      a.escrow -= esc.amount
      a.free += esc.amount - parts.escrow
      this.escrows.delete(escrowId)
    }
    parts.free = Math.min(due, a.free); due -= parts.free; a.free -= parts.free
    parts.staked = Math.min(due, a.staked); due -= parts.staked; a.staked -= parts.staked
    if (due > 0) { parts.unbonding = this.takeUnbonding(account, due); due -= parts.unbonding }
    const paid = amount - due
    this.ensure(to).free += paid
    let defaultSlash: unknown = null
    if (due > 0) defaultSlash = this.slash(account, 'task_failure', { kind: 'payment_default', shortfall: due, to }, index)
    return { ok: true, type: 'collect', paid, shortfall: due, from: parts, defaultSlash }
  }

  private slash (account: string, condition: SlashCondition, evidence: unknown, index: number): SlashRecord {
    const a = this.accounts.get(account)!
    const offence = (a.offences[condition] ?? 0) + 1
    const slashable = a.staked + a.unbonding
    const d = computeSlash(condition, offence, a.slashCount, slashable)
    let taken = Math.min(d.amount, a.staked)
    a.staked -= taken
    if (d.amount > taken) taken += this.takeUnbonding(account, d.amount - taken)
    this.burned += taken
    a.offences[condition] = offence
    if (!d.graced) a.slashCount++
    const fractionPpm = slashable > 0
      ? Number(BigInt(taken) * BigInt(PPM) / BigInt(slashable))
      : Math.min(PPM, SLASH_RULES[condition].baseBps * 100 * d.severityMultiplier * d.repeatPct / 100)
    a.reputation = applySlash(a.reputation, condition, d.graced, fractionPpm)
    const rec: SlashRecord = { index, condition, severity: d.severity, offence, graced: d.graced, amount: taken, repeatPct: d.repeatPct, evidence }
    a.history.push(rec)
    if (a.history.length > this.limits.historyEntriesMax) a.history.shift()
    return rec
  }

  /** Take up to `want` from `account`'s unbonding entries, latest release first. Returns the amount taken. */
  private takeUnbonding (account: string, want: number): number {
    const a = this.accounts.get(account)!
    let taken = 0
    for (let i = this.unbondingQueue.length - 1; i >= 0 && taken < want; i--) {
      const e = this.unbondingQueue[i]!
      if (e.account !== account) continue
      const t = Math.min(e.amount, want - taken)
      e.amount -= t
      taken += t
      if (e.amount === 0) this.unbondingQueue.splice(i, 1)
    }
    a.unbonding -= taken
    return taken
  }

  // ---------------------------------------------------------------- validation helpers

  private id (v: unknown, field: string): string {
    if (typeof v !== 'string' || v.length === 0 || v.length > this.limits.idCharsMax) throw err('ERR_INVALID_COMMAND', `${field} must be a string of 1..${this.limits.idCharsMax} characters`)
    return v
  }

  private amount (v: unknown, allowZero = false): number {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || (v === 0 && !allowZero)) throw err('ERR_INVALID_COMMAND', `amount must be a ${allowZero ? 'non-negative' : 'positive'} safe integer`)
    return v
  }

  private evidence (v: unknown): unknown {
    if (v === undefined || v === null) return null
    let s: string | undefined
    try { s = JSON.stringify(v) } catch { throw err('ERR_INVALID_COMMAND', 'evidence is not JSON-able') }
    if (s === undefined) throw err('ERR_INVALID_COMMAND', 'evidence is not JSON-able')
    if (s.length > this.limits.evidenceCharsMax) throw err('ERR_LIMIT_EXCEEDED', 'evidence exceeds evidenceCharsMax')
    return JSON.parse(s) as unknown // a detached copy
  }

  private existing (id: string): AccountState {
    const a = this.accounts.get(id)
    if (a === undefined) throw err('ERR_UNKNOWN_ACCOUNT', `unknown account ${id}`)
    return a
  }

  /**
   * Throws unless `id` exists or may be created: a new account needs room (accountsMax) and a name that
   * is not reserved (`__proto__`, `constructor`, `prototype`: ids are keys of the snapshot's JSON objects).
   * Called before anything changes, so a refused command leaves the state untouched.
   */
  private checkCreatable (id: string, field = 'account'): void {
    if (this.accounts.has(id)) return
    if (isReservedName(id)) throw err('ERR_RESERVED_NAME', `${field}: "${id}" is a reserved name`)
    if (this.accounts.size >= this.limits.accountsMax) throw err('ERR_LIMIT_EXCEEDED', 'accountsMax reached')
  }

  private ensure (id: string): AccountState {
    let a = this.accounts.get(id)
    if (a === undefined) {
      this.checkCreatable(id)
      a = { free: 0, escrow: 0, staked: 0, unbonding: 0, reputation: initialReputation(), slashCount: 0, offences: {}, history: [] }
      this.accounts.set(id, a)
    }
    return a
  }

  // ---------------------------------------------------------------- invariants

  /**
   * Check every invariant; returns the violations (empty when all hold):
   * supply conservation (Σ free + escrow + staked + unbonding + burned = minted), no negative or
   * non-integer balance, each account's escrow equals the sum of its open escrows (escrow covers every
   * open escrow id), unbonding equals its queue entries, queue ordered, reputation in [0, 1].
   */
  invariants (): string[] {
    const v: string[] = []
    const escrowSum = new Map<string, number>()
    for (const [id, e] of this.escrows) {
      if (!Number.isSafeInteger(e.amount) || e.amount <= 0) v.push(`escrow ${id} amount ${e.amount} not a positive integer`)
      if (!this.accounts.has(e.account)) v.push(`escrow ${id} owner ${e.account} unknown`)
      escrowSum.set(e.account, (escrowSum.get(e.account) ?? 0) + e.amount)
    }
    const unbSum = new Map<string, number>()
    let prev = -Infinity
    for (const e of this.unbondingQueue) {
      if (e.releaseIndex < prev) v.push('unbonding queue out of order')
      prev = e.releaseIndex
      if (!Number.isSafeInteger(e.amount) || e.amount <= 0) v.push(`unbonding entry of ${e.account} amount ${e.amount} not positive`)
      unbSum.set(e.account, (unbSum.get(e.account) ?? 0) + e.amount)
    }
    let total = 0
    for (const [id, a] of this.accounts) {
      for (const f of ['free', 'escrow', 'staked', 'unbonding'] as const) {
        if (!Number.isSafeInteger(a[f]) || a[f] < 0) v.push(`account ${id} ${f} = ${a[f]} is negative or not an integer`)
      }
      if (a.escrow !== (escrowSum.get(id) ?? 0)) v.push(`account ${id} escrow ${a.escrow} != open escrows ${escrowSum.get(id) ?? 0}`)
      if (a.unbonding !== (unbSum.get(id) ?? 0)) v.push(`account ${id} unbonding ${a.unbonding} != queue ${unbSum.get(id) ?? 0}`)
      for (const [k, x] of Object.entries(a.reputation)) if (!Number.isSafeInteger(x) || x < 0 || x > PPM) v.push(`account ${id} reputation.${k} = ${x} out of range`)
      total += a.free + a.escrow + a.staked + a.unbonding
    }
    if (total + this.burned !== this.minted) v.push(`supply: circulating ${total} + burned ${this.burned} != minted ${this.minted}`)
    if (this.burned < 0 || this.minted < 0) v.push('negative supply counters')
    return v
  }

  // ---------------------------------------------------------------- snapshot

  /**
   * Deterministic snapshot: a JSON-able object with sorted keys (accounts and escrows by id). The id-keyed
   * objects are prototype-free, so every id is an own key (an account named `__proto__`, restored from a
   * snapshot written before the reserved-name rule, is kept like any other).
   */
  snapshot (): LedgerSnapshot {
    const accounts = nullObject<AccountState>()
    for (const id of this.accountIds()) {
      const a = this.accounts.get(id)!
      const offences: Partial<Record<SlashCondition, number>> = nullObject<number>()
      for (const k of Object.keys(a.offences).sort() as SlashCondition[]) offences[k] = a.offences[k]!
      accounts[id] = {
        escrow: a.escrow,
        free: a.free,
        history: a.history.map(h => sortKeys(h)),
        offences,
        reputation: { cooperation: a.reputation.cooperation, honesty: a.reputation.honesty, performance: a.reputation.performance, reliability: a.reputation.reliability },
        slashCount: a.slashCount,
        staked: a.staked,
        unbonding: a.unbonding
      } as AccountState
    }
    const escrows = nullObject<EscrowState>()
    for (const id of [...this.escrows.keys()].sort()) {
      const e = this.escrows.get(id)!
      escrows[id] = { account: e.account, amount: e.amount, arbiter: e.arbiter }
    }
    return {
      accounts,
      appliedIndex: this.appliedIndex,
      burned: this.burned,
      config: { authorities: [...this.authorityList], limits: sortKeys(this.limits), unbondingDelayEntries: this.unbondingDelayEntries } as LedgerSnapshot['config'],
      escrows,
      minted: this.minted,
      unbonding: this.unbondingQueue.map(e => ({ account: e.account, amount: e.amount, releaseIndex: e.releaseIndex }))
    }
  }

  /**
   * Rebuild a ledger from `snapshot()` output (plus the non-serialisable `verifyEvidence` hook, if used).
   * Throws LedgerError(ERR_DECODE) if it is malformed or breaks an invariant.
   */
  static restore (snap: unknown, hooks: Pick<LedgerConfig, 'verifyEvidence'> = {}): Ledger {
    try {
      const s = JSON.parse(JSON.stringify(snap)) as LedgerSnapshot
      const l = new Ledger({ authorities: s.config.authorities, unbondingDelayEntries: s.config.unbondingDelayEntries, limits: s.config.limits, ...hooks })
      for (const id of Object.keys(s.accounts)) {
        const a = s.accounts[id]!
        l.accounts.set(id, { free: a.free, escrow: a.escrow, staked: a.staked, unbonding: a.unbonding, reputation: { ...a.reputation }, slashCount: a.slashCount, offences: { ...a.offences }, history: a.history })
      }
      for (const id of Object.keys(s.escrows)) l.escrows.set(id, { ...s.escrows[id]! })
      l.unbondingQueue = s.unbonding.map(e => ({ ...e }))
      if (!Number.isSafeInteger(s.minted) || !Number.isSafeInteger(s.burned) || !Number.isSafeInteger(s.appliedIndex)) throw new Error('bad counters')
      l.minted = s.minted
      l.burned = s.burned
      l.appliedIndex = s.appliedIndex
      const v = l.invariants()
      if (v.length > 0) throw new Error(v.join('; '))
      return l
    } catch (e) {
      if (e instanceof LedgerError && e.code !== 'ERR_INVALID_OPTION') throw e
      throw new LedgerError('ERR_DECODE', `bad ledger snapshot: ${e instanceof Error ? e.message : String(e)}`)
    }
  }
}

/**
 * Every string of a command (ids, evidence; keys too) must be well-formed Unicode, and no key may be
 * `__proto__`: what is stored must be what every later reader (snapshot JSON, HTTP) sees.
 */
function checkStrings (raw: object): void {
  const p = jsonInputProblem(raw)
  if (p?.reason === 'proto-key') throw err('ERR_RESERVED_NAME', `${p.path}: "__proto__" is not allowed as a key`)
  if (p !== undefined) throw err('ERR_INVALID_COMMAND', `${p.path}: strings must be well-formed Unicode (no lone UTF-16 surrogate)`)
}

function sortKeys<T extends object> (o: T): T {
  const out = nullObject<unknown>()
  for (const k of Object.keys(o).sort()) out[k] = (o as Record<string, unknown>)[k]
  return out as T
}

/** Canonical JSON of a snapshot (keys already sorted), for hashing/comparison across replicas. */
export function snapshotJSON (l: Ledger): string {
  return JSON.stringify(l.snapshot())
}

export type { LedgerCommand }
