/**
 * The daemon's configuration: a file (JSON or YAML) merged with command-line flags (flags win),
 * validated with a strict schema; an unknown key is an error naming its path.
 */
import { readFileSync } from 'node:fs'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'
import { InvalidOptionError } from '../base/errors.js'

const hostPort = z.string().regex(/^[A-Za-z0-9.:[\]-]+:[0-9]{1,5}$/, 'must be host:port, e.g. 127.0.0.1:7070')

export const daemonConfigSchema = z.object({
  /** Mesh name. Default `agora`. */
  mesh: z.string().optional(),
  /** Data dir (identity, registry, Raft log, HTTP token). Default: none (in memory). */
  dataDir: z.string().min(1).optional(),
  /** libp2p listen multiaddrs. Default: TCP on 127.0.0.1, free port. */
  listen: z.array(z.string().min(1)).optional(),
  /** Bootstrap multiaddrs. */
  bootstrap: z.array(z.string().min(1)).optional(),
  /** HTTP API address. Default 127.0.0.1:7070 (loopback only). Port 0 picks a free port. */
  http: hostPort.default('127.0.0.1:7070'),
  /** Bearer token of the HTTP API. Default: generated into `<dataDir>/http.token` (or random in memory). */
  token: z.string().min(16).optional(),
  zone: z.string().optional(),
  /** Raft group membership (see the peer's `raft` option). */
  raft: z.object({
    voters: z.array(z.string().min(1)).min(1).max(7).optional(),
    learner: z.boolean().optional(),
    tickMs: z.number().int().positive().optional(),
    electionTick: z.number().int().positive().optional(),
    fsync: z.boolean().optional()
  }).strict().optional(),
  heartbeatIntervalMs: z.number().int().positive().optional(),
  logLevel: z.enum(['silent', 'error', 'warn', 'info', 'debug']).default('info'),
  /** Let agents' bid callbacks (POST /v1/agents/:id/bidder) point at non-loopback hosts. Default false. */
  allowRemoteBidCallbacks: z.boolean().default(false),
  /** Max bytes of an HTTP request body. Default 1 MiB. */
  bodyBytesMax: z.number().int().positive().max(64 * 1024 * 1024).default(1024 * 1024)
}).strict()

export type DaemonConfig = z.output<typeof daemonConfigSchema>

function issuePath (issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return [...issue.path, ...(issue as { keys: string[] }).keys].join('.')
  return issue.path.length > 0 ? issue.path.join('.') : '(config)'
}

/** Validates a config object; InvalidOptionError names the bad key's path. */
export function validateConfig (raw: unknown, source = 'config'): DaemonConfig {
  const r = daemonConfigSchema.safeParse(raw ?? {})
  if (!r.success) {
    const issue = r.error.issues[0]!
    const path = issuePath(issue)
    throw new InvalidOptionError(path, `${source}: ${issue.code === 'unrecognized_keys' ? 'unknown key' : issue.message}`)
  }
  // A voter must remember its term, vote and log across restarts, or it could vote twice in a term.
  if (r.data.raft !== undefined && r.data.dataDir === undefined) {
    throw new InvalidOptionError('raft', `${source}: a Raft member needs a dataDir (--data-dir) for its durable log`)
  }
  if (r.data.raft?.fsync === false) {
    throw new InvalidOptionError('raft.fsync', `${source}: the daemon always fsyncs the Raft log`)
  }
  return r.data
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
