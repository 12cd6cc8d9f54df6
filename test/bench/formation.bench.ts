/**
 * Mesh formation in one process (issue 17 targets in brackets): N = 100, 150, 200 peers over the memory
 * transport, 10 s heartbeats, anti-entropy every 50 s (the options of the mesh bench's 100-peer figure),
 * no DHT; each new peer dials peer 0 and 3 other earlier ones (createLiveMesh's default above 12 peers).
 *
 * Per N: `formedMs`, the time until every peer was created and linked [200 peers form]; `syncedMs`, until
 * every peer is synced (`whenSynced`); `allHostsMs`, until every peer holds every host's registry and
 * variable documents, and `allHostsAfterFormedMs` = allHostsMs − formedMs [≤ 30 s at 100 peers]; the
 * creation curve (`peersAt`: peers created after 10, 20, 40... s; `cpuSecondsAtPeers`: CPU seconds this
 * process spent when 25, 50, 75... peers were created: the per-peer cost, which the machine's load moves
 * less than wall time); `formedCpuS`; `dialFailures`; the largest RSS seen.
 * Creation gives up after `BENCH_FORMATION_DEADLINE_S` (default 300 s): the figure then reports
 * `formed: false` and how many peers were created.
 *
 * Raw baseline, run before ours in the same process: the same number of bare libp2p nodes (memory
 * transport, Noise, Yamux, identify, gossipsub with StrictSign on two topics) dialled in the same shape,
 * each publishing a 64-byte signed message on one topic every 10 s, as our heartbeats are: what the stack
 * under us costs to form (`raw`, and `ratio` = formedMs / raw.formedMs, `cpuRatio` likewise in CPU seconds).
 *
 * BENCH_FORMATION_PEERS=100,150,200 picks the sizes; BENCH_FORMATION_RAW=0 skips the raw baseline,
 * BENCH_FORMATION_OURS=0 runs it alone (to run it in another process at the same time as ours);
 * BENCH_FORMATION_LIVENESS=probe runs our peers in the probe liveness mode (default heartbeat: every
 * peer hears every host's heartbeat each period, so what a peer added costs grows with the peers before it).
 */
import { createLiveMesh } from '../../sim/live.js'
import type { LiveMesh } from '../../sim/live.js'
import { round } from './figures.js'
import { createRawMesh } from './raw-mesh.js'

export const name = 'formation'

const HEARTBEAT_MS = 10_000
/** Marks (s) of the creation curve. */
const MARKS_S = [10, 20, 40, 60, 90, 120, 180, 240, 300]

const progress = (msg: string): void => { process.stderr.write(`  formation: ${msg}\n`) }

/** CPU seconds (user + system, every thread) this process spent since `c0`: a figure the machine's load moves less than wall time. */
const cpuSeconds = (c0: NodeJS.CpuUsage): number => { const c = process.cpuUsage(c0); return round((c.user + c.system) / 1e6, 1) }

class DeadlineError extends Error {
  constructor (readonly created: number) { super(`creation deadline passed at ${created} peers`) }
}

/** Tracks the largest RSS seen (sampled every second). */
function rssPeak (): { stop: () => number } {
  let peak = process.memoryUsage().rss
  const t = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss) }, 1000)
  return { stop: () => { clearInterval(t); return Math.round(Math.max(peak, process.memoryUsage().rss) / 1e6) } }
}

