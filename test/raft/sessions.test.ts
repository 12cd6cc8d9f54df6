/**
 * The replicated-application contract (protocols/raft/application.ts, sessions.ts, envelope.ts): each
 * (clientId, seq) applies at most once, retries are answered from the session table, the table travels
 * in snapshots, and malformed entries are skipped alike on every replica.
 */
import { describe, expect, it } from 'vitest'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { FORGOTTEN, Replica, type AppliedCommand, type StateMachine } from '../../protocols/raft/application.js'
import { decodeEnvelope, encodeEnvelope, signedPayload } from '../../protocols/raft/envelope.js'
import { jsonLength, SessionTable } from '../../protocols/raft/sessions.js'
import fc from 'fast-check'
import { assertProperty } from '../helpers/seed.js'
import type { Entry } from '../../protocols/raft/types.js'
import { MeshApplication } from '../../protocols/mesh/application.js'
import { Net } from './network.js'
import { simSign, simVerify } from '../../sim/signatures.js'

const enc = new TextEncoder()
const dec = new TextDecoder()

/** A counter state machine: every applied command adds its number. */
class Counter implements StateMachine {
  total = 0
  apply (command: Uint8Array): unknown { this.total += Number(dec.decode(command)); return this.total }
  snapshot (): Uint8Array { return enc.encode(String(this.total)) }
  restore (data: Uint8Array): void { this.total = Number(dec.decode(data)) }
}

const entry = (index: number, clientId: string, seq: number, n: number, at = 0): Entry =>
  ({ index, term: 1, type: 'normal', data: encodeEnvelope({ clientId, seq, at, command: enc.encode(String(n)) }) })

const applied = (r: Replica, e: Entry): AppliedCommand => {
  const out = r.applyEntry(e)
  if (typeof out === 'string') throw new Error(`entry ${e.index} carried no command (${out})`)
  return out
}

