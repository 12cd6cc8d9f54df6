/**
 * The mesh application: every replicated state machine of agora-mesh composed into the one
 * {@link StateMachine} that a Raft group runs, on live peers and in the simulator alike. A command's first
 * byte says which machine it is for: JSON text (`{`) goes to the strong variables, {@link ECON_TAG} to
 * the economy (ledger and auctions), which starts with a `genesis` entry fixing its authorities (peers
 * acting as the treasury), {@link COORD_TAG} to coordination, {@link TASK_TAG} to durable tasks,
 * {@link BUDGET_TAG} to the mesh-wide budgets (protocols/infrastructure). The snapshot holds every machine's state; older snapshots still restore.
 * README.md beside this file says how to add a state machine.
 */
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { TypedEmitter } from '../../src/base/events.js'
import { Economy, combinatorialInput } from '../market/economy.js'
import type { BundleBid, CombinatorialParams } from '../auctions/combinatorial.js'
import type { AuctionLimits } from '../auctions/types.js'
import type { MarketResult } from '../market/types.js'
import type { ApplyMeta, StateMachine } from '../raft/application.js'
import { StrongMapApp, parseStrongCommand, parseStrongSnapshot } from '../variables/strong-map.js'
import { DecodeError } from '../../src/base/errors.js'
import { CoordinationMachine, admitCoordCommand, decodeCoordCommand } from '../coordination/machine.js'
import { COORD_TAG, type CoordHooks } from '../coordination/types.js'
import { PPM, initialReputation, scorePpm } from '../ledger/reputation.js'
import { TaskMachine, admitTaskCommand, decodeTaskCommand } from '../tasks/machine.js'
import { TASK_TAG, type TaskHooks } from '../tasks/types.js'
import { BudgetMachine, admitBudgetCommand, decodeBudgetCommand } from '../infrastructure/budget.js'
import { BUDGET_TAG, type BudgetHooks } from '../infrastructure/budget-types.js'
import { readEconomyListing } from '../market/listings.js'

/** First byte of an economy command (strong-variable commands are JSON objects: `{`). */
export const ECON_TAG = 0x01
/** Largest command a member proposes for a client (a strong cas carries three 64 KiB values). */
export const COMMAND_BYTES_MAX = 256 * 1024
/**
 * Snapshot versions: 2 strong + economy; 3 adds the flags byte (bit 0: economy commands must be signed);
 * 4 adds the coordination machine (written only once it has state, so older groups write what they did);
 * 5 adds the task machine (written only once a task was submitted; its coordination JSON is `{}` while
 * that machine is pristine); 6 adds the budget machine (written only once a budget exists; its coordination
 * and task JSON are `{}` while those machines are pristine).
 */
const SNAPSHOT_V2 = 0x02
const SNAPSHOT_V3 = 0x03
const SNAPSHOT_V4 = 0x04
const SNAPSHOT_V5 = 0x05
const SNAPSHOT_V6 = 0x06
/** The coordination JSON of a v5 snapshot whose coordination machine is pristine. */
const PRISTINE_JSON = '{}'
const FLAG_SIGNED = 0x01

const enc = new TextEncoder()
const dec = new TextDecoder()

/**
 * The economy's first entry. `signatures: 'required'` (what current peers propose): from then on every
 * economy command must carry its origin's signature (envelope v3), so no member can speak for another
 * peer. A genesis without it (groups made before signatures) keeps accepting unsigned commands.
 */
export interface GenesisCommand { type: 'economy.genesis', authorities: string[], unbondingDelayEntries?: number, signatures?: 'required' }

export interface EconomyAppliedEvent { index: number, command: Record<string, unknown>, result: MarketResult, origin: string }

export interface MeshApplicationEvents extends Record<string, unknown> {
  'economy:applied': EconomyAppliedEvent
}

export function encodeEconCommand (cmd: unknown): Uint8Array {
  return tagged(ECON_TAG, cmd)
}

/** A coordination command (protocols/coordination) as the mesh application takes it. */
export function encodeCoordCommand (cmd: unknown): Uint8Array {
  return tagged(COORD_TAG, cmd)
}

/** A task command (protocols/tasks) as the mesh application takes it. */
export function encodeTaskCommand (cmd: unknown): Uint8Array {
  return tagged(TASK_TAG, cmd)
}

/** A budget command (protocols/infrastructure/budget.ts) as the mesh application takes it. */
export function encodeBudgetCommand (cmd: unknown): Uint8Array {
  return tagged(BUDGET_TAG, cmd)
}

