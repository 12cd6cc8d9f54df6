/**
 * Fuzzing of the snapshot decoders of the replicated state (what a Raft snapshot from the leader, or
 * the disk, hands a replica): Ledger.restore and Economy.restore (parsed JSON), the strong map, the
 * mesh application (protocols/mesh), the session table and Replica.restore (protocols/raft). Valid
 * inputs are the stored fixtures (a real economy with auctions of every phase, a driver snapshot);
 * hostile ones are their structural and byte mutations. Each decoder throws its named error only, and a
 * failed restore changes nothing.
 *
 * Replay a failure: `AGORA_TEST_SEED=<seed> AGORA_TEST_PATH=<path> npx vitest run test/fuzz/snapshots.test.ts -t '<name>'`.
 */
import { simVerify } from '../../sim/signatures.js'
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { DecodeError } from '../../src/base/errors.js'
import { Ledger } from '../../protocols/ledger/ledger.js'
import { LedgerError } from '../../protocols/ledger/errors.js'
import { Economy } from '../../protocols/market/economy.js'
import { MarketError } from '../../protocols/market/errors.js'
import { MeshApplication, decodeMeshSnapshot, encodeEconCommand } from '../../protocols/mesh/application.js'
import { StrongMapApp } from '../../protocols/variables/strong-map.js'
import { Replica } from '../../protocols/raft/application.js'
import { SessionTable } from '../../protocols/raft/sessions.js'
import { assertProperty } from '../helpers/seed.js'
import { RUNS, expectNamed, hostileBytes, hostileJsonBytes } from './fuzz.js'

const fixture = (p: string): Buffer => readFileSync(new URL(`../${p}`, import.meta.url))
const economyJson = JSON.parse(fixture('market/fixtures/economy-snapshot-v1.json').toString()) as unknown
const ledgerJson = JSON.parse(fixture('ledger/fixtures/ledger-snapshot-v1.json').toString()) as unknown
const driverSnapshot = new Uint8Array(fixture('fixtures/golden/driver-snapshot-v2.bin'))
const dec = new TextDecoder()

/** Parses mutated JSON text the way a snapshot reader would (text that is no longer JSON is skipped: JSON.parse's own error). */
function parsed (b: Uint8Array): { value: unknown } | undefined {
  try { return { value: JSON.parse(dec.decode(b)) } } catch { return undefined }
}

/** A mesh-application snapshot around `econ` (v3, signatures required). */
function meshSnapshot (strong: Uint8Array, econ: string, flags = 1): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeUint8(e, 3)
  encoding.writeVarUint8Array(e, strong)
  encoding.writeVarString(e, econ)
  encoding.writeUint8(e, flags)
  return encoding.toUint8Array(e)
}

const strongText = (pairs: Array<[string, string]>): Uint8Array => new TextEncoder().encode(JSON.stringify(pairs))
const strongArb = fc.array(fc.tuple(fc.stringMatching(/^[a-z]{1,6}$/), fc.jsonValue({ maxDepth: 1 }).map(v => JSON.stringify(v))), { maxLength: 4 })
  .map(pairs => strongText([...new Map(pairs)].sort((a, b) => a[0] < b[0] ? -1 : 1)))

describe('fuzz: economy and ledger snapshots (protocols/market, protocols/ledger)', () => {
  it('the fixtures restore (the valid end of the fuzzing)', () => {
    expect(Economy.restore(economyJson).invariants()).toEqual([])
    expect(Ledger.restore(ledgerJson).invariants()).toEqual([])
  })

  it('Ledger.restore throws LedgerError(ERR_DECODE) only', () => {
    assertProperty(fc.property(hostileJsonBytes(fc.constant(ledgerJson)), (b) => {
      const p = parsed(b)
      if (p !== undefined) expectNamed(() => Ledger.restore(p.value), [LedgerError], ['ERR_DECODE'], b.length)
    }), { numRuns: RUNS })
  })

  it('Economy.restore throws MarketError(ERR_DECODE) only (it threw TypeErrors on malformed owners, auctions and bids)', () => {
    assertProperty(fc.property(hostileJsonBytes(fc.constant(economyJson)), (b) => {
      const p = parsed(b)
      if (p !== undefined) expectNamed(() => Economy.restore(p.value), [MarketError], ['ERR_DECODE'], b.length)
    }), { numRuns: RUNS })
    for (const bad of [{ v: 1, now: 0, config: { authorities: ['a'] }, owners: [1], auctions: [] }, { v: 1, now: 0, config: { authorities: ['a'] }, owners: [], auctions: [null] }]) {
      expect(() => Economy.restore(bad)).toThrow(expect.objectContaining({ name: 'MarketError', code: 'ERR_DECODE' }))
    }
  })
})

