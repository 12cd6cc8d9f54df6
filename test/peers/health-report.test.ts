/**
 * The health report's pure parts (peers/health): host classification, the grouping of silent hosts into
 * suspected partitions (by silence time and by the views last known), witnesses, Raft quorum and lag,
 * conditions and status, the alert tracker's hysteresis, the latency recorder, and the view codec.
 */
import { describe, expect, it } from 'vitest'
import { SUSPECT_AFTER_HEARTBEATS, classifyHost, computeHealthReport, groupSilentHosts, statusOf } from '../../peers/health/report.js'
import type { HealthInputs, HostInput, ViewInput } from '../../peers/health/report.js'
import { ALERT_DEFAULTS, AlertTracker, resolveAlertOptions } from '../../peers/health/alerts.js'
import type { HealthCondition } from '../../peers/health/alerts.js'
import { LatencyRecorder } from '../../peers/health/latency.js'
import { VIEW_BYTES_MAX, VIEW_SILENT_MAX, decodeView, encodeView } from '../../peers/health/view.js'

const HB = 1000
const NOW = 1_000_000
const EMPTY = { count: 0, p50Ms: 0, p90Ms: 0, p99Ms: 0, maxMs: 0 }

function host (peerId: string, o: Partial<HostInput> = {}): HostInput {
  return { peerId, silentMs: 100, lease: 'alive', left: false, connected: true, agents: 0, syncLag: 0, ...o }
}

function inputs (o: Partial<HealthInputs> = {}): HealthInputs {
  return {
    self: 'self',
    now: NOW,
    heartbeatIntervalMs: HB,
    hosts: [],
    selfLoad: 0,
    selfAgents: 0,
    viewOf: () => undefined,
    viewTtlMs: 30 * HB,
    raft: undefined,
    latency: { raftCommit: EMPTY, agentRequest: EMPTY, agentMessage: EMPTY },
    breakers: [],
    rateLimits: [],
    thresholds: resolveAlertOptions({}),
    alerts: [],
    ...o
  }
}

const view = (silent: string[], receivedAt = NOW - 500, silentTotal = silent.length): ViewInput => ({ receivedAt, reached: 3, silentTotal, silent: new Set(silent) })

describe('host classification', () => {
  it('suspected after two heartbeat periods of silence, unreachable when the lease expired, left when it said so', () => {
    expect(classifyHost({ silentMs: SUSPECT_AFTER_HEARTBEATS * HB - 1, lease: 'alive', left: false }, HB)).toBe('reachable')
    expect(classifyHost({ silentMs: SUSPECT_AFTER_HEARTBEATS * HB, lease: 'alive', left: false }, HB)).toBe('suspected')
    expect(classifyHost({ silentMs: 10, lease: 'unreachable', left: false }, HB)).toBe('unreachable')
    expect(classifyHost({ silentMs: 10_000, lease: 'unreachable', left: true }, HB)).toBe('left')
  })
})

