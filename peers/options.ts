/**
 * Options of `createPeer()`, validated with zod; a bad option fails with InvalidOptionError naming its
 * path. Every option is documented with its default.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { z } from 'zod'
import { InvalidOptionError } from '../src/base/errors.js'
import { DEFAULT_LIMITS } from '../crdt/limits.js'
import type { RegistryLimits } from '../crdt/limits.js'
import type { FenceFloor } from '../crdt/fences.js'
import { parseSwarmKey, readSwarmKeyFile } from './pnet.js'
import { alertOptionsSchema } from './health/alerts.js'
import { breakerSchema, rateLimitsSchema } from './protect/options.js'

function isPeerId (v: string): boolean {
  try { peerIdFromString(v); return true } catch { return false }
}

/** A libp2p peer id (`12D3KooW...`). */
export const peerIdSchema = z.string().min(1).refine(isPeerId, { error: (i) => `${JSON.stringify(i.input)} is not a libp2p peer id` })

const positiveMs = z.number().int().positive().max(24 * 3600 * 1000)

const limitsSchema = z.object(Object.fromEntries(
  Object.keys(DEFAULT_LIMITS).map(k => [k, z.number().int().positive().optional()])
) as Record<keyof RegistryLimits, z.ZodOptional<z.ZodNumber>>).strict()

/** The `checks` option (the daemon config's `checks` too). */
export const checksOptionsSchema = z.object({
  allowHosts: z.array(z.string().min(1).max(253)).max(256).optional(),
  httpConcurrencyMax: z.number().int().min(1).max(1024).optional(),
  outputSyncMs: z.number().int().min(0).max(24 * 3600 * 1000).optional()
}).strict()

