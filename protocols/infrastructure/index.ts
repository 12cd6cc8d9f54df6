/** Infrastructure (FEATURES I1–I2): circuit breakers and token buckets, pure and clock-free; the mesh-wide budget machine. */
export * from './breaker.js'
export * from './token-bucket.js'
export * from './budget-types.js'
export * from './budget.js'
