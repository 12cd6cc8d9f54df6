/**
 * Mesh-wide budgets (`npm run bench budget`): the cost of `peer.budgets.tryTake()` / `take()` per call (the
 * local token bucket at this host's share: a map lookup and a bucket, no Raft round), admitted and
 * refused, next to the bare token bucket; the machine's apply cost of a join (the split recomputed); and,
 * over TCP (3 voters and a peer outside the group), how long a re-split takes to reach every host: from
 * a join's proposal to the moment every other host's share changed (members read their replica, the
 * outside peer long-polls a member).
 */
import { PeerBudgets } from '../../peers/budget/service.js'
import type { BudgetBackend } from '../../peers/budget/backend.js'
import { MeshApplication, encodeCoordCommand, revisionOf } from '../../protocols/mesh/application.js'
import { TokenBucket } from '../../protocols/infrastructure/token-bucket.js'
import { createLogger } from '../../src/base/log.js'
import { dist, round, waitFor, withVoterMesh } from './figures.js'

export const name = 'budget'

const log = createLogger('silent', 'bench')

/** ns per call of `fn` over `n` calls (after a warm-up). */
function nsPerCall (n: number, fn: () => void): number {
  for (let i = 0; i < Math.min(n, 100_000); i++) fn()
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < n; i++) fn()
  return round(Number(process.hrtime.bigint() - t0) / n, 1)
}

/** A PeerBudgets whose backend is a local mesh application (the real machine, no network). */
async function localBudgets (): Promise<{ budgets: PeerBudgets, app: MeshApplication }> {
  const app = new MeshApplication()
  let index = 0
  const apply = (command: Uint8Array, origin: string): { index: number, result: unknown } => { const i = ++index; return { index: i, result: app.apply(command, i, { origin, at: Date.now() }) } }
  const lease = (apply(encodeCoordCommand({ t: 'lease.grant', ttlMs: 3_600_000 }), 'self').result as { lease: number }).lease
  const backend: BudgetBackend = {
    propose: async (command) => apply(command, 'self'),
    read: async (n) => app.read(n),
    // A watch that never changes: waits out its round.
    watch: async (n, rev, ms) => { if (revisionOf(app, n) === rev) await new Promise(resolve => setTimeout(resolve, Math.min(ms, 60_000)).unref()); return app.read(n) }
  }
  const budgets = new PeerBudgets({ self: 'self', log, coordination: { sessionLeaseOf: async () => ({ id: lease, signal: new AbortController().signal }) } })
  budgets.setBackend(backend)
  budgets.start()
  return { budgets, app }
}

export default async function (): Promise<Record<string, unknown>> {
  const N = 2_000_000
  const { budgets, app } = await localBudgets()
  // Admitted: a rate no loop can use up.
  await budgets.define('hot', { ratePerSecond: 1e9, burst: 1e9 })
  await budgets.join('hot', { capacity: 1 })
  const bucket = new TokenBucket({ ratePerSecond: 1e9, burst: 1e9 }, performance.now())
  const bucketNs = nsPerCall(N, () => { bucket.take(performance.now()) })
  const tryTakeNs = nsPerCall(N, () => { budgets.tryTake('hot') })
  const takeNs = nsPerCall(N, () => { budgets.take('hot') })
  // Refused: a share that never refills.
  await budgets.define('cold', { ratePerSecond: 0, burst: 1 })
  await budgets.join('cold', { capacity: 1 })
  const refusedTryTakeNs = nsPerCall(N, () => { budgets.tryTake('cold') })
  const refusedTakeNs = nsPerCall(200_000, () => { try { budgets.take('cold') } catch {} })
  budgets.stop()
  // The machine: a join among 255 hosts (the split recomputed for the view of the result).
  const machine = app.budgets
  const joinUs = ((): number => {
    let idx = 1_000_000
    const leases: number[] = []
    for (let i = 0; i < 255; i++) leases.push((app.apply(encodeCoordCommand({ t: 'lease.grant', ttlMs: 3_600_000 }), ++idx, { origin: `h${i}`, at: 0 }) as { lease: number }).lease)
    const t0 = performance.now()
    for (let i = 0; i < 255; i++) machine.apply({ t: 'budget.join', name: 'hot', capacity: 1 + (i % 7), lease: leases[i]! }, ++idx, `h${i}`)
    return round((performance.now() - t0) * 1000 / 255, 1)
  })()

  const live = await withVoterMesh('budget', 4, { voters: 3, tickMs: 20, electionTick: 10 }, async (m) => {
    const peers = m.peers
    await peers[0]!.budgets.define('live', { ratePerSecond: 100, burst: 100 })
    for (const i of [0, 1, 3]) await peers[i]!.budgets.join('live', { capacity: 1 })
    await waitFor(() => [0, 1, 3].every(i => peers[i]!.budgets.status('live')?.budget?.hosts.length === 3), 30_000, 'three shares seen')
    const memberMs: number[] = []
    const clientMs: number[] = []
    for (let round = 0; round < 10; round++) {
      const before = [0, 1, 3].map(i => peers[i]!.budgets.status('live')!.share.ratePerSecond)
      const t0 = performance.now()
      let member: number | undefined
      let client: number | undefined
      const joined = peers[2]!.budgets.join('live', { capacity: 1 + (round % 3) })
      await waitFor(() => {
        const now = performance.now() - t0
        if (member === undefined && [0, 1].every((i, k) => peers[i]!.budgets.status('live')!.share.ratePerSecond !== before[k])) member = now
        if (client === undefined && peers[3]!.budgets.status('live')!.share.ratePerSecond !== before[2]) client = now
        return member !== undefined && client !== undefined
      }, 30_000, 'every host re-split')
      await joined
      memberMs.push(member!)
      clientMs.push(client!)
      await peers[2]!.budgets.leave('live')
      await waitFor(() => [0, 1, 3].every(i => peers[i]!.budgets.status('live')?.budget?.hosts.length === 3), 30_000, 'back to three shares')
    }
    return { resplitMembersMs: dist(memberMs), resplitClientMs: dist(clientMs) }
  })

  return {
    calls: N,
    bucketTakeNsPerCall: bucketNs,
    tryTakeNsPerCall: tryTakeNs,
    takeNsPerCall: takeNs,
    refusedTryTakeNsPerCall: refusedTryTakeNs,
    refusedTakeThrowingNsPerCall: refusedTakeNs,
    machineJoinUsPerApply255Hosts: joinUs,
    ...live
  }
}
