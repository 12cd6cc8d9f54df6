/**
 * RaftNode: the pure Raft state machine. (Stub: replaced by the implementation.)
 */
import { NotImplementedError } from '../../src/errors.js'
import type { ConfChange, ConfState, Message, RaftConfig, RaftStats, Ready, Status } from './types.js'

export class RaftNode {
  constructor (config: RaftConfig) { void config; throw new NotImplementedError('RaftNode') }
  /** Advance logical time by one tick (elections, heartbeats, transfer timeout, check quorum). */
  tick (): void { throw new NotImplementedError('tick') }
  /** Process one incoming message. Never throws for bad messages: they are dropped and counted. */
  step (m: Message): void { void m; throw new NotImplementedError('step') }
  /** Propose application data. Throws ProposalDroppedError when it certainly will not be appended. */
  propose (data: Uint8Array): void { void data; throw new NotImplementedError('propose') }
  /** Propose one membership change (one at a time). */
  proposeConfChange (cc: ConfChange): void { void cc; throw new NotImplementedError('proposeConfChange') }
  addVoter (id: number): void { this.proposeConfChange({ type: 'addVoter', nodeId: id }) }
  removeVoter (id: number): void { this.proposeConfChange({ type: 'removeVoter', nodeId: id }) }
  addLearner (id: number): void { this.proposeConfChange({ type: 'addLearner', nodeId: id }) }
  promoteLearner (id: number): void { this.proposeConfChange({ type: 'promoteLearner', nodeId: id }) }
  /** Start an election now (as if the election timeout elapsed). */
  campaign (): void { throw new NotImplementedError('campaign') }
  /** Request a linearizable read point; a ReadState with `ctx` appears in a later Ready. */
  readIndex (ctx: Uint8Array): void { void ctx; throw new NotImplementedError('readIndex') }
  /** Transfer leadership to `to`. */
  transferLeader (to: number): void { void to; throw new NotImplementedError('transferLeader') }
  hasReady (): boolean { throw new NotImplementedError('hasReady') }
  ready (): Ready { throw new NotImplementedError('ready') }
  advance (rd: Ready): void { void rd; throw new NotImplementedError('advance') }
  status (): Status { throw new NotImplementedError('status') }
  stats (): RaftStats { throw new NotImplementedError('stats') }
  confState (): ConfState { throw new NotImplementedError('confState') }
}
