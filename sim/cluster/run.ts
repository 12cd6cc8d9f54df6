/**
 * One cluster run, driven from inside the switch namespace (see cli.ts): make the network, start the
 * peer processes, and measure, phase by phase:
 *
 * 1. formation: first process spawned → every peer sees every other peer `reachable` (GET /v1/members);
 * 2. link RTT: TCP handshakes between two peers' mesh addresses (the kernel's round trip, netem included),
 *    and the daemons' own RTT estimates;
 * 3. idle rates over a window: heartbeats and gossip messages per peer per second (GET /metrics), wire bytes
 *    per peer per second (the kernel's counters of the peer's mesh link), CPU and RSS (/proc/<pid>);
 * 4. write-to-visible: an eventual variable written on one peer's API, seen on every other's event stream;
 * 5. partition and heal: half the peers' links moved to another bridge; time until both sides see the
 *    other unreachable; one write on each side; heal; time until every peer holds both writes and sees
 *    every other reachable again;
 * 6. failover: SIGKILL of the Raft leader's process; time until a surviving voter leads and a strong write
 *    commits.
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { ClusterPhaseTimeoutError } from './errors.js'
import { linkOf } from './options.js'
import type { ClusterOptions } from './options.js'
import { median, metricSum, procSample, quantile, round } from './measure.js'
import { cleanupRun, createPeerNet, createSwitch, dataIf, describeShape, heal, inPool, meshAddr, NET_COMMANDS_CONCURRENCY_MAX, partition, peerNs, runDir, shapingMode, startShaper } from './net.js'
import type { ShapingMode } from './net.js'
import { P2P_PORT, api, bootstrapOf, follow, nodeBinary, preparePeer, startPeer } from './peers.js'
import type { PeerProcess, PeerSpec } from './peers.js'

/** Least poll period of the phases' conditions (see {@link pollMs}). */
export const POLL_MS = 500
/** Poll period added per peer: each poll asks every peer's API, so it is spaced as the mesh grows. */
export const POLL_MS_PER_PEER = 20
/** Requests to the peers' APIs in flight at once during a poll or a sample. */
export const API_CONCURRENCY_MAX = 16
/** After formation (every pair seen reachable once), how long the run waits for every pair reachable at once. */
export const STABLE_WAIT_MS = 60_000
/** Poll period of a run of `n` peers. */
export const pollMs = (n: number): number => Math.max(POLL_MS, POLL_MS_PER_PEER * n)
/** TCP handshakes timed by the RTT phase. */
export const RTT_SAMPLES = 5
/** Least bound of a side spreading its own write during a partition (plus 3 heartbeats). */
export const SIDE_WRITE_WAIT_MS = 10_000
/** Bound of one probe write becoming visible everywhere. */
export const WRITE_VISIBLE_TIMEOUT_MS = 30_000

export interface PerPeerRates {
  heartbeatsSentPerS: number
  heartbeatsReceivedPerS: number
  gossipMessagesPerS: number
  /** Heartbeat payload bytes sent + received (agora_heartbeat_bytes_total). */
  heartbeatBytesPerS: number
  /** Update payload bytes published + received (agora_gossip_bytes_total). */
  gossipBytesPerS: number
  /** Probe liveness (daemon `liveness: probe`): probe frames sent and received and membership notices sent and received (agora_liveness_probe_total); 0 in heartbeat mode. */
  probeMessagesPerS: number
  /** Their payload bytes (agora_liveness_probe_bytes_total). */
  probeBytesPerS: number
  /** Everything on the peer's mesh link, rx + tx (kernel counters): framing, gossipsub control, anti-entropy, Raft. */
  wireBytesPerS: number
  cpuPercent: number
}

