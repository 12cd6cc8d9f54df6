/**
 * The Raft driver over real libp2p peers (TCP on loopback): election, replication with forwarding,
 * exactly-once retries, linearizable read points, leader failover, restart from LevelDB.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { ClassicLevel } from 'classic-level'
import { createPeer } from '../../peers/peer.js'
import type { Peer } from '../../peers/peer.js'
import { LiveRaftDriver } from '../../peers/raft/driver.js'
import { RaftTransport, raftIdOf } from '../../peers/raft/transport.js'
import { DurableRaftStorage } from '../../peers/raft/storage.js'
import { createLogger } from '../../src/base/log.js'
import { waitUntil } from '../helpers/wait.js'
import { ListApp } from '../helpers/list-app.js'

const enc = new TextEncoder()


interface Member { peer: Peer, transport: RaftTransport, driver: LiveRaftDriver, app: ListApp, db?: ClassicLevel<string, Uint8Array> }

const members: Member[] = []
const dirs: string[] = []
afterEach(async () => {
  for (const m of members.splice(0)) await stopMember(m)
  await Promise.all(dirs.splice(0).map(async d => await rm(d, { recursive: true, force: true })))
})

async function stopMember (m: Member): Promise<void> {
  m.driver.stop()
  await m.transport.stop()
  await m.peer.stop()
  if (m.db?.status === 'open') await m.db.close()
}

const log = createLogger('silent')

async function startMember (peer: Peer, voters: string[], dbDir?: string): Promise<Member> {
  let db: ClassicLevel<string, Uint8Array> | undefined
  let storage: DurableRaftStorage | undefined
  if (dbDir !== undefined) {
    db = new ClassicLevel<string, Uint8Array>(dbDir, { keyEncoding: 'utf8', valueEncoding: 'view' })
    await db.open()
    storage = await DurableRaftStorage.open(db)
  }
  const app = new ListApp()
  let driver: LiveRaftDriver | undefined
  const transport = new RaftTransport({ node: peer.libp2p, mesh: 'agora', log, onMessage: (m) => driver?.receive(m) })
  for (const v of voters) transport.addPeer(v)
  driver = new LiveRaftDriver({
    id: raftIdOf(peer.id),
    transport,
    application: app,
    ...(storage !== undefined ? { storage } : {}),
    voters: voters.map(raftIdOf),
    log,
    options: { tickMs: 20, electionTick: 10, snapshotEntries: 50 }
  })
  await transport.start()
  driver.start()
  const m: Member = { peer, transport, driver, app, ...(db !== undefined ? { db } : {}) }
  members.push(m)
  return m
}

async function group (n: number, dataDirs?: string[]): Promise<Member[]> {
  const peers: Peer[] = []
  for (let i = 0; i < n; i++) peers.push(await createPeer({ logLevel: 'silent', heartbeatIntervalMs: 200, ...(dataDirs !== undefined ? { dataDir: dataDirs[i]! } : {}) }))
  for (let i = 1; i < n; i++) for (let j = 0; j < i; j++) await peers[i]!.dial(peers[j]!.addresses()[0]!)
  const ids = peers.map(p => p.id)
  const out: Member[] = []
  for (const [i, p] of peers.entries()) out.push(await startMember(p, ids, dataDirs !== undefined ? join(dataDirs[i]!, 'raft') : undefined))
  return out
}

const leaderOf = (g: Member[]): Member | undefined => g.find(m => m.driver.isLeader && members.includes(m))
/** Every member of `g` knows the same leader, one of `g`. */
const agreed = (g: Member[]): boolean => {
  const l = leaderOf(g)
  return l !== undefined && g.every(m => m.driver.leaderId === l.driver.id)
}

