/**
 * The task state machine, applied through the mesh application as the Raft log applies it: submit with
 * idempotency keys, assignment rights, acks under coordination leases, host loss, ack windows, timeouts
 * with grace, retries, exactly-once completion, cancel, batches, reads, limits and refused input.
 */
import { describe, expect, it } from 'vitest'
import { encodeTaskCommand } from '../../protocols/mesh/application.js'
import { TaskMachine } from '../../protocols/tasks/machine.js'
import { TASK_BATCH_OPS_MAX, TASK_LIMITS, TASK_TAKEOVER_MS, type TaskHooks } from '../../protocols/tasks/types.js'
import { submit, taskHarness } from './harness.js'

const assign = (task: number, attempt: number, agent = 'w1', host = 'H'): Record<string, unknown> => ({ t: 'task.assign', task, attempt, agent, host })

/** A harness with one task submitted by S at log time 1000 (id 1), assigned to w1 on H (attempt 1). */
function assigned (extra: Record<string, unknown> = {}) {
  const h = taskHarness()
  expect(h.task('S', submit(extra), 1000)).toEqual({ ok: true, type: 'task.submit', task: 1, created: true })
  expect(h.task('S', assign(1, 1), 1000)).toMatchObject({ ok: true, attempt: 1 })
  return h
}

/** H's lease (id = the grant's index). */
function lease (h: ReturnType<typeof taskHarness>, at: number, ttlMs = 10_000, owner = 'H'): number {
  return h.coord(owner, { t: 'lease.grant', ttlMs }, at).lease as number
}

describe('submit', () => {
  it('records a task whose id is the entry index, with the defaults', () => {
    const h = taskHarness()
    h.tick(500)
    const r = h.task('S', submit({ retries: 1 }), 1000)
    expect(r).toEqual({ ok: true, type: 'task.submit', task: 2, created: true })
    expect(h.view(2)).toMatchObject({ id: 2, state: 'submitted', origin: 'S', target: { capability: 'cap' }, allocation: 'least-loaded', payload: '{"n":1}', retries: 1, timeoutMs: 60_000, graceMs: 0, ackMs: 5000, agent: null, attempts: 0, history: [], submittedIndex: 2, submittedAt: 1000, assignableBy: 1000 + TASK_TAKEOVER_MS })
    expect(h.events).toEqual([{ type: 'task:submitted', index: 2, task: 2, origin: 'S', target: { capability: 'cap' }, allocation: 'least-loaded' }])
    expect(JSON.parse(h.app.read('task:2')!)).toEqual(h.view(2))
    expect(h.app.read('task:9')).toBeUndefined()
  })

  it('an idempotency key is scoped to its origin peer: the same key again returns the first task', () => {
    const h = taskHarness()
    expect(h.task('S', submit({ key: 'k1' }), 0)).toMatchObject({ task: 1, created: true })
    expect(h.task('S', submit({ key: 'k1', payload: '2' }), 0)).toEqual({ ok: true, type: 'task.submit', task: 1, created: false })
    expect(h.task('T', submit({ key: 'k1' }), 0)).toMatchObject({ task: 3, created: true })
    expect(h.task('S', submit({ key: 'k2' }), 0)).toMatchObject({ task: 4, created: true })
    // Still remembered once finished.
    h.task('S', { t: 'task.cancel', task: 1 }, 0)
    expect(h.task('S', submit({ key: 'k1' }), 0)).toMatchObject({ task: 1, created: false })
    expect(h.app.tasks.counts()).toMatchObject({ submitted: 2, cancelled: 1, total: 3 })
  })

  it('gives every submit of a batch its own increasing id, and later entries ids above them', () => {
    const h = taskHarness()
    const r = h.task('S', { t: 'task.batch', ops: [submit(), submit(), { t: 'task.cancel', task: 2 }, submit({ key: 'a' }), submit({ key: 'a' })] }, 0)
    expect(r).toEqual({
      ok: true,
      type: 'task.batch',
      results: [
        { ok: true, type: 'task.submit', task: 1, created: true },
        { ok: true, type: 'task.submit', task: 2, created: true },
        { ok: true, type: 'task.cancel', task: 2 },
        { ok: true, type: 'task.submit', task: 3, created: true },
        { ok: true, type: 'task.submit', task: 3, created: false }
      ]
    })
    // Entry 2 would be id 2: taken, so the next free id.
    expect(h.task('S', submit(), 0)).toMatchObject({ task: 4 })
    expect(h.task('S', submit(), 0)).toMatchObject({ task: 5 })
    expect(h.task('S', submit(), 0)).toMatchObject({ task: 6 })
    expect(h.task('S', submit(), 0)).toMatchObject({ task: 7 })
    expect(h.app.invariants()).toEqual([])
  })
})

