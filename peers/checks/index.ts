/**
 * Agents' health checks (FEATURES I4), Consul-style: an agent of this peer declares checks, the peer runs
 * them, and their results drive the agent's `health` in the registry on every replica.
 *
 *   const peer = await createPeer()
 *   // register with a TTL check: the agent must check in within every 5 s
 *   await peer.checks.register({ id: 'worker-1', capabilities: ['summarize'] }, [{ id: 'alive', ttlMs: 5000 }])
 *   setInterval(() => peer.checks.pass('worker-1', 'alive'), 2000)
 *   // or an HTTP check on an agent already registered: polled every 10 s, unhealthy after 3 failures
 *   await peer.checks.declare('worker-1', [{ id: 'http', http: 'http://127.0.0.1:8080/health', intervalMs: 10_000 }])
 *   peer.checks.on('check:critical', (e) => console.log(e.agent, e.check, e.output))
 *
 * - **TTL** (`{ id, ttlMs }`): `pass`, `warn` or `fail` within every `ttlMs`, else the check is critical.
 * - **HTTP** (`{ id, http, method?, intervalMs?, timeoutMs? }`): 2xx passes, 429 warns, anything else
 *   fails; the URL's host must be loopback unless the peer's `checks.allowHosts` option names it.
 * - **Host liveness**: every replica shows an agent of an unreachable host as `unhealthy` (no declaration).
 *
 * Damping: a check's status follows its results only after `failuresBeforeCritical` worse results in a
 * row (default 1 for TTL, where the TTL is the grace; 3 for HTTP) or `successesBeforePassing` better ones
 * (default 2), so a flapping check does not flap the agent. The agent's health is the worst of its own
 * report (`registry.update(id, { health })`, kept as `reportedHealth`) and its checks: critical →
 * `unhealthy`, warning → at least `degraded`.
 */
export { PeerChecks, CHECKS_PER_PEER_MAX, CHECK_STALL_MS, HTTP_CHECKS_CONCURRENT_DEFAULT, OUTPUT_SYNC_MS_DEFAULT } from './service.js'
export type { CheckEvent, CheckTimers, CheckView, PeerChecksComponents, PeerChecksEventMap, PeerChecksOptions, PeerChecksStats } from './service.js'
export * from './definition.js'
export * from './errors.js'
export { CHECKS_PER_AGENT_MAX, CHECK_OUTPUT_CHARS_MAX, healthFromChecks } from '../../crdt/checks.js'
export type { CheckStatus, StoredCheck } from '../../crdt/checks.js'
