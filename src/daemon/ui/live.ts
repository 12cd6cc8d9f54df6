// One event stream per tab (the daemon serves at most 64), shared by every page: a bounded ring of the
// latest events, and hooks that re-read an API route when it changes, throttled.
import { useEffect, useRef, useState } from 'preact/hooks'
import { api } from './api'
import { openStream } from './sse'
import type { StreamState } from './sse'

/** Events the page keeps (the oldest go first). */
export const EVENTS_KEPT_MAX = 2000
/** Fewest milliseconds between two redraws caused by events. */
export const REDRAW_MIN_MS = 250

export interface MeshEvent { seq: number, id: string | undefined, type: string, at: number, data: unknown, subject: string | undefined }

type Listener = (e: MeshEvent) => void

class Live {
  events: MeshEvent[] = []
  state: StreamState = 'connecting'
  private seq = 0
  private readonly listeners = new Set<Listener>()
  private readonly stateListeners = new Set<(s: StreamState) => void>()
  private close: (() => void) | undefined

  start (): void {
    if (this.close !== undefined) return
    this.close = openStream('/v1/events?keepaliveMs=10000', (raw) => {
      let data: unknown
      try { data = JSON.parse(raw.data) } catch { data = raw.data }
      const e: MeshEvent = { seq: ++this.seq, id: raw.id, type: raw.type, at: Date.now(), data, subject: subjectOf(raw.type, data) }
      this.events.push(e)
      if (this.events.length > EVENTS_KEPT_MAX) this.events.splice(0, this.events.length - EVENTS_KEPT_MAX)
      for (const l of this.listeners) l(e)
    }, (s, resumed) => {
      this.state = s
      for (const l of this.stateListeners) l(s)
      // A stream opened afresh replays nothing: what changed before (while the pages read their lists)
      // would be lost, so the pages are told to re-read, as on the daemon's own `reset` (kept out of the feed).
      if (s === 'open' && !resumed) {
        const e: MeshEvent = { seq: ++this.seq, id: undefined, type: 'reset', at: Date.now(), data: { reason: 'stream-opened' }, subject: undefined }
        for (const l of this.listeners) l(e)
      }
    })
  }

  stop (): void {
    this.close?.()
    this.close = undefined
    this.events = []
  }

  on (l: Listener): () => void {
    this.listeners.add(l)
    return () => { this.listeners.delete(l) }
  }

  onState (l: (s: StreamState) => void): () => void {
    this.stateListeners.add(l)
    return () => { this.stateListeners.delete(l) }
  }
}

export const live = new Live()

/** What an event is about: the agent's id, the variable's or auction's name, ... (for filters). */
export function subjectOf (type: string, data: unknown): string | undefined {
  if (data === null || typeof data !== 'object') return undefined
  const d = data as Record<string, unknown>
  const agent = d.agent
  if (agent !== null && typeof agent === 'object' && typeof (agent as { id?: unknown }).id === 'string') return (agent as { id: string }).id
  for (const k of ['agent', 'name', 'auction', 'id', 'task', 'lock', 'election', 'barrier', 'vote', 'lease', 'peerId', 'budget', 'alert', 'topic']) {
    if (typeof d[k] === 'string') return d[k]
  }
  if (type === 'auction:settled' && typeof d.auction === 'object' && d.auction !== null) return String((d.auction as { id?: unknown }).id)
  return undefined
}

/** True when an event's type matches one of `patterns` (`agent:*` for a family, or an exact type). */
export function matches (type: string, patterns: readonly string[]): boolean {
  for (const p of patterns) {
    if (p.endsWith(':*') ? type.startsWith(p.slice(0, -1)) : type === p) return true
  }
  return false
}

export function useStreamState (): StreamState {
  const [s, set] = useState(live.state)
  useEffect(() => live.onState(set), [])
  return s
}

/** Re-renders at most every REDRAW_MIN_MS while events of `patterns` arrive; returns a counter. */
export function useEventTick (patterns: readonly string[]): number {
  const [tick, setTick] = useState(0)
  const key = patterns.join(',')
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined
    const off = live.on((e) => {
      if (e.type !== 'reset' && !matches(e.type, patterns)) return
      if (timer !== undefined) return
      timer = setTimeout(() => { timer = undefined; setTick(t => t + 1) }, REDRAW_MIN_MS)
    })
    return () => { off(); if (timer !== undefined) clearTimeout(timer) }
  }, [key])
  return tick
}

export interface Loaded<T> { data: T | undefined, error: Error | undefined, loading: boolean, reload: () => void }

/**
 * Reads `path` now, every `everyMs` while the tab is visible, and (throttled) whenever an event of
 * `on` arrives. The last good answer stays shown while a new one loads or fails.
 */
export function useApi<T> (path: string | undefined, options: { on?: readonly string[], everyMs?: number } = {}): Loaded<T> {
  const [state, setState] = useState<{ data: T | undefined, error: Error | undefined, loading: boolean }>({ data: undefined, error: undefined, loading: true })
  const [nonce, setNonce] = useState(0)
  const tick = useEventTick(options.on ?? [])
  const busy = useRef(false)
  const again = useRef(false)
  useEffect(() => {
    if (path === undefined) return
    let cancelled = false
    const ctrl = new AbortController()
    const load = async (): Promise<void> => {
      if (busy.current) { again.current = true; return }
      busy.current = true
      try {
        const data = await api<T>(path, { signal: ctrl.signal })
        if (!cancelled) setState({ data, error: undefined, loading: false })
      } catch (err) {
        if (!cancelled) setState(s => ({ data: s.data, error: err as Error, loading: false }))
      } finally {
        busy.current = false
        if (again.current && !cancelled) { again.current = false; void load() }
      }
    }
    void load()
    const every = options.everyMs
    const timer = every !== undefined ? setInterval(() => { if (document.visibilityState === 'visible') void load() }, every) : undefined
    return () => { cancelled = true; ctrl.abort(); busy.current = false; again.current = false; if (timer !== undefined) clearInterval(timer) }
  }, [path, tick, nonce])
  return { ...state, reload: () => setNonce(n => n + 1) }
}

/**
 * Reads every path of `paths` (a short list: each is one request) now, when the list changes, and
 * (throttled) when an event of `on` arrives; the answers in the same order.
 */
export function useEach<T> (paths: readonly string[], on: readonly string[]): { items: T[], error: Error | undefined } {
  const tick = useEventTick(on)
  const [items, setItems] = useState<T[]>([])
  const [error, setError] = useState<Error | undefined>()
  const key = paths.join('\n')
  useEffect(() => {
    const ctrl = new AbortController()
    Promise.all(paths.map(async p => await api<T>(p, { signal: ctrl.signal })))
      .then(x => { setItems(x); setError(undefined) })
      .catch((err: Error) => { if (!ctrl.signal.aborted) setError(err) })
    return () => { ctrl.abort() }
  }, [key, tick])
  return { items, error }
}
