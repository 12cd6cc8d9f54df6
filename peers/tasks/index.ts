/**
 * Durable tasks on a live peer (`peer.tasks`): the task machine of protocols/tasks, applied from the Raft
 * log, with dispatch (submitter and Raft leader) and work (the agents' `onTask` handlers, peers/agents).
 *
 * | file | concept |
 * |---|---|
 * | `service.ts` | {@link PeerTasks}: submit/get/list/cancel/wait, events, dispatch, work, batching |
 * | `backend.ts` | where commands go: the member's driver or a member's client stream |
 */
export * from './service.js'
export * from './backend.js'
