/**
 * Barriers and votes among agents on three peers over TCP (C3, C4), with 3 and 5 voters and client
 * peers: a barrier generation breaks for every waiter when a host of an arrived agent is killed (its
 * session lease expires), and the survivors' next generation releases; a vote among the same agents is
 * won by the majority under `majority` and by a minority with high E3 reputation under `weighted`
 * (reputation set through treasury outcomes of the economy).
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { LiveMesh } from '../../sim/live.js'
import { BarrierBrokenError } from '../../peers/coordination/errors.js'
import { LEASE_TTL_MS_DEFAULT } from '../../peers/coordination/service.js'
import { VOTER_COUNTS, coordMesh, followerIndex } from './harness.js'
import { waitUntil } from '../helpers/wait.js'

let mesh: LiveMesh | undefined
afterEach(async () => { await mesh?.stop(); mesh = undefined })

describe.each(VOTER_COUNTS)('barrier (%i voters)', (voters) => {
  // With 3 voters the killed host is a client; with 5, the Raft leader (its session lease outlives the failover by an epoch).
  const killedKind = voters === 3 ? 'a client host' : 'the Raft leader host'
  it(`a barrier of 5 agents on 3 peers breaks for every waiter when ${killedKind} is killed mid-generation; the survivors' next generation releases`, async () => {
    mesh = await coordMesh(voters, 2)
    const m = mesh
    const killed = voters === 3 ? voters : m.leader()!
    const hostA = followerIndex(m, voters, [killed])
    const hostB = voters + 1
    const agents: Array<[string, number]> = [['a1', hostA], ['a2', hostA], ['b1', hostB], ['b2', hostB], ['k1', killed]]
    for (const [id, host] of agents) await m.peers[host]!.registry.register({ id, capabilities: ['worker'] })
    // Longer than the killed host's session lease: the generation breaks because that lease ends, not by timeout.
    const timeoutMs = 4 * LEASE_TTL_MS_DEFAULT
    const barrier = (host: number, parties: number) => m.peers[host]!.coordination.barrier('epoch-end', { parties, timeoutMs })

    // Generation 1: four of five arrive (b2 stays out), then k1's host is killed.
    const waiting = (['a1', 'a2', 'b1'] as const).map(id => {
      const host = agents.find(([a]) => a === id)![1]
      const p = barrier(host, 5).arrive(id)
      p.catch(() => {})
      return p
    })
    const killedWait = barrier(killed, 5).arrive('k1')
    killedWait.catch(() => {})
    await waitUntil(async () => (await m.peers[hostB]!.coordination.barrierState('epoch-end'))?.arrived.length === 4, { what: 'four arrivals', timeoutMs: 30_000 })
    await m.crash(killed)

    const outcomes = await Promise.allSettled(waiting)
    for (const o of outcomes) {
      expect(o.status).toBe('rejected')
      const err = (o as PromiseRejectedResult).reason as BarrierBrokenError
      expect(err).toBeInstanceOf(BarrierBrokenError)
      expect(err).toMatchObject({ code: 'ERR_BARRIER_BROKEN', details: { name: 'epoch-end', generation: 1 } })
      expect(String(err.details.reason)).toContain(m.peers[killed]!.id)
    }
    const state = await m.peers[hostA]!.coordination.barrierState('epoch-end')
    expect(state?.history[0]).toMatchObject({ generation: 1, status: 'broken' })
    expect([...state!.history[0]!.arrivals].sort()).toEqual(['a1', 'a2', 'b1', 'k1'])

    // Generation 2: the four survivors.
    const released = await Promise.all((['a1', 'a2', 'b1', 'b2'] as const).map(async id => await barrier(agents.find(([a]) => a === id)![1], 4).arrive(id)))
    expect(released).toEqual([{ generation: 2 }, { generation: 2 }, { generation: 2 }, { generation: 2 }])
    expect((await m.peers[hostB]!.coordination.barrierState('epoch-end'))?.history.at(-1)).toMatchObject({ generation: 2, status: 'released' })
  })
})

/** Delivered, on-time outcomes of top quality raise an account's E3 reputation; undelivered ones lower it. */
const OUTCOMES_PER_AGENT = 8

