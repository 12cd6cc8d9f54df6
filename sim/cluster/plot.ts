/**
 * Curves of cluster runs over N: `node dist/sim/cluster/plot.js <out.svg> <report.json>...` writes an SVG
 * (one small line chart per figure, no dependencies) and prints a Markdown table of the same figures.
 * Several reports of one N are summarised by their median. Runs with different daemon config
 * (`--daemon-json`, e.g. `{"liveness":"probe"}`) are separate series, one line each.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import { median, round } from './measure.js'
import type { ClusterReport } from './run.js'

interface Figure { title: string, unit: string, get: (r: ClusterReport) => number | undefined }

/** The figures plotted and tabulated, in order. */
export const FIGURES: Figure[] = [
  { title: 'all peers serving (spawn)', unit: 's', get: r => r.startMs / 1000 },
  { title: 'mesh formed after last start', unit: 's', get: r => r.formAfterStartMs / 1000 },
  { title: 'write-to-visible p50', unit: 'ms', get: r => r.writes.p50Ms },
  { title: 'write-to-visible p99', unit: 'ms', get: r => r.writes.p99Ms },
  { title: 'heartbeats received / peer / s', unit: '/s', get: r => r.idle.median.heartbeatsReceivedPerS },
  { title: 'heartbeat payload / peer / s', unit: 'kB/s', get: r => r.idle.median.heartbeatBytesPerS === undefined ? undefined : r.idle.median.heartbeatBytesPerS / 1000 },
  { title: 'probe messages / peer / s', unit: '/s', get: r => r.idle.median.probeMessagesPerS },
  { title: 'wire bytes / peer / s (idle)', unit: 'kB/s', get: r => r.idle.median.wireBytesPerS / 1000 },
  { title: 'CPU / peer (idle)', unit: '%', get: r => r.idle.median.cpuPercent },
  { title: 'RSS / peer', unit: 'MB', get: r => r.idle.rssMbMedian },
  { title: 'event-loop lag p99 (starvation)', unit: 's', get: r => r.idle.eventLoopLagP99MsMedian / 1000 },
  { title: 'partition detected', unit: 's', get: r => r.partition === undefined ? undefined : r.partition.detectMs / 1000 },
  { title: 'converged after heal', unit: 's', get: r => r.partition?.healConvergeMs == null ? undefined : r.partition.healConvergeMs / 1000 },
  { title: 'failover (new leader commits)', unit: 's', get: r => r.failover === undefined ? undefined : r.failover.commitMs / 1000 }
]

/**
 * The series a report belongs to: its extra daemon config (`default` without), and its heartbeat period
 * when it is not the default 1 s (`hb=2s`): runs with other periods are other designs' costs, not points
 * of the same curve.
 */
export function seriesOf (r: ClusterReport): string {
  const c = r.daemonConfig ?? {}
  const parts = Object.entries(c).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
  if (r.heartbeatIntervalMs !== undefined && r.heartbeatIntervalMs !== 1000) parts.push(`hb=${r.heartbeatIntervalMs / 1000}s`)
  return parts.length === 0 ? 'default' : parts.join(',')
}

/** Median of each figure by series and N, N ascending within a series. */
export function byN (reports: readonly ClusterReport[]): Array<{ series: string, n: number, runs: number, load: number, values: Array<number | undefined> }> {
  const groups = new Map<string, ClusterReport[]>()
  for (const r of reports) { const k = `${seriesOf(r)}\u0000${r.nodes}`; groups.set(k, [...(groups.get(k) ?? []), r]) }
  return [...groups.values()].map(rs => ({
    series: seriesOf(rs[0]!),
    n: rs[0]!.nodes,
    runs: rs.length,
    load: median(rs.map(r => r.loadAverage)),
    values: FIGURES.map(f => { const xs = rs.map(f.get).filter((x): x is number => x !== undefined && Number.isFinite(x)); return xs.length === 0 ? undefined : median(xs) })
  })).sort((a, b) => a.series.localeCompare(b.series) || a.n - b.n)
}

/** The Markdown table. */
export function table (reports: readonly ClusterReport[]): string {
  const rows = byN(reports)
  const head = `| series | N | runs | load | ${FIGURES.map(f => `${f.title} (${f.unit})`).join(' | ')} |\n|${'---|'.repeat(FIGURES.length + 4)}\n`
  return head + rows.map(r => `| ${r.series} | ${r.n} | ${r.runs} | ${round(r.load, 0)} | ${r.values.map(v => v === undefined ? '—' : String(round(v, v < 10 ? 2 : 1))).join(' | ')} |`).join('\n') + '\n'
}

