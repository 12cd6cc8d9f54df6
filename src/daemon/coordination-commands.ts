/**
 * Coordination commands of the `agora` CLI: `lock`, `lease`, `election`, `barrier` and `vote`, thin
 * clients of a running daemon's `/v1/coordination` routes (coordination-routes.ts). `agora lock <name> --
 * <command>` holds a lock while a command runs, as `etcdctl lock` does: this process keeps the lock's
 * lease alive, releases the lock when the command ends and exits with its exit code; `agora election
 * campaign` holds a leadership the same way. Exit codes as the other client commands: 0 success, 1 the
 * API answered an error (its code is printed) or the lock was lost, 2 bad usage (the message names the
 * flag); a command run under a lock gives its own.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { constants } from 'node:os'
import { AgoraError } from '../base/errors.js'
import { LeaseLostError } from '../../peers/coordination/errors.js'
import { EXIT_FAILED, EXIT_OK, UsageError } from '../cli-util.js'
import type { CliIo, Command } from '../cli-util.js'
import { CLIENT_FLAGS, client, parseArgs, resolveConnection } from './commands.js'
import type { FlagKind } from './commands.js'
import { arg, intFlag, strFlag } from './economy-commands.js'

type Flags = Record<string, string | string[] | boolean>
type Call = (method: string, path: string, body?: unknown) => Promise<unknown>

const CONN = '  (plus --http host:port and --token t | --data-dir dir of the daemon; agora help status)'

const LOCK_USAGE = `usage: agora lock <name> [--ttl ms] [--wait ms] [--permits n] -- <command> [args...]
         Runs <command> while holding lock <name> (waiting up to --wait ms, default 30000, at most 120000, for
         it), keeping its lease (--ttl ms, default 10000) alive; releases the lock when the command ends and
         exits with the command's exit code. The command gets AGORA_LOCK_NAME, AGORA_LOCK_TOKEN (the fencing
         token), AGORA_LOCK_LEASE and AGORA_LOCK_FENCE ({"lock":..,"token":..}) in its environment. If the lock
         is lost (its lease could not be kept alive) the command gets SIGTERM and agora exits 1 (ERR_LEASE_LOST).
       agora lock acquire <name> [--ttl ms | --lease id] [--wait ms | --try] [--permits n]
         Prints {name, token, lease, ttlMs, fence}; the lock is revoked after ttl ms unless its lease is kept
         alive (agora lease keepalive <lease>). --try: do not wait (ERR_LOCK_HELD when held).
       agora lock release <name> <token>
       agora lock status <name>
       agora lock list
${CONN}`

const LEASE_USAGE = `usage: agora lease grant --ttl ms
       agora lease keepalive <id>
       agora lease revoke <id>
       agora lease list
  A lease of the daemon held for this client: revoked (and what it holds freed) unless kept alive within
  every ttl ms. Locks, leaderships and barrier arrivals can share one (--lease id).
${CONN}`

const ELECTION_USAGE = `usage: agora election campaign <name> [--value json] [--ttl ms] [--wait ms] [-- <command> [args...]]
         Campaigns (waiting up to --wait ms, default 30000, to lead); once leading prints {name, token, lease,
         ttlMs} and leads while this process keeps the lease alive: until SIGINT/SIGTERM (then resigns and
         exits 0), or with a command, while it runs (then resigns and exits with its exit code; the command
         gets AGORA_ELECTION_NAME, AGORA_ELECTION_TOKEN and AGORA_ELECTION_LEASE).
       agora election leader <name>
       agora election proclaim <name> <token> --value json
       agora election resign <name> <token>
       agora election watch <name> [--count n]
         Prints {name, leader} now and at every change (from the daemon's event stream, re-read every 5 s),
         until SIGINT or --count lines.
${CONN}`

const BARRIER_USAGE = `usage: agora barrier arrive <name> --agent A --parties N [--timeout ms] [--zone z]
         Arrives as agent A (hosted by the daemon) and waits until N parties arrived: prints {name,
         generation}; ERR_BARRIER_TIMEOUT after --timeout ms (default 30000), ERR_BARRIER_BROKEN when another
         party's lease ended first.
       agora barrier status <name>
${CONN}`

const VOTE_USAGE = `usage: agora vote open --options a,b (--voters id,id | --capability c) [--rule majority|unanimous|weighted|quorum:N]
                      [--deadline ms] [--topic t] [--request-timeout ms]
         Opens a vote, asks every voter's daemon (its onVote handler or HTTP voter), and prints the decision
         once made (at the rule's threshold, when no option can meet it, or at the deadline: default 30000 ms).
       agora vote status <id>
${CONN}`

const enc = encodeURIComponent
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const

/** Splits `args` at the first `--`: the options, and the command after it (undefined without `--`). */
function splitCommand (args: string[]): { options: string[], command: string[] | undefined } {
  const i = args.indexOf('--')
  return i < 0 ? { options: args, command: undefined } : { options: args.slice(0, i), command: args.slice(i + 1) }
}

