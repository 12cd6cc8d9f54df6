/**
 * Tasks and the economy on a live 3-voter group over TCP: a task's outcome feeds its agent's E3
 * reputation, a failed task slashes its agent's stake (task_failure), a reward is escrowed at submit and
 * paid to the completing agent, and `allocation: 'auction'` auctions the task among the candidates first.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { LiveMesh } from '../../sim/live.js'
import type { Peer } from '../../peers/peer.js'
import { coordMesh } from '../coordination/harness.js'

let m: LiveMesh

/** Agent `id` on `host`: funded, staked, with a capability, a task handler and a bid handler. */
async function agent (host: Peer, id: string, o: { capability: string, bid?: number, fail?: boolean }): Promise<void> {
  await m.peers[0]!.economy.mint(id, 100, { owner: host.id })
  await host.economy.stake(id, 40)
  host.agents.handle(id, {
    onTask: (task) => {
      if (o.fail === true) throw new Error('this agent always fails')
      return { ok: true, by: id, x: (task.payload as { x: number }).x }
    },
    ...(o.bid !== undefined ? { onBidRequest: () => ({ amount: o.bid! }) } : {})
  })
  await host.registry.register({ id, capabilities: [o.capability] })
}

beforeAll(async () => {
  m = await coordMesh(3, 1)
  const [, b, c, d] = m.peers as [Peer, Peer, Peer, Peer]
  await m.peers[0]!.economy.mint('client', 500, { owner: m.peers[0]!.id })
  await agent(b, 'good', { capability: 'reliable' })
  await agent(c, 'flaky', { capability: 'unreliable', fail: true, bid: 1 })
  await agent(c, 'cheap', { capability: 'bidding', bid: 5 })
  await agent(d, 'eager', { capability: 'bidding', bid: 20 })
  await m.waitFor((p) => ['good', 'flaky', 'cheap', 'eager'].every(a => p.registry.lookup(a) !== undefined), { what: 'every agent known everywhere', timeoutMs: 30_000 })
}, 90_000)

afterAll(async () => { await m?.stop() })

describe('tasks and the economy over TCP', () => {
  it('a completed task raises its agent\'s reputation and pays it the escrowed reward', async () => {
    const a = m.peers[0]!
    const before = (await a.economy.account('good'))!
    const clientBefore = (await a.economy.account('client'))!.free
    const { id } = await a.tasks.submit({ capability: 'reliable', payload: { x: 1 }, account: 'client', reward: 30 })
    // Escrowed at submit.
    expect((await a.economy.account('client'))!.free).toBe(clientBefore - 30)
    const done = await a.tasks.wait(id, { timeoutMs: 20_000 })
    expect(done).toMatchObject({ state: 'completed', agent: 'good' })
    const after = (await a.economy.account('good'))!
    expect(after.free).toBe(before.free + 30)
    expect(after.reputation).toBeGreaterThan(before.reputation)
  }, 30_000)

  it('a failed task lowers its agent\'s reputation and refunds the reward; failures of tasks it won at auction slash its stake (task_failure, evidence = the task\'s entries)', async () => {
    const a = m.peers[0]!
    const before = (await a.economy.account('flaky'))!
    const clientBefore = (await a.economy.account('client'))!.free
    const { id } = await a.tasks.submit({ agent: 'flaky', payload: { x: 2 }, retries: 0, account: 'client', reward: 10 })
    const done = await a.tasks.wait(id, { timeoutMs: 20_000 })
    expect(done.state).toBe('failed')
    const after = (await a.economy.account('flaky'))!
    expect(after.reputation).toBeLessThan(before.reputation)
    expect((await a.economy.account('client'))!.free).toBe(clientBefore)
    // Not auctioned: the agent never accepted the terms, so no offence is counted against its stake.
    expect(after.history).toEqual([])
    // E2 graces the first task failures (minor offences) before slashing: keep failing tasks it won at auction until the stake drops.
    let staked = after.staked
    for (let i = 0; i < 5 && staked >= before.staked; i++) {
      const t = await a.tasks.submit({ agent: 'flaky', payload: { x: i }, retries: 0, allocation: 'auction', account: 'client', reward: 1 })
      expect((await a.tasks.wait(t.id, { timeoutMs: 20_000 })).state).toBe('failed')
      staked = (await a.economy.account('flaky'))!.staked
    }
    expect(staked).toBeLessThan(before.staked)
    const acct = (await a.economy.account('flaky'))!
    expect(acct.slashCount).toBeGreaterThan(0)
    // The slash's record names the condition and carries the task's log entries as evidence.
    expect(JSON.stringify(acct.history)).toContain('task_failure')
  }, 60_000)

  it('onVote given to peer.agents.handle answers coordination votes (one request interface)', async () => {
    const b = m.peers[1]!
    b.agents.handle('judge', { onVote: () => 'yes', onRequest: () => 'pong' })
    await b.registry.register({ id: 'judge', capabilities: ['judge'] })
    await m.waitFor((p) => p.registry.lookup('judge') !== undefined, { what: 'judge known', timeoutMs: 30_000 })
    const decision = await m.peers[3]!.coordination.vote({ options: ['yes', 'no'], voters: ['judge'], deadlineMs: 10_000 })
    expect(decision.outcome).toBe('yes')
    expect(await m.peers[3]!.agents.request('judge', 'ping')).toBe('pong')
    // Unregistering removes every handler, the vote handler included.
    b.agents.unhandle('judge')
    expect(b.agents.handled()).not.toContain('judge')
  }, 40_000)

  it('allocation auction: the task goes to the auction\'s winner, which is paid the reward on completion', async () => {
    const a = m.peers[0]!
    const eagerBefore = (await a.economy.account('eager'))!.free
    const { id } = await a.tasks.submit({ capability: 'bidding', payload: { x: 3 }, allocation: 'auction', account: 'client', reward: 50 })
    const done = await a.tasks.wait(id, { timeoutMs: 30_000 })
    expect(done).toMatchObject({ state: 'completed', agent: 'eager' })
    // Vickrey: eager (20) beats cheap (5) and pays the second price, 5, to the submitter's account; then earns 50.
    expect((await a.economy.account('eager'))!.free).toBe(eagerBefore - 5 + 50)
  }, 40_000)
})