function tagged (tag: number, cmd: unknown): Uint8Array {
  const body = enc.encode(JSON.stringify(cmd))
  const out = new Uint8Array(body.length + 1)
  out[0] = tag
  out.set(body, 1)
  return out
}

export { COORD_TAG, TASK_TAG, BUDGET_TAG }

/**
 * A replica's off-log solve of the instance `digest` (`job()`: its input, read from the state): a
 * promise that settles (either way) when it finishes, or undefined when there is nothing to wait for
 * (done already, or it cannot be solved off the log here).
 */
export type SolutionWait = (digest: string, job: () => { params: CombinatorialParams, bids: BundleBid[], limits: AuctionLimits }) => PromiseLike<unknown> | undefined

/** The bytes every `auction.settle` command's JSON holds (a cheap test before parsing one). */
const SETTLE_BYTES = enc.encode('"auction.settle"')

/** Whether `needle` occurs in `bytes`. */
function mentions (bytes: Uint8Array, needle: Uint8Array): boolean {
  const first = needle[0]!
  for (let i = bytes.indexOf(first); i >= 0 && i + needle.length <= bytes.length; i = bytes.indexOf(first, i + 1)) {
    let k = 1
    while (k < needle.length && bytes[i + k] === needle[k]) k++
    if (k === needle.length) return true
  }
  return false
}

/** The Raft application of a member: strong variables, the economy, coordination and tasks. */
export class MeshApplication extends TypedEmitter<MeshApplicationEvents> implements StateMachine {
  /** Undefined until the genesis entry is applied. */
  economy: Economy | undefined
  /** Economy commands must be signed by their origin (fixed by the genesis). */
  signaturesRequired = false
  /** Not state: this replica's off-log combinatorial solves by instance digest (see Economy.solutionLookup). */
  solutionLookup: Economy['solutionLookup']
  /** Not state: this replica's off-log solve of a closed auction, for its settle to wait on ({@link applyWait}). */
  solutionWait: SolutionWait | undefined
  /** Leases, locks, elections, barriers and votes (replaced on restore: listen through {@link onCoordination}). */
  coordination: CoordinationMachine
  private readonly coordHooks: CoordHooks
  private readonly coordListeners = new Set<(m: CoordinationMachine) => void>()
  /** Durable tasks (replaced on restore: listen through {@link onTasks}). */
  tasks: TaskMachine
  private readonly taskHooks: TaskHooks
  private readonly taskListeners = new Set<(m: TaskMachine) => void>()
  /** Mesh-wide budgets (replaced on restore: listen through {@link onBudgets}). */
  budgets: BudgetMachine
  private readonly budgetHooks: BudgetHooks
  private readonly budgetListeners = new Set<(m: BudgetMachine) => void>()

  /**
   * `genesis`: an economy fixed by configuration instead of a genesis entry (the simulator's treasury);
   * live groups leave it out and their first leader proposes the genesis entry.
   */
  constructor (readonly strong: StrongMapApp = new StrongMapApp(), options: { genesis?: Omit<GenesisCommand, 'type'> } = {}) {
    super()
    this.coordHooks = {
      ownerOf: (agent) => this.economy?.ownerOf(agent) ?? null,
      // E3 reputation in ppm; an agent without an account has the initial reputation.
      weightOf: (agent) => {
        const a = this.economy?.account(agent)
        return a === undefined ? scorePpm(initialReputation()) : Math.round(a.reputation * PPM)
      },
      // A lease's end ends the task attempts acked under it (host lost), then the budget shares held
      // under it (the budgets re-split), in the same entry.
      onLeaseEnded: (lease, index) => { this.tasks.leaseEnded(lease, index); this.budgets.leaseEnded(lease, index) },
      // The leader's ticker moves log time past task deadlines too.
      nextDeadline: () => this.tasks.nextDeadline()
    }
    // The economy hooks are no-ops without an economy (a reward then cannot be escrowed).
    this.taskHooks = {
      leaseOwner: (lease) => this.coordination.lease(lease)?.owner,
      ownerOf: (agent) => this.economy?.ownerOf(agent) ?? undefined,
      auctionWon: (auction, agent, seller, since) => this.economy?.taskAuctionWon(auction, agent, seller, since) ?? false,
      outcome: (agent, o, index) => { this.economy?.taskOutcome(agent, o, index) },
      slash: (agent, condition, evidence, index) => { this.economy?.taskSlash(agent, condition, evidence, index) },
      escrow: (task, account, owner, amount, index) => this.economy === undefined ? 'ERR_NO_GENESIS' : this.economy.taskEscrow(task, account, owner, amount, index),
      payout: (task, to, index) => { this.economy?.taskPayout(task, to, index) }
    }
    this.budgetHooks = {
      leaseOwner: (lease) => this.coordination.lease(lease)?.owner,
      isAuthority: (peer) => this.economy?.isAuthority(peer) ?? false
    }
    this.coordination = new CoordinationMachine(this.coordHooks)
    this.tasks = new TaskMachine(this.taskHooks)
    this.budgets = new BudgetMachine(this.budgetHooks)
    this.strong.fenceCheck = (lock, token) => this.coordination.checkFence(lock, token)
    if (options.genesis !== undefined) {
      this.economy = newEconomy(options.genesis)
      this.signaturesRequired = options.genesis.signatures === 'required'
    }
  }

