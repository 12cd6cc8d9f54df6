/**
 * A peer of the mesh (O4): a libp2p node, the replica of every host's documents, the agent registry and
 * the eventual variables materialised from it, the sync engine that keeps it converged, and (with a
 * data dir) its identity and state on disk. Create one with {@link createPeer}.
 */
import { join } from 'node:path'
import { mkdir } from 'node:fs/promises'
import { ClassicLevel } from 'classic-level'
import { AgoraError, NotStartedError, TimeoutError } from '../src/base/errors.js'
import { TypedEmitter } from '../src/base/events.js'
import { createLogger, defaultLogFormat } from '../src/base/log.js'
import type { Logger } from '../src/base/log.js'
import { LeaseTable } from '../crdt/liveness.js'
import { ReplicatedRegistry } from '../crdt/registry.js'
import { Replica } from '../crdt/replica.js'
import { VariableStore } from '../crdt/variables.js'
import type { HostUsage, ReplicaStats } from '../crdt/replica.js'
import type { RegistryStats } from '../crdt/registry.js'
import type { VariableStats } from '../crdt/variables.js'
import { DocStore } from './doc-store.js'
import { createSigner, createVerifier, loadOrCreateIdentity } from './keys.js'
import { GossipSeal, sealedPubsub } from './seal.js'
import type { SealStats, SealedPubsub } from './seal.js'
import type { Signer, Verifier } from '../crdt/signing.js'
import { PeerGate, createNode } from './node.js'
import type { AgoraLibp2p } from './node.js'
import { resolvePeerOptions } from './options.js'
import type { PeerOptions, ResolvedPeerOptions } from './options.js'
import { SyncEngine } from './sync/index.js'
import { StrongVariables, remoteBackend, serviceBackend } from './raft/strong-variables.js'
import { PeerEconomy } from './economy/economy.js'
import { PeerAgents } from './agents/service.js'
import { PeerTasks } from './tasks/service.js'
import { clientTasksBackend, memberTasksBackend } from './tasks/backend.js'
import { PeerCoordination } from './coordination/service.js'
import { clientBackend, memberBackend } from './coordination/backend.js'
import { PeerBudgets, clientBudgetBackend, memberBudgetBackend } from './budget/index.js'
import { RaftClient } from './raft/client.js'
import { RaftService } from './raft/service.js'
import type { StrongVariable } from './raft/strong-variables.js'
import { PeerOrchestration } from './orchestration/service.js'
import { PeerChecks } from './checks/service.js'
import type { OrchestratedOptions, OrchestratedVariable } from './orchestration/variable.js'
import type { PeerSyncHealth, SyncEventMap, SyncStats } from './sync/index.js'
import { PeerHealth } from './health/service.js'
import type { PeerHealthEvents } from './health/service.js'
import { resolveAlertOptions } from './health/alerts.js'
import type { HealthReport } from './health/report.js'
import { PeerRateLimits } from './protect/limits.js'
import { resolveBreaker, resolveRateLimits } from './protect/options.js'
import { PeerHeals } from './health/heals.js'
import type { HealReport } from './health/heals.js'

export interface PeerEventMap extends SyncEventMap, PeerHealthEvents {
  'peer:started': { peerId: string, addresses: string[] }
  'peer:stopped': { peerId: string }
  'connection:opened': { peerId: string }
  'connection:closed': { peerId: string }
  /** A partition episode healed: what it did, seen from this peer (peers/health/heals.ts). */
  'heal:reported': HealReport
}

export interface PeerStats {
  replica: ReplicaStats
  registry: RegistryStats
  variables: VariableStats
  sync: SyncStats
  agents: number
  hosts: number
  connections: number
  storeErrors: number
  /** Sealed gossip messages (heartbeats, views, notices, group messages: peers/seal.ts) sealed, opened and refused. */
  seal: SealStats
}

