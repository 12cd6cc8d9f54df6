/**
 * Packaging (O8): the sample config through the real config parser and a real daemon, the Dockerfile
 * (a small parser: instructions, stages, sources, exec forms), the compose file (YAML, three voters
 * wired to the entrypoint), the entrypoint run for real as three voters in a private network namespace,
 * the systemd unit (`systemd-analyze verify`), the published file list (`npm pack --dry-run`), types
 * found under `moduleResolution: node`, and no EBADENGINE noise from `npm ci` under an older system Node.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync, symlinkSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, dirname, join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { parse as parseYaml } from 'yaml'
import { daemonConfigSchema, readConfigFile, validateConfig } from '../src/daemon/config.js'
import { CLI, NODE, api, startDaemon, stopAll } from './daemon/helpers.js'

const ROOT = process.cwd()
const SAMPLE = join(ROOT, 'examples/agora.yaml')
const DEPLOY = join(ROOT, 'examples/deploy')
const tmp = mkdtempSync(join(tmpdir(), 'agora-pack-'))
afterAll(async () => { await stopAll(); rmSync(tmp, { recursive: true, force: true }) })

/** Keys of a zod object schema (unwrapping optional/default). */
function keysOf (schema: unknown): string[] {
  let s = schema as { shape?: Record<string, unknown>, def?: { innerType?: unknown } }
  while (s.shape === undefined && s.def?.innerType !== undefined) s = s.def.innerType as typeof s
  return Object.keys(s.shape ?? {})
}

const unshare = spawnSync('unshare', ['-rnm', 'true']).status === 0

