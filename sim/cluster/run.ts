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
import { mkdirSync, writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { ClusterPhaseTimeoutError } from './errors.js'
import { linkOf } from './options.js'
import type { ClusterOptions } from './options.js'
import { median, metricSum, procSample, quantile, round } from './measure.js'
import { cleanupRun, createPeerNet, createSwitch, describeShape, heal, inPool, linkBytes, meshAddr, NET_COMMANDS_CONCURRENCY_MAX, partition, peerNs, runDir, shapingMode, startShaper } from './net.js'
import type { ShapingMode } from './net.js'
import { BOOTSTRAP_PEERS_MAX, P2P_PORT, api, follow, nodeBinary, preparePeer, startPeer } from './peers.js'
import type { PeerProcess, PeerSpec } from './peers.js'

/** Poll period of the phases' conditions. */
export const POLL_MS = 500
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
  networkSetupMs: number
  /** First process spawned → all serving their API. */
  startMs: number
  /** First process spawned → every peer sees every other reachable. */
  formMs: number
  /** Last process serving → every peer sees every other reachable (formation without process start-up). */
  formAfterStartMs: number
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
}

export interface RunHooks {
  log: (line: string) => void
  /** Called once every peer serves (the test uses it to kill the harness mid-run). */
  onStarted?: (peers: ReadonlyArray<{ i: number, pid: number }>) => void
}

const now = (): number => performance.now()
const pause = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

async function until<T> (phase: string, timeoutMs: number, cond: () => Promise<T | undefined>, detail: () => string): Promise<T> {
  const deadline = now() + timeoutMs
  for (;;) {
    const v = await cond().catch(() => undefined)
    if (v !== undefined) return v
    if (now() > deadline) throw new ClusterPhaseTimeoutError(phase, timeoutMs, detail())
    await pause(POLL_MS)
  }
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
    await inPool(specs, o.startConcurrency, async (s) => {
      const bootstrap = specs.filter(x => x.i !== s.i).slice(0, BOOTSTRAP_PEERS_MAX).map(x => x.p2p)
      procs.push(await startPeer(run, s, { token, heartbeatIntervalMs: o.heartbeatIntervalMs, voters, bootstrap }))
    })
    procs.sort((a, b) => a.i - b.i)
    const startMs = now() - t0
    log(`processes: ${o.nodes} daemons serving after ${Math.round(startMs)} ms`)
    hooks.onStarted?.(procs.map(p => ({ i: p.i, pid: p.pid })))

    // 1. formation
    const members = async (p: PeerSpec): Promise<Member[]> => (await api<{ members: Member[] }>(p, token, 'GET', '/v1/members')).members
    const reachableCount = async (p: PeerSpec): Promise<number> => (await members(p)).filter(m => !m.self && m.reachability === 'reachable').length
    // A peer whose API does not answer (a starved daemon) keeps its last count.
    const seen: number[] = procs.map(() => 0)
    let unanswered = 0
    await until('mesh formation', o.formTimeoutMs, async () => {
      const r = await Promise.all(procs.map(async p => await reachableCount(p).catch(() => undefined)))
      unanswered = r.filter(x => x === undefined).length
      r.forEach((x, k) => { if (x !== undefined) seen[k] = x })
      return unanswered === 0 && seen.every(n => n === o.nodes - 1) ? true : undefined
    }, () => `reachable peers seen: min ${Math.min(...seen)} of ${o.nodes - 1} (peer ${seen.indexOf(Math.min(...seen)) + 1}); ${seen.filter(n => n === o.nodes - 1).length} peers see all; ${unanswered} APIs did not answer the last poll`)
    const formMs = now() - t0
    log(`formation: every peer sees ${o.nodes - 1} others reachable after ${Math.round(formMs)} ms`)
    const leaderOf = async (p: PeerSpec): Promise<string | undefined> => (await api<{ raft: { leader?: string } }>(p, token, 'GET', '/v1/raft')).raft.leader
    await until('Raft leader', o.phaseTimeoutMs, async () => {
      const ls = await Promise.all(procs.slice(0, o.voters).map(async p => await leaderOf(p)))
      return ls.every(l => l !== undefined && l === ls[0]) ? true : undefined
    }, () => 'the voters agree on no leader')
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
        for (const v of [PROBE_VAR, SPLIT_A_VAR, SPLIT_B_VAR]) await api(p, token, 'PUT', `/v1/variables/eventual/${v}`, { value: `declared-${p.i}`, merge: 'lww' })
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

      // 5. partition and heal
      let partitionReport: ClusterReport['partition']
      if (o.partition) {
        const half = Math.ceil(o.nodes / 2)
        const sideA = all.slice(0, half)
        const sideB = all.slice(half)
        const tp = now()
        await partition(run, sideB, mode)
        let unseen = ''
        let minUnreachable = 0
        await until('partition detection', o.phaseTimeoutMs, async () => {
          const counts = await Promise.all(procs.map(async (p) => {
            const other = new Set((sideA.includes(p.i) ? sideB : sideA).map(i => specs[i - 1]!.peerId))
            return (await members(p)).filter(m => other.has(m.peerId) && m.reachability === 'unreachable').length
          }))
          minUnreachable = Math.min(...counts)
          const ok = procs.every((p, k) => counts[k] === (sideA.includes(p.i) ? sideB.length : sideA.length))
          unseen = `min unreachable seen ${minUnreachable}`
          return ok ? true : undefined
        }, () => unseen)
        const detectMs = now() - tp
        log(`partition: ${sideA.length} | ${sideB.length}; every peer sees the other side unreachable after ${Math.round(detectMs)} ms`)
        const ka = `${SPLIT_A_VAR}=a`
        const kb = `${SPLIT_B_VAR}=b`
        for (const k of [ka, kb]) visible.set(k, new Map())
        await api(procs[0]!, token, 'PUT', `/v1/variables/eventual/${SPLIT_A_VAR}`, { value: 'a', merge: 'lww' })
        await api(procs[procs.length - 1]!, token, 'PUT', `/v1/variables/eventual/${SPLIT_B_VAR}`, { value: 'b', merge: 'lww' })
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
        try {
          await until('convergence after the heal', o.phaseTimeoutMs, async () => {
            const a = visible.get(ka)!
            const b = visible.get(kb)!
            const held = procs.filter(p => (p.i === 1 || a.has(p.i)) && (p.i === o.nodes || b.has(p.i))).length
            if (held < procs.length) { left = `${held} of ${procs.length} peers hold both writes`; return undefined }
            const r = await Promise.all(procs.map(async p => await reachableCount(p)))
            left = `reachable min ${Math.min(...r)} of ${o.nodes - 1}`
            return r.every(n => n === o.nodes - 1) ? true : undefined
          }, () => left)
          healConvergeMs = now() - th
          log(`heal: every peer holds both sides' writes and sees every other reachable after ${Math.round(healConvergeMs)} ms`)
        } catch (err) {
          log(`heal: NOT converged within ${o.phaseTimeoutMs} ms: ${left}`)
        }
        partitionReport = { sides: [sideA, sideB], detectMs: round(detectMs, 0), sideWritesSeen, healConverged: healConvergeMs !== null, healConvergeMs: healConvergeMs === null ? null : round(healConvergeMs, 0), ...(healConvergeMs === null ? { healLeft: left } : {}), unreachableSeenMin: minUnreachable }
      }

      // 6. failover
      let failover: ClusterReport['failover']
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

      const l = linkOf(o, 1)
      return {
        run,
        nodes: o.nodes,
        voters: o.voters,
        link: { ...l, netem, mode },
        heartbeatIntervalMs: o.heartbeatIntervalMs,
        loadAverage: round(loadavg()[0]!, 1),
        networkSetupMs: round(networkSetupMs, 0),
        startMs: round(startMs, 0),
        formMs: round(formMs, 0),
        formAfterStartMs: round(Math.max(0, formMs - startMs), 0),
        raftLeaderMs: round(raftLeaderMs, 0),
        rtt,
        idle,
        writes,
        ...(partitionReport !== undefined ? { partition: partitionReport } : {}),
        ...(failover !== undefined ? { failover } : {})
      }
    } finally {
      for (const c of closers) c()
    }
  } finally {
    await stopAll(procs)
    stopShaper?.()
    await cleanupRun(run)
    log(`cleanup: run ${run} removed`)
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
  await api(writer, token, 'PUT', `/v1/variables/eventual/${PROBE_VAR}`, { value, merge: 'lww' })
  const live = procs.filter(p => !p.exited && p.i !== writer.i)
  await until(`write ${value} visible`, timeoutMs, async () => live.every(p => seen.has(p.i)) ? true : undefined, () => `seen on ${seen.size} of ${live.length}`)
  visible.delete(key)
  return { t0, seen }
}

