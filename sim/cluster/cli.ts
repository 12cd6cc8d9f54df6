/**
 * `agora sim cluster`: the multi-process harness (FEATURES O9). The command checks its options and the
 * machine (root, `ip`, `tc`), cleans up runs whose owner is gone, makes the run's switch namespace and
 * re-runs itself inside it (`ip netns exec`), where it can reach every peer's control address; the inner
 * process makes the peers' namespaces, starts the daemons, measures (run.ts) and removes everything.
 *
 * Cleanup: the inner process removes the run when it ends, on SIGINT/SIGTERM, and when the outer process
 * goes away (SIGKILL); the outer removes it again after the inner exits; a run whose both processes were
 * SIGKILLed is removed by the next run or by `agora sim cluster --cleanup`.
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { EXIT_FAILED, EXIT_OK, UsageError, parseFlags } from '../../src/cli-util.js'
import type { CliIo } from '../../src/cli-util.js'
import { readClusterConfig, validateClusterOptions } from './options.js'
import type { ClusterOptions } from './options.js'
import { bridgeNs, checkPrerequisites, cleanupRun, cleanupStale, createSwitch, runDir } from './net.js'
import { nodeBinary } from './peers.js'
import { runCluster, writeReport } from './run.js'
import type { ClusterReport } from './run.js'
import { round } from './measure.js'

export { CLUSTER_USAGE } from './usage.js'

const FLAGS = {
  nodes: 'number', voters: 'number', 'latency-ms': 'number', 'jitter-ms': 'number', loss: 'number', config: 'string',
  'heartbeat-ms': 'number', writes: 'number', 'window-ms': 'number', 'no-partition': 'boolean', 'no-failover': 'boolean',
  'form-timeout-ms': 'number', 'phase-timeout-ms': 'number', 'start-concurrency': 'number', json: 'boolean', out: 'string',
  cleanup: 'boolean', all: 'boolean', inside: 'string', 'daemon-json': 'string', 'daemon-cli': 'string', 'daemon-heap-mb': 'number', logs: 'string'
} as const

const KEY_OF_FLAG: Record<string, string> = {
  nodes: 'nodes', voters: 'voters', 'latency-ms': 'latencyMs', 'jitter-ms': 'jitterMs', loss: 'lossPercent', 'heartbeat-ms': 'heartbeatIntervalMs',
  writes: 'writes', 'window-ms': 'windowMs', 'form-timeout-ms': 'formTimeoutMs', 'phase-timeout-ms': 'phaseTimeoutMs', 'start-concurrency': 'startConcurrency',
  'daemon-json': 'daemon', 'daemon-cli': 'daemonCli', 'daemon-heap-mb': 'daemonHeapMb', logs: 'logsDir'
}

/** Options from flags and the scenario file. */
export function clusterOptions (flags: Record<string, unknown>): ClusterOptions {
  const raw: Record<string, unknown> = {}
  for (const [f, k] of Object.entries(KEY_OF_FLAG)) if (flags[f] !== undefined) raw[k] = flags[f]
  if (flags['no-partition'] === true) raw.partition = false
  if (flags['no-failover'] === true) raw.failover = false
  const file = typeof flags.config === 'string' ? readClusterConfig(flags.config) : {}
  return validateClusterOptions(raw, file, typeof flags.config === 'string' ? flags.config : 'config')
}

const CLI_JS = fileURLToPath(new URL('../../src/cli.js', import.meta.url))

/** `agora sim cluster ...`. */
export async function simCluster (args: string[], io: CliIo): Promise<number> {
  const { flags, positional } = parseFlags(args, FLAGS)
  if (positional.length > 0) throw new UsageError(`unexpected argument ${positional[0] ?? ''}`)
  if (flags.cleanup === true) {
    await checkPrerequisites()
    const cleaned = await cleanupStale(flags.all === true)
    if (flags.json === true) io.stdout(JSON.stringify({ cleaned }) + '\n')
    else io.stdout(cleaned.length === 0 ? 'nothing to clean up\n' : cleaned.map(c => `run ${c.run}: removed ${c.namespaces.length} namespaces\n`).join(''))
    return EXIT_OK
  }
  const o = clusterOptions(flags)
  if (typeof flags.inside === 'string') return await inside(flags.inside, o, flags, io)
  await checkPrerequisites()
  for (const c of await cleanupStale()) io.stderr(`cluster: removed stale run ${c.run} (${c.namespaces.length} namespaces)\n`)
  const run = randomBytes(3).toString('hex')
  mkdirSync(runDir(run), { recursive: true })
  writeFileSync(join(runDir(run), 'owner.pid'), String(process.pid))
  io.stderr(`cluster: run ${run}, ${o.nodes} peers\n`)
  try {
    await createSwitch(run)
    const child = spawn('ip', ['netns', 'exec', bridgeNs(run), nodeBinary(), CLI_JS, 'sim', 'cluster', ...args, '--inside', run], { stdio: ['ignore', 'pipe', 'pipe'] })
    child.stdout.on('data', (d: Buffer) => { io.stdout(d.toString()) })
    child.stderr.on('data', (d: Buffer) => { io.stderr(d.toString()) })
    const forward = (sig: NodeJS.Signals) => () => { child.kill(sig) }
    const handlers = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map(sig => [sig, forward(sig)] as const)
    for (const [sig, h] of handlers) process.on(sig, h)
    try {
      return await new Promise<number>((resolve) => {
        child.on('exit', (code, sig) => { resolve(code ?? (sig !== null ? 128 + (sig === 'SIGINT' ? 2 : 15) : EXIT_FAILED)) })
        child.on('error', (err) => { io.stderr(`cluster: ${err.message}\n`); resolve(EXIT_FAILED) })
      })
    } finally {
      for (const [sig, h] of handlers) process.off(sig, h)
    }
  } finally {
    await cleanupRun(run)
  }
}

