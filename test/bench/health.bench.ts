/**
 * The mesh health report of a 100-peer mesh (FEATURES I3; target in brackets): `peer.health()`'s work,
 * computed by the health monitor from real components built in one process, p50/p99 [<= 5 ms]:
 *  - a lease table of 100 hosts (this peer and 99 others; 3 of them silent for 2.5 heartbeat periods, 2
 *    whose lease expired), a sync health table of the 99 (connected, some lagging), an agent index of
 *    10,000 agents across the 100 hosts, a 5-voter Raft status (this peer leads) with the leader's match indexes, a
 *    reachability view received (through the view topic's validator) from each of the 99, latency
 *    recorders holding 10,000 samples each, and 10 breakers from the optional source;
 *  - `evaluate()`: the report plus the alert tracker and the view to publish (what runs every heartbeat);
 *  - `record()` of a latency sample (what every Raft commit and agent request pays).
 * Wall-time percentiles of a busy machine carry its preemptions; `reportCpuMeanMs` is CPU time per report.
 *
 * BENCH_HEALTH_PEERS (default 100), BENCH_HEALTH_AGENTS (default 10000) and BENCH_HEALTH_ROUNDS (default
 * 2000) change the sizes.
 */
import { TopicValidatorResult } from '@libp2p/gossipsub'
import { LeaseTable } from '../../crdt/liveness.js'
import { AgentIndex } from '../../crdt/agent-index.js'
import { AgentRecord } from '../../crdt/agent-view.js'
import { DEFAULT_LIMITS } from '../../crdt/limits.js'
import { SyncHealthTable } from '../../peers/sync/health.js'
import { PeerHealth } from '../../peers/health/service.js'
import { resolveAlertOptions } from '../../peers/health/alerts.js'
import { encodeView, viewTopic } from '../../peers/health/view.js'
import { createLogger } from '../../src/base/log.js'
import { createRand } from '../../src/base/prng.js'
import type { PeerRaftStatus } from '../../peers/raft/service.js'
import { pct, round } from './figures.js'

export const name = 'health'

const PEERS = Number(process.env.BENCH_HEALTH_PEERS ?? 100)
const AGENTS = Number(process.env.BENCH_HEALTH_AGENTS ?? 10_000)
const ROUNDS = Number(process.env.BENCH_HEALTH_ROUNDS ?? 2000)
const HEARTBEAT_MS = 1000
const B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'

