/**
 * Regression tests of the task machine's review (F1, F1b, F2, F3, F8 in the reviewer's tests, adapted):
 * forged results after a takeover, tasks stranded in `submitted`, byte budgets of live and finished tasks
 * (the snapshot stays serialisable and small), stake slashing only for attempts an agent won at auction,
 * and the log time a lease's end sees. Each failed on the machine before these fixes.
 */
import { describe, expect, it } from 'vitest'
import { MeshApplication, encodeTaskCommand } from '../../protocols/mesh/application.js'
import { TaskMachine } from '../../protocols/tasks/machine.js'
import { TASK_BATCH_OPS_MAX, TASK_DEFAULTS, TASK_LIMITS, TASK_TAKEOVER_MS, type TaskEvent } from '../../protocols/tasks/types.js'
import { submit, taskHarness } from './harness.js'

const L = TASK_LIMITS

/** A harness with an economy: agent w-1's account is owned by host H, with 200 minted and 100 staked. */
function withAgentAccount () {
  const h = taskHarness({ genesis: { authorities: ['T'], signatures: 'required', unbondingDelayEntries: 0 } })
  expect(h.econ('T', { type: 'mint', by: 'treasury', account: 'w-1', owner: 'H', amount: 200 }, 0)).toMatchObject({ ok: true })
  expect(h.econ('H', { type: 'stake', by: 'w-1', account: 'w-1', amount: 100 }, 0)).toMatchObject({ ok: true })
  return h
}

describe('F1: an agent with an account is assigned only on its owner\'s peer', () => {
  it('after the takeover time, another peer cannot name itself host of the agent and forge its result', () => {
    const h = withAgentAccount()
    const id = h.task('A', { t: 'task.submit', target: { agent: 'w-1' }, payload: '{"x":1}' }, 1000).task
    const at = 1000 + TASK_TAKEOVER_MS
    expect(h.task('X', { t: 'task.assign', task: id, attempt: 1, agent: 'w-1', host: 'X' }, at)).toMatchObject({ ok: false, code: 'ERR_HOST_MISMATCH' })
    // The submitter cannot either; the owner's peer can be named by anyone (the takeover), and only it completes.
    expect(h.task('A', { t: 'task.assign', task: id, attempt: 1, agent: 'w-1', host: 'A' }, at)).toMatchObject({ ok: false, code: 'ERR_HOST_MISMATCH' })
    expect(h.task('X', { t: 'task.assign', task: id, attempt: 1, agent: 'w-1', host: 'H' }, at)).toMatchObject({ ok: true })
    expect(h.task('X', { t: 'task.complete', task: id, attempt: 1, result: '{"forged":true}' }, at + 1)).toMatchObject({ ok: false, code: 'ERR_NOT_HOST' })
    expect(h.view(id)).toMatchObject({ state: 'assigned', attempts: 1 })
    expect(h.app.invariants()).toEqual([])
  })

  it('F1b: after a reassignment too (any peer may assign at once)', () => {
    const h = withAgentAccount()
    const id = h.task('A', submit({ retries: 3, ackMs: 100 }), 1000).task
    expect(h.task('A', { t: 'task.assign', task: id, attempt: 1, agent: 'w-1', host: 'H' }, 1001)).toMatchObject({ ok: true })
    h.tick(1200)
    expect(h.view(id)).toMatchObject({ state: 'submitted', assignableBy: 1200 })
    expect(h.task('X', { t: 'task.assign', task: id, attempt: 2, agent: 'w-1', host: 'X' }, 1201)).toMatchObject({ ok: false, code: 'ERR_HOST_MISMATCH' })
    expect(h.view(id)).toMatchObject({ state: 'submitted', attempts: 1 })
  })

  it('an agent without an account can still be claimed by any peer after the takeover (documented: the mesh\'s admission is the boundary)', () => {
    const h = withAgentAccount()
    const id = h.task('A', submit(), 1000).task
    expect(h.task('X', { t: 'task.assign', task: id, attempt: 1, agent: 'evil', host: 'X' }, 1000 + TASK_TAKEOVER_MS)).toMatchObject({ ok: true })
    expect(h.task('X', { t: 'task.complete', task: id, attempt: 1, result: '"claimed"' }, 1000 + TASK_TAKEOVER_MS)).toMatchObject({ ok: true })
  })
})

