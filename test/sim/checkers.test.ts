import { describe, expect, it, vi } from 'vitest'
import { InvariantChecker } from '../../sim/checkers.js'
import type { NodeView } from '../../sim/checkers.js'
import { fuzz } from '../../sim/fuzz.js'
import { SimDisk, type DiskInit } from '../../sim/disk.js'
import { StrongMapApp } from '../../protocols/variables/strong-map.js'

function view (id: number, role: string, term: number, log: number[] = [], extra: Partial<NodeView> = {}): NodeView {
  return { id, crashed: false, role, term, vote: 0, leader: 0, commit: 0, applied: 0, firstIndex: 1, lastIndex: log.length, termAt: i => i === 0 ? 0 : log[i - 1], ...extra }
}

describe('Raft invariant checkers', () => {
  it('election safety: two leaders in one term', () => {
    const c = new InvariantChecker()
    c.checkViews([view(1, 'leader', 3), view(2, 'follower', 3)])
    expect(c.violations).toEqual([])
    c.step = 4
    c.checkViews([view(1, 'follower', 3), view(4, 'leader', 3)])
    expect(c.violations).toEqual([{ invariant: 'election-safety', step: 4, detail: 'two leaders in term 3: 1, 4' }])
  })

  it('leader append-only: a leader truncating its log', () => {
    const c = new InvariantChecker()
    c.onPersistEntries(1, true, 5, [{ index: 4, term: 2, text: 'x' }], 1)
    expect(c.violations.map(v => v.invariant)).toEqual(['leader-append-only'])
    const d = new InvariantChecker()
    d.onPersistEntries(1, false, 5, [{ index: 4, term: 2, text: 'x' }], 1)
    expect(d.violations).toEqual([])
  })

  it('log matching: same index and term with different data or history', () => {
    const c = new InvariantChecker()
    c.onPersistEntries(1, true, 0, [{ index: 1, term: 1, text: '' }, { index: 2, term: 1, text: 'a' }], 0)
    c.onPersistEntries(2, false, 0, [{ index: 1, term: 1, text: '' }, { index: 2, term: 1, text: 'a' }], 0)
    expect(c.violations).toEqual([])
    c.onPersistEntries(3, false, 1, [{ index: 2, term: 1, text: 'b' }], 1)
    expect(c.violations.map(v => v.invariant)).toEqual(['log-matching'])
  })

  it('state-machine safety: different entries applied at one index', () => {
    const c = new InvariantChecker()
    c.onApply(1, 1, 1, 'a')
    c.onApply(2, 1, 1, 'a')
    expect(c.violations).toEqual([])
    c.onApply(3, 1, 2, 'b')
    expect(c.violations.map(v => v.invariant)).toEqual(['state-machine-safety'])
  })

  it('leader completeness: a new leader missing a committed entry', () => {
    const c = new InvariantChecker()
    c.onApply(1, 1, 1, '')
    c.onApply(1, 2, 1, 'a')
    c.checkViews([view(2, 'leader', 2, [1])])
    expect(c.violations.map(v => v.invariant)).toEqual(['leader-completeness'])
    const d = new InvariantChecker()
    d.onApply(1, 1, 1, '')
    d.checkViews([view(2, 'leader', 2, [1, 2])])
    expect(d.violations).toEqual([])
  })

  it('monotonic: term, commit and vote across restarts', () => {
    const c = new InvariantChecker()
    c.onPersistHardState(1, { term: 3, vote: 2, commit: 5 })
    c.onPersistHardState(1, { term: 3, vote: 2, commit: 6 })
    expect(c.violations).toEqual([])
    c.onPersistHardState(1, { term: 2, vote: 2, commit: 6 })
    c.onPersistHardState(1, { term: 3, vote: 3, commit: 4 })
    expect(c.violations.map(v => v.detail)).toEqual([
      'node 1 term went from 3 to 2',
      'node 1 commit went from 6 to 4',
      'node 1 changed its vote in term 3 from 2 to 3'
    ])
  })
})

/** A disk that forgets the vote on every write: a node restarted in a term may vote twice. */
function forgetfulVoteDisk (node: number, init: DiskInit): SimDisk {
  const d = SimDisk.create(node, init)
  const setHardState = d.setHardState.bind(d)
  d.setHardState = hs => { setHardState({ ...hs, vote: 0 }) }
  return d
}

describe('the fuzzer catches broken systems', () => {
  it('a disk that loses votes leads to invariant violations', () => {
    const { results } = fuzz({ nodes: 3, seeds: 100, ticks: 400, disk: forgetfulVoteDisk })
    const kinds = new Set(results.flatMap(r => r.violations.map(v => v.invariant)))
    expect(results.some(r => !r.ok)).toBe(true)
    // Lost votes surface as vote changes within a term at least.
    expect(kinds.has('monotonic')).toBe(true)
  })

  it('stale reads are caught by the linearizability check', () => {
    // Break the shipped strong-variable map: every read answers "unset" (a stale initial state).
    const spy = vi.spyOn(StrongMapApp.prototype, 'get').mockImplementation(() => undefined)
    let results: ReturnType<typeof fuzz>['results']
    try {
      results = fuzz({ nodes: 3, seeds: 20, ticks: 300 }).results
    } finally {
      spy.mockRestore()
    }
    const lin = results.filter(r => r.failures.some(f => f.startsWith('linearizability')))
    expect(lin.length).toBeGreaterThan(0)
  })
})