describe('assign', () => {
  it('the submitter assigns at once; another peer only from assignableBy on', () => {
    const h = taskHarness()
    h.task('S', submit(), 1000)
    expect(h.task('D', assign(1, 1), 1000 + TASK_TAKEOVER_MS - 1)).toMatchObject({ ok: false, code: 'ERR_TOO_EARLY' })
    expect(h.task('D', assign(1, 1), 1000 + TASK_TAKEOVER_MS)).toEqual({ ok: true, type: 'task.assign', task: 1, attempt: 1, deadline: 3000 + 5000 })
    expect(h.view(1)).toMatchObject({ state: 'assigned', agent: 'w1', attempts: 1, history: [{ attempt: 1, agent: 'w1', host: 'H', index: 3, at: 3000, deadline: 8000 }] })
    expect(h.events.at(-1)).toEqual({ type: 'task:assigned', index: 3, task: 1, attempt: 1, agent: 'w1', host: 'H', deadline: 8000 })
  })

  it('needs the next attempt number, a submitted task, and the target agent when one is named', () => {
    const h = taskHarness()
    h.task('S', submit(), 0)
    expect(h.task('S', assign(1, 2), 0)).toMatchObject({ ok: false, code: 'ERR_STALE_ATTEMPT' })
    expect(h.task('S', assign(1, 0), 0)).toMatchObject({ ok: false, code: 'ERR_INVALID_COMMAND' })
    expect(h.task('S', assign(9, 1), 0)).toMatchObject({ ok: false, code: 'ERR_TASK_NOT_FOUND' })
    h.task('S', assign(1, 1), 0)
    expect(h.task('S', assign(1, 1), 0)).toMatchObject({ ok: false, code: 'ERR_STALE_ATTEMPT' })
    expect(h.task('S', assign(1, 2), 0)).toMatchObject({ ok: false, code: 'ERR_TASK_STATE' })
    const t = h.task('S', submit({ target: { agent: 'w7' } }), 0).task as number
    expect(h.task('S', assign(t, 1, 'w1'), 0)).toMatchObject({ ok: false, code: 'ERR_TARGET_MISMATCH' })
    expect(h.task('S', assign(t, 1, 'w7'), 0)).toMatchObject({ ok: true })
  })

  it('the ack window is the attempt deadline until the ack; the whole attempt is timeout plus grace', () => {
    const h = assigned({ timeoutMs: 1000, graceMs: 500, ackMs: 200 })
    expect(h.view(1).history[0]!.deadline).toBe(1200)
    // An ack window longer than the attempt is cut to it.
    const h2 = assigned({ timeoutMs: 1000, ackMs: 5000 })
    expect(h2.view(1).history[0]!.deadline).toBe(2000)
  })
})

