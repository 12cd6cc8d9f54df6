/**
 * The `agora` command line as a user meets it: every bad flag or config value of `agora start` exits 2
 * naming the flag or key with no stack trace (real child processes, nothing starts); `--version`,
 * `help <command>` and `<command> --help`; a wrong subcommand or a missing flag named before the token
 * is looked for.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { COMMANDS, main } from '../../src/cli.js'
import type { CliIo } from '../../src/cli.js'
import { dashboardUrl, exitWithParentByDefault } from '../../src/daemon/commands.js'
import { CLI, NODE, startDaemon, stopAll } from './helpers.js'
import { waitUntil } from '../helpers/wait.js'
import { mapLimit } from '../helpers/limit.js'

let root: string
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'agora-cli-'))
  await writeFile(join(root, 'not-a.key'), '/key/swarm/psk/1.0.0/\n/base16/\n0123\n', { mode: 0o600 })
})
afterAll(async () => { await rm(root, { recursive: true, force: true }) })

/** Runs the built CLI; a run that has not exited after 60 s (a daemon that started) is killed and fails the test. */
async function run (args: string[], env: Record<string, string> = {}): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const p = spawn(NODE, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, AGORA_TOKEN: '', AGORA_HTTP: '', ...env } })
  let stdout = ''
  let stderr = ''
  p.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  p.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const timer = setTimeout(() => { p.kill('SIGKILL') }, 60_000)
  const code = await new Promise<number | null>(resolve => p.once('exit', (c) => resolve(c)))
  clearTimeout(timer)
  return { code, stdout, stderr }
}

function buffers (): { io: CliIo, out: () => string, err: () => string } {
  let out = ''
  let err = ''
  return { io: { stdout: t => { out += t }, stderr: t => { err += t }, readFile: () => '' }, out: () => out, err: () => err }
}

const PEER = '12D3KooWQUZBNEbpftzeY3N953cjsnh7JcLGNtwLo2nCNhhmE3x6'
const OTHER_PEER = '12D3KooWMmXQxBK2MBtSaE66MVPuASDxvFWqA6XNN7xyZUaGnERr'
/** A file that is not a swarm key (written in beforeAll). */
const notAKey = (): string => join(root, 'not-a.key')
const STACK = /\n\s+at /
/**
 * Bad-value runs in flight at once: each loads the whole CLI, so dozens at once on a loaded 2-core machine
 * (the suite runs several files at a time) could each take longer than run()'s limit.
 */
const RUNS_AT_ONCE = 6
/** Time for a test of a few dozen such runs, a few at a time, on that machine. */
const RUNS_TIMEOUT_MS = 240_000

