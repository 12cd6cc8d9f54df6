/**
 * `peer.budgets` (peers/budget/service.ts) on a local mesh application (the real machine, no network): the
 * share follows the log (another host joining halves it), drops to zero the moment the session lease is
 * lost and comes back under a new lease, ignores malformed and stale views (counted), ends when the budget
 * is deleted; named errors for bad input, takes beyond the share and budgets not joined.
 */
import { describe, expect, it } from 'vitest'
import { PeerBudgets } from '../../peers/budget/service.js'
import type { BudgetBackend } from '../../peers/budget/backend.js'
import { MeshApplication, encodeBudgetCommand, encodeCoordCommand, revisionOf } from '../../protocols/mesh/application.js'
import { createLogger } from '../../src/base/log.js'
import { waitUntil } from '../helpers/wait.js'
import { memberBudgetBackend } from '../../peers/budget/backend.js'
import type { RaftService } from '../../peers/raft/service.js'

interface Fixture {
  budgets: PeerBudgets
  app: MeshApplication
  /** Applies a command as `origin`; its result. */
  apply: (command: Uint8Array, origin: string) => any
  /** Loses the current session lease (as the coordination service does when it could not renew it). */
  loseLease: () => void
  /** Replaces the next watch answer with this text. */
  poison: (text: string) => void
  lease: () => number
}

function fixture (): Fixture {
  const app = new MeshApplication()
  let index = 0
  let now = 1000
  const waiters = new Set<() => void>()
  const apply = (command: Uint8Array, origin: string): any => {
    const r = app.apply(command, ++index, { origin, at: now += 10 })
    for (const w of [...waiters]) w()
    return { index, result: r }
  }
  let session: { id: number, controller: AbortController } | undefined
  const grant = (): { id: number, controller: AbortController } => ({ id: apply(encodeCoordCommand({ t: 'lease.grant', ttlMs: 600_000 }), 'self').result.lease, controller: new AbortController() })
  let poisoned: string | undefined
  const backend: BudgetBackend = {
    propose: async (command) => apply(command, 'self'),
    read: async (name) => app.read(name),
    watch: async (name, rev, ms) => {
      if (poisoned !== undefined) { const p = poisoned; poisoned = undefined; return p }
      if (revisionOf(app, name) === rev) {
        await new Promise<void>(resolve => {
          const done = (): void => { clearTimeout(t); waiters.delete(check); resolve() }
          const check = (): void => { if (revisionOf(app, name) !== rev) done() }
          const t = setTimeout(done, ms)
          waiters.add(check)
        })
      }
      return app.read(name)
    }
  }
  const budgets = new PeerBudgets({
    self: 'self',
    log: createLogger('silent', 'test'),
    coordination: {
      sessionLeaseOf: async () => {
        // A lease the group no longer has is lost (the coordination service learns it from its next keepalive).
        if (session !== undefined && app.coordination.lease(session.id) === undefined) session.controller.abort(new Error('expired in the group'))
        if (session === undefined || session.controller.signal.aborted) session = grant()
        return { id: session.id, signal: session.controller.signal }
      }
    }
  })
  budgets.setBackend(backend)
  budgets.start()
  return {
    budgets,
    app,
    apply: (command, origin) => apply(command, origin).result,
    loseLease: () => { session?.controller.abort(new Error('lost')) },
    poison: (text) => { poisoned = text },
    lease: () => session!.id
  }
}

