/** Topic and limits of liveness. */
import { DEFAULT_LIMITS } from '../../../crdt/limits.js'

/** Gossipsub topic of heartbeats (sealed by their author, peers/seal.ts; codec in heartbeat.ts): `/agora/<mesh>/heartbeat/2`. */
export function heartbeatTopic (mesh: string): string {
  return `/agora/${mesh}/heartbeat/2`
}

/** Heartbeats older than this many leases (at least a minute) are taken for replays. */
export const HEARTBEAT_AGE_MAX_LEASES = 10
/** Floor of the replay age bound (ms). */
export const HEARTBEAT_AGE_MIN_MS = 60_000
/** How long `announceLeaving()` waits for its heartbeat to be published, by default (ms). */
export const LEAVING_TIMEOUT_MS = 500

/** Default of `heartbeatIntervalMs` (the peer option's default). */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 1000
/** `leaseMs` defaults to this many heartbeat intervals (the peer option's default). */
export const DEFAULT_LEASE_HEARTBEATS = 3
/** Default of `hostsMax`: the registry limit's default. */
export const DEFAULT_HOSTS_MAX = DEFAULT_LIMITS.hostsMax
/** Default of `hlcDriftMsMax`: the registry limit's default. */
export const DEFAULT_HLC_DRIFT_MS_MAX = DEFAULT_LIMITS.hlcDriftMsMax