  /**
   * Economy commands must be signed once the genesis says so; before any genesis every economy command
   * is signed (a proposer whose replica lags signs anyway), except a genesis that does not ask for it.
   */
  requiresSignature (command: Uint8Array): boolean {
    // A coordination command acts for its origin's leases, a task command as its submitter or host:
    // always signed by the origin.
    if (command[0] === COORD_TAG || command[0] === TASK_TAG || command[0] === BUDGET_TAG) return true
    if (command[0] !== ECON_TAG) return false
    if (this.economy !== undefined) return this.signaturesRequired
    try {
      const cmd = JSON.parse(dec.decode(command.subarray(1))) as Partial<GenesisCommand> | null
      return cmd?.type !== 'economy.genesis' || cmd.signatures === 'required'
    } catch {
      return true
    }
  }

  /**
   * Not state: an `auction.settle` of a closed (deferred) combinatorial auction waits for this replica's
   * worker solve of its frozen bids ({@link solutionWait}: started now if it is not running, e.g. after a
   * restart's replay), so its apply takes the worker's result instead of solving on the event loop.
   * Everything else applies at once. Only pacing: the outcome is the same either way (Economy.settleClosed).
   */
  applyWait (command: Uint8Array): PromiseLike<unknown> | undefined {
    const wait = this.solutionWait
    const e = this.economy
    if (wait === undefined || e === undefined || command[0] !== ECON_TAG || !mentions(command, SETTLE_BYTES)) return undefined
    let cmd: { type?: unknown, auction?: unknown } | null
    try { cmd = JSON.parse(dec.decode(command.subarray(1))) as typeof cmd } catch { return undefined }
    if (cmd?.type !== 'auction.settle' || typeof cmd.auction !== 'string') return undefined
    const a = e.auction(cmd.auction)
    if (a?.status !== 'closed' || a.solveDigest === undefined) return undefined
    return wait(a.solveDigest, () => ({ ...combinatorialInput(a.spec, a.bids), limits: e.auctionLimits }))
  }

  /**
   * Calls `fn` with the coordination machine now and whenever a snapshot replaces it; returns the
   * unsubscribe. (Listeners of the machine's events must re-attach to the new one.)
   */
  onCoordination (fn: (m: CoordinationMachine) => void): () => void {
    this.coordListeners.add(fn)
    fn(this.coordination)
    return () => { this.coordListeners.delete(fn) }
  }

  /**
   * Calls `fn` with the task machine now and whenever a snapshot replaces it; returns the unsubscribe.
   * (Listeners of the machine's events must re-attach to the new one.)
   */
  onTasks (fn: (m: TaskMachine) => void): () => void {
    this.taskListeners.add(fn)
    fn(this.tasks)
    return () => { this.taskListeners.delete(fn) }
  }

  /**
   * Calls `fn` with the budget machine now and whenever a snapshot replaces it; returns the unsubscribe.
   * (Listeners of the machine's events must re-attach to the new one.)
   */
  onBudgets (fn: (m: BudgetMachine) => void): () => void {
    this.budgetListeners.add(fn)
    fn(this.budgets)
    return () => { this.budgetListeners.delete(fn) }
  }

