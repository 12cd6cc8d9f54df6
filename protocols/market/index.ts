/**
 * The economy (FEATURES E1–E6): the ledger and the auction book as one deterministic state machine
 * applied from the Raft log. See README.md.
 *
 * @example
 * ```ts
 * const e = new Economy({ authorities: ['peerA'] })
 * e.apply({ type: 'mint', by: 'treasury', account: 'alice', owner: 'peerB', amount: 100 }, 1, { origin: 'peerA', at: 0 })
 * e.apply({ type: 'auction.open', by: 'alice', auction: { id: 'g1', mechanism: 'vickrey', items: ['gpu'], reserve: 5, durationMs: 1000 } }, 2, { origin: 'peerB', at: 1 })
 * ```
 */
export { Economy, runMechanism, combinatorialInput, isLive, TREASURY, AUCTION_HOUSE, DEFAULT_MARKET_LIMITS, DEFAULT_REVEAL_MS, type MarketLimits, type EconomyConfig, type AccountView, type SupplyView, type EconomySnapshot } from './economy.js'
export { MarketError, type MarketErrorCode } from './errors.js'
export * from './types.js'
