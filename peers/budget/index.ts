/**
 * Mesh-wide budgets on a live peer (`peer.budgets`, FEATURES I2): the budget machine of
 * protocols/infrastructure/budget.ts decides who shares what (in the Raft log); this service enforces this
 * host's share locally, a token bucket per joined budget, with no Raft round per call.
 *
 * | file | concept |
 * |---|---|
 * | `service.ts` | {@link PeerBudgets}: define, join, leave, take, status; following the share |
 * | `backend.ts` | where commands go: the member's driver or a member's client stream |
 * | `errors.ts` | BudgetError, BudgetExhaustedError (`ERR_BUDGET_EXHAUSTED`), BudgetNotJoinedError |
 */
export * from './service.js'
export * from './backend.js'
export * from './errors.js'
