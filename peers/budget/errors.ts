/** Named errors of `peer.budgets` (each with a stable `code`). */
import { AgoraError } from '../../src/base/errors.js'

/** The budget machine refused a command; `code` is the machine's (ERR_BUDGET_NOT_FOUND, ERR_NOT_OWNER, ERR_LIMIT_EXCEEDED...). */
export class BudgetError extends AgoraError {
  static override readonly name = 'BudgetError'
}

/**
 * This host's share of a budget holds no token now (`ERR_BUDGET_EXHAUSTED`). `details.retryAfterMs`: when
 * one would be there at the current share (null when never: more than the share's burst, or no share);
 * `details.retryAfterS` the same in whole seconds (what HTTP's `Retry-After` carries).
 */
export class BudgetExhaustedError extends AgoraError {
  static override readonly name = 'BudgetExhaustedError'
  constructor (budget: string, retryAfterMs: number, why = 'this host\'s share is used up') {
    const finite = Number.isFinite(retryAfterMs)
    super('ERR_BUDGET_EXHAUSTED', `budget ${budget}: ${why}${finite ? `; retry in ${retryAfterMs} ms` : ''}`, {
      budget,
      retryAfterMs: finite ? retryAfterMs : null,
      ...(finite ? { retryAfterS: Math.max(1, Math.ceil(retryAfterMs / 1000)) } : {})
    })
  }
}

/** `take` on a budget this peer has not joined (`ERR_BUDGET_NOT_JOINED`). */
export class BudgetNotJoinedError extends AgoraError {
  static override readonly name = 'BudgetNotJoinedError'
  constructor (budget: string) {
    super('ERR_BUDGET_NOT_JOINED', `budget ${budget} is not joined on this peer (join it with a capacity first)`, { budget })
  }
}
