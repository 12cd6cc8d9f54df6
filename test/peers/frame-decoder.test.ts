/**
 * peers/frame-decoder.ts: Noise's length-prefixed frame decoder, wrapped so that an emptied buffer costs
 * no new Error, decodes exactly as before: several frames in one chunk, a frame split across chunks, a
 * length prefix split across chunks, an oversized length refused; and a peer's libp2p logger is off
 * unless DEBUG is set (peers/libp2p-logger.ts).
 */
import { describe, expect, it } from 'vitest'
import { LengthPrefixedDecoder } from '@libp2p/utils'
import { fastFrameDecoder, frameDecoderStats } from '../../peers/frame-decoder.js'
import { libp2pLogger, silentComponentLogger } from '../../peers/libp2p-logger.js'

/** Noise's length decoder (2 bytes, big endian), which throws a RangeError when bytes are missing. */
interface Bytes { length: number, getUint16: (offset: number) => number }
const uint16 = (data: Bytes): number => {
  if (data.length < 2) throw new RangeError('Could not decode int16BE')
  return data.getUint16(0)
}
const frame = (...bytes: number[]): number[] => [bytes.length >> 8, bytes.length & 0xff, ...bytes]
const decoder = (): LengthPrefixedDecoder => new LengthPrefixedDecoder({ lengthDecoder: uint16 as never, encodingLength: () => 2, maxDataLength: 16 })
const all = (d: LengthPrefixedDecoder, chunk: number[]): number[][] => [...d.decode(Uint8Array.from(chunk))].map(b => [...(b as unknown as { subarray: () => Uint8Array }).subarray()])

describe('the frame decoder', () => {
  it('decodes as before once wrapped: frames in one chunk, split frames, a split length; nothing for an empty buffer', () => {
    fastFrameDecoder()
    fastFrameDecoder()
    const before = frameDecoderStats.wrapped
    const d = decoder()
    expect(all(d, [...frame(1, 2, 3), ...frame(4), ...frame()])).toEqual([[1, 2, 3], [4]])
    expect(frameDecoderStats.wrapped).toBe(before + 1)
    // A frame across three chunks, its length prefix cut after one byte.
    expect(all(d, [0])).toEqual([])
    expect(all(d, [3, 7])).toEqual([])
    expect(all(d, [8, 9, ...frame(5)])).toEqual([[7, 8, 9], [5]])
    // The wrapped length decoder throws one RangeError made in advance for an empty buffer.
    const inner = (d as unknown as { lengthDecoder: (b: { byteLength: number }) => number }).lengthDecoder
    const errs = [0, 1].map(() => { try { inner({ byteLength: 0 }); return undefined } catch (err) { return err } })
    expect(errs[0]).toBeInstanceOf(RangeError)
    expect(errs[0]).toBe(errs[1])
    // A length over the limit is still refused.
    expect(() => all(decoder(), frame(...new Array<number>(17).fill(1)))).toThrow(expect.objectContaining({ name: 'InvalidMessageLengthError' }) as Error)
  })

  it('gives libp2p a logger that is off unless DEBUG is set', () => {
    expect(libp2pLogger({})).toBe(silentComponentLogger)
    expect(libp2pLogger({ DEBUG: '' })).toBe(silentComponentLogger)
    expect(libp2pLogger({ DEBUG: 'libp2p:*' })).toBeUndefined()
    const log = silentComponentLogger.forComponent('libp2p:test')
    expect(log.enabled).toBe(false)
    expect(() => { log('x %s', 1); log.error('e'); log.trace('t') }).not.toThrow()
    expect(log.newScope('sub').enabled).toBe(false)
  })
})
