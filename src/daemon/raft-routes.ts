/**
 * Raft membership and leadership over HTTP (O8), over `peer.raft` (peers/raft/service.ts), and the
 * member listing:
 *
 *   GET    /v1/members                     every known peer: addresses, zone, reachability, last seen, Raft role, sync lag
 *   GET    /v1/raft                        this member's Raft status
 *   POST   /v1/raft/learners  { peerId }   add a learner (it replicates the log, does not vote)
 *   POST   /v1/raft/promote   { peerId }   promote a learner to voter
 *   DELETE /v1/raft/members/:peerId        remove a voter or learner
 *   POST   /v1/raft/replace   { dead, live, timeoutMs? }   add `live` as learner, wait until it caught up, promote it, remove `dead`
 *   POST   /v1/raft/transfer  { to, timeoutMs? }           hand leadership to voter `to`
 *
 * Membership changes and transfers go to the leader's daemon: another member answers 409
 * `ERR_NOT_LEADER` with the leader's peer id in `error.leader` (GET /v1/members shows who leads). A
 * daemon outside the group answers 409 `ERR_NOT_RAFT_MEMBER`. Every change answers with the Raft status
 * after it was applied on this daemon. One change at a time: a change refused by the Raft core is 409
 * `ERR_CONF_CHANGE_REFUSED` (`reason`: `confChangePending`, `invalidConfChange`...); a change not applied
 * in time is 503 `ERR_INDEFINITE` (it may still apply: read the status before retrying).
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { z } from 'zod'
import { AgoraError } from '../base/errors.js'
import type { Peer } from '../../peers/peer.js'
import type { RaftService } from '../../peers/raft/service.js'
import { listMembers } from './members.js'

/** Bound of a replace's `timeoutMs` (and transfer's). */
export const RAFT_CHANGE_TIMEOUT_MS_MAX = 120_000
/** Default time a leadership transfer may take. */
export const TRANSFER_TIMEOUT_MS_DEFAULT = 5000

/** This daemon runs no Raft (not a member of the group): 409. */
export class NotRaftMemberError extends AgoraError {
  static override readonly name = 'NotRaftMemberError'
  constructor (what: string) {
    super('ERR_NOT_RAFT_MEMBER', `${what} needs a member of the Raft group: this daemon runs no Raft (start it with --raft-voters)`)
  }
}

/** The operation needs the Raft leader, and this daemon is not it: 409, `leader` names the leader if known. */
export class NotLeaderError extends AgoraError {
  static override readonly name = 'NotLeaderError'
  constructor (what: string, leader: string | undefined) {
    super('ERR_NOT_LEADER', `${what} goes to the Raft leader's daemon; the leader is ${leader ?? 'unknown (no leader now)'}`, { leader: leader ?? null })
  }
}

/** Leadership did not move to `to` in time: 503. */
export class TransferFailedError extends AgoraError {
  static override readonly name = 'TransferFailedError'
  constructor (to: string, timeoutMs: number) {
    super('ERR_TRANSFER_FAILED', `leadership did not move to ${to} within ${timeoutMs} ms`, { to })
  }
}

/** The Raft core refused the membership change (one pending already, or it does not fit): 409. */
export class ConfChangeRefusedError extends AgoraError {
  static override readonly name = 'ConfChangeRefusedError'
  constructor (reason: string, message: string) {
    super('ERR_CONF_CHANGE_REFUSED', message, { reason })
  }
}

export const RAFT_STATUS: Record<string, number> = {
  ERR_NOT_RAFT_MEMBER: 409,
  ERR_NOT_LEADER: 409,
  ERR_NOT_VOTER: 409,
  ERR_CONF_CHANGE_REFUSED: 409,
  ERR_TRANSFER_FAILED: 503
}

const peerIdString = z.string().min(1).max(128).refine((s) => { try { peerIdFromString(s); return true } catch { return false } }, 'must be a libp2p peer id')
const schemas = {
  peer: z.object({ peerId: peerIdString }).strict(),
  replace: z.object({ dead: peerIdString, live: peerIdString, timeoutMs: z.number().int().positive().max(RAFT_CHANGE_TIMEOUT_MS_MAX).optional() }).strict(),
  transfer: z.object({ to: peerIdString, timeoutMs: z.number().int().positive().max(RAFT_CHANGE_TIMEOUT_MS_MAX).optional() }).strict()
}