export interface ClusterReport {
  run: string
  nodes: number
  voters: number
  link: { latencyMs: number, jitterMs: number, lossPercent: number, netem: string, mode: ShapingMode }
  heartbeatIntervalMs: number
  /** The extra daemon config keys of the run (`--daemon-json`), and the daemon build when not this one's. */
  daemonConfig: Record<string, unknown>
  daemonCli: string | null
  networkSetupMs: number
  /** First process spawned → all serving their API. */
  startMs: number
  /** First process spawned → every peer has seen every other reachable (in some poll: heard its heartbeats). */
  formMs: number
  /** Last process serving → formMs (formation without process start-up). */
  formAfterStartMs: number
  /**
   * First process spawned → every peer sees every other reachable in one poll; null when that did not
   * happen within {@link STABLE_WAIT_MS} after formMs (starved daemons' leases lapse now and then).
   */
  formAllAtOnceMs: number | null
  /** Pairs (of n × (n − 1)) seen reachable in the last poll of that wait: how steady the mesh was. */
  reachablePairsFraction: number
  /** Bootstrap peers of each peer (by number), as the harness gave them. */
  bootstrap: Record<string, number[]>
  /** Raft leader known on every voter, from the first spawn. */
  raftLeaderMs: number
  rtt: { tcpHandshakeP50Ms: number, tcpHandshakeMaxMs: number, daemonRttP50Ms: number | null }
  idle: {
    windowMs: number
    median: PerPeerRates
    max: PerPeerRates
    rssMbMedian: number
    rssMbMax: number
    rssMbTotal: number
    /** The daemons' own event-loop lag p99 (prom-client), median over peers: how starved they were. */
    eventLoopLagP99MsMedian: number
  }
  /** The machine's 1-minute load average when the run ended (it is shared). */
  loadAverage: number
  writes: { count: number, samples: number, p50Ms: number, p99Ms: number, maxMs: number, missing: number, gossipMessagesPerPeerPerS: number, gossipBytesPerPeerPerS: number, wireBytesPerPeerPerS: number }
  partition?: {
    sides: [number[], number[]]
    detectMs: number
    /** Peers of each side that held their side's write before the heal (its writer included). */
    sideWritesSeen: [number, number]
    healConverged: boolean
    /** Heal → every peer holds both writes and sees every other reachable; null when not within the phase bound. */
    healConvergeMs: number | null
    /** What was still missing when the bound ran out. */
    healLeft?: string
    unreachableSeenMin: number
  }
  failover?: { killedPeer: number, electMs: number, commitMs: number }
  /** The partition or failover phase that did not complete within its bound (the run exits 1 with this report). */
  failed?: { phase: string, message: string }
}

export interface RunHooks {
  log: (line: string) => void
  /** Called once every peer serves (the test uses it to kill the harness mid-run). */
  onStarted?: (peers: ReadonlyArray<{ i: number, pid: number }>) => void
}

const now = (): number => performance.now()
const pause = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

async function until<T> (phase: string, timeoutMs: number, cond: () => Promise<T | undefined>, detail: () => string, periodMs = POLL_MS): Promise<T> {
  const deadline = now() + timeoutMs
  for (;;) {
    const v = await cond().catch(() => undefined)
    if (v !== undefined) return v
    if (now() > deadline) throw new ClusterPhaseTimeoutError(phase, timeoutMs, detail())
    await pause(periodMs)
  }
}

/** `fn` over `items`, at most `limit` at once, results in order. */
async function mapPool<T, R> (items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length)
  await inPool(items.map((_, k) => k), limit, async (k) => { out[k] = await fn(items[k]!) })
  return out
}

interface Member { peerId: string, self: boolean, reachability: string, rttMs: number | null }

