/**
 * The simulation engine shared by the scenario runner and the fuzzer: N nodes on a simulated network and
 * disk, each running the code a live peer ships: the Raft driver of protocols/raft/driver.ts (the one
 * Ready loop, the command envelope, the session table) and the mesh application of protocols/mesh
 * (strong variables and the economy). Only what is outside a peer is simulated: the network
 * (sim/network.ts), the disk (sim/disk.ts, with torn writes) and time (a virtual clock; each driver's
 * clock and scheduler are the simulation's, so everything runs synchronously and deterministically).
 * On top: a recorded client history, invariant checkers and an event trace.
 *
 * Clients: a `client` operation is a strong-variable command (`write` → set, `cas` → compare-and-set)
 * under session `c<node>/kv` of the node it is sent to, re-proposed under the same session until it
 * applies; a `read` is a ReadIndex request answered from that node's replica. Economy and coordination
 * commands of agent-level verbs go under session `<origin>/sim`. A crash "torn" loses the Ready the node
 * was processing: nothing of it is persisted or sent.
 *
 * Coordination (config `coordination`): every node runs what a live peer's coordination service does —
 * the leader proposes `epoch` and `tick` as protocols/coordination/ticker.ts decides, and each node
 * renews the leases it keeps alive ({@link Simulation.keepAlive}) with one `lease.keepalive` per period —
 * fire-and-forget under session `n<i>/coord`. The coordination checkers (sim/coord-checkers.ts) follow
 * every node's machine in every run.
 */
import { InvariantChecker } from './checkers.js'
import type { NodeView, Violation } from './checkers.js'
import { VirtualClock } from './clock.js'
import { SimNetwork } from './network.js'
import { createRand } from '../src/base/prng.js'
import type { Rand } from '../src/base/prng.js'
import { createLogger } from '../src/base/log.js'
import { LimitExceededError } from '../src/base/errors.js'
import type { HistoryEntry, NodeReport } from './report.js'
import type { InitState, NetworkSpec, RaftScenarioOptions } from './scenario.js'
import { Trace } from './trace.js'
import type { KvOperation } from './linearizability/index.js'
import { SimDisk, TornCrashError, type DiskInit } from './disk.js'
import { OPERATOR } from './economy.js'
import { ProposalDroppedError } from '../protocols/raft/errors.js'
import { RaftDriver } from '../protocols/raft/driver.js'
import { FORGOTTEN, type AppliedCommand } from '../protocols/raft/application.js'
import type { ConfState, Message, Role } from '../protocols/raft/types.js'
import { COORD_TAG, ECON_TAG, MeshApplication, encodeBudgetCommand, encodeCoordCommand, encodeEconCommand, encodeTaskCommand } from '../protocols/mesh/application.js'
import type { CoordinationMachine } from '../protocols/coordination/machine.js'
import type { CoordCommand, CoordEvent } from '../protocols/coordination/types.js'
import { coordTick } from '../protocols/coordination/ticker.js'
import { CoordChecker, VoteAgreement } from './coord-checkers.js'
import { TASK_TAG } from '../protocols/tasks/types.js'
import type { TaskCommand, TaskEvent } from '../protocols/tasks/types.js'
import { TaskAgreement, TaskChecker } from './task-checkers.js'
import { BudgetAgreement, BudgetChecker } from './budget-checkers.js'
import { BUDGET_TAG, type BudgetCommand } from '../protocols/infrastructure/budget-types.js'
import type { TaskMachine } from '../protocols/tasks/machine.js'
import type { Economy, MarketResult } from '../protocols/market/index.js'
import type { StrongResult } from '../protocols/variables/strong-map.js'
import { logged } from './disk.js'
import { simSign, simVerify } from './signatures.js'

/** The refusal of a proposal/transfer/read (not an error of the scenario): a short reason. */
export type Refusal = string | undefined

export type ConfChangeKind = 'addVoter' | 'addLearner' | 'removeNode'

export type KvScalar = string | number | null

/** A client operation on the strong variables. */
export type KvCommand =
  | { op: 'write', key: string, value: KvScalar }
  | { op: 'cas', key: string, expected: KvScalar, value: KvScalar }
  | { op: 'read', key: string }

/** Makes a node's disk (a test may return a faulty one). */
export type DiskFactory = (node: number, init: DiskInit) => SimDisk

export interface SimulationConfig {
  nodes: number
  learners: number[]
  seed: number
  raft: RaftScenarioOptions
  init?: Map<number, InitState>
  /** Timed-mode network; ignored in step mode (zero latency, no random faults). */
  network: NetworkSpec
  /** Tick interval in virtual ms (timed mode). */
  tickMs: number
  timed: boolean
  /** Each node's disk (default {@link SimDisk.create}). */
  disk?: DiskFactory
  /** Re-propose a pending client write (same session: exactly-once) or re-request a read after this many ms without an answer. Default 3 election timeouts (3 × electionTick × tickMs). */
  clientRetryMs?: number
  /** Bound on deliveries while quiescing one step-mode step. Default 1,000,000. */
  deliveriesMax?: number
  /**
   * Give every node's economy its genesis up front, with the simulator's {@link OPERATOR} as the treasury
   * (agent-level verbs). Default false: economy commands are then refused (`ERR_NO_GENESIS`).
   */
  economy?: boolean
  /** Check every node's economy invariants after each economy command it applies (default true). */
  economyCheckEachApply?: boolean
  /** Applied entries between automatic snapshots, as on live peers (default the driver's, 10,000). */
  snapshotEntries?: number
  /**
   * Run the coordination services of a live peer on every node: the leader's ticker (`epoch`, `tick`) and
   * the keepalives of the leases kept alive. Default false: no such entries (runs without coordination
   * keep the logs and traces they had).
   */
  coordination?: boolean
  /**
   * Leaders write their own new entries in parallel with sending them (the driver's
   * `asyncLeaderWrites`, as live peers run): each such write stays in flight on the disk until one of
   * the node's next ticks (even odds at each), and a crash meanwhile loses it (a torn crash keeps a prefix: sim/disk.ts).
   * Default false.
   */
  asyncLeaderWrites?: boolean
  /**
   * Every write stays in flight as a leader's parallel one does (`asyncLeaderWrites`): followers'
   * appends, votes and snapshots too (they are acknowledged once landed), and a crash meanwhile loses
   * them. Default false.
   */
  slowDisks?: boolean
}

/** A lease is renewed every TTL / this (the period of a live client's keepalives). */
export const KEEPALIVE_PER_TTL = 3
/** Leases one simulated node keeps alive. */
export const KEPT_LEASES_MAX = 10_000
/**
 * A coordination proposal (or keepalive) the node refused (no known leader...) is tried again this many
 * virtual ms later. (Economy proposals are retried at the next tick, as they always were.)
 */
export const COORD_REFUSED_RETRY_MS = 50

/** Economy proposals pending at once (each retried until applied somewhere). */
export const ECON_PENDING_MAX = 1_000_000

/** One economy or coordination command proposed through Raft (see {@link Simulation.proposeEcon}, {@link Simulation.proposeCoord}). */
interface EconOp {
  id: number
  /** Which state machine (and the prefix of its trace lines). */
  kind: 'econ' | 'coord' | 'task' | 'budget'
  /** Proposing node; 0: the current leader, else the lowest live node (operator commands). */
  node: number
  clientId: string
  seq: number
  command: Uint8Array
  lastTry: number
  attempts: number
  /** The last attempt was refused (no leader...): retry at the next tick rather than after the retry delay. */
  refused: boolean
}

/** The first application of an economy command (anywhere: it is then committed). */
export interface EconOutcome {
  result: MarketResult | undefined
  index: number
  time: number
  /** When the attempt that entered the log was proposed (its envelope's stamp): it took effect no earlier. */
  proposedAt: number
}

/** The first application of a coordination command (anywhere): its result is the machine's answer. */
export interface CoordOutcome {
  result: { ok: boolean, code?: string, message?: string, [k: string]: unknown } | undefined
  index: number
  time: number
  proposedAt: number
}

/** Timed mode: full-cluster checks every this many tick rounds (leaders are checked as they appear). */
export const CHECK_EVERY_TICKS = 10
/** Membership changes remembered per node (for compaction at an older index). */
export const CONF_HISTORY_MAX = 64
/** Commands remembered for the exactly-once check (the oldest forgotten beyond it). */
export const APPLIED_COMMANDS_MAX = 1_000_000

interface PendingOp {
  opId: number
  node: number
  clientId: string
  seq: number
  cmd: KvCommand
  entry: HistoryEntry
  lastTry: number
  ctx?: string
  readAt?: number
  /** Read attempts' times (each attempt has its own ReadIndex context `<ctx>.<k>`). */
  attempts?: number[]
  /** A linearizable balance read of this economy account (see {@link Simulation.ledgerRead}); the entry's `value` is its free funds. */
  account?: string
  /** Balance reads: when Raft first accepted a ReadIndex request, and when the one answered was sent. */
  acceptedAt?: number
  effectiveFrom?: number
}

