import { describe, expect, it } from 'vitest'
import { isReservedName, isWellFormed, jsonInputProblem, nullObject } from '../src/base/input.js'

describe('src/base input checks', () => {
  it('finds the first lone surrogate or __proto__ key, with its path; terminates on cycles and deep nesting', () => {
    expect(jsonInputProblem({ a: ['x', { b: 'ok\ud83d\ude00' }] })).toBeUndefined()
    expect(jsonInputProblem({ a: ['x', { b: 'no\ud800' }] })).toEqual({ path: 'a.1.b', reason: 'ill-formed-string' })
    expect(jsonInputProblem({ ['k\udc00']: 1 }, 'meta')).toEqual({ path: 'meta.k\udc00', reason: 'ill-formed-string' })
    expect(jsonInputProblem(JSON.parse('{"a":{"__proto__":{"x":1}}}'))).toEqual({ path: 'a.__proto__', reason: 'proto-key' })
    expect(jsonInputProblem('\udfff')).toEqual({ path: '', reason: 'ill-formed-string' })
    const cyclic: Record<string, unknown> = { s: 'fine' }
    cyclic.self = cyclic
    expect(jsonInputProblem(cyclic)).toBeUndefined()
    cyclic.bad = '\ud800'
    expect(jsonInputProblem(cyclic)).toEqual({ path: 'bad', reason: 'ill-formed-string' })
    let deep: unknown = '\ud800'
    for (let i = 0; i < 100_000; i++) deep = [deep]
    expect(jsonInputProblem(deep)?.reason).toBe('ill-formed-string')
  })

  it('reserved names, well-formedness, prototype-free maps', () => {
    expect(['__proto__', 'constructor', 'prototype'].every(isReservedName)).toBe(true)
    expect(isReservedName('toString')).toBe(false)
    expect(isWellFormed('a\ud83d\ude00')).toBe(true)
    expect(isWellFormed('a\ud83d')).toBe(false)
    const m = nullObject<number>()
    m.__proto__ = 3
    expect(Object.keys(m)).toEqual(['__proto__'])
    expect(JSON.stringify(m)).toBe('{"__proto__":3}')
    expect(m.toString).toBeUndefined()
  })
})
