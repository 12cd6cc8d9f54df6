/**
 * Random task, lease and economy commands from several peers, applied to one mesh application and to a
 * second one that is replaced by a snapshot restore part-way: both return the same results and end with
 * the same snapshot (determinism, snapshot fidelity); every invariant (tasks, economy, escrows) holds at
 * every entry; a task completes at most once, and never by an attempt that had already ended.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { MeshApplication, encodeCoordCommand, encodeEconCommand, encodeTaskCommand } from '../../protocols/mesh/application.js'
import type { TaskEvent } from '../../protocols/tasks/types.js'
import { assertProperty } from '../helpers/seed.js'
import { twinReplicas } from '../helpers/twins.js'

const SUBMITTERS = ['S', 'T']
const HOSTS = ['H1', 'H2']
const AGENTS = ['w1', 'w2', 'w3']
const GENESIS = { authorities: ['T'], signatures: 'required' as const, unbondingDelayEntries: 0 }
/** Accounts: `pay` owned by S, agents owned by their usual host (w3 by nobody: no account). */
const SETUP: Array<{ origin: string, cmd: Record<string, unknown> }> = [
  { origin: 'T', cmd: { type: 'mint', by: 'treasury', account: 'pay', owner: 'S', amount: 1000 } },
  { origin: 'T', cmd: { type: 'mint', by: 'treasury', account: 'w1', owner: 'H1', amount: 100 } },
  { origin: 'T', cmd: { type: 'mint', by: 'treasury', account: 'w2', owner: 'H2', amount: 100 } },
  { origin: 'H1', cmd: { type: 'stake', by: 'w1', account: 'w1', amount: 50 } },
  { origin: 'H2', cmd: { type: 'stake', by: 'w2', account: 'w2', amount: 50 } }
]

const w = <T>(weight: number, arbitrary: fc.Arbitrary<T>): { weight: number, arbitrary: fc.Arbitrary<T> } => ({ weight, arbitrary })
const submitCmd = fc.record({
  t: fc.constant('task.submit'),
  target: fc.constantFrom({ capability: 'c' }, { capability: 'c' }, { agent: 'w1' }, { query: { capability: 'c' } }),
  payload: fc.constant('{"x":1}'),
  retries: fc.constantFrom(0, 1, 2),
  timeoutMs: fc.constantFrom(300, 1000, 5000),
  graceMs: fc.constantFrom(0, 200),
  ackMs: fc.constantFrom(100, 500, 3000),
  key: fc.constantFrom(undefined, 'k1', 'k2'),
  reward: fc.constantFrom(undefined, undefined, 5)
}, { requiredKeys: ['t', 'target', 'payload'] })
const ref = fc.nat(40)
const op = fc.oneof(
  w(4, submitCmd),
  w(6, fc.record({ t: fc.constant('task.assign'), task: ref, attempt: fc.nat(9), agent: fc.constantFrom(...AGENTS), host: fc.nat(9) })),
  w(8, fc.record({ t: fc.constant('task.ack'), task: ref, attempt: fc.nat(9), lease: ref })),
  w(1, fc.record({ t: fc.constant('task.progress'), task: ref, attempt: fc.nat(9), progress: fc.constantFrom(0, 0.5, 1) })),
  w(4, fc.record({ t: fc.constant('task.complete'), task: ref, attempt: fc.nat(9), result: fc.constant('"r"') })),
  w(3, fc.record({ t: fc.constant('task.fail'), task: ref, attempt: fc.nat(9), error: fc.constant('e'), retry: fc.constantFrom(undefined, false) }, { requiredKeys: ['t', 'task', 'attempt', 'error'] })),
  w(1, fc.record({ t: fc.constant('task.cancel'), task: ref }))
)
const command = fc.oneof(
  w(20, op),
  w(2, fc.record({ t: fc.constant('task.batch'), ops: fc.array(op, { minLength: 1, maxLength: 3 }) })),
  w(4, fc.record({ t: fc.constant('lease.grant'), ttlMs: fc.constantFrom(800, 3000, 10_000) })),
  w(2, fc.record({ t: fc.constant('lease.keepalive') })),
  w(2, fc.record({ t: fc.constant('lease.revoke'), lease: ref })),
  w(2, fc.record({ t: fc.constant('tick') }))
)
const step = fc.record({ origin: fc.nat(9), dt: fc.constantFrom(0, 0, 0, 20, 100, 400, 1500), cmd: command })

/**
 * Makes a generated command refer to what exists: task number k picks the k-th remembered task; an
 * attempt number is mostly the current one (sometimes the one before or after); the origin is mostly the
 * one entitled (the submitter, the attempt's host, the lease's owner).
 */
