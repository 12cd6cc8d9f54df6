/**
 * The shared life-cycle checks of the peer's services (test/peers/lifecycle.test.ts): one table, one row
 * per service, every row checked the same way on real components. For each row:
 *
 * - stop before start is harmless (nothing changes; the service still starts afterwards);
 * - start twice (in turn and at once) is harmless: one stop then undoes everything;
 * - stop twice is harmless;
 * - start after stop works (the row's `works` check passes again), or, for a service that cannot
 *   restart, start() rejects with the named error whose `code` the row gives.
 *
 * "Everything" is the fixture's `footprint`: what a service registers where others see it (protocol
 * handlers, topics, validators, node listeners...). It must change on start and come back on stop.
 * A row with timers also gives an `activity` counter: it must grow while the service runs and stand
 * still once it stopped (a second start that leaked a timer keeps it moving), over the fixture's
 * `elapse` (an awaited event, never a fixed sleep).
 *
 * To add a service (Raft, economy...), add a row to the table in test/peers/lifecycle.test.ts; a service
 * that needs other components than the fixture has can come with its own fixture and table.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'

export interface Startable {
  start: () => Promise<void> | void
  stop: () => Promise<void> | void
}

export interface LifecycleCase<Ctx, S extends Startable = Startable> {
  /** The service's name in the test titles. */
  name: string
  /** Builds a fresh, unstarted service on the fixture's real components. */
  create: (ctx: Ctx) => S | Promise<S>
  /** Asserts the started service does its job (after the first start and after a restart). */
  works?: (ctx: Ctx, service: S) => Promise<void>
  /** A counter that grows on its own while the service runs (timers) and stands still when it is stopped. */
  activity?: (ctx: Ctx, service: S) => number
  /** Set for a service that cannot start again after a stop: the `code` of the error start() rejects with. */
  restartError?: string
}

export interface LifecycleFixture<Ctx> {
  /** Real components shared by the rows (started nodes...). */
  setup: () => Promise<Ctx>
  teardown: (ctx: Ctx) => Promise<void>
  /** What the services register, comparable with toEqual. */
  footprint: (ctx: Ctx) => unknown | Promise<unknown>
  /** Waits for something that takes longer than a few ticks of a running row's timers. */
  elapse?: (ctx: Ctx) => Promise<void>
}

/** Builds a row with its service type checked (the table then holds rows of different services). */
export function lifecycleCase<Ctx, S extends Startable> (c: LifecycleCase<Ctx, S>): LifecycleCase<Ctx, Startable> {
  return c as unknown as LifecycleCase<Ctx, Startable>
}

/** Declares the life-cycle tests of every row of `cases` on `fixture`. */
export function describeLifecycle<Ctx> (title: string, fixture: LifecycleFixture<Ctx>, cases: Array<LifecycleCase<Ctx, Startable>>): void {
  describe(title, () => {
    let ctx: Ctx
    beforeAll(async () => { ctx = await fixture.setup() })
    afterAll(async () => { await fixture.teardown(ctx) })

    describe.each(cases)('$name', (c) => {
      const created: Startable[] = []
      afterEach(async () => {
        for (const s of created.splice(0)) await s.stop()
      })
      const create = async (): Promise<Startable> => {
        const s = await c.create(ctx)
        created.push(s)
        return s
      }
      const footprint = async (): Promise<unknown> => await fixture.footprint(ctx)
      const activity = c.activity !== undefined && fixture.elapse !== undefined ? c.activity : undefined
      /** The row's activity counter moves (running) or not (stopped) over an elapse. */
      const expectActive = async (s: Startable, active: boolean): Promise<void> => {
        if (activity === undefined) return
        const n = activity(ctx, s)
        await fixture.elapse!(ctx)
        if (active) expect(activity(ctx, s)).toBeGreaterThan(n)
        else expect(activity(ctx, s)).toBe(n)
      }

      it('stop before start is harmless', async () => {
        const before = await footprint()
        const s = await create()
        await s.stop()
        expect(await footprint()).toEqual(before)
        await expectActive(s, false)
        await s.start()
        expect(await footprint()).not.toEqual(before)
        await c.works?.(ctx, s)
        await s.stop()
        expect(await footprint()).toEqual(before)
      })

      it('start twice is harmless, in turn and at once', async () => {
        const before = await footprint()
        const s = await create()
        await s.start()
        const running = await footprint()
        expect(running).not.toEqual(before)
        await s.start()
        expect(await footprint()).toEqual(running)
        await c.works?.(ctx, s)
        await expectActive(s, true)
        await s.stop()
        expect(await footprint()).toEqual(before)
        await expectActive(s, false)

        const t = await create()
        await Promise.all([t.start(), t.start()])
        expect(await footprint()).toEqual(running)
        await t.stop()
        expect(await footprint()).toEqual(before)
        await expectActive(t, false)
      })

      it('stop twice is harmless', async () => {
        const before = await footprint()
        const s = await create()
        await s.start()
        await s.stop()
        await s.stop()
        expect(await footprint()).toEqual(before)
        await expectActive(s, false)
        const t = await create()
        await t.start()
        await Promise.all([t.stop(), t.stop()])
        expect(await footprint()).toEqual(before)
      })

      it(c.restartError === undefined ? 'start after stop works' : `start after stop fails with ${c.restartError}`, async () => {
        const before = await footprint()
        const s = await create()
        await s.start()
        const running = await footprint()
        await s.stop()
        if (c.restartError !== undefined) {
          await expect(Promise.resolve().then(async () => { await s.start() })).rejects.toMatchObject({ code: c.restartError })
          expect(await footprint()).toEqual(before)
          return
        }
        await s.start()
        expect(await footprint()).toEqual(running)
        await c.works?.(ctx, s)
        await expectActive(s, true)
        await s.stop()
        expect(await footprint()).toEqual(before)
        await expectActive(s, false)
      })
    })
  })
}