describe('agora start: bad values exit 2 naming the flag or key', () => {
  it('every flag', async () => {
    const dir = join(root, 'flags')
    const cases: Array<[string[], string]> = [
      [['--config', join(root, 'missing.yaml')], '--config'],
      [['--data-dir', '/dev/null/x'], '--data-dir'],
      [['--listen', 'foo'], '--listen'],
      [['--listen', '/ip4/127.0.0.1/udp/4001'], '--listen'],
      [['--listen='], '--listen'],
      [['--bootstrap', '/ip4/127.0.0.1/tcp/4001'], '--bootstrap'],
      [['--bootstrap', 'peer-one'], '--bootstrap'],
      [['--bootstrap', '/ip4/127.0.0.1/tcp/4001/p2p/abc'], '--bootstrap'],
      [['--http', 'localhost'], '--http'],
      [['--http', '127.0.0.1:99999'], '--http'],
      [['--mesh', 'my mesh!'], '--mesh'],
      [['--zone='], '--zone'],
      [['--raft-voters', 'abc,def', '--data-dir', dir], '--raft-voters'],
      [['--raft-voters', PEER], '--raft-voters'],
      [['--token', 'short'], '--token'],
      [['--allowlist', 'abc'], '--allowlist'],
      [['--allowlist', `${PEER},abc`], '--allowlist'],
      [['--allowlist', PEER, '--bootstrap', `/ip4/127.0.0.1/tcp/1/p2p/${OTHER_PEER}`], '--allowlist'],
      [['--pnet-key-file', join(root, 'missing.key')], '--pnet-key-file'],
      [['--pnet-key-file', notAKey()], '--pnet-key-file'],
      [['--pnet-key-file='], '--pnet-key-file'],
      [['--log-level', 'loud'], '--log-level'],
      [['--log-format', 'xml'], '--log-format'],
      [['--exit-with-parent=yes'], '--exit-with-parent'],
      [['--http'], '--http'],
      [['--frobnicate', '1'], '--frobnicate']
    ]
    const results = await mapLimit(cases, RUNS_AT_ONCE, async ([args]) => await run(['start', '--http', '127.0.0.1:0', ...args]))
    cases.forEach(([args, flag], i) => {
      const r = results[i]!
      expect({ args, code: r.code }).toEqual({ args, code: 2 })
      expect(r.stderr, args.join(' ')).toContain(flag)
      expect(r.stderr, args.join(' ')).not.toMatch(STACK)
      expect(r.stdout, args.join(' ')).toBe('')
    })
  }, RUNS_TIMEOUT_MS)

  it('every config key (JSON and YAML files)', async () => {
    const dataDir = join(root, 'keys')
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ mesh: 'my mesh!' }, 'mesh'],
      [{ dataDir: '/dev/null/x' }, 'dataDir'],
      [{ dataDir: '' }, 'dataDir'],
      [{ listen: ['foo'] }, 'listen.0'],
      [{ listen: '/ip4/127.0.0.1/tcp/0' }, 'listen'],
      [{ bootstrap: ['/ip4/127.0.0.1/tcp/1', `/ip4/127.0.0.1/tcp/1/p2p/${PEER}`] }, 'bootstrap.0'],
      [{ http: 'localhost' }, 'http'],
      [{ token: 'short' }, 'token'],
      [{ zone: '' }, 'zone'],
      [{ allowlist: ['abc'] }, 'allowlist.0'],
      [{ allowlist: [PEER, 7] }, 'allowlist.1'],
      [{ allowlist: [] }, 'allowlist'],
      [{ allowlist: PEER }, 'allowlist'],
      [{ allowlist: [PEER], bootstrap: [`/ip4/127.0.0.1/tcp/1/p2p/${OTHER_PEER}`] }, 'allowlist'],
      [{ pnetKeyFile: '' }, 'pnetKeyFile'],
      [{ pnetKeyFile: join(root, 'missing.key') }, 'pnetKeyFile'],
      [{ pnetKeyFile: notAKey() }, 'pnetKeyFile'],
      [{ raft: 'yes', dataDir }, 'raft'],
      [{ raft: { voters: [PEER] } }, 'raft'],
      [{ raft: { voters: [PEER, 'def'] }, dataDir }, 'raft.voters.1'],
      [{ raft: { voters: [] }, dataDir }, 'raft.voters'],
      [{ raft: { learner: 'no' }, dataDir }, 'raft.learner'],
      [{ raft: { tickMs: 0 }, dataDir }, 'raft.tickMs'],
      [{ raft: { electionTick: 1 }, dataDir }, 'raft.electionTick'],
      [{ raft: { fsync: false }, dataDir }, 'raft.fsync'],
      [{ raft: { snapshotEntries: -5 }, dataDir }, 'raft.snapshotEntries'],
      [{ raft: { fsyncSlowMs: 'fast' }, dataDir }, 'raft.fsyncSlowMs'],
      [{ raft: { votrs: [PEER] }, dataDir }, 'raft.votrs'],
      [{ heartbeatIntervalMs: 0 }, 'heartbeatIntervalMs'],
      [{ logLevel: 'loud' }, 'logLevel'],
      [{ logFormat: 'xml' }, 'logFormat'],
      [{ warnAfterMs: 0 }, 'warnAfterMs'],
      [{ exitWithParent: 'sometimes' }, 'exitWithParent'],
      [{ allowRemoteBidCallbacks: 'yes' }, 'allowRemoteBidCallbacks'],
      [{ bodyBytesMax: 0 }, 'bodyBytesMax'],
      [{ colour: 'blue' }, 'colour']
    ]
    const results = await mapLimit(cases, RUNS_AT_ONCE, async ([cfg], i) => {
      const yaml = i % 2 === 1
      const file = join(root, `bad-${i}.${yaml ? 'yaml' : 'json'}`)
      // JSON is valid YAML: the YAML files exercise the YAML reader with the same values.
      await writeFile(file, JSON.stringify({ http: '127.0.0.1:0', ...cfg }))
      return { file, r: await run(['start', '--config', file]) }
    })
    cases.forEach(([cfg, key], i) => {
      const { file, r } = results[i]!
      expect({ cfg, code: r.code }).toEqual({ cfg, code: 2 })
      expect(r.stderr, JSON.stringify(cfg)).toContain(`${file}: ${key}:`)
      expect(r.stderr, JSON.stringify(cfg)).not.toMatch(STACK)
    })
    // A file that is not YAML names --config.
    const broken = join(root, 'broken.yaml')
    await writeFile(broken, 'mesh: [unclosed\n')
    const r = await run(['start', '--config', broken])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('--config')
  }, RUNS_TIMEOUT_MS)
})

