/**
 * Options of `agora sim cluster`: every resource has a named limit, every bad value an
 * InvalidOptionError (ERR_INVALID_OPTION) naming the flag or config key.
 *
 * A scenario file (`--config cluster.json|yaml`) holds the same keys as the flags (camelCase) plus
 * `links`: per-peer overrides of the link shaping, `{ "3": { "latencyMs": 80, "lossPercent": 1 } }`.
 * Flags win over the file.
 */
import { readFileSync } from 'node:fs'
import { parse as parseYaml } from 'yaml'
import { InvalidOptionError } from '../../src/base/errors.js'

/** Most peer processes one run starts (each ~100–150 MB RSS; 128 fit in 24 GiB with room for others). */
export const NODES_MAX = 128
/** Most Raft voters (the daemon's own bound). */
export const VOTERS_MAX = 7
/** Largest one-way latency or jitter of a link. */
export const LATENCY_MS_MAX = 5000
/** Loss is a percentage. */
export const LOSS_PERCENT_MAX = 100
/** Most probe writes of the write-to-visible phase. */
export const WRITES_MAX = 1000
/** Longest sampling window of the rate phase (messages, bytes, CPU per second). */
export const WINDOW_MS_MAX = 600_000
/** Longest bound of any phase (formation included). */
export const PHASE_TIMEOUT_MS_MAX = 3_600_000
/** Most peer processes started at once. */
export const START_CONCURRENCY_MAX = 32
/** Heartbeat interval bounds given to the daemons. */
export const HEARTBEAT_MS_MIN = 100
export const HEARTBEAT_MS_MAX = 60_000
/** Largest old-space heap given to one daemon (`--daemon-heap-mb`, node's --max-old-space-size). */
export const DAEMON_HEAP_MB_MAX = 16_384
/** Least old-space heap of one daemon (below it a daemon does not start). */
export const DAEMON_HEAP_MB_MIN = 64
/** Most keys of the extra daemon config (`--daemon-json`, the scenario file's `daemon`). */
export const DAEMON_CONFIG_KEYS_MAX = 64
/** Bound of mesh formation: this plus {@link FORM_TIMEOUT_MS_PER_PEER} per peer, by default. */
export const FORM_TIMEOUT_MS_BASE = 120_000
export const FORM_TIMEOUT_MS_PER_PEER = 4000

/** Shaping of one peer's link to the bridge (netem on the peer's side, so each direction of a pair crosses one). */
export interface LinkShape {
  /** One-way delay added to every packet the peer sends, ms. */
  latencyMs: number
  /** Jitter (netem's uniform ± jitter), ms. */
  jitterMs: number
  /** Packets the peer sends that are dropped, %. */
  lossPercent: number
}

export interface ClusterOptions extends LinkShape {
  /** Peer processes. Default 5. */
  nodes: number
  /** Raft voters (the first `voters` peers). Default 3 (1 when nodes < 3). */
  voters: number
  /** Per-peer shaping overrides, by peer number (1-based). */
  links: Map<number, LinkShape>
  /** The daemons' heartbeat interval. Default 1000 ms. */
  heartbeatIntervalMs: number
  /** Probe writes of the write-to-visible phase. Default 20. */
  writes: number
  /** Sampling window of the idle rate phase. Default 10000 ms. */
  windowMs: number
  /** Run the partition/heal phase. Default true. */
  partition: boolean
  /** Run the failover phase (kill the Raft leader's process; needs 3+ voters). Default true. */
  failover: boolean
  /** Bound of mesh formation. Default 60 s + 2 s per peer. */
  formTimeoutMs: number
  /** Bound of every other phase. Default 120 s. */
  phaseTimeoutMs: number
  /** Peer processes started at once. Default 4. */
  startConcurrency: number
  /**
   * Extra keys of every daemon's config file (`--daemon-json '{...}'`, or the scenario file's `daemon`),
   * laid over the harness's own (which win for what the harness needs: addresses, data dir, token, voters).
   * The daemon validates them (an unknown key fails its start with the daemon's own error). Default none.
   */
  daemon: Record<string, unknown>
  /** The daemon entry point to run (`--daemon-cli path/dist/src/cli.js`, another build). Default this build's. */
  daemonCli?: string
  /** Old-space heap limit of each daemon, MB (`--daemon-heap-mb`); 0: node's default. Default 0. */
  daemonHeapMb: number
  /** Where to copy every daemon's log before the run is removed (`--logs dir`, as `<run>-p<i>.log`). Default: not kept. */
  logsDir?: string
}