interface Sample { at: number, cpuS: number, rssBytes: number, hbSent: number, hbRecv: number, gossip: number, hbBytes: number, gossipBytes: number, bytes: number, lagP99Ms: number }

async function sample (run: string, procs: PeerProcess[], token: string): Promise<Sample[]> {
  return await Promise.all(procs.map(async (p): Promise<Sample> => {
    const text = await api<string>(p, token, 'GET', '/metrics').catch(() => '')
    const pr = procSample(p.pid)
    const lb = await linkBytes(run, p.i).catch(() => ({ rx: 0, tx: 0 }))
    return {
      at: now(),
      cpuS: pr?.cpuS ?? 0,
      rssBytes: pr?.rssBytes ?? 0,
      hbSent: metricSum(text, 'agora_heartbeats_total', { direction: 'sent' }),
      hbRecv: metricSum(text, 'agora_heartbeats_total', { direction: 'received' }),
      gossip: metricSum(text, 'agora_gossip_messages_total'),
      hbBytes: metricSum(text, 'agora_heartbeat_bytes_total'),
      gossipBytes: metricSum(text, 'agora_gossip_bytes_total'),
      bytes: lb.rx + lb.tx,
      lagP99Ms: metricSum(text, 'agora_nodejs_eventloop_lag_p99_seconds') * 1000
    }
  }))
}

function ratesBetween (a: Sample, b: Sample): PerPeerRates {
  const s = Math.max(1e-3, (b.at - a.at) / 1000)
  return {
    heartbeatsSentPerS: (b.hbSent - a.hbSent) / s,
    heartbeatsReceivedPerS: (b.hbRecv - a.hbRecv) / s,
    gossipMessagesPerS: (b.gossip - a.gossip) / s,
    heartbeatBytesPerS: (b.hbBytes - a.hbBytes) / s,
    gossipBytesPerS: (b.gossipBytes - a.gossipBytes) / s,
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