/** What this peer knows of one host (`peer.hostStatus(host)`): liveness, and what its documents take here. */
export interface PeerHostStatus extends HostUsage {
  /** The host's lease here: `alive`, `unreachable`, or `unknown` (never heard, or pruned). */
  status: 'alive' | 'unreachable' | 'unknown'
  /** Ms since this peer last heard the host, when known. */
  silentMs?: number
}

/** The peer's membership of the Raft group (`peer.raft`): see peers/raft/service.ts. */
export type PeerRaft = RaftService
export type { PeerRaftStatus, PeerRaftStats } from './raft/service.js'

/** `peer.variables`: eventual variables (CRDT) and strong variables (Raft). */
export type PeerVariables = VariableStore & {
  /** The strong variable `name` (linearizable; needs the peer to run Raft, else NoRaftError). */
  strong: <T = unknown>(name: string, options?: { initial?: T }) => StrongVariable<T>
  /** Declares the orchestrated variable `name` on this peer (FEATURES V3, peers/orchestration). */
  orchestrated: <T = unknown>(name: string, options: OrchestratedOptions<T>) => OrchestratedVariable<T>
}

export interface WhenSyncedOptions {
  /** Give up after this long (TimeoutError). Default 30000 ms. */
  timeoutMs?: number
  /**
   * Mesh members to be connected to first. Default: 1 if the peer has a bootstrap list, else 0.
   */
  peers?: number
}

/** Condition-polling period of {@link Peer.whenSynced}. */
const WHEN_SYNCED_POLL_MS = 20

export class Peer extends TypedEmitter<PeerEventMap> {
  /** This peer's id (a libp2p peer id; also the `host` of the agents it registers). */
  readonly id: string
  readonly options: ResolvedPeerOptions
  readonly registry: ReplicatedRegistry
  readonly variables: PeerVariables
  /** Raft membership, when the peer runs Raft (the `raft` option or {@link startRaft}). */
  raft: PeerRaft | undefined
  private strongVars: StrongVariables
  /** The mesh's ledger and auctions (FEATURES E1–E6): commands through Raft, bid requests to local agents. */
  readonly economy: PeerEconomy
  /** Leases, locks, elections, singletons, barriers and votes on the Raft group (peers/coordination). */
  readonly coordination: PeerCoordination
  /** Orchestrated variables declared on this peer (`peer.variables.orchestrated`). */
  readonly orchestration: PeerOrchestration
  /** The agents' request interface: handlers, requests, messages, named protocols, group topics (peers/agents). */
  readonly agents: PeerAgents
  /** Durable tasks on the Raft group: submit, assignment, work by the agents' onTask handlers (peers/tasks). */
  readonly tasks: PeerTasks
  /** Health checks of this peer's agents (TTL, HTTP), driving their registry health (peers/checks). */
  readonly checks: PeerChecks
  /** Mesh-wide budgets (FEATURES I2): split by capacity in Raft, this host's share enforced locally (peers/budget). */
  readonly budgets: PeerBudgets
  /** Partition episodes and their heal reports (peers/health/heals.ts): `list()` (= {@link heals}), `open`, `stats`. */
  readonly healReports: PeerHeals
  private raftOptions: NonNullable<ResolvedPeerOptions['raft']> | undefined
  private readonly signer: Signer
  private readonly verify: Verifier
  /** Gossipsub through the application seal: heartbeats, probe notices, views and group messages are signed by us, not by gossipsub. */
  readonly sealed: SealedPubsub
  private raftStarting: Promise<PeerRaft> | undefined
  readonly libp2p: AgoraLibp2p
  readonly log: Logger
  /** @internal */
  readonly replica: Replica
  /** @internal */
  readonly sync: SyncEngine
  /** The health monitor (peers/health): latency recorders, reachability views, alerts; `sources` wires breakers and rate limits. */
  readonly monitor: PeerHealth
  private readonly gate: PeerGate
  /** @internal The documents' store in the data dir, if any. */
  readonly store: DocStore | undefined
  private db: ClassicLevel<string, Uint8Array> | undefined
  private state: 'stopped' | 'starting' | 'started' | 'stopping' = 'stopped'
  private transition: Promise<void> = Promise.resolve()
  private readonly nodeListeners: Array<[string, (e: CustomEvent<any>) => void]> = []
  /** This peer's local rate limits (FEATURES I2, peers/protect/limits.ts): `states()` for what they hold and refused. */
  readonly rateLimits: PeerRateLimits

