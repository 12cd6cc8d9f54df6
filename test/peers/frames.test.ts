/** Anti-entropy frames: chunked blobs are reassembled within a bound; past it they fail the stream, or are skipped unbuffered. */
import { describe, expect, it } from 'vitest'
import { BlobAssembler, FRAME_CHUNK_END, blobFrames } from '../../peers/sync/anti-entropy/frames.js'

const FRAME = 1024

function feed (a: BlobAssembler, blobs: Uint8Array[]): Uint8Array[] {
  const out: Uint8Array[] = []
  for (const b of blobs) for (const f of blobFrames(b, FRAME)) { const r = a.push(f); if (r !== undefined) out.push(r) }
  return out
}

describe('BlobAssembler', () => {
  it('reassembles chunked blobs and passes small ones whole', () => {
    const big = new Uint8Array(5000).map((_, i) => i % 251)
    const small = new Uint8Array([1, 2, 3])
    expect(feed(new BlobAssembler(10_000), [big, small, big])).toEqual([big, small, big])
  })

  it('a chunked blob over the bound fails without onOversized', () => {
    expect(() => feed(new BlobAssembler(3000), [new Uint8Array(5000)])).toThrow(expect.objectContaining({ code: 'ERR_LIMIT_EXCEEDED' }))
  })

  it('with onOversized, a blob over the bound is skipped as it streams (reported once at its end) and the next blobs still arrive', () => {
    let skipped = 0
    const a = new BlobAssembler(3000, () => { skipped++ })
    const over = new Uint8Array(50_000).fill(7)
    const ok = new Uint8Array(2500).fill(9)
    const frames = [...blobFrames(over, FRAME)]
    // Mid-blob, nothing is kept past the bound.
    for (const f of frames.slice(0, -1)) expect(a.push(f)).toBeUndefined()
    expect(a.midBlob).toBe(true)
    expect(skipped).toBe(0)
    expect(frames.at(-1)![0]).toBe(FRAME_CHUNK_END)
    expect(a.push(frames.at(-1)!)).toBeUndefined()
    expect(skipped).toBe(1)
    expect(a.midBlob).toBe(false)
    expect(feed(a, [ok, over, ok])).toEqual([ok, ok])
    expect(skipped).toBe(2)
  })

  it('lays a prefix out before each reassembled blob, and keeps owned whole-buffer chunks without copying them', () => {
    const prefix = new Uint8Array([9, 8, 7])
    const big = new Uint8Array(5000).map((_, i) => i % 253)
    const a = new BlobAssembler(10_000, undefined, prefix)
    const frames = [...blobFrames(big, FRAME)]
    let out: Uint8Array | undefined
    for (const f of frames) out = a.push(f, true) ?? out
    expect(out).toEqual(big)
    expect(new Uint8Array(out!.buffer, out!.byteOffset - prefix.length, prefix.length)).toEqual(prefix)
    // Owned frames that are their whole buffer are kept as views until the blob ends (then copied into it
    // once): writing to a frame after its blob ended changes nothing.
    frames[0]!.fill(0)
    expect(out).toEqual(big)
  })

  it('copies a chunk that is not handed over, or that is a view of a larger buffer', () => {
    const big = new Uint8Array(3000).map((_, i) => i % 251)
    for (const [owned, view] of [[false, false], [true, true]] as const) {
      const a = new BlobAssembler(10_000)
      const frames = [...blobFrames(big, FRAME)].map(f => {
        if (!view) return f
        // The frame inside a larger buffer (as a chunk of a socket read would be).
        const host = new Uint8Array(f.length + 100)
        host.set(f, 50)
        return host.subarray(50, 50 + f.length)
      })
      const first = frames[0]!
      expect(a.push(first, owned)).toBeUndefined()
      // The sender's (or the transport's) buffer changes after the push: the blob keeps what was pushed.
      first.fill(0, 1)
      let out: Uint8Array | undefined
      for (const f of frames.slice(1)) out = a.push(f, owned) ?? out
      expect(out, `owned ${owned}, view ${view}`).toEqual(big)
    }
  })
})
