// Agents: every agent of the registry (paged in by id, then kept live from the agent:* events), searched
// on the page; a windowed table keeps 10,000 rows cheap.
import type { JSX } from 'preact'
import { useEffect, useMemo, useRef, useState } from 'preact/hooks'
import { api } from '../api'
import { Badge, ErrorNote, PeerId, Section, VTable, ago, show } from '../components'
import { live } from '../live'
import type { Agent } from '../types'
import { go } from '../router'

/** Agents read per request (the API's page size). */
const PAGE = 1000
/** Agents the page holds at most (the rest are counted, not shown). */
export const AGENTS_SHOWN_MAX = 50_000

async function loadAll (signal: AbortSignal): Promise<{ agents: Map<string, Agent>, truncated: boolean }> {
  const agents = new Map<string, Agent>()
  let after: string | undefined
  for (;;) {
    const where = after === undefined ? [] : [['id', 'gt', after]]
    const r = await api<{ agents: Agent[] }>('/v1/agents/query', { method: 'POST', body: { where, orderBy: 'id', limit: PAGE }, signal })
    for (const a of r.agents) agents.set(a.id, a)
    if (r.agents.length < PAGE) return { agents, truncated: false }
    if (agents.size >= AGENTS_SHOWN_MAX) return { agents, truncated: true }
    after = r.agents[r.agents.length - 1]!.id
  }
}

export function AgentsPage (): JSX.Element {
  const store = useRef(new Map<string, Agent>())
  const [version, setVersion] = useState(0)
  const [error, setError] = useState<Error | undefined>()
  const [loading, setLoading] = useState(true)
  const [truncated, setTruncated] = useState(false)
  const [text, setText] = useState('')
  const [health, setHealth] = useState('')
  const [reloads, setReloads] = useState(0)
  useEffect(() => {
    const ctrl = new AbortController()
    let dirty = false
    let timer: ReturnType<typeof setTimeout> | undefined
    const redraw = (): void => {
      if (timer !== undefined) { dirty = true; return }
      setVersion(v => v + 1)
      timer = setTimeout(() => { timer = undefined; if (dirty) { dirty = false; redraw() } }, 250)
    }
    // What the events said while the pages were being read (newer than those pages): applied on top of
    // them once read (null: the agent left). Bounded like the table.
    const during = new Map<string, Agent | null>()
    let loaded = false
    const off = live.on((e) => {
      if (e.type === 'reset') { setReloads(n => n + 1); return }
      if (!e.type.startsWith('agent:')) return
      const d = e.data as { agent?: Agent | string }
      let id: string | undefined
      let agent: Agent | null = null
      if (e.type === 'agent:left') {
        id = typeof d.agent === 'string' ? d.agent : d.agent?.id
        if (id !== undefined) store.current.delete(id)
      } else if (typeof d.agent === 'object' && d.agent !== null && typeof d.agent.id === 'string') {
        id = d.agent.id
        agent = d.agent
        if (store.current.has(id) || store.current.size < AGENTS_SHOWN_MAX) store.current.set(id, agent)
      }
      if (id !== undefined && !loaded && (during.size < AGENTS_SHOWN_MAX || during.has(id))) during.set(id, agent)
      redraw()
    })
    setLoading(true)
    loadAll(ctrl.signal).then(({ agents, truncated }) => {
      for (const [id, a] of during) {
        if (a === null) agents.delete(id)
        else agents.set(id, a)
      }
      loaded = true
      store.current = agents
      setTruncated(truncated)
      setError(undefined)
      setLoading(false)
      redraw()
    }).catch((err: Error) => { if (!ctrl.signal.aborted) { setError(err); setLoading(false) } })
    return () => { off(); ctrl.abort(); if (timer !== undefined) clearTimeout(timer) }
  }, [reloads])
  const rows = useMemo(() => {
    const q = text.trim().toLowerCase()
    const out: Agent[] = []
    for (const a of store.current.values()) {
      if (health !== '' && a.health !== health) continue
      if (q !== '' && !(a.id.toLowerCase().includes(q) || a.capabilities.some(c => c.toLowerCase().includes(q)) || (a.zone ?? '').toLowerCase().includes(q) || a.host.toLowerCase().includes(q))) continue
      out.push(a)
    }
    out.sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0))
    return out
  }, [version, text, health])
  return (
    <div class='page'>
      <Section title='Agents' actions={<button type='button' onClick={() => { setReloads(n => n + 1) }}>Reload</button>}>
        <ErrorNote error={error} />
        <div class='filters'>
          <label>Search <input type='search' value={text} onInput={(e) => { setText((e.target as HTMLInputElement).value) }} placeholder='id, capability, zone or host' /></label>
          <label>Health <select value={health} onChange={(e) => { setHealth((e.target as HTMLSelectElement).value) }}>
            <option value=''>any</option><option value='healthy'>healthy</option><option value='degraded'>degraded</option><option value='unhealthy'>unhealthy</option>
          </select></label>
          <span class='muted' role='status' data-testid='agent-count'>{loading ? 'Loading…' : `${rows.length} of ${store.current.size} agents${truncated ? ` (first ${AGENTS_SHOWN_MAX} loaded)` : ''}`}</span>
        </div>
        <VTable label='Agents' rows={rows} rowKey={a => a.id} onOpen={a => { go(`/agents/${encodeURIComponent(a.id)}`) }} cols={[
          { key: 'id', label: 'Agent', get: a => <span class='mono' data-testid='agent-row' data-agent={a.id}>{a.id}</span>, width: 'minmax(0, 1.4fr)' },
          { key: 'caps', label: 'Capabilities', get: a => a.capabilities.join(', '), width: 'minmax(0, 1.4fr)' },
          { key: 'zone', label: 'Zone', get: a => a.zone ?? '—' },
          { key: 'health', label: 'Health', get: a => <Badge kind={a.health}>{a.health}</Badge> },
          { key: 'host', label: 'Host', get: a => <PeerId id={a.host} /> },
          { key: 'load', label: 'Load', get: a => a.load !== undefined ? a.load.toFixed(2) : '—' },
          { key: 'fresh', label: 'Freshness', get: a => <span title={show(a.status)}>{a.status === 'unreachable' ? 'host unreachable' : ago(a.updatedAt)}</span> }
        ]} />
      </Section>
    </div>
  )
}
