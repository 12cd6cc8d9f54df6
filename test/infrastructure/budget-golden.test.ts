/**
 * Golden blob of the first mesh snapshot with budgets (v6, test/fixtures/golden/mesh-snapshot-v6-budgets.bin):
 * written by the first version with the budget machine (a signed genesis, two leases, budget `llm.tokens`
 * shared by peerA (capacity 1) and peerB (capacity 3), `gpu:seconds` held by peerB; the task machine
 * pristine, written `{}`). Peers may hold it in their data dirs, so every later version must read it alike.
 */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { MeshApplication, encodeCoordCommand } from '../../protocols/mesh/application.js'

const blob = (name: string): Uint8Array => new Uint8Array(readFileSync(new URL(`../fixtures/golden/${name}`, import.meta.url)))

describe('golden blob of the v6 mesh snapshot (budgets)', () => {
  it('restores it and writes it back byte for byte; the lease hook still re-splits', () => {
    const data = blob('mesh-snapshot-v6-budgets.bin')
    expect(data[0]).toBe(6)
    const app = new MeshApplication()
    app.restore(data)
    expect(app.signaturesRequired).toBe(true)
    expect(app.tasks.isPristine()).toBe(true)
    expect(app.coordination.now).toBe(1600)
    expect(app.tasks.now).toBe(1600)
    expect(app.read('budgets:all')).toBe('["gpu:seconds","llm.tokens"]')
    expect(app.budgets.get('llm.tokens')).toMatchObject({
      ratePerSecond: 100, burst: 20, owner: 'peerA', index: 3, rev: 6, capacity: 4,
      hosts: [{ host: 'peerA', capacity: 1, lease: 1, since: 5, ratePerSecond: 25, burst: 5 }, { host: 'peerB', capacity: 3, lease: 2, since: 6, ratePerSecond: 75, burst: 15 }]
    })
    expect(app.budgets.get('gpu:seconds')).toMatchObject({ ratePerSecond: 0.5, burst: 1, hosts: [{ host: 'peerB', ratePerSecond: 0.5, burst: 1 }] })
    expect(app.invariants()).toEqual([])
    expect(app.snapshot()).toEqual(data)
    // peerA's lease expires in log time: llm.tokens is peerB's alone.
    app.apply(encodeCoordCommand({ t: 'lease.keepalive' }), 8, { origin: 'peerB', at: 3900 })
    app.apply(encodeCoordCommand({ t: 'tick' }), 9, { origin: 'peerB', at: 4001 })
    expect(app.budgets.get('llm.tokens')?.hosts).toMatchObject([{ host: 'peerB', ratePerSecond: 100, burst: 20 }])
  })
})
