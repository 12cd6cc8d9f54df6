// Events: the live feed of this daemon's event stream (the latest 2,000), filtered on the page, and the
// alerts raised now.
import type { JSX } from 'preact'
import { useState } from 'preact/hooks'
import { Badge, Section, Table, VTable, ago, show } from '../components'
import { live, useApi, useEventTick } from '../live'
import type { MeshEvent } from '../live'
import type { HealthReport } from '../types'

const FAMILIES = ['agent', 'variable', 'member', 'raft', 'auction', 'lease', 'lock', 'election', 'barrier', 'vote', 'group', 'task', 'alert', 'check', 'breaker', 'budget', 'heal']

export function EventsPage (): JSX.Element {
  const [family, setFamily] = useState('')
  const [text, setText] = useState('')
  const [paused, setPaused] = useState<MeshEvent[] | undefined>()
  useEventTick(FAMILIES.map(f => `${f}:*`))
  const health = useApi<HealthReport>('/v1/health/mesh', { on: ['alert:*'], everyMs: 5000 })
  const q = text.trim().toLowerCase()
  const source = paused ?? live.events
  const rows = source.filter(e => (family === '' || e.type.startsWith(`${family}:`)) && (q === '' || e.type.includes(q) || (e.subject ?? '').toLowerCase().includes(q))).slice().reverse()
  return (
    <div class='page'>
      <Section title='Alerts'>
        <Table label='Alerts' rows={health.data?.alerts ?? []} rowKey={a => a.name} empty='No alert raised.' cols={[
          { key: 'name', label: 'Alert', get: a => a.name },
          { key: 'sev', label: 'Severity', get: a => <Badge kind={a.severity}>{a.severity}</Badge> },
          { key: 'msg', label: 'Message', get: a => a.message },
          { key: 'since', label: 'Since', get: a => ago(a.since) }
        ]} />
      </Section>
      <Section title='Live events' actions={<button type='button' aria-pressed={paused !== undefined} onClick={() => { setPaused(paused === undefined ? live.events.slice() : undefined) }}>{paused === undefined ? 'Pause' : 'Resume'}</button>}>
        <div class='filters'>
          <label>Kind <select value={family} onChange={(e) => { setFamily((e.target as HTMLSelectElement).value) }}>
            <option value=''>all</option>{FAMILIES.map(f => <option key={f} value={f}>{f}</option>)}
          </select></label>
          <label>Subject or type <input type='search' value={text} onInput={(e) => { setText((e.target as HTMLInputElement).value) }} /></label>
          <span class='muted' role='status'>{rows.length} events</span>
        </div>
        <VTable label='Live events' rows={rows} rowKey={e => String(e.seq)} cols={[
          { key: 'at', label: 'When', get: e => new Date(e.at).toLocaleTimeString(), width: '7rem' },
          { key: 'type', label: 'Event', get: e => <span data-testid='event' data-type={e.type}>{e.type}</span>, width: '11rem' },
          { key: 'subject', label: 'Subject', get: e => <span class='mono'>{e.subject ?? '—'}</span>, width: 'minmax(0, 1fr)' },
          { key: 'data', label: 'Data', get: e => <code>{show(e.data)}</code>, width: 'minmax(0, 2fr)' }
        ]} />
      </Section>
    </div>
  )
}
