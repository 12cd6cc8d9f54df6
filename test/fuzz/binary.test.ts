/**
 * Fuzzing of every binary decoder (lib0 encodings of peers/PROTOCOL.md and crdt/PROTOCOL.md, and the
 * Raft storage's records): on random bytes and on mutations of valid encodings (bit flips, truncations,
 * extensions, huge varints over any field), each decoder returns or throws its named error only, and
 * never allocates beyond a bounded multiple of its input; a length field claiming 2^31..2^64 bytes is
 * refused before anything is allocated.
 *
 * Replay a failure: `AGORA_TEST_SEED=<seed> AGORA_TEST_PATH=<path> npx vitest run test/fuzz/binary.test.ts -t '<name>'`
 * (the failure message prints it); `AGORA_FUZZ_RUNS=<n>` runs longer.
 */
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import * as encoding from 'lib0/encoding'
import { DecodeError, LimitExceededError } from '../../src/base/errors.js'
import { DEFAULT_WIRE_LIMITS, decodeMessage, encodeMessage, encodeMessageLib0 } from '../../protocols/raft/wire.js'
import { MESSAGE_TYPES } from '../../protocols/raft/types.js'
import type { Message } from '../../protocols/raft/types.js'
import { decodeEnvelope, encodeEnvelope, ENVELOPE_V1 } from '../../protocols/raft/envelope.js'
import { decodeConfChange, encodeConfChange } from '../../protocols/raft/confchange.js'
import { decodeEntry, decodeHardState, decodeRecord, decodeSnapshot, encodeEntry, encodeHardState, encodeRun, encodeSnapshot, entryKeyIndex } from '../../peers/raft/storage.js'
import { attachSignature, decodeDigest, decodeSignedBlob, encodeDigest, encodeSignedPart, TAG_CHECKPOINT, TAG_UPDATE } from '../../crdt/codec.js'
import { DEFAULT_LIMITS } from '../../crdt/limits.js'
import { BlobAssembler, FRAME_BLOB, FRAME_CHUNK, FRAME_CHUNK_END, FRAME_DIGEST, FRAME_END, decodeSyncFrame, frame } from '../../peers/sync/anti-entropy/frames.js'
import { decodeHeartbeat, encodeHeartbeat } from '../../peers/sync/liveness/heartbeat.js'
import { decodeFrameLength, varintLength } from '../../peers/framing.js'
import { assertProperty } from '../helpers/seed.js'
import { HUGE_LENGTHS, RUNS, concat, endlessVarint, expectNamed, hostileBytes, varint } from './fuzz.js'

const u = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })
const small = fc.integer({ min: 1, max: 1_000_000 })
const bytes = fc.uint8Array({ maxLength: 48 })
const decodeOnly = [DecodeError] as const
const ERR_DECODE = ['ERR_DECODE'] as const

/** Asserts `decode` survives every hostile input drawn from `valid` (named error or a value). */
function fuzz (valid: fc.Arbitrary<Uint8Array>, decode: (b: Uint8Array) => unknown, errors: ReadonlyArray<abstract new (...a: never[]) => DecodeError | LimitExceededError> = decodeOnly, codes: readonly string[] = ERR_DECODE): void {
  assertProperty(fc.property(hostileBytes(valid), (b) => { expectNamed(() => decode(b), errors, codes, b.length) }), { numRuns: RUNS })
}

/** Asserts every huge length written at `offset` of `prefix` (then `suffix`) is refused with DecodeError, allocating nothing. */
function refusesHugeLengths (prefix: Uint8Array, decode: (b: Uint8Array) => unknown, suffix = new Uint8Array(16)): void {
  for (const n of HUGE_LENGTHS) {
    const b = concat(prefix, varint(n), suffix)
    const err = expectNamed(() => decode(b), decodeOnly, ERR_DECODE, b.length)
    expect(err, `length ${n} accepted`).toBeInstanceOf(DecodeError)
  }
}

const messageArb: fc.Arbitrary<Message> = fc.record({
  type: fc.constantFrom(...MESSAGE_TYPES),
  from: small,
  to: small,
  term: u,
  logTerm: u,
  index: u,
  entries: fc.array(fc.record({ term: u, index: u, type: fc.constantFrom('normal' as const, 'confChange' as const), data: bytes }), { maxLength: 4 }),
  commit: u,
  reject: fc.boolean(),
  rejectHint: u,
  context: fc.option(bytes, { nil: undefined }),
  snapshot: fc.option(fc.record({
    metadata: fc.record({ index: u, term: u, confState: fc.record({ voters: fc.array(small, { maxLength: 5 }), learners: fc.array(small, { maxLength: 3 }) }) }),
    data: bytes
  }), { nil: undefined })
}, { requiredKeys: ['type', 'from', 'to', 'term', 'logTerm', 'index', 'entries', 'commit', 'reject', 'rejectHint'] })