describe('suspected partitions', () => {
  it('hosts silent together with no view between them are one group', () => {
    const g = groupSilentHosts([
      { peerId: 'a', lastHeardAt: 100, state: 'suspected', saw: undefined },
      { peerId: 'b', lastHeardAt: 400, state: 'suspected', saw: new Set() },
      { peerId: 'c', lastHeardAt: 900, state: 'unreachable', saw: undefined }
    ], 2 * HB)
    expect(g.map(x => x.map(h => h.peerId).sort())).toEqual([['a', 'b', 'c']])
  })

  it('hosts that went silent far apart are separate groups', () => {
    const g = groupSilentHosts([
      { peerId: 'a', lastHeardAt: 0, state: 'unreachable', saw: undefined },
      { peerId: 'b', lastHeardAt: 10_000, state: 'suspected', saw: undefined },
      { peerId: 'c', lastHeardAt: 10_300, state: 'suspected', saw: undefined }
    ], 2 * HB)
    expect(g.map(x => x.map(h => h.peerId).sort())).toEqual([['a'], ['b', 'c']])
  })

  it('a host whose last view listed another as silent is not grouped with it (either way), others chain', () => {
    // a and b saw each other; c saw d silent; e saw nothing: {a, c, e} chain through e? a-c linked, c-e linked,
    // d excluded from c only, so d joins through a or e.
    const g = groupSilentHosts([
      { peerId: 'a', lastHeardAt: 0, state: 'suspected', saw: new Set(['x']) },
      { peerId: 'b', lastHeardAt: 0, state: 'suspected', saw: new Set(['a', 'c', 'd', 'e']) },
      { peerId: 'c', lastHeardAt: 0, state: 'suspected', saw: new Set(['d']) },
      { peerId: 'd', lastHeardAt: 0, state: 'suspected', saw: undefined },
      { peerId: 'e', lastHeardAt: 0, state: 'suspected', saw: undefined }
    ], 2 * HB)
    expect(g.map(x => x.map(h => h.peerId).sort()).sort()).toEqual([['a', 'c', 'd', 'e'], ['b']])
  })

  it('a 3|2 split seen from either side: one group of the other side, confirmed by the peers on this side', () => {
    const sideB = [host('d', { silentMs: 2100 }), host('e', { silentMs: 2300, connected: false })]
    const r = computeHealthReport(inputs({
      hosts: [host('b'), host('c'), ...sideB],
      viewOf: (id) => id === 'b' ? view(['d', 'e']) : id === 'c' ? view(['d', 'e']) : undefined
    }))
    expect(r.peers).toEqual({ known: 5, reachable: 3, suspected: 2, unreachable: 0, left: 0 })
    expect(r.partitions).toHaveLength(1)
    expect(r.partitions[0]).toMatchObject({ peers: ['d', 'e'], suspected: 2, unreachable: 0, confirmedBy: ['b', 'c'], reachedBy: [], since: NOW - 2300, silentMs: 2100 })
    expect(r.status).toBe('degraded')
    expect(r.reasons.map(x => x.name)).toEqual(['partition'])
    expect(r.hosts.slice(0, 2).map(h => h.state)).toEqual(['suspected', 'suspected'])
  })

  it('hosts others reach and this peer cannot: named in reachedBy; a stale or cut view is no witness', () => {
    const r = computeHealthReport(inputs({
      hosts: [host('b'), host('c'), host('w'), host('x', { silentMs: 5000, lease: 'unreachable' })],
      viewOf: (id) => id === 'b' ? view([]) : id === 'c' ? view([], NOW - 31 * HB) : id === 'w' ? view(['q'], NOW, 40) : undefined
    }))
    expect(r.partitions).toHaveLength(1)
    expect(r.partitions[0]).toMatchObject({ peers: ['x'], suspected: 0, unreachable: 1, reachedBy: ['b'], confirmedBy: [] })
  })

  it('a host that left gracefully is no fault; one that is only silent a moment is still reachable', () => {
    const r = computeHealthReport(inputs({ hosts: [host('b', { silentMs: 1900 }), host('gone', { silentMs: 9000, lease: 'unreachable', left: true })] }))
    expect(r.peers).toEqual({ known: 3, reachable: 2, suspected: 0, unreachable: 0, left: 1 })
    expect(r.partitions).toEqual([])
    expect(r.status).toBe('ok')
    expect(r.reasons).toEqual([])
  })

  it('this peer hearing none of the hosts it knows is isolated (critical)', () => {
    const r = computeHealthReport(inputs({ hosts: [host('b', { silentMs: 2500 }), host('c', { silentMs: 9000, lease: 'unreachable' })] }))
    expect(r.status).toBe('critical')
    expect(r.reasons.map(x => x.name)).toEqual(['isolated', 'partition'])
  })
})

