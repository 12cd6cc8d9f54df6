/**
 * The mesh-wide budget machine (protocols/infrastructure/budget.ts) inside the mesh application: the split
 * by capacity, re-splits on join, leave and a lease's end (expiry in log time, revocation), who may define,
 * change and delete, refusals with their codes, limits, events, snapshots (v6, and the older versions
 * still written while no budget exists).
 */
import { describe, expect, it } from 'vitest'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { MeshApplication, encodeBudgetCommand, encodeCoordCommand, revisionOf } from '../../protocols/mesh/application.js'
import { BUDGET_LIMITS, BudgetMachine, admitBudgetCommand, splitShare, type BudgetEvent, type BudgetView } from '../../protocols/infrastructure/index.js'
import { decodeClientRequest } from '../../peers/raft/client.js'
import { checkBudgetView } from '../../peers/budget/service.js'

/** A mesh application fed commands in log order, each entry one index later, at log time `at`. */
function harness (genesis?: { authorities: string[] }): {
  app: MeshApplication
  budget: (origin: string, cmd: Record<string, unknown>, at?: number) => any
  coord: (origin: string, cmd: Record<string, unknown>, at?: number) => any
  events: BudgetEvent[]
} {
  const app = new MeshApplication(undefined, genesis !== undefined ? { genesis: { ...genesis, signatures: 'required' } } : {})
  let index = 0
  let now = 0
  const events: BudgetEvent[] = []
  app.onBudgets((m) => { m.on('budget:event', (e) => { events.push(e) }) })
  const step = (bytes: Uint8Array, origin: string, at?: number): any => {
    if (at !== undefined) now = at
    return app.apply(bytes, ++index, { origin, at: now })
  }
  return {
    app,
    budget: (origin, cmd, at) => step(encodeBudgetCommand(cmd), origin, at),
    coord: (origin, cmd, at) => step(encodeCoordCommand(cmd), origin, at),
    events
  }
}

const shares = (v: BudgetView | undefined): Record<string, number> => Object.fromEntries((v?.hosts ?? []).map(h => [h.host, Number(h.ratePerSecond.toFixed(6))]))