const hostArb = fc.string({ minLength: 1, maxLength: 60 })

describe('fuzz: Raft messages (protocols/raft/wire.ts)', () => {
  it('decodeMessage throws DecodeError only, on random and mutated messages', () => {
    fuzz(messageArb.map(encodeMessage), (b) => decodeMessage(b))
  })

  it('encodeMessage writes the lib0 layout byte for byte and decodes back', () => {
    assertProperty(fc.property(messageArb, (m) => {
      const bytes = encodeMessage(m)
      expect(bytes).toEqual(encodeMessageLib0(m))
      expect(encodeMessage(decodeMessage(bytes, { ...DEFAULT_WIRE_LIMITS, entriesMax: 8 }))).toEqual(bytes)
    }), { numRuns: 300 })
  })

  it('a huge entry count, entry length, context length, member count or snapshot length is refused before allocating', () => {
    // version, type append, from..rejectHint (7 varints), flags.
    const head = (flags: number): Uint8Array => Uint8Array.from([1, 0, 1, 2, 1, 0, 0, 0, 0, flags])
    refusesHugeLengths(head(0), decodeMessage) // entry count
    refusesHugeLengths(concat(head(0), Uint8Array.from([1, 1, 1, 0])), decodeMessage) // entry data length
    refusesHugeLengths(concat(head(4), Uint8Array.from([0])), decodeMessage) // context length
    refusesHugeLengths(concat(head(2), Uint8Array.from([0, 5, 1])), decodeMessage) // voter count
    refusesHugeLengths(concat(head(2), Uint8Array.from([0, 5, 1, 0, 0])), decodeMessage) // snapshot data length
    // Lengths within the limits but beyond the input: truncated, nothing allocated.
    const claim = DEFAULT_WIRE_LIMITS.snapshotBytesMax
    const b = concat(head(2), Uint8Array.from([0, 5, 1, 0, 0]), varint(claim), new Uint8Array(8))
    expect(expectNamed(() => decodeMessage(b), decodeOnly, ERR_DECODE, b.length)?.message).toMatch(/truncated/)
  })
})

describe('fuzz: command envelope and confChange (protocols/raft/envelope.ts, confchange.ts)', () => {
  const envArb = fc.record({ clientId: fc.string({ maxLength: 40 }), seq: u, at: u, command: bytes, signature: fc.option(fc.uint8Array({ maxLength: 64 }), { nil: undefined }) })
    .map(e => encodeEnvelope(e.signature === undefined ? { clientId: e.clientId, seq: e.seq, at: e.at, command: e.command } : e))

  it('decodeEnvelope throws DecodeError only', () => {
    fuzz(envArb, decodeEnvelope)
  })

  it('encodeEnvelope writes the lib0 layout byte for byte, and decodes back (client ids repeated and alternating, BOM and non-ASCII too)', () => {
    const lib0 = (e: { clientId: string, seq: number, at: number, command: Uint8Array, signature?: Uint8Array }): Uint8Array => {
      const x = encoding.createEncoder()
      encoding.writeUint8(x, e.signature === undefined ? 2 : 3)
      encoding.writeVarString(x, e.clientId)
      encoding.writeVarUint(x, e.seq)
      encoding.writeVarUint(x, e.at)
      encoding.writeVarUint8Array(x, e.command)
      if (e.signature !== undefined) encoding.writeVarUint8Array(x, e.signature)
      return encoding.toUint8Array(x)
    }
    const ids = fc.constantFrom('p1/a', 'p2/b', '\uFEFFbom/x', 'päer/ü', '')
    assertProperty(fc.property(fc.array(fc.record({ clientId: fc.oneof(ids, fc.string({ maxLength: 20 })), seq: u, at: u, command: bytes, signature: fc.option(fc.uint8Array({ maxLength: 64 }), { nil: undefined }) }), { minLength: 1, maxLength: 6 }), (es) => {
      for (const e of es) {
        const env = e.signature === undefined ? { clientId: e.clientId, seq: e.seq, at: e.at, command: e.command } : e
        const bytes = encodeEnvelope(env)
        expect(bytes).toEqual(lib0(env))
        // Lone surrogates become U+FFFD in UTF-8, as lib0 writes them.
        expect(decodeEnvelope(bytes)).toEqual({ ...env, clientId: new TextDecoder('utf-8', { ignoreBOM: true }).decode(new TextEncoder().encode(e.clientId)) })
      }
    }), { numRuns: 200 })
  })

  it('a huge client id, command or signature length is refused before allocating', () => {
    refusesHugeLengths(Uint8Array.from([2]), decodeEnvelope)
    refusesHugeLengths(Uint8Array.from([2, 1, 0x61, 1, 0]), decodeEnvelope)
    refusesHugeLengths(Uint8Array.from([3, 1, 0x61, 1, 0, 0]), decodeEnvelope)
    expect(() => decodeEnvelope(Uint8Array.from([ENVELOPE_V1, 1, 0xff, 1, 0]))).toThrow(DecodeError) // invalid UTF-8 in the client id
  })

  it('decodeConfChange throws DecodeError only', () => {
    const cc = fc.record({ type: fc.constantFrom('addVoter' as const, 'removeVoter' as const, 'addLearner' as const, 'promoteLearner' as const), nodeId: small })
    fuzz(cc.map(encodeConfChange), decodeConfChange)
  })
})

