/**
 * The cluster curves' series (sim/cluster/plot.ts): one per daemon config and heartbeat period, so runs
 * with another period never join the curve of the default one.
 */
import { describe, expect, it } from 'vitest'
import { seriesOf } from '../../sim/cluster/plot.js'
import type { ClusterReport } from '../../sim/cluster/run.js'

const report = (daemonConfig: Record<string, unknown> | undefined, heartbeatIntervalMs: number): ClusterReport =>
  ({ daemonConfig, heartbeatIntervalMs } as unknown as ClusterReport)

describe('cluster plot series', () => {
  it('names the daemon config and a heartbeat period other than 1 s', () => {
    expect(seriesOf(report(undefined, 1000))).toBe('default')
    expect(seriesOf(report({}, 1000))).toBe('default')
    expect(seriesOf(report(undefined, 2000))).toBe('hb=2s')
    expect(seriesOf(report({ liveness: 'probe', dht: false }, 1000))).toBe('liveness=probe,dht=false')
    expect(seriesOf(report({ liveness: 'probe', dht: false }, 5000))).toBe('liveness=probe,dht=false,hb=5s')
  })
})
