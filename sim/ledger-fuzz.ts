/**
 * Ledger linearizability in the simulator: a client workload run alongside the economy fuzz
 * (econ-fuzz.ts, option `ledger`). A few dedicated accounts `l1..lN` (opened by their owners, no
 * bidding, so only this workload moves their funds) get random operations while the auctions and faults
 * run:
 *
 * - `mint` as the operator (at the leader) and `transfer` between the accounts from the payer's owner
 *   node as its owner origin, through Raft (sim.proposeEcon: exactly-once, retried until applied). The
 *   client waits for the first application anywhere; past {@link LEDGER_CLIENT_TIMEOUT_MS}, or when its
 *   node crashes, it gives up and the outcome is indefinite (`output: undefined, return: null`);
 * - linearizable balance reads (`sim.ledgerRead`): a ReadIndex at a random node, then that node's
 *   economy replica is read once it has applied the read index, exactly like KV client reads.
 *
 * Every operation is recorded with call/return in virtual time and at the end narrowed like
 * `Simulation.operations()` does for KV: an indefinite mint/transfer applied somewhere took effect with
 * the outcome every replica computed, no later than its first application (it returns then); one applied
 * nowhere influenced no answer and is left out; an indefinite read is left out; nothing takes effect
 * before the attempt that entered the log was proposed (writes) or the answered ReadIndex request was
 * sent (reads): the call moves there. Then `checkLinearizable(ledgerModel(n), history)`; `illegal` is
 * a `linearizability` violation naming the seed.
 */
import { checkLinearizable, ledgerModel } from './linearizability/index.js'
import type { CheckOutcome, LedgerInput, LedgerOperation, LedgerOutput } from './linearizability/index.js'
import { createRand } from '../src/base/prng.js'
import type { Rand } from '../src/base/prng.js'
import type { Workload } from './runner.js'
import type { EconOutcome, LedgerRead, Simulation } from './simulation.js'
import { OPERATOR } from './economy.js'
import { LimitExceededError } from '../src/base/errors.js'

/** A client's bound on one mint/transfer (virtual ms); past it the outcome is indefinite. */
export const LEDGER_CLIENT_TIMEOUT_MS = 2_000
/** Operations per seed by default (the checker searches one partition: transfers touch two accounts). */
export const LEDGER_OPS_DEFAULT = 250
/** Hard bound on the operations one workload issues. */
export const LEDGER_OPS_MAX = 2_000
/**
 * Mints/transfers not yet applied anywhere, and reads not yet answered (within the client bound), at
 * once: clients wait rather than pile operations up behind a partition (the check's search grows with
 * the number of overlapping operations).
 */
export const LEDGER_OUTSTANDING_MAX = 4
/** Search budget of the check (per seed). */
export const LEDGER_CHECK_STEPS_MAX = 5_000_000

export interface LedgerWorkloadOptions {
  /** Accounts `l1..lN`. Default 3. */
  accounts?: number
  /** Operations issued at most. Default {@link LEDGER_OPS_DEFAULT}. */
  ops?: number
  /** Chance per tick round of issuing an operation. Default 0.2. */
  rate?: number
  /**
   * Negative testing: serve balance reads at once from the chosen node's replica, without ReadIndex
   * (a lagging or partitioned node answers stale; the check must catch it).
   */
  staleReads?: boolean
}

interface Tx {
  input: LedgerInput
  seq: number
  /** The proposing node (0: the operator's, the leader). */
  node: number
  call: number
  /** The client's view: done (answered or gave up) and, if answered, when. */
  done: boolean
  answeredAt: number | null
  /** The first application anywhere (known even after the client gave up). */
  applied?: EconOutcome
}

export interface LedgerWorkloadResult {
  /** The narrowed history that was checked. */
  history: LedgerOperation[]
  check: CheckOutcome | 'not run'
  /** Operations issued (mints, transfers, reads). */
  issued: number
  /** Refusals the model cannot express (any code but ERR_INSUFFICIENT_FUNDS on a transfer): failures. */
  unexpected: string[]
}

export class LedgerWorkload implements Workload {
  readonly accounts: string[]
  private sim: Simulation | undefined
  private readonly rand: Rand
  private readonly opsMax: number
  private readonly rate: number
  private phase: 'init' | 'opening' | 'run' = 'init'
  private opening: number[] = []
  private readonly txs: Tx[] = []
  private readonly reads: LedgerRead[] = []
  readonly result: LedgerWorkloadResult = { history: [], check: 'not run', issued: 0, unexpected: [] }

  constructor (private readonly seed: number, private readonly options: LedgerWorkloadOptions = {}) {
    const n = options.accounts ?? 3
    this.accounts = Array.from({ length: n }, (_, i) => `l${i + 1}`)
    // Its own stream: the workload's choices do not shift the simulation's PRNG.
    this.rand = createRand((seed * 7919 + 104_729) >>> 0)
    this.opsMax = options.ops ?? LEDGER_OPS_DEFAULT
    if (this.opsMax > LEDGER_OPS_MAX) throw new LimitExceededError('LEDGER_OPS_MAX', LEDGER_OPS_MAX, this.opsMax, 'ledger workload operations')
    this.rate = options.rate ?? 0.2
  }

  attach (sim: Simulation): void { this.sim = sim }

  /** The node owning account index `i` (its transfers are proposed there, as `n<node>`). */
  ownerNode (i: number): number { return 1 + (i % (this.sim as Simulation).size) }

