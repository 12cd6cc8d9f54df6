/**
 * The model interface of the linearizability checker (a port of Porcupine's `Model`).
 *
 * A model is a sequential specification: `init()` gives the initial state and `step(state, input, output)`
 * says whether `output` is a legal answer to `input` in `state`, and what the state becomes. Models must
 * be pure: `step` never mutates `state`.
 */

/** One operation of a concurrent history. */
export interface Operation<I, O> {
  /** Who issued it (a client/session id); informational, used in diagnostics. */
  clientId: number
  /** What was asked. */
  input: I
  /** When it was called (any monotonic unit: virtual ms, ticks, a logical counter). */
  call: number
  /**
   * What came back; `undefined` when the result is indefinite (the operation's fate is unknown: it may
   * or may not have taken effect).
   */
  output: O | undefined
  /** When it returned; `Infinity` (or `null`) for an indefinite operation, which stays concurrent with everything after its call. */
  return: number | null
}

/** A sequential specification the checker linearizes against. */
export interface Model<S, I, O> {
  /** The initial state. */
  init: () => S
  /**
   * Apply `input` to `state` and check `output` (`undefined` = indefinite: any output is acceptable).
   * Returns `[legal, nextState]`; must not mutate `state`.
   */
  step: (state: S, input: I, output: O | undefined) => [boolean, S]
  /** State equality (default `===`). */
  equal?: (a: S, b: S) => boolean
  /** A hash of a state, mixed into the memo key (default: states are not hashed). */
  hash?: (state: S) => number
  /**
   * Split a history into independent sub-histories (e.g. one per key) checked separately; the default
   * keeps the whole history as one partition.
   */
  partition?: (history: ReadonlyArray<Operation<I, O>>) => Array<Array<Operation<I, O>>>
  /** Readable form of an operation for reports (default JSON). */
  describe?: (input: I, output: O | undefined) => string
}