/** The inner process, in the switch namespace: runs and measures, and removes the run however it ends. */
async function inside (run: string, o: ClusterOptions, flags: Record<string, unknown>, io: CliIo): Promise<number> {
  const log = (line: string): void => { io.stderr(`cluster ${run}: ${line}\n`) }
  let stopping = false
  const abort = (why: string, code: number): void => {
    if (stopping) return
    stopping = true
    log(`${why}: removing the run`)
    void cleanupRun(run).finally(() => { process.exit(code) })
  }
  const onSig = (sig: NodeJS.Signals) => () => { abort(sig, sig === 'SIGINT' ? 130 : 143) }
  const handlers = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map(sig => [sig, onSig(sig)] as const)
  for (const [sig, h] of handlers) process.on(sig, h)
  const parent = process.ppid
  const watch = setInterval(() => { if (process.ppid !== parent) abort('the harness process went away', EXIT_FAILED) }, 500)
  watch.unref()
  try {
    const report = await runCluster(run, o, {
      log,
      onStarted: (peers) => { log(`started ${JSON.stringify({ pid: process.pid, peers: peers.map(p => p.pid) })}`) }
    }, true)
    if (typeof flags.out === 'string') writeReport(flags.out, report)
    io.stdout(flags.json === true ? JSON.stringify(report) + '\n' : summary(report))
    return report.failed === undefined ? EXIT_OK : EXIT_FAILED
  } finally {
    clearInterval(watch)
    for (const [sig, h] of handlers) process.off(sig, h)
  }
}

/** The text summary of a report. */
export function summary (r: ClusterReport): string {
  const l = (k: string, v: string): string => `  ${k.padEnd(34)} ${v}\n`
  let s = `cluster run ${r.run}: ${r.nodes} peer processes, ${r.voters} Raft voters, link ${r.link.netem.length > 0 ? r.link.netem : 'unshaped'}, heartbeats every ${r.heartbeatIntervalMs} ms\n`
  s += l('all serving', `${r.startMs} ms`)
  s += l('mesh formed (each pair seen reachable)', `${r.formMs} ms from the first spawn, ${r.formAfterStartMs} ms after the last peer served`)
  s += l('every pair reachable at once', `${r.formAllAtOnceMs !== null ? `${r.formAllAtOnceMs} ms` : 'not within the wait'} (${round(100 * r.reachablePairsFraction, 1)} % of pairs in the last poll)`)
  s += l('Raft leader agreed', `${r.raftLeaderMs} ms`)
  s += l('TCP handshake RTT p50 / max', `${r.rtt.tcpHandshakeP50Ms} / ${r.rtt.tcpHandshakeMaxMs} ms (daemon estimate ${r.rtt.daemonRttP50Ms ?? 'n/a'} ms)`)
  s += l('write-to-visible p50 / p99 / max', `${r.writes.p50Ms} / ${r.writes.p99Ms} / ${r.writes.maxMs} ms (${r.writes.samples} samples, ${r.writes.missing} missing)`)
  s += l('heartbeats in / out per peer per s', `${r.idle.median.heartbeatsReceivedPerS} / ${r.idle.median.heartbeatsSentPerS} (median; max in ${r.idle.max.heartbeatsReceivedPerS})`)
  s += l('gossip msgs per peer per s', `${r.idle.median.gossipMessagesPerS} idle, ${r.writes.gossipMessagesPerPeerPerS} while writing`)
  s += l('heartbeat payload B per peer per s', `${r.idle.median.heartbeatBytesPerS} idle (sent + received)`)
  s += l('gossip payload B per peer per s', `${r.idle.median.gossipBytesPerS} idle, ${r.writes.gossipBytesPerPeerPerS} while writing`)
  s += l('wire bytes per peer per s', `${r.idle.median.wireBytesPerS} idle (max ${r.idle.max.wireBytesPerS}), ${r.writes.wireBytesPerPeerPerS} while writing`)
  s += l('CPU per peer (idle)', `${r.idle.median.cpuPercent} % median, ${r.idle.max.cpuPercent} % max (event-loop lag p99 ${r.idle.eventLoopLagP99MsMedian} ms; machine load ${r.loadAverage})`)
  s += l('RSS per peer', `${r.idle.rssMbMedian} MB median, ${r.idle.rssMbMax} MB max, ${round(r.idle.rssMbTotal / 1024, 2)} GB total`)
  if (r.partition !== undefined) {
    s += l('partition detected (both sides)', `${r.partition.detectMs} ms (${r.partition.sides[0].length} | ${r.partition.sides[1].length})`)
    s += l('side writes seen before heal', `${r.partition.sideWritesSeen[0]}/${r.partition.sides[0].length} and ${r.partition.sideWritesSeen[1]}/${r.partition.sides[1].length}`)
    s += l('converged after heal', r.partition.healConvergeMs !== null ? `${r.partition.healConvergeMs} ms` : `NOT within the phase bound (${r.partition.healLeft ?? ''})`)
  }
  if (r.failed !== undefined) s += l('FAILED', `${r.failed.phase}: ${r.failed.message}`)
  if (r.failover !== undefined) s += l('failover: new leader / commit', `${r.failover.electMs} / ${r.failover.commitMs} ms (killed peer ${r.failover.killedPeer})`)
  return s
}
