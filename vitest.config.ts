import { defineConfig } from 'vitest/config'
import { BaseSequencer } from 'vitest/node'
import type { TestSpecification } from 'vitest/node'

/**
 * The files that take the longest (about a minute or more; `test/budget/live.test.ts` has a required
 * one-minute run), started first so that none of them starts last and finishes the run alone.
 */
const LONGEST_FIRST = [
  'test/budget/live.test.ts',
  'test/ui/dashboard.test.ts',
  'test/cluster/cluster.test.ts',
  'test/readme.test.ts',
  'test/coordination/failover.test.ts',
  'test/daemon/launch.test.ts',
  'test/coordination/barrier-vote.test.ts',
  'test/daemon/watches.test.ts'
]

/** Vitest's order (failed first, then the longest in its cache, or the largest files), the longest known first. */
class LongestFirst extends BaseSequencer {
  override async sort (files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files)
    const rank = (f: TestSpecification): number => {
      const i = LONGEST_FIRST.findIndex(p => f.moduleId.endsWith(p))
      return i === -1 ? LONGEST_FIRST.length : i
    }
    return sorted.map((f, i) => ({ f, i })).sort((a, b) => rank(a.f) - rank(b.f) || a.i - b.i).map(x => x.f)
  }
}

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/bench/**', 'node_modules/**', 'dist/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // One test file at a time by default (VITEST_MAX_WORKERS or --maxWorkers for more). Two at once on
    // the 2-core CI machine cut the run from about 690 s to 480 s, but the files then starve each other's
    // timers (leases, elections, proposal deadlines): one run in two failed a timing-bound test. Green
    // first; the suite's speed comes from the files themselves.
    maxWorkers: Number(process.env.VITEST_MAX_WORKERS ?? 1),
    sequence: { sequencer: LongestFirst },
    reporters: ['default']
  }
})
