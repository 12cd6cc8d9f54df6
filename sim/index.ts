export * from './prng.js'
export * from './live.js'
