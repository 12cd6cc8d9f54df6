/**
 * Heal reports (peers/health): what the episode tracker costs on every poll of the lease table, and what
 * a report's variable outcomes cost, at the scale the limits allow.
 *
 * - `pollUsPer1000Hosts`: one `observeHosts` of 1000 hosts, none changing (every peer pays it each poll);
 * - `pollWithEpisodeUsPer1000Hosts`: the same while an episode is open, 500 hosts lost;
 * - `outcomesMsPer1000Variables`: 1000 variables with 100 contributions each (100000: `contributionsScannedMax`),
 *   half of them within the span, turned into outcomes and ordered.
 */
import { HealTracker, orderOutcomes, variableOutcome } from '../../peers/health/heal-episode.js'
import type { ContributionView, HostView } from '../../peers/health/heal-episode.js'
import { HEAL_LIMITS } from '../../peers/health/heal-types.js'
import type { VariableOutcome } from '../../peers/health/heal-types.js'

export const name = 'heals'

const round = (x: number): number => Number(x.toFixed(2))

function timeUs (runs: number, fn: () => void): number {
  for (let i = 0; i < Math.min(runs, 20); i++) fn()
  const t0 = performance.now()
  for (let i = 0; i < runs; i++) fn()
  return (performance.now() - t0) * 1000 / runs
}

export default async function (): Promise<Record<string, unknown>> {
  const hosts: HostView[] = Array.from({ length: 1000 }, (_, i) => ({ host: `host-${i}`, reachable: true, lastHeardAt: 0 }))
  const t = new HealTracker<never>('self')
  let now = 1
  const poll = timeUs(2000, () => { t.observeHosts(hosts, now++) })
  const lost = hosts.map((h, i) => i % 2 === 0 ? { ...h, reachable: false } : h)
  t.observeHosts(lost, now++)
  const pollEpisode = timeUs(2000, () => { t.observeHosts(lost, now++) })

  const span = { start: 1000, end: 2000 }
  const side = (h: string): 'this' | 'other' => h.endsWith('0') ? 'other' : 'this'
  const contributions: ContributionView[] = Array.from({ length: 100 }, (_, i) => ({ host: `host-${i}`, value: i, time: [i % 2 === 0 ? 1500 : 500, i] }))
  const outcomes = timeUs(5, () => {
    const out: VariableOutcome[] = []
    for (let v = 0; v < 1000; v++) {
      const o = variableOutcome(`var-${v}`, 'lww', contributions, 99, span, side)
      if (o !== undefined) out.push(o)
    }
    orderOutcomes(out, HEAL_LIMITS.variablesMax)
  }) / 1000
  return {
    pollUsPer1000Hosts: round(poll),
    pollWithEpisodeUsPer1000Hosts: round(pollEpisode),
    outcomesMsPer1000Variables: round(outcomes)
  }
}
