// Variables: eventual ones (merge rule, value, contributions) and strong ones (Raft members only).
import type { JSX } from 'preact'
import { useState } from 'preact/hooks'
import { ErrorNote, Section, Table, show } from '../components'
import { useApi } from '../live'

interface Eventual { name: string, merge: string, value: unknown, contributions: number, conflicting?: number }
interface Strong { name: string, value: unknown, revision?: number, updatedAt?: number, index?: number }

export function VariablesPage (): JSX.Element {
  const [prefix, setPrefix] = useState('')
  const q = prefix !== '' ? `&prefix=${encodeURIComponent(prefix)}` : ''
  const eventual = useApi<{ variables: Eventual[], next: string | null }>(`/v1/variables/eventual?limit=1000${q}`, { on: ['variable:changed', 'contribution:rejected'], everyMs: 5000 })
  const strong = useApi<{ variables: Strong[], next: string | null }>(`/v1/variables/strong?limit=1000&linearizable=false${q}`, { on: ['variable:changed'], everyMs: 5000 })
  return (
    <div class='page'>
      <div class='filters'><label>Name prefix <input type='search' value={prefix} onInput={(e) => { setPrefix((e.target as HTMLInputElement).value) }} /></label></div>
      <Section title='Eventual variables'>
        <ErrorNote error={eventual.error} />
        <Table label='Eventual variables' rows={eventual.data?.variables ?? []} rowKey={v => v.name} empty='No eventual variables.' cols={[
          { key: 'name', label: 'Name', get: v => <span class='mono' data-testid='variable' data-name={v.name}>{v.name}</span> },
          { key: 'merge', label: 'Merge rule', get: v => v.merge },
          { key: 'value', label: 'Value', get: v => <code>{show(v.value)}</code> },
          { key: 'contrib', label: 'Contributions', get: v => String(v.contributions) },
          { key: 'conflicting', label: 'Conflicting', get: v => String(v.conflicting ?? 0) }
        ]} />
        {eventual.data?.next !== null && eventual.data?.next !== undefined ? <p class='muted'>More than 1,000: narrow with a prefix.</p> : null}
      </Section>
      <Section title='Strong variables'>
        {strong.error !== undefined && (strong.error as { code?: string }).code === 'ERR_NOT_RAFT_MEMBER'
          ? <p class='muted'>This daemon is not in the Raft group: strong variables are read on its members.</p>
          : <ErrorNote error={strong.error} />}
        <Table label='Strong variables' rows={strong.data?.variables ?? []} rowKey={v => v.name} empty='No strong variables.' cols={[
          { key: 'name', label: 'Name', get: v => <span class='mono'>{v.name}</span> },
          { key: 'value', label: 'Value', get: v => <code>{show(v.value)}</code> },
          { key: 'rev', label: 'Last change', get: v => v.revision !== undefined ? `revision ${v.revision}` : v.index !== undefined ? `entry ${v.index}` : '—' }
        ]} />
      </Section>
    </div>
  )
}