describe('ack and host loss', () => {
  it('only the host acks, under a live lease it owns; the deadline becomes timeout plus grace', () => {
    const h = assigned({ timeoutMs: 1000, graceMs: 500 })
    const l = lease(h, 1000)
    const other = lease(h, 1000, 10_000, 'X')
    expect(h.task('X', { t: 'task.ack', task: 1, attempt: 1, lease: other }, 1010)).toMatchObject({ ok: false, code: 'ERR_NOT_HOST' })
    expect(h.task('H', { t: 'task.ack', task: 1, attempt: 1, lease: other }, 1010)).toMatchObject({ ok: false, code: 'ERR_LEASE_NOT_FOUND' })
    expect(h.task('H', { t: 'task.ack', task: 1, attempt: 1, lease: 99 }, 1010)).toMatchObject({ ok: false, code: 'ERR_LEASE_NOT_FOUND' })
    expect(h.task('H', { t: 'task.ack', task: 1, attempt: 2, lease: l }, 1010)).toMatchObject({ ok: false, code: 'ERR_STALE_ATTEMPT' })
    expect(h.task('H', { t: 'task.ack', task: 1, attempt: 1, lease: l }, 1010)).toEqual({ ok: true, type: 'task.ack', task: 1, attempt: 1, deadline: 2500 })
    expect(h.task('H', { t: 'task.ack', task: 1, attempt: 1, lease: l }, 1020)).toMatchObject({ ok: true, again: true })
    const l2 = lease(h, 1020)
    expect(h.task('H', { t: 'task.ack', task: 1, attempt: 1, lease: l2 }, 1020)).toMatchObject({ ok: false, code: 'ERR_TASK_STATE' })
    expect(h.view(1).history[0]).toMatchObject({ lease: l, ackedAt: 1010, ackIndex: 9, deadline: 2500 })
  })

  it('a revoked lease ends its attempts host-lost; the task is reassignable by anyone at once', () => {
    const h = assigned()
    const l = lease(h, 1000)
    h.task('H', { t: 'task.ack', task: 1, attempt: 1, lease: l }, 1000)
    h.coord('H', { t: 'lease.revoke', lease: l }, 1100)
    expect(h.view(1)).toMatchObject({ state: 'submitted', attempts: 1, assignableBy: 1100, history: [{ end: 'host-lost', endIndex: 5 }] })
    expect(h.events.at(-1)).toEqual({ type: 'task:reassigned', index: 5, task: 1, attempt: 1, agent: 'w1', host: 'H', reason: 'host-lost' })
    expect(h.app.tasks.liveTasksOf('w1')).toBe(0)
    // The old host's complete is stale; a dispatcher elsewhere assigns attempt 2.
    expect(h.task('H', { t: 'task.complete', task: 1, attempt: 1, result: '1' }, 1100)).toMatchObject({ ok: false, code: 'ERR_STALE_ATTEMPT' })
    expect(h.task('D', assign(1, 2, 'w2', 'H2'), 1100)).toMatchObject({ ok: true, attempt: 2 })
    expect(h.task('H2', { t: 'task.complete', task: 1, attempt: 2, result: '"done"' }, 1200)).toMatchObject({ ok: true, onTime: true })
    expect(h.task('H', { t: 'task.complete', task: 1, attempt: 1, result: '1' }, 1300)).toMatchObject({ ok: false, code: 'ERR_STALE_ATTEMPT' })
    expect(h.view(1)).toMatchObject({ state: 'completed', result: '"done"', agent: 'w2', finishedIndex: 8 })
    expect(h.app.invariants()).toEqual([])
  })

  it('an expired lease ends every attempt acked under it, in task id order, in the expiring entry', () => {
    const h = taskHarness()
    const l = lease(h, 0, 1000)
    for (let i = 0; i < 3; i++) {
      const t = h.task('S', submit(), 0).task as number
      h.task('S', assign(t, 1), 0)
      h.task('H', { t: 'task.ack', task: t, attempt: 1, lease: l }, 0)
    }
    expect(h.app.tasks.liveTasksOf('w1')).toBe(3)
    h.tick(999)
    expect(h.app.read('tasks:assigned')).toBe('[2,5,8]')
    h.tick(1000)
    const lost = h.events.filter(e => e.type === 'task:reassigned')
    expect(lost.map(e => [e.task, e.index, (e as { reason: string }).reason])).toEqual([[2, 12, 'host-lost'], [5, 12, 'host-lost'], [8, 12, 'host-lost']])
    expect(h.app.read('tasks:submitted')).toBe('[2,5,8]')
    expect(h.app.invariants()).toEqual([])
  })

  it('an unacked attempt is not tied to the host lease', () => {
    const h = assigned()
    const l = lease(h, 1000)
    h.coord('H', { t: 'lease.revoke', lease: l }, 1001)
    expect(h.view(1).state).toBe('assigned')
  })
})

