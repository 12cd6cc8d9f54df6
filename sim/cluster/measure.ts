/**
 * What the harness reads off the peers: CPU and RSS from /proc/<pid>, counters from the daemons'
 * Prometheus text (`GET /metrics`), and percentiles.
 */
import { readFileSync } from 'node:fs'

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ; 100 on Linux). */
export const CLOCK_TICKS_PER_S = 100

/** CPU seconds (user + system) and resident memory of a process, or undefined once it is gone. */
export function procSample (pid: number): { cpuS: number, rssBytes: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the command name (which may hold spaces) start after its closing parenthesis.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const cpuS = (Number(f[11]) + Number(f[12])) / CLOCK_TICKS_PER_S
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return { cpuS, rssBytes: m === null ? 0 : Number(m[1]) * 1024 }
  } catch { return undefined }
}

/** Sum of a metric's samples in Prometheus text whose labels contain every `labels` pair. */
export function metricSum (text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue
    const rest = line.slice(name.length)
    if (rest[0] !== '{' && rest[0] !== ' ') continue
    const lb = rest[0] === '{' ? rest.slice(1, rest.indexOf('}')) : ''
    if (!Object.entries(labels).every(([k, v]) => lb.includes(`${k}="${v}"`))) continue
    const v = Number(line.slice(line.lastIndexOf(' ') + 1))
    if (Number.isFinite(v)) sum += v
  }
  return sum
}

/** The q-quantile (0..1) of `xs` (nearest rank); NaN when empty. */
export function quantile (xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!
}

export const median = (xs: readonly number[]): number => quantile(xs, 0.5)
export const round = (x: number, d = 1): number => Number.isFinite(x) ? Math.round(x * 10 ** d) / 10 ** d : x
