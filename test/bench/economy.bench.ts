/**
 * Economy figures on a live 3-voter Raft group over TCP on loopback, in one process (issue target in
 * brackets): sealed-bid (Vickrey) auctions settled per second [>= 300/s], each auction = open + 3 bids
 * (from accounts owned by the three different peers, proposed on their own peers) + close/settle, many
 * auctions in flight; with fsync on (data dirs in the OS temp dir) and off. Also the full live flow
 * (`runAuction`: bid requests over the auction stream protocol to each bidder's host, its handler,
 * its proposal, close, result notices) at a lower concurrency.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createPeer } from '../../peers/peer.js'
import type { Peer } from '../../peers/peer.js'

export const name = 'economy'

const progress = (msg: string): void => { process.stderr.write(`  economy: ${msg}\n`) }
const RAFT = { tickMs: 50, electionTick: 8 }

async function waitFor (cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`)
    await new Promise(resolve => setTimeout(resolve, 5))
  }
}

async function group (dirs: string[] | undefined, fsync: boolean): Promise<Peer[]> {
  const peers: Peer[] = []
  for (let i = 0; i < 3; i++) peers.push(await createPeer({ logLevel: 'silent', dht: false, inboundConnectionsPerSecondMax: 1000, ...(dirs !== undefined ? { dataDir: dirs[i]! } : {}) }))
  for (let i = 1; i < 3; i++) for (let j = 0; j < i; j++) await peers[i]!.dial(peers[j]!.addresses()[0]!)
  const voters = peers.map(p => p.id)
  for (const p of peers) await p.startRaft({ voters, ...RAFT, fsync })
  await waitFor(() => peers.some(p => p.raft?.status().role === 'leader' && p.economy.replica !== undefined), 15_000, 'a leader with the economy genesis')
  return peers
}

async function setup (peers: Peer[]): Promise<Peer> {
  const leader = peers.find(p => p.raft?.status().role === 'leader')!
  await leader.economy.mint('seller', 1, { owner: leader.id })
  for (let i = 0; i < 3; i++) {
    await leader.economy.mint(`bidder${i}`, 1e12, { owner: peers[i]!.id })
    await peers[i]!.registry.register({ id: `bidder${i}`, capabilities: ['gpu'] })
    peers[i]!.economy.handle(`bidder${i}`, () => ({ amount: 10 + i }))
  }
  return leader
}

async function direct (peers: Peer[], leader: Peer, n: number, concurrency: number, prefix: string): Promise<Record<string, unknown>> {
  let next = 0
  const lat: number[] = []
  const worker = async (): Promise<void> => {
    while (next < n) {
      const id = `${prefix}${next++}`
      const t0 = performance.now()
      await leader.economy.openAuction({ id, mechanism: 'vickrey', items: ['gpu'], reserve: 1, durationMs: 600_000 }, 'seller')
      await Promise.all(peers.map(async (p, i) => { await p.economy.bid(id, `bidder${i}`, { amount: 10 + ((next + i) % 7) }) }))
      const r = await leader.economy.closeAuction(id, 'seller')
      if (r.status !== 'settled') throw new Error(`auction ${id} ended ${String(r.status)}`)
      lat.push(performance.now() - t0)
    }
  }
  const t0 = performance.now()
  await Promise.all(Array.from({ length: concurrency }, worker))
  const s = (performance.now() - t0) / 1000
  lat.sort((a, b) => a - b)
  const inv = leader.economy.replica!.invariants()
  return {
    auctions: n,
    concurrency,
    auctionsPerSec: Math.round(n / s),
    commandsPerSec: Math.round(n * 5 / s),
    auctionP50Ms: Number(lat[Math.floor(lat.length / 2)]!.toFixed(1)),
    auctionP99Ms: Number(lat[Math.floor(lat.length * 0.99)]!.toFixed(1)),
    invariantsBroken: inv.length
  }
}

async function live (leader: Peer, n: number, concurrency: number): Promise<Record<string, unknown>> {
  let next = 0
  const t0 = performance.now()
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < n) {
      const id = `r${next++}`
      const rep = await leader.economy.runAuction({ id, mechanism: 'vickrey', items: ['gpu'], reserve: 1, durationMs: 600_000 }, { seller: 'seller', bidders: ['bidder0', 'bidder1', 'bidder2'] })
      if (rep.auction.status !== 'settled') throw new Error(`auction ${id} ended ${rep.auction.status}: ${JSON.stringify(rep.responses)}`)
    }
  }))
  return { auctions: n, concurrency, auctionsPerSec: Math.round(n / ((performance.now() - t0) / 1000)) }
}

async function run (fsync: boolean): Promise<Record<string, unknown>> {
  const base = fsync ? await mkdtemp(join(tmpdir(), 'agora-econ-bench-')) : undefined
  const peers = await group(base !== undefined ? [0, 1, 2].map(i => join(base, `p${i}`)) : undefined, fsync)
  try {
    const leader = await setup(peers)
    await waitFor(() => leader.registry.query({ capability: 'gpu' }).agents.length === 3, 10_000, 'bidders visible')
    await direct(peers, leader, 100, 16, 'w') // warm-up
    progress(`direct commands (fsync ${String(fsync)})`)
    const d = await direct(peers, leader, 2000, 64, 'd')
    progress(`runAuction (fsync ${String(fsync)})`)
    const l = await live(leader, 600, 64)
    return { direct: d, runAuction: l }
  } finally {
    await Promise.all(peers.map(async p => { await p.stop() }))
    if (base !== undefined) await rm(base, { recursive: true, force: true })
  }
}

export default async function (): Promise<Record<string, unknown>> {
  return { fsync: await run(true), memory: await run(false) }
}
