/**
 * The simulation engine shared by the scenario runner and the fuzzer: N Raft nodes on a simulated
 * network and disk, driven through the Ready contract, with client sessions on a KV state machine, a
 * recorded client history, invariant checkers and an event trace.
 *
 * The Ready contract as the driver honours it (protocols/raft/README.md): for each Ready, (1) install the
 * snapshot, (2) persist entries and hard state, (3) send messages, (4) apply committed entries, (5) take
 * read states, (6) advance. A node crashed "torn" loses the Ready it was processing: nothing of it is
 * persisted or sent.
 */
import { InvariantChecker } from './checkers.js'
import type { NodeView, Violation } from './checkers.js'
import { VirtualClock } from './clock.js'
import { SimNetwork } from './network.js'
import { createRand } from '../src/base/prng.js'
import type { Rand } from '../src/base/prng.js'
import type { ConfChangeKind, KvCommand, KvScalar, Refusal, SimEntry, SimKv, SimKvFactory, SimMessage, SimRaftFactory, SimRaftNode, SimReady, SimStorage } from './raft-adapter.js'
import type { HistoryEntry, NodeReport } from './report.js'
import type { InitState, NetworkSpec, RaftScenarioOptions } from './scenario.js'
import { Trace } from './trace.js'
import type { KvOperation } from './linearizability/index.js'
import { LimitExceededError } from '../src/base/errors.js'
import { decodeNodeSnapshot, ECON_PREFIX, EconReplica, encodeEcon, encodeNodeSnapshot } from './economy.js'
import type { Economy, MarketResult } from '../protocols/market/index.js'

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
  factory: SimRaftFactory & SimKvFactory
  /** Re-propose a pending client write (same session: exactly-once) or re-request a read after this many ms without an answer. Default 3 election timeouts (3 × electionTick × tickMs). */
  clientRetryMs?: number
  /** Bound on deliveries while quiescing one step-mode step. Default 1,000,000. */
  deliveriesMax?: number
  /**
   * Run an economy replica (sim/economy.ts) next to the KV state machine on every node: `econ:` entries
   * apply to it, and node snapshots carry both. Default false (snapshots are then the KV's bytes alone).
   */
  economy?: boolean
  /** Check every node's economy invariants after each economy entry it applies (default true). */
  economyCheckEachApply?: boolean
}

/** The session id of the simulator's economy proposals (sim/economy.ts). */
export const ECON_CLIENT = 1
/** Economy proposals pending at once (each retried until applied somewhere). */
export const ECON_PENDING_MAX = 1_000_000

/** One economy command proposed through Raft (see {@link Simulation.proposeEcon}). */
interface EconOp {
  seq: number
  /** Proposing node; 0: the current leader, else the lowest live node (operator commands). */
  node: number
  origin: string
  cmd: Record<string, unknown>
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

/** Bound on Ready batches processed for one input. */
export const READY_LOOPS_MAX = 10_000
/** Timed mode: full-cluster checks every this many tick rounds (leaders are checked as they appear). */
export const CHECK_EVERY_TICKS = 10
/** Membership changes remembered per node (for compaction at an older index). */
export const CONF_HISTORY_MAX = 64

interface PendingOp {
  opId: number
  node: number
  clientId: number
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

class SimNode {
  raft: SimRaftNode | undefined
  kv: SimKv
  econ: EconReplica | undefined
  applied = 0
  voters: number[]
  learners: number[]
  confHistory: ConfPoint[]
  readStates: Array<{ index: number, ctx: string }> = []
  tornArmed = false
  lastRole = 'follower'
  /** Index of a membership change applied in the Ready being processed (0: none). */
  confPendingAt = 0

  constructor (readonly id: number, readonly storage: SimStorage, kv: SimKv, voters: number[], learners: number[]) {
    this.kv = kv
    this.voters = voters
    this.learners = learners
    this.confHistory = [{ index: 0, voters, learners }]
  }

