/**
 * The HTTP API against hostile or careless use (issue "Hardening against hostile peers and inputs"):
 * no plain HTTP beyond loopback unless accepted, TLS, the token from a file or the environment, a cap
 * on open connections and a deadline for slow requests. Real daemons as child processes.
 */
import { spawn, execFileSync } from 'node:child_process'
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect, type Socket } from 'node:net'
import { request as httpsRequest } from 'node:https'
import { afterAll, describe, expect, it } from 'vitest'
import { CLI, NODE, exitOf, startDaemon, stopAll } from './helpers.js'
import { waitUntil } from '../helpers/wait.js'

afterAll(async () => { await stopAll() })
const tmp = (): string => mkdtempSync(join(tmpdir(), 'agora-http-'))

/** Runs `agora start` expecting it to refuse: its exit code and stderr. */
async function refused (args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null, stderr: string }> {
  const p = spawn(NODE, [CLI, 'start', '--log-level', 'warn', ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } })
  let stderr = ''
  p.stderr!.on('data', (d: Buffer) => { stderr += d.toString() })
  const { code } = await exitOf(p)
  return { code, stderr }
}

describe('the HTTP API beyond loopback', () => {
  it('plain HTTP on a non-loopback address is refused (exit 2 naming --http) unless accepted, then warned about', async () => {
    const r = await refused(['--data-dir', tmp(), '--http', '0.0.0.0:0'])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('--http')
    expect(r.stderr).not.toMatch(/\n\s+at /)
    const d = await startDaemon(tmp(), ['--http', '0.0.0.0:0', '--http-insecure'])
    expect(d.stderr.join('')).toMatch(/WITHOUT TLS BEYOND LOOPBACK/)
    const port = d.http.slice(d.http.lastIndexOf(':') + 1)
    expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200)
  })

  it('serves TLS with a certificate and key; a missing file is exit 2 naming its flag', async () => {
    const dir = tmp()
    const cert = join(dir, 'cert.pem')
    const key = join(dir, 'key.pem')
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' })
    const missing = await refused(['--data-dir', tmp(), '--http', '0.0.0.0:0', '--http-tls-cert', join(dir, 'nope.pem'), '--http-tls-key', key])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain('--http-tls-cert')
    const d = await startDaemon(join(dir, 'data'), ['--http', '0.0.0.0:0', '--http-tls-cert', cert, '--http-tls-key', key])
    const port = Number(d.http.slice(d.http.lastIndexOf(':') + 1))
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpsRequest({ host: '127.0.0.1', port, path: '/v1/status', ca: readFileSync(cert), headers: { authorization: `Bearer ${d.token}` } }, (res) => { res.resume(); resolve(res.statusCode ?? 0) })
      req.on('error', reject)
      req.end()
    })
    expect(status).toBe(200)
    // Plain HTTP to the TLS port gets no answer of the API.
    await expect(fetch(`http://127.0.0.1:${port}/health`)).rejects.toThrow()
  })
})

describe('the token', () => {
  it('is read from --token-file or AGORA_TOKEN instead of argv; a short one is refused naming its source', async () => {
    const dir = tmp()
    const file = join(dir, 'token')
    writeFileSync(file, 'file-token-0123456789abcdef\nignored second line\n', { mode: 0o600 })
    const a = await startDaemon(join(dir, 'a'), ['--token-file', file])
    expect((await fetch(`http://${a.http}/v1/status`, { headers: { authorization: 'Bearer ignored second line' } })).status).toBe(401)
    expect((await fetch(`http://${a.http}/v1/status`, { headers: { authorization: 'Bearer file-token-0123456789abcdef' } })).status).toBe(200)
    writeFileSync(file, 'short\n')
    const short = await refused(['--data-dir', tmp(), '--http', '127.0.0.1:0', '--token-file', file])
    expect(short.code).toBe(2)
    expect(short.stderr).toContain('--token-file')
    const env = await refused(['--http', '127.0.0.1:0'], { AGORA_TOKEN: 'tiny' })
    expect(env.code).toBe(2)
    expect(env.stderr).toContain('AGORA_TOKEN')
  })
})

describe('connection and request limits', () => {
  it('connections beyond httpConnectionsMax are refused and a slow request is cut off after httpRequestTimeoutMs', async () => {
    const dir = tmp()
    const config = join(dir, 'agora.yaml')
    writeFileSync(config, 'httpConnectionsMax: 4\nhttpRequestTimeoutMs: 800\n')
    const d = await startDaemon(join(dir, 'data'), ['--config', config])
    const port = Number(d.http.slice(d.http.lastIndexOf(':') + 1))
    // Sockets read what they get (the server's 408), so a close by the server is seen.
    const open = async (): Promise<Socket> => await new Promise((resolve, reject) => { const s = connect(port, '127.0.0.1', () => resolve(s)); s.on('error', reject); s.resume() })
    const closed = (s: Socket): Promise<void> => new Promise(resolve => { if (s.destroyed) resolve(); else s.once('close', () => resolve()) })
    // A slow body: headers promise 100 bytes, 10 arrive, then nothing.
    const slow = await open()
    slow.write(`POST /v1/agents HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${d.token}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"id":"ab"`)
    let answer = ''
    slow.on('data', (x: Buffer) => { answer += x.toString() })
    await closed(slow)
    expect(answer).toMatch(/^HTTP\/1.1 408/)
    // Four idle connections fill the cap; the fifth is closed at once.
    const held = [await open(), await open(), await open(), await open()]
    const extra = await open()
    await closed(extra)
    expect(extra.destroyed).toBe(true)
    for (const s of held) s.destroy()
    await Promise.all(held.map(closed))
    // Below the cap again: served.
    await waitUntil(async () => (await fetch(`http://${d.http}/health`).then(r => r.status, () => 0)) === 200, 'the API to serve again below the cap')
  })
})
