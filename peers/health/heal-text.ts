/**
 * A heal report as readable text (`agora heals`, examples/partition-demo): one block per report, the
 * conflicting writes first, peer ids shortened to their last characters.
 */
import type { HealReport } from './heal-types.js'

const short = (id: string): string => id.length > 12 ? '…' + id.slice(-8) : id
const when = (ms: number): string => new Date(ms).toISOString()
const json = (v: unknown): string => JSON.stringify(v)

/** One report as text (ends with a newline). */
export function healText (r: HealReport): string {
  const out: string[] = []
  out.push(`heal #${r.seq} on ${short(r.peer)}: ${when(r.span.start)} .. ${when(r.span.end)} (${(r.span.ms / 1000).toFixed(1)} s)${r.caughtUp ? '' : ' (reported before the other side was seen caught up)'}`)
  out.push(`  this side (${r.sides.this.count}): ${r.sides.this.hosts.map(short).join(' ')}${r.sides.this.truncated ? ' …' : ''}`)
  out.push(`  other side (${r.sides.other.count}): ${r.sides.other.hosts.map(short).join(' ')}${r.sides.other.truncated ? ' …' : ''}`)
  const gone = r.lost.filter(h => h.returnedAt === undefined)
  if (gone.length > 0) out.push(`  never came back: ${gone.map(h => short(h.host)).join(' ')}`)
  out.push(`  agents:${r.agents.entries.length === 0 ? ' no change' : ''}`)
  for (const a of r.agents.entries) out.push(`    ${a.side.padEnd(5)} ${a.change.padEnd(10)} ${a.id} (${short(a.host)})`)
  if (r.agents.truncated > 0) out.push(`    (${r.agents.truncated} more)`)
  out.push(`  eventual variables: ${r.variables.conflicts} conflicting, ${r.variables.oneSided} one-sided`)
  for (const v of r.variables.entries) {
    const winner = v.winner === null ? 'merged' : `won by ${short(v.winner.host)} (${v.winner.side ?? '?'} side${v.winner.duringEpisode ? '' : ', written outside the partition'})`
    out.push(`    ${v.kind === 'conflict' ? 'CONFLICT ' : 'one-sided'} ${v.name} [${v.merge ?? '?'}] = ${json(v.value)}, ${winner}`)
    for (const w of v.writes) out.push(`      ${w.side.padEnd(5)} ${short(w.host)} wrote ${json(w.value)}`)
  }
  out.push(`  strong writes that ended indefinite:${r.strongWrites.entries.length === 0 ? ' none' : ''}`)
  for (const s of r.strongWrites.entries) {
    out.push(`    ${[s.command.kind, s.command.op, s.command.name].filter(x => x !== undefined).join(' ')}${s.command.value !== undefined ? ' = ' + json(s.command.value) : ''}: ${s.fate}${s.reason !== undefined ? ` (${s.reason})` : ''}`)
  }
  if (r.auctions.entries.length > 0) out.push(`  auctions across it: ${r.auctions.entries.map(a => `${a.id} (${a.status})`).join(', ')}`)
  if (r.tasks.entries.length > 0) out.push(`  tasks across it: ${r.tasks.entries.map(t => `${t.id} (${t.state})`).join(', ')}`)
  return out.join('\n') + '\n'
}

