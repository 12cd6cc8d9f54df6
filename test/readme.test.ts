/**
 * The README works as written. Every fenced block is extracted and either run or mapped to a named
 * mirror test; a block with neither (or a mapping whose block is gone) fails the first test.
 *
 * - Shell blocks run in bash in a temporary directory inside a private network namespace (`unshare
 *   -rn`: its own loopback, so the README's fixed ports 7070-7073 and 4001-4004 are free), against the
 *   real daemons they start, bounded by a timeout. `npx agora` is this checkout's bin: npm exec links the
 *   local project and runs its `agora` bin; a shim on PATH runs that bin directly, so the test neither
 *   depends on npm's exec cache nor rebuilds dist/ (npm exec runs `prepare` when it first links a project).
 * - TypeScript blocks are type-checked together (moduleResolution nodenext, `agora-mesh` resolved through
 *   the package's exports) and run with Node 22 against real peers: a block that is a fragment gets a
 *   prelude defining its free variables (`bootstrap`, `idA`.., `peer`, `host`, `anyPeer`) with real
 *   peers, and an epilogue printing what the test checks; the block's text itself is never changed.
 * - `npm ci` and `npm test` are not run from here (the network; recursion): their mirrors are named.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { CLI, NODE } from './daemon/helpers.js'

const ROOT = process.cwd()
const tmp = mkdtempSync(join(tmpdir(), 'agora-readme-'))
afterAll(() => { rmSync(tmp, { recursive: true, force: true }) })

interface Block { key: string, section: string, lang: string, code: string, line: number }

/** The README's fenced blocks, keyed `<section> #<n>` (n counts blocks within the section). */
export function readmeBlocks (text: string): Block[] {
  const out: Block[] = []
  const lines = text.split('\n')
  let section = '(top)'
  const count = new Map<string, number>()
  for (let i = 0; i < lines.length; i++) {
    const h = /^#{1,4}\s+(.*)$/.exec(lines[i]!)
    if (h !== null) { section = h[1]!.trim(); continue }
    const f = /^```(\S*)\s*$/.exec(lines[i]!)
    if (f === null) continue
    const start = i
    const body: string[] = []
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]!); i++) body.push(lines[i]!)
    const n = (count.get(section) ?? 0) + 1
    count.set(section, n)
    out.push({ key: `${section} #${n}`, section, lang: f[1]!, code: body.join('\n') + '\n', line: start + 1 })
  }
  return out
}

const blocks = readmeBlocks(readFileSync(join(ROOT, 'README.md'), 'utf8'))
const block = (key: string): Block => {
  const b = blocks.find(x => x.key === key)
  if (b === undefined) throw new Error(`README block ${key} is gone`)
  return b
}

/** What covers each block: a runner below (by its test's title) or a mirror test elsewhere. */
const COVERAGE: Record<string, { runner: string } | { mirrors: Array<{ file: string, test: string }> }> = {
  'Quickstart #1': { runner: 'Quickstart: npx agora start serves on 127.0.0.1:7070 and SIGINT stops it (npm ci: mirrors)' },
  'Quickstart #2': { mirrors: [{ file: 'test/readme.test.ts', test: 'Quickstart: npm test is vitest over test/**, after a build' }] },
  'Running a peer daemon #1': { runner: 'Running a peer daemon: the shell walkthrough as written (three voters, the API, a watch, membership)' },
  'Running a peer daemon #2': { runner: 'Running a peer daemon: under a supervisor, node dist/src/cli.js start runs and leaves on SIGTERM' },
  'Running a peer daemon #3': { runner: 'Running a peer daemon: the shell walkthrough as written (three voters, the API, a watch, membership)' },
  'Running a peer daemon #4': { runner: 'Running a peer daemon: the shell walkthrough as written (three voters, the API, a watch, membership)' },
  'Running a peer daemon #5': { runner: 'Running a peer daemon: the shell walkthrough as written (three voters, the API, a watch, membership)' },
  'Running a peer daemon #6': { runner: 'Running a peer daemon: the shell walkthrough as written (three voters, the API, a watch, membership)' },
  'Coordination through the daemon #1': { runner: 'Coordination through the daemon: locks, an election, a barrier and a vote as written, on the three voters of the walkthrough' },
  'Coordination through the daemon #2': { runner: 'Coordination through the daemon: locks, an election, a barrier and a vote as written, on the three voters of the walkthrough' },
  'Agents over HTTP #1': { runner: 'Agents over HTTP: a shell agent on node2 answers a request and completes a task from node1, as written' },
  'Embedding a peer #1': { runner: 'Embedding a peer: the script runs against a daemon of its mesh it bootstraps from' },
  'Strong variables and the Raft group #1': { runner: 'Strong variables and the Raft group: set, get and compare-and-set on three voters' },
  'The economy: ledger, staking, auctions #1': { runner: 'The economy: the snippet funds a bidder and sells to it' },
  'Coordination: leases, locks, elections, barriers, votes #1': { runner: 'Coordination: the snippet locks, elects, runs a singleton, meets at a barrier and votes' },
  'Agents at work: requests, messages, groups, durable tasks #1': { runner: 'Agents at work: the snippet requests, routes by capability, sends and runs a durable task' },
  'Live harness #1': { runner: 'Live harness: the script runs as written' },
  'The dashboard #1': { runner: 'The dashboard: agora dashboard prints the link that logs in, and /ui serves the page' }
}
/** The mirrors of `npm ci` in the Quickstart block (not run here: it needs the registry). */
const NPM_CI_MIRRORS = [
  { file: 'test/packaging.test.ts', test: 'npm ci under an older system Node prints no EBADENGINE warning (the checkout\'s .npmrc)' },
  { file: 'test/packaging.test.ts', test: 'publishes dist without dist/test, with the sample config and deploy files; main/types point into it' }
]

