/** Infrastructure (FEATURES I1–I2): circuit breakers and token buckets, pure and clock-free. */
export * from './breaker.js'
export * from './token-bucket.js'