  apply (command: Uint8Array, index: number, meta: { origin: string, at: number }): unknown {
    // Every entry moves log time (the coordination machine's deadlines, then the task machine's) before
    // its own command. The task machine's clock moves first, so that the attempts a lease's end reassigns
    // (the coordination machine's hook) see this entry's log time.
    this.tasks.clock(meta.at, index)
    this.coordination.advance(meta.at, index)
    this.tasks.advance(meta.at, index)
    if (command[0] === COORD_TAG) {
      const cmd = decodeCoordCommand(command)
      if ('ok' in cmd) return cmd
      return this.coordination.apply(cmd, index, meta.origin)
    }
    if (command[0] === TASK_TAG) {
      const cmd = decodeTaskCommand(command)
      if ('ok' in cmd) return cmd
      return this.tasks.apply(cmd, index, meta.origin)
    }
    if (command[0] === BUDGET_TAG) {
      const cmd = decodeBudgetCommand(command)
      if ('ok' in cmd) return cmd
      return this.budgets.apply(cmd, index, meta.origin)
    }
    if (command[0] !== ECON_TAG) return this.strong.apply(command, index)
    let cmd: Record<string, unknown>
    try {
      cmd = JSON.parse(dec.decode(command.subarray(1))) as Record<string, unknown>
    } catch {
      return { ok: false, code: 'ERR_INVALID_COMMAND', message: 'economy command is not JSON' }
    }
    if (cmd?.type === 'economy.genesis') {
      if (this.economy !== undefined) return { ok: false, code: 'ERR_INVALID_COMMAND', message: 'the economy already has its genesis' }
      try {
        this.economy = newEconomy(cmd as unknown as GenesisCommand)
        this.signaturesRequired = cmd.signatures === 'required'
      } catch (err) {
        return { ok: false, code: 'ERR_INVALID_COMMAND', message: (err as Error).message }
      }
      this.economy.ledger.advance(index)
      return { ok: true, type: 'economy.genesis', authorities: [...new Set(cmd.authorities as string[])].sort(), signatures: this.signaturesRequired ? 'required' : 'optional' }
    }
    if (this.economy === undefined) return { ok: false, code: 'ERR_NO_GENESIS', message: 'the economy has no genesis entry yet' }
    this.economy.solutionLookup = this.solutionLookup
    const result = this.economy.apply(cmd, index, meta)
    this.emit('economy:applied', { index, command: cmd, result, origin: meta.origin })
    return result
  }

  /**
   * Admission of a command before it is proposed (a member checks its clients' commands): what every
   * replica would refuse without looking at its state. Undefined when it may be proposed.
   */
  check (command: Uint8Array): { code: string, message: string } | undefined {
    if (command.length > COMMAND_BYTES_MAX) return { code: 'ERR_LIMIT_EXCEEDED', message: `a command may have at most ${COMMAND_BYTES_MAX} bytes` }
    if (command[0] === ECON_TAG) {
      let cmd: unknown
      try { cmd = JSON.parse(dec.decode(command.subarray(1))) } catch { return { code: 'ERR_INVALID_COMMAND', message: 'economy command is not JSON' } }
      return Economy.admit(cmd)
    }
    if (command[0] === COORD_TAG || command[0] === TASK_TAG) {
      const coord = command[0] === COORD_TAG
      let cmd: unknown
      try { cmd = JSON.parse(dec.decode(command.subarray(1))) } catch { return { code: 'ERR_INVALID_COMMAND', message: `a ${coord ? 'coordination' : 'task'} command is JSON` } }
      return coord ? admitCoordCommand(cmd) : admitTaskCommand(cmd)
    }
    if (command[0] === BUDGET_TAG) {
      let cmd: unknown
      try { cmd = JSON.parse(dec.decode(command.subarray(1))) } catch { return { code: 'ERR_INVALID_COMMAND', message: 'a budget command is JSON' } }
      return admitBudgetCommand(cmd)
    }
    if (command[0] === 0x7b) {
      const c = parseStrongCommand(command)
      return 'error' in c ? c.error : undefined
    }
    return { code: 'ERR_INVALID_COMMAND', message: 'not a command of the mesh application' }
  }

