/**
 * The corpus of malformed frames (test/fixtures/malformed/<protocol>/cases.json), kept as regression
 * tests: every case is refused by its decoder with its named error. Stream cases (`layer: "stream"`,
 * raw bytes on a fresh stream) are refused at the length prefix: too long a frame or a prefix longer
 * than the largest allowed length. Each protocol's corpus covers every category of
 * CATEGORIES (test/fuzz/corpus.ts) or says why one does not apply. The same corpus goes to live peers over TCP in
 * test/mesh/malformed-frames.test.ts.
 */
import { simVerify } from '../../sim/signatures.js'
import { describe, expect, it } from 'vitest'
import { DecodeError } from '../../src/base/errors.js'
import { decodeMessage } from '../../protocols/raft/wire.js'
import { decodeEnvelope } from '../../protocols/raft/envelope.js'
import { decodeConfChange } from '../../protocols/raft/confchange.js'
import { Replica } from '../../protocols/raft/application.js'
import { MeshApplication, decodeMeshSnapshot } from '../../protocols/mesh/application.js'
import { decodeDigest, decodeSignedBlob } from '../../crdt/codec.js'
import { DEFAULT_LIMITS } from '../../crdt/limits.js'
import { FRAME_BLOB, FRAME_DIGEST, decodeSyncFrame } from '../../peers/sync/anti-entropy/frames.js'
import { decodeHeartbeat } from '../../peers/sync/liveness/heartbeat.js'
import { decodeClientRequest, decodeClientResponse } from '../../peers/raft/client.js'
import { decodeChannelReply } from '../../peers/agents/channel.js'
import { decodeAuctionRequest } from '../../peers/economy/frames.js'
import { decodeFrameLength, varintLength } from '../../peers/framing.js'
import { expectNamed } from './fuzz.js'
import { CATEGORIES, bytesOf, loadCorpora } from './corpus.js'

/** The wire protocols of peers/PROTOCOL.md (and what their frames carry) that the corpus must cover. */
const PROTOCOLS = ['auction', 'crdt-gossip', 'heartbeat', 'raft', 'raft-client', 'raft-entry', 'sync']
const STREAM_PROTOCOLS = ['auction', 'raft', 'raft-client', 'sync']

/** The decoder a message case goes to. */
const decoders: Record<string, (b: Uint8Array, which?: string) => unknown> = {
  'crdt-gossip': b => decodeSignedBlob(b, DEFAULT_LIMITS.updateBytesMax),
  heartbeat: decodeHeartbeat,
  sync: (b) => {
    const { type, body } = decodeSyncFrame(b)
    if (type === FRAME_DIGEST) return decodeDigest(body, DEFAULT_LIMITS.digestEntriesMax)
    if (type === FRAME_BLOB) return decodeSignedBlob(body, DEFAULT_LIMITS.checkpointBytesMax)
    return { type, body }
  },
  raft: b => decodeMessage(b),
  'raft-client': (b, which) => which === 'response' ? decodeClientResponse(b) : decodeClientRequest(b),
  auction: (b, which) => which === 'reply' ? decodeChannelReply(b) : decodeAuctionRequest(b),
  'raft-entry': (b, which) => {
    switch (which) {
      case 'envelope': return decodeEnvelope(b)
      case 'confChange': return decodeConfChange(b)
      case 'mesh': return decodeMeshSnapshot(b)
      case 'replica': return new Replica(new MeshApplication(), undefined, simVerify).restore(b)
      default: throw new Error(`unknown decoder ${String(which)}`)
    }
  }
}

describe('the corpus of malformed frames (test/fixtures/malformed)', () => {
  const corpora = loadCorpora()

  it('covers every wire protocol and, in each, every category (or says why it does not apply)', () => {
    expect(corpora.map(c => c.protocol)).toEqual(PROTOCOLS)
    for (const c of corpora) {
      for (const cat of CATEGORIES) {
        const present = c.cases.some(x => x.category === cat)
        expect(present || typeof c.notApplicable[cat] === 'string', `${c.protocol}: ${cat}`).toBe(true)
        expect(present && c.notApplicable[cat] !== undefined, `${c.protocol}: ${cat} both present and not applicable`).toBe(false)
      }
      for (const x of c.cases) expect(CATEGORIES as readonly string[], `${c.protocol}/${x.name}`).toContain(x.category)
      expect(new Set(c.cases.map(x => x.name)).size, `${c.protocol}: unique names`).toBe(c.cases.length)
      if (STREAM_PROTOCOLS.includes(c.protocol)) {
        expect(c.maxFrameBytes, c.protocol).toBeGreaterThan(0)
        expect(c.cases.filter(x => x.layer === 'stream').map(x => x.category), c.protocol).toEqual(expect.arrayContaining(['oversized length prefix', 'huge varints']))
      }
    }
  })

  for (const c of corpora) {
    it(`${c.protocol}: every case is refused with DecodeError (${c.cases.length} cases)`, () => {
      for (const x of c.cases) {
        const b = bytesOf(x.hex)
        if (x.layer === 'stream') {
          // The length prefix is refused: too long a prefix (DecodeError), or a length over the limit.
          const maxLen = varintLength(c.maxFrameBytes!)
          let n: number | undefined
          const err = expectNamed(() => { n = decodeFrameLength(b, maxLen) }, [DecodeError], ['ERR_DECODE'], b.length)
          expect(err !== undefined || n! > c.maxFrameBytes!, `${c.protocol}/${x.name}: ${x.why}`).toBe(true)
          continue
        }
        const err = expectNamed(() => decoders[c.protocol]!(b, x.decoder), [DecodeError], ['ERR_DECODE'], b.length)
        expect(err, `${c.protocol}/${x.name} was accepted: ${x.why}`).toBeInstanceOf(DecodeError)
      }
    })
  }
})