describe('the session table and the Replica', () => {
  it('a retried command is applied once and answered from the table; out-of-order seqs each apply once', () => {
    const c = new Counter()
    const r = new Replica(c)
    expect(applied(r, entry(1, 'p/a', 1, 5))).toMatchObject({ duplicate: false, result: 5 })
    expect(applied(r, entry(2, 'p/a', 1, 5))).toMatchObject({ duplicate: true, result: 5 })
    expect(applied(r, entry(3, 'p/a', 3, 100))).toMatchObject({ duplicate: false, result: 105 })
    expect(applied(r, entry(4, 'p/a', 2, 10))).toMatchObject({ duplicate: false, result: 115 })
    expect(applied(r, entry(5, 'p/a', 3, 100))).toMatchObject({ duplicate: true, result: 105 })
    expect(c.total).toBe(115)
    expect(r.stats).toMatchObject({ applied: 3, duplicates: 2 })
  })

  it('a retry older than the window is not applied again and its outcome is unknown', () => {
    const c = new Counter()
    const r = new Replica(c, new SessionTable(10, 2))
    for (let s = 1; s <= 4; s++) applied(r, entry(s, 'p/a', s, 1))
    expect(applied(r, entry(5, 'p/a', 1, 1))).toMatchObject({ duplicate: true, result: FORGOTTEN })
    expect(applied(r, entry(6, 'p/a', 4, 1))).toMatchObject({ duplicate: true, result: 4 })
    expect(c.total).toBe(4)
  })

  it('a window that turned over many times forgets in applied order (out-of-order seqs too), and snapshots keep that order', () => {
    const t = new SessionTable(10, 64)
    // Seqs applied out of order: the oldest *applied* goes first, whatever its seq.
    const order: number[] = []
    for (let k = 0; k < 5000; k++) order.push(k % 2 === 0 ? k + 2 : k)
    for (const seq of order) t.record('p/a', seq, seq)
    const kept = order.slice(-64)
    for (const seq of kept) expect(t.check('p/a', seq)).toEqual({ status: 'duplicate', result: seq })
    expect(t.check('p/a', order[order.length - 65]!).status).toBe('forgotten')
    // Written oldest first, and read back to the same table (and the same next eviction).
    const e = encoding.createEncoder()
    t.write(e)
    const t2 = new SessionTable(10, 64)
    t2.read(decoding.createDecoder(encoding.toUint8Array(e)))
    t.record('p/a', 10_000, 0)
    t2.record('p/a', 10_000, 0)
    for (const seq of [...kept, 10_000]) expect(t2.check('p/a', seq)).toEqual(t.check('p/a', seq))
    expect(t2.check('p/a', kept[0]!).status).toBe('forgotten')
    expect(t2.resultChars).toBe(t.resultChars)
    // A table listing one seq twice is not one write() produces.
    const bad = encoding.createEncoder()
    encoding.writeVarUint(bad, 1)
    encoding.writeVarString(bad, 'p/a')
    encoding.writeVarUint(bad, 0)
    encoding.writeVarUint(bad, 2)
    for (let k = 0; k < 2; k++) { encoding.writeVarUint(bad, 7); encoding.writeVarString(bad, '1') }
    expect(() => new SessionTable().read(decoding.createDecoder(encoding.toUint8Array(bad)))).toThrow(expect.objectContaining({ code: 'ERR_DECODE' }))
  })

  it('a result\'s size is its JSON text\'s length, counted without writing it (any code units, nesting, skipped members)', () => {
    const units = fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 12 }).map(cs => String.fromCharCode(...cs))
    const value = fc.letrec(tie => ({
      v: fc.oneof({ depthSize: 'small' }, fc.constant(null), fc.boolean(), fc.double(), fc.integer(), units, fc.constant(undefined), fc.constant(-0),
        fc.array(tie('v'), { maxLength: 4 }), fc.dictionary(units, tie('v'), { maxKeys: 4 }), fc.constant(new Date(0)), fc.constant([1, [2, [3, [4, [5, [6, [7, [8, [9]]]]]]]]]))
    })).v
    assertProperty(fc.property(value, (v) => {
      const n = jsonLength(v ?? null, 1_000_000)
      if (n >= 0) expect(n).toBe(JSON.stringify(v ?? null).length)
    }), { numRuns: 2000 })
    expect(jsonLength({ ok: true, value: '"1"' })).toBe(JSON.stringify({ ok: true, value: '"1"' }).length)
    expect(jsonLength({ toJSON: () => 1 })).toBe(-1)
    expect(jsonLength('x'.repeat(2000))).toBe(2002)
    expect(jsonLength(['x'.repeat(2000)])).toBe(-1) // beyond the budget
  })

  it('one origin making up sessions evicts its own, not another peer\'s', () => {
    const t = new SessionTable(100, 16, { sessionsPerOriginMax: 3 })
    t.record('victim/a', 1, 'v')
    for (let k = 0; k < 50; k++) t.record(`mallory/${k}`, 1, k)
    expect(t.check('victim/a', 1)).toEqual({ status: 'duplicate', result: 'v' })
    expect(t.size).toBe(4)
    expect(t.check('mallory/49', 1)).toMatchObject({ status: 'duplicate' })
    expect(t.check('mallory/0', 1)).toEqual({ status: 'new' })
  })

  it('large results are cached as a summary, and all cached results stay under their total', () => {
    const t = new SessionTable(100, 16, { resultCharsTotalMax: 5000 })
    const big = { ok: false, code: 'ERR_X', value: 'y'.repeat(10_000) }
    t.record('p/a', 1, big)
    expect(t.check('p/a', 1)).toEqual({ status: 'duplicate', result: { truncated: true, ok: false, code: 'ERR_X' } })
    for (let k = 0; k < 20; k++) t.record(`q${k}/s`, 1, 'z'.repeat(500))
    expect(t.resultChars).toBeLessThanOrEqual(5000)
    expect(t.check('q19/s', 1)).toMatchObject({ status: 'duplicate' })
    expect(t.check('p/a', 1)).toEqual({ status: 'new' })
    // The bookkeeping survives a snapshot: a restored table makes the same decisions.
    const e = encoding.createEncoder()
    t.write(e)
    const back = new SessionTable(100, 16, { resultCharsTotalMax: 5000 })
    back.read(decoding.createDecoder(encoding.toUint8Array(e)))
    expect(back.resultChars).toBe(t.resultChars)
    expect(back.size).toBe(t.size)
  })

  it('the origin is the client id before "/", the stamp is the envelope\'s', () => {
    const seen: Array<{ origin: string, at: number }> = []
    const r = new Replica({ apply: (_c, _i, meta) => { seen.push(meta); return null }, snapshot: () => new Uint8Array(0), restore: () => {} })
    applied(r, entry(1, 'peerA/x/y', 1, 0, 1234))
    applied(r, entry(2, 'noslash', 1, 0, 7))
    expect(seen).toEqual([{ origin: 'peerA', at: 1234, signed: false }, { origin: '', at: 7, signed: false }])
  })

  it('skips empty, foreign and malformed entries without touching the state machine', () => {
    const c = new Counter()
    const r = new Replica(c)
    expect(r.applyEntry({ index: 1, term: 1, type: 'normal', data: new Uint8Array(0) })).toBe('empty')
    expect(r.applyEntry({ index: 2, term: 1, type: 'normal', data: enc.encode('x') })).toBe('foreign')
    expect(r.applyEntry({ index: 3, term: 1, type: 'normal', data: new Uint8Array([2, 200]) })).toBe('malformed')
    expect(c.total).toBe(0)
    expect(r.stats.malformed).toBe(1)
  })

  it('the envelope codec rejects truncated or trailing bytes with DecodeError', () => {
    const good = encodeEnvelope({ clientId: 'p/a', seq: 3, at: 9, command: enc.encode('1') })
    expect(decodeEnvelope(good)).toMatchObject({ clientId: 'p/a', seq: 3, at: 9 })
    for (const bad of [good.subarray(0, good.length - 1), new Uint8Array([...good, 0]), new Uint8Array([9, 1, 2]), new Uint8Array(0)]) {
      expect(() => decodeEnvelope(bad)).toThrow(expect.objectContaining({ code: 'ERR_DECODE' }))
    }
  })

  it('a snapshot carries the sessions: a retry after restore is still a duplicate', () => {
    const r = new Replica(new Counter())
    applied(r, entry(1, 'p/a', 1, 5))
    applied(r, entry(2, 'p/b', 1, 7))
    const r2 = new Replica(new Counter())
    r2.restore(r.snapshot())
    expect(applied(r2, entry(3, 'p/a', 1, 5))).toMatchObject({ duplicate: true, result: 5 })
    expect(applied(r2, entry(4, 'p/a', 2, 1))).toMatchObject({ duplicate: false, result: 13 })
    expect(() => r2.restore(new Uint8Array([5]))).toThrow(expect.objectContaining({ code: 'ERR_DECODE' }))
  })

  it('a command that must be signed by its origin: unsigned or forged, it is refused and takes no session slot', () => {
    const c = new Counter()
    const signedOnly: StateMachine = Object.assign(c, { requiresSignature: (cmd: Uint8Array) => cmd[0] !== 0x30 })
    // The simulator's keyed MAC per origin stands in for Ed25519 here.
    const sig = (origin: string, payload: Uint8Array): Uint8Array => simSign(`${origin}/k`, payload) as Uint8Array
    let verified = 0
    const r = new Replica(signedOnly, undefined, (origin, payload, signature) => { verified++; return simVerify(origin, payload, signature) })
    const cmd = (clientId: string, seq: number, n: number, signature?: Uint8Array): Entry => ({ index: seq, term: 1, type: 'normal', data: encodeEnvelope({ clientId, seq, at: 0, command: enc.encode(String(n)), ...(signature !== undefined ? { signature } : {}) }) })
    const payload = (clientId: string, seq: number, n: number): Uint8Array => signedPayload(clientId, seq, enc.encode(String(n)))
    // A member speaking for victim: unsigned, then with a signature that is not the victim's.
    expect(applied(r, cmd('victim/a', 1, 5))).toMatchObject({ refused: 'signature', result: { code: 'ERR_BAD_SIGNATURE' } })
    expect(applied(r, cmd('victim/a', 1, 5, sig('mallory', payload('victim/a', 1, 5))))).toMatchObject({ refused: 'signature' })
    expect(c.total).toBe(0)
    // The victim's own command with that session and seq still applies: its slot was not taken.
    expect(applied(r, cmd('victim/a', 1, 7, sig('victim', payload('victim/a', 1, 7))))).toMatchObject({ duplicate: false, result: 7 })
    // A signature over another seq does not carry over.
    expect(applied(r, cmd('victim/a', 2, 7, sig('victim', payload('victim/a', 1, 7))))).toMatchObject({ refused: 'signature' })
    expect(r.stats.badSignatures).toBe(3)
    // Commands the machine does not require signed ("0...") are never verified.
    const before = verified
    expect(applied(r, cmd('anyone/x', 1, 0))).toMatchObject({ duplicate: false })
    expect(verified).toBe(before)
  })

  it('the signed payload is the lib0 layout of context, client id, seq and command', () => {
    for (const [id, seq, len] of [['a/b', 1, 0], ['peerÄ/ü', 300, 200], ['x'.repeat(200), 2 ** 40, 20000]] as const) {
      const cmd = new Uint8Array(len).fill(3)
      const e = encoding.createEncoder()
      encoding.writeUint8Array(e, enc.encode('agora-raft-command/1\0'))
      encoding.writeVarString(e, id)
      encoding.writeVarUint(e, seq)
      encoding.writeVarUint8Array(e, cmd)
      expect(signedPayload(id, seq, cmd)).toEqual(encoding.toUint8Array(e))
    }
  })

  it('a duplicate proposed twice through Raft is applied once on every replica', () => {
    const net = new Net([1, 2, 3])
    net.elect(1)
    const cmd = encodeEnvelope({ clientId: 'client-1/x', seq: 1, at: 0, command: enc.encode(JSON.stringify({ op: 'cas', name: 'x', expected: 'null', initial: 'null', value: '"first"' })) })
    net.propose(1, 'noise')
    net.node(1).propose(cmd)
    net.node(2).propose(cmd) // the client retried through another node
    net.stabilize()
    for (const id of [1, 2, 3]) {
      const app = new MeshApplication()
      const r = new Replica(app, undefined, simVerify)
      const outs = net.peer(id).committed.map(e => r.applyEntry(e)).filter((o): o is AppliedCommand => typeof o !== 'string')
      expect(outs.map(o => o.duplicate)).toEqual([false, true])
      expect(outs[1]?.result).toEqual(outs[0]?.result)
      expect(app.strong.get('x')).toBe('"first"')
    }
  })
})
