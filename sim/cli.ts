/**
 * `agora sim run` and `agora sim fuzz` (wired into the command table of src/cli.ts).
 */
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, parseFlags, UsageError } from '../src/cli-util.js'
import type { CliIo } from '../src/cli-util.js'
import { NotImplementedError } from '../src/base/errors.js'
import { ScenarioError } from './errors.js'
import { econFuzzScenario, econFuzzSeed } from './econ-fuzz.js'
import { FAULT_KINDS, fuzz } from './fuzz.js'
import type { FaultKind } from './fuzz.js'
import { runScenario } from './runner.js'
import { parseScenario } from './scenario.js'

/** `agora sim run <file> [--seed N] [--json]`. */
export async function simRun (args: string[], io: CliIo): Promise<number> {
  const { flags, positional } = parseFlags(args, { seed: 'number', json: 'boolean' })
  if (positional.length !== 1) throw new UsageError(positional.length === 0 ? 'missing <scenario> file' : `one scenario file at a time (got ${positional.join(', ')})`)
  const file = positional[0] as string
  let text: string
  try {
    text = io.readFile(file)
  } catch (err) {
    io.stderr(`agora sim run: cannot read ${file}: ${(err as Error).message}\n`)
    return EXIT_USAGE
  }
  let scenario
  try {
    scenario = parseScenario(text)
  } catch (err) {
    if (err instanceof ScenarioError) { io.stderr(`agora sim run: ${file}: ${err.message}\n`); return EXIT_USAGE }
    throw err
  }
  if (typeof flags.seed === 'number') scenario.seed = flags.seed
  let report
  try {
    report = runScenario(scenario, { log: line => { io.stderr(line + '\n') } })
  } catch (err) {
    if (err instanceof NotImplementedError || err instanceof ScenarioError) {
      io.stderr(`agora sim run: ${file}: ${err.name} (${err.code}): ${err.message}\n`)
      return EXIT_USAGE
    }
    throw err
  }
  if (flags.json === true) {
    io.stdout(JSON.stringify(report) + '\n')
  } else {
    io.stdout(`${report.name}: ${report.ok ? 'ok' : 'FAILED'} (seed ${report.seed}, trace ${report.trace})\n`)
    for (const f of report.expectFailures) io.stdout(`  expect failed at step ${f.step}: ${f.detail}\n`)
    for (const v of report.violations) io.stdout(`  violation ${v.invariant} at step ${v.step}: ${v.detail}\n`)
    for (const r of report.refusals) io.stdout(`  refused at step ${r.step}: ${r.detail}\n`)
  }
  return report.ok ? EXIT_OK : EXIT_FAILED
}

/**
 * `agora sim fuzz --nodes N --seeds K [--ticks T] [--seed-start S] [--json]`; `--economy`: random auctions
 * (sim/econ-fuzz.ts), `--ledger`: with the ledger linearizability workload (sim/ledger-fuzz.ts).
 * Both run random coordination traffic (sim/coord-fuzz.ts) unless `--no-coordination`; the default fuzz
 * also runs random task and message traffic (sim/task-fuzz.ts) unless `--no-tasks`.
 */
