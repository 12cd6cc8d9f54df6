/**
 * A linearizable key-value register model for the checker: `read`, `write`, `cas` per key, partitioned
 * by key. Absent keys read as `null`.
 */
import type { Model, Operation } from './model.js'

export type KvValue = string | number | null

export type KvInput =
  | { op: 'read', key: string }
  | { op: 'write', key: string, value: KvValue }
  | { op: 'cas', key: string, expected: KvValue, value: KvValue }

/** `read` answers `value`; `write` answers nothing; `cas` answers `ok` (whether it swapped). */
export interface KvOutput { value?: KvValue, ok?: boolean }

export type KvOperation = Operation<KvInput, KvOutput>

function hashValue (v: KvValue): number {
  const s = v === null ? '\u0000null' : typeof v === 'number' ? `n${v}` : `s${v}`
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193)
  return h >>> 0
}

/** The single-register model used within one key's partition. */
export const kvModel: Model<KvValue, KvInput, KvOutput> = {
  init: () => null,
  step (state, input, output) {
    switch (input.op) {
      case 'read':
        if (output === undefined) return [true, state]
        return [(output.value ?? null) === state, state]
      case 'write':
        return [true, input.value]
      case 'cas': {
        const swap = state === input.expected
        if (output === undefined) return [true, swap ? input.value : state]
        if (output.ok === true) return [swap, swap ? input.value : state]
        return [!swap, state]
      }
    }
  },
  hash: hashValue,
  partition (history) {
    const byKey = new Map<string, KvOperation[]>()
    for (const op of history) {
      let list = byKey.get(op.input.key)
      if (list === undefined) { list = []; byKey.set(op.input.key, list) }
      list.push(op)
    }
    return [...byKey.keys()].sort().map(k => byKey.get(k) as KvOperation[])
  },
  describe (input, output) {
    const out = output === undefined ? '?' : input.op === 'cas' ? String(output.ok) : input.op === 'read' ? JSON.stringify(output.value ?? null) : 'ok'
    switch (input.op) {
      case 'read': return `read(${input.key}) -> ${out}`
      case 'write': return `write(${input.key}, ${JSON.stringify(input.value)}) -> ${out}`
      case 'cas': return `cas(${input.key}, ${JSON.stringify(input.expected)}, ${JSON.stringify(input.value)}) -> ${out}`
    }
  }
}
