/**
 * Heal reports through the daemon (FEATURES I5): three daemons (child processes, Raft voters, 500 ms
 * heartbeats); one is paused (SIGSTOP) long enough for the others to lose it while one of them writes an
 * eventual variable, then resumed. `GET /v1/health/heals` shows the report, the SSE stream carries
 * `heal:reported`, `agora_heals_total` counts it, `agora heals` prints it; bad query parameters are 400.
 */
import { spawn } from 'node:child_process'
import { execFileSync } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CLI, NODE, api, exitOf, metrics, startDaemon, stopAll } from './helpers.js'
import type { Daemon } from './helpers.js'
import { openEvents } from './sse.js'
import type { SseStream } from './sse.js'
import { waitUntil } from '../helpers/wait.js'

let root: string
let d: Daemon[]
let events: SseStream

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'agora-heals-'))
  const config = join(root, 'agora.json')
  // Leases of 1.5 s (3 heartbeats): a loaded machine's stalls do not expire them, the pause does.
  await writeFile(config, JSON.stringify({ heartbeatIntervalMs: 500 }))
  const dirs = [0, 1, 2].map(i => join(root, `d${i}`))
  const ids = dirs.map(dir => execFileSync(NODE, [CLI, 'id', '--data-dir', dir]).toString().trim())
  const common = ['--config', config, '--raft-voters', ids.join(',')]
  const d0 = await startDaemon(dirs[0]!, common)
  d = [d0, await startDaemon(dirs[1]!, [...common, '--bootstrap', d0.addresses[0]!]), await startDaemon(dirs[2]!, [...common, '--bootstrap', d0.addresses[0]!])]
  for (const x of d) await waitUntil(async () => (await api(x, 'GET', '/ready')).status === 200, 'the daemons to be ready')
  await waitUntil(async () => (await api(d0, 'GET', '/v1/members')).json.members.filter((m: { reachability: string }) => m.reachability === 'reachable').length === 3, 'd0 to reach all three')
  events = await openEvents(d0, '?types=heal:reported')
}, 90_000)

afterAll(async () => {
  events?.close()
  await stopAll()
  await rm(root, { recursive: true, force: true })
})

async function cli (x: Daemon, args: string[]): Promise<{ code: number | null, stdout: string }> {
  const p = spawn(NODE, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, AGORA_HTTP: x.http, AGORA_TOKEN: x.token } })
  let stdout = ''
  p.stdout.on('data', (b: Buffer) => { stdout += b.toString() })
  const { code } = await exitOf(p)
  return { code, stdout }
}

describe('GET /v1/health/heals', () => {
  it('is empty before any partition, and refuses bad parameters', async () => {
    expect(await api(d[0]!, 'GET', '/v1/health/heals')).toEqual({ status: 200, json: { open: false, heals: [] } })
    expect(await api(d[0]!, 'GET', '/v1/health/heals?limit=0')).toMatchObject({ status: 400, json: { error: { code: 'ERR_BAD_REQUEST', path: 'limit' } } })
    expect(await api(d[0]!, 'GET', '/v1/health/heals?since=x')).toMatchObject({ status: 400, json: { error: { code: 'ERR_BAD_REQUEST', path: 'since' } } })
    const paths = Object.keys((await api(d[0]!, 'GET', '/v1/openapi.json')).json.paths)
    expect(paths).toContain('/v1/health/heals')
  })

  it('reports a paused daemon\'s absence once it is back: the sides, the write made meanwhile; SSE, metrics and the CLI show it', async () => {
    const [d0, d1, d2] = d as [Daemon, Daemon, Daemon]
    d2.proc.kill('SIGSTOP')
    try {
      await waitUntil(async () => (await api(d0, 'GET', '/v1/health/heals')).json.open === true, { what: 'd0 to lose d2', timeoutMs: 30_000 })
      expect((await api(d0, 'PUT', '/v1/variables/eventual/color', { value: 'blue', merge: 'lww' })).status).toBe(200)
    } finally {
      d2.proc.kill('SIGCONT')
    }
    const heals = await waitUntil(async () => { const r = await api(d0, 'GET', '/v1/health/heals'); return r.json.heals.length > 0 ? r.json.heals : undefined }, { what: 'd0 to report the heal', timeoutMs: 60_000 })
    const [r] = heals
    expect(r).toMatchObject({
      seq: 1,
      peer: d0.peerId,
      sides: { this: { hosts: [d0.peerId, d1.peerId].sort(), count: 2, truncated: false }, other: { hosts: [d2.peerId], count: 1, truncated: false } },
      caughtUp: true,
      agents: { entries: [], truncated: 0 },
      strongWrites: { entries: [], truncated: 0 }
    })
    expect(r.variables.entries).toEqual([{
      name: 'color', merge: 'lww', kind: 'one-sided', writes: [{ host: d0.peerId, side: 'this', value: 'blue', time: expect.any(Array) }],
      writesTruncated: false, value: 'blue', winner: { host: d0.peerId, side: 'this', duringEpisode: true }
    }])
    expect((await api(d0, 'GET', '/v1/health/heals?since=1')).json.heals).toEqual([])

    const frame = await events.until(fs => fs.find(f => f.event === 'heal:reported'), 'the heal:reported event')
    expect(frame.data).toMatchObject({ seq: 1, peer: d0.peerId })
    expect((await metrics(d0)).get('agora_heals_total{outcome="reported"}')).toBe(1)
    expect((await metrics(d0)).get('agora_partition_open')).toBe(0)

    const text = await cli(d0, ['heals'])
    expect(text.code).toBe(0)
    expect(text.stdout).toMatch(/^no partition now; 1 report\(s\)\n/)
    expect(text.stdout).toContain('one-sided color [lww] = "blue"')
    const json = await cli(d0, ['heals', '--output', 'json', '--limit', '1'])
    expect(json.code).toBe(0)
    expect(JSON.parse(json.stdout)).toEqual({ open: false, heals })
    expect((await cli(d0, ['heals', '--limit', '99'])).code).toBe(2)
  })
})
