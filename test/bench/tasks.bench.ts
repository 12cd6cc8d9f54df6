/**
 * `peer.tasks` figures on a 3-voter Raft group over TCP on loopback, fsync on (data dirs in the OS temp
 * dir), in one process (issue 13, "Benchmarks"; targets in brackets):
 *  a. throughput: one peer (a follower voter) keeps BENCH_TASK_OUTSTANDING tasks outstanding (submit, then
 *     submit again when one completes) for 8 agents of one capability (two on each voter, two on a client
 *     peer outside the group; handlers return at once, least-loaded allocation); completions counted over a
 *     fixed window after a warm-up: tasks/s submitted, assigned and completed [>= 2,000/s], Raft entries
 *     per task (batching), CPU per task (this process, all threads: the 4 peers and libuv's fsync
 *     workers), submit -> completed latency p50/p99 (submit call to the completion event on the
 *     submitter's replica);
 *     a2: the same with 6 agents on the voters only (no task hint, no Raft client path on the hosts);
 *  b. reassignment after a host crash: a task held (acked, under its host's session lease) by an agent on
 *     a peer outside the group, whose host is then crashed; time from the crash to `task:reassigned` on
 *     the submitter's replica and to the completion by another agent, minus the session lease TTL
 *     [reassigned within TTL + 1 s]. The session lease has the default TTL (LEASE_TTL_MS_DEFAULT, 10 s):
 *     peer.coordination offers no option to shorten it. The group expires a lease a TTL after its last
 *     keepalive (sent every TTL/3), so crash-to-reassigned minus the TTL is negative by up to TTL/3;
 *     `reassignedAfterGroupExpiryMs` measures from the expiry the group had recorded instead.
 *
 * Election timeout: tickMs 50 x electionTick 8 (as the coordination bench). BENCH_TASK_OUTSTANDING
 * (default 1000), BENCH_TASK_SECONDS (window, default 10), BENCH_TASK_CRASHES (default 3) change the sizes.
 */
import type { LiveMesh } from '../../sim/live.js'
import type { Peer } from '../../peers/peer.js'
import { LEASE_TTL_MS_DEFAULT } from '../../peers/coordination/service.js'
import type { TaskEvent } from '../../protocols/tasks/types.js'
import { dist, pct, round, sleep, waitFor, withVoterMesh } from './figures.js'

export const name = 'tasks'

const progress = (msg: string): void => { process.stderr.write(`  tasks: ${msg}\n`) }

const RAFT = { tickMs: 50, electionTick: 8, fsync: true }
const VOTERS = 3
const WORKER_CLIENT = VOTERS
const CRASHES = Number(process.env.BENCH_TASK_CRASHES ?? 3)
const OUTSTANDING = Number(process.env.BENCH_TASK_OUTSTANDING ?? 1000)
const WINDOW_SECONDS = Number(process.env.BENCH_TASK_SECONDS ?? 10)
const WARMUP_SECONDS = 3

