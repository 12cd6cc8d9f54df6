/**
 * `agora heals`: a thin client of `GET /v1/health/heals` (heal-routes.ts): the partition and heal reports
 * of a running daemon, newest first, as text or JSON.
 */
import { EXIT_OK, UsageError } from '../cli-util.js'
import type { CliIo, Command } from '../cli-util.js'
import { HEAL_LIMITS } from '../../peers/health/heal-types.js'
import type { HealReport } from '../../peers/health/heal-types.js'
import { healText } from '../../peers/health/heal-text.js'
import { CLIENT_FLAGS, client, parseArgs } from './commands.js'

const HEALS_USAGE = `usage: agora heals [--limit n] [--output text|json] [--http host:port] [--token t | --data-dir dir]
  The partition and heal reports of the daemon's peer, newest first: the span and sides, agents changed
  on each side, eventual variables written during the partition (conflicts first) with the merged value
  and the winning write, strong writes that ended indefinite and their settled fate, auctions and tasks
  across it.`

async function heals (args: string[], io: CliIo): Promise<number> {
  const { flags, positional } = parseArgs(args, { ...CLIENT_FLAGS, output: 'string', limit: 'string' })
  if (flags.help === true) { io.stdout(HEALS_USAGE + '\n'); return EXIT_OK }
  if (positional.length > 0) throw new UsageError(`unexpected argument ${positional[0]!}`)
  const output = flags.output ?? 'text'
  if (output !== 'text' && output !== 'json') throw new UsageError('--output is text or json')
  const limit = flags.limit
  if (limit !== undefined && (typeof limit !== 'string' || !/^[1-9][0-9]?$/.test(limit) || Number(limit) > HEAL_LIMITS.reportsMax)) throw new UsageError(`--limit needs an integer in 1..${HEAL_LIMITS.reportsMax}`)
  const call = await client(flags)
  const r = await call('GET', `/v1/health/heals${typeof limit === 'string' ? `?limit=${limit}` : ''}`) as { open: boolean, heals: HealReport[] }
  if (output === 'json') { io.stdout(JSON.stringify(r, null, 2) + '\n'); return EXIT_OK }
  io.stdout(`${r.open ? 'a partition episode is open now' : 'no partition now'}; ${r.heals.length} report(s)\n`)
  for (const h of r.heals) io.stdout(healText(h))
  return EXIT_OK
}

export const HEAL_COMMANDS: Record<string, Command> = {
  heals: { summary: 'partition and heal reports: sides, conflicting writes and winners, indefinite writes\' fate', usage: HEALS_USAGE, run: heals }
}