  /** @internal use {@link createPeer} */
  constructor (init: { options: ResolvedPeerOptions, node: AgoraLibp2p, gate: PeerGate, replica: Replica, registry: ReplicatedRegistry, variables: VariableStore, leases: LeaseTable, db: ClassicLevel<string, Uint8Array> | undefined, store: DocStore | undefined, log: Logger, signer: Signer, verify: Verifier, limits: PeerRateLimits }) {
    super()
    this.rateLimits = init.limits
    init.limits.peerProposalsRefused = () => this.raft?.networkStats().client?.rateLimited ?? 0
    const admit = (what: string): void => { init.limits.proposal(what) }
    this.options = init.options
    this.libp2p = init.node
    this.id = init.node.peerId.toString()
    this.gate = init.gate
    this.replica = init.replica
    this.registry = init.registry
    this.variables = Object.assign(init.variables, {
      strong: <T = unknown>(name: string, options: { initial?: T } = {}): StrongVariable<T> => this.strongVars.get<T>(name, options),
      orchestrated: <T = unknown>(name: string, options: OrchestratedOptions<T>): OrchestratedVariable<T> => this.orchestration.variable<T>(name, options)
    })
    this.raft = undefined
    // Outside the Raft group, strong variables and economy commands go to a connected member (the client path).
    this.signer = init.signer
    this.verify = init.verify
    this.sealed = sealedPubsub(init.node.services.pubsub, new GossipSeal(init.signer, init.verify), init.log.child('seal'))
    const client = new RaftClient(init.node, init.options.mesh, () => this.members(), undefined, init.signer)
    this.strongVars = new StrongVariables(remoteBackend(client), admit)
    this.economy = new PeerEconomy({
      ask: async (host, f, timeoutMs) => await this.agents.ask(host, f, timeoutMs),
      self: this.id,
      log: init.log.child('economy'),
      query: (q) => this.registry.query(q),
      lookup: (id) => this.registry.lookup(id),
      claims: (id) => this.registry.index.claims(id),
      isMember: (peerId) => {
        const st = this.raft?.status()
        return st !== undefined && (st.voters.includes(peerId) || st.learners.includes(peerId))
      },
      admit
    })
    this.economy.setBackend({
      propose: async (command) => await client.propose(command),
      read: async (name) => { const r = await client.read(name); return typeof r === 'string' ? r : undefined }
    })
    this.coordination = new PeerCoordination({
      self: this.id,
      log: init.log.child('coordination'),
      lookup: (id) => this.registry.lookup(id),
      query: (q) => this.registry.query(q),
      ask: async (host, req, timeoutMs) => await this.economy.askVote(host, req, timeoutMs),
      admit,
      ...(init.options.sessionLeaseTtlMs !== undefined ? { sessionTtlMs: init.options.sessionLeaseTtlMs } : {})
    })
    this.agents = new PeerAgents({
      node: init.node,
      pubsub: this.sealed,
      mesh: init.options.mesh,
      self: this.id,
      log: init.log.child('agents'),
      lookup: (id) => this.registry.lookup(id),
      query: (q) => this.registry.query(q),
      claims: (id) => this.registry.index.claims(id),
      lookupWith: (capability, strategy) => this.registry.lookupWith(capability, strategy),
      economy: this.economy,
      coordination: this.coordination,
      breaker: resolveBreaker(init.options.breaker),
      limits: init.limits
    })
    this.tasks = new PeerTasks({
      self: this.id,
      log: init.log.child('tasks'),
      agents: this.agents,
      coordination: this.coordination,
      economy: this.economy,
      lookup: (id) => this.registry.lookup(id),
      query: (q) => this.registry.query(q),
      isMember: (peerId) => {
        const st = this.raft?.status()
        return st !== undefined && (st.voters.includes(peerId) || st.learners.includes(peerId))
      },
      admit
    })
    this.tasks.setBackend(clientTasksBackend(client))
    this.checks = new PeerChecks({ registry: init.registry, log: init.log.child('checks') }, init.options.checks ?? {})
    this.coordination.setBackend(clientBackend(client))
    this.budgets = new PeerBudgets({ self: this.id, log: init.log.child('budgets'), coordination: this.coordination })
    this.budgets.setBackend(clientBudgetBackend(client))
    this.orchestration = new PeerOrchestration({
      self: this.id,
      log: init.log.child('orchestration'),
      strong: (key) => ({
        get: async (o) => await this.strongVars.get(key).get(o),
        compareAndSet: async (expected, value) => await this.strongVars.get(key).compareAndSet(expected, value),
        on: (type, fn) => this.raft?.on(type, fn) ?? (() => {})
      }),
      coordination: this.coordination,
      registry: this.registry,
      agents: () => this.agents,
      tasks: () => this.tasks
    })
    // Fenced eventual writes are checked against the newest token this peer's Raft replica knows (members).
    if (init.options.fenceFloor === undefined) this.variables.fenceFloor = (lock) => this.raft?.app?.coordination.newestToken(lock)
    this.economy.setVoteAnswer(async (vote, agent, openedIndex) => await this.coordination.answerVote(vote, agent, openedIndex))
    this.db = init.db
    this.store = init.store
    this.log = init.log
    this.sync = new SyncEngine({
      node: init.node,
      sealed: this.sealed,
      replica: init.replica,
      registry: init.registry,
      options: init.options,
      gate: init.gate,
      log: init.log.child('sync'),
      load: () => this.load(),
      signer: init.signer
    })
    for (const name of ['sync:completed', 'sync:failed', 'update:rejected', 'member:joined', 'member:left'] as const) {
      this.sync.on(name, (e) => this.emit(name, e as never))
    }
    this.monitor = new PeerHealth({
      pubsub: this.sealed,
      self: this.id,
      logger: init.log.child('health'),
      leases: init.leases,
      sync: this.sync.table,
      agentsOf: (host) => this.registry.index.countOfHost(host),
      localLoad: () => this.load(),
      raft: () => this.raft
    }, { mesh: init.options.mesh, heartbeatIntervalMs: init.options.heartbeatIntervalMs, leaseMs: init.options.leaseMs, hostsMax: init.options.limits.hostsMax, hlcDriftMsMax: init.options.limits.hlcDriftMsMax, alerts: resolveAlertOptions(init.options.alerts), viewScale: () => this.sync.liveness.detector?.viewScale() ?? 1 })
    for (const name of ['alert:raised', 'alert:cleared'] as const) this.monitor.on(name, (e) => this.emit(name, e as never))
    client.onCommitted = (ms) => { this.monitor.latency.raftCommit.record(ms) }
    this.monitor.sources = {
      breakers: () => this.agents.breakers().map(b => ({ key: b.agent, state: b.state, failures: b.failures, ...(b.state === 'open' ? { openUntil: Date.now() + b.retryAfterMs } : {}) })),
      rateLimits: () => this.rateLimits.recent()
    }
    // An agent gone from the registry (unregistered, its host pruned) takes its breaker with it: else an
    // open one would be listed, and keep the health report degraded, for as long as the peer runs.
    init.registry.on('agent:left', ({ agent }) => { if (init.registry.lookup(agent.id) === undefined) this.agents.guard.forget(agent.id) })
    this.agents.onCall = (kind, ms) => { (kind === 'request' ? this.monitor.latency.agentRequest : this.monitor.latency.agentMessage).record(ms) }
    this.healReports = new PeerHeals({
      self: this.id,
      registry: init.registry,
      variables: this.variables,
      replica: init.replica,
      syncHealth: () => this.sync.health(),
      raft: () => this.raft,
      economy: this.economy,
      tasks: this.tasks,
      log: init.log.child('heals')
    }, { pollMs: Math.max(20, Math.min(500, init.options.heartbeatIntervalMs)) })
    this.healReports.on('heal:reported', (r) => this.emit('heal:reported', r))
  }