/** A linearizable balance read of an economy account (sim/ledger-fuzz.ts); `entry.value` is the free funds read. */
export interface LedgerRead {
  entry: HistoryEntry
  /** Whether it was submitted (false: its node was down at call time; it had no effect). */
  submitted: boolean
  /** The ReadIndex request that was answered (or the first accepted) was sent then: the read takes effect no earlier. */
  effectiveFrom (): number | undefined
}

interface ConfPoint { index: number, voters: number[], learners: number[] }

const ROLES: Record<Role, string> = { follower: 'follower', preCandidate: 'pre-candidate', candidate: 'candidate', leader: 'leader' }
const enc = new TextEncoder()
const silent = createLogger('silent')

class SimNode {
  driver: RaftDriver | undefined
  app: MeshApplication | undefined
  applied = 0
  voters: number[]
  learners: number[]
  confHistory: ConfPoint[]
  readStates: Array<{ index: number, ctx: string }> = []
  lastRole = 'follower'
  /** Sequence numbers of this node's KV client session (`c<id>/kv`). */
  kvSeq = 0
  /**
   * Until its first input, a node created with the simulation holds its Ready loop (what its initial
   * state commits is applied at its first input, as a scenario's `init` expects); `deferred` is the loop.
   */
  hold = false
  deferred: (() => void) | undefined
  // Coordination services (the memory of the node's process: reset when it crashes).
  /** The term of its last epoch proposal, and when it last proposed a tick (protocols/coordination/ticker.ts). */
  coordEpochTerm = 0
  coordLastTickAt: number | undefined
  /** Leases it keeps alive: lease id -> TTL (ms). */
  readonly kept = new Map<number, number>()
  keepaliveAuto = true
  nextKeepaliveAt = 0
  /** The index this node is applying for the first time anywhere (0: none): its events feed {@link Simulation.onCoordEvent} and {@link Simulation.onTaskEvent}. */
  coordFirst = 0
  /** How many times the node's process started (a host's memory belongs to one boot), and when it last did. */
  boots = 0
  bootedAt = 0

  constructor (readonly id: number, readonly disk: SimDisk, voters: number[], learners: number[]) {
    this.voters = voters
    this.learners = learners
    this.confHistory = [{ index: 0, voters, learners }]
  }

  get crashed (): boolean { return this.driver === undefined }
}

/** An agents' message between hosts on the simulated network (sim/messages.ts): `msg` carries it, `ack` answers. */
export interface MeshWire { mesh: 'msg' | 'ack', id: number, from: number, to: number, sentAt: number, boot: number }

/** Acknowledged tasks held for the durability check (the oldest forgotten beyond it). */
export const ACKED_TASKS_MAX = 100_000


function describeMessage (m: Message): string {
  return `${m.from}>${m.to} ${m.type} t${m.term} i${m.index} lt${m.logTerm} c${m.commit}${m.entries.length > 0 ? ` e${m.entries.length}@${m.entries[0]?.index ?? 0}` : ''}${m.reject ? ` rej${m.rejectHint}` : ''}${m.snapshot !== undefined ? ` snap${m.snapshot.metadata.index}` : ''}`
}

/** Run a core call; a ProposalDroppedError is a refusal, anything else propagates (a node panic). */
function refusing (fn: () => void): Refusal {
  try {
    fn()
    return undefined
  } catch (err) {
    if (err instanceof ProposalDroppedError) return err.reason
    throw err
  }
}

/** A strong-variable command of a KV client operation (values travel as JSON: `3` and `"3"` stay distinct). */
function kvCommand (cmd: KvCommand): Uint8Array {
  if (cmd.op === 'write') return enc.encode(JSON.stringify({ op: 'set', name: cmd.key, value: JSON.stringify(cmd.value) }))
  if (cmd.op === 'cas') return enc.encode(JSON.stringify({ op: 'cas', name: cmd.key, expected: JSON.stringify(cmd.expected), initial: 'null', value: JSON.stringify(cmd.value) }))
  throw new RangeError('reads do not go through the log')
}

export class Simulation {
  readonly cfg: SimulationConfig
  readonly rand: Rand
  readonly clock = new VirtualClock()
  readonly net: SimNetwork<Message | MeshWire>
  readonly checker = new InvariantChecker()
  readonly trace = new Trace()
  readonly history: HistoryEntry[] = []
  readonly refusals: Array<{ step: number, detail: string }> = []
  private readonly nodes: SimNode[] = []
  /** KV writes waiting to apply at their node, by `<clientId>/<seq>`. */
  private readonly pending = new Map<string, PendingOp>()
  /** Every KV write ever submitted, by `<clientId>/<seq>` → opId (for first applications anywhere). */
  private readonly kvOps = new Map<string, number>()
  private readonly pendingReads = new Map<string, PendingOp>()
  /** Balance reads waiting for their ReadIndex (contexts `b<k>`), served like KV reads. */
  private readonly ledgerReads = new Map<string, PendingOp>()
  private ledgerReadCounter = 0
  private readonly nextTick: number[] = []
  private opCounter = 0
  private ticksSinceCheck = 0
  /** Economy commands proposed and not yet applied anywhere, by op id. */
  private readonly econPending = new Map<number, EconOp>()
  /** `<clientId>/<seq>` → op id of the economy commands still pending. */
  private readonly econBySession = new Map<string, number>()
  /** First applications of economy commands not yet taken by {@link takeEconOutcome}. */
  private readonly econDone = new Map<number, EconOutcome>()
  /** First applications of coordination commands not yet taken by {@link takeCoordOutcome}. */
  private readonly coordDone = new Map<number, CoordOutcome>()
  /** Sequence numbers of the nodes' background coordination sessions `n<i>/coord` (they outlive crashes). */
  private readonly coordSeqs: number[] = []
  /** Listeners of the coordination events at their first application anywhere ({@link onCoordEvent}). */
  private readonly coordFeed = new Set<(e: CoordEvent) => void>()
  private readonly voteAgreement = new VoteAgreement()
  /** Listeners of the task events at their first application anywhere ({@link onTaskEvent}). */
  private readonly taskFeed = new Set<(e: TaskEvent) => void>()
  /** Listeners of every node's own task events ({@link onNodeTaskEvent}). */
  private readonly nodeTaskFeed = new Set<(node: number, e: TaskEvent) => void>()
  private readonly taskAgreement = new TaskAgreement()
  private readonly budgetAgreement = new BudgetAgreement()
  /** Tasks whose submit a client saw applied: id -> the node it was proposed at and its entry ({@link checkTasks}). */
  private readonly ackedTasks = new Map<number, { node: number, index: number }>()
  /** Listeners of the agents' messages between hosts ({@link sendMesh}). */
  private readonly meshFeed = new Set<(to: number, w: MeshWire, at: number) => void>()
  private econCounter = 0
  /** Sequence numbers of the economy sessions, by origin. */
  private readonly econSeqs = new Map<string, number>()
  /** Auction id -> the index of the entry that settled it (a second settlement is a violation). */
  private readonly settledAt = new Map<string, number>()
  /** `<clientId>/<seq>` → the index where the command was applied (not as a duplicate): exactly-once. */
  private readonly appliedCommands = new Map<string, number>()
  /** Called after every tick round of {@link runFor} (the scenario runner drives its agents here). */
  onTickRound: (() => void) | undefined
  /** Per client op (by opId - 1): when its command was first applied anywhere, and its cas outcome. */
  private readonly firstApplied: Array<{ time: number, ok?: boolean } | undefined> = []
  /** Per client write: the times of its proposal attempts. */
  private readonly writeAttempts: Array<number[] | undefined> = []
  /** Per client read: when the ReadIndex request that was answered was sent; per write: when the applied attempt was proposed. */
  private readonly effectiveFrom: Array<number | undefined> = []
  /** Per client op: when Raft first accepted it (a proposal or read request not refused). */
  private readonly firstAccepted: Array<number | undefined> = []
  /** Per client op: whether it was ever submitted (false: its node was down at call time). */
  private readonly submitted: boolean[] = []
  /** Entries applied by any node for the first time (a progress measure). */
  committedEntries = 0
  private readonly clientRetryMs: number
  private readonly deliveriesMax: number
  step = 0

  constructor (cfg: SimulationConfig) {
    this.cfg = cfg
    this.rand = createRand(cfg.seed)
    const netRand = this.rand.fork()
    this.net = new SimNetwork<Message | MeshWire>(netRand, m => 'mesh' in m ? 'mesh' : m.type, cfg.timed
      ? { latencyMs: cfg.network.latencyMs, drop: cfg.network.drop, duplicate: cfg.network.duplicate, reorder: cfg.network.reorder }
      : {})
    this.clientRetryMs = cfg.clientRetryMs ?? cfg.raft.electionTick * cfg.tickMs * 3
    this.deliveriesMax = cfg.deliveriesMax ?? 1_000_000
    const learners = [...cfg.learners].sort((a, b) => a - b)
    const voters: number[] = []
    for (let id = 1; id <= cfg.nodes; id++) if (!learners.includes(id)) voters.push(id)
    const makeDisk = cfg.disk ?? ((id: number, init: DiskInit) => SimDisk.create(id, init))
    for (let id = 1; id <= cfg.nodes; id++) {
      const init = cfg.init?.get(id)
      const disk = makeDisk(id, { term: init?.term ?? 0, vote: init?.vote ?? 0, commit: init?.commit ?? 0, logTerms: init?.log ?? [], voters, learners })
      const node = new SimNode(id, disk, voters, learners)
      disk.deferParallel = cfg.asyncLeaderWrites === true
      disk.deferAll = cfg.slowDisks === true
      disk.observer = {
        onEntries: (lastIndexBefore, entries, prevTerm) => {
          this.checker.onPersistEntries(id, node.driver?.node.status().role === 'leader', lastIndexBefore, entries, prevTerm)
        },
        onHardState: (hs) => { this.checker.onPersistHardState(id, hs) }
      }
      this.nodes.push(node)
      this.checker.onPersistHardState(id, disk.hardState())
      this.boot(node, true)
      // Phases spread the nodes' ticks within an interval.
      this.nextTick.push(cfg.timed ? this.rand.int(cfg.tickMs) : 0)
    }
  }