describe('F2: a task waits for an assignment at most queueMs', () => {
  it('a task whose agent never shows up fails `unassigned` at its queue deadline; the ticker sees the deadline', () => {
    const h = taskHarness()
    const id = h.task('A', { t: 'task.submit', target: { agent: 'ghost' }, payload: 'null', timeoutMs: 100 }, 1000).task
    expect(h.view(id).queueMs).toBe(TASK_DEFAULTS.queueMs)
    expect(h.app.tasks.nextDeadline()).toBe(1000 + TASK_DEFAULTS.queueMs)
    // The coordination machine's next deadline (what the leader's ticker reads) folds it in.
    expect(h.app.coordination.nextDeadline()).toBe(1000 + TASK_DEFAULTS.queueMs)
    h.tick(1000 + TASK_DEFAULTS.queueMs - 1)
    expect(h.view(id).state).toBe('submitted')
    h.tick(1000 + TASK_DEFAULTS.queueMs)
    expect(h.view(id)).toMatchObject({ state: 'failed', attempts: 0, error: `not assigned within ${TASK_DEFAULTS.queueMs} ms` })
    expect(h.events.at(-1)).toEqual({ type: 'task:failed', index: h.index, task: id, attempt: 0, agent: null, reason: 'unassigned', error: `not assigned within ${TASK_DEFAULTS.queueMs} ms` })
    expect(h.app.tasks.nextDeadline()).toBeUndefined()
    expect(h.app.invariants()).toEqual([])
  })

  it('the window starts again at each reassignment; an assignment in time stops it; queueMs has a range', () => {
    const h = taskHarness()
    const id = h.task('A', submit({ queueMs: 5000, ackMs: 100 }), 0).task
    expect(h.task('A', { t: 'task.assign', task: id, attempt: 1, agent: 'w1', host: 'H' }, 4000)).toMatchObject({ ok: true })
    h.tick(4100) // ack window: reassigned at 4100
    expect(h.app.tasks.nextDeadline()).toBe(9100)
    h.tick(9099)
    expect(h.view(id).state).toBe('submitted')
    h.tick(9100)
    expect(h.view(id)).toMatchObject({ state: 'failed', attempts: 1 })
    expect(h.events.at(-1)).toMatchObject({ type: 'task:failed', attempt: 1, agent: 'w1', reason: 'unassigned' })
    for (const q of [L.queueMsMin - 1, L.queueMsMax + 1, 1.5]) expect(h.task('A', submit({ queueMs: q }), 9200)).toMatchObject({ ok: false, code: 'ERR_INVALID_COMMAND' })
  })

  it('refunds the reward and moves no reputation nor stake', () => {
    const h = withAgentAccount()
    expect(h.econ('T', { type: 'mint', by: 'treasury', account: 'alice', owner: 'A', amount: 100 }, 0)).toMatchObject({ ok: true })
    const before = h.app.economy!.account('w-1')!
    const id = h.task('A', { t: 'task.submit', target: { agent: 'w-1' }, payload: '1', account: 'alice', reward: 30, queueMs: 1000 }, 0).task
    expect(h.app.economy!.account('alice')).toMatchObject({ free: 70, escrow: 30 })
    h.tick(1000)
    expect(h.view(id).state).toBe('failed')
    expect(h.app.economy!.account('alice')).toMatchObject({ free: 100, escrow: 0 })
    expect(h.app.economy!.account('w-1')).toEqual(before)
    expect(h.app.invariants()).toEqual([])
  })
})

