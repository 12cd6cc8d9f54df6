/**
 * Linearizability checking: a port of Porcupine (anishathalye/porcupine), itself the Wing & Gong search
 * with Lowe's memoisation. Operations are turned into call/return entries sorted by time in a doubly
 * linked list; the search tries to linearize the first pending call whose model step is legal, lifting it
 * (and its return) out of the list, and backtracks when it meets a return entry whose call is not yet
 * linearized. Each (linearized set, state) pair is visited once (the memo cache). Histories are first
 * split with the model's `partition` (per-key for a KV store), and each partition is checked alone.
 *
 * Indefinite operations (fate unknown) have their return at infinity: they may be linearized anywhere
 * after their call, including after everything else (which is the same as never having taken effect when
 * the model makes a late write invisible).
 *
 * The search is bounded by `stepsMax` per partition (no wall clock): past it the answer is `unknown`.
 */
import { Bitset } from './bitset.js'
import type { Model, Operation } from './model.js'

/** `ok`: linearizable; `illegal`: not linearizable; `unknown`: the step budget ran out. */
export type CheckOutcome = 'ok' | 'illegal' | 'unknown'

export interface CheckOptions {
  /** Search steps allowed per partition before giving up with `unknown`. Default 10,000,000. */
  stepsMax?: number
}

export interface CheckResult<I, O> {
  result: CheckOutcome
  /** Shorthand for `result === 'ok'`. */
  ok: boolean
  /** How many partitions were checked. */
  partitions: number
  /** Total search steps over all partitions. */
  steps: number
  /** For `illegal`/`unknown`: the index of the first failing partition and its operations. */
  failedPartition?: number
  failedOps?: Array<Operation<I, O>>
  /** For `illegal`: the readable description of the failing partition's operations. */
  detail?: string
}

export const CHECK_STEPS_MAX_DEFAULT = 10_000_000

const NIL = -1

/**
 * Check a history against a model. Pure and deterministic.
 * @example
 * const r = checkLinearizable(kvModel, history)
 * if (!r.ok) console.log(r.detail)
 */
export function checkLinearizable<S, I, O> (model: Model<S, I, O>, history: ReadonlyArray<Operation<I, O>>, options: CheckOptions = {}): CheckResult<I, O> {
  const stepsMax = options.stepsMax ?? CHECK_STEPS_MAX_DEFAULT
  const parts = model.partition !== undefined ? model.partition(history) : [history.slice()]
  let steps = 0
  let unknownAt = -1
  for (let p = 0; p < parts.length; p++) {
    const ops = parts[p] as Array<Operation<I, O>>
    const r = checkPartition(model, ops, stepsMax)
    steps += r.steps
    if (r.outcome === 'illegal') {
      return { result: 'illegal', ok: false, partitions: parts.length, steps, failedPartition: p, failedOps: ops, detail: describeOps(model, ops) }
    }
    if (r.outcome === 'unknown' && unknownAt < 0) unknownAt = p
  }
  if (unknownAt >= 0) {
    const ops = parts[unknownAt] as Array<Operation<I, O>>
    return { result: 'unknown', ok: false, partitions: parts.length, steps, failedPartition: unknownAt, failedOps: ops }
  }
  return { result: 'ok', ok: true, partitions: parts.length, steps }
}

function describeOps<S, I, O> (model: Model<S, I, O>, ops: ReadonlyArray<Operation<I, O>>): string {
  const d = model.describe ?? ((i: I, o: O | undefined) => `${JSON.stringify(i)} -> ${o === undefined ? '?' : JSON.stringify(o)}`)
  return ops.map(op => `[${op.call}, ${op.return === null || op.return === Infinity ? 'inf' : op.return}] c${op.clientId} ${d(op.input, op.output)}`).join('\n')
}

interface CacheEntry<S> { bits: Bitset, state: S }

