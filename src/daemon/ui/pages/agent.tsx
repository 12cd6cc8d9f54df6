// One agent: its descriptor, its checks (from its host when that is this daemon, else as replicated),
// and the events about it this page has seen.
import type { JSX } from 'preact'
import { Badge, ErrorNote, PeerId, Section, Table, ago, show } from '../components'
import { live, useApi, useEventTick } from '../live'
import type { Agent } from '../types'

interface Check { id: string, kind?: string, status: string, output?: string, at?: number, updatedAt?: number }

export function AgentPage (props: { id: string }): JSX.Element {
  const path = `/v1/agents/${encodeURIComponent(props.id)}`
  const agent = useApi<{ agent: Agent } | Agent>(path, { on: ['agent:*', 'check:*'], everyMs: 5000 })
  const checks = useApi<{ checks: Check[] }>(`${path}/checks`, { on: ['check:*', 'agent:health'], everyMs: 5000 })
  useEventTick(['agent:*', 'check:*', 'breaker:*', 'auction:*', 'task:*'])
  const a = agent.data !== undefined ? ('agent' in agent.data ? agent.data.agent : agent.data) : undefined
  const list: Check[] = checks.data?.checks ?? a?.checks ?? []
  const recent = live.events.filter(e => e.subject === props.id || JSON.stringify(e.data).includes(`"${props.id}"`)).slice(-50).reverse()
  return (
    <div class='page'>
      <p><a href='#/agents'>← All agents</a></p>
      <Section title={`Agent ${props.id}`}>
        <ErrorNote error={agent.error} />
        {a !== undefined
          ? (
            <dl class='kv' data-testid='agent-detail'>
              <dt>Host</dt><dd><PeerId id={a.host} /></dd>
              <dt>Capabilities</dt><dd>{a.capabilities.join(', ') || '—'}</dd>
              <dt>Health</dt><dd><Badge kind={a.health}>{a.health}</Badge>{a.reportedHealth !== undefined ? <span class='muted'> (reports {a.reportedHealth})</span> : null}</dd>
              <dt>Zone</dt><dd>{a.zone ?? '—'}</dd>
              <dt>Load</dt><dd>{a.load ?? '—'}</dd>
              <dt>Updated</dt><dd>{ago(a.updatedAt)}</dd>
              <dt>Status</dt><dd>{show(a.status)}</dd>
              <dt>Metadata</dt><dd><code>{show(a.metadata ?? {})}</code></dd>
            </dl>
            )
          : agent.loading ? <p class='muted'>Loading…</p> : null}
      </Section>
      <Section title='Checks'>
        {checks.error !== undefined && list.length === 0 ? <p class='muted'>Checks are listed by the agent's host; this daemon has none for it.</p> : null}
        <Table label='Checks' rows={list} rowKey={c => c.id} empty='No checks declared.' cols={[
          { key: 'id', label: 'Check', get: c => c.id },
          { key: 'kind', label: 'Kind', get: c => c.kind ?? '—' },
          { key: 'status', label: 'Status', get: c => <Badge kind={c.status}>{c.status}</Badge> },
          { key: 'output', label: 'Output', get: c => c.output ?? '' },
          { key: 'at', label: 'When', get: c => ago(c.at ?? c.updatedAt) }
        ]} />
      </Section>
      <Section title='Recent events'>
        <Table label='Recent events of this agent' rows={recent} rowKey={e => String(e.seq)} empty='No events about this agent since the page opened.' cols={[
          { key: 'at', label: 'When', get: e => new Date(e.at).toLocaleTimeString() },
          { key: 'type', label: 'Event', get: e => e.type },
          { key: 'data', label: 'Data', get: e => <code>{show(e.data)}</code> }
        ]} />
      </Section>
    </div>
  )
}