describe('fuzz: Raft storage records (peers/raft/storage.ts)', () => {
  const entry = fc.record({ term: u, index: small, type: fc.constantFrom('normal' as const, 'confChange' as const), data: bytes })
  const snap = fc.record({ metadata: fc.record({ index: u, term: u, confState: fc.record({ voters: fc.array(small, { maxLength: 5 }), learners: fc.array(small, { maxLength: 3 }) }) }), data: bytes })

  it('round-trip, then hostile bytes throw DecodeError only (hard state, entries, snapshots, entry keys)', () => {
    assertProperty(fc.property(fc.record({ term: u, vote: u, commit: u }), entry, snap, (hs, en, s) => {
      expect(decodeHardState(encodeHardState(hs))).toEqual(hs)
      expect(decodeEntry(en.index, encodeEntry(en))).toEqual(en)
      expect(decodeSnapshot(encodeSnapshot(s))).toEqual(s)
    }), { numRuns: 100 })
    fuzz(fc.record({ term: u, vote: u, commit: u }).map(encodeHardState), decodeHardState)
    fuzz(entry.map(encodeEntry), b => decodeEntry(1, b))
    fuzz(snap.map(encodeSnapshot), decodeSnapshot)
    // A run of entries in one record (and a record written before runs: one entry).
    const run = fc.array(fc.record({ term: fc.integer({ min: 1, max: 2 ** 40 }), type: fc.constantFrom('normal' as const, 'confChange' as const), data: bytes }), { minLength: 1, maxLength: 8 })
    assertProperty(fc.property(run, small, (es, first) => {
      const entries = es.map((e, k) => ({ ...e, index: first + 1 + k }))
      expect(decodeRecord(first + 1, encodeRun(entries))).toEqual(entries)
      expect(decodeRecord(first + 1, encodeEntry(entries[0]!))).toEqual([entries[0]])
    }), { numRuns: 100 })
    fuzz(run.map(es => encodeRun(es.map((e, k) => ({ ...e, index: 1 + k })))), b => decodeRecord(1, b))
    assertProperty(fc.property(fc.string({ maxLength: 24 }), (tail) => { expectNamed(() => entryKeyIndex(`raft/main/e/${tail}`, 'raft/main/'), decodeOnly, ERR_DECODE) }), { numRuns: RUNS })
    expect(entryKeyIndex('raft/main/e/0000000000000042', 'raft/main/')).toBe(42)
  })

  it('a huge data length or member count is refused before allocating', () => {
    refusesHugeLengths(Uint8Array.from([1, 0]), b => decodeEntry(1, b))
    refusesHugeLengths(Uint8Array.from([0, 1, 1, 0]), b => decodeRecord(1, b))
    refusesHugeLengths(Uint8Array.from([0]), b => decodeRecord(1, b))
    refusesHugeLengths(Uint8Array.from([5, 1]), decodeSnapshot)
    refusesHugeLengths(Uint8Array.from([5, 1, 0, 0]), decodeSnapshot)
  })
})

