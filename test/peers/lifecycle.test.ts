/**
 * Life cycle of the peer's services (helper and rules: test/helpers/lifecycle.ts). Each row builds its
 * service afresh on real components: peer A's libp2p node (memory transport, started, its own sync
 * engine left stopped), replica and registry, connected to peer B, a whole started peer.
 *
 * To add a service, add a row to SERVICES.
 */
import { describe, expect, it } from 'vitest'
import { createPeer } from '../../peers/peer.js'
import type { Peer } from '../../peers/peer.js'
import { resolvePeerOptions } from '../../peers/options.js'
import { SyncHealthTable } from '../../peers/sync/health.js'
import { DEFAULT_MESH } from '../../peers/sync/constants.js'
import { createMembership, DEFAULT_CONNECTIONS_TARGET, memberProtocol } from '../../peers/sync/membership/index.js'
import type { Membership } from '../../peers/sync/membership/index.js'
import { createAntiEntropy, DEFAULT_ANTI_ENTROPY_INTERVAL_MS, DEFAULT_SYNC_CONCURRENCY_MAX, DEFAULT_SYNC_TIMEOUT_MS } from '../../peers/sync/anti-entropy/index.js'
import type { AntiEntropy } from '../../peers/sync/anti-entropy/index.js'
import { createGossip } from '../../peers/sync/gossip/index.js'
import { createLiveness, DEFAULT_HEARTBEAT_INTERVAL_MS, DEFAULT_LEASE_HEARTBEATS } from '../../peers/sync/liveness/index.js'
import { DEFAULT_HLC_DRIFT_MS_MAX, DEFAULT_HOSTS_MAX } from '../../peers/sync/liveness/constants.js'
import { createLogger } from '../../src/base/log.js'
import { RaftService, type RaftServiceComponents } from '../../peers/raft/service.js'
import { PeerEconomy, auctionProtocol } from '../../peers/economy/economy.js'
import { PeerAgents, agentsProtocol } from '../../peers/agents/service.js'
import { Channel } from '../../peers/agents/channel.js'
import { PeerCoordination } from '../../peers/coordination/service.js'
import { memberBackend } from '../../peers/coordination/backend.js'
import { PeerOrchestration } from '../../peers/orchestration/service.js'
import { PeerBudgets, memberBudgetBackend } from '../../peers/budget/index.js'
import { StrongVariables, serviceBackend } from '../../peers/raft/strong-variables.js'
import { PeerHealth } from '../../peers/health/service.js'
import { resolveAlertOptions } from '../../peers/health/alerts.js'
import { PeerHeals } from '../../peers/health/heals.js'
import { describeLifecycle, lifecycleCase } from '../helpers/lifecycle.js'
import type { LifecycleFixture } from '../helpers/lifecycle.js'
import { waitUntil } from '../helpers/wait.js'
import { FAST } from '../mesh/helpers.js'

interface Ctx {
  /** The node the services run on (its own sync engine is not started). */
  a: Peer
  /** A started peer connected to A: a mesh member to sync, gossip and beat with. */
  b: Peer
  /** A started membership of A (B is a member) for the rows' companions: part of every baseline. */
  members: Membership
  health: SyncHealthTable
}

/** Heartbeat period of B and of the liveness row; anti-entropy period of its row (ms). */
const TICK_MS = 20

const logger = createLogger('silent', 'lifecycle')
const REGISTRY_EVENTS = ['agent:joined', 'agent:updated', 'agent:left'] as const
const NODE_EVENTS = ['peer:identify', 'peer:disconnect', 'peer:discovery', 'peer:connect', 'connection:open', 'connection:close'] as const

const fixture: LifecycleFixture<Ctx> = {
  setup: async () => {
    const b = await createPeer({ transports: ['memory'], dht: false, ...FAST, heartbeatIntervalMs: TICK_MS })
    const a = await createPeer({ transports: ['memory'], dht: false, start: false, ...FAST })
    await a.libp2p.start()
    await a.libp2p.dial(b.libp2p.getMultiaddrs()[0]!)
    await waitUntil(async () => (await a.libp2p.peerStore.get(b.libp2p.peerId)).protocols.includes(memberProtocol(DEFAULT_MESH)), 'A to identify B')
    const health = new SyncHealthTable({ hostsMax: a.options.limits.hostsMax })
    const members = createMembership({ node: a.libp2p, health, gate: { denies: () => false }, logger })
    await members.start()
    members.adoptExistingConnections()
    await waitUntil(() => members.isMember(b.id), 'B to be a member')
    return { a, b, members, health }
  },
  teardown: async ({ a, b, members }) => {
    await members.stop()
    await b.stop()
    await a.libp2p.stop()
  },
  // B beats every TICK_MS: five of its heartbeats outlast several ticks of a row's timers.
  elapse: async ({ b }) => {
    const n = b.stats().sync.heartbeatsSent
    await waitUntil(() => b.stats().sync.heartbeatsSent >= n + 5, 'B to send five heartbeats')
  },
  footprint: ({ a }) => {
    const pubsub = a.libp2p.services.pubsub
    return {
      protocols: a.libp2p.getProtocols().sort(),
      topics: pubsub.getTopics().sort(),
      validators: [...pubsub.topicValidators.keys()].sort(),
      listeners: Object.fromEntries(NODE_EVENTS.map(e => [e, a.libp2p.listenerCount(e)])),
      registryListeners: Object.fromEntries(REGISTRY_EVENTS.map(e => [e, a.registry.listenerCount(e)]))
    }
  }
}

