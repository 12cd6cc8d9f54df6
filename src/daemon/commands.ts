/**
 * Daemon commands of the `agora` CLI: `start` runs a peer with the HTTP API; `status`, `agents`, `var`
 * talk to a running daemon over that API.
 *
 * Exit codes: 0 success; 1 a runtime failure (the daemon could not start, the API answered an error);
 * 2 bad usage or configuration (the message names the flag or config key).
 */
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { EXIT_FAILED, EXIT_OK, UsageError } from '../cli-util.js'
import type { CliIo, Command } from '../cli-util.js'
import { AgoraError } from '../base/errors.js'
import { createLogger } from '../base/log.js'
import { readConfigFile, validateConfig } from './config.js'
import type { DaemonConfig } from './config.js'

export const TOKEN_FILE = 'http.token'

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
    if (kind === 'boolean') { flags[name] = true; continue }
    const v = eq > 0 ? a.slice(eq + 1) : args[++i]
    if (v === undefined || (eq < 0 && v.startsWith('--'))) throw new UsageError(`--${name} needs a value`)
    if (kind === 'list') flags[name] = [...((flags[name] as string[] | undefined) ?? []), ...v.split(',').filter(x => x.length > 0)]
    else flags[name] = v
  }
  return { flags, positional }
}

const START_USAGE = `usage: agora start [--config file.(json|yaml)] [--data-dir dir] [--listen multiaddr]... [--bootstrap multiaddr]...
                   [--http host:port] [--mesh name] [--zone zone] [--raft-voters peerId,...] [--token token]
                   [--log-level silent|error|warn|info|debug]
  Runs a peer daemon with its HTTP API. With no options: in memory, libp2p on 127.0.0.1 (free port), HTTP on
  127.0.0.1:7070, a fresh identity. Prints one JSON line {"event":"started",...} on stdout once serving
  (peer id, listen addresses, HTTP address, token file). SIGINT/SIGTERM: leaves cleanly (hands over Raft
  leadership, flushes storage) and exits 0.`

async function loadToken (config: DaemonConfig): Promise<{ token: string, file?: string }> {
  if (config.token !== undefined) return { token: config.token }
  if (config.dataDir === undefined) return { token: randomBytes(24).toString('hex') }
  const file = join(config.dataDir, TOKEN_FILE)
  try {
    const t = (await readFile(file, 'utf8')).trim()
    if (t.length >= 16) return { token: t, file }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new AgoraError('ERR_TOKEN', `cannot read ${file}: ${(err as Error).message}`)
  }
  await mkdir(config.dataDir, { recursive: true })
  const token = randomBytes(24).toString('hex')
  await writeFile(file, token + '\n', { mode: 0o600 })
  return { token, file }
}