  /** The load this peer reports in heartbeats: mean load of its agents that report one. */
  private load (): number {
    let sum = 0
    let n = 0
    for (const a of this.registry.index.ofHost(this.id)) {
      if (a.load !== undefined) { sum += a.load; n++ }
    }
    return n === 0 ? 0 : sum / n
  }

  get started (): boolean {
    return this.state === 'started'
  }

  /** Listen addresses with the peer id (dialable multiaddrs), once started. */
  addresses (): string[] {
    return this.libp2p.getMultiaddrs().map(m => m.toString())
  }

  /** Starts networking (idempotent; concurrent calls share one start). */
  async start (): Promise<void> {
    this.transition = this.transition.catch(() => {}).then(async () => {
      if (this.state === 'started') return
      this.state = 'starting'
      if (this.options.dataDir !== undefined && this.db === undefined) {
        this.db = await openDb(this.options.dataDir)
        this.store?.attach(this.db)
      }
      await this.libp2p.start()
      this.onNode('connection:open', (e) => this.emit('connection:opened', { peerId: (e.detail as { remotePeer: { toString: () => string } }).remotePeer.toString() }))
      this.onNode('connection:close', (e) => this.emit('connection:closed', { peerId: (e.detail as { remotePeer: { toString: () => string } }).remotePeer.toString() }))
      await this.sync.start()
      await this.monitor.start()
      await this.agents.start()
      this.sync.adoptExistingConnections()
      this.state = 'started'
      if (this.raft !== undefined) {
        await this.raft.start()
      } else if (this.raftOptions !== undefined) {
        await this.startRaft(this.raftOptions)
      }
      this.coordination.start()
      this.tasks.start()
      this.budgets.start()
      this.orchestration.start()
      this.checks.start()
      this.healReports.start()
      this.log.info('peer started', { peerId: this.id, addresses: this.addresses() })
      this.emit('peer:started', { peerId: this.id, addresses: this.addresses() })
    })
    await this.transition
  }

