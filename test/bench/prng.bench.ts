import { createRand } from '../../src/base/prng.js'

export const name = 'prng'

export default async function (): Promise<Record<string, unknown>> {
  const r = createRand(1)
  const n = 5_000_000
  let acc = 0
  const t0 = performance.now()
  for (let i = 0; i < n; i++) acc += r.int(1000)
  const ns = (performance.now() - t0) * 1e6 / n
  return { intNs: Number(ns.toFixed(2)), checksum: acc % 997 }
}