describe('Raft in the report', () => {
  const status = { role: 'leader' as const, term: 4, leader: 'self', commit: 100, applied: 98, voters: ['self', 'b', 'c', 'd', 'e'], learners: ['l'] }

  it('quorum from the voters reachable here, commit lag per member from the leader\'s match indexes', () => {
    const r = computeHealthReport(inputs({
      hosts: [host('b'), host('c'), host('d', { silentMs: 2500 }), host('e', { silentMs: 9000, lease: 'unreachable' }), host('l')],
      raft: { status, noLeaderMs: 0, match: new Map([['self', 100], ['b', 100], ['c', 97], ['d', 80], ['e', 50], ['l', 99]]) }
    }))
    expect(r.raft).toMatchObject({ role: 'leader', term: 4, leader: 'self', applyLag: 2, noLeaderMs: 0, quorum: { voters: 5, needed: 3, reachable: 3, ok: true } })
    expect(r.raft!.members.map(m => [m.peerId, m.voter, m.reachable, m.lag])).toEqual([
      ['self', true, true, 0], ['b', true, true, 0], ['c', true, true, 3], ['d', true, false, 20], ['e', true, false, 50], ['l', false, true, 1]
    ])
    expect(r.hosts.find(h => h.peerId === 'l')?.raft).toBe('learner')
    expect(r.hosts.find(h => h.self)?.raft).toBe('leader')
    expect(r.status).toBe('degraded')
  })

  it('too few voters reachable, or no leader for noLeaderMs, is critical; a failed Raft loop too', () => {
    const r = computeHealthReport(inputs({
      hosts: [host('b'), host('c', { silentMs: 2500 }), host('d', { silentMs: 2500 }), host('e', { silentMs: 2500 })],
      raft: { status: { ...status, role: 'follower', leader: undefined, failed: 'disk full' }, noLeaderMs: 6000 }
    }))
    expect(r.raft?.quorum).toEqual({ voters: 5, needed: 3, reachable: 2, ok: false })
    expect(r.raft?.members.every(m => m.match === null && m.lag === null)).toBe(true)
    expect(r.status).toBe('critical')
    expect(r.reasons.map(x => [x.name, x.severity])).toEqual([['raft-failed', 'critical'], ['no-leader', 'critical'], ['no-quorum', 'critical'], ['partition', 'degraded']])
    const shortly = computeHealthReport(inputs({ hosts: [host('b'), host('c'), host('d'), host('e')], raft: { status: { ...status, role: 'follower', leader: undefined }, noLeaderMs: 4000 } }))
    expect(shortly.reasons).toEqual([])
    expect(shortly.raft?.quorum.ok).toBe(false)
  })
})