  /**
   * Stops networking and flushes storage (idempotent). The peer can be started again. By default it
   * first tells the mesh it is leaving (its agents show as unreachable at once); `leave: false` stops
   * silently, as a crash would look to the others.
   */
  async stop (options: { leave?: boolean } = {}): Promise<void> {
    this.transition = this.transition.catch(() => {}).then(async () => {
      if (this.state === 'stopped') return
      this.state = 'stopping'
      this.checks.stop()
      // Tell the mesh we leave, so our agents show as unreachable now rather than after our lease.
      if (options.leave !== false) await this.sync.announceLeaving()
      // A graceful stop frees this peer's locks at once (its leases revoked); a silent one lets them expire.
      this.tasks.stop()
      this.budgets.stop()
      await this.healReports.stop()
      await this.coordination.stop({ revoke: options.leave !== false })
      // After the leases: a silent stop must not resign the orchestrated variables' singletons either.
      await this.orchestration.stop()
      // With a data dir, the next start recovers Raft from disk; in memory, the same driver resumes.
      await this.raft?.stop()
      await this.economy.stopSolver()
      await this.sync.stop()
      await this.monitor.stop()
      await this.agents.stop()
      for (const [name, fn] of this.nodeListeners) this.libp2p.removeEventListener(name as 'peer:connect', fn as never)
      this.nodeListeners.length = 0
      await this.libp2p.stop()
      if (this.store !== undefined) await this.store.flush()
      if (this.db !== undefined) {
        await this.db.close()
        this.db = undefined
      }
      this.state = 'stopped'
      this.emit('peer:stopped', { peerId: this.id })
    })
    await this.transition
  }

