import { describe, expect, it } from 'vitest'
import { OPERATOR } from '../../sim/economy.js'
import { describeEntry } from '../../sim/entries.js'
import { encodeEconCommand } from '../../protocols/mesh/application.js'
import { decodeConfChange, encodeEnvelope } from '../../protocols/raft/index.js'
import { Simulation } from '../../sim/simulation.js'
import { runScenario } from '../../sim/runner.js'
import { validateScenario } from '../../sim/scenario.js'

const mint = (account: string, amount: number, owner?: string): Record<string, unknown> => ({ type: 'mint', by: 'treasury', account, amount, ...(owner !== undefined ? { owner } : {}) })

describe('economy entries in reports (sim/entries.ts)', () => {
  it('a command of the shipped envelope reads as econ: JSON with its session; raw proposals as their text', () => {
    const cmd = encodeEconCommand(mint('a1', 5, 'n1'))
    const e = { index: 4, term: 1, type: 'normal' as const, data: encodeEnvelope({ clientId: 'operator/sim', seq: 3, at: 1003, command: cmd }) }
    expect(describeEntry(e, decodeConfChange)).toBe('econ:{"cmd":{"type":"mint","by":"treasury","account":"a1","amount":5,"owner":"n1"},"o":"operator","t":1003,"c":"operator/sim","s":3}')
    const v = { index: 5, term: 1, type: 'normal' as const, data: encodeEnvelope({ clientId: 'c1/kv', seq: 1, at: 7, command: new TextEncoder().encode('{"op":"set","name":"x","value":"3"}') }) }
    expect(describeEntry(v, decodeConfChange)).toBe('var:{"cmd":{"op":"set","name":"x","value":"3"},"o":"c1","t":7,"c":"c1/kv","s":1}')
    expect(describeEntry({ index: 6, term: 1, type: 'normal', data: new TextEncoder().encode('x') }, decodeConfChange)).toBe('x')
    expect(describeEntry({ index: 7, term: 1, type: 'normal', data: new Uint8Array(0) }, decodeConfChange)).toBe('')
  })
})

function sim (clientRetryMs?: number): Simulation {
  return new Simulation({
    nodes: 3,
    learners: [],
    seed: 3,
    raft: { electionTick: 10, heartbeatTick: 1, preVote: false, checkQuorum: false },
    network: { latencyMs: [5, 20], drop: 0, duplicate: 0, reorder: 0 },
    tickMs: 10,
    timed: true,
    economy: true,
    ...(clientRetryMs !== undefined ? { clientRetryMs } : {})
  })
}

describe('economy in the simulation', () => {
  it('aggressive retries put duplicates in the log; each command applies once on every node', () => {
    const s = sim(10)
    s.runFor(1000)
    const seqs = [s.proposeEcon(2, OPERATOR, mint('a', 10, 'n2')), s.proposeEcon(3, OPERATOR, mint('b', 20, 'n3'))]
    s.runFor(1000)
    const log = s.nodeReport(1).log.map(e => e[2]).filter(t => t.startsWith('econ:'))
    expect(log.length).toBeGreaterThan(2) // retries every 10 ms, before the first attempt committed
    const outcomes = seqs.map(q => s.takeEconOutcome(q))
    expect(outcomes.map(o => o?.result?.ok)).toEqual([true, true])
    expect(s.takeEconOutcome(seqs[0] as number)).toBeUndefined() // taken once
    for (let id = 1; id <= 3; id++) {
      expect(s.economyOf(id)?.account('a')).toMatchObject({ free: 10 })
      expect(s.economyOf(id)?.supply()).toMatchObject({ minted: 30, total: 30 })
    }
    s.checkEconomies()
    expect(s.violations).toEqual([])
    expect(s.econPendingCount).toBe(0)
  })

  it('reports diverging economies (state-machine-safety) and broken invariants (conservation)', () => {
    const s = sim()
    s.runFor(1000)
    s.proposeEcon(0, OPERATOR, mint('a', 10, 'n1'))
    s.runFor(500)
    s.checkEconomies()
    expect(s.violations).toEqual([])
    // Tamper with node 2's ledger behind the log's back.
    const acct = (s.economyOf(2)?.ledger as unknown as { accounts: Map<string, { free: number }> }).accounts.get('a')
    if (acct === undefined) throw new Error('no account a on node 2')
    acct.free += 5
    s.checkEconomies()
    expect(s.violations.map(v => v.invariant).sort()).toEqual(['conservation', 'state-machine-safety'])
  })

  it('economy state survives compaction and a restart from the snapshot', () => {
    const s = sim()
    s.runFor(1000)
    s.proposeEcon(0, OPERATOR, mint('a', 10, 'n1'))
    s.proposeEcon(0, OPERATOR, mint('b', 7, 'n2'))
    s.runFor(500)
    const applied = s.appliedOf(1)
    expect(s.compact(1, applied)).toBeUndefined()
    s.crash(1)
    s.restart(1)
    expect(s.economyOf(1)?.account('b')).toMatchObject({ free: 7, owner: 'n2' })
    s.proposeEcon(1, 'n1', { type: 'transfer', by: 'a', from: 'a', to: 'b', amount: 4 })
    s.runFor(500)
    for (let id = 1; id <= 3; id++) expect(s.economyOf(id)?.account('b')).toMatchObject({ free: 11 })
    s.checkEconomies()
    expect(s.violations).toEqual([])
  })
})

