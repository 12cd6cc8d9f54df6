/**
 * Logs on stderr, one line per event, in one of two formats:
 *
 * - `json` (for machines): `{ t, level, component, msg, ...fields }`.
 * - `human` (for terminals): `2025-01-31 12:00:00.123Z INFO  agora:daemon  listening http=127.0.0.1:7070 ...`,
 *   fields as `key=value` (strings with spaces, arrays and objects as JSON).
 *
 * The default format is human when stderr is a terminal, else json ({@link defaultLogFormat}).
 */
export type LogLevel = 'silent' | 'error' | 'warn' | 'info' | 'debug'
export const LOG_FORMATS = ['human', 'json'] as const
export type LogFormat = typeof LOG_FORMATS[number]

const RANK: Record<LogLevel, number> = { silent: 0, error: 1, warn: 2, info: 3, debug: 4 }

export interface Logger {
  error: (msg: string, fields?: Record<string, unknown>) => void
  warn: (msg: string, fields?: Record<string, unknown>) => void
  info: (msg: string, fields?: Record<string, unknown>) => void
  debug: (msg: string, fields?: Record<string, unknown>) => void
  child: (component: string) => Logger
  readonly level: LogLevel
  readonly format: LogFormat
}

/** `human` when `stream` (default stderr) is a terminal, else `json`. */
export function defaultLogFormat (stream: { isTTY?: boolean } = process.stderr): LogFormat {
  return stream.isTTY === true ? 'human' : 'json'
}

function humanValue (v: unknown): string {
  if (typeof v === 'string') return v !== '' && !/[\s"=]/.test(v) ? v : JSON.stringify(v)
  if (v instanceof Error) return JSON.stringify(v.message)
  if (typeof v === 'bigint') return v.toString()
  try { return JSON.stringify(v) ?? String(v) } catch { return String(v) }
}

/** One event as a human-readable line. */
export function formatHuman (t: Date, level: Exclude<LogLevel, 'silent'>, component: string, msg: string, fields: Record<string, unknown>): string {
  const parts = [`${t.toISOString().replace('T', ' ')} ${level.toUpperCase().padEnd(5)} ${component}  ${msg}`]
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) parts.push(`${k}=${humanValue(v)}`)
  return parts.join(' ')
}

export function createLogger (level: LogLevel, component = 'agora', sink: (line: string) => void = (l) => process.stderr.write(l + '\n'), base: Record<string, unknown> = {}, format: LogFormat = defaultLogFormat()): Logger {
  const rank = RANK[level]
  const at = (lv: Exclude<LogLevel, 'silent'>) => (msg: string, fields?: Record<string, unknown>): void => {
    if (RANK[lv] > rank) return
    const t = new Date()
    let line: string
    if (format === 'human') {
      line = formatHuman(t, lv, component, msg, { ...base, ...fields })
    } else {
      try {
        line = JSON.stringify({ t: t.toISOString(), level: lv, component, ...base, msg, ...fields })
      } catch {
        line = JSON.stringify({ t: t.toISOString(), level: lv, component, msg })
      }
    }
    sink(line)
  }
  return {
    level,
    format,
    error: at('error'),
    warn: at('warn'),
    info: at('info'),
    debug: at('debug'),
    child: (c) => createLogger(level, `${component}:${c}`, sink, base, format)
  }
}
