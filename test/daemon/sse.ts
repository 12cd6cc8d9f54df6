/**
 * A Server-Sent Events reader for the daemon tests: opens `GET /v1/events` with optional query and
 * `Last-Event-ID`, parses frames (id, event, data, and comment lines) as they arrive, and waits (bounded)
 * for a condition on what arrived.
 */
import type { Daemon } from './helpers.js'
import { waitUntil } from '../helpers/wait.js'

export interface SseFrame { id?: string, event?: string, data?: any, comment?: string }

export interface SseStream {
  status: number
  frames: SseFrame[]
  /** Frames with an event (not comments). */
  events: () => SseFrame[]
  /** Waits until `cond(frames)` holds (20 s by default), returning its value. */
  until: <T>(cond: (frames: SseFrame[]) => T | undefined | false | null, what: string, timeoutMs?: number) => Promise<T>
  close: () => void
}

export async function openEvents (d: Daemon, query = '', headers: Record<string, string> = {}): Promise<SseStream> {
  const ctrl = new AbortController()
  const res = await fetch(`http://${d.http}/v1/events${query}`, { headers: { authorization: `Bearer ${d.token}`, ...headers }, signal: ctrl.signal })
  const frames: SseFrame[] = []
  if (res.ok) {
    const reader = res.body!.getReader()
    const dec = new TextDecoder()
    let buf = ''
    void (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read()
          if (done) return
          buf += dec.decode(value, { stream: true })
          for (let end = buf.indexOf('\n\n'); end >= 0; end = buf.indexOf('\n\n')) {
            const block = buf.slice(0, end)
            buf = buf.slice(end + 2)
            const f: SseFrame = {}
            for (const line of block.split('\n')) {
              if (line.startsWith(':')) f.comment = line.slice(1).trim()
              else if (line.startsWith('id: ')) f.id = line.slice(4)
              else if (line.startsWith('event: ')) f.event = line.slice(7)
              else if (line.startsWith('data: ')) f.data = JSON.parse(line.slice(6))
            }
            frames.push(f)
          }
        }
      } catch {}
    })()
  } else {
    await res.text().catch(() => '')
  }
  return {
    status: res.status,
    frames,
    events: () => frames.filter(f => f.event !== undefined),
    until: async (cond, what, timeoutMs = 20_000) => await waitUntil(() => cond(frames), { what, timeoutMs }),
    close: () => { ctrl.abort() }
  }
}
