import { describe, expect, it } from 'vitest'
import { isReservedName, isWellFormed, jsonInputProblem, nullObject, plainJsonProblem } from '../src/base/input.js'

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

describe('plainJsonProblem (values read out of replicated documents)', () => {
  it('accepts plain JSON and null-prototype objects, shared sub-objects included', () => {
    const shared = { x: [1, 'a', null, true] }
    expect(plainJsonProblem({ a: shared, b: shared, c: Object.create(null) as object })).toBeUndefined()
    expect(plainJsonProblem(JSON.parse('{"a":[{"b":1.5}],"c":"\\ud83d\\ude00"}'))).toBeUndefined()
  })
  it('refuses what JSON has no form for, polluted prototypes and own __proto__ keys', () => {
    const polluted: Record<string, unknown> = {}
    polluted['__proto__'] = { admin: true } // what lib0's decoder does
    expect(plainJsonProblem({ role: polluted })).toEqual({ path: 'role', reason: 'prototype' })
    expect(plainJsonProblem({ role: JSON.parse('{"__proto__":{}}') })).toEqual({ path: 'role.__proto__', reason: 'proto-key' })
    expect(plainJsonProblem({ n: 10n })).toEqual({ path: 'n', reason: 'not-json' })
    expect(plainJsonProblem([undefined])?.reason).toBe('not-json')
    expect(plainJsonProblem({ f: () => 1 })?.reason).toBe('not-json')
    expect(plainJsonProblem({ b: new Uint8Array(2) })?.reason).toBe('not-json')
    expect(plainJsonProblem(Number.NaN)?.reason).toBe('not-json')
    expect(plainJsonProblem(new Array(2))?.reason).toBe('not-json')
    expect(plainJsonProblem(new Date())?.reason).toBe('prototype')
    const cyclic: Record<string, unknown> = {}
    cyclic.self = [cyclic]
    expect(plainJsonProblem(cyclic)?.reason).toBe('not-json')
    expect(plainJsonProblem({ s: 'x\ud800' })?.reason).toBe('ill-formed-string')
  })
})
