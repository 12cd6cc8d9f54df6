// Coordination: leases, locks and their holders, elections, barriers, votes, budgets; and task queues.
import type { JSX } from 'preact'
import { Badge, ErrorNote, PeerId, Section, Table, ago, show } from '../components'
import { useApi } from '../live'

interface Lease { id: string, owner?: string, holder?: string, ttlMs?: number, expiresAt?: number }
interface Lock { name: string, holder?: unknown, owner?: string, token?: number, fence?: unknown, waiters?: number, queue?: unknown[] }
interface Named { name?: string, id?: string, [k: string]: unknown }
interface Budget { name: string, rate?: number, ratePerSecond?: number, burst?: number, owner?: string, hosts?: unknown[] }
interface Task { id: string, state: string, capability?: string, agent?: string | null, submittedAt?: number, attempts?: number }

function optional (e: Error | undefined): boolean {
  const code = (e as { code?: string } | undefined)?.code
  return code === 'ERR_NOT_FOUND' || code === 'ERR_NOT_RAFT_MEMBER'
}

function Named (props: { title: string, path: string, on: string[], field: string }): JSX.Element {
  const r = useApi<Record<string, Named[]>>(props.path, { on: props.on, everyMs: 5000 })
  const rows = r.data?.[props.field] ?? []
  return (
    <Section title={props.title}>
      {optional(r.error) ? <p class='muted'>Not listed by this daemon.</p> : <ErrorNote error={r.error} />}
      <Table label={props.title} rows={rows} rowKey={x => String(x.name ?? x.id)} empty='None.' cols={[
        { key: 'name', label: 'Name', get: x => <span class='mono'>{String(x.name ?? x.id)}</span> },
        { key: 'state', label: 'State', get: x => <code>{show(Object.fromEntries(Object.entries(x).filter(([k]) => k !== 'name' && k !== 'id')))}</code> }
      ]} />
    </Section>
  )
}

export function CoordinationPage (): JSX.Element {
  const leases = useApi<{ leases: Lease[] }>('/v1/coordination/leases', { on: ['lease:*'], everyMs: 5000 })
  const locks = useApi<{ locks: Lock[] }>('/v1/coordination/locks', { on: ['lock:*'], everyMs: 5000 })
  const budgets = useApi<{ budgets: Budget[] }>('/v1/budgets', { on: ['budget:*'], everyMs: 5000 })
  return (
    <div class='page'>
      <Section title='Locks'>
        <ErrorNote error={locks.error} />
        <Table label='Locks' rows={locks.data?.locks ?? []} rowKey={l => l.name} empty='No locks held.' cols={[
          { key: 'name', label: 'Lock', get: l => <span class='mono'>{l.name}</span> },
          { key: 'holder', label: 'Holder', get: l => <code>{show(l.holder ?? l.owner)}</code> },
          { key: 'fence', label: 'Fence', get: l => show(l.token ?? l.fence) },
          { key: 'waiters', label: 'Waiting', get: l => show(l.waiters ?? l.queue?.length ?? 0) }
        ]} />
      </Section>
      <Section title='Leases'>
        <ErrorNote error={leases.error} />
        <Table label='Leases' rows={leases.data?.leases ?? []} rowKey={l => l.id} empty='No leases.' cols={[
          { key: 'id', label: 'Lease', get: l => <span class='mono'>{l.id}</span> },
          { key: 'owner', label: 'Owner', get: l => <PeerId id={l.owner ?? l.holder} /> },
          { key: 'ttl', label: 'TTL', get: l => l.ttlMs !== undefined ? `${l.ttlMs} ms` : '—' },
          { key: 'exp', label: 'Expires', get: l => l.expiresAt !== undefined ? new Date(l.expiresAt).toLocaleTimeString() : '—' }
        ]} />
      </Section>
      <Named title='Elections' path='/v1/coordination/elections' on={['election:*']} field='elections' />
      <Named title='Barriers' path='/v1/coordination/barriers' on={['barrier:*']} field='barriers' />
      <Named title='Votes' path='/v1/coordination/votes' on={['vote:*']} field='votes' />
      <Section title='Budgets'>
        <ErrorNote error={budgets.error} />
        <Table label='Budgets' rows={budgets.data?.budgets ?? []} rowKey={b => b.name} empty='No budgets.' cols={[
          { key: 'name', label: 'Budget', get: b => <span class='mono'>{b.name}</span> },
          { key: 'rate', label: 'Rate /s', get: b => show(b.ratePerSecond ?? b.rate) },
          { key: 'burst', label: 'Burst', get: b => show(b.burst) },
          { key: 'hosts', label: 'Hosts', get: b => show(b.hosts?.length) }
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
        <Table label='Tasks' rows={list} rowKey={t => t.id} empty='No tasks.' cols={[
          { key: 'id', label: 'Task', get: t => <span class='mono'>{t.id}</span> },
          { key: 'state', label: 'State', get: t => <Badge kind={t.state}>{t.state}</Badge> },
          { key: 'cap', label: 'Capability', get: t => t.capability ?? '—' },
          { key: 'agent', label: 'Agent', get: t => t.agent ?? '—' },
          { key: 'att', label: 'Attempts', get: t => show(t.attempts) },
          { key: 'at', label: 'Submitted', get: t => ago(t.submittedAt) }
        ]} />
      </Section>
    </div>
  )
}
