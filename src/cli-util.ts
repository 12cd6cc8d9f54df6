/**
 * Shared pieces of the `agora` command line: the IO seam, the command shape, exit codes, flag parsing
 * and the usage error. Kept apart from cli.ts (the entry point) so command modules can import them.
 */
import { AgoraError } from './base/errors.js'

/** Where a command reads and writes; tests pass buffers. */
export interface CliIo {
  stdout: (text: string) => void
  stderr: (text: string) => void
  readFile: (path: string) => string
}

export interface Command {
  /** One-line summary for `agora --help`. */
  summary: string
  /** Full usage text for `agora <command> --help`. */
  usage: string
  run: (args: string[], io: CliIo) => Promise<number>
}

export const EXIT_OK = 0
export const EXIT_FAILED = 1
export const EXIT_USAGE = 2

/** Parse `--flag value` / `--flag` options; unknown flags are a usage error. */
export function parseFlags (args: string[], spec: Record<string, 'number' | 'boolean' | 'string'>): { flags: Record<string, number | boolean | string>, positional: string[] } {
  const flags: Record<string, number | boolean | string> = {}
  const positional: string[] = []
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string
    if (!a.startsWith('--')) { positional.push(a); continue }
    const name = a.slice(2)
    const kind = Object.hasOwn(spec, name) ? spec[name] : undefined
    if (kind === undefined) throw new UsageError(`unknown option ${a}`)
    if (kind === 'boolean') { flags[name] = true; continue }
    const v = args[++i]
    if (kind === 'string') {
      if (v === undefined) throw new UsageError(`${a} needs a value`)
      flags[name] = v
      continue
    }
    if (v === undefined || !/^[0-9]+$/.test(v)) throw new UsageError(`${a} needs a non-negative integer, got ${v === undefined ? 'nothing' : JSON.stringify(v)}`)
    flags[name] = Number(v)
  }
  return { flags, positional }
}

/** Bad command-line usage; exit 2. */
export class UsageError extends AgoraError {
  static override readonly name = 'UsageError'
  constructor (message: string) {
    super('ERR_USAGE', message)
  }
}

