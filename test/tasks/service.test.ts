/**
 * peer.tasks' own logic (peers/tasks/service.ts) against a real MeshApplication applied in process: the
 * leader's sweep pages through every waiting task, the session lease's signal keeps no listener per
 * attempt, an attempt already ended when its assignment's entry is applied never runs, a host outside the
 * group aborts its handler when the log ends the attempt, outcomes are proposed again until the attempt's
 * deadline, and batches never exceed the command size the group accepts. (Over TCP: live.test.ts.)
 */
import { describe, expect, it } from 'vitest'
import { getEventListeners } from 'node:events'
import { COMMAND_BYTES_MAX, MeshApplication, encodeCoordCommand, encodeTaskCommand } from '../../protocols/mesh/application.js'
import { PeerTasks } from '../../peers/tasks/service.js'
import type { TasksBackend } from '../../peers/tasks/backend.js'
import type { TaskEvent } from '../../protocols/tasks/types.js'
import type { TaskContext, TaskInput } from '../../peers/agents/types.js'
import type { AgentView } from '../../crdt/types.js'
import { createLogger } from '../../src/base/log.js'
import { waitUntil } from '../helpers/wait.js'

type Handler = (t: TaskInput, ctx: TaskContext) => unknown

interface World {
  app: MeshApplication
  tasks: PeerTasks
  apply: (cmd: Uint8Array, origin: string) => Record<string, unknown>
  session: AbortController
  proposed: number[]
}

/** A peer `self` whose task commands apply to one in-process replica; `member: false` has no local replica view. */
function world (o: { self: string, handlers?: Record<string, Handler>, member?: boolean, failProposal?: (cmd: string) => boolean }): World {
  const app = new MeshApplication()
  let index = 0
  const apply = (cmd: Uint8Array, origin: string): Record<string, unknown> => app.apply(cmd, ++index, { origin, at: Date.now() }) as Record<string, unknown>
  const handlers = o.handlers ?? {}
  const session = new AbortController()
  const lease = apply(encodeCoordCommand({ t: 'lease.grant', ttlMs: 600_000 }), o.self).lease as number
  const registry = new Map<string, AgentView>([['w', { id: 'w', host: o.self, capabilities: ['c'] } as unknown as AgentView]])
  const agents = {
    setTaskHooks () {},
    hasTaskHandler: (a: string) => handlers[a] !== undefined,
    runTask: async (a: string, t: TaskInput, ctx: TaskContext) => await handlers[a]!(t, ctx),
    hintTask: async () => ({ ok: true as const, outcome: 'taken' }),
    breakerOpen: () => false
  }
  const tasks = new PeerTasks({
    self: o.self,
    log: createLogger('silent'),
    agents: agents as never,
    coordination: { sessionLeaseOf: async () => ({ id: lease, signal: session.signal }) } as never,
    economy: {} as never,
    lookup: (id) => registry.get(id),
    query: () => ({ agents: [...registry.values()] }),
    isMember: () => true
  })
  const listeners = new Set<(e: TaskEvent) => void>()
  app.tasks.on('task:event', (e) => { for (const l of listeners) l(e) })
  const proposed: number[] = []
  const backend: TasksBackend = {
    propose: async (cmd) => {
      proposed.push(cmd.length)
      await new Promise(resolve => setImmediate(resolve))
      if (o.failProposal?.(new TextDecoder().decode(cmd.subarray(1))) === true) throw Object.assign(new Error('the leader changed'), { code: 'ERR_INDEFINITE' })
      return { index: index + 1, result: apply(cmd, o.self) }
    },
    read: async (name) => app.read(name),
    // A revision watch: resolves once the task's revision moved (polled on the event loop, bounded).
    watch: async (name, rev, ms) => {
      await waitUntil(() => app.tasks.revision(name) !== rev, { what: `${name} past ${rev}`, timeoutMs: ms }).catch(() => {})
      return app.read(name)
    },
    ...(o.member === false ? {} : { local: { machine: () => app.tasks, on: (fn: (e: TaskEvent) => void) => { listeners.add(fn); return () => listeners.delete(fn) }, isLeader: () => true } })
  }
  tasks.setBackend(backend)
  tasks.start()
  return { app, tasks, apply, session, proposed }
}

const submit = (target: Record<string, unknown>): Uint8Array => encodeTaskCommand({ t: 'task.submit', target, payload: 'null' })

