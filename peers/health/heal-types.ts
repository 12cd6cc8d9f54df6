/**
 * Partition and heal reports (FEATURES I5): the types of a report and its limits. A report is what one
 * peer saw of one partition episode, from its side: see peers/health/heals.ts for how episodes are found
 * and peers/README.md ("Partition and heal reports") for the meaning of every field.
 */
import type { HlcTime } from '../../crdt/hlc.js'

/** Which side of the partition a host was on, seen from the reporting peer. */
export type HealSide = 'this' | 'other'

/** A bounded list of hosts: at most {@link HEAL_LIMITS.hostsListedMax} ids, `count` all of them. */
export interface HostList {
  hosts: string[]
  count: number
  /** More hosts than listed. */
  truncated: boolean
}

/** An other-side host: when this peer lost it, and when it heard it again (absent: it never came back). */
export interface LostHost {
  host: string
  /** When this peer last heard the host before its lease expired (ms, this peer's clock). */
  lastHeardAt: number
  /** When its lease expired here. */
  lostAt: number
  /** When it was heard again; absent when it was pruned (or forgotten) before the heal. */
  returnedAt?: number
}

/** An agent registered, changed or removed during the episode by a host of one side. */
export interface AgentChange {
  id: string
  host: string
  side: HealSide
  change: 'registered' | 'changed' | 'removed'
  /** The host's write time of the descriptor (registered, changed), or when this peer saw it go (removed). */
  at: number
}

/** One host's contribution to an eventual variable written during the episode (its last write then). */
export interface VariableWrite {
  host: string
  side: HealSide
  /** The written value (bounded: see {@link boundedValue}). */
  value: unknown
  /** The write's hybrid logical clock time (wall ms, counter). */
  time: HlcTime
}

/** An eventual variable written during the episode, and what it merged to after the heal. */
export interface VariableOutcome {
  name: string
  /** The variable's merge rule (`lww`, `max`, `min`, `counter`, `weighted-average`, `custom:<name>`); null if unknown. */
  merge: string | null
  /** `conflict`: written on both sides; `one-sided`: on one side only. */
  kind: 'conflict' | 'one-sided'
  /** The writes made during the episode, one per host (its last), sorted by host id; at most {@link HEAL_LIMITS.writesPerVariableMax}. */
  writes: VariableWrite[]
  /** More writes than listed. */
  writesTruncated: boolean
  /** The merged value on this replica when the report was made (bounded); null when the rule is a custom function this peer has not declared. */
  value: unknown
  /**
   * The contribution the value is (`lww`: the greatest time; `max` / `min`: the greatest / least value,
   * the smallest host id on a tie), with its side and whether it is one of the episode's writes; null for
   * rules that combine every contribution (`counter`, `weighted-average`, custom) or with no contribution.
   */
  winner: { host: string, side: HealSide | null, duringEpisode: boolean } | null
}

/** What a proposal that ended indefinite was. */
export interface StrongCommandSummary {
  /** The state machine it was for: strong variables, the economy, coordination, tasks. */
  kind: 'strong' | 'economy' | 'coordination' | 'task' | 'other'
  /** The operation: a strong variable's `set` / `cas`, an economy command's `type`, a coordination or task command's `t`. */
  op?: string
  /** The strong variable's name, or the economy command's subject (account, auction) when it names one. */
  name?: string
  /** A strong write's value (bounded). */
  value?: unknown
}

/**
 * A command this peer proposed that ended indefinite (its outcome unknown to the caller) during the
 * episode, and its fate as settled after the heal: `committed` (it applied once: `result`), `not-committed`
 * (it never applied and now never will: its session slot was taken by a no-op), `unknown` (this peer could
 * not settle it: `reason`).
 */
export interface StrongWriteFate {
  command: StrongCommandSummary
  /** When it was proposed and when it ended indefinite (ms). */
  proposedAt: number
  endedAt: number
  /** The error's code (`ERR_INDEFINITE`) and reason. */
  error: { code: string, reason: string }
  fate: 'committed' | 'not-committed' | 'unknown'
  /** The command's result when it committed (bounded). */
  result?: unknown
  /** Why the fate is unknown. */
  reason?: string
}