describe('deadlines', () => {
  it('an ack window that passes reassigns the task (ack-timeout), until retries run out: then failed', () => {
    const h = assigned({ retries: 1, ackMs: 200 })
    h.tick(1199)
    expect(h.view(1).state).toBe('assigned')
    expect(h.app.tasks.nextDeadline()).toBe(1200)
    expect(h.app.coordination.nextDeadline()).toBe(1200)
    h.tick(1200)
    expect(h.view(1)).toMatchObject({ state: 'submitted', history: [{ end: 'ack-timeout' }] })
    h.task('D', assign(1, 2), 1300)
    h.tick(1500)
    expect(h.view(1)).toMatchObject({ state: 'failed', attempts: 2, finishedAt: 1500, history: [{ end: 'ack-timeout' }, { end: 'ack-timeout' }] })
    expect(h.events.filter(e => e.type === 'task:failed')).toEqual([{ type: 'task:failed', index: 6, task: 1, attempt: 2, agent: 'w1', reason: 'ack-timeout' }])
    expect(h.task('S', assign(1, 3), 1500)).toMatchObject({ ok: false, code: 'ERR_TASK_STATE' })
    expect(h.app.tasks.nextDeadline()).toBeUndefined()
  })

  it('a completion within the grace period counts, late; past it the attempt times out', () => {
    const calls: unknown[] = []
    // Task 5's agent won its auction (the terms it accepted): its timeout is slashed.
    const hooks: TaskHooks = { leaseOwner: () => 'H', outcome: (...a) => calls.push(['outcome', ...a]), slash: (...a) => calls.push(['slash', ...a]), escrow: () => undefined, auctionWon: (auction, agent, seller, since) => auction === 'task-5-1' && agent === 'w2' && seller === 'acct' && since === 5 }
    const m = new TaskMachine(hooks)
    let index = 0
    const run = (origin: string, cmd: any, at: number): any => { m.advance(at, ++index); return m.apply(cmd, index, origin) }
    run('S', { t: 'task.submit', target: { capability: 'c' }, payload: '1', timeoutMs: 1000, graceMs: 500, retries: 1 }, 0)
    run('S', { t: 'task.assign', task: 1, attempt: 1, agent: 'w1', host: 'H' }, 0)
    run('H', { t: 'task.ack', task: 1, attempt: 1, lease: 7 }, 10)
    expect(run('H', { t: 'task.complete', task: 1, attempt: 1, result: '1' }, 1200)).toMatchObject({ ok: true, onTime: false })
    expect(calls).toEqual([['outcome', 'w1', { delivered: true, onTime: false }, 4]])
    calls.length = 0
    run('S', { t: 'task.submit', target: { capability: 'c' }, payload: '1', timeoutMs: 1000, graceMs: 500, retries: 0, account: 'acct', reward: 1 }, 1200)
    run('S', { t: 'task.assign', task: 5, attempt: 1, agent: 'w2', host: 'H' }, 1200)
    run('H', { t: 'task.ack', task: 5, attempt: 1, lease: 7 }, 1300)
    run('X', { t: 'task.cancel', task: 5 }, 2699) // refused: moves log time only
    expect(m.get(5)!.state).toBe('assigned')
    m.advance(2700, ++index)
    expect(m.get(5)).toMatchObject({ state: 'failed', history: [{ end: 'timeout', endIndex: 9 }] })
    expect(calls).toEqual([
      ['outcome', 'w2', { delivered: false, onTime: false }, 9],
      ['slash', 'w2', 'timeout_violation', { task: 5, attempt: 1, indexes: [5, 6, 7, 9] }, 9]
    ])
    expect(m.invariants()).toEqual([])
  })

  it('a timeout with retries left reassigns; host-lost and ack-timeout cost reputation only (no slash)', () => {
    const calls: string[] = []
    // Every agent won its attempt's auction: only the timeout is slashed.
    const m = new TaskMachine({ leaseOwner: () => 'H', outcome: (a, o) => calls.push(`outcome ${a} ${o.delivered}`), slash: (a, c) => calls.push(`slash ${a} ${c}`), escrow: () => undefined, auctionWon: () => true })
    let index = 0
    const run = (origin: string, cmd: any, at: number): any => { m.advance(at, ++index); return m.apply(cmd, index, origin) }
    run('S', { t: 'task.submit', target: { capability: 'c' }, payload: '1', timeoutMs: 1000, ackMs: 100, account: 'acct', reward: 1 }, 0)
    run('S', { t: 'task.assign', task: 1, attempt: 1, agent: 'w1', host: 'H' }, 0)
    m.advance(100, ++index)
    expect(calls).toEqual(['outcome w1 false'])
    run('S', { t: 'task.assign', task: 1, attempt: 2, agent: 'w2', host: 'H' }, 100)
    run('H', { t: 'task.ack', task: 1, attempt: 2, lease: 3 }, 100)
    m.leaseEnded(3, ++index)
    expect(calls).toEqual(['outcome w1 false', 'outcome w2 false'])
    run('S', { t: 'task.assign', task: 1, attempt: 3, agent: 'w3', host: 'H' }, 200)
    run('H', { t: 'task.ack', task: 1, attempt: 3, lease: 4 }, 200)
    m.advance(1200, ++index)
    expect(calls.slice(2)).toEqual(['outcome w3 false', 'slash w3 timeout_violation'])
    expect(m.get(1)).toMatchObject({ state: 'submitted', attempts: 3, history: [{ end: 'ack-timeout' }, { end: 'host-lost' }, { end: 'timeout' }] })
  })
})