/** A usage error for a positional argument past the `n` a subcommand takes. */
export function noMore (positional: string[], n: number): void {
  if (positional.length > n) throw new UsageError(`unexpected argument ${positional[n]!}`)
}

/** A JSON flag's value (undefined when absent); a usage error naming it when it is not JSON. */
export function jsonValue (flags: Flags, name: string): unknown {
  const v = strFlag(flags, name)
  if (v === undefined) return undefined
  try { return JSON.parse(v) as unknown } catch { throw new UsageError(`--${name} must be JSON (a string needs quotes: '"text"')`) }
}

/** `{ ttlMs }` or `{ lease }` from --ttl and --lease. */
function leaseChoice (flags: Flags): Record<string, number> {
  const ttlMs = intFlag(flags, 'ttl')
  const lease = intFlag(flags, 'lease')
  if (ttlMs !== undefined && lease !== undefined) throw new UsageError('give --ttl or --lease, not both')
  return { ...(ttlMs !== undefined ? { ttlMs } : {}), ...(lease !== undefined ? { lease } : {}) }
}

/** Positional argument `i`: a lock's or leadership's (fencing) token. */
function tokenArg (positional: string[], i: number): number {
  const v = arg(positional, i, 'a token (the one acquire or campaign printed)')
  if (!/^[1-9][0-9]{0,15}$/.test(v)) throw new UsageError(`a token is a positive integer, got ${JSON.stringify(v)}`)
  return Number(v)
}

export function print (io: CliIo, value: unknown): void { io.stdout(JSON.stringify(value, null, 2) + '\n') }

/**
 * Keeps lease `held.lease` alive (a keepalive every ttl / 3) while `command` runs, or without one until
 * SIGINT/SIGTERM/SIGHUP, then calls `end` (release, resign). Resolves with the command's exit code
 * (128 + the signal's number when a signal ended it; 0 when interrupted without a command). When the lease
 * is lost (the daemon says so, or no keepalive succeeded for a whole TTL) the command gets SIGTERM and
 * this throws LeaseLostError.
 */