export default async function (): Promise<Record<string, unknown>> {
  const rand = createRand(7)
  const ids = Array.from({ length: PEERS }, () => '12D3KooW' + Array.from({ length: 44 }, () => B58[rand.int(B58.length)]).join(''))
  const self = ids[0]!
  let now = 1_000_000_000
  const clock = (): number => now
  const leases = new LeaseTable(self, { leaseMs: 3 * HEARTBEAT_MS, pruneAfterMs: 30 * HEARTBEAT_MS, prunedHostsMax: 4096 }, clock)
  const sync = new SyncHealthTable({ hostsMax: 4096 })
  // Hosts 1..3 silent for 2.5 periods (suspected), 4..5 for 4 periods (lease expired after the sweep).
  const silentFor = (i: number): number => i >= 1 && i <= 3 ? 2.5 * HEARTBEAT_MS : i >= 4 && i <= 5 ? 4 * HEARTBEAT_MS : 200
  for (let i = 1; i < PEERS; i++) {
    now = 1_000_000_000 - silentFor(i)
    leases.heard(ids[i]!, { load: 0.8 * rand.next(), rttMs: 1 + rand.next() * 5 })
    const s = sync.get(ids[i]!)
    s.health.connected = i > 5
    s.health.lastHeartbeatAt = now
    s.health.lastSyncAt = now - 5000
    if (i % 10 === 0) { s.health.lag = 3; s.lagSince = now - 800 }
  }
  now = 1_000_000_000
  leases.sweep()
  const index = new AgentIndex({ queryResultsMax: DEFAULT_LIMITS.queryResultsMax, whereClausesMax: DEFAULT_LIMITS.whereClausesMax })
  for (let k = 0; k < AGENTS; k++) {
    const host = ids[k % PEERS]!
    index.upsert(new AgentRecord(`agent-${k}`, { capabilities: [`cap-${k % 50}`], resources: {}, health: 'healthy', metadata: {}, load: rand.next(), updatedAt: now }, leases.state(host)))
  }
  const voters = [0, 10, 20, 30, 40].map(k => ids[k]!)
  const status: PeerRaftStatus = { role: 'leader', term: 7, leader: self, commit: 10_000, applied: 10_000, voters, learners: [] }
  const match = new Map(voters.map((v, k) => [v, 10_000 - k]))
  const validators = new Map<string, (peer: unknown, msg: unknown) => TopicValidatorResult>()
  const monitor = new PeerHealth({
    pubsub: { topicValidators: validators as never, subscribe: () => {}, unsubscribe: () => {}, publish: async () => ({ recipients: [] }) as never },
    self,
    logger: createLogger('silent', 'bench'),
    leases,
    sync,
    agentsOf: (host) => index.ofHost(host).size,
    localLoad: () => 0.3,
    raft: () => ({ status: () => status, progress: () => match })
  }, { heartbeatIntervalMs: HEARTBEAT_MS, leaseMs: 3 * HEARTBEAT_MS, alerts: resolveAlertOptions({}) }, clock)
  monitor.sources = { breakers: () => Array.from({ length: 10 }, (_, k) => ({ key: `agent-${k}`, state: k < 2 ? 'open' as const : 'closed' as const, failures: k })) }
  await monitor.views.start()
  const validate = validators.get(viewTopic('agora'))!
  // Every reachable host's view: the five silent ones.
  const silentIds = ids.slice(1, 6).sort()
  for (let i = 6; i < PEERS; i++) {
    const from = ids[i]!
    const r = validate(undefined, { topic: viewTopic('agora'), from, data: encodeView({ sentAtMs: now - 100, reached: PEERS - 6, silentTotal: 5, silent: silentIds }) })
    if (r !== TopicValidatorResult.Accept) throw new Error(`view of ${from} not accepted: ${r}`)
  }
  for (let k = 0; k < 10_000; k++) {
    monitor.latency.raftCommit.record(0.5 + rand.next() * 4)
    monitor.latency.agentRequest.record(0.2 + rand.next() * 10)
  }

  const time = (fn: () => unknown): number[] => {
    for (let k = 0; k < 1000; k++) fn() // warm-up (JIT)
    const xs: number[] = []
    for (let k = 0; k < ROUNDS; k++) {
      const t0 = performance.now()
      fn()
      xs.push(performance.now() - t0)
    }
    return xs
  }
  const report = monitor.report()
  const cpu0 = process.cpuUsage()
  const reportMs = time(() => monitor.report())
  const cpu = process.cpuUsage(cpu0)
  // CPU time per report (this thread and GC helpers), less sensitive than wall time to a loaded machine.
  const reportCpuMeanMs = (cpu.user + cpu.system) / 1000 / ROUNDS
  const evaluateMs = time(() => monitor.evaluate())
  const N = 1_000_000
  const t0 = performance.now()
  for (let k = 0; k < N; k++) monitor.latency.agentMessage.record((k % 1000) / 10)
  const recordNs = ((performance.now() - t0) * 1e6) / N
  await monitor.views.stop()
  const dist = (xs: number[]): Record<string, number> => ({ p50: round(pct(xs, 0.5), 4), p99: round(pct(xs, 0.99), 4), max: round(Math.max(...xs), 4) })
  return {
    peers: PEERS,
    agents: AGENTS,
    rounds: ROUNDS,
    reportMs: dist(reportMs),
    reportCpuMeanMs: round(reportCpuMeanMs, 4),
    evaluateMs: dist(evaluateMs),
    targetMs: 5,
    latencyRecordNs: round(recordNs, 1),
    report: { status: report.status, reasons: report.reasons.map(r => r.name), peers: report.peers, partitions: report.partitions.map(p => ({ peers: p.peers.length, confirmedBy: p.confirmedBy.length })), hostsListed: report.hosts.length, agents: report.load.agents, raftQuorum: report.raft?.quorum }
  }
}