describe('complete, fail, progress, cancel', () => {
  it('completes exactly once: a second complete, or a fail after it, is refused', () => {
    const h = assigned()
    expect(h.task('H', { t: 'task.complete', task: 1, attempt: 1, result: '{"ok":1}' }, 1100)).toEqual({ ok: true, type: 'task.complete', task: 1, attempt: 1, onTime: true })
    expect(h.task('H', { t: 'task.complete', task: 1, attempt: 1, result: '2' }, 1100)).toMatchObject({ ok: false, code: 'ERR_TASK_STATE' })
    expect(h.task('H', { t: 'task.fail', task: 1, attempt: 1, error: 'x' }, 1100)).toMatchObject({ ok: false, code: 'ERR_TASK_STATE' })
    expect(h.task('H', { t: 'task.complete', task: 1, attempt: 2, result: '2' }, 1100)).toMatchObject({ ok: false, code: 'ERR_STALE_ATTEMPT' })
    expect(h.view(1)).toMatchObject({ state: 'completed', result: '{"ok":1}', history: [{ end: 'completed' }] })
    expect(h.types().filter(t => t === 'task:completed')).toHaveLength(1)
  })

  it('only the current host acts on an attempt; a stale attempt is refused before the host check', () => {
    const h = assigned({ retries: 2 })
    expect(h.task('X', { t: 'task.complete', task: 1, attempt: 1, result: '1' }, 1000)).toMatchObject({ ok: false, code: 'ERR_NOT_HOST' })
    expect(h.task('X', { t: 'task.progress', task: 1, attempt: 1, progress: 0.5 }, 1000)).toMatchObject({ ok: false, code: 'ERR_NOT_HOST' })
    expect(h.task('H', { t: 'task.fail', task: 1, attempt: 1, error: 'boom' }, 1000)).toEqual({ ok: true, type: 'task.fail', task: 1, attempt: 1, state: 'submitted' })
    expect(h.events.at(-1)).toEqual({ type: 'task:reassigned', index: 5, task: 1, attempt: 1, agent: 'w1', host: 'H', reason: 'failed', error: 'boom' })
    expect(h.task('X', { t: 'task.complete', task: 1, attempt: 1, result: '1' }, 1000)).toMatchObject({ ok: false, code: 'ERR_STALE_ATTEMPT' })
    h.task('S', assign(1, 2), 1000)
    expect(h.task('H', { t: 'task.fail', task: 1, attempt: 2, error: 'bad input', retry: false }, 1000)).toMatchObject({ ok: true, state: 'failed' })
    expect(h.view(1)).toMatchObject({ state: 'failed', error: 'bad input', attempts: 2 })
  })

  it('retries: 0 fails at the first failure', () => {
    const h = assigned({ retries: 0 })
    expect(h.task('H', { t: 'task.fail', task: 1, attempt: 1, error: 'e' }, 1000)).toMatchObject({ state: 'failed' })
  })

  it('records progress with a note, the last one kept', () => {
    const h = assigned()
    const rev = h.app.tasks.revision('task:1')
    expect(h.task('H', { t: 'task.progress', task: 1, attempt: 1, progress: 0.25, note: 'a quarter' }, 1000)).toMatchObject({ ok: true })
    expect(h.app.tasks.revision('task:1')).toBeGreaterThan(rev)
    h.task('H', { t: 'task.progress', task: 1, attempt: 1, progress: 0.5 }, 1000)
    expect(h.view(1).history[0]).toMatchObject({ progress: 0.5 })
    expect(h.view(1).history[0]!.note).toBeUndefined()
    expect(h.events.at(-2)).toEqual({ type: 'task:progress', index: 3, task: 1, attempt: 1, progress: 0.25, note: 'a quarter' })
  })

  it('only the submitter cancels, in any state but a final one; a live attempt ends cancelled', () => {
    const h = assigned()
    expect(h.task('H', { t: 'task.cancel', task: 1 }, 1000)).toMatchObject({ ok: false, code: 'ERR_NOT_OWNER' })
    expect(h.task('S', { t: 'task.cancel', task: 1 }, 1000)).toEqual({ ok: true, type: 'task.cancel', task: 1 })
    expect(h.view(1)).toMatchObject({ state: 'cancelled', history: [{ end: 'cancelled' }] })
    expect(h.task('S', { t: 'task.cancel', task: 1 }, 1000)).toMatchObject({ ok: false, code: 'ERR_TASK_STATE' })
    expect(h.task('H', { t: 'task.complete', task: 1, attempt: 1, result: '1' }, 1000)).toMatchObject({ ok: false, code: 'ERR_TASK_STATE' })
    expect(h.app.tasks.liveTasksOf('w1')).toBe(0)
    expect(h.app.tasks.nextDeadline()).toBeUndefined()
  })
})

