/**
 * Jobs of the agent-level verbs (sim/agents.ts, sim/coordination.ts): a job is a generator that proposes
 * commands through Raft and yields their op ids to wait for their first applications (or `{ until }` to
 * sleep in virtual time); it returns a refusal's text, or undefined when it is done. A verb advances
 * virtual time until its job is done, at most a bound; past the bound a refusal is recorded and the job
 * goes on in the background, driven by {@link JobRunner.poll} after every tick round.
 */
import { LimitExceededError } from '../src/base/errors.js'
import type { Simulation } from './simulation.js'

/** A job waits for its proposals' first applications, or (`{ until }`) for the virtual clock. */
export type JobWait = number[] | { until: number }
export type JobGen<O> = Generator<JobWait, string | undefined, O[]>

export interface Job<O> {
  name: string
  gen: JobGen<O>
  waiting: number[]
  /** Virtual time the job sleeps until (undefined: not sleeping). */
  until: number | undefined
  got: Map<number, O>
  done: boolean
}

export class JobRunner<O> {
  private readonly jobs: Array<Job<O>> = []

  /**
   * `take(id)`: the first application of op `id`, once (undefined while pending). `jobsMax` (named
   * `limit`) bounds the jobs in progress.
   */
  constructor (private readonly sim: Simulation, private readonly take: (id: number) => O | undefined, private readonly jobsMax: number, private readonly limit: string) {}

  get active (): number { return this.jobs.length }

  /** Start a job (it runs until its first wait at once). */
  start (name: string, gen: JobGen<O>): Job<O> {
    if (this.jobs.length >= this.jobsMax) throw new LimitExceededError(this.limit, this.jobsMax, this.jobs.length + 1, 'agent jobs in progress')
    const job: Job<O> = { name, gen, waiting: [], until: undefined, got: new Map(), done: false }
    this.resume(job, [])
    if (!job.done) this.jobs.push(job)
    return job
  }

  /** Advance virtual time until `job` is done, at most `boundMs`; past it a refusal is recorded (the job goes on). */
  runBounded (job: Job<O>, boundMs: number): void {
    if (!job.done) this.sim.runFor(boundMs, () => job.done)
    if (!job.done) this.sim.recordRefusal(`${job.name}: not done within ${boundMs} ms (still in progress)`)
  }

  /** Advance every job whose awaited commands have applied (called after every tick round). */
  poll (): void {
    for (let i = 0; i < this.jobs.length; i++) {
      const job = this.jobs[i] as Job<O>
      this.advance(job)
      if (job.done) { this.jobs.splice(i, 1); i-- }
    }
  }

  private advance (job: Job<O>): void {
    while (!job.done) {
      if (job.until !== undefined) {
        if (this.sim.now < job.until) return
        job.until = undefined
        this.resume(job, [])
        continue
      }
      for (const id of job.waiting) {
        if (job.got.has(id)) continue
        const o = this.take(id)
        if (o !== undefined) job.got.set(id, o)
      }
      if (job.got.size < job.waiting.length) return
      const results = job.waiting.map(s => job.got.get(s) as O)
      job.got.clear()
      this.resume(job, results)
    }
  }

  private resume (job: Job<O>, results: O[]): void {
    const r = job.gen.next(results)
    if (r.done === true) {
      job.done = true
      job.waiting = []
      if (r.value !== undefined) this.sim.recordRefusal(`${job.name}: ${r.value}`)
    } else if (Array.isArray(r.value)) {
      job.waiting = r.value
    } else {
      job.waiting = []
      job.until = r.value.until
    }
  }
}
