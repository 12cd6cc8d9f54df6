/**
 * How often a peer publishes its reachability view (peers/health/service.ts): a changed silent set goes
 * out at once when the view scale is 1 (the heartbeat mode), but at most once per `viewScale` periods when
 * the probe mode raises the scale with the mesh, so a mesh whose every silent set changes each period (as
 * while it forms) does not send each peer N views a period. An unchanged set is refreshed every
 * VIEW_REFRESH_HEARTBEATS × scale periods.
 */
import { describe, expect, it } from 'vitest'
import { PeerHealth } from '../../peers/health/service.js'
import { resolveAlertOptions } from '../../peers/health/alerts.js'
import { VIEW_REFRESH_HEARTBEATS } from '../../peers/health/view.js'
import { LeaseTable } from '../../crdt/liveness.js'
import { createLogger } from '../../src/base/log.js'

const LEASE_MS = 3000
const HOSTS = Array.from({ length: 12 }, (_, i) => `host-${i}`)

/** A monitor whose lease table the test drives: each `step` makes one other host the only silent one. */
function fixture (viewScale: number): { monitor: PeerHealth, sent: () => number, step: (k: number) => void, steady: () => void } {
  let now = 1_000_000
  const clock = (): number => now
  const leases = new LeaseTable('self', { leaseMs: LEASE_MS, pruneAfterMs: 100 * LEASE_MS, prunedHostsMax: 64 }, clock)
  for (const h of HOSTS) leases.heard(h)
  let published = 0
  const pubsub = {
    topicValidators: { set: () => {}, delete: () => {} },
    subscribe: () => {},
    unsubscribe: () => {},
    publish: async () => { published++; return { recipients: [] } }
  }
  const monitor = new PeerHealth({
    pubsub: pubsub as never,
    self: 'self',
    logger: createLogger('silent', 'view-rate'),
    leases,
    sync: { peek: () => undefined },
    agentsOf: () => 0,
    localLoad: () => 0,
    raft: () => undefined
  }, { heartbeatIntervalMs: 1000, leaseMs: LEASE_MS, alerts: resolveAlertOptions({}), viewScale: () => viewScale }, clock)
  const advance = (silent: string | undefined): void => {
    now += LEASE_MS + 1
    for (const h of HOSTS) if (h !== silent) leases.heard(h)
    leases.sweep()
    monitor.evaluate()
  }
  return { monitor, sent: () => published, step: (k) => { advance(HOSTS[k % HOSTS.length]) }, steady: () => { advance(undefined) } }
}

describe('reachability view rate', () => {
  it('with scale 1, every change of the silent set is published at once', async () => {
    const f = fixture(1)
    await f.monitor.views.start()
    for (let k = 0; k < 12; k++) f.step(k)
    expect(f.sent()).toBe(12)
  })

  it('with scale 4, a set that changes every period goes out once per 4 periods, and still goes out', async () => {
    const f = fixture(4)
    await f.monitor.views.start()
    for (let k = 0; k < 24; k++) f.step(k)
    // The first change waits for 4 periods since the (unpublished) start, then one per 4.
    expect(f.sent()).toBe(6)
    expect(f.monitor.views.stats.viewsSent).toBe(6)
  })

  it('an unchanged set is refreshed every VIEW_REFRESH_HEARTBEATS × scale periods', async () => {
    const f = fixture(3)
    await f.monitor.views.start()
    f.steady()
    const first = f.sent()
    for (let k = 0; k < VIEW_REFRESH_HEARTBEATS * 3 * 2; k++) f.steady()
    expect(f.sent() - first).toBe(2)
  })
})
