/**
 * Alert thresholds and the alert tracker (FEATURES I3). The health report's conditions (report.ts) are
 * evaluated against {@link AlertThresholds}; the tracker turns them into alerts with hysteresis: a
 * condition must hold for `raiseAfterMs` before its alert is raised, and be gone for `clearAfterMs`
 * before it is cleared, so a flapping condition raises one alert, not a storm. Pure: time is passed in.
 *
 * @example
 * ```ts
 * const thresholds = resolveAlertOptions({ hostLoadMax: 0.8, clearAfterMs: 2000 })
 * const tracker = new AlertTracker(thresholds)
 * const { raised, cleared } = tracker.update(conditions, Date.now())
 * ```
 */
import { z } from 'zod'
import { InvalidOptionError } from '../../src/base/errors.js'

export type Severity = 'degraded' | 'critical'

/** The conditions a health report evaluates; each is also an alert name (`alert:raised` `name`). */
export const CONDITION_NAMES = [
  'raft-failed', 'no-leader', 'no-quorum', 'isolated',
  'partition', 'sync-lag', 'commit-latency', 'request-latency', 'load', 'breakers-open', 'rate-limited'
] as const
export type ConditionName = typeof CONDITION_NAMES[number]

/** Severity of each condition: the overall status is the worst of the conditions that hold. */
export const SEVERITY_OF: Readonly<Record<ConditionName, Severity>> = Object.freeze({
  'raft-failed': 'critical',
  'no-leader': 'critical',
  'no-quorum': 'critical',
  isolated: 'critical',
  partition: 'degraded',
  'sync-lag': 'degraded',
  'commit-latency': 'degraded',
  'request-latency': 'degraded',
  load: 'degraded',
  'breakers-open': 'degraded',
  'rate-limited': 'degraded'
})

/** Thresholds of the conditions and the alerts' hysteresis (peer option `alerts`, daemon config key `alerts`). */
export interface AlertThresholds {
  /** `partition` when more hosts than this are silent (suspected or unreachable). Default 0. */
  silentPeersMax: number
  /** `no-leader` when this peer is in the Raft group and has known no leader for this long (ms). Default 5000. */
  noLeaderMs: number
  /** `sync-lag` when a reachable host's documents are more than this many updates ahead of ours. Default 1000. */
  syncLagMax: number
  /** `sync-lag` when a lag has lasted longer than this (ms). Default 30000. */
  syncLagMsMax: number
  /** `commit-latency` when the Raft commit p99 of the window exceeds this (ms). Default 1000. */
  commitLatencyP99MsMax: number
  /** `request-latency` when the agent request p99 of the window exceeds this (ms). Default 5000. */
  requestLatencyP99MsMax: number
  /** Latency conditions need at least this many samples in the window. Default 5. */
  latencySamplesMin: number
  /** `load` when a host reports a load at or above this (0..1). Default 0.9. */
  hostLoadMax: number
  /** `breakers-open` when more breakers than this are open (refusing calls now; half-open ones are listed, not counted). Default 0. */
  openBreakersMax: number
  /** `rate-limited` when more keys than this refused calls lately. Default 0. */
  rateLimitedMax: number
  /** A condition must hold this long before its alert is raised (ms). Default 0 (at the first evaluation). */
  raiseAfterMs: number
  /** A raised alert is cleared once its condition has been gone this long (ms). Default 5000. */
  clearAfterMs: number
  /** Conditions never evaluated (not in the status, never an alert). Default none. */
  disabled: ConditionName[]
}

export const ALERT_DEFAULTS: Readonly<AlertThresholds> = Object.freeze({
  silentPeersMax: 0,
  noLeaderMs: 5000,
  syncLagMax: 1000,
  syncLagMsMax: 30_000,
  commitLatencyP99MsMax: 1000,
  requestLatencyP99MsMax: 5000,
  latencySamplesMin: 5,
  hostLoadMax: 0.9,
  openBreakersMax: 0,
  rateLimitedMax: 0,
  raiseAfterMs: 0,
  clearAfterMs: 5000,
  disabled: []
})

const count = z.number().int().min(0).max(1_000_000_000)
const ms = z.number().int().min(0).max(24 * 3600 * 1000)

/** The `alerts` option (every key optional; defaults in {@link ALERT_DEFAULTS}). */
export const alertOptionsSchema = z.object({
  silentPeersMax: count.optional(),
  noLeaderMs: ms.optional(),
  syncLagMax: count.optional(),
  syncLagMsMax: ms.optional(),
  commitLatencyP99MsMax: z.number().positive().max(3_600_000).optional(),
  requestLatencyP99MsMax: z.number().positive().max(3_600_000).optional(),
  latencySamplesMin: z.number().int().min(1).max(1_000_000).optional(),
  hostLoadMax: z.number().min(0).max(1).optional(),
  openBreakersMax: count.optional(),
  rateLimitedMax: count.optional(),
  raiseAfterMs: ms.optional(),
  clearAfterMs: ms.optional(),
  disabled: z.array(z.enum(CONDITION_NAMES)).max(CONDITION_NAMES.length).optional()
}).strict()

