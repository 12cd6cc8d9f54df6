/**
 * The one-client commit path stage by stage, ours beside the raw floor (raft-floor.ts), fsync on or in
 * memory: `node dist/test/bench/raft-trace.js [fsync|mem]` after `npm run build` (not a `*.bench.ts`:
 * `npm run bench` does not run it; it measures where the time goes, raft-live.bench.ts the totals).
 * Stages come from protocols/raft/trace.ts; this script is the sink and stamps them. For each commit it
 * follows the critical path: the leader's proposal and send, the first follower to finish its write
 * (frame received, write start, write done, acknowledgement sent), the leader's own write, the
 * acknowledgement received and the proposer resumed; it prints the median of each step in µs.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { createPeer } from '../../peers/peer.js'
import type { Peer } from '../../peers/peer.js'
import { setRaftTrace } from '../../protocols/raft/trace.js'
import { startFloor } from './raft-floor.js'

const fsync = process.argv[2] !== 'mem'
const SAMPLES = Number(process.env.TRACE_SAMPLES ?? 2000)
const CALLER = -1
type Event = [at: number, node: number, stage: string]
let events: Event[] = []
setRaftTrace((node, stage) => { events.push([performance.now(), node, stage]) })

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)] ?? NaN }

/** Steps of each commit's critical path (µs), from the events of one proposal to its caller resuming. */
function steps (commit: Event[], leader: number): Map<string, number> {
  const out = new Map<string, number>()
  const first = (node: number | ((n: number) => boolean), stage: string, after = -Infinity): number => {
    const e = commit.find(([t, n, s]) => (typeof node === 'number' ? n === node : node(n)) && s === stage && t >= after)
    return e === undefined ? NaN : e[0]
  }
  const t0 = commit[0]![0]
  const sent = first(leader, 'send')
  // The follower whose acknowledgement went first (ours: its 'send'; the floor's: its 'write durable').
  const follower = (n: number): boolean => n !== leader && n !== CALLER
  const sends = commit.filter(([, n, s]) => follower(n) && s === 'send')
  const acks = sends.length > 0 ? sends : commit.filter(([, n, s]) => follower(n) && s === 'write durable')
  if (acks.length === 0 || Number.isNaN(sent)) return out
  const f = acks[0]![1]
  const rx = first(f, 'frame received', sent)
  const ws = first(f, 'write start', rx)
  const wd = first(f, 'write done', ws)
  const ack = acks[0]![0]
  const durable = first(f, 'write durable', wd)
  const lrx = first(leader, 'frame received', ack)
  const own = first(leader, 'own write durable', sent)
  const res = first(leader, 'resolve', lrx)
  const done = first(CALLER, 'done')
  const add = (k: string, a: number, b: number): void => { if (!Number.isNaN(a) && !Number.isNaN(b)) out.set(k, (b - a) * 1000) }
  add('1 leader: propose → send', t0, sent)
  add('2 send → follower frame received', sent, rx)
  add(fsync ? '3 follower: frame received → write start' : '3 follower: frame received → ack sent', rx, fsync ? ws : ack)
  if (fsync) add('4 follower: write start → done', ws, wd)
  if (fsync) add('5 follower: write done → ack sent', wd, Number.isNaN(durable) ? ack : Math.max(ack, durable))
  add('6 ack → leader frame received', ack, lrx)
  add('7 leader: frame received → resolve', lrx, res)
  add('8 resolve → caller resumed', res, done)
  add('  (leader own write durable, from propose)', t0, own)
  add('  (last of own write / ack received → resolve)', Math.max(own, lrx), res)
  add('= total', t0, done)
  return out
}

async function run (label: string, propose: (c: Uint8Array) => Promise<unknown>, leader: number): Promise<Map<string, number>> {
  const cmd = new TextEncoder().encode(JSON.stringify({ op: 'set', name: 'bench', value: '1' }))
  for (let i = 0; i < 300; i++) await propose(cmd)
  const per = new Map<string, number[]>()
  for (let i = 0; i < SAMPLES; i++) {
    events = [[performance.now(), CALLER, 'propose']]
    await propose(cmd)
    events.push([performance.now(), CALLER, 'done'])
    for (const [k, v] of steps(events, leader)) { if (!per.has(k)) per.set(k, []); per.get(k)!.push(v) }
  }
  events = []
  const out = new Map<string, number>()
  for (const [k, v] of per) out.set(k, median(v))
  process.stderr.write(`  ${label} done\n`)
  return out
}

const loadBefore = loadavg()[0]!
const fl = await startFloor(fsync)
const floor = await run('floor', fl.propose, 0)
await fl.stop()

const dirs = fsync ? await Promise.all([0, 1, 2].map(async () => await mkdtemp(join(tmpdir(), 'agora-trace-')))) : undefined
const peers: Peer[] = []
for (let i = 0; i < 3; i++) peers.push(await createPeer({ logLevel: 'silent', dht: false, inboundConnectionsPerSecondMax: 1000, ...(dirs !== undefined ? { dataDir: dirs[i]! } : {}) }))
for (let i = 1; i < 3; i++) for (let j = 0; j < i; j++) await peers[i]!.dial(peers[j]!.addresses()[0]!)
for (const p of peers) await p.startRaft({ voters: peers.map(p => p.id), tickMs: 50, electionTick: 8, fsync: true })
const deadline = Date.now() + 10_000
while (!peers.some(p => p.raft?.status().role === 'leader')) {
  if (Date.now() > deadline) throw new Error('no leader within 10 s')
  await new Promise(resolve => setTimeout(resolve, 2))
}
const d = peers.find(p => p.raft?.status().role === 'leader')!.raft!.driver!
const ours = await run('ours', async (c) => await d.propose(c), d.id)
await Promise.all(peers.map(async p => await p.stop()))
if (dirs !== undefined) await Promise.all(dirs.map(async x => await rm(x, { recursive: true, force: true })))
setRaftTrace(undefined)

console.log(`${fsync ? 'fsync on' : 'in memory'}, ${SAMPLES} commits each, load ${loadBefore.toFixed(1)} → ${loadavg()[0]!.toFixed(1)}; medians in µs`)
console.log(`${'step'.padEnd(50)} ${'ours'.padStart(6)} ${'floor'.padStart(6)} ${'diff'.padStart(6)}`)
for (const k of [...new Set([...ours.keys(), ...floor.keys()])].sort()) {
  const o = ours.get(k) ?? NaN
  const f = floor.get(k) ?? NaN
  console.log(`${k.padEnd(50)} ${o.toFixed(0).padStart(6)} ${f.toFixed(0).padStart(6)} ${(o - f).toFixed(0).padStart(6)}`)
}
process.exit(0)
