/**
 * Elections and singletons across failures over TCP (C2), with 3 and 5 voters and client peers:
 * the election leader's peer crashes and the next candidate in line leads with a greater token; a
 * singleton never runs on two peers at once while its runner is partitioned away and then crashed,
 * checked from a shared history of the intervals in which each peer ran it.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { LiveMesh } from '../../sim/live.js'
import type { Peer } from '../../peers/peer.js'
import type { Election, LeaderInfo, Leadership, Singleton } from '../../peers/coordination/service.js'
import { waitUntil } from '../helpers/wait.js'
import { History, VOTER_COUNTS, coordMesh, followerIndex } from './harness.js'

let mesh: LiveMesh | undefined
afterEach(async () => { await mesh?.stop(); mesh = undefined })

/** Lease TTL of candidates and runners: their keepalives (every TTL/3) must come back on a loaded machine. */
const TTL_MS = 3000

/** Election `name` read linearizably through member `p`: its number of holders and its waiters' owners in line. */
async function electionState (p: Peer, name: string): Promise<{ holders: number, waiters: string[] }> {
  await p.raft!.readBarrier()
  const v = p.raft?.app?.coordination.lock('election', name)
  return { holders: v?.holders.length ?? 0, waiters: v?.waiters.map(w => w.owner) ?? [] }
}

describe.each(VOTER_COUNTS)('election failover (%i voters)', (voters) => {
  it.each(['the Raft leader', 'a client peer'] as const)('the leading candidate on %s crashes: the next candidate in line leads, with a greater token', async (where) => {
    mesh = await coordMesh(voters, 2)
    const m = mesh
    const history = new History()
    const first = where === 'the Raft leader' ? m.leader()! : voters
    // The next candidates, queued in this order: a follower voter, then a client.
    const follower = followerIndex(m, voters, [first])
    const client = first === voters ? voters + 1 : voters
    const observerPeer = followerIndex(m, voters, [first, follower])
    const name = 'primary'
    const observed: Array<LeaderInfo | undefined> = []
    const off = m.peers[observerPeer]!.coordination.election(name).observe(l => { observed.push(l); history.add('observed', observerPeer, l?.owner) })

    const elections = new Map<number, Election>()
    const campaign = async (i: number): Promise<Leadership> => {
      const lease = await m.peers[i]!.coordination.grantLease({ ttlMs: TTL_MS })
      const election = m.peers[i]!.coordination.election(name)
      elections.set(i, election)
      const lead = await election.campaign({ peer: i }, { lease })
      history.add('leads', i, { token: lead.token })
      return lead
    }
    const old = await campaign(first)
    const second = campaign(follower)
    second.catch(() => {})
    await waitUntil(async () => (await electionState(m.peers[observerPeer]!, name)).waiters.length === 1, { what: 'the follower queued', timeoutMs: 30_000 })
    const third = campaign(client)
    third.catch(() => {})
    await waitUntil(async () => (await electionState(m.peers[observerPeer]!, name)).waiters.length === 2, { what: 'the client queued', timeoutMs: 30_000 })
    expect((await electionState(m.peers[observerPeer]!, name)).waiters).toEqual([m.peers[follower]!.id, m.peers[client]!.id])
    await waitUntil(() => observed.at(-1)?.owner === m.peers[first]!.id, { what: 'the observer sees the first leader', timeoutMs: 30_000 })

    history.add('crash', first)
    await m.crash(first)
    const next = await second
    expect(next.token, history.toString()).toBeGreaterThan(old.token)
    expect(next.signal.aborted).toBe(false)
    // The client is still in line; the leader as every surviving peer reads it is the follower.
    expect(await electionState(m.peers[observerPeer]!, name)).toEqual({ holders: 1, waiters: [m.peers[client]!.id] })
    expect(await m.peers[client]!.coordination.election(name).leader()).toMatchObject({ owner: m.peers[follower]!.id, token: next.token, value: { peer: follower } })
    await waitUntil(() => observed.at(-1)?.owner === m.peers[follower]!.id, { what: 'the observer sees the new leader', timeoutMs: 30_000 })
    off()

    // It resigns: the client leads next, with a greater token still.
    await elections.get(follower)!.resign()
    expect(next.signal.aborted).toBe(true)
    const last = await third
    expect(last.token).toBeGreaterThan(next.token)
  })
})

interface Run { peer: number, start: number, end: number }

describe.each(VOTER_COUNTS)('runSingleton (%i voters)', (voters) => {
  it('never runs on two peers at once while its runner is partitioned away, then crashed', async () => {
    mesh = await coordMesh(voters, 2)
    const m = mesh
    // Runners: two follower voters and the two clients.
    const f1 = followerIndex(m, voters)
    const runners = [f1, followerIndex(m, voters, [f1]), voters, voters + 1]
    const runs: Run[] = []
    const singletons = new Map<number, Singleton>()
    for (const i of runners) {
      singletons.set(i, m.peers[i]!.coordination.runSingleton('compactor', async (signal) => {
        const run: Run = { peer: i, start: performance.now(), end: Infinity }
        runs.push(run)
        // The end is when the signal aborts (synchronously, in the abort itself).
        await new Promise<void>(resolve => {
          if (signal.aborted) { run.end = performance.now(); resolve(); return }
          signal.addEventListener('abort', () => { run.end = performance.now(); resolve() }, { once: true })
        })
      }, { ttlMs: TTL_MS }))
    }
    const describeRuns = (): string => runs.map(r => `peer ${r.peer}: ${r.start.toFixed(1)}..${r.end.toFixed(1)}`).join('\n')
    /** The peer running it now: one whose run started after `since` and has not ended. */
    const runningSince = async (since: number, what: string): Promise<number> => await waitUntil(() => runs.find(r => r.start > since && r.end === Infinity)?.peer, { what, timeoutMs: 40_000 })

    const a = await runningSince(0, 'a first run')
    // The runner is cut off alone (a voter alone is a minority in both group sizes).
    const cut = performance.now()
    await m.partition([[a], m.peers.map((_, i) => i).filter(i => i !== a)])
    const b = await runningSince(cut, 'a run on the majority side')
    expect(b).not.toBe(a)
    await m.heal()
    // The one running now crashes.
    const crashed = performance.now()
    await m.crash(b)
    const c = await runningSince(crashed, 'a run after the crash')
    expect(c).not.toBe(b)

    await Promise.all([...singletons].filter(([i]) => i !== b).map(async ([, s]) => { await s.stop() }))
    expect(runs.every(r => r.end !== Infinity), describeRuns()).toBe(true)
    const sorted = [...runs].sort((x, y) => x.start - y.start)
    for (let k = 1; k < sorted.length; k++) {
      expect(sorted[k]!.start, `runs overlap:\n${describeRuns()}`).toBeGreaterThanOrEqual(sorted[k - 1]!.end)
    }
    expect(new Set(runs.map(r => r.peer)).size).toBeGreaterThanOrEqual(3)
  })
})