/** Runs one measured cluster; the network and processes are removed before it returns or throws. */
export async function runCluster (run: string, o: ClusterOptions, hooks: RunHooks, switchReady = false): Promise<ClusterReport> {
  const { log } = hooks
  const token = randomBytes(24).toString('hex')
  const all = Array.from({ length: o.nodes }, (_, k) => k + 1)
  const procs: PeerProcess[] = []
  let stopShaper: (() => void) | undefined
  try {
    mkdirSync(runDir(run), { recursive: true })
    const t = now()
    if (!switchReady) await createSwitch(run)
    const shapes = all.map(i => linkOf(o, i))
    const mode = await shapingMode(run, shapes)
    await inPool(all, NET_COMMANDS_CONCURRENCY_MAX, async (i) => { await createPeerNet(run, i, shapes[i - 1]!, mode) })
    if (mode === 'shaper') stopShaper = await startShaper(run, shapes)
    const networkSetupMs = now() - t
    const netem = await describeShape(run, 1, shapes[0]!, mode)
    log(`network: ${o.nodes} namespaces, links ${netem} (mode ${mode}), made in ${Math.round(networkSetupMs)} ms`)

    const specs: PeerSpec[] = []
    for (const i of all) specs.push(await preparePeer(run, i))
    const voters = specs.slice(0, o.voters).map(s => s.peerId)
    const byId = new Map(specs.map(s => [s.peerId, s]))
    const t0 = now()
    const served: number[] = []
    const firstBatch = all.slice(0, o.startConcurrency)
    const bootstrapOfPeer: Record<string, number[]> = Object.create(null) as Record<string, number[]>
    await inPool(specs, o.startConcurrency, async (s) => {
      const boot = bootstrapOf(s.i, served, firstBatch)
      bootstrapOfPeer[String(s.i)] = boot
      const bootstrap = boot.map(j => specs[j - 1]!.p2p)
      procs.push(await startPeer(run, s, { token, heartbeatIntervalMs: o.heartbeatIntervalMs, voters, bootstrap, extra: o.daemon, ...(o.daemonCli !== undefined ? { cli: o.daemonCli } : {}), heapMb: o.daemonHeapMb }))
      served.push(s.i)
    })
    procs.sort((a, b) => a.i - b.i)
    const startMs = now() - t0
    log(`processes: ${o.nodes} daemons serving after ${Math.round(startMs)} ms`)
    hooks.onStarted?.(procs.map(p => ({ i: p.i, pid: p.pid })))

    // 1. formation: every peer has seen every other reachable (cumulative over polls: with N² pairs on a
    // starved machine some lease lapses in almost every poll), then how long until all are at once.
    const poll = pollMs(o.nodes)
    const members = async (p: PeerSpec): Promise<Member[]> => (await api<{ members: Member[] }>(p, token, 'GET', '/v1/members')).members
    const reach = reachTracker(procs, byId, members)
    await until('mesh formation', o.formTimeoutMs, async () => await reach.poll() ? true : undefined, () => reach.detail(), poll)
    const formMs = now() - t0
    log(`formation: every peer has seen the ${o.nodes - 1} others reachable after ${Math.round(formMs)} ms`)
    let formAllAtOnceMs: number | null = null
    await until('all reachable at once', STABLE_WAIT_MS, async () => { await reach.poll(); return reach.nowAll() ? true : undefined }, () => reach.detail(), poll)
      .then(() => { formAllAtOnceMs = now() - t0; log(`formation: every peer sees every other reachable at once after ${Math.round(formAllAtOnceMs)} ms`) },
        () => { log(`formation: not every pair reachable at once within ${STABLE_WAIT_MS} ms (${reach.detail()})`) })
    const reachablePairsFraction = round(reach.pairsFraction(), 3)
    const leaderOf = async (p: PeerSpec): Promise<string | undefined> => (await api<{ raft: { leader?: string } }>(p, token, 'GET', '/v1/raft')).raft.leader
    await until('Raft leader', o.phaseTimeoutMs, async () => {
      const ls = await Promise.all(procs.slice(0, o.voters).map(async p => await leaderOf(p)))
      return ls.every(l => l !== undefined && l === ls[0]) ? true : undefined
    }, () => 'the voters agree on no leader', poll)
    const raftLeaderMs = now() - t0

    // 2. RTT
    const tcp = await tcpRtt(run, 1, meshAddr(2), P2P_PORT, RTT_SAMPLES)
    const daemonRtts = (await members(procs[0]!)).filter(m => !m.self && m.rttMs !== null).map(m => m.rttMs!)
    const rtt = { tcpHandshakeP50Ms: round(median(tcp), 2), tcpHandshakeMaxMs: round(Math.max(...tcp), 2), daemonRttP50Ms: daemonRtts.length > 0 ? round(median(daemonRtts), 1) : null }
    log(`rtt: TCP handshake p50 ${rtt.tcpHandshakeP50Ms} ms (peer 1 → 2); daemon estimate p50 ${rtt.daemonRttP50Ms ?? 'n/a'} ms`)

    // 3. idle rates
    const a = await sample(run, procs, token)
    await pause(o.windowMs)
    const b = await sample(run, procs, token)
    const rates = procs.map((_, k) => ratesBetween(a[k]!, b[k]!))
    const rss = b.map(s => s.rssBytes / 2 ** 20)
    const idle = {
      windowMs: o.windowMs,
      median: aggregate(rates, median),
      max: aggregate(rates, xs => Math.max(...xs)),
      rssMbMedian: round(median(rss)),
      rssMbMax: round(Math.max(...rss)),
      rssMbTotal: round(rss.reduce((x, y) => x + y, 0), 0),
      eventLoopLagP99MsMedian: round(median(b.map(s => s.lagP99Ms)))
    }
    log(`idle (${o.windowMs} ms): per peer per s, median: ${idle.median.heartbeatsReceivedPerS} heartbeats in, ${idle.median.wireBytesPerS} wire bytes, CPU ${idle.median.cpuPercent} %; RSS median ${idle.rssMbMedian} MB`)

    // 4. write-to-visible
    // Events name `<variable>=<value>`; a variable emits changes only where it is declared, so every
    // peer declares the probe variables first (a PUT declares).
    const visible = new Map<string, Map<number, number>>()
    const closers = procs.map(p => follow(p, token, 'variable:changed', (_type, data, at) => {
      const d = data as { name?: unknown, value?: unknown } | null
      if (typeof d?.name !== 'string' || typeof d.value !== 'string') return
      const m = visible.get(`${d.name}=${d.value}`)
      if (m !== undefined && !m.has(p.i)) m.set(p.i, at)
    }))
    try {
      await inPool(procs, 8, async (p) => {
        for (const v of [PROBE_VAR, SPLIT_A_VAR, SPLIT_B_VAR]) await put(p, token, `/v1/variables/eventual/${v}`, { value: `declared-${p.i}`, merge: 'lww' })
      })
      // Streams are open once a write made after them is seen by everyone: a warm-up write.
      await writeAndWait('warmup', procs[0]!, procs, token, visible, o.phaseTimeoutMs)
      const wa = await sample(run, procs, token)
      const samples: number[] = []
      let missing = 0
      for (let k = 1; k <= o.writes; k++) {
        const writer = procs[(k - 1) % procs.length]!
        const { t0: tw, seen: got } = await writeAndWait(`probe-${k}`, writer, procs, token, visible, WRITE_VISIBLE_TIMEOUT_MS).catch(() => ({ t0: 0, seen: new Map<number, number>() }))
        for (const p of procs) {
          if (p.i === writer.i) continue
          const at = got.get(p.i)
          if (at === undefined) missing++
          else samples.push(at - tw)
        }
      }
      const wb = await sample(run, procs, token)
      const wr = procs.map((_, k) => ratesBetween(wa[k]!, wb[k]!))
      const writes = {
        count: o.writes,
        samples: samples.length,
        p50Ms: round(quantile(samples, 0.5)),
        p99Ms: round(quantile(samples, 0.99)),
        maxMs: round(Math.max(...samples)),
        missing,
        gossipMessagesPerPeerPerS: round(median(wr.map(r => r.gossipMessagesPerS))),
        gossipBytesPerPeerPerS: round(median(wr.map(r => r.gossipBytesPerS)), 0),
        wireBytesPerPeerPerS: round(median(wr.map(r => r.wireBytesPerS)), 0)
      }
      log(`write-to-visible: ${samples.length} samples, p50 ${writes.p50Ms} ms, p99 ${writes.p99Ms} ms, max ${writes.maxMs} ms, ${missing} missing`)

      // 5. partition and heal, 6. failover: a phase that times out ends the run with what was measured
      // (the report's `failed`), rather than losing the figures of the phases before it.
      let partitionReport: ClusterReport['partition']
      let failover: ClusterReport['failover']
      let failed: ClusterReport['failed']
      try {
        if (o.partition) {
          const half = Math.ceil(o.nodes / 2)
          const sideA = all.slice(0, half)
          const sideB = all.slice(half)
          const tp = now()
          await partition(run, sideB, mode)
          let unseen = ''
          let minUnreachable = 0
          await until('partition detection', o.phaseTimeoutMs, async () => {
            const counts = await mapPool(procs, API_CONCURRENCY_MAX, async (p) => {
              const other = new Set((sideA.includes(p.i) ? sideB : sideA).map(i => specs[i - 1]!.peerId))
              return (await members(p)).filter(m => other.has(m.peerId) && m.reachability === 'unreachable').length
            })
            minUnreachable = Math.min(...counts)
            const ok = procs.every((p, k) => counts[k] === (sideA.includes(p.i) ? sideB.length : sideA.length))
            unseen = `min unreachable seen ${minUnreachable}`
            return ok ? true : undefined
          }, () => unseen, poll)
          const detectMs = now() - tp
          log(`partition: ${sideA.length} | ${sideB.length}; every peer sees the other side unreachable after ${Math.round(detectMs)} ms`)
          const ka = `${SPLIT_A_VAR}=a`
          const kb = `${SPLIT_B_VAR}=b`
          for (const k of [ka, kb]) visible.set(k, new Map())
          await put(procs[0]!, token, `/v1/variables/eventual/${SPLIT_A_VAR}`, { value: 'a', merge: 'lww' })
          await put(procs[procs.length - 1]!, token, `/v1/variables/eventual/${SPLIT_B_VAR}`, { value: 'b', merge: 'lww' })
          // Each side spreads its own write before the heal, as far as its connections inside the side allow
          // (peers whose connections all crossed the cut may not get it): a bounded wait, then the count.
          const sideWait = SIDE_WRITE_WAIT_MS + 3 * o.heartbeatIntervalMs
          const sideSeen = (): [number, number] => [sideA.filter(i => i === 1 || visible.get(ka)!.has(i)).length, sideB.filter(i => i === o.nodes || visible.get(kb)!.has(i)).length]
          await until('writes inside each side', sideWait, async () => { const [x, y] = sideSeen(); return x === sideA.length && y === sideB.length ? true : undefined }, () => '').catch(() => {})
          const sideWritesSeen = sideSeen()
          log(`partition: the side's own write reached ${sideWritesSeen[0]}/${sideA.length} and ${sideWritesSeen[1]}/${sideB.length} peers before the heal`)
          const th = now()
          await heal(run, all, mode)
          let left = ''
          let healConvergeMs: number | null = null
          // Converged: every peer holds both writes and has seen every other reachable since the heal.
          const healed = reachTracker(procs, byId, members)
          try {
            await until('convergence after the heal', o.phaseTimeoutMs, async () => {
              const a = visible.get(ka)!
              const b = visible.get(kb)!
              const reached = await healed.poll()
              const held = procs.filter(p => (p.i === 1 || a.has(p.i)) && (p.i === o.nodes || b.has(p.i))).length
              left = `${held} of ${procs.length} peers hold both writes; ${healed.detail()}`
              return held === procs.length && reached ? true : undefined
            }, () => left, poll)
            healConvergeMs = now() - th
            log(`heal: every peer holds both sides' writes and has seen every other reachable after ${Math.round(healConvergeMs)} ms`)
          } catch (err) {
            log(`heal: NOT converged within ${o.phaseTimeoutMs} ms: ${left}`)
          }
          partitionReport = { sides: [sideA, sideB], detectMs: round(detectMs, 0), sideWritesSeen, healConverged: healConvergeMs !== null, healConvergeMs: healConvergeMs === null ? null : round(healConvergeMs, 0), ...(healConvergeMs === null ? { healLeft: left } : {}), unreachableSeenMin: minUnreachable }
        }

        if (o.failover) {
          const old = await leaderOf(procs[0]!)
          const victim = procs.find(p => p.peerId === old)!
          const tk = now()
          process.kill(victim.pid, 'SIGKILL')
          const survivors = procs.slice(0, o.voters).filter(p => p !== victim)
          const next = await until('failover election', o.phaseTimeoutMs, async () => {
            for (const p of survivors) {
              const l = await leaderOf(p).catch(() => undefined)
              if (l !== undefined && l !== old && byId.has(l)) return procs.find(x => x.peerId === l)
            }
            return undefined
          }, () => 'no surviving voter leads')
          const electMs = now() - tk
          await until('failover commit', o.phaseTimeoutMs, async () => await api(next!, token, 'PUT', '/v1/variables/strong/failover-probe', { value: 1 }).then(() => true), () => 'the new leader committed no write')
          const commitMs = now() - tk
          log(`failover: killed peer ${victim.i} (leader); peer ${next!.i} leads after ${Math.round(electMs)} ms, a strong write committed after ${Math.round(commitMs)} ms`)
          failover = { killedPeer: victim.i, electMs: round(electMs, 0), commitMs: round(commitMs, 0) }
        }
      } catch (err) {
        if (!(err instanceof ClusterPhaseTimeoutError)) throw err
        failed = { phase: String(err.details.phase), message: err.message }
        log(`${failed.phase}: ${err.message}; the report keeps the phases before it`)
      }

      const l = linkOf(o, 1)
      return {
        run,
        nodes: o.nodes,
        voters: o.voters,
        link: { ...l, netem, mode },
        heartbeatIntervalMs: o.heartbeatIntervalMs,
        daemonConfig: { ...o.daemon },
        daemonCli: o.daemonCli ?? null,
        loadAverage: round(loadavg()[0]!, 1),
        networkSetupMs: round(networkSetupMs, 0),
        startMs: round(startMs, 0),
        formMs: round(formMs, 0),
        formAfterStartMs: round(Math.max(0, formMs - startMs), 0),
        formAllAtOnceMs: formAllAtOnceMs === null ? null : round(formAllAtOnceMs, 0),
        reachablePairsFraction,
        bootstrap: bootstrapOfPeer,
        raftLeaderMs: round(raftLeaderMs, 0),
        rtt,
        idle,
        writes,
        ...(partitionReport !== undefined ? { partition: partitionReport } : {}),
        ...(failover !== undefined ? { failover } : {}),
        ...(failed !== undefined ? { failed } : {})
      }
    } finally {
      for (const c of closers) c()
    }
  } finally {
    await stopAll(procs)
    stopShaper?.()
    if (o.logsDir !== undefined) keepLogs(run, o.nodes, o.logsDir, log)
    await cleanupRun(run)
    log(`cleanup: run ${run} removed`)
  }
}

