// Coordination: leases, locks and their holders, elections, barriers, votes, budgets; and task queues.
import type { JSX } from 'preact'
import { Badge, ErrorNote, PeerId, Section, Table, ago, show } from '../components'
import { useApi, useEach } from '../live'

interface Lease { lease: number, ttlMs: number, dedicated: boolean, expiresInMs: number | null, holds: Array<{ kind: string, name: string, token: number }> }
interface Lock { kind: string, name: string, permits: number, holders: Array<{ owner: string, token: number, since: number }>, waiters: unknown[], newest: number }
interface Election { name: string, leader: { owner: string, lease: number, token: number, since: number, value?: unknown } | null, candidates: number }
interface Barrier { name: string, parties: number, arrived: number, generation: number, deadline: number | null, zone: string | null }
interface Vote { vote: number, topic: string, options: string[], status: string, voters: number, ballots: number, tally: Array<[string, number]>, outcome: unknown, deadline: number | null }
interface BudgetShare { name: string, capacity: number, state: string, share: { ratePerSecond: number, burst: number }, available: number }
interface Task { id: number, state: string, agent: string | null, attempts: number, record: { target: { agent?: string, capability?: string, query?: unknown }, submittedAt: number, retries: number } }

/** Busy locks whose holders and waiters the page reads (one request each). */
export const LOCKS_READ_MAX = 50

function useLocks (): { locks: Lock[], error: Error | undefined } {
  const names = useApi<{ locks: string[] }>('/v1/coordination/locks', { on: ['lock:*'], everyMs: 5000 })
  const paths = (names.data?.locks ?? []).slice(0, LOCKS_READ_MAX).map(n => `/v1/coordination/locks/${encodeURIComponent(n)}`)
  const each = useEach<{ lock: Lock | null }>(paths, ['lock:*'])
  return { locks: each.items.map(x => x.lock).filter((x): x is Lock => x !== null), error: names.error ?? each.error }
}