export const peerOptionsSchema = z.object({
  /** Mesh name: peers of one mesh share topics and protocols namespaced by it. Default `agora`. */
  mesh: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1..64 characters of [A-Za-z0-9._-]').default('agora'),
  /** Transports. Default ['tcp']; 'memory' is for tests and the in-process harness. */
  transports: z.array(z.enum(['tcp', 'memory'])).min(1).default(['tcp']),
  /** Listen multiaddrs. Default: TCP on 127.0.0.1 with a free port (or a unique memory address). */
  listen: z.array(z.string().min(1)).optional(),
  /** Multiaddrs (with /p2p/<peer id>) of peers to join through. Default none. */
  bootstrap: z.array(z.string().min(1)).default([]),
  /** Data dir for the identity key and all state (LevelDB). Default: none, everything in memory. */
  dataDir: z.string().min(1).optional(),
  /** This peer's zone (agents registered here get it unless they name one). Default none. */
  zone: z.string().min(1).max(128).optional(),
  /** Heartbeat period. Default 1000 ms. */
  heartbeatIntervalMs: positiveMs.default(1000),
  /**
   * Failure detection (peers/sync/liveness): `heartbeat`, every peer's heartbeat to every peer each period
   * (cost per peer grows with the mesh); `probe`, SWIM-style probing of one neighbour per period with
   * suspicions gossiped and refuted (cost per peer flat; PROTOCOL.md 1e). One mode per mesh. Default heartbeat.
   */
  liveness: z.enum(['heartbeat', 'probe']).default('heartbeat'),
  /** A host is unreachable after this much silence. Default 3 × heartbeatIntervalMs. */
  leaseMs: positiveMs.optional(),
  /** An unreachable host's agents are dropped after this much more silence. Default 10 × leaseMs. */
  pruneAfterMs: positiveMs.optional(),
  /** Period of anti-entropy with a random connected peer. Default 5000 ms. */
  antiEntropyIntervalMs: positiveMs.default(5000),
  /** Bound on one anti-entropy exchange. Default 30000 ms. */
  syncTimeoutMs: positiveMs.default(30_000),
  /** Concurrent anti-entropy exchanges. Default 4. */
  syncConcurrencyMax: z.number().int().positive().max(64).default(4),
  /** Run kad-dht (mesh-namespaced) for discovery beyond the bootstrap list. Default true. */
  dht: z.boolean().default(true),
  /** Dial peers found by discovery while connected to fewer than this many. Default 16. */
  connectionsTarget: z.number().int().min(0).max(10_000).default(16),
  /** Max open connections (libp2p connection manager). Default 256. */
  connectionsMax: z.number().int().positive().max(100_000).default(256),
  /**
   * Inbound connections accepted per second from one IP address (libp2p's default is 5; a machine
   * running many peers, such as the live harness, needs more). Default 5.
   */
  inboundConnectionsPerSecondMax: z.number().int().positive().max(100_000).default(5),
  /**
   * Peers connected from one IP address before gossipsub scores each of them down (its IP colocation
   * penalty, a Sybil defence: quadratic in the surplus, so a few more put them below the thresholds
   * where gossip to and from them stops). Loopback addresses are exempt (peers on this machine). Raise it
   * when many peers reach this one through one NAT. Default 10 (gossipsub's default).
   */
  gossipPeersPerIpMax: z.number().int().positive().max(100_000).default(10),
  /** Log level of the peer's logs on stderr. Default 'warn'. */
  logLevel: z.enum(['silent', 'error', 'warn', 'info', 'debug']).default('warn'),
  /** Format of the peer's logs: `human` or `json`. Default: human when stderr is a terminal, else json. */
  logFormat: z.enum(['human', 'json']).optional(),
  /**
   * Peer ids allowed to connect (O7), in either direction: a peer not listed is neither dialled nor
   * accepted (refused once the Noise handshake has authenticated it). Default: anyone. An empty list is
   * refused (it would admit nobody).
   */
  allowlist: z.array(peerIdSchema).min(1, 'an empty allowlist would admit no peer; omit it to admit any').optional(),
  /**
   * Private network (libp2p pnet): every connection is encrypted with this pre-shared key before the
   * Noise handshake, so only peers holding the same key can connect. Exactly one of `key` (the text of a
   * swarm key: `/key/swarm/psk/1.0.0/`, `/base16/`, 64 hex digits, one per line) or `keyFile` (a file
   * holding it; `agora pnet-key <file>` makes one). Default: none (a public mesh).
   */
  privateNetwork: z.object({
    key: z.string().min(1).optional(),
    keyFile: z.string().min(1).optional()
  }).strict().refine(v => (v.key === undefined) !== (v.keyFile === undefined), 'needs exactly one of key (the swarm key text) or keyFile').optional(),
  /** Registry limits overriding DEFAULT_LIMITS. */
  limits: limitsSchema.optional(),
  /**
   * Membership of the mesh's Raft group (ledger, strong variables...). `voters`: peer ids of the group's
   * voters (3 or 5); a peer listed starts as a voter and the group bootstraps with exactly this set.
   * `learner: true`: run Raft without voting (the leader must add this peer as a learner). Omit to
   * stay out of the group. Other fields tune the driver.
   */
  raft: z.object({
    voters: z.array(z.string().min(1)).min(1).max(7).optional(),
    learner: z.boolean().optional(),
    tickMs: z.number().int().positive().max(10_000).optional(),
    electionTick: z.number().int().min(2).max(1000).optional(),
    fsync: z.boolean().optional(),
    /** An fsync of the Raft log slower than this is logged as a warning ("slow fsync"). Default 100 ms. */
    fsyncSlowMs: z.number().int().min(0).max(3_600_000).optional(),
    /** The leader writes its entries in parallel with sending them (one fsync on the commit path). Default true. */
    asyncLeaderWrites: z.boolean().optional(),
    snapshotEntries: z.number().int().positive().optional(),
    proposalTimeoutMs: positiveMs.optional(),
    /** A follower sends its proposal to the leader again after this long unapplied (then doubling). Default 1000 ms; 0 never. */
    proposalResendMs: z.number().int().min(0).max(3_600_000).optional(),
    /** Longest a combinatorial settle pauses this replica's applying while its worker solves. Default 10000 ms; 0 never (it solves in apply). */
    applyWaitMs: z.number().int().min(0).max(3_600_000).optional(),
    /**
     * The economy's authorities: peers that act as the treasury (mint, slash, outcomes). Fixed by the
     * group's genesis entry, proposed by the first leader; default the bootstrap `voters`.
     */
    economyAuthorities: z.array(z.string().min(1)).min(1).max(64).optional(),
    /** Ledger unbonding delay, in economy log entries (genesis). Default 100. */
    unbondingDelayEntries: z.number().int().min(0).max(1_000_000).optional()
  }).strict().optional(),
  /**
   * `fenceFloor(lock)`: the newest fencing token granted for `lock` as this peer knows it (its Raft
   * replica), or undefined. A fenced eventual write (`set(v, { fence })`) under an older token is refused
   * with FencedError (`ERR_FENCED`). Default: none (a fenced write is checked against the documents held
   * only). Also settable later as `peer.variables.fenceFloor`.
   */
  fenceFloor: z.custom<FenceFloor>((v) => typeof v === 'function', { error: 'must be a function (lock) => number | undefined' }).optional(),
  /**
   * TTL (ms) of this peer's session lease on the Raft group: what locks taken without a lease of their own
   * and the task attempts of its agents hang on. If the peer dies, they are freed (tasks reassigned) about
   * this long after its last keepalive. Default 10,000; 500..3,600,000.
   */
  sessionLeaseTtlMs: z.number().int().min(500).max(3_600_000).optional(),
  /**
   * Thresholds of the health report's conditions and of the alerts raised from them (`alert:raised`,
   * `alert:cleared`), with their hysteresis: see peers/health/alerts.ts (ALERT_DEFAULTS). Default: the defaults.
   */
  alerts: alertOptionsSchema.optional(),
  /**
   * Agents' health checks (`peer.checks`, peers/checks). `allowHosts`: hosts HTTP checks may poll besides
   * loopback (`*`: any; default none). `httpConcurrencyMax`: HTTP polls in flight at once (default 16).
   * `outputSyncMs`: least time between two registry writes of an agent whose checks' output changed but
   * not their status (default 60,000).
   */
  checks: checksOptionsSchema.optional(),
  /**
   * The per-agent circuit breakers of every call this peer sends to an agent (peers/protect/breakers.ts):
   * `{ failureThreshold, windowMs, recoveryMs, recoveryMaxMs, probeTimeoutMs }`. Defaults 5 failures in
   * 10 000 ms open a breaker for 5 000 ms (doubled after a failed probe, to 60 000 ms).
   */
  breaker: breakerSchema.optional(),
  /**
   * Local rate limits (token buckets `{ ratePerSecond, burst }`, or false for none): `agentRequests`,
   * `peerRequests`, `writes`, `proposals`, `peerProposals` (peers/protect/limits.ts; defaults in
   * RATE_LIMIT_DEFAULTS, far above normal traffic).
   */
  rateLimits: rateLimitsSchema.optional(),
  /** Start the peer before createPeer() resolves. Default true. */
  start: z.boolean().default(true)
}).strict()