  snapshot (): Uint8Array {
    const e = encoding.createEncoder()
    // Groups without signed commands (or without coordination state, or without tasks, or without
    // budgets) keep writing what they wrote before.
    const budgets = this.budgets.isPristine() ? undefined : JSON.stringify(this.budgets.snapshotJson())
    const tasks = this.tasks.isPristine() ? (budgets !== undefined ? PRISTINE_JSON : undefined) : JSON.stringify(this.tasks.snapshotJson())
    const coord = this.coordination.isPristine() ? (tasks !== undefined ? PRISTINE_JSON : undefined) : JSON.stringify(this.coordination.snapshotJson())
    encoding.writeUint8(e, budgets !== undefined ? SNAPSHOT_V6 : tasks !== undefined ? SNAPSHOT_V5 : coord !== undefined ? SNAPSHOT_V4 : this.signaturesRequired ? SNAPSHOT_V3 : SNAPSHOT_V2)
    encoding.writeVarUint8Array(e, this.strong.snapshot())
    encoding.writeVarString(e, this.economy === undefined ? '' : this.economy.snapshotText())
    if (this.signaturesRequired || coord !== undefined) encoding.writeUint8(e, this.signaturesRequired ? FLAG_SIGNED : 0)
    if (coord !== undefined) encoding.writeVarString(e, coord)
    if (tasks !== undefined) encoding.writeVarString(e, tasks)
    if (budgets !== undefined) encoding.writeVarString(e, budgets)
    return encoding.toUint8Array(e)
  }

  /**
   * Restores a snapshot written by {@link snapshot} (or by an older version). Throws
   * {@link DecodeError} (`ERR_DECODE`) when it is malformed, and then changes nothing.
   */
  restore (data: Uint8Array): void {
    const s = decodeMeshSnapshot(data)
    const coordination = s.coordination === undefined ? new CoordinationMachine(this.coordHooks) : CoordinationMachine.restore(s.coordination, this.coordHooks)
    const tasks = s.tasks === undefined ? new TaskMachine(this.taskHooks) : TaskMachine.restore(s.tasks, this.taskHooks)
    // A snapshot without tasks: the task machine's log time is the coordination machine's (both moved on every entry).
    if (s.tasks === undefined) tasks.now = coordination.now
    const budgets = s.budgets === undefined ? new BudgetMachine(this.budgetHooks) : BudgetMachine.restore(s.budgets, this.budgetHooks)
    this.strong.load(s.strong)
    this.economy = s.economy
    this.signaturesRequired = s.signaturesRequired
    this.coordination = coordination
    this.tasks = tasks
    this.budgets = budgets
    for (const fn of this.coordListeners) fn(coordination)
    for (const fn of this.taskListeners) fn(tasks)
    for (const fn of this.budgetListeners) fn(budgets)
  }

  /**
   * Every invariant of the composed machines, as violations (empty when all hold): the task machine's,
   * the economy's, and their agreement: a live task with a reward holds its escrow (`task/<id>`, the
   * reward), a finished or forgotten one none.
   */
  invariants (): string[] {
    const out = [...this.tasks.invariants(), ...this.budgets.invariants()]
    if (this.economy === undefined) return out
    out.push(...this.economy.invariants())
    const escrows = this.economy.taskEscrows()
    const rewards = this.tasks.liveRewards()
    for (const [id, amount] of escrows) {
      if (rewards.get(id) !== amount) out.push(`escrow task/${id} holds ${amount}; the task is ${rewards.has(id) ? `live with reward ${rewards.get(id)!}` : 'not live'}`)
    }
    for (const id of rewards.keys()) if (!escrows.has(id)) out.push(`task ${id} has a reward but no escrow`)
    return out
  }

  /**
   * Reads served to the client path: `econ:account:<id>`, `econ:auction:<id>`, `econ:supply`, `coord:…`,
   * `task:<id>`, `tasks:…`, `budget:<name>`, `budgets:all`; any other name is a strong variable.
   */
  read (name: string): string | undefined {
    if (name.startsWith('coord:')) return this.coordination.read(name)
    if (name.startsWith('task:') || name.startsWith('tasks:')) return this.tasks.read(name)
    if (name.startsWith('budget:') || name.startsWith('budgets:')) return this.budgets.read(name)
    if (!name.startsWith('econ:')) return this.strong.get(name)
    const e = this.economy
    if (e === undefined) return undefined
    if (name === 'econ:supply') return JSON.stringify(e.supply())
    if (name === 'econ:auctions') return JSON.stringify(e.auctionIds().slice(-1000))
    if (name.startsWith('econ:accounts:') || name.startsWith('econ:auction-page:')) return readEconomyListing(e, name)
    if (name.startsWith('econ:account:')) { const a = e.account(name.slice(13)); return a === undefined ? undefined : JSON.stringify(a) }
    if (name.startsWith('econ:auction:')) { const a = e.auction(name.slice(13)); return a === undefined ? undefined : JSON.stringify(a) }
    return undefined
  }
}

/**
 * The revision of what a watch names (`task:<id>`, `budget:<name>`, else a coordination object): it
 * changes whenever the object does; 0 when absent.
 */
