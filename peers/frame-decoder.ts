/**
 * A cost in @libp2p/utils 7's LengthPrefixedDecoder, which Noise (@chainsafe/libp2p-noise 17) runs on
 * every chunk a connection receives: after the last whole frame of a chunk it asks its length decoder
 * for the next length anyway, and the decoder, finding no bytes, throws a new RangeError, which the loop
 * catches as "wait for more". So every chunk received on every connection builds an Error with its
 * stack trace: 8 % of an in-process mesh's CPU at rest (100 peers, probe liveness, 10 s periods).
 *
 * The fix wraps each decoder's length decoder once (on its first chunk): an empty buffer throws one
 * RangeError made in advance (no stack to build), which the loop treats exactly as before; a buffer with
 * bytes goes to the original decoder. Installed once per process by createNode; frames decode as they did
 * (test/peers/frame-decoder.test.ts).
 */
import { LengthPrefixedDecoder } from '@libp2p/utils'

/** Thrown for an empty buffer: made once, so throwing it builds no stack trace. */
const NEED_MORE = new RangeError('no bytes to decode a length from')

/** How many decoders were wrapped (tests). */
export const frameDecoderStats = { wrapped: 0 }

const WRAPPED = Symbol('agora.frameDecoderWrapped')

type LengthDecoder = (data: { byteLength: number }) => number
interface DecoderFields { lengthDecoder: LengthDecoder, [WRAPPED]?: true }

let installed = false

/** Installs the wrapper (idempotent). */
export function fastFrameDecoder (): void {
  if (installed) return
  installed = true
  const proto = LengthPrefixedDecoder.prototype as unknown as { decode: (this: DecoderFields, buf: unknown) => Generator<unknown> }
  const original = proto.decode
  proto.decode = function (this: DecoderFields, buf: unknown): Generator<unknown> {
    if (this[WRAPPED] !== true) {
      const decodeLength = this.lengthDecoder
      this.lengthDecoder = (data) => {
        if (data.byteLength === 0) throw NEED_MORE
        return decodeLength(data)
      }
      this[WRAPPED] = true
      frameDecoderStats.wrapped++
    }
    return original.call(this, buf)
  }
}
