/**
 * Structured logs: one JSON object per line on stderr, `{ t, level, component, msg, ...fields }`.
 */
export type LogLevel = 'silent' | 'error' | 'warn' | 'info' | 'debug'

const RANK: Record<LogLevel, number> = { silent: 0, error: 1, warn: 2, info: 3, debug: 4 }

export interface Logger {
  error: (msg: string, fields?: Record<string, unknown>) => void
  warn: (msg: string, fields?: Record<string, unknown>) => void
  info: (msg: string, fields?: Record<string, unknown>) => void
  debug: (msg: string, fields?: Record<string, unknown>) => void
  child: (component: string) => Logger
  readonly level: LogLevel
}

export function createLogger (level: LogLevel, component = 'agora', sink: (line: string) => void = (l) => process.stderr.write(l + '\n'), base: Record<string, unknown> = {}): Logger {
  const rank = RANK[level]
  const at = (lv: Exclude<LogLevel, 'silent'>) => (msg: string, fields?: Record<string, unknown>): void => {
    if (RANK[lv] > rank) return
    let line: string
    try {
      line = JSON.stringify({ t: new Date().toISOString(), level: lv, component, ...base, msg, ...fields })
    } catch {
      line = JSON.stringify({ t: new Date().toISOString(), level: lv, component, msg })
    }
    sink(line)
  }
  return {
    level,
    error: at('error'),
    warn: at('warn'),
    info: at('info'),
    debug: at('debug'),
    child: (c) => createLogger(level, `${component}:${c}`, sink, base)
  }
}
