/**
 * Combinatorial settles off the apply path (issue 17). A 50-good × 1,000-bid VCG solve takes up to
 * seconds; run inside `apply` it stalls every later commit (and the event loop: heartbeats, reads).
 *
 * - {@link SolvePool}: a bounded pool of worker threads (`workersMax`), a bounded queue (`queueMax`,
 *   overflow refused with `ERR_SOLVE_QUEUE_FULL`), a time limit per solve (`solveTimeoutMs`: the worker is
 *   terminated, `ERR_SOLVE_TIMEOUT`). Each worker runs the same deterministic `combinatorial()` as the
 *   state machine.
 * - {@link SettleSolver}: per peer, solves by instance digest (one job per digest, deduplicated), keeps the
 *   finished outcomes (at most {@link SOLUTIONS_KEPT_MAX}, oldest forgotten) and serves them to the state
 *   machine (`Economy.solutionLookup`) when the auction's `auction.settle` is applied.
 *
 * Every replica starts its solve when it applies the deferred close (the bids are final then); the peer
 * that closed proposes the settle with its own result as the carried solution. Timing only decides how
 * fast a replica settles: with its worker's result at hand apply is a lookup; while its solve is queued or
 * running the replica pauses applying at the settle (`Economy.solutionWait` here, the driver's
 * `applyWaitMs`) without blocking its event loop, and resumes with the result; without one (the wait
 * ran out, the solve failed, timed out, was refused or forgotten) apply solves synchronously — the same
 * function on the same input (the digest covers it), so the outcome is the same.
 */
import { Worker } from 'node:worker_threads'
import { AgoraError } from '../../src/base/errors.js'
import type { Logger } from '../../src/base/log.js'
import { nullObject } from '../../src/base/input.js'
import type { BundleBid, CombinatorialOutcome, CombinatorialParams } from '../../protocols/auctions/combinatorial.js'
import type { AuctionLimits } from '../../protocols/auctions/types.js'

/** Worker threads solving at once (the machine has 2 cores; one is left to the event loop). */
export const SOLVE_WORKERS_MAX = 1
/** Solves waiting for a worker; more are refused with `ERR_SOLVE_QUEUE_FULL`. */
export const SOLVE_QUEUE_MAX = 16
/** Longest one solve may run in its worker before it is terminated (`ERR_SOLVE_TIMEOUT`). */
export const SOLVE_TIMEOUT_MS = 60_000
/** Finished solves a peer keeps for its replica's settles (oldest forgotten first). */
export const SOLUTIONS_KEPT_MAX = 64

export type SolveErrorCode = 'ERR_SOLVE_QUEUE_FULL' | 'ERR_SOLVE_TIMEOUT' | 'ERR_SOLVE_FAILED' | 'ERR_SOLVER_STOPPED'

export class SolveError extends AgoraError {
  static override readonly name = 'SolveError'
  constructor (code: SolveErrorCode | string, message: string, details: Record<string, unknown> = {}) {
    super(code, message, details)
  }
}

export interface SolveJob { params: CombinatorialParams, bids: BundleBid[], limits: AuctionLimits }

export interface SolvePoolOptions {
  workersMax?: number
  queueMax?: number
  solveTimeoutMs?: number
  /** Tests and benches: each finished solve is handed over this many ms late (a slower worker). Default 0. */
  delayMs?: number
  log?: Logger
}

interface Pending { id: number, job: SolveJob, resolve: (o: CombinatorialOutcome) => void, reject: (e: Error) => void }
interface Slot { worker: Worker, job: Pending | undefined, timer: ReturnType<typeof setTimeout> | undefined }

/**
 * Where the worker module is: the compiled `.js` beside this file, or (tests running the TypeScript
 * sources) the `.ts` one, loaded by Node's type stripping with a resolve hook that maps the sources'
 * `.js` specifiers to their `.ts` files.
 */