/** Attempts of one harness write to a peer's API (an LWW PUT is idempotent) before the run fails. */
export const PUT_ATTEMPTS_MAX = 3

/**
 * A PUT to peer `p`'s API, tried up to {@link PUT_ATTEMPTS_MAX} times: a starved daemon may not answer
 * within HTTP_TIMEOUT_MS (at N = 50 on this machine one did not, and the run ended at its write phase).
 */
async function put (p: PeerSpec, token: string, path: string, body: unknown): Promise<void> {
  for (let k = 1; ; k++) {
    try { await api(p, token, 'PUT', path, body); return } catch (err) { if (k >= PUT_ATTEMPTS_MAX) throw err }
  }
}

/** The eventual variables the phases write (LWW): the probe, and one per side of the partition. */
export const PROBE_VAR = 'cluster-probe'
export const SPLIT_A_VAR = 'cluster-split-a'
export const SPLIT_B_VAR = 'cluster-split-b'

/** Writes `value` to the probe variable on `writer`; resolves when every other live peer's stream showed it. */
async function writeAndWait (value: string, writer: PeerSpec, procs: PeerProcess[], token: string, visible: Map<string, Map<number, number>>, timeoutMs: number): Promise<{ t0: number, seen: Map<number, number> }> {
  const seen = new Map<number, number>()
  const key = `${PROBE_VAR}=${value}`
  visible.set(key, seen)
  const t0 = now()
  await put(writer, token, `/v1/variables/eventual/${PROBE_VAR}`, { value, merge: 'lww' })
  const live = procs.filter(p => !p.exited && p.i !== writer.i)
  await until(`write ${value} visible`, timeoutMs, async () => live.every(p => seen.has(p.i)) ? true : undefined, () => `seen on ${seen.size} of ${live.length}`)
  visible.delete(key)
  return { t0, seen }
}

