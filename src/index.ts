/**
 * agora-mesh: a peer-to-peer coordination mesh for multi-agent systems.
 *
 *   import { createPeer } from 'agora-mesh'
 *   const peer = await createPeer({ bootstrap: [...] })
 *   await peer.registry.register({ id: 'summarizer-1', capabilities: ['summarize'] })
 */
export * from './base/errors.js'
export { createLogger } from './base/log.js'
export type { Logger, LogLevel } from './base/log.js'
export { TypedEmitter } from './base/events.js'

export { createPeer, Peer } from '../peers/peer.js'
export type { PeerEventMap, PeerHostStatus, PeerStats, WhenSyncedOptions } from '../peers/peer.js'
export { peerOptionsSchema, resolvePeerOptions } from '../peers/options.js'
export type { PeerOptions, ResolvedPeerOptions } from '../peers/options.js'
export type { PeerSyncHealth, SyncStats } from '../peers/sync/index.js'
export { meshProtocols } from '../peers/node.js'
export { generateSwarmKey, parseSwarmKey, swarmKeyFingerprint, writeSwarmKeyFile } from '../peers/pnet.js'

export { createLocalRegistry, ReplicatedRegistry, LOOKUP_STRATEGIES } from '../crdt/registry.js'
export type { Registry, RegistryEventMap, RegistryStats, LocalRegistryOptions } from '../crdt/registry.js'
export { VariableStore, EventualVariable, BUILTIN_MERGES } from '../crdt/variables.js'
export type { BuiltinMerge, Contribution, EventualOptions, MergeFunction, VariableEventMap, VariableStats, WriteOptions } from '../crdt/variables.js'
export type { FenceFloor, WriteFence } from '../crdt/fences.js'
export * from '../crdt/types.js'
export * from '../crdt/errors.js'
export { DEFAULT_LIMITS } from '../crdt/limits.js'
export type { RegistryLimits } from '../crdt/limits.js'

export { RaftService, NoRaftError, IndefiniteError, ProposalDroppedError, StrongVariable } from '../peers/raft/index.js'
export type { PeerRaftStatus, PeerRaftStats, RaftServiceEvents } from '../peers/raft/index.js'
export { PeerEconomy } from '../peers/economy/index.js'
export type { BidHandler, BidRequest, AuctionResultNotice, RunAuctionOptions, EconomyAppliedEvent } from '../peers/economy/index.js'
export type { AccountView, SupplyView } from '../protocols/market/economy.js'
export type { AuctionSpec, AuctionState, BidPayload, MarketResult } from '../protocols/market/types.js'
export { PeerAgents, AgentError, agentsProtocol, REQUEST_TIMEOUT_MS, AGENT_PAYLOAD_BYTES_MAX } from '../peers/agents/index.js'
export type { AgentContext, AgentHandlers, AgentProtocol, AgentErrorCode, CapabilityRoute, GroupMessage, PayloadSchema, RequestOptions, Sender, TaskContext, TaskInfo, TaskInput, TaskListFilter, TaskSpec } from '../peers/agents/index.js'
export { PeerTasks, TaskError } from '../peers/tasks/index.js'
export type { Allocation, TaskState, TaskView, AttemptView, TaskEvent } from '../protocols/tasks/types.js'
export { PeerBudgets, BudgetError, BudgetExhaustedError, BudgetNotJoinedError } from '../peers/budget/index.js'
export type { BudgetStatus, BudgetState, PeerBudgetsEvents } from '../peers/budget/index.js'
export type { BudgetView, BudgetShare, BudgetEvent } from '../protocols/infrastructure/budget-types.js'