async function holdWhile (call: Call, held: { lease: number, ttlMs: number }, command: string[] | undefined, env: Record<string, string>, end: () => Promise<void>, io: CliIo): Promise<number> {
  let lost: string | undefined
  let lastOk = Date.now()
  let child: ChildProcess | undefined
  let finish!: (code: number) => void
  const finished = new Promise<number>(resolve => { finish = resolve })
  const loseIt = (why: string): void => {
    if (lost !== undefined) return
    lost = why
    if (child !== undefined) child.kill('SIGTERM')
    else finish(EXIT_FAILED)
  }
  const timer = setInterval(() => {
    call('POST', `/v1/coordination/leases/${held.lease}/keepalive`).then(() => { lastOk = Date.now() }, (err: AgoraError) => {
      if (err.code === 'ERR_LEASE_LOST' || err.code === 'ERR_LEASE_NOT_FOUND') loseIt(err.message)
      else if (Date.now() - lastOk >= held.ttlMs) loseIt(`no keepalive succeeded for ${held.ttlMs} ms (${err.message})`)
    })
  }, Math.max(100, Math.floor(held.ttlMs / 3)))
  const onSignal = (sig: NodeJS.Signals): void => {
    if (child !== undefined) child.kill(sig)
    else finish(EXIT_OK)
  }
  for (const s of SIGNALS) process.on(s, onSignal)
  if (command !== undefined) {
    child = spawn(command[0]!, command.slice(1), { stdio: 'inherit', env: { ...process.env, ...env } })
    child.once('error', (err) => { io.stderr(`agora: cannot run ${command[0]!}: ${err.message}\n`); finish(127) })
    child.once('exit', (code, signal) => { finish(code ?? 128 + (signal !== null ? constants.signals[signal] : 15)) })
  }
  let code: number
  try {
    code = await finished
  } finally {
    clearInterval(timer)
    for (const s of SIGNALS) process.off(s, onSignal)
  }
  if (lost !== undefined) {
    await end().catch(() => {})
    throw new LeaseLostError(held.lease, `${lost}${command !== undefined ? '; the command was stopped' : ''}`)
  }
  await end()
  return code
}

// ---------------------------------------------------------------- lock, lease

const LOCK_FLAGS: Record<string, FlagKind> = { ...CLIENT_FLAGS, ttl: 'string', wait: 'string', lease: 'string', try: 'boolean', permits: 'string' }
const LOCK_SUBCOMMANDS = ['acquire', 'release', 'status', 'list']

function lockBody (flags: Flags): Record<string, unknown> {
  const waitMs = intFlag(flags, 'wait')
  const permits = intFlag(flags, 'permits')
  if (flags.try === true && waitMs !== undefined) throw new UsageError('give --wait or --try, not both')
  return { ...leaseChoice(flags), ...(waitMs !== undefined ? { waitMs } : {}), ...(permits !== undefined ? { permits } : {}), ...(flags.try === true ? { try: true } : {}) }
}

async function lock (args: string[], io: CliIo): Promise<number> {
  const { options, command } = splitCommand(args)
  const { flags, positional } = parseArgs(options, LOCK_FLAGS)
  if (flags.help === true) { io.stdout(LOCK_USAGE + '\n'); return EXIT_OK }
  const first = positional[0]
  if (first === undefined) throw new UsageError('lock needs a lock name and -- <command>, or a subcommand: ' + LOCK_SUBCOMMANDS.join(', '))
  if (command !== undefined || !LOCK_SUBCOMMANDS.includes(first)) {
    // agora lock <name> [flags] -- <command...>
    noMore(positional, 1)
    if (command === undefined || command.length === 0) throw new UsageError(`lock ${first} needs -- <command> to run under the lock (or agora lock acquire ${first})`)
    if (flags.lease !== undefined || flags.try === true) throw new UsageError('--lease and --try are for agora lock acquire')
    const body = lockBody(flags)
    const call = await client(flags)
    const got = await call('POST', `/v1/coordination/locks/${enc(first)}`, body) as { name: string, token: number, lease: number, ttlMs: number, fence: unknown }
    const env = { AGORA_LOCK_NAME: got.name, AGORA_LOCK_TOKEN: String(got.token), AGORA_LOCK_LEASE: String(got.lease), AGORA_LOCK_FENCE: JSON.stringify(got.fence) }
    return await holdWhile(call, got, command, env, async () => { await call('DELETE', `/v1/coordination/locks/${enc(got.name)}?token=${got.token}`) }, io)
  }
  let request: [string, string, unknown?]
  switch (first) {
    case 'acquire': noMore(positional, 2); request = ['POST', `/v1/coordination/locks/${enc(arg(positional, 1, 'a lock name'))}`, lockBody(flags)]; break
    case 'release': noMore(positional, 3); request = ['DELETE', `/v1/coordination/locks/${enc(arg(positional, 1, 'a lock name'))}?token=${tokenArg(positional, 2)}`]; break
    case 'status': noMore(positional, 2); request = ['GET', `/v1/coordination/locks/${enc(arg(positional, 1, 'a lock name'))}`]; break
    default: noMore(positional, 1); request = ['GET', '/v1/coordination/locks']
  }
  const call = await client(flags)
  print(io, await call(...request))
  return EXIT_OK
}