function checkPartition<S, I, O> (model: Model<S, I, O>, ops: ReadonlyArray<Operation<I, O>>, stepsMax: number): { outcome: CheckOutcome, steps: number } {
  const n = ops.length
  if (n === 0) return { outcome: 'ok', steps: 0 }
  const equal = model.equal ?? ((a: S, b: S) => a === b)
  const hashState = model.hash
  // Entries: call of op i = 2i, return of op i = 2i + 1; head sentinel = 2n.
  const times = new Float64Array(2 * n)
  for (let i = 0; i < n; i++) {
    const op = ops[i] as Operation<I, O>
    const ret = op.return === null ? Infinity : op.return
    if (!(ret >= op.call)) throw new RangeError(`operation ${i}: return ${ret} before call ${op.call}`)
    times[2 * i] = op.call
    times[2 * i + 1] = ret
  }
  const order: number[] = new Array<number>(2 * n)
  for (let e = 0; e < 2 * n; e++) order[e] = e
  // By time; on ties calls before returns (the more permissive reading, as Porcupine); then by id.
  order.sort((a, b) => {
    const ta = times[a] as number
    const tb = times[b] as number
    if (ta !== tb) return ta < tb ? -1 : 1
    const ka = a & 1
    const kb = b & 1
    if (ka !== kb) return ka - kb
    return a - b
  })
  const head = 2 * n
  const next = new Int32Array(2 * n + 1).fill(NIL)
  const prev = new Int32Array(2 * n + 1).fill(NIL)
  let last = head
  for (const e of order) {
    next[last] = e
    prev[e] = last
    last = e
  }
  next[last] = NIL

  const lift = (call: number): void => {
    const ret = call + 1
    next[prev[call] as number] = next[call] as number
    prev[next[call] as number] = prev[call] as number // a call always has its return after it
    next[prev[ret] as number] = next[ret] as number
    const rn = next[ret] as number
    if (rn !== NIL) prev[rn] = prev[ret] as number
  }
  const unlift = (call: number): void => {
    const ret = call + 1
    next[prev[ret] as number] = ret
    const rn = next[ret] as number
    if (rn !== NIL) prev[rn] = ret
    next[prev[call] as number] = call
    prev[next[call] as number] = call
  }

  const cache = new Map<number, Array<CacheEntry<S>>>()
  const linearized = new Bitset(n)
  const callStack: number[] = []
  const stateStack: S[] = []
  let state = model.init()
  let entry = next[head] as number
  let steps = 0
  while (next[head] !== NIL) {
    if (++steps > stepsMax) return { outcome: 'unknown', steps }
    if ((entry & 1) === 0) {
      const i = entry >>> 1
      const op = ops[i] as Operation<I, O>
      const [legal, newState] = model.step(state, op.input, op.output)
      if (legal) {
        const bits = linearized.clone()
        bits.set(i)
        let key = bits.hash()
        if (hashState !== undefined) key = (Math.imul(key, 31) ^ hashState(newState)) >>> 0
        let bucket = cache.get(key)
        let seen = false
        if (bucket !== undefined) {
          for (const c of bucket) {
            if (c.bits.equals(bits) && equal(c.state, newState)) { seen = true; break }
          }
        }
        if (!seen) {
          if (bucket === undefined) { bucket = []; cache.set(key, bucket) }
          bucket.push({ bits, state: newState })
          callStack.push(entry)
          stateStack.push(state)
          state = newState
          linearized.set(i)
          lift(entry)
          entry = next[head] as number
        } else {
          entry = next[entry] as number
        }
      } else {
        entry = next[entry] as number
      }
    } else {
      // A return whose call is not linearized: backtrack.
      if (callStack.length === 0) return { outcome: 'illegal', steps }
      const call = callStack.pop() as number
      state = stateStack.pop() as S
      linearized.clear(call >>> 1)
      unlift(call)
      entry = next[call] as number
    }
  }
  return { outcome: 'ok', steps }
}
