/**
 * Fuzzing of the JSON frame decoders of the stream protocols: the Raft client path (requests on the
 * member, responses on the client; peers/raft/client.ts) and the auction channel (requests on the host,
 * replies on the requester; peers/agents/channel.ts, peers/economy/frames.ts). On random bytes, byte mutations of
 * valid frames and structural mutations (a node replaced by a hostile value, keys dropped or added,
 * `__proto__` keys, lone surrogates, deep nesting), each throws DecodeError only; what it returns has the
 * documented shape.
 *
 * Replay a failure: `AGORA_TEST_SEED=<seed> AGORA_TEST_PATH=<path> npx vitest run test/fuzz/json.test.ts -t '<name>'`.
 */
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { DecodeError } from '../../src/base/errors.js'
import { isWellFormed } from '../../src/base/input.js'
import { decodeClientRequest, decodeClientResponse } from '../../peers/raft/client.js'
import { decodeChannelReply } from '../../peers/agents/channel.js'
import { decodeAgentsRequest, validChannelFrame } from '../../peers/agents/frames.js'
import { decodeAuctionRequest, validFrame } from '../../peers/economy/frames.js'
import { decodeJsonFrame } from '../../peers/framing.js'
import { assertProperty } from '../helpers/seed.js'
import { RUNS, expectNamed, hostileJsonBytes } from './fuzz.js'

const enc = new TextEncoder()
const id = fc.string({ minLength: 1, maxLength: 20 })
const b64 = fc.uint8Array({ maxLength: 40 }).map(b => Buffer.from(b).toString('base64'))

const clientRequest = fc.oneof(
  fc.record({ t: fc.constant('propose'), c: fc.string({ maxLength: 20 }), s: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), d: b64, g: fc.option(b64, { nil: undefined }) }).map(r => r.g === undefined ? { t: r.t, c: r.c, s: r.s, d: r.d } : r),
  fc.record({ t: fc.constant('read'), n: fc.string({ maxLength: 20 }) })
)
const clientResponse = fc.oneof(
  fc.record({ ok: fc.constant(true), r: fc.jsonValue({ maxDepth: 2 }), i: fc.nat() }),
  fc.record({ ok: fc.constant(false), code: fc.constantFrom('ERR_INDEFINITE', 'ERR_DECODE', 'ERR_RATE_LIMITED'), message: fc.string({ maxLength: 20 }) })
)
const auctionFrame = fc.oneof(
  fc.record({ t: fc.constant('bid-request'), req: fc.record({ auction: id, agent: id, seller: id, spec: fc.record({ id, mechanism: fc.constant('vickrey'), items: fc.array(id, { maxLength: 2 }) }), closesAt: fc.nat(), openedIndex: fc.nat() }) }),
  fc.record({ t: fc.constant('reveal-request'), auction: id, agent: id }),
  fc.record({ t: fc.constant('result'), notice: fc.record({ auction: id, status: fc.constant('settled'), winners: fc.constant([]), clearingPrice: fc.constant(null) }), agents: fc.array(id, { maxLength: 3 }) })
)
const auctionRequest = fc.record({ id: fc.nat(), f: auctionFrame })
const auctionReply = fc.record({ id: fc.nat(), r: fc.oneof(fc.record({ ok: fc.constant(true), outcome: fc.constantFrom('bid', 'declined') }), fc.record({ ok: fc.constant(true), outcome: fc.constant('reply'), value: fc.jsonValue({ maxDepth: 3 }) }), fc.record({ ok: fc.constant(false), code: fc.constant('ERR_TIMEOUT'), message: fc.string({ maxLength: 20 }) })) })
const agentId = fc.string({ minLength: 1, maxLength: 12 })
const agentFrame = fc.oneof(
  fc.record({ t: fc.constant('request'), to: agentId, from: agentId, p: fc.constantFrom('math/sum', 'orchestration'), body: fc.jsonValue({ maxDepth: 3 }), ms: fc.integer({ min: 1, max: 60_000 }) }, { requiredKeys: ['t', 'to', 'body', 'ms'] }),
  fc.record({ t: fc.constant('message'), to: agentId, from: agentId, body: fc.jsonValue({ maxDepth: 3 }) }, { requiredKeys: ['t', 'to', 'body'] }),
  fc.record({ t: fc.constant('task'), task: fc.integer({ min: 1 }), attempt: fc.integer({ min: 1, max: 100 }), agent: agentId })
)
const agentsRequest = fc.record({ id: fc.nat(), f: fc.oneof(agentFrame, auctionFrame) })

