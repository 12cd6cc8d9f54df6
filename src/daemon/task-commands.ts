/**
 * Agents' work from the `agora` CLI: `task` (durable tasks: submit, get, list, cancel, wait) and `agent`
 * (request, send, publish), thin clients of a running daemon's `/v1/tasks` and agent routes
 * (task-routes.ts, agent-routes.ts). Exit codes as the other client commands: 0 success, 1 the API answered
 * an error (its code is printed) or, for `task wait` and `task submit --wait`, the task did not complete
 * (failed, cancelled, or still running when the wait ended), 2 bad usage (the message names the flag).
 */
import { EXIT_FAILED, EXIT_OK, UsageError } from '../cli-util.js'
import type { CliIo, Command } from '../cli-util.js'
import { CLIENT_FLAGS, client, parseArgs } from './commands.js'
import { jsonValue, noMore, print } from './coordination-commands.js'
import { arg, intFlag, strFlag } from './economy-commands.js'

type Flags = Record<string, string | string[] | boolean>

const CONN = '  (plus --http host:port and --token t | --data-dir dir of the daemon; agora help status)'

const TASK_USAGE = `usage: agora task submit (--agent A | --capability C | --query json) [--payload json]
                         [--allocation least-loaded|round-robin|auction] [--retries n] [--timeout ms] [--grace ms]
                         [--ack ms] [--key idempotency-key] [--account acct --reward n] [--wait ms]
         Records a task in the Raft log and prints {id, created} (created false: the key's earlier task).
         With --wait: then waits up to ms for it to finish and prints it (exit 1 unless completed).
       agora task get <id>
       agora task list [--state submitted|assigned|completed|failed|cancelled] [--agent A] [--capability C] [--limit n]
       agora task cancel <id>
       agora task wait <id> [--wait ms]
         Prints the task once completed, failed or cancelled, or after --wait ms (default 30000, at most
         120000); exits 0 when it completed, 1 otherwise.
${CONN}`

const AGENT_USAGE = `usage: agora agent request <agent> [--payload json] [--timeout ms] [--from A] [--protocol name]
       agora agent request --capability C [--strategy nearest-healthy|least-loaded|random-healthy] [--attempts n]
                           [--payload json] [--timeout ms] [--from A] [--protocol name]
         Sends a request to an agent (its onRequest or HTTP handler, or a named protocol's) and prints
         {reply}; a failure prints its code (ERR_UNKNOWN_AGENT, ERR_UNREACHABLE, ERR_HANDLER, ERR_TIMEOUT,
         ERR_OVERLOADED, ERR_NO_HANDLER, ERR_NO_CANDIDATE) and exits 1.
       agora agent send <agent> [--message json] [--timeout ms] [--from A]
         Sends a message (at most once); prints {delivered: true} once its host acknowledged it.
       agora agent publish <topic> [--message json] [--from A]
         Publishes on a group topic; prints {topic, recipients}.
  --from names an agent hosted by the daemon as the sender.
${CONN}`


/** A task id (positional argument `i`). */
function idArg (positional: string[], i: number): number {
  const v = arg(positional, i, 'a task id')
  if (!/^[1-9][0-9]{0,15}$/.test(v)) throw new UsageError(`a task id is a positive integer, got ${JSON.stringify(v)}`)
  return Number(v)
}

/** Copies the set flags to body keys. */
function pick (flags: Flags, map: Record<string, string>, ints: string[] = []): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [flag, key] of Object.entries(map)) {
    const v = ints.includes(flag) ? intFlag(flags, flag) : strFlag(flags, flag)
    if (v !== undefined) out[key] = v
  }
  return out
}

/** Waits for task `id` and prints it; exit 0 when it completed. */
async function waitFor (call: (method: string, path: string, body?: unknown) => Promise<unknown>, id: number, waitMs: number | undefined, io: CliIo): Promise<number> {
  const r = await call('GET', `/v1/tasks/${id}/wait${waitMs !== undefined ? `?waitMs=${waitMs}` : ''}`) as { task: { state: string }, finished: boolean }
  print(io, r)
  if (r.task.state === 'completed') return EXIT_OK
  io.stderr(r.finished ? `agora task: task ${id} is ${r.task.state}\n` : `agora task: task ${id} is still ${r.task.state} (ERR_TIMEOUT)\n`)
  return EXIT_FAILED
}

