/**
 * Prometheus metrics of this peer's shares of mesh-wide budgets (peers/budget), read at scrape time. The
 * `budget` label takes the names of the budgets joined here: at most JOINED_MAX (64) values.
 */
import { Counter, Gauge } from 'prom-client'
import type { Registry } from 'prom-client'
import type { Peer } from '../../peers/peer.js'

export function registerBudgetMetrics (registry: Registry, peer: Pick<Peer, 'budgets'>): void {
  const gauge = (name: string, help: string, read: (s: ReturnType<Peer['budgets']['statuses']>[number]) => number): void => {
    // eslint-disable-next-line no-new
    new Gauge({
      name,
      help,
      labelNames: ['budget'],
      registers: [registry],
      collect () {
        this.reset()
        for (const s of peer.budgets.statuses()) this.set({ budget: s.name }, read(s))
      }
    })
  }
  gauge('agora_budget_share_tokens_per_second', 'This peer\'s share of each budget it joined (0 while it holds none: lease lost, joining again)', s => s.share.ratePerSecond)
  gauge('agora_budget_share_burst_tokens', 'The burst of this peer\'s share of each budget it joined', s => s.share.burst)
  gauge('agora_budget_available_tokens', 'Tokens in this peer\'s bucket of each budget it joined', s => s.available)
  gauge('agora_budget_hosts', 'Hosts sharing each budget this peer joined, as it last learnt from the log', s => s.budget?.hosts.length ?? 0)
  // eslint-disable-next-line no-new
  new Counter({
    name: 'agora_budget_takes_total',
    help: 'Takes from this peer\'s shares, by budget and result (admitted: tokens taken; refused: takes refused, ERR_BUDGET_EXHAUSTED)',
    labelNames: ['budget', 'result'],
    registers: [registry],
    collect () {
      this.reset()
      for (const s of peer.budgets.statuses()) {
        this.inc({ budget: s.name, result: 'admitted' }, s.admitted)
        this.inc({ budget: s.name, result: 'refused' }, s.refused)
      }
    }
  })
  // eslint-disable-next-line no-new
  new Counter({
    name: 'agora_budget_share_changes_total',
    help: 'Changes of this peer\'s budget shares, by kind (resplit: the log changed the split; lease-lost: the share dropped with the session lease; rejoin: joined again; malformed: a member\'s view dropped)',
    labelNames: ['kind'],
    registers: [registry],
    collect () {
      const s = peer.budgets.stats
      this.reset()
      this.inc({ kind: 'resplit' }, s.resplits)
      this.inc({ kind: 'lease-lost' }, s.leasesLost)
      this.inc({ kind: 'rejoin' }, s.rejoins)
      this.inc({ kind: 'malformed' }, s.malformedViews)
    }
  })
}
