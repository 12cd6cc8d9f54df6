/**
 * SIGKILL of Raft voters under load, short (the full figure is `npm run bench kill`): three voter
 * daemons with data dirs, strong-variable writers and ledger transfers running, three cycles (two of
 * them leader kills) of SIGKILL, restart from the data dir, ready, leader agreed; then no acknowledged
 * write is lost on any daemon and the supply is conserved. The soak: test/helpers/kill-soak.ts.
 */
import { describe, expect, it } from 'vitest'
import { runKillSoak } from '../helpers/kill-soak.js'

describe('agora start: SIGKILL of voters under writes', () => {
  it('loses no acknowledged write over 3 kill cycles (2 of them the leader) and recovers each time', async () => {
    const r = await runKillSoak({ cycles: 3, writers: 2, keysPerWriter: 64, ledger: true, ledgerBits: 20, periodMs: 0, minAcksBetween: 20, recoveryTimeoutMs: 20_000 })
    expect(r.cycles).toBe(3)
    expect(r.leaderKills).toBeGreaterThanOrEqual(1)
    for (const c of r.cycleDetail) expect(c.unavailabilityMs, `cycle ${c.cycle}`).not.toBeNull()
    expect(r.strong.acknowledged).toBeGreaterThan(0)
    expect(r.ledger!.acknowledged).toBeGreaterThan(0)
    expect(r.lostAcknowledgedWrites, JSON.stringify(r)).toBe(0)
    expect(r.strong.phantom).toBe(0)
    expect(r.strong.divergentReads).toBe(0)
    expect(r.ledger!.phantom).toBe(0)
    expect(r.ledger!.divergentReads).toBe(0)
    expect(r.supplyProblems).toEqual([])
    expect(r.supplyConserved).toBe(true)
  }, 60_000)
})