describe('peer.tasks (service logic)', () => {
  it('the leader\'s sweep pages through every waiting task: 1,000 tasks nobody can take do not hide a crashed submitter\'s task', async () => {
    const w = world({ self: 'L', handlers: { w: () => 'done' } })
    try {
      for (let i = 0; i < 1000; i++) w.apply(submit({ agent: 'ghost' }), 'A')
      // B submits a task for a live agent and crashes before dispatching it; log time passes its takeover.
      const id = w.apply(submit({ agent: 'w' }), 'B').task as number
      const takeover = w.app.tasks.get(id)!.assignableBy
      await waitUntil(() => Date.now() > takeover + 10, { what: 'the takeover time', timeoutMs: 5000 })
      w.apply(submit({ agent: 'ghost' }), 'A')
      await waitUntil(() => w.app.tasks.get(id)!.state === 'completed', { what: 'the task assigned by the sweep and completed', timeoutMs: 10_000 })
    } finally {
      w.tasks.stop()
    }
  }, 20_000)

  it('acked attempts leave no listener on the session lease\'s signal', async () => {
    let release!: () => void
    const gate = new Promise<void>((resolve) => { release = resolve })
    const w = world({ self: 'L', handlers: { w: async () => { await gate; return 1 } } })
    try {
      const ids: number[] = []
      for (let i = 0; i < 30; i++) ids.push((await w.tasks.submit({ agent: 'w', payload: i })).id)
      await waitUntil(() => ids.every(id => w.app.tasks.get(id)!.history[0]?.ackedAt !== undefined), { what: 'every attempt acked', timeoutMs: 10_000 })
      release()
      await waitUntil(() => ids.every(id => w.app.tasks.get(id)!.state === 'completed'), { what: 'every task completed', timeoutMs: 10_000 })
      expect(getEventListeners(w.session.signal, 'abort').length).toBe(0)
    } finally {
      w.tasks.stop()
    }
  }, 20_000)

  it('an attempt that ended before its assignment\'s entry was applied (catch-up, a replay on restart) never runs', async () => {
    const runs: number[] = []
    const w = world({ self: 'L', handlers: { w: (t) => { runs.push(t.id) } } })
    try {
      const id = w.apply(submit({ agent: 'w' }), 'B').task as number
      // Entries applied back to back, as one batch of committed entries is: the attempt is completed at once.
      w.apply(encodeTaskCommand({ t: 'task.assign', task: id, attempt: 1, agent: 'w', host: 'L' }), 'B')
      w.apply(encodeTaskCommand({ t: 'task.complete', task: id, attempt: 1, result: '1' }), 'L')
      // A later task of the same host runs: the one above would have run before it.
      const next = w.apply(submit({ agent: 'w' }), 'B').task as number
      w.apply(encodeTaskCommand({ t: 'task.assign', task: next, attempt: 1, agent: 'w', host: 'L' }), 'B')
      await waitUntil(() => runs.includes(next), { what: 'the live attempt run', timeoutMs: 5000 })
      expect(runs).toEqual([next])
    } finally {
      w.tasks.stop()
    }
  }, 20_000)

  it('outside the group, a running handler is aborted when the log ends its attempt (here: cancelled)', async () => {
    let aborted: unknown
    const w = world({
      self: 'H',
      member: false,
      handlers: { w: async (_t, ctx) => { await new Promise<void>((resolve) => { ctx.signal.addEventListener('abort', () => { aborted = ctx.signal.reason; resolve() }) }); return 'late' } }
    })
    try {
      const id = w.apply(submit({ agent: 'w' }), 'B').task as number
      w.apply(encodeTaskCommand({ t: 'task.assign', task: id, attempt: 1, agent: 'w', host: 'H' }), 'B')
      // The dispatcher's hint reaches the host (the channel's hook), which reads the task and runs it.
      expect(await (w.tasks as unknown as { onHint: (f: unknown, from: string) => Promise<string> }).onHint({ task: id, attempt: 1, agent: 'w' }, 'B')).toBe('taken')
      await waitUntil(() => w.app.tasks.get(id)!.history[0]?.ackedAt !== undefined, { what: 'the attempt acked', timeoutMs: 5000 })
      w.apply(encodeTaskCommand({ t: 'task.cancel', task: id }), 'B')
      await waitUntil(() => aborted !== undefined, { what: 'the handler aborted', timeoutMs: 10_000 })
      expect((aborted as { code?: string }).code).toBe('ERR_STALE_ATTEMPT')
      expect(w.app.tasks.get(id)!.state).toBe('cancelled')
    } finally {
      w.tasks.stop()
    }
  }, 20_000)

  it('an outcome whose proposals fail for a while (an election) is proposed again until it is recorded', async () => {
    let outage = true
    let finished = false
    const w = world({ self: 'L', handlers: { w: () => { finished = true; return 'done' } }, failProposal: (c) => outage && c.includes('task.complete') })
    try {
      const { id } = await w.tasks.submit({ agent: 'w', payload: 1, timeoutMs: 60_000 })
      await waitUntil(() => finished && w.tasks.stats.outcomeRetries >= 4, { what: 'four failed proposals of the complete', timeoutMs: 15_000 })
      outage = false
      await waitUntil(() => w.app.tasks.get(id)!.state === 'completed', { what: 'the complete recorded', timeoutMs: 15_000 })
      expect(w.app.tasks.get(id)!.attempts).toBe(1)
      expect(w.tasks.stats.outcomesLost).toBe(0)
    } finally {
      w.tasks.stop()
    }
  }, 40_000)

  it('batches stay within the command size the group accepts (large payloads split over several entries)', async () => {
    const w = world({ self: 'L' })
    try {
      const payload = { blob: 'x'.repeat(60 * 1024) }
      const rs = await Promise.all(Array.from({ length: 20 }, async () => await w.tasks.submit({ capability: 'none', payload })))
      expect(new Set(rs.map(r => r.id)).size).toBe(20)
      expect(Math.max(...w.proposed)).toBeLessThanOrEqual(COMMAND_BYTES_MAX)
      expect(w.proposed.length).toBeGreaterThan(1)
    } finally {
      w.tasks.stop()
    }
  }, 20_000)
})