  get crashed (): boolean { return this.raft === undefined }
}

export class Simulation {
  readonly cfg: SimulationConfig
  readonly rand: Rand
  readonly clock = new VirtualClock()
  readonly net: SimNetwork<SimMessage>
  readonly checker = new InvariantChecker()
  readonly trace = new Trace()
  readonly history: HistoryEntry[] = []
  readonly refusals: Array<{ step: number, detail: string }> = []
  private readonly nodes: SimNode[] = []
  private readonly pending = new Map<string, PendingOp>()
  private readonly pendingReads = new Map<string, PendingOp>()
  /** Balance reads waiting for their ReadIndex (contexts `b<k>`), served like KV reads. */
  private readonly ledgerReads = new Map<string, PendingOp>()
  private ledgerReadCounter = 0
  private readonly nextTick: number[] = []
  private opCounter = 0
  private ticksSinceCheck = 0
  /** Economy commands proposed and not yet applied anywhere, by session seq. */
  private readonly econPending = new Map<number, EconOp>()
  /** First applications of economy commands not yet taken by {@link takeEconOutcome}. */
  private readonly econDone = new Map<number, EconOutcome>()
  private econSeq = 0
  /** Auction id -> the index of the entry that settled it (a second settlement is a violation). */
  private readonly settledAt = new Map<string, number>()
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
    this.net = new SimNetwork<SimMessage>(netRand, m => m.kind, cfg.timed
      ? { latencyMs: cfg.network.latencyMs, drop: cfg.network.drop, duplicate: cfg.network.duplicate, reorder: cfg.network.reorder }
      : {})
    this.clientRetryMs = cfg.clientRetryMs ?? cfg.raft.electionTick * cfg.tickMs * 3
    this.deliveriesMax = cfg.deliveriesMax ?? 1_000_000
    const learners = [...cfg.learners].sort((a, b) => a - b)
    const voters: number[] = []
    for (let id = 1; id <= cfg.nodes; id++) if (!learners.includes(id)) voters.push(id)
    for (let id = 1; id <= cfg.nodes; id++) {
      const init = cfg.init?.get(id)
      const storage = cfg.factory.createStorage({ term: init?.term ?? 0, vote: init?.vote ?? 0, commit: init?.commit ?? 0, logTerms: init?.log ?? [], voters, learners })
      const node = new SimNode(id, storage, cfg.factory.createKv(), voters, learners)
      this.nodes.push(node)
      this.boot(node)
      this.checker.onPersistHardState(id, storage.hardState())
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

  private boot (node: SimNode): void {
    const snap = node.storage.snapshot()
    this.restoreState(node, snap.meta.index > 0 ? snap.data : undefined)
    if (snap.meta.index > 0) {
      node.voters = snap.meta.voters
      node.learners = snap.meta.learners
    }
    node.applied = snap.meta.index
    node.confHistory = [{ index: snap.meta.index, voters: node.voters, learners: node.learners }]
    node.raft = this.cfg.factory.createNode({
      id: node.id,
      voters: node.voters,
      learners: node.learners,
      electionTick: this.cfg.raft.electionTick,
      heartbeatTick: this.cfg.raft.heartbeatTick,
      preVote: this.cfg.raft.preVote,
      checkQuorum: this.cfg.raft.checkQuorum,
      applied: node.applied,
      rand: this.rand.fork()
    }, node.storage)
    node.lastRole = 'follower'
  }

  // ---------------------------------------------------------------- inputs

  /** Run `fn` on a live node's core, then process its Ready batches; a crashed node refuses. */
  private input (id: number, what: string, fn: (r: SimRaftNode) => Refusal): Refusal {
    const refusal = this.attempt(id, what, fn)
    return refusal === undefined ? undefined : this.refuse(`${what} at node ${id}: ${refusal}`)
  }

  /** {@link input} without recording a refusal in the report (the caller retries). */
  private attempt (id: number, what: string, fn: (r: SimRaftNode) => Refusal): Refusal {
    const node = this.node(id)
    const raft = node.raft
    if (raft === undefined) return 'node is crashed'
    let refusal: Refusal
    try {
      refusal = fn(raft)
    } catch (err) {
      this.panic(node, what, err)
      return undefined
    }
    this.process(node)
    return refusal
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
    return this.input(id, 'campaign', r => r.campaign())
  }

  propose (id: number, data: string): Refusal {
    this.trace.add(`propose ${id} ${data}`)
    return this.input(id, 'propose', r => r.propose(new TextEncoder().encode(data)))
  }

  /**
   * Propose several values at node `id` and process its Ready once (a driver batching proposals, as a
   * busy server does): one append per follower carries them all. Returns the refusals, if any.
   */
  proposeMany (id: number, data: readonly string[]): Refusal[] {
    this.trace.add(`propose-many ${id} ${data.length}`)
    const out: Refusal[] = []
    this.input(id, 'propose', r => {
      for (const d of data) { const x = r.propose(new TextEncoder().encode(d)); if (x !== undefined) out.push(x) }
      return undefined
    })
    for (const x of out) this.refuse(`propose at node ${id}: ${x}`)
    return out
  }

  heartbeat (id: number): Refusal {
    this.trace.add(`heartbeat ${id}`)
    return this.input(id, 'heartbeat', r => r.heartbeat())
  }

  readIndex (id: number, ctx: string): Refusal {
    this.trace.add(`readIndex ${id} ${ctx}`)
    return this.input(id, 'readIndex', r => r.readIndex(ctx))
  }

  transfer (to: number, via: number): Refusal {
    this.trace.add(`transfer ${via}->${to}`)
    return this.input(via, 'transfer', r => r.transferLeader(to))
  }

  /** Propose a membership change at the current leader (the live leader of the highest term). */
  confChange (kind: ConfChangeKind, target: number): Refusal {
    const leader = this.leaderId()
    this.trace.add(`conf ${kind} ${target} at ${leader}`)
    if (leader === 0) return this.refuse(`${kind} ${target}: no leader`)
    return this.input(leader, kind, r => r.proposeConfChange(kind, target))
  }

  /** Tick one node once. */
  tick (id: number): void {
    const node = this.node(id)
    if (node.raft === undefined) return
    this.input(id, 'tick', r => { r.tick(); return undefined })
    this.retryClientOps(node)
    if (this.econPending.size > 0) this.retryEcon(id)
  }

  /** Snapshot node `id`'s state at `index` (<= applied) and compact its log through it. */
  compact (id: number, index: number): Refusal {
    const node = this.node(id)
    this.trace.add(`compact ${id} ${index}`)
    if (node.raft === undefined) return this.refuse(`compact at node ${id}: node is crashed`)
    const snapIndex = node.storage.snapshot().meta.index
    if (index > node.applied) return this.refuse(`compact at node ${id}: index ${index} is beyond applied ${node.applied}`)
    if (index <= snapIndex) return this.refuse(`compact at node ${id}: index ${index} is already compacted (snapshot at ${snapIndex})`)
    // Rebuild the state at exactly `index` from the last snapshot and the log.
    const snap = node.storage.snapshot()
    const st = this.stateFrom(snap.meta.index > 0 ? snap.data : undefined)
    for (const e of node.storage.entries(snap.meta.index + 1, index)) {
      if (!e.text.startsWith('conf:') && e.data.length > 0) {
        st.kv.apply(e.index, e.data)
        st.econ?.apply(e.index, e.text)
      }
    }
    let conf = node.confHistory[0] as ConfPoint
    for (const c of node.confHistory) if (c.index <= index) conf = c
    node.storage.compact(index, st.econ === undefined ? st.kv.snapshot() : encodeNodeSnapshot(st.kv.snapshot(), st.econ), conf.voters, conf.learners)
    return undefined
  }

  crash (id: number, torn = false): void {
    const node = this.node(id)
    if (node.raft === undefined) return
    if (torn) { node.tornArmed = true; this.trace.add(`arm-torn ${id}`); return }
    this.trace.add(`crash ${id}`)
    node.raft = undefined
    node.tornArmed = false
    node.lastRole = 'crashed'
    for (const [k, p] of [...this.pending, ...this.pendingReads, ...this.ledgerReads]) {
      if (p.node !== id) continue
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
    if (node.raft !== undefined) return
    this.trace.add(`restart ${id}`)
    this.boot(node)
    const hs = node.storage.hardState()
    this.checker.onPersistHardState(id, hs)
    this.process(node)
  }

  isolate (id: number): void { this.trace.add(`isolate ${id}`); this.net.isolate(id) }
  cut (a: number, b: number): void { this.trace.add(`cut ${a} ${b}`); this.net.cut(a, b) }
  partition (groups: number[][]): void { this.trace.add(`partition ${JSON.stringify(groups)}`); this.net.partition(groups) }
  dropType (type: string): void { this.trace.add(`drop ${type}`); this.net.dropType(type) }
  recover (): void { this.trace.add('recover'); this.net.recover() }

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
    const p: PendingOp = { opId, node: id, clientId: opId, seq: 1, cmd, entry, lastTry: this.now }
    this.trace.add(`client ${opId} ${id} ${JSON.stringify(cmd)}`)
    const node = this.node(id)
    if (node.raft === undefined) return entry // never sent: it has no effect (and is left out of the check)
    this.submitted[opId - 1] = true
    if (cmd.op === 'read') {
      p.ctx = `r${opId}`
      p.attempts = []
      this.pendingReads.set(p.ctx, p)
      this.readAttempt(p, 'client read')
    } else {
      this.pending.set(`${p.clientId}:${p.seq}`, p)
      this.writeAttempts[opId - 1] = [this.now]
      this.accepted(p, this.input(id, 'client write', r => r.propose(node.kv.encode(p.clientId, p.seq, cmd, 0))))
    }
    return entry
  }

  /** Send one ReadIndex request for a client read, with a context naming the attempt. */
  private readAttempt (p: PendingOp, what: string): void {
    const attempts = p.attempts as number[]
    const ctx = `${p.ctx ?? ''}.${attempts.length}`
    attempts.push(this.now)
    this.accepted(p, this.input(p.node, what, r => r.readIndex(ctx)))
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
      this.accepted(p, this.input(node.id, 'client retry', r => r.propose(node.kv.encode(p.clientId, p.seq, p.cmd, attempts.length - 1))))
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
    const p: PendingOp = { opId: k, node: id, clientId: 0, seq: 0, cmd: { op: 'read', key: account }, entry, lastTry: this.now, ctx: `b${k}`, attempts: [], account }
    const read: LedgerRead = { entry, submitted: false, effectiveFrom: () => p.effectiveFrom ?? p.acceptedAt }
    this.trace.add(`ledger-read ${k} ${id} ${account}`)
    if (this.node(id).raft === undefined) return read
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
    if (node.raft === undefined || node.econ === undefined) return { entry, submitted: false, effectiveFrom: () => undefined }
    entry.value = node.econ.economy.account(account)?.free ?? 0
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

  // ---------------------------------------------------------------- the economy (sim/economy.ts)

  /** Fresh state machines for a node, restored from snapshot data when given. */
  private stateFrom (data: Uint8Array | undefined): { kv: SimKv, econ: EconReplica | undefined } {
    const kv = this.cfg.factory.createKv()
    let econ = this.cfg.economy === true ? new EconReplica() : undefined
    if (data !== undefined) {
      if (econ !== undefined) {
        const d = decodeNodeSnapshot(data)
        kv.restore(d.kv)
        econ = d.econ
      } else {
        kv.restore(data)
      }
    }
    return { kv, econ }
  }

  private restoreState (node: SimNode, data: Uint8Array | undefined): void {
    const st = this.stateFrom(data)
    node.kv = st.kv
    node.econ = st.econ
    if (st.econ !== undefined && data !== undefined) this.checkEconomy(node, 'after restoring a snapshot')
  }

  private checkEconomy (node: SimNode, when: string): void {
    const bad = node.econ?.economy.invariants() ?? []
    if (bad.length > 0) this.checker.report('conservation', `node ${node.id} ${when}: ${bad.slice(0, 3).join('; ')}`)
  }

  private applyEcon (node: SimNode, e: SimEntry): void {
    const out = (node.econ as EconReplica).apply(e.index, e.text)
    if (out === undefined) return
    if (this.cfg.economyCheckEachApply !== false) this.checkEconomy(node, `after entry ${e.index}`)
    const r = out.result
    if (r !== undefined && r.ok && r.type === 'auction.settle' && typeof r.auction === 'string') {
      const prev = this.settledAt.get(r.auction)
      if (prev === undefined) this.settledAt.set(r.auction, e.index)
      else if (prev !== e.index) this.checker.report('conservation', `auction ${r.auction} settled twice: at entries ${prev} and ${e.index}`)
    }
    if (out.env.c === ECON_CLIENT && this.econPending.delete(out.env.s)) {
      this.econDone.set(out.env.s, { result: r, index: e.index, time: this.now, proposedAt: out.env.t })
      this.trace.add(`econ-applied ${out.env.s} ${e.index} ${r === undefined ? 'dup' : r.ok ? 'ok' : r.code}`)
    }
  }

  /**
   * Propose an economy command through Raft at node `node` (0: the leader, else the lowest live node)
   * as `origin`, stamped with the virtual clock. It is retried (same session: exactly-once) until some
   * node applies it; {@link takeEconOutcome} then gives its result. Returns its sequence number.
   */
  proposeEcon (node: number, origin: string, cmd: Record<string, unknown>): number {
    if (this.econPending.size >= ECON_PENDING_MAX) throw new LimitExceededError('ECON_PENDING_MAX', ECON_PENDING_MAX, this.econPending.size + 1, 'economy proposals pending')
    const op: EconOp = { seq: ++this.econSeq, node, origin, cmd, lastTry: this.now, attempts: 0, refused: false }
    this.econPending.set(op.seq, op)
    this.trace.add(`econ ${op.seq} ${node} ${origin} ${String(cmd.type)}`)
    const target = node === 0 ? this.operatorNode() : node
    if (target > 0) this.econAttempt(op, target)
    else op.refused = true
    return op.seq
  }

  /** Propose several economy commands at one node in one Ready (a busy agent host batching). */
  proposeEconMany (node: number, origin: string, cmds: ReadonlyArray<Record<string, unknown>>): number[] {
    if (this.econPending.size + cmds.length > ECON_PENDING_MAX) throw new LimitExceededError('ECON_PENDING_MAX', ECON_PENDING_MAX, this.econPending.size + cmds.length, 'economy proposals pending')
    const ops = cmds.map(cmd => {
      const op: EconOp = { seq: ++this.econSeq, node, origin, cmd, lastTry: this.now, attempts: 1, refused: false }
      this.econPending.set(op.seq, op)
      return op
    })
    this.trace.add(`econ-many ${node} ${origin} ${ops.length}`)
    const refused = this.attempt(node, 'economy proposal', r => {
      for (const op of ops) {
        const x = r.propose(new TextEncoder().encode(encodeEcon({ cmd: op.cmd, o: op.origin, t: this.now, c: ECON_CLIENT, s: op.seq, a: 0 })))
        if (x !== undefined) op.refused = true
      }
      return undefined
    })
    if (refused !== undefined) for (const op of ops) op.refused = true
    return ops.map(op => op.seq)
  }

  /** The first application of economy proposal `seq`, once (undefined while it is pending). */
  takeEconOutcome (seq: number): EconOutcome | undefined {
    const o = this.econDone.get(seq)
    if (o !== undefined) this.econDone.delete(seq)
    return o
  }

  get econPendingCount (): number { return this.econPending.size }

  private operatorNode (): number {
    const leader = this.leaderId()
    if (leader !== 0) return leader
    for (const n of this.nodes) if (n.raft !== undefined) return n.id
    return 0
  }

  private econAttempt (op: EconOp, target: number): void {
    op.lastTry = this.now
    const data = new TextEncoder().encode(encodeEcon({ cmd: op.cmd, o: op.origin, t: this.now, c: ECON_CLIENT, s: op.seq, a: op.attempts++ }))
    const refusal = this.attempt(target, 'economy proposal', r => r.propose(data))
    op.refused = refusal !== undefined
    if (refusal !== undefined) this.trace.add(`econ-refused ${op.seq} at ${target}: ${refusal}`)
  }

  private retryEcon (id: number): void {
    const due = this.now - this.clientRetryMs
    let operatorNode = -1
    for (const op of this.econPending.values()) {
      if (op.refused ? op.lastTry >= this.now : op.lastTry > due) continue
      let target = op.node
      if (target === 0) {
        if (operatorNode < 0) operatorNode = this.operatorNode()
        target = operatorNode
      }
      if (target !== id) continue
      this.trace.add(`econ-retry ${op.seq}`)
      this.econAttempt(op, id)
    }
  }

  /** Node `id`'s economy (undefined when the simulation runs none). */
  economyOf (id: number): Economy | undefined { return this.node(id).econ?.economy }

  /** The node whose economy the report shows: the leader, else the live node that applied most, else any. */
  reportNode (): number {
    const leader = this.leaderId()
    if (leader !== 0) return leader
    let best = 0
    let bestApplied = -1
    for (const live of [true, false]) {
      for (const n of this.nodes) if ((n.raft !== undefined) === live && n.applied > bestApplied) { best = n.id; bestApplied = n.applied }
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
      if (n.raft === undefined || n.econ === undefined) continue
      this.checkEconomy(n, `at applied index ${n.applied}`)
      const snap = JSON.stringify(n.econ.snapshot())
      const other = byIndex.get(n.applied)
      if (other === undefined) byIndex.set(n.applied, { id: n.id, snap })
      else if (other.snap !== snap) this.checker.report('state-machine-safety', `nodes ${other.id} and ${n.id} hold different economies at applied index ${n.applied}`)
    }
  }

  // ---------------------------------------------------------------- the Ready loop

  private process (node: SimNode): void {
    for (let loops = 0; ; loops++) {
      const raft = node.raft
      if (raft === undefined || !raft.hasReady()) break
      if (loops >= READY_LOOPS_MAX) { this.checker.report('node-panic', `node ${node.id} produced more than ${READY_LOOPS_MAX} Ready batches for one input`); break }
      let rd: SimReady
      try {
        rd = raft.ready()
      } catch (err) { this.panic(node, 'ready', err); return }
      if (node.tornArmed) {
        this.trace.add(`crash-torn ${node.id}`)
        this.crash(node.id)
        return
      }
      if (rd.soft !== undefined) this.observe(node, rd.soft.role)
      this.handleReady(node, raft, rd)
      if (node.raft !== raft) return
      try {
        raft.advance()
      } catch (err) { this.panic(node, 'advance', err); return }
      if (node.confPendingAt > 0) {
        // The core switched configuration when it applied the change; record it at the entry's index.
        const c = raft.confState()
        node.voters = c.voters.slice().sort((a, b) => a - b)
        node.learners = c.learners.slice().sort((a, b) => a - b)
        node.confHistory.push({ index: node.confPendingAt, voters: node.voters, learners: node.learners })
        if (node.confHistory.length > CONF_HISTORY_MAX) node.confHistory.shift()
        node.confPendingAt = 0
      }
    }
  }

  private handleReady (node: SimNode, raft: SimRaftNode, rd: SimReady): void {
    const st = node.storage
    if (rd.snapshot !== undefined) {
      const m = rd.snapshot.meta
      this.trace.add(`snap ${node.id} ${m.index} ${m.term}`)
      st.applySnapshot(rd.snapshot)
      this.restoreState(node, rd.snapshot.data)
      node.applied = m.index
      node.voters = m.voters
      node.learners = m.learners
      node.confHistory = [{ index: m.index, voters: m.voters, learners: m.learners }]
      this.serveReads(node) // reads waiting for an index the snapshot covers are served from it
    }
    if (rd.entries.length > 0) {
      const first = rd.entries[0] as SimEntry
      this.checker.onPersistEntries(node.id, raft.status().role === 'leader', st.lastIndex(), rd.entries, first.index - 1 === 0 ? 0 : st.termAt(first.index - 1))
      st.append(rd.entries)
    }
    if (rd.hardState !== undefined) {
      this.checker.onPersistHardState(node.id, rd.hardState)
      st.setHardState(rd.hardState)
    }
    for (const m of rd.messages) {
      this.net.send(m.from, m.to, m, this.now)
    }
    for (const e of rd.committed) this.apply(node, e)
    for (const rs of rd.readStates) {
      node.readStates.push(rs)
      this.trace.add(`read ${node.id} ${rs.index} ${rs.ctx}`)
      const dot = rs.ctx.lastIndexOf('.')
      const base = dot > 0 ? rs.ctx.slice(0, dot) : ''
      const p = dot > 0 ? this.pendingReads.get(base) ?? this.ledgerReads.get(base) : undefined
      if (p !== undefined && p.node === node.id && p.readAt === undefined) {
        p.readAt = rs.index
        // The read index was chosen after this attempt was sent: the read takes effect no earlier.
        const sent = p.attempts?.[Number(rs.ctx.slice(dot + 1))]
        if (sent !== undefined) {
          if (p.account !== undefined) p.effectiveFrom = sent
          else this.effectiveFrom[p.opId - 1] = sent
        }
      }
    }
    this.serveReads(node)
  }

  private apply (node: SimNode, e: SimEntry): void {
    if (e.index <= node.applied) return
    if (e.index !== node.applied + 1) this.checker.report('state-machine-safety', `node ${node.id} applied ${e.index} after ${node.applied} (gap)`)
    this.checker.onApply(node.id, e.index, e.term, e.text)
    node.applied = e.index
    if (e.text.startsWith('conf:')) {
      node.confPendingAt = e.index
    } else if (e.data.length > 0) {
      if (node.econ !== undefined && e.text.startsWith(ECON_PREFIX)) this.applyEcon(node, e)
      const res = node.kv.apply(e.index, e.data)
      if (res !== undefined) {
        const k = res.clientId - 1
        if (k >= 0 && k < this.firstApplied.length && this.firstApplied[k] === undefined) {
          this.firstApplied[k] = { time: this.now, ok: res.ok }
          // The attempt that got into the log was proposed then: the write takes effect no earlier.
          const sent = res.attempt !== undefined ? this.writeAttempts[k]?.[res.attempt] : undefined
          if (sent !== undefined) this.effectiveFrom[k] = sent
        }
        const key = `${res.clientId}:${res.seq}`
        const p = this.pending.get(key)
        if (p !== undefined && p.node === node.id) {
          this.pending.delete(key)
          p.entry.return = this.now
          p.entry.result = p.cmd.op === 'cas' && res.ok !== true ? 'failed' : 'ok'
        }
      }
    }
    if (e.index > this.committedEntries) this.committedEntries = e.index
  }

  private serveReads (node: SimNode): void {
    for (const reads of [this.pendingReads, this.ledgerReads]) {
      for (const [k, p] of reads) {
        if (p.node !== node.id || p.readAt === undefined || node.applied < p.readAt) continue
        reads.delete(k)
        p.entry.value = p.account !== undefined ? node.econ?.economy.account(p.account)?.free ?? 0 : node.kv.read(p.cmd.key)
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

  // ---------------------------------------------------------------- delivery and time

  private deliver (m: SimMessage): void {
    const node = this.node(m.to)
    if (node.raft === undefined) return
    this.trace.add(`recv ${m.describe}`)
    this.input(m.to, 'step', r => { r.step(m); return undefined })
  }

  /**
   * Hand node `to` a raw message as if it came off the wire, bypassing the network (the fuzzer's garbage
   * injection). The core must drop what is malformed or from a non-member; if it throws instead, that
   * is a `node-panic` violation.
   */
  inject (to: number, raw: unknown, describe: string): void {
    const node = this.node(to)
    if (node.raft === undefined) return
    this.trace.add(`inject ${to} ${describe}`)
    this.input(to, 'step (injected)', r => { r.step({ from: 0, to, kind: 'garbage', term: 0, describe, raw }); return undefined })
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
      this.deliver(d.msg)
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
        if (d !== undefined) this.deliver(d.msg)
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
      const s = n.raft?.status()
      if (s !== undefined && s.role === 'leader' && s.term > bestTerm) { best = n.id; bestTerm = s.term }
    }
    return best
  }

  view (node: SimNode): NodeView {
    const st = node.storage
    const s = node.raft?.status()
    const hs = st.hardState()
    return {
      id: node.id,
      crashed: s === undefined,
      role: s === undefined ? 'crashed' : s.role,
      term: s?.term ?? hs.term,
      vote: s?.vote ?? hs.vote,
      leader: s?.leader ?? 0,
      commit: s?.commit ?? hs.commit,
      applied: node.applied,
      firstIndex: st.firstIndex(),
      lastIndex: st.lastIndex(),
      termAt: i => st.termAt(i)
    }
  }

  views (): NodeView[] { return this.nodes.map(n => this.view(n)) }

  viewOf (id: number): NodeView { return this.view(this.node(id)) }

  nodeReport (id: number): NodeReport {
    const node = this.node(id)
    const v = this.view(node)
    let role = v.role as NodeReport['role']
    if (role === 'follower' && node.learners.includes(id)) role = 'learner'
    const st = node.storage
    const log: Array<[number, number, string]> = st.lastIndex() >= st.firstIndex() ? st.entries(st.firstIndex(), st.lastIndex()).map(e => [e.index, e.term, e.text]) : []
    return { role, term: v.term, vote: v.vote, leader: v.leader, log, commit: v.commit, applied: v.applied, firstIndex: v.firstIndex }
  }

  readStatesOf (id: number): Array<{ index: number, ctx: string }> { return this.node(id).readStates }
  configOf (id: number): { voters: number[], learners: number[] } { const n = this.node(id); return { voters: n.voters, learners: n.learners } }
  kvRead (id: number, key: string): KvScalar { return this.node(id).kv.read(key) }
  isCrashed (id: number): boolean { return this.node(id).crashed }
  appliedOf (id: number): number { return this.node(id).applied }

  get violations (): Violation[] { return this.checker.violations }
}
