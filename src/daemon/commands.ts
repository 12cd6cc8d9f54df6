/**
 * Daemon commands of the `agora` CLI: `start` runs a peer with the HTTP API; `status`, `agents`, `var`
 * talk to a running daemon over that API.
 *
 * Exit codes: 0 success; 1 a runtime failure (the daemon could not start, the API answered an error);
 * 2 bad usage or configuration (the message names the flag or config key).
 */
import { randomBytes } from 'node:crypto'
import { constants as fsConstants } from 'node:fs'
import { access, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { EXIT_FAILED, EXIT_OK, UsageError } from '../cli-util.js'
import type { CliIo, Command } from '../cli-util.js'
import { AgoraError, InvalidOptionError } from '../base/errors.js'
import { createLogger, defaultLogFormat } from '../base/log.js'
import type { LogFormat } from '../base/log.js'
import type { PeerOptions } from '../../peers/options.js'
import { describePath, readConfigFile, validateConfig } from './config.js'
import type { DaemonConfig } from './config.js'

/** The HTTP token, in the data dir. */
export const TOKEN_FILE = 'http.token'
/** The HTTP address (`host:port`), in the data dir while the daemon runs. */
export const ADDR_FILE = 'http.addr'

export type FlagKind = 'string' | 'list' | 'boolean'

/** `--flag value`, `--flag=value`, repeatable list flags; unknown flags are usage errors naming them. */
export function parseArgs (args: string[], spec: Record<string, FlagKind>): { flags: Record<string, string | string[] | boolean>, positional: string[] } {
  const flags: Record<string, string | string[] | boolean> = {}
  const positional: string[] = []
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!
    if (!a.startsWith('--')) { positional.push(a); continue }
    const eq = a.indexOf('=')
    const name = eq > 0 ? a.slice(2, eq) : a.slice(2)
    // Own keys only: `--constructor` or `--__proto__` must be unknown options, not Object.prototype members.
    const kind = Object.hasOwn(spec, name) ? spec[name] : undefined
    if (kind === undefined) throw new UsageError(`unknown option --${name}`)
    if (kind === 'boolean') {
      if (eq > 0) throw new UsageError(`--${name} takes no value`)
      flags[name] = true
      continue
    }
    const v = eq > 0 ? a.slice(eq + 1) : args[++i]
    if (v === undefined || (eq < 0 && v.startsWith('--'))) throw new UsageError(`--${name} needs a value`)
    if (kind === 'list') flags[name] = [...((flags[name] as string[] | undefined) ?? []), ...v.split(',').filter(x => x.length > 0)]
    else flags[name] = v
  }
  return { flags, positional }
}

const START_USAGE = `usage: agora start [--config file.(json|yaml)] [--data-dir dir] [--listen multiaddr]... [--bootstrap multiaddr]...
                   [--http host:port] [--mesh name] [--zone zone] [--raft-voters peerId,...] [--token token]
                   [--allowlist peerId,...] [--pnet-key-file file]
                   [--log-level silent|error|warn|info|debug] [--log-format human|json] [--exit-with-parent]
  Runs a peer daemon with its HTTP API. With no options: in memory, libp2p on 127.0.0.1 (free port), HTTP on
  127.0.0.1:7070, a fresh identity. Prints one JSON line {"event":"started",...} on stdout once serving
  (peer id, pid, listen addresses, HTTP address, dashboard address, token file); on a terminal, the
  dashboard's login link on stderr (agora dashboard prints it later). With a data dir it writes the HTTP address to
  <dataDir>/http.addr and the token to <dataDir>/http.token, which the other commands read (--data-dir).
  SIGINT/SIGTERM/SIGHUP: leaves cleanly (hands over Raft leadership, flushes storage) and exits 0; so does
  the daemon when its parent process goes away and it was started through npm/npx (or --exit-with-parent;
  AGORA_EXIT_WITH_PARENT=0|1 overrides the default).
  Logs go to stderr, human-readable on a terminal, else JSON lines (--log-format).
  --allowlist: only these peers may connect, in either direction (every bootstrap peer must be listed).
  --pnet-key-file: a private network; only peers with the same swarm key connect (agora pnet-key <file>).
  A bad flag or config value exits 2 naming the flag or key.`