describe('the budget machine', () => {
  it('splits a budget by declared capacity and re-splits on join, leave and a lease\'s end', () => {
    const h = harness()
    const la = h.coord('A', { t: 'lease.grant', ttlMs: 3000 }, 1000).lease as number
    const lb = h.coord('B', { t: 'lease.grant', ttlMs: 3000 }).lease as number
    const lc = h.coord('C', { t: 'lease.grant', ttlMs: 3000 }).lease as number
    expect(h.budget('A', { t: 'budget.define', name: 'llm.tokens', ratePerSecond: 600, burst: 60 })).toMatchObject({ ok: true, created: true, changed: true })
    expect(h.budget('A', { t: 'budget.join', name: 'llm.tokens', capacity: 1, lease: la })).toMatchObject({ ok: true })
    expect(shares(h.app.budgets.get('llm.tokens'))).toEqual({ A: 600 })
    h.budget('B', { t: 'budget.join', name: 'llm.tokens', capacity: 2, lease: lb })
    const r = h.budget('C', { t: 'budget.join', name: 'llm.tokens', capacity: 3, lease: lc })
    expect(shares(r.budget)).toEqual({ A: 100, B: 200, C: 300 })
    expect(r.budget.hosts.map((x: { burst: number }) => x.burst)).toEqual([10, 20, 30])
    expect(r.budget.capacity).toBe(6)
    // B changes its capacity (a rejoin under the same lease).
    h.budget('B', { t: 'budget.join', name: 'llm.tokens', capacity: 5, lease: lb })
    expect(shares(h.app.budgets.get('llm.tokens'))).toEqual({ A: 66.666667, B: 333.333333, C: 200 })
    // A leaves: B and C share the whole budget.
    expect(h.budget('A', { t: 'budget.leave', name: 'llm.tokens' })).toMatchObject({ ok: true, left: true })
    expect(h.budget('A', { t: 'budget.leave', name: 'llm.tokens' })).toMatchObject({ ok: true, left: false })
    expect(shares(h.app.budgets.get('llm.tokens'))).toEqual({ B: 375, C: 225 })
    // C's lease is kept alive, B's is not: past B's TTL in log time, B drops out and C holds it all.
    h.coord('C', { t: 'lease.keepalive' }, 3500)
    const before = revisionOf(h.app, 'budget:llm.tokens')
    h.coord('C', { t: 'tick' }, 4100)
    expect(shares(h.app.budgets.get('llm.tokens'))).toEqual({ C: 600 })
    expect(revisionOf(h.app, 'budget:llm.tokens')).toBeGreaterThan(before)
    expect(h.events.filter(e => e.type === 'budget:left')).toEqual([
      { type: 'budget:left', index: 9, name: 'llm.tokens', host: 'A', reason: 'leave' },
      { type: 'budget:left', index: 12, name: 'llm.tokens', host: 'B', reason: 'lease-ended' }
    ])
    // A revoked lease ends the share in the same entry too.
    h.coord('C', { t: 'lease.revoke', lease: lc })
    expect(h.app.budgets.get('llm.tokens')?.hosts).toEqual([])
    expect(h.app.invariants()).toEqual([])
  })

  it('a host rejoining under a new lease keeps its share when its old lease ends', () => {
    const h = harness()
    const l1 = h.coord('A', { t: 'lease.grant', ttlMs: 1000 }, 0).lease as number
    h.budget('A', { t: 'budget.define', name: 'b', ratePerSecond: 10, burst: 5 })
    h.budget('A', { t: 'budget.join', name: 'b', capacity: 1, lease: l1 })
    const l2 = h.coord('A', { t: 'lease.grant', ttlMs: 5000 }, 500).lease as number
    h.budget('A', { t: 'budget.join', name: 'b', capacity: 1, lease: l2 })
    h.coord('A', { t: 'tick' }, 1500)
    expect(h.app.coordination.lease(l1)).toBeUndefined()
    expect(h.app.budgets.get('b')?.hosts).toMatchObject([{ host: 'A', lease: l2 }])
    expect(h.app.invariants()).toEqual([])
  })

  it('the burst is split likewise with a minimum of one token; a zero rate gives zero shares', () => {
    expect(splitShare(100, 10, 1, 100)).toEqual({ ratePerSecond: 1, burst: 1 })
    expect(splitShare(100, 1000, 3, 4)).toEqual({ ratePerSecond: 75, burst: 750 })
    expect(splitShare(0, 10, 1, 2)).toEqual({ ratePerSecond: 0, burst: 5 })
    expect(splitShare(100, 10, 1, 0)).toEqual({ ratePerSecond: 0, burst: 1 })
  })

  it('the owner (or an economy authority) changes and deletes a budget; the same values from anyone change nothing', () => {
    const h = harness({ authorities: ['T'] })
    h.budget('A', { t: 'budget.define', name: 'gpu', ratePerSecond: 10, burst: 10 })
    expect(h.budget('B', { t: 'budget.define', name: 'gpu', ratePerSecond: 10, burst: 10 })).toMatchObject({ ok: true, created: false, changed: false, budget: { owner: 'A' } })
    expect(h.budget('B', { t: 'budget.define', name: 'gpu', ratePerSecond: 20, burst: 10 })).toMatchObject({ ok: false, code: 'ERR_NOT_OWNER' })
    expect(h.budget('A', { t: 'budget.define', name: 'gpu', ratePerSecond: 20, burst: 10 })).toMatchObject({ ok: true, created: false, changed: true, budget: { ratePerSecond: 20 } })
    expect(h.budget('T', { t: 'budget.define', name: 'gpu', ratePerSecond: 30, burst: 10 })).toMatchObject({ ok: true, changed: true, budget: { ratePerSecond: 30, owner: 'A' } })
    expect(h.budget('B', { t: 'budget.delete', name: 'gpu' })).toMatchObject({ ok: false, code: 'ERR_NOT_OWNER' })
    expect(h.budget('A', { t: 'budget.delete', name: 'gpu' })).toMatchObject({ ok: true, deleted: true })
    expect(h.budget('A', { t: 'budget.delete', name: 'gpu' })).toMatchObject({ ok: false, code: 'ERR_BUDGET_NOT_FOUND' })
    expect(h.app.read('budget:gpu')).toBeUndefined()
    expect(revisionOf(h.app, 'budget:gpu')).toBe(0)
    expect(h.events.map(e => e.type)).toEqual(['budget:defined', 'budget:defined', 'budget:defined', 'budget:deleted'])
  })

  it('refuses joins without a live lease of the origin, unknown budgets and malformed commands, changing nothing', () => {
    const h = harness()
    const la = h.coord('A', { t: 'lease.grant', ttlMs: 3000 }, 0).lease as number
    h.budget('A', { t: 'budget.define', name: 'b', ratePerSecond: 10, burst: 5 })
    expect(h.budget('B', { t: 'budget.join', name: 'b', capacity: 1, lease: la })).toMatchObject({ ok: false, code: 'ERR_NOT_OWNER' })
    expect(h.budget('A', { t: 'budget.join', name: 'b', capacity: 1, lease: 999 })).toMatchObject({ ok: false, code: 'ERR_LEASE_NOT_FOUND' })
    expect(h.budget('A', { t: 'budget.join', name: 'nope', capacity: 1, lease: la })).toMatchObject({ ok: false, code: 'ERR_BUDGET_NOT_FOUND' })
    expect(h.budget('A', { t: 'budget.leave', name: 'nope' })).toMatchObject({ ok: false, code: 'ERR_BUDGET_NOT_FOUND' })
    const bad: Array<Record<string, unknown>> = [
      { t: 'budget.define', name: 'a/b', ratePerSecond: 1, burst: 1 },
      { t: 'budget.define', name: 'x'.repeat(129), ratePerSecond: 1, burst: 1 },
      { t: 'budget.define', name: 'b', ratePerSecond: -1, burst: 1 },
      { t: 'budget.define', name: 'b', ratePerSecond: 1, burst: 0 },
      { t: 'budget.define', name: 'b', ratePerSecond: 1, burst: 1.5 },
      { t: 'budget.define', name: 'b', ratePerSecond: 1, burst: 1, extra: 1 },
      { t: 'budget.join', name: 'b', capacity: 0, lease: la },
      { t: 'budget.join', name: 'b', capacity: BUDGET_LIMITS.capacityMax + 1, lease: la },
      { t: 'budget.join', name: 'b', capacity: 1 },
      { t: 'budget.nope', name: 'b' }
    ]
    for (const c of bad) {
      expect(admitBudgetCommand(c), JSON.stringify(c).slice(0, 80)).toMatchObject({ code: 'ERR_INVALID_COMMAND' })
      expect(h.budget('A', c)).toMatchObject({ ok: false, code: 'ERR_INVALID_COMMAND' })
      expect(h.app.check(encodeBudgetCommand(c))).toMatchObject({ code: 'ERR_INVALID_COMMAND' })
    }
    expect(h.app.apply(new Uint8Array([0x04, 0x7b]), 100, { origin: 'A', at: 0 })).toMatchObject({ ok: false, code: 'ERR_INVALID_COMMAND' })
    expect(h.app.requiresSignature(encodeBudgetCommand({ t: 'budget.leave', name: 'b' }))).toBe(true)
    expect(h.app.budgets.get('b')).toMatchObject({ ratePerSecond: 10, burst: 5, hosts: [] })
    expect(h.app.budgets.stats.refused).toBeGreaterThan(0)
  })

  it('holds its named limits: budgets per owner, hosts per budget', () => {
    const h = harness()
    for (let i = 0; i < BUDGET_LIMITS.budgetsPerOwnerMax; i++) expect(h.budget('A', { t: 'budget.define', name: `b${i}`, ratePerSecond: 1, burst: 1 })).toMatchObject({ ok: true })
    expect(h.budget('A', { t: 'budget.define', name: 'one-more', ratePerSecond: 1, burst: 1 })).toMatchObject({ ok: false, code: 'ERR_LIMIT_EXCEEDED' })
    expect(h.budget('B', { t: 'budget.define', name: 'one-more', ratePerSecond: 1, burst: 1 })).toMatchObject({ ok: true })
    for (let i = 0; i < BUDGET_LIMITS.hostsPerBudgetMax; i++) {
      const lease = h.coord(`H${i}`, { t: 'lease.grant', ttlMs: 60_000 }).lease as number
      expect(h.budget(`H${i}`, { t: 'budget.join', name: 'b0', capacity: 1, lease })).toMatchObject({ ok: true })
    }
    const lease = h.coord('late', { t: 'lease.grant', ttlMs: 60_000 }).lease as number
    expect(h.budget('late', { t: 'budget.join', name: 'b0', capacity: 1, lease })).toMatchObject({ ok: false, code: 'ERR_LIMIT_EXCEEDED' })
    const v = h.app.budgets.get('b0')!
    expect(v.hosts.length).toBe(BUDGET_LIMITS.hostsPerBudgetMax)
    expect(v.hosts.reduce((s, x) => s + x.ratePerSecond, 0)).toBeCloseTo(1, 9)
    expect(JSON.parse(h.app.read('budgets:all')!)).toHaveLength(BUDGET_LIMITS.budgetsPerOwnerMax + 1)
    expect(h.app.invariants()).toEqual([])
  })
})

