/**
 * The corpus of malformed frames (test/fixtures/malformed) sent to live peers over TCP, through the real
 * protocol handlers of every stream protocol: sync, Raft, the Raft client path and the auction channel.
 * For each case the target peer must not crash, must count the rejection (`syncFailed`,
 * `droppedMalformed`, `malformed`, `malformedFrames`), and must serve an honest request afterwards.
 * The sender is a Raft voter, so its Raft frames are read (a non-member's stream is refused unread).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { peerIdFromString } from '@libp2p/peer-id'
import { byteStream } from '@libp2p/utils'
import type { Stream } from '@libp2p/interface'
import { createLiveMesh, type LiveMesh } from '../../sim/live.js'
import type { Peer } from '../../peers/peer.js'
import { syncProtocol } from '../../peers/sync/anti-entropy/constants.js'
import { FRAME_DIGEST, frame } from '../../peers/sync/anti-entropy/frames.js'
import { encodeDigest } from '../../crdt/codec.js'
import { raftProtocol } from '../../peers/raft/transport.js'
import { RaftClient, raftClientProtocol } from '../../peers/raft/client.js'
import { auctionProtocol } from '../../peers/economy/economy.js'
import { Channel as AuctionChannel } from '../../peers/agents/channel.js'
import { framedStream } from '../../peers/framing.js'
import { bytesOf, loadCorpora, type Corpus } from '../fuzz/corpus.js'
import { waitUntil } from '../helpers/wait.js'

const corpora = new Map(loadCorpora().map(c => [c.protocol, c]))
const corpus = (p: string): Corpus => corpora.get(p)!
/** The cases a host reads (not those a client or requester reads: responses and replies). */
const hostCases = (c: Corpus): Corpus['cases'] => c.cases.filter(x => x.decoder !== 'response' && x.decoder !== 'reply')

let mesh: LiveMesh
let hostile: Peer
let target: Peer

beforeAll(async () => {
  mesh = await createLiveMesh({ peers: 4, logLevel: 'silent', heartbeatIntervalMs: 200, raft: { voters: 3, tickMs: 20, electionTick: 10 } })
  await mesh.waitForLeader()
  hostile = mesh.peers[0]!
  target = mesh.peers[1]!
})
afterAll(async () => { await mesh?.stop() })

async function open (protocol: string): Promise<Stream> {
  return await hostile.libp2p.dialProtocol(peerIdFromString(target.id), protocol, { signal: AbortSignal.timeout(5000) })
}

/** Sends raw bytes (a stream case) or one length-prefixed frame (preceded by `before` frames) on a fresh stream. */
async function send (protocol: string, x: Corpus['cases'][number], before: Uint8Array[] = []): Promise<Stream> {
  const stream = await open(protocol)
  if (x.layer === 'stream') {
    await byteStream(stream).write(bytesOf(x.hex), { signal: AbortSignal.timeout(5000) })
  } else {
    const lp = framedStream(stream, 512 * 1024 * 1024)
    for (const f of [...before, bytesOf(x.hex)]) await lp.write(f, { signal: AbortSignal.timeout(5000) })
  }
  return stream
}

