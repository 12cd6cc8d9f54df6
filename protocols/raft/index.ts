/**
 * protocols/raft: a pure, deterministic Raft core in the manner of etcd/raft, with an in-memory
 * Storage, the replicated-application contract (envelope, sessions, Replica) and the one driver.
 * See README.md for the Ready contract.
 */
export * from './types.js'
export * from './errors.js'
export { RaftNode } from './raft.js'
export { MemoryStorage } from './storage.js'
export { RAFT_DEFAULTS } from './raft.js'
export { encodeConfChange, decodeConfChange } from './confchange.js'
export * from './envelope.js'
export * from './sessions.js'
export * from './application.js'
export * from './driver.js'
export { coalesceAppends } from './coalesce.js'
