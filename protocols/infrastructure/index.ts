/** Infrastructure (FEATURES I1, I2, I4): circuit breakers, token buckets and health checks' damping, pure and clock-free; the mesh-wide budget machine. */
export * from './breaker.js'
export * from './token-bucket.js'
export * from './health-check.js'
export * from './budget-types.js'
export * from './budget.js'
