/**
 * The money path of an agent-id hijack, on a live Raft group over TCP: bid requests for an agent go to its
 * host, found in the registry. A rogue that takes the name in the registry (here by backdating its claim,
 * which the eventual rule cannot refuse: crdt/README.md, "Who owns an agent id") must still not receive
 * them: for a contested id the requester sends them to the claim of the peer that owns the agent's
 * account in the log (first committed claim wins).
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createLiveMesh } from '../../sim/live.js'
import type { LiveMesh } from '../../sim/live.js'
import type { Peer } from '../../peers/peer.js'
import type { BidRequest } from '../../peers/economy/economy.js'

let mesh: LiveMesh | undefined
afterEach(async () => {
  await mesh?.stop()
  mesh = undefined
})

describe('agent-id hijack and the auction path', () => {
  it('a contested bidder\'s requests go to the host owning its account, not to the registry\'s (backdated) winner', async () => {
    mesh = await createLiveMesh({ peers: 4, logLevel: 'silent', heartbeatIntervalMs: 200, raft: { voters: 3, tickMs: 20, electionTick: 10 } })
    const m = mesh
    await m.waitFor((p, i) => i >= 3 || p.raft?.status().leader !== undefined, { what: 'a known leader' })
    const [seller, , rogue, victim] = m.peers as [Peer, Peer, Peer, Peer]
    await seller.economy.mint('seller', 1, { owner: seller.id })
    await seller.economy.mint('gpu-v', 100, { owner: victim.id })
    await victim.registry.register({ id: 'gpu-v', capabilities: ['gpu'] })
    const asked: string[] = []
    victim.economy.handle('gpu-v', () => { asked.push('victim'); return { amount: 30 } })
    rogue.economy.on('auction:request', () => { asked.push('rogue') })
    await m.waitFor((p) => p.registry.lookup('gpu-v')?.host === victim.id, { what: 'every peer to see the victim\'s agent' })
    // The rogue claims the id in its own signed document, stamped before the victim's claim.
    const blob = rogue.replica.transact('reg', (doc) => {
      doc.getMap('agents').set('gpu-v', { capabilities: ['gpu'], resources: {}, health: 'healthy', metadata: {}, updatedAt: Date.now(), claimedAt: 0 })
    })!
    rogue.sync.publish(blob)
    await m.waitFor((p) => (p.replica.entry('reg', rogue.id)?.seq ?? 0) >= blob.seq, { what: 'the rogue\'s claim to reach every peer' })
    // The registry's eventual rule gives the name to the earliest (backdated) claim, and says it is contested.
    expect(seller.registry.lookup('gpu-v')).toMatchObject({ host: rogue.id, contested: true })
    const report = await seller.economy.runAuction({ id: 'h1', mechanism: 'first-price', items: ['gpu'], reserve: 1, durationMs: 60_000 }, { seller: 'seller', bidders: { capability: 'gpu' } })
    expect(report.responses).toEqual({ 'gpu-v': 'bid' })
    expect(asked).toEqual(['victim'])
    expect(report.auction.outcome?.winners).toEqual([{ agent: 'gpu-v', items: ['gpu'], quantity: 1, price: 30 }])
  })
})
