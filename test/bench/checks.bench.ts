/**
 * Health checks' figures (peers/checks) on a local registry: the cost of a TTL check-in (the agent's hot
 * path: status unchanged), of declaring checks, of a mass TTL expiry (every agent of a peer hung: one
 * timer, one registry write per agent), and of a `health: 'healthy'` query now that the host's liveness
 * takes part (each candidate's host is checked).
 */
import { createLocalRegistry } from '../../crdt/registry.js'
import { PeerChecks } from '../../peers/checks/service.js'

export const name = 'checks'

const AGENTS = Number(process.env.BENCH_CHECK_AGENTS ?? 5000)
const CHECK_INS = 200_000
const QUERIES = 20_000

function round (x: number, d = 3): number {
  return Number(x.toFixed(d))
}

export default async function (): Promise<Record<string, unknown>> {
  const registry = createLocalRegistry({ limits: { agentsPerHostMax: AGENTS + 10 } })
  const checks = new PeerChecks({ registry }, { outputSyncMs: 3_600_000 })
  checks.start()

  let t0 = performance.now()
  for (let i = 0; i < AGENTS; i++) {
    await checks.register({ id: `a${i}`, capabilities: [i % 2 === 0 ? 'even' : 'odd'] }, [{ id: 'alive', ttlMs: 60_000 }])
  }
  const registerWithCheckUs = (performance.now() - t0) * 1000 / AGENTS

  // The hot path: check-ins that change nothing but the last result's time.
  for (let i = 0; i < 10_000; i++) checks.pass(`a${i % AGENTS}`, 'alive')
  t0 = performance.now()
  for (let i = 0; i < CHECK_INS; i++) checks.pass(`a${i % AGENTS}`, 'alive')
  const checkInNs = (performance.now() - t0) * 1e6 / CHECK_INS

  t0 = performance.now()
  for (let i = 0; i < QUERIES; i++) registry.query({ capability: 'even', health: 'healthy', limit: 10 })
  const healthyQueryLimit10Us = (performance.now() - t0) * 1000 / QUERIES

  checks.close()

  // Every agent hangs: their TTLs run out at the same moment (a manual clock moves past them at once);
  // measured until every result is written, with the longest stretch the event loop was held meanwhile.
  let now = Date.now()
  const timers = new Map<number, { at: number, fn: () => void }>()
  let seq = 0
  const burst = new PeerChecks({
    registry,
    now: () => now,
    timers: { set: (fn, ms) => { timers.set(++seq, { at: now + ms, fn }); return seq }, clear: (h) => { timers.delete(h as number) } }
  }, { outputSyncMs: 3_600_000 })
  burst.start()
  t0 = performance.now()
  for (let i = 0; i < AGENTS; i++) await burst.declare(`a${i}`, [{ id: 'alive', ttlMs: 1000 }])
  const declareUs = (performance.now() - t0) * 1000 / AGENTS
  const writesBefore = burst.stats().writes
  let maxGapMs = 0
  let last = performance.now()
  let ticking = true
  const tick = (): void => {
    const t = performance.now()
    maxGapMs = Math.max(maxGapMs, t - last)
    last = t
    if (ticking) setImmediate(tick)
  }
  now += 1001
  t0 = performance.now()
  last = t0
  setImmediate(tick)
  for (const [id, x] of [...timers]) if (x.at <= now) { timers.delete(id); x.fn() }
  while (burst.stats().writes < writesBefore + AGENTS) await new Promise(resolve => setImmediate(resolve))
  const massExpiryMs = performance.now() - t0
  ticking = false
  let unhealthy = 0
  for (let i = 0; i < AGENTS; i++) if (registry.lookup(`a${i}`)!.health === 'unhealthy') unhealthy++
  const stats = burst.stats()
  burst.close()
  return {
    agents: AGENTS,
    registerWithCheckUs: round(registerWithCheckUs),
    checkInNs: round(checkInNs, 1),
    healthyQueryLimit10Us: round(healthyQueryLimit10Us),
    declareUs: round(declareUs),
    massExpiryMs: round(massExpiryMs, 1),
    massExpiryPerAgentUs: round(massExpiryMs * 1000 / AGENTS),
    massExpiryLoopHeldMaxMs: round(maxGapMs, 1),
    unhealthy,
    expired: stats.expired
  }
}