describe('fuzz: strong map and mesh application snapshots (protocols/variables, protocols/mesh)', () => {
  it('StrongMapApp.restore throws DecodeError only and a failed restore keeps the map', () => {
    const app = new StrongMapApp()
    app.apply(new TextEncoder().encode(JSON.stringify({ op: 'set', name: 'keep', value: '1' })), 1)
    const before = app.snapshot()
    assertProperty(fc.property(hostileJsonBytes(strongArb.map(b => JSON.parse(dec.decode(b)) as unknown)), (b) => {
      const copy = new StrongMapApp()
      copy.restore(before)
      if (expectNamed(() => copy.restore(b), [DecodeError], ['ERR_DECODE'], b.length) !== undefined) expect(copy.snapshot()).toEqual(before)
    }), { numRuns: RUNS })
    for (const bad of ['5', '"ab"', '[["a"]]', '[[1, 2]]', '[["a","1"],["a","2"]]', '{}']) {
      expect(() => new StrongMapApp().restore(new TextEncoder().encode(bad)), bad).toThrow(DecodeError)
    }
  })

  it('MeshApplication.restore throws DecodeError only and a failed restore changes nothing', () => {
    const valid = fc.tuple(strongArb, fc.constantFrom(JSON.stringify(economyJson), ''), fc.constantFrom(0, 1)).map(([s, e, f]) => meshSnapshot(s, e, f))
    const app = new MeshApplication()
    app.apply(encodeEconCommand({ type: 'economy.genesis', authorities: ['op'], signatures: 'required' }), 1, { origin: 'op', at: 0 })
    const before = app.snapshot()
    assertProperty(fc.property(hostileBytes(valid), (b) => {
      if (expectNamed(() => app.restore(b), [DecodeError], ['ERR_DECODE'], b.length) !== undefined) {
        expect(app.snapshot()).toEqual(before)
      } else app.restore(before)
    }), { numRuns: Math.ceil(RUNS / 2) })
  })

  it('trailing bytes, unknown flags and a malformed economy are refused (they were ignored, or threw TypeError half-way)', () => {
    const good = meshSnapshot(strongText([]), JSON.stringify(economyJson))
    expect(decodeMeshSnapshot(good).signaturesRequired).toBe(true)
    for (const b of [new Uint8Array([...good, 0]), meshSnapshot(strongText([]), '', 2), meshSnapshot(strongText([]), '{"v":1}'), meshSnapshot(strongText([]), 'not json'), meshSnapshot(new TextEncoder().encode('[[1]]'), '')]) {
      expect(() => decodeMeshSnapshot(b)).toThrow(DecodeError)
    }
  })
})

describe('fuzz: session table and Replica.restore (protocols/raft)', () => {
  it('SessionTable.read throws DecodeError only, refuses counts beyond its bounds before looping, and a failed read keeps the table', () => {
    const t = new SessionTable(4, 8)
    t.record('a/1', 1, { ok: true })
    const e = encoding.createEncoder()
    t.write(e)
    const written = encoding.toUint8Array(e)
    assertProperty(fc.property(hostileBytes(fc.constant(written)), (b) => {
      const copy = new SessionTable(4, 8)
      copy.read(decoding.createDecoder(written))
      if (expectNamed(() => copy.read(decoding.createDecoder(b)), [DecodeError], ['ERR_DECODE'], b.length) !== undefined) {
        expect(copy.check('a/1', 1)).toEqual({ status: 'duplicate', result: { ok: true } })
      }
    }), { numRuns: RUNS })
    expect(() => new SessionTable(4, 8).read(decoding.createDecoder(Uint8Array.from([5])))).toThrow(DecodeError)
  })

  it('Replica.restore throws DecodeError only; a failed restore changes neither sessions nor state (it replaced the sessions first)', () => {
    const replica = new Replica(new MeshApplication(), undefined, simVerify)
    replica.restore(driverSnapshot)
    const before = replica.snapshot()
    assertProperty(fc.property(hostileBytes(fc.constant(driverSnapshot)), (b) => {
      if (expectNamed(() => replica.restore(b), [DecodeError], ['ERR_DECODE'], b.length) !== undefined) {
        expect(replica.snapshot()).toEqual(before)
      } else replica.restore(before)
    }), { numRuns: Math.ceil(RUNS / 2) })
  })
})