/** (a) `OUTSTANDING` tasks kept outstanding from `submitter`; counts over a window after a warm-up. */
async function throughput (m: LiveMesh, submitter: Peer, capability: string): Promise<Record<string, unknown>> {
  const waiters = new Map<number, () => void>()
  const finished = new Set<number>()
  let completedEvents = 0
  let failedEvents = 0
  let reassignedEvents = 0
  const offs = [
    submitter.tasks.on('task:completed', (e: TaskEvent) => {
      completedEvents++
      const w = waiters.get(e.task)
      if (w !== undefined) { waiters.delete(e.task); w() } else finished.add(e.task)
    }),
    submitter.tasks.on('task:failed', (e: TaskEvent) => {
      failedEvents++
      const w = waiters.get(e.task)
      if (w !== undefined) { waiters.delete(e.task); w() } else finished.add(e.task)
    }),
    submitter.tasks.on('task:reassigned', () => { reassignedEvents++ })
  ]
  const completion = async (id: number): Promise<void> => {
    if (finished.delete(id)) return
    await new Promise<void>((resolve) => { waiters.set(id, resolve) })
  }
  const ran0 = m.peers.slice(0, VOTERS + 1).map(p => p.tasks.stats.ran)
  let measuring = false
  let stop = false
  let doneInWindow = 0
  const lat: number[] = []
  const errors: Record<string, number> = {}
  const loops = Array.from({ length: OUTSTANDING }, async () => {
    while (!stop) {
      const t0 = performance.now()
      let id: number
      try {
        id = (await submitter.tasks.submit({ capability, payload: { x: 1 } })).id
      } catch (err) {
        const code = (err as { code?: string }).code ?? String(err)
        errors[code] = (errors[code] ?? 0) + 1
        await sleep(50)
        continue
      }
      await completion(id)
      if (measuring) { doneInWindow++; lat.push(performance.now() - t0) }
    }
  })
  progress(`warm-up ${WARMUP_SECONDS} s, ${OUTSTANDING} outstanding`)
  await sleep(WARMUP_SECONDS * 1000)
  const raft = submitter.raft!
  const applied0 = raft.status().applied
  const stats0 = { ...submitter.tasks.stats }
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  const completed0 = completedEvents
  measuring = true
  progress(`window ${WINDOW_SECONDS} s`)
  await sleep(WINDOW_SECONDS * 1000)
  measuring = false
  const secs = (performance.now() - t0) / 1000
  const cpu = process.cpuUsage(c0)
  const entries = raft.status().applied - applied0
  const completedInWindow = completedEvents - completed0
  const stats1 = { ...submitter.tasks.stats }
  stop = true
  progress('draining')
  await Promise.race([Promise.all(loops), sleep(60_000)])
  for (const off of offs) off()
  // Where the work went: runs per host.
  const ranPerPeer = m.peers.slice(0, VOTERS + 1).map((p, i) => p.tasks.stats.ran - ran0[i]!)
  return {
    outstanding: OUTSTANDING,
    seconds: round(secs),
    tasksPerSec: Math.round(completedInWindow / secs),
    completedInWindow,
    raftEntriesPerTask: round(entries / completedInWindow),
    raftEntriesPerSec: Math.round(entries / secs),
    submitterBatchesPerSec: Math.round((stats1.batches - stats0.batches) / secs),
    submitterOpsPerBatch: round((stats1.ops - stats0.ops) / Math.max(1, stats1.batches - stats0.batches)),
    cpuUsPerTask: Math.round((cpu.user + cpu.system) / completedInWindow),
    cpuCoresBusy: round((cpu.user + cpu.system) / 1e6 / secs),
    submitToCompletedMs: dist(lat),
    failedEvents,
    reassignedEvents,
    submitErrors: errors,
    ranPerPeer,
    hintedToClientHost: stats1.hinted - stats0.hinted,
    target: '>= 2000 tasks/s submitted, assigned and completed'
  }
}

