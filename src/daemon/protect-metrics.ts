/**
 * Prometheus metrics of a peer's protection (FEATURES I1, I2): the agents' circuit breakers
 * (peers/protect/breakers.ts) and the local rate limits (peers/protect/limits.ts), read at scrape time.
 *
 *   agora_breakers{state}                      breakers by state (open, half-open, closed: tracked ones)
 *   agora_breaker_transitions_total{to}        transitions into each state
 *   agora_breaker_refused_total                calls refused at once (ERR_CIRCUIT_OPEN)
 *   agora_breaker_fallbacks_total              direct calls sent to a fallback agent instead
 *   agora_rate_limited_total{limit}            calls refused by each rate limit (ERR_RATE_LIMITED)
 */
import { Counter, Gauge, type Registry } from 'prom-client'
import type { Peer } from '../../peers/peer.js'

const STATES = ['closed', 'open', 'half-open'] as const

export function registerProtectMetrics (registry: Registry, peer: Peer): void {
  const guard = peer.agents.guard
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'agora_breakers',
    help: 'Circuit breakers of agents this peer calls, by state (closed: tracked ones, with failures lately)',
    labelNames: ['state'],
    registers: [registry],
    collect () {
      const c = guard.counts()
      for (const s of STATES) this.set({ state: s }, c[s])
    }
  })
  const counter = (name: string, help: string, labelNames: string[], read: () => Array<[Record<string, string>, number]>): void => {
    // eslint-disable-next-line no-new
    new Counter({ name, help, labelNames, registers: [registry], collect () { this.reset(); for (const [l, v] of read()) this.inc(l, v) } })
  }
  counter('agora_breaker_transitions_total', 'Circuit breaker transitions, by the state entered', ['to'], () => STATES.map(s => [{ to: s }, guard.stats.transitions[s]]))
  counter('agora_breaker_refused_total', 'Calls refused at once because their agent\'s circuit breaker was open (ERR_CIRCUIT_OPEN)', [], () => [[{}, guard.stats.refused]])
  counter('agora_breaker_fallbacks_total', 'Direct calls sent to another agent of the capability because their agent\'s breaker was open', [], () => [[{}, peer.agents.stats.fallbacks]])
  counter('agora_rate_limited_total', 'Calls refused by this peer\'s rate limits (ERR_RATE_LIMITED), by limit', ['limit'], () => {
    const s = peer.rateLimits.stats
    return [[{ limit: 'agentRequests' }, s.agentRequests], [{ limit: 'peerRequests' }, s.peerRequests], [{ limit: 'writes' }, s.writes], [{ limit: 'proposals' }, s.proposals], [{ limit: 'peerProposals' }, peer.rateLimits.peerProposalsRefused()]]
  })
}
