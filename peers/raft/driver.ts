/**
 * The shipped Raft driver (protocols/raft/driver.ts) bound to a live peer: real time (a ticker every
 * `tickMs`, `Date.now()` stamps), the Ready loop deferred with `setImmediate` so one event-loop turn's
 * proposals become one batch (an inbound message runs it at once), the libp2p transport (only group
 * members may speak Raft to it) and durable storage. It adds the waits a live caller wants: a proposal
 * retried under its session until it applies or its time is up, reads retried while there is no
 * leader, and membership changes awaited.
 */
import { randomBytes } from 'node:crypto'
import { NotStartedError, TimeoutError } from '../../src/base/errors.js'
import type { Logger } from '../../src/base/log.js'
import { createRand } from '../../src/base/prng.js'
import type { StateMachine } from '../../protocols/raft/application.js'
import { APPLY_WAIT_MS, RaftDriver, type CommandSigner, type DriverStorage, type RaftDriverOptions } from '../../protocols/raft/driver.js'
import type { CommandVerifier } from '../../protocols/raft/application.js'
import { FORGOTTEN_REASON, IndefiniteError } from '../../protocols/raft/errors.js'
import type { ConfChange, NodeId } from '../../protocols/raft/types.js'
import type { RaftTransport } from './transport.js'

export { IndefiniteError } from '../../protocols/raft/errors.js'
export { coalesceAppends } from '../../protocols/raft/coalesce.js'
export { APPLY_WAIT_MS, SNAPSHOT_BYTES_MAX, type RaftDriverEventMap } from '../../protocols/raft/driver.js'
export { SESSION_WINDOW } from '../../protocols/raft/sessions.js'

export interface LiveRaftDriverOptions extends RaftDriverOptions {
  /** Milliseconds per tick. Default 50. */
  tickMs?: number
}

export interface LiveRaftDriverInit {
  id: NodeId
  transport: RaftTransport
  application: StateMachine
  /** Durable storage (data dir); without it, in memory. */
  storage?: DriverStorage
  /** Bootstrap voters (used only for a brand-new group). */
  voters?: NodeId[]
  learners?: NodeId[]
  /** Seed of the election-timeout PRNG (default: the node id). */
  seed?: number
  log: Logger
  /** This peer's id: local proposals carry it as their origin. */
  origin?: string
  /** Signs commands that need a signature, for the sessions whose origin is this peer. */
  sign?: CommandSigner
  /** Verifies origins' signatures. */
  verify?: CommandVerifier
  options?: LiveRaftDriverOptions
}

/** A live follower's `proposalResendMs`: its proposal goes to the leader again after 1 s, 2 s more... */
export const LIVE_PROPOSAL_RESEND_MS = 1000

const liveClock = { now: () => Date.now(), monotonic: () => performance.now() }
const deferred = (fn: () => void): void => { setImmediate(fn) }
const atOnce = (fn: () => void): void => { fn() }

export class LiveRaftDriver extends RaftDriver {
  private readonly tickMs: number
  private ticker: ReturnType<typeof setInterval> | undefined

  constructor (init: LiveRaftDriverInit) {
    super({
      id: init.id,
      transport: init.transport,
      application: init.application,
      ...(init.storage !== undefined ? { storage: init.storage } : {}),
      ...(init.voters !== undefined ? { voters: init.voters } : {}),
      ...(init.learners !== undefined ? { learners: init.learners } : {}),
      clock: liveClock,
      schedule: deferred,
      // An inbound message runs the loop at once: a follower starts writing an append as its frame is
      // read, a leader commits as the acknowledgement is read (not an event-loop turn later).
      scheduleSoon: atOnce,
      rand: createRand(init.seed ?? init.id),
      clientId: `${init.origin ?? ''}/${randomBytes(8).toString('hex')}`,
      ...(init.sign !== undefined ? { sign: init.sign } : {}),
      ...(init.verify !== undefined ? { verify: init.verify } : {}),
      log: init.log,
      // A live leader writes its entries in parallel with sending them (thesis §10.2.1).
      // ...and a follower sends its proposal to the leader again when it has not applied within a second.
      options: { asyncLeaderWrites: true, proposalResendMs: LIVE_PROPOSAL_RESEND_MS, applyWaitMs: APPLY_WAIT_MS, ...init.options }
    })
    this.tickMs = init.options?.tickMs ?? 50
    // Only the group's members may speak Raft to this node (any peer while it has no membership yet:
    // that is how a leader reaches a learner being added).
    const node = this.node
    init.transport.acceptFrom = (id) => {
      const cs = node.confState()
      if (cs.voters.length === 0 && cs.learners.length === 0) return true
      return cs.voters.includes(id) || cs.learners.includes(id)
    }
  }