const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd']

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;')

/** The SVG: a grid of small charts, one per figure, N on the x axis. */
export function svg (reports: readonly ClusterReport[], title = 'agora sim cluster: cost as the mesh grows'): string {
  const rows = byN(reports)
  const series = [...new Set(rows.map(r => r.series))]
  const cols = 5
  const w = 230
  const h = 170
  const pad = { l: 44, r: 12, t: 28, b: 30 }
  const gridRows = Math.ceil(FIGURES.length / cols)
  const width = cols * w
  const height = gridRows * h + 30 + 16 * series.length
  const ns = [...new Set(rows.map(r => r.n))].sort((a, b) => a - b)
  const xMax = Math.max(...ns, 1)
  let out = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="10">\n`
  out += `<rect width="100%" height="100%" fill="white"/>\n<text x="${width / 2}" y="18" text-anchor="middle" font-size="14">${esc(title)}</text>\n`
  series.forEach((name, si) => {
    out += `<rect x="12" y="${gridRows * h + 36 + 16 * si}" width="14" height="4" fill="${COLOURS[si % COLOURS.length]!}"/><text x="32" y="${gridRows * h + 41 + 16 * si}">${esc(name === 'default' ? 'default daemon config' : name)}</text>\n`
  })
  FIGURES.forEach((f, k) => {
    const ox = (k % cols) * w
    const oy = 30 + Math.floor(k / cols) * h
    const all = rows.map(r => ({ s: r.series, n: r.n, v: r.values[k] })).filter((p): p is { s: string, n: number, v: number } => p.v !== undefined)
    const pts = all
    const yMax = Math.max(...pts.map(p => p.v), 1e-9) * 1.15
    const x = (n: number): number => ox + pad.l + (n / xMax) * (w - pad.l - pad.r)
    const y = (v: number): number => oy + h - pad.b - (v / yMax) * (h - pad.t - pad.b)
    out += `<text x="${ox + w / 2}" y="${oy + 14}" text-anchor="middle" font-weight="bold">${esc(f.title)} (${esc(f.unit)})</text>\n`
    out += `<line x1="${x(0)}" y1="${y(0)}" x2="${x(xMax)}" y2="${y(0)}" stroke="#444"/><line x1="${x(0)}" y1="${y(0)}" x2="${x(0)}" y2="${y(yMax)}" stroke="#444"/>\n`
    for (const t of [0, 0.5, 1]) out += `<text x="${x(0) - 4}" y="${y(yMax / 1.15 * t) + 3}" text-anchor="end">${round(yMax / 1.15 * t, yMax < 10 ? 2 : 0)}</text>\n`
    for (const n of ns) out += `<text x="${x(n)}" y="${y(0) + 12}" text-anchor="middle">${n}</text>\n`
    out += `<text x="${x(xMax / 2)}" y="${y(0) + 24}" text-anchor="middle" fill="#666">N peers</text>\n`
    series.forEach((name, si) => {
      const sp = all.filter(p => p.s === name)
      if (sp.length === 0) return
      const colour = COLOURS[si % COLOURS.length]!
      out += `<polyline fill="none" stroke="${colour}" stroke-width="2" points="${sp.map(p => `${round(x(p.n), 1)},${round(y(p.v), 1)}`).join(' ')}"/>\n`
      for (const p of sp) out += `<circle cx="${round(x(p.n), 1)}" cy="${round(y(p.v), 1)}" r="3" fill="${colour}"><title>${esc(name)}, N=${p.n}: ${round(p.v, 2)} ${esc(f.unit)}</title></circle>\n`
    })
  })
  return out + '</svg>\n'
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [outFile, ...inputs] = process.argv.slice(2)
  if (outFile === undefined || inputs.length === 0) {
    process.stderr.write('usage: node dist/sim/cluster/plot.js <out.svg> <report.json>...\n')
    process.exit(2)
  }
  const reports = inputs.map(f => JSON.parse(readFileSync(f, 'utf8')) as ClusterReport)
  writeFileSync(outFile, svg(reports))
  process.stdout.write(table(reports))
}
