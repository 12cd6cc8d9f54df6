/**
 * Orchestration variables (FEATURES V3): a value in Raft that steers a team of agents.
 *
 * ```ts
 * const batch = peer.variables.orchestrated('batch-size', {
 *   affects: { capability: 'embed' },
 *   initial: 32,
 *   constraints: { min: 1, max: 64, step: 1 },
 *   // Per-agent instructions when the value (or the team) changes; delivered through peer.agents.
 *   coordinate: (size, agents) => new Map(agents.map(a => [a.id, { batchSize: size }])),
 *   // Fed task outcomes of the team; proposes a new value within the constraints.
 *   adapt: (metrics, size) => metrics.some(m => m.kind === 'task' && m.outcome !== 'completed') ? Math.max(1, size / 2) : undefined,
 *   adaptEvery: 5
 * })
 * await batch.set(16)            // ERR_CONSTRAINT when outside the constraints
 * await batch.history()          // the last coordinations and adaptations, from any peer
 * // The agents: handlers.protocols.orchestration = instructionHandler(({ instruction }) => ...)
 * ```
 *
 * Every peer that declares the variable campaigns for the owner's duty (singleton `orch/<name>`); the
 * owner alone runs `coordinate` and `adapt`. See peers/README.md, "Orchestration variables".
 */
export { PeerOrchestration, ORCH_NAME_RE } from './service.js'
export type { AgentsLike, TasksLike, PeerOrchestrationComponents } from './service.js'
export { OrchestratedVariable, ORCHESTRATION_PROTOCOL } from './variable.js'
export type {
  AdaptContext, AdaptFn, CoordinateContext, CoordinateFn, InstructionPayload, Instructions, OrchestratedOptions,
  OrchestratedState, OrchestrationComponents, OrchestrationEvents, OrchestrationStats, StrongLike, TaskOutcome
} from './variable.js'
export { instructionHandler, isInstructionPayload } from './follow.js'
export type { InstructionReply } from './follow.js'
export { canonicalJson, checkConstraints, constraintViolation, nearestAllowed, sameJson, validateConstraints } from './constraints.js'
export type { Constraints } from './constraints.js'
export { appendHistory } from './history.js'
export type { AdaptationEntry, CoordinationEntry, DeliveryOutcome, HistoryEntry } from './history.js'
export { MetricWindow, validateMetric } from './metrics.js'
export type { CustomMetric, Metric, MetricInput, RequestMetric, TaskMetric } from './metrics.js'
export * from './errors.js'
export * from './limits.js'
