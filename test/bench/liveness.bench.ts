/**
 * Liveness cost per peer as the mesh grows, before (`liveness: 'heartbeat'`, every peer's heartbeat to
 * every peer each period) and after (`liveness: 'probe'`, peers/sync/liveness/probe.ts), over in-process
 * meshes on TCP loopback (sim/live.ts: a full mesh up to 12 peers, else each new peer links to peer 0 and 3
 * earlier ones). 1 s periods, 3 s leases, no DHT, anti-entropy every 60 s (so its rounds stay out of the
 * window).
 *
 * Per N and mode (`createdS`: createLiveMesh returned; `formedS`: every host alive everywhere, + 5 s), once 95 % of the (peer, host) pairs are alive (a loaded machine lets some lease lapse now and then, in either mode; not within `BENCH_LIVENESS_FORM_S`, default 90 s: measured anyway, `formed: false`, no detection time) and 5 s more have passed: a window of `BENCH_LIVENESS_WINDOW_S`
 * (default 10) s, then per peer per second (means over the peers): liveness messages received
 * (`msgsPerPeerPerS`: heartbeats, membership notices, probe frames, health views), their payload bytes
 * (`bytesPerPeerPerS`, before gossipsub and Yamux framing), signature verifications (`verifiesPerPeerPerS`:
 * every gossipsub message is verified on first receipt, StrictSign; probe frames ride Noise, unsigned), and
 * the process's CPU over the window divided by N (`cpuMsPerPeerPerS`: all a peer does while idle, not only
 * liveness). Then the last peer is killed (stopped without leaving) and `detectMs` is the time until every
 * other peer shows its agent unreachable (`detectP50Ms` over the peers, `detectMaxMs` for the last one).
 *
 * The heartbeat mode is the raw baseline, run in the same process window just before the probe mode at each
 * N; `ratio` = probe / heartbeat. `BENCH_LIVENESS_PEERS` (default 10,25,50), `BENCH_LIVENESS_RUNS` (default
 * 1; the median run by msgsPerPeerPerS of each N and mode is kept), `BENCH_LIVENESS_MODES`.
 */
import { createLiveMesh } from '../../sim/live.js'
import type { LiveMesh } from '../../sim/live.js'
import type { Peer } from '../../peers/peer.js'
import { pct, round } from './figures.js'

export const name = 'liveness'

const PERIOD_MS = 1000
const SETTLE_MS = 5000
const FORMED_SHARE = 0.95
const FORM_TIMEOUT_MS = Number(process.env.BENCH_LIVENESS_FORM_S ?? 90) * 1000
const progress = (msg: string): void => { process.stderr.write(`  liveness: ${msg}\n`) }

interface Counters { msgs: number, bytes: number, verifies: number, heartbeats: number, notices: number, probes: number, views: number, dials: number, noticesSent: number }

function counters (p: Peer): Counters {
  const s = p.stats().sync
  const v = p.monitor.views.stats
  const heartbeats = s.heartbeatsReceived + s.heartbeatsStale + s.heartbeatsFuture + s.heartbeatsRejected
  const notices = s.noticesReceived + s.noticesOverQuota + s.noticesStale + s.noticesRejected
  const views = v.viewsReceived + v.viewsStale + v.viewsFuture + v.viewsOverQuota + v.viewsRejected
  return {
    heartbeats,
    notices,
    probes: s.probeFramesReceived,
    views,
    msgs: heartbeats + notices + s.probeFramesReceived + views,
    // A view is at most VIEW_BYTES_MAX; with nothing silent it is about 60 bytes: counted as such.
    bytes: s.heartbeatBytesReceived + s.noticeBytesReceived + s.probeBytesReceived + views * 60,
    verifies: heartbeats + notices + views,
    // Probes over a connection dialled for them (probe mode, a target that is no neighbour): each costs both
    // sides a Noise handshake and identify, so about 2 signature verifications on each side.
    dials: (s as { probeDials?: number }).probeDials ?? 0,
    noticesSent: s.noticesSent
  }
}

const sum = (xs: Counters[], k: keyof Counters): number => xs.reduce((n, c) => n + c[k], 0)