export async function simFuzz (args: string[], io: CliIo): Promise<number> {
  const { flags, positional } = parseFlags(args, { nodes: 'number', seeds: 'number', ticks: 'number', 'seed-start': 'number', faults: 'string', json: 'boolean', economy: 'boolean', ledger: 'boolean', 'no-coordination': 'boolean', 'no-tasks': 'boolean' })
  if (positional.length > 0) throw new UsageError(`unexpected argument ${positional[0] ?? ''}`)
  const nodes = (flags.nodes as number | undefined) ?? 5
  const seeds = (flags.seeds as number | undefined) ?? 100
  const ticks = (flags.ticks as number | undefined) ?? 2000
  const seedStart = (flags['seed-start'] as number | undefined) ?? 1
  if (nodes < 1 || nodes > 15) throw new UsageError(`--nodes must be in [1, 15], got ${nodes}`)
  if (seeds < 1) throw new UsageError('--seeds must be at least 1')
  if (ticks < 10) throw new UsageError('--ticks must be at least 10')
  const json = flags.json === true
  const coordination = flags['no-coordination'] !== true
  const tasks = flags['no-tasks'] !== true
  if (flags.ledger === true && flags.economy !== true) throw new UsageError('--ledger needs --economy')
  if (flags.economy === true) return economyFuzz(nodes, seeds, seedStart, json, io, flags.ledger === true, coordination)
  let faults: FaultKind[] = [...FAULT_KINDS]
  if (typeof flags.faults === 'string') {
    const list = flags.faults === 'none' ? [] : flags.faults.split(',').map(x => x.trim()).filter(x => x.length > 0)
    for (const f of list) if (!(FAULT_KINDS as readonly string[]).includes(f)) throw new UsageError(`--faults: unknown fault "${f}" (one of ${FAULT_KINDS.join(', ')}, or none)`)
    faults = list as FaultKind[]
  }
  const summary = fuzz({
    faults,
    nodes,
    seeds,
    ticks,
    seedStart,
    coordination,
    tasks,
    onSeed: r => {
      if (!json) io.stdout(`seed ${r.seed}: ${r.ok ? 'ok' : 'FAILED'} trace ${r.trace}${r.ok ? '' : ` (${r.failures.join('; ')})`}\n`)
    }
  })
  const failing = summary.results.filter(r => !r.ok)
  if (json) {
    io.stdout(JSON.stringify({ nodes, seeds, ticks, seedStart, coordination, tasks, ok: failing.length === 0, failing: failing.map(r => ({ seed: r.seed, trace: r.trace, failures: r.failures, replay: replayCommand(nodes, ticks, r.seed, faults, coordination, tasks) })), traces: Object.fromEntries(summary.results.map(r => [String(r.seed), r.trace])) }) + '\n')
  } else {
    const unknown = summary.results.filter(r => r.linearizability === 'unknown').length
    io.stdout(`${seeds - failing.length}/${seeds} seeds ok (${nodes} nodes, ${ticks} ticks, committed ${summary.committed} entries${coordination ? '' : ', no coordination'}${tasks ? '' : ', no tasks'}${unknown > 0 ? `; linearizability inconclusive (search budget) for ${unknown} seeds` : ''})\n`)
    for (const r of failing) io.stdout(`FAILED seed ${r.seed}: replay with: ${replayCommand(nodes, ticks, r.seed, faults, coordination, tasks)}\n`)
  }
  return failing.length === 0 ? EXIT_OK : EXIT_FAILED
}

/** `agora sim fuzz --economy`: each seed is a random scenario of agents and auctions under faults. */
function economyFuzz (nodes: number, seeds: number, seedStart: number, json: boolean, io: CliIo, ledger = false, coordination = true): number {
  if (nodes < 3) throw new UsageError('--economy needs --nodes of at least 3')
  const failing: Array<{ seed: number, trace: string, failures: string[], replay: string, scenario: unknown }> = []
  for (let seed = seedStart; seed < seedStart + seeds; seed++) {
    const r = econFuzzSeed(seed, { nodes, ledger, coordination })
    const replay = `npx agora sim fuzz --economy${ledger ? ' --ledger' : ''}${coordination ? '' : ' --no-coordination'} --nodes ${nodes} --seeds 1 --seed-start ${seed}`
    if (!r.ok) failing.push({ seed, trace: r.trace, failures: r.failures, replay, scenario: econFuzzScenario(seed, { nodes }) })
    if (!json) io.stdout(`seed ${seed}: ${r.ok ? 'ok' : 'FAILED'} trace ${r.trace}${r.ok ? '' : ` (${r.failures.join('; ')}); replay with: ${replay}`}\n`)
  }
  if (json) io.stdout(JSON.stringify({ economy: true, ledger, coordination, nodes, seeds, seedStart, ok: failing.length === 0, failing }) + '\n')
  else io.stdout(`${seeds - failing.length}/${seeds} seeds ok (economy${ledger ? ' + ledger linearizability' : ''}${coordination ? '' : ', no coordination'}, ${nodes} nodes)\n`)
  return failing.length === 0 ? EXIT_OK : EXIT_FAILED
}

export function replayCommand (nodes: number, ticks: number, seed: number, faults: readonly FaultKind[] = FAULT_KINDS, coordination = true, tasks = true): string {
  const f = faults.length === FAULT_KINDS.length ? '' : ` --faults ${faults.length === 0 ? 'none' : faults.join(',')}`
  return `npx agora sim fuzz --nodes ${nodes} --seeds 1 --ticks ${ticks} --seed-start ${seed}${f}${coordination ? '' : ' --no-coordination'}${tasks ? '' : ' --no-tasks'}`
}
