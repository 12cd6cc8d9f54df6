/**
 * The task and message checkers (sim/task-checkers.ts, sim/messages.ts) can fail. First on hand-made
 * event streams; then with bugs planted in the shipped task machine and in the simulator's model of the
 * agents' transport (test/helpers/task-bugs.ts, vitest spies), which the default fuzz (`agora sim
 * fuzz`, task traffic on) must catch within {@link SEEDS_TO_CATCH_MAX} seeds, and the scenario files
 * too.
 */
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { TaskMachine } from '../../protocols/tasks/machine.js'
import type { TaskEvent } from '../../protocols/tasks/types.js'
import { TaskAgreement, TaskChecker } from '../../sim/task-checkers.js'
import { fuzzSeed } from '../../sim/fuzz.js'
import { runScenario } from '../../sim/runner.js'
import { parseScenario } from '../../sim/scenario.js'
import * as bugs from '../helpers/task-bugs.js'

/**
 * The default fuzz must catch each planted bug within this many seeds. Measured (seeds 1–20, 2,000
 * ticks, 5 nodes): sim/README.md ("Tasks and messages") has the first catching seed and the share of
 * seeds catching each.
 */
export const SEEDS_TO_CATCH_MAX = 5

const scenarios = join(dirname(fileURLToPath(import.meta.url)), '..', 'scenarios')

function sink (): { found: Array<[string, string]>, report: (i: string, d: string) => void } {
  const found: Array<[string, string]> = []
  return { found, report: (i, d) => { found.push([i, d]) } }
}

/** A checker of node `node` fed `events` in order. */
function check (events: TaskEvent[], agreement = new TaskAgreement(), node = 1, s = sink(), m = new TaskMachine()): Array<[string, string]> {
  const c = new TaskChecker(node, s, agreement)
  c.attach(m)
  for (const e of events) c.onEvent(e)
  return s.found
}

const submitted = (index: number, task = index): TaskEvent => ({ type: 'task:submitted', index, task, origin: 'n1', target: { capability: 'x' }, allocation: 'least-loaded' })
const assigned = (index: number, attempt: number, task = 2): TaskEvent => ({ type: 'task:assigned', index, task, attempt, agent: `w${attempt}`, host: `n${attempt}`, deadline: 1000 })
const reassigned = (index: number, attempt: number, task = 2): TaskEvent => ({ type: 'task:reassigned', index, task, attempt, agent: `w${attempt}`, host: `n${attempt}`, reason: 'timeout' })
const completed = (index: number, attempt: number, task = 2): TaskEvent => ({ type: 'task:completed', index, task, attempt, agent: `w${attempt}`, host: `n${attempt}` })

describe('task checkers on hand-made event streams', () => {
  it('a correct history passes: a timeout, a reassignment, one completion by the current attempt', () => {
    expect(check([submitted(2), assigned(3, 1), reassigned(5, 1), assigned(6, 2), completed(8, 2)])).toEqual([])
  })

  it('task-completed-once: a second completion on one replica, and replicas completing differently', () => {
    expect(check([submitted(2), assigned(3, 1), completed(4, 1), completed(6, 1)])).toEqual([['task-completed-once', expect.stringMatching(/^node 1 entry 6: task 2 completed again by attempt 1 .*attempt 1 completed it at entry 4/)]])
    const agreement = new TaskAgreement()
    expect(check([submitted(2), assigned(3, 1), completed(4, 1)], agreement, 1)).toEqual([])
    expect(check([submitted(2), assigned(3, 1), completed(5, 1)], agreement, 2)).toEqual([['task-completed-once', expect.stringMatching(/^task 2: node 1 completed it at entry 4 by attempt 1 .* node 2 at entry 5 by attempt 1/)]])
  })

  it('task-stale-attempt: a completion by an attempt that ended or is not the current one; attempts out of order', () => {
    expect(check([submitted(2), assigned(3, 1), reassigned(5, 1), completed(6, 1)])[0]).toEqual(['task-stale-attempt', expect.stringContaining('task 2 completed by attempt 1 (w1@n1) while its current attempt is 1 and attempt 1 had ended')])
    expect(check([submitted(2), assigned(3, 1), reassigned(5, 1), assigned(6, 2), completed(7, 1)])[0]?.[1]).toMatch(/completed by attempt 1 \(w1@n1\) while its current attempt is 2/)
    expect(check([submitted(2), assigned(3, 2), assigned(4, 1)])[0]?.[1]).toMatch(/task 2 assigned attempt 1 after attempt 2/)
  })

  it('task-durability: replicas recording a submit at different entries', () => {
    const agreement = new TaskAgreement()
    expect(check([submitted(2)], agreement, 1)).toEqual([])
    expect(check([submitted(3, 2)], agreement, 2)).toEqual([['task-durability', 'task 2: node 1 recorded its submit at entry 2, node 2 at entry 3']])
  })

  it('a checker attached to a restored machine takes a task up from its view (a completion after the restore is checked)', () => {
    const m = new TaskMachine({ leaseOwner: () => 'n1' })
    m.advance(0, 2); m.apply({ t: 'task.submit', target: { capability: 'x' }, payload: '1' }, 2, 'n9')
    m.advance(0, 3); m.apply({ t: 'task.assign', task: 2, attempt: 1, agent: 'w1', host: 'n1' }, 3, 'n9')
    m.advance(0, 4); m.apply({ t: 'task.complete', task: 2, attempt: 1, result: '1' }, 4, 'n1')
    const restored = TaskMachine.restore(m.snapshotJson())
    expect(check([completed(9, 1)], new TaskAgreement(), 1, sink(), restored)).toEqual([['task-completed-once', expect.stringContaining('task 2 completed again by attempt 1 (w1@n1); attempt 1 completed it at entry 4')]])
  })
})