async function start (args: string[], io: CliIo): Promise<number> {
  const { flags, positional } = parseArgs(args, {
    config: 'string', 'data-dir': 'string', listen: 'list', bootstrap: 'list', http: 'string', mesh: 'string', zone: 'string', 'raft-voters': 'list', token: 'string', 'log-level': 'string', help: 'boolean'
  })
  if (flags.help === true) { io.stdout(START_USAGE + '\n'); return EXIT_OK }
  if (positional.length > 0) throw new UsageError(`unexpected argument ${positional[0]!}`)
  const raw: Record<string, unknown> = typeof flags.config === 'string' ? readConfigFile(flags.config) : {}
  const set = (key: string, v: unknown): void => { if (v !== undefined) raw[key] = v }
  set('dataDir', flags['data-dir'])
  set('listen', flags.listen)
  set('bootstrap', flags.bootstrap)
  set('http', flags.http)
  set('mesh', flags.mesh)
  set('zone', flags.zone)
  set('token', flags.token)
  set('logLevel', flags['log-level'])
  if (flags['raft-voters'] !== undefined) raw.raft = { ...(raw.raft as Record<string, unknown> | undefined), voters: flags['raft-voters'] }
  const config = validateConfig(raw, typeof flags.config === 'string' ? flags.config : 'flags')
  const log = createLogger(config.logLevel, 'agora:daemon')
  const { createPeer } = await import('../../peers/peer.js')
  const { startApi } = await import('./http.js')
  const { token, file } = await loadToken(config)
  const peer = await createPeer({
    ...(config.mesh !== undefined ? { mesh: config.mesh } : {}),
    ...(config.dataDir !== undefined ? { dataDir: config.dataDir } : {}),
    ...(config.listen !== undefined ? { listen: config.listen } : {}),
    ...(config.bootstrap !== undefined ? { bootstrap: config.bootstrap } : {}),
    ...(config.zone !== undefined ? { zone: config.zone } : {}),
    ...(config.heartbeatIntervalMs !== undefined ? { heartbeatIntervalMs: config.heartbeatIntervalMs } : {}),
    ...(config.raft !== undefined ? { raft: config.raft } : {}),
    logLevel: config.logLevel === 'info' ? 'warn' : config.logLevel
  })
  const idx = config.http.lastIndexOf(':')
  const host = config.http.slice(0, idx).replace(/^\[|\]$/g, '')
  const port = Number(config.http.slice(idx + 1))
  let api
  try {
    api = await startApi({ peer, token, host, port, bodyBytesMax: config.bodyBytesMax, log, allowRemoteBidCallbacks: config.allowRemoteBidCallbacks })
  } catch (err) {
    await peer.stop()
    throw new AgoraError('ERR_HTTP_LISTEN', `cannot listen on ${config.http}: ${(err as Error).message}`)
  }
  io.stdout(JSON.stringify({ event: 'started', peerId: peer.id, addresses: peer.addresses(), http: api.address, ...(file !== undefined ? { tokenFile: file } : { token }) }) + '\n')
  log.info('daemon started', { peerId: peer.id, http: api.address })

  return await new Promise<number>((resolve) => {
    let stopping = false
    const shutdown = (signal: string): void => {
      if (stopping) { resolve(EXIT_FAILED); return }
      stopping = true
      log.info('shutting down', { signal })
      void (async () => {
        try {
          // Hand Raft leadership over so the group does not wait for an election timeout.
          const r = peer.raft
          if (r !== undefined && r.status().role === 'leader') {
            const other = r.status().voters.find(v => v !== peer.id && !v.startsWith('raft:'))
            if (other !== undefined) await r.transferLeadership(other, 2000).catch(() => {})
          }
          await api.close()
          await peer.stop()
          log.info('stopped')
          resolve(EXIT_OK)
        } catch (err) {
          log.error('shutdown failed', { error: (err as Error).message })
          resolve(EXIT_FAILED)
        }
      })()
    }
    process.once('SIGINT', () => shutdown('SIGINT'))
    process.once('SIGTERM', () => shutdown('SIGTERM'))
  })
}

// ---- client commands ----------------------------------------------------------------------------

export const CLIENT_FLAGS: Record<string, FlagKind> = { http: 'string', token: 'string', 'data-dir': 'string', json: 'string', help: 'boolean' }