describe('commit-reveal auctions in the auction verb', () => {
  const scenario = (reveal: boolean): ReturnType<typeof validateScenario> => validateScenario({
    name: 'sealed', nodes: 3, seed: 5,
    steps: [
      { run: 500 },
      { agent: { id: 'a1', node: 1, bid: 12 } },
      { agent: { id: 'a2', node: 2, bid: 20, reveal } },
      { mint: { account: 'a1', amount: 50 } },
      { mint: { account: 'a2', amount: 50 } },
      { auction: { id: 'g', node: 3, type: 'first-price', sealed: 'commit', deposit: 7, revealMs: 5000, durationMs: 3000 } },
      { expect: { auction: { g: { status: 'settled' } }, violations: 0, refusals: 0 } }
    ]
  })

  it('commits (no amounts in the log), waits out the bidding period, and settles early once all bids are revealed', () => {
    const r = runScenario(scenario(true))
    expect(r.ok).toBe(true)
    expect(r.auctions.g).toMatchObject({ status: 'settled', winners: [{ agent: 'a2', price: 20 }] })
    expect(r.accounts).toMatchObject({ a1: { free: 50 }, a2: { free: 30 }, 'seller:3': { free: 20 } })
    expect(r.accounts.treasury).toBeUndefined()
    const log = r.nodes['1']?.log.map(e => e[2]) ?? []
    const bids = log.filter(t => t.includes('"auction.bid"'))
    expect(bids).toHaveLength(2)
    for (const b of bids) expect(b).toMatch(/"commitment":"[0-9a-f]{64}"/)
    // The close came after the 3 s bidding period; the settle before the 5 s reveal window ended.
    const at = (type: string): number => { const t = log.find(x => x.includes(`"type":"${type}"`)); return t === undefined ? -1 : (JSON.parse(t.slice(5)) as { t: number }).t }
    const opened = at('auction.open')
    expect(at('auction.close') - opened).toBeGreaterThanOrEqual(3000)
    expect(at('auction.settle') - at('auction.close')).toBeLessThan(5000)
  })

  it('an agent that never reveals is excluded after the reveal window and forfeits its deposit to the treasury', () => {
    const r = runScenario(scenario(false))
    expect(r.ok).toBe(true)
    expect(r.auctions.g).toMatchObject({ status: 'settled', winners: [{ agent: 'a1', price: 12 }] })
    expect(r.accounts).toMatchObject({ a1: { free: 38 }, a2: { free: 43, escrow: 0 }, 'seller:3': { free: 12 }, treasury: { free: 7 } })
    expect(r.supply).toEqual({ minted: 100, total: 100 })
  })
})
