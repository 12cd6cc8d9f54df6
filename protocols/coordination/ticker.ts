/**
 * What a Raft leader proposes to move the coordination machine's log time: pure, so the live peer service
 * and the simulator run the same rule.
 *
 * The machine acts on a deadline (a lease's expiry, a waiter's, a barrier's, a vote's) only when an
 * applied entry's proposal stamp passes it, so somebody must propose an entry once a deadline is due:
 * the leader, with a `{ t: 'tick' }` stamped by its clock. A new leader first proposes `{ t: 'epoch' }`
 * (every lease gets its full TTL from then: keepalives could not commit while the group had no leader).
 *
 * The caller asks on every clock tick of its own, and remembers two things:
 * - `epochTerm`: the term in which it last had an epoch accepted for proposal (set it to `term` when a
 *   proposed epoch was not refused; 0 when it never did);
 * - `lastTickAt`: when it last had a tick accepted for proposal (undefined: never in this term; reset it
 *   when an epoch is proposed).
 *
 * @example
 * const cmd = coordTick({ isLeader, term, epochTerm, now: clock.now(), nextDeadline: app.coordination.nextDeadline(), lastTickAt })
 * if (cmd !== undefined && submit(encodeCoordCommand(cmd)) === undefined) {
 *   if (cmd.t === 'epoch') { epochTerm = term; lastTickAt = undefined } else lastTickAt = clock.now()
 * }
 */

/**
 * A tick proposed once the deadline was due but not applied yet (the deadline still pending on the
 * leader's replica) is proposed again only after this many ms: one commit round trip is much shorter,
 * so an entry lost with a leader change or a dropped message is replaced, and nothing piles up.
 */
export const COORD_TICK_RETRY_MS = 500

export interface CoordTickInput {
  /** This peer is the Raft leader now. */
  isLeader: boolean
  /** Its current Raft term. */
  term: number
  /** The term in which it last had an epoch accepted for proposal (0: never). */
  epochTerm: number
  /** Its clock (ms): the clock that stamps its proposals. */
  now: number
  /** `CoordinationMachine.nextDeadline()` of its replica. */
  nextDeadline: number | undefined
  /** When it last had a tick accepted for proposal (undefined: never, or not since its last epoch). */
  lastTickAt: number | undefined
}

/**
 * The coordination command a peer should propose now, if any: `epoch` when it leads in a term without
 * one; else `tick` when its clock reached the machine's next deadline and no tick stamped at or after
 * that deadline was proposed in the last {@link COORD_TICK_RETRY_MS}; else nothing.
 */
export function coordTick (input: CoordTickInput): { t: 'epoch' } | { t: 'tick' } | undefined {
  if (!input.isLeader) return undefined
  if (input.epochTerm !== input.term) return { t: 'epoch' }
  const due = input.nextDeadline
  if (due === undefined || input.now < due) return undefined
  const last = input.lastTickAt
  if (last !== undefined && last >= due && input.now - last < COORD_TICK_RETRY_MS) return undefined
  return { t: 'tick' }
}