/** How often a daemon that exits with its parent checks that the parent is still there. */
export const PARENT_POLL_MS = 500

/**
 * Whether a daemon exits with its parent process when `exitWithParent` is not configured:
 * `AGORA_EXIT_WITH_PARENT=1|0` decides; else yes when npm started it (`npx agora start`, an npm script),
 * since npm does not pass SIGTERM on.
 */
export function exitWithParentByDefault (env: NodeJS.ProcessEnv): boolean {
  if (env.AGORA_EXIT_WITH_PARENT === '1') return true
  if (env.AGORA_EXIT_WITH_PARENT === '0') return false
  return env.npm_command !== undefined
}

const START_FLAGS: Record<string, FlagKind> = {
  config: 'string',
  'token-file': 'string',
  'http-tls-cert': 'string',
  'http-tls-key': 'string',
  'http-insecure': 'boolean',
  'data-dir': 'string',
  listen: 'list',
  bootstrap: 'list',
  http: 'string',
  mesh: 'string',
  zone: 'string',
  'raft-voters': 'list',
  allowlist: 'list',
  'pnet-key-file': 'string',
  token: 'string',
  'log-level': 'string',
  'log-format': 'string',
  'exit-with-parent': 'boolean',
  help: 'boolean'
}

/** The token: `token`, else `tokenFile`, else the data dir's file (created), else (no data dir) $AGORA_TOKEN, else random. */
async function loadToken (config: DaemonConfig, env: NodeJS.ProcessEnv, tokenFileName: string): Promise<{ token: string, file?: string }> {
  if (config.token !== undefined) return { token: config.token }
  if (config.tokenFile !== undefined) {
    let t: string
    try { t = (await readFile(config.tokenFile, 'utf8')).split('\n')[0]!.trim() } catch (err) { throw new InvalidOptionError(tokenFileName, `cannot read ${config.tokenFile}: ${(err as Error).message}`) }
    if (t.length < 16) throw new InvalidOptionError(tokenFileName, `the token in ${config.tokenFile} must have at least 16 characters`)
    return { token: t, file: config.tokenFile }
  }
  if (config.dataDir === undefined) {
    // Without a data dir (nowhere to keep a token), AGORA_TOKEN is the daemon's token; with one, the
    // token file there wins (so a shell that exported AGORA_TOKEN for the CLI does not change daemons').
    const fromEnv = env.AGORA_TOKEN?.trim()
    if (fromEnv !== undefined && fromEnv !== '') {
      if (fromEnv.length < 16) throw new InvalidOptionError('AGORA_TOKEN', 'the token must have at least 16 characters')
      return { token: fromEnv }
    }
    return { token: randomBytes(24).toString('hex') }
  }
  const file = join(config.dataDir, TOKEN_FILE)
  try {
    const t = (await readFile(file, 'utf8')).trim()
    if (t.length >= 16) return { token: t, file }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new AgoraError('ERR_TOKEN', `cannot read ${file}: ${(err as Error).message}`)
  }
  const token = randomBytes(24).toString('hex')
  await writeFile(file, token + '\n', { mode: 0o600 })
  return { token, file }
}

/** Whether an HTTP host is this machine's loopback (127.0.0.0/8, ::1, localhost). */
export function isLoopback (host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)
}

/** Reads the TLS certificate and key files; an unreadable one is an InvalidOptionError naming it. */
async function loadTls (t: { cert: string, key: string }, source: string, fromFlags: ReadonlySet<string>): Promise<{ cert: Buffer, key: Buffer }> {
  const read = async (file: string, key: string): Promise<Buffer> => {
    try { return await readFile(file) } catch (err) { throw new InvalidOptionError(describePath(key, source, fromFlags), `cannot read ${file}: ${(err as Error).message}`) }
  }
  return { cert: await read(t.cert, 'httpTls.cert'), key: await read(t.key, 'httpTls.key') }
}

