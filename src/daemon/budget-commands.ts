/**
 * Mesh-wide budgets from the `agora` CLI: `agora budget list|get|define|delete|join|leave|take`, a thin
 * client of a running daemon's `/v1/budgets` routes (budget-routes.ts). Exit codes as the other client
 * commands: 0 success, 1 the API answered an error (its code is printed: `take` on an exhausted share is
 * ERR_BUDGET_EXHAUSTED), 2 bad usage (the message names the flag).
 */
import { EXIT_OK, UsageError } from '../cli-util.js'
import type { CliIo, Command } from '../cli-util.js'
import { CLIENT_FLAGS, client, parseArgs } from './commands.js'
import { noMore, print } from './coordination-commands.js'
import { arg, intFlag, strFlag } from './economy-commands.js'

const BUDGET_USAGE = `usage: agora budget list
       agora budget get <name>
       agora budget define <name> --rate tokens-per-second --burst n
         Creates a mesh-wide budget (this daemon owns it) or changes it (its owner or an economy authority).
       agora budget delete <name>
       agora budget join <name> --capacity n
         Takes this daemon's share of the budget, in proportion to n among the hosts that joined.
       agora budget leave <name>
       agora budget take <name> [--n tokens]
         Takes tokens from this daemon's share (locally, no Raft round); exit 1 with ERR_BUDGET_EXHAUSTED
         when the share holds too few now.
  (plus --http host:port and --token t | --data-dir dir of the daemon; agora help status)`

async function budget (args: string[], io: CliIo): Promise<number> {
  const { flags, positional } = parseArgs(args, { ...CLIENT_FLAGS, rate: 'string', burst: 'string', capacity: 'string', n: 'string' })
  if (flags.help === true) { io.stdout(BUDGET_USAGE + '\n'); return EXIT_OK }
  const sub = positional[0]
  const path = (): string => {
    const name = arg(positional, 1, 'a budget name')
    noMore(positional, 2)
    return `/v1/budgets/${encodeURIComponent(name)}`
  }
  let request: [string, string, unknown?]
  switch (sub) {
    case 'list': noMore(positional, 1); request = ['GET', '/v1/budgets']; break
    case 'get': request = ['GET', path()]; break
    case 'define': {
      const text = strFlag(flags, 'rate', true)!
      if (!/^[0-9]{1,10}(\.[0-9]{1,9})?$/.test(text)) throw new UsageError(`--rate must be a number >= 0 (tokens per second), got ${JSON.stringify(text)}`)
      const rate = Number(text)
      request = ['PUT', path(), { ratePerSecond: rate, burst: intFlag(flags, 'burst', true) }]
      break
    }
    case 'delete': request = ['DELETE', path()]; break
    case 'join': request = ['POST', `${path()}/join`, { capacity: intFlag(flags, 'capacity', true) }]; break
    case 'leave': request = ['POST', `${path()}/leave`]; break
    case 'take': { const n = intFlag(flags, 'n'); request = ['POST', `${path()}/take`, n !== undefined ? { n } : {}]; break }
    case undefined: throw new UsageError('budget needs a subcommand: list, get, define, delete, join, leave, take')
    default: throw new UsageError(`unknown subcommand "${sub}" of budget (one of list, get, define, delete, join, leave, take)`)
  }
  print(io, await (await client(flags))(...request))
  return EXIT_OK
}

export const BUDGET_COMMANDS: Record<string, Command> = {
  budget: { summary: 'define, join and take from mesh-wide budgets (split among hosts by capacity) through a daemon', usage: BUDGET_USAGE, run: budget }
}
