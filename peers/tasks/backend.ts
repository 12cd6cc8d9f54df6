/**
 * The two places task commands go: a member's own Raft service, or a member's client stream. Proposals,
 * reads and watches take the coordination service's paths (peers/coordination/backend.ts); members add
 * their replica's task machine and events.
 */
import type { RaftClient } from '../raft/client.js'
import type { RaftService } from '../raft/service.js'
import type { TaskMachine } from '../../protocols/tasks/machine.js'
import type { TaskEvent } from '../../protocols/tasks/types.js'
import { clientBackend, memberBackend } from '../coordination/backend.js'

export interface TasksBackend {
  propose: (command: Uint8Array) => Promise<{ index: number, result: unknown }>
  /** JSON text of a read name (`task:<id>`, `tasks:<state>`...), linearizable. */
  read: (name: string) => Promise<string | undefined>
  /** Waits (bounded) for `task:<id>` to change past revision `rev`; its latest state. */
  watch: (name: string, rev: number, ms: number) => Promise<string | undefined>
  /** On a Raft member: the replica's machine and events. */
  local?: {
    machine: () => TaskMachine | undefined
    on: (fn: (e: TaskEvent) => void) => () => void
    isLeader: () => boolean
  }
}

/** On a Raft member: commands through the local driver, reads and watches on the local replica. */
export function memberTasksBackend (raft: RaftService): TasksBackend {
  const { propose, read, watch } = memberBackend(raft)
  return {
    propose,
    read,
    watch,
    local: {
      machine: () => raft.app?.tasks,
      on: (fn) => raft.on('task:event', fn),
      isLeader: () => raft.isStarted && raft.status().role === 'leader'
    }
  }
}

/** Outside the group: every operation is served by a connected member. */
export function clientTasksBackend (client: RaftClient): TasksBackend {
  const { propose, read, watch } = clientBackend(client)
  return { propose, read, watch }
}