describe('budget snapshots', () => {
  it('v6 round-trips byte for byte, with coordination and tasks pristine or not; joins still end with their lease after a restore', () => {
    const h = harness()
    const la = h.coord('A', { t: 'lease.grant', ttlMs: 3000 }, 1000).lease as number
    const lb = h.coord('B', { t: 'lease.grant', ttlMs: 3000 }).lease as number
    h.budget('A', { t: 'budget.define', name: 'x', ratePerSecond: 100, burst: 10 })
    h.budget('A', { t: 'budget.join', name: 'x', capacity: 1, lease: la })
    h.budget('B', { t: 'budget.join', name: 'x', capacity: 3, lease: lb })
    const bytes = h.app.snapshot()
    expect(bytes[0]).toBe(6)
    const back = new MeshApplication()
    const seen: BudgetEvent[] = []
    back.onBudgets((m) => { m.on('budget:event', (e) => { seen.push(e) }) })
    back.restore(bytes)
    expect(back.snapshot()).toEqual(bytes)
    expect(back.budgets.get('x')).toEqual(h.app.budgets.get('x'))
    expect(back.invariants()).toEqual([])
    // The restored machine is wired: B's lease revoked ends its share.
    back.apply(encodeCoordCommand({ t: 'lease.revoke', lease: lb }), 50, { origin: 'B', at: 1500 })
    expect(shares(back.budgets.get('x'))).toEqual({ A: 100 })
    expect(seen).toMatchObject([{ type: 'budget:left', host: 'B', reason: 'lease-ended' }])
  })

  it('writes the older versions while no budget exists, and v6 with pristine coordination and tasks as {}', () => {
    const h = harness()
    h.coord('A', { t: 'lease.grant', ttlMs: 3000 }, 1000)
    expect(h.app.snapshot()[0]).toBe(4)
    h.budget('A', { t: 'budget.define', name: 'x', ratePerSecond: 1, burst: 1 })
    expect(h.app.snapshot()[0]).toBe(6)
    h.budget('A', { t: 'budget.delete', name: 'x' })
    expect(h.app.snapshot()[0]).toBe(4)
    const fresh = new MeshApplication()
    fresh.apply(encodeBudgetCommand({ t: 'budget.define', name: 'x', ratePerSecond: 1, burst: 1 }), 1, { origin: 'A', at: 0 })
    const bytes = fresh.snapshot()
    expect(bytes[0]).toBe(6)
    const back = new MeshApplication()
    back.restore(bytes)
    expect(back.coordination.isPristine()).toBe(true)
    expect(back.tasks.isPristine()).toBe(true)
    expect(back.budgets.get('x')).toMatchObject({ owner: 'A', ratePerSecond: 1 })
    expect(back.snapshot()).toEqual(bytes)
  })

  it('a malformed budget state is a DecodeError and changes nothing', () => {
    const h = harness()
    h.budget('A', { t: 'budget.define', name: 'x', ratePerSecond: 1, burst: 1 })
    const good = h.app.snapshot()
    // The same snapshot with a budget of negative rate in its last field.
    const d = decoding.createDecoder(good)
    const e = encoding.createEncoder()
    encoding.writeUint8(e, decoding.readUint8(d))
    encoding.writeVarUint8Array(e, decoding.readVarUint8Array(d))
    encoding.writeVarString(e, decoding.readVarString(d))
    encoding.writeUint8(e, decoding.readUint8(d))
    encoding.writeVarString(e, decoding.readVarString(d))
    encoding.writeVarString(e, decoding.readVarString(d))
    encoding.writeVarString(e, decoding.readVarString(d).replace('"ratePerSecond":1', '"ratePerSecond":-1'))
    const bad = encoding.toUint8Array(e)
    expect(bad.length).toBe(good.length + 1)
    const app = new MeshApplication()
    expect(() => { app.restore(bad) }).toThrow(expect.objectContaining({ code: 'ERR_DECODE' }))
    expect(app.budgets.isPristine()).toBe(true)
    expect(() => BudgetMachine.restore({ v: 1, budgets: [{ name: 'x', ratePerSecond: 1, burst: 1, owner: 'A', index: 1, rev: 1, hosts: [{ host: 'H', capacity: 0, lease: 1, since: 1 }] }] })).toThrow(expect.objectContaining({ code: 'ERR_DECODE' }))
    expect(() => BudgetMachine.restore({ v: 2, budgets: [] })).toThrow(expect.objectContaining({ code: 'ERR_DECODE' }))
  })
})