async function measure (n: number, mode: 'heartbeat' | 'probe', windowS: number): Promise<Record<string, number | boolean>> {
  const t0 = performance.now()
  let mesh: LiveMesh | undefined
  try {
    mesh = await createLiveMesh({ peers: n, liveness: mode, heartbeatIntervalMs: PERIOD_MS, antiEntropyIntervalMs: 60_000, dht: false, logLevel: 'silent' })
    const m = mesh
    const createdS = round((performance.now() - t0) / 1000, 1)
    const victim = m.peers[n - 1]!
    await victim.registry.register({ id: 'victim-agent', capabilities: ['x'] })
    // One agent on every other peer too: partition detection is read from them.
    for (const [i, p] of m.peers.entries()) if (i < n - 1) await p.registry.register({ id: `agent-${i}`, capabilities: ['x'] })
    const agentOf = (i: number): string => (i === n - 1 ? 'victim-agent' : `agent-${i}`)
    const ids = m.peers.map(p => p.id)
    // On a loaded machine a lease somewhere may lapse for a moment (either mode): 95 % of the pairs suffice.
    const aliveShare = (): number => m.peers.reduce((k, p) => k + ids.filter(id => id !== p.id && p.registry.leases.get(id)?.status === 'alive').length, 0) / (n * (n - 1))
    // Not formed within FORM_TIMEOUT_MS (the heartbeat mode on a loaded machine: leases lapse as fast as
    // heartbeats renew them): measured anyway, `formed: false`, and no detection time.
    const formed = await m.waitFor(p => p.registry.lookup('victim-agent')?.status === 'reachable' && aliveShare() >= FORMED_SHARE, { timeoutMs: FORM_TIMEOUT_MS, what: `95 % of the hosts alive on every peer (${n}, ${mode})` }).then(() => true, () => false)
    // Formation's churn (joins, the suspicions a loaded machine raises and their refutations) settles first.
    await new Promise(resolve => setTimeout(resolve, SETTLE_MS))
    const formedS = round((performance.now() - t0) / 1000, 1)
    const formedShare = round(aliveShare(), 3)
    progress(`${mode} n=${n}: ${formed ? 'formed' : `not formed (${formedShare} of pairs alive)`} at ${formedS} s; measuring ${windowS} s`)
    const before = m.peers.map(counters)
    const c0 = process.cpuUsage()
    const w0 = performance.now()
    await new Promise(resolve => setTimeout(resolve, windowS * 1000))
    const cpu = process.cpuUsage(c0)
    const secs = (performance.now() - w0) / 1000
    const after = m.peers.map(counters)
    const delta = after.map((a, i) => {
      const b = before[i]!
      return { msgs: a.msgs - b.msgs, bytes: a.bytes - b.bytes, verifies: a.verifies - b.verifies, heartbeats: a.heartbeats - b.heartbeats, notices: a.notices - b.notices, probes: a.probes - b.probes, views: a.views - b.views, dials: a.dials - b.dials, noticesSent: a.noticesSent - b.noticesSent }
    })
    const per = (k: keyof Counters): number => round(sum(delta, k) / n / secs, 2)
    // Pairs (peer, live host) whose lease had lapsed at the end of the window: false expiries (load).
    const falseExpiries = Math.round((1 - aliveShare()) * n * (n - 1))
    const figures = {
      createdS,
      formed,
      formedS,
      formedShare,
      msgsPerPeerPerS: per('msgs'),
      heartbeatsPerPeerPerS: per('heartbeats'),
      noticesPerPeerPerS: per('notices'),
      probeFramesPerPeerPerS: per('probes'),
      viewsPerPeerPerS: per('views'),
      bytesPerPeerPerS: per('bytes'),
      verifiesPerPeerPerS: per('verifies'),
      probeDialsPerPeerPerS: per('dials'),
      // Gossip verifies plus the handshakes of dialled probes (2 per side per dial, each dial has two sides).
      verifiesWithHandshakesPerPeerPerS: round(per('verifies') + 4 * per('dials'), 2),
      noticesSentPerPeerPerS: per('noticesSent'),
      cpuMsPerPeerPerS: round((cpu.user + cpu.system) / 1000 / n / secs, 2),
      falseExpiries
    }
    if (!m.peers.every((p, i) => i === n - 1 || p.registry.lookup('victim-agent')?.status === 'reachable')) return figures
    const partition = await measurePartition(m, n, mode, agentOf)
    if (partition.healed !== true) return { ...figures, ...partition }
    // Failure detection: kill the last peer, time until each other one shows its agent unreachable.
    const seen = new Map<number, number>()
    const k0 = performance.now()
    await m.crash(n - 1)
    await m.waitFor((p, i) => {
      if (i === n - 1) return true
      if (!seen.has(i) && p.registry.lookup('victim-agent')?.status === 'unreachable') seen.set(i, performance.now() - k0)
      return seen.has(i)
    }, { timeoutMs: 300_000, what: `the killed peer's agent unreachable everywhere (${n}, ${mode})` })
    const times = [...seen.values()]
    return {
      ...figures,
      ...partition,
      detectP50Ms: Math.round(pct(times, 0.5)),
      detectMaxMs: Math.round(Math.max(...times))
    }
  } finally {
    await mesh?.stop()
  }
}

/**
 * A half/half partition (the first half of the peers against the rest; in the sparse mesh above 12 peers
 * many hosts have no link to the other side): per peer, the time until every agent of the other side is
 * unreachable (or pruned) there (`partitionP50Ms`, `partitionMaxMs`; bounded by `BENCH_LIVENESS_PARTITION_S`, default
 * 120 s: else `partitionShare`, the share of (peer, far agent) pairs seen unreachable by then); then the
 * heal, and the time until every agent is reachable on every peer again (`healMs`).
 */
