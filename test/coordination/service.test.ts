/**
 * `peer.coordination` on its own (a scripted backend, fake timers): the local, conservative lease
 * expiry fires at the deadline itself: TTL from the last keepalive sent, less the margin for late timers
 * (a tenth of the TTL, at most LEASE_LOCAL_MARGIN_MS_MAX). (Over TCP, test/coordination/lease-loss.test.ts checks what it
 * is for: a partitioned holder hears of its loss before the group grants its lock to another.)
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { LEASE_LOCAL_MARGIN_MS_MAX, PeerCoordination } from '../../peers/coordination/service.js'
import { createLogger } from '../../src/base/log.js'

const dec = new TextDecoder()
/** The local deadline of a 1000 ms lease, counted from its grant or its last renewal sent. */
const LOCAL_TTL = 1000 - Math.min(LEASE_LOCAL_MARGIN_MS_MAX, 100)
afterEach(() => { vi.useRealTimers() })

/** A coordination service whose backend grants leases 7, 8, 9... and answers keepalives as `keepalive` says. */
function service (keepalive: (n: number) => boolean): { c: PeerCoordination, sent: number[] } {
  const c = new PeerCoordination({ self: 'p', log: createLogger('silent', 'coordination'), lookup: () => undefined, query: () => ({ agents: [] }) })
  const sent: number[] = []
  let next = 7
  c.setBackend({
    propose: async (command) => {
      const t = (JSON.parse(dec.decode(command.subarray(1))) as { t: string }).t
      if (t === 'lease.grant') { const id = next++; return { index: id, result: { ok: true, lease: id, ttlMs: 1000 } } }
      if (t !== 'lease.keepalive') throw new Error(`unexpected ${t}`)
      sent.push(Date.now())
      if (!keepalive(sent.length)) throw new Error('partitioned')
      return { index: 1, result: { ok: true, renewed: next - 7 } }
    },
    read: async () => undefined,
    watch: async () => undefined
  })
  return { c, sent }
}

describe('local lease expiry', () => {
  it('a lease nobody renews is lost at its deadline, not at the next periodic check', async () => {
    vi.useFakeTimers({ now: 1_000_000 })
    const { c, sent } = service(() => false)
    c.start()
    // Off any 100 ms grid counted from start.
    await vi.advanceTimersByTimeAsync(50)
    const lease = await c.grantLease({ ttlMs: 1000 })
    await vi.advanceTimersByTimeAsync(LOCAL_TTL - 1)
    expect(sent.length).toBeGreaterThan(0)
    expect(lease.lost).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    expect(lease.lost).toBe(true)
    expect(lease.signal.reason).toMatchObject({ code: 'ERR_LEASE_LOST' })
    await c.stop({ revoke: false })
  })

  it('a renewal moves the deadline to its send time + TTL: lost then, not at the first deadline', async () => {
    vi.useFakeTimers({ now: 2_000_000 })
    // The first keepalive comes back, later ones do not.
    const { c, sent } = service((n) => n === 1)
    c.start()
    await vi.advanceTimersByTimeAsync(50)
    const lease = await c.grantLease({ ttlMs: 1000 })
    const lost: number[] = []
    c.on('lease:lost', () => { lost.push(Date.now()) })
    await vi.advanceTimersByTimeAsync(LOCAL_TTL)
    expect(lease.lost).toBe(false)
    const renewedUntil = sent[0]! + LOCAL_TTL
    await vi.advanceTimersByTimeAsync(renewedUntil - Date.now() - 1)
    expect(lease.lost).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    expect(lease.lost).toBe(true)
    expect(lost).toEqual([renewedUntil])
    await c.stop({ revoke: false })
  })

  it('a steady stream of grants does not postpone the keepalive: earlier leases stay renewed', async () => {
    vi.useFakeTimers({ now: 3_000_000 })
    const { c, sent } = service(() => true)
    c.start()
    const first = await c.grantLease({ ttlMs: 1000 })
    // A new lease every 100 ms for 3 s: more often than the keepalive period (TTL / 3).
    for (let k = 0; k < 30; k++) {
      await vi.advanceTimersByTimeAsync(100)
      await c.grantLease({ ttlMs: 1000 })
    }
    expect(first.lost).toBe(false)
    expect(sent.length).toBeGreaterThanOrEqual(8)
    // Renewals keep their period: the gaps between keepalives stay about TTL / 3.
    for (let k = 1; k < sent.length; k++) expect(sent[k]! - sent[k - 1]!).toBeLessThanOrEqual(400)
    await c.stop({ revoke: false })
  })
})
