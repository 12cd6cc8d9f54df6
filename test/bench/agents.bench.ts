/**
 * `peer.agents` request/reply figures on a 3-voter Raft group over TCP on loopback, fsync on (data dirs
 * in the OS temp dir), in one process (issue 13, "Benchmarks"; targets in brackets):
 *  - `peer.agents.request` from the peer of voter 0 to an agent hosted by voter 1 (one multiplexed
 *    channel, the handler replies at once), sequential: p50/p99 [p50 <= 1 ms, p99 <= 5 ms];
 *  - the same with 16 requests in flight: throughput and p50/p99;
 *  - beside both, in the same run and interleaved in rounds, a raw libp2p stream echo between the same two
 *    peers: a trivial protocol handler echoing each length-prefixed frame on one long-lived stream, with
 *    the same payload bytes (the JSON of the request payload). Ratios request / echo.
 *
 * The request path does not touch Raft; the group is there because the issue asks for the figure on it
 * (its heartbeats and fsyncs share the event loop). Every peer runs in this process, so requester and
 * host share one core here: `cpuUs…` is CPU time of this process (all threads) per request.
 *
 * BENCH_AGENT_SAMPLES (default 5000), BENCH_AGENT_SECONDS (default 5, per concurrent run), BENCH_AGENT_INFLIGHT
 * (default 16), BENCH_AGENT_PAYLOAD (bytes of the payload's string, default 64) change the sizes.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import type { Stream } from '@libp2p/interface'
import type { Peer } from '../../peers/peer.js'
import { framedStream, type FramedStream } from '../../peers/framing.js'
import { cpuOf, dist as distOf, pct, round, waitFor, withVoterMesh } from './figures.js'

export const name = 'agents'

const progress = (msg: string): void => { process.stderr.write(`  agents: ${msg}\n`) }

const RAFT = { tickMs: 50, electionTick: 8, fsync: true }
const SAMPLES = Number(process.env.BENCH_AGENT_SAMPLES ?? 5000)
const SECONDS = Number(process.env.BENCH_AGENT_SECONDS ?? 5)
const INFLIGHT = Number(process.env.BENCH_AGENT_INFLIGHT ?? 16)
const PAYLOAD_CHARS = Number(process.env.BENCH_AGENT_PAYLOAD ?? 64)
const dist = (xs: number[]): ReturnType<typeof distOf> => distOf(xs, 3)
const ECHO_PROTOCOL = '/agora-bench/echo/1.0.0'
const FRAME_MAX = 64 * 1024

/** The host's end of the raw echo: every frame read is written back, on the same stream. */
async function serveEcho (stream: Stream): Promise<void> {
  const lp = framedStream(stream, FRAME_MAX)
  try {
    for (;;) await lp.write(await lp.read())
  } catch {
    stream.abort(new Error('echo ended'))
  }
}

/** The requester's end: one long-lived stream, frames answered in order (FIFO), several in flight. */
class Echo {
  private readonly lp: FramedStream
  private readonly waiting: Array<() => void> = []
  private chain: Promise<void> = Promise.resolve()
  constructor (private readonly stream: Stream) {
    this.lp = framedStream(stream, FRAME_MAX)
    void this.readLoop()
  }

  async echo (bytes: Uint8Array): Promise<void> {
    const done = new Promise<void>((resolve) => { this.waiting.push(resolve) })
    const next = this.chain.then(async () => { await this.lp.write(bytes) })
    this.chain = next.catch(() => {})
    await next
    await done
  }

  private async readLoop (): Promise<void> {
    try {
      for (;;) { await this.lp.read(); this.waiting.shift()?.() }
    } catch {}
  }

  close (): void { this.stream.abort(new Error('bench over')) }
}

interface Ops { request: (i: number) => Promise<void>, echo: (i: number) => Promise<void> }

/** `n` sequential calls of `op`: their latencies (ms) and the CPU they cost (µs). */
async function sequential (op: (i: number) => Promise<void>, n: number, out: number[]): Promise<number> {
  return await cpuOf(async () => {
    for (let i = 0; i < n; i++) {
      const t0 = performance.now()
      await op(i)
      out.push(performance.now() - t0)
    }
  })
}

/** `inflight` workers calling `op` back to back for `seconds`: calls per second, latencies, CPU per call. */
async function concurrent (op: (i: number) => Promise<void>, inflight: number, seconds: number): Promise<{ perSec: number, lat: number[], cpuUsPerCall: number, calls: number }> {
  const lat: number[] = []
  let calls = 0
  const until = performance.now() + seconds * 1000
  const t0 = performance.now()
  const cpu = await cpuOf(async () => {
    await Promise.all(Array.from({ length: inflight }, async () => {
      while (performance.now() < until) {
        const s = performance.now()
        await op(calls++)
        lat.push(performance.now() - s)
      }
    }))
  })
  const secs = (performance.now() - t0) / 1000
  return { perSec: Math.round(lat.length / secs), lat, cpuUsPerCall: Math.round(cpu / lat.length), calls: lat.length }
}

