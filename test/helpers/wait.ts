/**
 * The tests' one wait: polls a condition until it holds, with a bounded timeout and an error naming
 * what was awaited. Never a fixed sleep: the wait ends as soon as the condition holds.
 */

export interface WaitOptions {
  /** What is awaited, for the timeout error ("a Raft leader"). */
  what: string
  /** Give up after this long (default 20 s). */
  timeoutMs?: number
  /** Poll period (default 20 ms). */
  intervalMs?: number
}

/** Thrown when a {@link waitUntil} times out; `lastError` is the condition's last error, if any. */
export class WaitTimeoutError extends Error {
  readonly what: string
  readonly lastError: unknown
  constructor (what: string, timeoutMs: number, lastError: unknown) {
    super(`timed out after ${timeoutMs} ms waiting for ${what}${lastError !== undefined ? ` (last error: ${String((lastError as Error)?.message ?? lastError)})` : ''}`)
    this.name = 'WaitTimeoutError'
    this.what = what
    this.lastError = lastError
  }
}

const pause = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

/**
 * Polls `cond` (sync or async) until it returns a value other than `undefined`, `null` and `false`,
 * and returns that value; a condition that throws counts as not yet. Throws {@link WaitTimeoutError}
 * naming `what` after `timeoutMs`.
 */
export async function waitUntil<T> (cond: () => T | undefined | null | false | Promise<T | undefined | null | false>, opts: WaitOptions | string): Promise<T> {
  const o = typeof opts === 'string' ? { what: opts } : opts
  const timeoutMs = o.timeoutMs ?? 20_000
  const intervalMs = o.intervalMs ?? 20
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  for (;;) {
    try {
      const v = await cond()
      if (v !== undefined && v !== null && v !== false) return v
      lastError = undefined
    } catch (err) {
      lastError = err
    }
    if (Date.now() >= deadline) throw new WaitTimeoutError(o.what, timeoutMs, lastError)
    await pause(intervalMs)
  }
}
