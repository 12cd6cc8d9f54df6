/** The replicated map of strong variables: malformed commands change nothing. */
import { describe, expect, it } from 'vitest'
import { StrongMapApp } from '../../peers/raft/strong-variables.js'

const cmd = (c: unknown): Uint8Array => new TextEncoder().encode(typeof c === 'string' ? c : JSON.stringify(c))

describe('strong variables state machine', () => {
  it('refuses non-JSON values, oversize values, unknown ops and junk, leaving the state unchanged', () => {
    const app = new StrongMapApp()
    expect(app.apply(cmd({ op: 'set', name: 'x', value: '1' }), 1)).toEqual({ ok: true, value: '1' })
    const before = new TextDecoder().decode(app.snapshot())
    const bad = [
      { op: 'set', name: 'x', value: '{' },
      { op: 'cas', name: 'x', expected: '1', initial: 'null', value: '{"a":' },
      { op: 'cas', name: 'x', expected: '[', initial: 'null', value: '2' },
      { op: 'set', name: 'x', value: JSON.stringify('é'.repeat(40_000)) },
      { op: 'drop', name: 'x', value: '1' },
      { op: 'set', name: 'bad name', value: '1' },
      'not json'
    ]
    for (const b of bad) expect(app.apply(cmd(b), 2)).toHaveProperty('error')
    expect(new TextDecoder().decode(app.snapshot())).toBe(before)
    expect(app.get('x')).toBe('1')
  })

  it('compare-and-set treats an unset variable as its initial value', () => {
    const app = new StrongMapApp()
    expect(app.apply(cmd({ op: 'cas', name: 'n', expected: '0', initial: '0', value: '1' }), 1)).toEqual({ ok: true, value: '1' })
    expect(app.apply(cmd({ op: 'cas', name: 'n', expected: '0', initial: '0', value: '2' }), 2)).toEqual({ ok: false, value: '1' })
    const copy = new StrongMapApp()
    copy.restore(app.snapshot())
    expect(copy.get('n')).toBe('1')
  })
})
