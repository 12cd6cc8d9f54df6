/**
 * Raft safety checkers (Raft paper §5.2–5.4, Figure 3), run by the simulator at every step and on every
 * persist/apply event. They see the cluster only through neutral views and driver events, so they do not
 * depend on the core's internals:
 *
 * - election-safety: at most one leader per term, ever.
 * - leader-append-only: a leader never truncates its own log while leader in a term.
 * - log-matching: two entries with the same index and term carry the same data and the same previous
 *   term (which, by induction, gives identical prefixes); checked on every persisted entry.
 * - leader-completeness: a leader's log holds every entry committed (applied anywhere) before it.
 * - state-machine-safety: no two nodes apply different entries at the same index.
 * - monotonic: a node's persisted term and commit never decrease, and its vote never changes within a
 *   term, across crashes and restarts.
 */

/** A neutral view of one node for the checkers and reports. */
export interface NodeView {
  id: number
  crashed: boolean
  role: string
  term: number
  vote: number
  leader: number
  commit: number
  applied: number
  firstIndex: number
  lastIndex: number
  /** Term of the entry at `index`, or undefined when outside [firstIndex - 1, lastIndex] (compacted or absent). */
  termAt: (index: number) => number | undefined
}

export interface Violation { invariant: string, step: number, detail: string }

/** Bound on violations recorded per run (the first ones are the interesting ones). */
export const VIOLATIONS_MAX = 100

interface EntryRecord { prevTerm: number, data: string }

/** A compact map key for (index, term). */
function entryKey (index: number, term: number): number | string {
  return term < 0x100000 && index < 0x100000000 ? index * 0x100000 + term : `${index}:${term}`
}

export class InvariantChecker {
  readonly violations: Violation[] = []
  private readonly seenViolations = new Set<string>()
  /** term -> the leader elected in it */
  private readonly leaders = new Map<number, number>()
  /** entryKey(index, term) -> what was first persisted there */
  private readonly entries = new Map<number | string, EntryRecord>()
  /** index -> [term, data] first applied there */
  private readonly applied = new Map<number, [number, string]>()
  /** highest index applied anywhere */
  private appliedMax = 0
  /** per node: last persisted term, vote, commit */
  private readonly hard = new Map<number, { term: number, vote: number, commit: number }>()
  /** per node: the leader's term at the last check, to check leader completeness once per leadership */
  private readonly leaderChecked = new Map<number, number>()
  step = 0

  report (invariant: string, detail: string): void {
    const key = `${invariant}|${detail}`
    if (this.seenViolations.has(key) || this.violations.length >= VIOLATIONS_MAX) return
    this.seenViolations.add(key)
    this.violations.push({ invariant, step: this.step, detail })
  }

  /**
   * Entries a node is about to persist, with the term of the entry before the first one and its current
   * last index and role.
   */
  onPersistEntries (node: number, isLeader: boolean, lastIndexBefore: number, entries: ReadonlyArray<{ index: number, term: number, text: string }>, prevTermOfFirst: number | undefined): void {
    if (entries.length === 0) return
    const first = entries[0] as { index: number }
    if (isLeader && first.index <= lastIndexBefore) {
      this.report('leader-append-only', `leader ${node} overwrote its log from index ${first.index} (last index ${lastIndexBefore})`)
    }
    let prevTerm = prevTermOfFirst
    for (const e of entries) {
      if (prevTerm !== undefined) {
        const key = entryKey(e.index, e.term)
        const rec = this.entries.get(key)
        if (rec === undefined) this.entries.set(key, { prevTerm, data: e.text })
        else if (rec.prevTerm !== prevTerm || rec.data !== e.text) {
          this.report('log-matching', `node ${node} entry ${e.index} term ${e.term}: data ${JSON.stringify(e.text)} prev term ${prevTerm}, elsewhere data ${JSON.stringify(rec.data)} prev term ${rec.prevTerm}`)
        }
      }
      prevTerm = e.term
    }
  }

  /** A node persisted its hard state. */
  onPersistHardState (node: number, hs: { term: number, vote: number, commit: number }): void {
    const prev = this.hard.get(node)
    if (prev !== undefined) {
      if (hs.term < prev.term) this.report('monotonic', `node ${node} term went from ${prev.term} to ${hs.term}`)
      if (hs.commit < prev.commit) this.report('monotonic', `node ${node} commit went from ${prev.commit} to ${hs.commit}`)
      if (hs.term === prev.term && prev.vote !== 0 && hs.vote !== prev.vote) this.report('monotonic', `node ${node} changed its vote in term ${hs.term} from ${prev.vote} to ${hs.vote}`)
    }
    // After a regression keep the highest state seen, so later regressions are still measured against it.
    if (prev !== undefined && hs.term < prev.term) this.hard.set(node, { ...prev, commit: Math.max(hs.commit, prev.commit) })
    else this.hard.set(node, { term: hs.term, vote: hs.vote, commit: Math.max(hs.commit, prev?.commit ?? 0) })
  }

  /** A node applied an entry to its state machine. */
  onApply (node: number, index: number, term: number, data: string): void {
    const rec = this.applied.get(index)
    if (rec === undefined) {
      this.applied.set(index, [term, data])
      if (index > this.appliedMax) this.appliedMax = index
    } else if (rec[0] !== term || rec[1] !== data) {
      this.report('state-machine-safety', `node ${node} applied [${index}, ${term}, ${JSON.stringify(data)}], another node applied [${index}, ${rec[0]}, ${JSON.stringify(rec[1])}]`)
    }
  }

  /** Check the whole cluster after a step. */
  checkViews (views: readonly NodeView[]): void {
    for (const v of views) {
      if (v.crashed) continue
      if (v.role === 'leader') {
        const prev = this.leaders.get(v.term)
        if (prev === undefined) this.leaders.set(v.term, v.id)
        else if (prev !== v.id) this.report('election-safety', `two leaders in term ${v.term}: ${Math.min(prev, v.id)}, ${Math.max(prev, v.id)}`)
        if (this.leaderChecked.get(v.id) !== v.term) {
          this.leaderChecked.set(v.id, v.term)
          this.checkLeaderCompleteness(v)
        }
      }
      const hs = this.hard.get(v.id)
      if (hs !== undefined && v.term < hs.term) this.report('monotonic', `node ${v.id} runs at term ${v.term} below its persisted term ${hs.term}`)
      if (v.applied > v.commit) this.report('monotonic', `node ${v.id} applied ${v.applied} beyond commit ${v.commit}`)
    }
  }

  private checkLeaderCompleteness (v: NodeView): void {
    // Every entry applied anywhere must be in the new leader's log (unless compacted into its snapshot).
    for (let i = Math.max(1, v.firstIndex); i <= this.appliedMax; i++) {
      const rec = this.applied.get(i)
      if (rec === undefined) continue
      const t = v.termAt(i)
      if (t === undefined) {
        if (i > v.lastIndex) { this.report('leader-completeness', `leader ${v.id} (term ${v.term}) lacks committed entry ${i} (its last index is ${v.lastIndex})`); return }
        continue
      }
      if (t !== rec[0]) { this.report('leader-completeness', `leader ${v.id} (term ${v.term}) has term ${t} at committed index ${i} (committed term ${rec[0]})`); return }
    }
  }
}
