/**
 * agora-mesh/sim: the live harness (createLiveMesh: real peers in one process) and the deterministic simulator — scenario files (SCENARIOS.md), the runner, the fuzzer,
 * the simulated clock/network/disk, Raft invariant checkers, coordination checkers and the reusable linearizability checker.
 *
 * @example
 * import { parseScenario, runScenario } from 'agora-mesh/sim'
 * const report = runScenario(parseScenario(text))
 * if (!report.ok) console.error(report.violations)
 */
export { parseScenario, validateScenario, MESSAGE_KINDS } from './scenario.js'
export type { Scenario, Step, CoordStep, Expectation, InitState, NetworkSpec, RaftScenarioOptions, ClientOp, MessageKind } from './scenario.js'
export { runScenario, evaluate } from './runner.js'
export type { RunOptions } from './runner.js'
export type { Report, NodeReport, HistoryEntry } from './report.js'
export { fuzz, fuzzSeed, FAULT_KINDS } from './fuzz.js'
export type { FuzzOptions, FuzzSeedResult, FuzzSummary, FaultKind } from './fuzz.js'
export { Simulation } from './simulation.js'
export type { SimulationConfig } from './simulation.js'
export { SimNetwork } from './network.js'
export type { NetworkOptions, NetworkStats, Envelope } from './network.js'
export { VirtualClock, EventQueue } from './clock.js'
export { SimDisk } from './disk.js'
export { InvariantChecker } from './checkers.js'
export type { NodeView, Violation } from './checkers.js'
export { COORD_INVARIANTS, CoordChecker, VoteAgreement } from './coord-checkers.js'
export type { CoordInvariant } from './coord-checkers.js'
export { CoordWorkload } from './coord-fuzz.js'
export type { CoordWorkloadOptions, CoordWorkloadResult } from './coord-fuzz.js'
export type { CoordinationReport } from './coordination.js'
export { Trace } from './trace.js'
export { createRand } from '../src/base/prng.js'
export type { Rand } from '../src/base/prng.js'
export { ScenarioError } from './errors.js'
export { createLiveMesh } from './live.js'
export type { LiveMesh, LiveMeshOptions } from './live.js'
export { checkLinearizable, kvModel, randomLinearizableKvHistory, Bitset } from './linearizability/index.js'
export type { Model, Operation, CheckOptions, CheckResult, CheckOutcome, KvInput, KvOutput, KvValue, KvOperation } from './linearizability/index.js'
export { TornCrashError } from './disk.js'
export type { DiskInit, DiskObserver, LoggedEntry } from './disk.js'
export type { DiskFactory, KvCommand, KvScalar } from './simulation.js'
