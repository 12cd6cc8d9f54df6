// The dashboard: a login form, then pages of the mesh as this daemon sees it, kept live by one event
// stream. Reads only the public HTTP API (/v1) with the token the user gave.
import { Component, render } from 'preact'
import type { ComponentChildren } from 'preact'
import type { JSX } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import { ApiError, api, currentToken, onUnauthorized, setToken, tokenFromLocation } from './api'
import { PeerId } from './components'
import { live, useApi, useStreamState } from './live'
import { AgentPage } from './pages/agent'
import { AgentsPage } from './pages/agents'
import { CoordinationPage, TasksPage } from './pages/coordination'
import { EconomyPage } from './pages/economy'
import { EventsPage } from './pages/events'
import { TopologyPage } from './pages/topology'
import { VariablesPage } from './pages/variables'
import { useRoute } from './router'

const PAGES = [
  ['/topology', 'Topology'], ['/agents', 'Agents'], ['/variables', 'Variables'], ['/economy', 'Economy'],
  ['/coordination', 'Coordination'], ['/tasks', 'Tasks'], ['/events', 'Events']
] as const

/** Keeps a page's failure to itself: the page says what went wrong, the rest of the dashboard goes on. */
class PageBoundary extends Component<{ route: string, children: ComponentChildren }, { error: Error | undefined, route: string }> {
  override state = { error: undefined as Error | undefined, route: this.props.route }
  static override getDerivedStateFromError (error: Error): { error: Error } { return { error } }
  static override getDerivedStateFromProps (props: { route: string }, state: { route: string }): { error: undefined, route: string } | null {
    return props.route !== state.route ? { error: undefined, route: props.route } : null
  }

  override render (): ComponentChildren {
    if (this.state.error === undefined) return this.props.children
    return <p class='error' role='alert'>This page failed to draw: {this.state.error.message}. Other pages still work; reload to try again.</p>
  }
}

interface Status { peerId: string, mesh: string, agents: number, raft?: { role: string, term: number } | null }

function Login (props: { message: string | undefined, onDone: () => void }): JSX.Element {
  const [value, setValue] = useState('')
  const [error, setError] = useState(props.message)
  const [busy, setBusy] = useState(false)
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault()
    setBusy(true)
    setToken(value.trim())
    try {
      await api('/v1/status')
      props.onDone()
    } catch (err) {
      setToken(undefined)
      setError(err instanceof ApiError && err.status === 401 ? 'The daemon refused this token.' : `Cannot reach the daemon: ${(err as Error).message}`)
    } finally { setBusy(false) }
  }
  return (
    <main class='login'>
      <h1>agora-mesh</h1>
      <form onSubmit={(e) => { void submit(e) }} aria-describedby='login-help'>
        <label for='token'>Daemon token</label>
        <input id='token' name='token' type='password' autoComplete='current-password' required value={value} onInput={(e) => { setValue((e.target as HTMLInputElement).value) }} />
        <button type='submit' disabled={busy}>Log in</button>
        <p id='login-help' class='muted'>The token is in <code>&lt;data dir&gt;/http.token</code>; <code>agora dashboard</code> prints a link that logs in. It is kept for this tab only.</p>
        {error !== undefined ? <p class='error' role='alert'>{error}</p> : null}
      </form>
    </main>
  )
}

/** The agent id of a `#/agents/<id>` link; a link escaped badly (`100%`) names the id as written rather than failing the whole page. */
function agentIdOf (escaped: string): string {
  try { return decodeURIComponent(escaped) } catch { return escaped }
}

function Shell (props: { onLogout: () => void }): JSX.Element {
  const route = useRoute()
  const stream = useStreamState()
  const status = useApi<Status>('/v1/status', { on: ['raft:role', 'member:*'], everyMs: 10_000 })
  useEffect(() => { live.start(); return () => { live.stop() } }, [])
  useEffect(() => { if (stream === 'unauthorized') props.onLogout() }, [stream])
  const page = route.startsWith('/agents/')
    ? <AgentPage id={agentIdOf(route.slice('/agents/'.length))} />
    : route === '/agents' ? <AgentsPage />
      : route === '/variables' ? <VariablesPage />
        : route === '/economy' ? <EconomyPage />
          : route === '/coordination' ? <CoordinationPage />
            : route === '/tasks' ? <TasksPage />
              : route === '/events' ? <EventsPage />
                : <TopologyPage />
  const s = status.data
  return (
    <>
      <a class='skip' href='#main'>Skip to content</a>
      <header class='top'>
        <div class='brand'><strong>agora-mesh</strong> {s !== undefined ? <span class='muted'>mesh {s.mesh} · this daemon <PeerId id={s.peerId} />{s.raft !== null && s.raft !== undefined ? ` · Raft ${s.raft.role}, term ${s.raft.term}` : ''}</span> : null}</div>
        <div class='right'>
          <span class={`stream s-${stream}`} role='status' data-testid='stream-state' title='The live event stream'>{stream === 'open' ? 'live' : stream}</span>
          <button type='button' onClick={props.onLogout}>Log out</button>
        </div>
        <nav aria-label='Pages'>
          <ul>{PAGES.map(([path, label]) => <li key={path}><a href={`#${path}`} aria-current={route === path || (path === '/agents' && route.startsWith('/agents/')) ? 'page' : undefined}>{label}</a></li>)}</ul>
        </nav>
      </header>
      <main id='main' tabIndex={-1}><PageBoundary route={route}>{page}</PageBoundary></main>
    </>
  )
}

function App (): JSX.Element {
  const [loggedIn, setLoggedIn] = useState(currentToken() !== undefined)
  const [message, setMessage] = useState<string | undefined>()
  useEffect(() => onUnauthorized(() => {
    setToken(undefined)
    setMessage('The daemon refused the token: log in again.')
    setLoggedIn(false)
  }), [])
  if (!loggedIn) return <Login message={message} onDone={() => { setMessage(undefined); setLoggedIn(true) }} />
  return <Shell onLogout={() => { setToken(undefined); setLoggedIn(false) }} />
}

tokenFromLocation()
render(<App />, document.getElementById('app')!)