async function lease (args: string[], io: CliIo): Promise<number> {
  const { flags, positional } = parseArgs(args, { ...CLIENT_FLAGS, ttl: 'string' })
  if (flags.help === true) { io.stdout(LEASE_USAGE + '\n'); return EXIT_OK }
  const sub = positional[0]
  const id = (): number => { const v = arg(positional, 1, 'a lease id'); if (!/^[1-9][0-9]{0,15}$/.test(v)) throw new UsageError(`a lease id is a positive integer, got ${JSON.stringify(v)}`); return Number(v) }
  let request: [string, string, unknown?]
  switch (sub) {
    case 'grant': noMore(positional, 1); request = ['POST', '/v1/coordination/leases', { ttlMs: intFlag(flags, 'ttl', true) }]; break
    case 'keepalive': noMore(positional, 2); request = ['POST', `/v1/coordination/leases/${id()}/keepalive`]; break
    case 'revoke': noMore(positional, 2); request = ['DELETE', `/v1/coordination/leases/${id()}`]; break
    case 'list': noMore(positional, 1); request = ['GET', '/v1/coordination/leases']; break
    case undefined: throw new UsageError('lease needs a subcommand: grant, keepalive, revoke, list')
    default: throw new UsageError(`unknown subcommand "${sub}" of lease (one of grant, keepalive, revoke, list)`)
  }
  const call = await client(flags)
  print(io, await call(...request))
  return EXIT_OK
}

// ---------------------------------------------------------------- election

const ELECTION_SUBCOMMANDS = ['campaign', 'leader', 'proclaim', 'resign', 'watch']

async function election (args: string[], io: CliIo): Promise<number> {
  const { options, command } = splitCommand(args)
  const { flags, positional } = parseArgs(options, { ...CLIENT_FLAGS, value: 'string', ttl: 'string', wait: 'string', count: 'string' })
  if (flags.help === true) { io.stdout(ELECTION_USAGE + '\n'); return EXIT_OK }
  const sub = positional[0]
  if (sub === undefined) throw new UsageError('election needs a subcommand: ' + ELECTION_SUBCOMMANDS.join(', '))
  if (!ELECTION_SUBCOMMANDS.includes(sub)) throw new UsageError(`unknown subcommand "${sub}" of election (one of ${ELECTION_SUBCOMMANDS.join(', ')})`)
  const name = arg(positional, 1, 'an election name')
  noMore(positional, sub === 'proclaim' || sub === 'resign' ? 3 : 2)
  if (command !== undefined && sub !== 'campaign') throw new UsageError('only election campaign runs a command (-- <command>)')
  if (command !== undefined && command.length === 0) throw new UsageError('-- needs a command after it')
  const path = `/v1/coordination/elections/${enc(name)}`
  switch (sub) {
    case 'campaign': {
      const waitMs = intFlag(flags, 'wait')
      const ttlMs = intFlag(flags, 'ttl')
      const body = { value: jsonValue(flags, 'value') ?? null, ...(waitMs !== undefined ? { waitMs } : {}), ...(ttlMs !== undefined ? { ttlMs } : {}) }
      const call = await client(flags)
      const got = await call('POST', `${path}/campaign`, body) as { name: string, token: number, lease: number, ttlMs: number }
      if (command === undefined) io.stdout(JSON.stringify(got) + '\n')
      const env = { AGORA_ELECTION_NAME: got.name, AGORA_ELECTION_TOKEN: String(got.token), AGORA_ELECTION_LEASE: String(got.lease) }
      return await holdWhile(call, got, command, env, async () => { await call('POST', `${path}/resign`, { token: got.token }) }, io)
    }
    case 'watch': return await watchLeader(flags, name, intFlag(flags, 'count'), io)
    case 'leader': print(io, await (await client(flags))('GET', `${path}/leader`)); return EXIT_OK
    case 'proclaim': {
      const token = tokenArg(positional, 2)
      const value = jsonValue(flags, 'value')
      if (value === undefined) throw new UsageError('--value is required')
      print(io, await (await client(flags))('POST', `${path}/proclaim`, { token, value }))
      return EXIT_OK
    }
    default: {
      const token = tokenArg(positional, 2)
      print(io, await (await client(flags))('POST', `${path}/resign`, { token }))
      return EXIT_OK
    }
  }
}

