/**
 * Seeds of randomized tests: every fast-check property and every hand-rolled PRNG loop uses a fixed
 * default seed, so a run is reproducible; `AGORA_TEST_SEED=<n>` overrides it (and
 * `AGORA_TEST_PATH=<path>` replays one fast-check counterexample). A failure names the seed and prints
 * the command that replays it.
 */
import { relative } from 'node:path'
import fc from 'fast-check'
import { expect } from 'vitest'

/** Environment variable that overrides the seed of every randomized test. */
export const SEED_ENV = 'AGORA_TEST_SEED'
/** Environment variable with a fast-check counterexample path to replay (with {@link SEED_ENV}). */
export const PATH_ENV = 'AGORA_TEST_PATH'
/** The default seed of fast-check properties (hand-rolled loops may keep their own fixed default). */
export const DEFAULT_SEED = 20_240_917

function envInt (name: string): number | undefined {
  const v = process.env[name]
  if (v === undefined || v === '') return undefined
  const n = Number(v)
  if (!Number.isSafeInteger(n)) throw new Error(`${name} must be an integer, got ${JSON.stringify(v)}`)
  return n
}

/** True when {@link SEED_ENV} is set. */
export function seedOverridden (): boolean {
  return envInt(SEED_ENV) !== undefined
}

/** The seed of a randomized test: {@link SEED_ENV} when set, else `fallback` (fixed). */
export function testSeed (fallback = DEFAULT_SEED): number {
  return envInt(SEED_ENV) ?? fallback
}

/**
 * The seeds of a test that sweeps `count` consecutive seeds from `first`; only the overriding seed
 * when {@link SEED_ENV} is set (to replay the seed a failure named).
 */
export function testSeeds (count: number, first = 1): number[] {
  const only = envInt(SEED_ENV)
  return only !== undefined ? [only] : Array.from({ length: count }, (_, i) => first + i)
}

const shellQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`
const regexEscape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/** The command that replays the running test with `seed` (and a fast-check `path`). */
export function replayCommand (seed: number, path?: string): string {
  const state = expect.getState()
  const file = state.testPath !== undefined ? relative(process.cwd(), state.testPath) : '<test file>'
  const name = state.currentTestName !== undefined ? ` -t ${shellQuote(`${regexEscape(state.currentTestName.split(' > ').join(' '))}$`)}` : ''
  const env = `${SEED_ENV}=${seed}${path !== undefined ? ` ${PATH_ENV}=${shellQuote(path)}` : ''}`
  return `${env} npx vitest run ${file}${name}`
}

/** "seed <n>; replay: <command>", for the assertion messages of hand-rolled PRNG loops. */
export function seedMessage (seed: number): string {
  return `seed ${seed}; replay: ${replayCommand(seed)}`
}

/**
 * `fc.assert` with the test seed ({@link testSeed}) and, when {@link PATH_ENV} is set, the path of a
 * counterexample to replay. On failure it throws fast-check's report preceded by the seed, the path
 * and the replay command.
 */
export function assertProperty<Ts> (property: fc.IProperty<Ts>, params: Omit<fc.Parameters<Ts>, 'seed' | 'path'> & { seed?: number } = {}): void {
  const seed = testSeed(params.seed ?? DEFAULT_SEED)
  const path = process.env[PATH_ENV]
  const details = fc.check(property, { ...params, seed, ...(path !== undefined && path !== '' ? { path } : {}) })
  if (!details.failed) return
  const report = fc.defaultReportMessage(details) ?? 'property failed'
  const where = details.counterexamplePath ?? undefined
  throw new Error(`property failed with seed ${details.seed}${where !== undefined ? `, path ${where}` : ''}\nreplay: ${replayCommand(details.seed, where)}\n${report}`, { cause: details.errorInstance })
}
