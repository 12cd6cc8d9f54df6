/**
 * Metrics fed to an adaptation function: task outcomes of the affected agents (from `peer.tasks`
 * events), the latencies of the owner's own deliveries, and metrics reported by hand. The owner keeps
 * them in a bounded window between two adaptation rounds. Pure.
 */
import { InvalidMetricError } from './errors.js'
import { METRIC_BYTES_MAX } from './limits.js'

/** A task attempt of an affected agent ended. */
export interface TaskMetric {
  kind: 'task'
  agent: string
  task: number
  attempt: number
  /** `completed`; `failed` (no retry left); `reassigned` (the attempt ended and the task went to another one). */
  outcome: 'completed' | 'failed' | 'reassigned'
  /** Why the attempt ended when it did not complete (failed, timeout, host-lost, ...). */
  reason?: string
  error?: string
  /** Log-time ms from the attempt's assignment to the task's end, when known. */
  latencyMs?: number
  /** The variable's version the owner had coordinated when the outcome arrived. */
  version: number
  /** Wall-clock ms on the owner when it arrived. */
  at: number
}

/** One of the owner's instruction deliveries to an agent (a request through the agents' interface). */
export interface RequestMetric {
  kind: 'request'
  agent: string
  ok: boolean
  code?: string
  latencyMs: number
  version: number
  at: number
}

/** A metric reported by hand (`handle.report(...)`): any kind but `task` and `request`. */
export interface CustomMetric {
  kind: string
  agent?: string
  value?: number
  data?: unknown
  version: number
  at: number
}

export type Metric = TaskMetric | RequestMetric | CustomMetric

/** What `report()` takes: `at` is filled in by the owner, and `version` when the reporter leaves it out. */
export interface MetricInput {
  kind: string
  /** The version the measured work ran under (an agent knows it from its instruction); default: the owner's current one. */
  version?: number
  agent?: string
  /** For `kind: 'task'`: the outcome, latency... as in {@link TaskMetric}. */
  outcome?: TaskMetric['outcome']
  task?: number
  attempt?: number
  reason?: string
  latencyMs?: number
  value?: number
  data?: unknown
}

/** Validates a hand-reported metric (InvalidMetricError); returns a plain copy without `version`/`at`. */
export function validateMetric (m: MetricInput): MetricInput {
  if (m === null || typeof m !== 'object') throw new InvalidMetricError('must be an object')
  if (typeof m.kind !== 'string' || m.kind.length < 1 || m.kind.length > 64) throw new InvalidMetricError('kind must be 1..64 characters')
  if (m.kind === 'request') throw new InvalidMetricError('kind "request" is the owner\'s own')
  if (m.agent !== undefined && (typeof m.agent !== 'string' || m.agent.length < 1 || m.agent.length > 128)) throw new InvalidMetricError('agent must be 1..128 characters')
  if (m.version !== undefined && (!Number.isSafeInteger(m.version) || m.version < 1)) throw new InvalidMetricError('version must be an integer ≥ 1')
  for (const k of ['value', 'latencyMs'] as const) {
    if (m[k] !== undefined && (typeof m[k] !== 'number' || !Number.isFinite(m[k]))) throw new InvalidMetricError(`${k} must be a finite number`)
  }
  if (m.kind === 'task') {
    if (m.outcome !== 'completed' && m.outcome !== 'failed' && m.outcome !== 'reassigned') throw new InvalidMetricError('a task metric needs outcome completed, failed or reassigned')
    if (typeof m.agent !== 'string') throw new InvalidMetricError('a task metric needs its agent')
  }
  let text: string | undefined
  try { text = JSON.stringify(m) } catch { text = undefined }
  if (text === undefined) throw new InvalidMetricError('must be JSON')
  if (Buffer.byteLength(text) > METRIC_BYTES_MAX) throw new InvalidMetricError(`JSON must be at most ${METRIC_BYTES_MAX} bytes`)
  return JSON.parse(text) as MetricInput
}

/**
 * The owner's metrics since the last adaptation round: at most `max` (the oldest dropped first, and
 * counted); `outcomes` counts what paces adaptation (every kind but `request`).
 */
export class MetricWindow {
  private items: Metric[] = []
  private head = 0
  private droppedCount = 0
  private outcomeCount = 0
  constructor (readonly max: number) {}

  get size (): number { return this.items.length - this.head }
  /** Metrics that pace adaptation (task outcomes and hand-reported ones) since the last take. */
  get outcomes (): number { return this.outcomeCount }

  push (m: Metric): void {
    this.items.push(m)
    if (m.kind !== 'request') this.outcomeCount++
    if (this.size > this.max) {
      this.head++
      this.droppedCount++
      if (this.head > 1024 && this.head * 2 > this.items.length) { this.items = this.items.slice(this.head); this.head = 0 }
    }
  }

  /** Every metric held (oldest first) and the number dropped since the last take; empties the window. */
  take (): { metrics: Metric[], dropped: number } {
    const out = { metrics: this.items.slice(this.head), dropped: this.droppedCount }
    this.clear()
    return out
  }

  clear (): void {
    this.items = []
    this.head = 0
    this.droppedCount = 0
    this.outcomeCount = 0
  }
}
