import { availableParallelism } from 'node:os'
import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/bench/**', 'node_modules/**', 'dist/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Most test files spend their time waiting on timers (heartbeats, leases, elections) over real TCP,
    // not on the CPU. Vitest's default (cores - 1) runs the whole suite one file at a time on a 2-core CI
    // machine; two files per core overlap those waits (every timeout in the tests is generous and
    // bounded, for a loaded machine). VITEST_MAX_WORKERS (or --maxWorkers) overrides it.
    maxWorkers: Math.max(4, 2 * availableParallelism()),
    reporters: ['default']
  }
})