/** Writes `text` to `file` through a temporary file and a rename, so readers never see half of it. */
async function writeAtomic (file: string, text: string, mode = 0o600): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`
  await writeFile(tmp, text, { mode })
  await rename(tmp, file)
}

/** The data dir exists (created if needed) and is readable and writable; else an InvalidOptionError naming `name`. */
async function checkDataDir (dir: string, name: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true })
    await access(dir, fsConstants.R_OK | fsConstants.W_OK)
  } catch (err) {
    throw new InvalidOptionError(name, `cannot use ${JSON.stringify(dir)} as the data dir: ${(err as Error).message}`)
  }
}

async function start (args: string[], io: CliIo): Promise<number> {
  const { flags, positional } = parseArgs(args, START_FLAGS)
  if (flags.help === true) { io.stdout(START_USAGE + '\n'); return EXIT_OK }
  if (positional.length > 0) throw new UsageError(`unexpected argument ${positional[0]!}`)
  const raw: Record<string, unknown> = typeof flags.config === 'string' ? readConfigFile(flags.config) : {}
  const fromFlags = new Set<string>()
  const set = (key: string, flag: string): void => {
    const v = flags[flag]
    if (v !== undefined) { raw[key] = v; fromFlags.add(key) }
  }
  set('dataDir', 'data-dir')
  set('listen', 'listen')
  set('bootstrap', 'bootstrap')
  set('http', 'http')
  set('mesh', 'mesh')
  set('zone', 'zone')
  set('token', 'token')
  set('tokenFile', 'token-file')
  set('httpInsecure', 'http-insecure')
  if (flags['http-tls-cert'] !== undefined || flags['http-tls-key'] !== undefined) {
    raw.httpTls = { cert: flags['http-tls-cert'], key: flags['http-tls-key'] }
    fromFlags.add('httpTls.cert')
    fromFlags.add('httpTls.key')
  }
  set('allowlist', 'allowlist')
  set('pnetKeyFile', 'pnet-key-file')
  set('logLevel', 'log-level')
  set('logFormat', 'log-format')
  set('exitWithParent', 'exit-with-parent')
  if (flags['raft-voters'] !== undefined) {
    const r = raw.raft
    raw.raft = { ...(r !== null && typeof r === 'object' && !Array.isArray(r) ? r : {}), voters: flags['raft-voters'] }
    fromFlags.add('raft.voters')
  }
  const source = typeof flags.config === 'string' ? flags.config : 'flags'
  const config = validateConfig(raw, source, fromFlags)
  if (config.dataDir !== undefined) await checkDataDir(config.dataDir, describePath('dataDir', source, fromFlags))
  const { readSwarmKeyFile, swarmKeyFingerprint } = await import('../../peers/pnet.js')
  const pnetKey = config.pnetKeyFile !== undefined ? readSwarmKeyFile(config.pnetKeyFile, describePath('pnetKeyFile', source, fromFlags)) : undefined
  const logFormat = config.logFormat ?? defaultLogFormat()
  const log = createLogger(config.logLevel, 'agora:daemon', undefined, undefined, logFormat)
  if (config.pnetKeyFile !== undefined) {
    const mode = (await stat(config.pnetKeyFile)).mode & 0o777
    if ((mode & 0o077) !== 0) log.warn('the swarm key file is readable by other users; chmod 600 it', { file: config.pnetKeyFile, mode: mode.toString(8) })
  }
  const { createPeer } = await import('../../peers/peer.js')
  const { startApi } = await import('./http.js')
  const { DaemonWatch } = await import('./watch.js')
  const idx0 = config.http.lastIndexOf(':')
  const httpHost = config.http.slice(0, idx0).replace(/^\[|\]$/g, '')
  // A token travels in every request: beyond loopback it needs TLS, or an explicit acceptance.
  if (!isLoopback(httpHost) && config.httpTls === undefined) {
    if (!config.httpInsecure) throw new InvalidOptionError(describePath('http', source, fromFlags), `${config.http} is beyond loopback: serve it over TLS (--http-tls-cert and --http-tls-key) or accept plain HTTP with --http-insecure`)
    log.warn('THE HTTP API IS SERVED WITHOUT TLS BEYOND LOOPBACK: its token and data cross the network in clear text', { http: config.http })
  }
  if (fromFlags.has('token')) log.warn('--token is visible to every local user in the process list; prefer --token-file or AGORA_TOKEN')
  const tls = config.httpTls === undefined ? undefined : await loadTls(config.httpTls, source, fromFlags)
  const { token, file } = await loadToken(config, process.env, describePath('tokenFile', source, fromFlags))
  let peer: Awaited<ReturnType<typeof createPeer>>
  try {
    peer = await createPeer(peerOptionsOf(config, pnetKey, logFormat))
  } catch (err) {
    if (err instanceof AgoraError) throw err
    throw new AgoraError('ERR_START', `the peer could not start: ${(err as Error).message}`)
  }
  const idx = config.http.lastIndexOf(':')
  const host = config.http.slice(0, idx).replace(/^\[|\]$/g, '')
  const port = Number(config.http.slice(idx + 1))
  const watch = new DaemonWatch({ peer, log, warnAfterMs: config.warnAfterMs, bootstrap: config.bootstrap ?? [] })
  let api: Awaited<ReturnType<typeof startApi>>
  try {
    api = await startApi({ peer, token, host, port, bodyBytesMax: config.bodyBytesMax, log, allowRemoteBidCallbacks: config.allowRemoteBidCallbacks, agentInboxMax: config.agentInboxMax, warnings: () => watch.warnings(), connectionsMax: config.httpConnectionsMax, requestTimeoutMs: config.httpRequestTimeoutMs, ...(tls !== undefined ? { tls } : {}) })
  } catch (err) {
    await peer.stop()
    throw new AgoraError('ERR_HTTP_LISTEN', `cannot listen on ${config.http}: ${(err as Error).message}`)
  }
  const addrFile = config.dataDir !== undefined ? join(config.dataDir, ADDR_FILE) : undefined
  if (addrFile !== undefined) await writeAtomic(addrFile, api.address + '\n', 0o644)
  const dashboard = dashboardUrl(api.address, tls !== undefined)
  io.stdout(JSON.stringify({ event: 'started', peerId: peer.id, pid: process.pid, addresses: peer.addresses(), http: api.address, dashboard, ...(file !== undefined ? { tokenFile: file } : { token }), ...(addrFile !== undefined ? { httpAddrFile: addrFile } : {}) }) + '\n')
  // On a terminal, the link that logs in (it holds the token, so never in machine logs, nor in a file or
  // journal that stderr goes to even when the format is human; `agora dashboard` prints it too).
  if (logFormat === 'human' && process.stderr.isTTY === true) io.stderr(`dashboard: ${dashboardUrl(api.address, tls !== undefined, token)}\n`)
  log.info('listening', {
    peerId: peer.id,
    mesh: peer.options.mesh,
    p2p: peer.addresses(),
    http: api.address,
    dataDir: config.dataDir ?? null,
    // What an operator compares across peers: the key's fingerprint (never the key) and the allowlist's size.
    privateNetwork: pnetKey !== undefined ? swarmKeyFingerprint(pnetKey) : null,
    allowlist: config.allowlist?.length ?? null
  })
  watch.start()

  return await new Promise<number>((resolve) => {
    let stopping = false
    let parentTimer: ReturnType<typeof setInterval> | undefined
    const shutdown = (reason: string): void => {
      if (stopping) {
        log.warn('second stop request: exiting without finishing the shutdown', { reason })
        process.exit(EXIT_FAILED)
      }
      stopping = true
      if (parentTimer !== undefined) clearInterval(parentTimer)
      log.info('shutting down', { reason })
      void (async () => {
        try {
          watch.stop()
          // Hand Raft leadership over so the group does not wait for an election timeout.
          const r = peer.raft
          if (r !== undefined && r.status().role === 'leader') {
            const other = r.status().voters.find(v => v !== peer.id && !v.startsWith('raft:') && peer.members().includes(v)) ??
              r.status().voters.find(v => v !== peer.id && !v.startsWith('raft:'))
            if (other !== undefined) {
              log.info('handing Raft leadership over', { to: other })
              await r.transferLeadership(other, 2000)
                .then(() => { log.info('Raft leadership handed over', { to: other }) })
                .catch((err: Error) => { log.warn('Raft leadership handover failed; the group will elect a leader', { to: other, error: err.message }) })
            }
          }
          await api.close()
          log.info('HTTP API closed')
          await peer.stop()
          log.info('peer stopped: left the mesh, storage flushed')
          if (addrFile !== undefined) await rm(addrFile, { force: true })
          log.info('stopped')
          resolve(EXIT_OK)
        } catch (err) {
          log.error('shutdown failed', { error: (err as Error).message })
          resolve(EXIT_FAILED)
        }
      })()
    }
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => shutdown(sig))
    // npm (npx) does not pass SIGTERM on to the daemon: when the process that started it goes away, the
    // daemon is reparented, notices that its parent process id changed, and leaves cleanly.
    const exitWithParent = config.exitWithParent ?? exitWithParentByDefault(process.env)
    const parent = process.ppid
    if (exitWithParent && parent > 1) {
      log.debug('exits with its parent process', { ppid: parent })
      parentTimer = setInterval(() => { if (process.ppid !== parent) shutdown('parent process exited') }, PARENT_POLL_MS)
      parentTimer.unref()
    }
  })
}

// ---- client commands ----------------------------------------------------------------------------

/**
 * The dashboard's address on a daemon listening at `http` (host:port); with `token`, the link that logs
 * in (`#token=`: a fragment, never sent to the server nor written in its logs).
 */