/** (b) Tasks held by agents on client peers that are then crashed. */
async function crashReassign (m: LiveMesh, submitter: Peer, reps: number): Promise<Record<string, unknown>> {
  const ttl = LEASE_TTL_MS_DEFAULT
  const voters = m.peers.slice(0, VOTERS)
  const toReassigned: number[] = []
  const toCompleted: number[] = []
  const afterExpiry: number[] = []
  const reassignedAgents: string[] = []
  for (let r = 0; r < reps; r++) {
    const i = WORKER_CLIENT + 1 + r
    const host = m.peers[i]!
    const cap = `crash-${r}`
    host.agents.handle(`held-${r}`, { onTask: async (_t, ctx) => { await new Promise<void>((resolve) => { ctx.signal.addEventListener('abort', () => { resolve() }) }) } })
    await host.registry.register({ id: `held-${r}`, capabilities: [cap] })
    await waitFor(() => voters.every(p => p.registry.lookup(`held-${r}`) !== undefined), 30_000, `held-${r} known`)
    const { id } = await submitter.tasks.submit({ capability: cap, payload: { r }, retries: 2, timeoutMs: 120_000 })
    await waitFor(async () => (await submitter.tasks.get(id))?.record.history[0]?.ackedAt !== undefined, 15_000, 'the attempt acked under the host\'s session lease')
    const held = (await submitter.tasks.get(id))!
    if (held.agent !== `held-${r}`) throw new Error(`task ${id} went to ${held.agent}`)
    // A second agent of the capability, on a voter, takes the task once it is reassigned.
    const backup = voters[(r % (VOTERS - 1)) + 1]!
    backup.agents.handle(`backup-${r}`, { onTask: () => ({ done: true }) })
    await backup.registry.register({ id: `backup-${r}`, capabilities: [cap] })
    await waitFor(() => voters.every(p => p.registry.lookup(`backup-${r}`) !== undefined), 30_000, `backup-${r} known`)
    let reassignedAt: number | undefined
    let completedAt: number | undefined
    const offs = [
      submitter.tasks.on('task:reassigned', (e: TaskEvent) => { if (e.task === id) reassignedAt ??= Date.now() }),
      submitter.tasks.on('task:completed', (e: TaskEvent) => { if (e.task === id) completedAt ??= Date.now() })
    ]
    const crashedAt = Date.now()
    await m.crash(i)
    const lease = held.record.history[0]!.lease!
    await voters[0]!.raft!.readBarrier()
    const raw = voters[0]!.raft!.app!.read(`coord:lease:${lease}`)
    const expiresAt = raw === undefined ? undefined : (JSON.parse(raw) as { expiresAt: number }).expiresAt
    await waitFor(() => completedAt !== undefined, ttl + 30_000, `task ${id} completed after the crash`)
    for (const off of offs) off()
    const done = (await submitter.tasks.get(id))!
    reassignedAgents.push(`${done.record.history[0]?.end ?? '?'} -> ${done.agent}`)
    toReassigned.push(reassignedAt! - crashedAt - ttl)
    toCompleted.push(completedAt! - crashedAt - ttl)
    if (expiresAt !== undefined) afterExpiry.push(reassignedAt! - expiresAt)
    progress(`crash ${r + 1}: reassigned ${reassignedAt! - crashedAt} ms, completed ${completedAt! - crashedAt} ms after the crash (TTL ${ttl} ms)`)
  }
  const mm = (xs: number[]): { min: number, p50: number, max: number, all: number[] } => ({ min: Math.min(...xs), p50: pct(xs, 0.5), max: Math.max(...xs), all: xs })
  return {
    leaseTtlMs: ttl,
    leaseTtlNote: 'the default session lease TTL (LEASE_TTL_MS_DEFAULT); the session lease has no TTL option',
    crashToReassignedMinusTtlMs: mm(toReassigned),
    crashToCompletedMinusTtlMs: mm(toCompleted),
    reassignedAfterGroupExpiryMs: afterExpiry.length > 0 ? mm(afterExpiry) : null,
    attempts: reassignedAgents,
    note: 'the group expires a lease a TTL after its last keepalive, sent up to TTL/3 before the crash: crash-to-reassigned minus TTL is negative by up to TTL/3',
    target: 'reassigned <= TTL + 1000 ms after the crash'
  }
}

export default async function (): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = { setup: `3 voters over TCP loopback, fsync on, 1 worker client peer + ${CRASHES} crashed client peers, one process; tickMs ${RAFT.tickMs}, electionTick ${RAFT.electionTick}` }
  await withVoterMesh('tasks', VOTERS + 1 + CRASHES, { voters: VOTERS, ...RAFT }, async (mesh, leader) => {
    const submitterIndex = [0, 1, 2].find(i => i !== leader)!
    const submitter = mesh.peers[submitterIndex]!
    const agents: string[] = []
    /** Two agents of `capability` on each of `hosts`, whose handlers return at once. */
    const fast = async (capability: string, hosts: number[]): Promise<void> => {
      for (const i of hosts) {
        for (const k of ['a', 'b']) {
          const id = `${capability}-${i}${k}`
          mesh.peers[i]!.agents.handle(id, { onTask: (t) => t.payload })
          await mesh.peers[i]!.registry.register({ id, capabilities: [capability] })
          agents.push(id)
        }
      }
    }
    await fast('fast', [0, 1, 2, WORKER_CLIENT])
    // The same on the voters only: what the client host's path costs.
    await fast('fast-v', [0, 1, 2])
    await waitFor(() => mesh.peers.slice(0, VOTERS).every(p => agents.every(a => p.registry.lookup(a) !== undefined)), 30_000, 'the fast agents known')
    out.submitter = `voter ${submitterIndex} (a follower; the leader is voter ${leader})`
    progress('a: throughput, 8 agents on the 3 voters and a client peer')
    out.throughput = await throughput(mesh, submitter, 'fast')
    progress('a2: throughput, 6 agents on the 3 voters only')
    out.throughputVotersOnly = await throughput(mesh, submitter, 'fast-v')
    progress('b: reassignment after a host crash')
    out.crashReassign = await crashReassign(mesh, submitter, CRASHES)
  })
  return out
}