/** Copies every daemon's log to `dir` as `<run>-p<i>.log` (before the run's directory goes). */
function keepLogs (run: string, nodes: number, dir: string, log: (line: string) => void): void {
  try {
    mkdirSync(dir, { recursive: true })
    for (let i = 1; i <= nodes; i++) {
      const f = join(runDir(run), `p${i}`, 'daemon.log')
      if (existsSync(f)) copyFileSync(f, join(dir, `${run}-p${i}.log`))
    }
    log(`logs: kept in ${dir}`)
  } catch (err) { log(`logs: not kept: ${(err as Error).message}`) }
}

/**
 * Which peers each peer has seen reachable (GET /v1/members), over successive polls, at most
 * {@link API_CONCURRENCY_MAX} requests at once. A peer whose API does not answer (a starved daemon) keeps
 * what it had.
 */
function reachTracker (procs: readonly PeerProcess[], byId: ReadonlyMap<string, PeerSpec>, members: (p: PeerSpec) => Promise<Member[]>): {
  poll: () => Promise<boolean>
  nowAll: () => boolean
  pairsFraction: () => number
  detail: () => string
} {
  const n = procs.length
  const ever = procs.map(() => new Set<string>())
  const current = procs.map(() => 0)
  let unanswered = 0
  let polls = 0
  return {
    async poll () {
      polls++
      const r = await mapPool(procs, API_CONCURRENCY_MAX, async p => await members(p).catch(() => undefined))
      unanswered = 0
      r.forEach((ms, k) => {
        if (ms === undefined) { unanswered++; return }
        const ids = ms.filter(m => !m.self && m.reachability === 'reachable' && byId.has(m.peerId)).map(m => m.peerId)
        current[k] = ids.length
        for (const id of ids) ever[k]!.add(id)
      })
      return ever.every(s => s.size === n - 1)
    },
    nowAll: () => unanswered === 0 && current.every(c => c === n - 1),
    pairsFraction: () => current.reduce((a, b) => a + b, 0) / Math.max(1, n * (n - 1)),
    detail () {
      const sizes = ever.map(s => s.size)
      const min = Math.min(...sizes)
      return `${polls} polls; seen reachable at least once: min ${min} of ${n - 1} (peer ${procs[sizes.indexOf(min)]!.i}), ${sizes.filter(x => x === n - 1).length} peers have seen all; ` +
        `in the last poll: min ${Math.min(...current)}, ${current.filter(x => x === n - 1).length} peers see all, ${unanswered} APIs did not answer`
    }
  }
}

