/**
 * The kernel network of a cluster run: one namespace per peer, joined by veth links to bridges in a
 * namespace of the run's own. Nothing is made in the host's namespace.
 *
 *   agc-<run>-br   the switch: bridge `br0` (the mesh), bridge `br1` (the far side of a partition),
 *                  bridge `ctl0` (10.78.0.1/24: the harness's control network, never shaped nor cut)
 *   agc-<run>-p<i> peer i: `eth0` 10.77.0.<i+10>/24 on br0 (netem on its egress), `eth1` 10.78.0.<i+10>/24 on ctl0
 *
 * Bridge-side ends are `agc<run>d<i>` (data) and `agc<run>c<i>` (control). Shaping (delay, jitter, loss):
 *
 * - `netem` (the kernel has sch_netem): a netem qdisc on the peer's `eth0`, `agc<run>d<i>` on br0;
 * - `shaper` (it has not, as on this machine's VM kernel): `agc<run>d<i>` is relayed by shaper.py (AF_PACKET,
 *   in the switch namespace) to a veth pair `agc<run>s<i>` ↔ `agc<run>b<i>`, whose `b` end is on br0; the
 *   peer's `eth0` runs without offloads (complete checksums, frames within the MTU);
 * - `none` (nothing shaped): `agc<run>d<i>` on br0, the kernel's path only.
 *
 * A partition moves the bridge ports of one group to `br1`: the two groups cannot exchange a packet while
 * each stays connected inside; heal moves them back. Isolating one peer sets its port down. Every name carries the fixed prefix
 * {@link NAME_PREFIX} and the run id, so a later run (or `agora sim cluster --cleanup`) finds what a killed
 * run left behind.
 */
import { execFile, spawn } from 'node:child_process'
import { readFileSync, readdirSync, rmSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ClusterNetworkError, ClusterNotRootError, ClusterToolMissingError } from './errors.js'
import type { LinkShape } from './options.js'

/** Prefix of every namespace (`agc-`) and interface (`agc`) a run makes. */
export const NAME_PREFIX = 'agc'
/** Most network commands in flight at once. */
export const NET_COMMANDS_CONCURRENCY_MAX = 8
/** The mesh subnet (peer i: .i+10) and the control subnet (harness: .1). */
export const MESH_SUBNET = '10.77.0'
export const CONTROL_SUBNET = '10.78.0'
/** Where runs keep their owner's pid and their peers' data dirs. */
export const RUNS_DIR = join(tmpdir(), 'agora-cluster')

const RUN_RE = /^[0-9a-f]{6}$/
const NS_RE = new RegExp(`^${NAME_PREFIX}-([0-9a-f]{6})-(br|p[0-9]{1,3})$`)

export const bridgeNs = (run: string): string => `${NAME_PREFIX}-${run}-br`
export const peerNs = (run: string, i: number): string => `${NAME_PREFIX}-${run}-p${i}`
export const dataIf = (run: string, i: number): string => `${NAME_PREFIX}${run}d${i}`
export const controlIf = (run: string, i: number): string => `${NAME_PREFIX}${run}c${i}`
export const shaperIf = (run: string, i: number): string => `${NAME_PREFIX}${run}s${i}`
export const shapedPortIf = (run: string, i: number): string => `${NAME_PREFIX}${run}b${i}`

/** How links are shaped (see the module doc). */
export type ShapingMode = 'netem' | 'shaper' | 'none'

/** The bridge port of peer i's mesh link (what a partition moves). */
export const portIf = (run: string, i: number, mode: ShapingMode): string => mode === 'shaper' ? shapedPortIf(run, i) : dataIf(run, i)

/** shaper.py: next to this file in the sources, or under sim/cluster/ from dist/. */
export function shaperScript (): string {
  for (const rel of ['./shaper.py', '../../../sim/cluster/shaper.py']) {
    const f = fileURLToPath(new URL(rel, import.meta.url))
    if (existsSync(f)) return f
  }
  throw new ClusterToolMissingError('sim/cluster/shaper.py', 'the userspace link shaper is not next to the harness')
}