  get now (): number { return this.clock.now }
  get size (): number { return this.nodes.length }

  private node (id: number): SimNode {
    const n = this.nodes[id - 1]
    if (n === undefined) throw new RangeError(`no node ${id}`)
    return n
  }

  /** A fresh mesh application (with the simulator's economy genesis when the run has an economy). */
  private newApplication (): MeshApplication {
    return new MeshApplication(undefined, this.cfg.economy === true ? { genesis: { authorities: [OPERATOR], signatures: 'required' } } : {})
  }

  /** Starts node `node`'s driver on its disk (at creation and on restart), wired to the simulation. */
  private boot (node: SimNode, initial = false): void {
    const snap = node.disk.memory.snapshot()
    if (snap.metadata.index > 0) {
      node.voters = snap.metadata.confState.voters.slice().sort((a, b) => a - b)
      node.learners = snap.metadata.confState.learners.slice().sort((a, b) => a - b)
    }
    node.applied = snap.metadata.index
    node.confHistory = [{ index: snap.metadata.index, voters: node.voters, learners: node.learners }]
    const app = this.newApplication()
    const driver = new RaftDriver({
      id: node.id,
      transport: { send: (msgs) => { for (const m of msgs) this.net.send(m.from, m.to, m, this.now) } },
      application: app,
      createApplication: () => this.newApplication(),
      storage: node.disk,
      clock: { now: () => this.clock.now },
      schedule: (fn) => { if (node.hold) node.deferred = fn; else fn() },
      rand: this.rand.fork(),
      clientId: `n${node.id}/sim`,
      sign: simSign,
      verify: simVerify,
      log: silent,
      options: {
        electionTick: this.cfg.raft.electionTick,
        heartbeatTick: this.cfg.raft.heartbeatTick,
        preVote: this.cfg.raft.preVote,
        checkQuorum: this.cfg.raft.checkQuorum,
        ...(this.cfg.asyncLeaderWrites === true ? { asyncLeaderWrites: true } : {}),
        ...(this.cfg.snapshotEntries !== undefined ? { snapshotEntries: this.cfg.snapshotEntries } : {})
      }
    })
    // A checker or listener that throws is a bug the run must report, not a line on the console.
    const panic = (err: unknown, type: string): void => { this.checker.report('node-panic', `node ${node.id}: a ${type} listener threw: ${(err as Error)?.message ?? String(err)}`) }
    driver.onListenerError = panic
    app.onListenerError = panic
    app.strong.onListenerError = panic
    // The coordination checkers follow this node's machine, the one restored just now and every later one.
    const checker = new CoordChecker(node.id, this.checker, this.voteAgreement)
    app.onCoordination(m => {
      m.onListenerError = panic
      checker.attach(m)
      m.on('coord:event', e => {
        checker.onEvent(e)
        if (e.index === node.coordFirst) this.publishCoord(e)
      })
    })
    // So do the budget checkers (protocols/infrastructure/budget.ts).
    const budgetChecker = new BudgetChecker(node.id, this.checker, this.budgetAgreement)
    app.onBudgets(m => {
      m.onListenerError = panic
      budgetChecker.attach(m)
      m.on('budget:event', e => { budgetChecker.onEvent(e) })
    })
    // So do the task checkers (the task machine, when the mesh application runs one).
    const taskChecker = new TaskChecker(node.id, this.checker, this.taskAgreement)
    app.onTasks(m => {
      m.onListenerError = panic
      taskChecker.attach(m)
      m.on('task:event', (e: TaskEvent) => {
        taskChecker.onEvent(e)
        for (const fn of this.nodeTaskFeed) fn(node.id, e)
        if (e.index === node.coordFirst) for (const fn of this.taskFeed) fn(e)
      })
    })
    node.boots++
    node.bootedAt = this.now
    node.driver = driver
    node.app = app
    node.lastRole = 'follower'
    node.hold = initial
    node.deferred = undefined
    if (app.economy !== undefined && snap.metadata.index > 0) this.checkEconomy(node, 'after restoring a snapshot')
    driver.on('raft:role', ({ role }) => { this.observe(node, ROLES[role]) })
    driver.on('entry:applied', ({ entry }) => { this.onEntry(node, entry.index, entry.term, logged(entry).text) })
    driver.on('command:applied', (c) => { this.onCommand(node, c) })
    driver.on('raft:read', ({ index, context }) => { this.onReadState(node, index, context) })
    driver.on('raft:applied', ({ index }) => { node.applied = index; checker.flush(); this.serveReads(node) })
    driver.on('raft:restored', ({ index, term, confState }) => { this.onRestored(node, index, term, confState) })
    driver.on('raft:conf', ({ index, confState }) => { this.onConf(node, index, confState) })
    driver.on('raft:failed', ({ error }) => { this.onFailed(node, error) })
    driver.start()
  }

  // ---------------------------------------------------------------- inputs

  /** Run `fn` on a live node's driver (which runs its Ready loop at once); a crashed node refuses. */
  private input (id: number, what: string, fn: (d: RaftDriver) => Refusal): Refusal {
    const refusal = this.attempt(id, what, fn)
    return refusal === undefined ? undefined : this.refuse(`${what} at node ${id}: ${refusal}`)
  }

  /** {@link input} without recording a refusal in the report (the caller retries). */
  private attempt (id: number, what: string, fn: (d: RaftDriver) => Refusal): Refusal {
    const node = this.node(id)
    const driver = node.driver
    if (driver === undefined) return 'node is crashed'
    node.hold = false
    try {
      const refusal = fn(driver)
      const held = node.deferred
      node.deferred = undefined
      held?.()
      return refusal
    } catch (err) {
      this.panic(node, what, err)
      return undefined
    }
  }

  /** Record a refusal of the current step (not a scenario error: `ok` is unaffected). */
  recordRefusal (detail: string): void { this.refuse(detail) }

  private refuse (detail: string): Refusal {
    this.refusals.push({ step: this.step, detail })
    this.trace.add(`refuse ${detail}`)
    return detail
  }

  private panic (node: SimNode, what: string, err: unknown): void {
    const e = err as Error
    this.checker.report('node-panic', `node ${node.id} threw during ${what}: ${e?.name ?? ''} ${e?.message ?? String(err)}`)
    this.crash(node.id)
  }

  campaign (id: number): Refusal {
    this.trace.add(`campaign ${id}`)
    return this.input(id, 'campaign', d => {
      if (d.node.confState().learners.includes(id)) return 'learner cannot campaign'
      return refusing(() => { d.campaign() })
    })
  }

  propose (id: number, data: string): Refusal {
    this.trace.add(`propose ${id} ${data}`)
    return this.input(id, 'propose', d => d.submitRaw(enc.encode(data)))
  }

  /**
   * Propose several values at node `id` in one Ready (a driver batching proposals, as a busy server
   * does): one append per follower carries them all. Returns the refusals, if any.
   */
  proposeMany (id: number, data: readonly string[]): Refusal[] {
    this.trace.add(`propose-many ${id} ${data.length}`)
    const out: Refusal[] = []
    this.batch(id, 'propose', d => {
      for (const x of data) { const r = d.submitRaw(enc.encode(x)); if (r !== undefined) out.push(r) }
    })
    for (const x of out) this.refuse(`propose at node ${id}: ${x}`)
    return out
  }

  /** Runs `fn` on node `id`'s driver holding its Ready loop back, then runs the loop once. */
  private batch (id: number, what: string, fn: (d: RaftDriver) => void): Refusal {
    const node = this.node(id)
    const driver = node.driver
    if (driver === undefined) return 'node is crashed'
    node.hold = false
    try {
      driver.batch(() => { fn(driver) })
      const held = node.deferred
      node.deferred = undefined
      held?.()
    } catch (err) {
      this.panic(node, what, err)
    }
    return undefined
  }

  heartbeat (id: number): Refusal {
    this.trace.add(`heartbeat ${id}`)
    return this.input(id, 'heartbeat', d => {
      if (d.node.status().role !== 'leader') return 'notLeader'
      d.heartbeat()
      return undefined
    })
  }

  readIndex (id: number, ctx: string): Refusal {
    this.trace.add(`readIndex ${id} ${ctx}`)
    return this.input(id, 'readIndex', d => refusing(() => { d.requestRead(ctx) }))
  }

