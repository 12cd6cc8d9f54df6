/**
 * The configuration a node applied (voters and learners), how one membership change alters it, and
 * the leader's tracker built over it: a `Progress` per member and the votes of the current election
 * (the roles of etcd/raft's confchange and tracker packages, one change at a time, no joint consensus).
 * The entry codec is in confchange.ts.
 */
import { cloneConf } from './storage.js'
import { Progress } from './progress.js'
import { committedIndex, hasQuorum, voteResult } from './quorum.js'
import type { VoteResult } from './quorum.js'
import type { ConfChange, ConfState, NodeId } from './types.js'

const byId = (a: number, b: number): number => a - b

export class Membership {
  // Invariant: voters ∩ learners = ∅; each sorted ascending, without duplicates.
  private voterIds: NodeId[] = []
  private learnerIds: NodeId[] = []
  /** Progress of every member. Invariant: its keys are exactly voters ∪ learners once rebuilt. */
  readonly prs = new Map<NodeId, Progress>()
  /** Progress of each voter, in `voters` order (rebuilt with the progress map). */
  private voterPrs: Progress[] = []
  /** Answers to this node's current (pre-)campaign: node → granted. */
  private readonly votes = new Map<NodeId, boolean>()

  constructor (private readonly self: NodeId, private readonly inflightMax: number) {}

  get voters (): readonly NodeId[] { return this.voterIds }
  get learners (): readonly NodeId[] { return this.learnerIds }

  /** Take the configuration `cs` (from storage or a snapshot): duplicates dropped, a voter listed as learner stays a voter. Progress is not rebuilt. */
  setConf (cs: ConfState): void {
    const voters = [...new Set(cs.voters)].sort(byId)
    this.voterIds = voters
    this.learnerIds = [...new Set(cs.learners)].filter(l => !voters.includes(l)).sort(byId)
  }

  confState (): ConfState {
    return cloneConf({ voters: this.voterIds, learners: this.learnerIds })
  }

  isVoter (id: NodeId): boolean { return this.voterIds.includes(id) }
  isLearner (id: NodeId): boolean { return this.learnerIds.includes(id) }

  /** No configuration at all (a node joining an existing group). */
  isEmpty (): boolean {
    return this.voterIds.length === 0 && this.learnerIds.length === 0
  }

  /** This node is the only voter. */
  isSingleton (): boolean {
    return this.voterIds.length === 1 && this.voterIds[0] === this.self
  }

  /** This node may campaign: it is a voter with a progress entry. */
  promotable (): boolean {
    return this.prs.has(this.self) && !this.learnerIds.includes(this.self) && this.voterIds.includes(this.self)
  }

  /** Whether a leader may propose `cc` against this configuration. */
  fits (cc: ConfChange): boolean {
    const isVoter = this.isVoter(cc.nodeId)
    const isLearner = this.isLearner(cc.nodeId)
    switch (cc.type) {
      case 'addVoter': return !isVoter
      case 'addLearner': return !isVoter && !isLearner
      case 'promoteLearner': return isLearner
      case 'removeVoter': return (isVoter && this.voterIds.length > 1) || isLearner
    }
  }

  /**
   * Apply one committed change and add progress for new members (their next index after `lastIndex`).
   * Returns false, changing nothing, for a change that cannot apply: demoting a voter to learner,
   * promoting a non-learner, removing the last voter.
   */
  apply (cc: ConfChange, lastIndex: number): boolean {
    const id = cc.nodeId
    const voters = this.voterIds.filter(v => v !== id)
    const learners = this.learnerIds.filter(l => l !== id)
    switch (cc.type) {
      case 'addVoter': voters.push(id); break
      case 'addLearner':
        if (this.isVoter(id)) return false
        learners.push(id)
        break
      case 'promoteLearner':
        if (!this.isLearner(id)) return false
        voters.push(id)
        break
      case 'removeVoter':
        if (voters.length === 0) return false
        break
    }
    this.voterIds = voters.sort(byId)
    this.learnerIds = learners.sort(byId)
    this.rebuildProgress(false, lastIndex)
    return true
  }

  /**
   * Recreate the progress map from the configuration: every entry when `all` (a new term or role),
   * else only for new members (removed ones are dropped). A new entry probes from `lastIndex + 1`;
   * this node's own entry matches `lastIndex`.
   */
  rebuildProgress (all: boolean, lastIndex: number): void {
    if (all) this.prs.clear()
    const members = new Set<NodeId>()
    for (const v of this.voterIds) members.add(v)
    for (const l of this.learnerIds) members.add(l)
    for (const id of [...this.prs.keys()]) if (!members.has(id)) this.prs.delete(id)
    for (const id of members) {
      const learner = this.learnerIds.includes(id)
      const existing = this.prs.get(id)
      if (existing !== undefined) {
        existing.learner = learner
        continue
      }
      const pr = new Progress(lastIndex + 1, this.inflightMax, learner)
      if (id === this.self) pr.match = lastIndex
      this.prs.set(id, pr)
    }
    this.voterPrs = this.voterIds.map(v => this.prs.get(v)!)
  }

  /** The largest index a majority of voters holds (0 without voters). */
  committedIndex (): number {
    return committedIndex(this.voterPrs)
  }

  /**
   * CheckQuorum: whether a majority of voters (this node included) was heard from since the last
   * call; then forgets who was heard from, starting the next round.
   */
  quorumActive (): boolean {
    const active = hasQuorum(this.voterIds, v => {
      const pr = this.prs.get(v)
      return pr !== undefined && (v === this.self || pr.recentActive)
    })
    for (const [id, pr] of this.prs) if (id !== this.self) pr.recentActive = false
    return active
  }

  resetVotes (): void {
    this.votes.clear()
  }

  /** Record `id`'s answer (only its first one counts) and tally the election. */
  recordVote (id: NodeId, granted: boolean): VoteResult {
    if (!this.votes.has(id)) this.votes.set(id, granted)
    return voteResult(this.voterIds, this.votes)
  }
}