export type PeerOptions = z.input<typeof peerOptionsSchema>
export type ResolvedPeerOptions = z.output<typeof peerOptionsSchema> & {
  leaseMs: number
  pruneAfterMs: number
  limits: RegistryLimits
  /** The private-network key in canonical swarm-key form (checked, read from `keyFile`); undefined without one. */
  privateNetworkKey: string | undefined
}

export function resolvePeerOptions (options: unknown): ResolvedPeerOptions {
  const r = peerOptionsSchema.safeParse(options ?? {})
  if (!r.success) {
    const issue = r.error.issues[0]!
    // An unknown key is named with its full path (`raft.votrs`, `privateNetwork.psk`).
    const path = issue.code === 'unrecognized_keys'
      ? [...issue.path, (issue as { keys: string[] }).keys.join(',')].join('.')
      : issue.path.length > 0 ? issue.path.join('.') : '(options)'
    throw new InvalidOptionError(path, issue.message)
  }
  const o = r.data
  const leaseMs = o.leaseMs ?? 3 * o.heartbeatIntervalMs
  if (leaseMs <= o.heartbeatIntervalMs) throw new InvalidOptionError('leaseMs', `must exceed heartbeatIntervalMs (${o.heartbeatIntervalMs})`)
  const pn = o.privateNetwork
  const privateNetworkKey = pn === undefined
    ? undefined
    : pn.key !== undefined ? parseSwarmKey(pn.key, 'privateNetwork.key') : readSwarmKeyFile(pn.keyFile!, 'privateNetwork.keyFile')
  return { ...o, leaseMs, pruneAfterMs: o.pruneAfterMs ?? 10 * leaseMs, limits: { ...DEFAULT_LIMITS, ...o.limits }, privateNetworkKey }
}
