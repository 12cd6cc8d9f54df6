/** A fixed-size bitset over operation ids, with a hash for the checker's memo table. */
export class Bitset {
  readonly words: Uint32Array

  constructor (size: number, words?: Uint32Array) {
    this.words = words ?? new Uint32Array(Math.max(1, Math.ceil(size / 32)))
  }

  set (i: number): void {
    const w = i >>> 5
    this.words[w] = ((this.words[w] ?? 0) | (1 << (i & 31))) >>> 0
  }

  clear (i: number): void {
    const w = i >>> 5
    this.words[w] = ((this.words[w] ?? 0) & ~(1 << (i & 31))) >>> 0
  }

  clone (): Bitset {
    return new Bitset(0, this.words.slice())
  }

  equals (other: Bitset): boolean {
    const a = this.words
    const b = other.words
    if (a.length !== b.length) return false
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
    return true
  }

  /** FNV-1a over the words. */
  hash (): number {
    let h = 0x811c9dc5
    const w = this.words
    for (let i = 0; i < w.length; i++) {
      h = Math.imul(h ^ (w[i] as number), 0x01000193)
    }
    return h >>> 0
  }
}