const unshareOk = spawnSync('unshare', ['-rn', 'true']).status === 0

/** A bin dir whose `npx agora ...` runs this checkout's CLI (see the module doc). */
function npxShim (): string {
  const bin = join(tmp, 'bin')
  if (existsSync(join(bin, 'npx'))) return bin
  mkdirSync(bin, { recursive: true })
  writeFileSync(join(bin, 'npx'), `#!/bin/sh\nif [ "$1" = agora ]; then shift; exec "${NODE}" "${CLI}" "$@"; fi\nexec npx "$@"\n`)
  chmodSync(join(bin, 'npx'), 0o755)
  return bin
}

/** Runs `script` in bash inside a private network namespace (loopback up) in `cwd`. */
function inNetns (script: string, cwd: string, timeoutMs: number): { status: number | null, stdout: string, stderr: string } {
  const r = spawnSync('unshare', ['-rn', 'bash', '-c', `ip link set lo up\n${script}`], {
    cwd,
    encoding: 'utf8',
    timeout: timeoutMs,
    killSignal: 'SIGKILL',
    env: { ...process.env, PATH: `${npxShim()}:${process.env.PATH ?? ''}` }
  })
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' }
}

/**
 * Runs the blocks `keys` in order in one shell session in a fresh directory (`set -eu`; the daemons they
 * start in the background stop with the script, whatever happens), and requires it to succeed; `out(i)`
 * is what block `i` printed.
 */
function session (keys: string[], name: string): { dir: string, out: (i: number) => string } {
  const dir = mkdtempSync(join(tmp, `${name}-`))
  const script = ['set -eu', 'trap \'kill $(jobs -p) 2>/dev/null || true\' EXIT', ...keys.flatMap((k, i) => [`echo "::start ${i}::"`, block(k).code, `echo "::end ${i}::"`])].join('\n')
  const r = inNetns(script, dir, 240_000)
  const logs = ['node1', 'node2', 'node3', 'node4'].map(n => { try { return readFileSync(join(dir, `${n}.log`), 'utf8') } catch { return '' } }).join('\n')
  expect(r.status, `${r.stderr}\n${r.stdout}\n${logs}`).toBe(0)
  const out = (i: number): string => {
    const m = new RegExp(`::start ${i}::\\n([\\s\\S]*?)::end ${i}::`).exec(r.stdout)
    expect(m, `block ${i} ran to its end`).not.toBeNull()
    return m![1]!
  }
  return { dir, out }
}

function titleInFile (file: string, title: string): boolean {
  const text = readFileSync(join(ROOT, file), 'utf8')
  return text.includes(`'${title.replace(/'/g, "\\'")}'`) || text.includes(`\`${title}\``) || text.includes(`"${title}"`)
}

