/**
 * `npx agora start`, as the README runs it, stopped the way Docker stops a container: SIGTERM to the npx
 * process only. npm does not pass the signal on to the daemon; the daemon must notice that the process
 * that started it went away and leave cleanly, not stay behind holding its ports.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { readFileSync, readdirSync } from 'node:fs'
import { afterAll, describe, expect, it } from 'vitest'
import { waitUntil } from '../helpers/wait.js'

let npx: ChildProcess | undefined
let daemonPid: number | undefined

/** True while `pid` runs (a zombie waiting for its new parent to reap it has exited). */
function alive (pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z'
  } catch {
    return false
  }
}

/** Live processes of process group `pgid`. */
function group (pgid: number): number[] {
  const out: number[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      if (Number(fields[2]) === pgid && fields[0] !== 'Z') out.push(Number(name))
    } catch {}
  }
  return out
}

afterAll(() => {
  // Whatever this test started and is still there: the npx process group and the daemon.
  try { if (npx?.pid !== undefined) process.kill(-npx.pid, 'SIGKILL') } catch {}
  try { if (daemonPid !== undefined && alive(daemonPid)) process.kill(daemonPid, 'SIGKILL') } catch {}
})

describe('npx agora start', () => {
  it('SIGTERM to npx alone: the daemon notices its parent went away, shuts down gracefully and leaves no process behind', async () => {
    // stderr is a pipe: the logs are JSON lines.
    npx = spawn('npx', ['agora', 'start', '--http', '127.0.0.1:0', '--log-level', 'info'], {
      cwd: process.cwd(),
      detached: true, // its own process group, as a container's init would be
      stdio: ['ignore', 'pipe', 'pipe']
    })
    let stderr = ''
    npx.stderr!.on('data', (d: Buffer) => { stderr += d.toString() })
    let stdout = ''
    npx.stdout!.on('data', (d: Buffer) => { stdout += d.toString() })
    const started = await waitUntil(() => {
      if (npx!.exitCode !== null) throw new Error(`npx exited with ${npx!.exitCode}: ${stderr}`)
      const line = stdout.split('\n').find(l => l.startsWith('{"event":"started"'))
      return line !== undefined ? JSON.parse(line) as { pid: number, http: string } : undefined
    }, { what: 'the daemon started through npx', timeoutMs: 60_000 })
    // npm, the shell it runs the bin with, and the daemon.
    const launched = group(npx.pid!)
    expect(launched.length).toBeGreaterThanOrEqual(2)
    daemonPid = started.pid ?? launched.at(-1)

    process.kill(npx.pid!, 'SIGTERM')
    await waitUntil(() => npx!.exitCode !== null || npx!.signalCode !== null, 'npx to exit')
    await waitUntil(() => group(npx!.pid!).length === 0, { what: 'every process npx started to exit', timeoutMs: 15_000 })
    expect(launched).toContain(started.pid)
    expect(alive(started.pid)).toBe(false)
    const events = stderr.split('\n').filter(l => l.startsWith('{')).map(l => JSON.parse(l) as { msg: string, reason?: string })
    expect(events.find(e => e.msg === 'shutting down')?.reason).toBe('parent process exited')
    expect(events.map(e => e.msg)).toEqual(expect.arrayContaining(['HTTP API closed', 'peer stopped: left the mesh, storage flushed', 'stopped']))
    // Its HTTP port is free again.
    await expect(fetch(`http://${started.http}/health`)).rejects.toThrow()
  })
})
