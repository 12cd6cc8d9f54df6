/**
 * The mesh health report through the daemon (FEATURES I3), real child processes: `GET /v1/health/mesh`,
 * `agora health` (text, `--json`, exit status by `--fail-on`), the `partition` alert raised on the event
 * stream and in the metrics when a daemon crashes and cleared when it is back, and `critical` (exit 1)
 * when the daemon is left alone.
 */
import { execFile, execFileSync } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { CLI, NODE, api, exitOf, metrics, startDaemon, stopAll } from './helpers.js'
import type { Daemon } from './helpers.js'
import { openEvents } from './sse.js'
import { waitUntil } from '../helpers/wait.js'
import { main } from '../../src/cli.js'
import type { CliIo } from '../../src/cli.js'

let root: string | undefined
afterAll(async () => {
  await stopAll()
  if (root !== undefined) await rm(root, { recursive: true, force: true })
})

/** `agora health <args>` against daemon `d` as a child process: its exit code and output. */
async function health (d: Daemon, args: string[] = []): Promise<{ code: number, stdout: string, stderr: string }> {
  return await new Promise((resolve) => {
    execFile(NODE, [CLI, 'health', '--http', d.http, '--token', d.token, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1, stdout, stderr })
    })
  })
}

describe('GET /v1/health/mesh and agora health', () => {
  it('report, CLI exit status, the partition alert raised and cleared (SSE, metrics), critical when alone', async () => {
    root = await mkdtemp(join(tmpdir(), 'agora-health-'))
    const dirs = [0, 1, 2].map(i => join(root!, `d${i}`))
    const ids = dirs.map(dir => execFileSync(NODE, [CLI, 'id', '--data-dir', dir]).toString().trim())
    const config = join(root, 'agora.json')
    await writeFile(config, JSON.stringify({ heartbeatIntervalMs: 500, alerts: { clearAfterMs: 300 } }))
    const args = ['--config', config, '--raft-voters', ids.join(',')]
    const d0 = await startDaemon(dirs[0]!, args)
    const d1 = await startDaemon(dirs[1]!, [...args, '--bootstrap', d0.addresses[0]!])
    let d2 = await startDaemon(dirs[2]!, [...args, '--bootstrap', d0.addresses[0]!])

    const report = async (): Promise<any> => (await api(d0, 'GET', '/v1/health/mesh')).json
    const ok = await waitUntil(async () => { const r = await report(); return r.status === 'ok' && r.peers.reachable === 3 && r.raft?.leader !== null ? r : undefined }, { what: 'an ok report with three reachable daemons and a leader', timeoutMs: 60_000 })
    expect(ok.peerId).toBe(d0.peerId)
    expect(ok.peers).toEqual({ known: 3, reachable: 3, suspected: 0, unreachable: 0, left: 0 })
    expect(ok.raft.quorum).toEqual({ voters: 3, needed: 2, reachable: 3, ok: true })
    expect(ids).toContain(ok.raft.leader)
    expect(ok.hosts.map((h: { peerId: string }) => h.peerId).sort()).toEqual([...ids].sort())
    expect(ok.partitions).toEqual([])
    expect((await api(d0, 'GET', '/v1/openapi.json')).json.paths['/v1/health/mesh']).toBeDefined()

    const text = await health(d0)
    expect(text.code).toBe(0)
    expect(text.stdout).toMatch(/^status: ok \(peer /)
    expect(text.stdout).toMatch(/peers: 3 known, 3 reachable, 0 suspected, 0 unreachable, 0 left/)
    const json = await health(d0, ['--json'])
    expect(json.code).toBe(0)
    expect(JSON.parse(json.stdout)).toMatchObject({ peerId: d0.peerId, status: 'ok' })

    // d2 crashes: d0 suspects it (degraded, quorum kept), raises the partition alert.
    const sse = await openEvents(d0, '?types=alert:*')
    expect(sse.status).toBe(200)
    d2.proc.kill('SIGKILL')
    await exitOf(d2.proc)
    const degraded = await waitUntil(async () => { const r = await report(); return r.status === 'degraded' && r.partitions.length === 1 ? r : undefined }, { what: 'd0 to suspect d2', timeoutMs: 30_000 })
    expect(degraded.partitions[0].peers).toEqual([d2.peerId])
    expect(degraded.reasons.map((c: { name: string }) => c.name)).toEqual(['partition'])
    expect(degraded.raft.quorum.ok).toBe(true)
    const raised = await sse.until(fs => fs.find(f => f.event === 'alert:raised' && f.data?.name === 'partition'), 'alert:raised on the event stream')
    expect(raised.data).toMatchObject({ name: 'partition', severity: 'degraded' })
    // (Each read below waits for its answer: on a loaded machine d1 may look silent a moment, which is critical.)
    await waitUntil(async () => { const m = await metrics(d0); return m.get('agora_alerts{name="partition"}') === 1 && m.get('agora_health_status') === 1 }, 'the partition alert and the degraded status in the metrics')
    const lenient = await waitUntil(async () => { const r = await health(d0); return r.stdout.startsWith('status: degraded') ? r : undefined }, 'agora health to print degraded')
    expect(lenient.code).toBe(0)
    const strict = await waitUntil(async () => { const r = await health(d0, ['--fail-on', 'degraded']); return r.stdout.startsWith('status: degraded') ? r : undefined }, 'agora health --fail-on degraded to print degraded')
    expect(strict.code).toBe(1)
    expect(strict.stdout).toMatch(/suspected partitions:\n {2}\[…/)

    // d2 is back: the alert clears.
    d2 = await startDaemon(dirs[2]!, [...args, '--bootstrap', d0.addresses[0]!])
    await sse.until(fs => fs.find(f => f.event === 'alert:cleared' && f.data?.name === 'partition'), 'alert:cleared on the event stream', 60_000)
    await waitUntil(async () => (await report()).status === 'ok', { what: 'd0 to report ok again', timeoutMs: 30_000 })
    const after = await metrics(d0)
    expect(after.get('agora_alerts{name="partition"}')).toBe(0)
    expect(after.get('agora_health_views_total{result="received"}')).toBeGreaterThan(0)
    expect(after.get('agora_health_views_total{result="rejected"}')).toBe(0)
    sse.close()

    // Alone: isolated and no quorum, critical; agora health exits 1.
    for (const d of [d1, d2]) d.proc.kill('SIGKILL')
    await Promise.all([exitOf(d1.proc), exitOf(d2.proc)])
    const critical = await waitUntil(async () => { const r = await report(); return r.status === 'critical' ? r : undefined }, { what: 'd0 to be critical', timeoutMs: 30_000 })
    expect(critical.reasons.map((c: { name: string }) => c.name)).toEqual(expect.arrayContaining(['no-quorum', 'isolated', 'partition']))
    const alone = await health(d0)
    expect(alone.code).toBe(1)
    expect(alone.stdout).toMatch(/^status: critical/)
    expect(alone.stdout).toMatch(/!! no-quorum: 1 of 3 Raft voters reachable from here, 2 needed/)
  }, 180_000)

  it('usage errors are named (exit 2) before any daemon is looked for', async () => {
    let err = ''
    const io: CliIo = { stdout: () => {}, stderr: t => { err += t }, readFile: () => '' }
    expect(await main(['health', '--fail-on', 'never'], io)).toBe(2)
    expect(err).toMatch(/--fail-on is critical or degraded/)
    expect(await main(['health', 'extra'], io)).toBe(2)
    expect(err).toMatch(/unexpected argument extra/)
  })
})