  transfer (to: number, via: number): Refusal {
    this.trace.add(`transfer ${via}->${to}`)
    return this.input(via, 'transfer', d => {
      if (d.node.confState().learners.includes(to)) return `cannot transfer to learner ${to}`
      return refusing(() => { d.transferLeadership(to) })
    })
  }

  /** Propose a membership change at the current leader (the live leader of the highest term). */
  confChange (kind: ConfChangeKind, target: number): Refusal {
    const leader = this.leaderId()
    this.trace.add(`conf ${kind} ${target} at ${leader}`)
    if (leader === 0) return this.refuse(`${kind} ${target}: no leader`)
    return this.input(leader, kind, d => {
      const cs = d.node.confState()
      const type = kind === 'addVoter' ? (cs.learners.includes(target) ? 'promoteLearner' : 'addVoter') : kind === 'addLearner' ? 'addLearner' : 'removeVoter'
      return refusing(() => { d.proposeConfChange({ type, nodeId: target }) })
    })
  }

  /** Tick one node once. */
  tick (id: number): void {
    const node = this.node(id)
    if (node.driver === undefined) return
    this.input(id, 'tick', d => {
      // A leader's writes in flight land before one of its next ticks (each with even odds: some
      // writes are slower than the round trip to the followers, some faster).
      if (node.disk.inflightWrites > 0 && this.rand.chance(0.5)) { this.trace.add(`land ${id} ${node.disk.inflightWrites}`); node.disk.completeInflight() }
      d.tick()
      return undefined
    })
    if (this.cfg.coordination === true) this.coordServices(node)
    this.retryClientOps(node)
    if (this.econPending.size > 0) this.retryEcon(id)
  }

  /** Snapshot node `id`'s state at `index` (<= applied) and compact its log through it. */
  compact (id: number, index: number): Refusal {
    const node = this.node(id)
    this.trace.add(`compact ${id} ${index}`)
    if (node.driver === undefined) return this.refuse(`compact at node ${id}: node is crashed`)
    const snapIndex = node.disk.snapshotIndex()
    if (index > node.applied) return this.refuse(`compact at node ${id}: index ${index} is beyond applied ${node.applied}`)
    if (index <= snapIndex) return this.refuse(`compact at node ${id}: index ${index} is already compacted (snapshot at ${snapIndex})`)
    if (index > node.disk.lastIndex()) return this.refuse(`compact at node ${id}: index ${index} is still being written (disk holds ${node.disk.lastIndex()})`)
    let conf = node.confHistory[0] as ConfPoint
    for (const c of node.confHistory) if (c.index <= index) conf = c
    const driver = node.driver
    this.attempt(id, 'compact', () => { driver.compact(index, { voters: conf.voters, learners: conf.learners }); return undefined })
    return undefined
  }

  crash (id: number, torn = false): void {
    const node = this.node(id)
    if (node.driver === undefined) return
    // A leader with writes in flight dies in the middle of them; otherwise a torn crash strikes at the next write.
    if (torn && node.disk.inflightWrites > 0) { this.trace.add(`crash-torn ${id}`); this.down(node, true); return }
    if (torn) { node.disk.tornArmed = true; this.trace.add(`arm-torn ${id}`); return }
    this.trace.add(`crash ${id}`)
    this.down(node)
  }

  /** Node `node` is down: its driver and application are gone (its disk stays, less its writes in flight; `torn`: a prefix of the first kept). */
  private down (node: SimNode, torn = false): void {
    const driver = node.driver
    this.appliedWhileWritingGone += driver?.stats.appliedWhileWriting ?? 0
    node.driver = undefined
    node.app = undefined
    if (node.disk.inflightWrites > 0) {
      // A torn crash keeps a prefix of the entries in flight: none, some or all of them.
      const keep = torn ? this.rand.int(node.disk.inflightEntries + 1) : 0
      this.trace.add(`lose ${node.id} ${node.disk.inflightWrites}${torn ? ` torn keep ${keep}` : ''}`)
      node.disk.crashInflight(torn, keep)
    }
    node.disk.tornArmed = false
    node.lastRole = 'crashed'
    // Its process is gone: what it proposed for coordination and the leases it kept alive with it.
    node.coordEpochTerm = 0
    node.coordLastTickAt = undefined
    node.kept.clear()
    node.keepaliveAuto = true
    node.nextKeepaliveAt = 0
    driver?.stop()
    for (const [k, p] of [...this.pending, ...this.pendingReads, ...this.ledgerReads]) {
      if (p.node !== node.id) continue
      this.pending.delete(k)
      this.pendingReads.delete(k)
      this.ledgerReads.delete(k)
      p.entry.result = 'indefinite'
      p.entry.return = null
      if (p.cmd.op === 'read') delete p.entry.value
    }
  }

  restart (id: number): void {
    const node = this.node(id)
    if (node.driver !== undefined) return
    this.trace.add(`restart ${id}`)
    this.checker.onPersistHardState(id, node.disk.hardState())
    // A node that cannot start from its disk (its snapshot does not restore) is a panic: it stays down.
    try {
      this.boot(node)
    } catch (err) {
      this.checker.report('node-panic', `node ${id} could not restart: ${(err as Error)?.name ?? ''} ${(err as Error)?.message ?? String(err)}`)
      this.down(node)
    }
  }

  isolate (id: number): void { this.trace.add(`isolate ${id}`); this.net.isolate(id) }
  cut (a: number, b: number): void { this.trace.add(`cut ${a} ${b}`); this.net.cut(a, b) }
  partition (groups: number[][]): void { this.trace.add(`partition ${JSON.stringify(groups)}`); this.net.partition(groups) }
  dropType (type: string): void { this.trace.add(`drop ${type}`); this.net.dropType(type) }
  recover (): void { this.trace.add('recover'); this.net.recover() }

  // ---------------------------------------------------------------- what the drivers report

  private onFailed (node: SimNode, error: Error): void {
    const torn = error instanceof TornCrashError
    if (torn) {
      this.trace.add(`crash-torn ${node.id}`)
    } else {
      this.checker.report('node-panic', `node ${node.id}'s driver failed: ${error.name} ${error.message}`)
    }
    this.down(node, torn)
  }

  private onEntry (node: SimNode, index: number, term: number, text: string): void {
    if (index !== node.applied + 1) this.checker.report('state-machine-safety', `node ${node.id} applied ${index} after ${node.applied} (gap)`)
    this.checker.onApply(node.id, index, term, text)
    node.coordFirst = index > this.committedEntries ? index : 0
    node.applied = index
    if (index > this.committedEntries) this.committedEntries = index
  }

  private onConf (node: SimNode, index: number, cs: ConfState): void {
    node.voters = cs.voters.slice().sort((a, b) => a - b)
    node.learners = cs.learners.slice().sort((a, b) => a - b)
    node.confHistory.push({ index, voters: node.voters, learners: node.learners })
    if (node.confHistory.length > CONF_HISTORY_MAX) node.confHistory.shift()
  }

  private onRestored (node: SimNode, index: number, term: number, cs: ConfState): void {
    this.trace.add(`snap ${node.id} ${index} ${term}`)
    node.applied = index
    node.voters = cs.voters.slice().sort((a, b) => a - b)
    node.learners = cs.learners.slice().sort((a, b) => a - b)
    node.confHistory = [{ index, voters: node.voters, learners: node.learners }]
    if (node.app?.economy !== undefined) this.checkEconomy(node, 'after restoring a snapshot')
    this.serveReads(node) // reads waiting for an index the snapshot covers are served from it
  }

  /** A command applied by node `node` (strong variable or economy), as its session table decided. */
  private onCommand (node: SimNode, c: AppliedCommand): void {
    if (c.refused !== undefined) { this.checker.report('state-machine-safety', `node ${node.id} refused command ${c.envelope.clientId}/${c.envelope.seq} at entry ${c.index}: ${c.refused}`); return }
    const key = `${c.envelope.clientId}/${c.envelope.seq}`
    if (!c.duplicate) {
      // Exactly once: a command applies at one log index, whichever node applies it, however often retried.
      const at = this.appliedCommands.get(key)
      if (at === undefined) {
        this.appliedCommands.set(key, c.index)
        if (this.appliedCommands.size > APPLIED_COMMANDS_MAX) this.appliedCommands.delete(this.appliedCommands.keys().next().value!)
      } else if (at !== c.index) {
        this.checker.report('state-machine-safety', `node ${node.id} applied command ${key} twice: at entries ${at} and ${c.index}`)
      }
    }
    if (c.envelope.command[0] === ECON_TAG) { this.onEconCommand(node, c, key); return }
    if (c.envelope.command[0] === COORD_TAG || c.envelope.command[0] === TASK_TAG || c.envelope.command[0] === BUDGET_TAG) { this.onCoordCommand(c, key); return }
    const opId = this.kvOps.get(key)
    if (opId === undefined) return
    const res = c.result === FORGOTTEN ? undefined : c.result as StrongResult
    const ok = res !== undefined && 'ok' in res ? res.ok : undefined
    const k = opId - 1
    if (this.firstApplied[k] === undefined) {
      this.firstApplied[k] = { time: this.now, ...(ok !== undefined ? { ok } : {}) }
      // The attempt that got into the log was proposed then (its stamp): the write takes effect no earlier.
      this.effectiveFrom[k] = c.envelope.at
    }
    const p = this.pending.get(key)
    if (p !== undefined && p.node === node.id && res !== undefined && 'ok' in res) {
      this.pending.delete(key)
      p.entry.return = this.now
      p.entry.result = p.cmd.op === 'cas' && !res.ok ? 'failed' : 'ok'
    }
  }

