import { checkLinearizable, kvModel, randomLinearizableKvHistory } from '../../sim/linearizability/index.js'
import { createRand } from '../../src/base/prng.js'

export const name = 'linearizability'

/** Porcupine-port check of a 10,000-operation KV history over 100 keys (target <= 2 s). */
export default async function (): Promise<Record<string, unknown>> {
  const h = randomLinearizableKvHistory(createRand(42), { ops: 10_000, keys: 100, clients: 10, indefinite: 0.02 })
  const t0 = performance.now()
  const r = checkLinearizable(kvModel, h)
  const ms = performance.now() - t0
  return { ops: h.length, keys: 100, result: r.result, steps: r.steps, checkMs: Number(ms.toFixed(1)) }
}