  private onNode (name: string, fn: (e: CustomEvent<any>) => void): void {
    this.libp2p.addEventListener(name as 'peer:connect', fn as never)
    this.nodeListeners.push([name, fn])
  }

  /**
   * Resolves when this peer holds everything its connected mesh members hold: an anti-entropy exchange
   * completed with each since it connected, none is pending, and no heartbeat shows a lag. Rejects with
   * TimeoutError after `timeoutMs`.
   */
  async whenSynced (options: WhenSyncedOptions = {}): Promise<void> {
    if (this.state !== 'started' && this.state !== 'starting') throw new NotStartedError('peer')
    const timeoutMs = options.timeoutMs ?? 30_000
    const peers = options.peers ?? (this.options.bootstrap.length > 0 ? 1 : 0)
    const deadline = Date.now() + timeoutMs
    for (;;) {
      if (this.state === 'started' && this.sync.connectedMembers().length >= peers && this.sync.isSynced()) return
      if (Date.now() >= deadline) throw new TimeoutError('peer.whenSynced', timeoutMs)
      // Checked again after the poll period, or as soon as an exchange ends (once it has left its slot).
      await new Promise<void>(resolve => {
        const done = (): void => { clearTimeout(timer); off(); resolve() }
        const timer = setTimeout(done, WHEN_SYNCED_POLL_MS)
        const off = this.sync.on('sync:completed', () => { setImmediate(done) })
      })
    }
  }

  /** Runs one anti-entropy exchange with `peerId` and waits for it. */
  async syncWith (peerId: string): Promise<void> {
    if (this.state !== 'started') throw new NotStartedError('peer')
    await this.sync.syncNow(peerId)
  }

  /**
   * The mesh health report (FEATURES I3, peers/health/report.ts): hosts known, reachable, suspected,
   * unreachable; suspected partitions; the Raft group's quorum, leader and lag per member; sync lag;
   * coordination latency; load per host; breakers and rate limits; the overall status and its reasons;
   * the alerts raised.
   */
  health (): HealthReport {
    return this.monitor.report()
  }

  /** Sync health per known mesh member (R7). */
  syncHealth (): PeerSyncHealth[] {
    return this.sync.health()
  }

  /**
   * What this peer knows of `host`: its lease, the bytes its documents take here, and its quotas
   * (`overQuota`: a document went over `docBytesMax`, its later updates are refused until it compacts;
   * `rateLimited`: blobs refused for `hostUpdateBytesPerSecondMax` lately).
   */
  hostStatus (host: string): PeerHostStatus {
    const lease = this.registry.leases.get(host)
    return {
      ...this.replica.hostUsage(host),
      status: lease === undefined ? 'unknown' : lease.status,
      ...(lease !== undefined ? { silentMs: lease.silentMs() } : {})
    }
  }

  /**
   * The partition and heal reports this peer made, newest first (at most 32): what each healed partition
   * did, seen from this side (FEATURES I5; peers/README.md, "Partition and heal reports").
   */
  heals (): HealReport[] {
    return this.healReports.list()
  }

  /** Connected mesh members' peer ids. */
  members (): string[] {
    return this.sync.connectedMembers()
  }

