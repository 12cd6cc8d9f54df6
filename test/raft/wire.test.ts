import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { decodeMessage, encodeMessage } from '../../protocols/raft/wire.js'
import { MESSAGE_TYPES } from '../../protocols/raft/types.js'
import type { Message } from '../../protocols/raft/types.js'
import { assertProperty } from '../helpers/seed.js'

const u = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })
const small = fc.integer({ min: 0, max: 1_000_000 })
const bytes = fc.uint8Array({ maxLength: 64 })

const messageArb: fc.Arbitrary<Message> = fc.record({
  type: fc.constantFrom(...MESSAGE_TYPES),
  from: small,
  to: small,
  term: u,
  logTerm: u,
  index: u,
  entries: fc.array(fc.record({ term: u, index: u, type: fc.constantFrom('normal' as const, 'confChange' as const), data: bytes }), { maxLength: 5 }),
  commit: u,
  reject: fc.boolean(),
  rejectHint: u,
  context: fc.option(bytes, { nil: undefined }),
  snapshot: fc.option(fc.record({
    metadata: fc.record({ index: u, term: u, confState: fc.record({ voters: fc.array(small, { maxLength: 5 }), learners: fc.array(small, { maxLength: 3 }) }) }),
    data: bytes
  }), { nil: undefined })
}, { requiredKeys: ['type', 'from', 'to', 'term', 'logTerm', 'index', 'entries', 'commit', 'reject', 'rejectHint'] })

function strip (m: Message): Message {
  const out = { ...m }
  if (out.context === undefined) delete out.context
  if (out.snapshot === undefined) delete out.snapshot
  return out
}

describe('raft wire codec', () => {
  it('round-trips every message', () => {
    assertProperty(fc.property(messageArb, (m) => {
      expect(decodeMessage(encodeMessage(m))).toEqual(strip(m))
    }), { seed: 42, numRuns: 500 })
  })

  it('rejects truncated, padded and corrupted input with ERR_DECODE, never another error', () => {
    assertProperty(fc.property(messageArb, fc.nat(), fc.nat({ max: 255 }), (m, pos, byte) => {
      const b = encodeMessage(m)
      expect(() => decodeMessage(b.subarray(0, b.length - 1))).toThrow(expect.objectContaining({ code: 'ERR_DECODE' }))
      const padded = new Uint8Array(b.length + 1)
      padded.set(b)
      expect(() => decodeMessage(padded)).toThrow(expect.objectContaining({ code: 'ERR_DECODE' }))
      const c = b.slice()
      c[pos % c.length] = byte
      try {
        decodeMessage(c)
      } catch (err) {
        expect(err).toMatchObject({ code: 'ERR_DECODE' })
      }
    }), { seed: 7, numRuns: 500 })
  })

  it('enforces its limits', () => {
    const m: Message = { type: 'append', from: 1, to: 2, term: 3, logTerm: 2, index: 10, entries: Array.from({ length: 5 }, (_, i) => ({ term: 3, index: 11 + i, type: 'normal' as const, data: new Uint8Array(100) })), commit: 9, reject: false, rejectHint: 0 }
    const b = encodeMessage(m)
    expect(() => decodeMessage(b, { entriesMax: 4, entryBytesMax: 1000, snapshotBytesMax: 10, membersMax: 10, contextBytesMax: 10 })).toThrow(/5 entries exceed 4/)
    expect(() => decodeMessage(b, { entriesMax: 10, entryBytesMax: 99, snapshotBytesMax: 10, membersMax: 10, contextBytesMax: 10 })).toThrow(/100 bytes exceed 99/)
    expect(() => decodeMessage(new Uint8Array([2, 0]))).toThrow(/unknown version/)
    expect(() => decodeMessage(new Uint8Array([1, 200]))).toThrow(/unknown message type/)
  })
})

describe('coalescing appends', () => {
  it('merges contiguous appends to one follower and keeps everything else in order', async () => {
    const { coalesceAppends } = await import('../../peers/raft/driver.js')
    const e = (index: number, term = 2): { term: number, index: number, type: 'normal', data: Uint8Array } => ({ term, index, type: 'normal', data: new Uint8Array([index]) })
    const base = { from: 1, term: 2, logTerm: 2, commit: 0, reject: false, rejectHint: 0 }
    const msgs: Message[] = [
      { ...base, type: 'append', to: 2, index: 10, entries: [e(11)], commit: 10 },
      { ...base, type: 'append', to: 3, index: 10, entries: [e(11)], commit: 10 },
      { ...base, type: 'append', to: 2, index: 11, entries: [e(12), e(13)], commit: 11 },
      { ...base, type: 'heartbeat', to: 2, index: 0, entries: [] },
      { ...base, type: 'append', to: 2, index: 13, entries: [e(14)], commit: 11 },
      { ...base, type: 'append', to: 3, index: 12, entries: [e(13)], commit: 11 }
    ]
    const out = coalesceAppends(msgs)
    expect(out.map(m => `${m.type}>${m.to}@${m.index}:${m.entries.map(x => x.index).join(',')}/c${m.commit}`)).toEqual([
      'append>2@10:11,12,13/c11',
      'append>3@10:11/c10',
      'heartbeat>2@0:/c0',
      'append>2@13:14/c11',
      'append>3@12:13/c11'
    ])
    // The core's messages are not mutated.
    expect(msgs[0]!.entries).toHaveLength(1)
  })
})