export type AlertOptions = z.input<typeof alertOptionsSchema>

/** Validates `alerts` and fills the defaults; InvalidOptionError names the bad key (`alerts.hostLoadMax`). */
export function resolveAlertOptions (options: unknown, path = 'alerts'): AlertThresholds {
  const r = alertOptionsSchema.safeParse(options ?? {})
  if (!r.success) {
    const issue = r.error.issues[0]!
    const keys = issue.code === 'unrecognized_keys' ? (issue as { keys: string[] }).keys : []
    throw new InvalidOptionError([path, ...issue.path.map(String), ...keys].join('.'), issue.code === 'unrecognized_keys' ? 'unknown key' : issue.message)
  }
  const o = Object.fromEntries(Object.entries(r.data).filter(([, v]) => v !== undefined))
  return { ...ALERT_DEFAULTS, ...o, disabled: [...(r.data.disabled ?? [])] }
}

/** A condition that holds now: one of a health report's `reasons`. */
export interface HealthCondition {
  name: ConditionName
  severity: Severity
  /** What holds, in words ("2 hosts silent: ..."). */
  message: string
  /** The measured value and the threshold it crossed (absent for yes/no conditions). */
  value?: number
  threshold?: number
}

/** An alert raised and not cleared yet. */
export interface ActiveAlert {
  name: ConditionName
  severity: Severity
  message: string
  /** When it was raised (ms, the tracker's clock). */
  since: number
  value?: number
  threshold?: number
}

export interface AlertRaised extends ActiveAlert {}
export interface AlertCleared {
  name: ConditionName
  severity: Severity
  /** When it was raised and how long it lasted (ms). */
  since: number
  activeMs: number
}

interface Track {
  /** When the condition was first seen holding in its current run (undefined: not holding). */
  holdingSince: number | undefined
  /** When it was last seen holding. */
  lastHeld: number
  /** Raised and not cleared. */
  active: ActiveAlert | undefined
}

/**
 * Raises and clears alerts from successive condition sets, with hysteresis. Bounded: one record per
 * condition name ({@link CONDITION_NAMES}).
 */
export class AlertTracker {
  private readonly tracks = new Map<ConditionName, Track>()

  constructor (private readonly thresholds: AlertThresholds) {}

  /** Feeds the conditions holding at `now`; returns the alerts raised and cleared by this evaluation. */
  update (conditions: readonly HealthCondition[], now: number): { raised: AlertRaised[], cleared: AlertCleared[] } {
    const raised: AlertRaised[] = []
    const cleared: AlertCleared[] = []
    const holding = new Map<ConditionName, HealthCondition>()
    for (const c of conditions) holding.set(c.name, c)
    for (const name of CONDITION_NAMES) {
      const c = holding.get(name)
      let t = this.tracks.get(name)
      if (c !== undefined) {
        if (t === undefined) { t = { holdingSince: undefined, lastHeld: now, active: undefined }; this.tracks.set(name, t) }
        t.holdingSince ??= now
        t.lastHeld = now
        if (t.active !== undefined) {
          // Still active: keep its latest measure.
          t.active = { ...t.active, message: c.message, ...measure(c) }
        } else if (now - t.holdingSince >= this.thresholds.raiseAfterMs) {
          t.active = { name, severity: c.severity, message: c.message, since: now, ...measure(c) }
          raised.push({ ...t.active })
        }
      } else if (t !== undefined) {
        t.holdingSince = undefined
        if (t.active !== undefined && now - t.lastHeld >= this.thresholds.clearAfterMs) {
          cleared.push({ name, severity: t.active.severity, since: t.active.since, activeMs: now - t.active.since })
          t.active = undefined
        }
        if (t.active === undefined) this.tracks.delete(name)
      }
    }
    return { raised, cleared }
  }

  /** The alerts raised and not cleared, in {@link CONDITION_NAMES} order. */
  active (): ActiveAlert[] {
    const out: ActiveAlert[] = []
    for (const name of CONDITION_NAMES) {
      const a = this.tracks.get(name)?.active
      if (a !== undefined) out.push({ ...a })
    }
    return out
  }
}

function measure (c: HealthCondition): { value?: number, threshold?: number } {
  return { ...(c.value !== undefined ? { value: c.value } : {}), ...(c.threshold !== undefined ? { threshold: c.threshold } : {}) }
}