function fuzz<T> (valid: fc.Arbitrary<unknown>, decode: (b: Uint8Array) => T, check: (out: T) => void): void {
  assertProperty(fc.property(hostileJsonBytes(valid), (b) => {
    let out: T | undefined
    expectNamed(() => { out = decode(b) }, [DecodeError], ['ERR_DECODE'], b.length)
    if (out !== undefined) check(out)
  }), { numRuns: RUNS })
}

/** No lone surrogate and no own `__proto__` key anywhere in what a decoder returns. */
function clean (v: unknown): void {
  if (typeof v === 'string') expect(isWellFormed(v)).toBe(true)
  else if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) { expect(k).not.toBe('__proto__'); expect(isWellFormed(k)).toBe(true); clean(x) }
  }
}

describe('fuzz: Raft client frames (peers/raft/client.ts)', () => {
  it('decodeClientRequest throws DecodeError only and returns well-formed requests', () => {
    fuzz(clientRequest, decodeClientRequest, (r) => {
      clean(r)
      if (r.t === 'propose') {
        expect(Number.isSafeInteger(r.s) && r.s >= 1).toBe(true)
        // Canonical base64: decoding and encoding again gives the same text (Buffer skips what is not base64).
        expect(Buffer.from(r.d, 'base64').toString('base64')).toBe(r.d)
      } else expect(typeof r.n).toBe('string')
    })
  })

  it('decodeClientResponse throws DecodeError only and returns well-formed responses', () => {
    fuzz(clientResponse, decodeClientResponse, (r) => {
      if (r.ok) expect(Number.isSafeInteger(r.i)).toBe(true)
      else expect(r.code).toMatch(/^ERR_/)
    })
  })

  it('the reported breaks: lone surrogates, __proto__ keys, invalid UTF-8 and non-base64 commands are refused', () => {
    const bad = [
      '{"t":"propose","c":"\\ud800","s":1,"d":""}',
      '{"t":"propose","c":"a","s":1,"d":"","__proto__":{"t":"read"}}',
      '{"t":"read","n":"x\\udfff"}',
      '{"t":"propose","c":"a","s":1,"d":"!!!!"}',
      '{"t":"propose","c":"a","s":1,"d":"AAA"}',
      '{"t":"propose","c":"a","s":1,"d":"AAAAAC=="}'
    ]
    for (const text of bad) expect(() => decodeClientRequest(enc.encode(text)), text).toThrow(DecodeError)
    expect(() => decodeClientRequest(Uint8Array.from([0x7b, 0xff, 0x7d]))).toThrow(DecodeError)
  })
})

describe('fuzz: auction channel frames (peers/agents/channel.ts, peers/economy/frames.ts)', () => {
  it('decodeAuctionRequest throws DecodeError only and returns frames that pass the shape rules', () => {
    fuzz(auctionRequest, decodeAuctionRequest, (r) => {
      clean(r)
      expect(Number.isSafeInteger(r.id)).toBe(true)
      expect(validFrame(r.f)).toBe(true)
    })
  })

  it('decodeChannelReply throws DecodeError only and returns a well-formed reply', () => {
    fuzz(auctionReply, decodeChannelReply, (r) => {
      expect(typeof r.r.ok).toBe('boolean')
      if (r.r.ok) expect(typeof r.r.outcome).toBe('string')
      else expect(typeof r.r.code).toBe('string')
    })
  })

  it('decodeAgentsRequest throws DecodeError only and returns agent or auction frames that pass the shape rules', () => {
    fuzz(agentsRequest, decodeAgentsRequest, (r) => {
      clean(r)
      expect(Number.isSafeInteger(r.id)).toBe(true)
      expect(validChannelFrame(r.f)).toBe(true)
    })
  })

  it('decodeJsonFrame refuses deep nesting only when it is not JSON, and is iterative (no stack overflow)', () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000)
    expect(() => decodeJsonFrame(enc.encode(deep), 'x')).not.toThrow()
    expect(() => decodeJsonFrame(enc.encode(deep.slice(1)), 'x')).toThrow(DecodeError)
  })
})
