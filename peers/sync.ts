/**
 * Compatibility path: the sync engine is now the composition in peers/sync/index.ts (membership,
 * anti-entropy, gossip and liveness services). peers/peer.ts still imports it from here; switch that
 * import to './sync/index.js' and delete this file.
 */
export * from './sync/index.js'