describe('reads and watches', () => {
  it('lists ids by state in pages, an agent\'s live tasks, counts; revisions grow with every change', () => {
    const h = taskHarness()
    for (let i = 0; i < 5; i++) h.task('S', submit(), 0)
    h.task('S', assign(2, 1, 'wa'), 0)
    h.task('S', assign(4, 1, 'wa'), 0)
    h.task('S', { t: 'task.cancel', task: 5 }, 0)
    expect(h.app.read('tasks:all')).toBe('[1,2,3,4,5]')
    expect(h.app.read('tasks:all@2')).toBe('[3,4,5]')
    expect(h.app.read('tasks:submitted')).toBe('[1,3]')
    expect(h.app.read('tasks:submitted@1')).toBe('[3]')
    expect(h.app.read('tasks:cancelled')).toBe('[5]')
    expect(h.app.read('tasks:agent:wa')).toBe('[2,4]')
    expect(h.app.read('tasks:agent:nobody')).toBe('[]')
    expect(JSON.parse(h.app.read('tasks:stats')!)).toEqual({ submitted: 2, assigned: 2, completed: 0, failed: 0, cancelled: 1, live: 4, total: 5 })
    expect(h.app.read('tasks:bogus')).toBeUndefined()
    expect(h.app.read('tasks:all@x')).toBeUndefined()
    expect(h.app.read('task:abc')).toBeUndefined()
    expect([...h.app.tasks.pending()].map(t => t.id)).toEqual([1, 3])
    expect(h.app.tasks.liveTasksOf('wa')).toBe(2)
    const r1 = h.app.tasks.revision('task:2')
    h.task('S', { t: 'task.cancel', task: 2 }, 0)
    expect(h.app.tasks.revision('task:2')).toBeGreaterThan(r1)
    expect(h.app.tasks.revision('task:77')).toBe(0)
    expect(h.app.tasks.revision('coord:x')).toBe(0)
  })

  it('pages hold at most listPageMax ids', () => {
    const h = taskHarness()
    const ops = Array.from({ length: TASK_LIMITS.listPageMax + 5 }, () => submit())
    h.task('S', { t: 'task.batch', ops: ops.slice(0, 1000) }, 0)
    h.task('S', { t: 'task.batch', ops: ops.slice(1000) }, 0)
    const page = JSON.parse(h.app.read('tasks:submitted')!) as number[]
    expect(page).toHaveLength(TASK_LIMITS.listPageMax)
    expect(JSON.parse(h.app.read(`tasks:submitted@${page.at(-1)!}`)!)).toHaveLength(5)
    expect(JSON.parse(h.app.read(`tasks:all@${page.at(-1)!}`)!)).toHaveLength(5)
  })
})

