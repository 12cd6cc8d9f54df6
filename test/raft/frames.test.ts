import { describe, expect, it } from 'vitest'
import { encodeFrames, FrameReader } from '../../peers/raft/frames.js'

function reader (max = 1024): { r: FrameReader, frames: number[][], errors: Error[] } {
  const frames: number[][] = []
  const errors: Error[] = []
  const r = new FrameReader({ maxFrameBytes: max, onFrame: f => frames.push([...f]), onError: e => errors.push(e) })
  return { r, frames, errors }
}

describe('FrameReader', () => {
  const a = new Uint8Array([1, 2, 3])
  const big = new Uint8Array(300).map((_, i) => i & 255)
  const wire = encodeFrames([a, new Uint8Array(0), big])

  it('reads frames whole, in one chunk', () => {
    const { r, frames, errors } = reader()
    r.push(wire)
    expect(frames).toEqual([[1, 2, 3], [], [...big]])
    expect(errors).toEqual([])
  })

  it('reads frames split at every byte (prefixes and bodies across chunks)', () => {
    const { r, frames } = reader()
    for (let i = 0; i < wire.length; i++) r.push(wire.subarray(i, i + 1))
    expect(frames).toEqual([[1, 2, 3], [], [...big]])
  })

  it('refuses a frame over the limit and then reads nothing more', () => {
    const { r, frames, errors } = reader(100)
    r.push(wire)
    expect(frames).toEqual([[1, 2, 3], []])
    expect(errors).toHaveLength(1)
    expect((errors[0] as { code?: string }).code).toBe('ERR_DECODE')
    r.push(encodeFrames([a]))
    expect(frames).toHaveLength(2)
  })

  it('refuses an endless length prefix as soon as it is longer than the limit needs', () => {
    const { r, errors } = reader(1024)
    r.push(new Uint8Array([0x80]))
    expect(errors).toHaveLength(0)
    r.push(new Uint8Array([0x80, 0x80]))
    expect(errors).toHaveLength(1)
  })
})