async function measurePartition (m: LiveMesh, n: number, mode: string, agentOf: (i: number) => string): Promise<Record<string, number | boolean>> {
  const boundMs = Number(process.env.BENCH_LIVENESS_PARTITION_S ?? 120) * 1000
  const half = Math.floor(n / 2)
  const side = (i: number): number => (i < half ? 0 : 1)
  const groups = [m.peers.map((_, i) => i).filter(i => side(i) === 0), m.peers.map((_, i) => i).filter(i => side(i) === 1)]
  const seen = new Map<number, number>()
  const p0 = performance.now()
  await m.partition(groups)
  // Unreachable, or already pruned (a host unreachable past its grace: its agents are gone from the registry).
  const farUnreachable = (p: Peer, i: number): number => m.peers.filter((_, j) => side(j) !== side(i) && p.registry.lookup(agentOf(j))?.status !== 'reachable').length
  const detected = await m.waitFor((p, i) => {
    if (!seen.has(i) && farUnreachable(p, i) === groups[1 - side(i)]!.length) seen.set(i, performance.now() - p0)
    return seen.has(i)
  }, { timeoutMs: boundMs, what: `every far agent unreachable on every peer (${n}, ${mode})` }).then(() => true, () => false)
  const share = round(m.peers.reduce((k, p, i) => k + farUnreachable(p, i), 0) / (2 * groups[0]!.length * groups[1]!.length), 3)
  const times = [...seen.values()]
  progress(`${mode} n=${n}: partition ${detected ? 'detected' : `not detected (${share} of far pairs)`} in ${Math.round(Math.max(0, ...times))} ms`)
  const h0 = performance.now()
  await m.heal()
  const healed = await m.waitFor(p => m.peers.every((_, j) => p.registry.lookup(agentOf(j))?.status === 'reachable'), { timeoutMs: boundMs, what: `every agent reachable after the heal (${n}, ${mode})` }).then(() => true, () => false)
  const healMs = Math.round(performance.now() - h0)
  return {
    partitionDetected: detected,
    partitionShare: share,
    ...(times.length > 0 ? { partitionP50Ms: Math.round(pct(times, 0.5)), partitionMaxMs: Math.round(Math.max(...times)) } : {}),
    healed,
    healMs
  }
}

export default async function (): Promise<Record<string, unknown>> {
  const sizes = (process.env.BENCH_LIVENESS_PEERS ?? '10,25,50').split(',').map(Number)
  const runs = Number(process.env.BENCH_LIVENESS_RUNS ?? 1)
  const windowS = Number(process.env.BENCH_LIVENESS_WINDOW_S ?? 10)
  const modes = (process.env.BENCH_LIVENESS_MODES ?? 'heartbeat,probe').split(',') as Array<'heartbeat' | 'probe'>
  const out: Record<string, unknown> = { periodMs: PERIOD_MS, leaseMs: 3 * PERIOD_MS, windowS, runs }
  for (const n of sizes) {
    const byMode: Record<string, Array<Record<string, number | boolean>>> = {}
    for (let r = 0; r < runs; r++) {
      for (const mode of modes) {
        try {
          (byMode[mode] ??= []).push(await measure(n, mode, windowS))
        } catch (err) {
          progress(`${mode} n=${n} failed: ${(err as Error).message}`)
          ;(byMode[mode] ??= []).push({ failed: true })
        }
      }
    }
    const row: Record<string, unknown> = {}
    for (const mode of modes) {
      const ok = byMode[mode]!.filter(x => x.failed !== true).sort((a, b) => (a.msgsPerPeerPerS as number) - (b.msgsPerPeerPerS as number))
      row[mode] = ok.length === 0 ? { failed: true } : ok[Math.floor(ok.length / 2)]
    }
    const h = row.heartbeat as Record<string, number> | undefined
    const p = row.probe as Record<string, number> | undefined
    if (h !== undefined && p !== undefined && h.msgsPerPeerPerS !== undefined && p.msgsPerPeerPerS !== undefined) {
      row.ratio = {
        msgs: round(p.msgsPerPeerPerS / h.msgsPerPeerPerS, 2),
        bytes: round(p.bytesPerPeerPerS! / h.bytesPerPeerPerS!, 2),
        verifies: round(p.verifiesPerPeerPerS! / h.verifiesPerPeerPerS!, 2),
        cpu: round(p.cpuMsPerPeerPerS! / h.cpuMsPerPeerPerS!, 2),
        ...(p.detectMaxMs !== undefined && h.detectMaxMs !== undefined ? { detect: round(p.detectMaxMs / h.detectMaxMs, 2) } : {}),
        ...(p.partitionMaxMs !== undefined && h.partitionMaxMs !== undefined ? { partition: round(p.partitionMaxMs / h.partitionMaxMs, 2) } : {})
      }
    }
    out[`n${n}`] = row
    progress(`n=${n}: ${JSON.stringify(row)}`)
  }
  return out
}
