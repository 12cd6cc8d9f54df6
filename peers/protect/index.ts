/**
 * A peer's protection (FEATURES I1, I2): per-agent circuit breakers on every call `peer.agents` sends,
 * and local token-bucket rate limits on inbound calls, writes and Raft proposals.
 *
 * ```ts
 * const peer = await createPeer({ breaker: { failureThreshold: 3 }, rateLimits: { writes: { ratePerSecond: 100, burst: 200 } } })
 * peer.agents.on('breaker:open', ({ agent, retryAfterMs }) => console.log(agent, retryAfterMs))
 * await peer.agents.request('summarizer-1', doc, { fallback: true })  // another summarizer while it is open
 * peer.agents.breakers()        // breakers not closed
 * peer.rateLimits.states()      // each limit: options, refusals, what it holds
 * ```
 *
 * | file | concept |
 * |---|---|
 * | `breakers.ts` | {@link AgentBreakers}: which replies count, refusals, events, listing |
 * | `limits.ts` | {@link PeerRateLimits}: the buckets per agent, per remote peer, per peer |
 * | `options.ts` | the `breaker` and `rateLimits` options (peer and daemon), defaults, validation |
 */
export * from './breakers.js'
export * from './limits.js'
export * from './options.js'
