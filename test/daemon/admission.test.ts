/**
 * Admission through the daemon (child processes of the built CLI, real TCP): `agora pnet-key` writes a
 * key file, daemons given it with the config key `pnetKeyFile` connect and sync while a daemon without it
 * cannot join; `--allowlist` admits the listed daemon and refuses an unlisted one. The refused daemon's
 * own view is the proof it tried: after `warnAfterMs` with no peer it reports WARN_NO_PEERS.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { chmod, copyFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CLI, NODE, api, startDaemon, stopAll } from './helpers.js'
import type { Daemon } from './helpers.js'
import { waitUntil } from '../helpers/wait.js'

let root: string
beforeAll(async () => { root = await mkdtemp(join(tmpdir(), 'agora-admission-')) })
afterAll(async () => {
  await stopAll()
  await rm(root, { recursive: true, force: true })
})

interface Status { peerId: string, members: string[], warnings: Array<{ code: string }> }
const status = async (d: Daemon): Promise<Status> => (await api(d, 'GET', '/v1/status')).json as Status
const agentIds = async (d: Daemon): Promise<string[]> => ((await api(d, 'GET', '/v1/agents?capability=mark')).json as { agents: Array<{ id: string }> }).agents.map(a => a.id).sort()

async function register (d: Daemon, id: string): Promise<void> {
  expect((await api(d, 'POST', '/v1/agents', { id, capabilities: ['mark'] })).status).toBe(201)
}

/** The outsider tried and is alone: WARN_NO_PEERS on its side, and the insider never counted it as a member. */
async function expectShutOut (outsider: Daemon, insiders: Daemon[], insiderAgents: string[], outsiderAgent: string): Promise<void> {
  await waitUntil(async () => (await status(outsider)).warnings.some(w => w.code === 'WARN_NO_PEERS'), { what: 'the outsider to report WARN_NO_PEERS', timeoutMs: 20_000 })
  expect((await status(outsider)).members).toEqual([])
  expect(await agentIds(outsider)).toEqual([outsiderAgent])
  for (const d of insiders) {
    expect((await status(d)).members).not.toContain(outsider.peerId)
    expect(await agentIds(d)).toEqual(insiderAgents)
  }
}

async function config (name: string, body: string): Promise<string> {
  const file = join(root, name)
  await writeFile(file, body)
  return file
}

describe('agora pnet-key', () => {
  it('writes a key file with mode 0600, prints its fingerprint, and overwrites only with --force', async () => {
    const file = join(root, 'gen.key')
    const first = JSON.parse(execFileSync(NODE, [CLI, 'pnet-key', file]).toString()) as { file: string, fingerprint: string }
    expect(first.file).toBe(file)
    expect(first.fingerprint).toMatch(/^[0-9a-f]{16}$/)
    expect((await stat(file)).mode & 0o777).toBe(0o600)
    const text = await readFile(file, 'utf8')
    expect(text).toMatch(/^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}\n$/)
    const again = spawnSync(NODE, [CLI, 'pnet-key', file])
    expect(again.status).toBe(2)
    expect(again.stderr.toString()).toMatch(/exists/)
    expect(await readFile(file, 'utf8')).toBe(text)
    const forced = JSON.parse(execFileSync(NODE, [CLI, 'pnet-key', file, '--force']).toString()) as { fingerprint: string }
    expect(forced.fingerprint).not.toBe(first.fingerprint)
    expect(await readFile(file, 'utf8')).not.toBe(text)
  })
})

describe('agora start with a private network (config key pnetKeyFile)', () => {
  it('daemons with the key connect and sync; a daemon without it cannot join', async () => {
    const keyFile = join(root, 'swarm.key')
    const { fingerprint } = JSON.parse(execFileSync(NODE, [CLI, 'pnet-key', keyFile]).toString()) as { fingerprint: string }
    // The second daemon reads a world-readable copy: it runs, and warns.
    const looseKey = join(root, 'loose.key')
    await copyFile(keyFile, looseKey)
    await chmod(looseKey, 0o644)
    const keyed = await config('keyed.yaml', `pnetKeyFile: ${keyFile}\nwarnAfterMs: 500\n`)
    const d0 = await startDaemon(join(root, 'p0'), ['--config', keyed, '--log-level', 'info'])
    const d1 = await startDaemon(join(root, 'p1'), ['--config', await config('loose.yaml', `pnetKeyFile: ${looseKey}\n`), '--bootstrap', d0.addresses[0]!])
    const outsider = await startDaemon(join(root, 'p2'), ['--config', await config('open.yaml', 'warnAfterMs: 500\n'), '--bootstrap', d0.addresses[0]!])
    await Promise.all([register(d0, 'k0'), register(d1, 'k1'), register(outsider, 'open')])

    await waitUntil(async () => JSON.stringify(await agentIds(d0)) === '["k0","k1"]' && JSON.stringify(await agentIds(d1)) === '["k0","k1"]', { what: 'the keyed daemons to hold each other\'s agents', timeoutMs: 30_000 })
    expect((await status(d0)).members).toEqual([d1.peerId])
    await expectShutOut(outsider, [d0, d1], ['k0', 'k1'], 'open')
    // The operator can compare fingerprints (never the key) across daemons, and is told about a loose key file.
    const listening = d0.stderr.join('').split('\n').find(l => l.includes('"msg":"listening"'))
    expect(listening).toContain(`"privateNetwork":"${fingerprint}"`)
    expect(d0.stderr.join('')).not.toContain((await readFile(keyFile, 'utf8')).trim().slice(-64))
    expect(d1.stderr.join('')).toMatch(/swarm key file is readable by other users/)
    expect(d0.stderr.join('')).not.toMatch(/readable by other users/)
  })
})

describe('agora start --allowlist', () => {
  it('the listed daemon connects and syncs; an unlisted daemon cannot join', async () => {
    const listedDir = join(root, 'a1')
    const listed = execFileSync(NODE, [CLI, 'id', '--data-dir', listedDir]).toString().trim()
    const d0 = await startDaemon(join(root, 'a0'), ['--allowlist', listed])
    const d1 = await startDaemon(listedDir, ['--bootstrap', d0.addresses[0]!])
    const outsider = await startDaemon(join(root, 'a2'), ['--config', await config('open2.yaml', 'warnAfterMs: 500\n'), '--bootstrap', d0.addresses[0]!])
    await Promise.all([register(d0, 'l0'), register(d1, 'l1'), register(outsider, 'open')])

    await waitUntil(async () => JSON.stringify(await agentIds(d0)) === '["l0","l1"]' && JSON.stringify(await agentIds(d1)) === '["l0","l1"]', { what: 'the listed daemons to hold each other\'s agents', timeoutMs: 30_000 })
    expect((await status(d0)).members).toEqual([d1.peerId])
    await expectShutOut(outsider, [d0, d1], ['l0', 'l1'], 'open')
  })
})