export async function client (flags: Record<string, string | string[] | boolean>): Promise<(method: string, path: string, body?: unknown) => Promise<unknown>> {
  const http = typeof flags.http === 'string' ? flags.http : '127.0.0.1:7070'
  let token = typeof flags.token === 'string' ? flags.token : process.env.AGORA_TOKEN
  if (token === undefined && typeof flags['data-dir'] === 'string') {
    try { token = (await readFile(join(flags['data-dir'], TOKEN_FILE), 'utf8')).trim() } catch { throw new UsageError(`no token: ${join(flags['data-dir'], TOKEN_FILE)} is not readable`) }
  }
  if (token === undefined) throw new UsageError('no token: pass --token, --data-dir of the daemon, or AGORA_TOKEN')
  return async (method, path, body) => {
    let res: Response
    try {
      res = await fetch(`http://${http}${path}`, { method, headers: { authorization: `Bearer ${token!}`, 'content-type': 'application/json' }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) })
    } catch (err) {
      throw new AgoraError('ERR_DAEMON_UNREACHABLE', `no daemon at http://${http}: ${(err as Error).message}`)
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

const STATUS_USAGE = 'usage: agora status [--http host:port] [--token t | --data-dir dir]\n  Prints the daemon\'s status (peer, members, sync health, Raft) as JSON.'
const AGENTS_USAGE = `usage: agora agents list [--capability c] [--zone z] [--limit n]
       agora agents register --json '{"id":"a1","capabilities":["x"]}'
       agora agents query --json '{"capability":"x","where":[["resources.gpu","gte",1]]}'
  (plus --http host:port and --token t | --data-dir dir)`
const VAR_USAGE = `usage: agora var get <name> [--strong] [--merge lww|max|min|counter|weighted-average]
       agora var set <name> --value <json> [--strong] [--merge m]
  (plus --http host:port and --token t | --data-dir dir)`

async function status (args: string[], io: CliIo): Promise<number> {
  const { flags } = parseArgs(args, CLIENT_FLAGS)
  if (flags.help === true) { io.stdout(STATUS_USAGE + '\n'); return EXIT_OK }
  const call = await client(flags)
  io.stdout(JSON.stringify(await call('GET', '/v1/status'), null, 2) + '\n')
  return EXIT_OK
}

async function agents (args: string[], io: CliIo): Promise<number> {
  const { flags, positional } = parseArgs(args, { ...CLIENT_FLAGS, capability: 'string', zone: 'string', limit: 'string' })
  if (flags.help === true || positional[0] === undefined) { io.stdout(AGENTS_USAGE + '\n'); return flags.help === true ? EXIT_OK : 2 }
  const call = await client(flags)
  let out: unknown
  switch (positional[0]) {
    case 'list': {
      const q = new URLSearchParams()
      for (const k of ['capability', 'zone', 'limit']) if (typeof flags[k] === 'string') q.set(k, flags[k] as string)
      out = await call('GET', `/v1/agents?${q.toString()}`)
      break
    }
    case 'register': out = await call('POST', '/v1/agents', jsonFlag(flags) ?? (() => { throw new UsageError('register needs --json') })()); break
    case 'query': out = await call('POST', '/v1/agents/query', jsonFlag(flags) ?? {}); break
    default: throw new UsageError(`unknown subcommand ${positional[0]}`)
  }
  io.stdout(JSON.stringify(out, null, 2) + '\n')
  return EXIT_OK
}

async function variable (args: string[], io: CliIo): Promise<number> {
  const { flags, positional } = parseArgs(args, { ...CLIENT_FLAGS, strong: 'boolean', merge: 'string', value: 'string' })
  if (flags.help === true || positional.length < 2) { io.stdout(VAR_USAGE + '\n'); return flags.help === true ? EXIT_OK : 2 }
  const [sub, name] = positional as [string, string]
  const call = await client(flags)
  const kind = flags.strong === true ? 'strong' : 'eventual'
  const path = `/v1/variables/${kind}/${encodeURIComponent(name)}`
  let out: unknown
  if (sub === 'get') {
    out = await call('GET', kind === 'eventual' && typeof flags.merge === 'string' ? `${path}?merge=${encodeURIComponent(flags.merge)}` : path)
  } else if (sub === 'set') {
    const value = jsonFlag(flags, 'value')
    if (value === undefined) throw new UsageError('set needs --value <json>')
    out = await call('PUT', path, { value, ...(typeof flags.merge === 'string' ? { merge: flags.merge } : {}) })
  } else {
    throw new UsageError(`unknown subcommand ${sub}`)
  }
  io.stdout(JSON.stringify(out, null, 2) + '\n')
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

export const DAEMON_COMMANDS: Record<string, Command> = {
  id: { summary: 'print (creating if needed) the peer id of a data dir', usage: ID_USAGE, run: id },
  start: { summary: 'run a peer daemon with its HTTP API', usage: START_USAGE, run: start },
  status: { summary: 'status of a running daemon', usage: STATUS_USAGE, run: status },
  agents: { summary: 'list, register and query agents through a daemon', usage: AGENTS_USAGE, run: agents },
  var: { summary: 'get and set eventual or strong variables through a daemon', usage: VAR_USAGE, run: variable }
}