describe('peer.budgets on a local group', () => {
  it('follows the log: a share at the full rate, halved when another host joins; takes beyond it are named errors', async () => {
    const f = fixture()
    try {
      expect(await f.budgets.define('b', { ratePerSecond: 1000, burst: 10 })).toMatchObject({ created: true, owner: 'self' })
      const st = await f.budgets.join('b', { capacity: 1 })
      expect(st).toMatchObject({ state: 'active', share: { ratePerSecond: 1000, burst: 10 }, lease: f.lease() })
      await waitUntil(() => f.budgets.tryTake('b').ok, 'a token')
      expect(() => { f.budgets.take('b', 11) }).toThrow(expect.objectContaining({ code: 'ERR_BUDGET_EXHAUSTED', details: expect.objectContaining({ retryAfterMs: null }) }))
      const other = f.apply(encodeCoordCommand({ t: 'lease.grant', ttlMs: 600_000 }), 'B').lease as number
      f.apply(encodeBudgetCommand({ t: 'budget.join', name: 'b', capacity: 1, lease: other }), 'B')
      await waitUntil(() => f.budgets.status('b')?.share.ratePerSecond === 500, 'the share halved')
      expect(f.budgets.status('b')).toMatchObject({ share: { ratePerSecond: 500, burst: 5 }, budget: { capacity: 2, hosts: [{ host: 'self' }, { host: 'B' }] } })
      expect(f.budgets.stats.resplits).toBe(1)
      expect(() => { f.budgets.take('nope') }).toThrow(expect.objectContaining({ code: 'ERR_BUDGET_NOT_JOINED' }))
      expect(() => { f.budgets.tryTake('b', 0) }).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }))
      await expect(f.budgets.join('b', { capacity: 0 })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION', details: { path: 'capacity' } })
      await expect(f.budgets.define('a/b', { ratePerSecond: 1, burst: 1 })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION', details: { path: 'name' } })
      await expect(f.budgets.define('b', { ratePerSecond: 1, burst: 0.5 })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION', details: { path: 'burst' } })
      await expect(f.budgets.join('missing', { capacity: 1 })).rejects.toMatchObject({ name: 'BudgetError', code: 'ERR_BUDGET_NOT_FOUND' })
      expect(f.budgets.status('missing')).toBeUndefined()
    } finally {
      f.budgets.stop()
    }
  })

  it('drops the share the moment the session lease is lost, then joins again under a new lease', async () => {
    const f = fixture()
    try {
      await f.budgets.define('b', { ratePerSecond: 100, burst: 10 })
      await f.budgets.join('b', { capacity: 1 })
      const first = f.lease()
      const shares: string[] = []
      f.budgets.on('budget:share', (e) => { shares.push(`${e.state} ${e.ratePerSecond}`) })
      f.loseLease()
      // At once, before any Raft round: no share.
      expect(f.budgets.status('b')).toMatchObject({ state: 'rejoining', share: { ratePerSecond: 0, burst: 0 } })
      expect(() => { f.budgets.take('b') }).toThrow(expect.objectContaining({ code: 'ERR_BUDGET_EXHAUSTED' }))
      await waitUntil(() => f.budgets.status('b')?.state === 'active', 'joined again')
      expect(f.lease()).not.toBe(first)
      expect(f.budgets.status('b')).toMatchObject({ lease: f.lease(), share: { ratePerSecond: 100 } })
      expect(f.app.budgets.get('b')?.hosts).toMatchObject([{ host: 'self', lease: f.lease() }])
      expect(shares).toEqual(['rejoining 0', 'active 100'])
      expect(f.budgets.stats).toMatchObject({ leasesLost: 1, rejoins: 1 })
      // The log drops this host (its old lease revoked there meanwhile changes nothing: it moved).
      f.apply(encodeCoordCommand({ t: 'lease.revoke', lease: first }), 'self')
      expect(f.app.budgets.get('b')?.hosts).toHaveLength(1)
      // The log drops it under its current lease: no share, joined again.
      f.apply(encodeCoordCommand({ t: 'lease.revoke', lease: f.lease() }), 'self')
      await waitUntil(() => f.budgets.stats.rejoins === 2 && f.budgets.status('b')?.state === 'active', 'joined again after the log dropped it')
    } finally {
      f.budgets.stop()
    }
  })

  it('a malformed view is dropped and counted; a deleted budget ends the share', async () => {
    const f = fixture()
    try {
      await f.budgets.define('b', { ratePerSecond: 100, burst: 10 })
      await f.budgets.join('b', { capacity: 1 })
      f.poison('{"name":"b","hosts":"everything"}')
      // A change makes the loop ask again: the poisoned answer comes first and is dropped.
      f.apply(encodeBudgetCommand({ t: 'budget.define', name: 'b', ratePerSecond: 200, burst: 10 }), 'self')
      await waitUntil(() => f.budgets.status('b')?.share.ratePerSecond === 200, 'the new rate after the malformed view')
      expect(f.budgets.stats.malformedViews).toBe(1)
      await f.budgets.delete('b')
      expect(f.budgets.status('b')).toMatchObject({ state: 'deleted', share: { ratePerSecond: 0 } })
      expect(f.budgets.tryTake('b')).toEqual({ ok: false, retryAfterMs: Number.POSITIVE_INFINITY })
      expect(() => { f.budgets.take('b') }).toThrow(expect.objectContaining({ code: 'ERR_BUDGET_EXHAUSTED', details: { budget: 'b', retryAfterMs: null } }))
      await f.budgets.leave('b')
      expect(f.budgets.statuses()).toEqual([])
    } finally {
      f.budgets.stop()
    }
  })

  it('a leave while the join is in flight leaves no share in the log (the join applied after the leave is given back)', async () => {
    const f = fixture()
    try {
      await f.budgets.define('b', { ratePerSecond: 100, burst: 10 })
      // The join waits for the session lease first: the leave reaches the log before it.
      const joining = f.budgets.join('b', { capacity: 1 })
      await f.budgets.leave('b')
      await joining
      expect(f.budgets.status('b')).toBeUndefined()
      await waitUntil(() => f.app.budgets.get('b')?.hosts.length === 0, 'the share given back in the log')
      // Joining again afterwards works as usual.
      expect(await f.budgets.join('b', { capacity: 1 })).toMatchObject({ state: 'active' })
      expect(f.app.budgets.get('b')?.hosts.map(h => h.host)).toEqual(['self'])
    } finally {
      f.budgets.stop()
    }
  })

  it('a member whose replica is behind the revision a watch holds reads after a barrier, never its stale (absent) state', async () => {
    // The log: a budget defined and joined (revision 2). This member's replica has applied none of it yet
    // (it just joined the group); its read barrier catches it up.
    const log = [encodeBudgetCommand({ t: 'budget.define', name: 'b', ratePerSecond: 10, burst: 10 })]
    const app = new MeshApplication()
    let applied = 0
    const raft = {
      app,
      watchCoordination: async () => {},
      readBarrier: async () => { for (; applied < log.length; applied++) app.apply(log[applied]!, applied + 1, { origin: 'owner', at: 1000 }); return applied }
    } as unknown as RaftService
    const text = await memberBudgetBackend(raft).watch('budget:b', 1, 10)
    expect(text === undefined ? undefined : JSON.parse(text)).toMatchObject({ name: 'b', rev: 1 })
  })
})

describe('budget reads from a member', () => {
  it('a malformed or wrongly shaped answer is a named ERR_DECODE, not a SyntaxError nor passed through', async () => {
    let answer: string | undefined
    const budgets = new PeerBudgets({
      self: 'self',
      log: createLogger('silent', 'test'),
      coordination: { sessionLeaseOf: async () => { throw new Error('not used') } }
    })
    budgets.setBackend({ propose: async () => { throw new Error('not used') }, read: async () => answer, watch: async () => answer })
    budgets.start()
    answer = '{not json'
    await expect(budgets.get('gpu')).rejects.toMatchObject({ code: 'ERR_DECODE' })
    await expect(budgets.list()).rejects.toMatchObject({ code: 'ERR_DECODE' })
    answer = JSON.stringify({ name: 'gpu', ratePerSecond: 'fast' })
    await expect(budgets.get('gpu')).rejects.toMatchObject({ code: 'ERR_DECODE' })
    answer = JSON.stringify(['a', 7])
    await expect(budgets.list()).rejects.toMatchObject({ code: 'ERR_DECODE' })
    answer = undefined
    expect(await budgets.get('gpu')).toBeUndefined()
    expect(await budgets.list()).toEqual([])
    await budgets.stop()
  })
})
