/**
 * Trust between Raft members (issue "Hardening against hostile peers"): members forward raw entries, so
 * before signatures a member could propose under another peer's session and act as it (a learner minted
 * 1,000,000 as the treasury). Economy commands now carry their origin's signature (envelope v3),
 * verified in apply on every replica. Real peers over TCP.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createLiveMesh } from '../../sim/live.js'
import type { LiveMesh } from '../../sim/live.js'
import { encodeEconCommand } from '../../protocols/mesh/application.js'
import { signedPayload } from '../../protocols/raft/envelope.js'
import { createSigner } from '../../peers/keys.js'
import { generateKeyPair } from '@libp2p/crypto/keys'

let mesh: LiveMesh | undefined
afterEach(async () => { await mesh?.stop(); mesh = undefined })

describe('a member cannot speak for another peer', () => {
  it('forged economy commands are refused on every replica and take no session slot; real ones apply', async () => {
    mesh = await createLiveMesh({ peers: 4, logLevel: 'silent', heartbeatIntervalMs: 200 })
    const [a, b, c, d] = mesh.peers as [NonNullable<LiveMesh['peers'][0]>, NonNullable<LiveMesh['peers'][0]>, NonNullable<LiveMesh['peers'][0]>, NonNullable<LiveMesh['peers'][0]>]
    const voters = [a.id, b.id, c.id]
    // Only a is the treasury; c is an ordinary voter turned hostile.
    for (const p of [a, b, c]) await p.startRaft({ voters, economyAuthorities: [a.id], tickMs: 20, electionTick: 10 })
    await mesh.waitFor((p, i) => i === 3 || (p.raft?.status().leader !== undefined && p.raft.economy !== undefined), { what: 'a leader and the genesis' })
    const mint = encodeEconCommand({ type: 'mint', by: 'treasury', account: 'loot', amount: 1_000_000, owner: c.id })
    const forged = { clientId: `${a.id}/forged`, seq: 1 }
    const driverOf = (p: typeof a) => p.raft!.driver!
    // Unsigned (c's driver cannot sign for a), then signed with c's own key, then with a fresh key.
    const unsigned = await driverOf(c).propose(mint, forged)
    expect(unsigned.result).toMatchObject({ ok: false, code: 'ERR_BAD_SIGNATURE' })
    const cSigner = createSigner(c.id, (c.libp2p as unknown as { components: { privateKey: Parameters<typeof createSigner>[1] } }).components.privateKey)
    const ownKey = await driverOf(c).propose(mint, forged, cSigner.sign(signedPayload(forged.clientId, forged.seq, mint)))
    expect(ownKey.result).toMatchObject({ ok: false, code: 'ERR_BAD_SIGNATURE' })
    const stranger = await generateKeyPair('Ed25519')
    const strangerSig = createSigner('x', stranger).sign(signedPayload(forged.clientId, forged.seq, mint))
    const third = await driverOf(c).propose(mint, forged, strangerSig)
    expect(third.result).toMatchObject({ ok: false, code: 'ERR_BAD_SIGNATURE' })
    // Every replica refused all three: no loot anywhere, supply unchanged.
    await mesh.waitFor((p, i) => i === 3 || p.raft!.status().applied >= third.index, { what: 'every member applied the forgeries' })
    for (const p of [a, b, c]) {
      expect(p.raft!.economy!.account('loot')).toBeUndefined()
      expect(p.raft!.economy!.supply().minted).toBe(0)
      expect(p.raft!.stats().badSignatures).toBe(3)
    }
    // a's real command under that very session and seq still applies: the forgeries took no slot.
    const real = await driverOf(a).propose(encodeEconCommand({ type: 'mint', by: 'treasury', account: 'd-funds', amount: 70, owner: d.id }), forged)
    expect(real.result).toMatchObject({ ok: true })
    // A peer outside the group signs its own commands on the client path.
    await d.economy.open('d-spare')
    await d.economy.transfer('d-funds', 'd-spare', 20)
    expect(await b.economy.account('d-spare')).toMatchObject({ free: 20, owner: d.id })
  })
})
