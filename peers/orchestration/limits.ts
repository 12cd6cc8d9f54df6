/** Named limits and defaults of orchestration variables (peers/orchestration). Units go last. */

/** Orchestrated variables one peer declares at once. */
export const ORCHESTRATED_VARIABLES_MAX = 256
/** Characters of an orchestrated variable's name (its Raft keys add a prefix and a suffix). */
export const ORCH_NAME_CHARS_MAX = 100
/** History entries kept by default, and the most a declaration may ask for. */
export const HISTORY_MAX_DEFAULT = 100
export const HISTORY_MAX_LIMIT = 1000
/** Per-agent delivery outcomes listed in one coordination entry (the counts cover every agent). */
export const HISTORY_OUTCOMES_MAX = 64
/** Bytes of a value (or proposal) a history entry shows as is; a larger one shows as `{ omitted: 'value', bytes }`. */
export const HISTORY_VALUE_BYTES_MAX = 1024
/** Characters of a reason or error text kept in a history entry. */
export const HISTORY_REASON_CHARS_MAX = 256
/** Metrics the owner keeps between two adaptation rounds (the oldest dropped first, and counted). */
export const METRICS_WINDOW_MAX_DEFAULT = 1000
export const METRICS_WINDOW_MAX_LIMIT = 100_000
/** Bytes of one metric's JSON (a hand-reported one). */
export const METRIC_BYTES_MAX = 4096
/** Task outcomes between two adaptation rounds, by default. */
export const ADAPT_EVERY_OUTCOMES_DEFAULT = 10
/** Task latency look-ups (a read of the task) the owner has in flight; beyond it, outcomes carry no latency. */
export const LATENCY_LOOKUPS_CONCURRENT_MAX = 32
/** Agents one coordination round addresses (the `affects` query's limit). */
export const AFFECTED_AGENTS_MAX = 1000
/** Deliveries of one round in flight at once, by default and at most. */
export const DELIVERIES_CONCURRENT_DEFAULT = 16
export const DELIVERIES_CONCURRENT_MAX = 256
/** Time one delivery (one request to an agent) may take, by default and at most. */
export const DELIVERY_TIMEOUT_MS_DEFAULT = 5000
export const DELIVERY_TIMEOUT_MS_MAX = 120_000
/** Attempts of one delivery within a round, by default and at most (never retried after the round). */
export const DELIVERY_ATTEMPTS_DEFAULT = 2
export const DELIVERY_ATTEMPTS_MAX = 10
/** Bytes of one delivered payload's JSON. */
export const INSTRUCTION_BYTES_MAX = 16 * 1024
/** Period of the owner's re-read of the value, the team and the inbox (the safety net of the events), by default and at least. */
export const POLL_MS_DEFAULT = 1000
export const POLL_MS_MIN = 20
/** Compare-and-set attempts of a set, a history append or an inbox append before ERR_CONTENDED. */
export const CAS_ATTEMPTS_MAX = 16
/** Hand-reported metrics kept in the Raft inbox for the owner (the last ones). */
export const INBOX_MAX = 256
/** Allowed values of a `oneOf` constraint. */
export const ONE_OF_MAX = 256
/** (agent, variable) pairs an instruction handler remembers the last version of. */
export const FOLLOWED_MAX = 10_000
