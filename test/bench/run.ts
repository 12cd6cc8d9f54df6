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
    results[name] = { error: String((err as Error)?.stack ?? err) }
  }
  process.stderr.write(`bench ${name} done in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`)
}
console.log(JSON.stringify({ machine: { cpus: os.cpus().length, node: process.version }, results }, null, 2))
