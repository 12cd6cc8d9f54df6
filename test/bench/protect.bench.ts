/**
 * Overhead of the protection on the agents' request path (issue 15 "Benchmarks": breaker and limiter
 * overhead ≤ 1 µs per call; peers/protect):
 *  a. the guard code one call runs, in a loop over many agents and remote peers: the agent's breaker
 *     (`admit` + `record` of the reply, as PeerAgents.ask runs them: no breaker yet, and a closed breaker
 *     with failures in its window), the host's rate limits (`inbound`: the remote peer's bucket, then the
 *     agent's), and all of it together — ns per call, the median of rounds;
 *  b. `peer.agents.request` to a local agent on a peer with its guards and on one without (breakers
 *     replaced by a no-op, rate limits off), in alternating rounds: µs per request and the difference.
 *
 * BENCH_PROTECT_CALLS (default 2,000,000 per round of a), BENCH_PROTECT_REQUESTS (default 20,000 per peer
 * in b) change the sizes.
 */
import { AgentBreakers } from '../../peers/protect/breakers.js'
import { PeerRateLimits } from '../../peers/protect/limits.js'
import { resolveBreaker, resolveRateLimits } from '../../peers/protect/options.js'
import type { Reply } from '../../peers/agents/channel.js'
import { createPeer, type Peer } from '../../peers/peer.js'
import { pct, round } from './figures.js'

export const name = 'protect'

const CALLS = Number(process.env.BENCH_PROTECT_CALLS ?? 2_000_000)
const REQUESTS = Number(process.env.BENCH_PROTECT_REQUESTS ?? 20_000)
const ROUNDS = 7
const AGENTS = 1000
const PEERS = 16

const progress = (msg: string): void => { process.stderr.write(`  protect: ${msg}\n`) }

const OK: Reply = Object.freeze({ ok: true, outcome: 'reply', value: null }) as Reply
const FAIL: Reply = Object.freeze({ ok: false, code: 'ERR_HANDLER', message: 'x' })

/** ns per call of `fn(i)`: the median over rounds of `n` calls. */
function nsPerCall (n: number, fn: (i: number) => void): number {
  const rounds: number[] = []
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now()
    for (let i = 0; i < n; i++) fn(i)
    rounds.push((performance.now() - t0) * 1e6 / n)
  }
  return round(pct(rounds, 0.5), 1)
}

function guardCode (): Record<string, unknown> {
  const agents = Array.from({ length: AGENTS }, (_, i) => `agent-${i}`)
  const peers = Array.from({ length: PEERS }, (_, i) => `12D3KooWpeer${i}`)
  const noop = (): void => {}
  // A breaker per agent that failed once (closed, a failure in its window: the map holds it).
  const warm = new AgentBreakers(resolveBreaker({ failureThreshold: 1_000_000, windowMs: 3_600_000 }), noop)
  for (const a of agents) { warm.admit(a); warm.record(a, FAIL) }
  const fresh = new AgentBreakers(resolveBreaker(undefined), noop)
  // Buckets far from empty: every take succeeds, as on a healthy path.
  const limits = new PeerRateLimits(resolveRateLimits({ agentRequests: { ratePerSecond: 1e9, burst: 1e9 }, peerRequests: { ratePerSecond: 1e9, burst: 1e9 } }))
  let refused = 0
  const breakerNoState = nsPerCall(CALLS, (i) => { const a = agents[i % AGENTS]!; if (fresh.admit(a) !== undefined) refused++; fresh.record(a, OK) })
  const breakerClosed = nsPerCall(CALLS, (i) => { const a = agents[i % AGENTS]!; if (warm.admit(a) !== undefined) refused++; warm.record(a, OK) })
  const limiter = nsPerCall(CALLS, (i) => { if (limits.inbound(peers[i % PEERS], agents[i % AGENTS]) !== undefined) refused++ })
  const all = nsPerCall(CALLS, (i) => {
    const a = agents[i % AGENTS]!
    if (warm.admit(a) !== undefined) refused++
    if (limits.inbound(peers[i % PEERS], a) !== undefined) refused++
    warm.record(a, OK)
  })
  const baseline = nsPerCall(CALLS, (i) => { if (agents[i % AGENTS]!.length === 0) refused++ })
  progress(`guard code: breaker ${breakerClosed} ns, limiter ${limiter} ns, both ${all} ns per call`)
  return {
    breakerNoStateNsPerCall: breakerNoState,
    breakerClosedWithFailuresNsPerCall: breakerClosed,
    limiterPeerAndAgentNsPerCall: limiter,
    breakerAndLimiterNsPerCall: all,
    loopBaselineNsPerCall: baseline,
    targetNsPerCall: 1000,
    refused
  }
}

/** µs per sequential local request, `n` of them. */
async function requests (p: Peer, n: number): Promise<number> {
  const t0 = performance.now()
  for (let i = 0; i < n; i++) await p.agents.request('echo', i)
  return (performance.now() - t0) * 1000 / n
}

async function requestPath (): Promise<Record<string, unknown>> {
  const guarded = await createPeer({ logLevel: 'silent', dht: false })
  const bare = await createPeer({ logLevel: 'silent', dht: false, rateLimits: { agentRequests: false, peerRequests: false, writes: false, proposals: false, peerProposals: false } })
  try {
    // The bare peer's breakers are a no-op: what the path costs without any guard.
    Object.assign(bare.agents, { guard: { admit: () => undefined, record: () => {}, isOpen: () => false, retryAfterMs: () => 0 } })
    for (const p of [guarded, bare]) {
      await p.registry.register({ id: 'echo', capabilities: ['echo'] })
      p.agents.handle('echo', { onRequest: (x) => x })
      await requests(p, 2000)
    }
    const g: number[] = []
    const b: number[] = []
    const per = Math.max(100, Math.floor(REQUESTS / 10))
    for (let r = 0; r < 10; r++) {
      g.push(await requests(guarded, per))
      b.push(await requests(bare, per))
    }
    const withUs = pct(g, 0.5)
    const withoutUs = pct(b, 0.5)
    progress(`local request: ${withUs.toFixed(2)} µs with guards, ${withoutUs.toFixed(2)} µs without`)
    return {
      localRequestWithGuardsUs: round(withUs),
      localRequestWithoutGuardsUs: round(withoutUs),
      differenceUs: round(withUs - withoutUs),
      requests: per * 10
    }
  } finally {
    await guarded.stop()
    await bare.stop()
  }
}

export default async function (): Promise<Record<string, unknown>> {
  return { guardCode: guardCode(), requestPath: await requestPath() }
}