/** Prints the leader now and at every change: election events of the daemon's stream, and a re-read at every keepalive comment. */
async function watchLeader (flags: Flags, name: string, count: number | undefined, io: CliIo): Promise<number> {
  if (count === 0) throw new UsageError('--count must be at least 1')
  const { http, token } = await resolveConnection(flags)
  const call = await client(flags)
  const ctrl = new AbortController()
  const onSignal = (): void => { ctrl.abort() }
  for (const s of SIGNALS) process.on(s, onSignal)
  let last: string | undefined
  let printed = 0
  const show = async (): Promise<void> => {
    const r = await call('GET', `/v1/coordination/elections/${enc(name)}/leader`) as { leader: unknown }
    const text = JSON.stringify({ name, leader: r.leader })
    if (text === last) return
    last = text
    io.stdout(text + '\n')
    if (count !== undefined && ++printed >= count) ctrl.abort()
  }
  try {
    const res = await fetch(`http://${http}/v1/events?types=election:*&prefix=${enc(name)}&keepaliveMs=5000`, { headers: { authorization: `Bearer ${token}` }, signal: ctrl.signal })
    if (!res.ok || res.body === null) {
      const e = await res.json().catch(() => ({})) as { error?: { code: string, message: string } }
      throw new AgoraError(e.error?.code ?? 'ERR_HTTP', `${res.status}: ${e.error?.message ?? res.statusText}`)
    }
    await show()
    const reader = res.body.getReader()
    const dec = new TextDecoder()
    let buf = ''
    while (!ctrl.signal.aborted) {
      const { value, done } = await reader.read()
      if (done) break
      buf += dec.decode(value, { stream: true })
      for (let end = buf.indexOf('\n\n'); end >= 0; end = buf.indexOf('\n\n')) {
        const frame = buf.slice(0, end)
        buf = buf.slice(end + 2)
        const data = /^data: (.*)$/m.exec(frame)?.[1]
        const ours = data !== undefined && (JSON.parse(data) as { name?: unknown }).name === name
        if (ours || frame.startsWith(': keepalive')) await show()
      }
    }
  } catch (err) {
    if (!ctrl.signal.aborted) throw err
  } finally {
    for (const s of SIGNALS) process.off(s, onSignal)
    ctrl.abort()
  }
  return EXIT_OK
}

// ---------------------------------------------------------------- barrier, vote

async function barrier (args: string[], io: CliIo): Promise<number> {
  const { flags, positional } = parseArgs(args, { ...CLIENT_FLAGS, agent: 'string', parties: 'string', timeout: 'string', zone: 'string' })
  if (flags.help === true) { io.stdout(BARRIER_USAGE + '\n'); return EXIT_OK }
  const sub = positional[0]
  let request: [string, string, unknown?]
  switch (sub) {
    case 'arrive': {
      const name = arg(positional, 1, 'a barrier name')
      noMore(positional, 2)
      const zone = strFlag(flags, 'zone')
      request = ['POST', `/v1/coordination/barriers/${enc(name)}/arrive`, { agent: strFlag(flags, 'agent', true), parties: intFlag(flags, 'parties', true), timeoutMs: intFlag(flags, 'timeout') ?? 30_000, ...(zone !== undefined ? { zone } : {}) }]
      break
    }
    case 'status': request = ['GET', `/v1/coordination/barriers/${enc(arg(positional, 1, 'a barrier name'))}`]; noMore(positional, 2); break
    case undefined: throw new UsageError('barrier needs a subcommand: arrive, status')
    default: throw new UsageError(`unknown subcommand "${sub}" of barrier (one of arrive, status)`)
  }
  const call = await client(flags)
  print(io, await call(...request))
  return EXIT_OK
}

