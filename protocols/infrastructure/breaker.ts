/**
 * Circuit breakers (FEATURES I1). Pure and deterministic like the token buckets: every call is given the
 * time (ms), nothing reads a clock.
 *
 *   closed ──failureThreshold failures within windowMs──▶ open ──recoveryMs──▶ half-open
 *     ▲                                                   ▲                      │ one probe at a time
 *     └──────────────── probe succeeded ─────────────────┼──────────────────────┘
 *                                                         └──── probe failed (recovery doubles, to recoveryMaxMs)
 *
 * The window slides in `WINDOW_SLOTS` slots, so counting costs O(1) per call and no allocation. A probe
 * whose outcome never comes (the caller dropped it) frees its slot after `probeTimeoutMs`.
 */
import { InvalidOptionError } from '../../src/base/errors.js'

export type BreakerState = 'closed' | 'open' | 'half-open'

export interface BreakerOptions {
  /** Failures within `windowMs` that open the breaker (>= 1). Default 5. */
  failureThreshold?: number
  /** The sliding window over which failures count (ms). Default 10 000. */
  windowMs?: number
  /** How long an opened breaker refuses calls before a probe (ms). Default 5 000. */
  recoveryMs?: number
  /** Upper bound of the recovery time, which doubles after each failed probe (ms). Default 60 000. */
  recoveryMaxMs?: number
  /** A half-open probe with no outcome after this long lets another probe through (ms). Default 30 000. */
  probeTimeoutMs?: number
}

export type ResolvedBreakerOptions = Required<BreakerOptions>

export const BREAKER_DEFAULTS: ResolvedBreakerOptions = Object.freeze({
  failureThreshold: 5,
  windowMs: 10_000,
  recoveryMs: 5_000,
  recoveryMaxMs: 60_000,
  probeTimeoutMs: 30_000
})

/** Slots of the sliding window. */
export const WINDOW_SLOTS = 10

export function resolveBreakerOptions (o: BreakerOptions = {}, what = 'breaker'): ResolvedBreakerOptions {
  const r = { ...BREAKER_DEFAULTS, ...Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== undefined)) } as ResolvedBreakerOptions
  const int = (k: keyof ResolvedBreakerOptions, min: number): void => {
    const v = r[k]
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw new InvalidOptionError(`${what}.${k}`, `must be an integer >= ${min}`)
  }
  int('failureThreshold', 1); int('windowMs', WINDOW_SLOTS); int('recoveryMs', 1); int('recoveryMaxMs', 1); int('probeTimeoutMs', 1)
  if (r.recoveryMaxMs < r.recoveryMs) throw new InvalidOptionError(`${what}.recoveryMaxMs`, 'must be >= recoveryMs')
  return r
}

export interface BreakerSnapshot {
  state: BreakerState
  /** Failures counted in the current window. */
  failures: number
  /** When an open breaker lets a probe through (ms, the breaker's time base). */
  openUntil?: number
  /** Times this breaker opened. */
  opened: number
}

export class CircuitBreaker {
  private st: BreakerState = 'closed'
  private readonly slots = new Uint32Array(WINDOW_SLOTS)
  /** Index (time / slotMs) of the newest slot written. */
  private head = 0
  private count = 0
  private readonly slotMs: number
  private openUntil = 0
  private recovery: number
  private probeSince: number | undefined
  opened = 0

  constructor (readonly options: ResolvedBreakerOptions, private readonly onChange?: (from: BreakerState, to: BreakerState) => void) {
    this.slotMs = Math.max(1, Math.floor(options.windowMs / WINDOW_SLOTS))
    this.recovery = options.recoveryMs
  }

  /**
   * May a call go through at `now`? True when closed, or as the one probe of a half-open breaker (the
   * caller must then report its outcome); false while open or while a probe is out.
   */
  allow (now: number): boolean {
    if (this.st === 'closed') return true
    if (this.st === 'open') {
      if (now < this.openUntil) return false
      this.move('half-open')
    }
    if (this.probeSince !== undefined && now - this.probeSince < this.options.probeTimeoutMs) return false
    this.probeSince = now
    return true
  }

  /** Ms until an open breaker lets a probe through (0 when it would now). */
  retryAfterMs (now: number): number {
    if (this.st === 'open') return Math.max(0, this.openUntil - now)
    if (this.st === 'half-open' && this.probeSince !== undefined) return Math.max(0, this.probeSince + this.options.probeTimeoutMs - now)
    return 0
  }

  success (now: number): void {
    if (this.st === 'half-open') {
      this.probeSince = undefined
      this.recovery = this.options.recoveryMs
      this.reset(now)
      this.move('closed')
    }
  }

  /**
   * The call let through had no outcome that says anything of the callee (the caller gave up, or a local
   * limit refused it before sending): a half-open breaker's probe slot is freed for the next call.
   */
  release (): void {
    if (this.st === 'half-open') this.probeSince = undefined
  }

