/**
 * A mesh application fed entries at increasing indexes with explicit proposal stamps, for the task
 * machine's tests: task, coordination and economy commands, the task events seen.
 */
import { MeshApplication, encodeCoordCommand, encodeEconCommand, encodeTaskCommand, type GenesisCommand } from '../../protocols/mesh/application.js'
import type { TaskEvent } from '../../protocols/tasks/types.js'

export function taskHarness (options: { genesis?: Omit<GenesisCommand, 'type'> } = {}) {
  const app = new MeshApplication(undefined, options)
  let index = 0
  const events: TaskEvent[] = []
  app.onTasks(m => m.on('task:event', e => { events.push(e) }))
  const apply = (bytes: Uint8Array, origin: string, at: number): any => app.apply(bytes, ++index, { origin, at })
  return {
    app,
    events,
    get index () { return index },
    /** A task command from `origin` stamped `at`. */
    task: (origin: string, cmd: Record<string, unknown>, at: number): any => apply(encodeTaskCommand(cmd), origin, at),
    coord: (origin: string, cmd: Record<string, unknown>, at: number): any => apply(encodeCoordCommand(cmd), origin, at),
    econ: (origin: string, cmd: Record<string, unknown>, at: number): any => apply(encodeEconCommand(cmd), origin, at),
    /** An empty coordination tick: moves log time. */
    tick: (at: number): any => apply(encodeCoordCommand({ t: 'tick' }), 'L', at),
    view: (id: number) => app.tasks.get(id)!,
    types: () => events.map(e => e.type)
  }
}

/** A submit of a JSON payload to any agent with capability `cap`. */
export const submit = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ t: 'task.submit', target: { capability: 'cap' }, payload: '{"n":1}', ...extra })