describe('raft driver over TCP', () => {
  it('elects a leader, replicates proposals from any member, and applies them everywhere', async () => {
    const g = await group(3)
    await waitUntil(() => agreed(g), 'a leader known to all')
    const follower = g.find(m => !m.driver.isLeader)!
    const r1 = await follower.driver.propose(enc.encode('a'))
    const r2 = await leaderOf(g)!.driver.propose(enc.encode('b'))
    expect(r1.result).toBe(1)
    expect(r2.result).toBe(2)
    expect(r2.index).toBeGreaterThan(r1.index)
    await waitUntil(() => g.every(m => m.app.items.length === 2), 'replication')
    expect(g.map(m => m.app.items.join(''))).toEqual(['ab', 'ab', 'ab'])
    // A retry of an applied command (same session) is not applied again.
    const again = await follower.driver.propose(enc.encode('a'), { clientId: 'c1', seq: 1 })
    const dup = await follower.driver.propose(enc.encode('a'), { clientId: 'c1', seq: 1 })
    expect(dup.result).toBe(again.result)
    await waitUntil(() => g.every(m => m.app.items.length === 3), 'replication')
    expect(follower.driver.stats.duplicates).toBe(1)
    // A linearizable read point covers every acknowledged write.
    const idx = await follower.driver.readIndex()
    expect(idx).toBeGreaterThanOrEqual(dup.index)
  })

  it('one client with commands in flight out of order: each applies exactly once', async () => {
    const g = await group(3)
    await waitUntil(() => agreed(g), 'a leader known to all')
    const d = g.find(m => !m.driver.isLeader)!.driver
    // seq 6 commits before seq 5 (e.g. 5 was lost with a leader and is retried later).
    const r6 = await d.propose(enc.encode('six'), { clientId: 'cx', seq: 6 })
    const r5 = await d.propose(enc.encode('five'), { clientId: 'cx', seq: 5 })
    expect(r5.index).toBeGreaterThan(r6.index)
    const again5 = await d.propose(enc.encode('five'), { clientId: 'cx', seq: 5 })
    const again6 = await d.propose(enc.encode('six'), { clientId: 'cx', seq: 6 })
    expect(again5.result).toBe(r5.result)
    expect(again6.result).toBe(r6.result)
    await waitUntil(() => g.every(m => m.app.items.join(',') === 'six,five'), 'both applied once everywhere')
  })

  it('Raft messages from a peer outside the group are dropped and counted', async () => {
    const g = await group(3)
    await waitUntil(() => agreed(g), 'a leader known to all')
    const outsider = await createPeer({ logLevel: 'silent' })
    try {
      const { lpStream } = await import('@libp2p/utils')
      const { peerIdFromString } = await import('@libp2p/peer-id')
      const { encodeMessage } = await import('../../protocols/raft/wire.js')
      const target = g.find(m => !m.driver.isLeader)!
      await outsider.dial(target.peer.addresses()[0]!)
      const termBefore = target.driver.status().term
      const stream = await outsider.libp2p.dialProtocol(peerIdFromString(target.peer.id), '/agora/agora/raft/1.0.0')
      const lp = lpStream(stream)
      const from = raftIdOf(outsider.id)
      // The member refuses the stream (the writes may or may not get out before the reset).
      await lp.write(encodeMessage({ type: 'timeoutNow', from, to: target.driver.id, term: termBefore + 5, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0 })).catch(() => {})
      await lp.write(encodeMessage({ type: 'append', from, to: target.driver.id, term: termBefore + 5, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0 })).catch(() => {})
      await waitUntil(() => target.transport.stats.droppedNonMember >= 1, 'the outsider to be refused')
      expect(target.transport.stats.received).toBeGreaterThan(0)
      expect(target.driver.status().term).toBe(termBefore)
      await stream.close().catch(() => {})
    } finally {
      await outsider.stop()
    }
  })

  it('after the leader dies, a new leader commits', async () => {
    const g = await group(3)
    await waitUntil(() => agreed(g), 'a leader known to all')
    const old = leaderOf(g)!
    await old.driver.propose(enc.encode('x'))
    members.splice(members.indexOf(old), 1)
    await stopMember(old)
    const rest = g.filter(m => m !== old)
    await waitUntil(() => agreed(rest), 'a new leader known to both survivors')
    const r = await rest[0]!.driver.propose(enc.encode('y'))
    expect(r.result).toBe(2)
    await waitUntil(() => rest.every(m => m.app.items.join('') === 'xy'), 'replication on the survivors')
  })

  it('restarts from its data dir with the log intact, through snapshots', async () => {
    const dataDirs = await Promise.all([0, 1, 2].map(async () => await mkdtemp(join(tmpdir(), 'agora-raft-live-'))))
    dirs.push(...dataDirs)
    const g = await group(3, dataDirs)
    await waitUntil(() => agreed(g), 'a leader known to all')
    for (let i = 0; i < 120; i++) await leaderOf(g)!.driver.propose(enc.encode(String(i % 10)))
    const victim = g.find(m => !m.driver.isLeader)!
    await waitUntil(() => victim.app.items.length === 120, 'the victim to apply everything')
    expect(victim.driver.stats.snapshots).toBeGreaterThan(0)
    members.splice(members.indexOf(victim), 1)
    await stopMember(victim)
    const idx = g.indexOf(victim)
    const peer = await createPeer({ logLevel: 'silent', heartbeatIntervalMs: 200, dataDir: dataDirs[idx]! })
    expect(peer.id).toBe(victim.peer.id)
    for (const m of g) if (m !== victim) await peer.dial(m.peer.addresses()[0]!)
    const back = await startMember(peer, g.map(m => m.peer.id), join(dataDirs[idx]!, 'raft'))
    // Restored from disk before hearing from anyone: the application from the latest snapshot, and
    // the log and commit index after it.
    expect(back.app.items.length).toBeGreaterThanOrEqual(50)
    expect(back.driver.memory.initialState().hardState.commit).toBeGreaterThanOrEqual(120)
    expect(back.driver.memory.lastIndex()).toBeGreaterThanOrEqual(120)
    await leaderOf(g.filter(m => m !== victim).concat(back))!.driver.proposeReliably(enc.encode('z'))
    await waitUntil(() => back.app.items.length === 121 && back.app.items[120] === 'z', 'the restarted member to catch up')
  })
})
