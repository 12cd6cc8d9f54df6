/**
 * Acknowledged writes lost over SIGKILL cycles of Raft voters [must be 0]: three voter daemons (`agora
 * start`, real child processes with data dirs, fsync on) under continuous strong-variable writes and
 * ledger transfers; every ~1 s one voter is SIGKILLed (alternately the current leader and a follower),
 * restarted from its data dir and awaited until it is ready and the group agrees on a leader. Then every
 * acknowledged write is read back linearizably from every daemon. What the clients do and what counts
 * as lost: test/helpers/kill-soak.ts. A cycle that does not recover within 20 s ends the bench with an
 * error naming it.
 *
 * BENCH_KILL_CYCLES (default 30, enough writes for the log to pass the 10,000-entry snapshot; half of them leader kills), BENCH_KILL_WRITERS (default 4),
 * BENCH_KILL_KEEP=1 keeps the data dirs.
 */
import { runKillSoak } from '../helpers/kill-soak.js'

export const name = 'kill'

export default async function (): Promise<Record<string, unknown>> {
  const r = await runKillSoak({
    cycles: Number(process.env.BENCH_KILL_CYCLES ?? 30),
    writers: Number(process.env.BENCH_KILL_WRITERS ?? 4),
    keysPerWriter: 256,
    ledger: true,
    periodMs: 1000,
    minAcksBetween: 20,
    recoveryTimeoutMs: 20_000,
    keep: process.env.BENCH_KILL_KEEP === '1',
    log: (msg) => { process.stderr.write(`  kill: ${msg}\n`) }
  })
  const { cycleDetail, ...figures } = r
  return {
    ...figures,
    cycleDetail: cycleDetail.map(c => `${c.cycle}:${c.kind[0]}:d${c.victim} exit ${c.exitMs} start ${c.startMs} ready ${c.readyMs} recov ${c.recoveryMs} unavail ${String(c.unavailabilityMs)} d${c.leaderBefore}->d${c.leaderAfter}`)
  }
}
