// The daemon's event stream (GET /v1/events, Server-Sent Events) read through fetch, because the
// browser's EventSource cannot send the Authorization header. Reconnects with backoff and resumes from
// the last event id (the daemon replays what was missed, or sends `reset`).
import { authHeaders } from './api'

export interface StreamEvent { id: string | undefined, type: string, data: string }
export type StreamState = 'connecting' | 'open' | 'reconnecting' | 'unauthorized'

/** Longest wait between reconnection attempts. */
export const SSE_RETRY_MAX_MS = 10_000
/**
 * Longest silence of an open stream before it is taken for dead and reopened (the page asks the daemon
 * for a keepalive every 10 s; a connection lost without a close, to a sleeping laptop or a vanished host,
 * would otherwise show `live` and nothing more for ever).
 */
export const SSE_SILENCE_MS_MAX = 30_000
/** Longest event (data lines) the parser keeps; a longer one is dropped. */
export const SSE_EVENT_CHARS_MAX = 1_048_576

export function parseBlock (block: string): StreamEvent | undefined {
  let id: string | undefined
  let type = 'message'
  const data: string[] = []
  for (const line of block.split(/\r?\n/)) {
    if (line === '' || line.startsWith(':')) continue
    const c = line.indexOf(':')
    const key = c < 0 ? line : line.slice(0, c)
    let value = c < 0 ? '' : line.slice(c + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    if (key === 'id') id = value
    else if (key === 'event') type = value
    else if (key === 'data') data.push(value)
  }
  return data.length === 0 ? undefined : { id, type, data: data.join('\n') }
}

/**
 * Follows the stream at `path`. `onState('open', resumed)`: `resumed` when the daemon was asked to replay
 * from the last event id; a stream opened without one replays nothing, so what changed before it opened
 * (while a page read its lists, say) is told by no event.
 */
export function openStream (path: string, onEvent: (e: StreamEvent) => void, onState: (s: StreamState, resumed: boolean) => void): () => void {
  let stopped = false
  let lastId: string | undefined
  let ctrl: AbortController | undefined
  let wake: (() => void) | undefined
  let silence: ReturnType<typeof setTimeout> | undefined
  const run = async (): Promise<void> => {
    let delay = 500
    while (!stopped) {
      ctrl = new AbortController()
      const resumed = lastId !== undefined
      onState(resumed ? 'reconnecting' : 'connecting', false)
      try {
        const headers: Record<string, string> = { ...authHeaders(), accept: 'text/event-stream' }
        if (lastId !== undefined) headers['last-event-id'] = lastId
        const res = await fetch(path, { headers, signal: ctrl.signal, cache: 'no-store' })
        if (res.status === 401) { onState('unauthorized', false); return }
        if (!res.ok || res.body === null) throw new Error(`HTTP ${res.status}`)
        onState('open', resumed)
        delay = 500
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
        let buf = ''
        const dead = ctrl
        for (;;) {
          clearTimeout(silence)
          silence = setTimeout(() => { dead.abort() }, SSE_SILENCE_MS_MAX)
          const { value, done } = await reader.read()
          if (done) break
          buf += value
          for (;;) {
            const m = /\r?\n\r?\n/.exec(buf)
            if (m === null) break
            const block = buf.slice(0, m.index)
            buf = buf.slice(m.index + m[0].length)
            const e = parseBlock(block)
            if (e === undefined) continue
            if (e.id !== undefined) lastId = e.id
            onEvent(e)
          }
          if (buf.length > SSE_EVENT_CHARS_MAX) buf = ''
        }
      } catch {
        if (stopped) return
      } finally {
        clearTimeout(silence)
      }
      if (stopped) return
      onState('reconnecting', false)
      await new Promise<void>(resolve => { wake = resolve; setTimeout(resolve, delay) })
      delay = Math.min(delay * 2, SSE_RETRY_MAX_MS)
    }
  }
  void run()
  return () => { stopped = true; ctrl?.abort(); wake?.() }
}
