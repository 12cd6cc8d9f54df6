/**
 * The daemon's configuration: a file (JSON or YAML) merged with command-line flags (flags win),
 * validated with a strict schema before anything starts; a bad value is an InvalidOptionError naming
 * the flag it came from (`--listen`) or its key in the file (`raft.voters.1`), and so is an unknown key.
 */
import { readFileSync } from 'node:fs'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'
import { InvalidOptionError } from '../base/errors.js'
import { LOG_FORMATS } from '../base/log.js'
import { alertOptionsSchema } from '../../peers/health/alerts.js'
import { checksOptionsSchema } from '../../peers/options.js'
import { breakerSchema, rateLimitsSchema } from '../../peers/protect/options.js'

/** Default of `warnAfterMs`: how long a condition (no peer, Raft voters not connected...) lasts before it is a warning. */
export const WARN_AFTER_MS_DEFAULT = 10_000

const hostPort = z.string()
  .regex(/^[A-Za-z0-9.:[\]-]+:[0-9]{1,5}$/, 'must be host:port, e.g. 127.0.0.1:7070')
  .refine(v => Number(v.slice(v.lastIndexOf(':') + 1)) <= 65535, 'the port must be 0..65535')

function parseMultiaddr (v: string): Multiaddr | string {
  try { return multiaddr(v) } catch (err) { return (err as Error).message }
}

function isPeerId (v: string): boolean {
  try { peerIdFromString(v); return true } catch { return false }
}

/** A listen multiaddr: it parses and names a TCP port (the daemon's transport). */
const listenAddr = z.string().min(1).superRefine((v, ctx) => {
  const m = parseMultiaddr(v)
  if (typeof m === 'string') { ctx.addIssue({ code: 'custom', message: `${JSON.stringify(v)} is not a multiaddr (${m}); e.g. /ip4/0.0.0.0/tcp/4001` }); return }
  if (!m.getComponents().some(c => c.name === 'tcp')) ctx.addIssue({ code: 'custom', message: `${JSON.stringify(v)} has no /tcp/<port>; the daemon listens on TCP, e.g. /ip4/0.0.0.0/tcp/4001` })
})

/** A bootstrap multiaddr: it parses and ends in /p2p/<peer id> (a peer is dialled by its identity). */
const bootstrapAddr = z.string().min(1).superRefine((v, ctx) => {
  const m = parseMultiaddr(v)
  if (typeof m === 'string') { ctx.addIssue({ code: 'custom', message: `${JSON.stringify(v)} is not a multiaddr (${m}); e.g. /ip4/10.0.0.5/tcp/4001/p2p/12D3KooW...` }); return }
  const p2p = m.getComponents().find(c => c.name === 'p2p')
  if (p2p === undefined) { ctx.addIssue({ code: 'custom', message: `${JSON.stringify(v)} has no /p2p/<peer id> (get it with \`agora id --data-dir <dir>\` on that peer)` }); return }
  if (p2p.value === undefined || !isPeerId(p2p.value)) ctx.addIssue({ code: 'custom', message: `${JSON.stringify(p2p.value)} in ${JSON.stringify(v)} is not a libp2p peer id` })
})

const peerId = z.string().min(1).refine(isPeerId, { error: (i) => `${JSON.stringify(i.input)} is not a libp2p peer id (\`agora id --data-dir <dir>\` prints a peer's)` })