/** Whether the kernel has sch_netem (tried on the switch namespace's loopback). */
export async function netemAvailable (run: string): Promise<boolean> {
  try {
    await sh('tc', ['-n', bridgeNs(run), 'qdisc', 'add', 'dev', 'lo', 'root', 'netem', 'delay', '0ms'])
    await sh('tc', ['-n', bridgeNs(run), 'qdisc', 'del', 'dev', 'lo', 'root'])
    return true
  } catch { return false }
}

/** The shaping mode of a run: none when nothing is shaped, else netem when the kernel has it, else the shaper. */
export async function shapingMode (run: string, shapes: readonly LinkShape[]): Promise<ShapingMode> {
  if (shapes.every(s => netemArgs(s).length === 0)) return 'none'
  return await netemAvailable(run) ? 'netem' : 'shaper'
}
export const meshAddr = (i: number): string => `${MESH_SUBNET}.${i + 10}`
export const controlAddr = (i: number): string => `${CONTROL_SUBNET}.${i + 10}`
export const runDir = (run: string): string => join(RUNS_DIR, run)

/** Runs a command; a non-zero exit is a ClusterNetworkError naming it. */
export async function sh (cmd: string, args: string[]): Promise<string> {
  return await new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err !== null) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') reject(new ClusterToolMissingError(cmd, 'not found on PATH'))
        else reject(new ClusterNetworkError(`${cmd} ${args.join(' ')}`, stderr.length > 0 ? stderr : err.message))
        return
      }
      resolve(stdout)
    })
  })
}

/** Runs `fns` at most {@link NET_COMMANDS_CONCURRENCY_MAX} at once. */
export async function inPool<T> (items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => { while (next < items.length) { const it = items[next++]!; await fn(it) } }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
}

/** Root, `ip` and `tc` present, or a named error saying which is missing. */
export async function checkPrerequisites (): Promise<void> {
  const uid = process.getuid?.() ?? -1
  if (uid !== 0) throw new ClusterNotRootError(uid)
  await sh('ip', ['-V']).catch((err) => { throw err instanceof ClusterToolMissingError ? err : new ClusterToolMissingError('ip', (err as Error).message) })
  await sh('tc', ['-V']).catch((err) => { throw err instanceof ClusterToolMissingError ? err : new ClusterToolMissingError('tc', (err as Error).message) })
}

/** The netem arguments of a shape (`delay 20ms 5ms loss 1%`); empty when it shapes nothing. */
export function netemArgs (s: LinkShape): string[] {
  const a: string[] = []
  if (s.latencyMs > 0 || s.jitterMs > 0) a.push('delay', `${s.latencyMs}ms`, ...(s.jitterMs > 0 ? [`${s.jitterMs}ms`] : []))
  if (s.lossPercent > 0) a.push('loss', `${s.lossPercent}%`)
  return a
}

/** Makes the switch namespace and its bridges. */
export async function createSwitch (run: string): Promise<void> {
  const br = bridgeNs(run)
  await sh('ip', ['netns', 'add', br])
  await sh('ip', ['-n', br, 'link', 'set', 'lo', 'up'])
  for (const b of ['br0', 'br1', 'ctl0']) {
    await sh('ip', ['-n', br, 'link', 'add', b, 'type', 'bridge'])
    await sh('ip', ['-n', br, 'link', 'set', b, 'up'])
  }
  await sh('ip', ['-n', br, 'addr', 'add', `${CONTROL_SUBNET}.1/24`, 'dev', 'ctl0'])
}

