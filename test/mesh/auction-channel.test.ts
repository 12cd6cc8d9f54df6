/** Auction-protocol channels over real TCP: many requests on one stream, replies in any order, limits. */
import { afterEach, describe, expect, it } from 'vitest'
import { peerIdFromString } from '@libp2p/peer-id'
import { createPeer, type Peer } from '../../peers/peer.js'
import { Channel as AuctionChannel, CHANNEL_INFLIGHT_MAX, serveChannel, type Reply } from '../../peers/agents/channel.js'
import { waitUntil } from '../helpers/wait.js'

const peers: Peer[] = []
afterEach(async () => { await Promise.all(peers.splice(0).map(async p => { await p.stop() })) })

async function pair (handle: (f: { n: number, wait?: number }) => Promise<Reply>, counters = { malformed: 0, inflight: 0, maxInflight: 0 }): Promise<{ open: () => Promise<AuctionChannel>, counters: typeof counters }> {
  const a = await createPeer({ logLevel: 'silent', dht: false })
  const b = await createPeer({ logLevel: 'silent', dht: false })
  peers.push(a, b)
  await a.dial(b.addresses()[0]!)
  await b.libp2p.handle('/test/channel/1', (stream) => {
    void serveChannel(stream, {
      valid: (f) => typeof (f as { n?: unknown })?.n === 'number',
      admit: () => { counters.inflight++; counters.maxInflight = Math.max(counters.maxInflight, counters.inflight); return true },
      release: () => { counters.inflight-- },
      malformed: () => { counters.malformed++ },
      handle: async (f) => await handle(f as { n: number, wait?: number })
    })
  })
  return { open: async () => new AuctionChannel(await a.libp2p.dialProtocol(peerIdFromString(b.id), '/test/channel/1')), counters }
}

/** A host that takes `ms` to answer (simulated work, not a wait for a condition). */
const later = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

describe('auction channels', () => {
  it('carries many concurrent requests on one stream and matches replies answered out of order', async () => {
    // A reply is held until the next request arrives, so replies go back in reverse pairs: out of order.
    const { open } = await pair(async (f) => { await later(f.n % 2 === 0 ? 30 : 0); return { ok: true, outcome: `r${f.n}` } })
    const ch = await open()
    const replies = await Promise.all(Array.from({ length: 100 }, async (_, n) => await ch.request({ n }, 5000)))
    expect(replies).toEqual(Array.from({ length: 100 }, (_, n) => ({ ok: true, outcome: `r${n}` })))
  })

  it('bounds what a host handles at once per channel: the excess waits (backpressure) and then completes', async () => {
    let release: () => void = () => {}
    const gate = new Promise<void>((resolve) => { release = resolve })
    const { open, counters } = await pair(async () => { await gate; return { ok: true, outcome: 'done' } })
    const ch = await open()
    const all = Array.from({ length: CHANNEL_INFLIGHT_MAX + 10 }, async (_, n) => await ch.request({ n }, 10_000))
    await waitUntil(() => counters.maxInflight >= CHANNEL_INFLIGHT_MAX, { timeoutMs: 5000, what: `${CHANNEL_INFLIGHT_MAX} requests in flight at the host` })
    expect(counters.inflight).toBe(CHANNEL_INFLIGHT_MAX)
    release()
    const replies = await Promise.all(all)
    expect(replies.every(r => r.ok)).toBe(true)
    expect(counters.maxInflight).toBe(CHANNEL_INFLIGHT_MAX)
  })

  it('a slow host times out one request, not the channel; a malformed frame ends the channel for everyone waiting', async () => {
    const { open, counters } = await pair(async (f) => { await later(f.wait ?? 0); return { ok: true, outcome: String(f.n) } })
    const ch = await open()
    const slow = ch.request({ n: 1, wait: 2000 }, 100)
    expect(await slow).toMatchObject({ ok: false, code: 'ERR_TIMEOUT' })
    expect(await ch.request({ n: 2 }, 2000)).toEqual({ ok: true, outcome: '2' })
    const waiting = ch.request({ n: 3, wait: 1000 }, 5000)
    const bad = ch.request({ nope: true }, 5000)
    expect(await waiting).toMatchObject({ ok: false, code: 'ERR_UNREACHABLE' })
    expect(await bad).toMatchObject({ ok: false, code: 'ERR_UNREACHABLE' })
    expect(counters.malformed).toBe(1)
    expect(ch.closed).toBe(true)
    expect(await ch.request({ n: 4 }, 1000)).toMatchObject({ ok: false, code: 'ERR_UNREACHABLE' })
  })
})
