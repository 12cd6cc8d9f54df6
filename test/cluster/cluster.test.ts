/**
 * The multi-process harness (`agora sim cluster`, sim/cluster/) at small N, for real: daemon processes in
 * network namespaces, links shaped (netem, or shaper.py where the kernel has no sch_netem), a partition
 * cut by the kernel, heal, failover, and cleanup, also after the harness is SIGKILLed (+ --cleanup).
 *
 * Needs root and iproute2 (CI runs as root): without them the suite fails in beforeAll with the named
 * error (ClusterNotRootError, ClusterToolMissingError), never skips. Needs `npm run build` (dist/).
 */
import { execFileSync, spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { InvalidOptionError } from '../../src/base/errors.js'
import { checkPrerequisites, netemArgs } from '../../sim/cluster/net.js'
import { DAEMON_CONFIG_KEYS_MAX, NODES_MAX, validateClusterOptions } from '../../sim/cluster/options.js'
import { BOOTSTRAP_PEERS_MAX, bootstrapOf } from '../../sim/cluster/peers.js'
import type { ClusterReport } from '../../sim/cluster/run.js'
import { waitUntil } from '../helpers/wait.js'

const NODE = join(process.cwd(), 'node_modules/.bin/node')
const CLI = join(process.cwd(), 'dist/src/cli.js')

const namespacesOf = (run: string): string[] =>
  execFileSync('ip', ['netns', 'list'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n').map(l => l.split(' ')[0]!).filter(n => n.startsWith(`agc-${run}-`))

const alive = (pid: number): boolean => { try { process.kill(pid, 0); return true } catch { return false } }

function runCli (args: string[], opts: { env?: NodeJS.ProcessEnv, uid?: number } = {}): { child: ChildProcess, done: Promise<{ code: number | null, stdout: string, stderr: string }>, stderr: () => string } {
  const child = spawn(NODE, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env, ...(opts.uid !== undefined ? { uid: opts.uid, gid: opts.uid } : {}) })
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString() })
  const done = new Promise<{ code: number | null, stdout: string, stderr: string }>((resolve) => { child.on('exit', (code) => { resolve({ code, stdout, stderr }) }) })
  return { child, done, stderr: () => stderr }
}

