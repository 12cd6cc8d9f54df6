#!/usr/bin/env node
/**
 * The `agora` command line. Commands live in a table ({@link COMMANDS}); each takes its arguments and an
 * {@link CliIo} and returns an exit code. Exit codes: 0 success, 1 a run that found a problem (a failed
 * expect, a violation, a failing fuzz seed), 2 bad usage or a malformed scenario (nothing was run).
 *
 * ```
 * agora start [--config file] [--data-dir dir] [--listen addr]... [--bootstrap addr]... [--http host:port]
 * agora status | agents list|register|query | var get|set   (talk to a running daemon)
 * agora auction open|show|list|bid|close|settle | ledger show|supply|open|mint|transfer|stake|unstake
 * agora lock <name> -- <command> | lock acquire|release|status|list | lease | election | barrier | vote
 * agora task submit|get|list|cancel|wait | agent request|send|publish
 * agora budget list|get|define|delete|join|leave|take
 * agora sim run <scenario.json|yaml> [--seed N] [--json]
 * agora sim fuzz --nodes N --seeds K [--ticks T] [--seed-start S] [--json]
 * agora sim cluster [--nodes N] [--latency-ms L] ... | --cleanup   (multi-process harness, root)
 * ```
 */
import { spawn } from 'node:child_process'
import { existsSync, readFileSync, realpathSync } from 'node:fs'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { AgoraError } from './base/errors.js'
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError } from './cli-util.js'
import type { CliIo, Command } from './cli-util.js'
import { DAEMON_COMMANDS } from './daemon/commands.js'
import { ECONOMY_COMMANDS } from './daemon/economy-commands.js'
import { RAFT_COMMANDS } from './daemon/raft-commands.js'
import { COORDINATION_COMMANDS } from './daemon/coordination-commands.js'
import { TASK_COMMANDS } from './daemon/task-commands.js'
import { HEALTH_COMMANDS } from './daemon/health-commands.js'
import { BUDGET_COMMANDS } from './daemon/budget-commands.js'
import { HEAL_COMMANDS } from './daemon/heal-commands.js'
import { CLUSTER_USAGE } from '../sim/cluster/usage.js'

export { EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError, parseFlags } from './cli-util.js'
export type { CliIo, Command } from './cli-util.js'

const SIM_USAGE = `usage:
  agora sim run <scenario.json|yaml> [--seed N] [--json]
      Run one scenario file (format: SCENARIOS.md). Exit 0 if ok, 1 if an expect failed or an invariant
      was violated, 2 if the scenario is malformed. --json prints exactly one JSON report on stdout.
  agora sim fuzz --nodes N --seeds K [--ticks T] [--seed-start S] [--faults LIST] [--no-coordination] [--json]
  agora sim fuzz --economy [--ledger] [--nodes N] [--seeds K] [--seed-start S] [--no-coordination] [--json]
      Random fault schedules (partitions, isolations, cuts, crashes/restarts, drops, duplicates,
      reordering, delays, malformed messages, membership changes, snapshots) in a safety phase, then a healed liveness phase. Prints
      failing seeds with their replay command and each seed's trace hash. --faults is a comma list of
      partition,isolate,cut,crash,drop,duplicate,reorder,delay,garbage,membership,snapshot or "none".
      Defaults: --nodes 5, --seeds 100, --ticks 2000, --seed-start 1, all faults.
      --economy: each seed is a random scenario of agents and auctions of every mechanism under
      partitions and crashes (sim/econ-fuzz.ts); it fails on a violation, on supply not conserved, or
      on an auction not settled exactly once after the heal. --ledger adds random transfers and
      ReadIndex balance reads (sim/ledger-fuzz.ts) whose history must be linearizable.
      Both run random coordination traffic (leases, locks, elections, barriers, votes: sim/coord-fuzz.ts)
      checked by the coordination checkers; --no-coordination leaves it out.
${CLUSTER_USAGE}`

async function simCommand (args: string[], io: CliIo): Promise<number> {
  const sub = args[0]
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
    io.stdout(SIM_USAGE + '\n')
    return sub === undefined ? EXIT_USAGE : EXIT_OK
  }
  const rest = args.slice(1)
  if (rest.includes('--help') || rest.includes('-h')) { io.stdout(SIM_USAGE + '\n'); return EXIT_OK }
  // Loaded lazily so other commands do not pay for the simulator.
  const sim = await import('../sim/cli.js')
  if (sub === 'run') return await sim.simRun(rest, io)
  if (sub === 'fuzz') return await sim.simFuzz(rest, io)
  if (sub === 'cluster') return await (await import('../sim/cluster/cli.js')).simCluster(rest, io)
  io.stderr(`agora sim: unknown subcommand "${sub}"\n${SIM_USAGE}\n`)
  return EXIT_USAGE
}

/** The command table. */
export const COMMANDS: Record<string, Command> = {
  ...DAEMON_COMMANDS,
  ...ECONOMY_COMMANDS,
  ...RAFT_COMMANDS,
  ...COORDINATION_COMMANDS,
  ...TASK_COMMANDS,
  ...HEALTH_COMMANDS,
  ...BUDGET_COMMANDS,
  ...HEAL_COMMANDS,
  sim: { summary: 'deterministic simulator: run scenario files, fuzz Raft under faults', usage: SIM_USAGE, run: simCommand }
}