function parse<T> (schema: z.ZodType<T>, body: unknown, what: string): T {
  const r = schema.safeParse(body ?? {})
  if (r.success) return r.data
  const issue = r.error.issues[0]!
  const path = issue.code === 'unrecognized_keys' ? (issue as { keys: string[] }).keys.join('.') : issue.path.join('.') || '(body)'
  throw new AgoraError('ERR_BAD_REQUEST', `${what}: ${path}: ${issue.code === 'unrecognized_keys' ? 'unknown field' : issue.message}`, { path })
}

export interface RaftRouteContext {
  method: string
  parts: string[]
  body: () => Promise<unknown>
  send: (status: number, body: unknown) => void
}

export function raftRoutes (peer: Peer): { handle: (c: RaftRouteContext) => Promise<boolean> } {
  const member = (what: string): RaftService => {
    if (peer.raft === undefined) throw new NotRaftMemberError(what)
    return peer.raft
  }
  const leader = (what: string): RaftService => {
    const r = member(what)
    const st = r.status()
    if (st.role !== 'leader') throw new NotLeaderError(what, st.leader)
    return r
  }
  /** Runs a membership change; the core's certain refusals become ConfChangeRefusedError. */
  const change = async (fn: () => Promise<void>): Promise<void> => {
    try {
      await fn()
    } catch (err) {
      const e = err as AgoraError & { reason?: string }
      if (e.code === 'ERR_PROPOSAL_DROPPED' && e.reason !== undefined && !['noLeader', 'transferring'].includes(e.reason)) throw new ConfChangeRefusedError(e.reason, e.message)
      throw err
    }
  }

  const handle = async (c: RaftRouteContext): Promise<boolean> => {
    const { method, parts, send } = c
    if (parts[1] === 'members' && parts.length === 2 && method === 'GET') { send(200, listMembers(peer)); return true }
    if (parts[1] !== 'raft') return false
    const [, , what, arg] = parts
    if (what === undefined && method === 'GET') { send(200, { raft: member('the Raft status').status() }); return true }
    if (what === 'learners' && parts.length === 3 && method === 'POST') {
      const b = parse(schemas.peer, await c.body(), 'add learner')
      const r = leader('adding a learner')
      await change(async () => { await r.addLearner(b.peerId) })
      send(200, { raft: r.status() })
      return true
    }
    if (what === 'promote' && parts.length === 3 && method === 'POST') {
      const b = parse(schemas.peer, await c.body(), 'promote')
      const r = leader('promoting a learner')
      if (!r.status().learners.includes(b.peerId)) throw new ConfChangeRefusedError('invalidConfChange', `${b.peerId} is not a learner`)
      await change(async () => { await r.promote(b.peerId) })
      send(200, { raft: r.status() })
      return true
    }
    if (what === 'members' && parts.length === 4 && arg !== undefined && method === 'DELETE') {
      parse(schemas.peer, { peerId: arg }, 'remove member')
      const r = leader('removing a member')
      const st = r.status()
      if (!st.voters.includes(arg) && !st.learners.includes(arg)) throw new ConfChangeRefusedError('invalidConfChange', `${arg} is neither a voter nor a learner`)
      await change(async () => { await r.removeMember(arg) })
      send(200, { raft: r.status() })
      return true
    }
    if (what === 'replace' && parts.length === 3 && method === 'POST') {
      const b = parse(schemas.replace, await c.body(), 'replace voter')
      const r = leader('replacing a voter')
      if (!r.status().voters.includes(b.dead)) throw new ConfChangeRefusedError('invalidConfChange', `${b.dead} is not a voter`)
      if (b.dead === b.live) throw new ConfChangeRefusedError('invalidConfChange', 'dead and live are the same peer')
      await change(async () => { await r.replaceVoter(b.dead, b.live, b.timeoutMs !== undefined ? { timeoutMs: b.timeoutMs } : {}) })
      send(200, { raft: r.status() })
      return true
    }
    if (what === 'transfer' && parts.length === 3 && method === 'POST') {
      const b = parse(schemas.transfer, await c.body(), 'transfer leadership')
      const r = member('transferring leadership')
      const st = r.status()
      if (st.leader === b.to) { send(200, { transferred: true, raft: st }); return true }
      if (st.role !== 'leader') throw new NotLeaderError('transferring leadership', st.leader)
      if (!st.voters.includes(b.to)) throw new AgoraError('ERR_NOT_VOTER', `${b.to} is not a voter`, { path: 'to' })
      const timeoutMs = b.timeoutMs ?? TRANSFER_TIMEOUT_MS_DEFAULT
      if (!await r.transferLeadership(b.to, timeoutMs)) throw new TransferFailedError(b.to, timeoutMs)
      send(200, { transferred: true, raft: r.status() })
      return true
    }
    return false
  }
  return { handle }
}
