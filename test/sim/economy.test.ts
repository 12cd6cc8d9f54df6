import { describe, expect, it } from 'vitest'
import { decodeEcon, decodeNodeSnapshot, EconReplica, encodeEcon, encodeNodeSnapshot, OPERATOR } from '../../sim/economy.js'
import { defaultFactory } from '../../sim/raft-binding.js'
import { Simulation } from '../../sim/simulation.js'
import { runScenario } from '../../sim/runner.js'
import { validateScenario } from '../../sim/scenario.js'

const mint = (account: string, amount: number, owner?: string): Record<string, unknown> => ({ type: 'mint', by: 'treasury', account, amount, ...(owner !== undefined ? { owner } : {}) })
const env = (s: number, cmd: Record<string, unknown>, a = 0): string => encodeEcon({ cmd, o: OPERATOR, t: 1000 + s, c: 1, s, a })

describe('economy replica (sim/economy.ts)', () => {
  it('entries are readable econ: text and decode back; other text is not an economy entry', () => {
    const text = env(3, mint('a1', 5, 'n1'))
    expect(text).toBe('econ:{"cmd":{"type":"mint","by":"treasury","account":"a1","amount":5,"owner":"n1"},"o":"operator","t":1003,"c":1,"s":3,"a":0}')
    expect(decodeEcon(text)).toEqual({ cmd: mint('a1', 5, 'n1'), o: 'operator', t: 1003, c: 1, s: 3, a: 0 })
    for (const t of ['x', '{"c":1}', 'econ:', 'econ:{"cmd":1}', 'econ:[1]']) expect(decodeEcon(t), t).toBeUndefined()
  })

  it('applies each session command once: duplicates and out-of-order retries are skipped, also after a snapshot', () => {
    const r = new EconReplica()
    expect(r.apply(1, env(1, mint('a', 10, 'n1')))?.result).toMatchObject({ ok: true })
    // A retry of seq 1 (another attempt) committed later is a duplicate.
    expect(r.apply(2, env(1, mint('a', 10, 'n1'), 1))).toMatchObject({ result: undefined })
    // Seq 3 before seq 2, then both again.
    expect(r.apply(3, env(3, mint('a', 1)))?.result).toMatchObject({ ok: true })
    expect(r.apply(4, env(2, mint('a', 100)))?.result).toMatchObject({ ok: true })
    expect(r.apply(5, env(3, mint('a', 1), 1))?.result).toBeUndefined()
    expect(r.apply(6, env(2, mint('a', 100), 1))?.result).toBeUndefined()
    expect(r.apply(7, 'plain kv data')).toBeUndefined()
    expect(r.economy.account('a')).toMatchObject({ free: 111 })
    const back = EconReplica.restore(JSON.parse(JSON.stringify(r.snapshot())))
    expect(back.apply(8, env(2, mint('a', 100), 2))?.result).toBeUndefined()
    expect(back.apply(9, env(4, mint('a', 1000)))?.result).toMatchObject({ ok: true })
    expect(back.economy.account('a')).toMatchObject({ free: 1111 })
    expect(back.economy.invariants()).toEqual([])
  })

  it('node snapshots carry the KV bytes and the economy', () => {
    const r = new EconReplica()
    r.apply(1, env(1, mint('a', 10, 'n2')))
    const kv = new TextEncoder().encode('{"kv":1}')
    const d = decodeNodeSnapshot(encodeNodeSnapshot(kv, r))
    expect(new TextDecoder().decode(d.kv)).toBe('{"kv":1}')
    expect(d.econ.economy.account('a')).toMatchObject({ free: 10, owner: 'n2' })
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
    factory: defaultFactory,
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