describe('malformed frames against a live peer over TCP', () => {
  it('sync: every case fails the exchange (syncFailed), or for a bad blob is rejected (syncRejected) while the exchange goes on; the peer still syncs with an honest initiator', async () => {
    const stats = target.sync.stats
    const rejections = (): number => stats.syncFailed + stats.syncRejected
    for (const x of hostCases(corpus('sync'))) {
      const before = rejections()
      // A first frame that is not DIGEST is refused for that; others follow an honest DIGEST, so the
      // responder answers and then meets the malformed frame where it reads blobs.
      const first = x.layer === 'stream' || bytesOf(x.hex)[0] === FRAME_DIGEST ? [] : [frame(FRAME_DIGEST, encodeDigest([]))]
      const stream = await send(syncProtocol(hostile.options.mesh), x, first)
      await waitUntil(() => rejections() > before, { what: `sync/${x.name} counted`, timeoutMs: 10_000 })
      stream.abort(new Error('done'))
    }
    const completed = stats.syncCompleted
    await hostile.syncWith(target.id)
    // The responder completes once it read the initiator's END (after the initiator resolved).
    await waitUntil(() => stats.syncCompleted > completed, { what: 'an honest exchange completed on the target', timeoutMs: 10_000 })
  })

  it('raft: malformed messages are dropped and counted (droppedMalformed) on one stream, framing errors reset theirs; the group still commits', async () => {
    const dropped = (): number => target.raft!.networkStats().transport!.droppedMalformed
    const cases = hostCases(corpus('raft'))
    // Messages that do not decode are skipped one by one: the stream stays.
    const messages = cases.filter(x => x.layer !== 'stream')
    const stream = await open(raftProtocol(hostile.options.mesh))
    const lp = framedStream(stream, 512 * 1024 * 1024)
    for (const x of messages) {
      const before = dropped()
      await lp.write(bytesOf(x.hex), { signal: AbortSignal.timeout(5000) })
      await waitUntil(() => dropped() > before, { what: `raft/${x.name} counted`, timeoutMs: 10_000 })
    }
    expect(stream.status).toBe('open')
    stream.abort(new Error('done'))
    // A bad length prefix: counted, and the stream is reset (the next frame cannot be found).
    for (const x of cases.filter(x => x.layer === 'stream')) {
      const before = dropped()
      const s = await send(raftProtocol(hostile.options.mesh), x)
      await waitUntil(() => dropped() > before, { what: `raft/${x.name} counted`, timeoutMs: 10_000 })
      await waitUntil(() => s.status !== 'open', { what: `raft/${x.name} reset`, timeoutMs: 10_000 })
    }
    expect(dropped()).toBeGreaterThanOrEqual(cases.length)
    expect(await mesh.client(1).write('after-malformed', 1)).toBe(true)
    expect(target.raft!.status().failed).toBeUndefined()
  })

  it('raft-client: every case is answered ERR_DECODE and counted (malformed); an honest client is served', async () => {
    const malformed = (): number => target.raft!.networkStats().client!.malformed
    for (const x of hostCases(corpus('raft-client'))) {
      const before = malformed()
      const stream = await send(raftClientProtocol(hostile.options.mesh), x)
      const lp = framedStream(x.layer === 'stream' ? byteStream(stream).unwrap() : stream, 1024 * 1024)
      const res = JSON.parse(new TextDecoder().decode((await lp.read({ signal: AbortSignal.timeout(10_000) })).subarray())) as { ok: boolean, code?: string }
      expect(res, `raft-client/${x.name}`).toMatchObject({ ok: false, code: 'ERR_DECODE' })
      expect(malformed(), `raft-client/${x.name}`).toBe(before + 1)
      stream.abort(new Error('done'))
    }
    const outsider = mesh.peers[3]!
    const client = new RaftClient(outsider.libp2p, outsider.options.mesh, () => outsider.members())
    const set = new TextEncoder().encode(JSON.stringify({ op: 'set', name: 'honest', value: '1' }))
    expect((await client.propose(set)).result).toMatchObject({ ok: true })
  })

  it('auction: every case ends its channel and is counted (malformedFrames); an honest channel is served', async () => {
    const stats = target.agents.stats
    for (const x of hostCases(corpus('auction'))) {
      const before = stats.malformedFrames
      const stream = await send(auctionProtocol(hostile.options.mesh), x)
      await waitUntil(() => stats.malformedFrames > before, { what: `auction/${x.name} counted`, timeoutMs: 10_000 })
      await waitUntil(() => stream.status !== 'open', { what: `auction/${x.name} channel ended`, timeoutMs: 10_000 })
    }
    const channel = new AuctionChannel(await open(auctionProtocol(hostile.options.mesh)))
    const reply = await channel.request({ t: 'result', notice: { auction: 'none', status: 'settled', winners: [], clearingPrice: null }, agents: ['nobody-here'] }, 5000)
    expect(reply).toEqual({ ok: true, outcome: 'noted' })
    channel.close()
  })
})