describe('conditions and thresholds', () => {
  it('sync lag, latency, load, breakers and rate limits each against their threshold; disabled ones never hold', () => {
    const lat = { count: 10, p50Ms: 500, p90Ms: 1500, p99Ms: 2000, maxMs: 2100 }
    const i = inputs({
      hosts: [host('b', { syncLag: 1500, load: 0.95, agents: 7 }), host('c', { syncLag: 3, syncLagMs: 40_000, load: 0.2, agents: 3 })],
      selfLoad: 0.5,
      selfAgents: 2,
      latency: { raftCommit: lat, agentRequest: { ...lat, p99Ms: 6000 }, agentMessage: EMPTY },
      breakers: [{ key: 'agent-1', state: 'open', failures: 5 }, { key: 'agent-2', state: 'half-open' }, { key: 'agent-3', state: 'closed' }],
      rateLimits: [{ scope: 'agent', key: 'agent-1', refused: 4 }, { scope: 'peer', key: 'p', refused: 0 }]
    })
    const r = computeHealthReport(i)
    expect(r.reasons.map(x => x.name)).toEqual(['sync-lag', 'commit-latency', 'request-latency', 'load', 'breakers-open', 'rate-limited'])
    expect(r.reasons.find(x => x.name === 'commit-latency')).toMatchObject({ value: 2000, threshold: 1000, severity: 'degraded' })
    expect(r.sync).toEqual({ lagMax: 1500, lagging: 2 })
    expect(r.load).toEqual({ mean: 0.55, max: 0.95, overloaded: 1, agents: 12 })
    expect(r.breakers).toMatchObject({ open: 1, halfOpen: 1 })
    expect(r.breakers.list.map(b => b.key)).toEqual(['agent-1', 'agent-2'])
    expect(r.rateLimits).toMatchObject({ limited: 1, list: [{ key: 'agent-1' }] })
    const relaxed = computeHealthReport({ ...i, thresholds: resolveAlertOptions({ syncLagMax: 2000, syncLagMsMax: 60_000, commitLatencyP99MsMax: 3000, requestLatencyP99MsMax: 10_000, hostLoadMax: 0.99, openBreakersMax: 2, disabled: ['rate-limited'] }) })
    expect(relaxed.reasons).toEqual([])
    expect(relaxed.status).toBe('ok')
    // Too few samples: no latency condition.
    const few = computeHealthReport({ ...i, latency: { raftCommit: { ...lat, count: 4 }, agentRequest: EMPTY, agentMessage: EMPTY } })
    expect(few.reasons.map(x => x.name)).not.toContain('commit-latency')
  })

  it('a half-open breaker (recovery over, no probe yet) is listed but does not hold the report degraded', () => {
    // A breaker nobody probes (routes stop at the first candidate that answers) would stay half-open for
    // good: only breakers refusing calls now count toward breakers-open.
    const r = computeHealthReport(inputs({ breakers: [{ key: 'agent-2', state: 'half-open' }] }))
    expect(r.breakers).toMatchObject({ open: 0, halfOpen: 1 })
    expect(r.breakers.list.map(b => b.key)).toEqual(['agent-2'])
    expect(r.reasons.map(x => x.name)).not.toContain('breakers-open')
    expect(r.status).toBe('ok')
  })

  it('bad alert options are named errors naming the key', () => {
    expect(() => resolveAlertOptions({ hostLoadMax: 2 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION', details: expect.objectContaining({ path: 'alerts.hostLoadMax' }) }))
    expect(() => resolveAlertOptions({ nope: 1 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION', details: expect.objectContaining({ path: 'alerts.nope' }) }))
    expect(() => resolveAlertOptions({ disabled: ['partition', 'bogus'] })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }))
    expect(resolveAlertOptions(undefined)).toEqual({ ...ALERT_DEFAULTS, disabled: [] })
  })

  it('status is the worst severity', () => {
    const c = (name: HealthCondition['name'], severity: HealthCondition['severity']): HealthCondition => ({ name, severity, message: '' })
    expect(statusOf([])).toBe('ok')
    expect(statusOf([c('load', 'degraded')])).toBe('degraded')
    expect(statusOf([c('load', 'degraded'), c('isolated', 'critical')])).toBe('critical')
  })
})

describe('alert tracker', () => {
  const partition: HealthCondition = { name: 'partition', severity: 'degraded', message: '2 silent', value: 2, threshold: 0 }

  it('raises after raiseAfterMs of the condition, clears after clearAfterMs without it, once each', () => {
    const t = new AlertTracker(resolveAlertOptions({ raiseAfterMs: 1000, clearAfterMs: 3000 }))
    expect(t.update([partition], 0).raised).toEqual([])
    expect(t.update([partition], 500).raised).toEqual([])
    const up = t.update([partition], 1000)
    expect(up.raised).toEqual([{ name: 'partition', severity: 'degraded', message: '2 silent', value: 2, threshold: 0, since: 1000 }])
    expect(t.update([{ ...partition, value: 3, message: '3 silent' }], 1500).raised).toEqual([])
    expect(t.active()).toMatchObject([{ name: 'partition', value: 3, since: 1000 }])
    // Flapping within clearAfterMs: still one alert, not cleared.
    expect(t.update([], 2000).cleared).toEqual([])
    expect(t.update([partition], 2500)).toEqual({ raised: [], cleared: [] })
    expect(t.update([], 4000).cleared).toEqual([])
    expect(t.update([], 5500).cleared).toEqual([{ name: 'partition', severity: 'degraded', since: 1000, activeMs: 4500 }])
    expect(t.active()).toEqual([])
    expect(t.update([], 9000)).toEqual({ raised: [], cleared: [] })
  })

  it('a condition gone before raiseAfterMs never raises', () => {
    const t = new AlertTracker(resolveAlertOptions({ raiseAfterMs: 1000 }))
    t.update([partition], 0)
    t.update([], 500)
    expect(t.update([partition], 900).raised).toEqual([])
    expect(t.update([partition], 1800).raised).toEqual([])
    expect(t.update([partition], 1900).raised).toHaveLength(1)
  })
})

describe('latency recorder', () => {
  it('percentiles within the bucket precision, over the window only', () => {
    let now = 0
    const r = new LatencyRecorder({ windowMs: 12_000 }, () => now)
    for (let i = 1; i <= 1000; i++) r.record(i / 10) // 0.1 .. 100 ms
    const s = r.snapshot()
    expect(s.count).toBe(1000)
    expect(Math.abs(s.p50Ms - 50) / 50).toBeLessThan(0.05)
    expect(Math.abs(s.p90Ms - 90) / 90).toBeLessThan(0.05)
    expect(Math.abs(s.p99Ms - 99) / 99).toBeLessThan(0.05)
    expect(s.maxMs).toBe(100)
    now = 6000
    r.record(500)
    expect(r.snapshot().count).toBe(1001)
    now = 12_500 // the first slice left the window
    expect(r.snapshot()).toEqual({ count: 1, p50Ms: 500, p90Ms: 500, p99Ms: 500, maxMs: 500 })
    now = 100_000
    expect(r.snapshot()).toEqual(EMPTY)
    r.record(-1)
    r.record(Number.NaN)
    expect(r.snapshot().count).toBe(0)
    expect(() => new LatencyRecorder({ windowMs: 1 }, () => 0)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }))
  })
})

describe('view codec', () => {
  const id = '12D3KooWGzh8bS3zKqRbZcRGx6Q7Dn4mQhBzJYp9hZrV3k2C9fLx'

  it('round-trips, cuts the list at VIEW_SILENT_MAX and keeps the total', () => {
    const B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'
    const silent = Array.from({ length: 40 }, (_, i) => id.slice(0, -1) + B58[i]!)
    const v = decodeView(encodeView({ sentAtMs: 123, reached: 7, silentTotal: 40, silent }))
    expect(v).toEqual({ sentAtMs: 123, reached: 7, silentTotal: 40, silent: silent.slice(0, VIEW_SILENT_MAX) })
    expect(encodeView({ sentAtMs: Date.now(), reached: 4095, silentTotal: 4095, silent }).length).toBeLessThanOrEqual(VIEW_BYTES_MAX)
  })

  it('refuses malformed views with ERR_DECODE', () => {
    const good = encodeView({ sentAtMs: 1, reached: 1, silentTotal: 1, silent: [id] })
    const bad: Uint8Array[] = [
      new Uint8Array(0),
      Uint8Array.of(4, 1, 0, 0, 0, 0), // wrong tag
      Uint8Array.of(5, 9, 0, 0, 0, 0), // unknown version
      Uint8Array.of(5, 1, 0, 0, 0, 33), // too many listed
      Uint8Array.of(5, 1, 0, 0, 0, 1, 0), // listed more than the total
      Uint8Array.of(...good, 0), // trailing
      good.slice(0, good.length - 3), // truncated
      encodeView({ sentAtMs: 1, reached: 1, silentTotal: 1, silent: ['not/a peer id'] }),
      new Uint8Array(VIEW_BYTES_MAX + 1)
    ]
    for (const b of bad) expect(() => decodeView(b)).toThrow(expect.objectContaining({ code: 'ERR_DECODE' }))
  })
})
