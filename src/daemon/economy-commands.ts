/**
 * Economy commands of the `agora` CLI: `auction` and `ledger` talk to a running daemon over its HTTP API
 * (economy-routes.ts). Exit codes as the other client commands: 0 success, 1 the API answered an error
 * (its code is printed), 2 bad usage (the message names the flag).
 */
import { EXIT_OK, UsageError } from '../cli-util.js'
import type { CliIo, Command } from '../cli-util.js'
import { CLIENT_FLAGS, client, parseArgs } from './commands.js'
import type { FlagKind } from './commands.js'

const CONN = '  (plus --http host:port and --token t | --data-dir dir of the daemon; agora help status)'

const AUCTION_USAGE = `usage: agora auction open --seller S --mechanism english|dutch|first-price|vickrey|combinatorial|uniform|double
                          (--item I | --items a,b) --duration-ms N [--id ID] [--reserve N] [--increment N]
                          [--start-price N] [--decrement N] [--units N] [--sealed open|commit] [--deposit N]
                          [--reveal-ms N] [--run [--capability c | --bidders a,b] [--request-timeout-ms N]]
         Opens an auction (the seller's account must be owned by the daemon). With --run: runs it to the end
         (bid requests to the bidders' daemons, close, settle) and prints the report.
       agora auction show <id>
       agora auction list
       agora auction bid <id> --agent A (--amount N | --max-price N | --json '<bid>')
       agora auction close <id> --by S
       agora auction settle <id> --by S
${CONN}`

const LEDGER_USAGE = `usage: agora ledger show <account>
       agora ledger supply
       agora ledger open <account>
       agora ledger mint <account> --amount N [--owner peerId]      (treasury: authority daemons only)
       agora ledger transfer --from A --to B --amount N
       agora ledger stake <account> --amount N
       agora ledger unstake <account> --amount N
${CONN}`

type Flags = Record<string, string | string[] | boolean>

const AUCTION_SUBCOMMANDS = ['open', 'show', 'list', 'bid', 'close', 'settle'] as const
const LEDGER_SUBCOMMANDS = ['show', 'supply', 'open', 'mint', 'transfer', 'stake', 'unstake'] as const

/** A non-negative integer flag; a bad value is a usage error naming the flag. */
export function intFlag (flags: Flags, name: string, required = false): number | undefined {
  const v = flags[name]
  if (v === undefined) {
    if (required) throw new UsageError(`--${name} is required`)
    return undefined
  }
  if (typeof v !== 'string' || !/^[0-9]+$/.test(v) || !Number.isSafeInteger(Number(v))) throw new UsageError(`--${name} must be a non-negative integer, got ${JSON.stringify(v)}`)
  return Number(v)
}

/** A string flag (a usage error naming it when required and absent). */
export function strFlag (flags: Flags, name: string, required = false): string | undefined {
  const v = flags[name]
  if (v === undefined && required) throw new UsageError(`--${name} is required`)
  return typeof v === 'string' ? v : undefined
}

/** Positional argument `i` (a usage error naming `what` when absent). */
export function arg (positional: string[], i: number, what: string): string {
  const v = positional[i]
  if (v === undefined) throw new UsageError(`${positional[0] ?? 'this subcommand'} needs ${what}`)
  return v
}

const AUCTION_FLAGS: Record<string, FlagKind> = {
  ...CLIENT_FLAGS,
  seller: 'string',
  mechanism: 'string',
  item: 'string',
  items: 'list',
  id: 'string',
  reserve: 'string',
  increment: 'string',
  'start-price': 'string',
  decrement: 'string',
  units: 'string',
  sealed: 'string',
  deposit: 'string',
  'reveal-ms': 'string',
  'duration-ms': 'string',
  capability: 'string',
  bidders: 'list',
  'request-timeout-ms': 'string',
  run: 'boolean',
  agent: 'string',
  amount: 'string',
  'max-price': 'string',
  by: 'string'
}

function openBody (flags: Flags): Record<string, unknown> {
  const body: Record<string, unknown> = { seller: strFlag(flags, 'seller', true), mechanism: strFlag(flags, 'mechanism', true) }
  if (flags.item !== undefined && flags.items !== undefined) throw new UsageError('give --item or --items, not both')
  if (flags.item === undefined && flags.items === undefined) throw new UsageError('--item (or --items) is required')
  if (flags.item !== undefined) body.item = strFlag(flags, 'item')
  else body.items = flags.items
  body.durationMs = intFlag(flags, 'duration-ms', true)
  const ints: Array<[string, string]> = [['reserve', 'reserve'], ['increment', 'increment'], ['start-price', 'startPrice'], ['decrement', 'decrement'], ['units', 'units'], ['deposit', 'deposit'], ['reveal-ms', 'revealMs'], ['request-timeout-ms', 'requestTimeoutMs']]
  for (const [flag, key] of ints) { const v = intFlag(flags, flag); if (v !== undefined) body[key] = v }
  for (const k of ['id', 'sealed'] as const) { const v = strFlag(flags, k); if (v !== undefined) body[k] = v }
  if (flags.capability !== undefined && flags.bidders !== undefined) throw new UsageError('give --capability or --bidders, not both')
  if (typeof flags.capability === 'string') body.bidders = { capability: flags.capability }
  if (Array.isArray(flags.bidders)) body.bidders = flags.bidders
  if (flags.run === true) body.run = true
  else if (body.bidders !== undefined || body.requestTimeoutMs !== undefined) throw new UsageError('--capability, --bidders and --request-timeout-ms need --run')
  return body
}

