/**
 * `agora heals`: a thin client of `GET /v1/health/heals` (heal-routes.ts): the partition and heal reports
 * of a running daemon, newest first, as text or JSON.
 */
import { EXIT_OK, UsageError } from '../cli-util.js'
import type { CliIo, Command } from '../cli-util.js'
import { HEAL_LIMITS } from '../../peers/health/heal-types.js'
import type { HealReport } from '../../peers/health/heal-types.js'
import { CLIENT_FLAGS, client, parseArgs } from './commands.js'

const HEALS_USAGE = `usage: agora heals [--limit n] [--output text|json] [--http host:port] [--token t | --data-dir dir]
  The partition and heal reports of the daemon's peer, newest first: the span and sides, agents changed
  on each side, eventual variables written during the partition (conflicts first) with the merged value
  and the winning write, strong writes that ended indefinite and their settled fate, auctions and tasks
  across it.`

const short = (id: string): string => id.length > 12 ? '…' + id.slice(-8) : id
const when = (ms: number): string => new Date(ms).toISOString()
const json = (v: unknown): string => JSON.stringify(v)

/** One report as text. */
export function healText (r: HealReport): string {
  const out: string[] = []
  out.push(`heal #${r.seq} on ${short(r.peer)}: ${when(r.span.start)} .. ${when(r.span.end)} (${(r.span.ms / 1000).toFixed(1)} s)${r.caughtUp ? '' : ' (reported before the other side was seen caught up)'}`)
  out.push(`  this side (${r.sides.this.count}): ${r.sides.this.hosts.map(short).join(' ')}${r.sides.this.truncated ? ' …' : ''}`)
  out.push(`  other side (${r.sides.other.count}): ${r.sides.other.hosts.map(short).join(' ')}${r.sides.other.truncated ? ' …' : ''}`)
  const gone = r.lost.filter(h => h.returnedAt === undefined)
  if (gone.length > 0) out.push(`  never came back: ${gone.map(h => short(h.host)).join(' ')}`)
  out.push(`  agents: ${r.agents.entries.length === 0 ? 'no change' : ''}`)
  for (const a of r.agents.entries) out.push(`    ${a.side.padEnd(5)} ${a.change.padEnd(10)} ${a.id} (${short(a.host)})`)
  if (r.agents.truncated > 0) out.push(`    (${r.agents.truncated} more)`)
  out.push(`  eventual variables: ${r.variables.conflicts} conflicting, ${r.variables.oneSided} one-sided`)
  for (const v of r.variables.entries) {
    const winner = v.winner === null ? 'merged' : `won by ${short(v.winner.host)} (${v.winner.side ?? '?'} side${v.winner.duringEpisode ? '' : ', written outside the partition'})`
    out.push(`    ${v.kind === 'conflict' ? 'CONFLICT ' : 'one-sided'} ${v.name} [${v.merge ?? '?'}] = ${json(v.value)}, ${winner}`)
    for (const w of v.writes) out.push(`      ${w.side.padEnd(5)} ${short(w.host)} wrote ${json(w.value)}`)
  }
  out.push(`  strong writes that ended indefinite: ${r.strongWrites.entries.length === 0 ? 'none' : ''}`)
  for (const s of r.strongWrites.entries) {
    out.push(`    ${s.command.kind} ${s.command.op ?? ''} ${s.command.name ?? ''}${s.command.value !== undefined ? ' = ' + json(s.command.value) : ''}: ${s.fate}${s.reason !== undefined ? ` (${s.reason})` : ''}`)
  }
  if (r.auctions.entries.length > 0) out.push(`  auctions across it: ${r.auctions.entries.map(a => `${a.id} (${a.status})`).join(', ')}`)
  if (r.tasks.entries.length > 0) out.push(`  tasks across it: ${r.tasks.entries.map(t => `${t.id} (${t.state})`).join(', ')}`)
  return out.join('\n') + '\n'
}

async function heals (args: string[], io: CliIo): Promise<number> {
  const { flags, positional } = parseArgs(args, { ...CLIENT_FLAGS, output: 'string', limit: 'string' })
  if (flags.help === true) { io.stdout(HEALS_USAGE + '\n'); return EXIT_OK }
  if (positional.length > 0) throw new UsageError(`unexpected argument ${positional[0]!}`)
  const output = flags.output ?? 'text'
  if (output !== 'text' && output !== 'json') throw new UsageError('--output is text or json')
  const limit = flags.limit
  if (limit !== undefined && (typeof limit !== 'string' || !/^[1-9][0-9]?$/.test(limit) || Number(limit) > HEAL_LIMITS.reportsMax)) throw new UsageError(`--limit needs an integer in 1..${HEAL_LIMITS.reportsMax}`)
  const call = await client(flags)
  const r = await call('GET', `/v1/health/heals${typeof limit === 'string' ? `?limit=${limit}` : ''}`) as { open: boolean, heals: HealReport[] }
  if (output === 'json') { io.stdout(JSON.stringify(r, null, 2) + '\n'); return EXIT_OK }
  io.stdout(`${r.open ? 'a partition episode is open now' : 'no partition now'}; ${r.heals.length} report(s)\n`)
  for (const h of r.heals) io.stdout(healText(h))
  return EXIT_OK
}

export const HEAL_COMMANDS: Record<string, Command> = {
  heals: { summary: 'partition and heal reports: sides, conflicting writes and winners, indefinite writes\' fate', usage: HEALS_USAGE, run: heals }
}