async function task (args: string[], io: CliIo): Promise<number> {
  const { flags, positional } = parseArgs(args, {
    ...CLIENT_FLAGS,
    agent: 'string', capability: 'string', query: 'string', payload: 'string', allocation: 'string', retries: 'string', timeout: 'string',
    grace: 'string', ack: 'string', key: 'string', account: 'string', reward: 'string', wait: 'string', state: 'string', limit: 'string'
  })
  if (flags.help === true) { io.stdout(TASK_USAGE + '\n'); return EXIT_OK }
  const sub = positional[0]
  switch (sub) {
    case 'submit': {
      noMore(positional, 1)
      const targets = ['agent', 'capability', 'query'].filter(k => flags[k] !== undefined)
      if (targets.length !== 1) throw new UsageError('give exactly one of --agent, --capability, --query')
      const payload = jsonValue(flags, 'payload')
      const query = jsonValue(flags, 'query')
      const body = {
        ...pick(flags, { agent: 'agent', capability: 'capability', allocation: 'allocation', key: 'idempotencyKey', account: 'account' }),
        ...pick(flags, { retries: 'retries', timeout: 'timeoutMs', grace: 'graceMs', ack: 'ackMs', reward: 'reward' }, ['retries', 'timeout', 'grace', 'ack', 'reward']),
        ...(query !== undefined ? { query } : {}),
        ...(payload !== undefined ? { payload } : {})
      }
      const waitMs = intFlag(flags, 'wait')
      const call = await client(flags)
      const r = await call('POST', '/v1/tasks', body) as { id: number }
      print(io, r)
      return waitMs === undefined ? EXIT_OK : await waitFor(call, r.id, waitMs, io)
    }
    case 'get': {
      const id = idArg(positional, 1)
      noMore(positional, 2)
      print(io, await (await client(flags))('GET', `/v1/tasks/${id}`))
      return EXIT_OK
    }
    case 'list': {
      noMore(positional, 1)
      const q = new URLSearchParams()
      for (const k of ['state', 'agent', 'capability', 'limit']) { const v = strFlag(flags, k); if (v !== undefined) q.set(k, v) }
      print(io, await (await client(flags))('GET', `/v1/tasks${q.size > 0 ? `?${q.toString()}` : ''}`))
      return EXIT_OK
    }
    case 'cancel': {
      const id = idArg(positional, 1)
      noMore(positional, 2)
      print(io, await (await client(flags))('POST', `/v1/tasks/${id}/cancel`))
      return EXIT_OK
    }
    case 'wait': {
      const id = idArg(positional, 1)
      noMore(positional, 2)
      return await waitFor(await client(flags), id, intFlag(flags, 'wait'), io)
    }
    case undefined: throw new UsageError('task needs a subcommand: submit, get, list, cancel, wait')
    default: throw new UsageError(`unknown subcommand "${sub}" of task (one of submit, get, list, cancel, wait)`)
  }
}

async function agent (args: string[], io: CliIo): Promise<number> {
  const { flags, positional } = parseArgs(args, {
    ...CLIENT_FLAGS,
    payload: 'string', message: 'string', timeout: 'string', from: 'string', protocol: 'string', capability: 'string', strategy: 'string', attempts: 'string'
  })
  if (flags.help === true) { io.stdout(AGENT_USAGE + '\n'); return EXIT_OK }
  const sub = positional[0]
  const enc = encodeURIComponent
  let request: [string, string, unknown]
  switch (sub) {
    case 'request': {
      const payload = jsonValue(flags, 'payload')
      const common = {
        ...pick(flags, { from: 'from', protocol: 'protocol' }),
        ...pick(flags, { timeout: 'timeoutMs' }, ['timeout']),
        ...(payload !== undefined ? { payload } : {})
      }
      if (flags.capability !== undefined) {
        noMore(positional, 1)
        request = ['POST', '/v1/request', { ...common, ...pick(flags, { capability: 'capability', strategy: 'strategy' }), ...pick(flags, { attempts: 'attempts' }, ['attempts']) }]
      } else {
        if (flags.strategy !== undefined || flags.attempts !== undefined) throw new UsageError('--strategy and --attempts go with --capability')
        const id = arg(positional, 1, 'an agent id (or --capability C)')
        noMore(positional, 2)
        request = ['POST', `/v1/agents/${enc(id)}/request`, common]
      }
      break
    }
    case 'send': {
      const id = arg(positional, 1, 'an agent id')
      noMore(positional, 2)
      const message = jsonValue(flags, 'message')
      request = ['POST', `/v1/agents/${enc(id)}/message`, { ...pick(flags, { from: 'from' }), ...pick(flags, { timeout: 'timeoutMs' }, ['timeout']), ...(message !== undefined ? { message } : {}) }]
      break
    }
    case 'publish': {
      const topic = arg(positional, 1, 'a topic')
      noMore(positional, 2)
      const message = jsonValue(flags, 'message')
      request = ['POST', `/v1/groups/${enc(topic)}/publish`, { ...pick(flags, { from: 'from' }), ...(message !== undefined ? { message } : {}) }]
      break
    }
    case undefined: throw new UsageError('agent needs a subcommand: request, send, publish')
    default: throw new UsageError(`unknown subcommand "${sub}" of agent (one of request, send, publish)`)
  }
  print(io, await (await client(flags))(...request))
  return EXIT_OK
}

export const TASK_COMMANDS: Record<string, Command> = {
  task: { summary: 'submit, show, list, cancel and wait for durable tasks through a daemon', usage: TASK_USAGE, run: task },
  agent: { summary: 'send requests and messages to agents and publish on group topics through a daemon', usage: AGENT_USAGE, run: agent }
}
