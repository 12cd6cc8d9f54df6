/**
 * `agora members` and `agora raft ...`: thin clients of `GET /v1/members` and the `/v1/raft` routes
 * (raft-routes.ts) of a running daemon. Membership changes go to the leader's daemon (`--http`); another
 * member's answer names the leader.
 */
import { EXIT_OK, UsageError } from '../cli-util.js'
import type { CliIo, Command } from '../cli-util.js'
import { CLIENT_FLAGS, client, parseArgs } from './commands.js'
import type { MemberView } from './members.js'

const MEMBERS_USAGE = `usage: agora members [--output table|json] [--http host:port] [--token t | --data-dir dir]
  Every peer the daemon knows: peer id, Raft role, reachability, last seen, sync lag, zone, addresses;
  then the agents whose circuit breaker on this daemon is open or half-open, with their host.`

const RAFT_USAGE = `usage: agora raft status
       agora raft add-learner <peerId>
       agora raft promote <peerId>
       agora raft remove <peerId>
       agora raft replace <deadPeerId> <livePeerId> [--timeout-ms n]
       agora raft transfer <peerId> [--timeout-ms n]
  (plus --http host:port of the leader's daemon and --token t | --data-dir dir)
  Membership changes and transfers go to the Raft leader's daemon; another daemon answers ERR_NOT_LEADER
  naming the leader. Prints the Raft status after the change as JSON.`

function ago (ms: number | null): string {
  if (ms === null) return 'never'
  const s = Math.max(0, Date.now() - ms) / 1000
  return s < 1 ? 'now' : s < 120 ? `${Math.round(s)}s ago` : `${Math.round(s / 60)}m ago`
}

/** The members as a fixed-width table. */
export function membersTable (members: MemberView[]): string {
  const rows = [['PEER', 'RAFT', 'REACHABILITY', 'LAST SEEN', 'SYNC LAG', 'ZONE', 'ADDRESSES']]
  for (const m of members) {
    rows.push([m.peerId + (m.self ? ' (self)' : ''), m.raft ?? '-', m.reachability, m.self ? '-' : ago(m.lastSeenAt), String(m.syncLag), m.zone ?? '-', m.addresses.join(',') || '-'])
  }
  return aligned(rows) + breakersTable(members)
}

function aligned (rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map(r => r[i]!.length)))
  return rows.map(r => r.map((c, i) => i === r.length - 1 ? c : c.padEnd(widths[i]!)).join('  ')).join('\n') + '\n'
}

/** The agents whose circuit breaker here is open or half-open, by host (nothing when none). */
function breakersTable (members: MemberView[]): string {
  const rows = [['AGENT', 'HOST', 'BREAKER', 'RETRY IN']]
  for (const m of members) for (const b of m.breakers ?? []) rows.push([b.agent, m.peerId, b.state, b.state === 'open' ? `${Math.ceil(b.retryAfterMs / 1000)}s` : 'probe'])
  return rows.length === 1 ? '' : '\n' + aligned(rows)
}

async function members (args: string[], io: CliIo): Promise<number> {
  const { flags, positional } = parseArgs(args, { ...CLIENT_FLAGS, output: 'string' })
  if (flags.help === true) { io.stdout(MEMBERS_USAGE + '\n'); return EXIT_OK }
  if (positional.length > 0) throw new UsageError(`unexpected argument ${positional[0]!}`)
  const output = flags.output ?? 'table'
  if (output !== 'table' && output !== 'json') throw new UsageError('--output is table or json')
  const call = await client(flags)
  const r = await call('GET', '/v1/members') as { members: MemberView[], more: number }
  io.stdout(output === 'json' ? JSON.stringify(r, null, 2) + '\n' : membersTable(r.members) + (r.more > 0 ? `(${r.more} more)\n` : ''))
  return EXIT_OK
}

const RAFT_SUBCOMMANDS: Record<string, number> = { status: 0, 'add-learner': 1, promote: 1, remove: 1, replace: 2, transfer: 1 }

async function raft (args: string[], io: CliIo): Promise<number> {
  const { flags, positional } = parseArgs(args, { ...CLIENT_FLAGS, 'timeout-ms': 'string' })
  if (flags.help === true) { io.stdout(RAFT_USAGE + '\n'); return EXIT_OK }
  // Usage first, before any daemon or token is looked for.
  const [sub, a, b] = positional
  if (sub === undefined) throw new UsageError(`raft needs a subcommand (${Object.keys(RAFT_SUBCOMMANDS).join(', ')})`)
  const arity = Object.hasOwn(RAFT_SUBCOMMANDS, sub) ? RAFT_SUBCOMMANDS[sub]! : undefined
  if (arity === undefined) throw new UsageError(`unknown subcommand "${sub}" of raft`)
  if (positional.length - 1 < arity) throw new UsageError(`raft ${sub} needs ${arity === 2 ? 'two peer ids (dead, live)' : 'a peer id'}`)
  if (positional.length - 1 > arity) throw new UsageError(`unexpected argument ${positional[arity + 1]!}`)
  let timeoutMs: number | undefined
  if (typeof flags['timeout-ms'] === 'string') {
    if (!/^[1-9][0-9]{0,8}$/.test(flags['timeout-ms'])) throw new UsageError('--timeout-ms needs a positive integer')
    timeoutMs = Number(flags['timeout-ms'])
  }
  const call = await client(flags)
  let out: unknown
  switch (sub) {
    case 'status': out = await call('GET', '/v1/raft'); break
    case 'add-learner': out = await call('POST', '/v1/raft/learners', { peerId: a }); break
    case 'promote': out = await call('POST', '/v1/raft/promote', { peerId: a }); break
    case 'remove': out = await call('DELETE', `/v1/raft/members/${encodeURIComponent(a!)}`); break
    case 'replace': out = await call('POST', '/v1/raft/replace', { dead: a, live: b, ...(timeoutMs !== undefined ? { timeoutMs } : {}) }); break
    default: out = await call('POST', '/v1/raft/transfer', { to: a, ...(timeoutMs !== undefined ? { timeoutMs } : {}) })
  }
  io.stdout(JSON.stringify(out, null, 2) + '\n')
  return EXIT_OK
}

export const RAFT_COMMANDS: Record<string, Command> = {
  members: { summary: 'peers a daemon knows: Raft role, reachability, last seen, sync lag', usage: MEMBERS_USAGE, run: members },
  raft: { summary: 'Raft membership through the leader\'s daemon: add-learner, promote, remove, replace, transfer', usage: RAFT_USAGE, run: raft }
}