  override start (): void {
    if (this.running || this.failure !== undefined) return
    super.start()
    this.ticker = setInterval(() => { this.tick() }, this.tickMs)
    this.ticker.unref?.()
  }

  override stop (): void {
    clearInterval(this.ticker)
    this.ticker = undefined
    super.stop()
  }

  /**
   * Proposes `command` under one session and retries it, with that same session, while its outcome is
   * indefinite or there is no leader, until `timeoutMs`: the command applies exactly once or the call
   * fails with IndefiniteError. Errors that are certain (bad input, limits) are thrown at once. `session`:
   * the session to use (default a new one; peers/health settles an indefinite one under its own session).
   */
  async proposeReliably (command: Uint8Array, timeoutMs = this.o.proposalTimeoutMs, session = this.newSession()): Promise<{ index: number, result: unknown }> {
    const deadline = Date.now() + timeoutMs
    let last: Error | undefined
    for (let attempt = 0; Date.now() < deadline; attempt++) {
      try {
        return await this.propose(command, session, undefined, Math.max(1, deadline - Date.now()))
      } catch (err) {
        const code = (err as { code?: string }).code
        // A forgotten result cannot come back: another attempt would only add an entry to the log.
        const forgotten = (err as { details?: { reason?: unknown } }).details?.reason === FORGOTTEN_REASON
        const retriable = (code === 'ERR_INDEFINITE' && !forgotten) || (code === 'ERR_PROPOSAL_DROPPED' && ['noLeader', 'transferring'].includes((err as { reason?: string }).reason ?? ''))
        if (!retriable || !this.running) throw err
        last = err as Error
        // Wait for a leader (or a short backoff) before the retry.
        await this.once('raft:role', (e) => e.leader !== 0, Math.max(1, Math.min(deadline - Date.now(), 50 * (attempt + 1)))).catch(() => {})
      }
    }
    throw new IndefiniteError('proposal', `no outcome within ${timeoutMs} ms (${last?.message ?? 'no leader'})`)
  }

  /** {@link readIndex}, retried while there is no leader or a read is lost, until `timeoutMs`. */
  async readIndexReliably (timeoutMs = this.o.proposalTimeoutMs): Promise<number> {
    const deadline = Date.now() + timeoutMs
    let last: Error | undefined
    for (let attempt = 0; Date.now() < deadline; attempt++) {
      try {
        return await this.readIndex(Math.max(1, Math.min(deadline - Date.now(), 1000)))
      } catch (err) {
        const code = (err as { code?: string }).code
        if ((code !== 'ERR_TIMEOUT' && code !== 'ERR_PROPOSAL_DROPPED') || !this.running) throw err
        last = err as Error
        await this.once('raft:role', (e) => e.leader !== 0, Math.max(1, Math.min(deadline - Date.now(), 50 * (attempt + 1)))).catch(() => {})
      }
    }
    throw new TimeoutError(`linearizable read (${last?.message ?? 'no leader'})`, timeoutMs)
  }

  /** Proposes one membership change and resolves once it is applied here. */
  async changeMembership (cc: ConfChange, timeoutMs = this.o.proposalTimeoutMs): Promise<void> {
    if (!this.running) throw new NotStartedError('raft')
    this.proposeConfChange(cc)
    const deadline = Date.now() + timeoutMs
    const done = (): boolean => {
      const cs = this.node.confState()
      switch (cc.type) {
        case 'addVoter': case 'promoteLearner': return cs.voters.includes(cc.nodeId)
        case 'addLearner': return cs.learners.includes(cc.nodeId)
        case 'removeVoter': return !cs.voters.includes(cc.nodeId) && !cs.learners.includes(cc.nodeId)
      }
    }
    while (!done()) {
      if (Date.now() > deadline) throw new IndefiniteError('membership change', `not applied within ${timeoutMs} ms`)
      await this.once('raft:applied', () => true, Math.max(1, deadline - Date.now())).catch(() => {})
    }
  }
}