const FLAG: Record<string, string> = {
  nodes: '--nodes', voters: '--voters', latencyMs: '--latency-ms', jitterMs: '--jitter-ms', lossPercent: '--loss',
  heartbeatIntervalMs: '--heartbeat-ms', writes: '--writes', windowMs: '--window-ms', formTimeoutMs: '--form-timeout-ms',
  phaseTimeoutMs: '--phase-timeout-ms', startConcurrency: '--start-concurrency', partition: '--no-partition', failover: '--no-failover',
  daemon: '--daemon-json', daemonCli: '--daemon-cli', daemonHeapMb: '--daemon-heap-mb', logsDir: '--logs'
}

function num (raw: Record<string, unknown>, key: string, def: number, min: number, max: number, limit: string, src: string, int = true): number {
  const v = raw[key]
  if (v === undefined) return def
  const name = src === 'flags' ? FLAG[key] ?? key : `${src}: ${key}`
  if (typeof v !== 'number' || !Number.isFinite(v) || (int && !Number.isInteger(v))) throw new InvalidOptionError(name, `must be ${int ? 'an integer' : 'a number'}, got ${JSON.stringify(v)}`)
  if (v < min || v > max) throw new InvalidOptionError(name, `must be in [${min}, ${max}] (${limit}), got ${v}`, { limit, max })
  return v
}

function shape (raw: Record<string, unknown>, def: LinkShape, src: string): LinkShape {
  const s = {
    latencyMs: num(raw, 'latencyMs', def.latencyMs, 0, LATENCY_MS_MAX, 'LATENCY_MS_MAX', src, false),
    jitterMs: num(raw, 'jitterMs', def.jitterMs, 0, LATENCY_MS_MAX, 'LATENCY_MS_MAX', src, false),
    lossPercent: num(raw, 'lossPercent', def.lossPercent, 0, LOSS_PERCENT_MAX, 'LOSS_PERCENT_MAX', src, false)
  }
  if (s.jitterMs > s.latencyMs) throw new InvalidOptionError(src === 'flags' ? '--jitter-ms' : `${src}: jitterMs`, `jitter (${s.jitterMs} ms) must not exceed the latency (${s.latencyMs} ms)`)
  return s
}

const KEYS = new Set([...Object.keys(FLAG), 'links'])

/** Reads a scenario file (JSON or YAML); an unreadable or malformed one is an InvalidOptionError naming `--config`. */
export function readClusterConfig (file: string): Record<string, unknown> {
  let text: string
  try { text = readFileSync(file, 'utf8') } catch (err) { throw new InvalidOptionError('--config', `cannot read ${file}: ${(err as Error).message}`) }
  let v: unknown
  try { v = /\.json$/i.test(file) ? JSON.parse(text) : parseYaml(text) } catch (err) { throw new InvalidOptionError('--config', `${file} is not valid: ${(err as Error).message}`) }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new InvalidOptionError('--config', `${file}: the top level must be an object`)
  return v as Record<string, unknown>
}

/**
 * Validates options from a scenario file (`fileRaw`, named `src`) and flags (`flagRaw`, winning).
 * Throws InvalidOptionError naming the flag or key.
 */