  private onEconCommand (node: SimNode, c: AppliedCommand, key: string): void {
    if (c.duplicate) return
    const r = c.result as MarketResult | undefined
    if (this.cfg.economyCheckEachApply !== false) this.checkEconomy(node, `after entry ${c.index}`)
    if (r !== undefined && r.ok && r.type === 'auction.settle' && typeof r.auction === 'string') {
      const prev = this.settledAt.get(r.auction)
      if (prev === undefined) this.settledAt.set(r.auction, c.index)
      else if (prev !== c.index) this.checker.report('conservation', `auction ${r.auction} settled twice: at entries ${prev} and ${c.index}`)
    }
    const id = this.econBySession.get(key)
    if (id !== undefined && this.econPending.delete(id)) {
      this.econBySession.delete(key)
      this.econDone.set(id, { result: r, index: c.index, time: this.now, proposedAt: c.envelope.at })
      this.trace.add(`econ-applied ${id} ${c.index} ${r === undefined ? 'none' : r.ok ? 'ok' : r.code}`)
    }
  }

  private onReadState (node: SimNode, index: number, ctx: string): void {
    node.readStates.push({ index, ctx })
    this.trace.add(`read ${node.id} ${index} ${ctx}`)
    const dot = ctx.lastIndexOf('.')
    const base = dot > 0 ? ctx.slice(0, dot) : ''
    const p = dot > 0 ? this.pendingReads.get(base) ?? this.ledgerReads.get(base) : undefined
    if (p !== undefined && p.node === node.id && p.readAt === undefined) {
      p.readAt = index
      // The read index was chosen after this attempt was sent: the read takes effect no earlier.
      const sent = p.attempts?.[Number(ctx.slice(dot + 1))]
      if (sent !== undefined) {
        if (p.account !== undefined) p.effectiveFrom = sent
        else this.effectiveFrom[p.opId - 1] = sent
      }
    }
    this.serveReads(node)
  }

  private serveReads (node: SimNode): void {
    for (const reads of [this.pendingReads, this.ledgerReads]) {
      if (reads.size === 0) continue
      for (const [k, p] of reads) {
        if (p.node !== node.id || p.readAt === undefined || node.applied < p.readAt) continue
        reads.delete(k)
        p.entry.value = p.account !== undefined ? node.app?.economy?.account(p.account)?.free ?? 0 : this.kvRead(node.id, p.cmd.key)
        p.entry.result = 'ok'
        p.entry.return = this.now
        this.trace.add(`served ${p.account !== undefined ? p.ctx ?? '' : p.opId} ${JSON.stringify(p.entry.value)}`)
      }
    }
  }

  private observe (node: SimNode, role: string): void {
    if (role !== node.lastRole) {
      node.lastRole = role
      this.trace.add(`role ${node.id} ${role}`)
      if (role === 'leader') this.checker.checkViews([this.view(node)])
    }
  }

  // ---------------------------------------------------------------- client operations (timed mode)

  /** Issue a client KV operation at node `id` now; it completes when that node applies/serves it. */
  client (id: number, cmd: KvCommand): HistoryEntry {
    const opId = ++this.opCounter
    // Field order as in SCENARIOS.md: node, op, key, [expected], value, result, call, return.
    const entry: HistoryEntry = cmd.op === 'read'
      ? { node: id, op: cmd.op, key: cmd.key, value: null, result: 'indefinite', call: this.now, return: null }
      : cmd.op === 'write'
        ? { node: id, op: cmd.op, key: cmd.key, value: cmd.value, result: 'indefinite', call: this.now, return: null }
        : { node: id, op: cmd.op, key: cmd.key, expected: cmd.expected, value: cmd.value, result: 'indefinite', call: this.now, return: null }
    this.history.push(entry)
    this.submitted.push(false)
    this.firstApplied.push(undefined)
    this.firstAccepted.push(undefined)
    this.effectiveFrom.push(undefined)
    this.writeAttempts.push(undefined)
    const node = this.node(id)
    const p: PendingOp = { opId, node: id, clientId: `c${id}/kv`, seq: 0, cmd, entry, lastTry: this.now }
    this.trace.add(`client ${opId} ${id} ${JSON.stringify(cmd)}`)
    if (node.driver === undefined) return entry // never sent: it has no effect (and is left out of the check)
    this.submitted[opId - 1] = true
    if (cmd.op === 'read') {
      p.ctx = `r${opId}`
      p.attempts = []
      this.pendingReads.set(p.ctx, p)
      this.readAttempt(p, 'client read')
    } else {
      p.seq = ++node.kvSeq
      const key = `${p.clientId}/${p.seq}`
      this.pending.set(key, p)
      this.kvOps.set(key, opId)
      this.writeAttempts[opId - 1] = [this.now]
      this.accepted(p, this.input(id, 'client write', d => d.submit(kvCommand(cmd), p)))
    }
    return entry
  }

  /** Send one ReadIndex request for a client read, with a context naming the attempt. */
  private readAttempt (p: PendingOp, what: string): void {
    const attempts = p.attempts as number[]
    const ctx = `${p.ctx ?? ''}.${attempts.length}`
    attempts.push(this.now)
    this.accepted(p, this.input(p.node, what, d => refusing(() => { d.requestRead(ctx) })))
  }

  /** Remember when an operation was first handed to Raft (not refused): it cannot take effect before. */
  private accepted (p: PendingOp, refusal: Refusal): void {
    if (refusal !== undefined) return
    if (p.account !== undefined) p.acceptedAt ??= this.now
    else if (this.firstAccepted[p.opId - 1] === undefined) this.firstAccepted[p.opId - 1] = this.now
  }

  private retryClientOps (node: SimNode): void {
    if (this.pending.size === 0 && this.pendingReads.size === 0 && this.ledgerReads.size === 0) return
    const due = this.now - this.clientRetryMs
    for (const p of this.pending.values()) {
      if (p.node !== node.id || p.lastTry > due) continue
      p.lastTry = this.now
      this.trace.add(`retry ${p.opId}`)
      const attempts = this.writeAttempts[p.opId - 1] ?? []
      attempts.push(this.now)
      this.accepted(p, this.input(node.id, 'client retry', d => d.submit(kvCommand(p.cmd), p)))
    }
    for (const reads of [this.pendingReads, this.ledgerReads]) {
      for (const p of reads.values()) {
        if (p.node !== node.id || p.lastTry > due || p.readAt !== undefined) continue
        p.lastTry = this.now
        this.readAttempt(p, 'client read retry')
      }
    }
  }

  /** Pending operations become indefinite (fate unknown) at the end of a run. */
  finishClientOps (): void {
    for (const p of [...this.pending.values(), ...this.pendingReads.values(), ...this.ledgerReads.values()]) {
      p.entry.result = 'indefinite'
      p.entry.return = null
      if (p.cmd.op === 'read') delete p.entry.value
    }
    this.pending.clear()
    this.pendingReads.clear()
    this.ledgerReads.clear()
  }

  /**
   * A linearizable read of an economy account's free funds at node `id`, served exactly like a KV client
   * read: a ReadIndex request (context `b<k>.<attempt>`, re-sent every retry delay until answered), then
   * the node's economy replica is read once it has applied the read index. It ends indefinite when the
   * node crashes or the run ends first. Not part of the KV `history`.
   */
  ledgerRead (id: number, account: string): LedgerRead {
    const k = ++this.ledgerReadCounter
    const entry: HistoryEntry = { node: id, op: 'read', key: account, value: null, result: 'indefinite', call: this.now, return: null }
    const p: PendingOp = { opId: k, node: id, clientId: '', seq: 0, cmd: { op: 'read', key: account }, entry, lastTry: this.now, ctx: `b${k}`, attempts: [], account }
    const read: LedgerRead = { entry, submitted: false, effectiveFrom: () => p.effectiveFrom ?? p.acceptedAt }
    this.trace.add(`ledger-read ${k} ${id} ${account}`)
    if (this.node(id).driver === undefined) return read
    read.submitted = true
    this.ledgerReads.set(p.ctx as string, p)
    this.readAttempt(p, 'balance read')
    return read
  }

  /**
   * A balance read served at once from node `id`'s economy replica, without ReadIndex (a deliberately
   * non-linearizable read: a lagging or partitioned node answers stale). For negative tests only.
   */
  staleLedgerRead (id: number, account: string): LedgerRead {
    const entry: HistoryEntry = { node: id, op: 'read', key: account, value: null, result: 'indefinite', call: this.now, return: null }
    const node = this.node(id)
    const economy = node.app?.economy
    if (node.driver === undefined || economy === undefined) return { entry, submitted: false, effectiveFrom: () => undefined }
    entry.value = economy.account(account)?.free ?? 0
    entry.result = 'ok'
    entry.return = this.now
    return { entry, submitted: true, effectiveFrom: () => undefined }
  }