async function measure (ops: Ops): Promise<Record<string, unknown>> {
  // Warm-up of both paths (JIT, channel and stream open).
  for (let i = 0; i < 500; i++) { await ops.request(i); await ops.echo(i) }
  const req: number[] = []
  const echo: number[] = []
  let reqCpu = 0
  let echoCpu = 0
  // Rounds of 100 of each, alternating, so both see the same state of the machine (GC, fsyncs, load).
  for (let round = 0; round < SAMPLES / 100; round++) {
    reqCpu += await sequential(ops.request, 100, req)
    echoCpu += await sequential(ops.echo, 100, echo)
  }
  progress(`sequential: request p50 ${pct(req, 0.5).toFixed(3)} ms, echo p50 ${pct(echo, 0.5).toFixed(3)} ms`)
  // Concurrent: two alternating halves of each, same reason.
  const half = SECONDS / 2
  const cr = [await concurrent(ops.request, INFLIGHT, half)]
  const ce = [await concurrent(ops.echo, INFLIGHT, half)]
  cr.push(await concurrent(ops.request, INFLIGHT, half))
  ce.push(await concurrent(ops.echo, INFLIGHT, half))
  const merge = (xs: typeof cr): { perSec: number, lat: number[], cpuUsPerCall: number, calls: number } => ({
    perSec: Math.round(xs.reduce((s, x) => s + x.perSec, 0) / xs.length),
    lat: xs.flatMap(x => x.lat),
    cpuUsPerCall: Math.round(xs.reduce((s, x) => s + x.cpuUsPerCall * x.calls, 0) / xs.reduce((s, x) => s + x.calls, 0)),
    calls: xs.reduce((s, x) => s + x.calls, 0)
  })
  const r = merge(cr)
  const e = merge(ce)
  progress(`${INFLIGHT} in flight: request ${r.perSec}/s, echo ${e.perSec}/s`)
  return {
    sequential: {
      requestMs: dist(req),
      rawEchoMs: dist(echo),
      ratioRequestToEchoP50: round(pct(req, 0.5) / pct(echo, 0.5)),
      ratioRequestToEchoP99: round(pct(req, 0.99) / pct(echo, 0.99)),
      cpuUsPerRequest: Math.round(reqCpu / req.length),
      cpuUsPerEcho: Math.round(echoCpu / echo.length)
    },
    concurrent: {
      inflight: INFLIGHT,
      requestsPerSec: r.perSec,
      rawEchoesPerSec: e.perSec,
      ratioEchoToRequestThroughput: round(e.perSec / r.perSec),
      requestMs: dist(r.lat),
      rawEchoMs: dist(e.lat),
      cpuUsPerRequest: r.cpuUsPerCall,
      cpuUsPerEcho: e.cpuUsPerCall
    },
    target: 'request p50 <= 1 ms, p99 <= 5 ms'
  }
}

export default async function (): Promise<Record<string, unknown>> {
  const payload = { n: 0, data: 'x'.repeat(PAYLOAD_CHARS) }
  const out: Record<string, unknown> = {
    setup: `3 voters over TCP loopback, fsync on, one process; requester voter 0, host voter 1; payload ${Buffer.byteLength(JSON.stringify(payload))} bytes of JSON; tickMs ${RAFT.tickMs}, electionTick ${RAFT.electionTick}`
  }
  await withVoterMesh('agents', 3, { voters: 3, ...RAFT }, async (mesh) => {
    const [a, b] = [mesh.peers[0]!, mesh.peers[1]!] as [Peer, Peer]
    await b.registry.register({ id: 'bench-echo', capabilities: ['bench-echo'] })
    b.agents.handle('bench-echo', { onRequest: (p) => p })
    await waitFor(() => a.registry.lookup('bench-echo') !== undefined, 30_000, 'the agent known to the requester')
    await b.libp2p.handle(ECHO_PROTOCOL, (stream) => { void serveEcho(stream) })
    const echo = new Echo(await a.libp2p.dialProtocol(peerIdFromString(b.id), ECHO_PROTOCOL))
    const enc = new TextEncoder()
    try {
      out.results = await measure({
        request: async (i) => { payload.n = i; await a.agents.request('bench-echo', payload) },
        // The same bytes the request's payload is, as JSON: what an application would put on a raw stream.
        echo: async (i) => { payload.n = i; await echo.echo(enc.encode(JSON.stringify(payload))) }
      })
      out.served = b.agents.stats.requestsServed
    } finally {
      echo.close()
    }
  })
  return out
}