/** `--rule majority|unanimous|weighted|quorum:N` as the route takes it. */
function ruleFlag (v: string | undefined): unknown {
  if (v === undefined) return undefined
  if (v === 'majority' || v === 'unanimous' || v === 'weighted') return v
  const m = /^quorum:([1-9][0-9]{0,5})$/.exec(v)
  if (m === null) throw new UsageError(`--rule is majority, unanimous, weighted or quorum:N, got ${JSON.stringify(v)}`)
  return { kind: 'quorum', n: Number(m[1]) }
}

async function vote (args: string[], io: CliIo): Promise<number> {
  const { flags, positional } = parseArgs(args, { ...CLIENT_FLAGS, options: 'list', voters: 'list', capability: 'string', rule: 'string', deadline: 'string', topic: 'string', 'request-timeout': 'string' })
  if (flags.help === true) { io.stdout(VOTE_USAGE + '\n'); return EXIT_OK }
  const sub = positional[0]
  let request: [string, string, unknown?]
  switch (sub) {
    case 'open': {
      noMore(positional, 1)
      const options = flags.options
      if (!Array.isArray(options) || options.length === 0) throw new UsageError('--options is required (a,b,...)')
      if ((flags.voters === undefined) === (flags.capability === undefined)) throw new UsageError('give exactly one of --voters and --capability')
      const rule = ruleFlag(strFlag(flags, 'rule'))
      const topic = strFlag(flags, 'topic')
      const requestTimeoutMs = intFlag(flags, 'request-timeout')
      request = ['POST', '/v1/coordination/votes', {
        options,
        voters: flags.voters ?? { capability: strFlag(flags, 'capability') },
        deadlineMs: intFlag(flags, 'deadline') ?? 30_000,
        ...(rule !== undefined ? { rule } : {}),
        ...(topic !== undefined ? { topic } : {}),
        ...(requestTimeoutMs !== undefined ? { requestTimeoutMs } : {})
      }]
      break
    }
    case 'status': {
      const id = arg(positional, 1, 'a vote id')
      noMore(positional, 2)
      if (!/^[1-9][0-9]{0,15}$/.test(id)) throw new UsageError(`a vote id is a positive integer, got ${JSON.stringify(id)}`)
      request = ['GET', `/v1/coordination/votes/${id}`]
      break
    }
    case undefined: throw new UsageError('vote needs a subcommand: open, status')
    default: throw new UsageError(`unknown subcommand "${sub}" of vote (one of open, status)`)
  }
  const call = await client(flags)
  print(io, await call(...request))
  return EXIT_OK
}

export const COORDINATION_COMMANDS: Record<string, Command> = {
  lock: { summary: 'hold a lock while a command runs; acquire, release and show locks through a daemon', usage: LOCK_USAGE, run: lock },
  lease: { summary: 'grant, keep alive and revoke leases held by a daemon for this client', usage: LEASE_USAGE, run: lease },
  election: { summary: 'campaign for, show, proclaim, resign and watch an election\'s leader through a daemon', usage: ELECTION_USAGE, run: election },
  barrier: { summary: 'arrive at a barrier as a hosted agent and wait for the other parties', usage: BARRIER_USAGE, run: barrier },
  vote: { summary: 'open a vote among agents and show votes through a daemon', usage: VOTE_USAGE, run: vote }
}