export function dashboardUrl (http: string, tls: boolean, token?: string): string {
  const host = http.replace(/^0\.0\.0\.0:/, '127.0.0.1:').replace(/^\[::\]:/, '[::1]:')
  return `${tls ? 'https' : 'http'}://${host}/ui/${token !== undefined ? `#token=${encodeURIComponent(token)}` : ''}`
}

export const CLIENT_FLAGS: Record<string, FlagKind> = { http: 'string', token: 'string', 'data-dir': 'string', json: 'string', help: 'boolean' }

/** What the client commands say about how they find the daemon. */
export const CONNECTION_HELP = `  Finding the daemon: --http host:port, else <data-dir>/http.addr (--data-dir dir), else $AGORA_HTTP,
  else 127.0.0.1:7070. The token: --token t, else <data-dir>/http.token, else $AGORA_TOKEN.`

async function readDataFile (dir: string, name: string, what: string): Promise<string> {
  const path = join(dir, name)
  try {
    return (await readFile(path, 'utf8')).trim()
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT' && name === ADDR_FILE) throw new AgoraError('ERR_DAEMON_UNREACHABLE', `no daemon is running on data dir ${dir} (no ${path}; start one with \`agora start --data-dir ${dir}\`)`)
    throw new UsageError(`no ${what}: ${path} is not readable (${code ?? (err as Error).message})`)
  }
}

