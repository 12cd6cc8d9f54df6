import { describe, expect, it } from 'vitest'
import { KvStateMachine, encodeKvCommand, type KvApplied } from '../../protocols/raft/kv.js'
import { SessionApplier, decodeCommand, encodeCommand } from '../../protocols/raft/session.js'
import type { Entry } from '../../protocols/raft/types.js'
import { bytes, Net } from './network.js'

function entry (index: number, data: Uint8Array): Entry {
  return { term: 1, index, type: 'normal', data }
}

describe('client sessions (thesis §6.3)', () => {
  it('a retried command is applied once and answered from the cache', () => {
    let applied = 0
    const s = new SessionApplier<number, number>((p, index) => { applied += p; return { status: 'ok', value: applied, index } })
    const a = s.apply({ clientId: 'c', seq: 1, payload: 5 }, 10)
    const b = s.apply({ clientId: 'c', seq: 1, payload: 5 }, 11)
    expect(applied).toBe(5)
    expect(a.duplicate).toBe(false)
    expect(b.duplicate).toBe(true)
    expect(b.result).toEqual(a.result)
    s.apply({ clientId: 'c', seq: 2, payload: 1 }, 12)
    expect(applied).toBe(6)
  })

  it('an evicted session answers retries as indefinite, never success or failure', () => {
    const s = new SessionApplier<number, number>((p, index) => ({ status: 'ok', value: p, index }), 2)
    s.apply({ clientId: 'a', seq: 1, payload: 1 }, 1)
    s.apply({ clientId: 'b', seq: 1, payload: 1 }, 2)
    s.apply({ clientId: 'c', seq: 1, payload: 1 }, 3) // evicts a
    expect(s.size).toBe(2)
    expect(s.apply({ clientId: 'a', seq: 2, payload: 1 }, 4).result).toEqual({ status: 'indefinite', reason: 'sessionExpired' })
  })

  it('a retry older than the cached window is indefinite', () => {
    const s = new SessionApplier<number, number>((p, index) => ({ status: 'ok', value: p, index }), 10, 2)
    for (let seq = 1; seq <= 4; seq++) s.apply({ clientId: 'a', seq, payload: seq }, seq)
    expect(s.apply({ clientId: 'a', seq: 1, payload: 1 }, 5).result.status).toBe('indefinite')
    expect(s.apply({ clientId: 'a', seq: 4, payload: 1 }, 6).result).toEqual({ status: 'ok', value: 4, index: 4 })
  })

  it('the envelope codec rejects malformed bytes with DecodeError', () => {
    expect(decodeCommand(encodeCommand({ clientId: 'x', seq: 3, payload: { a: 1 } }))).toEqual({ clientId: 'x', seq: 3, payload: { a: 1 } })
    for (const bad of ['nope', '{"c":"","s":1}', '{"c":"x","s":0}', '{"c":"x","s":1.5}', 'null']) {
      expect(() => decodeCommand(bytes(bad))).toThrow(expect.objectContaining({ code: 'ERR_DECODE' }))
    }
    expect(() => decodeCommand(new Uint8Array([0xff, 0xfe]))).toThrow(expect.objectContaining({ code: 'ERR_DECODE' }))
  })
})

describe('KvStateMachine', () => {
  it('read, write, cas with per-key results', () => {
    const kv = new KvStateMachine()
    const r = (i: number, seq: number, payload: object): KvApplied => kv.apply(entry(i, encodeKvCommand({ clientId: 'c', seq, payload: payload as never })))!
    expect(r(1, 1, { op: 'read', key: 'k' }).result).toEqual({ status: 'ok', value: { value: null, ok: true }, index: 1 })
    expect(r(2, 2, { op: 'write', key: 'k', value: 'v1' }).result.status).toBe('ok')
    expect(r(3, 3, { op: 'cas', key: 'k', expected: 'nope', value: 'v2' }).result).toEqual({ status: 'ok', value: { value: 'v1', ok: false }, index: 3 })
    expect(r(4, 4, { op: 'cas', key: 'k', expected: 'v1', value: 'v2' }).result).toEqual({ status: 'ok', value: { value: 'v2', ok: true }, index: 4 })
    expect(kv.get('k')).toBe('v2')
    expect(r(5, 5, { op: 'drop', key: 'k' }).result).toMatchObject({ status: 'error', code: 'ERR_INVALID_COMMAND' })
    expect(kv.apply(entry(6, bytes('garbage')))?.result).toMatchObject({ status: 'error', code: 'ERR_DECODE' })
    expect(kv.appliedIndex).toBe(6)
    // re-emitted entries (after a restart) are not applied twice
    expect(kv.apply(entry(4, encodeKvCommand({ clientId: 'c', seq: 9, payload: { op: 'write', key: 'k', value: 'zzz' } })))).toBeUndefined()
    expect(kv.get('k')).toBe('v2')
  })

  it('snapshot and restore reproduce data and sessions', () => {
    const kv = new KvStateMachine()
    kv.apply(entry(1, encodeKvCommand({ clientId: 'c', seq: 1, payload: { op: 'write', key: 'b', value: '2' } })))
    kv.apply(entry(2, encodeKvCommand({ clientId: 'c', seq: 2, payload: { op: 'write', key: 'a', value: '1' } })))
    const snap = kv.snapshot()
    const kv2 = new KvStateMachine()
    kv2.restore(snap)
    expect(kv2.get('a')).toBe('1')
    expect(kv2.appliedIndex).toBe(2)
    expect(kv2.snapshot()).toEqual(snap)
    // the restored session table still drops the retry of seq 2
    const dup = kv2.apply(entry(3, encodeKvCommand({ clientId: 'c', seq: 2, payload: { op: 'write', key: 'a', value: 'X' } })))
    expect(dup?.duplicate).toBe(true)
    expect(kv2.get('a')).toBe('1')
    expect(() => kv2.restore(bytes('{'))).toThrow(expect.objectContaining({ code: 'ERR_DECODE' }))
  })

  it('a duplicate command proposed twice through Raft is applied once on every replica', () => {
    const net = new Net([1, 2, 3])
    net.elect(1)
    const cmd = encodeKvCommand({ clientId: 'client-1', seq: 1, payload: { op: 'cas', key: 'x', expected: null, value: 'first' } })
    net.propose(1, 'noise')
    net.node(1).propose(cmd)
    net.node(2).propose(cmd) // the client retried through another node
    net.stabilize()
    for (const id of [1, 2, 3]) {
      const kv = new KvStateMachine()
      const outs = net.peer(id).committed.map(e => kv.apply(e)).filter(o => o?.clientId === 'client-1')
      expect(outs.map(o => o?.duplicate)).toEqual([false, true])
      expect(outs[1]?.result).toEqual(outs[0]?.result)
      expect(kv.get('x')).toBe('first')
      expect(kv.duplicates).toBe(1)
    }
  })
})