describe('README.md', () => {
  it('every fenced block has a runner or a mirror, and every mapping has its block', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(10)
    const unmapped = blocks.filter(b => COVERAGE[b.key] === undefined).map(b => `${b.key} (line ${b.line})`)
    expect(unmapped, 'README blocks without a runner or mirror').toEqual([])
    expect(Object.keys(COVERAGE).filter(k => !blocks.some(b => b.key === k)), 'mappings without a block').toEqual([])
    const self = readFileSync(join(ROOT, 'test/readme.test.ts'), 'utf8')
    for (const [key, c] of Object.entries(COVERAGE)) {
      if ('runner' in c) expect(self.includes(`it.runIf(unshareOk)('${c.runner}'`) || self.includes(`it('${c.runner}'`), `${key}: runner "${c.runner}"`).toBe(true)
      else for (const m of c.mirrors) expect(titleInFile(m.file, m.test), `${key}: mirror ${m.file} "${m.test}"`).toBe(true)
    }
    for (const m of NPM_CI_MIRRORS) expect(titleInFile(m.file, m.test), `npm ci mirror ${m.test}`).toBe(true)
    for (const b of blocks) expect(['sh', 'ts'], `${b.key}: a language the runners know`).toContain(b.lang)
  })

  it('Quickstart: npm test is vitest over test/**, after a build', () => {
    expect(block('Quickstart #2').code.trim()).toBe('npm test')
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
    expect(pkg.scripts.test).toBe('vitest run')
    expect(pkg.scripts.pretest).toBe('npm run build')
    expect(readFileSync(join(ROOT, 'vitest.config.ts'), 'utf8')).toMatch(/include: \['test\/\*\*\/\*\.test\.ts'\]/)
  })

  it.runIf(unshareOk)('Quickstart: npx agora start serves on 127.0.0.1:7070 and SIGINT stops it (npm ci: mirrors)', () => {
    const lines = block('Quickstart #1').code.trim().split('\n').map(l => l.replace(/\s+#.*$/, '').trim())
    expect(lines).toEqual(['npm ci', 'npx agora start'])
    const dir = mkdtempSync(join(tmp, 'quick-'))
    const r = inNetns(`
${lines[1]!} > out.txt 2> err.txt &
pid=$!
until curl -sf http://127.0.0.1:7070/ready > ready.json; do sleep 0.1; done
kill -INT $pid; wait $pid; echo "exit=$?"
`, dir, 60_000)
    expect(r.stdout, r.stderr + readFileSync(join(dir, 'err.txt'), 'utf8')).toMatch(/exit=0/)
    const started = JSON.parse(readFileSync(join(dir, 'out.txt'), 'utf8').split('\n')[0]!)
    expect(started).toMatchObject({ event: 'started', http: '127.0.0.1:7070' })
    expect(typeof started.token).toBe('string')
    expect(JSON.parse(readFileSync(join(dir, 'ready.json'), 'utf8'))).toMatchObject({ ready: true })
  })

  it.runIf(unshareOk)('Running a peer daemon: the shell walkthrough as written (three voters, the API, a watch, membership)', () => {
    // In README order, in one shell session (block #2, the supervisor's command line, runs on its own).
    const { dir, out } = session([1, 3, 4, 5, 6].map(n => `Running a peer daemon #${n}`), 'daemon')
    const ids = readFileSync(join(dir, 'voters.txt'), 'utf8').trim().split('\n')
    expect(ids).toHaveLength(3)
    // 1: three voters, ready.
    expect(out(0)).toMatch(/"ready":true/)
    // 2: the API calls and CLI commands.
    const api = out(1)
    expect(api).toMatch(/"agent":\{"id":"gpu-1"/)
    expect(api).toMatch(/"name":"gpu.price","value":12/)
    expect(api).toMatch(/"variables":\[\{"name":"gpu.price","value":12\}\]/)
    expect(api).toContain(`"peerId": "${ids[0]!}"`)
    for (const id of ids) expect(api).toMatch(new RegExp(`^${id}.*\\b(leader|voter)\\s+reachable`, 'm'))
    // 3: the client commands find the daemon and token from the environment.
    expect(out(2)).toMatch(/"id": "gpu-1"/)
    // 4: the watch printed the strong change.
    expect(out(3)).toMatch(/event: variable:changed\ndata: \{"kind":"strong","name":"gpu.price","value":15,"previous":12,"index":\d+\}/)
    expect(out(3)).toMatch(/^id: [0-9a-f]+-\d+$/m)
    // 5: node4 replaced a follower and leads; the group still has three voters.
    const node4 = readFileSync(join(dir, 'node4.id'), 'utf8').trim()
    expect(out(4)).toMatch(new RegExp(`^${node4} \\(self\\)\\s+leader\\s+reachable`, 'm'))
    const voters = out(4).split('\n').filter(l => /^12D3\S+( \(self\))?\s+(leader|voter)\s/.test(l)).map(l => l.split(' ')[0]!)
    expect(voters).toHaveLength(3)
    expect(ids.filter(id => voters.includes(id))).toHaveLength(2)
  })

  it.runIf(unshareOk)('The dashboard: agora dashboard prints the link that logs in, and /ui serves the page', () => {
    const { dir, out } = session(['The dashboard #1'], 'dashboard')
    const token = readFileSync(join(dir, 'node1/http.token'), 'utf8').trim()
    expect(out(0).trim().split('\n').at(-1)).toBe(`http://127.0.0.1:7070/ui/#token=${encodeURIComponent(token)}`)
    // The started line names the dashboard's address (without the token: stdout may be kept in logs).
    const started = JSON.parse(readFileSync(join(dir, 'node1.log'), 'utf8').split('\n')[0]!)
    expect(started).toMatchObject({ event: 'started', dashboard: 'http://127.0.0.1:7070/ui/' })
    expect(JSON.stringify(started)).not.toContain(token)
  })

  it.runIf(unshareOk)('Coordination through the daemon: locks, an election, a barrier and a vote as written, on the three voters of the walkthrough', () => {
    // The walkthrough's first block starts the three voters; the section's blocks follow in one session.
    const { dir, out } = session(['Running a peer daemon #1', 'Coordination through the daemon #1', 'Coordination through the daemon #2'], 'coordination')
    const ids = readFileSync(join(dir, 'voters.txt'), 'utf8').trim().split('\n')
    const locks = out(1)
    expect(locks).toMatch(/^report written under token \d+$/m)
    expect(locks).toMatch(/^held by node2$/m)
    // node2's grant, printed; then node1's (in grant.json) after node2's lease lapsed, with a larger token.
    const node2Token = Number(/^ {2}"token": (\d+)/m.exec(locks)![1])
    const grant = JSON.parse(readFileSync(join(dir, 'grant.json'), 'utf8'))
    expect(grant).toMatchObject({ name: 'db.migrate', ttlMs: 10_000 })
    expect(grant.token).toBeGreaterThan(node2Token)
    expect(locks).toContain(`{"lease":{"lease":${grant.lease as number},"ttlMs":10000,"dedicated":true,`)
    expect(locks).toContain(`{"released":true,"name":"db.migrate","token":${grant.token as number}}`)
    // The command run while leading printed the leader: node1 (ids[0]) with its value.
    expect(locks).toMatch(new RegExp(`"owner": "${ids[0]!}",[\\s\\S]*"value": "node1"`))
    expect(locks.match(/"generation": 1/g)).toHaveLength(2)
    const vote = out(2)
    expect(vote).toMatch(/"outcome": "approve"/)
    expect(vote).toMatch(/"reviewer-1": "voted"/)
    expect(vote).toMatch(/"accepted":true,"outcome":"voted"/)
  })

  it.runIf(unshareOk)('Agents over HTTP: a shell agent on node2 answers a request and completes a task from node1, as written', () => {
    const { out } = session(['Running a peer daemon #1', 'Agents over HTTP #1'], 'agents-http')
    const text = out(1)
    expect(text).toMatch(/"agent": "doubler",\s*"reply": \{\s*"doubled": 42\s*\}/)
    expect(text).toMatch(/"state": "completed"/)
    expect(text).toMatch(/"result": \{\s*"doubled": 8\s*\}/)
    expect(text).toMatch(/"finished": true/)
  })

  it.runIf(unshareOk)('Running a peer daemon: under a supervisor, node dist/src/cli.js start runs and leaves on SIGTERM', () => {
    const line = block('Running a peer daemon #2').code.trim().replace(/\s+#.*$/, '')
    expect(line).toMatch(/^node dist\/src\/cli\.js start /)
    // A checkout: dist/ of this one.
    const dir = mkdtempSync(join(tmp, 'supervised-'))
    symlinkSync(join(ROOT, 'dist'), join(dir, 'dist'))
    const r = inNetns(`
${line} > out.txt 2> err.txt &
pid=$!
until curl -sf http://127.0.0.1:7070/ready > ready.json; do sleep 0.1; done
kill -TERM $pid; wait $pid; echo "exit=$?"
`, dir, 60_000)
    expect(r.stdout, r.stderr + readFileSync(join(dir, 'err.txt'), 'utf8')).toMatch(/exit=0/)
    expect(JSON.parse(readFileSync(join(dir, 'out.txt'), 'utf8').split('\n')[0]!)).toMatchObject({ event: 'started', http: '127.0.0.1:7070' })
    expect(existsSync(join(dir, 'node1/identity.key'))).toBe(true)
  })

  describe('TypeScript blocks', () => {
    const dirs = new Map<string, string>()
    const CLI_PATH = JSON.stringify(CLI)
    const threeVoters = (names: [string, string, string]): string => `import { execFileSync as __exec } from 'node:child_process'
import { createPeer as __createPeer } from 'agora-mesh'
const __dirs = ['./v1', './v2', './v3']
const __ids = __dirs.map(d => __exec(process.execPath, [${CLI_PATH}, 'id', '--data-dir', d]).toString().trim())
// Generous proposal timeouts: the test runs beside others on a loaded machine.
const __raft = { voters: __ids, proposalTimeoutMs: 30_000 }
const __b = await __createPeer({ dataDir: __dirs[1], raft: __raft })
const __c = await __createPeer({ dataDir: __dirs[2], bootstrap: [__b.addresses()[0]!], raft: __raft })
const ${names[0]} = await __createPeer({ dataDir: __dirs[0], bootstrap: [__b.addresses()[0]!, __c.addresses()[0]!], raft: __raft })
const ${names[1]} = __b
const ${names[2]} = __c
`
    const SOURCES: Record<string, { prelude: string, epilogue: string }> = {
      'Embedding a peer #1': { prelude: '', epilogue: '' },
      'Strong variables and the Raft group #1': {
        // The block creates the first voter itself: its id comes from its data dir, created first.
        prelude: `import { execFileSync as __exec } from 'node:child_process'
import { createPeer } from 'agora-mesh'
const [idA, idB, idC] = ['./data', './b', './c'].map(d => __exec(process.execPath, [${CLI_PATH}, 'id', '--data-dir', d]).toString().trim()) as [string, string, string]
const __b = await createPeer({ dataDir: './b', raft: { voters: [idA, idB, idC] } })
const __c = await createPeer({ dataDir: './c', bootstrap: [__b.addresses()[0]!], raft: { voters: [idA, idB, idC] } })
const bootstrap = [__b.addresses()[0]!, __c.addresses()[0]!]   // the other voters, as a deployment would list them
`,
        epilogue: `console.log(JSON.stringify({ readme: { v, won, members: peer.raft?.status().voters.length } }))
await peer.stop(); await __b.stop(); await __c.stop()
`
      },
      'The economy: ledger, staking, auctions #1': {
        prelude: threeVoters(['peer', 'host', 'anyPeer']),
        epilogue: `console.log(JSON.stringify({ readme: { status: auction.outcome?.status, winners: auction.outcome?.winners, responses, alice: (await anyPeer.economy.account('alice'))?.free } }))
await peer.stop(); await host.stop(); await anyPeer.stop()
`
      },
      'Coordination: leases, locks, elections, barriers, votes #1': {
        prelude: threeVoters(['peer', 'other', 'third']),
        epilogue: `console.log(JSON.stringify({ readme: { token: lock.token, again: again !== null && again.token > lock.token, lead: lead.token > 0, leader: leader?.value, outcome: decision.outcome, owner: await third.variables.strong('report.owner').get() === peer.id } }))
await peer.stop(); await other.stop(); await third.stop()
`
      },
      'Agents at work: requests, messages, groups, durable tasks #1': {
        prelude: threeVoters(['peer', 'other', 'third']),
        epilogue: `console.log(JSON.stringify({ readme: { reply, routed, state: done.state, result: done.result, again: (await peer.tasks.submit({ capability: 'translate', payload: { text: 'one two three' }, idempotencyKey: 'job-1' })).id === id } }))
await peer.stop(); await other.stop(); await third.stop()
`
      },
      'Live harness #1': { prelude: '', epilogue: '' }
    }

    const source = (key: string): string => {
      const s = SOURCES[key]!
      return `${s.prelude}// ---- README block ${key} ----\n${block(key).code}// ---- end ----\n${s.epilogue}`
    }

    const setup = (key: string): string => {
      const existing = dirs.get(key)
      if (existing !== undefined) return existing
      const dir = mkdtempSync(join(tmp, 'ts-'))
      mkdirSync(join(dir, 'node_modules'))
      symlinkSync(ROOT, join(dir, 'node_modules/agora-mesh'))
      symlinkSync(join(ROOT, 'node_modules/@types'), join(dir, 'node_modules/@types'))
      writeFileSync(join(dir, 'package.json'), '{"type":"module","private":true}')
      writeFileSync(join(dir, 'main.mts'), source(key))
      dirs.set(key, dir)
      return dir
    }

    it('the blocks type-check (strict, nodenext, the package\'s exports)', () => {
      // One program over every block (each its own module, resolving `agora-mesh` from its own directory):
      // one tsc run reads the package's and Node's types once, not once per block.
      const keys = Object.keys(SOURCES)
      const files = keys.map(key => join(setup(key), 'main.mts'))
      const dir = mkdtempSync(join(tmp, 'typecheck-'))
      mkdirSync(join(dir, 'node_modules'))
      symlinkSync(join(ROOT, 'node_modules/@types'), join(dir, 'node_modules/@types'))
      writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2023', strict: true, noEmit: true, skipLibCheck: true, types: ['node'] }, files }))
      const r = spawnSync(NODE, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(dir, 'tsconfig.json')], { encoding: 'utf8' })
      const out = r.stdout + r.stderr
      // The blocks the errors are in, with their sources.
      const failing = keys.filter((key, i) => out.includes(files[i]!) || out.includes(files[i]!.slice(tmp.length)))
      expect(out, failing.map(key => `${key}:\n${source(key)}`).join('\n')).toBe('')
      expect(r.status).toBe(0)
    }, 120_000)

    const run = (key: string, before = '', after = ''): { stdout: string, stderr: string, status: number | null } => {
      const dir = setup(key)
      return inNetns(`${before}\n"${NODE}" --experimental-strip-types --no-warnings main.mts\nrc=$?\n${after}\nexit $rc`, dir, 120_000)
    }
    const result = (stdout: string): any => JSON.parse(stdout.split('\n').find(l => l.startsWith('{"readme":'))!).readme

    it.runIf(unshareOk)('Embedding a peer: the script runs against a daemon of its mesh it bootstraps from', () => {
      const r = run('Embedding a peer #1', `"${NODE}" "${CLI}" start --mesh acme --listen /ip4/127.0.0.1/tcp/4100 --http 127.0.0.1:7100 --log-level warn > daemon.out &
until [ -s daemon.out ]; do sleep 0.1; done
export AGORA_BOOTSTRAP=$("${NODE}" -p 'JSON.parse(require("fs").readFileSync("daemon.out", "utf8").split("\\n")[0]).addresses[0]')`, 'kill %1; wait')
      expect(r.status, r.stderr).toBe(0)
      expect(r.stdout).toContain("[ 'summarizer-1' ] summarizer-1")
    })

    it.runIf(unshareOk)('Strong variables and the Raft group: set, get and compare-and-set on three voters', () => {
      const r = run('Strong variables and the Raft group #1')
      expect(r.status, r.stderr).toBe(0)
      expect(result(r.stdout)).toEqual({ v: 12, won: true, members: 3 })
    })

    it.runIf(unshareOk)('The economy: the snippet funds a bidder and sells to it', () => {
      const r = run('The economy: ledger, staking, auctions #1')
      expect(r.status, r.stderr).toBe(0)
      const out = result(r.stdout)
      expect(out.status).toBe('sold')
      expect(out.winners).toMatchObject([{ agent: 'gpu-buyer', items: ['gpu'], price: 10 }])
      expect(out.responses).toEqual({ 'gpu-buyer': 'bid' })
      expect(out.alice).toBe(50)
    })

    it.runIf(unshareOk)('Agents at work: the snippet requests, routes by capability, sends and runs a durable task', () => {
      const r = run('Agents at work: requests, messages, groups, durable tasks #1')
      expect(r.status, r.stderr).toBe(0)
      expect(result(r.stdout)).toEqual({ reply: { text: 'HELLO MESH' }, routed: { text: 'HI' }, state: 'completed', result: { words: 3 }, again: true })
    })

    it.runIf(unshareOk)('Coordination: the snippet locks, elects, runs a singleton, meets at a barrier and votes', () => {
      const r = run('Coordination: leases, locks, elections, barriers, votes #1')
      expect(r.status, r.stderr).toBe(0)
      const out = result(r.stdout)
      expect(out).toMatchObject({ again: true, lead: true, leader: { shard: 3 }, outcome: 'ship', owner: true })
      expect(out.token).toBeGreaterThan(0)
    })

    it.runIf(unshareOk)('Live harness: the script runs as written', () => {
      const r = run('Live harness #1')
      expect(r.status, r.stderr + r.stdout).toBe(0)
    })
  })
})