  /** Dials a peer by multiaddr (with /p2p/<id>); `signal` aborts the dial. */
  async dial (addr: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.state !== 'started') throw new NotStartedError('peer')
    const { multiaddr } = await import('@multiformats/multiaddr')
    await this.libp2p.dial(multiaddr(addr), options.signal !== undefined ? { signal: options.signal } : {})
  }

  /**
   * Joins the mesh's Raft group: as a voter of a new group when `voters` (peer ids) lists this peer,
   * else as a member waiting to be added (learner). Resolves once the driver runs. Idempotent.
   */
  async startRaft (options: NonNullable<ResolvedPeerOptions['raft']> = {}): Promise<PeerRaft> {
    if (this.raft !== undefined) return this.raft
    if (this.raftStarting !== undefined) return await this.raftStarting
    this.raftStarting = this.doStartRaft(options).finally(() => { this.raftStarting = undefined })
    return await this.raftStarting
  }

  private async doStartRaft (options: NonNullable<ResolvedPeerOptions['raft']>): Promise<PeerRaft> {
    if (this.state !== 'started') throw new NotStartedError('peer')
    if (this.db === undefined && options.voters?.includes(this.id) === true) {
      this.log.warn('a Raft voter without a data dir forgets its term, vote and log when its process restarts; use a dataDir in production')
    }
    this.raftOptions = options
    const raft = new RaftService({
      libp2p: this.libp2p,
      mesh: this.options.mesh,
      db: () => this.db,
      members: () => this.members(),
      onMemberJoined: (fn) => this.sync.on('member:joined', ({ peerId }) => { fn(peerId) }),
      hosts: () => [...this.replica.all('reg')].map(d => d.host),
      signer: this.signer,
      verify: this.verify,
      log: this.log.child('raft'),
      clientQuota: clientQuotaOf(this.rateLimits.limits.peerProposals)
    }, options)
    this.economy.serveSolves(raft)
    await raft.start()
    raft.on('raft:committed', (e) => { this.monitor.latency.raftCommit.record(e.ms) })
    this.raft = raft
    this.strongVars = new StrongVariables(serviceBackend(raft), (what) => { this.rateLimits.proposal(what) })
    this.economy.setBackend({
      app: raft,
      propose: async (command) => await raft.propose(command),
      waitApplied: async (index, timeoutMs) => await raft.waitApplied(index, timeoutMs),
      read: async (name) => { await raft.readBarrier(); return raft.app?.read(name) },
      restored: (fn) => raft.on('raft:restored', fn)
    })
    this.coordination.setBackend(memberBackend(raft))
    this.tasks.setBackend(memberTasksBackend(raft))
    this.budgets.setBackend(memberBudgetBackend(raft))
    return raft
  }

  /** Refuses connections with these peers and closes the open ones (operator ban; partitions in tests). */
  async block (peerIds: Iterable<string>): Promise<void> {
    const { peerIdFromString } = await import('@libp2p/peer-id')
    const closing: Array<Promise<void>> = []
    for (const id of peerIds) {
      this.gate.blocked.add(id)
      if (this.state === 'started') closing.push(this.libp2p.hangUp(peerIdFromString(id)).catch(() => {}))
    }
    await Promise.all(closing)
  }

  /** Lifts a block. */
  unblock (peerIds: Iterable<string>): void {
    for (const id of peerIds) this.gate.blocked.delete(id)
  }

  stats (): PeerStats {
    return {
      replica: structuredClone(this.replica.stats),
      registry: { ...this.registry.stats },
      variables: { ...this.variables.stats },
      sync: { ...this.sync.stats },
      agents: this.registry.size,
      hosts: this.replica.countDocs('reg'),
      connections: this.libp2p.getConnections().length,
      storeErrors: this.store?.errors ?? 0,
      seal: { ...this.sealed.seal.stats }
    }
  }
}

/** The Raft client path's request quota from the `peerProposals` rate limit (false: unlimited). */
function clientQuotaOf (l: { ratePerSecond: number, burst: number } | false): { requestsPerSecond: number, requestsBurst: number } {
  return l === false ? { requestsPerSecond: Number.POSITIVE_INFINITY, requestsBurst: Number.POSITIVE_INFINITY } : { requestsPerSecond: l.ratePerSecond, requestsBurst: l.burst }
}

async function openDb (dataDir: string): Promise<ClassicLevel<string, Uint8Array>> {
  const path = join(dataDir, 'db')
  await mkdir(path, { recursive: true })
  const db = new ClassicLevel<string, Uint8Array>(path, { keyEncoding: 'utf8', valueEncoding: 'view' })
  try {
    await db.open()
  } catch (err) {
    throw new AgoraError('ERR_STORE_OPEN', `cannot open the peer's store at ${path}: ${(err as Error).message} (is another peer using this data dir?)`, { path })
  }
  return db
}

