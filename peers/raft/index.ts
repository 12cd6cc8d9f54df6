/**
 * The Raft service of a peer: membership of the mesh's Raft group and everything that rides on it.
 *
 * ```ts
 * const peer = await createPeer({ dataDir: './data', raft: { voters: [idA, idB, idC] } })
 * const raft = peer.raft!                             // a RaftService
 * raft.on('raft:role', ({ role, leader }) => console.log(role, leader))
 * const { index, result } = await raft.propose(cmd)  // exactly once (retried under one session)
 * await raft.readBarrier()                           // linearizable read point for the local replica
 * await raft.transferLeadership(idB)
 * await raft.replaceVoter(deadId, newId)
 * ```
 *
 * | file | concept |
 * |---|---|
 * | `service.ts` | {@link RaftService}: lifecycle, status, propose/read, membership, genesis, events |
 * | `driver.ts` | the shipped driver (protocols/raft/driver.ts) bound to real time |
 * | `storage.ts` | durable Raft storage in the peer's LevelDB (fsync) |
 * | `transport.ts` | Raft messages over libp2p streams, peer id ↔ node id |
 * | `client.ts` | the client path: peers outside the group propose and read through a member |
 * | `strong-variables.ts` | `peer.variables.strong(name)` handles over the service or the client path |
 * | `errors.ts` | NoRaftError, IndefiniteError, ProposalDroppedError |
 *
 * Wire protocols: peers/PROTOCOL.md.
 */
export { RaftService, type RaftServiceComponents, type RaftServiceEvents, type RaftServiceInit, type PeerRaftStatus, type PeerRaftStats } from './service.js'
export { LiveRaftDriver, type LiveRaftDriverInit, type LiveRaftDriverOptions } from './driver.js'
export { DurableRaftStorage } from './storage.js'
export { RaftTransport, raftIdOf } from './transport.js'
export { RaftClient, RaftClientServer } from './client.js'
export { StrongVariable, StrongVariables, remoteBackend, serviceBackend, type StrongBackend } from './strong-variables.js'
export { IndefiniteError, NoRaftError, ProposalDroppedError } from './errors.js'
