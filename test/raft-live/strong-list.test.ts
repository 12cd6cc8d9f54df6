/** Listing the replicated map of strong variables: name order, prefix, cursor, limit, after restores. */
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { STRONG_LIST_LIMIT_MAX, StrongMapApp } from '../../protocols/variables/strong-map.js'

const set = (app: StrongMapApp, name: string, value: unknown, index: number): void => {
  expect(app.apply(new TextEncoder().encode(JSON.stringify({ op: 'set', name, value: JSON.stringify(value) })), index)).toMatchObject({ ok: true })
}

describe('StrongMapApp.list', () => {
  it('pages by prefix and cursor in name order, sees names added between pages and survives a restore', () => {
    const app = new StrongMapApp()
    let i = 1
    for (const n of ['b.2', 'a.1', 'b.1', 'b.3', 'c.1']) set(app, n, n, i++)
    expect(app.list({ prefix: 'b.', limit: 2 })).toEqual({ entries: [{ name: 'b.1', value: 'b.1' }, { name: 'b.2', value: 'b.2' }], next: 'b.2' })
    set(app, 'b.25', 'late', i++)
    set(app, 'b.1', 'changed', i++)
    expect(app.list({ prefix: 'b.', after: 'b.2', limit: 2 })).toEqual({ entries: [{ name: 'b.25', value: 'late' }, { name: 'b.3', value: 'b.3' }], next: undefined })
    // A cursor before the prefix starts at the prefix; one past every match gives an empty page.
    expect(app.list({ prefix: 'b.', after: 'a.9', limit: 1 }).entries[0]!.value).toBe('changed')
    expect(app.list({ prefix: 'b.', after: 'b.9', limit: 5 })).toEqual({ entries: [], next: undefined })
    const copy = new StrongMapApp()
    copy.restore(app.snapshot())
    expect(copy.list({ limit: 10 }).entries.map(e => e.name)).toEqual(['a.1', 'b.1', 'b.2', 'b.25', 'b.3', 'c.1'])
    for (const limit of [0, STRONG_LIST_LIMIT_MAX + 1, 1.5]) expect(() => app.list({ limit })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }))
  })

  it('walking every page returns exactly the names with the prefix, sorted (property)', () => {
    fc.assert(fc.property(fc.uniqueArray(fc.stringMatching(/^[ab][a-c.]{0,4}$/), { maxLength: 40 }), fc.constantFrom('', 'a', 'ab', 'b.'), fc.integer({ min: 1, max: 7 }), (names, prefix, limit) => {
      const app = new StrongMapApp()
      names.forEach((n, k) => set(app, n, k, k + 1))
      const seen: string[] = []
      let after: string | undefined
      for (let pages = 0; pages <= names.length + 1; pages++) {
        const p = app.list({ prefix, limit, ...(after !== undefined ? { after } : {}) })
        seen.push(...p.entries.map(e => e.name))
        if (p.next === undefined) break
        after = p.next
      }
      expect(seen).toEqual(names.filter(n => n.startsWith(prefix)).sort())
    }))
  })
})
