/**
 * protocols/raft: a pure, deterministic Raft core in the manner of etcd/raft, with an in-memory
 * Storage, client sessions (exactly-once commands) and a linearizable key-value state machine.
 * See README.md for the Ready contract.
 */
export * from './types.js'
export * from './errors.js'
export { RaftNode } from './raft.js'
export { MemoryStorage } from './storage.js'
export { RAFT_DEFAULTS } from './raft.js'
export { encodeConfChange, decodeConfChange } from './confchange.js'
export * from './session.js'
export * from './kv.js'
