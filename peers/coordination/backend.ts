/** The two places coordination commands go: a member's own Raft service, or a member's client stream. */
import type { RaftClient } from '../raft/client.js'
import type { RaftService } from '../raft/service.js'
import type { CoordBackend } from './service.js'
import { revisionOf } from '../../protocols/mesh/application.js'

/** On a Raft member: commands through the local driver, reads and watches on the local replica. */
export function memberBackend (raft: RaftService): CoordBackend {
  return {
    propose: async (command) => await raft.propose(command),
    read: async (name) => { await raft.readBarrier(); return raft.app?.read(name) },
    // A member's replica is as current as it gets once it moved past the caller's revision; anything else
    // (a timeout, a replica behind what the caller saw elsewhere, an object gone) reads linearizably.
    watch: async (name, rev, ms) => {
      await raft.watchCoordination(name, rev, ms)
      const app = raft.app
      // Tasks (`task:<id>`, peers/tasks) and budgets (`budget:<name>`, peers/budget) are watched the same way.
      const now = app === undefined ? undefined : revisionOf(app, name)
      if (now !== undefined && now > rev) return app?.read(name)
      await raft.readBarrier()
      return raft.app?.read(name)
    },
    local: {
      machine: () => raft.app?.coordination,
      on: (fn) => raft.on('coord:event', fn),
      isLeader: () => raft.isStarted && raft.status().role === 'leader',
      term: () => raft.status().term,
      barrier: async () => await raft.readBarrier()
    }
  }
}

/** Outside the group: every operation is served by a connected member. */
export function clientBackend (client: RaftClient): CoordBackend {
  const text = (r: unknown): string | undefined => typeof r === 'string' ? r : undefined
  return {
    propose: async (command) => await client.propose(command),
    read: async (name) => text(await client.read(name)),
    watch: async (name, rev, ms) => text(await client.watch(name, rev, ms))
  }
}
