// Small shared pieces: a windowed table for long lists, badges, times, errors.
import type { ComponentChildren, JSX } from 'preact'
import { useEffect, useRef, useState } from 'preact/hooks'

/** Height of a row of a windowed table, in pixels. */
export const ROW_PX = 34
/** Rows drawn above and below the visible ones. */
const OVERSCAN = 8

export interface Column<T> { key: string, label: string, get: (row: T) => ComponentChildren, width?: string }

/**
 * A table that draws only the rows in view (10,000 rows cost about as much as 30). Rows are reached with
 * the arrow keys, Home/End, and opened with Enter or a click.
 */
export function VTable<T> (props: { label: string, rows: readonly T[], cols: ReadonlyArray<Column<T>>, rowKey: (r: T) => string, onOpen?: (r: T) => void, heightPx?: number }): JSX.Element {
  const { rows, cols, onOpen } = props
  const height = props.heightPx ?? 480
  const [top, setTop] = useState(0)
  const [focus, setFocus] = useState(0)
  const box = useRef<HTMLDivElement>(null)
  useEffect(() => {
    const el = box.current
    if (el === null) return
    const on = (): void => { setTop(el.scrollTop) }
    el.addEventListener('scroll', on, { passive: true })
    return () => { el.removeEventListener('scroll', on) }
  }, [])
  const first = Math.max(0, Math.floor(top / ROW_PX) - OVERSCAN)
  const last = Math.min(rows.length, Math.ceil((top + height) / ROW_PX) + OVERSCAN)
  const template = cols.map(c => c.width ?? 'minmax(0, 1fr)').join(' ')
  const move = (to: number): void => {
    const i = Math.max(0, Math.min(rows.length - 1, to))
    setFocus(i)
    const el = box.current
    if (el === null) return
    if (i * ROW_PX < el.scrollTop + ROW_PX) el.scrollTop = Math.max(0, (i - 1) * ROW_PX)
    else if ((i + 2) * ROW_PX > el.scrollTop + height) el.scrollTop = (i + 2) * ROW_PX - height
    requestAnimationFrame(() => { box.current?.querySelector<HTMLElement>(`[data-index="${i}"]`)?.focus() })
  }
  const onKey = (e: KeyboardEvent, i: number, r: T): void => {
    if (e.key === 'ArrowDown') { e.preventDefault(); move(i + 1) } else if (e.key === 'ArrowUp') { e.preventDefault(); move(i - 1) } else if (e.key === 'Home') { e.preventDefault(); move(0) } else if (e.key === 'End') { e.preventDefault(); move(rows.length - 1) } else if (e.key === 'PageDown') { e.preventDefault(); move(i + Math.floor(height / ROW_PX)) } else if (e.key === 'PageUp') { e.preventDefault(); move(i - Math.floor(height / ROW_PX)) } else if (e.key === 'Enter' && onOpen !== undefined) { onOpen(r) }
  }
  const focusIndex = Math.min(focus, Math.max(0, rows.length - 1))
  return (
    <div class='vtable' role='table' aria-label={props.label} aria-rowcount={rows.length + 1}>
      <div class='vrow vhead' role='row' aria-rowindex={1} style={{ gridTemplateColumns: template }}>
        {cols.map(c => <span key={c.key} role='columnheader'>{c.label}</span>)}
      </div>
      <div class='vbody' ref={box} style={{ height: `${Math.min(height, Math.max(rows.length, 1) * ROW_PX + 2)}px` }} role='rowgroup'>
        {rows.length === 0 ? <div class='empty' role='row'><span role='cell'>Nothing to show.</span></div> : null}
        <div style={{ height: `${rows.length * ROW_PX}px`, position: 'relative' }}>
          {rows.slice(first, last).map((r, k) => {
            const i = first + k
            return (
              <div key={props.rowKey(r)} class={onOpen !== undefined ? 'vrow open' : 'vrow'} role='row' aria-rowindex={i + 2} data-index={i}
                tabIndex={i === focusIndex ? 0 : -1} style={{ top: `${i * ROW_PX}px`, gridTemplateColumns: template }}
                onClick={onOpen !== undefined ? () => { setFocus(i); onOpen(r) } : undefined} onKeyDown={(e) => { onKey(e, i, r) }} onFocus={() => { setFocus(i) }}>
                {cols.map(c => <span key={c.key} role='cell'>{c.get(r)}</span>)}
              </div>
            )
          })}
        </div>
      </div>
    </div>
  )
}

/** A short form of a peer id (its last 8 characters), with the whole id as a tooltip. */
export function PeerId (props: { id: string | null | undefined }): JSX.Element {
  if (props.id === null || props.id === undefined) return <span class='muted'>—</span>
  return <span class='mono' title={props.id}>…{props.id.slice(-8)}</span>
}

export function Badge (props: { kind: string, children: ComponentChildren, title?: string }): JSX.Element {
  return <span class={`badge b-${props.kind}`} title={props.title}>{props.children}</span>
}

export function ago (ms: number | null | undefined, now = Date.now()): string {
  if (ms === null || ms === undefined) return '—'
  const s = Math.max(0, Math.round((now - ms) / 1000))
  if (s < 60) return `${s}s ago`
  if (s < 3600) return `${Math.floor(s / 60)}m ago`
  return `${Math.floor(s / 3600)}h ago`
}

export function show (v: unknown): string {
  if (v === undefined) return '—'
  if (typeof v === 'string') return v
  const text = JSON.stringify(v)
  return text.length > 160 ? text.slice(0, 157) + '…' : text
}

export function ErrorNote (props: { error: Error | undefined }): JSX.Element | null {
  if (props.error === undefined) return null
  const code = (props.error as { code?: string }).code
  return <p class='error' role='alert'>{code !== undefined ? <strong>{code}: </strong> : null}{props.error.message}</p>
}

export function Section (props: { title: string, children: ComponentChildren, actions?: ComponentChildren }): JSX.Element {
  const id = `s-${props.title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`
  return (
    <section class='card' aria-labelledby={id}>
      <header><h2 id={id}>{props.title}</h2>{props.actions}</header>
      {props.children}
    </section>
  )
}

/** A plain table for short lists (a few hundred rows at most). */
export function Table<T> (props: { label: string, rows: readonly T[], cols: ReadonlyArray<Column<T>>, rowKey: (r: T) => string, empty?: string }): JSX.Element {
  if (props.rows.length === 0) return <p class='muted'>{props.empty ?? 'None.'}</p>
  return (
    <div class='scroll-x'>
      <table aria-label={props.label}>
        <thead><tr>{props.cols.map(c => <th key={c.key} scope='col'>{c.label}</th>)}</tr></thead>
        <tbody>{props.rows.map(r => <tr key={props.rowKey(r)}>{props.cols.map(c => <td key={c.key}>{c.get(r)}</td>)}</tr>)}</tbody>
      </table>
    </div>
  )
}