async function ours (n: number, deadlineMs: number, liveness: 'heartbeat' | 'probe'): Promise<Record<string, unknown>> {
  const t0 = performance.now()
  const peersAt: Record<string, number> = {}
  const cpuAt: Record<string, number> = {}
  const c0 = process.cpuUsage()
  let created = 0
  const marks = setInterval(() => {
    const s = Math.round((performance.now() - t0) / 1000)
    for (const m of MARKS_S) if (s >= m && peersAt[`${m}s`] === undefined) peersAt[`${m}s`] = created
  }, 250)
  const rss = rssPeak()
  let mesh: LiveMesh | undefined
  try {
    try {
      mesh = await createLiveMesh({
        peers: n,
        transport: 'memory',
        logLevel: 'silent',
        dht: false,
        liveness,
        heartbeatIntervalMs: HEARTBEAT_MS,
        antiEntropyIntervalMs: 5 * HEARTBEAT_MS,
        onPeer: (i) => {
          created = i + 1
          if (created % 25 === 0) cpuAt[`${created}`] = cpuSeconds(c0)
          if (performance.now() - t0 > deadlineMs) throw new DeadlineError(i + 1)
          if ((i + 1) % 25 === 0) progress(`${n}: ${i + 1} peers at ${Math.round(performance.now() - t0)} ms`)
        }
      })
    } catch (err) {
      if (!(err instanceof DeadlineError)) throw err
      return { peers: n, liveness, formed: false, created: err.created, givenUpAfterMs: Math.round(performance.now() - t0), peersAt, cpuSecondsAtPeers: cpuAt, rssPeakMB: rss.stop() }
    }
    const formedMs = performance.now() - t0
    progress(`${n} formed in ${Math.round(formedMs)} ms`)
    const m = mesh
    const out: Record<string, unknown> = { peers: n, liveness, formed: true, formedMs: Math.round(formedMs), formedCpuS: cpuSeconds(c0), dialFailures: m.dialFailures.length }
    try {
      await m.whenSynced({ timeoutMs: 300_000 })
      out.syncedMs = Math.round(performance.now() - t0)
      await m.waitFor(p => p.replica.countDocs('reg') === n && p.replica.countDocs('var') === n, { timeoutMs: 300_000, what: 'every peer to hold every host' })
      const allHostsMs = performance.now() - t0
      out.allHostsMs = Math.round(allHostsMs)
      out.allHostsAfterFormedMs = Math.round(allHostsMs - formedMs)
      out.allHostsCpuS = cpuSeconds(c0)
    } catch (err) {
      out.error = String((err as Error).message)
      out.hostsHeldMin = Math.min(...m.peers.map(p => p.replica.countDocs('reg')))
    }
    const syncs = m.peers.reduce((a, p) => a + p.stats().sync.syncCompleted, 0)
    out.syncExchangesPerPeer = round(syncs / n, 1)
    out.peersAt = peersAt
    out.cpuSecondsAtPeers = cpuAt
    out.rssPeakMB = rss.stop()
    return out
  } finally {
    clearInterval(marks)
    rss.stop()
    await mesh?.stop()
  }
}

/** The raw baseline: bare libp2p + gossipsub nodes dialled as createLiveMesh dials (test/bench/raw-mesh.ts). */
async function raw (n: number, deadlineMs: number): Promise<Record<string, unknown>> {
  const t0 = performance.now()
  const c0 = process.cpuUsage()
  const cpuAt: Record<string, number> = {}
  const mesh = await createRawMesh(n, {
    tag: 'formation',
    heartbeatMs: HEARTBEAT_MS,
    shouldStop: () => performance.now() - t0 > deadlineMs,
    onNode: (i) => { if (i > 0 && i % 25 === 0) cpuAt[`${i}`] = cpuSeconds(c0) }
  })
  try {
    if (mesh.created < n) return { peers: n, formed: false, created: mesh.created, cpuSecondsAtPeers: cpuAt }
    return { peers: n, formed: true, formedMs: Math.round(performance.now() - t0), formedCpuS: cpuSeconds(c0), cpuSecondsAtPeers: cpuAt }
  } finally {
    await mesh.stop()
  }
}

export default async function (): Promise<Record<string, unknown>> {
  const sizes = (process.env.BENCH_FORMATION_PEERS ?? '100,150,200').split(',').map(Number)
  const deadlineMs = Number(process.env.BENCH_FORMATION_DEADLINE_S ?? 300) * 1000
  const withRaw = process.env.BENCH_FORMATION_RAW !== '0'
  const withOurs = process.env.BENCH_FORMATION_OURS !== '0'
  const liveness = process.env.BENCH_FORMATION_LIVENESS ?? 'heartbeat'
  if (liveness !== 'heartbeat' && liveness !== 'probe') throw new Error(`BENCH_FORMATION_LIVENESS: heartbeat or probe, not ${liveness}`)
  const out: Record<string, unknown> = {}
  for (const n of sizes) {
    const r = withRaw ? await raw(n, deadlineMs) : undefined
    if (r !== undefined) progress(`raw ${n}: ${JSON.stringify(r)}`)
    if (!withOurs) {
      out[`peers${n}`] = { raw: r ?? null }
      continue
    }
    const o = await ours(n, deadlineMs, liveness)
    progress(`ours ${n}: ${JSON.stringify(o)}`)
    out[`peers${n}`] = {
      ...o,
      ...(r !== undefined
        ? {
            raw: r,
            ...(o.formed === true && r.formed === true ? { ratio: round((o.formedMs as number) / (r.formedMs as number)), cpuRatio: round((o.formedCpuS as number) / (r.formedCpuS as number)) } : {})
          }
        : {})
    }
  }
  return out
}