  /**
   * The client history as checker operations. Indefinite operations are narrowed where the simulator
   * knows more than the client did, which keeps the search small without weakening it:
   * - an operation never submitted (its node was down) and an indefinite read have no effect: left out;
   * - a write/cas whose command was applied somewhere took effect, with the outcome every replica
   *   computed, no later than its first application anywhere: it returns then at the latest (for an
   *   indefinite one, this is its only return);
   * - an indefinite write/cas applied nowhere influenced no observed result (every answer comes from
   *   applied state), so linearizing it after everything else is always possible: left out. (A read
   *   that returned its value anyway is then caught, as it should be.)
   * - no operation takes effect before Raft first accepted it (earlier attempts refused, e.g. no
   *   leader), a read no earlier than the ReadIndex request whose answer it used, a write no earlier
   *   than the proposal attempt that entered the log: its call moves to that time.
   * With `keepIndefinite`, unresolved writes stay in with their return at infinity instead.
   */
  operations (keepIndefinite = false): KvOperation[] {
    const out: KvOperation[] = []
    this.history.forEach((h, i) => {
      if (this.submitted[i] !== true) return
      // It cannot take effect before Raft first accepted it (earlier attempts were refused).
      // A read takes effect no earlier than the ReadIndex request that was answered, a write no earlier
      // than the proposal attempt that was applied.
      const call = Math.max(h.call, this.effectiveFrom[i] ?? this.firstAccepted[i] ?? h.call)
      const input = h.op === 'read' ? { op: 'read' as const, key: h.key } : h.op === 'write' ? { op: 'write' as const, key: h.key, value: h.value ?? null } : { op: 'cas' as const, key: h.key, expected: h.expected ?? null, value: h.value ?? null }
      if (h.result === 'indefinite') {
        if (h.op === 'read') return
        const fa = this.firstApplied[i]
        if (fa !== undefined) {
          out.push({ clientId: i, input, call, return: Math.max(fa.time, call), output: h.op === 'cas' ? { ok: fa.ok === true } : {} })
          return
        }
        if (keepIndefinite) out.push({ clientId: i, input, call, return: Infinity, output: undefined })
        return
      }
      const output = h.op === 'read' ? { value: h.value ?? null } : h.op === 'cas' ? { ok: h.result === 'ok' } : {}
      // A write took effect no later than its first application anywhere, which may be well before
      // the (possibly lagging) node it was sent to answered.
      const fa = h.op === 'read' ? undefined : this.firstApplied[i]
      const ret = fa !== undefined && h.return !== null ? Math.max(call, Math.min(h.return, fa.time)) : h.return
      out.push({ clientId: i, input, call, return: ret, output })
    })
    return out
  }

  // ---------------------------------------------------------------- the economy

  private checkEconomy (node: SimNode, when: string): void {
    const bad = node.app?.economy?.invariants() ?? []
    if (bad.length > 0) this.checker.report('conservation', `node ${node.id} ${when}: ${bad.slice(0, 3).join('; ')}`)
  }

  /** A new economy (or coordination) op of `origin` under its session `<origin>/sim`. */
  private econOp (node: number, origin: string, command: Uint8Array, attempts: number, kind: EconOp['kind'] = 'econ'): EconOp {
    const seq = (this.econSeqs.get(origin) ?? 0) + 1
    this.econSeqs.set(origin, seq)
    const op: EconOp = { id: ++this.econCounter, kind, node, clientId: `${origin}/sim`, seq, command, lastTry: this.now, attempts, refused: false }
    this.econPending.set(op.id, op)
    this.econBySession.set(`${op.clientId}/${op.seq}`, op.id)
    return op
  }

  /**
   * Propose an economy command through Raft at node `node` (0: the leader, else the lowest live node)
   * as `origin` (its session's origin, as on live peers), stamped with the virtual clock. It is retried
   * (same session: exactly-once) until some node applies it; {@link takeEconOutcome} then gives its
   * result. Returns its op id.
   */
  proposeEcon (node: number, origin: string, cmd: Record<string, unknown>): number {
    if (this.econPending.size >= ECON_PENDING_MAX) throw new LimitExceededError('ECON_PENDING_MAX', ECON_PENDING_MAX, this.econPending.size + 1, 'economy proposals pending')
    const op = this.econOp(node, origin, encodeEconCommand(cmd), 0)
    this.trace.add(`econ ${op.id} ${node} ${origin} ${String(cmd.type)}`)
    this.firstAttempt(op)
    return op.id
  }

  private firstAttempt (op: EconOp): void {
    const target = op.node === 0 ? this.operatorNode() : op.node
    if (target > 0) this.econAttempt(op, target)
    else op.refused = true
  }

  /** Propose several economy commands at one node in one Ready (a busy agent host batching). */
  proposeEconMany (node: number, origin: string, cmds: ReadonlyArray<Record<string, unknown>>): number[] {
    if (this.econPending.size + cmds.length > ECON_PENDING_MAX) throw new LimitExceededError('ECON_PENDING_MAX', ECON_PENDING_MAX, this.econPending.size + cmds.length, 'economy proposals pending')
    const ops = cmds.map(cmd => this.econOp(node, origin, encodeEconCommand(cmd), 1))
    this.trace.add(`econ-many ${node} ${origin} ${ops.length}`)
    const refused = this.batch(node, 'economy proposal', d => {
      for (const op of ops) if (d.submit(op.command, op) !== undefined) op.refused = true
    })
    if (refused !== undefined) for (const op of ops) op.refused = true
    return ops.map(op => op.id)
  }

  /** The first application of economy proposal `id`, once (undefined while it is pending). */
  takeEconOutcome (id: number): EconOutcome | undefined {
    const o = this.econDone.get(id)
    if (o !== undefined) this.econDone.delete(id)
    return o
  }

  get econPendingCount (): number { return this.econPending.size }

  private operatorNode (): number {
    const leader = this.leaderId()
    if (leader !== 0) return leader
    for (const n of this.nodes) if (n.driver !== undefined) return n.id
    return 0
  }

  private econAttempt (op: EconOp, target: number): void {
    op.lastTry = this.now
    op.attempts++
    const refusal = this.attempt(target, op.kind === 'econ' ? 'economy proposal' : `${op.kind === 'coord' ? 'coordination' : 'task'} proposal`, d => d.submit(op.command, op))
    op.refused = refusal !== undefined
    if (refusal !== undefined) this.trace.add(`${op.kind}-refused ${op.id} at ${target}: ${refusal}`)
  }

  private retryEcon (id: number): void {
    const due = this.now - this.clientRetryMs
    let operatorNode = -1
    for (const op of this.econPending.values()) {
      if (op.refused ? (op.kind !== 'econ' ? op.lastTry > this.now - COORD_REFUSED_RETRY_MS : op.lastTry >= this.now) : op.lastTry > due) continue
      let target = op.node
      if (target === 0) {
        if (operatorNode < 0) operatorNode = this.operatorNode()
        target = operatorNode
      }
      if (target !== id) continue
      this.trace.add(`${op.kind}-retry ${op.id}`)
      this.econAttempt(op, id)
    }
  }

  /** Node `id`'s economy (undefined when the simulation runs none or the node is down). */
  economyOf (id: number): Economy | undefined { return this.node(id).app?.economy }

  /** The node whose economy the report shows: the leader, else the live node that applied most, else any. */
  reportNode (): number {
    const leader = this.leaderId()
    if (leader !== 0) return leader
    let best = 0
    let bestApplied = -1
    for (const live of [true, false]) {
      for (const n of this.nodes) if ((n.driver !== undefined) === live && n.applied > bestApplied) { best = n.id; bestApplied = n.applied }
      if (best !== 0) return best
    }
    return 1
  }

  /**
   * Check every live node's economy invariants (`conservation`) and that nodes at the same applied index
   * hold identical economies (`state-machine-safety`).
   */
  checkEconomies (): void {
    const byIndex = new Map<number, { id: number, snap: string }>()
    for (const n of this.nodes) {
      const economy = n.app?.economy
      if (n.driver === undefined || economy === undefined) continue
      this.checkEconomy(n, `at applied index ${n.applied}`)
      const snap = economy.snapshotText()
      const other = byIndex.get(n.applied)
      if (other === undefined) byIndex.set(n.applied, { id: n.id, snap })
      else if (other.snap !== snap) this.checker.report('state-machine-safety', `nodes ${other.id} and ${n.id} hold different economies at applied index ${n.applied}`)
    }
  }

  // ---------------------------------------------------------------- coordination

  /**
   * Propose a coordination command through Raft at node `node` as `origin` (its session `<origin>/sim`,
   * signed as the origin), retried exactly-once until some node applies it, like {@link proposeEcon};
   * {@link takeCoordOutcome} then gives the machine's answer. Returns its op id.
   */
  proposeCoord (node: number, origin: string, cmd: CoordCommand): number {
    return this.proposeTagged('coord', node, origin, encodeCoordCommand(cmd), cmd.t)
  }

