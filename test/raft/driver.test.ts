/**
 * The shared driver (protocols/raft/driver.ts) on its own: a single voter on a synchronous scheduler and
 * a storage whose saves the test releases by hand, to pin down the Ready loop's edge cases.
 */
import { describe, expect, it } from 'vitest'
import { MemoryDriverStorage, RaftDriver } from '../../protocols/raft/driver.js'
import { encodeEnvelope } from '../../protocols/raft/envelope.js'
import type { Ready } from '../../protocols/raft/types.js'
import type { StateMachine } from '../../protocols/raft/application.js'
import { createLogger } from '../../src/base/log.js'
import { createRand } from '../../src/base/prng.js'
import { ListApp } from '../helpers/list-app.js'

const enc = new TextEncoder()

/** Memory storage whose saves wait until the test releases them (one at a time, in order). */
class HeldStorage extends MemoryDriverStorage {
  hold = false
  private readonly waiting: Array<() => void> = []
  override save (rd: Ready): void | Promise<void> {
    if (!this.hold) { super.save(rd); return }
    return new Promise((resolve) => { this.waiting.push(() => { super.save(rd); resolve() }) })
  }

  get held (): number { return this.waiting.length }
  release (): void { this.waiting.shift()?.() }
}

function driver (app: StateMachine, storage = new HeldStorage()): { d: RaftDriver, storage: HeldStorage, clock: { t: number } } {
  const clock = { t: 0 }
  const d = new RaftDriver({
    id: 1,
    voters: [1],
    transport: { send: () => {} },
    application: app,
    storage,
    clock: { now: () => clock.t },
    schedule: (fn) => { fn() },
    rand: createRand(1),
    clientId: 'p1/a',
    log: createLogger('silent'),
    options: { electionTick: 2 }
  })
  d.start()
  d.campaign()
  return { d, storage, clock }
}

const settle = async (): Promise<void> => { for (let i = 0; i < 5; i++) await Promise.resolve() }

describe('the driver\'s Ready loop', () => {
  it('a stop during an asynchronous save still applies and advances that Ready: no gap after a restart', async () => {
    const app = new ListApp()
    const { d, storage } = driver(app)
    expect(d.isLeader).toBe(true)
    storage.hold = true
    const one = d.propose(enc.encode('one')).catch((e: { code?: string }) => e.code)
    // The save of the Ready that appends and commits "one" (a single voter commits at once) is held.
    expect(storage.held).toBe(1)
    d.stop()
    expect(await one).toBe('ERR_INDEFINITE')
    storage.release()
    await settle()
    storage.hold = false
    d.start()
    const two = await d.propose(enc.encode('two'))
    expect(app.items).toEqual(['one', 'two'])
    expect(two.index).toBe(d.applied)
  })

  it('a refused forgery under this driver\'s session does not settle its proposal; the real command does', async () => {
    const app = new ListApp()
    const signed: StateMachine = Object.assign(app, { requiresSignature: () => true })
    const storage = new HeldStorage()
    const clock = { t: 0 }
    const d = new RaftDriver({
      id: 1, voters: [1], transport: { send: () => {} }, application: signed, storage,
      clock: { now: () => clock.t }, schedule: (fn) => { fn() }, rand: createRand(1), clientId: 'p1/a',
      log: createLogger('silent'), options: { electionTick: 2 },
      sign: (_c, payload) => new Uint8Array([payload.length & 0xff, 7]),
      verify: (_o, payload, sig) => sig.length === 2 && sig[0] === (payload.length & 0xff) && sig[1] === 7
    })
    d.start()
    d.campaign()
    // A forged, unsigned envelope for this driver's next session key enters the log just before the
    // real proposal, and is applied after the real one is pending.
    storage.hold = true
    const session = d.newSession()
    d.submitRaw(encodeEnvelope({ clientId: session.clientId, seq: session.seq, at: 0, command: enc.encode('forged') }))
    clock.t = 5
    const real = d.propose(enc.encode('real'), session)
    storage.hold = false
    while (storage.held > 0) { storage.release(); await settle() }
    expect(d.stats.badSignatures).toBe(1)
    const r = await real
    expect(r.result).toBe(1)
    expect(app.items).toEqual(['real'])
  })
})
