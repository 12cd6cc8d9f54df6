/**
 * A peer outside the Raft group that joins many budgets (up to JOINED_MAX) over TCP: its budget watches
 * must not take every slot the member keeps for its client requests, so its other Raft operations (strong
 * writes, its session lease's keepalives) go on and every share stays active.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { LiveMesh } from '../../sim/live.js'
import { coordMesh } from '../coordination/harness.js'
import { waitUntil } from '../helpers/wait.js'
import { CLIENT_INBOUND_PER_PEER_MAX } from '../../peers/raft/client.js'

const SESSION_TTL_MS = 2000
const BUDGETS = CLIENT_INBOUND_PER_PEER_MAX + 8

let m: LiveMesh

beforeAll(async () => {
  m = await coordMesh(1, 1, { sessionLeaseTtlMs: SESSION_TTL_MS })
}, 60_000)

afterAll(async () => { await m?.stop() })

describe('many budgets joined through the client path', () => {
  it('the watches leave room for the peer\'s other client requests; every share stays active past several session TTLs', async () => {
    const [voter, client] = [m.peers[0]!, m.peers[1]!]
    const names = Array.from({ length: BUDGETS }, (_, i) => `b${i}`)
    for (const name of names) await voter.budgets.define(name, { ratePerSecond: 10, burst: 10 })
    for (const name of names) await client.budgets.join(name, { capacity: 1 })
    // Every budget's watch is parked on the member now; the client's other requests still pass.
    const v = client.variables.strong<number>('after-joins', { initial: 0 })
    await v.set(1)
    expect(await v.get()).toBe(1)
    // Keepalives went on: after three session TTLs no share was lost.
    const until = Date.now() + 3 * SESSION_TTL_MS
    await waitUntil(() => Date.now() >= until, { what: 'three session TTLs', timeoutMs: 4 * SESSION_TTL_MS + 10_000 })
    expect(client.budgets.stats.leasesLost).toBe(0)
    expect(client.budgets.statuses().filter(s => s.state !== 'active').map(s => s.name)).toEqual([])
  }, 120_000)
})