export function CoordinationPage (): JSX.Element {
  const leases = useApi<{ leases: Lease[] }>('/v1/coordination/leases', { on: ['lease:*', 'lock:*', 'election:*'], everyMs: 5000 })
  const locks = useLocks()
  const budgets = useApi<{ budgets: string[], joined: BudgetShare[] }>('/v1/budgets', { on: ['budget:*'], everyMs: 5000 })
  const elections = useApi<{ elections: Election[] }>('/v1/coordination/elections?limit=200', { on: ['election:*'], everyMs: 5000 })
  const barriers = useApi<{ barriers: Barrier[] }>('/v1/coordination/barriers?limit=200', { on: ['barrier:*'], everyMs: 5000 })
  const votes = useApi<{ votes: Vote[] }>('/v1/coordination/votes?limit=200', { on: ['vote:*'], everyMs: 5000 })
  const shares = new Map((budgets.data?.joined ?? []).map(j => [j.name, j]))
  return (
    <div class='page'>
      <Section title='Locks'>
        <ErrorNote error={locks.error} />
        <Table label='Locks' rows={locks.locks} rowKey={l => l.name} empty='No lock held.' cols={[
          { key: 'name', label: 'Lock', get: l => <span class='mono' data-testid='lock' data-name={l.name}>{l.name}</span> },
          { key: 'kind', label: 'Kind', get: l => l.permits > 1 ? `semaphore of ${l.permits}` : l.kind },
          { key: 'holders', label: 'Holders', get: l => l.holders.length === 0 ? '—' : <>{l.holders.map(h => <span key={h.token}><PeerId id={h.owner} /> (token {h.token}) </span>)}</> },
          { key: 'waiters', label: 'Waiting', get: l => String(l.waiters.length) },
          { key: 'newest', label: 'Newest token', get: l => String(l.newest) }
        ]} />
      </Section>
      <Section title='Leases of this daemon'>
        <ErrorNote error={leases.error} />
        <Table label='Leases of this daemon' rows={leases.data?.leases ?? []} rowKey={l => String(l.lease)} empty='No HTTP lease.' cols={[
          { key: 'id', label: 'Lease', get: l => <span class='mono'>{l.lease}</span> },
          { key: 'ttl', label: 'TTL', get: l => `${l.ttlMs} ms${l.dedicated ? ' (dedicated)' : ''}` },
          { key: 'exp', label: 'Expires in', get: l => l.expiresInMs !== null ? `${Math.round(l.expiresInMs / 100) / 10} s` : '—' },
          { key: 'holds', label: 'Holds', get: l => l.holds.map(h => `${h.kind} ${h.name}`).join(', ') || '—' }
        ]} />
      </Section>
      <Section title='Elections'>
        <ErrorNote error={elections.error} />
        <Table label='Elections' rows={elections.data?.elections ?? []} rowKey={e => e.name} empty='No elections.' cols={[
          { key: 'name', label: 'Election', get: e => <span class='mono'>{e.name}</span> },
          { key: 'leader', label: 'Leader', get: e => e.leader !== null ? <PeerId id={e.leader.owner} /> : <span class='muted'>none</span> },
          { key: 'term', label: 'Term (token)', get: e => show(e.leader?.token) },
          { key: 'value', label: 'Value', get: e => <code>{show(e.leader?.value)}</code> },
          { key: 'cand', label: 'Candidates', get: e => String(e.candidates) }
        ]} />
      </Section>
      <Section title='Barriers'>
        <ErrorNote error={barriers.error} />
        <Table label='Barriers' rows={barriers.data?.barriers ?? []} rowKey={b => b.name} empty='No barriers.' cols={[
          { key: 'name', label: 'Barrier', get: b => <span class='mono'>{b.name}</span> },
          { key: 'arrived', label: 'Arrived', get: b => `${b.arrived} of ${b.parties}` },
          { key: 'gen', label: 'Generation', get: b => String(b.generation) },
          { key: 'deadline', label: 'Deadline', get: b => b.deadline !== null ? new Date(b.deadline).toLocaleTimeString() : '—' }
        ]} />
      </Section>
      <Section title='Votes'>
        <ErrorNote error={votes.error} />
        <Table label='Votes' rows={votes.data?.votes ?? []} rowKey={v => String(v.vote)} empty='No votes.' cols={[
          { key: 'id', label: 'Vote', get: v => <span class='mono'>{v.vote}</span> },
          { key: 'topic', label: 'Topic', get: v => v.topic },
          { key: 'status', label: 'Status', get: v => <Badge kind={v.status}>{v.status}</Badge> },
          { key: 'ballots', label: 'Ballots', get: v => `${v.ballots} of ${v.voters}` },
          { key: 'tally', label: 'Tally', get: v => v.tally.map(([o, n]) => `${o} ${n}`).join(', ') },
          { key: 'outcome', label: 'Outcome', get: v => show(v.outcome ?? undefined) }
        ]} />
      </Section>
      <Section title='Budgets'>
        <ErrorNote error={budgets.error} />
        <Table label='Budgets' rows={budgets.data?.budgets ?? []} rowKey={b => b} empty='No budgets.' cols={[
          { key: 'name', label: 'Budget', get: b => <span class='mono'>{b}</span> },
          { key: 'state', label: 'This daemon', get: b => shares.get(b)?.state ?? 'not joined' },
          { key: 'share', label: 'Share /s', get: b => show(shares.get(b)?.share.ratePerSecond) },
          { key: 'avail', label: 'Tokens now', get: b => show(shares.get(b) !== undefined ? Math.floor(shares.get(b)!.available) : undefined) }
        ]} />
      </Section>
    </div>
  )
}

export function TasksPage (): JSX.Element {
  const tasks = useApi<{ tasks: Task[] }>('/v1/tasks?limit=1000', { on: ['task:*'], everyMs: 5000 })
  const list = tasks.data?.tasks ?? []
  const counts = new Map<string, number>()
  for (const t of list) counts.set(t.state, (counts.get(t.state) ?? 0) + 1)
  return (
    <div class='page'>
      <Section title='Tasks'>
        <ErrorNote error={tasks.error} />
        <div class='stats'>{[...counts].map(([s, n]) => <div key={s}><span class='k'>{s}</span>{n}</div>)}</div>
        <Table label='Tasks' rows={list} rowKey={t => String(t.id)} empty='No tasks.' cols={[
          { key: 'id', label: 'Task', get: t => <span class='mono' data-testid='task' data-task={t.id} data-state={t.state}>{t.id}</span> },
          { key: 'state', label: 'State', get: t => <Badge kind={t.state}>{t.state}</Badge> },
          { key: 'target', label: 'For', get: t => t.record.target.capability !== undefined ? `capability ${t.record.target.capability}` : t.record.target.agent !== undefined ? `agent ${t.record.target.agent}` : 'a query' },
          { key: 'agent', label: 'Agent', get: t => t.agent ?? '—' },
          { key: 'att', label: 'Attempts', get: t => `${t.attempts} of ${t.record.retries + 1}` },
          { key: 'at', label: 'Submitted', get: t => ago(t.record.submittedAt) }
        ]} />
      </Section>
    </div>
  )
}
