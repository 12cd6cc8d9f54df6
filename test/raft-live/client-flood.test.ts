/**
 * Hostile clients on the Raft client path (issue: "Raft log flooding through the client path"): a peer
 * outside the group sends junk and oversized commands, then floods valid ones. Members check every
 * command before proposing it and give each client peer a quota, so the log only grows by what the
 * quota allows. Real peers over TCP.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createLiveMesh } from '../../sim/live.js'
import type { LiveMesh } from '../../sim/live.js'
import { RaftClient } from '../../peers/raft/client.js'
import { CLIENT_REQUESTS_BURST_MAX, CLIENT_REQUESTS_PER_SECOND_MAX, PeerQuota } from '../../peers/raft/quota.js'
import { encodeEconCommand } from '../../protocols/mesh/application.js'
import { waitUntil } from '../helpers/wait.js'

let mesh: LiveMesh | undefined
afterEach(async () => { await mesh?.stop(); mesh = undefined })

const enc = new TextEncoder()
const set = (name: string, value: number): Uint8Array => enc.encode(JSON.stringify({ op: 'set', name, value: JSON.stringify(value) }))

async function group (): Promise<LiveMesh> {
  const m = await createLiveMesh({ peers: 4, logLevel: 'silent', heartbeatIntervalMs: 200 })
  const ids = m.peers.slice(0, 3).map(p => p.id)
  for (const p of m.peers.slice(0, 3)) await p.startRaft({ voters: ids, tickMs: 20, electionTick: 10 })
  await m.waitFor((p, i) => i >= 3 || p.raft?.status().leader !== undefined, { what: 'a known leader' })
  return m
}

describe('the Raft client path against a hostile client', () => {
  it('junk, oversized and forged commands are refused before the log; a flood is cut at the quota', async () => {
    mesh = await group()
    const outsider = mesh.peers[3]!
    const client = new RaftClient(outsider.libp2p, outsider.options.mesh, () => outsider.members())
    // Something valid first: the client path works.
    const ok = await client.propose(set('ok', 1))
    expect(ok.result).toMatchObject({ ok: true })
    const member = mesh.peers[0]!
    const lastIndex = (): number => member.raft!.status().commit
    // This member may be a follower that learns the commit of "ok" a turn later (with the leader's next
    // append, or alone): count from there.
    await waitUntil(() => lastIndex() >= ok.index, { timeoutMs: 20_000 })
    const before = lastIndex()
    const junk: Array<[string, Uint8Array, string]> = [
      ['unknown tag', new Uint8Array([7, 1, 2, 3]), 'ERR_INVALID_COMMAND'],
      ['economy not JSON', new Uint8Array([1, 0x7b, 0x7b]), 'ERR_INVALID_COMMAND'],
      ['economy unknown type', encodeEconCommand({ type: 'print-money', by: 'x' }), 'ERR_INVALID_COMMAND'],
      ['economy __proto__ key', enc.encode('\u0001{"type":"mint","by":"treasury","__proto__":{"x":1}}'), 'ERR_RESERVED_NAME'],
      ['strong not JSON', enc.encode('{nope'), 'ERR_DECODE'],
      ['strong bad name', enc.encode(JSON.stringify({ op: 'set', name: 'a b', value: '1' })), 'ERR_INVALID_VARIABLE'],
      ['634 KiB', new Uint8Array(634 * 1024).fill(0x7b), 'ERR_LIMIT_EXCEEDED']
    ]
    for (const [what, command, code] of junk) {
      await expect(client.propose(command), what).rejects.toMatchObject({ code })
    }
    // The genesis is for members only.
    await expect(client.propose(encodeEconCommand({ type: 'economy.genesis', authorities: [outsider.id] }))).rejects.toMatchObject({ code: 'ERR_UNAUTHORIZED' })
    expect(lastIndex()).toBe(before)

    // A flood of valid commands, 40 at a time: beyond the burst and the sustained rate, refused. The
    // members' quotas are lowered so the test floods in a few seconds (the defaults are 200/s, 400 burst).
    const servers = mesh.peers.slice(0, 3).map(p => (p.raft as unknown as { server: { stats: { rateLimited: number, invalid: number }, quota: PeerQuota } }).server)
    for (const s of servers) Object.assign(s.quota.limits, { requestsPerSecond: 20, requestsBurst: 30 })
    const t0 = Date.now()
    let accepted = 0
    let limited = 0
    for (let batch = 0; batch < 15; batch++) {
      const results = await Promise.allSettled(Array.from({ length: 40 }, async (_, k) => await client.propose(set(`f${k}`, batch))))
      for (const r of results) {
        if (r.status === 'fulfilled') accepted++
        else if ((r.reason as { code?: string }).code === 'ERR_RATE_LIMITED') limited++
        else throw r.reason
      }
    }
    const seconds = (Date.now() - t0) / 1000
    expect(limited).toBeGreaterThan(0)
    // At most the burst plus what the rate refilled meanwhile (the valid command above took one token).
    // At most the burst plus what the rate refilled meanwhile (per member serving this client).
    expect(accepted).toBeLessThanOrEqual(servers.length * (30 + Math.ceil(seconds * 20)))
    expect(accepted + limited).toBe(600)
    expect(lastIndex() - before).toBeLessThanOrEqual(accepted)
    expect(servers.reduce((n, s) => n + s.stats.rateLimited, 0)).toBe(limited)
    expect(servers.reduce((n, s) => n + s.stats.invalid, 0)).toBe(junk.length)
    // The defaults are what the constants say.
    expect(new PeerQuota().limits).toMatchObject({ requestsPerSecond: CLIENT_REQUESTS_PER_SECOND_MAX, requestsBurst: CLIENT_REQUESTS_BURST_MAX })
  })
})

describe('PeerQuota', () => {
  it('refills at the sustained rate up to the burst, per peer, and bounds the peers it tracks', () => {
    const q = new PeerQuota({ requestsPerSecond: 10, requestsBurst: 3, bytesPerSecond: 100, bytesBurst: 150, peersMax: 2 })
    expect([q.take('a', 10, 0), q.take('a', 10, 0), q.take('a', 10, 0), q.take('a', 10, 0)]).toEqual([undefined, undefined, undefined, 'requests'])
    expect(q.take('a', 10, 100)).toBeUndefined() // 0.1 s refilled one request
    expect(q.take('b', 151, 0)).toBe('bytes')
    expect(q.take('b', 150, 0)).toBeUndefined()
    expect(q.take('b', 1, 0)).toBe('bytes')
    expect(q.take('b', 50, 500)).toBeUndefined()
    q.take('c', 0, 0)
    expect(q.size).toBe(2)
  })
})

describe('members announce the client path', () => {
  it('a peer connected before a member started Raft learns at once that it serves the client path', async () => {
    mesh = await createLiveMesh({ peers: 2, logLevel: 'silent', heartbeatIntervalMs: 200, dht: false })
    const [a, d] = mesh.peers as [NonNullable<LiveMesh['peers'][0]>, NonNullable<LiveMesh['peers'][0]>]
    const client = new RaftClient(d.libp2p, d.options.mesh, () => d.members())
    expect(await client.servers()).toEqual([])
    await a.startRaft({ voters: [a.id], tickMs: 20, electionTick: 3 })
    await waitUntil(async () => (await client.servers()).includes(a.id), { what: 'the outsider to learn the member serves the client path', timeoutMs: 5000 })
    await waitUntil(() => a.raft?.status().role === 'leader', 'the member to lead')
    expect((await client.propose(set('pushed', 1))).result).toMatchObject({ ok: true })
  })
})

describe('idle client streams', () => {
  it('one peer cannot hold more than its share of a member\'s client slots; others are still served', async () => {
    mesh = await group()
    const [m, , , outsider] = mesh.peers as Array<NonNullable<LiveMesh['peers'][0]>>
    const server = (m!.raft as unknown as { server: { stats: { refused: number } } }).server
    const { raftClientProtocol, CLIENT_INBOUND_PER_PEER_MAX } = await import('../../peers/raft/client.js')
    const streams = []
    for (let k = 0; k < CLIENT_INBOUND_PER_PEER_MAX + 4; k++) streams.push(await outsider!.libp2p.dialProtocol(m!.libp2p.peerId, raftClientProtocol(m!.options.mesh)))
    await waitUntil(() => server.stats.refused >= 4, 'the streams beyond the per-peer cap to be refused')
    expect(server.stats.refused).toBe(4)
    // Another peer (a member acting as a client) is served meanwhile.
    const other = mesh.peers[1]!
    const client = new RaftClient(other.libp2p, other.options.mesh, () => [m!.id])
    await waitUntil(async () => (await client.servers()).length > 0, 'the other peer to know the member serves the client path')
    expect((await client.propose(set('served', 1))).result).toMatchObject({ ok: true })
    for (const s of streams) s.abort(new Error('done'))
  })
})
