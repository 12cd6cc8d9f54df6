import { describe, expect, it } from 'vitest'
import * as encoding from 'lib0/encoding'
import { decodeHeartbeat, encodeHeartbeat } from '../../peers/sync/liveness/heartbeat.js'

describe('heartbeat codec', () => {
  it('round-trips, with and without the leaving flag', () => {
    const h = { sentAtMs: 1_795_000_000_000, load: 0.25, docs: [{ kind: 'reg' as const, incarnation: 17, seq: 4 }, { kind: 'var' as const, incarnation: 18, seq: 0 }] }
    expect(decodeHeartbeat(encodeHeartbeat(h))).toEqual(h)
    expect(decodeHeartbeat(encodeHeartbeat({ ...h, leaving: true }))).toEqual({ ...h, leaving: true })
  })

  it('a leave names the incarnation it outranks; an incarnation without the leave is not written, and refused when read', () => {
    const h = { sentAtMs: 1_795_000_000_000, load: 0, docs: [{ kind: 'reg' as const, incarnation: 17, seq: 4 }] }
    const leave = { ...h, leaving: true, incarnation: 1_795_000_000_123 }
    expect(decodeHeartbeat(encodeHeartbeat(leave))).toEqual(leave)
    expect(decodeHeartbeat(encodeHeartbeat({ ...h, incarnation: 5 }))).toEqual(h)
    const bytes = encodeHeartbeat(leave)
    // The flags byte with only the incarnation bit (the number still follows the documents).
    const flagsAt = 1 + 1 + 6 + 8
    expect(bytes[flagsAt]).toBe(3)
    const lone = bytes.slice()
    lone[flagsAt] = 2
    expect(() => decodeHeartbeat(lone)).toThrow(expect.objectContaining({ code: 'ERR_DECODE', message: expect.stringContaining('leaving') as string }))
    // Cut in the incarnation.
    expect(() => decodeHeartbeat(bytes.slice(0, -1))).toThrow(expect.objectContaining({ code: 'ERR_DECODE' }))
  })

  it('still reads version 1 (no flags byte)', () => {
    const e = encoding.createEncoder()
    encoding.writeUint8(e, 4)
    encoding.writeUint8(e, 1)
    encoding.writeVarUint(e, 5)
    encoding.writeFloat64(e, 0.5)
    encoding.writeVarUint(e, 1)
    encoding.writeUint8(e, 0)
    encoding.writeVarUint(e, 3)
    encoding.writeVarUint(e, 9)
    expect(decodeHeartbeat(encoding.toUint8Array(e))).toEqual({ sentAtMs: 5, load: 0.5, docs: [{ kind: 'reg', incarnation: 3, seq: 9 }] })
  })

  it('rejects unknown versions and flags, bad loads, trailing bytes with ERR_DECODE', () => {
    const good = encodeHeartbeat({ sentAtMs: 1, load: 0, docs: [] })
    const bad = [new Uint8Array([4, 9]), new Uint8Array([5, 2]), Uint8Array.from([...good, 0]), new Uint8Array(300)]
    const flags = good.slice()
    flags[1 + 1 + 1 + 8] = 0x80
    bad.push(flags)
    const e = encoding.createEncoder()
    encoding.writeUint8(e, 4); encoding.writeUint8(e, 2); encoding.writeVarUint(e, 1); encoding.writeFloat64(e, Number.NaN); encoding.writeUint8(e, 0); encoding.writeVarUint(e, 0)
    bad.push(encoding.toUint8Array(e))
    for (const b of bad) expect(() => decodeHeartbeat(b)).toThrow(expect.objectContaining({ code: 'ERR_DECODE' }))
  })
})
