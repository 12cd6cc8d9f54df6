/**
 * Golden blobs (test/fixtures/golden) written by the driver before the shared-driver redesign: command
 * envelopes v1 and v2 and the driver's snapshots (sessions + mesh application, and a pre-economy one);
 * the first mesh snapshot with coordination state (v4), and the first with tasks (v5).
 * Peers may hold them in their logs and data dirs, so every later version must read them alike.
 */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import * as decoding from 'lib0/decoding'
import { decodeEnvelope, encodeEnvelope, originOf } from '../../protocols/raft/envelope.js'
import { Replica } from '../../protocols/raft/application.js'
import { MeshApplication } from '../../protocols/mesh/application.js'
import { simVerify } from '../../sim/signatures.js'

const blob = (name: string): Uint8Array => new Uint8Array(readFileSync(new URL(`../fixtures/golden/${name}`, import.meta.url)))
const dec = new TextDecoder()

describe('golden blobs of the envelope and the snapshots', () => {
  it('decodes a v1 envelope (no clock stamp) and a v2 envelope', () => {
    const v1 = decodeEnvelope(blob('envelope-v1.bin'))
    expect(v1).toMatchObject({ clientId: 'peerA/0011223344556677', seq: 7, at: 0 })
    expect(JSON.parse(dec.decode(v1.command))).toEqual({ op: 'set', name: 'gpu.price', value: '12' })
    const v2 = decodeEnvelope(blob('envelope-v2.bin'))
    expect(v2).toMatchObject({ clientId: 'peerA/0011223344556677', seq: 8, at: 1733000000123 })
    expect(v2.command[0]).toBe(0x01)
    expect(JSON.parse(dec.decode(v2.command.subarray(1)))).toMatchObject({ type: 'mint', account: 'alice', amount: 50 })
    expect(originOf(v2.clientId)).toBe('peerA')
    // What is written today is byte-identical to the stored v2 envelope.
    expect(encodeEnvelope(v2)).toEqual(blob('envelope-v2.bin'))
  })

  it('restores a mesh snapshot (sessions, strong variables, economy) and writes it back byte for byte', () => {
    const data = blob('driver-snapshot-v2.bin')
    const app = new MeshApplication()
    const r = new Replica(app, undefined, simVerify)
    r.restore(data)
    expect(app.strong.get('gpu.price')).toBe('15')
    expect(app.economy?.supply()).toMatchObject({ minted: 50, total: 50 })
    expect(app.economy?.account('alice')).toMatchObject({ free: 50, owner: 'peerA' })
    expect(r.sessions.size).toBe(1)
    // The genesis, set, cas, mint and the refused transfer were seqs 1..5 of one session: a retry of
    // seq 3 (the cas) is answered from the table, not applied again.
    const seen = r.sessions.check(firstSessionId(data), 3)
    expect(seen).toEqual({ status: 'duplicate', result: { ok: true, value: '15' } })
    expect(r.snapshot()).toEqual(data)
  })

  it('a group whose genesis requires signatures writes v3 (with the flag) and restores it; older groups stay v2', () => {
    const app = new MeshApplication(undefined, { genesis: { authorities: ['peerA'], signatures: 'required' } })
    const bytes = app.snapshot()
    expect(bytes[0]).toBe(3)
    const back = new MeshApplication()
    back.restore(bytes)
    expect(back.signaturesRequired).toBe(true)
    expect(back.requiresSignature(new Uint8Array([1, 0x7b, 0x7d]))).toBe(true)
    expect(back.requiresSignature(new TextEncoder().encode('{"op":"set"}'))).toBe(false)
    const old = new MeshApplication()
    new Replica(old, undefined, simVerify).restore(blob('driver-snapshot-v2.bin'))
    expect(old.signaturesRequired).toBe(false)
    expect(old.snapshot()[0]).toBe(2)
  })

  it('a signed command travels as v3 and decodes with its signature', () => {
    const env = { clientId: 'peerA/x', seq: 2, at: 5, command: new Uint8Array([1, 2]), signature: new Uint8Array(64).fill(7) }
    const bytes = encodeEnvelope(env)
    expect(bytes[0]).toBe(3)
    expect(decodeEnvelope(bytes)).toEqual(env)
    expect(() => decodeEnvelope(encodeEnvelope({ ...env, signature: new Uint8Array(200) }))).toThrow(expect.objectContaining({ code: 'ERR_DECODE' }))
  })

  it('restores a v4 snapshot with coordination state and writes it back byte for byte', () => {
    // Written by the first version with coordination: two leases, a held lock with a waiter, an election,
    // a barrier arrival and an open vote with one ballot.
    const data = blob('mesh-snapshot-v4-coordination.bin')
    expect(data[0]).toBe(4)
    const app = new MeshApplication()
    app.restore(data)
    expect(app.signaturesRequired).toBe(true)
    const m = app.coordination
    expect(m.now).toBe(1000)
    expect(m.lock('lock', 'job')).toMatchObject({ holders: [{ owner: 'peerA', token: 3, lease: 1 }], waiters: [{ owner: 'peerB', ticket: 4, deadline: 4000 }] })
    expect(m.lock('election', 'team')?.holders[0]).toMatchObject({ owner: 'peerA', value: { shard: 3 } })
    expect(m.barrier('phase')).toMatchObject({ generation: 1, arrived: ['w1'], deadline: 5000 })
    expect(m.vote(7)).toMatchObject({ ballots: [{ agent: 'v1', choice: 'y' }], deadline: 3000 })
    expect(m.nextDeadline()).toBe(3000)
    expect(app.snapshot()).toEqual(data)
  })

  it('restores a v5 snapshot with tasks and writes it back byte for byte', () => {
    // Written by the first version with tasks: a completed task whose reward was paid, one acked under a
    // lease after a failed first attempt, one submitted with its reward in escrow, one cancelled.
    const data = blob('mesh-snapshot-v5-tasks.bin')
    expect(data[0]).toBe(5)
    const app = new MeshApplication()
    app.restore(data)
    expect(app.signaturesRequired).toBe(true)
    const t = app.tasks
    expect(t.now).toBe(1600)
    expect(app.read('tasks:all')).toBe('[4,7,13,14]')
    expect(t.get(4)).toMatchObject({ state: 'completed', result: '{"sum":3}', agent: 'w1', reward: 10 })
    expect(t.get(7)).toMatchObject({ state: 'assigned', key: 'job-7', attempts: 2, history: [{ end: 'failed', error: 'oom' }, { agent: 'w1', lease: 3, progress: 0.5, note: 'half', deadline: 22_400 }] })
    expect(t.get(13)).toMatchObject({ state: 'submitted', target: { agent: 'w1' }, allocation: 'round-robin', reward: 20, assignableBy: 3600 })
    expect(t.get(14)).toMatchObject({ state: 'cancelled', target: { query: { capability: 'gpu' } } })
    expect(t.liveTasksOf('w1')).toBe(1)
    expect(t.nextDeadline()).toBe(22_400)
    expect(app.coordination.lease(3)).toMatchObject({ owner: 'peerH' })
    expect(app.economy?.account('alice')).toMatchObject({ free: 70, escrow: 20 })
    expect(app.economy?.account('w1')).toMatchObject({ free: 60 })
    expect(app.invariants()).toEqual([])
    expect(app.snapshot()).toEqual(data)
    // The lease's end still reaches the restored task (the hooks are wired to the new machines).
    app.apply(new Uint8Array([0x02, ...new TextEncoder().encode('{"t":"lease.revoke","lease":3}')]), 14, { origin: 'peerH', at: 1700 })
    expect(app.tasks.get(7)?.state).toBe('submitted')
  })

  it('writes the older versions byte for byte while no task was submitted; v5 with pristine coordination', () => {
    const app = new MeshApplication()
    new Replica(app, undefined, simVerify).restore(blob('driver-snapshot-v2.bin'))
    app.apply(new TextEncoder().encode('{"op":"set","name":"x","value":"1"}'), 100, { origin: 'peerA', at: 0 })
    expect(app.snapshot()[0]).toBe(2)
    const v4 = new MeshApplication()
    v4.restore(blob('mesh-snapshot-v4-coordination.bin'))
    expect(v4.snapshot()).toEqual(blob('mesh-snapshot-v4-coordination.bin'))
    // Every stamp 0: the coordination machine is pristine, written as {} beside the tasks.
    const fresh = new MeshApplication()
    fresh.apply(new Uint8Array([0x03, ...new TextEncoder().encode('{"t":"task.submit","target":{"capability":"c"},"payload":"1"}')]), 1, { origin: 'peerS', at: 0 })
    const bytes = fresh.snapshot()
    expect(bytes[0]).toBe(5)
    const back = new MeshApplication()
    back.restore(bytes)
    expect(back.coordination.isPristine()).toBe(true)
    expect(back.tasks.get(1)).toMatchObject({ state: 'submitted', origin: 'peerS' })
    expect(back.snapshot()).toEqual(bytes)
  })

  it('restores a snapshot taken before the economy existed', () => {
    const app = new MeshApplication()
    const r = new Replica(app, undefined, simVerify)
    r.restore(blob('driver-snapshot-pre-economy.bin'))
    expect(app.strong.get('team.size')).toBe('3')
    expect(app.economy).toBeUndefined()
    expect(r.sessions.check('peerB/aa', 1)).toEqual({ status: 'duplicate', result: { ok: true, value: '3' } })
  })
})

/** The first session id written at the start of a snapshot (varUint count, then varString id). */
function firstSessionId (data: Uint8Array): string {
  const d = decoding.createDecoder(data)
  decoding.readVarUint(d)
  return decoding.readVarString(d)
}
