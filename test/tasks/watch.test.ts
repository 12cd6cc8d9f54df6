/**
 * A Raft client's `watch` long-polls a task as it does a coordination object: members accept watches of
 * `task:<id>`, whose revision is the task machine's.
 */
import { describe, expect, it } from 'vitest'
import { decodeClientRequest } from '../../peers/raft/client.js'
import { submit, taskHarness } from './harness.js'

const req = (o: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(o))

describe('watching a task', () => {
  it('members take watches of coordination objects and tasks, nothing else', () => {
    expect(decodeClientRequest(req({ t: 'watch', n: 'task:12', v: 3, ms: 1000 }))).toEqual({ t: 'watch', n: 'task:12', v: 3, ms: 1000 })
    expect(decodeClientRequest(req({ t: 'watch', n: 'coord:lock:x', v: 0, ms: 0 }))).toMatchObject({ n: 'coord:lock:x' })
    for (const n of ['tasks:all', 'econ:supply', 'x']) expect(() => decodeClientRequest(req({ t: 'watch', n, v: 0, ms: 0 }))).toThrow(expect.objectContaining({ code: 'ERR_DECODE' }))
  })

  it('the revision a watch compares changes with every change of the task and only then', () => {
    const h = taskHarness()
    h.task('S', submit(), 0)
    const revs = [h.app.tasks.revision('task:1')]
    h.task('S', submit(), 0)
    h.tick(10)
    expect(h.app.tasks.revision('task:1')).toBe(revs[0])
    h.task('S', { t: 'task.assign', task: 1, attempt: 1, agent: 'w', host: 'H' }, 10)
    revs.push(h.app.tasks.revision('task:1'))
    h.task('H', { t: 'task.complete', task: 1, attempt: 1, result: '1' }, 10)
    revs.push(h.app.tasks.revision('task:1'))
    expect(revs[1]).toBeGreaterThan(revs[0]!)
    expect(revs[2]).toBeGreaterThan(revs[1]!)
  })
})