describe('refused input', () => {
  const bad: Array<[string, Record<string, unknown>]> = [
    ['unknown type', { t: 'task.nope' }],
    ['extra field', { ...submit(), extra: 1 }],
    ['two targets', submit({ target: { agent: 'a', capability: 'c' } })],
    ['no target', { t: 'task.submit', payload: '1' }],
    ['reserved agent', submit({ target: { agent: '__proto__' } })],
    ['long agent', submit({ target: { agent: 'a'.repeat(TASK_LIMITS.idCharsMax + 1) } })],
    ['lone surrogate agent', submit({ target: { agent: 'a\uD800' } })],
    ['lone surrogate payload', submit({ payload: '"\uDC00"' })],
    ['payload not JSON', submit({ payload: '{' })],
    ['payload not a string', submit({ payload: { a: 1 } })],
    ['payload too big', submit({ payload: JSON.stringify('x'.repeat(TASK_LIMITS.payloadBytesMax)) })],
    ['query not an object', submit({ target: { query: [1] } })],
    ['query with lone surrogate', submit({ target: { query: { capability: '\uD800' } } })],
    ['query too big', submit({ target: { query: { capability: 'x'.repeat(5000) } } })],
    ['retries too many', submit({ retries: TASK_LIMITS.retriesMax + 1 })],
    ['timeout too short', submit({ timeoutMs: 10 })],
    ['grace too long', submit({ graceMs: TASK_LIMITS.graceMsMax + 1 })],
    ['ack window fractional', submit({ ackMs: 150.5 })],
    ['unknown allocation', submit({ allocation: 'random' })],
    ['key with lone surrogate', submit({ key: '\uDFFF' })],
    ['key too long', submit({ key: 'k'.repeat(TASK_LIMITS.keyCharsMax + 1) })],
    ['reward without account', submit({ reward: 5 })],
    ['zero reward', submit({ account: 'a', reward: 0 })],
    ['task id 0', { t: 'task.cancel', task: 0 }],
    ['no attempt', { t: 'task.complete', task: 1, result: '1' }],
    ['host with lone surrogate', assign(1, 1, 'w', 'H\uD800')],
    ['progress above 1', { t: 'task.progress', task: 1, attempt: 1, progress: 1.5 }],
    ['progress NaN as string', { t: 'task.progress', task: 1, attempt: 1, progress: 'NaN' }],
    ['note too long', { t: 'task.progress', task: 1, attempt: 1, progress: 0, note: 'n'.repeat(TASK_LIMITS.noteCharsMax + 1) }],
    ['note with lone surrogate', { t: 'task.progress', task: 1, attempt: 1, progress: 0, note: '\uD800' }],
    ['result not JSON', { t: 'task.complete', task: 1, attempt: 1, result: 'nope' }],
    ['result too big', { t: 'task.complete', task: 1, attempt: 1, result: JSON.stringify('x'.repeat(TASK_LIMITS.resultBytesMax)) }],
    ['error too long', { t: 'task.fail', task: 1, attempt: 1, error: 'e'.repeat(TASK_LIMITS.errorCharsMax + 1) }],
    ['retry not boolean', { t: 'task.fail', task: 1, attempt: 1, error: 'e', retry: 'no' }],
    ['lease 0', { t: 'task.ack', task: 1, attempt: 1, lease: 0 }],
    ['empty batch', { t: 'task.batch', ops: [] }],
    ['nested batch', { t: 'task.batch', ops: [{ t: 'task.batch', ops: [submit()] }] }],
    ['batch with a bad op', { t: 'task.batch', ops: [submit(), { t: 'task.cancel' }] }],
    ['batch too long', { t: 'task.batch', ops: Array.from({ length: TASK_BATCH_OPS_MAX + 1 }, () => ({ t: 'task.cancel', task: 1 })) }]
  ]
  it.each(bad)('%s: refused by admission and by apply, changing nothing', (_, cmd) => {
    const h = taskHarness()
    const before = h.app.snapshot()
    const r = h.task('S', cmd, 0)
    expect(r).toMatchObject({ ok: false, code: 'ERR_INVALID_COMMAND' })
    expect(h.app.check(encodeTaskCommand(cmd))).toMatchObject({ code: 'ERR_INVALID_COMMAND' })
    expect(h.app.snapshot()).toEqual(before)
  })

  it('refuses a __proto__ key in a query by name, and text that is not JSON', () => {
    const h = taskHarness()
    expect(h.task('S', submit({ target: { query: JSON.parse('{"__proto__":{"x":1}}') } }), 0)).toMatchObject({ ok: false, code: 'ERR_RESERVED_NAME' })
    const bytes = new Uint8Array([0x03, 0x7b])
    expect(h.app.apply(bytes, 99, { origin: 'S', at: 0 })).toMatchObject({ ok: false, code: 'ERR_INVALID_COMMAND' })
    expect(h.app.check(bytes)).toMatchObject({ code: 'ERR_INVALID_COMMAND' })
    expect(h.app.check(encodeTaskCommand(submit()))).toBeUndefined()
    expect(h.app.requiresSignature(encodeTaskCommand(submit()))).toBe(true)
  })

  it('a batch applies each op as if alone: a refused op leaves the others', () => {
    const h = taskHarness()
    const r = h.task('S', { t: 'task.batch', ops: [submit(), { t: 'task.cancel', task: 5 }, submit()] }, 0)
    expect(r.results.map((x: any) => x.ok)).toEqual([true, false, true])
    expect(r.results[1]).toMatchObject({ code: 'ERR_TASK_NOT_FOUND' })
  })

  it('a reward needs an economy', () => {
    const h = taskHarness()
    expect(h.task('S', submit({ account: 'a', reward: 5 }), 0)).toMatchObject({ ok: false, code: 'ERR_NO_GENESIS' })
    expect(new TaskMachine().apply({ t: 'task.submit', target: { capability: 'c' }, payload: '1', account: 'a', reward: 5 }, 1, 'S')).toMatchObject({ ok: false, code: 'ERR_NO_ECONOMY' })
    expect(h.app.tasks.counts().total).toBe(0)
  })
})