describe('F3: byte budgets keep the task state far below the snapshot limit', () => {
  // 64 KiB of JSON text whose characters all need escaping once in the snapshot (twice its size there).
  const heavy = '"' + '\\"'.repeat((64 * 1024 - 2) / 2) + '"'

  it('one peer within its count quota is refused by bytes (escaping counted); the snapshot serialises', () => {
    const m = new TaskMachine()
    let index = 0
    let refused: any
    for (let i = 0; i < 4200 && refused === undefined; i++) {
      m.advance(1000, ++index)
      const r = m.apply({ t: 'task.submit', target: { capability: 'c' }, payload: heavy }, index, 'X') as any
      if (r.ok !== true) refused = r
    }
    expect(refused).toMatchObject({ ok: false, code: 'ERR_LIMIT_EXCEEDED' })
    const live = m.counts().live
    expect(live).toBeLessThan(L.liveBytesPerOriginMax / (64 * 1024) + 1)
    const json = JSON.stringify(m.snapshotJson())
    expect(Buffer.byteLength(json)).toBeLessThanOrEqual(L.liveBytesPerOriginMax + 1024)
    // Another peer still submits.
    expect(m.apply({ t: 'task.submit', target: { capability: 'c' }, payload: '1' }, ++index, 'Y')).toMatchObject({ ok: true })
    expect(m.invariants()).toEqual([])
  }, 60_000)

  it('the group\'s live bytes are bounded whatever the number of peers', () => {
    const m = new TaskMachine()
    let index = 0
    let refused: any
    for (let p = 0; refused === undefined; p++) {
      for (let i = 0; i < 80; i++) {
        const r = m.apply({ t: 'task.submit', target: { capability: 'c' }, payload: heavy }, ++index, `P${p}`) as any
        if (r.ok !== true) { if (r.message.includes('group')) refused = r; break }
      }
    }
    expect(refused).toMatchObject({ code: 'ERR_LIMIT_EXCEEDED' })
    expect(Buffer.byteLength(JSON.stringify(m.snapshotJson()))).toBeLessThanOrEqual(L.liveBytesMax + 1024)
    expect(m.invariants()).toEqual([])
  }, 60_000)

  it('finished tasks are forgotten oldest first by bytes too (with their keys); a large result is never refused', () => {
    const m = new TaskMachine()
    let index = 0
    const first = m.apply({ t: 'task.submit', target: { capability: 'c' }, payload: '1', key: 'first' }, ++index, 'S') as { task: number }
    m.apply({ t: 'task.assign', task: first.task, attempt: 1, agent: 'w', host: 'H' }, ++index, 'S')
    expect(m.apply({ t: 'task.complete', task: first.task, attempt: 1, result: heavy }, ++index, 'H')).toMatchObject({ ok: true })
    // Each heavy task finished takes ~256 KiB (payload and result escaped).
    for (let i = 0; i < 250; i++) {
      const r = m.apply({ t: 'task.submit', target: { capability: 'c' }, payload: heavy }, ++index, 'S') as { task: number }
      m.apply({ t: 'task.assign', task: r.task, attempt: 1, agent: 'w', host: 'H' }, ++index, 'S')
      expect(m.apply({ t: 'task.complete', task: r.task, attempt: 1, result: heavy }, ++index, 'H')).toMatchObject({ ok: true })
    }
    expect(m.get(first.task)).toBeUndefined()
    expect(m.stats.forgotten).toBeGreaterThan(0)
    expect(m.counts().total).toBeLessThan(L.finishedBytesMax / (256 * 1024) + 1)
    expect(Buffer.byteLength(JSON.stringify(m.snapshotJson()))).toBeLessThanOrEqual(L.finishedBytesMax + 1024)
    expect(m.apply({ t: 'task.submit', target: { capability: 'c' }, payload: '1', key: 'first' }, ++index, 'S')).toMatchObject({ created: true })
    expect(m.invariants()).toEqual([])
  }, 60_000)

  it('an assignment is charged its reserve: refused when the submitter\'s budget cannot hold it; hosts can then not push past it', () => {
    const m = new TaskMachine({ leaseOwner: () => 'H' })
    let index = 0
    // Heavy tasks until refused, then small ones until refused: less than a reserve is left.
    for (const payload of [heavy, '1']) {
      for (;;) {
        const r = m.apply({ t: 'task.submit', target: { capability: 'c' }, payload }, ++index, 'S') as any
        if (r.ok !== true) { expect(r.code).toBe('ERR_LIMIT_EXCEEDED'); break }
      }
    }
    expect(m.apply({ t: 'task.assign', task: 1, attempt: 1, agent: 'w', host: 'H' }, ++index, 'S')).toMatchObject({ ok: false, code: 'ERR_LIMIT_EXCEEDED' })
    // A heavy task cancelled frees room.
    m.apply({ t: 'task.cancel', task: 2 }, ++index, 'S')
    expect(m.apply({ t: 'task.assign', task: 1, attempt: 1, agent: 'w', host: 'H' }, ++index, 'S')).toMatchObject({ ok: true })
    // Whatever the host records (a note, an escape-heavy error cut in the history), the budget holds.
    m.apply({ t: 'task.ack', task: 1, attempt: 1, lease: 9 }, ++index, 'H')
    m.apply({ t: 'task.progress', task: 1, attempt: 1, progress: 0.5, note: '\u0001'.repeat(L.noteCharsMax) }, ++index, 'H')
    const error = '\u0001'.repeat(L.errorCharsMax)
    const events: TaskEvent[] = []
    m.on('task:event', e => { events.push(e) })
    expect(m.apply({ t: 'task.fail', task: 1, attempt: 1, error }, ++index, 'H')).toMatchObject({ ok: true, state: 'submitted' })
    expect(Buffer.byteLength(JSON.stringify(m.get(1)!.history[0]!.error))).toBeLessThanOrEqual(L.attemptErrorBytesMax)
    expect(events[0]).toMatchObject({ type: 'task:reassigned', error })
    expect(m.invariants()).toEqual([])
    const live = (m.snapshotJson() as { tasks: Array<{ state: string }> }).tasks.filter(t => t.state !== 'cancelled')
    expect(Buffer.byteLength(JSON.stringify(live))).toBeLessThanOrEqual(L.liveBytesPerOriginMax)
  }, 60_000)

  it('counts and limits of many small tasks are unchanged (a batch of small submits fits)', () => {
    const h = taskHarness()
    const batch = { t: 'task.batch', ops: Array.from({ length: TASK_BATCH_OPS_MAX }, () => submit()) }
    expect(h.task('S', batch, 0).results.every((r: any) => r.ok === true)).toBe(true)
  })
})