interface Sample { at: number, cpuS: number, rssBytes: number, hbSent: number, hbRecv: number, gossip: number, hbBytes: number, gossipBytes: number, probes: number, probeBytes: number, bytes: number, lagP99Ms: number }

/** The kinds of agora_liveness_probe_total that are messages on the wire (the rest count outcomes). */
export const PROBE_MESSAGE_KINDS = ['probes_sent', 'frames_received', 'notices_sent', 'notices_received'] as const

async function sample (run: string, procs: PeerProcess[], token: string): Promise<Sample[]> {
  return await mapPool(procs, API_CONCURRENCY_MAX, async (p): Promise<Sample> => {
    const text = await api<string>(p, token, 'GET', '/metrics').catch(() => '')
    const pr = procSample(p.pid)
    const lb = linkBytesHere(run, p.i)
    return {
      at: now(),
      cpuS: pr?.cpuS ?? 0,
      rssBytes: pr?.rssBytes ?? 0,
      hbSent: metricSum(text, 'agora_heartbeats_total', { direction: 'sent' }),
      hbRecv: metricSum(text, 'agora_heartbeats_total', { direction: 'received' }),
      gossip: metricSum(text, 'agora_gossip_messages_total'),
      hbBytes: metricSum(text, 'agora_heartbeat_bytes_total'),
      gossipBytes: metricSum(text, 'agora_gossip_bytes_total'),
      probes: PROBE_MESSAGE_KINDS.reduce((sum, kind) => sum + metricSum(text, 'agora_liveness_probe_total', { kind }), 0),
      probeBytes: metricSum(text, 'agora_liveness_probe_bytes_total'),
      bytes: lb.rx + lb.tx,
      lagP99Ms: metricSum(text, 'agora_nodejs_eventloop_lag_p99_seconds') * 1000
    }
  })
}