function resolve (app: MeshApplication, raw: Record<string, unknown>, pick: number): { cmd: Record<string, unknown>, origin: string } {
  const m = app.tasks
  const list = (name: string): number[] => JSON.parse(m.read(name) ?? '[]') as number[]
  const all = list('tasks:all')
  const submitted = list('tasks:submitted')
  const assigned = list('tasks:assigned')
  let origin = SUBMITTERS[pick % 2]!
  const one = (c: Record<string, unknown>): Record<string, unknown> => {
    const out = { ...c }
    if (c.t === 'lease.grant' || c.t === 'lease.keepalive' || c.t === 'lease.revoke') origin = HOSTS[pick % 2]!
    if (c.t === 'task.submit') {
      if (out.key === undefined) delete out.key
      if (out.reward === undefined) delete out.reward
      else out.account = 'pay'
      return out
    }
    if (typeof c.task === 'number' && all.length > 0) {
      // Mostly a task the command fits: a submitted one to assign, an assigned one to act on.
      const k = c.task
      const fits = c.t === 'task.cancel' || k % 6 === 0 ? all : c.t === 'task.assign' ? submitted : assigned
      const ids = fits.length > 0 ? fits : all
      const t = m.get(ids[k % ids.length]!)!
      out.task = t.id
      const live = t.history[t.history.length - 1]
      if (typeof c.attempt === 'number') {
        const k = c.attempt
        out.attempt = Math.max(1, (c.t === 'task.assign' ? t.attempts + 1 : t.attempts) + (k === 8 ? -1 : k === 9 ? 1 : 0))
      }
      if (c.t === 'task.assign') {
        out.host = HOSTS[(c.host as number) % 2]!
        if (pick % 4 === 3) origin = 'D'
        else origin = t.origin
      } else if (c.t === 'task.cancel') {
        origin = pick % 5 === 0 ? 'H1' : t.origin
      } else if (live !== undefined) {
        origin = pick % 7 === 0 ? 'X' : live.host
      }
    }
    if (c.t === 'task.ack' || c.t === 'lease.revoke') {
      const leases = app.coordination.leasesOf(c.t === 'task.ack' ? origin : HOSTS[pick % 2]!)
      if (leases.length > 0) out.lease = leases[(c.lease as number) % leases.length]!
    }
    return out
  }
  if (raw.t === 'task.batch') return { cmd: { t: 'task.batch', ops: (raw.ops as Array<Record<string, unknown>>).map(one) }, origin }
  return { cmd: one(raw), origin }
}

function encode (cmd: Record<string, unknown>): Uint8Array {
  return typeof cmd.t === 'string' && cmd.t.startsWith('task.') ? encodeTaskCommand(cmd) : encodeCoordCommand(cmd)
}

/** Semantic checks over one replica's event stream. */
function checker () {
  const completed = new Set<number>()
  /** Attempts that ended, per task. */
  const ended = new Map<number, Set<number>>()
  const problems: string[] = []
  const end = (task: number, attempt: number): void => { const s = ended.get(task) ?? new Set(); s.add(attempt); ended.set(task, s) }
  const on = (e: TaskEvent): void => {
    if (e.type === 'task:completed') {
      if (completed.has(e.task)) problems.push(`task ${e.task} completed twice (index ${e.index})`)
      if (ended.get(e.task)?.has(e.attempt) === true) problems.push(`task ${e.task}: ended attempt ${e.attempt} completed it`)
      completed.add(e.task)
      end(e.task, e.attempt)
    } else if (e.type === 'task:reassigned' || e.type === 'task:failed') {
      if (completed.has(e.task)) problems.push(`task ${e.task}: ${e.type} after completion`)
      end(e.task, e.attempt)
    }
  }
  return { on, problems }
}

describe('task machine under random commands', () => {
  it('is deterministic, survives a snapshot restore anywhere, keeps its invariants, completes at most once', () => {
    const seen = new Map<string, number>()
    assertProperty(fc.property(fc.array(step, { minLength: 20, maxLength: 120 }), fc.nat(), (steps, cut) => {
      const twins = twinReplicas(() => new MeshApplication(undefined, { genesis: GENESIS }))
      const a = twins.a
      const check = checker()
      a.onTasks(m => m.on('task:event', check.on))
      a.onTasks(m => m.on('task:event', e => {
        const k = e.type === 'task:reassigned' || e.type === 'task:failed' ? `${e.type}:${e.reason}` : e.type
        seen.set(k, (seen.get(k) ?? 0) + 1)
      }))
      let index = 0
      for (const s of SETUP) {
        index++
        expect(twins.apply(encodeEconCommand(s.cmd), index, { origin: s.origin, at: 1000 })).toMatchObject({ ok: true })
      }
      const at = cut % (steps.length + 1)
      let now = 1000
      steps.forEach((s, i) => {
        if (i === at) twins.restore()
        now += s.dt
        const { cmd, origin } = resolve(a, s.cmd as Record<string, unknown>, s.origin)
        twins.apply(encode(cmd), ++index, { origin, at: now })
        expect(a.invariants()).toEqual([])
      })
      twins.same()
      expect(twins.b.invariants()).toEqual([])
      expect(check.problems).toEqual([])
    }), { numRuns: 500 })
    // The runs reached what the checks are about (a generator that never completed would prove nothing).
    for (const type of ['task:submitted', 'task:assigned', 'task:acked', 'task:completed', 'task:cancelled', 'task:progress',
      'task:reassigned:failed', 'task:reassigned:host-lost', 'task:reassigned:ack-timeout', 'task:reassigned:timeout', 'task:failed:failed', 'task:failed:ack-timeout']) {
      expect(seen.get(type) ?? 0, `${type} events over the runs`).toBeGreaterThan(5)
    }
  })
})
