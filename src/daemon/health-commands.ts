/**
 * `agora health`: a thin client of `GET /v1/health/mesh` (health-routes.ts). Prints the mesh health
 * report as text (or as JSON with `--json`) and exits 0 when the status is below `--fail-on` (default
 * `critical`), 1 when it is at or above it, so scripts and probes can act on it. A daemon that cannot be
 * reached is 1 too (ERR_DAEMON_UNREACHABLE on stderr); bad usage is 2.
 */
import { EXIT_FAILED, EXIT_OK, UsageError } from '../cli-util.js'
import type { CliIo, Command } from '../cli-util.js'
import { CLIENT_FLAGS, CONNECTION_HELP, client, parseArgs } from './commands.js'
import type { HealthReport } from '../../peers/health/report.js'
import type { LatencySnapshot } from '../../peers/health/latency.js'

const HEALTH_USAGE = `usage: agora health [--json] [--fail-on critical|degraded] [--http host:port] [--token t | --data-dir dir]
  The mesh health report of a daemon (GET /v1/health/mesh): status (ok, degraded, critical) and its
  reasons; hosts known, reachable, suspected, unreachable; suspected partitions; Raft quorum, leader and
  lag per member; sync lag; coordination latency; load; breakers, rate limits; alerts raised.
  --json prints the report as JSON. Exit status: 0 when the status is below --fail-on (default critical),
  1 when it is at or above it (or the daemon cannot be reached), 2 on bad usage.
${CONNECTION_HELP}`

const RANK: Record<HealthReport['status'], number> = { ok: 0, degraded: 1, critical: 2 }

function short (id: string): string {
  return id.length > 16 ? `…${id.slice(-10)}` : id
}

function secs (ms: number): string {
  return ms < 1000 ? `${Math.round(ms)}ms` : ms < 120_000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.round(ms / 60_000)}m`
}

function lat (s: LatencySnapshot): string {
  return s.count === 0 ? '-' : `${s.p50Ms}/${s.p90Ms}/${s.p99Ms} ms (${s.count})`
}

function table (rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map(r => r[i]!.length)))
  return rows.map(r => '  ' + r.map((c, i) => i === r.length - 1 ? c : c.padEnd(widths[i]!)).join('  ')).join('\n') + '\n'
}

/** The report as text. */
export function healthText (r: HealthReport): string {
  let out = `status: ${r.status} (peer ${r.peerId})\n`
  for (const c of r.reasons) out += `  ${c.severity === 'critical' ? '!!' : '! '} ${c.name}: ${c.message}\n`
  const p = r.peers
  out += `peers: ${p.known} known, ${p.reachable} reachable, ${p.suspected} suspected, ${p.unreachable} unreachable, ${p.left} left\n`
  if (r.partitions.length > 0) {
    out += 'suspected partitions:\n'
    for (const g of r.partitions) {
      out += `  [${g.peers.map(short).join(', ')}] silent ${secs(g.silentMs)} (${g.suspected} suspected, ${g.unreachable} unreachable)` +
        `; reached by others: ${g.reachedBy.length === 0 ? '-' : g.reachedBy.map(short).join(', ')}; silent to: ${g.confirmedBy.length === 0 ? '-' : g.confirmedBy.map(short).join(', ')}\n`
    }
  }
  const raft = r.raft
  if (raft === null) {
    out += 'raft: not a member of the group\n'
  } else {
    out += `raft: ${raft.role}, leader ${raft.leader === null ? `none for ${secs(raft.noLeaderMs)}` : short(raft.leader)}, term ${raft.term}, ` +
      `quorum ${raft.quorum.reachable}/${raft.quorum.voters} reachable (${raft.quorum.needed} needed) ${raft.quorum.ok ? 'ok' : 'LOST'}, commit ${raft.commit}, applied ${raft.applied}${raft.failed !== undefined ? `, FAILED: ${raft.failed}` : ''}\n`
    const rows = [['MEMBER', 'ROLE', 'REACHABLE', 'MATCH', 'LAG']]
    for (const m of raft.members) rows.push([short(m.peerId), m.leader ? 'leader' : m.voter ? 'voter' : 'learner', m.reachable ? 'yes' : 'no', m.match === null ? '-' : String(m.match), m.lag === null ? '-' : String(m.lag)])
    out += table(rows)
  }
  out += `latency p50/p90/p99: raft commit ${lat(r.latency.raftCommit)}, agent request ${lat(r.latency.agentRequest)}, agent message ${lat(r.latency.agentMessage)}\n`
  out += `load: mean ${r.load.mean}, max ${r.load.max}, ${r.load.overloaded} overloaded; ${r.load.agents} agents; sync: ${r.sync.lagging} lagging (max ${r.sync.lagMax} updates)\n`
  out += `breakers: ${r.breakers.open} open, ${r.breakers.halfOpen} half-open; rate limits: ${r.rateLimits.limited} keys limited\n`
  out += `alerts: ${r.alerts.length === 0 ? 'none' : r.alerts.map(a => `${a.name} (${a.severity}, ${secs(Math.max(0, r.at - a.since))})`).join(', ')}\n`
  const rows = [['HOST', 'STATE', 'SILENT', 'CONNECTED', 'RTT', 'LOAD', 'AGENTS', 'SYNC LAG', 'RAFT']]
  for (const h of r.hosts) {
    rows.push([short(h.peerId) + (h.self ? ' (self)' : ''), h.state, h.self ? '-' : secs(h.silentMs), h.self ? '-' : h.connected ? 'yes' : 'no', h.rttMs === null ? '-' : `${Math.round(h.rttMs)}ms`, h.load === null ? '-' : String(h.load), String(h.agents), String(h.syncLag), h.raft ?? '-'])
  }
  out += 'hosts:\n' + table(rows) + (r.hostsMore > 0 ? `  (${r.hostsMore} more)\n` : '')
  return out
}

async function health (args: string[], io: CliIo): Promise<number> {
  const { flags, positional } = parseArgs(args, { ...CLIENT_FLAGS, json: 'boolean', 'fail-on': 'string' })
  if (flags.help === true) { io.stdout(HEALTH_USAGE + '\n'); return EXIT_OK }
  if (positional.length > 0) throw new UsageError(`unexpected argument ${positional[0]!}`)
  const failOn = flags['fail-on'] ?? 'critical'
  if (failOn !== 'critical' && failOn !== 'degraded') throw new UsageError('--fail-on is critical or degraded')
  const call = await client(flags)
  const r = await call('GET', '/v1/health/mesh') as HealthReport
  io.stdout(flags.json === true ? JSON.stringify(r, null, 2) + '\n' : healthText(r))
  return RANK[r.status] >= RANK[failOn] ? EXIT_FAILED : EXIT_OK
}

export const HEALTH_COMMANDS: Record<string, Command> = {
  health: { summary: 'the mesh health report: status and reasons, partitions, Raft quorum, latency, load, alerts', usage: HEALTH_USAGE, run: health }
}