describe('F8: only an attempt the agent won at auction risks its stake', () => {
  function economy () {
    const h = withAgentAccount()
    expect(h.econ('T', { type: 'mint', by: 'treasury', account: 'xacct', owner: 'X', amount: 100 }, 0)).toMatchObject({ ok: true })
    const lease = h.coord('H', { t: 'lease.grant', ttlMs: 600_000 }, 0).lease as number
    return { h, lease }
  }

  it('a hostile submitter\'s impossible terms lower the agent\'s reputation but never slash it', () => {
    const { h, lease } = economy()
    const before = h.app.economy!.account('w-1')!
    let at = 1000
    for (let i = 0; i < 10; i++) {
      const id = h.task('X', { t: 'task.submit', target: { agent: 'w-1' }, payload: 'null', timeoutMs: 100, retries: 0, account: 'xacct', reward: 1 }, at).task
      h.task('X', { t: 'task.assign', task: id, attempt: 1, agent: 'w-1', host: 'H' }, at)
      h.task('H', { t: 'task.ack', task: id, attempt: 1, lease }, at + 50)
      h.tick(at + 150)
      expect(h.view(id)).toMatchObject({ state: 'failed', history: [{ end: 'timeout' }] })
      // A failure reported by the host is not slashed either.
      const id2 = h.task('X', { t: 'task.submit', target: { agent: 'w-1' }, payload: 'null', retries: 0 }, at + 200).task
      h.task('X', { t: 'task.assign', task: id2, attempt: 1, agent: 'w-1', host: 'H' }, at + 200)
      h.task('H', { t: 'task.fail', task: id2, attempt: 1, error: 'the handler threw' }, at + 250)
      at += 1000
    }
    const after = h.app.economy!.account('w-1')!
    expect(after.history).toEqual([])
    expect(after.staked).toBe(before.staked)
    expect(after.reputation).toBeLessThan(before.reputation)
    expect(h.app.invariants()).toEqual([])
  })

  it('an attempt won at the task\'s auction (task-<id>-<attempt>, sold by the task\'s account, opened after the submit) is slashed', () => {
    const { h, lease } = economy()
    // An auction opened before the submit does not count (the agent could not have read the terms).
    const next = h.index + 4
    expect(h.econ('X', { type: 'auction.open', by: 'xacct', auction: { id: `task-${next}-1`, mechanism: 'vickrey', items: ['t'], durationMs: 1 } }, 0)).toMatchObject({ ok: true })
    expect(h.econ('H', { type: 'auction.bid', by: 'w-1', auction: `task-${next}-1`, bid: { amount: 1 } }, 0)).toMatchObject({ ok: true })
    expect(h.econ('X', { type: 'auction.close', by: 'xacct', auction: `task-${next}-1` }, 0)).toMatchObject({ status: 'settled' })
    const early = h.task('X', { t: 'task.submit', target: { agent: 'w-1' }, payload: 'null', timeoutMs: 100, retries: 0, account: 'xacct', reward: 1 }, 1000).task
    expect(early).toBe(next)
    h.task('X', { t: 'task.assign', task: early, attempt: 1, agent: 'w-1', host: 'H' }, 1000)
    h.task('H', { t: 'task.ack', task: early, attempt: 1, lease }, 1000)
    h.tick(1200)
    expect(h.app.economy!.account('w-1')!.history).toEqual([])
    // Won after the submit: slashed.
    const id = h.task('X', { t: 'task.submit', target: { agent: 'w-1' }, payload: 'null', timeoutMs: 100, retries: 0, account: 'xacct', reward: 1 }, 2000).task
    expect(h.econ('X', { type: 'auction.open', by: 'xacct', auction: { id: `task-${id}-1`, mechanism: 'vickrey', items: ['t'], durationMs: 1 } }, 2000)).toMatchObject({ ok: true })
    expect(h.econ('H', { type: 'auction.bid', by: 'w-1', auction: `task-${id}-1`, bid: { amount: 1 } }, 2000)).toMatchObject({ ok: true })
    expect(h.econ('X', { type: 'auction.close', by: 'xacct', auction: `task-${id}-1` }, 2000)).toMatchObject({ status: 'settled' })
    h.task('X', { t: 'task.assign', task: id, attempt: 1, agent: 'w-1', host: 'H' }, 2000)
    h.task('H', { t: 'task.ack', task: id, attempt: 1, lease }, 2000)
    h.tick(2200)
    expect(h.app.economy!.account('w-1')!.history).toEqual([expect.objectContaining({ condition: 'timeout_violation', evidence: expect.objectContaining({ task: id, attempt: 1 }) })])
    expect(h.app.invariants()).toEqual([])
  })
})