  /** {@link proposeCoord} and {@link proposeTask}: a signed command of `origin`, retried exactly-once until applied. */
  private proposeTagged (kind: 'coord' | 'task' | 'budget', node: number, origin: string, command: Uint8Array, what: string): number {
    if (this.econPending.size >= ECON_PENDING_MAX) throw new LimitExceededError('ECON_PENDING_MAX', ECON_PENDING_MAX, this.econPending.size + 1, 'proposals pending')
    const op = this.econOp(node, origin, command, 0, kind)
    this.trace.add(`${kind} ${op.id} ${node} ${origin} ${what}`)
    this.firstAttempt(op)
    return op.id
  }

  /**
   * The client of proposal `id` (economy or coordination) gives up: it is no longer proposed again, and
   * should an attempt already in flight apply, its outcome is not kept. Harmless once it applied.
   */
  abandon (id: number): void {
    const op = this.econPending.get(id)
    if (op === undefined) return
    this.econPending.delete(id)
    this.econBySession.delete(`${op.clientId}/${op.seq}`)
    this.trace.add(`${op.kind}-abandoned ${id}`)
  }

  /** The first application of coordination proposal `id`, once (undefined while it is pending). */
  takeCoordOutcome (id: number): CoordOutcome | undefined {
    const o = this.coordDone.get(id)
    if (o !== undefined) this.coordDone.delete(id)
    return o
  }

  private onCoordCommand (c: AppliedCommand, key: string): void {
    if (c.duplicate) return
    const id = this.econBySession.get(key)
    if (id === undefined || !this.econPending.delete(id)) return
    this.econBySession.delete(key)
    const r = c.result === FORGOTTEN ? undefined : c.result as CoordOutcome['result']
    this.coordDone.set(id, { result: r, index: c.index, time: this.now, proposedAt: c.envelope.at })
    this.trace.add(`coord-applied ${id} ${c.index} ${r === undefined ? 'none' : r.ok ? 'ok' : String(r.code)}`)
  }

  /**
   * Calls `fn` with every coordination event at its first application anywhere (so once per event, in
   * log order: the committed history). Returns the unsubscribe.
   */
  onCoordEvent (fn: (e: CoordEvent) => void): () => void {
    this.coordFeed.add(fn)
    return () => { this.coordFeed.delete(fn) }
  }

  private publishCoord (e: CoordEvent): void {
    // A lease that ended is no longer kept alive (a live client learns it from its keepalive's answer).
    if (e.type === 'lease:expired' || e.type === 'lease:revoked') {
      const owner = /^n([0-9]+)$/.exec(e.owner)
      if (owner !== null) this.nodes[Number(owner[1]) - 1]?.kept.delete(e.lease)
    }
    for (const fn of this.coordFeed) fn(e)
  }

  /**
   * Node `id`'s process keeps lease `lease` (of TTL `ttlMs`) alive from now on: the node proposes one
   * `lease.keepalive` (renewing every lease of its origin) every TTL / {@link KEEPALIVE_PER_TTL} of its
   * shortest kept lease while it is up and reaches the leader. A crash forgets every kept lease (the
   * process is gone); so does the lease's end. Ignored while the node is down.
   */
  keepAlive (id: number, lease: number, ttlMs: number): void {
    const node = this.node(id)
    if (node.driver === undefined) return
    if (!node.kept.has(lease) && node.kept.size >= KEPT_LEASES_MAX) throw new LimitExceededError('KEPT_LEASES_MAX', KEPT_LEASES_MAX, node.kept.size + 1, `leases kept alive by node ${id}`)
    const first = node.kept.size === 0
    node.kept.set(lease, ttlMs)
    const due = this.now + this.keepalivePeriod(node)
    if (first || due < node.nextKeepaliveAt) node.nextKeepaliveAt = due
    this.trace.add(`keep ${id} ${lease} ${ttlMs}`)
  }

  /** Node `id` stops keeping lease `lease` alive. */
  forgetLease (id: number, lease: number): void { this.node(id).kept.delete(lease) }

  /** Pause (false) or resume (true) node `id`'s keepalives (a hung lease client on a live node); resuming renews at its next tick. */
  setKeepalive (id: number, on: boolean): void {
    const node = this.node(id)
    node.keepaliveAuto = on
    if (on) node.nextKeepaliveAt = 0
    this.trace.add(`keepalive ${id} ${on ? 'on' : 'off'}`)
  }

  /** The leases node `id` keeps alive, sorted. */
  keptLeases (id: number): number[] { return [...this.node(id).kept.keys()].sort((a, b) => a - b) }

  private keepalivePeriod (node: SimNode): number {
    let ttl = Infinity
    for (const t of node.kept.values()) if (t < ttl) ttl = t
    return Math.max(1, Math.floor(ttl / KEEPALIVE_PER_TTL))
  }

  /** What a live peer's coordination service does at each tick of its clock: the leader's ticker, then keepalives. */
  private coordServices (node: SimNode): void {
    const driver = node.driver
    const app = node.app
    if (driver === undefined || app === undefined) return
    // (A follower proposes nothing: the ticker's inputs are read only on the leader.)
    if (driver.isLeader) {
      const term = driver.node.status().term
      const cmd = coordTick({ isLeader: true, term, epochTerm: node.coordEpochTerm, now: this.now, nextDeadline: app.coordination.nextDeadline(), lastTickAt: node.coordLastTickAt })
      if (cmd !== undefined && this.coordBackground(node, cmd) === undefined) {
        if (cmd.t === 'epoch') { node.coordEpochTerm = term; node.coordLastTickAt = undefined } else node.coordLastTickAt = this.now
      }
    }
    if (node.kept.size > 0 && node.keepaliveAuto && this.now >= node.nextKeepaliveAt) {
      // Refused (no known leader...): tried again a little later.
      const refused = this.coordBackground(node, { t: 'lease.keepalive', n: node.kept.size }) !== undefined
      node.nextKeepaliveAt = this.now + (refused ? COORD_REFUSED_RETRY_MS : this.keepalivePeriod(node))
    }
  }

  /** Propose a background coordination command at node `node` under its session `n<i>/coord`, once (not retried). */
  private coordBackground (node: SimNode, cmd: CoordCommand): Refusal {
    const seq = (this.coordSeqs[node.id - 1] ?? 0) + 1
    this.coordSeqs[node.id - 1] = seq
    const refusal = this.attempt(node.id, 'coordination service', d => d.submit(encodeCoordCommand(cmd), { clientId: `n${node.id}/coord`, seq }))
    if (refusal === undefined) this.trace.add(`coord-bg ${node.id} ${cmd.t}`)
    return refusal
  }

  /** Node `id`'s coordination machine (undefined when the node is down). */
  coordinationOf (id: number): CoordinationMachine | undefined { return this.node(id).app?.coordination }
  /** Node `id`'s mesh application (its budget machine...), while it runs. */
  nodeApp (id: number): MeshApplication | undefined { return this.node(id).app }

  /** Live nodes at the same applied index must hold identical coordination states (`state-machine-safety`). */
  checkCoordination (): void {
    const byIndex = new Map<number, SimNode[]>()
    for (const n of this.nodes) {
      if (n.driver === undefined || n.app === undefined) continue
      const same = byIndex.get(n.applied)
      if (same === undefined) byIndex.set(n.applied, [n])
      else same.push(n)
    }
    for (const [index, same] of byIndex) {
      if (same.length < 2) continue
      const first = same[0] as SimNode
      const snap = JSON.stringify(first.app?.coordination.snapshotJson())
      for (const n of same.slice(1)) {
        if (JSON.stringify(n.app?.coordination.snapshotJson()) !== snap) this.checker.report('state-machine-safety', `nodes ${first.id} and ${n.id} hold different coordination states at applied index ${index}`)
      }
    }
  }

  // ---------------------------------------------------------------- tasks and agents' messages

  /**
   * Propose a task command (protocols/tasks) through Raft at node `node` as `origin` (session
   * `<origin>/sim`, signed), retried exactly-once until applied, like {@link proposeCoord};
   * {@link takeCoordOutcome} gives the machine's answer.
   */
  proposeTask (node: number, origin: string, cmd: TaskCommand): number {
    return this.proposeTagged('task', node, origin, encodeTaskCommand(cmd), cmd.t)
  }

  /**
   * Propose budget command `cmd` (protocols/infrastructure/budget.ts) at node `node` as `origin`, like
   * {@link proposeCoord}; {@link takeCoordOutcome} gives the machine's answer. Every node's budget machine
   * is checked after each change (sim/budget-checkers.ts).
   */
  proposeBudget (node: number, origin: string, cmd: BudgetCommand): number {
    return this.proposeTagged('budget', node, origin, encodeBudgetCommand(cmd), cmd.t)
  }

  /** Calls `fn` with every task event at its first application anywhere (the committed history, in log order). */
  onTaskEvent (fn: (e: TaskEvent) => void): () => void {
    this.taskFeed.add(fn)
    return () => { this.taskFeed.delete(fn) }
  }

  /** Calls `fn` with every task event every node applies (a host learns its assignments from its own replica). */
  onNodeTaskEvent (fn: (node: number, e: TaskEvent) => void): () => void {
    this.nodeTaskFeed.add(fn)
    return () => { this.nodeTaskFeed.delete(fn) }
  }