function bidBody (flags: Flags): Record<string, unknown> {
  const agent = strFlag(flags, 'agent', true)
  const amount = intFlag(flags, 'amount')
  const maxPrice = intFlag(flags, 'max-price')
  let bid: unknown
  if (typeof flags.json === 'string') {
    try { bid = JSON.parse(flags.json) } catch { throw new UsageError('--json must be JSON') }
  }
  const given = [amount, maxPrice, bid].filter(x => x !== undefined).length
  if (given !== 1) throw new UsageError('give exactly one of --amount, --max-price and --json')
  return { agent, bid: amount !== undefined ? { amount } : maxPrice !== undefined ? { maxPrice } : bid }
}

async function auction (args: string[], io: CliIo): Promise<number> {
  const { flags, positional } = parseArgs(args, AUCTION_FLAGS)
  if (flags.help === true) { io.stdout(AUCTION_USAGE + '\n'); return EXIT_OK }
  if (positional[0] === undefined) throw new UsageError('auction needs a subcommand: ' + AUCTION_SUBCOMMANDS.join(', '))
  const sub = positional[0]
  const id = (): string => encodeURIComponent(arg(positional, 1, 'an auction id'))
  let request: [string, string, unknown?]
  switch (sub) {
    case 'open': request = ['POST', '/v1/auctions', openBody(flags)]; break
    case 'show': request = ['GET', `/v1/auctions/${id()}`]; break
    case 'list': request = ['GET', '/v1/auctions']; break
    case 'bid': request = ['POST', `/v1/auctions/${id()}/bids`, bidBody(flags)]; break
    case 'close':
    case 'settle': request = ['POST', `/v1/auctions/${id()}/${sub}`, { by: strFlag(flags, 'by', true) }]; break
    default: throw new UsageError(`unknown subcommand "${sub}" of auction (one of ${AUCTION_SUBCOMMANDS.join(', ')})`)
  }
  const call = await client(flags)
  io.stdout(JSON.stringify(await call(...request), null, 2) + '\n')
  return EXIT_OK
}

async function ledger (args: string[], io: CliIo): Promise<number> {
  const { flags, positional } = parseArgs(args, { ...CLIENT_FLAGS, amount: 'string', owner: 'string', from: 'string', to: 'string' })
  if (flags.help === true) { io.stdout(LEDGER_USAGE + '\n'); return EXIT_OK }
  if (positional[0] === undefined) throw new UsageError('ledger needs a subcommand: ' + LEDGER_SUBCOMMANDS.join(', '))
  const sub = positional[0]
  const account = (): string => arg(positional, 1, 'an account')
  let request: [string, string, unknown?]
  switch (sub) {
    case 'show': request = ['GET', `/v1/ledger/accounts/${encodeURIComponent(account())}`]; break
    case 'supply': request = ['GET', '/v1/ledger/supply']; break
    case 'open': request = ['POST', '/v1/ledger/accounts', { account: account() }]; break
    case 'mint': {
      const owner = strFlag(flags, 'owner')
      request = ['POST', '/v1/ledger/mint', { account: account(), amount: intFlag(flags, 'amount', true), ...(owner !== undefined ? { owner } : {}) }]
      break
    }
    case 'transfer': request = ['POST', '/v1/ledger/transfer', { from: strFlag(flags, 'from', true), to: strFlag(flags, 'to', true), amount: intFlag(flags, 'amount', true) }]; break
    case 'stake':
    case 'unstake': request = ['POST', `/v1/ledger/${sub}`, { account: account(), amount: intFlag(flags, 'amount', true) }]; break
    default: throw new UsageError(`unknown subcommand "${sub}" of ledger (one of ${LEDGER_SUBCOMMANDS.join(', ')})`)
  }
  const call = await client(flags)
  io.stdout(JSON.stringify(await call(...request), null, 2) + '\n')
  return EXIT_OK
}

export const ECONOMY_COMMANDS: Record<string, Command> = {
  auction: { summary: 'open, run, bid in, close and show auctions through a daemon', usage: AUCTION_USAGE, run: auction },
  ledger: { summary: 'show and move ledger balances through a daemon', usage: LEDGER_USAGE, run: ledger }
}