function workerEntry (): { url: URL, execArgv: string[] } {
  if (!import.meta.url.endsWith('.ts')) return { url: new URL('./solve-worker.js', import.meta.url), execArgv: [] }
  const hook = 'export async function resolve (s, c, next) { try { return await next(s, c) } catch (e) { if (e?.code === "ERR_MODULE_NOT_FOUND" && s.endsWith(".js") && s.startsWith(".")) return await next(s.slice(0, -3) + ".ts", c); throw e } }'
  const register = `import { register } from 'node:module'; register(${JSON.stringify('data:text/javascript,' + encodeURIComponent(hook))});`
  return { url: new URL('./solve-worker.ts', import.meta.url), execArgv: ['--no-warnings', '--import', 'data:text/javascript,' + encodeURIComponent(register)] }
}

/** A bounded pool of solver worker threads. */
export class SolvePool {
  readonly workersMax: number
  readonly queueMax: number
  readonly solveTimeoutMs: number
  readonly delayMs: number
  readonly stats = { solved: 0, failed: 0, timedOut: 0, refused: 0 }
  private readonly slots: Slot[] = []
  private readonly queue: Pending[] = []
  /** Finished solves held back by `delayMs` (at most one per solve dispatched, so bounded by the queue). */
  private readonly delayed = new Map<ReturnType<typeof setTimeout>, Pending>()
  private nextId = 1
  private stopped = false
  private readonly log: Logger | undefined

  constructor (options: SolvePoolOptions = {}) {
    this.workersMax = options.workersMax ?? SOLVE_WORKERS_MAX
    this.queueMax = options.queueMax ?? SOLVE_QUEUE_MAX
    this.solveTimeoutMs = options.solveTimeoutMs ?? SOLVE_TIMEOUT_MS
    this.delayMs = options.delayMs ?? 0
    if (!Number.isSafeInteger(this.delayMs) || this.delayMs < 0) throw new SolveError('ERR_INVALID_OPTION', 'delayMs must be a non-negative integer')
    for (const [k, v] of Object.entries({ workersMax: this.workersMax, queueMax: this.queueMax, solveTimeoutMs: this.solveTimeoutMs })) {
      if (!Number.isSafeInteger(v) || v < 1) throw new SolveError('ERR_INVALID_OPTION', `${k} must be a positive integer`)
    }
    this.log = options.log
  }

  /** Solves jobs in the queue and running. */
  get pending (): number { return this.queue.length + this.slots.filter(s => s.job !== undefined).length }

  /** Solves `job` in a worker; rejects with a {@link SolveError} (queue full, timed out, failed, stopped). */
  async solve (job: SolveJob): Promise<CombinatorialOutcome> {
    if (this.stopped) throw new SolveError('ERR_SOLVER_STOPPED', 'the solver pool is stopped')
    if (this.queue.length >= this.queueMax) {
      this.stats.refused++
      throw new SolveError('ERR_SOLVE_QUEUE_FULL', `queueMax (${this.queueMax}) solves are waiting`, { limit: 'queueMax', max: this.queueMax })
    }
    return await new Promise<CombinatorialOutcome>((resolve, reject) => {
      this.queue.push({ id: this.nextId++, job, resolve, reject })
      this.dispatch()
    })
  }

  /** Terminates every worker; waiting and running solves reject with `ERR_SOLVER_STOPPED`. */
  async stop (): Promise<void> {
    this.stopped = true
    const err = new SolveError('ERR_SOLVER_STOPPED', 'the solver pool stopped')
    for (const p of this.queue.splice(0)) p.reject(err)
    for (const [t, p] of this.delayed) { clearTimeout(t); p.reject(err) }
    this.delayed.clear()
    const slots = this.slots.splice(0)
    for (const s of slots) { if (s.timer !== undefined) clearTimeout(s.timer); s.job?.reject(err); s.job = undefined }
    await Promise.all(slots.map(async s => await s.worker.terminate()))
  }

  private dispatch (): void {
    while (this.queue.length > 0 && !this.stopped) {
      let slot = this.slots.find(s => s.job === undefined)
      if (slot === undefined) {
        if (this.slots.length >= this.workersMax) return
        slot = this.spawn()
      }
      const p = this.queue.shift()!
      slot.job = p
      const s = slot
      s.timer = setTimeout(() => { this.fail(s, new SolveError('ERR_SOLVE_TIMEOUT', `the solve ran past solveTimeoutMs (${this.solveTimeoutMs} ms)`, { limit: 'solveTimeoutMs', max: this.solveTimeoutMs })) }, this.solveTimeoutMs)
      s.worker.postMessage({ id: p.id, params: p.job.params, bids: p.job.bids, limits: p.job.limits })
    }
  }