beforeAll(async () => {
  // Fails (never skips) with ClusterNotRootError or ClusterToolMissingError naming what is missing.
  await checkPrerequisites()
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`)
})

describe('cluster options', () => {
  it('refuses bad options with named errors naming the flag or key', () => {
    const bad = (f: () => unknown, path: string): void => {
      try { f(); expect.unreachable('accepted') } catch (err) {
        expect(err).toBeInstanceOf(InvalidOptionError)
        expect((err as InvalidOptionError).code).toBe('ERR_INVALID_OPTION')
        expect((err as InvalidOptionError).details.path).toBe(path)
      }
    }
    bad(() => validateClusterOptions({ nodes: NODES_MAX + 1 }), '--nodes')
    bad(() => validateClusterOptions({ nodes: 1 }), '--nodes')
    bad(() => validateClusterOptions({ nodes: 5, voters: 2 }), '--voters')
    bad(() => validateClusterOptions({ latencyMs: 5, jitterMs: 10 }), '--jitter-ms')
    bad(() => validateClusterOptions({}, { lossPercent: 101 }, 'c.json'), 'c.json: lossPercent')
    bad(() => validateClusterOptions({}, { colour: 'red' }, 'c.json'), 'c.json: colour')
    bad(() => validateClusterOptions({ nodes: 3 }, { links: { 4: { latencyMs: 1 } } }, 'c.json'), 'c.json: links.4')
    bad(() => validateClusterOptions({ daemon: '{"liveness": ' }), '--daemon-json')
    bad(() => validateClusterOptions({ daemon: '[1]' }), '--daemon-json')
    bad(() => validateClusterOptions({}, { daemon: Object.fromEntries(Array.from({ length: DAEMON_CONFIG_KEYS_MAX + 1 }, (_, k) => [`k${k}`, k])) }, 'c.json'), 'c.json: daemon')
    bad(() => validateClusterOptions({ daemonHeapMb: 8 }), '--daemon-heap-mb')
    bad(() => validateClusterOptions({ daemonCli: '' }), '--daemon-cli')
    expect(validateClusterOptions({ daemon: '{"liveness":"probe"}', daemonHeapMb: 256 })).toMatchObject({ daemon: { liveness: 'probe' }, daemonHeapMb: 256 })
    const o = validateClusterOptions({ nodes: 4, latencyMs: 30 }, { links: { 2: { latencyMs: 80, lossPercent: 1 } } }, 'c.json')
    expect(o.links.get(2)).toEqual({ latencyMs: 80, jitterMs: 0, lossPercent: 1 })
    expect(netemArgs(o.links.get(2)!)).toEqual(['delay', '80ms', 'loss', '1%'])
  })

  it('spreads bootstrap peers over the peers already serving, none taking every joiner', () => {
    // The first batch (nothing serving yet) is given each other.
    expect(bootstrapOf(2, [], [1, 2, 3, 4])).toEqual([1, 3, 4])
    // Later peers: at most BOOTSTRAP_PEERS_MAX distinct serving peers, never itself.
    const served: number[] = [1, 2, 3, 4]
    const dialled = new Map<number, number>()
    for (let i = 5; i <= 100; i++) {
      const b = bootstrapOf(i, served, [1, 2, 3, 4])
      expect(b.length).toBe(BOOTSTRAP_PEERS_MAX)
      expect(new Set(b).size).toBe(b.length)
      for (const j of b) { expect(served).toContain(j); dialled.set(j, (dialled.get(j) ?? 0) + 1) }
      served.push(i)
    }
    // With the first three as everyone's bootstrap each took 96 joiners; spread, none takes a third of them.
    expect(Math.max(...dialled.values())).toBeLessThan(96 / 3)
  })

  it('exits 2 naming the flag on a bad flag, before touching the network', async () => {
    const r = await runCli(['sim', 'cluster', '--nodes', String(NODES_MAX + 1)]).done
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('ERR_INVALID_OPTION')
    expect(r.stderr).toContain('--nodes')
  })

  it('fails with ERR_CLUSTER_NOT_ROOT when not root', async () => {
    const r = await runCli(['sim', 'cluster', '--nodes', '2', '--no-failover'], { uid: 65534 }).done
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('ERR_CLUSTER_NOT_ROOT')
  })

  it('fails with ERR_CLUSTER_TOOL_MISSING when iproute2 is not on PATH', async () => {
    const r = await runCli(['sim', 'cluster', '--nodes', '2', '--no-failover'], { env: { ...process.env, PATH: '/nonexistent' } }).done
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('ERR_CLUSTER_TOOL_MISSING')
  })
})

describe('agora sim cluster (3 daemon processes in namespaces)', () => {
  it('forms, shapes the links, splits the mesh in the kernel, heals, fails over, and removes everything', async () => {
    const latencyMs = 50
    const r = await runCli(['sim', 'cluster', '--nodes', '3', '--latency-ms', String(latencyMs), '--writes', '3', '--window-ms', '2000', '--json']).done
    expect(r.code, r.stderr).toBe(0)
    const report = JSON.parse(r.stdout.trim().split('\n').pop()!) as ClusterReport
    expect(report.nodes).toBe(3)
    // Shaping applied: a handshake crosses each peer's egress once (2 × latency), a floor no load lowers.
    expect(report.link.mode).not.toBe('none')
    expect(report.rtt.tcpHandshakeP50Ms).toBeGreaterThanOrEqual(2 * latencyMs * 0.95)
    // Writes were seen by every other peer.
    expect(report.writes.samples).toBe(3 * 2)
    expect(report.writes.missing).toBe(0)
    expect(report.writes.p50Ms).toBeGreaterThanOrEqual(latencyMs * 0.95)
    // The kernel partition split the mesh: every peer saw the whole other side unreachable, then healed.
    expect(report.partition?.sides).toEqual([[1, 2], [3]])
    expect(report.partition?.unreachableSeenMin).toBe(1)
    // Each side spread its own write, then every peer held both after the heal.
    expect(report.partition?.sideWritesSeen).toEqual([2, 1])
    expect(report.partition?.healConverged).toBe(true)
    expect(report.failover?.killedPeer).toBeGreaterThanOrEqual(1)
    expect(report.idle.rssMbMedian).toBeGreaterThan(0)
    expect(report.idle.median.heartbeatsReceivedPerS).toBeGreaterThan(0)
    // The daemons count heartbeat payload bytes (agora_heartbeat_bytes_total) and the kernel the link's.
    expect(report.idle.median.heartbeatBytesPerS).toBeGreaterThan(0)
    expect(report.idle.median.wireBytesPerS).toBeGreaterThan(report.idle.median.heartbeatBytesPerS)
    expect(namespacesOf(report.run)).toEqual([])
  }, 600_000)

  it('leaves namespaces behind when SIGKILLed, and --cleanup removes them and their processes', async () => {
    const h = runCli(['sim', 'cluster', '--nodes', '3', '--no-partition', '--no-failover', '--window-ms', '600000'])
    try {
      const started = await waitUntil(() => /cluster ([0-9a-f]{6}): started (\{.*\})/.exec(h.stderr()) ?? undefined, { what: 'the harness started its peers', timeoutMs: 300_000, intervalMs: 200 })
      const run = started[1]!
      const { pid: inner, peers } = JSON.parse(started[2]!) as { pid: number, peers: number[] }
      expect(namespacesOf(run).length).toBe(4)
      // Both harness processes killed without a chance to clean up.
      process.kill(inner, 'SIGKILL')
      h.child.kill('SIGKILL')
      await h.done
      expect(namespacesOf(run).length).toBe(4)
      const c = await runCli(['sim', 'cluster', '--cleanup', '--json']).done
      expect(c.code, c.stderr).toBe(0)
      const cleaned = (JSON.parse(c.stdout) as { cleaned: Array<{ run: string, namespaces: string[] }> }).cleaned
      expect(cleaned.find(x => x.run === run)?.namespaces.length).toBe(4)
      expect(namespacesOf(run)).toEqual([])
      await waitUntil(() => peers.every(p => !alive(p)), { what: 'the peer processes gone', timeoutMs: 30_000 })
    } finally {
      if (h.child.exitCode === null) h.child.kill('SIGKILL')
    }
  }, 600_000)
})
