// Economy: auctions (open and settled, bids arriving live, outcomes), ledger accounts and money supply.
import type { JSX } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import { api } from '../api'
import { Badge, ErrorNote, Section, Table, ago, show } from '../components'
import { useApi, useEventTick } from '../live'
import type { Auction } from '../types'

/** Auctions whose details the page reads (the latest ones). */
export const AUCTIONS_SHOWN_MAX = 50

interface Account { account: string, owner?: string, free: number, escrow: number, staked: number, unbonding?: number, reputation?: number, slashCount?: number, history?: unknown[] }

function useAuctions (): { auctions: Auction[], error: Error | undefined } {
  const ids = useApi<{ auctions: string[] }>('/v1/auctions', { on: ['auction:opened', 'auction:settled'], everyMs: 5000 })
  const tick = useEventTick(['auction:*'])
  const [auctions, setAuctions] = useState<Auction[]>([])
  const [error, setError] = useState<Error | undefined>()
  const list = (ids.data?.auctions ?? []).slice(-AUCTIONS_SHOWN_MAX).reverse()
  const key = list.join(',')
  useEffect(() => {
    const ctrl = new AbortController()
    Promise.all(list.map(async id => (await api<{ auction: Auction }>(`/v1/auctions/${encodeURIComponent(id)}`, { signal: ctrl.signal })).auction))
      .then(a => { setAuctions(a); setError(undefined) })
      .catch((err: Error) => { if (!ctrl.signal.aborted) setError(err) })
    return () => { ctrl.abort() }
  }, [key, tick])
  return { auctions, error: ids.error ?? error }
}

export function EconomyPage (): JSX.Element {
  const { auctions, error } = useAuctions()
  const supply = useApi<{ supply: { minted: number, burned: number, circulating: number, total: number } }>('/v1/ledger/supply', { on: ['auction:settled'], everyMs: 5000 })
  const accounts = useApi<{ accounts: Account[], next?: string | null }>('/v1/ledger/accounts?limit=200', { on: ['auction:settled'], everyMs: 5000 })
  const [lookup, setLookup] = useState('')
  const one = useApi<{ account: Account }>(lookup !== '' ? `/v1/ledger/accounts/${encodeURIComponent(lookup)}` : undefined)
  const [form, setForm] = useState('')
  const open = auctions.filter(a => a.status === 'open' || a.status === 'revealing')
  const done = auctions.filter(a => !(a.status === 'open' || a.status === 'revealing'))
  const s = supply.data?.supply
  return (
    <div class='page'>
      <Section title='Money supply'>
        <ErrorNote error={supply.error} />
        {s !== undefined ? <div class='stats'><div><span class='k'>Minted</span>{s.minted}</div><div><span class='k'>Burned</span>{s.burned}</div><div><span class='k'>Circulating</span>{s.circulating}</div><div><span class='k'>Total</span>{s.total}</div></div> : null}
      </Section>
      <Section title='Open auctions'>
        <ErrorNote error={error} />
        {open.length === 0 ? <p class='muted'>No open auction.</p> : open.map(a => <AuctionCard key={a.spec.id} a={a} />)}
      </Section>
      <Section title='Settled auctions'>
        {done.length === 0 ? <p class='muted'>No settled auction.</p> : done.map(a => <AuctionCard key={a.spec.id} a={a} />)}
      </Section>
      <Section title='Ledger accounts'>
        {accounts.error === undefined
          ? <Table label='Ledger accounts' rows={accounts.data?.accounts ?? []} rowKey={a => a.account} empty='No accounts.' cols={accountCols} />
          : <p class='muted'>This daemon does not list accounts; look one up by id.</p>}
        <form class='filters' onSubmit={(e) => { e.preventDefault(); setLookup(form.trim()) }}>
          <label>Account id <input value={form} onInput={(e) => { setForm((e.target as HTMLInputElement).value) }} /></label>
          <button type='submit'>Look up</button>
        </form>
        <ErrorNote error={one.error} />
        {one.data !== undefined ? <Table label='Account' rows={[one.data.account]} rowKey={a => a.account} cols={accountCols} /> : null}
      </Section>
    </div>
  )
}

const accountCols = [
  { key: 'id', label: 'Account', get: (a: Account) => <span class='mono'>{a.account}</span> },
  { key: 'free', label: 'Balance', get: (a: Account) => String(a.free) },
  { key: 'escrow', label: 'Escrow', get: (a: Account) => String(a.escrow) },
  { key: 'staked', label: 'Staked', get: (a: Account) => String(a.staked) },
  { key: 'rep', label: 'Reputation', get: (a: Account) => a.reputation !== undefined ? a.reputation.toFixed(2) : '—' },
  { key: 'slash', label: 'Slashed', get: (a: Account) => a.slashCount !== undefined ? `${a.slashCount} times` : '—' }
]

function AuctionCard (props: { a: Auction }): JSX.Element {
  const { a } = props
  const outcome = a.outcome
  return (
    <article class='auction' data-testid='auction' data-auction={a.spec.id} data-status={a.status} aria-label={`Auction ${a.spec.id}`}>
      <h3><span class='mono'>{a.spec.id}</span> <Badge kind={a.status}>{a.status}</Badge> <span class='muted'>{a.spec.mechanism}, items {show(a.spec.items)}, seller {a.seller}, opened {ago(a.openedAt)}</span></h3>
      <Table label={`Bids of ${a.spec.id}`} rows={a.bids} rowKey={b => b.agent} empty='No bids yet.' cols={[
        { key: 'agent', label: 'Bidder', get: b => <span class='mono' data-testid='bid' data-agent={b.agent}>{b.agent}</span> },
        { key: 'bid', label: 'Bid', get: b => <code>{show(b.bid)}</code> },
        { key: 'escrow', label: 'Escrowed', get: b => show(b.escrowed) }
      ]} />
      {outcome !== undefined && outcome !== null
        ? (
          <p class='outcome' data-testid='outcome'>
            Outcome: <strong>{outcome.status}</strong>
            {outcome.winners.length > 0 ? <> — {outcome.winners.map(w => `${w.agent} pays ${w.price}`).join('; ')}</> : null}
            {outcome.clearingPrice !== undefined ? <>, clearing price {outcome.clearingPrice}</> : null}
          </p>
          )
        : null}
    </article>
  )
}