describe('examples/agora.yaml', () => {
  const text = readFileSync(SAMPLE, 'utf8')
  const lines = text.split('\n')
  const top = keysOf(daemonConfigSchema)
  const raft = keysOf((daemonConfigSchema.shape as Record<string, unknown>).raft)
  const httpTls = keysOf((daemonConfigSchema.shape as Record<string, unknown>).httpTls)

  it('names every config key (set or commented out), each under a comment', () => {
    expect(top.length).toBeGreaterThan(10)
    expect(raft).toContain('voters')
    const find = (key: string, indent: string): number => lines.findIndex(l => new RegExp(`^(# ?)?${indent}${key}:`).test(l))
    for (const k of top) {
      const i = find(k, '')
      expect(i, `top-level key ${k}`).toBeGreaterThan(0)
      expect(lines[i - 1], `the line above ${k}`).toMatch(/^#/)
    }
    for (const k of raft) expect(find(k, '\\s+'), `raft.${k}`).toBeGreaterThan(0)
    for (const k of httpTls) expect(find(k, '\\s+'), `httpTls.${k}`).toBeGreaterThan(0)
  })

  it('loads through the real config parser, also with every commented-out key switched on', () => {
    const config = validateConfig(readConfigFile(SAMPLE), SAMPLE)
    expect(config).toMatchObject({ mesh: 'agora', http: '127.0.0.1:7070', logLevel: 'info' })
    // Switch on the commented-out keys (`# key:` lines and the raft block's nested lines).
    const keys = new Set([...top, ...raft, ...httpTls])
    const on = lines.map(l => {
      const m = /^# ?(\s*)([A-Za-z]+):(.*)$/.exec(l)
      if (m !== null && keys.has(m[2]!)) return `${m[1]!}${m[2]!}:${m[3]!}`
      if (/^#\s{3,}- /.test(l)) return l.replace(/^# ?/, '')
      return /^#\s{2,}#/.test(l) ? l.replace(/^#/, ' ') : l
    }).join('\n')
    const file = join(tmp, 'all-keys.yaml')
    writeFileSync(file, on)
    const all = validateConfig(readConfigFile(file), file)
    expect(all.raft?.voters?.length).toBe(3)
    expect(all.token).toBeDefined()
    expect(all.zone).toBe('eu-west')
  })

  it('starts a real daemon (flags override the file)', async () => {
    const d = await startDaemon(join(tmp, 'sample'), ['--config', SAMPLE, '--listen', '/ip4/127.0.0.1/tcp/0'])
    expect((await api(d, 'GET', '/v1/status')).json.mesh).toBe('agora')
  })
})

/** The instructions of a Dockerfile: continuation lines joined, comments dropped. */
function dockerInstructions (text: string): Array<{ op: string, args: string, line: number }> {
  const out: Array<{ op: string, args: string, line: number }> = []
  let buf = ''
  let start = 0
  text.split('\n').forEach((raw, i) => {
    const l = raw.trim()
    if (buf === '' && (l === '' || l.startsWith('#'))) return
    if (buf === '') start = i + 1
    if (l.endsWith('\\')) { buf += l.slice(0, -1) + ' '; return }
    buf += l
    const m = /^([A-Za-z]+)\s+(.*)$/.exec(buf)
    if (m === null) throw new Error(`Dockerfile line ${start}: not an instruction: ${buf}`)
    out.push({ op: m[1]!.toUpperCase(), args: m[2]!, line: start })
    buf = ''
  })
  return out
}

describe('examples/deploy', () => {
  const dockerfile = readFileSync(join(DEPLOY, 'Dockerfile'), 'utf8')
  const compose = parseYaml(readFileSync(join(DEPLOY, 'compose.yaml'), 'utf8'), { merge: true }) as any

  it('the Dockerfile parses: known instructions, stages, existing sources, exec forms, the CLI and /ready', () => {
    const ins = dockerInstructions(dockerfile)
    const KNOWN = new Set(['FROM', 'RUN', 'CMD', 'LABEL', 'EXPOSE', 'ENV', 'ADD', 'COPY', 'ENTRYPOINT', 'VOLUME', 'USER', 'WORKDIR', 'ARG', 'ONBUILD', 'STOPSIGNAL', 'HEALTHCHECK', 'SHELL'])
    for (const i of ins) expect(KNOWN.has(i.op), `line ${i.line}: ${i.op}`).toBe(true)
    expect(ins[0]!.op).toBe('FROM')
    const stages: string[] = []
    let workdir = '/'
    for (const i of ins) {
      if (i.op === 'FROM') {
        const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(i.args)
        expect(m, `line ${i.line}`).not.toBeNull()
        expect(m![1]).toMatch(/^node:22/)
        if (m![2] !== undefined) stages.push(m![2])
      }
      if (i.op === 'WORKDIR') workdir = i.args
      if (i.op === 'COPY') {
        const from = /--from=(\S+)/.exec(i.args)?.[1]
        const paths = i.args.replace(/--\S+/g, '').trim().split(/\s+/)
        if (from !== undefined) { expect(stages, `line ${i.line}: stage ${from}`).toContain(from); continue }
        // Sources are relative to the build context, the repository root (compose: context ../..).
        for (const src of paths.slice(0, -1)) expect(existsSync(join(ROOT, src)), `line ${i.line}: ${src}`).toBe(true)
      }
      if (['CMD', 'ENTRYPOINT', 'VOLUME'].includes(i.op) || (i.op === 'HEALTHCHECK' && i.args.includes('['))) {
        const json = i.op === 'HEALTHCHECK' ? i.args.slice(i.args.indexOf('CMD') + 3).trim() : i.args
        const arr = JSON.parse(json) as unknown
        expect(Array.isArray(arr) && (arr as unknown[]).every(x => typeof x === 'string'), `line ${i.line}: exec form`).toBe(true)
      }
    }
    expect(workdir).toBe('/app')
    // The build stage runs the package's build script, so the image has the dashboard (dist/ui) too.
    expect(ins.some(i => i.op === 'RUN' && /\bnpm run build\b/.test(i.args))).toBe(true)
    const entry = JSON.parse(ins.find(i => i.op === 'ENTRYPOINT')!.args) as string[]
    const bin = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: { agora: string } }).bin.agora
    expect(entry).toEqual(['node', `/app/${bin}`])
    expect(JSON.parse(ins.find(i => i.op === 'CMD')!.args)[0]).toBe('start')
    expect(ins.find(i => i.op === 'HEALTHCHECK')!.args).toMatch(/127\.0\.0\.1:7070\/ready/)
    expect(ins.find(i => i.op === 'EXPOSE')!.args.split(/\s+/).sort()).toEqual(['4001', '7070'])
    // The entrypoint script the compose file uses is installed where it says.
    expect(dockerfile).toMatch(/COPY examples\/deploy\/entrypoint\.sh \/usr\/local\/bin\/agora-entrypoint/)
  })

  it('the build stage copies every source the build compiles (each relative import lands on a copied path)', () => {
    const ins = dockerInstructions(dockerfile)
    const buildStage = ins.slice(0, ins.findIndex((i, k) => k > 0 && i.op === 'FROM'))
    const copied = buildStage.filter(i => i.op === 'COPY' && !i.args.includes('--from')).flatMap(i => i.args.trim().split(/\s+/).slice(0, -1))
    const tsconfig = JSON.parse(readFileSync(join(ROOT, 'tsconfig.json'), 'utf8')) as { include: string[] }
    const isCopied = (rel: string): boolean => copied.some(c => rel === c || rel.startsWith(c.replace(/\/$/, '') + '/'))
    const seen = new Set<string>()
    const queue: string[] = []
    const walk = (dir: string): void => {
      for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
        const rel = join(dir, e.name)
        if (e.isDirectory()) { if (e.name !== 'node_modules' && rel !== 'src/daemon/ui') walk(rel) } else if (/\.ts$/.test(e.name) && !e.name.endsWith('.d.ts')) queue.push(rel)
      }
    }
    for (const inc of tsconfig.include) walk(inc)
    const missing: string[] = []
    while (queue.length > 0) {
      const f = queue.pop()!
      if (seen.has(f)) continue
      seen.add(f)
      if (!isCopied(f)) { missing.push(f); continue }
      for (const m of readFileSync(join(ROOT, f), 'utf8').matchAll(/from '(\.{1,2}\/[^']+)\.js'/g)) queue.push(join(dirname(f), `${m[1]!}.ts`))
    }
    expect(missing, 'compiled by the image build but not copied into it').toEqual([])
  })

  it('the compose file is three voters wired to the entrypoint, each with its own data volume', () => {
    const names = Object.keys(compose.services).sort()
    expect(names).toEqual(['agora1', 'agora2', 'agora3'])
    const ports = new Set<string>()
    for (const n of names) {
      const s = compose.services[n]
      expect(s.build).toEqual({ context: '../..', dockerfile: 'examples/deploy/Dockerfile' })
      expect(existsSync(join(DEPLOY, s.build.context, s.build.dockerfile))).toBe(true)
      expect(s.entrypoint).toEqual(['/usr/local/bin/agora-entrypoint'])
      expect(s.hostname).toBe(n)
      expect(s.environment).toMatchObject({ AGORA_NAME: n, AGORA_SHARED: '/shared' })
      expect(s.environment.AGORA_VOTERS.split(',').sort()).toEqual(names)
      expect(s.volumes).toEqual([`${n}-data:/data`, 'shared:/shared'])
      expect(s.healthcheck.test.join(' ')).toMatch(/\/ready/)
      for (const p of s.ports) { expect(p).toMatch(/^127\.0\.0\.1:\d+:7070$/); ports.add(p) }
    }
    expect(ports.size).toBe(3)
    expect(Object.keys(compose.volumes).sort()).toEqual(['agora1-data', 'agora2-data', 'agora3-data', 'shared'])
    expect(spawnSync('sh', ['-n', join(DEPLOY, 'entrypoint.sh')]).status).toBe(0)
  })

  it.runIf(unshare)('the entrypoint forms a three-voter mesh (three hosts in a private network namespace, names resolved as in compose)', () => {
    const dir = join(tmp, 'compose')
    mkdirSync(dir, { recursive: true })
    const hosts = join(dir, 'hosts')
    writeFileSync(hosts, '127.0.0.1 localhost\n10.0.0.11 agora1\n10.0.0.12 agora2\n10.0.0.13 agora3\n')
    const script = `
set -u
mount --bind ${hosts} /etc/hosts
ip link set lo up
for i in 1 2 3; do ip addr add 10.0.0.1$i/32 dev lo; done
export AGORA_VOTERS=agora1,agora2,agora3 AGORA_SHARED=${dir}/shared AGORA_CLI="${NODE} ${CLI}" AGORA_WAIT_S=30
pids=''
for i in 1 2 3; do
  AGORA_NAME=agora$i AGORA_DATA=${dir}/data$i AGORA_LISTEN_IP=10.0.0.1$i AGORA_HTTP=10.0.0.1$i:7070 \\
    sh ${DEPLOY}/entrypoint.sh --log-level warn >${dir}/out$i 2>${dir}/err$i &
  pids="$pids $!"
done
ready=0
for t in $(seq 1 600); do
  n=0
  for i in 1 2 3; do curl -sf -o /dev/null http://10.0.0.1$i:7070/ready && n=$((n+1)); done
  if [ $n = 3 ]; then ready=1; break; fi
  sleep 0.1
done
put=$(curl -s -X PUT -H "authorization: Bearer $(cat ${dir}/data1/http.token)" -H 'content-type: application/json' -d '{"value":"compose"}' http://10.0.0.11:7070/v1/variables/strong/deploy.check)
get=$(curl -s -H "authorization: Bearer $(cat ${dir}/data3/http.token)" http://10.0.0.13:7070/v1/variables/strong/deploy.check)
raft=$(curl -s -H "authorization: Bearer $(cat ${dir}/data2/http.token)" http://10.0.0.12:7070/v1/raft)
kill -TERM $pids; wait
printf '{"ready":%s,"put":%s,"get":%s,"raft":%s}\\n' "$ready" "\${put:-null}" "\${get:-null}" "\${raft:-null}"
`
    const r = spawnSync('unshare', ['-rnm', '--propagation', 'private', 'bash', '-c', script], { encoding: 'utf8', timeout: 120_000 })
    const errs = [1, 2, 3].map(i => { try { return readFileSync(join(dir, `err${i}`), 'utf8') } catch { return '' } }).join('\n')
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!)
    expect(out.ready, errs).toBe(1)
    expect(out.put).toMatchObject({ value: 'compose' })
    expect(out.get).toMatchObject({ value: 'compose' })
    const ids = [1, 2, 3].map(i => readFileSync(join(dir, 'shared', `agora${i}.id`), 'utf8').trim())
    expect([...out.raft.raft.voters].sort()).toEqual([...ids].sort())
  })

  it.runIf(spawnSync('systemd-analyze', ['--version']).status === 0)('systemd-analyze verify accepts the unit with no warning', () => {
    const unit = join(DEPLOY, 'agora.service')
    const text = readFileSync(unit, 'utf8')
    expect(text).toMatch(/^ExecStart=\/usr\/bin\/node \/opt\/agora-mesh\/dist\/src\/cli\.js start --config \/etc\/agora\/agora\.yaml/m)
    const r = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' })
    expect(r.status, r.stderr).toBe(0)
    expect(r.stderr.split('\n').filter(l => l.includes('agora.service'))).toEqual([])
  })
})

