/**
 * Where a late joiner's time goes, stage by stage: `node --expose-gc dist/test/bench/late-join-trace.js`
 * after `npm run build` (not a `*.bench.ts`: `npm run bench` does not run it; mesh.bench.ts measures the
 * totals). An owner registers `TRACE_AGENTS` agents (default 100,000) and compacts; then each of
 * `TRACE_ROUNDS` joiners (default 3) starts on a collected heap, dials it over TCP and syncs. Printed per
 * round, ms from the joiner's creation: peer created, node started, connection open, identify done,
 * owner's answer computed (missingFor), first sync byte received, last byte (blob complete), apply done,
 * synced (`whenSynced` returned); then the medians. With `TRACE_PROFILE=dir`, each join is CPU-profiled
 * (node:inspector, the joining process: both peers share it) into `dir/join-<round>.cpuprofile`.
 */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { loadavg } from 'node:os'
import { Session } from 'node:inspector/promises'
import { createPeer } from '../../peers/peer.js'

const AGENTS = Number(process.env.TRACE_AGENTS ?? 100_000)
const ROUNDS = Number(process.env.TRACE_ROUNDS ?? 3)
const PROFILE = process.env.TRACE_PROFILE

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)] ?? NaN }
const gc = (): void => { (globalThis as { gc?: () => void }).gc?.() }

const owner = await createPeer({ logLevel: 'silent', dht: false, limits: { agentsPerHostMax: AGENTS + 10 } })
const batch = []
for (let i = 0; i < AGENTS; i++) {
  batch.push({ id: `agent-${i}`, capabilities: [`cap-${i % 1000}`, 'any'], zone: `z${i % 10}`, resources: { cpu: i % 16, mem: 1024 }, metadata: { n: i } })
}
await owner.registry.registerMany(batch)
owner.replica.compact('reg')

let stamp: (name: string) => void = () => {}
const ownerMissingFor = owner.replica.missingFor.bind(owner.replica)
owner.replica.missingFor = (d, max) => { const r = ownerMissingFor(d, max); stamp('answer computed'); return r }

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
  const joiner = await createPeer({ logLevel: 'silent', dht: false, bootstrap: [owner.addresses()[0]!], limits: { agentsPerHostMax: AGENTS + 10 }, start: false })
  stamp('peer created')
  joiner.libp2p.addEventListener('connection:open', () => { stamp('connection open') })
  joiner.libp2p.addEventListener('peer:identify', () => { stamp('identify done') })
  const st = joiner.sync.antiEntropy.stats
  let received = st.syncBytesReceived
  Object.defineProperty(st, 'syncBytesReceived', {
    get: () => received,
    set: (v: number) => { if (received === 0) stamp('first byte'); received = v; stamp('_last'); at.set('last byte', performance.now() - t0) },
    configurable: true
  })
  const apply = joiner.replica.apply.bind(joiner.replica)
  joiner.replica.apply = (b, a) => { stamp('apply start'); const r = apply(b, a); at.set('apply done', performance.now() - t0); return r }
  await joiner.start()
  stamp('node started')
  await joiner.whenSynced({ timeoutMs: 60_000 })
  stamp('synced')
  const cpu = process.cpuUsage(c0)
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
await owner.stop()
