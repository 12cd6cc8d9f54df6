// GPU time auction across three agora daemons. Agents hosted by two different daemons bid for an hour
// of GPU time through HTTP bid callbacks served by this script; a third agent bids by long-polling.
// Everything after starting the daemons is plain fetch() against their HTTP API.
//
//   npx tsc -p tsconfig.json            # or: npm run build
//   node_modules/.bin/node examples/gpu-auction/run.mjs [--keep]
//
// --keep leaves the daemons running (their HTTP addresses and token files are printed) for curl.
import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const CLI = fileURLToPath(new URL('../../dist/src/cli.js', import.meta.url))
const keep = process.argv.includes('--keep')
const root = mkdtempSync(join(tmpdir(), 'agora-gpu-auction-'))
const STEP_TIMEOUT_MS = 30_000

function startDaemon (dir, args) {
  const proc = spawn(process.execPath, [CLI, 'start', '--data-dir', dir, '--http', '127.0.0.1:0', '--log-level', 'warn', ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    detached: keep,
    // With --keep the daemons outlive this script (which npm may have started: they would follow it out).
    env: keep ? { ...process.env, AGORA_EXIT_WITH_PARENT: '0' } : process.env
  })
  return new Promise((resolve, reject) => {
    let buf = ''
    const timer = setTimeout(() => reject(new Error(`daemon in ${dir} did not start`)), STEP_TIMEOUT_MS)
    proc.stdout.on('data', (d) => {
      buf += d.toString()
      const nl = buf.indexOf('\n')
      if (nl < 0) return
      clearTimeout(timer)
      const info = JSON.parse(buf.slice(0, nl))
      resolve({ proc, http: info.http, peerId: info.peerId, addresses: info.addresses, tokenFile: info.tokenFile, token: readFileSync(info.tokenFile, 'utf8').trim() })
    })
    proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`daemon in ${dir} exited with ${code}`)) })
  }).catch((err) => { proc.kill('SIGKILL'); throw err })
}

/** One API call; throws the API's error code on a 4xx/5xx. */
async function api (d, method, path, body) {
  const res = await fetch(`http://${d.http}${path}`, {
    method,
    headers: { authorization: `Bearer ${d.token}`, 'content-type': 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {})
  })
  const json = await res.json()
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${json.error?.code}: ${json.error?.message}`)
  return json
}

async function until (what, fn) {
  const deadline = Date.now() + STEP_TIMEOUT_MS
  for (;;) {
    if (await fn().catch(() => false)) return
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

// ---- three daemons, all Raft voters (so all may act as the treasury) ----
const daemons = []
// A failure or a signal takes the daemons down with this script (unless --keep).
const abort = (why) => {
  console.error(`gpu-auction: ${why}`)
  for (const d of daemons) d.proc.kill('SIGKILL')
  rmSync(root, { recursive: true, force: true })
  process.exit(1)
}
process.on('unhandledRejection', (err) => abort(err?.stack ?? String(err)))
process.on('uncaughtException', (err) => abort(err?.stack ?? String(err)))
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => abort(sig))
const dirs = [0, 1, 2].map(i => join(root, `d${i}`))
const ids = dirs.map(dir => execFileSync(process.execPath, [CLI, 'id', '--data-dir', dir]).toString().trim())
const voters = ['--raft-voters', ids.join(',')]
const d0 = await startDaemon(dirs[0], voters)
daemons.push(d0)
const d1 = await startDaemon(dirs[1], [...voters, '--bootstrap', d0.addresses[0]])
daemons.push(d1)
const d2 = await startDaemon(dirs[2], [...voters, '--bootstrap', d0.addresses[0]])
daemons.push(d2)
console.log('daemons:', daemons.map(d => `${d.http} (${d.peerId.slice(-8)})`).join(', '))
await until('a Raft leader', async () => (await fetch(`http://${d0.http}/ready`, { headers: { authorization: `Bearer ${d0.token}` } })).ok)

// ---- the bidders' callback server: each agent values an hour of GPU time differently ----
const valuations = { 'trainer-a': 40, 'trainer-b': 55 }
const callbacks = createServer((req, res) => {
  let body = ''
  req.on('data', (c) => { body += c })
  req.on('end', () => {
    const request = JSON.parse(body)
    const value = valuations[request.agent]
    console.log(`  callback: ${request.agent} asked to bid in ${request.auction} (${request.spec.mechanism}, reserve ${request.spec.reserve}) -> ${value ?? 'abstain'}`)
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ bid: value === undefined ? null : { amount: value } }))
  })
})
await new Promise(resolve => callbacks.listen(0, '127.0.0.1', resolve))
const callbackBase = `http://127.0.0.1:${callbacks.address().port}/bid`

