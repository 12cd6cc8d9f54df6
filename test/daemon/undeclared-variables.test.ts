/**
 * The event stream's `variable:changed` for variables this daemon never declared (undeclared-variables.ts),
 * over two real peers (TCP): what it keeps to tell `previous` is bounded in characters, not only in
 * variables (a merged value may be large), the oldest value dropped first; an unchanged merge is still no
 * event.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createLiveMesh } from '../../sim/live.js'
import type { LiveMesh } from '../../sim/live.js'
import { followUndeclaredVariables } from '../../src/daemon/undeclared-variables.js'
import { waitUntil } from '../helpers/wait.js'
import { FAST } from '../mesh/helpers.js'

let mesh: LiveMesh | undefined
afterEach(async () => { await mesh?.stop(); mesh = undefined })

interface Changed { name: string, value: unknown, previous?: unknown }

describe('variable:changed for undeclared variables', () => {
  it('keeps at most valueCharsMax characters of last values (the oldest dropped: its next change has no previous)', async () => {
    mesh = await createLiveMesh({ peers: 2, ...FAST })
    const [a, b] = mesh.peers as [NonNullable<LiveMesh['peers'][0]>, NonNullable<LiveMesh['peers'][0]>]
    const seen: Changed[] = []
    const follower = followUndeclaredVariables(b, (type, data) => { if (type === 'variable:changed') seen.push(data as Changed) }, { valueCharsMax: 3000 })
    try {
      const big = (n: number, v: string): string => `${v}`.padEnd(1000, String(n))
      const vars = [1, 2, 3].map(n => a.variables.eventual<string>(`big.${n}`, { initial: '', merge: 'lww' }))
      for (const [i, v] of vars.entries()) {
        await v.set(big(i + 1, 'first'))
        await waitUntil(() => seen.some(e => e.name === `big.${i + 1}`), { what: `big.${i + 1} streamed`, timeoutMs: 20_000 })
      }
      // Three values of ~1,000 characters do not fit in 3,000 with their quotes: the oldest is dropped.
      expect(follower.valueChars()).toBeLessThanOrEqual(3000)
      await vars[0]!.set(big(1, 'second'))
      await vars[2]!.set(big(3, 'second'))
      const one = await waitUntil(() => seen.find(e => e.name === 'big.1' && e.value === big(1, 'second')), { what: 'big.1 changed', timeoutMs: 20_000 })
      const three = await waitUntil(() => seen.find(e => e.name === 'big.3' && e.value === big(3, 'second')), { what: 'big.3 changed', timeoutMs: 20_000 })
      expect('previous' in one).toBe(false)
      expect(three.previous).toBe(big(3, 'first'))
      expect(follower.valueChars()).toBeLessThanOrEqual(3000)
      // Rewriting the same value is no event, dropped value or not.
      const count = seen.length
      await vars[1]!.set(big(2, 'first'))
      await vars[2]!.set(big(3, 'third'))
      await waitUntil(() => seen.find(e => e.name === 'big.3' && e.value === big(3, 'third')), { what: 'big.3 changed again', timeoutMs: 20_000 })
      expect(seen.slice(count).map(e => e.name)).toEqual(['big.3'])
    } finally { follower.stop() }
  }, 60_000)
})