/**
 * Creates a peer. Options are validated (InvalidOptionError naming the bad option); with a `dataDir`,
 * the identity and every document are loaded from it and saved to it. Started unless `start: false`.
 */
export async function createPeer (options: PeerOptions = {}): Promise<Peer> {
  const o = resolvePeerOptions(options)
  const log = createLogger(o.logLevel, 'agora', undefined, undefined, o.logFormat ?? defaultLogFormat())
  const { key } = await loadOrCreateIdentity(o.dataDir)
  const gate = new PeerGate(o.allowlist)
  const node = await createNode({ options: o, privateKey: key, gate, gossipBytesMax: o.limits.updateBytesMax + 4096 })
  const id = node.peerId.toString()
  const plog = log.child('peer')
  const leases = new LeaseTable(id, { leaseMs: o.leaseMs, pruneAfterMs: o.pruneAfterMs, prunedHostsMax: o.limits.hostsMax }, Date.now)
  const signer = createSigner(id, key)
  const verify = createVerifier(o.limits.hostsMax)
  const replica = new Replica({
    signer,
    verify,
    mesh: o.mesh,
    limits: o.limits,
    log: (msg) => plog.debug(msg),
    acceptHost: (host) => leases.accepts(host)
  })
  // The sync engine is created inside the Peer; writes go to it once it exists.
  let peer: Peer | undefined
  const publish = (b: Parameters<SyncEngine['publish']>[0]): void => { peer?.sync.publish(b) }
  // With a data dir, a local write returns once it is on disk (the store batches concurrent writes).
  let storeRef: DocStore | undefined
  const durable = async (): Promise<void> => { await storeRef?.flush() }
  const limits = new PeerRateLimits(resolveRateLimits(o.rateLimits))
  const admitWrite = (n: number): void => { limits.write(n) }
  const registry = new ReplicatedRegistry({ replica, leases, publish, durable, admitWrite, later: setImmediate, ...(o.zone !== undefined ? { defaultZone: o.zone } : {}) })
  const variables = new VariableStore({ replica, publish, durable, admitWrite, log: (m) => plog.debug(m), ...(o.fenceFloor !== undefined ? { fenceFloor: o.fenceFloor } : {}) })

  let db: ClassicLevel<string, Uint8Array> | undefined
  let store: DocStore | undefined
  if (o.dataDir !== undefined) {
    db = await openDb(o.dataDir)
    store = new DocStore(db)
    storeRef = store
    store.onError = (err) => plog.error('store write failed', { error: (err as Error).message })
    const docs = await store.load()
    let restored = 0
    for (const blobs of docs) {
      try {
        replica.restore(blobs)
        restored++
      } catch (err) {
        plog.warn('a saved document failed to load; anti-entropy will fetch it again', { error: (err as Error).message })
      }
    }
    plog.debug('documents restored', { documents: restored })
    const s = store
    const prev = { cp: replica.hooks.onCheckpoint, up: replica.hooks.onUpdate, det: replica.hooks.onDocDetached }
    replica.hooks.onCheckpoint = (doc, cp, replaced) => { prev.cp?.(doc, cp, replaced); s.saveCheckpoint(doc, cp, replaced) }
    replica.hooks.onUpdate = (doc, u) => { prev.up?.(doc, u); s.saveUpdate(u) }
    replica.hooks.onDocDetached = (doc) => { prev.det?.(doc); s.removeDoc(doc.kind, doc.host) }
    // The local documents may be fresh (first start): make sure their checkpoints are on disk.
    for (const kind of ['reg', 'var'] as const) {
      const d = replica.local(kind)
      if (d.checkpoint !== undefined) s.saveCheckpoint(d, d.checkpoint, false)
    }
  }
  peer = new Peer({ options: o, node, gate, replica, registry, variables, leases, db, store, log, signer, verify, limits })
  if (o.start) {
    await peer.start()
    if (o.raft !== undefined) await peer.startRaft(o.raft)
  }
  return peer
}
