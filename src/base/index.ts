/**
 * The base below every other part of agora-mesh: named errors with stable codes, typed events, the
 * JSON logger, the seeded PRNG and the input checks (reserved names, well-formed strings). Any layer (src, peers, crdt, protocols, sim) may import it; it
 * imports nothing of theirs.
 */
export * from './errors.js'
export * from './events.js'
export * from './log.js'
export * from './prng.js'
export * from './input.js'
export * from './heap.js'
export * from './refusal.js'