describe('the npm package', () => {
  it('publishes dist without dist/test, with the sample config and deploy files; main/types point into it', () => {
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8' })
    const files = (JSON.parse(out) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map(f => f.path)
    expect(files.filter(f => f.startsWith('dist/test'))).toEqual([])
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { main: string, types: string, bin: { agora: string } }
    for (const f of [pkg.main, pkg.types, pkg.bin.agora, 'dist/sim/index.d.ts', 'examples/agora.yaml', 'examples/deploy/Dockerfile', 'README.md', 'dist/ui/index.html', 'dist/ui/app.js', 'dist/ui/app.css', 'dist/ui/favicon.svg', 'sim/cluster/shaper.py']) {
      expect(files, f).toContain(f.replace(/^\.\//, ''))
    }
  })

  it('an installed copy has types under moduleResolution "node" (main, types, typesVersions for agora-mesh/sim)', () => {
    const dir = join(tmp, 'consumer')
    mkdirSync(join(dir, 'node_modules'), { recursive: true })
    execFileSync('npm', ['pack', '--ignore-scripts', '--pack-destination', dir], { cwd: ROOT, stdio: 'pipe' })
    const tgz = readdirSync(dir).find(f => f.endsWith('.tgz'))!
    execFileSync('tar', ['xzf', join(dir, tgz), '-C', dir])
    execFileSync('mv', [join(dir, 'package'), join(dir, 'node_modules/agora-mesh')])
    // Its dependencies: the checkout's.
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules/agora-mesh/node_modules'))
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'esnext', moduleResolution: 'node', target: 'es2022', strict: true, noEmit: true, skipLibCheck: true, types: [] }, files: ['main.ts'] }))
    writeFileSync(join(dir, 'main.ts'), [
      "import { createPeer, type Peer } from 'agora-mesh'",
      "import { createLiveMesh } from 'agora-mesh/sim'",
      "export async function f (): Promise<Peer> { return await createPeer({ mesh: 'x', start: false }) }",
      'export const g: typeof createLiveMesh = createLiveMesh',
      '// @ts-expect-error: a wrong option type is caught, so the types are real (not any)',
      'export const h = async (): Promise<unknown> => await createPeer({ mesh: 42 })'
    ].join('\n'))
    const r = spawnSync(NODE, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(dir, 'tsconfig.json')], { encoding: 'utf8' })
    expect(r.stdout + r.stderr).toBe('')
    expect(r.status).toBe(0)
  })

  it('npm ci under an older system Node prints no EBADENGINE warning (the checkout\'s .npmrc)', () => {
    // The system's npm and node: PATH without node_modules/.bin (npm scripts put the project's Node 22 there).
    const PATH = (process.env.PATH ?? '').split(delimiter).filter(p => !p.includes('node_modules')).join(delimiter)
    const systemMajor = Number(execFileSync('node', ['-p', 'process.versions.node.split(".")[0]'], { env: { ...process.env, PATH }, encoding: 'utf8' }).trim())
    expect(systemMajor).toBeGreaterThan(0)
    const run = (withNpmrc: boolean): string => {
      const dir = mkdtempSync(join(tmp, 'ci-'))
      for (const f of ['package.json', 'package-lock.json', ...(withNpmrc ? ['.npmrc'] : [])]) writeFileSync(join(dir, f), readFileSync(join(ROOT, f)))
      // Not the npm_config_* of an enclosing `npm test` (they would override the .npmrc under test).
      const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)))
      const r = spawnSync('npm', ['ci', '--ignore-scripts', '--dry-run', '--offline'], { cwd: dir, env: { ...env, PATH }, encoding: 'utf8', timeout: 120_000 })
      expect(r.status, r.stderr).toBe(0)
      return r.stdout + r.stderr
    }
    expect(run(true)).not.toMatch(/EBADENGINE/)
    // The control: without the .npmrc an older Node does warn (so the check above means something).
    if (systemMajor < 22) expect(run(false)).toMatch(/EBADENGINE/)
  })
})