  /**
   * A client saw the submit of task `id` applied at entry `index` (proposed at node `node`; an idempotent
   * repeat names the first submit's task: it is the first entry that counts): {@link checkTasks} holds
   * every replica to it.
   */
  acknowledgeTask (id: number, node: number, index: number): void {
    if (this.ackedTasks.has(id)) return
    if (this.ackedTasks.size >= ACKED_TASKS_MAX) this.ackedTasks.delete(this.ackedTasks.keys().next().value!)
    this.ackedTasks.set(id, { node, index })
  }

  /** Node `id`'s task machine (undefined when the node is down or its application runs none). */
  tasksOf (id: number): TaskMachine | undefined { return this.node(id).app?.tasks }

  /** How many times node `id`'s process started (its boot number: a restart is a new process). */
  bootsOf (id: number): number { return this.node(id).boots }
  /** When node `id`'s current process started (virtual ms). */
  bootedAt (id: number): number { return this.node(id).bootedAt }

  /**
   * Live nodes at the same applied index hold identical task states (`state-machine-safety`), and no
   * acknowledged task is lost (`task-durability`): every live node that applied its submit entry has it,
   * recorded at that index.
   */
  checkTasks (): void {
    const byIndex = new Map<number, { id: number, snap: string }>()
    for (const n of this.nodes) {
      const m = n.app?.tasks
      if (n.driver === undefined || m === undefined) continue
      const snap = JSON.stringify(m.snapshotJson())
      const other = byIndex.get(n.applied)
      if (other === undefined) byIndex.set(n.applied, { id: n.id, snap })
      else if (other.snap !== snap) this.checker.report('state-machine-safety', `nodes ${other.id} and ${n.id} hold different task states at applied index ${n.applied}`)
      for (const [task, at] of this.ackedTasks) {
        if (at.index > n.applied) continue
        const v = m.get(task)
        if (v === undefined) this.checker.report('task-durability', `node ${n.id} at applied index ${n.applied} has no task ${task} (submitted at node ${at.node}, acknowledged to its client)`)
        else if (v.submittedIndex > at.index) this.checker.report('task-durability', `node ${n.id} holds task ${task} as submitted at entry ${v.submittedIndex}, after the entry ${at.index} that acknowledged it`)
      }
    }
  }

  /** Node `from` sends an agents' message to node `to` over the simulated network (latency, faults, partitions). */
  sendMesh (from: number, to: number, w: MeshWire): void {
    this.trace.add(`mesh ${from}>${to} ${w.mesh} ${w.id}`)
    this.net.send(from, to, w, this.now)
  }

  /** Calls `fn(to, wire, at)` with every agents' message delivered to a live node. */
  onMesh (fn: (to: number, w: MeshWire, at: number) => void): () => void {
    this.meshFeed.add(fn)
    return () => { this.meshFeed.delete(fn) }
  }

  // ---------------------------------------------------------------- delivery and time

  private deliver (m: Message | MeshWire, to: number, at: number): void {
    const node = this.node(to)
    if (node.driver === undefined) return
    if ('mesh' in m) { for (const fn of this.meshFeed) fn(to, m, at); return }
    this.trace.add(`recv ${describeMessage(m)}`)
    this.input(m.to, 'step', d => { d.receive(m); return undefined })
  }

  /**
   * Hand node `to` a raw message as if it came off the wire, bypassing the network (the fuzzer's garbage
   * injection). The core must drop what is malformed or from a non-member; if it throws instead, that
   * is a `node-panic` violation.
   */
  inject (to: number, raw: unknown, describe: string): void {
    const node = this.node(to)
    if (node.driver === undefined) return
    this.trace.add(`inject ${to} ${describe}`)
    this.input(to, 'step (injected)', d => { d.receive(raw as Message); return undefined })
  }

  /** Step mode: deliver every queued message (and those produced meanwhile) to quiescence. */
  quiesce (): void {
    for (let n = 0; ; n++) {
      const d = this.net.deliverNext(Infinity)
      if (d === undefined) return
      if (n >= this.deliveriesMax) {
        this.checker.report('quiescence', `more than ${this.deliveriesMax} deliveries without quiescence`)
        return
      }
      this.deliver(d.msg, d.to, d.at)
    }
  }

  /** Timed mode: advance the clock by `ms`, ticking nodes and delivering messages as they fall due. */
  runFor (ms: number, until?: () => boolean): boolean {
    const end = this.now + ms
    const tickMs = this.cfg.tickMs
    for (;;) {
      let tTick = Infinity
      for (const t of this.nextTick) if (t < tTick) tTick = t
      const tNet = this.net.nextDeliveryTime()
      const t = Math.min(tTick, tNet)
      if (t > end) break
      this.clock.advanceTo(t)
      if (tNet <= tTick) {
        const d = this.net.deliverNext(t)
        if (d !== undefined) this.deliver(d.msg, d.to, d.at)
      } else {
        for (let i = 0; i < this.nextTick.length; i++) {
          if (this.nextTick[i] !== t) continue
          this.nextTick[i] = t + tickMs
          this.tick(i + 1)
        }
        this.onTickRound?.()
        // Leaders are checked as they appear (observe); the whole cluster every CHECK_EVERY_TICKS.
        if (++this.ticksSinceCheck >= CHECK_EVERY_TICKS) { this.ticksSinceCheck = 0; this.checker.checkViews(this.views()) }
        if (until !== undefined && until()) return true
      }
    }
    this.clock.advanceTo(end)
    return until !== undefined ? until() : false
  }

  // ---------------------------------------------------------------- views and reports

  leaderId (): number {
    let best = 0
    let bestTerm = -1
    for (const n of this.nodes) {
      const s = n.driver?.node.status()
      if (s !== undefined && s.role === 'leader' && s.term > bestTerm) { best = n.id; bestTerm = s.term }
    }
    return best
  }

  view (node: SimNode): NodeView {
    const disk = node.disk
    const s = node.driver?.node.status()
    const hs = disk.hardState()
    return {
      id: node.id,
      crashed: s === undefined,
      role: s === undefined ? 'crashed' : ROLES[s.role],
      term: s?.term ?? hs.term,
      vote: s?.vote ?? hs.vote,
      leader: s?.lead ?? 0,
      commit: s?.commit ?? hs.commit,
      applied: node.applied,
      firstIndex: disk.firstIndex(),
      lastIndex: disk.lastIndex(),
      termAt: i => disk.termAt(i)
    }
  }

  views (): NodeView[] { return this.nodes.map(n => this.view(n)) }

  viewOf (id: number): NodeView { return this.view(this.node(id)) }

  nodeReport (id: number): NodeReport {
    const node = this.node(id)
    const v = this.view(node)
    let role = v.role as NodeReport['role']
    if (role === 'follower' && node.learners.includes(id)) role = 'learner'
    const disk = node.disk
    const log: Array<[number, number, string]> = disk.lastIndex() >= disk.firstIndex() ? disk.entries(disk.firstIndex(), disk.lastIndex()).map(e => [e.index, e.term, e.text]) : []
    return { role, term: v.term, vote: v.vote, leader: v.leader, log, commit: v.commit, applied: v.applied, firstIndex: v.firstIndex }
  }

  readStatesOf (id: number): Array<{ index: number, ctx: string }> { return this.node(id).readStates }
  configOf (id: number): { voters: number[], learners: number[] } { const n = this.node(id); return { voters: n.voters, learners: n.learners } }

  /** Node `id`'s strong variable `key` (null when unset): a local read of its replica. */
  kvRead (id: number, key: string): KvScalar {
    const raw = this.node(id).app?.strong.get(key)
    return raw === undefined ? null : JSON.parse(raw) as KvScalar
  }

  /** Leaders' parallel writes lost to crashes over every node (`torn`: cut, a prefix kept); see `asyncLeaderWrites`. */
  lostWrites (): { writes: number, torn: number } {
    let writes = 0
    let torn = 0
    for (const n of this.nodes) { writes += n.disk.lost.writes; torn += n.disk.lost.torn }
    return { writes, torn }
  }

  /** Committed entries the drivers applied while a write of theirs was in flight (RaftDriver stats.appliedWhileWriting), crashed ones included. */
  appliedWhileWriting (): number {
    let n = this.appliedWhileWritingGone
    for (const node of this.nodes) n += node.driver?.stats.appliedWhileWriting ?? 0
    return n
  }

  private appliedWhileWritingGone = 0

  /** Lands node `id`'s writes in flight now (step-mode tests; otherwise they land at its ticks). */
  landWrites (id: number): void {
    const node = this.node(id)
    if (node.disk.inflightWrites === 0) return
    this.trace.add(`land ${id} ${node.disk.inflightWrites}`)
    this.input(id, 'land', () => { node.disk.completeInflight(); return undefined })
  }

  /** Writes of node `id` in flight on its disk (see `asyncLeaderWrites`). */
  inflightWrites (id: number): number { return this.node(id).disk.inflightWrites }

  isCrashed (id: number): boolean { return this.node(id).crashed }
  appliedOf (id: number): number { return this.node(id).applied }

  get violations (): Violation[] { return this.checker.violations }
}