  tick (): void {
    const sim = this.sim as Simulation
    if (this.phase === 'init') {
      this.opening = this.accounts.map((a, i) => sim.proposeEcon(this.ownerNode(i), `n${this.ownerNode(i)}`, { type: 'open', by: a, account: a }))
      this.phase = 'opening'
      return
    }
    if (this.phase === 'opening') {
      this.opening = this.opening.filter(seq => {
        const o = sim.takeEconOutcome(seq)
        if (o === undefined) return true
        if (o.result !== undefined && !o.result.ok) this.result.unexpected.push(`open (seq ${seq}): ${o.result.code}`)
        return false
      })
      if (this.opening.length === 0) this.phase = 'run'
      return
    }
    for (const tx of this.txs) {
      if (tx.applied === undefined) {
        const o = sim.takeEconOutcome(tx.seq)
        if (o !== undefined) {
          tx.applied = o
          if (!tx.done) { tx.done = true; tx.answeredAt = o.time }
        }
      }
      // The client gives up: its node crashed, or the bound passed.
      if (!tx.done && (sim.now - tx.call >= LEDGER_CLIENT_TIMEOUT_MS || (tx.node > 0 && sim.isCrashed(tx.node)))) tx.done = true
    }
    if (this.result.issued < this.opsMax && this.rand.chance(this.rate)) this.issue(sim)
  }

  private outstanding (sim: Simulation): { txs: number, reads: number } {
    let txs = 0
    for (const tx of this.txs) if (tx.applied === undefined) txs++
    let reads = 0
    for (let i = this.reads.length - 1; i >= 0; i--) {
      const e = (this.reads[i] as LedgerRead).entry
      if (sim.now - e.call >= LEDGER_CLIENT_TIMEOUT_MS) break
      if (e.return === null) reads++
    }
    return { txs, reads }
  }

  private issue (sim: Simulation): void {
    const n = this.accounts.length
    const k = this.rand.int(20)
    const busy = this.outstanding(sim)
    if (k < 12 ? busy.txs >= LEDGER_OUTSTANDING_MAX : busy.reads >= LEDGER_OUTSTANDING_MAX) return
    this.result.issued++
    if (k < 3) {
      const account = this.rand.int(n)
      const amount = 1 + this.rand.int(50)
      const seq = sim.proposeEcon(0, OPERATOR, { type: 'mint', by: 'treasury', account: this.accounts[account], amount })
      this.txs.push({ input: { op: 'mint', account, amount }, seq, node: 0, call: sim.now, done: false, answeredAt: null })
    } else if (k < 12) {
      const from = this.rand.int(n)
      const to = (from + 1 + this.rand.int(n - 1)) % n
      const amount = 1 + this.rand.int(40)
      const node = this.ownerNode(from)
      const payer = this.accounts[from] as string
      const seq = sim.proposeEcon(node, `n${node}`, { type: 'transfer', by: payer, from: payer, to: this.accounts[to], amount })
      this.txs.push({ input: { op: 'transfer', from, to, amount }, seq, node, call: sim.now, done: false, answeredAt: null })
    } else {
      const node = 1 + this.rand.int(sim.size)
      const account = this.accounts[this.rand.int(n)] as string
      this.reads.push(this.options.staleReads === true ? sim.staleLedgerRead(node, account) : sim.ledgerRead(node, account))
    }
  }

  /** The recorded operations, narrowed as `Simulation.operations()` narrows KV operations. */
  history (): LedgerOperation[] {
    const out: LedgerOperation[] = []
    this.txs.forEach((tx, i) => {
      const a = tx.applied
      // Applied nowhere: it influenced no answer (left out, like an unapplied indefinite KV write).
      if (a === undefined) return
      let output: LedgerOutput
      if (tx.input.op === 'mint') {
        if (a.result === undefined || !a.result.ok) { this.result.unexpected.push(`mint ${i}: ${a.result === undefined ? 'duplicate' : a.result.code}`); return }
        output = {}
      } else {
        if (a.result !== undefined && !a.result.ok && a.result.code !== 'ERR_INSUFFICIENT_FUNDS') { this.result.unexpected.push(`transfer ${i}: ${a.result.code}`); return }
        output = { ok: a.result?.ok === true }
      }
      const call = Math.max(tx.call, a.proposedAt)
      // Answered or not, it took effect no later than its first application anywhere.
      out.push({ clientId: i, input: tx.input, call, return: Math.max(call, a.time), output })
    })
    this.reads.forEach((r, i) => {
      const e = r.entry
      if (!r.submitted || e.result !== 'ok' || e.return === null) return
      const account = this.accounts.indexOf(e.key)
      const call = Math.max(e.call, r.effectiveFrom() ?? e.call)
      out.push({ clientId: this.txs.length + i, input: { op: 'read', account }, call, return: Math.max(call, e.return), output: { free: e.value as number } })
    })
    return out
  }

  finish (): void {
    const sim = this.sim as Simulation
    const history = this.history()
    this.result.history = history
    if (history.length === 0) return
    const r = checkLinearizable(ledgerModel(this.accounts.length), history, { stepsMax: LEDGER_CHECK_STEPS_MAX })
    this.result.check = r.result
    if (r.result === 'illegal') sim.checker.report('linearizability', `seed ${this.seed}: ledger history (accounts ${this.accounts.join(', ')}) not linearizable:\n${r.detail ?? ''}`)
  }
}
