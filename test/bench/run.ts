/**
 * `npm run bench`: runs every `*.bench.js` module next to this file (or only those whose name contains
 * one of the command-line arguments) and prints one JSON object of figures on stdout. Logs go to stderr.
 *
 * A bench module exports `name` and a default `async () => Record<string, unknown>` returning its figures
 * (units last in keys: `lookupP50Ns`, `commitP99Ms`...). Benchmarks measure; they never assert.
 */
import { readdir } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import os from 'node:os'

// A crash of a long bench (the uncaught TimeoutError once seen at 150 peers) prints its stack and causes,
// not just a name, and the run exits non-zero. (Error.stackTraceLimit stays at its default: libraries
// under us throw on hot paths, e.g. the Noise decoder's RangeError at the end of every received chunk,
// and a deeper limit makes every one of those cost more.)
function describeError (err: unknown): string {
  const lines: string[] = []
  let e: unknown = err
  for (let depth = 0; e !== undefined && e !== null && depth < 8; depth++) {
    const x = e as { name?: string, code?: string, message?: string, stack?: string, errors?: unknown[], cause?: unknown }
    lines.push(`${depth === 0 ? '' : 'caused by: '}${x.stack ?? `${x.name ?? 'Error'}: ${x.message ?? String(e)}`}${x.code !== undefined ? ` [code ${x.code}]` : ''}`)
    for (const sub of Array.isArray(x.errors) ? x.errors : []) lines.push(`  aggregated: ${String((sub as Error)?.stack ?? sub)}`)
    e = x.cause
  }
  return lines.join('\n')
}
// A stray rejection is logged and the run goes on (its figures still print; exit code 1); after an
// uncaught exception the process state is unknown: it exits at once.
process.on('unhandledRejection', (err: unknown) => {
  process.stderr.write(`bench: unhandledRejection\n${describeError(err)}\n`)
  process.exitCode = 1
})
process.on('uncaughtException', (err: unknown) => {
  process.stderr.write(`bench: uncaughtException\n${describeError(err)}\n`)
  process.exit(1)
})

const here = dirname(fileURLToPath(import.meta.url))
const filters = process.argv.slice(2)
const files = (await readdir(here)).filter(f => f.endsWith('.bench.js')).sort()
  .filter(f => filters.length === 0 || filters.some(x => f.includes(x)))

const results: Record<string, unknown> = {}
for (const f of files) {
  const mod = await import(pathToFileURL(join(here, f)).href) as { name?: string, default: () => Promise<Record<string, unknown>> }
  const name = mod.name ?? f.replace(/\.bench\.js$/, '')
  process.stderr.write(`bench ${name}...\n`)
  const t0 = performance.now()
  try {
    results[name] = await mod.default()
  } catch (err) {
    results[name] = { error: describeError(err) }
  }
  process.stderr.write(`bench ${name} done in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`)
}
console.log(JSON.stringify({ machine: { cpus: os.cpus().length, node: process.version }, results }, null, 2))