// ---- accounts (minted by the treasury, owned by each agent's daemon) and agents ----
await api(d0, 'POST', '/v1/ledger/mint', { account: 'gpu-provider', amount: 1, owner: d0.peerId })
const agents = [['trainer-a', d1, 'callback'], ['trainer-b', d2, 'callback'], ['render-c', d2, 'poll']]
for (const [id, host, mode] of agents) {
  await api(d0, 'POST', '/v1/ledger/mint', { account: id, amount: 100, owner: host.peerId })
  await api(host, 'POST', '/v1/agents', { id, capabilities: ['gpu-buyer'] })
  await api(host, 'POST', `/v1/agents/${id}/bidder`, mode === 'callback' ? { callback: `${callbackBase}/${id}` } : { timeoutMs: 30_000 })
}
await until('the seller\'s daemon sees the bidders', async () => (await api(d0, 'GET', '/v1/agents?capability=gpu-buyer')).agents.length === agents.length)

// render-c long-polls its daemon and bids 48.
const poller = (async () => {
  const deadline = Date.now() + STEP_TIMEOUT_MS
  while (Date.now() < deadline) {
    const { requests } = await api(d2, 'GET', '/v1/bid-requests?agent=render-c&waitMs=2000')
    for (const r of requests) {
      console.log(`  long-poll: render-c asked to bid in ${r.auction} -> 48`)
      await api(d2, 'POST', `/v1/bid-requests/${r.requestId}`, { bid: { amount: 48 } })
      return
    }
  }
})()

// ---- the auction: a Vickrey auction for one GPU hour, run by the provider's daemon ----
console.log('running auction gpu-hour-1 on', d0.http)
const report = await api(d0, 'POST', '/v1/auctions', {
  id: 'gpu-hour-1', mechanism: 'vickrey', item: 'gpu-hour', reserve: 10, durationMs: 60_000,
  seller: 'gpu-provider', bidders: { capability: 'gpu-buyer' }, requestTimeoutMs: 30_000, run: true
})
await poller
console.log('responses:', report.responses)
const [winner] = report.auction.outcome?.winners ?? []
console.log(`status ${report.auction.status}: winner ${winner?.agent ?? 'none'} pays ${winner?.price ?? '-'} (second price)`)

// Balances, read through a daemon that neither ran the auction nor hosts the winner.
for (const account of ['gpu-provider', 'trainer-a', 'trainer-b', 'render-c']) {
  const { account: a } = await api(d1, 'GET', `/v1/ledger/accounts/${account}`)
  console.log(`  ${account.padEnd(12)} free ${String(a.free).padStart(4)}  escrow ${a.escrow}`)
}

callbacks.close()
if (keep) {
  console.log('daemons left running; token files:', daemons.map(d => d.tokenFile).join(' '))
  for (const d of daemons) d.proc.unref()
  process.exit(0)
}
for (const d of daemons) d.proc.kill('SIGTERM')
await Promise.all(daemons.map(d => new Promise(resolve => d.proc.exitCode !== null ? resolve() : d.proc.once('exit', resolve))))
rmSync(root, { recursive: true, force: true })
if (winner?.agent !== 'trainer-b' || winner.price !== 48) { console.error('unexpected outcome', JSON.stringify({ responses: report.responses, status: report.auction.status, winners: report.auction.outcome?.winners ?? [] })); process.exit(1) }
process.exit(0)