export function validateClusterOptions (flagRaw: Record<string, unknown>, fileRaw: Record<string, unknown> = {}, src = 'config'): ClusterOptions {
  for (const k of Object.keys(fileRaw)) if (!KEYS.has(k)) throw new InvalidOptionError(`${src}: ${k}`, 'unknown key')
  const pick = (key: string): [Record<string, unknown>, string] => flagRaw[key] !== undefined ? [flagRaw, 'flags'] : [fileRaw, src]
  const n = (key: string, def: number, min: number, max: number, limit: string): number => { const [r, s] = pick(key); return num(r, key, def, min, max, limit, s) }
  const nodes = n('nodes', 5, 2, NODES_MAX, 'NODES_MAX')
  const voters = n('voters', Math.min(3, nodes), 1, Math.min(VOTERS_MAX, nodes), nodes < VOTERS_MAX ? 'the number of nodes' : 'VOTERS_MAX')
  const base = shape({ ...fileRaw, ...Object.fromEntries(['latencyMs', 'jitterMs', 'lossPercent'].filter(k => flagRaw[k] !== undefined).map(k => [k, flagRaw[k]])) },
    { latencyMs: 0, jitterMs: 0, lossPercent: 0 }, ['latencyMs', 'jitterMs', 'lossPercent'].some(k => flagRaw[k] !== undefined) ? 'flags' : src)
  const links = new Map<number, LinkShape>()
  const rawLinks = fileRaw.links
  if (rawLinks !== undefined) {
    if (rawLinks === null || typeof rawLinks !== 'object' || Array.isArray(rawLinks)) throw new InvalidOptionError(`${src}: links`, 'must be an object of peer number → { latencyMs, jitterMs, lossPercent }')
    for (const [k, v] of Object.entries(rawLinks as Record<string, unknown>)) {
      const i = Number(k)
      if (!/^[0-9]{1,4}$/.test(k) || i < 1 || i > nodes) throw new InvalidOptionError(`${src}: links.${k}`, `must name a peer in [1, ${nodes}]`)
      if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new InvalidOptionError(`${src}: links.${k}`, 'must be { latencyMs, jitterMs, lossPercent }')
      for (const kk of Object.keys(v)) if (!['latencyMs', 'jitterMs', 'lossPercent'].includes(kk)) throw new InvalidOptionError(`${src}: links.${k}.${kk}`, 'unknown key')
      links.set(i, shape(v as Record<string, unknown>, base, `${src}: links.${k}`))
    }
  }
  const bool = (key: string, def: boolean): boolean => {
    const [r, s] = pick(key)
    const v = r[key]
    if (v === undefined) return def
    if (typeof v !== 'boolean') throw new InvalidOptionError(s === 'flags' ? FLAG[key]! : `${s}: ${key}`, `must be true or false, got ${JSON.stringify(v)}`)
    return v
  }
  const failover = bool('failover', true)
  if (failover && voters < 3) throw new InvalidOptionError('--voters', `the failover phase needs at least 3 voters (got ${voters}); add --no-failover or more voters`)
  return {
    nodes,
    voters,
    ...base,
    links,
    heartbeatIntervalMs: n('heartbeatIntervalMs', 1000, HEARTBEAT_MS_MIN, HEARTBEAT_MS_MAX, 'HEARTBEAT_MS_MAX'),
    writes: n('writes', 20, 1, WRITES_MAX, 'WRITES_MAX'),
    windowMs: n('windowMs', 10_000, 1000, WINDOW_MS_MAX, 'WINDOW_MS_MAX'),
    partition: bool('partition', true),
    failover,
    formTimeoutMs: n('formTimeoutMs', FORM_TIMEOUT_MS_BASE + FORM_TIMEOUT_MS_PER_PEER * nodes, 1000, PHASE_TIMEOUT_MS_MAX, 'PHASE_TIMEOUT_MS_MAX'),
    phaseTimeoutMs: n('phaseTimeoutMs', 120_000, 1000, PHASE_TIMEOUT_MS_MAX, 'PHASE_TIMEOUT_MS_MAX'),
    startConcurrency: n('startConcurrency', 4, 1, START_CONCURRENCY_MAX, 'START_CONCURRENCY_MAX'),
    daemon: daemonConfig(...pick('daemon')),
    ...str(...pick('daemonCli'), 'daemonCli'),
    daemonHeapMb: heapMb(...pick('daemonHeapMb')),
    ...str(...pick('logsDir'), 'logsDir')
  }
}

const flagOrKey = (src: string, key: string): string => src === 'flags' ? FLAG[key] ?? key : `${src}: ${key}`

/** The extra daemon config: an object of at most {@link DAEMON_CONFIG_KEYS_MAX} keys (a flag's value is JSON text). */
function daemonConfig (raw: Record<string, unknown>, src: string): Record<string, unknown> {
  let v = raw.daemon
  if (v === undefined) return {}
  const name = flagOrKey(src, 'daemon')
  if (typeof v === 'string') {
    try { v = JSON.parse(v) } catch (err) { throw new InvalidOptionError(name, `is not JSON: ${(err as Error).message}`) }
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new InvalidOptionError(name, 'must be an object of daemon config keys')
  if (Object.keys(v).length > DAEMON_CONFIG_KEYS_MAX) throw new InvalidOptionError(name, `has more than ${DAEMON_CONFIG_KEYS_MAX} keys (DAEMON_CONFIG_KEYS_MAX)`, { limit: 'DAEMON_CONFIG_KEYS_MAX', max: DAEMON_CONFIG_KEYS_MAX })
  return Object.assign(Object.create(null) as Record<string, unknown>, v)
}

function str (raw: Record<string, unknown>, src: string, key: 'daemonCli' | 'logsDir'): Record<string, string> {
  const v = raw[key]
  if (v === undefined) return {}
  if (typeof v !== 'string' || v.length === 0) throw new InvalidOptionError(flagOrKey(src, key), `must be a non-empty path, got ${JSON.stringify(v)}`)
  return { [key]: v }
}

function heapMb (raw: Record<string, unknown>, src: string): number {
  const v = num(raw, 'daemonHeapMb', 0, 0, DAEMON_HEAP_MB_MAX, 'DAEMON_HEAP_MB_MAX', src)
  if (v !== 0 && v < DAEMON_HEAP_MB_MIN) throw new InvalidOptionError(flagOrKey(src, 'daemonHeapMb'), `must be 0 (node's default) or at least ${DAEMON_HEAP_MB_MIN} MB, got ${v}`)
  return v
}

/** The shaping of peer `i`'s link. */
export function linkOf (o: ClusterOptions, i: number): LinkShape {
  return o.links.get(i) ?? { latencyMs: o.latencyMs, jitterMs: o.jitterMs, lossPercent: o.lossPercent }
}