/** A one-voter Raft group of A alone, in memory (a restart resumes the same driver). */
function raftOf ({ a }: Ctx): RaftService {
  return new RaftService({
    libp2p: a.libp2p,
    mesh: a.options.mesh,
    db: () => undefined,
    members: () => [],
    onMemberJoined: () => () => {},
    hosts: () => [],
    signer: (a as unknown as { signer: RaftServiceComponents['signer'] }).signer,
    verify: (a as unknown as { verify: RaftServiceComponents['verify'] }).verify,
    log: logger
  }, { voters: [a.id], tickMs: 10, electionTick: 3 })
}

/** A fresh membership service of A (not started). */
function membershipOf ({ a }: Ctx): Membership {
  return createMembership({ node: a.libp2p, health: new SyncHealthTable({ hostsMax: a.options.limits.hostsMax }), gate: { denies: () => false }, logger })
}

/** A fresh anti-entropy service of A (not started) following the fixture's membership. */
function antiEntropyOf ({ a, members, health }: Ctx): AntiEntropy {
  return createAntiEntropy({ node: a.libp2p, replica: a.replica, membership: members, health, logger }, { antiEntropyIntervalMs: TICK_MS })
}

let bumps = 0

const SERVICES = [
  lifecycleCase({
    name: 'membership',
    create: (ctx: Ctx) => membershipOf(ctx),
    works: async ({ b }, membership) => {
      membership.adoptExistingConnections()
      await waitUntil(() => membership.isMember(b.id), 'B to be a member')
      expect(membership.connectedMembers()).toEqual([b.id])
    }
  }),
  lifecycleCase({
    name: 'anti-entropy',
    // B is a member: the timer starts an exchange with it every TICK_MS.
    create: (ctx: Ctx) => antiEntropyOf(ctx),
    activity: (_ctx, antiEntropy) => antiEntropy.stats.syncStarted,
    works: async ({ b }, antiEntropy) => {
      const before = antiEntropy.stats.syncCompleted
      await antiEntropy.syncNow(b.id)
      expect(antiEntropy.stats.syncCompleted).toBe(before + 1)
      expect(antiEntropy.health().find(h => h.peerId === b.id)?.lastSyncAt).toBeDefined()
    }
  }),
  lifecycleCase({
    name: 'gossip',
    create: (ctx: Ctx) => createGossip({ pubsub: ctx.a.libp2p.services.pubsub, replica: ctx.a.replica, membership: ctx.members, antiEntropy: antiEntropyOf(ctx), logger }),
    works: async ({ a, b }, gossip) => {
      const heard = (): number => b.stats().sync.gossipApplied + b.stats().sync.gossipPending + b.stats().sync.gossipDuplicates
      const before = heard()
      const blob = a.replica.transact('var', (doc) => { doc.getMap('lifecycle-test').set('n', ++bumps) })!
      gossip.publish(blob)
      expect(gossip.stats.gossipPublished).toBeGreaterThan(0)
      await waitUntil(() => heard() > before, 'B to receive the update over gossip')
    }
  }),
  lifecycleCase({
    name: 'liveness',
    create: (ctx: Ctx) => createLiveness({
      pubsub: ctx.a.sealed,
      node: ctx.a.libp2p,
      replica: ctx.a.replica,
      registry: ctx.a.registry,
      membership: ctx.members,
      antiEntropy: antiEntropyOf(ctx),
      health: ctx.health,
      logger
    }, { heartbeatIntervalMs: TICK_MS }),
    activity: (_ctx, liveness) => liveness.stats.heartbeatsSent,
    works: async ({ b }, liveness) => {
      const sent = liveness.stats.heartbeatsSent
      const received = b.stats().sync.heartbeatsReceived
      await waitUntil(() => liveness.stats.heartbeatsSent >= sent + 2, 'heartbeats to be sent')
      await waitUntil(() => b.stats().sync.heartbeatsReceived > received, 'B to hear a heartbeat')
    }
  }),
  lifecycleCase({
    name: 'raft',
    // A one-voter group of A alone, in memory: a restart resumes the same driver.
    create: (ctx: Ctx) => raftOf(ctx),
    works: async (_ctx, raft) => {
      await waitUntil(() => raft.status().role === 'leader', 'the one voter to lead')
      const { result } = await raft.propose(new TextEncoder().encode(JSON.stringify({ op: 'set', name: 'life', value: String(++bumps) })))
      expect(result).toMatchObject({ ok: true })
      await raft.readBarrier()
      expect(raft.app?.strong.get('life')).toBe(String(bumps))
    }
  }),
  lifecycleCase({
    name: 'coordination',
    // Coordination on A's own one-voter group: the pair starts and stops together (coordination last up, first down).
    create: (ctx: Ctx) => {
      const raft = raftOf(ctx)
      const coordination = new PeerCoordination({ self: ctx.a.id, log: logger, lookup: () => undefined, query: () => ({ agents: [] }) })
      coordination.setBackend(memberBackend(raft))
      return {
        coordination,
        start: async () => { await raft.start(); coordination.start() },
        stop: async () => { await coordination.stop(); await raft.stop() }
      }
    },
    works: async (_ctx, s) => {
      const lock = await s.coordination.lock('life', { ttlMs: 1000 })
      expect(await s.coordination.tryLock('life', { ttlMs: 1000 })).toBeNull()
      await lock.release()
      expect(lock.signal.aborted).toBe(true)
      const again = await s.coordination.tryLock('life', { ttlMs: 1000 })
      expect(again?.token).toBeGreaterThan(lock.token)
      await again!.release()
    }
  }),
  lifecycleCase({
    name: 'agents',
    // The agents' channel, which also carries the economy's auction frames (served under both protocol ids).
    create: ({ a }: Ctx) => {
      let agents: PeerAgents | undefined
      const economy = new PeerEconomy({ ask: async (host, f, ms) => await agents!.ask(host, f, ms), self: a.id, log: logger, query: () => ({ agents: [] }), lookup: () => undefined, claims: () => [], isMember: () => false })
      const coordination = new PeerCoordination({ self: a.id, log: logger, lookup: () => undefined, query: () => ({ agents: [] }) })
      agents = new PeerAgents({ node: a.libp2p, mesh: a.options.mesh, self: a.id, log: logger, lookup: () => undefined, query: () => ({ agents: [] }), claims: () => [], lookupWith: () => undefined, economy, coordination })
      agents.handle('life-agent', { onRequest: (p) => p })
      return agents
    },
    works: async ({ a, b }) => {
      expect(a.libp2p.getProtocols()).toContain(auctionProtocol(a.options.mesh))
      expect(a.libp2p.getProtocols()).toContain(agentsProtocol(a.options.mesh))
      const stream = await b.libp2p.dialProtocol(a.libp2p.peerId, agentsProtocol(a.options.mesh))
      const channel = new Channel(stream)
      expect(await channel.request({ t: 'request', to: 'life-agent', body: ++bumps, ms: 5000 }, 5000)).toEqual({ ok: true, outcome: 'reply', value: bumps })
      channel.close()
    }
  }),
  lifecycleCase({
    name: 'health',
    // The health monitor: evaluates every TICK_MS and exchanges reachability views with B.
    create: ({ a, health }: Ctx) => new PeerHealth({
      pubsub: a.sealed,
      self: a.id,
      logger,
      leases: a.registry.leases,
      sync: health,
      agentsOf: (host) => a.registry.index.ofHost(host).size,
      localLoad: () => 0,
      raft: () => undefined
    }, { heartbeatIntervalMs: TICK_MS, alerts: resolveAlertOptions({}) }),
    activity: (_ctx, monitor) => monitor.stats.evaluations,
    works: async ({ a, b }, monitor) => {
      const sent = monitor.views.stats.viewsSent
      await waitUntil(() => monitor.views.get(b.id), 'B\'s view to reach A')
      await waitUntil(() => monitor.views.stats.viewsSent > sent && b.monitor.views.get(a.id) !== undefined, 'A\'s view to reach B')
      expect(monitor.report().peerId).toBe(a.id)
    }
  }),
  lifecycleCase({
    name: 'orchestration',
    // Orchestrated variables on A's own one-voter group and coordination (orchestration last up, first down).
    create: (ctx: Ctx) => {
      const raft = raftOf(ctx)
      const coordination = new PeerCoordination({ self: ctx.a.id, log: logger, lookup: () => undefined, query: () => ({ agents: [] }) })
      coordination.setBackend(memberBackend(raft))
      const strong = new StrongVariables(serviceBackend(raft))
      const orchestration = new PeerOrchestration({ self: ctx.a.id, log: logger, strong: (key) => strong.get(key), coordination, registry: ctx.a.registry, agents: () => undefined, tasks: () => undefined })
      const variable = orchestration.variable<number>('life', { affects: { capability: 'life' }, initial: 1, pollMs: 20 })
      return {
        variable,
        start: async () => { await raft.start(); coordination.start(); orchestration.start() },
        stop: async () => { await orchestration.stop(); await coordination.stop(); await raft.stop() }
      }
    },
    works: async (_ctx, s) => {
      await waitUntil(() => s.variable.isOwner, 'A to own the variable')
      const version = await s.variable.set(++bumps + 1)
      await waitUntil(async () => (await s.variable.history()).some(e => e.kind === 'coordination' && e.version === version), 'the coordination of the new value')
    }
  }),
  lifecycleCase({
    name: 'budgets',
    // Mesh-wide budgets on A's own one-voter group and coordination (budgets last up, first down).
    create: (ctx: Ctx) => {
      const raft = raftOf(ctx)
      const coordination = new PeerCoordination({ self: ctx.a.id, log: logger, lookup: () => undefined, query: () => ({ agents: [] }) })
      coordination.setBackend(memberBackend(raft))
      const budgets = new PeerBudgets({ self: ctx.a.id, log: logger, coordination })
      budgets.setBackend(memberBudgetBackend(raft))
      return {
        budgets,
        start: async () => { await raft.start(); coordination.start(); budgets.start() },
        stop: async () => { budgets.stop(); await coordination.stop(); await raft.stop() }
      }
    },
    works: async (_ctx, s) => {
      await s.budgets.define('life', { ratePerSecond: 1000, burst: 10 })
      expect(await s.budgets.join('life', { capacity: 1 })).toMatchObject({ state: 'active', share: { ratePerSecond: 1000, burst: 10 } })
      await waitUntil(() => s.budgets.tryTake('life').ok, 'a token of the budget')
    }
  })
]