describe('the agora command line', () => {
  it('--version prints the package version', async () => {
    const pkg = JSON.parse(await readFile(join(process.cwd(), 'package.json'), 'utf8')) as { version: string }
    const r = await run(['--version'])
    expect(r.code).toBe(0)
    expect(r.stdout.trim()).toBe(`agora ${pkg.version}`)
  })

  it('help <command> and <command> --help print every command\'s usage; an unknown one exits 2', async () => {
    expect(Object.keys(COMMANDS).sort()).toEqual(['agent', 'agents', 'auction', 'barrier', 'budget', 'dashboard', 'election', 'heals', 'health', 'id', 'lease', 'ledger', 'lock', 'members', 'pnet-key', 'raft', 'sim', 'start', 'status', 'task', 'var', 'vote'])
    for (const name of Object.keys(COMMANDS)) {
      const a = buffers()
      expect(await main(['help', name], a.io), name).toBe(0)
      expect(a.out(), name).toMatch(/usage:/)
      expect(a.out()).toBe(COMMANDS[name]!.usage + '\n')
      const b = buffers()
      expect(await main([name, '--help'], b.io), name).toBe(0)
      expect(b.out(), name).toMatch(/usage:/)
    }
    const general = buffers()
    expect(await main(['help'], general.io)).toBe(0)
    expect(general.out()).toMatch(/AGORA_HTTP/)
    const unknown = buffers()
    expect(await main(['help', 'frob'], unknown.io)).toBe(2)
    expect(unknown.err()).toMatch(/unknown command "frob"/)
  })

  it('a wrong subcommand or a missing argument is named, before any token is looked for', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['agents', 'frob'], /unknown subcommand "frob" of agents/],
      [['agents'], /agents needs a subcommand/],
      [['agents', 'register'], /agents register needs --json/],
      [['var', 'get'], /var get needs a variable name/],
      [['var', 'frob', 'x'], /unknown subcommand "frob" of var/],
      [['var', 'set', 'x'], /var set needs --value/],
      [['var', 'get', 'x', '--strong', '--merge', 'max'], /--merge is for eventual variables/],
      [['auction'], /auction needs a subcommand/],
      [['auction', 'frob'], /unknown subcommand "frob" of auction/],
      [['auction', 'show'], /show needs an auction id/],
      [['ledger', 'transfer', '--from', 'a', '--to', 'b'], /--amount is required/],
      [['ledger', 'frob'], /unknown subcommand "frob" of ledger/],
      [['status', 'extra'], /unexpected argument extra/],
      [['pnet-key'], /pnet-key needs the file/],
      [['pnet-key', 'a', 'b'], /unexpected argument b/],
      [['id'], /--data-dir is required/],
      [['lock'], /lock needs a lock name/],
      [['lock', 'job'], /lock job needs -- <command>/],
      [['lock', 'job', '--ttl', 'soon', '--', 'true'], /--ttl must be a non-negative integer/],
      [['lock', 'release', 'job'], /needs a token/],
      [['lease'], /lease needs a subcommand/],
      [['lease', 'keepalive', 'x'], /a lease id is a positive integer/],
      [['election', 'leader'], /needs an election name/],
      [['election', 'leader', 'e', '--', 'true'], /only election campaign runs a command/],
      [['barrier', 'frob'], /unknown subcommand "frob" of barrier/],
      [['vote', 'open', '--options', 'a'], /exactly one of --voters and --capability/],
      [['vote', 'status', 'seven'], /a vote id is a positive integer/]
    ]
    const saved = process.env.AGORA_TOKEN
    delete process.env.AGORA_TOKEN
    try {
      for (const [args, message] of cases) {
        const b = buffers()
        expect(await main(args, b.io), args.join(' ')).toBe(2)
        expect(b.err(), args.join(' ')).toMatch(message)
        expect(b.err(), args.join(' ')).not.toMatch(/no token/)
      }
    } finally {
      if (saved !== undefined) process.env.AGORA_TOKEN = saved
    }
  })
})