describe('budgets on the Raft client path', () => {
  it('members take watches of budget:<name> (a peer outside the group follows its share); views from members are checked', () => {
    const req = (o: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(o))
    expect(decodeClientRequest(req({ t: 'watch', n: 'budget:llm.tokens', v: 7, ms: 1000 }))).toEqual({ t: 'watch', n: 'budget:llm.tokens', v: 7, ms: 1000 })
    expect(() => decodeClientRequest(req({ t: 'watch', n: 'budgets:all', v: 0, ms: 0 }))).toThrow(expect.objectContaining({ code: 'ERR_DECODE' }))
    const h = harness()
    const la = h.coord('A', { t: 'lease.grant', ttlMs: 3000 }, 0).lease as number
    h.budget('A', { t: 'budget.define', name: 'b', ratePerSecond: 90, burst: 9 })
    h.budget('A', { t: 'budget.join', name: 'b', capacity: 2, lease: la })
    const view = JSON.parse(h.app.read('budget:b')!) as BudgetView
    expect(checkBudgetView(view)).toEqual(view)
    // Shares are recomputed from the capacities, never taken from the answer.
    expect(checkBudgetView({ ...view, hosts: [{ ...view.hosts[0]!, ratePerSecond: 1e9 }] })?.hosts[0]?.ratePerSecond).toBe(90)
    for (const bad of [null, [], { ...view, rev: 1.5 }, { ...view, name: 'a/b' }, { ...view, hosts: [{ ...view.hosts[0]!, capacity: 0 }] }, { ...view, hosts: Array(BUDGET_LIMITS.hostsPerBudgetMax + 1).fill(view.hosts[0]) }, { ...view, ratePerSecond: -1 }]) {
      expect(checkBudgetView(bad)).toBeUndefined()
    }
  })
})