describe('fuzz: registry blobs and digests (crdt/codec.ts)', () => {
  const blobArb = fc.record({ tag: fc.constantFrom(TAG_UPDATE, TAG_CHECKPOINT), kind: fc.constantFrom('reg' as const, 'var' as const), host: hostArb, incarnation: u, seq: small, payload: bytes, sig: fc.uint8Array({ minLength: 64, maxLength: 64 }) })
    .map(b => attachSignature(encodeSignedPart(b.tag, b.kind, b.host, b.incarnation, b.seq, b.payload), b.sig))
  const digestArb = fc.array(fc.record({ kind: fc.constantFrom('reg' as const, 'var' as const), host: hostArb, incarnation: u, seq: u, checkpointSeq: u }), { maxLength: 5 }).map(encodeDigest)

  it('decodeSignedBlob and decodeDigest throw DecodeError only', () => {
    fuzz(blobArb, b => decodeSignedBlob(b, DEFAULT_LIMITS.updateBytesMax))
    fuzz(blobArb, b => decodeSignedBlob(b, DEFAULT_LIMITS.checkpointBytesMax))
    fuzz(digestArb, b => decodeDigest(b, DEFAULT_LIMITS.digestEntriesMax))
  })

  it('a huge host, payload or signature length, or entry count, is refused before allocating', () => {
    const decode = (b: Uint8Array): unknown => decodeSignedBlob(b, DEFAULT_LIMITS.checkpointBytesMax)
    refusesHugeLengths(Uint8Array.from([1, 0]), decode)
    refusesHugeLengths(Uint8Array.from([1, 0, 1, 0x41, 0, 1]), decode)
    refusesHugeLengths(Uint8Array.from([1, 0, 1, 0x41, 0, 1, 0]), decode)
    refusesHugeLengths(Uint8Array.from([3]), b => decodeDigest(b, DEFAULT_LIMITS.digestEntriesMax))
    refusesHugeLengths(Uint8Array.from([3, 1, 0]), b => decodeDigest(b, DEFAULT_LIMITS.digestEntriesMax))
  })
})

describe('fuzz: anti-entropy frames (peers/sync/anti-entropy/frames.ts)', () => {
  const frameArb = fc.tuple(fc.constantFrom(FRAME_DIGEST, FRAME_BLOB, FRAME_CHUNK, FRAME_CHUNK_END, FRAME_END), bytes).map(([t, b]) => frame(t, t === FRAME_END ? new Uint8Array(0) : b))

  it('decodeSyncFrame throws DecodeError only; an assembler fed any frames throws DecodeError or LimitExceededError only and never holds more than its limit', () => {
    fuzz(frameArb, decodeSyncFrame)
    assertProperty(fc.property(fc.array(hostileBytes(frameArb), { maxLength: 12 }), (frames) => {
      const a = new BlobAssembler(64)
      for (const f of frames) {
        const out = expectNamed(() => a.push(f), [DecodeError, LimitExceededError], ['ERR_DECODE', 'ERR_LIMIT_EXCEEDED'], f.length)
        if (out !== undefined) return
      }
    }), { numRuns: RUNS })
  })
})

describe('fuzz: heartbeats (peers/sync/liveness/heartbeat.ts)', () => {
  it('decodeHeartbeat throws DecodeError only', () => {
    const hb = fc.record({ sentAtMs: u, load: fc.double({ min: 0, max: 1, noNaN: true }), leaving: fc.boolean(), docs: fc.array(fc.record({ kind: fc.constantFrom('reg' as const, 'var' as const), incarnation: u, seq: u }), { maxLength: 2 }) })
    fuzz(hb.map(encodeHeartbeat), decodeHeartbeat)
  })

  it('a sentAtMs past 2^53 is malformed (it was accepted, rounded)', () => {
    const e = encoding.createEncoder()
    encoding.writeUint8(e, 4)
    encoding.writeUint8(e, 2)
    encoding.writeUint8Array(e, varint(2n ** 60n + 1n))
    encoding.writeFloat64(e, 0.5)
    encoding.writeUint8(e, 0)
    encoding.writeVarUint(e, 0)
    expect(() => decodeHeartbeat(encoding.toUint8Array(e))).toThrow(DecodeError)
  })
})

describe('fuzz: the length prefix of stream frames (peers/framing.ts)', () => {
  it('decodeFrameLength returns a length, asks for more bytes (RangeError) only while the prefix is short, or throws DecodeError', () => {
    assertProperty(fc.property(fc.uint8Array({ maxLength: 16 }), fc.constantFrom(1024 * 1024, 64 * 1024, 256 * 1024 * 1024 + 65536), (b, max) => {
      const maxLen = varintLength(max)
      try {
        const n = decodeFrameLength(b, maxLen)
        expect(Number.isSafeInteger(n) && n >= 0).toBe(true)
      } catch (err) {
        if (err instanceof RangeError) expect(b.length).toBeLessThan(maxLen)
        else expect(err).toBeInstanceOf(DecodeError)
      }
    }), { numRuns: RUNS })
  })

  it('an endless varint is refused once it is as long as the largest allowed length (it was buffered for ever)', () => {
    for (const max of [64 * 1024, 1024 * 1024, 256 * 1024 * 1024 + 65536]) {
      const n = varintLength(max)
      expect(() => decodeFrameLength(endlessVarint(n - 1), n)).toThrow(RangeError)
      expect(() => decodeFrameLength(endlessVarint(n), n)).toThrow(DecodeError)
      expect(decodeFrameLength(varint(max), n)).toBe(max)
    }
  })
})
