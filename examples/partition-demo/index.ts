/**
 * Five peers over TCP on loopback run a 5-voter Raft group. The leader is cut off with a client writing
 * to it; the majority elects a new leader and commits; after the heal, the old leader's write is gone.
 *
 *   npm run build && node dist/examples/partition-demo/index.js
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createLiveMesh } from '../../sim/index.js'

const short = (id: string | undefined): string => id === undefined ? '-' : '…' + id.slice(-6)

async function main (): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'agora-partition-demo-'))
  const mesh = await createLiveMesh({ peers: 5, logLevel: 'silent', dataDir, raft: { voters: 5, proposalTimeoutMs: 2000 } })
  const show = (title: string): void => {
    console.log(`\n${title}`)
    for (const [i, p] of mesh.peers.entries()) {
      const s = p.raft!.status()
      console.log(`  peer ${i} ${short(p.id)}  ${s.role.padEnd(9)} term ${String(s.term).padStart(2)}  leader ${short(s.leader)}  commit ${s.commit}`)
    }
  }
  try {
    const old = await mesh.waitForLeader()
    const price = (i: number): ReturnType<typeof mesh.peers[number]['variables']['strong']> => mesh.peers[i]!.variables.strong<string>('gpu.price', { initial: 'unset' })
    await price(old).set('10 credits')
    show(`Leader is peer ${old}; gpu.price = "10 credits" committed on all five.`)

    const rest = [0, 1, 2, 3, 4].filter(i => i !== old)
    await mesh.partition([[old], rest])
    console.log(`\nPartition: peer ${old} alone | peers ${rest.join(', ')}. A client on peer ${old} writes "99 credits"...`)
    const stale = price(old).set('99 credits').then(() => 'committed?!', (err: { code?: string }) => `failed with ${err.code ?? 'error'} (outcome unknown to the client; it never committed)`)

    await mesh.waitFor((p, i) => i === old || (p.raft!.status().leader !== undefined && p.raft!.status().leader !== mesh.peers[old]!.id), { what: 'a new leader' })
    await price(rest[0]!).set('12 credits')
    show('The majority elected a new leader and committed gpu.price = "12 credits".')
    console.log(`\nThe old leader's write: ${await stale}`)

    await mesh.heal()
    const fresh = mesh.peers.find(p => p.raft!.status().role === 'leader')!
    await mesh.waitFor(p => p.raft!.status().applied >= fresh.raft!.status().commit && p.raft!.status().leader === fresh.id, { what: 'the old leader to rejoin' })
    show('Healed: the old leader rejoined as a follower and caught up.')
    for (const [i] of mesh.peers.entries()) console.log(`  peer ${i} reads gpu.price = "${await price(i).get()}"`)
    console.log('\n"99 credits" was never visible anywhere: the write made on the cut-off leader was discarded.')
  } finally {
    await mesh.stop()
    await rm(dataDir, { recursive: true, force: true })
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