/** Errors that mean bad usage, configuration or input (exit 2); any other error is a failure (exit 1). */
const USAGE_CODES = new Set(['ERR_USAGE', 'ERR_INVALID_OPTION', 'ERR_SCENARIO', 'ERR_NOT_IMPLEMENTED'])

function mainUsage (): string {
  const lines = Object.entries(COMMANDS).map(([n, c]) => `  ${n.padEnd(10)} ${c.summary}`)
  return `usage: agora <command> [options]\n       agora --version | help [command]\n\ncommands:\n${lines.join('\n')}\n\n` +
    'agora help <command> (or agora <command> --help) for a command\'s options.\n' +
    'Environment: AGORA_HTTP (host:port) and AGORA_TOKEN tell the client commands where the daemon is and its token.'
}

/** This package's version (package.json). */
export function version (): string {
  const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8')) as { version: string }
  return pkg.version
}

/** Run the CLI with `argv` (without node and script); resolves to the exit code. */
export async function main (argv: string[], io: CliIo = defaultIo()): Promise<number> {
  const cmd = argv[0]
  if (cmd === undefined) { io.stderr(mainUsage() + '\n'); return EXIT_USAGE }
  if (cmd === '--version' || cmd === '-V' || cmd === 'version') { io.stdout(`agora ${version()}\n`); return EXIT_OK }
  if (cmd === '--help' || cmd === '-h' || cmd === 'help') {
    const topic = argv[1]
    if (topic === undefined || cmd !== 'help') { io.stdout(mainUsage() + '\n'); return EXIT_OK }
    const t = Object.hasOwn(COMMANDS, topic) ? COMMANDS[topic] : undefined
    if (t === undefined) { io.stderr(`agora help: unknown command "${topic}"\n${mainUsage()}\n`); return EXIT_USAGE }
    io.stdout(t.usage + '\n')
    return EXIT_OK
  }
  const c = Object.hasOwn(COMMANDS, cmd) ? COMMANDS[cmd] : undefined
  if (c === undefined) { io.stderr(`agora: unknown command "${cmd}"\n${mainUsage()}\n`); return EXIT_USAGE }
  try {
    return await c.run(argv.slice(1), io)
  } catch (err) {
    if (err instanceof UsageError) { io.stderr(`agora ${cmd}: ${err.message}\n${c.usage}\n`); return EXIT_USAGE }
    if (err instanceof AgoraError) {
      io.stderr(`agora ${cmd}: ${err.name} (${err.code}): ${err.message}\n`)
      return USAGE_CODES.has(err.code) ? EXIT_USAGE : EXIT_FAILED
    }
    io.stderr(`agora ${cmd}: ${String((err as Error)?.stack ?? err)}\n`)
    return EXIT_FAILED
  }
}

export function defaultIo (): CliIo {
  return {
    stdout: t => { process.stdout.write(t) },
    stderr: t => { process.stderr.write(t) },
    readFile: p => readFileSync(p, 'utf8')
  }
}

function isEntryPoint (): boolean {
  const script = process.argv[1]
  if (script === undefined) return false
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href
  } catch {
    return false
  }
}

/**
 * libp2p needs Node >= 22; this machine's system Node may be older. `agora start` re-runs itself under
 * the Node 22 the project installs (the `node` dev dependency) when the running Node is too old.
 */
async function reexecUnderNode22 (argv: string[]): Promise<number | undefined> {
  const major = Number(process.versions.node.split('.')[0])
  if (major >= 22 || argv[0] !== 'start') return undefined
  const bin = fileURLToPath(new URL('../../node_modules/node/bin/node', import.meta.url))
  if (!existsSync(bin)) {
    process.stderr.write(`agora start needs Node.js >= 22 (this is ${process.version}); install it or run \`npm ci\` in the agora-mesh checkout\n`)
    return EXIT_FAILED
  }
  // The launcher may be stopped without a signal the child sees (SIGKILL): the daemon then exits with it.
  const child = spawn(bin, [process.argv[1]!, ...argv], { stdio: 'inherit', env: { ...process.env, AGORA_EXIT_WITH_PARENT: process.env.AGORA_EXIT_WITH_PARENT ?? '1' } })
  // Signals sent to this process go to the daemon (which leaves cleanly on SIGINT/SIGTERM).
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => { child.kill(sig) })
  return await new Promise<number>((resolve) => {
    child.on('exit', (code, signal) => { resolve(code ?? (signal !== null ? 128 + (signal === 'SIGKILL' ? 9 : 15) : EXIT_FAILED)) })
    child.on('error', () => { resolve(EXIT_FAILED) })
  })
}

if (isEntryPoint()) {
  // A closed pipe (`agora sim fuzz ... | head`) ends the command quietly.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => { if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0); throw err })
  const argv = process.argv.slice(2)
  const code = await reexecUnderNode22(argv)
  process.exitCode = code ?? await main(argv)
}