/** Makes peer i's namespace and its two links, and shapes its mesh link (netem mode). */
export async function createPeerNet (run: string, i: number, shape: LinkShape, mode: ShapingMode): Promise<void> {
  const br = bridgeNs(run)
  const ns = peerNs(run, i)
  await sh('ip', ['netns', 'add', ns])
  // Frames relayed through userspace must fit the MTU: no segmentation offload on the shaped link.
  const gso = mode === 'shaper' ? ['gso_max_segs', '1', 'gso_max_size', '1514'] : []
  await sh('ip', ['-n', br, 'link', 'add', dataIf(run, i), ...gso, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns, ...gso])
  await sh('ip', ['-n', br, 'link', 'add', controlIf(run, i), 'type', 'veth', 'peer', 'name', 'eth1', 'netns', ns])
  if (mode === 'shaper') {
    await sh('ip', ['-n', br, 'link', 'add', shaperIf(run, i), ...gso, 'type', 'veth', 'peer', 'name', shapedPortIf(run, i), ...gso])
    await sh('ip', ['-n', br, 'link', 'set', shaperIf(run, i), 'up'])
    await sh('ip', ['-n', br, 'link', 'set', dataIf(run, i), 'up'])
    await sh('ip', ['-n', br, 'link', 'set', shapedPortIf(run, i), 'master', 'br0', 'up'])
  } else {
    await sh('ip', ['-n', br, 'link', 'set', dataIf(run, i), 'master', 'br0', 'up'])
  }
  await sh('ip', ['-n', br, 'link', 'set', controlIf(run, i), 'master', 'ctl0', 'up'])
  await sh('ip', ['-n', ns, 'addr', 'add', `${meshAddr(i)}/24`, 'dev', 'eth0'])
  await sh('ip', ['-n', ns, 'addr', 'add', `${controlAddr(i)}/24`, 'dev', 'eth1'])
  for (const dev of ['lo', 'eth0', 'eth1']) await sh('ip', ['-n', ns, 'link', 'set', dev, 'up'])
  if (mode === 'shaper') await sh('ip', ['netns', 'exec', ns, 'python3', shaperScript(), 'offload-off', 'eth0'])
  if (mode === 'netem') await shapeLink(run, i, shape)
}

/** Sets (or replaces) the netem qdisc on peer i's mesh link; a zero shape removes it. */
export async function shapeLink (run: string, i: number, shape: LinkShape): Promise<void> {
  const args = netemArgs(shape)
  const ns = peerNs(run, i)
  if (args.length === 0) {
    await sh('tc', ['-n', ns, 'qdisc', 'del', 'dev', 'eth0', 'root']).catch(() => {})
    return
  }
  await sh('tc', ['-n', ns, 'qdisc', 'replace', 'dev', 'eth0', 'root', 'netem', ...args])
}

/** Bound of the shaper's start (its `ready` line). */
export const SHAPER_START_TIMEOUT_MS = 10_000

/**
 * Starts shaper.py (the caller runs in the switch namespace) for peers' links `shapes` (index 0 = peer 1);
 * resolves once it relays, with a function that stops it.
 */
export async function startShaper (run: string, shapes: readonly LinkShape[]): Promise<() => void> {
  const child = spawn('python3', [shaperScript()], { stdio: ['pipe', 'pipe', 'inherit'] })
  const links = shapes.map((s, k) => ({ a: dataIf(run, k + 1), b: shaperIf(run, k + 1), delayMs: s.latencyMs, jitterMs: s.jitterMs, lossPercent: s.lossPercent }))
  child.stdin.write(JSON.stringify({ links, seed: 1 }) + '\n')
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new ClusterToolMissingError('python3', `shaper.py printed no "ready" within ${SHAPER_START_TIMEOUT_MS} ms`)) }, SHAPER_START_TIMEOUT_MS)
    child.on('error', (err) => { clearTimeout(timer); reject(new ClusterToolMissingError('python3', err.message)) })
    child.on('exit', (code) => { clearTimeout(timer); reject(new ClusterNetworkError('shaper.py', `exited (${code ?? '?'}) before it was ready`)) })
    child.stdout.on('data', (d: Buffer) => { if (d.toString().includes('ready')) { clearTimeout(timer); child.removeAllListeners('exit'); resolve() } })
  })
  return () => { child.stdin.end(); child.kill('SIGTERM') }
}

/** Describes a link's shaping for the report (`tc qdisc show`, or the shaper's parameters). */
export async function describeShape (run: string, i: number, shape: LinkShape, mode: ShapingMode): Promise<string> {
  if (mode === 'netem') return await showShape(run, i)
  if (mode === 'none') return 'unshaped'
  return `shaper.py (no sch_netem in this kernel): ${netemArgs(shape).join(' ')}`
}

/** Reads the netem qdisc of peer i's mesh link (`tc qdisc show`), for the report. */
export async function showShape (run: string, i: number): Promise<string> {
  return (await sh('tc', ['-n', peerNs(run, i), 'qdisc', 'show', 'dev', 'eth0'])).trim()
}