describe('limits', () => {
  it('caps the live tasks of one submitting peer', () => {
    const h = taskHarness()
    const batch = { t: 'task.batch', ops: Array.from({ length: TASK_BATCH_OPS_MAX }, () => submit()) }
    for (let n = 0; n < TASK_LIMITS.liveTasksPerOriginMax; n += TASK_BATCH_OPS_MAX) h.task('S', batch, 0)
    expect(h.task('S', submit(), 0)).toMatchObject({ ok: false, code: 'ERR_LIMIT_EXCEEDED' })
    expect(h.task('T', submit(), 0)).toMatchObject({ ok: true })
    h.task('S', { t: 'task.cancel', task: 1 }, 0)
    expect(h.task('S', submit(), 0)).toMatchObject({ ok: true })
  })

  it('forgets the oldest finished tasks beyond finishedTasksMax, with their idempotency keys', () => {
    const m = new TaskMachine()
    let index = 0
    const first = m.apply({ t: 'task.submit', target: { capability: 'c' }, payload: '1', key: 'first' }, ++index, 'S') as { task: number }
    m.apply({ t: 'task.cancel', task: first.task }, ++index, 'S')
    for (let n = 1; n < TASK_LIMITS.finishedTasksMax; n += TASK_BATCH_OPS_MAX) {
      const r = m.apply({ t: 'task.batch', ops: Array.from({ length: TASK_BATCH_OPS_MAX }, () => ({ t: 'task.submit', target: { capability: 'c' }, payload: '1' })) }, ++index, 'S') as { results: Array<{ task: number }> }
      m.apply({ t: 'task.batch', ops: r.results.map(x => ({ t: 'task.cancel', task: x.task })) }, ++index, 'S')
    }
    // 1 + 100 × 1000 finished: the first forgotten, the next kept.
    expect(m.counts()).toMatchObject({ cancelled: TASK_LIMITS.finishedTasksMax, total: TASK_LIMITS.finishedTasksMax })
    expect(m.get(first.task)).toBeUndefined()
    expect(m.get(first.task + 2)).toBeDefined()
    expect(m.stats.forgotten).toBe(1)
    expect(m.apply({ t: 'task.submit', target: { capability: 'c' }, payload: '1', key: 'first' }, ++index, 'S')).toMatchObject({ created: true })
    expect(m.invariants()).toEqual([])
  })

  it('keeps the latest attemptsKeptMax attempts of a task', () => {
    const h = taskHarness()
    h.task('S', submit({ retries: 40 }), 0)
    for (let a = 1; a <= 20; a++) {
      h.task('S', assign(1, a), 0)
      h.task('H', { t: 'task.fail', task: 1, attempt: a, error: 'e' }, 0)
    }
    const v = h.view(1)
    expect(v.attempts).toBe(20)
    expect(v.history.map(a => a.attempt)).toEqual(Array.from({ length: TASK_LIMITS.attemptsKeptMax }, (_, i) => 20 - TASK_LIMITS.attemptsKeptMax + 1 + i))
    expect(h.app.invariants()).toEqual([])
  })
})

describe('snapshots', () => {
  it('restore to the same state, deadlines and lease ties included', () => {
    const h = assigned({ timeoutMs: 1000 })
    const l = lease(h, 1000)
    h.task('H', { t: 'task.ack', task: 1, attempt: 1, lease: l }, 1000)
    h.task('S', submit({ key: 'k' }), 1000)
    const back = taskHarness()
    back.app.restore(h.app.snapshot())
    expect(back.app.snapshot()).toEqual(h.app.snapshot())
    expect(back.app.snapshot()[0]).toBe(5)
    expect(back.app.tasks.nextDeadline()).toBe(2000)
    expect(back.app.invariants()).toEqual([])
    expect(back.app.tasks.liveTasksOf('w1')).toBe(1)
    expect(back.task('S', submit({ key: 'k' }), 1000)).toMatchObject({ task: 5, created: false })
    back.app.apply(new Uint8Array([0x02, ...new TextEncoder().encode(JSON.stringify({ t: 'lease.revoke', lease: l }))]), 99, { origin: 'H', at: 1100 })
    expect(back.app.tasks.get(1)?.state).toBe('submitted')
    // Listeners of the replaced machine were moved to the new one.
    expect(back.events.at(-1)).toMatchObject({ type: 'task:reassigned', reason: 'host-lost' })
  })

  it('a malformed task state is refused whole', () => {
    const m = new TaskMachine()
    m.apply({ t: 'task.submit', target: { capability: 'c' }, payload: '1' }, 1, 'S')
    const snap = m.snapshotJson() as { tasks: Array<Record<string, unknown>> }
    expect(() => TaskMachine.restore({ ...snap, v: 2 })).toThrow(expect.objectContaining({ code: 'ERR_DECODE' }))
    expect(() => TaskMachine.restore({ ...snap, tasks: [{ ...snap.tasks[0], state: 'assigned' }] })).toThrow(expect.objectContaining({ code: 'ERR_DECODE' }))
    expect(() => TaskMachine.restore({ ...snap, tasks: [{ ...snap.tasks[0], payload: 5 }] })).toThrow(expect.objectContaining({ code: 'ERR_DECODE' }))
    expect(() => TaskMachine.restore({ ...snap, tasks: [...snap.tasks, snap.tasks[0]] })).toThrow(expect.objectContaining({ code: 'ERR_DECODE' }))
    expect(TaskMachine.restore(JSON.parse(JSON.stringify(snap))).get(1)).toEqual(m.get(1))
  })
})
