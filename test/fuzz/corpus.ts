/**
 * The corpus of malformed frames: test/fixtures/malformed/<protocol>/cases.json, one file per wire
 * protocol of peers/PROTOCOL.md (and per thing carried inside Raft entries), each a list of cases
 * `{ name, category, hex, layer?, decoder?, why }`. `layer: "stream"` cases are raw bytes sent on a fresh
 * stream (a bad length prefix); the others are one frame's content (sent length-prefixed on a stream, or
 * as a gossip message). `decoder` picks the decoder where a protocol has more than one (a response, a
 * reply, the parts of a Raft entry). Fixed data: add cases, never regenerate them.
 */
import { readFileSync, readdirSync } from 'node:fs'

/** What every protocol's corpus holds (or says why it cannot). */
export const CATEGORIES = ['truncated', 'oversized length prefix', 'wrong version byte', 'trailing bytes', 'wrong type tags', 'invalid UTF-8', 'lone surrogates in strings', '__proto__ keys in JSON', 'huge varints'] as const

/** One protocol's corpus file. */
export interface Corpus {
  protocol: string
  wire: string
  decoder: string
  /** Stream protocols: the protocol's frame limit. */
  maxFrameBytes?: number
  notApplicable: Record<string, string>
  cases: Array<{ name: string, category: string, hex: string, layer?: 'stream', decoder?: string, why: string }>
}

const root = new URL('../fixtures/malformed/', import.meta.url)

/** Every corpus, by protocol. */
export function loadCorpora (): Corpus[] {
  return readdirSync(root, { withFileTypes: true }).filter(d => d.isDirectory()).map(d => d.name).sort().map(p => JSON.parse(readFileSync(new URL(`${p}/cases.json`, root), 'utf8')) as Corpus)
}

export const bytesOf = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex, 'hex'))
