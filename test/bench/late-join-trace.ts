/**
 * Where a late joiner's time goes, stage by stage: `node --expose-gc dist/test/bench/late-join-trace.js`
 * after `npm run build` (not a `*.bench.ts`: `npm run bench` does not run it; mesh.bench.ts measures the
 * totals). An owner registers `TRACE_AGENTS` agents (default 100,000) and compacts; then each of
 * `TRACE_ROUNDS` joiners (default 3) starts on a collected heap, dials it over TCP and syncs. Printed per
 * round, ms from the joiner's creation: peer created, node started, connection open, identify done,
 * owner's answer computed (missingFor), first sync frame received, last frame, the registry checkpoint's
 * apply (start, done), synced (`whenSynced` returned), the index settled (no deferred entry left); then the
 * medians; `cpu` is this process's CPU time until synced. With `TRACE_PROFILE=dir`, each join is CPU-profiled
 * (node:inspector, the joining process) into `dir/join-<round>.cpuprofile`. With `TRACE_OWNER_PROCESS=1`
 * the owner runs in a process of its own (late-owner.ts; its answer is not stamped), else in this one.
 */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { loadavg } from 'node:os'
import { Session } from 'node:inspector/promises'
import { spawn } from 'node:child_process'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createPeer } from '../../peers/peer.js'
import { lateJoinerAgents } from './late-owner.js'

const AGENTS = Number(process.env.TRACE_AGENTS ?? 100_000)
const ROUNDS = Number(process.env.TRACE_ROUNDS ?? 3)
const PROFILE = process.env.TRACE_PROFILE

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)] ?? NaN }
const gc = (): void => { (globalThis as { gc?: () => void }).gc?.() }

let stamp: (name: string) => void = () => {}
let address: string
let stopOwner: () => Promise<void>
if (process.env.TRACE_OWNER_PROCESS === '1') {
  const child = spawn(process.execPath, [join(dirname(fileURLToPath(import.meta.url)), 'late-owner.js')], { env: { ...process.env, LATE_OWNER_AGENTS: String(AGENTS) }, stdio: ['pipe', 'pipe', 'inherit'] })
  address = await new Promise<string>((resolve) => {
    let out = ''
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); const nl = out.indexOf('\n'); if (nl >= 0) resolve((JSON.parse(out.slice(0, nl)) as { address: string }).address) })
  })
  stopOwner = async () => { child.stdin.end() }
} else {
  const owner = await createPeer({ logLevel: 'silent', dht: false, limits: { agentsPerHostMax: AGENTS + 10 } })
  await owner.registry.registerMany(lateJoinerAgents(AGENTS))
  owner.replica.compact('reg')
  const ownerMissingFor = owner.replica.missingFor.bind(owner.replica)
  owner.replica.missingFor = (d, max) => { const r = ownerMissingFor(d, max); stamp('answer computed'); return r }
  address = owner.addresses()[0]!
  stopOwner = async () => { await owner.stop() }
}

const rows: Array<Map<string, number>> = []
const session = new Session()
if (PROFILE !== undefined) { session.connect(); await session.post('Profiler.enable'); await session.post('Profiler.setSamplingInterval', { interval: 200 }) }
for (let round = 0; round < ROUNDS; round++) {
  gc()
  const at = new Map<string, number>()
  stamp = (name) => { if (!at.has(name)) at.set(name, performance.now() - t0) }
  const c0 = process.cpuUsage()
  if (PROFILE !== undefined) await session.post('Profiler.start')
  const t0 = performance.now()
  const joiner = await createPeer({ logLevel: 'silent', dht: false, bootstrap: [address], limits: { agentsPerHostMax: AGENTS + 10 }, start: false })
  stamp('peer created')
  joiner.libp2p.addEventListener('connection:open', () => { stamp('connection open') })
  joiner.libp2p.addEventListener('peer:identify', () => { stamp('identify done') })
  const st = joiner.sync.antiEntropy.stats
  let received = st.syncBytesReceived
  Object.defineProperty(st, 'syncBytesReceived', {
    get: () => received,
    set: (v: number) => { if (received === 0) stamp('first frame'); received = v; stamp('_last'); at.set('last frame', performance.now() - t0) },
    configurable: true
  })
  const apply = joiner.replica.apply.bind(joiner.replica)
  // The registry's checkpoint (the one large blob): its apply, from decode to the index.
  joiner.replica.apply = (b, a) => {
    if (b.length < 1024 * 1024) return apply(b, a)
    stamp('checkpoint apply start')
    const r = apply(b, a)
    stamp('checkpoint applied')
    return r
  }
  await joiner.start()
  stamp('node started')
  await joiner.whenSynced({ timeoutMs: 60_000 })
  stamp('synced')
  const cpu = process.cpuUsage(c0)
  while (joiner.registry.index.settleSome(0) > 0) await new Promise<void>(resolve => setImmediate(resolve))
  stamp('index settled')
  if (PROFILE !== undefined) {
    const { profile } = await session.post('Profiler.stop')
    await writeFile(join(PROFILE, `join-${round}.cpuprofile`), JSON.stringify(profile))
  }
  at.set('cpu', (cpu.user + cpu.system) / 1000)
  at.delete('_last')
  if (joiner.registry.size !== AGENTS) throw new Error(`joiner has ${joiner.registry.size} of ${AGENTS}`)
  await joiner.stop()
  rows.push(at)
  process.stdout.write(`round ${round + 1} (load ${loadavg()[0]!.toFixed(1)}): ${[...at].sort((a, b) => a[1] - b[1]).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')}\n`)
}
const names = [...new Set(rows.flatMap(r => [...r.keys()]))]
process.stdout.write(`medians: ${names.map(n => [n, median(rows.map(r => r.get(n) ?? NaN))] as const).sort((a, b) => a[1] - b[1]).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')}\n`)
await stopOwner()
