/**
 * The batch-size policy of the orchestration example: the owner tells every worker its batch size, and
 * tunes it from the team's task outcomes like TCP's congestion window (AIMD): when more than a fifth of
 * the outcomes under the current version failed, halve it; when none failed, add `increase`. Always
 * within the constraints.
 */
import { nearestAllowed } from '../../peers/orchestration/constraints.js'
import type { AdaptContext, Instructions, OrchestratedOptions } from '../../peers/orchestration/variable.js'
import type { Metric } from '../../peers/orchestration/metrics.js'
import type { AgentView } from '../../crdt/types.js'

export const BATCH_CONSTRAINTS = Object.freeze({ min: 1, max: 64, step: 1 })

/** Failure rate above which the batch is halved. */
export const FAILURE_RATE_MAX = 0.2

/** Every worker gets the batch size; workers are numbered so they can split a shared queue. */
export function coordinateBatch (size: number, agents: readonly AgentView[]): Instructions {
  return new Map(agents.map((a, i) => [a.id, { batchSize: size, worker: i, workers: agents.length }]))
}

/** The AIMD step: only outcomes under the current version count (older ones ran with another size). */
export function adaptBatch (increase = 2) {
  return (metrics: readonly Metric[], size: number, ctx: AdaptContext<number>): number | undefined => {
    const outcomes = metrics.filter(m => m.kind === 'task' && m.version === ctx.version)
    if (outcomes.length === 0) return undefined
    const failed = outcomes.filter(m => (m as { outcome?: string }).outcome !== 'completed').length
    if (failed / outcomes.length > FAILURE_RATE_MAX) return nearestAllowed(ctx.constraints, Math.floor(size / 2))
    if (failed === 0) return nearestAllowed(ctx.constraints, size + increase)
    return undefined
  }
}

/** The team's variable: agents with capability `embed`, from 32, instructed on every change, adapted every 5 outcomes. */
export const BATCH_SIZE_OPTIONS: Readonly<OrchestratedOptions<number>> = Object.freeze({
  affects: { capability: 'embed' },
  initial: 32,
  constraints: BATCH_CONSTRAINTS,
  coordinate: coordinateBatch,
  adapt: adaptBatch(2),
  adaptEvery: 5
})
