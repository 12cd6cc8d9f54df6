/**
 * The shared driver (protocols/raft/driver.ts) on its own: a single voter on a synchronous scheduler and
 * a storage whose saves the test releases by hand, to pin down the Ready loop's edge cases.
 */
import { describe, expect, it } from 'vitest'
import { APPLY_DRAIN_MAX, MemoryDriverStorage, RaftDriver, type RaftDriverOptions } from '../../protocols/raft/driver.js'
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

function driver (app: StateMachine, storage = new HeldStorage(), options: RaftDriverOptions = {}): { d: RaftDriver, storage: HeldStorage, clock: { t: number } } {
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
    options: { electionTick: 2, ...options }
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

describe('compaction', () => {
  it('a log of large entries is compacted by bytes, long before the entry count', async () => {
    const app = new ListApp()
    const d = new RaftDriver({
      id: 1, voters: [1], transport: { send: () => {} }, application: app, clock: { now: () => 0 }, schedule: (fn) => { fn() },
      rand: createRand(1), clientId: 'p1/a', log: createLogger('silent'), options: { electionTick: 2, snapshotEntries: 1_000_000, snapshotLogBytes: 1000 }
    })
    d.start()
    d.campaign()
    for (let i = 0; i < 3; i++) await d.propose(enc.encode('x'.repeat(300)))
    expect(d.stats.snapshots).toBe(0)
    await d.propose(enc.encode('x'.repeat(300)))
    expect(d.stats.snapshots).toBe(1)
    expect(d.memory.firstIndex()).toBe(d.applied + 1)
  })
})

describe('proposals covered by a snapshot', () => {
  it('a follower that installs a snapshot settles its pending proposal from the session table it brought', async () => {
    const apps = [new ListApp(), new ListApp(), new ListApp()]
    let cut = false
    const queue: Array<import('../../protocols/raft/types.js').Message> = []
    const drivers: RaftDriver[] = []
    const deliver = (): void => {
      for (let n = 0; n < 10_000 && queue.length > 0; n++) {
        const m = queue.shift()!
        if (cut && (m.to === 3 || m.from === 3)) continue
        drivers[m.to - 1]!.receive(m)
      }
    }
    for (let id = 1; id <= 3; id++) {
      drivers.push(new RaftDriver({
        id, voters: [1, 2, 3], transport: { send: (ms) => { queue.push(...ms) } }, application: apps[id - 1]!,
        createApplication: () => new ListApp(), clock: { now: () => 0 }, schedule: (fn) => { fn() },
        rand: createRand(id), clientId: `p${id}/a`, log: createLogger('silent'), options: { electionTick: 5 }
      }))
    }
    for (const d of drivers) d.start()
    drivers[0]!.campaign()
    deliver()
    expect(drivers[0]!.isLeader).toBe(true)
    // Node 3 proposes (forwarded to the leader), then is cut off before it hears the commit.
    let outcome: unknown = 'pending'
    void drivers[2]!.propose(enc.encode('from-3')).then((r) => { outcome = r }, (e: Error) => { outcome = e })
    queue.splice(0).filter(m => m.from === 3).forEach(m => drivers[0]!.receive(m))
    cut = true
    deliver()
    for (let i = 0; i < 5; i++) { const p = drivers[0]!.propose(enc.encode(`x${i}`)); deliver(); await p }
    expect(apps[0]!.items).toContain('from-3')
    expect(apps[2]!.items).not.toContain('from-3')
    // The leader compacts past it; node 3 comes back and catches up by snapshot.
    drivers[0]!.compact(drivers[0]!.applied, drivers[0]!.node.confState())
    cut = false
    for (let i = 0; i < 20 && drivers[2]!.applied < drivers[0]!.applied; i++) { drivers[0]!.heartbeat(); deliver() }
    expect(drivers[2]!.stats.snapshotsInstalled).toBe(1)
    await settle()
    expect(outcome).toMatchObject({ result: 1 })
  })
})

describe('a follower\'s proposal lost on its way to the leader', () => {
  /** Three voters on a hand-delivered network that loses the first `lose` proposals node 3 forwards. */
  function group (options: { proposalResendMs?: number }, lose: number): { drivers: RaftDriver[], apps: ListApp[], clock: { t: number }, deliver: () => void, lost: () => number } {
    const apps = [new ListApp(), new ListApp(), new ListApp()]
    const clock = { t: 0 }
    const queue: Array<import('../../protocols/raft/types.js').Message> = []
    const drivers: RaftDriver[] = []
    let lost = 0
    const deliver = (): void => {
      for (let n = 0; n < 10_000 && queue.length > 0; n++) {
        const m = queue.shift()!
        if (m.type === 'propose' && m.from === 3 && lost < lose) { lost++; continue }
        drivers[m.to - 1]!.receive(m)
      }
    }
    for (let id = 1; id <= 3; id++) {
      drivers.push(new RaftDriver({
        id, voters: [1, 2, 3], transport: { send: (ms) => { queue.push(...ms) } }, application: apps[id - 1]!,
        clock: { now: () => clock.t }, schedule: (fn) => { fn() }, rand: createRand(id), clientId: `p${id}/a`,
        log: createLogger('silent'), options: { electionTick: 1000, proposalTimeoutMs: 5000, ...options }
      }))
    }
    for (const d of drivers) d.start()
    drivers[0]!.campaign()
    deliver()
    return { drivers, apps, clock, deliver, lost: () => lost }
  }

  /** Ticks every driver each 50 ms of the clock until `ms`, delivering after each. */
  const run = (g: ReturnType<typeof group>, ms: number): void => {
    for (const end = g.clock.t + ms; g.clock.t < end;) {
      g.clock.t += 50
      for (const d of g.drivers) d.tick()
      g.deliver()
    }
  }

  it('is sent again, the same envelope, and applies once well before its deadline', async () => {
    const g = group({ proposalResendMs: 1000 }, 2)
    expect(g.drivers[0]!.isLeader).toBe(true)
    expect(g.drivers[2]!.leaderId).toBe(1)
    let outcome: unknown = 'pending'
    void g.drivers[2]!.propose(enc.encode('from-3')).then((r) => { outcome = r }, (e: Error) => { outcome = e })
    g.deliver()
    expect(g.lost()).toBe(1)
    // Lost again at 1 s, sent a third time at 3 s (1 s, then twice that), and applied.
    run(g, 2900)
    expect(g.lost()).toBe(2)
    await settle()
    expect(outcome).toBe('pending')
    run(g, 200)
    await settle()
    expect(outcome).toMatchObject({ result: 1 })
    expect(g.drivers[2]!.stats.proposalsResent).toBe(2)
    // The commit reaches the others by the leader's next append; each applies it once.
    const again = g.drivers[0]!.propose(enc.encode('x'))
    g.deliver()
    await again
    for (const app of g.apps) expect(app.items.filter(i => i === 'from-3')).toHaveLength(1)
  })

  it('sent again while it is only slow, it still applies once: the duplicate is answered from the session table', async () => {
    const g = group({ proposalResendMs: 1000 }, 0)
    // The leader holds node 3's proposal: nothing reaches node 3 until it has been sent three times.
    const held: Array<import('../../protocols/raft/types.js').Message> = []
    let outcome: unknown = 'pending'
    void g.drivers[2]!.propose(enc.encode('slow')).then((r) => { outcome = r }, (e: Error) => { outcome = e })
    const origReceive = g.drivers[2]!.receive.bind(g.drivers[2]!)
    g.drivers[2]!.receive = (m) => { if (m.from === 1 && held.length < 10_000 && outcome === 'pending' && g.clock.t < 3100) { held.push(m); return } origReceive(m) }
    run(g, 3100)
    expect(g.drivers[2]!.stats.proposalsResent).toBe(2)
    for (const m of held.splice(0)) origReceive(m)
    run(g, 100)
    await settle()
    expect(outcome).toMatchObject({ result: 1 })
    expect(g.apps[0]!.items.filter(i => i === 'slow')).toHaveLength(1)
    expect(g.drivers[0]!.stats.duplicates).toBe(2)
  })

  it('not sent again once it is in the follower\'s log (only slow to commit)', async () => {
    const g = group({ proposalResendMs: 1000 }, 0)
    // The leader hears no acknowledgement: node 3's proposal is appended everywhere but not committed.
    let holdAcks = true
    const held: Array<import('../../protocols/raft/types.js').Message> = []
    const leaderReceive = g.drivers[0]!.receive.bind(g.drivers[0]!)
    g.drivers[0]!.receive = (m) => { if (holdAcks && (m.type === 'appendResp' || m.type === 'heartbeatResp')) { held.push(m); return } leaderReceive(m) }
    let outcome: unknown = 'pending'
    void g.drivers[2]!.propose(enc.encode('slow')).then((r) => { outcome = r }, (e: Error) => { outcome = e })
    run(g, 3100)
    await settle()
    expect(outcome).toBe('pending')
    expect(g.drivers[2]!.memory.lastIndex()).toBeGreaterThan(g.drivers[2]!.applied)
    expect(g.drivers[2]!.stats.proposalsResent).toBe(0)
    holdAcks = false
    for (const m of held.splice(0, 100)) leaderReceive(m)
    run(g, 100)
    await settle()
    expect(outcome).toMatchObject({ result: 1 })
    expect(g.drivers[0]!.stats.duplicates).toBe(0)
  })

  it('without resending (proposalResendMs 0) one lost message costs the whole deadline', async () => {
    const g = group({ proposalResendMs: 0 }, 1)
    let outcome: unknown = 'pending'
    void g.drivers[2]!.propose(enc.encode('from-3')).then((r) => { outcome = r }, (e: Error) => { outcome = e })
    run(g, 5100)
    await settle()
    expect((outcome as { code?: string }).code).toBe('ERR_INDEFINITE')
    expect(g.apps[0]!.items).not.toContain('from-3')
  })
})

const dec = new TextDecoder()

/** A list app whose "wait…" commands ask to wait for a promise the test resolves (`release`). */
class WaitingApp extends ListApp {
  asked: string[] = []
  private releases: Array<() => void> = []
  applyWait (command: Uint8Array): PromiseLike<unknown> | undefined {
    const s = dec.decode(command)
    if (!s.startsWith('wait')) return undefined
    this.asked.push(s)
    return new Promise<void>((resolve) => { this.releases.push(resolve) })
  }

  release (): void { for (const r of this.releases.splice(0)) r() }
}

describe('the driver pauses applying at a command its application waits for', () => {
  it('pauses there while Raft commits on, serves proposals and reads only past it, and applies in order once released', async () => {
    const app = new WaitingApp()
    const { d } = driver(app, undefined, { applyWaitMs: 1000 })
    const results: string[] = []
    const a = d.propose(enc.encode('a')).then(r => { results.push(`a@${r.index}`) })
    await a
    const b = d.propose(enc.encode('wait-b')).then(r => { results.push(`b@${r.index}`) })
    const c = d.propose(enc.encode('c')).then(r => { results.push(`c@${r.index}`) })
    await settle()
    const pausedAt = d.applyPausedAt
    expect(pausedAt).toBeGreaterThan(0)
    expect(app.items).toEqual(['a'])
    expect(d.applied).toBe(pausedAt - 1)
    // Raft went on: both entries are committed, only this replica's apply waits.
    expect(d.status().commit).toBe(pausedAt + 1)
    expect(d.applyBacklog).toBe(2)
    const read = d.readIndex().then(i => { results.push(`read@${i}`) })
    await settle()
    expect(results).toEqual([`a@${pausedAt - 1}`])
    app.release()
    await Promise.all([b, c, read])
    expect(app.items).toEqual(['a', 'wait-b', 'c'])
    expect(results.slice(1, 3)).toEqual([`b@${pausedAt}`, `c@${pausedAt + 1}`])
    expect(results[3]).toMatch(/^read@/)
    // Asked once: applied without asking again after the wait.
    expect(app.asked).toEqual(['wait-b'])
    expect(d.applyPausedAt).toBe(0)
    expect(d.stats.applyPauses).toBe(1)
  })

  it('applies a backlog longer than APPLY_DRAIN_MAX over several runs of the loop, in order', async () => {
    const app = new WaitingApp()
    const { d } = driver(app, undefined, { applyWaitMs: 1000 })
    void d.propose(enc.encode('wait-b'))
    const n = APPLY_DRAIN_MAX * 2 + 5
    const all = Array.from({ length: n }, async (_, i) => await d.propose(enc.encode(`x${i}`)))
    await settle()
    expect(d.applyBacklog).toBe(n + 1)
    app.release()
    await Promise.all(all)
    expect(app.items).toEqual(['wait-b', ...Array.from({ length: n }, (_, i) => `x${i}`)])
    expect(d.applyBacklog).toBe(0)
  })

  it('applies anyway once applyWaitMs passed (virtual clock, on a tick)', async () => {
    const app = new WaitingApp()
    const { d, clock } = driver(app, undefined, { applyWaitMs: 500 })
    const b = d.propose(enc.encode('wait-b'))
    await settle()
    expect(d.applyPausedAt).toBeGreaterThan(0)
    clock.t += 499
    d.tick()
    expect(app.items).toEqual([])
    clock.t += 1
    d.tick()
    expect(app.items).toEqual(['wait-b'])
    expect((await b).result).toBe(1)
    expect(d.stats.applyPausesTimedOut).toBe(1)
  })

  it('applies anyway once applyBacklogMax entries wait behind the pause', async () => {
    const app = new WaitingApp()
    const { d } = driver(app, undefined, { applyWaitMs: 1000, applyBacklogMax: 3 })
    void d.propose(enc.encode('wait-b'))
    await settle()
    void d.propose(enc.encode('c'))
    await settle()
    expect(app.items).toEqual([])
    await d.propose(enc.encode('d'))
    expect(app.items).toEqual(['wait-b', 'c', 'd'])
    expect(d.stats.applyPausesBacklogFull).toBe(1)
  })

  it('takes no snapshot while entries wait (a snapshot only at an applied index), and one after', async () => {
    const app = new WaitingApp()
    const { d, storage } = driver(app, undefined, { applyWaitMs: 1000, snapshotEntries: 2 })
    void d.propose(enc.encode('wait-b'))
    for (const s of ['c', 'e', 'f']) void d.propose(enc.encode(s))
    await settle()
    expect(storage.memory.snapshot().metadata.index).toBeLessThanOrEqual(d.applied)
    const before = d.stats.snapshots
    app.release()
    await settle()
    expect(app.items).toEqual(['wait-b', 'c', 'e', 'f'])
    expect(d.stats.snapshots).toBeGreaterThan(before)
    expect(storage.memory.snapshot().metadata.index).toBe(d.applied)
  })

  it('never pauses with applyWaitMs 0 (the simulator\'s default): the command applies at once', async () => {
    const app = new WaitingApp()
    const { d } = driver(app, undefined, { applyWaitMs: 0 })
    await d.propose(enc.encode('wait-b'))
    expect(app.items).toEqual(['wait-b'])
    expect(app.asked).toEqual([])
  })

  it('a driver stopped while paused asks again when it starts, and applies once', async () => {
    const app = new WaitingApp()
    const { d } = driver(app, undefined, { applyWaitMs: 1000 })
    const b = d.propose(enc.encode('wait-b')).catch((e: { code?: string }) => e.code)
    await settle()
    expect(d.applyPausedAt).toBeGreaterThan(0)
    d.stop()
    expect(await b).toBe('ERR_INDEFINITE')
    app.release()
    await settle()
    expect(app.items).toEqual([])
    d.start()
    await settle()
    expect(app.asked).toEqual(['wait-b', 'wait-b'])
    expect(app.items).toEqual([])
    app.release()
    await settle()
    expect(app.items).toEqual(['wait-b'])
  })
})

describe('the apply backlog stays within its bound after a pause ends', () => {
  it('holds at most applyBacklogMax entries while it drains: a Ready that would pass it applies at once', async () => {
    const app = new WaitingApp()
    const runs: Array<() => void> = []
    const max = APPLY_DRAIN_MAX * 2 + 500
    const d = new RaftDriver({
      id: 1, voters: [1], transport: { send: () => {} }, application: app, storage: new MemoryDriverStorage(),
      clock: { now: () => 0 },
      // Deferred: the test runs the loop one run at a time, proposals of one "turn" between runs.
      schedule: (fn) => { runs.push(fn) },
      rand: createRand(1), clientId: 'p1/a', log: createLogger('silent'),
      options: { electionTick: 2, applyWaitMs: 1000, applyBacklogMax: max }
    })
    const runOne = (): void => { runs.shift()?.() }
    const runAll = (): void => { for (let i = 0; i < 1000 && runs.length > 0; i++) runOne() }
    d.start()
    d.campaign()
    runAll()
    expect(d.isLeader).toBe(true)
    let most = 0
    d.on('raft:applied', () => { most = Math.max(most, d.applyBacklog) })
    const all: Array<Promise<unknown>> = [d.propose(enc.encode('wait-b'))]
    const turn = (n: number, tag: string): void => { for (let i = 0; i < n; i++) all.push(d.propose(enc.encode(`${tag}${i}`))) }
    turn(1000, 'x')
    runAll()
    turn(1000, 'y')
    runAll()
    expect(d.applyPausedAt).toBeGreaterThan(0)
    expect(d.applyBacklog).toBe(2001)
    // The pause ends; one run drains APPLY_DRAIN_MAX of the backlog, then takes this turn's proposals.
    app.release()
    await settle()
    turn(2000, 'z')
    runOne()
    expect(most).toBeLessThanOrEqual(max)
    expect(d.applyBacklog).toBeLessThanOrEqual(max)
    runAll()
    await Promise.all(all)
    expect(d.applyBacklog).toBe(0)
    expect(app.items.length).toBe(4001)
    expect(app.items.slice(0, 2)).toEqual(['wait-b', 'x0'])
    expect(app.items[2001]).toBe('z0')
    expect(app.items[4000]).toBe('z1999')
  })
})