describe('exiting with the parent process', () => {
  it('is on by default when npm started the daemon, and AGORA_EXIT_WITH_PARENT decides over that', () => {
    expect(exitWithParentByDefault({})).toBe(false)
    expect(exitWithParentByDefault({ npm_command: 'exec' })).toBe(true)
    expect(exitWithParentByDefault({ npm_command: 'run-script', AGORA_EXIT_WITH_PARENT: '0' })).toBe(false)
    expect(exitWithParentByDefault({ AGORA_EXIT_WITH_PARENT: '1' })).toBe(true)
  })
})

describe('agora dashboard', () => {
  it('the link: the daemon\'s address (a wildcard bind read as loopback), https under TLS, the token in the fragment, escaped', () => {
    expect(dashboardUrl('127.0.0.1:7070', false)).toBe('http://127.0.0.1:7070/ui/')
    expect(dashboardUrl('0.0.0.0:7070', true, 'a b&c#d')).toBe('https://127.0.0.1:7070/ui/#token=a%20b%26c%23d')
    expect(dashboardUrl('[::]:8080', false, 'tok')).toBe('http://[::1]:8080/ui/#token=tok')
  })

  it('prints the link from the token and address it is given; a missing token is a usage error', async () => {
    const a = buffers()
    expect(await main(['dashboard', '--http', '127.0.0.1:7171', '--token', 'secret-token-0123456789'], a.io)).toBe(0)
    expect(a.out()).toBe('http://127.0.0.1:7171/ui/#token=secret-token-0123456789\n')
    const env = process.env.AGORA_TOKEN
    delete process.env.AGORA_TOKEN
    const b = buffers()
    try {
      expect(await main(['dashboard', '--http', '127.0.0.1:7171'], b.io)).toBe(2)
    } finally { if (env !== undefined) process.env.AGORA_TOKEN = env }
    expect(b.err()).toMatch(/no token/)
  })

  it('agora start never writes the login link (the token) to a stderr that is not a terminal, even with --log-format human', async () => {
    try {
      const d = await startDaemon(join(root, 'human-log'), ['--log-format', 'human', '--log-level', 'info'])
      // 'listening' is logged after the link would have been written.
      await waitUntil(() => d.stderr.join('').includes('listening'), { what: 'the listening log line', timeoutMs: 30_000 })
      expect(d.stderr.join('')).not.toContain(d.token)
      expect(d.stderr.join('')).not.toContain('#token=')
    } finally { await stopAll() }
  }, 60_000)
})