  failure (now: number): void {
    if (this.st === 'half-open') {
      this.probeSince = undefined
      this.recovery = Math.min(this.options.recoveryMaxMs, this.recovery * 2)
      this.trip(now)
      return
    }
    if (this.st === 'open') return
    this.advance(now)
    this.slots[this.head % WINDOW_SLOTS]!++
    this.count++
    if (this.count >= this.options.failureThreshold) this.trip(now)
  }

  state (now: number): BreakerState {
    if (this.st === 'open' && now >= this.openUntil) return 'half-open'
    return this.st
  }

  snapshot (now: number): BreakerSnapshot {
    this.advance(now)
    const state = this.state(now)
    return { state, failures: this.count, ...(this.st === 'open' ? { openUntil: this.openUntil } : {}), opened: this.opened }
  }

  /** True when closed with no failure in the window: a keyed set may forget it. */
  idle (now: number): boolean {
    if (this.st !== 'closed') return false
    this.advance(now)
    return this.count === 0
  }

  private trip (now: number): void {
    this.openUntil = now + this.recovery
    this.opened++
    this.reset(now)
    this.move('open')
  }

  private reset (now: number): void {
    this.slots.fill(0)
    this.count = 0
    this.head = Math.floor(now / this.slotMs)
  }

  /** Drops the slots that left the window by `now`. */
  private advance (now: number): void {
    const idx = Math.floor(now / this.slotMs)
    if (idx <= this.head) return
    if (idx - this.head >= WINDOW_SLOTS) {
      if (this.count !== 0) { this.slots.fill(0); this.count = 0 }
    } else {
      for (let i = this.head + 1; i <= idx; i++) {
        const k = i % WINDOW_SLOTS
        this.count -= this.slots[k]!
        this.slots[k] = 0
      }
    }
    this.head = idx
  }

  private move (to: BreakerState): void {
    const from = this.st
    if (from === to) return
    this.st = to
    this.onChange?.(from, to)
  }
}

/**
 * One breaker per key (an agent), made on first failure or first call, at most `keysMax`: a new key beyond
 * that first forgets idle breakers (closed, no failure in the window); when none is idle the call goes
 * through unguarded and is counted (`untracked`), never refused, so a flood of agent ids cannot make
 * healthy agents unreachable.
 */
export class KeyedBreakers {
  private readonly breakers = new Map<string, CircuitBreaker>()
  untracked = 0

  constructor (readonly options: ResolvedBreakerOptions, readonly keysMax: number, private readonly onChange?: (key: string, from: BreakerState, to: BreakerState) => void) {
    if (!Number.isSafeInteger(keysMax) || keysMax < 1) throw new InvalidOptionError('keysMax', 'must be an integer >= 1')
  }

  /** The breaker of `key`, if one exists. */
  peek (key: string): CircuitBreaker | undefined { return this.breakers.get(key) }

  /** May a call to `key` go through at `now` (see {@link CircuitBreaker.allow})? Keys without a breaker: yes. */
  allow (key: string, now: number): boolean {
    const b = this.breakers.get(key)
    return b === undefined ? true : b.allow(now)
  }

  success (key: string, now: number): void {
    this.breakers.get(key)?.success(now)
  }

  /** See {@link CircuitBreaker.release}. */
  release (key: string): void {
    this.breakers.get(key)?.release()
  }

  /** Forgets `key`'s breaker (what it guarded is gone): its next call starts from a closed one. */
  delete (key: string): void {
    this.breakers.delete(key)
  }

  failure (key: string, now: number): void {
    let b = this.breakers.get(key)
    if (b === undefined) {
      if (this.breakers.size >= this.keysMax && !this.evictIdle(now)) { this.untracked++; return }
      b = new CircuitBreaker(this.options, this.onChange === undefined ? undefined : (from, to) => this.onChange!(key, from, to))
      this.breakers.set(key, b)
    }
    b.failure(now)
  }

  state (key: string, now: number): BreakerState {
    return this.breakers.get(key)?.state(now) ?? 'closed'
  }

  get size (): number { return this.breakers.size }

  /** Breakers not closed, or closed with failures in the window, at most `max`. */
  list (now: number, max = 256): Array<{ key: string } & BreakerSnapshot> {
    const out: Array<{ key: string } & BreakerSnapshot> = []
    for (const [key, b] of this.breakers) {
      if (out.length >= max) break
      const s = b.snapshot(now)
      if (s.state !== 'closed' || s.failures > 0) out.push({ key, ...s })
    }
    return out
  }

  /** Counts by state. */
  counts (now: number): Record<BreakerState, number> {
    const c = { closed: 0, open: 0, 'half-open': 0 }
    for (const b of this.breakers.values()) c[b.state(now)]++
    return c
  }

  private evictIdle (now: number): boolean {
    let freed = false
    for (const [k, b] of this.breakers) {
      if (b.idle(now)) { this.breakers.delete(k); freed = true; if (this.breakers.size < this.keysMax - 64) break }
    }
    return freed
  }
}