SERVICES.push(lifecycleCase({
  name: 'heals',
  // Partition episodes from A's lease table: a host made unreachable by hand, then heard again.
  create: ({ a }: Ctx) => new PeerHeals({
    self: a.id,
    registry: a.registry,
    variables: a.variables,
    replica: a.replica,
    syncHealth: () => [],
    raft: () => undefined,
    economy: a.economy,
    tasks: a.tasks,
    log: logger
  }, { pollMs: TICK_MS, catchUpMsMax: 1 }),
  activity: (_ctx, heals) => heals.stats.polls,
  works: async ({ a }, heals) => {
    const host = `lifecycle-host-${++bumps}`
    const reports = heals.list().length
    a.registry.leases.heard(host)
    const polls = heals.stats.polls
    await waitUntil(() => heals.stats.polls > polls, 'a poll that sees the host alive')
    a.registry.leases.get(host)!.status = 'unreachable'
    await waitUntil(() => heals.open, 'the episode to open')
    a.registry.heard(host)
    await waitUntil(() => heals.list().length > reports, 'the heal report')
    expect(heals.list()[0]).toMatchObject({ peer: a.id, sides: { other: { hosts: [host], count: 1 } }, caughtUp: false })
  }
}))

describeLifecycle('service life cycle', fixture, SERVICES)

