/**
 * The two places budget commands go: a member's own Raft service, or a member's client stream. Proposals,
 * reads and watches take the coordination service's paths (peers/coordination/backend.ts: a member watches
 * its own replica, a peer outside the group long-polls a member).
 */
import type { RaftClient } from '../raft/client.js'
import type { RaftService } from '../raft/service.js'
import { clientBackend, memberBackend } from '../coordination/backend.js'

export interface BudgetBackend {
  propose: (command: Uint8Array) => Promise<{ index: number, result: unknown }>
  /** JSON text of `budget:<name>` or `budgets:all`, linearizable. */
  read: (name: string) => Promise<string | undefined>
  /** Waits (at most `ms`) for `budget:<name>` to change past revision `rev`; its latest state. */
  watch: (name: string, rev: number, ms: number) => Promise<string | undefined>
}

/** On a Raft member: commands through the local driver, reads and watches on the local replica. */
export function memberBudgetBackend (raft: RaftService): BudgetBackend {
  const { propose, read, watch } = memberBackend(raft)
  return { propose, read, watch }
}

/** Outside the group: every operation is served by a connected member. */
export function clientBudgetBackend (client: RaftClient): BudgetBackend {
  const { propose, read, watch } = clientBackend(client)
  return { propose, read, watch }
}
