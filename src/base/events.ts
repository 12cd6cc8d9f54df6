/**
 * A small typed event emitter: `on(type, fn)` returns an unsubscribe function; `once(type, filter?,
 * timeoutMs?)` returns a promise. Events are named `noun:verb`. A listener that throws is reported to
 * `onListenerError` (default: console.error) and does not stop the other listeners or the emitter.
 */
import { TimeoutError } from './errors.js'

export type Listener<T> = (detail: T) => void

export class TypedEmitter<Events extends Record<string, unknown>> {
  private readonly listeners = new Map<keyof Events, Set<Listener<never>>>()
  onListenerError: (err: unknown, type: string) => void = (err, type) => {
    console.error(`listener of ${type} threw`, err)
  }

  on<K extends keyof Events>(type: K, fn: Listener<Events[K]>): () => void {
    let set = this.listeners.get(type)
    if (set === undefined) {
      set = new Set()
      this.listeners.set(type, set)
    }
    set.add(fn as Listener<never>)
    return () => { this.off(type, fn) }
  }

  off<K extends keyof Events>(type: K, fn: Listener<Events[K]>): void {
    this.listeners.get(type)?.delete(fn as Listener<never>)
  }

  /** Resolves with the next event of `type` passing `filter`; rejects with TimeoutError after `timeoutMs`. */
  once<K extends keyof Events>(type: K, filter: (detail: Events[K]) => boolean = () => true, timeoutMs = 30_000): Promise<Events[K]> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off()
        reject(new TimeoutError(`event ${String(type)}`, timeoutMs))
      }, timeoutMs)
      const off = this.on(type, (detail) => {
        if (!filter(detail)) return
        clearTimeout(timer)
        off()
        resolve(detail)
      })
    })
  }

  listenerCount (type: keyof Events): number {
    return this.listeners.get(type)?.size ?? 0
  }

  emit<K extends keyof Events>(type: K, detail: Events[K]): void {
    const set = this.listeners.get(type)
    if (set === undefined || set.size === 0) return
    for (const fn of [...set]) {
      try {
        (fn as Listener<Events[K]>)(detail)
      } catch (err) {
        this.onListenerError(err, String(type))
      }
    }
  }
}