describe('a lease\'s end sees the entry\'s log time', () => {
  it('an attempt reassigned by its host\'s lease ending is assignable from that entry\'s time, and waits queueMs from it', () => {
    const h = taskHarness()
    const id = h.task('S', submit(), 0).task
    const lease = h.coord('H', { t: 'lease.grant', ttlMs: 1000 }, 0).lease as number
    h.task('S', { t: 'task.assign', task: id, attempt: 1, agent: 'w1', host: 'H' }, 0)
    h.task('H', { t: 'task.ack', task: id, attempt: 1, lease }, 0)
    // The lease expires in the coordination machine's advance of this entry, stamped 5000.
    h.tick(5000)
    expect(h.view(id)).toMatchObject({ state: 'submitted', assignableBy: 5000, history: [{ end: 'host-lost' }] })
    expect(h.app.tasks.nextDeadline()).toBe(5000 + TASK_DEFAULTS.queueMs)
  })

  it('restored replicas agree with live ones (the charges are a function of the records)', () => {
    const h = taskHarness()
    h.task('S', submit({ payload: JSON.stringify('é'.repeat(1000)) }), 0)
    h.task('S', { t: 'task.assign', task: 1, attempt: 1, agent: 'w1', host: 'H' }, 0)
    const back = new MeshApplication()
    back.restore(h.app.snapshot())
    expect(back.invariants()).toEqual([])
    expect(back.snapshot()).toEqual(h.app.snapshot())
    expect(back.apply(encodeTaskCommand(submit()), h.index + 1, { origin: 'S', at: 0 })).toEqual(h.task('S', submit(), 0))
  })
})