/**
 * The daemon's address and token: flags first (`--http`, `--token`), then the files the daemon keeps in
 * its data dir (`--data-dir`), then the environment (`AGORA_HTTP`, `AGORA_TOKEN`); the address defaults
 * to 127.0.0.1:7070.
 */
export async function resolveConnection (flags: Record<string, string | string[] | boolean>, env: NodeJS.ProcessEnv = process.env): Promise<{ http: string, token: string }> {
  const dir = typeof flags['data-dir'] === 'string' ? flags['data-dir'] : undefined
  let http = typeof flags.http === 'string' ? flags.http : undefined
  if (http === undefined && dir !== undefined) http = await readDataFile(dir, ADDR_FILE, 'daemon address')
  http ??= env.AGORA_HTTP !== undefined && env.AGORA_HTTP !== '' ? env.AGORA_HTTP : '127.0.0.1:7070'
  if (!/^[A-Za-z0-9.:[\]-]+:[0-9]{1,5}$/.test(http)) throw new UsageError(`the daemon address must be host:port, got ${JSON.stringify(http)}${typeof flags.http === 'string' ? ' (--http)' : dir !== undefined ? ` (${join(dir, ADDR_FILE)})` : ' (AGORA_HTTP)'}`)
  let token = typeof flags.token === 'string' ? flags.token : undefined
  if (token === undefined && dir !== undefined) token = await readDataFile(dir, TOKEN_FILE, 'token')
  token ??= env.AGORA_TOKEN !== undefined && env.AGORA_TOKEN !== '' ? env.AGORA_TOKEN : undefined
  if (token === undefined) throw new UsageError('no token: pass --token, --data-dir of the daemon, or set AGORA_TOKEN')
  return { http, token }
}