describe('bugs planted in the task machine and the transport are caught by the default fuzz', () => {
  afterEach(() => { vi.restoreAllMocks() })

  const cases: Array<[string, () => void, string]> = [
    ['a completed task completed again', bugs.completeAgain, 'task-completed-once'],
    ['a stale attempt completing a reassigned task', bugs.acceptStaleComplete, 'task-stale-attempt'],
    ['a failed task dropped', bugs.dropFailedTasks, 'task-durability'],
    ['waiting tasks left out of a snapshot restore', bugs.restoreDropsWaiting, 'task-durability'],
    ['a duplicated message delivered twice', bugs.deliverDuplicates, 'message-at-most-once'],
    ['a message forwarded after a partition', bugs.forwardAfterPartition, 'message-partition']
  ]

  for (const [what, plant, invariant] of cases) {
    it(`${what}: a ${invariant} violation within ${SEEDS_TO_CATCH_MAX} seeds`, () => {
      plant()
      let caught: { seed: number, detail: string } | undefined
      for (let seed = 1; seed <= SEEDS_TO_CATCH_MAX && caught === undefined; seed++) {
        const r = fuzzSeed(seed, { nodes: 5 })
        const v = r.violations.find(x => x.invariant === invariant)
        if (v !== undefined) {
          expect(r.ok, `seed ${seed}`).toBe(false)
          expect(r.failures.some(f => f.startsWith(`${invariant} at epoch`))).toBe(true)
          caught = { seed, detail: v.detail }
        }
      }
      expect(caught, `no seed of 1..${SEEDS_TO_CATCH_MAX} caught it (replay: npx vitest run test/sim/task-checkers.test.ts -t "${what}")`).toBeDefined()
    })
  }

  it('the same seeds pass with the machine intact, with task traffic of every kind', () => {
    for (let seed = 1; seed <= 3; seed++) {
      const r = fuzzSeed(seed, { nodes: 5 })
      expect(r.failures, `seed ${seed}; replay: npx agora sim fuzz --nodes 5 --seeds 1 --ticks 2000 --seed-start ${seed}`).toEqual([])
      expect(r.tasks?.submitted).toBeGreaterThan(10)
      for (const k of ['task:submitted', 'task:assigned', 'task:completed', 'task:reassigned']) expect(r.tasks?.events[k] ?? 0, `seed ${seed} ${k}`).toBeGreaterThan(0)
      expect(r.tasks?.messages.acked ?? 0).toBeGreaterThan(10)
    }
  })
})

describe('bugs planted in the task machine and the transport are caught by the scenario files', () => {
  afterEach(() => { vi.restoreAllMocks() })

  const run = (file: string): ReturnType<typeof runScenario> => runScenario(parseScenario(readFileSync(join(scenarios, file), 'utf8')))
  const cases: Array<[string, () => void, string, string]> = [
    ['task-timeout-late-complete.yaml', bugs.completeAgain, 'task-completed-once', 'completed again by attempt 1 (w1@n1)'],
    ['task-partition.yaml', bugs.acceptStaleComplete, 'task-stale-attempt', 'completed by attempt 1 (w1@n1) while its current attempt is 2'],
    ['task-fail-retries.yaml', bugs.dropFailedTasks, 'task-durability', 'has no task'],
    ['task-messages.yaml', bugs.deliverDuplicates, 'message-at-most-once', 'delivered 2 times'],
    ['task-partition.yaml', bugs.forwardAfterPartition, 'message-partition', 'message m1 (w2@n2 -> w1@n1) delivered']
  ]
  for (const [file, plant, invariant, detail] of cases) {
    it(`${file} reports ${invariant}`, () => {
      expect(run(file).ok, `${file} passes unbroken`).toBe(true)
      plant()
      const r = run(file)
      expect(r.ok).toBe(false)
      expect(r.violations.filter(v => v.invariant === invariant).map(v => v.detail)).toContainEqual(expect.stringContaining(detail))
    })
  }
})