  private spawn (): Slot {
    const { url, execArgv } = workerEntry()
    const worker = new Worker(url, { execArgv })
    // Never keeps the process alive on its own (a stopped peer's pool is terminated anyway).
    worker.unref()
    const slot: Slot = { worker, job: undefined, timer: undefined }
    worker.on('message', (m: { id: number, ok: boolean, outcome?: CombinatorialOutcome, code?: string, message?: string }) => {
      const p = slot.job
      if (p === undefined || p.id !== m.id) return
      if (slot.timer !== undefined) clearTimeout(slot.timer)
      slot.job = undefined
      slot.timer = undefined
      if (m.ok && m.outcome !== undefined) {
        this.stats.solved++
        m.outcome.payments = Object.assign(nullObject<number>(), m.outcome.payments)
        const outcome = m.outcome
        if (this.delayMs > 0) {
          const t = setTimeout(() => { this.delayed.delete(t); p.resolve(outcome) }, this.delayMs)
          this.delayed.set(t, p)
        } else {
          p.resolve(outcome)
        }
      } else {
        this.stats.failed++
        p.reject(new SolveError(m.code ?? 'ERR_SOLVE_FAILED', m.message ?? 'the solve failed'))
      }
      this.dispatch()
    })
    worker.on('error', (err) => { this.fail(slot, new SolveError('ERR_SOLVE_FAILED', `solver worker failed: ${err.message}`)) })
    worker.on('exit', () => { if (!this.stopped) this.fail(slot, new SolveError('ERR_SOLVE_FAILED', 'solver worker exited')) })
    this.slots.push(slot)
    return slot
  }

  /** Ends a slot's solve with `err` and drops its worker (a new one is started when needed). */
  private fail (slot: Slot, err: SolveError): void {
    const at = this.slots.indexOf(slot)
    if (at < 0) return
    this.slots.splice(at, 1)
    if (slot.timer !== undefined) clearTimeout(slot.timer)
    if (err.code === 'ERR_SOLVE_TIMEOUT') this.stats.timedOut++
    else this.stats.failed++
    const p = slot.job
    slot.job = undefined
    slot.worker.terminate().catch(() => {})
    if (p !== undefined) {
      this.log?.warn('combinatorial solve failed in its worker (the settle solves in apply instead)', { code: err.code, message: err.message })
      p.reject(err)
    }
    this.dispatch()
  }
}

/** A peer's off-log solves by instance digest: started once per digest, finished ones kept for apply. */
export class SettleSolver {
  private readonly runningSolves = new Map<string, Promise<CombinatorialOutcome>>()
  private readonly done = new Map<string, CombinatorialOutcome>()

  constructor (readonly pool: SolvePool) {}

  /** The solve of `digest` (started now unless it is running or done). `job` must be the digest's instance. */
  async solve (digest: string, job: SolveJob): Promise<CombinatorialOutcome> {
    const kept = this.done.get(digest)
    if (kept !== undefined) return kept
    let p = this.runningSolves.get(digest)
    if (p === undefined) {
      p = this.pool.solve(job)
      this.runningSolves.set(digest, p)
      p.then((o) => {
        this.done.set(digest, o)
        while (this.done.size > SOLUTIONS_KEPT_MAX) this.done.delete(this.done.keys().next().value!)
      }, () => {}).finally(() => { this.runningSolves.delete(digest) })
    }
    return await p
  }

  /** The solve of `digest` while it is queued or running here (undefined once done, failed, or never started). */
  running (digest: string): Promise<CombinatorialOutcome> | undefined {
    return this.runningSolves.get(digest)
  }

  /** The finished outcome for `digest`, if this peer has one (what `Economy.solutionLookup` serves). */
  lookup (digest: string): CombinatorialOutcome | undefined {
    return this.done.get(digest)
  }

  async stop (): Promise<void> { await this.pool.stop() }
}