/**
 * Bytes through peer i's mesh link, read in the switch namespace (where this process runs) off the
 * link's bridge-side end, `agc<run>d<i>` (its rx is the peer's tx): no process per read. Zeros if unreadable.
 */
function linkBytesHere (run: string, i: number): { rx: number, tx: number } {
  const read = (what: string): number => { try { return Number(readFileSync(`/sys/class/net/${dataIf(run, i)}/statistics/${what}`, 'utf8').trim()) } catch { return 0 } }
  return { rx: read('rx_bytes'), tx: read('tx_bytes') }
}

function ratesBetween (a: Sample, b: Sample): PerPeerRates {
  const s = Math.max(1e-3, (b.at - a.at) / 1000)
  return {
    heartbeatsSentPerS: (b.hbSent - a.hbSent) / s,
    heartbeatsReceivedPerS: (b.hbRecv - a.hbRecv) / s,
    gossipMessagesPerS: (b.gossip - a.gossip) / s,
    heartbeatBytesPerS: (b.hbBytes - a.hbBytes) / s,
    gossipBytesPerS: (b.gossipBytes - a.gossipBytes) / s,
    probeMessagesPerS: (b.probes - a.probes) / s,
    probeBytesPerS: (b.probeBytes - a.probeBytes) / s,
    wireBytesPerS: (b.bytes - a.bytes) / s,
    cpuPercent: 100 * (b.cpuS - a.cpuS) / s
  }
}