export function revisionOf (app: MeshApplication, name: string): number {
  if (name.startsWith('task:')) return app.tasks.revision(name)
  if (name.startsWith('budget:')) return app.budgets.revision(name)
  return app.coordination.revision(name)
}

/**
 * Decodes a mesh-application snapshot: `u8(2) · bytes(strong map) · string(economy JSON or "")`, or
 * `u8(3) ·` the same `· u8 flags` (bit 0: signatures required; other bits malformed), or `u8(4) ·` as v3
 * `· string(coordination JSON)`, or `u8(5) ·` as v4 (coordination JSON `{}` when pristine)
 * `· string(task JSON)`, or `u8(6) ·` as v5 (task JSON `{}` when pristine) `· string(budget JSON)`, or (a first byte that is none of these) a strong map alone from before the
 * economy. The strong map is checked here too, so a caller loading it cannot fail half-way. Throws
 * {@link DecodeError} (`ERR_DECODE`).
 */
export function decodeMeshSnapshot (data: Uint8Array): { strong: ReturnType<typeof parseStrongSnapshot>, economy: Economy | undefined, signaturesRequired: boolean, coordination?: unknown, tasks?: unknown, budgets?: unknown } {
  if (data[0] !== SNAPSHOT_V2 && data[0] !== SNAPSHOT_V3 && data[0] !== SNAPSHOT_V4 && data[0] !== SNAPSHOT_V5 && data[0] !== SNAPSHOT_V6) {
    return { strong: parseStrongSnapshot(data), economy: undefined, signaturesRequired: false }
  }
  try {
    const d = decoding.createDecoder(data)
    const v = decoding.readUint8(d)
    const strong = parseStrongSnapshot(decoding.readVarUint8Array(d))
    const econ = decoding.readVarString(d)
    let flags = 0
    if (v === SNAPSHOT_V3 || v === SNAPSHOT_V4 || v === SNAPSHOT_V5 || v === SNAPSHOT_V6) {
      flags = decoding.readUint8(d)
      if ((flags & ~FLAG_SIGNED) !== 0) throw new DecodeError('mesh snapshot', `unknown flags ${flags}`)
    }
    let coordination: unknown
    let tasks: unknown
    let budgets: unknown
    if (v === SNAPSHOT_V4 || v === SNAPSHOT_V5 || v === SNAPSHOT_V6) {
      const text = decoding.readVarString(d)
      if (v === SNAPSHOT_V4 || text !== PRISTINE_JSON) {
        try { coordination = JSON.parse(text) } catch (err) { throw new DecodeError('mesh snapshot', `the coordination state is not JSON (${(err as Error).message})`) }
        // Checked here, so a caller restoring it cannot fail half-way.
        CoordinationMachine.restore(coordination)
      }
    }
    if (v === SNAPSHOT_V5 || v === SNAPSHOT_V6) {
      const text = decoding.readVarString(d)
      if (v === SNAPSHOT_V5 || text !== PRISTINE_JSON) {
        try { tasks = JSON.parse(text) } catch (err) { throw new DecodeError('mesh snapshot', `the task state is not JSON (${(err as Error).message})`) }
        TaskMachine.restore(tasks)
      }
    }
    if (v === SNAPSHOT_V6) {
      try { budgets = JSON.parse(decoding.readVarString(d)) } catch (err) { throw new DecodeError('mesh snapshot', `the budget state is not JSON (${(err as Error).message})`) }
      BudgetMachine.restore(budgets)
    }
    if (d.pos !== data.length) throw new DecodeError('mesh snapshot', `${data.length - d.pos} trailing bytes`)
    let economy: Economy | undefined
    if (econ !== '') {
      let json: unknown
      try { json = JSON.parse(econ) } catch { throw new DecodeError('mesh snapshot', 'the economy is not JSON') }
      economy = Economy.restore(json)
    }
    return { strong, economy, signaturesRequired: (flags & FLAG_SIGNED) !== 0, ...(coordination !== undefined ? { coordination } : {}), ...(tasks !== undefined ? { tasks } : {}), ...(budgets !== undefined ? { budgets } : {}) }
  } catch (err) {
    if (err instanceof DecodeError) throw err
    throw new DecodeError('mesh snapshot', (err as Error).message ?? 'malformed', { cause: err })
  }
}

function newEconomy (g: Omit<GenesisCommand, 'type'>): Economy {
  return new Economy({ authorities: g.authorities, ...(g.unbondingDelayEntries !== undefined ? { unbondingDelayEntries: g.unbondingDelayEntries } : {}) })
}