/** Splits the mesh: the data links of `side` move to the far bridge. */
export async function partition (run: string, side: readonly number[], mode: ShapingMode): Promise<void> {
  await inPool(side, NET_COMMANDS_CONCURRENCY_MAX, async (i) => { await sh('ip', ['-n', bridgeNs(run), 'link', 'set', portIf(run, i, mode), 'master', 'br1']) })
}

/** Heals a partition: every data link back on the mesh bridge, and up. */
export async function heal (run: string, nodes: readonly number[], mode: ShapingMode): Promise<void> {
  await inPool(nodes, NET_COMMANDS_CONCURRENCY_MAX, async (i) => {
    await sh('ip', ['-n', bridgeNs(run), 'link', 'set', portIf(run, i, mode), 'master', 'br0', 'up'])
  })
}

/** Cuts peer i off the mesh (its data link down at the switch). */
export async function isolate (run: string, i: number, mode: ShapingMode): Promise<void> {
  await sh('ip', ['-n', bridgeNs(run), 'link', 'set', portIf(run, i, mode), 'down'])
}

/** Namespaces of runs (ours by prefix), by run id. */
export async function listRuns (): Promise<Map<string, string[]>> {
  const out = await sh('ip', ['netns', 'list'])
  const runs = new Map<string, string[]>()
  for (const line of out.split('\n')) {
    const name = line.split(' ')[0] ?? ''
    const m = NS_RE.exec(name)
    if (m === null) continue
    const l = runs.get(m[1]!) ?? []
    l.push(name)
    runs.set(m[1]!, l)
  }
  // Runs whose namespaces are gone but whose directory is left.
  if (existsSync(RUNS_DIR)) for (const d of readdirSync(RUNS_DIR)) if (RUN_RE.test(d) && !runs.has(d)) runs.set(d, [])
  return runs
}

/** The pid of the process that owns a run (written at its start), if the file is there. */
export function runOwner (run: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(runDir(run), 'owner.pid'), 'utf8').trim())
    return Number.isInteger(pid) && pid > 0 ? pid : undefined
  } catch { return undefined }
}

/** Whether a process is alive. */
export function alive (pid: number): boolean {
  try { process.kill(pid, 0); return true } catch (err) { return (err as NodeJS.ErrnoException).code === 'EPERM' }
}

/** A run is stale when its owner process is gone. */
export function isStale (run: string): boolean {
  const pid = runOwner(run)
  return pid === undefined || !alive(pid)
}

/**
 * Removes everything of one run: kills every process left in its namespaces, deletes the namespaces
 * (their veth links go with them) and its directory. Idempotent; returns the namespaces it deleted.
 */
export async function cleanupRun (run: string): Promise<string[]> {
  if (!RUN_RE.test(run)) throw new ClusterNetworkError(`cleanup ${run}`, 'not a run id')
  const runs = await listRuns()
  const names = runs.get(run) ?? []
  for (const ns of names) {
    const pids = (await sh('ip', ['netns', 'pids', ns]).catch(() => '')).split('\n').map(Number).filter(p => Number.isInteger(p) && p > 0)
    // Never this process (the harness itself runs in the switch namespace).
    for (const p of pids) { if (p !== process.pid) { try { process.kill(p, 'SIGKILL') } catch {} } }
  }
  const deleted: string[] = []
  // Peers first, the switch last.
  for (const ns of names.sort((a, b) => (a.endsWith('-br') ? 1 : 0) - (b.endsWith('-br') ? 1 : 0))) {
    await sh('ip', ['netns', 'del', ns]).then(() => { deleted.push(ns) }, () => {})
  }
  rmSync(runDir(run), { recursive: true, force: true })
  return deleted
}

/** Cleans up every run whose owner is gone (or every run, with `all`); returns the run ids cleaned. */
export async function cleanupStale (all = false): Promise<Array<{ run: string, namespaces: string[] }>> {
  const out: Array<{ run: string, namespaces: string[] }> = []
  for (const run of (await listRuns()).keys()) {
    if (all || isStale(run)) out.push({ run, namespaces: await cleanupRun(run) })
  }
  return out
}