function aggregate (rs: PerPeerRates[], f: (xs: number[]) => number): PerPeerRates {
  return {
    heartbeatsSentPerS: round(f(rs.map(r => r.heartbeatsSentPerS)), 2),
    heartbeatsReceivedPerS: round(f(rs.map(r => r.heartbeatsReceivedPerS)), 2),
    gossipMessagesPerS: round(f(rs.map(r => r.gossipMessagesPerS)), 2),
    heartbeatBytesPerS: round(f(rs.map(r => r.heartbeatBytesPerS)), 0),
    gossipBytesPerS: round(f(rs.map(r => r.gossipBytesPerS)), 0),
    probeMessagesPerS: round(f(rs.map(r => r.probeMessagesPerS)), 2),
    probeBytesPerS: round(f(rs.map(r => r.probeBytesPerS)), 0),
    wireBytesPerS: round(f(rs.map(r => r.wireBytesPerS)), 0),
    cpuPercent: round(f(rs.map(r => r.cpuPercent)), 2)
  }
}

/** Times `samples` TCP handshakes from peer `from`'s namespace to `host:port` (a node one-off in that namespace). */
async function tcpRtt (run: string, from: number, host: string, port: number, samples: number): Promise<number[]> {
  const script = `const net=require('node:net');const out=[];const go=(k)=>{if(k===0){console.log(JSON.stringify(out));return}const t=performance.now();const s=net.connect(${port},'${host}',()=>{out.push(performance.now()-t);s.destroy();go(k-1)});s.on('error',e=>{console.error(e.message);process.exit(1)})};go(${samples})`
  return await new Promise((resolve, reject) => {
    const c = spawn('ip', ['netns', 'exec', peerNs(run, from), nodeBinary(), '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    c.stdout.on('data', (d: Buffer) => { out += d.toString() })
    c.stderr.on('data', (d: Buffer) => { err += d.toString() })
    c.on('exit', (code) => {
      try { if (code === 0) { resolve(JSON.parse(out) as number[]); return } } catch {}
      reject(new ClusterPhaseTimeoutError('RTT measurement', 0, `exit ${code ?? '?'}: ${err.slice(0, 200)}`))
    })
  })
}

/** SIGTERM every daemon, then SIGKILL what is left after a bound (the namespaces go next anyway). */
async function stopAll (procs: PeerProcess[]): Promise<void> {
  for (const p of procs) if (!p.exited) { try { process.kill(p.pid, 'SIGTERM') } catch {} }
  const deadline = now() + 10_000
  while (procs.some(p => !p.exited) && now() < deadline) await pause(100)
  for (const p of procs) if (!p.exited) { try { process.kill(p.pid, 'SIGKILL') } catch {} }
}

/** Writes the report next to the run's data (kept only when the caller asks for `--out`). */
export function writeReport (file: string, r: ClusterReport): void {
  mkdirSync(join(file, '..'), { recursive: true })
  writeFileSync(file, JSON.stringify(r, null, 2) + '\n')
}