/** An auction open at some point of the episode. */
export interface AuctionAcross {
  id: string
  status: string
  seller: string
  /** Log times (ms) of its opening and of its close. */
  openedAt: number
  closesAt: number
  bids: number
  /** Its outcome once closed (bounded), else null. */
  outcome: unknown
}

/** A task live at some point of the episode. */
export interface TaskAcross {
  id: number
  state: string
  agent: string | null
  attempts: number
  /** Log times (ms) of its submission and end (absent while it runs). */
  submittedAt: number
  finishedAt?: number
}

/** A bounded list with the count of entries left out. */
export interface Bounded<T> {
  entries: T[]
  /** Entries left out (over the list's limit). */
  truncated: number
}

export interface HealReport {
  /** This report's number on this peer (1, 2, ...). */
  seq: number
  /** The reporting peer. */
  peer: string
  /**
   * The partition's span on this peer's clock: from the last time it heard the first host it lost, to the
   * time it heard the last returning host again (ms).
   */
  span: { start: number, end: number, ms: number }
  /** When this peer noticed the partition (the first lease expiry), and when it made the report. */
  detectedAt: number
  reportedAt: number
  /** This side: the hosts this peer could reach during the episode (itself included); the other side: those it lost. */
  sides: { this: HostList, other: HostList }
  /** Every other-side host (at most `hostsListedMax`): when lost, when back (absent: pruned before the heal). */
  lost: LostHost[]
  /** The report was made although a returned host's data was not seen caught up within `catchUpMsMax`. */
  caughtUp: boolean
  agents: Bounded<AgentChange>
  variables: Bounded<VariableOutcome> & { conflicts: number, oneSided: number, scanTruncated: boolean }
  strongWrites: Bounded<StrongWriteFate>
  auctions: Bounded<AuctionAcross> & { available: boolean }
  tasks: Bounded<TaskAcross> & { available: boolean }
}

/** The limits of the reports (named, documented in peers/README.md). */
export const HEAL_LIMITS = Object.freeze({
  /** Reports a peer keeps (the oldest go first). */
  reportsMax: 32,
  /** Host ids listed per side (and other-side hosts in `lost`). */
  hostsListedMax: 64,
  /** Agents whose changes one episode tracks (beyond: counted in `agents.truncated`). */
  agentsTrackedMax: 1000,
  /** Agent changes listed per report. */
  agentChangesMax: 200,
  /** Variables listed per report (conflicts first). */
  variablesMax: 100,
  /** Writes listed per variable. */
  writesPerVariableMax: 16,
  /** Contributions examined when a report is made (beyond: `variables.scanTruncated`). */
  contributionsScannedMax: 100_000,
  /** Indefinite proposals one episode records (and settles). */
  strongWritesMax: 32,
  /** Auctions and tasks listed per report. */
  auctionsMax: 32,
  tasksMax: 32,
  /** Auctions examined (the newest) and task ids examined per state when a report is made. */
  auctionsExaminedMax: 256,
  tasksExaminedMax: 5000,
  /** A value (variable, strong write, result, outcome) longer than this as JSON shows as `{ omitted: 'value', bytes }`. */
  valueCharsMax: 512,
  /** Recent changes kept while no episode is open (replayed into an episode that opens: leases expire after the cut). */
  recentMax: 512
})

/** A value as a report shows it: itself when its JSON is short, else `{ omitted: 'value', bytes }`. */
export function boundedValue (value: unknown, charsMax: number = HEAL_LIMITS.valueCharsMax): unknown {
  let json: string | undefined
  try { json = JSON.stringify(value) } catch { return { omitted: 'value', bytes: -1 } }
  if (json === undefined) return null
  if (json.length <= charsMax) return value
  return { omitted: 'value', bytes: Buffer.byteLength(json) }
}