describe('sync service defaults', () => {
  it('are the peer options\' defaults', () => {
    const o = resolvePeerOptions({})
    expect({
      mesh: DEFAULT_MESH,
      connectionsTarget: DEFAULT_CONNECTIONS_TARGET,
      antiEntropyIntervalMs: DEFAULT_ANTI_ENTROPY_INTERVAL_MS,
      syncTimeoutMs: DEFAULT_SYNC_TIMEOUT_MS,
      syncConcurrencyMax: DEFAULT_SYNC_CONCURRENCY_MAX,
      heartbeatIntervalMs: DEFAULT_HEARTBEAT_INTERVAL_MS,
      leaseMs: DEFAULT_LEASE_HEARTBEATS * DEFAULT_HEARTBEAT_INTERVAL_MS,
      hostsMax: DEFAULT_HOSTS_MAX,
      hlcDriftMsMax: DEFAULT_HLC_DRIFT_MS_MAX
    }).toEqual({
      mesh: o.mesh,
      connectionsTarget: o.connectionsTarget,
      antiEntropyIntervalMs: o.antiEntropyIntervalMs,
      syncTimeoutMs: o.syncTimeoutMs,
      syncConcurrencyMax: o.syncConcurrencyMax,
      heartbeatIntervalMs: o.heartbeatIntervalMs,
      leaseMs: o.leaseMs,
      hostsMax: o.limits.hostsMax,
      hlcDriftMsMax: o.limits.hlcDriftMsMax
    })
  })
})