export const daemonConfigSchema = z.object({
  /** Mesh name. Default `agora`. */
  mesh: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1..64 characters of [A-Za-z0-9._-]').optional(),
  /** Data dir (identity, registry, Raft log, HTTP token and address, agents' HTTP handlers). Default: none (in memory). */
  dataDir: z.string().min(1).optional(),
  /** libp2p listen multiaddrs (TCP). Default: TCP on 127.0.0.1, free port. */
  listen: z.array(listenAddr).min(1).optional(),
  /** Bootstrap multiaddrs, each with /p2p/<peer id>. */
  bootstrap: z.array(bootstrapAddr).optional(),
  /** HTTP API address. Default 127.0.0.1:7070 (loopback only). Port 0 picks a free port. */
  http: hostPort.default('127.0.0.1:7070'),
  /**
   * Bearer token of the HTTP API. Prefer `tokenFile` or the AGORA_TOKEN environment variable: a flag is
   * visible to every local user in the process list. Default: generated into `<dataDir>/http.token`
   * (or random in memory).
   */
  token: z.string().min(16).optional(),
  /** Read the bearer token from this file (its first line, at least 16 characters). */
  tokenFile: z.string().min(1).optional(),
  /** Serve the HTTP API over TLS with this certificate and key (PEM files). */
  httpTls: z.object({ cert: z.string().min(1), key: z.string().min(1) }).strict().optional(),
  /** Allow the HTTP API on a non-loopback address without TLS (refused otherwise). Default false. */
  httpInsecure: z.boolean().default(false),
  /** HTTP connections open at once (beyond: new ones are refused). Default 256. */
  httpConnectionsMax: z.number().int().positive().max(100_000).default(256),
  /** Time to receive a whole request, headers and body (slow senders are cut off). Default 10000 ms. */
  httpRequestTimeoutMs: z.number().int().min(100).max(600_000).default(10_000),
  zone: z.string().min(1).max(128).optional(),
  /**
   * Peer ids allowed to connect, in either direction (the peer's `allowlist`). Default: anyone. Every
   * bootstrap peer must be on it.
   */
  allowlist: z.array(peerId).min(1, 'an empty allowlist would admit no peer; omit it to admit any').optional(),
  /**
   * A swarm key file (`agora pnet-key <file>`): run a private network, where only peers with the same key
   * can connect (the peer's `privateNetwork.keyFile`). Default: none.
   */
  pnetKeyFile: z.string().min(1).optional(),
  /** Raft group membership (see the peer's `raft` option). */
  raft: z.object({
    voters: z.array(peerId).min(1).max(7).optional(),
    learner: z.boolean().optional(),
    tickMs: z.number().int().positive().max(10_000).optional(),
    electionTick: z.number().int().min(2).max(1000).optional(),
    fsync: z.boolean().optional(),
    /** Applied entries between Raft snapshots. Default 10000. */
    snapshotEntries: z.number().int().positive().optional(),
    /** An fsync of the Raft log slower than this is logged (warn). Default 100 ms. */
    fsyncSlowMs: z.number().int().min(0).max(3_600_000).optional()
  }).strict().optional(),
  heartbeatIntervalMs: z.number().int().positive().max(24 * 3600 * 1000).optional(),
  /** Failure detection (the peer's `liveness` option): `heartbeat` (default) or `probe` (flat per-peer cost; one mode per mesh). */
  liveness: z.enum(['heartbeat', 'probe']).optional(),
  /**
   * Run kad-dht (the peer's `dht` option). Default true. Its lookups dial the peers closest to random keys
   * and nothing closes those connections, so in a mesh of a few dozen daemons each ends up connected to
   * nearly every other (29 connections to the 24 others at 25 peers, in one process), and what every connection
   * costs (gossipsub, pings, anti-entropy) grows with N. Off, a daemon keeps its bootstrap links and
   * those membership dials while below `connectionsTarget`.
   */
  dht: z.boolean().optional(),
  sessionLeaseTtlMs: z.number().int().min(500).max(3_600_000).optional(),
  /** The per-agent circuit breakers (the peer's `breaker` option): failureThreshold, windowMs, recoveryMs, recoveryMaxMs, probeTimeoutMs. */
  breaker: breakerSchema.optional(),
  /** Local rate limits (the peer's `rateLimits` option): agentRequests, peerRequests, writes, proposals, peerProposals, each { ratePerSecond, burst } or false. */
  rateLimits: rateLimitsSchema.optional(),
  logLevel: z.enum(['silent', 'error', 'warn', 'info', 'debug']).default('info'),
  /** `human` (one readable line per event) or `json` (one object per line). Default: human when stderr is a terminal, else json. */
  logFormat: z.enum(LOG_FORMATS).optional(),
  /** How long a condition (no peer reachable, Raft voters not connected, no peer of the mesh) lasts before it is a warning. Default 10000 ms. */
  warnAfterMs: z.number().int().positive().max(3_600_000).default(WARN_AFTER_MS_DEFAULT),
  /**
   * Shut down gracefully when the process that started the daemon goes away (its parent process id
   * changes), as when `npx agora start` is stopped: npm does not pass the signal on. Default: on when
   * started through npm/npx, off otherwise.
   */
  exitWithParent: z.boolean().optional(),
  /** Let agents' callbacks (PUT /v1/agents/:id/handler, bidders: POST /v1/agents/:id/bidder, voters: POST /v1/agents/:id/voter) point at non-loopback hosts. Default false. */
  allowRemoteBidCallbacks: z.boolean().default(false),
  /**
   * Calls (requests, messages, tasks, votes, bids...) waiting in the inbox of one agent whose HTTP handler
   * long-polls (PUT /v1/agents/:id/handler without callback); beyond, a call is refused and its caller gets
   * ERR_OVERLOADED. Default 256.
   */
  agentInboxMax: z.number().int().min(1).max(4096).default(256),
  /** Thresholds and hysteresis of the health report's conditions and alerts (the peer's `alerts` option; peers/health/alerts.ts). */
  alerts: alertOptionsSchema.optional(),
  /**
   * Agents' health checks (peers/checks). `allowHosts`: hosts HTTP checks may poll besides loopback
   * (`*`: any; default none: a non-loopback URL is refused with 400 ERR_CHECK_URL_NOT_ALLOWED).
   * `httpConcurrencyMax`: HTTP polls in flight at once (default 16). `outputSyncMs`: least time between two
   * registry writes of an agent whose checks' output changed but not their status (default 60000).
   */
  checks: checksOptionsSchema.optional(),
  /** Max bytes of an HTTP request body. Default 1 MiB. */
  bodyBytesMax: z.number().int().positive().max(64 * 1024 * 1024).default(1024 * 1024)
}).strict()