describe.each(VOTER_COUNTS)('votes (%i voters)', (voters) => {
  it('among agents on 3 peers: the majority wins under majority, a minority with high reputation wins under weighted', async () => {
    mesh = await coordMesh(voters, 2)
    const m = mesh
    const treasury = m.peers[0]!
    const hostX = followerIndex(m, voters)
    const hostY = voters
    const hostZ = voters + 1
    // Two trusted agents choose A; three distrusted ones choose B.
    const agents: Array<{ id: string, host: number, choice: string, trusted: boolean }> = [
      { id: 'hi-1', host: hostX, choice: 'A', trusted: true },
      { id: 'hi-2', host: hostY, choice: 'A', trusted: true },
      { id: 'lo-1', host: hostX, choice: 'B', trusted: false },
      { id: 'lo-2', host: hostY, choice: 'B', trusted: false },
      { id: 'lo-3', host: hostZ, choice: 'B', trusted: false }
    ]
    // Accounts owned by their hosts (the economy's owner decides who answers for an agent), then outcomes.
    await Promise.all(agents.map(async (a) => {
      await treasury.economy.mint(a.id, 1, { owner: m.peers[a.host]!.id })
      for (let k = 0; k < OUTCOMES_PER_AGENT; k++) {
        await treasury.economy.outcome(a.id, a.trusted ? { delivered: true, onTime: true, qualityPpm: 1_000_000 } : { delivered: false, onTime: false, qualityPpm: 0 })
      }
    }))
    const reputation = new Map<string, number>()
    for (const a of agents) reputation.set(a.id, (await m.peers[hostZ]!.economy.account(a.id))!.reputation)
    const weightOf = (trusted: boolean): number => agents.filter(a => a.trusted === trusted).reduce((s, a) => s + reputation.get(a.id)!, 0)
    // The setup does what the test needs: the trusted minority outweighs the rest.
    expect(weightOf(true)).toBeGreaterThan(weightOf(false))

    for (const a of agents) {
      await m.peers[a.host]!.registry.register({ id: a.id, capabilities: ['council'] })
      m.peers[a.host]!.coordination.onVote(a.id, () => a.choice)
    }
    const opener = m.peers[voters - 1 === hostX ? voters - 2 : voters - 1]!
    await waitUntil(() => opener.registry.query({ capability: 'council' }).agents.length === agents.length, { what: 'the opener sees the council', timeoutMs: 30_000 })

    const byMajority = await opener.coordination.vote({ options: ['A', 'B'], voters: { capability: 'council' }, deadlineMs: 30_000, topic: 'by head count' })
    expect(byMajority).toMatchObject({ status: 'decided', outcome: 'B', reason: 'threshold' })
    expect(byMajority.ballots.filter(b => b.choice === 'B').length).toBe(3)

    const byWeight = await opener.coordination.vote({ options: ['A', 'B'], voters: { capability: 'council' }, rule: 'weighted', deadlineMs: 30_000, topic: 'by reputation' })
    expect(byWeight).toMatchObject({ status: 'decided', outcome: 'A', reason: 'threshold' })
    // Weights are the reputation scores in ppm, fixed when the vote opened.
    for (const b of byWeight.ballots) expect(b.weight).toBe(Math.round(reputation.get(b.agent)! * 1_000_000))
    expect(byWeight.ballots.filter(b => b.choice === 'A').map(b => b.agent).sort()).toEqual(['hi-1', 'hi-2'])
    const view = await opener.coordination.voteState(byWeight.vote)
    expect(view?.voters.map(v => [v.agent, v.host]).sort()).toEqual(agents.map(a => [a.id, m.peers[a.host]!.id]).sort())
  })
})
