// Economy: auctions (open and settled, bids arriving live, outcomes), ledger accounts and money supply.
import type { JSX } from 'preact'
import { useState } from 'preact/hooks'
import { Badge, ErrorNote, Section, Table, ago, show } from '../components'
import { useApi, useEach } from '../live'
import type { Auction } from '../types'

/** Auctions the page lists (the newest ones), and how many open ones it reads in full (their bids). */
export const AUCTIONS_SHOWN_MAX = 50
export const OPEN_AUCTIONS_READ_MAX = 20

interface Account { account: string, owner?: string, free: number, escrow: number, staked: number, unbonding?: number, reputation?: number, slashing?: { count: number }, slashCount?: number }

/** An auction's summary (GET /v1/auctions?detail=1). */
interface AuctionSummary { id: string, mechanism: string, seller: string, status: string, items: unknown[], openedAt: number, closesAt: number | null, bids: number, outcome: string | null, clearingPrice: number | null, winners: Array<{ agent: string, price: number, quantity?: number }> }

const isOpen = (status: string): boolean => status === 'open' || status === 'reveal' || status === 'revealing'

/** The newest auctions' summaries, and the open ones read in full (bids arrive live). */
function useAuctions (): { summaries: AuctionSummary[], open: Map<string, Auction>, error: Error | undefined } {
  const list = useApi<{ auctions: AuctionSummary[] }>(`/v1/auctions?detail=1&limit=${AUCTIONS_SHOWN_MAX}`, { on: ['auction:*'], everyMs: 5000 })
  const summaries = list.data?.auctions ?? []
  const paths = summaries.filter(a => isOpen(a.status)).slice(0, OPEN_AUCTIONS_READ_MAX).map(a => `/v1/auctions/${encodeURIComponent(a.id)}`)
  const each = useEach<{ auction: Auction }>(paths, ['auction:*'])
  return { summaries, open: new Map(each.items.map(x => [x.auction.spec.id, x.auction])), error: list.error ?? each.error }
}

export function EconomyPage (): JSX.Element {
  const { summaries, open, error } = useAuctions()
  const supply = useApi<{ supply: { minted: number, burned: number, circulating: number, total: number } }>('/v1/ledger/supply', { on: ['auction:settled'], everyMs: 5000 })
  const accounts = useApi<{ accounts: Account[], next?: string | null }>('/v1/ledger/accounts?limit=200', { on: ['auction:settled'], everyMs: 5000 })
  const [lookup, setLookup] = useState('')
  const one = useApi<{ account: Account }>(lookup !== '' ? `/v1/ledger/accounts/${encodeURIComponent(lookup)}` : undefined)
  const [form, setForm] = useState('')
  const s = supply.data?.supply
  const live = summaries.filter(a => isOpen(a.status))
  const done = summaries.filter(a => !isOpen(a.status))
  return (
    <div class='page'>
      <Section title='Money supply'>
        <ErrorNote error={supply.error} />
        {s !== undefined ? <div class='stats'><div><span class='k'>Minted</span>{s.minted}</div><div><span class='k'>Burned</span>{s.burned}</div><div><span class='k'>Circulating</span>{s.circulating}</div><div><span class='k'>Total</span>{s.total}</div></div> : null}
      </Section>
      <Section title='Open auctions'>
        <ErrorNote error={error} />
        {live.length === 0 ? <p class='muted'>No open auction.</p> : live.map(a => <AuctionCard key={a.id} summary={a} full={open.get(a.id)} />)}
      </Section>
      <Section title='Settled auctions'>
        {done.length === 0 ? <p class='muted'>No settled auction.</p> : done.map(a => <AuctionCard key={a.id} summary={a} full={undefined} />)}
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
  { key: 'slash', label: 'Slashed', get: (a: Account) => { const n = a.slashing?.count ?? a.slashCount; return n !== undefined ? `${n} times` : '—' } }
]

function AuctionCard (props: { summary: AuctionSummary, full: Auction | undefined }): JSX.Element {
  const { summary: a, full } = props
  return (
    <article class='auction' data-testid='auction' data-auction={a.id} data-status={a.status} aria-label={`Auction ${a.id}`}>
      <h3><span class='mono'>{a.id}</span> <Badge kind={a.status}>{a.status}</Badge> <span class='muted'>{a.mechanism}, items {show(a.items)}, seller {a.seller}, opened {ago(a.openedAt)}, {a.bids} bids</span></h3>
      {full !== undefined
        ? (
          <Table label={`Bids of ${a.id}`} rows={full.bids} rowKey={b => b.agent} empty='No bids yet.' cols={[
            { key: 'agent', label: 'Bidder', get: b => <span class='mono' data-testid='bid' data-agent={b.agent}>{b.agent}</span> },
            { key: 'bid', label: 'Bid', get: b => <code>{show(b.bid)}</code> },
            { key: 'escrow', label: 'Escrowed', get: b => show(b.escrowed) }
          ]} />
          )
        : null}
      {a.outcome !== null
        ? (
          <p class='outcome' data-testid='outcome'>
            Outcome: <strong>{a.outcome}</strong>
            {a.winners.length > 0 ? <> — {a.winners.map(w => `${w.agent} pays ${w.price}`).join('; ')}</> : null}
            {a.clearingPrice !== null ? <>, clearing price {a.clearingPrice}</> : null}
          </p>
          )
        : null}
    </article>
  )
}