export type DaemonConfig = z.output<typeof daemonConfigSchema>

/** The command-line flag of each config key that has one. */
export const FLAG_OF_KEY: Readonly<Record<string, string>> = {
  dataDir: '--data-dir',
  listen: '--listen',
  bootstrap: '--bootstrap',
  http: '--http',
  mesh: '--mesh',
  zone: '--zone',
  token: '--token',
  tokenFile: '--token-file',
  'httpTls.cert': '--http-tls-cert',
  'httpTls.key': '--http-tls-key',
  httpInsecure: '--http-insecure',
  allowlist: '--allowlist',
  pnetKeyFile: '--pnet-key-file',
  logLevel: '--log-level',
  logFormat: '--log-format',
  'raft.voters': '--raft-voters'
}

function issuePath (issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return [...issue.path, ...(issue as { keys: string[] }).keys].join('.')
  return issue.path.length > 0 ? issue.path.join('.') : '(config)'
}

/**
 * Names a config path for a message: the flag it came from when `fromFlags` holds its key
 * (`listen.1` → `--listen`), else the key path prefixed by the source (`agora.yaml: raft.voters.1`).
 */
export function describePath (path: string, source: string, fromFlags: ReadonlySet<string>): string {
  for (const key of Object.keys(FLAG_OF_KEY)) {
    if ((path === key || path.startsWith(key + '.')) && fromFlags.has(key)) return FLAG_OF_KEY[key]!
  }
  return source === 'flags' ? path : `${source}: ${path}`
}

/**
 * Validates a config object; InvalidOptionError names the bad flag (for keys in `fromFlags`) or the
 * bad key's path.
 */
export function validateConfig (raw: unknown, source = 'config', fromFlags: ReadonlySet<string> = new Set()): DaemonConfig {
  const r = daemonConfigSchema.safeParse(raw ?? {})
  const fail = (path: string, message: string): never => {
    throw new InvalidOptionError(describePath(path, source, fromFlags), message, { key: path })
  }
  if (!r.success) {
    const issue = r.error.issues[0]!
    fail(issuePath(issue), issue.code === 'unrecognized_keys' ? 'unknown key' : issue.message)
  }
  const data = r.data!
  // A voter must remember its term, vote and log across restarts, or it could vote twice in a term.
  if (data.raft !== undefined && data.dataDir === undefined) {
    fail(fromFlags.has('raft.voters') ? 'raft.voters' : 'raft', 'a Raft member needs a data dir (--data-dir / dataDir) for its durable log')
  }
  if (data.raft?.fsync === false) fail('raft.fsync', 'the daemon always fsyncs the Raft log')
  // A bootstrap peer outside the allowlist would never be dialled.
  if (data.allowlist !== undefined && data.bootstrap !== undefined) {
    const allowed = new Set(data.allowlist)
    data.bootstrap.forEach((addr, i) => {
      const id = multiaddr(addr).getComponents().find(c => c.name === 'p2p')?.value
      if (id !== undefined && !allowed.has(id)) fail(fromFlags.has('allowlist') || !fromFlags.has('bootstrap') ? 'allowlist' : `bootstrap.${i}`, `bootstrap peer ${id} is not on the allowlist, so it would never be dialled; add it`)
    })
  }
  return data
}

/** Reads a JSON or YAML config file. */
export function readConfigFile (path: string): Record<string, unknown> {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new InvalidOptionError('--config', `cannot read ${path}: ${(err as Error).message}`)
  }
  try {
    const v = /\.json$/i.test(path) ? JSON.parse(text) as unknown : parseYaml(text) as unknown
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('the top level must be an object')
    return v as Record<string, unknown>
  } catch (err) {
    throw new InvalidOptionError('--config', `${path} is not valid ${/\.json$/i.test(path) ? 'JSON' : 'YAML'}: ${(err as Error).message}`)
  }
}