export async function client (flags: Record<string, string | string[] | boolean>): Promise<(method: string, path: string, body?: unknown) => Promise<unknown>> {
  const { http, token } = await resolveConnection(flags)
  return async (method, path, body) => {
    let res: Response
    try {
      res = await fetch(`http://${http}${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) })
    } catch (err) {
      throw new AgoraError('ERR_DAEMON_UNREACHABLE', `no daemon at http://${http}: ${((err as Error).cause as Error | undefined)?.message ?? (err as Error).message}`)
    }
    const json = await res.json().catch(() => ({})) as { error?: { code: string, message: string } }
    if (!res.ok) throw new AgoraError(json.error?.code ?? 'ERR_HTTP', `${res.status}: ${json.error?.message ?? res.statusText}`)
    return json
  }
}

function jsonFlag (flags: Record<string, unknown>, name = 'json'): unknown {
  const v = flags[name]
  if (typeof v !== 'string') return undefined
  try { return JSON.parse(v) as unknown } catch { throw new UsageError(`--${name} must be JSON`) }
}

const CONN = '  (plus --http host:port and --token t | --data-dir dir of the daemon; agora help status)'
const STATUS_USAGE = `usage: agora status [--http host:port] [--token t | --data-dir dir]
  Prints the daemon's status (peer, members, sync health, Raft, warnings) as JSON; each warning is also
  printed on stderr.
${CONNECTION_HELP}`
const AGENTS_USAGE = `usage: agora agents list [--capability c] [--zone z] [--limit n]
       agora agents register --json '{"id":"a1","capabilities":["x"]}'
       agora agents query --json '{"capability":"x","where":[["resources.gpu","gte",1]]}'
${CONN}`
const VAR_USAGE = `usage: agora var get <name> [--strong] [--merge lww|max|min|counter|weighted-average]
       agora var set <name> --value <json> [--strong] [--merge m]
  An eventual variable's merge rule is learnt from its contributions; --merge names it for a variable
  nobody wrote yet (a rule that conflicts with the variable's is ERR_MERGE_CONFLICT).
${CONN}`

/** The subcommand at `positional[0]`: one of `subs`, else a usage error naming it. */
function subcommand (positional: string[], subs: readonly string[], command: string): string {
  const sub = positional[0]
  if (sub === undefined) throw new UsageError(`${command} needs a subcommand: ${subs.join(', ')}`)
  if (!subs.includes(sub)) throw new UsageError(`unknown subcommand "${sub}" of ${command} (one of ${subs.join(', ')})`)
  return sub
}

async function status (args: string[], io: CliIo): Promise<number> {
  const { flags, positional } = parseArgs(args, CLIENT_FLAGS)
  if (flags.help === true) { io.stdout(STATUS_USAGE + '\n'); return EXIT_OK }
  if (positional.length > 0) throw new UsageError(`unexpected argument ${positional[0]!}`)
  const call = await client(flags)
  const st = await call('GET', '/v1/status') as { warnings?: Array<{ code: string, message: string }> }
  io.stdout(JSON.stringify(st, null, 2) + '\n')
  for (const w of st.warnings ?? []) io.stderr(`warning: ${w.message} (${w.code})\n`)
  return EXIT_OK
}

const DASHBOARD_USAGE = `usage: agora dashboard [--http host:port] [--token t | --data-dir dir] [--tls]
  Prints the link that opens the daemon's dashboard logged in (it holds the token: share it like the
  token). The dashboard listens where the HTTP API does; for a remote daemon, tunnel it:
    ssh -N -L 7070:127.0.0.1:7070 user@host   then open the printed link with 127.0.0.1:7070.
${CONNECTION_HELP}`

async function dashboard (args: string[], io: CliIo): Promise<number> {
  const { flags, positional } = parseArgs(args, { ...CLIENT_FLAGS, tls: 'boolean' })
  if (flags.help === true) { io.stdout(DASHBOARD_USAGE + '\n'); return EXIT_OK }
  if (positional.length > 0) throw new UsageError(`unexpected argument ${positional[0]!}`)
  const { http, token } = await resolveConnection(flags)
  io.stdout(dashboardUrl(http, flags.tls === true, token) + '\n')
  return EXIT_OK
}

async function agents (args: string[], io: CliIo): Promise<number> {
  const { flags, positional } = parseArgs(args, { ...CLIENT_FLAGS, capability: 'string', zone: 'string', limit: 'string' })
  if (flags.help === true) { io.stdout(AGENTS_USAGE + '\n'); return EXIT_OK }
  const sub = subcommand(positional, ['list', 'register', 'query'], 'agents')
  if (positional.length > 1) throw new UsageError(`unexpected argument ${positional[1]!}`)
  let request: [string, string, unknown?]
  switch (sub) {
    case 'list': {
      const q = new URLSearchParams()
      for (const k of ['capability', 'zone', 'limit']) if (typeof flags[k] === 'string') q.set(k, flags[k] as string)
      request = ['GET', `/v1/agents?${q.toString()}`]
      break
    }
    case 'register': request = ['POST', '/v1/agents', jsonFlag(flags) ?? (() => { throw new UsageError('agents register needs --json \'{"id":...,"capabilities":[...]}\'') })()]; break
    default: request = ['POST', '/v1/agents/query', jsonFlag(flags) ?? {}]
  }
  const call = await client(flags)
  io.stdout(JSON.stringify(await call(...request), null, 2) + '\n')
  return EXIT_OK
}

async function variable (args: string[], io: CliIo): Promise<number> {
  const { flags, positional } = parseArgs(args, { ...CLIENT_FLAGS, strong: 'boolean', merge: 'string', value: 'string' })
  if (flags.help === true) { io.stdout(VAR_USAGE + '\n'); return EXIT_OK }
  const sub = subcommand(positional, ['get', 'set'], 'var')
  const name = positional[1]
  if (name === undefined) throw new UsageError(`var ${sub} needs a variable name`)
  if (positional.length > 2) throw new UsageError(`unexpected argument ${positional[2]!}`)
  const kind = flags.strong === true ? 'strong' : 'eventual'
  if (kind === 'strong' && typeof flags.merge === 'string') throw new UsageError('--merge is for eventual variables, not --strong ones')
  const path = `/v1/variables/${kind}/${encodeURIComponent(name)}`
  let request: [string, string, unknown?]
  if (sub === 'get') {
    if (flags.value !== undefined) throw new UsageError('--value is for var set')
    request = ['GET', kind === 'eventual' && typeof flags.merge === 'string' ? `${path}?merge=${encodeURIComponent(flags.merge)}` : path]
  } else {
    const value = jsonFlag(flags, 'value')
    if (value === undefined) throw new UsageError('var set needs --value <json>')
    request = ['PUT', path, { value, ...(typeof flags.merge === 'string' ? { merge: flags.merge } : {}) }]
  }
  const call = await client(flags)
  io.stdout(JSON.stringify(await call(...request), null, 2) + '\n')
  return EXIT_OK
}

const ID_USAGE = 'usage: agora id --data-dir dir\n  Prints the peer id stored in the data dir, creating the identity if there is none (to list Raft voters before their first start).'

async function id (args: string[], io: CliIo): Promise<number> {
  const { flags } = parseArgs(args, { 'data-dir': 'string', help: 'boolean' })
  if (flags.help === true) { io.stdout(ID_USAGE + '\n'); return EXIT_OK }
  if (typeof flags['data-dir'] !== 'string') throw new UsageError('--data-dir is required')
  const { loadOrCreateIdentity } = await import('../../peers/keys.js')
  const { peerIdFromPrivateKey } = await import('@libp2p/peer-id')
  const { key } = await loadOrCreateIdentity(flags['data-dir'])
  io.stdout(peerIdFromPrivateKey(key).toString() + '\n')
  return EXIT_OK
}

const PNET_KEY_USAGE = `usage: agora pnet-key <file> [--force]
  Writes a fresh private-network key (libp2p swarm.key format) to <file> with mode 0600 and prints its
  fingerprint. Give the same file to every peer of the mesh (agora start --pnet-key-file <file>, config key
  pnetKeyFile); peers without it cannot connect. Refuses to overwrite an existing file unless --force.`

async function pnetKey (args: string[], io: CliIo): Promise<number> {
  const { flags, positional } = parseArgs(args, { force: 'boolean', help: 'boolean' })
  if (flags.help === true) { io.stdout(PNET_KEY_USAGE + '\n'); return EXIT_OK }
  const file = positional[0]
  if (file === undefined) throw new UsageError('pnet-key needs the file to write the key to')
  if (positional.length > 1) throw new UsageError(`unexpected argument ${positional[1]!}`)
  const { writeSwarmKeyFile } = await import('../../peers/pnet.js')
  const fingerprint = await writeSwarmKeyFile(file, { overwrite: flags.force === true, path: '<file>' })
  io.stdout(JSON.stringify({ event: 'pnet-key', file, fingerprint }) + '\n')
  return EXIT_OK
}

export const DAEMON_COMMANDS: Record<string, Command> = {
  id: { summary: 'print (creating if needed) the peer id of a data dir', usage: ID_USAGE, run: id },
  'pnet-key': { summary: 'generate a private-network key file (mode 0600)', usage: PNET_KEY_USAGE, run: pnetKey },
  start: { summary: 'run a peer daemon with its HTTP API', usage: START_USAGE, run: start },
  status: { summary: 'status of a running daemon', usage: STATUS_USAGE, run: status },
  dashboard: { summary: 'print the link that opens a daemon\'s dashboard (/ui) logged in', usage: DASHBOARD_USAGE, run: dashboard },
  agents: { summary: 'list, register and query agents through a daemon', usage: AGENTS_USAGE, run: agents },
  var: { summary: 'get and set eventual or strong variables through a daemon', usage: VAR_USAGE, run: variable }
}

/** The peer options a daemon config asks for (`pnetKey`: the swarm key's text, read from `pnetKeyFile`). */
export function peerOptionsOf (config: DaemonConfig, pnetKey: string | undefined, logFormat: LogFormat): PeerOptions {
  return {
    ...(config.mesh !== undefined ? { mesh: config.mesh } : {}),
    ...(config.dataDir !== undefined ? { dataDir: config.dataDir } : {}),
    ...(config.listen !== undefined ? { listen: config.listen } : {}),
    ...(config.bootstrap !== undefined ? { bootstrap: config.bootstrap } : {}),
    ...(config.zone !== undefined ? { zone: config.zone } : {}),
    ...(config.heartbeatIntervalMs !== undefined ? { heartbeatIntervalMs: config.heartbeatIntervalMs } : {}),
    ...(config.liveness !== undefined ? { liveness: config.liveness } : {}),
    ...(config.dht !== undefined ? { dht: config.dht } : {}),
    ...(config.sessionLeaseTtlMs !== undefined ? { sessionLeaseTtlMs: config.sessionLeaseTtlMs } : {}),
    ...(config.alerts !== undefined ? { alerts: config.alerts } : {}),
    ...(config.checks !== undefined ? { checks: config.checks } : {}),
    ...(config.breaker !== undefined ? { breaker: config.breaker } : {}),
    ...(config.rateLimits !== undefined ? { rateLimits: config.rateLimits } : {}),
    ...(config.raft !== undefined ? { raft: config.raft } : {}),
    ...(config.allowlist !== undefined ? { allowlist: config.allowlist } : {}),
    ...(pnetKey !== undefined ? { privateNetwork: { key: pnetKey } } : {}),
    logLevel: config.logLevel,
    logFormat
  }
}
