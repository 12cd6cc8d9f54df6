/**
 * Five peers over TCP on loopback run a 5-voter Raft group. The leader is cut off with a client writing
 * to it; the majority elects a new leader and commits; after the heal, the old leader's write is gone.
 * Meanwhile both sides register agents and write the same eventual variable: once connectivity returns,
 * each side reports what the partition did (FEATURES I5): the sides and span, the agents each side
 * changed, the conflicting write and which one won, and the fate of the write that ended indefinite.
 *
 *   npm run build && node dist/examples/partition-demo/index.js
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { createLiveMesh } from '../../sim/index.js'
import { healText } from '../../peers/health/heal-text.js'
import type { HealReport } from '../../peers/health/heal-types.js'
import type { EventualVariable } from '../../crdt/variables.js'

const short = (id: string | undefined): string => id === undefined ? '-' : '…' + id.slice(-6)

export interface DemoResult {
  /** The peer that led before the partition (cut off alone). */
  old: number
  /** What the old leader's client saw of its write, and what every peer reads after the heal. */
  stale: string
  prices: string[]
  /** The eventual `gpu.queue` everywhere after the heal. */
  queues: string[]
  /** Each peer's heal report, by peer index. */
  reports: HealReport[]
}

export async function runExample (options: { log?: (line: string) => void } = {}): Promise<DemoResult> {
  const log = options.log ?? (() => {})
  const dataDir = await mkdtemp(join(tmpdir(), 'agora-partition-demo-'))
  // Heartbeats every 200 ms; a host is unreachable after 1.5 s of silence.
  const mesh = await createLiveMesh({ peers: 5, logLevel: 'silent', dataDir, heartbeatIntervalMs: 200, leaseMs: 1500, raft: { voters: 5, proposalTimeoutMs: 2000 } })
  const show = (title: string): void => {
    log(`\n${title}`)
    for (const [i, p] of mesh.peers.entries()) {
      const s = p.raft!.status()
      log(`  peer ${i} ${short(p.id)}  ${s.role.padEnd(9)} term ${String(s.term).padStart(2)}  leader ${short(s.leader)}  commit ${s.commit}`)
    }
  }
  try {
    const old = await mesh.waitForLeader()
    const price = (i: number): ReturnType<typeof mesh.peers[number]['variables']['strong']> => mesh.peers[i]!.variables.strong<string>('gpu.price', { initial: 'unset' })
    const queue = (i: number): EventualVariable<string> => mesh.peers[i]!.variables.eventual<string>('gpu.queue', { initial: 'fifo', merge: 'lww' })
    await price(old).set('10 credits')
    show(`Leader is peer ${old}; gpu.price = "10 credits" committed on all five.`)

    const rest = [0, 1, 2, 3, 4].filter(i => i !== old)
    const baseline = mesh.peers.map(p => p.heals()[0]?.seq ?? 0)
    await mesh.partition([[old], rest])
    log(`\nPartition: peer ${old} alone | peers ${rest.join(', ')}. A client on peer ${old} writes "99 credits"...`)
    const stale = price(old).set('99 credits').then(() => 'committed?!', (err: { code?: string }) => `failed with ${err.code ?? 'error'} (outcome unknown to the client)`)
    // Both sides go on with their eventual data: peer `old` writes first, the majority later (its write is newer).
    await mesh.peers[old]!.registry.register({ id: 'solo-planner', capabilities: ['plan'] })
    await queue(old).set('priority')
    const soloAt = Date.now()

    await mesh.waitFor((p, i) => i === old || (p.raft!.status().leader !== undefined && p.raft!.status().leader !== mesh.peers[old]!.id), { what: 'a new leader' })
    await price(rest[0]!).set('12 credits')
    await mesh.waitFor(() => Date.now() > soloAt, { what: 'the clock to move on' })
    await mesh.peers[rest[1]!]!.registry.register({ id: 'team-worker', capabilities: ['work'] })
    await queue(rest[1]!).set('round-robin')
    show('The majority elected a new leader and committed gpu.price = "12 credits".')
    log(`\nThe old leader's write: ${await stale}`)

    await mesh.heal()
    const fresh = mesh.peers.find(p => p.raft!.status().role === 'leader')!
    await mesh.waitFor(p => p.raft!.status().applied >= fresh.raft!.status().commit && p.raft!.status().leader === fresh.id, { what: 'the old leader to rejoin' })
    show('Healed: the old leader rejoined as a follower and caught up.')
    const prices: string[] = []
    for (const i of mesh.peers.keys()) prices.push(String(await price(i).get()))
    for (const [i, v] of prices.entries()) log(`  peer ${i} reads gpu.price = "${v}"`)
    log('\n"99 credits" was never visible anywhere: the write made on the cut-off leader was discarded.')

    await mesh.waitFor((p, i) => p.heals().some(r => r.seq > baseline[i]!), { timeoutMs: 60_000, what: 'every peer to report the heal' })
    const reports = mesh.peers.map((p, i) => p.heals().filter(r => r.seq > baseline[i]!).at(-1)!)
    log(`\nWhat the partition did, as the cut-off peer ${old} reports it:`)
    log(healText(reports[old]!).trimEnd())
    log(`\n...and as peer ${rest[0]!} on the majority side reports it:`)
    log(healText(reports[rest[0]!]!).trimEnd())
    return { old, stale: await stale, prices, queues: mesh.peers.map(p => String(p.variables.read('gpu.queue').value)), reports }
  } finally {
    await mesh.stop()
    await rm(dataDir, { recursive: true, force: true })
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runExample({ log: (line) => { console.log(line) } }).catch((err) => {
    console.error(err)
    process.exit(1)
  })
}
