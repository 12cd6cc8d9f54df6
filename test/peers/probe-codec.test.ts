/**
 * The probe liveness codecs (peers/sync/liveness/probe-codec.ts, PROTOCOL.md 1e): every frame and notice
 * round-trips; malformed input is a DecodeError (`ERR_DECODE`), never a partial value.
 */
import { describe, expect, it } from 'vitest'
import * as encoding from 'lib0/encoding'
import {
  MEMBERS_MAX, NOTICE_BYTES_MAX, PROBE_FRAME_BYTES_MAX, decodeNotice, decodeProbeFrame, encodeNotice, encodeProbeFrame
} from '../../peers/sync/liveness/probe-codec.js'
import type { Notice, ProbeFrame } from '../../peers/sync/liveness/probe-codec.js'

const ID = '12D3KooWGzMzD8P2Vt3uTbEt1d3WnK8sQfFBrNkW5PWcJxZ4X2oD'

const frames: ProbeFrame[] = [
  { t: 'ping' },
  { t: 'ping', suspected: 0 },
  { t: 'ping', suspected: 1_765_000_000_123 },
  { t: 'ack', incarnation: 1_765_000_000_000, load: 0.25, docs: [{ kind: 'reg', incarnation: 3, seq: 17 }, { kind: 'var', incarnation: 1, seq: 0 }] },
  { t: 'ping', transient: true },
  { t: 'ping', suspected: 4, relay: { requester: ID, nonce: new Uint8Array(16).fill(7) } },
  { t: 'ack', incarnation: 5, load: 0, docs: [], signature: new Uint8Array(64).fill(1) },
  { t: 'ping-req', target: ID, nonce: new Uint8Array(16).fill(3) },
  { t: 'nack' },
  { t: 'members-req' },
  { t: 'members', members: [{ host: ID, incarnation: 9 }, { host: ID, incarnation: 10, addrs: [new Uint8Array([4, 127, 0, 0, 1, 6, 0x1f, 0x90])] }] }
]

const expectDecodeError = (fn: () => unknown): void => {
  expect(fn).toThrow(expect.objectContaining({ code: 'ERR_DECODE' }) as Error)
}

describe('probe frames', () => {
  it('round-trip', () => {
    for (const f of frames) expect(decodeProbeFrame(encodeProbeFrame(f))).toEqual(f)
  })

  it('refuse trailing bytes, a wrong tag or version, an unknown type', () => {
    const ping = encodeProbeFrame({ t: 'ping' })
    expectDecodeError(() => decodeProbeFrame(new Uint8Array([...ping, 0])))
    expectDecodeError(() => decodeProbeFrame(new Uint8Array([6, ...ping.subarray(1)])))
    expectDecodeError(() => decodeProbeFrame(new Uint8Array([7, 2, 1, 0])))
    expectDecodeError(() => decodeProbeFrame(new Uint8Array([7, 1, 9])))
    expectDecodeError(() => decodeProbeFrame(new Uint8Array([7, 1])))
  })

  it('refuse a malformed peer id, a load that is not a finite number >= 0, too many documents', () => {
    expectDecodeError(() => decodeProbeFrame(encodeProbeFrame({ t: 'ping-req', target: 'not/base58!', nonce: new Uint8Array(16) })))
    expectDecodeError(() => decodeProbeFrame(encodeProbeFrame({ t: 'ping-req', target: '1'.repeat(65), nonce: new Uint8Array(16) })))
    // A nonce of the wrong size, a signature that is not 64 bytes, unknown PING flags.
    expectDecodeError(() => decodeProbeFrame(encodeProbeFrame({ t: 'ping-req', target: ID, nonce: new Uint8Array(15) })))
    expectDecodeError(() => decodeProbeFrame(encodeProbeFrame({ t: 'ack', incarnation: 1, load: 0, docs: [], signature: new Uint8Array(63) })))
    expectDecodeError(() => decodeProbeFrame(new Uint8Array([7, 2, 1, 0, 4])))
    expectDecodeError(() => decodeProbeFrame(encodeProbeFrame({ t: 'ack', incarnation: 1, load: -1, docs: [] })))
    expectDecodeError(() => decodeProbeFrame(encodeProbeFrame({ t: 'ack', incarnation: 1, load: Number.NaN, docs: [] })))
    const three = { t: 'ack' as const, incarnation: 1, load: 0, docs: [{ kind: 'reg' as const, incarnation: 1, seq: 1 }, { kind: 'reg' as const, incarnation: 1, seq: 1 }, { kind: 'var' as const, incarnation: 1, seq: 1 }] }
    expectDecodeError(() => decodeProbeFrame(encodeProbeFrame(three)))
  })

  it('refuse a MEMBERS list over its bound and numbers that are not safe integers', () => {
    const e = encoding.createEncoder()
    encoding.writeUint8(e, 7); encoding.writeUint8(e, 2); encoding.writeUint8(e, 6)
    encoding.writeVarUint(e, MEMBERS_MAX + 1)
    expectDecodeError(() => decodeProbeFrame(encoding.toUint8Array(e)))
    const u = encoding.createEncoder()
    encoding.writeUint8(u, 7); encoding.writeUint8(u, 2); encoding.writeUint8(u, 1)
    encoding.writeVarUint(u, 2 ** 60)
    expectDecodeError(() => decodeProbeFrame(encoding.toUint8Array(u)))
    expectDecodeError(() => decodeProbeFrame(new Uint8Array(PROBE_FRAME_BYTES_MAX + 1)))
  })
})

describe('membership notices', () => {
  it('round-trip', () => {
    const ns: Notice[] = [{ t: 'alive', incarnation: 1_765_000_000_001 }, { t: 'alive', incarnation: 2, addrs: [new Uint8Array([4, 10, 0, 0, 7, 6, 0x1f, 0x90])] }, { t: 'suspect', incarnation: 4, target: ID }]
    for (const n of ns) expect(decodeNotice(encodeNotice(n))).toEqual(n)
  })

  it('refuse an unknown type, trailing bytes, a suspicion without a target, an oversized notice', () => {
    expectDecodeError(() => decodeNotice(new Uint8Array([6, 2, 3, 1])))
    // An ALIVE with more addresses than ALIVE_ADDRS_MAX (4), or an empty one.
    expectDecodeError(() => decodeNotice(encodeNotice({ t: 'alive', incarnation: 1, addrs: Array.from({ length: 5 }, () => new Uint8Array([4, 1, 2, 3, 4])) })))
    expectDecodeError(() => decodeNotice(encodeNotice({ t: 'alive', incarnation: 1, addrs: [new Uint8Array(0)] })))
    expectDecodeError(() => decodeNotice(new Uint8Array([...encodeNotice({ t: 'alive', incarnation: 1 }), 0])))
    expectDecodeError(() => decodeNotice(new Uint8Array([6, 2, 2, 1])))
    expectDecodeError(() => decodeNotice(new Uint8Array(NOTICE_BYTES_MAX + 1)))
  })
})
